"""The notebook's reading of a what-if analysis, as Markdown written from the analysis' numbers.

Notebook 11 used to carry a hand-written paragraph about the seed scenario; re-run with another
scenario it described the wrong one (issue 15). :func:`reading_markdown` says the same kind of
things (which input moves the metric, which change the layout, which do nothing and why) from
the :class:`~analysis.report.sensitivity.summary.Analysis` alone, so it holds for any scenario.
"""

import pandas as pd

from analysis.report.sensitivity.scans import most_influential
from analysis.report.sensitivity.summary import Analysis, _metric_text, layout_text

#: Inputs that only act through messages between GPUs: a single GPU sends none.
LINK_INPUTS = ("scaleup_bandwidth", "scaleout_bandwidth", "scaleup_latency", "scaleout_latency")

#: Below this |swing| (fraction of the base) an input "does not move" the metric.
STILL_SWING = 1e-3


def reading_markdown(result: Analysis) -> str:
    """Markdown paragraphs reading ``result``: the recommendation, the longest bar, the inputs
    that change the layout between the tornado's ends, those that change nothing, and the
    imbalance caveat where it applies. Every number and name comes from ``result``."""
    t = result.tornado
    if t.empty:
        return f"No input was varied for scenario `{result.scenario}`."
    return "\n\n".join(p for p in (
        _recommendation(result), _longest_bar(result), _layout_changes(t), _scanned(result),
        _still(result), _imbalance_caveat(result)) if p)


def _recommendation(result: Analysis) -> str:
    base = result.base
    met = ("it meets every requirement" if base.feasible
           else "nothing meets every requirement, so it is the best compromise")
    return (f"For scenario `{result.scenario}` the planner recommends {base.describe()}: {met}. "
            f"The metric, its {result.metric_label}, is "
            f"{_metric_text(result.metric, base.metric(result.metric))}.")


def _longest_bar(result: Analysis) -> str:
    top = most_influential(result.tornado)
    if not top["swing_fraction"] > STILL_SWING:
        return "No input moves the metric between its low and high value."
    m = result.metric
    return (f"The longest bar is {top['label']}: at {top['low_text']} the metric is "
            f"{_metric_text(m, top['metric_low'])}, at {top['high_text']} "
            f"{_metric_text(m, top['metric_high'])}, a {top['swing_fraction']:.0%} swing.")


def _layout_changes(t: pd.DataFrame) -> str:
    moved = t[t["layout_changed"]]
    if moved.empty:
        return ("No input changes the recommended layout between its low and high value; the "
                "threshold scan says how much further each one can go.")
    parts = [f"{r.label} (at {r.low_text}: {layout_text(r.layout_low, r.feasible_low)}; "
             f"at {r.high_text}: {layout_text(r.layout_high, r.feasible_high)})"
             for r in moved.itertuples()]
    return ("Between their low and high values these inputs change the recommended layout: "
            + "; ".join(parts) + ".")


def _scanned(result: Analysis) -> str:
    labels = list(result.tornado.set_index("input").loc[result.scanned, "label"]) \
        if result.scanned else []
    where = ("Scanned for thresholds here: " + ", ".join(labels)) if labels else \
        "No input was scanned for thresholds here"
    return (f"{where}. `python -m analysis sensitivity <scenario>` scans every input that moves "
            "(`--scan all`: every input).")


def _still(result: Analysis) -> str:
    t = result.tornado
    still = t[(t["swing_fraction"].fillna(0).abs() <= STILL_SWING) & ~t["layout_changed"]]
    if still.empty:
        return ""
    text = ("These inputs move neither the metric nor the layout between their low and high "
            "values: " + ", ".join(still["label"]) + ".")
    if result.base.gpus == 1 and set(LINK_INPUTS) <= set(still["input"]):
        text += " The link bandwidths and latencies cannot: a single GPU sends no messages."
    return text


def _imbalance_caveat(result: Analysis) -> str:
    row = result.tornado[result.tornado["input"] == "imbalance"]
    if row.empty or _has_ep(result.base.layout) or not (
            row["swing_fraction"].fillna(0).iloc[0] > STILL_SWING or row["layout_changed"].iloc[0]):
        return ""
    return ("The imbalance row moves a recommendation without expert parallelism (ep = 1): with "
            "`imbalance=\"factor\"` the estimate applies the factor even to one EP rank, where the "
            "busiest rank *is* the mean, so that swing measures the option, not the hardware.")


def _has_ep(layout: str) -> bool:
    """Whether a layout label such as ``tp4-etp4-ep16`` has an expert-parallel degree above 1."""
    return any(part.startswith("ep") for part in layout.split("-"))
