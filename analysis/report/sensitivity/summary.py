"""The whole analysis (tornado plus thresholds), its one-line takeaway and readable tables.
"""


import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import estimate as E
from analysis import fmt
from analysis.inputs.errors import InputError
from analysis.inputs.types import Scenario
from analysis.report.sensitivity.inputs import BY_NAME, INPUTS, inputs_named
from analysis.report.sensitivity.outcome import (
    METRICS,
    STATS,
    Outcome,
    Progress,
    metric_label,
    outcome,
    tokens_per_ms_text,
)
from analysis.report.sensitivity.scans import (
    most_influential,
    scan_grid,
    scan_thresholds,
    tornado_inputs,
)

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
    plans0 = STATS["plans"]
    chosen = inputs_named(inputs)
    bar = Progress(progress, 1 + 2 * len(chosen), "what-if plans: tornado")
    try:
        t = tornado_inputs(scenario, metric, opts, chosen, max_gpus, bar)
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
                  sum(len(scan_grid(BY_NAME[n], scenario, opts, points)) for n in names))
        parts = [scan_thresholds(scenario, BY_NAME[n], opts, points, 0.02, max_gpus, bar)
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
                    time.perf_counter() - start, STATS["plans"] - plans0, notes)


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

def _metric_text(metric: str, v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    if metric == "throughput_per_gpu":
        return tokens_per_ms_text(v)
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
