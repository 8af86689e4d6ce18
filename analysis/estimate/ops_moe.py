"""MoE ops: the router, the routed experts (the busiest EP rank's tokens; a decode step reads the
weights of the distinct experts its tokens touch) and the shared experts (split by tp). A dense
model has none of them (zero cost)."""

from __future__ import annotations

import numpy as np

from analysis import anatomy as A
from analysis.estimate import formulas as f
from analysis.estimate.context import Op, OpContext, zipf_busiest_experts_touched
from analysis.estimate.efficiency import OpCost, expert_peak_flops_per_s


def _none(c: OpContext) -> OpCost:
    return c.rates.gpu_op(c.zeros, c.zeros)


def _router(c: OpContext) -> OpCost:
    """``2 T E D`` FLOPs: every token scores every expert."""
    m = c.model
    if not m.is_moe:
        return _none(c)
    d, act = c.d, c.act
    return c.rates.gpu_op(c.n_moe * 2 * c.tok_a * m.num_experts * d,
                          c.n_moe * (A.router_params_per_layer(m) * c.w
                                     + c.tok_a * d * act),
                          rows=c.tok_a, layers=c.n_moe)


def _experts_read(c: OpContext, experts_on_rank, touched_mean):
    """Experts whose weights the step's pacing rank reads: the mean rank's expected distinct
    touched experts with perfectly balanced experts; under Zipf-skewed popularity the busiest
    rank's expert instances touched under that popularity, hot experts replicated
    (:func:`analysis.estimate.context.zipf_busiest_experts_touched`); else the busiest rank's
    under uniform routing (:func:`analysis.estimate.formulas.busiest_rank_experts_touched`): at
    small batches the busiest GPU reads whole experts while the mean GPU reads a fraction of
    one."""
    if c.opts.imbalance == "balanced":
        return touched_mean
    m = c.model
    if c.opts.imbalance == "zipf":
        return zipf_busiest_experts_touched(c.tok_group, c.lay.ep, m, c.lay.redundant_experts,
                                            c.opts.skew)
    return f.busiest_rank_experts_touched(experts_on_rank, m.num_experts, m.top_k, c.tok_group,
                                          c.lay.ep)


def _routed(c: OpContext) -> OpCost:
    """The busiest rank's pairs through ``P_e / etp`` parameters each; the weights of the
    experts touched on the busiest rank are read once (:func:`_experts_read`); per pair the
    input, output and ``2 n_in F / etp`` intermediates."""
    m = c.model
    if not m.is_moe:
        return _none(c)
    lay = c.lay
    p_exp = A.expert_params(m)
    n_in = 2 if m.ffn_gated else 1
    experts_on_rank = (m.num_experts + lay.redundant_experts) / lay.ep
    touched = f.distinct_experts_touched(experts_on_rank, m.num_experts, m.top_k, c.tok_group)
    busiest = c.busiest_pairs
    return c.rates.gpu_op(
        c.n_moe * 2 * busiest * p_exp / lay.etp,
        c.n_moe * (_experts_read(c, experts_on_rank, touched) * p_exp / lay.etp
                   * m.expert_weight_bytes_per_param
                   + busiest * (2 * c.d + 2 * n_in * m.expert_intermediate_size
                                / lay.etp) * c.act),
        rows=busiest / np.maximum(touched, 1.0), layers=c.n_moe, kernels=2,
        peak=expert_peak_flops_per_s(c.hw, m))


def _routed_workspace(c: OpContext) -> np.ndarray:
    """The busiest rank's pairs: input, output and the ``n_in`` intermediates of width F/etp."""
    m = c.model
    if not m.is_moe:
        return c.zeros
    n_in = 2 if m.ffn_gated else 1
    return c.busiest_pairs * (2 * c.d + n_in * m.expert_intermediate_size / c.lay.etp) \
        * c.act


def _shared(c: OpContext) -> OpCost:
    """Shared experts: a dense FFN on every token, weights split by tp."""
    m = c.model
    if not m.is_moe:
        return _none(c)
    p_sh = A.shared_experts_params_per_layer(m)
    act = c.act
    return c.rates.gpu_op(
        c.n_moe * 2 * c.tok_a * p_sh / c.tp,
        c.n_moe * (p_sh / c.tp * c.w
                   + (c.tok_a * (2 * c.d) * act if p_sh else 0.0)),
        rows=c.tok_a, layers=c.n_moe, kernels=2)


ROUTER = Op("router", _router)
ROUTED_EXPERTS = Op("routed_experts", _routed, workspace_bytes=_routed_workspace)
SHARED_EXPERTS = Op("shared_experts", _shared)
