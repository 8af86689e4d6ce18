"""Memory per GPU by component; the components sum to the total.

* non-expert weights / (tp * pp); routed-expert weights * (E + R)/E / (etp * ep * pp);
* KV cache of this GPU's sequences at the longest context for the busiest stage's layers;
* activations of one step, the larger of a decode step and a chunked prefill iteration (at most
  ``prefill_chunk_tokens`` per attention rank; no prefill for a decode-only layout): the
  residual stream (in and out) plus the largest working set of any op
  (:data:`analysis.estimate.ops.REGISTRY`: attention q/k/v, expert or dense FFN intermediates,
  logits);
* communication buffers of that step, summed over the communication ops (EP dispatch/combine,
  TP all-reduce);
* a runtime reserve of ``reserve_fraction`` of HBM (allocator, CUDA context, graphs).
"""

from __future__ import annotations

import numpy as np

from analysis import anatomy as A
from analysis.estimate.layouts import (
    Layouts,
    busiest_rank_sequences,
    lockstep_group_sequences,
    stage_layers,
)
from analysis.estimate.ops import REGISTRY, op_context
from analysis.estimate.ops_attention import kv_cache_bytes_per_token_per_layer_per_gpu
from analysis.estimate.options import Options
from analysis.inputs.types import Hardware, Model, Workload

MEMORY_COMPONENTS = ("non_expert_weights", "expert_weights", "kv_cache", "activations",
                     "comm_buffers", "runtime_reserve")


def weights_per_gpu_bytes(model: Model, lay: Layouts) -> tuple[np.ndarray, np.ndarray]:
    """(non-expert, routed-expert) weight bytes per GPU of the busiest stage: the model's
    weights times the busiest stage's share of the layers, ``ceil(L/pp) / L``
    (:func:`busiest_stage_share`; ``1/pp`` when pp divides L)."""
    wb = A.weight_bytes(model)
    share = busiest_stage_share(model.num_layers, lay.pp)
    expert_w = wb["expert"] * (model.num_experts + lay.redundant_experts) \
        / max(model.num_experts, 1) / (lay.etp * lay.ep) * share
    return wb["non_expert"] / lay.tp.astype(float) * share, expert_w


def busiest_stage_share(num_layers: int, pp) -> np.ndarray:
    """Share of the layers on the busiest pipeline stage: ``ceil(L/pp) / L``, exactly ``1/pp``
    when pp divides L. 30 layers over 4 stages: 8/30 (an even split would be 7.5/30)."""
    p = np.asarray(pp, dtype=float)
    return np.where(num_layers % p == 0, 1.0 / p, np.ceil(num_layers / p) / num_layers)


def _working_set_bytes(c) -> tuple[np.ndarray, np.ndarray]:
    """(activations, communication buffers) of one stage step: the residual stream in and out
    plus the largest op workspace, and the sum of the communication ops' buffers."""
    workspace = c.zeros
    buffers = 0
    for op in REGISTRY:
        if op.workspace_bytes is not None:
            workspace = np.maximum(workspace, op.workspace_bytes(c))
        if op.buffer_bytes is not None:
            buffers = buffers + op.buffer_bytes(c)
    return c.tok_a * 2 * c.d * c.act + workspace, c.zeros + buffers


def prefill_chunk(seqs_per_rank, prompt_tokens: float, chunk_tokens: int):
    """(sequences, tokens per sequence) of one chunked-prefill iteration on an attention rank:
    ``q = min(S, C)`` tokens of each of ``min(seqs, C / q)`` sequences, so at most C tokens
    (a prompt longer than C is prefilled C tokens at a time)."""
    q = min(float(prompt_tokens), float(chunk_tokens))
    return np.minimum(np.asarray(seqs_per_rank, dtype=float), chunk_tokens / q), q


def phase_memory_bytes(hw: Hardware, model: Model, lay: Layouts, opts: Options, *,
                       reserve_fraction: float, kv_sequences_per_gpu, context_tokens: float,
                       prefill_seqs_per_group, prompt_tokens: float, decode_seqs_per_group
                       ) -> dict[str, np.ndarray]:
    """Memory per GPU by component: the KV cache of ``kv_sequences_per_gpu`` sequences at
    ``context_tokens``; activations and buffers of the larger of a decode step
    (``decode_seqs_per_group`` sequences per stage group) and a prefill iteration of
    ``prefill_seqs_per_group`` prompts of ``prompt_tokens``, chunked to
    ``opts.prefill_chunk_tokens`` per attention rank (:func:`prefill_chunk`; none when
    ``opts.decode_only``)."""
    non_expert_w, expert_w = weights_per_gpu_bytes(model, lay)
    n_moe, n_dense = stage_layers(model, lay.pp)
    kv = kv_sequences_per_gpu * A.cached_tokens_per_layer(model, context_tokens) \
        * (n_moe + n_dense) * kv_cache_bytes_per_token_per_layer_per_gpu(model, lay.tp)
    dec = op_context(hw, model, lay, opts, seqs_per_group=decode_seqs_per_group,
                     query_tokens_per_seq=1, phase="decode", context_tokens=context_tokens)
    activations, buffers = _working_set_bytes(dec)
    if not opts.decode_only:
        dp_attn = lay.dp_attn.astype(float)
        seqs, q = prefill_chunk(np.asarray(prefill_seqs_per_group, dtype=float) / dp_attn,
                                prompt_tokens, opts.prefill_chunk_tokens)
        pre = op_context(hw, model, lay, opts, seqs_per_group=seqs * dp_attn,
                         query_tokens_per_seq=q, phase="prefill")
        pre_act, pre_buf = _working_set_bytes(pre)
        activations, buffers = np.maximum(activations, pre_act), np.maximum(buffers, pre_buf)
    reserve = np.full(len(lay), reserve_fraction * hw.hbm_capacity_bytes)
    return {"non_expert_weights": non_expert_w, "expert_weights": expert_w, "kv_cache": kv,
            "activations": activations, "comm_buffers": buffers, "runtime_reserve": reserve}


def memory_per_gpu_bytes(hw: Hardware, model: Model, workload: Workload, reserve_fraction: float,
                         lay: Layouts, opts: Options) -> dict[str, np.ndarray]:
    """Memory per GPU of ``workload`` on the busiest attention-DP rank: the KV cache of its
    ``ceil(B / dp / dp_attn)`` sequences at the longest context (longest prompt + output); the
    activations of a decode step of the batch (in ``min(pp, B)`` micro-batches) or of a chunked
    prefill iteration of a micro-batch (``B / (dp * m)`` sequences at the longest prompt),
    whichever is larger."""
    b_rep = workload.batch_sequences / lay.dp
    return phase_memory_bytes(
        hw, model, lay, opts, reserve_fraction=reserve_fraction,
        kv_sequences_per_gpu=busiest_rank_sequences(b_rep, lay.dp_attn),
        context_tokens=workload.max_prompt_tokens + workload.output_tokens,
        prefill_seqs_per_group=lockstep_group_sequences(b_rep / lay.microbatches, lay.dp_attn),
        prompt_tokens=workload.max_prompt_tokens,
        decode_seqs_per_group=lockstep_group_sequences(b_rep / np.minimum(lay.pp, b_rep),
                                                       lay.dp_attn))
