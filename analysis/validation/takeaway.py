"""Notebook 10's takeaway as Markdown, computed from the validation tables of the run.

The takeaway used to be typed by hand for ``mode="calibrated"`` against ``baseline="derated"``;
with other parameters (or after a refit) its numbers read wrong (issue 15). Every number here is
a median or a count over the held-out split of the tables passed in.
"""

import pandas as pd

from analysis.validation.data import ALL_METRIC_KINDS

HELD_OUT = "held_out"


def takeaway_markdown(table: pd.DataFrame, baseline: pd.DataFrame | None = None) -> str:
    """Median |error| of held-out static batches per metric kind (beside ``baseline``'s when
    given and of another mode), then offline and closed-loop runs, then the e2e latency's
    median signed error at the smallest and largest static batch."""
    mode = str(table["mode"].iloc[0]) if len(table) else "?"
    held = table[table["split"] == HELD_OUT]
    parts = [f"**Takeaway.** In `{mode}` mode, " + _static(held, baseline, mode)]
    for kind, name in (("offline", "Offline runs (the whole dataset queued)"),
                       ("closed_loop", "Closed-loop runs")):
        text = _kind(held, kind, name)
        if text:
            parts.append(text)
    trend = _e2e_trend(held)
    if trend:
        parts.append(trend)
    return " ".join(parts)


def pct(fraction: float) -> str:
    """A fraction as a percentage to 2 significant figures: 0.035 -> "3.5%", 0.131 -> "13%"."""
    return f"{float(f'{fraction * 100:.2g}'):g}%"


def _medians(held: pd.DataFrame) -> dict[str, float]:
    """Median |error| of held-out static cases per metric kind, in the declared order."""
    s = held[held["workload_kind"] == "static"]
    med = s.assign(a=s["error"].abs()).groupby("metric_kind")["a"].median()
    return {k: float(med[k]) for k in ALL_METRIC_KINDS if k in med.index}


def _static(held: pd.DataFrame, baseline: pd.DataFrame | None, mode: str) -> str:
    ours = _medians(held)
    if not ours:
        return "no held-out case is a static batch."
    text = ("on held-out static batches the median |error| is "
            + ", ".join(f"{pct(v)} for {k}" for k, v in ours.items()))
    if baseline is not None and len(baseline) and str(baseline["mode"].iloc[0]) != mode:
        other = _medians(baseline[baseline["split"] == HELD_OUT])
        shared = [k for k in ours if k in other]
        if shared:
            text += (f", against {', '.join(pct(other[k]) for k in shared)} in "
                     f"`{baseline['mode'].iloc[0]}` mode")
    return text + "."


def _kind(held: pd.DataFrame, kind: str, name: str) -> str:
    d = held[held["workload_kind"] == kind]
    if d.empty:
        return ""
    under = int((d["error"] < 0).sum())
    n = len(d)
    return (f"{name}: median |error| {pct(d['error'].abs().median())} over {n} held-out "
            f"case{'s' if n != 1 else ''}, {under} of them predicting less than measured.")


def _e2e_trend(held: pd.DataFrame) -> str:
    d = held[(held["workload_kind"] == "static") & (held["metric_kind"] == "e2e")]
    d = d.dropna(subset=["concurrency"])
    if d["concurrency"].nunique() < 2:
        return ""
    by = d.groupby("concurrency")["error"].median()
    lo, hi = by.index.min(), by.index.max()
    return (f"The e2e latency error (median per batch size) goes from {by[lo]:+.0%} at batch "
            f"{lo:g} to {by[hi]:+.0%} at {hi:g}.")
