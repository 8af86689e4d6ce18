"""What-if (sensitivity) analysis: which inputs move the recommendation, and where it changes.

The planner (:func:`analysis.search.planner`) is re-run with one input changed at a time, every
other input held at the scenario's value:

* :func:`tornado` sets each input to a low and a high value (by default x0.5 and x2 of the
  scenario's value, clamped to what is valid) and reports a metric of the recommended layout at
  low, base and high, the swing, and the layout at each end. Sorted by swing: a tornado chart.
* :func:`thresholds` scans one input over a wider, log-spaced grid (by default x0.1 to x10) and
  finds every value at which the recommendation changes (its layout, or whether it meets every
  requirement), refined by bisection until the bracket is within ``tol`` (2%): below the value
  one layout is recommended, above it another, and ``why`` says which check made it change.
* :func:`analyse` runs both for the CLI and the notebook; :func:`takeaway` names the most
  influential input and the nearest threshold.

The declared inputs (:data:`INPUTS`) are the hardware efficiencies (MFU, HBM bandwidth
utilisation), the interconnect (scale-up and scale-out bandwidth and latency per message), the
workload (longest prompt S, batch B, output length O) and the MoE load imbalance (busiest EP rank
over the mean). Each says how to set it on a Scenario/Options and what values are valid:
fractions stay <= 1, token counts are whole numbers >= 1, the batch stays a multiple of
``gcd(B, 8)`` (an odd batch would change the layout for divisibility alone: no micro-batch or
replica split of it exists), an imbalance factor stays >= 1.

Cost: one plan is ~0.2 s for the seed. Outcomes are cached by (scenario, options, budget), so a
value visited twice is planned once (:func:`cache_info`, :func:`clear_cache`). The seed's full
analysis (tornado of the 10 inputs: 21 plans; thresholds of the 5 that move: ~25-55 plans each,
more where the micro-batch count steps up repeatedly) is ~190 plans, ~40 s on one core;
``python -m analysis sensitivity seed`` prints what it took. ``scan="top"`` (the notebook) scans
only the most influential input: ~45 plans, ~10 s.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.estimate import model as E
from analysis.inputs.errors import InputError, MoEPlanError
from analysis.inputs.types import Scenario, prompt_grid_tokens
from analysis.search import planner as S

__all__ = [
    "INPUTS", "METRICS", "SCANS", "Analysis", "Input", "Outcome", "analyse", "cache_info",
    "clear_cache", "input_names", "metric_label", "most_influential", "outcome",
    "readable_thresholds", "readable_tornado", "takeaway", "thresholds", "tornado",
]

# --------------------------------------------------------------------------------------------
# The declared inputs
# --------------------------------------------------------------------------------------------

Setter = Callable[[Scenario, E.Options, float], tuple[Scenario, E.Options]]
Getter = Callable[[Scenario, E.Options], float]


def _hw(name: str) -> tuple[Getter, Setter]:
    def get(sc: Scenario, opts: E.Options) -> float:
        return float(getattr(sc.hardware, name))

    def put(sc: Scenario, opts: E.Options, v: float) -> tuple[Scenario, E.Options]:
        return replace(sc, hardware=replace(sc.hardware, **{name: v})), opts

    return get, put


def _workload(name: str) -> tuple[Getter, Setter]:
    def get(sc: Scenario, opts: E.Options) -> float:
        return float(getattr(sc.workload, name))

    def put(sc: Scenario, opts: E.Options, v: float) -> tuple[Scenario, E.Options]:
        return replace(sc, workload=replace(sc.workload, **{name: int(v)})), opts

    return get, put


def _get_prompt(sc: Scenario, opts: E.Options) -> float:
    return float(sc.workload.max_prompt_tokens)


def _put_prompt(sc: Scenario, opts: E.Options, v: float) -> tuple[Scenario, E.Options]:
    """Set the longest prompt S to ``v``. A range [lo, hi] becomes [min(lo, v), v] with its
    evaluation grid rebuilt; a list of lengths has its longest set to ``v`` and the others capped
    at ``v`` (weights kept, one per length)."""
    wl, s = sc.workload, int(v)
    if wl.prompt_range_tokens is not None and wl.prompt_length_weights is None:
        lo = min(wl.prompt_range_tokens[0], s)
        new = replace(wl, prompt_lengths_tokens=prompt_grid_tokens(lo, s),
                      prompt_range_tokens=(lo, s))
    else:
        longest = wl.prompt_lengths_tokens.index(wl.max_prompt_tokens)
        lengths = tuple(s if i == longest else min(x, s)
                        for i, x in enumerate(wl.prompt_lengths_tokens))
        if wl.prompt_length_weights is None:
            lengths = tuple(sorted(set(lengths)))
        new = replace(wl, prompt_lengths_tokens=lengths, prompt_range_tokens=None)
    return replace(sc, workload=new), opts


def _get_imbalance(sc: Scenario, opts: E.Options) -> float:
    """The busiest EP rank over the mean: the factor if one is set, 1 when balanced, NaN for
    uniform-random routing (there the factor depends on the layout)."""
    return {"factor": opts.imbalance_factor, "balanced": 1.0}.get(opts.imbalance, math.nan)


def _put_imbalance(sc: Scenario, opts: E.Options, v: float) -> tuple[Scenario, E.Options]:
    return sc, replace(opts, imbalance="factor", imbalance_factor=float(v))


def _show_fraction(v: float) -> str:
    return f"{v * 100:.3g}%"


def _show_bandwidth(v: float) -> str:
    return f"{v / 1e9:.3g} GB/s"


def _show_tokens(v: float) -> str:
    return f"{v:,.0f} tokens"


def _show_batch(v: float) -> str:
    return f"{v:,.0f} sequences"


def _show_factor(v: float) -> str:
    return "uniform routing" if math.isnan(v) else f"{v:.3g}x the mean"


Kind = str  # "fraction" | "positive" | "count" | "batch" | "imbalance"


@dataclass(frozen=True)
class Input:
    """One input of the what-if analysis: how to read and set it, and its valid values.

    ``kind`` sets the clamp: "fraction" (0 < x <= 1), "positive" (x >= 0), "count" (whole
    number >= 1), "batch" (a multiple of gcd(base batch, 8), at least that), "imbalance"
    (x >= 1). ``tornado_factors`` and ``scan_factors`` multiply the scenario's value to give the
    tornado's low/high and the threshold scan's bounds.
    """

    name: str                    # the key used by --inputs and in the tables
    label: str                   # what a reader sees
    get: Getter
    put: Setter
    show: Callable[[float], str]
    kind: Kind
    tornado_factors: tuple[float, float] = (0.5, 2.0)
    scan_factors: tuple[float, float] = (0.1, 10.0)

    def base(self, sc: Scenario, opts: E.Options) -> float:
        return self.get(sc, opts)

    def clamp(self, value: float, sc: Scenario, opts: E.Options) -> float:
        """The nearest valid value to ``value``."""
        if self.kind == "fraction":
            return float(min(max(value, 1e-6), 1.0))
        if self.kind == "positive":
            return float(max(value, 0.0))
        if self.kind == "count":
            return float(max(1, round(value)))
        if self.kind == "batch":
            step = math.gcd(sc.workload.batch_sequences, 8)
            return float(max(step, step * round(value / step)))
        if self.kind == "imbalance":
            return float(max(1.0, value))
        raise ValueError(self.kind)

    def _range(self, sc: Scenario, opts: E.Options, factors: tuple[float, float],
               unset: tuple[float, float]) -> tuple[float, float]:
        base = self.base(sc, opts)
        if math.isnan(base):              # imbalance under uniform routing: no factor to scale
            lo, hi = unset
        else:
            lo, hi = base * factors[0], base * factors[1]
        return self.clamp(lo, sc, opts), self.clamp(hi, sc, opts)

    def tornado_range(self, sc: Scenario, opts: E.Options) -> tuple[float, float]:
        """(low, high) for the tornado; for the imbalance under uniform routing 1x and 2x."""
        return self._range(sc, opts, self.tornado_factors, (1.0, 2.0))

    def scan_range(self, sc: Scenario, opts: E.Options) -> tuple[float, float]:
        """(low, high) bounds of the threshold scan; imbalance under uniform routing 1x to 4x."""
        return self._range(sc, opts, self.scan_factors, (1.0, 4.0))

    def apply(self, sc: Scenario, opts: E.Options, value: float) -> tuple[Scenario, E.Options]:
        """The scenario and options with this input set to ``value`` (clamped first)."""
        return self.put(sc, opts, self.clamp(value, sc, opts))


#: Every input the analysis perturbs, in the order the tables list ties.
INPUTS: tuple[Input, ...] = (
    Input("mfu", "MFU", *_hw("mfu"), _show_fraction, "fraction"),
    Input("bandwidth_utilization", "HBM bandwidth utilisation", *_hw("bandwidth_utilization"),
          _show_fraction, "fraction"),
    Input("scaleup_bandwidth", "scale-up (NVLink) bandwidth",
          *_hw("scaleup_bandwidth_bytes_per_s"), _show_bandwidth, "positive"),
    Input("scaleout_bandwidth", "scale-out bandwidth", *_hw("scaleout_bandwidth_bytes_per_s"),
          _show_bandwidth, "positive"),
    Input("scaleup_latency", "scale-up latency per message", *_hw("scaleup_latency_s"),
          fmt.seconds, "positive"),
    Input("scaleout_latency", "scale-out latency per message", *_hw("scaleout_latency_s"),
          fmt.seconds, "positive"),
    Input("prompt_length", "longest prompt S", _get_prompt, _put_prompt, _show_tokens, "count",
          scan_factors=(0.25, 4.0)),
    Input("batch", "batch B", *_workload("batch_sequences"), _show_batch, "batch",
          scan_factors=(0.25, 4.0)),
    Input("output_length", "output length O", *_workload("output_tokens"), _show_tokens, "count",
          scan_factors=(0.25, 10.0)),
    Input("imbalance", "MoE load imbalance (busiest EP rank / mean)", _get_imbalance,
          _put_imbalance, _show_factor, "imbalance"),
)
BY_NAME = {i.name: i for i in INPUTS}


def input_names() -> list[str]:
    return [i.name for i in INPUTS]


def inputs_named(names: str | Sequence[str] | None) -> list[Input]:
    """Inputs by name (a list, or a comma-separated string); InputError names an unknown one."""
    if names is None:
        return list(INPUTS)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise InputError("--inputs", "", "no input named", ", ".join(BY_NAME))
    out = []
    for n in names:
        if isinstance(n, Input):
            out.append(n)
        elif n in BY_NAME:
            out.append(BY_NAME[n])
        else:
            raise InputError("--inputs", n, "unknown input", ", ".join(BY_NAME))
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------------------------
# Metrics, and one plan's outcome (cached)
# --------------------------------------------------------------------------------------------

#: Metrics of the recommended layout: name -> (what it is, higher is better).
METRICS: dict[str, tuple[str, bool]] = {
    "throughput_per_gpu": ("throughput per GPU of the required kind", True),
    "gpus": ("GPUs of the recommended layout", False),
    "ttft_s": ("TTFT at the longest prompt", False),
}


@dataclass(frozen=True)
class Outcome:
    """What one plan recommends, reduced to what the analysis compares."""

    layout: str                  # the recommended (or best-compromise) layout; "none" if no valid
    feasible: bool               # it meets every requirement
    gpus: int
    throughput_per_gpu: float    # tokens/s per GPU of the required kind (lowest over prompts)
    ttft_s: float
    throughput_kind: str

    @property
    def key(self) -> tuple[str, bool]:
        """The recommendation changes when this changes."""
        return self.layout, self.feasible

    def describe(self) -> str:
        gpus = f"{self.gpus} GPU" + ("s" if self.gpus != 1 else "")
        return f"{self.layout} on {gpus}" + ("" if self.feasible else " (best compromise)")

    def metric(self, name: str) -> float:
        return float(getattr(self, _check_metric(name)))


def metric_label(metric: str, throughput_kind: str) -> str:
    """What a reader calls the metric: "prefill throughput per GPU", "GPU count", "TTFT"."""
    return {"throughput_per_gpu": f"{throughput_kind} throughput per GPU", "gpus": "GPU count",
            "ttft_s": "TTFT"}[_check_metric(metric)]


def _check_metric(name: str) -> str:
    if name not in METRICS:
        raise InputError("metric", name, "unknown metric", ", ".join(METRICS))
    return name


_CACHE: dict[tuple, Outcome] = {}
_PLANS: OrderedDict[tuple, S.Plan] = OrderedDict()   # a few full plans, to explain changes
_STATS = {"plans": 0, "hits": 0}


def clear_cache() -> None:
    _CACHE.clear()
    _PLANS.clear()
    _STATS.update(plans=0, hits=0)


def cache_info() -> dict[str, int]:
    """Plans run and cache hits since the last :func:`clear_cache`."""
    return dict(_STATS, cached=len(_CACHE))


def _full_plan(sc: Scenario, opts: E.Options, max_gpus: int | None) -> S.Plan:
    key = (sc, opts, max_gpus)
    if key in _PLANS:
        _PLANS.move_to_end(key)
        return _PLANS[key]
    p = S.plan(sc, opts, max_gpus, top_n=0, progress=False)
    _STATS["plans"] += 1
    _PLANS[key] = p
    while len(_PLANS) > 4:
        _PLANS.popitem(last=False)
    return p


def outcome(sc: Scenario, opts: E.Options | None = None, max_gpus: int | None = None) -> Outcome:
    """The planner's recommendation for ``sc`` (cached by scenario, options and budget)."""
    opts = opts or E.Options()
    key = (sc, opts, max_gpus)
    if key in _CACHE:
        _STATS["hits"] += 1
        return _CACHE[key]
    try:
        p = _full_plan(sc, opts, max_gpus)
    except InputError:
        raise
    except MoEPlanError:   # no layout is even valid at this value
        out = Outcome("none", False, 0, math.nan, math.nan, S.throughput_reading(sc)[0])
    else:
        row = p.recommended_row
        out = Outcome(p.recommended.label(), bool(p.feasible), int(p.recommended.gpus),
                      float(row[f"min_{S.THROUGHPUT_COLUMNS[p.throughput_kind]}"]),
                      float(row["ttft_s"]), p.throughput_kind)
    _CACHE[key] = out
    return out


class _Progress:
    """A bar on stderr, drawn only once the work has taken more than a second.

    The total of a phase is fixed when the phase starts and never changes (:meth:`phase` starts
    the next one on a new line); plans whose number is not known in advance (bisection of a
    threshold) are counted apart, as "+k refining", after :meth:`refining`."""

    def __init__(self, enabled: bool, total: int, label: str = "what-if plans") -> None:
        self.enabled, self.total, self.label = enabled, max(total, 1), label
        self.done, self.start, self.drawn = 0, time.perf_counter(), False
        self.extra, self.pending = 0, 0

    def phase(self, label: str, total: int) -> None:
        """End the current line and count a new phase of ``total`` plans."""
        self.close()
        self.label, self.total, self.done, self.extra, self.pending = label, max(total, 1), 0, 0, 0

    def refining(self) -> None:
        """The next tick is a plan beyond the phase's fixed total."""
        self.pending += 1

    def tick(self, n: int = 1) -> None:
        if self.pending:
            self.pending, self.extra = self.pending - 1, self.extra + n
        else:
            self.done = min(self.done + n, self.total)
        if not self.enabled or time.perf_counter() - self.start < 1.0:
            return
        width = 30
        filled = int(width * self.done / self.total)
        more = f" (+{self.extra} refining)" if self.extra else ""
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done}/{self.total}{more}")
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


def _at(inp: Input, sc: Scenario, opts: E.Options, value: float, max_gpus: int | None,
        bar: _Progress | None = None) -> Outcome:
    s2, o2 = inp.apply(sc, opts, value)
    out = outcome(s2, o2, max_gpus)
    if bar is not None:
        bar.tick()
    return out


# --------------------------------------------------------------------------------------------
# Tornado
# --------------------------------------------------------------------------------------------

def tornado(scenario: Scenario, metric: str = "throughput_per_gpu", opts: E.Options | None = None,
            inputs: str | Sequence[str] | None = None, max_gpus: int | None = None,
            progress: bool = False) -> pd.DataFrame:
    """One row per input: the metric of the recommended layout with the input at its low and
    high value (everything else at the scenario's value), and the layouts recommended there.

    The primary metric, ``throughput_per_gpu``, is the recommended layout's throughput per GPU of
    the kind the requirement is read as (prefill for the seed), lowest over the prompt lengths:
    the planner ranks by fewest GPUs and then by exactly this number, it is the number the
    throughput requirement is checked against, and it moves continuously with every efficiency
    while also jumping when the layout changes (tokens per GPU-second is the cost of serving).
    The GPU count alone is a step function (most inputs leave it flat until a threshold) and TTFT
    only matters against its target; both are available as ``metric="gpus"`` / ``"ttft_s"``.

    Columns: input, label, low_value, base_value, high_value (SI units; base NaN for the
    imbalance under uniform routing), low_text, base_text, high_text, metric, metric_low,
    metric_base, metric_high, swing (max - min of the three, metric units), swing_fraction
    (swing / base), layout_low, layout_base, layout_high, gpus_low, gpus_high, feasible_low,
    feasible_high, layout_changed (the recommendation at low or high differs from the base's, in
    layout or in meeting every requirement). Sorted by swing, largest first; ties keep the
    declared order with a changed layout first.
    """
    opts = opts or E.Options()
    chosen = inputs_named(inputs)
    bar = _Progress(progress, 1 + 2 * len(chosen))
    try:
        return _tornado(scenario, metric, opts, chosen, max_gpus, bar)
    finally:
        bar.close()


def _tornado(scenario: Scenario, metric: str, opts: E.Options, chosen: list[Input],
             max_gpus: int | None, bar: _Progress) -> pd.DataFrame:
    _check_metric(metric)
    base = outcome(scenario, opts, max_gpus)
    bar.tick()
    rows = []
    for order, inp in enumerate(chosen):
        lo, hi = inp.tornado_range(scenario, opts)
        b = inp.base(scenario, opts)
        o_lo = _at(inp, scenario, opts, lo, max_gpus, bar)
        o_hi = _at(inp, scenario, opts, hi, max_gpus, bar)
        vals = [o_lo.metric(metric), base.metric(metric), o_hi.metric(metric)]
        finite = [v for v in vals if math.isfinite(v)]
        swing = (max(finite) - min(finite)) if finite else 0.0
        rows.append({
            "input": inp.name, "label": inp.label,
            "low_value": lo, "base_value": b, "high_value": hi,
            "low_text": inp.show(lo), "base_text": inp.show(b), "high_text": inp.show(hi),
            "metric": metric,
            "metric_low": vals[0], "metric_base": vals[1], "metric_high": vals[2],
            "swing": swing,
            "swing_fraction": swing / abs(vals[1]) if vals[1] else math.nan,
            "layout_low": o_lo.layout, "layout_base": base.layout,
            "layout_high": o_hi.layout,
            "gpus_low": o_lo.gpus, "gpus_base": base.gpus, "gpus_high": o_hi.gpus,
            "feasible_low": o_lo.feasible, "feasible_base": base.feasible,
            "feasible_high": o_hi.feasible,
            "layout_changed": o_lo.key != base.key or o_hi.key != base.key,
            "_order": order,
        })
    df = pd.DataFrame(rows)
    df = df.sort_values(["swing", "layout_changed", "_order"], ascending=[False, False, True],
                        kind="mergesort")
    return df.drop(columns="_order").reset_index(drop=True)


def most_influential(df: pd.DataFrame) -> pd.Series:
    """The tornado's top row: the input with the largest swing (ties: one that changes the
    layout, then the declared order)."""
    if df.empty:
        raise InputError("tornado", "empty", "no inputs were analysed", "one or more inputs")
    return df.iloc[0]


# --------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------

def _grid(inp: Input, sc: Scenario, opts: E.Options, points: int) -> list[float]:
    lo, hi = inp.scan_range(sc, opts)
    vals = {inp.clamp(v, sc, opts) for v in np.geomspace(lo, hi, points)} if lo > 0 else {lo, hi}
    base = inp.base(sc, opts)
    if math.isfinite(base):
        vals.add(base)
    return sorted(vals)


def _midpoint(inp: Input, sc: Scenario, opts: E.Options, a: float, b: float,
              tol: float) -> float | None:
    """A valid value strictly between a and b, or None when the bracket is fine enough (b / a
    <= 1 + tol) or no valid value lies between (whole numbers next to each other)."""
    if a > 0 and b / a <= 1 + tol:
        return None
    m = inp.clamp(math.sqrt(a * b) if a > 0 else (a + b) / 2, sc, opts)
    if m <= a or m >= b:
        m = inp.clamp((a + b) / 2, sc, opts)
    return m if a < m < b else None


def _why(inp: Input, sc: Scenario, opts: E.Options, near: Outcome, far_value: float,
         far: Outcome, max_gpus: int | None) -> str:
    """Why the recommendation differs at ``far_value``: which check the near side's layout fails
    there, or that a better layout has become possible."""
    if far.layout == "none":
        return "no layout is valid"
    if near.layout == "none":
        return f"{far.layout} becomes valid"
    s2, o2 = inp.apply(sc, opts, far_value)
    p = _full_plan(s2, o2, max_gpus)
    rows = p.table[p.table["layout"] == near.layout]
    if rows.empty or not bool(rows.iloc[0]["valid"]):
        reason = rows.iloc[0]["rejected_because"] if len(rows) else "not in the search space"
        return f"{near.layout} is no longer valid ({reason})"
    row = rows.iloc[0]
    r = s2.requirements
    kcol = f"min_{S.THROUGHPUT_COLUMNS[p.throughput_kind]}"
    fails = []
    if not row["check_memory"]:
        fails.append(f"memory ({fmt.gb(row['memory_per_gpu_bytes'])} with the reserve > "
                     f"{fmt.gb(s2.hardware.hbm_capacity_bytes)})")
    if not row["check_ttft"]:
        fails.append(f"TTFT ({fmt.seconds(row['ttft_s'])} > {fmt.seconds(r.ttft_s)})")
    if not row["check_tpot"]:
        fails.append(f"TPOT ({fmt.seconds(row['tpot_max_s'])} > {fmt.seconds(r.tpot_s)})")
    if not row["check_throughput"]:
        fails.append(f"throughput ({_tokens_per_ms(row[kcol])} < "
                     f"{_tokens_per_ms(r.throughput_tokens_per_s_per_gpu)} per GPU)")
    if fails:
        why = f"{near.layout} fails " + " and ".join(fails)
        if not far.feasible:
            why += "; no layout meets every requirement"
        return why
    if far.gpus < near.gpus:
        return f"{far.layout} meets every requirement on fewer GPUs"
    if not near.feasible and far.feasible:
        return f"{far.layout} meets every requirement"
    return f"{far.layout} has a higher throughput per GPU on as many GPUs"


def thresholds(scenario: Scenario, input: str | Input, opts: E.Options | None = None,
               points: int = 21, tol: float = 0.02, max_gpus: int | None = None,
               progress: bool = False) -> pd.DataFrame:
    """Where the recommended layout (or whether it meets every requirement) changes as
    ``input`` moves over its scan range, everything else at the scenario's value.

    The input is scanned on ``points`` log-spaced values (plus the scenario's own) between the
    bounds of :meth:`Input.scan_range`; each pair of neighbours with different recommendations
    is bisected (in log space) until the bracket ``[below, above]`` has ``above / below <=
    1 + tol``, or, for whole numbers, the two are neighbours. A change between two grid points
    that returns to the same layout before the next one is not seen.

    One row per change, in increasing value: input, label, threshold (the geometric midpoint of
    the bracket; for whole-number inputs the first value on the upper side), below, above (the
    bracket), x_base (threshold / the scenario's value), side ("below base"/"above base"),
    layout_below, layout_above, gpus_below, gpus_above, feasible_below, feasible_above, why
    (which check the layout on the scenario's side fails across the threshold). When nothing
    changes, one row with threshold NaN, the scan bounds in below/above, and the layout on both
    sides. ``changes`` is True on the real thresholds.
    """
    opts = opts or E.Options()
    inp = inputs_named([input])[0]
    bar = _Progress(progress, len(_grid(inp, scenario, opts, points)),
                    f"thresholds of {inp.name}")
    try:
        return _thresholds(scenario, inp, opts, points, tol, max_gpus, bar)
    finally:
        bar.close()


def _thresholds(scenario: Scenario, inp: Input, opts: E.Options, points: int, tol: float,
                max_gpus: int | None, bar: _Progress) -> pd.DataFrame:
    if points < 3:
        raise InputError("points", points, "too few to scan", "a whole number >= 3")
    grid = _grid(inp, scenario, opts, points)
    base = inp.base(scenario, opts)
    discrete = inp.kind in ("count", "batch")
    outs = [_at(inp, scenario, opts, v, max_gpus, bar) for v in grid]
    brackets: list[tuple[float, Outcome, float, Outcome]] = []

    def refine(a: float, oa: Outcome, b: float, ob: Outcome) -> None:
        while True:
            m = _midpoint(inp, scenario, opts, a, b, tol)
            if m is None:
                brackets.append((a, oa, b, ob))
                return
            bar.refining()
            om = _at(inp, scenario, opts, m, max_gpus, bar)
            if om.key == oa.key:
                a, oa = m, om
            elif om.key == ob.key:
                b, ob = m, om
            else:              # a third recommendation in between: two changes
                refine(a, oa, m, om)
                a, oa = m, om

    for (a, oa), (b, ob) in itertools.pairwise(zip(grid, outs, strict=True)):
        if oa.key != ob.key:
            refine(a, oa, b, ob)
    rows = []
    for a, oa, b, ob in brackets:
        thr = b if discrete else math.sqrt(a * b)
        ref = base if math.isfinite(base) else grid[0]
        near_is_below = thr > ref
        near, far, far_v = (oa, ob, b) if near_is_below else (ob, oa, a)
        rows.append({
            "input": inp.name, "label": inp.label, "changes": True, "threshold": thr,
            "threshold_text": inp.show(thr), "below": a, "above": b,
            "x_base": thr / base if math.isfinite(base) and base else math.nan,
            "side": "above base" if near_is_below else "below base",
            "layout_below": oa.layout, "layout_above": ob.layout,
            "gpus_below": oa.gpus, "gpus_above": ob.gpus,
            "feasible_below": oa.feasible, "feasible_above": ob.feasible,
            "why": _why(inp, scenario, opts, near, far_v, far, max_gpus),
        })
    if not rows:
        o = outs[0]
        rows.append({
            "input": inp.name, "label": inp.label, "changes": False, "threshold": math.nan,
            "threshold_text": "", "below": grid[0], "above": grid[-1], "x_base": math.nan,
            "side": "", "layout_below": o.layout, "layout_above": o.layout,
            "gpus_below": o.gpus, "gpus_above": o.gpus, "feasible_below": o.feasible,
            "feasible_above": o.feasible,
            "why": f"{o.describe()} from {inp.show(grid[0])} to {inp.show(grid[-1])}",
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The whole analysis
# --------------------------------------------------------------------------------------------

#: Which inputs :func:`analyse` scans for thresholds.
SCANS = ("moved", "top", "all", "none")


@dataclass
class Analysis:
    """A tornado, the thresholds of the inputs scanned, and what it took."""

    scenario: str
    base: Outcome
    metric: str
    tornado: pd.DataFrame
    thresholds: pd.DataFrame
    scanned: list[str]
    seconds: float = 0.0
    plans: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def metric_label(self) -> str:
        """The metric as a reader calls it, e.g. "prefill throughput per GPU"."""
        return metric_label(self.metric, self.base.throughput_kind)

    def to_dict(self) -> dict:
        top = most_influential(self.tornado)
        return {
            "scenario": self.scenario,
            "base": {"layout": self.base.layout, "gpus": self.base.gpus,
                     "feasible": self.base.feasible,
                     "throughput_kind": self.base.throughput_kind},
            "metric": {"name": self.metric, "label": self.metric_label,
                       "meaning": METRICS[self.metric][0]},
            "most_influential": {"input": top["input"], "label": top["label"],
                                 "swing_fraction": float(top["swing_fraction"])},
            "nearest_threshold": _nearest(self.thresholds, top["input"]),
            "tornado": self.tornado.to_dict(orient="records"),
            "thresholds": self.thresholds.to_dict(orient="records"),
            "scanned": self.scanned,
            "takeaway": takeaway(self),
            "notes": self.notes,
            "seconds": self.seconds,
            "plans": self.plans,
        }


def analyse(scenario: Scenario, opts: E.Options | None = None,
            inputs: str | Sequence[str] | None = None, metric: str = "throughput_per_gpu",
            points: int = 21, scan: str = "moved", max_gpus: int | None = None,
            progress: bool = False) -> Analysis:
    """The tornado of ``inputs`` and their thresholds.

    ``scan``: "moved" (default) scans the inputs whose tornado row moved (swing above 1% of the
    base, or a change of layout at an end) and always the most influential one; "top" only the
    most influential one (the notebook's quick default); "all" every input; "none" none.
    Inputs that do not move between x0.5 and x2 rarely change the layout within the wider scan
    range, and skipping them halves the time; ``scan="all"`` checks.
    """
    opts = opts or E.Options()
    if scan not in SCANS:
        raise InputError("scan", scan, "unknown choice", ", ".join(SCANS))
    start = time.perf_counter()
    plans0 = _STATS["plans"]
    chosen = inputs_named(inputs)
    bar = _Progress(progress, 1 + 2 * len(chosen), "what-if plans: tornado")
    try:
        t = _tornado(scenario, metric, opts, chosen, max_gpus, bar)
        top = most_influential(t)
        if scan == "all":
            names = list(t["input"])
        elif scan == "none":
            names = []
        elif scan == "top":
            names = [top["input"]]
        else:
            moved = (t["swing_fraction"].fillna(0) > 0.01) | t["layout_changed"]
            names = [n for n, m in zip(t["input"], moved, strict=True) if m or n == top["input"]]
        bar.phase("what-if plans: thresholds",
                  sum(len(_grid(BY_NAME[n], scenario, opts, points)) for n in names))
        parts = [_thresholds(scenario, BY_NAME[n], opts, points, 0.02, max_gpus, bar)
                 for n in names]
    finally:
        bar.close()
    thr = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    notes = []
    skipped = [n for n in t["input"] if n not in names]
    if skipped:
        notes.append("not scanned for thresholds (no move between x0.5 and x2): "
                     + ", ".join(skipped))
    return Analysis(scenario.name, outcome(scenario, opts, max_gpus), metric, t, thr, names,
                    time.perf_counter() - start, _STATS["plans"] - plans0, notes)


def _nearest(thr: pd.DataFrame, prefer: str | None = None) -> dict | None:
    """The threshold closest to the scenario (smallest |log x_base|), of ``prefer`` if it has
    one, else of any input."""
    if thr.empty or not thr["changes"].any():
        return None
    real = thr[thr["changes"]]
    pool = real[real["input"] == prefer] if prefer and (real["input"] == prefer).any() else real
    dist = np.abs(np.log(pool["x_base"].astype(float).fillna(np.inf)))
    row = pool.iloc[int(np.argmin(dist.to_numpy()))]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def takeaway(result: Analysis) -> str:
    """One line naming the most influential input and the nearest change of recommendation."""
    t, thr = result.tornado, result.thresholds
    top = most_influential(t)
    what = result.metric_label
    lo, hi = _metric_text(result.metric, top["metric_low"]), _metric_text(result.metric,
                                                                          top["metric_high"])
    line = (f"**Takeaway:** {top['label']} is the most influential input: from "
            f"{top['low_text']} to {top['high_text']} it moves the {what} of the recommendation "
            f"from {lo} to {hi} (a {top['swing_fraction']:.0%} swing around "
            f"{_metric_text(result.metric, top['metric_base'])}).")
    own = None if thr.empty else _nearest(thr[thr["input"] == top["input"]])
    base = result.base.describe()
    if own is not None:
        line += (f" The recommendation, {base}, holds until {top['label']} = "
                 f"{own['threshold_text']} ({own['x_base']:.2g}x the scenario's value); "
                 f"{_across(own)}.")
    else:
        line += f" Over its scan it never changes the recommendation, {base}."
        other = _nearest(thr)
        if other is not None:
            line += (f" The nearest change is {other['label']} = {other['threshold_text']} "
                     f"({other['x_base']:.2g}x the scenario's value); {_across(other)}.")
    return line


def _across(row: dict) -> str:
    new = (row["layout_below"], row["gpus_below"], row["feasible_below"]) \
        if row["side"] == "below base" else (row["layout_above"], row["gpus_above"],
                                             row["feasible_above"])
    where = "below" if row["side"] == "below base" else "above"
    lay = f"{new[0]} on {new[1]} GPU{'s' if new[1] != 1 else ''}"
    if not new[2]:
        lay += " (best compromise: nothing meets every requirement)"
    return f"{where} it the planner picks {lay}, because {row['why']}"


# --------------------------------------------------------------------------------------------
# Readable tables
# --------------------------------------------------------------------------------------------

def _tokens_per_ms(tokens_per_s: float) -> str:
    """3 significant figures without exponents: '99.1 tokens/ms', '1,230 tokens/ms'."""
    x = tokens_per_s / 1e3
    return f"{float(f'{x:.3g}'):,.0f} tokens/ms" if x >= 100 else f"{x:.3g} tokens/ms"


def _metric_text(metric: str, v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    if metric == "throughput_per_gpu":
        return _tokens_per_ms(v)
    if metric == "ttft_s":
        return fmt.seconds(v)
    return f"{v:,.0f} GPU" + ("s" if v != 1 else "")


def layout_text(layout: str, feasible: bool) -> str:
    return layout if feasible else f"{layout} (compromise)"


def readable_tornado(df: pd.DataFrame) -> pd.DataFrame:
    """The tornado for a person: values with units, the metric in tokens/ms, ms/s or GPUs, the
    swing in percent, the layouts at the ends."""
    m = df["metric"].iloc[0] if len(df) else "throughput_per_gpu"
    return pd.DataFrame({
        "input": df["label"],
        "low": df["low_text"], "base": df["base_text"], "high": df["high_text"],
        "at low": [_metric_text(m, v) for v in df["metric_low"]],
        "at base": [_metric_text(m, v) for v in df["metric_base"]],
        "at high": [_metric_text(m, v) for v in df["metric_high"]],
        "swing": [f"{v:.1%}" for v in df["swing_fraction"]],
        "layout at low": [layout_text(a, f) for a, f in zip(df["layout_low"],
                                                            df["feasible_low"], strict=True)],
        "layout at high": [layout_text(a, f) for a, f in zip(df["layout_high"],
                                                             df["feasible_high"], strict=True)],
        "layout changes": df["layout_changed"],
    })


def readable_thresholds(df: pd.DataFrame) -> pd.DataFrame:
    """The thresholds for a person: where, how far from the scenario, what changes and why."""
    if df.empty:
        return pd.DataFrame(columns=["input", "threshold", "x base", "below", "above", "why"])
    show = {i.name: i.show for i in INPUTS}

    def side(lay, gpus, ok):
        return (f"{lay} ({gpus} GPU{'s' if gpus != 1 else ''}"
                + ("" if ok else ", best compromise") + ")")

    return pd.DataFrame({
        "input": df["label"],
        "threshold": [r.threshold_text if r.changes else "none in "
                      f"{show[r.input](r.below)} .. {show[r.input](r.above)}"
                      for r in df.itertuples()],
        "x base": [f"{v:.3g}" if math.isfinite(v) else "" for v in df["x_base"]],
        "below": [side(a, g, f) for a, g, f in zip(df["layout_below"], df["gpus_below"],
                                                   df["feasible_below"], strict=True)],
        "above": [side(a, g, f) for a, g, f in zip(df["layout_above"], df["gpus_above"],
                                                   df["feasible_above"], strict=True)],
        "why": df["why"],
    })
