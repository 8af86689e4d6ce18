"""What every op of a stage step sees: the inputs, the layouts as arrays, the tokens per rank,
and the quantities several ops share (attention width, EP destinations, the busiest EP rank).

Notation: ``seqs_a`` sequences (``tok_a`` tokens) per attention rank; ``tok_group`` tokens
through the stage's G = tp * dp_attn GPUs; ``n_moe`` / ``n_dense`` layers of the busiest stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from analysis.estimate import formulas as f
from analysis.estimate.efficiency import OpCost, Rates, rates_for
from analysis.estimate.layouts import Layouts, stage_layers
from analysis.estimate.options import Options
from analysis.estimate.skew import (
    zipf_busiest_rank_experts_touched,
    zipf_busiest_rank_load,
)
from analysis.inputs.types import Hardware, Model, bytes_per_element


def attention_width(model: Model) -> int:
    """Elements per token written by the attention projections: MLA ``H (2 d_qk + d_v)``
    (q, k, v per head); GQA ``(H + 2 H_kv) d_h`` (q heads, one k and one v per KV head)."""
    a = model.attention
    return (a.num_heads * (2 * a.qk_head_dim + a.v_dim) if a.kind == "mla"
            else (a.num_heads + 2 * a.num_kv_heads) * a.head_dim)


def ep_destinations(model: Model, ep, etp):
    """GPUs one token is dispatched to: the expected distinct EP ranks holding its k distinct
    experts (:func:`analysis.estimate.formulas.units_touched_per_token`, group-limited where the
    model's routing is), each split over ``etp`` GPUs."""
    return f.units_touched_per_token(ep, model.num_experts, model.top_k, model.n_group,
                                     model.topk_group) * etp


def remote_nodes_per_token(model: Model, nodes):
    """Other nodes one token's experts live on, of the ``nodes`` an expert group spans:
    ``(nodes - 1) / nodes`` of the expected distinct nodes touched (every node alike)."""
    n = np.asarray(nodes, dtype=float)
    touched = f.units_touched_per_token(np.asarray(nodes), model.num_experts, model.top_k,
                                        model.n_group, model.topk_group)
    return touched * (n - 1) / n


def ep_element_bytes(model: Model, opts: Options) -> tuple[float, float]:
    """Bytes per element of (dispatch, combine): the options' when set, else the model's
    ``dispatch_precision`` / ``combine_precision``, else the defaults: dispatch in the activation
    precision, combine in it too but never narrower than BF16 (2 bytes). So an FP8 model
    dispatches FP8 and combines BF16, as DeepEP and DeepSeek-V3 do (the combine sums k expert
    outputs, kept in BF16; DeepSeek-V3 technical report, section 3.3)."""
    act = model.activation_bytes_per_element
    dispatch = opts.dispatch_bytes_per_element or (
        bytes_per_element(model.dispatch_precision) if model.dispatch_precision else act)
    combine = opts.combine_bytes_per_element or (
        bytes_per_element(model.combine_precision) if model.combine_precision else max(act, 2.0))
    return dispatch, combine


def ep_precisions_assumption(model: Model, opts: Options) -> str:
    """The assumption line naming the EP dispatch and combine sizes in force."""
    dispatch, combine = ep_element_bytes(model, opts)
    stated = (opts.dispatch_bytes_per_element or opts.combine_bytes_per_element
              or model.dispatch_precision or model.combine_precision)
    return (f"expert-parallel dispatch at {dispatch:g} and combine at {combine:g} bytes per "
            f"element (" + ("as stated; " if stated else "") + "default: dispatch in the "
            "activation precision, combine in it but at least BF16, i.e. FP8 dispatch and "
            "BF16 combine for an FP8 model, as DeepEP)")


def _per_placement(fn, values, ep, redundant) -> np.ndarray:
    """``fn(values[mask], ep, R)`` for each distinct (ep, R) of an array of layouts (one
    placement of the expert instances per pair), broadcast back to ``values``' shape."""
    values, ep, red = np.broadcast_arrays(np.asarray(values, dtype=float), np.asarray(ep),
                                          np.asarray(redundant))
    out = np.array(values, dtype=float, copy=True)
    for e, r in set(zip(ep.ravel().tolist(), red.ravel().tolist(), strict=True)):
        mask = (ep == e) & (red == r)
        out[mask] = fn(values[mask], int(e), int(r))
    return out


def _zipf_busiest(mean, ep, num_experts: int, redundant, skew: float) -> np.ndarray:
    """:func:`~analysis.estimate.skew.zipf_busiest_rank_load` for arrays of layouts."""
    return _per_placement(lambda m, e, r: zipf_busiest_rank_load(m, e, num_experts, r, skew),
                          mean, ep, redundant)


def zipf_busiest_experts_touched(tokens, ep, model: Model, redundant, skew: float
                                 ) -> np.ndarray:
    """:func:`~analysis.estimate.skew.zipf_busiest_rank_experts_touched` for arrays of
    layouts: expert instances the busiest EP rank reads when ``tokens`` route under Zipf
    popularity with exponent ``skew``."""
    return _per_placement(lambda t, e, r: zipf_busiest_rank_experts_touched(
        t, e, model.num_experts, model.top_k, r, skew), tokens, ep, redundant)


def busiest_rank_load(mean_tokens, ep, model: Model, redundant, opts: Options):
    """Routed token-expert pairs on the busiest EP rank.

    Redundant experts (EPLB) let the balancer shed the excess over the mean in proportion
    ``E / (E + R)`` of what uniform routing leaves (a stated heuristic, not a derivation).
    Under ``imbalance="zipf"`` the experts' popularity follows Zipf's law with exponent
    ``opts.skew`` and the R copies go to the hottest experts
    (:func:`analysis.estimate.skew.zipf_busiest_rank_load`) instead.
    """
    mean = np.asarray(mean_tokens, dtype=float)
    if opts.imbalance == "balanced":
        return mean
    if opts.imbalance == "factor":  # one rank holds every expert: its load is the mean
        return np.where(np.asarray(ep) > 1, mean * opts.imbalance_factor, mean)
    if opts.imbalance == "zipf":     # skewed popularity, the hottest experts replicated
        return _zipf_busiest(mean, ep, model.num_experts, redundant, opts.skew)
    worst = f.expected_max_load(mean, ep)
    share = model.num_experts / (model.num_experts + np.asarray(redundant, dtype=float))
    return mean + (worst - mean) * share


@dataclass
class OpContext:
    """One stage step of N layouts: ``seqs_per_group`` sequences through a stage's G GPUs, each
    with ``query_tokens`` new tokens (S in prefill, 1 in decode) attending to ``context_tokens``
    cached ones (decode; in prefill a cached prefix, 0 by default)."""

    hw: Hardware
    model: Model
    lay: Layouts
    opts: Options
    phase: str
    seqs_per_group: object
    query_tokens: float
    context_tokens: float = 0.0

    def __post_init__(self) -> None:
        self.rates: Rates = rates_for(self.hw, self.model, len(self.lay), self.opts)
        self.d = self.model.hidden_size                              # D
        self.act = self.model.activation_bytes_per_element           # bytes per activation
        self.w = self.model.weight_bytes_per_param                   # bytes per weight
        self.tp = self.lay.tp.astype(float)
        dp_attn = self.lay.dp_attn.astype(float)
        self.seqs_a = np.asarray(self.seqs_per_group, dtype=float) / dp_attn
        self.tok_a = self.seqs_a * self.query_tokens
        self.tok_group = self.tok_a * dp_attn
        self.n_moe, self.n_dense = stage_layers(self.model, self.lay.pp)
        self.n_layers = self.n_moe + self.n_dense
        self.zeros = np.zeros(len(self.lay))

    @cached_property
    def busiest_pairs(self) -> np.ndarray:
        """Token-expert pairs on the busiest EP rank (mean ``tok_group * k / ep``)."""
        mean_pairs = self.tok_group * self.model.top_k / self.lay.ep
        return busiest_rank_load(mean_pairs, self.lay.ep, self.model, self.lay.redundant_experts,
                                 self.opts)

    @cached_property
    def destinations(self) -> np.ndarray:
        return ep_destinations(self.model, self.lay.ep, self.lay.etp)

    @property
    def node_dedup(self) -> bool:
        """Cross-node dispatch sends a token once per destination node and forwards it over
        NVLink there (DeepEP's internode kernels): ``opts.node_dedup``."""
        return self.opts.node_dedup

    @cached_property
    def width(self) -> int:
        """:func:`attention_width` of the model."""
        return attention_width(self.model)

    @cached_property
    def tokens_move(self) -> np.ndarray:
        """Tokens leave their GPU for the experts only when experts are spread (ep > 1) or
        attention is data-parallel (dp_attn > 1), over a stage of more than one GPU."""
        return ((self.lay.ep > 1) | (self.lay.dp_attn > 1)) & (self.lay.group > 1)


@dataclass(frozen=True)
class Op:
    """A named op of a stage step. ``cost`` gives its :class:`OpCost` per GPU; ``comm`` marks a
    communication op (its time may hide under GPU work); ``workspace_bytes`` (GPU ops) is the
    activation working set it needs beside the residual stream in prefill, and ``buffer_bytes``
    (communication ops) the buffers it holds, both per GPU, for :mod:`analysis.estimate.memory`.
    """

    name: str
    cost: Callable[[OpContext], OpCost]
    comm: bool = False
    workspace_bytes: Callable[[OpContext], np.ndarray] | None = None
    buffer_bytes: Callable[[OpContext], np.ndarray] | None = None
