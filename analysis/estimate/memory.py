"""Memory per GPU by component; the components sum to the total.

* non-expert weights / (tp * pp); routed-expert weights * (E + R)/E / (etp * ep * pp);
* KV cache of this GPU's sequences at the longest context for the busiest stage's layers;
* activations of the largest prefill micro-batch: the residual stream (in and out) plus the
  largest working set of any op (:data:`analysis.estimate.ops.REGISTRY`: attention q/k/v, expert
  or dense FFN intermediates, logits);
* communication buffers, summed over the communication ops (EP dispatch/combine, TP
  all-reduce);
* a runtime reserve of ``reserve_fraction`` of HBM (allocator, CUDA context, graphs).
"""

from __future__ import annotations

import numpy as np

from analysis import anatomy as A
from analysis.estimate.layouts import Layouts, stage_layers
from analysis.estimate.ops import REGISTRY, op_context
from analysis.estimate.ops_attention import kv_cache_bytes_per_token_per_layer_per_gpu
from analysis.estimate.options import Options
from analysis.inputs.types import Hardware, Model, Workload

MEMORY_COMPONENTS = ("non_expert_weights", "expert_weights", "kv_cache", "activations",
                     "comm_buffers", "runtime_reserve")


def weights_per_gpu_bytes(model: Model, lay: Layouts) -> tuple[np.ndarray, np.ndarray]:
    """(non-expert, routed-expert) weight bytes per GPU of the busiest stage."""
    wb = A.weight_bytes(model)
    pp = lay.pp.astype(float)
    expert_w = wb["expert"] * (model.num_experts + lay.redundant_experts) \
        / max(model.num_experts, 1) / (lay.etp * lay.ep * pp)
    return wb["non_expert"] / (lay.tp.astype(float) * pp), expert_w


def phase_memory_bytes(hw: Hardware, model: Model, lay: Layouts, opts: Options, *,
                       reserve_fraction: float, kv_sequences_per_gpu, context_tokens: float,
                       prefill_seqs_per_group, prompt_tokens: float) -> dict[str, np.ndarray]:
    """Memory per GPU by component: the KV cache of ``kv_sequences_per_gpu`` sequences at
    ``context_tokens``, and the activations and buffers of a prefill step of
    ``prefill_seqs_per_group`` sequences of ``prompt_tokens`` per stage group."""
    non_expert_w, expert_w = weights_per_gpu_bytes(model, lay)
    n_moe, n_dense = stage_layers(model, lay.pp)
    kv = kv_sequences_per_gpu * A.cached_tokens_per_layer(model, context_tokens) \
        * (n_moe + n_dense) * kv_cache_bytes_per_token_per_layer_per_gpu(model, lay.tp)
    c = op_context(hw, model, lay, opts, seqs_per_group=prefill_seqs_per_group,
                   query_tokens_per_seq=prompt_tokens, phase="prefill")
    workspace = c.zeros
    buffers = 0
    for op in REGISTRY:
        if op.workspace_bytes is not None:
            workspace = np.maximum(workspace, op.workspace_bytes(c))
        if op.buffer_bytes is not None:
            buffers = buffers + op.buffer_bytes(c)
    residual = c.tok_a * 2 * c.d * c.act
    reserve = np.full(len(lay), reserve_fraction * hw.hbm_capacity_bytes)
    return {"non_expert_weights": non_expert_w, "expert_weights": expert_w, "kv_cache": kv,
            "activations": residual + workspace, "comm_buffers": c.zeros + buffers,
            "runtime_reserve": reserve}


def memory_per_gpu_bytes(hw: Hardware, model: Model, workload: Workload, reserve_fraction: float,
                         lay: Layouts, opts: Options) -> dict[str, np.ndarray]:
    """Memory per GPU of ``workload``: the KV cache of this GPU's ``B / (dp * dp_attn)``
    sequences at the longest context (longest prompt + output) and the activations of the
    largest prefill micro-batch (``B / (dp * m)`` sequences at the longest prompt)."""
    b_rep = workload.batch_sequences / lay.dp
    return phase_memory_bytes(
        hw, model, lay, opts, reserve_fraction=reserve_fraction,
        kv_sequences_per_gpu=b_rep / lay.dp_attn,
        context_tokens=workload.max_prompt_tokens + workload.output_tokens,
        prefill_seqs_per_group=b_rep / lay.microbatches, prompt_tokens=workload.max_prompt_tokens)
