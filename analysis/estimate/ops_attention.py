"""Attention ops: the projections (weights split by tp) and the core (scores and value mixing
over causal pairs in prefill, over the cached context in decode), and the KV cache's bytes."""

from __future__ import annotations

import numpy as np

from analysis import anatomy as A
from analysis.estimate.context import Op, OpContext
from analysis.estimate.efficiency import OpCost, attention_peak_flops_per_s
from analysis.inputs.types import Model


def kv_heads_per_gpu(model: Model, tp):
    """KV heads a GPU holds: ``H_kv / tp``, or one (replicated) when tp exceeds H_kv."""
    return np.maximum(model.attention.num_kv_heads / np.asarray(tp, dtype=float), 1.0)


def kv_cache_bytes_per_token_per_layer_per_gpu(model: Model, tp):
    """Cache bytes one token costs one GPU in one layer.

    GQA: ``2 * d_h * max(H_kv/tp, 1) * b_kv`` (heads split by tp, replicated past H_kv).
    MLA: ``(r_kv + d_rope) * b_kv`` on every tp rank (the latent is shared by all heads, so
    tensor parallelism cannot split it; why MLA models prefer attention data parallelism).
    """
    a = model.attention
    if a.kind == "mla":
        return A.kv_cache_elements_per_token_per_layer(model) * model.kv_bytes_per_element \
            * np.ones_like(np.asarray(tp, dtype=float))
    return 2 * a.head_dim * kv_heads_per_gpu(model, tp) * model.kv_bytes_per_element


def _proj(c: OpContext) -> OpCost:
    """``2 T P / tp`` FLOPs; reads ``P / tp`` weights, its input and output (2D) and the q, k,
    v, o widths per token."""
    m = c.model
    p_attn = A.attention_matmul_params_per_layer(m)
    act = c.act
    return c.rates.gpu_op(
        c.n_layers * 2 * c.tok_a * p_attn / c.tp,
        c.n_layers * (p_attn / c.tp * c.w
                      + c.tok_a * (2 * c.d + c.width / c.tp) * act),
        rows=c.tok_a, layers=c.n_layers, kernels=2)


def _proj_workspace(c: OpContext) -> np.ndarray:
    """q, k, v (and o) of the micro-batch's tokens, split by tp."""
    return c.tok_a * c.width / c.tp * c.act


def _core(c: OpContext) -> OpCost:
    """Prefill: causal pairs, flash-style (q, k, v, o read once, the KV written); decode: every
    cached token read once per new token."""
    m = c.model
    act = c.act
    kv_tok_layer = kv_cache_bytes_per_token_per_layer_per_gpu(m, c.tp)
    width = c.width
    if c.phase == "prefill":
        # S new tokens after context_tokens cached ones: their pairs, and the cached KV read once
        pairs_per_layer = A.attention_pairs_prefill(m, c.query_tokens,
                                                    c.context_tokens) / m.num_layers
        core_flops = c.seqs_a * pairs_per_layer * A.attention_core_flops_per_pair(m) / c.tp
        prefix_kv = c.seqs_a * A.cached_tokens_per_layer(m, c.context_tokens) * kv_tok_layer \
            if c.context_tokens else 0.0
        core_bytes = c.tok_a * (width / c.tp * act + kv_tok_layer) + prefix_kv
    else:
        cached = A.cached_tokens_per_layer(m, c.context_tokens)
        # every new token (d + 1 per sequence when verifying drafts) attends to the cache
        core_flops = c.tok_a * cached * A.attention_core_flops_per_pair(m, absorbed=True) / c.tp
        core_bytes = (c.seqs_a * cached * kv_tok_layer
                      + c.tok_a * (width / c.tp * act + kv_tok_layer))
    return c.rates.gpu_op(c.n_layers * core_flops, c.n_layers * core_bytes,
                          rows=c.tok_a if c.phase == "prefill" else c.seqs_a,
                          layers=c.n_layers, peak=attention_peak_flops_per_s(c.hw, m))


ATTENTION_PROJ = Op("attention_proj", _proj, workspace_bytes=_proj_workspace)
ATTENTION_CORE = Op("attention_core", _core)
