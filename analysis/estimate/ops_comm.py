"""Communication ops: the tensor-parallel all-reduces, the expert-parallel dispatch and combine,
and the pipeline's send to the next stage. A collective runs on NVLink (scale-up) while its
group fits in one node, else on the scale-out network."""

from __future__ import annotations

import numpy as np

from analysis.estimate import formulas as f
from analysis.estimate.context import Op, OpContext, ep_element_bytes, remote_nodes_per_token
from analysis.estimate.efficiency import OpCost, link_efficiency, link_for_group


def _tp_all_reduce(c: OpContext) -> OpCost:
    """Two all-reduces per layer of the attention group's tokens, each with the faster of ring
    and tree (NCCL's choice)."""
    lay = c.lay
    msg_tp = c.tok_a * c.d * c.act
    bw_tp, lat_tp = link_for_group(c.hw, lay.tp, c.opts, msg_tp)
    t_ar = f.all_reduce_time_s(msg_tp, lay.tp, bw_tp, lat_tp)
    tp_bytes = np.where(lay.tp > 1, c.n_layers * 2 * 2 * (c.tp - 1) / c.tp * msg_tp, 0)
    return c.rates.comm_op(tp_bytes, c.n_layers * 2 * t_ar, kernels=c.n_layers * 2)


def _tp_buffer(c: OpContext) -> np.ndarray:
    """One all-reduce message of the micro-batch's tokens (tp > 1)."""
    return c.tok_a * c.d * c.act \
        * np.where(c.lay.tp > 1, 1.0, 0.0)


def _ep_dispatch_combine(c: OpContext) -> OpCost:
    """Dispatch + combine per MoE layer, split into the part that stays in the node (NVLink)
    and the part that leaves it (scale-out), which run at once: the slower sets the time.
    With ep = dp_attn = 1 no token moves (the experts' partial sums ride on the all-reduce)."""
    m, hw, lay = c.model, c.hw, c.lay
    if not m.is_moe:
        return c.rates.comm_op(c.zeros, c.zeros)
    d = c.d
    g = lay.group.astype(float)
    b_disp, b_comb = ep_element_bytes(m, c.opts)
    tok_src = c.tok_a / c.tp                                           # tokens this GPU sends
    dests = c.destinations
    in_node = np.minimum(g, hw.gpus_per_node)
    frac_intra = (in_node - 1) / g
    frac_inter = (g - in_node) / g
    msg_ep = tok_src * d * b_disp                                      # per destination
    eff_up = link_efficiency(hw, True, msg_ep, c.opts)
    eff_out = link_efficiency(hw, False, msg_ep, c.opts)
    t_intra = f.ep_all_to_all_time_s(tok_src, dests * frac_intra, d, b_disp, b_comb,
                                     hw.scaleup_bandwidth_bytes_per_s * eff_up,
                                     hw.scaleup_latency_s)
    inter_dests = dests * frac_inter
    if c.node_dedup:   # once per remote node over the network, forwarded over NVLink there
        inter_dests = remote_nodes_per_token(m, np.ceil(g / hw.gpus_per_node))
        t_intra = f.ep_all_to_all_time_s(tok_src, dests * (frac_intra + frac_inter), d, b_disp,
                                         b_comb, hw.scaleup_bandwidth_bytes_per_s * eff_up,
                                         hw.scaleup_latency_s)
    t_inter = f.ep_all_to_all_time_s(tok_src, inter_dests, d, b_disp, b_comb,
                                     hw.scaleout_bandwidth_bytes_per_s * eff_out,
                                     hw.scaleout_latency_s)
    moves = c.tokens_move
    t_ep = np.where(moves, np.where(frac_inter > 0, np.maximum(t_intra, t_inter), t_intra), 0)
    sent = dests * frac_intra + inter_dests if c.node_dedup else dests * (frac_intra + frac_inter)
    vol = np.where(moves, tok_src * sent * d * (b_disp + b_comb), 0.0)
    return c.rates.comm_op(c.n_moe * vol, c.n_moe * t_ep, kernels=c.n_moe * 2)


def _ep_buffer(c: OpContext) -> np.ndarray:
    """Dispatch and combine buffers of every destination of the micro-batch's tokens."""
    m = c.model
    if not m.is_moe:
        return c.zeros
    b_disp, b_comb = ep_element_bytes(m, c.opts)
    return np.where(c.tokens_move, c.tok_a / c.tp * c.destinations * c.d
                    * (b_disp + b_comb), 0.0)


def _pp_send(c: OpContext) -> OpCost:
    """The stage's activations go to the next stage once per step."""
    hw, lay = c.hw, c.lay
    crosses = lay.group * lay.pp > hw.gpus_per_node
    msg_pp = c.tok_a / c.tp * c.d * c.act
    bw_pp = np.where(crosses, hw.scaleout_bandwidth_bytes_per_s, hw.scaleup_bandwidth_bytes_per_s)
    bw_pp = bw_pp * link_efficiency(hw, ~crosses, msg_pp, c.opts)
    lat_pp = np.where(crosses, hw.scaleout_latency_s, hw.scaleup_latency_s)
    return c.rates.comm_op(np.where(lay.pp > 1, msg_pp, 0),
                           np.where(lay.pp > 1, f.p2p_time_s(msg_pp, bw_pp, lat_pp), 0),
                           kernels=1)


TP_ALL_REDUCE = Op("tp_all_reduce", _tp_all_reduce, comm=True, buffer_bytes=_tp_buffer)
EP_DISPATCH_COMBINE = Op("ep_dispatch_combine", _ep_dispatch_combine, comm=True,
                         buffer_bytes=_ep_buffer)
PP_SEND = Op("pp_send", _pp_send, comm=True)
