"""The two scans: a tornado (each input low and high) and thresholds (where the recommendation
changes along one input, refined by bisection).
"""


import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import estimate as E
from analysis import fmt
from analysis.inputs.errors import InputError
from analysis.inputs.types import Scenario
from analysis.report.sensitivity.inputs import Input, inputs_named
from analysis.report.sensitivity.outcome import (
    Outcome,
    Progress,
    check_metric,
    full_plan,
    outcome,
    outcome_at,
    tokens_per_ms_text,
)
from analysis.search import planner as S


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
    bar = Progress(progress, 1 + 2 * len(chosen))
    try:
        return tornado_inputs(scenario, metric, opts, chosen, max_gpus, bar)
    finally:
        bar.close()


def tornado_inputs(scenario: Scenario, metric: str, opts: E.Options, chosen: list[Input],
             max_gpus: int | None, bar: Progress) -> pd.DataFrame:
    check_metric(metric)
    base = outcome(scenario, opts, max_gpus)
    bar.tick()
    rows = []
    for order, inp in enumerate(chosen):
        lo, hi = inp.tornado_range(scenario, opts)
        b = inp.base(scenario, opts)
        o_lo = outcome_at(inp, scenario, opts, lo, max_gpus, bar)
        o_hi = outcome_at(inp, scenario, opts, hi, max_gpus, bar)
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

def scan_grid(inp: Input, sc: Scenario, opts: E.Options, points: int) -> list[float]:
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
    p = full_plan(s2, o2, max_gpus)
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
        fails.append(f"throughput ({tokens_per_ms_text(row[kcol])} < "
                     f"{tokens_per_ms_text(r.throughput_tokens_per_s_per_gpu)} per GPU)")
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
    bar = Progress(progress, len(scan_grid(inp, scenario, opts, points)),
                   f"thresholds of {inp.name}")
    try:
        return scan_thresholds(scenario, inp, opts, points, tol, max_gpus, bar)
    finally:
        bar.close()


def scan_thresholds(scenario: Scenario, inp: Input, opts: E.Options, points: int, tol: float,
                max_gpus: int | None, bar: Progress) -> pd.DataFrame:
    if points < 3:
        raise InputError("points", points, "too few to scan", "a whole number >= 3")
    grid = scan_grid(inp, scenario, opts, points)
    base = inp.base(scenario, opts)
    discrete = inp.kind in ("count", "batch")
    outs = [outcome_at(inp, scenario, opts, v, max_gpus, bar) for v in grid]
    brackets: list[tuple[float, Outcome, float, Outcome]] = []

    def refine(a: float, oa: Outcome, b: float, ob: Outcome) -> None:
        while True:
            m = _midpoint(inp, scenario, opts, a, b, tol)
            if m is None:
                brackets.append((a, oa, b, ob))
                return
            bar.refining()
            om = outcome_at(inp, scenario, opts, m, max_gpus, bar)
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
