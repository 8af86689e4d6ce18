"""The explorer's live chart: one layout's memory per GPU (a stacked bar against the GPU's
capacity) beside its TTFT and TPOT breakdowns by op, in GB and ms.

It draws :func:`analysis.explorer.chart_data`, the estimate's own breakdowns, and converts
nothing but units. An impossible layout gets the same figure size with its reason as text, so
the widget's output does not jump while the sliders move.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis import estimate as E
from analysis.explorer import chart_data
from analysis.report.figures import PALETTE

PHASE_TITLES = {"TTFT": "TTFT (worst-case batch prefill) by op",
                "TPOT": "TPOT (one decode step at the longest context) by op"}


def ms_text(ms: float) -> str:
    """A time in ms as a person reads it: 3 significant figures, thousands separated, never an
    exponent: 0.00301 -> '0.00301 ms', 118 -> '118 ms', 29,912 -> '29,912 ms'."""
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.3g} ms"


def _memory_bar(ax: Axes, memory: pd.DataFrame, capacity_gb: float) -> None:
    """One stacked bar of memory per GPU (GB), the capacity as a dashed line; the labels sit in
    the legend below the axes, so none can overlap the bar or the line."""
    bottom = 0.0
    for i, (comp, gb) in enumerate(zip(memory["component"], memory["gb"], strict=True)):
        if gb > 0:
            ax.bar(0, gb, bottom=bottom, width=0.6, color=PALETTE[i % len(PALETTE)],
                   label=f"{comp.replace('_', ' ')}: {gb:.3g} GB")
            bottom += gb
    ax.axhline(capacity_gb, color="black", linestyle="--", linewidth=1.2,
               label=f"GPU memory capacity: {capacity_gb:.0f} GB")
    verdict = "fits" if bottom <= capacity_gb else "does NOT fit"
    ax.set_xticks([0], [f"total {bottom:.3g} GB\n({verdict})"])
    ax.set_xlim(-0.6, 0.6)
    ax.set_ylim(0, max(bottom, capacity_gb) * 1.08)
    ax.set_ylabel("memory per GPU (GB = 1e9 bytes)")
    ax.set_title("Memory per GPU", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7, frameon=False)


def _time_bars(ax: Axes, rows: pd.DataFrame, phase: str) -> None:
    """Horizontal bars of one phase's time by op (ms), largest first, each with its share."""
    rows = rows.sort_values("ms", ascending=False, kind="stable")
    total = rows["ms"].sum()
    y = np.arange(len(rows))
    ax.barh(y, rows["ms"], color=PALETTE[0] if phase == "TTFT" else PALETTE[1])
    for yi, v in zip(y, rows["ms"], strict=True):
        ax.annotate(f"{ms_text(v)} ({v / total:.0%})", (v, yi), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(y, [op.replace("_", " ") for op in rows["op"]], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, rows["ms"].max() * 1.35 if len(rows) else 1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,g}"))
    ax.set_xlabel(f"time (ms); total {ms_text(total)}")
    ax.set_title(PHASE_TITLES[phase], fontsize=10)


def explorer_figure(est: E.Estimate | str) -> Figure:
    """The chart for one layout (an estimate), or the reason it is impossible (a string) as
    text in an otherwise empty figure of the same size."""
    fig = plt.figure(figsize=(11, 5.5), dpi=100, layout="constrained")
    if isinstance(est, str):
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, textwrap.fill(est, 90), ha="center", va="center", fontsize=11,
                transform=ax.transAxes)
        fig.suptitle("No chart: this layout is impossible", fontsize=11)
        return fig
    data = chart_data(est)
    grid = fig.add_gridspec(2, 2, width_ratios=(1, 3))
    _memory_bar(fig.add_subplot(grid[:, 0]), data.memory, data.capacity_gb)
    for row, phase in enumerate(("TTFT", "TPOT")):
        _time_bars(fig.add_subplot(grid[row, 1]), data.time[data.time["phase"] == phase], phase)
    sc = est.scenario
    fig.suptitle(f"{data.label}: {sc.model.name} on {sc.hardware.name}, batch "
                 f"{sc.workload.batch_sequences} x {sc.workload.max_prompt_tokens}-token prompts, "
                 f"{est.options.mode}", fontsize=11)
    return fig
