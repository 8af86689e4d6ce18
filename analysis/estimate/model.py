"""Performance of a parallel layout: memory per GPU, time of every op in prefill and decode,
communication, and the metrics a deployment is judged by (TTFT, TPOT, throughput per GPU).

One code path serves one layout and ten thousand: every function takes a :class:`Layouts` whose
degrees are NumPy arrays and computes elementwise. :func:`estimate` wraps one layout into a
readable :class:`Estimate`; the search calls :func:`evaluate_layouts` on all of them at once.

The model (every term has its formula in ``analysis.formulas`` or ``analysis.anatomy``):

* Placement: the ``tp`` ranks of an attention group are adjacent GPUs; ``dp_attn`` groups make
  the expert group of ``G = tp * dp_attn = etp * ep`` GPUs; ``pp`` stages of G GPUs follow; ``dp``
  replicas last. A collective runs on NVLink (scale-up) while its group fits in one node of
  ``gpus_per_node`` GPUs, else on the scale-out network.
* Each op's time on a GPU is ``max(FLOPs / (peak * MFU), bytes / (HBM bandwidth * util))``;
  communication ops take ``bytes / (link bandwidth * efficiency) + latency``; a stage's time is
  the sum of its ops (communication exposed unless ``overlap_fraction`` hides some).
* The busiest pipeline stage holds ``ceil(L / pp)`` layers plus the embedding and the head
  (conservative for pp > 1).
* Prefill of the batch in ``m`` micro-batches takes ``(m + pp - 1)`` stage steps (TTFT); decode
  runs the batch as ``min(pp, B)`` micro-batches, and a token passes through all ``pp`` stages, so
  TPOT = ``pp * stage time``.
* MoE: tokens after attention are split over the ``tp`` ranks that hold them and dispatched to
  the ``etp`` GPUs of each distinct expert-parallel rank their top-k experts live on; the busiest
  rank sets the pace (load imbalance); a decode step reads the weights of the distinct experts
  its tokens touch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from analysis import anatomy as A
from analysis.estimate import formulas as f
from analysis.inputs.errors import InputError, LayoutError
from analysis.inputs.types import (
    DEGREE_NAMES,
    Hardware,
    Model,
    Scenario,
    Strategy,
    Workload,
    layout_label,
    saturating_efficiency,
)

Mode = Literal["derated", "sol", "calibrated"]
Imbalance = Literal["balanced", "uniform", "factor"]

OPS = ("embedding", "norms", "attention_proj", "attention_core", "router", "routed_experts",
       "shared_experts", "dense_ffn", "head", "tp_all_reduce", "ep_dispatch_combine",
       "pp_send")
COMM_OPS = ("tp_all_reduce", "ep_dispatch_combine", "pp_send")
MEMORY_COMPONENTS = ("non_expert_weights", "expert_weights", "kv_cache", "activations",
                     "comm_buffers", "runtime_reserve")


@dataclass(frozen=True)
class Options:
    """How to estimate.

    ``mode``: "derated" applies the hardware's MFU, bandwidth utilisation and link efficiencies;
    "sol" (speed of light) sets them all to 1 and drops communication; "calibrated" uses the
    hardware's fitted size-dependent curves (:class:`~analysis.inputs.Calibration`) and falls back
    to "derated" for a GPU that has none (``describe`` says which was used).
    ``imbalance``: "balanced" (every EP rank gets the mean load), "uniform" (routing uniformly at
    random: the expected busiest rank, :func:`analysis.formulas.expected_max_load`), or "factor"
    (busiest = ``imbalance_factor`` x mean). ``overlap_fraction`` of communication may hide under
    compute (0 = none, the default). Dispatch/combine precisions default to the activation
    precision (DeepSeek-V3 uses fp8 dispatch and bf16 combine).
    """

    mode: Mode = "derated"
    imbalance: Imbalance = "uniform"
    imbalance_factor: float = 1.0
    overlap_fraction: float = 0.0
    dispatch_bytes_per_element: float | None = None
    combine_bytes_per_element: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("derated", "sol", "calibrated"):
            raise InputError("options.mode", self.mode, "unknown mode", "derated, sol, calibrated")
        if self.imbalance not in ("balanced", "uniform", "factor"):
            raise InputError("options.imbalance", self.imbalance, "unknown imbalance model",
                             "balanced, uniform, factor")
        if not (self.imbalance_factor >= 1):
            raise InputError("options.imbalance_factor", self.imbalance_factor,
                             "the busiest rank cannot carry less than the mean", "a number >= 1")
        if not (0 <= self.overlap_fraction <= 1):
            raise InputError("options.overlap_fraction", self.overlap_fraction,
                             "must be a fraction", "0 <= x <= 1")

    def describe(self) -> str:
        imb = {"balanced": "perfectly balanced experts",
               "uniform": "uniform-random routing (busiest EP rank at its expected maximum)",
               "factor": f"busiest EP rank at {self.imbalance_factor:g}x the mean"}[self.imbalance]
        mode = {"derated": "derated by the GPU's efficiency factors",
                "sol": "speed of light (all efficiencies 1, no communication)",
                "calibrated": "calibrated size-dependent efficiencies where the GPU has them, "
                              "else its stated efficiency factors"}[self.mode]
        return (f"{mode}; {imb}; {self.overlap_fraction:.0%} of communication overlapped "
                f"with compute")


# --------------------------------------------------------------------------------------------
# Layouts as arrays
# --------------------------------------------------------------------------------------------

@dataclass
class Layouts:
    """Degrees of N layouts, one int array per degree (see :class:`analysis.inputs.Strategy`)."""

    tp: np.ndarray
    dp_attn: np.ndarray
    etp: np.ndarray
    ep: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    microbatches: np.ndarray
    redundant_experts: np.ndarray

    @classmethod
    def from_strategies(cls, strategies: list[Strategy]) -> Layouts:
        return cls(**{n: np.array([getattr(s, n) for s in strategies], dtype=np.int64)
                      for n in DEGREE_NAMES})

    @classmethod
    def from_columns(cls, **cols) -> Layouts:
        return cls(**{n: np.asarray(cols[n], dtype=np.int64) for n in DEGREE_NAMES})

    def __len__(self) -> int:
        return len(self.tp)

    @property
    def group(self) -> np.ndarray:
        """GPUs of one stage of one replica: ``tp * dp_attn`` (= ``etp * ep``)."""
        return self.tp * self.dp_attn

    @property
    def gpus(self) -> np.ndarray:
        return self.group * self.pp * self.dp

    def strategy(self, i: int) -> Strategy:
        return Strategy(**{n: int(getattr(self, n)[i]) for n in DEGREE_NAMES})

    def labels(self) -> list[str]:
        """:func:`~analysis.inputs.layout_label` of every layout."""
        cols = [getattr(self, n).tolist() for n in DEGREE_NAMES]
        return [layout_label(*vals) for vals in zip(*cols, strict=True)]

    def subset(self, mask) -> Layouts:
        return Layouts(**{n: getattr(self, n)[mask] for n in DEGREE_NAMES})


# --------------------------------------------------------------------------------------------
# Validity
# --------------------------------------------------------------------------------------------

def layout_rejections(model: Model, workload: Workload, lay: Layouts
                      ) -> list[tuple[np.ndarray, str]]:
    """Every reason a layout is impossible, as (mask of layouts it applies to, reason template).

    Templates use ``{tp}``, ``{ep}``... for the layout's degrees. Memory is not checked here (a
    layout that does not fit is still estimated, and fails the memory check).
    """
    a = model.attention
    b = workload.batch_sequences
    rules: list[tuple[np.ndarray, str]] = [
        (lay.tp * lay.dp_attn != lay.etp * lay.ep,
         "attention GPUs tp*dp_attn = {tp}*{dp_attn} differ from expert GPUs etp*ep = {etp}*{ep}"),
        (a.num_heads % lay.tp != 0,
         f"tp={{tp}} does not divide the {a.num_heads} attention heads"),
        (lay.pp > model.num_layers, f"pp={{pp}} stages exceed the {model.num_layers} layers"),
        (b % lay.dp != 0, f"dp={{dp}} replicas do not divide the batch of {b} sequences"),
        ((b % lay.dp == 0) & ((b // lay.dp) % lay.microbatches != 0),
         f"{{microbatches}} micro-batches do not divide the {b}/{{dp}} sequences of a replica"),
        ((b % lay.dp == 0) & ((b // lay.dp) % lay.microbatches == 0)
         & ((b // lay.dp // lay.microbatches) % lay.dp_attn != 0),
         "a prefill micro-batch of {mb_seqs} sequences does not split over dp_attn={dp_attn}"),
    ]
    if a.kind == "gqa":
        kv = a.num_kv_heads
        rules.append((np.where(lay.tp <= kv, kv % lay.tp != 0, lay.tp % kv != 0),
                      f"tp={{tp}} and the {kv} KV heads: neither divides the other"))
    if model.is_moe:
        e = model.num_experts
        rules += [
            ((e + lay.redundant_experts) % lay.ep != 0,
             f"ep={{ep}} does not divide the {e} experts (+{{redundant_experts}} redundant)"),
            (model.expert_intermediate_size % lay.etp != 0,
             f"etp={{etp}} does not divide the expert FFN width {model.expert_intermediate_size}"),
            (lay.ep > e + lay.redundant_experts,
             f"ep={{ep}} exceeds the {e} experts (+{{redundant_experts}} redundant)"),
        ]
    else:
        rules.append(((lay.ep != 1) | (lay.redundant_experts != 0),
                      "a dense model has no experts to spread: ep={ep} must be 1"))
        rules.append((lay.dp_attn != 1,
                      "a dense model has no expert layer to share: use dp, not dp_attn={dp_attn}"))
    if model.num_dense_layers or model.num_shared_experts:
        width = model.dense_intermediate_size or model.shared_expert_intermediate_size
        rules.append((width % lay.tp != 0,
                      f"tp={{tp}} does not divide the dense FFN width {width}"))
    return rules


def rejection_reasons(model: Model, workload: Workload, lay: Layouts) -> list[list[str]]:
    """Per layout, the readable list of reasons it is impossible (empty = valid)."""
    reasons: list[list[str]] = [[] for _ in range(len(lay))]
    b = workload.batch_sequences
    cols = {n: getattr(lay, n).tolist() for n in DEGREE_NAMES}
    for mask, template in layout_rejections(model, workload, lay):
        for i in np.flatnonzero(mask).tolist():
            vals = {n: cols[n][i] for n in DEGREE_NAMES}
            vals["mb_seqs"] = b // vals["dp"] // vals["microbatches"]
            reasons[i].append(template.format(**vals))
    return reasons


def valid_mask(model: Model, workload: Workload, lay: Layouts) -> np.ndarray:
    ok = np.ones(len(lay), dtype=bool)
    for mask, _ in layout_rejections(model, workload, lay):
        ok &= ~np.asarray(mask, dtype=bool)
    return ok


def check_strategy(model: Model, workload: Workload, strategy: Strategy) -> None:
    """Raise LayoutError with every reason when ``strategy`` is impossible."""
    reasons = rejection_reasons(model, workload, Layouts.from_strategies([strategy]))[0]
    if reasons:
        raise LayoutError(strategy.label(), reasons)


# --------------------------------------------------------------------------------------------
# Per-GPU building blocks
# --------------------------------------------------------------------------------------------

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


def stage_layers(model: Model, pp) -> tuple[np.ndarray, np.ndarray]:
    """Layers of the busiest stage: ``ceil(L/pp)``, as many of them MoE as there are."""
    n = np.ceil(model.num_layers / np.asarray(pp, dtype=float))
    n_moe = np.minimum(n, model.num_moe_layers)
    return n_moe, n - n_moe


def link_for_group(hw: Hardware, group_gpus, opts: Options, message_bytes=1e12
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(achieved bandwidth, latency) of a collective over ``group_gpus`` adjacent GPUs: NVLink
    inside a node, the scale-out network past it; efficiency per :func:`link_efficiency`."""
    inside = np.asarray(group_gpus) <= hw.gpus_per_node
    eff = link_efficiency(hw, inside, message_bytes, opts)
    bw = np.where(inside, hw.scaleup_bandwidth_bytes_per_s, hw.scaleout_bandwidth_bytes_per_s) * eff
    lat = np.where(inside, hw.scaleup_latency_s, hw.scaleout_latency_s)
    return bw, lat


def busiest_rank_load(mean_tokens, ep, model: Model, redundant, opts: Options):
    """Routed token-expert pairs on the busiest EP rank.

    Redundant experts (EPLB) let the balancer shed the excess over the mean in proportion
    ``E / (E + R)`` of what uniform routing leaves (a stated heuristic, not a derivation).
    """
    mean = np.asarray(mean_tokens, dtype=float)
    if opts.imbalance == "balanced":
        return mean
    if opts.imbalance == "factor":  # one rank holds every expert: its load is the mean
        return np.where(np.asarray(ep) > 1, mean * opts.imbalance_factor, mean)
    worst = f.expected_max_load(mean, ep)
    share = model.num_experts / (model.num_experts + np.asarray(redundant, dtype=float))
    return mean + (worst - mean) * share


@dataclass
class OpCost:
    """One op on one GPU for one stage step: work, bytes, and the time each resource needs."""

    flops: np.ndarray
    hbm_bytes: np.ndarray
    comm_bytes: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray
    comm_s: np.ndarray
    overhead_s: np.ndarray | float = 0.0    # fixed launch cost (calibrated mode only)

    @property
    def time_s(self) -> np.ndarray:
        return np.maximum(np.maximum(self.compute_s, self.memory_s), self.comm_s) + self.overhead_s

    @property
    def bound(self) -> np.ndarray:
        """"compute", "memory" or "communication", whichever sets the op's time."""
        return np.select([self.comm_s >= np.maximum(self.compute_s, self.memory_s),
                          self.compute_s >= self.memory_s],
                         ["communication", "compute"], "memory")


@dataclass
class _Ctx:
    hw: Hardware
    model: Model
    lay: Layouts
    opts: Options
    peak: float
    mfu: float
    bw: float

    @property
    def calibration(self):
        """The GPU's fitted curves when calibrated mode is asked for and it has them."""
        return self.hw.calibration if self.opts.mode == "calibrated" else None

    def gpu_op(self, flops, hbm_bytes, rows=None, layers=0.0, peak=None) -> OpCost:
        """An op on one GPU: ``flops`` over ``rows`` GEMM rows (tokens), ``hbm_bytes`` moved,
        repeated over ``layers`` layers (for the calibrated fixed cost per op per layer), at
        ``peak`` FLOP/s (default: the matmul precision's)."""
        z = np.zeros(len(self.lay))
        flops = z + flops
        hbm_bytes = z + hbm_bytes
        peak = peak or self.peak
        cal = self.calibration
        if cal is None:
            return OpCost(flops, hbm_bytes, z, f.compute_time_s(flops, peak, self.mfu),
                          f.memory_time_s(hbm_bytes, self.bw), z)
        per_layer = np.maximum(z + layers, 1.0)
        mfu = saturating_efficiency(z + (rows if rows is not None else 1e12),
                                    cal.compute_max, cal.compute_half_tokens)
        util = saturating_efficiency(hbm_bytes / per_layer, cal.memory_max, cal.memory_half_bytes)
        compute_s = np.where(flops > 0, f.compute_time_s(flops, peak, mfu), 0.0)
        memory_s = np.where(hbm_bytes > 0, hbm_bytes / (self.hw.hbm_bandwidth_bytes_per_s * util),
                            0.0)
        overhead = np.where((flops > 0) | (hbm_bytes > 0), cal.op_overhead_s * (z + layers), 0.0)
        return OpCost(flops, hbm_bytes, z, compute_s, memory_s, z, overhead)

    def comm_op(self, comm_bytes, seconds) -> OpCost:
        z = np.zeros(len(self.lay))
        if self.opts.mode == "sol":
            return OpCost(z, z, z + comm_bytes, z, z, z)
        return OpCost(z, z, z + comm_bytes, z, z, z + seconds)


def _context(hw: Hardware, model: Model, lay: Layouts, opts: Options) -> _Ctx:
    peak = hw.peak_flops_for(model.activation_precision)
    sol = opts.mode == "sol"
    return _Ctx(hw, model, lay, opts, peak, 1.0 if sol else hw.mfu,
                hw.hbm_bandwidth_bytes_per_s * (1.0 if sol else hw.bandwidth_utilization))


def attention_peak_flops_per_s(hw: Hardware, model: Model) -> float:
    """Peak FLOP/s of the attention core (scores and value mixing): it computes in the KV
    cache's precision (FlashAttention, FlashMLA: a BF16 cache means BF16 math even when the
    projections run in FP8); the matmul precision's peak if the GPU has none for the cache's."""
    try:
        return hw.peak_flops_for(model.kv_precision)
    except InputError:
        return hw.peak_flops_for(model.activation_precision)


def link_efficiency(hw: Hardware, inside_node, message_bytes, opts: Options):
    """Achieved fraction of a link's bandwidth: 1 at speed of light, the GPU's constant in
    derated mode, the fitted curve of message size in calibrated mode."""
    if opts.mode == "sol":
        return np.ones_like(np.asarray(message_bytes, dtype=float))
    cal = hw.calibration if opts.mode == "calibrated" else None
    if cal is None:
        return np.where(inside_node, hw.scaleup_efficiency, hw.scaleout_efficiency)
    return np.where(inside_node,
                    saturating_efficiency(message_bytes, cal.scaleup_max, cal.scaleup_half_bytes),
                    saturating_efficiency(message_bytes, cal.scaleout_max,
                                          cal.scaleout_half_bytes))


def stage_ops(hw: Hardware, model: Model, lay: Layouts, opts: Options, *,
              seqs_per_group, query_tokens_per_seq, phase: str, context_tokens: float = 0.0
              ) -> dict[str, OpCost]:
    """Every op of the busiest pipeline stage for one stage step, per GPU.

    ``seqs_per_group`` sequences pass through a stage's G = tp*dp_attn GPUs, each with
    ``query_tokens_per_seq`` new tokens (S in prefill, 1 in decode); in decode each attends to
    ``context_tokens`` cached tokens.
    """
    c = _context(hw, model, lay, opts)
    m = model
    a = m.attention
    d = m.hidden_size
    act = m.activation_bytes_per_element
    w = m.weight_bytes_per_param
    tp = lay.tp.astype(float)
    dp_attn = lay.dp_attn.astype(float)
    seqs_a = np.asarray(seqs_per_group, dtype=float) / dp_attn        # sequences per attention rank
    tok_a = seqs_a * query_tokens_per_seq                              # tokens per attention rank
    tok_group = tok_a * dp_attn                                        # tokens through the stage
    n_moe, n_dense = stage_layers(m, lay.pp)
    n_layers = n_moe + n_dense

    ops: dict[str, OpCost] = {}
    ops["embedding"] = c.gpu_op(0.0, tok_a * d * (w + act), layers=1)
    ops["norms"] = c.gpu_op(n_layers * 2 * 4 * tok_a * d,            # ~4 FLOPs per element
                            n_layers * 2 * 2 * tok_a * d * act,       # read + write, 2 per layer
                            rows=1e12, layers=n_layers)

    # Attention projections: weights split by tp; activations in and out
    p_attn = A.attention_matmul_params_per_layer(m)
    width = (a.num_heads * (2 * a.qk_head_dim + a.v_dim) if a.kind == "mla"
             else (a.num_heads + 2 * a.num_kv_heads) * a.head_dim)
    ops["attention_proj"] = c.gpu_op(
        n_layers * 2 * tok_a * p_attn / tp,
        n_layers * (p_attn / tp * w + tok_a * (2 * d + width / tp) * act),
        rows=tok_a, layers=n_layers)

    # Attention core: causal pairs in prefill, the cached context in decode
    kv_tok_layer = kv_cache_bytes_per_token_per_layer_per_gpu(m, tp)
    if phase == "prefill":
        pairs_per_layer = A.attention_pairs_prefill(m, query_tokens_per_seq) / m.num_layers
        core_flops = seqs_a * pairs_per_layer * A.attention_core_flops_per_pair(m) / tp
        core_bytes = tok_a * (width / tp * act + kv_tok_layer)       # flash: q,k,v,o once; KV write
    else:
        cached = A.cached_tokens_per_layer(m, context_tokens)
        core_flops = seqs_a * cached * A.attention_core_flops_per_pair(m, absorbed=True) / tp
        core_bytes = seqs_a * cached * kv_tok_layer + tok_a * (width / tp * act + kv_tok_layer)
    ops["attention_core"] = c.gpu_op(n_layers * core_flops, n_layers * core_bytes,
                                     rows=tok_a if phase == "prefill" else seqs_a,
                                     layers=n_layers, peak=attention_peak_flops_per_s(hw, m))

    z = np.zeros(len(lay))
    if m.is_moe:
        e, k = m.num_experts, m.top_k
        p_router = A.router_params_per_layer(m)
        ops["router"] = c.gpu_op(n_moe * 2 * tok_a * e * d,
                                 n_moe * (p_router * w + tok_a * d * act),
                                 rows=tok_a, layers=n_moe)
        p_exp = A.expert_params(m)
        w_exp = m.expert_weight_bytes_per_param
        n_in = 2 if m.ffn_gated else 1
        f_width = m.expert_intermediate_size
        mean_pairs = tok_group * k / lay.ep                   # token-expert pairs per EP rank
        busiest = busiest_rank_load(mean_pairs, lay.ep, m, lay.redundant_experts, opts)
        experts_on_rank = (e + lay.redundant_experts) / lay.ep
        touched = f.distinct_experts_touched(experts_on_rank, e, k, tok_group)
        ops["routed_experts"] = c.gpu_op(
            n_moe * 2 * busiest * p_exp / lay.etp,
            n_moe * (touched * p_exp / lay.etp * w_exp
                     + busiest * (2 * d + 2 * n_in * f_width / lay.etp) * act),
            rows=busiest / np.maximum(touched, 1.0), layers=n_moe)
        p_sh = A.shared_experts_params_per_layer(m)
        ops["shared_experts"] = c.gpu_op(
            n_moe * 2 * tok_a * p_sh / tp,
            n_moe * (p_sh / tp * w + (tok_a * (2 * d) * act if p_sh else 0.0)),
            rows=tok_a, layers=n_moe)
    else:
        ops["router"] = ops["routed_experts"] = ops["shared_experts"] = c.gpu_op(z, z)

    p_dense = A.dense_ffn_params_per_layer(m)
    ops["dense_ffn"] = c.gpu_op(n_dense * 2 * tok_a * p_dense / tp,
                                n_dense * (p_dense / tp * w + tok_a * 2 * d * act),
                                rows=tok_a, layers=n_dense)

    # Head: only the newest position of each sequence needs logits; vocab split by tp
    p_head = m.vocab_size * d
    ops["head"] = c.gpu_op(2 * seqs_a * p_head / tp,
                           p_head / tp * w + seqs_a * m.vocab_size / tp * 4,  # fp32 logits
                           rows=seqs_a, layers=1)

    # Communication. TP: two all-reduces per layer of the attention group's tokens, each with
    # the faster of ring and tree (NCCL's choice).
    msg_tp = tok_a * d * act
    bw_tp, lat_tp = link_for_group(hw, lay.tp, opts, msg_tp)
    t_ar = f.all_reduce_time_s(msg_tp, lay.tp, bw_tp, lat_tp)
    tp_bytes = np.where(lay.tp > 1, n_layers * 2 * 2 * (tp - 1) / tp * msg_tp, 0)
    ops["tp_all_reduce"] = c.comm_op(tp_bytes, n_layers * 2 * t_ar)

    # EP: dispatch + combine, split into the part that stays in the node and the part that leaves
    if m.is_moe:
        g = lay.group.astype(float)
        b_disp = opts.dispatch_bytes_per_element or act
        b_comb = opts.combine_bytes_per_element or act
        tok_src = tok_a / tp                                           # tokens this GPU dispatches
        # GPUs per token: the distinct EP ranks of its k experts, each split over etp GPUs
        dests = f.distinct_ranks_per_token_exact(lay.ep, m.num_experts, m.top_k) * lay.etp
        in_node = np.minimum(g, hw.gpus_per_node)
        frac_intra = (in_node - 1) / g
        frac_inter = (g - in_node) / g
        msg_ep = tok_src * d * b_disp                                    # per destination
        eff_up = link_efficiency(hw, True, msg_ep, opts)
        eff_out = link_efficiency(hw, False, msg_ep, opts)
        t_intra = f.ep_all_to_all_time_s(tok_src, dests * frac_intra, d, b_disp, b_comb,
                                         hw.scaleup_bandwidth_bytes_per_s * eff_up,
                                         hw.scaleup_latency_s)
        t_inter = f.ep_all_to_all_time_s(tok_src, dests * frac_inter, d, b_disp, b_comb,
                                         hw.scaleout_bandwidth_bytes_per_s * eff_out,
                                         hw.scaleout_latency_s)
        # tokens move only when experts are spread (ep > 1) or attention is data-parallel
        # (dp_attn > 1); with ep = dp_attn = 1 every GPU already holds every token and the
        # experts' partial sums ride on the FFN all-reduce, as for a dense FFN
        moves = (lay.ep > 1) | (lay.dp_attn > 1)
        t_ep = np.where(moves & (g > 1),
                        np.where(frac_inter > 0, np.maximum(t_intra, t_inter), t_intra), 0)
        vol = np.where(moves, tok_src * dests * (frac_intra + frac_inter) * d * (b_disp + b_comb),
                       0.0)
        ops["ep_dispatch_combine"] = c.comm_op(n_moe * vol, n_moe * t_ep)
    else:
        ops["ep_dispatch_combine"] = c.comm_op(z, z)

    # PP: the stage's activations go to the next stage once per step
    crosses = lay.group * lay.pp > hw.gpus_per_node
    msg_pp = tok_a / tp * d * act
    bw_pp = np.where(crosses, hw.scaleout_bandwidth_bytes_per_s, hw.scaleup_bandwidth_bytes_per_s)
    bw_pp = bw_pp * link_efficiency(hw, ~crosses, msg_pp, opts)
    lat_pp = np.where(crosses, hw.scaleout_latency_s, hw.scaleup_latency_s)
    ops["pp_send"] = c.comm_op(np.where(lay.pp > 1, msg_pp, 0),
                               np.where(lay.pp > 1, f.p2p_time_s(msg_pp, bw_pp, lat_pp), 0))
    return ops


def stage_time_s(ops: dict[str, OpCost], opts: Options) -> np.ndarray:
    """Sum of op times, with ``overlap_fraction`` of communication hidden under GPU work."""
    gpu = sum(ops[o].time_s for o in OPS if o not in COMM_OPS)
    comm = sum(ops[o].time_s for o in COMM_OPS)
    return gpu + f.exposed_comm_time_s(comm, gpu, opts.overlap_fraction)


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

def memory_per_gpu_bytes(hw: Hardware, model: Model, workload: Workload, reserve_fraction: float,
                         lay: Layouts, opts: Options) -> dict[str, np.ndarray]:
    """Memory per GPU by component; the components sum to the total.

    * non-expert weights / (tp * pp); routed-expert weights * (E + R)/E / (etp * ep * pp);
    * KV cache of this GPU's ``B / (dp * dp_attn)`` sequences at the longest context
      (longest prompt + output) for the busiest stage's layers;
    * activations of the largest prefill micro-batch (residual stream, attention and FFN
      intermediates of one layer, logits);
    * communication buffers (EP dispatch/combine, TP all-reduce);
    * a runtime reserve of ``reserve_fraction`` of HBM (allocator, CUDA context, graphs).
    """
    m = model
    tp = lay.tp.astype(float)
    pp = lay.pp.astype(float)
    wb = A.weight_bytes(m)
    n_moe, n_dense = stage_layers(m, lay.pp)
    n_layers = n_moe + n_dense
    expert_w = wb["expert"] * (m.num_experts + lay.redundant_experts) / max(m.num_experts, 1) \
        / (lay.etp * lay.ep * pp)
    non_expert_w = wb["non_expert"] / (tp * pp)

    b_rep = workload.batch_sequences / lay.dp
    seqs_gpu = b_rep / lay.dp_attn
    ctx = workload.max_prompt_tokens + workload.output_tokens
    kv = seqs_gpu * A.cached_tokens_per_layer(m, ctx) * n_layers * \
        kv_cache_bytes_per_token_per_layer_per_gpu(m, tp)

    d = m.hidden_size
    act = m.activation_bytes_per_element
    a = m.attention
    width = (a.num_heads * (2 * a.qk_head_dim + a.v_dim) if a.kind == "mla"
             else (a.num_heads + 2 * a.num_kv_heads) * a.head_dim)
    tok_a = b_rep / lay.microbatches / lay.dp_attn * workload.max_prompt_tokens
    attn_ws = tok_a * width / tp * act
    ffn_ws = np.zeros(len(lay))
    n_in = 2 if m.ffn_gated else 1
    if m.is_moe:
        mean_pairs = tok_a * lay.dp_attn * m.top_k / lay.ep
        busiest = busiest_rank_load(mean_pairs, lay.ep, m, lay.redundant_experts, opts)
        ffn_ws = busiest * (2 * d + n_in * m.expert_intermediate_size / lay.etp) * act
    if m.num_dense_layers:
        ffn_ws = np.maximum(ffn_ws, tok_a * n_in * m.dense_intermediate_size / tp * act)
    logits = b_rep / lay.microbatches / lay.dp_attn * m.vocab_size / tp * 4
    activations = tok_a * 2 * d * act + np.maximum(np.maximum(attn_ws, ffn_ws), logits)

    comm = tok_a * d * act * np.where(lay.tp > 1, 1.0, 0.0)
    if m.is_moe:
        dests = f.distinct_ranks_per_token_exact(lay.ep, m.num_experts, m.top_k) * lay.etp
        b_disp = opts.dispatch_bytes_per_element or act
        b_comb = opts.combine_bytes_per_element or act
        moves = (lay.ep > 1) | (lay.dp_attn > 1)
        comm = comm + np.where(moves & (lay.group > 1), tok_a / tp * dests * d * (b_disp + b_comb),
                               0.0)

    reserve = np.full(len(lay), reserve_fraction * hw.hbm_capacity_bytes)
    return {"non_expert_weights": non_expert_w, "expert_weights": expert_w, "kv_cache": kv,
            "activations": activations, "comm_buffers": comm, "runtime_reserve": reserve}


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------

def prefill(hw, model, workload, lay, opts, prompt_tokens) -> tuple[np.ndarray, dict[str, OpCost]]:
    """TTFT of the batch at one prompt length: ``(m + pp - 1) * stage time`` of a micro-batch,
    and the stage's ops."""
    b_rep = workload.batch_sequences / lay.dp
    ops = stage_ops(hw, model, lay, opts, seqs_per_group=b_rep / lay.microbatches,
                    query_tokens_per_seq=prompt_tokens, phase="prefill")
    return f.pipeline_steps(lay.pp, lay.microbatches) * stage_time_s(ops, opts), ops


def decode(hw, model, workload, lay, opts, context_tokens) -> tuple[np.ndarray, dict[str, OpCost]]:
    """TPOT at a context length: ``pp * stage time`` with the batch in ``min(pp, B)``
    micro-batches (a token passes through every stage), and the stage's ops."""
    b_rep = workload.batch_sequences / lay.dp
    m_dec = np.minimum(lay.pp, b_rep)
    ops = stage_ops(hw, model, lay, opts, seqs_per_group=b_rep / m_dec, query_tokens_per_seq=1,
                    phase="decode", context_tokens=context_tokens)
    return lay.pp * stage_time_s(ops, opts), ops


def evaluate_layouts(scenario: Scenario, lay: Layouts, opts: Options | None = None,
                     prompt_tokens: int | None = None) -> dict[str, np.ndarray]:
    """Headline metrics of N layouts at one prompt length (default: the longest, the worst case
    for TTFT and memory). Every value is an array of N."""
    opts = opts or Options()
    hw, m, wl = scenario.hardware, scenario.model, scenario.workload
    s = prompt_tokens or wl.max_prompt_tokens
    o = wl.output_tokens
    gpus = lay.gpus.astype(float)
    b = wl.batch_sequences
    ttft, _ = prefill(hw, m, wl, lay, opts, s)
    tpot_start, _ = decode(hw, m, wl, lay, opts, s)
    tpot_end, _ = decode(hw, m, wl, lay, opts, s + o)
    tpot_avg, _ = decode(hw, m, wl, lay, opts, s + o / 2)
    e2e = ttft + (o - 1) * tpot_avg
    mem = memory_per_gpu_bytes(hw, m, wl, scenario.requirements.memory_reserve_fraction, lay, opts)
    mem_total = sum(mem.values())
    flops_prefill = b * sum(A.prefill_flops_by_op(m, s).values())
    peak = hw.peak_flops_for(m.activation_precision)
    return {
        "prompt_tokens": np.full(len(lay), s),
        "gpus": gpus,
        "ttft_s": ttft,
        "tpot_start_s": tpot_start,
        "tpot_end_s": tpot_end,
        "tpot_s": tpot_avg,
        "e2e_latency_s": e2e,
        "prefill_tokens_per_s_per_gpu": b * s / ttft / gpus,
        "decode_tokens_per_s_per_gpu": b / tpot_avg / gpus,
        "total_tokens_per_s_per_gpu": b * (s + o) / e2e / gpus,
        "output_tokens_per_s_per_gpu": b * o / e2e / gpus,
        "tokens_per_s_per_user": 1 / tpot_avg,
        "prefill_mfu": flops_prefill / (ttft * gpus * peak),
        "memory_per_gpu_bytes": mem_total,
        "memory_utilization": mem_total / hw.hbm_capacity_bytes,
        "fits_memory": mem_total <= hw.hbm_capacity_bytes,
    }


# --------------------------------------------------------------------------------------------
# One layout, explained
# --------------------------------------------------------------------------------------------

@dataclass
class Estimate:
    """Everything about one layout: metrics at every prompt length, memory and time breakdowns."""

    scenario: Scenario
    strategy: Strategy
    options: Options
    metrics: list[dict[str, float]]                 # one row per prompt length
    memory_bytes: dict[str, float]
    prefill_ops: list[dict[str, object]]            # at the longest prompt, per op
    decode_ops: list[dict[str, object]]             # at the longest context, per op
    ttft_breakdown_s: dict[str, float]              # sums to worst-case TTFT
    tpot_breakdown_s: dict[str, float]              # sums to TPOT at the longest context
    sol_fraction: dict[str, float]                  # speed-of-light time / this time
    warnings: list[str] = field(default_factory=list)

    def by_resource(self, phase: str) -> dict[str, float]:
        """The phase's breakdown grouped by the resource that set each op's time (compute,
        memory, communication) plus the pipeline's idle steps; sums to the phase's time
        (worst-case TTFT for "prefill", TPOT at the longest context for "decode")."""
        breakdown, ops = ((self.ttft_breakdown_s, self.prefill_ops) if phase == "prefill"
                          else (self.tpot_breakdown_s, self.decode_ops))
        out = {"compute": 0.0, "memory": 0.0, "communication": 0.0, "pipeline_bubble": 0.0}
        for row in ops:
            out[row["bound"]] += breakdown[row["op"]]
        out["pipeline_bubble"] += breakdown["pipeline_bubble"]
        return out

    @property
    def worst(self) -> dict[str, float]:
        """Metrics at the longest prompt (the TTFT worst case)."""
        return max(self.metrics, key=lambda r: r["prompt_tokens"])

    def to_dict(self) -> dict:
        w = self.worst
        return {
            "strategy": self.strategy.as_dict(),
            "layout": self.strategy.label(),
            "mode": self.options.mode,
            "options": self.options.describe(),
            "memory_per_gpu_bytes": {"total": sum(self.memory_bytes.values()),
                                     "capacity": self.scenario.hardware.hbm_capacity_bytes,
                                     "breakdown": self.memory_bytes},
            "ttft_s": w["ttft_s"],
            "tpot_s": w["tpot_s"],
            "tpot_start_s": w["tpot_start_s"],
            "tpot_end_s": w["tpot_end_s"],
            "prefill_tokens_per_ms_per_gpu": w["prefill_tokens_per_s_per_gpu"] / 1e3,
            "decode_tokens_per_ms_per_gpu": w["decode_tokens_per_s_per_gpu"] / 1e3,
            "total_tokens_per_ms_per_gpu": w["total_tokens_per_s_per_gpu"] / 1e3,
            "e2e_latency_s": w["e2e_latency_s"],
            "prefill_mfu": w["prefill_mfu"],
            "memory_utilization": w["memory_utilization"],
            "metrics_by_prompt_length": self.metrics,
            "time_breakdown": {"ttft_s": self.ttft_breakdown_s, "tpot_s": self.tpot_breakdown_s,
                               "ttft_by_resource_s": self.by_resource("prefill"),
                               "tpot_by_resource_s": self.by_resource("decode"),
                               "prefill_ops": self.prefill_ops, "decode_ops": self.decode_ops},
            "speed_of_light_fraction": self.sol_fraction,
            "assumptions": list(self.scenario.assumptions) + [
                "estimate: " + self.options.describe(),
                "busiest pipeline stage holds ceil(L/pp) layers plus embedding and head",
                "decode TPOT averaged at the mid-generation context (prompt + output/2)",
            ],
            "warnings": list(self.scenario.warnings) + self.warnings,
        }


def _op_rows(ops: dict[str, OpCost]) -> list[dict[str, object]]:
    rows = []
    for name in OPS:
        op = ops[name]
        rows.append({"op": name, "flops": float(op.flops[0]), "hbm_bytes": float(op.hbm_bytes[0]),
                     "comm_bytes": float(op.comm_bytes[0]), "compute_s": float(op.compute_s[0]),
                     "memory_s": float(op.memory_s[0]), "comm_s": float(op.comm_s[0]),
                     "time_s": float(op.time_s[0]), "bound": str(op.bound[0])})
    return rows


def _breakdown(ops: dict[str, OpCost], steps: float, bubble_steps: float, opts: Options
               ) -> dict[str, float]:
    """Per-op share of ``steps * stage time``, with overlap credited to communication ops and
    the pipeline's idle steps as their own line; sums to the phase's time."""
    gpu = sum(float(ops[o].time_s[0]) for o in OPS if o not in COMM_OPS)
    comm = sum(float(ops[o].time_s[0]) for o in COMM_OPS)
    exposed = float(f.exposed_comm_time_s(comm, gpu, opts.overlap_fraction))
    scale = exposed / comm if comm else 0.0
    out = {}
    for o in OPS:
        t = float(ops[o].time_s[0]) * (scale if o in COMM_OPS else 1.0)
        out[o] = t * steps
    stage = gpu + exposed
    out["pipeline_bubble"] = stage * bubble_steps
    return out


def estimate(scenario: Scenario, strategy: Strategy, opts: Options | None = None) -> Estimate:
    """Estimate one layout at every prompt length of the workload (LayoutError if impossible)."""
    opts = opts or Options()
    hw, m, wl = scenario.hardware, scenario.model, scenario.workload
    check_strategy(m, wl, strategy)
    lay = Layouts.from_strategies([strategy])
    sol = Options(**{**opts.__dict__, "mode": "sol"})
    rows = []
    for s in wl.prompt_lengths_tokens:
        r = {k: float(v[0]) for k, v in evaluate_layouts(scenario, lay, opts, s).items()}
        rows.append(r)
    s_max = wl.max_prompt_tokens
    ctx_end = s_max + wl.output_tokens
    ttft, p_ops = prefill(hw, m, wl, lay, opts, s_max)
    tpot, d_ops = decode(hw, m, wl, lay, opts, ctx_end)
    ttft_sol, _ = prefill(hw, m, wl, lay, sol, s_max)
    tpot_sol, _ = decode(hw, m, wl, lay, sol, ctx_end)
    mb, pp = strategy.microbatches, strategy.pp
    ttft_bd = _breakdown(p_ops, mb, pp - 1, opts)
    tpot_bd = _breakdown(d_ops, pp, 0, opts)
    mem = {k: float(v[0]) for k, v in memory_per_gpu_bytes(
        hw, m, wl, scenario.requirements.memory_reserve_fraction, lay, opts).items()}
    warnings = []
    if strategy.tp > hw.gpus_per_node:
        warnings.append(f"tp={strategy.tp} spans more than one node of {hw.gpus_per_node} GPUs: "
                        f"its all-reduces run on the scale-out network")
    if m.attention.kind == "gqa" and strategy.tp > m.attention.num_kv_heads:
        warnings.append(f"tp={strategy.tp} exceeds the {m.attention.num_kv_heads} KV heads: "
                        f"each KV head is replicated on {strategy.tp // m.attention.num_kv_heads} "
                        f"GPUs")
    return Estimate(scenario, strategy, opts, rows, mem, _op_rows(p_ops), _op_rows(d_ops),
                    ttft_bd, tpot_bd,
                    {"ttft": float(ttft_sol[0] / ttft[0]), "tpot": float(tpot_sol[0] / tpot[0])},
                    warnings)


def gpus_needed_lower_bound(model: Model, hw: Hardware) -> int:
    """Fewest GPUs whose HBM can hold the weights at all: ``ceil(weight bytes / capacity)``."""
    return max(1, math.ceil(sum(A.weight_bytes(model).values()) / hw.hbm_capacity_bytes))
