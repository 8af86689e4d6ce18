"""The simulator's one coupling to the op-cost model (:mod:`analysis.estimate`).

Every other module of :mod:`analysis.simulate` sees only what this adapter returns: plain
numbers and NumPy tables. To repoint the simulator at another cost model, rewrite this file
and keep these names and signatures:

* :func:`layout_from_text` (text -> Strategy), :func:`with_precision` (model -> model),
  :func:`check_layout` (raises LayoutError), :func:`gpus_of`, :func:`layout_degrees`;
* :func:`memory_budget` -> :class:`MemoryBudget` (bytes per GPU);
* :func:`iteration_cost_tables` -> :class:`CostTables`, whose methods price one iteration.

How an iteration is priced (the busiest attention-DP rank, ranks in lockstep):

* **Token-linear ops** (embedding, norms, attention projections, router, routed and shared
  experts, dense FFN, TP all-reduce, EP dispatch/combine, PP send) depend only on the tokens
  that pass: ``T`` = prefill-chunk tokens + decode tokens of the busiest rank. They are
  priced by ``stage_ops`` in one forward, so each weight is read once for prefill and decode
  tokens alike. ``seqs_per_group = dp_attn * T``: every rank padded to the busiest rank's
  tokens, as vLLM (``get_dp_padding``) and SGLang (``prepare_mlp_sync_batch``) do.
* **Attention core**: B decode sequences at mean context c cost ``B * compute_d(c) +
  compute_0(c)`` and ``B * memory_d(c) + memory_0(c)``: the op is priced for the whole batch
  (its FLOPs and bytes), and a size-dependent efficiency ``e_max * x / (x + x_half)`` makes
  ``work / (peak * e(x))`` affine in the batch, ``(work + x_half * work per unit) / (peak *
  e_max)``. The tables keep the slope and the intercept, taken from the op priced at 1 and at
  :data:`DECODE_REFERENCE_SEQS` sequences per rank (exact: the op is linear in the batch). One
  sequence priced alone and multiplied by B would take the small op's efficiency for the
  batch's (at 3,000 sequences 5-20x too slow in calibrated mode). A prefill chunk of tokens
  ``[p, p + n)`` costs ``C(p + n) - C(p)`` where ``C(S)`` is the cost of a whole causal
  prompt of S tokens (so a chunk attends to everything before it). The op's time is
  ``max(sum compute, sum memory)`` on each rank.
* **Head**: logits for every sequence scheduled on the rank.
* stage time = token-linear ops + max over ranks (attention core + head); an iteration is
  ``pp`` stage times (a token passes every stage), as in ``analysis.serving``.

Each table is evaluated once, vectorised (K copies of the layout as a Layouts of length K),
and interpolated linearly between grid points at run time.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace

import numpy as np

from analysis import estimate as E
from analysis.estimate import formulas as f
from analysis.inputs.errors import InputError
from analysis.inputs.types import (
    DEGREE_NAMES,
    Hardware,
    Model,
    Strategy,
    Workload,
    normalise_precision,
)

#: Label prefix -> degree, as :func:`analysis.inputs.layout_label` prints them.
_LABEL_DEGREES = {"tp": "tp", "dp_attn": "dp_attn", "etp": "etp", "ep": "ep", "pp": "pp",
                  "dp": "dp", "mb": "microbatches", "re": "redundant_experts"}

#: Sequences per rank of the second decode-attention pricing (slope and intercept in the batch).
DECODE_REFERENCE_SEQS = 1024

#: Ops priced as functions of the tokens through the stage only.
TOKEN_LINEAR_OPS = tuple(o for o in E.OPS if o not in ("attention_core", "head"))


# --------------------------------------------------------------------------------------------
# Layout and model
# --------------------------------------------------------------------------------------------

def layout_from_text(text: str) -> Strategy:
    """A layout from ``"tp=4,ep=16"`` (:meth:`Strategy.parse`) or a printed label
    (``tp4-dp_attn16-etp4-ep16``, ``single-gpu``, or shorthand like ``tp4-ep16``).

    A label names the degrees that are not 1; read literally (the rest 1) when that is a valid
    layout (``tp*dp_attn == etp*ep``), else completed as :meth:`Strategy.complete` does
    (``tp4-ep16`` = ``tp=4,ep=16`` = tp4-dp_attn16-etp4-ep16)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("layout", text, "empty layout",
                         "'tp=4,ep=16' or a label such as tp4-ep16")
    t = text.strip().lower()
    if "=" in t:
        return Strategy.parse(t)
    if t == "single-gpu":
        return Strategy()
    values: dict[str, int] = {}
    for part in t.split("-"):
        prefix = part.rstrip("0123456789")
        digits = part[len(prefix):]
        if prefix not in _LABEL_DEGREES or not digits:
            raise InputError("layout", text, f"cannot read {part!r} as a degree",
                             "a label such as tp4-ep16 (prefixes "
                             + ", ".join(_LABEL_DEGREES) + ") or 'tp=4,ep=16'")
        values[_LABEL_DEGREES[prefix]] = int(digits)
    literal = {n: values.get(n, 0 if n == "redundant_experts" else 1) for n in DEGREE_NAMES}
    if literal["tp"] * literal["dp_attn"] == literal["etp"] * literal["ep"] and all(
            literal[n] >= 1 for n in DEGREE_NAMES if n != "redundant_experts"):
        return Strategy(**literal)
    return Strategy.complete(**values)


def layout_degrees(strategy: Strategy) -> dict[str, int]:
    """The degrees and GPU count of a layout, and its printed label."""
    d = strategy.as_dict()
    d["label"] = strategy.label()
    return d


def gpus_of(strategy: Strategy) -> int:
    return strategy.gpus


def with_dp(strategy: Strategy, dp: int) -> Strategy:
    return replace(strategy, dp=dp)


def with_precision(model: Model, weights: str | None = None, kv: str | None = None,
                   experts: str | None = None, activations: str | None = None) -> Model:
    """The model with its precisions replaced (None keeps the model's own). ``activations`` is
    also the matmul precision; unless given it is kept (weight-only low precision dequantises
    to it)."""
    changes = {}
    if activations is not None:
        changes["activation_precision"] = normalise_precision(activations,
                                                              "precision.activations")
    if weights is not None:
        changes["weight_precision"] = normalise_precision(weights, "precision.weights")
    if kv is not None:
        changes["kv_precision"] = normalise_precision(kv, "precision.kv")
    if experts is not None:
        changes["expert_weight_precision"] = normalise_precision(experts, "precision.experts")
    return replace(model, **changes) if changes else model


def model_precisions(model: Model) -> dict[str, str]:
    return {"weights": model.weight_precision,
            "experts": model.expert_weight_precision or model.weight_precision,
            "kv": model.kv_precision, "activations": model.activation_precision}


def model_name(model: Model) -> str:
    return model.name


def check_layout(model: Model, strategy: Strategy, isl: int, osl: int) -> None:
    """LayoutError with every reason when the layout cannot run this model (one sequence per
    attention rank, one micro-batch: the serving engines' setting)."""
    E.check_strategy(model, Workload(strategy.dp * strategy.dp_attn, (isl,), osl),
                     replace(strategy, microbatches=1))


def options(mode: str) -> E.Options:
    return E.Options(mode=mode)


def hardware_capacity_bytes(hw: Hardware) -> float:
    return hw.hbm_capacity_bytes


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryBudget:
    """Memory of one GPU of the layout, bytes. ``activations_bytes`` is the peak of a forward
    of ``profile_tokens`` prompt tokens on one attention rank (what vLLM's profile run sees)."""

    capacity_bytes: float
    weights_bytes: float
    activations_bytes: float
    comm_buffers_bytes: float
    kv_bytes_per_token: float
    profile_tokens: int


def memory_budget(hw: Hardware, model: Model, strategy: Strategy, opts: E.Options,
                  profile_tokens: int) -> MemoryBudget:
    """Weights, profile-run activations and buffers per GPU, and the KV-cache bytes one token
    costs one GPU (all layers of its busiest stage), from ``memory_per_gpu_bytes``."""
    lay = E.Layouts.from_strategies([replace(strategy, microbatches=1)])
    ranks = strategy.dp * strategy.dp_attn
    mem = E.memory_per_gpu_bytes(hw, model, Workload(ranks, (int(profile_tokens),), 1), 0.0,
                                 lay, opts)
    # KV bytes per token: one sequence of 1 prompt + 1 output token per rank, halved
    one = E.memory_per_gpu_bytes(hw, model, Workload(ranks, (1,), 1), 0.0, lay, opts)
    return MemoryBudget(hw.hbm_capacity_bytes,
                        float(mem["non_expert_weights"][0] + mem["expert_weights"][0]),
                        float(mem["activations"][0]), float(mem["comm_buffers"][0]),
                        float(one["kv_cache"][0]) / 2, int(profile_tokens))


# --------------------------------------------------------------------------------------------
# Iteration cost
# --------------------------------------------------------------------------------------------

def _interp(xs: list[float], ys: list[float], x: float) -> float:
    """Linear interpolation on a sorted grid (clamped linear extrapolation past the last
    point); plain Python, a microsecond a call."""
    i = bisect_right(xs, x) - 1
    if i < 0:
        return ys[0]
    if i >= len(xs) - 1:
        i = len(xs) - 2
    x0, x1 = xs[i], xs[i + 1]
    return ys[i] + (ys[i + 1] - ys[i]) * (x - x0) / (x1 - x0)


def _interp_pair(xs: list[float], ys: list[float], zs: list[float], x: float
                 ) -> tuple[float, float]:
    """:func:`_interp` of two tables on the same grid at one point (one bisection)."""
    i = bisect_right(xs, x) - 1
    if i < 0:
        return ys[0], zs[0]
    if i >= len(xs) - 1:
        i = len(xs) - 2
    w = (x - xs[i]) / (xs[i + 1] - xs[i])
    return ys[i] + (ys[i + 1] - ys[i]) * w, zs[i] + (zs[i + 1] - zs[i]) * w


def token_grid(max_tokens: int, points: int = 160) -> np.ndarray:
    """0, 1, ..., 32 and then geometric steps to ``max_tokens``: integer grid points."""
    lo = np.arange(0, min(32, max_tokens) + 1)
    hi = np.geomspace(32, max(max_tokens, 33), points) if max_tokens > 32 else np.array([])
    return np.unique(np.concatenate([lo, np.round(hi)])).astype(float)


@dataclass(frozen=True)
class CostTables:
    """Iteration cost tables of one layout (seconds, per GPU of the busiest rank, one stage).

    ``linear_s[i]``: token-linear ops for ``tokens[i]`` tokens per rank.
    ``decode_compute_s[j]``, ``decode_memory_s[j]``: attention core per decode sequence at
    context ``context[j]`` (slope in the batch); ``decode_compute_fixed_s[j]``,
    ``decode_memory_fixed_s[j]``: the batch-independent part (intercept; 0 when the efficiency
    does not depend on size). ``prefill_compute_s[j]``, ``prefill_memory_s[j]``: attention core
    of a whole causal prompt of ``context[j]`` tokens. ``head_s[i]``: logits of ``tokens[i]``
    sequences. ``attention_overhead_s``: fixed per-op cost of the attention core (calibrated
    mode only). ``pp``: stage times per iteration.
    """

    tokens: list[float]
    linear_s: list[float]
    head_s: list[float]
    context: list[float]
    decode_compute_s: list[float]
    decode_memory_s: list[float]
    prefill_compute_s: list[float]
    prefill_memory_s: list[float]
    attention_overhead_s: float
    pp: int
    decode_compute_fixed_s: list[float] | None = None
    decode_memory_fixed_s: list[float] | None = None
    #: (intercept, slope in context) of the four decode tables (compute and memory per
    #: sequence, compute and memory fixed) when all are affine in context (no sliding
    #: window): priced without interpolation
    decode_affine: tuple[float, ...] | None = None

    def linear(self, tokens: float) -> float:
        """Token-linear ops of ``tokens`` tokens on the busiest rank, seconds."""
        return _interp(self.tokens, self.linear_s, tokens)

    def head(self, seqs: float) -> float:
        return _interp(self.tokens, self.head_s, seqs) if seqs > 0 else 0.0

    def decode_attention(self, seqs: float, mean_context: float) -> tuple[float, float]:
        """(compute s, memory s) of the attention core of ``seqs`` decode sequences at a mean
        context: ``seqs * per-sequence + fixed`` (linear in context: exact without sliding
        windows)."""
        if seqs <= 0:
            return 0.0, 0.0
        x = mean_context
        if self.decode_affine is not None:
            c0, c1, m0, m1, fc0, fc1, fm0, fm1 = self.decode_affine
            return (seqs * (c0 + c1 * x) + fc0 + fc1 * x,
                    seqs * (m0 + m1 * x) + fm0 + fm1 * x)
        fc = _interp(self.context, self.decode_compute_fixed_s, x) \
            if self.decode_compute_fixed_s else 0.0
        fm = _interp(self.context, self.decode_memory_fixed_s, x) \
            if self.decode_memory_fixed_s else 0.0
        return (seqs * _interp(self.context, self.decode_compute_s, x) + fc,
                seqs * _interp(self.context, self.decode_memory_s, x) + fm)

    def prefill_attention(self, start: float, end: float) -> tuple[float, float]:
        """(compute s, memory s) of the attention core of a prompt chunk of positions
        ``[start, end)``: ``C(end) - C(start)``."""
        c, pc, pm = self.context, self.prefill_compute_s, self.prefill_memory_s
        c1, m1 = _interp_pair(c, pc, pm, end)
        c0, m0 = _interp_pair(c, pc, pm, start)
        return c1 - c0, m1 - m0

    def iteration_s(self, busiest_tokens: float, attention_and_head_s: float) -> float:
        """One iteration: ``pp * (token-linear ops + busiest rank's attention and head)``."""
        return self.pp * (self.linear(busiest_tokens) + attention_and_head_s)

    def attention_s(self, compute_s: float, memory_s: float) -> float:
        """The attention core op: ``max(compute, memory)`` plus its fixed cost."""
        if compute_s <= 0 and memory_s <= 0:
            return 0.0
        return max(compute_s, memory_s) + self.attention_overhead_s


def iteration_cost_tables(hw: Hardware, model: Model, strategy: Strategy, opts: E.Options,
                          max_tokens_per_rank: int, max_context_tokens: int) -> CostTables:
    """Evaluate ``stage_ops`` on the grids (four vectorised calls) and keep the tables."""
    s = replace(strategy, microbatches=1, dp=1)
    tok = token_grid(max(int(max_tokens_per_rank), 2))
    ctx = token_grid(max(int(max_context_tokens), 2))
    dp_attn = float(s.dp_attn)

    # token-linear ops: T tokens per rank, one query token each, no context
    ops = E.stage_ops(hw, model, E.Layouts.from_strategies([s] * len(tok)), opts,
                      seqs_per_group=dp_attn * tok, query_tokens_per_seq=1, phase="decode",
                      context_tokens=0.0)
    gpu = sum(ops[o].time_s for o in TOKEN_LINEAR_OPS if o not in E.COMM_OPS)
    comm = sum(ops[o].time_s for o in E.COMM_OPS)
    linear = gpu + f.exposed_comm_time_s(comm, gpu, opts.overlap_fraction)
    head = ops["head"].time_s
    if model.attention.sliding_layers:
        # the sliding-window terms take one context at a time: a coarser grid, scalar calls
        ctx = token_grid(max(int(max_context_tokens), 2), points=24)
        cols = [_attention_core(hw, model, s, opts, float(c)) for c in ctx]
        dec_c, dec_m, fix_c, fix_m, pre_c, pre_m, over = (np.array(x) for x in zip(*cols,
                                                                                 strict=True))
    else:
        dec_c, dec_m, fix_c, fix_m, pre_c, pre_m, over = _attention_core(hw, model, s, opts,
                                                                         ctx)
    pre_c = np.where(ctx > 0, pre_c, 0.0)
    pre_m = np.where(ctx > 0, pre_m, 0.0)
    return CostTables(tok.tolist(), linear.tolist(), head.tolist(), ctx.tolist(),
                      dec_c.tolist(), dec_m.tolist(), pre_c.tolist(), pre_m.tolist(),
                      float(np.max(over)), int(s.pp), fix_c.tolist(), fix_m.tolist(),
                      _affine(ctx, dec_c, dec_m, fix_c, fix_m))


def _attention_core(hw: Hardware, model: Model, s: Strategy, opts: E.Options, ctx):
    """Attention core per rank at context(s) ``ctx``: decode sequences (compute and memory,
    seconds per sequence and fixed, from the op priced at 1 and at K =
    :data:`DECODE_REFERENCE_SEQS` sequences: ``slope = (t_K - t_1) / (K - 1)``, ``fixed = t_1
    - slope``), one whole causal prompt of ``ctx`` tokens (compute s, memory s), and the op's
    fixed cost."""
    n = len(np.atleast_1d(ctx))
    lay = E.Layouts.from_strategies([s] * n)
    k = DECODE_REFERENCE_SEQS

    def decode(seqs: int):
        return E.stage_ops(hw, model, lay, opts, seqs_per_group=float(s.dp_attn * seqs),
                           query_tokens_per_seq=1, phase="decode",
                           context_tokens=ctx)["attention_core"]

    one, many = decode(1), decode(k)
    slope_c = (many.compute_s - one.compute_s) / (k - 1)
    slope_m = (many.memory_s - one.memory_s) / (k - 1)
    fix_c, fix_m = one.compute_s - slope_c, one.memory_s - slope_m
    pre = E.stage_ops(hw, model, lay, opts, seqs_per_group=float(s.dp_attn),
                      query_tokens_per_seq=np.maximum(ctx, 1.0) if n > 1 else max(ctx, 1.0),
                      phase="prefill")["attention_core"]
    over = np.asarray(one.overhead_s) + np.zeros(n)
    cols = (slope_c, slope_m, fix_c, fix_m, pre.compute_s, pre.memory_s)
    if n == 1 and np.ndim(ctx) == 0:
        return (*(float(np.asarray(x)[0]) for x in cols), float(over[0]))
    return (*cols, over)


def _affine(x: np.ndarray, *ys: np.ndarray) -> tuple[float, ...] | None:
    """(intercept, slope) of each ``y`` over ``x`` when every one is a straight line (to
    1e-9 relative), else None."""
    out: list[float] = []
    for y in ys:
        slope, icpt = np.polyfit(x, y, 1)
        if np.max(np.abs(icpt + slope * x - y)) > 1e-9 * max(np.max(np.abs(y)), 1e-30):
            return None
        out += [float(icpt), float(slope)]
    return tuple(out)
