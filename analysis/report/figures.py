"""Plots of the tables in :mod:`analysis.tables`: each function takes a DataFrame (or a dict)
and returns a matplotlib Figure.

Every axis says its unit; every title says what to look at. Plots are deterministic (no
timestamps, no randomness), and :func:`save` writes PNGs without the matplotlib version in their
metadata, so re-running a notebook rewrites identical files. Values arrive in SI units and are
converted here, only for the reader (GB, ms, TFLOP/s, tokens/ms).

The validation figures are in :mod:`analysis.report.validation_figures`. Reused by the report
(:mod:`analysis.report.report_figures`): :func:`plot_memory`,
:func:`plot_time_breakdown`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis.estimate.memory import MEMORY_COMPONENTS
from analysis.inputs.types import Hardware

__all__ = [
    "plot_collectives",
    "plot_memory",
    "plot_params",
    "plot_roofline",
    "plot_time_breakdown",
    "save",
]

PALETTE = sns.color_palette("colorblind", 10)
DPI = 110


def _palette(n: int) -> list:
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def _new(width: float = 8.0, height: float = 4.5, ncols: int = 1):
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, axes


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (folders created), without the "Software" metadata
    that would change with the matplotlib version, then close it. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# Model anatomy
# --------------------------------------------------------------------------------------------

def plot_params(df: pd.DataFrame) -> Figure:
    """Horizontal bars of parameters by component (from ``tables.anatomy_table``), total and
    active per token side by side; the ``total`` row and empty components are left out."""
    d = df[(df["component"] != "total") & (df["params"] > 0)]
    y = np.arange(len(d))
    fig, ax = _new(8, 0.5 * len(d) + 1.8)
    h = 0.4
    ax.barh(y - h / 2, d["params"] / 1e6, h, label="total parameters", color=PALETTE[0])
    ax.barh(y + h / 2, d["active_params"] / 1e6, h,
            label="active per token (input embedding counted)", color=PALETTE[1])
    for yi, share in zip(y, d["share"], strict=True):
        ax.annotate(f"{share:.1%}", (0, yi - h / 2), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8, color="white" if share > 0.3 else "black")
    ax.set_yticks(y, d["component"])
    ax.invert_yaxis()
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("component")
    total = df.loc[df["component"] == "total", "params"].iloc[0]
    ax.set_title(f"Where the {total / 1e6:,.0f}M parameters are: routed experts dominate "
                 f"the total, not the active count", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

def plot_memory(df: pd.DataFrame, capacity_bytes: float, roles: dict[str, str] | None = None
                ) -> Figure:
    """Stacked horizontal bars of memory per GPU by component, one bar per layout (from
    ``tables.memory_table``: columns ``layout`` and ``<component>_bytes``), with the HBM
    capacity as a dashed vertical line (labelled above the axes, clear of the bars); the
    runtime reserve is one of the stacked components. ``roles``
    tags layouts on their tick label, e.g. {"tp4": "recommended", "ep16": "current"}."""
    roles = roles or {}
    comps = [c for c in MEMORY_COMPONENTS if f"{c}_bytes" in df.columns]
    fig, ax = _new(9, 0.55 * len(df) + 2.2)
    y = np.arange(len(df))
    left = np.zeros(len(df))
    for c, color in zip(comps, _palette(len(comps)), strict=True):
        v = df[f"{c}_bytes"].to_numpy(dtype=float) / 1e9
        ax.barh(y, v, left=left, color=color, label=c.replace("_", " "))
        left += v
    ax.axvline(capacity_bytes / 1e9, color="black", linestyle="--", linewidth=1.2)
    ax.annotate(f"HBM capacity {capacity_bytes / 1e9:.0f} GB", (capacity_bytes / 1e9, 1.0),
                xycoords=("data", "axes fraction"), xytext=(0, 3), textcoords="offset points",
                ha="right", va="bottom", fontsize=8)
    ax.set_yticks(y, [f"{lay} ({roles[lay]})" if lay in roles else lay for lay in df["layout"]])
    ax.invert_yaxis()
    ax.set_xlabel("memory per GPU (GB = 1e9 bytes)")
    ax.set_ylabel("layout")
    ax.set_title("Memory per GPU by layout (GB): bars past the dashed line do not fit",
                 fontsize=10, pad=16)
    fig.legend(loc="outside lower center", ncol=min(len(comps), 4), fontsize=8, frameon=False)
    return fig


# --------------------------------------------------------------------------------------------
# Roofline
# --------------------------------------------------------------------------------------------

def plot_roofline(df: pd.DataFrame, hw: Hardware, precision: str) -> Figure:
    """Log-log roofline of one GPU with each op of ``tables.roofline_table`` as a point at
    (FLOPs per HBM byte, achieved FLOP/s); prefill as circles, decode as squares.

    The solid roof is the speed of light (peak, HBM bandwidth), the dashed one is derated by the
    GPU's MFU and bandwidth utilisation; the dotted vertical line is the ridge point. Communication
    ops (no FLOPs) are not drawn.
    """
    peak = hw.peak_flops_for(precision)
    bw = hw.hbm_bandwidth_bytes_per_s
    ridge = peak / bw
    d = df[(df["flops"] > 0) & (df["hbm_bytes"] > 0)]
    lo = min(0.1, float(d["intensity_flops_per_byte"].min()) / 3) if len(d) else 0.1
    hi = max(ridge * 30, float(d["intensity_flops_per_byte"].max()) * 3) if len(d) else ridge * 30
    x = np.geomspace(lo, hi, 200)
    fig, ax = _new(8.5, 5.2)
    ax.loglog(x, np.minimum(peak, bw * x) / 1e12, color="black", linewidth=1.5,
              label=f"speed of light: {peak / 1e12:,.0f} TFLOP/s, {bw / 1e12:.2f} TB/s")
    ax.loglog(x, np.minimum(peak * hw.mfu, bw * hw.bandwidth_utilization * x) / 1e12,
              color="grey", linestyle="--", linewidth=1.2,
              label=f"derated: MFU {hw.mfu:.0%}, bandwidth {hw.bandwidth_utilization:.0%}")
    ax.axvline(ridge, color="grey", linestyle=":", linewidth=1)
    ax.annotate(f"ridge {ridge:,.0f} FLOP/B", (ridge, peak / 1e12), xytext=(4, -12),
                textcoords="offset points", fontsize=8, color="dimgrey")
    ops = sorted(d["op"].unique(), key=list(df["op"]).index)
    colors = dict(zip(ops, _palette(len(ops)), strict=True))
    markers = {"prefill": "o", "decode": "s"}
    sizes = {"prefill": 110, "decode": 40}      # decode drawn smaller, on top: both stay visible
    for (phase, op), g in d.groupby(["phase", "op"], sort=False):
        ax.scatter(g["intensity_flops_per_byte"], g["achieved_flops_per_s"] / 1e12,
                   s=sizes.get(phase, 60), zorder=3 if phase == "prefill" else 4,
                   marker=markers.get(phase, "^"), color=colors[op], edgecolor="black",
                   linewidth=0.5)
    op_handles = [plt.Line2D([], [], marker="o", linestyle="", color=colors[o],
                             markeredgecolor="black", markeredgewidth=0.5, label=o) for o in ops]
    phase_handles = [plt.Line2D([], [], marker=m, linestyle="", color="white",
                                markeredgecolor="black", label=p) for p, m in markers.items()]
    roof_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=roof_handles + phase_handles + op_handles, fontsize=7.5,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_xlabel("arithmetic intensity (FLOPs per HBM byte)")
    ax.set_ylabel("achieved compute per GPU (TFLOP/s)")
    ax.set_title(f"{hw.name} roofline ({precision}): prefill ops sit right of the ridge "
                 f"(compute-bound),\ndecode ops left of it (memory-bound)", fontsize=10)
    ax.set_ylim(bottom=max(1e-4, float((d["achieved_flops_per_s"].min() / 1e12) / 3))
                if len(d) else 1e-3, top=peak / 1e12 * 2.5)
    return fig


# --------------------------------------------------------------------------------------------
# Collectives
# --------------------------------------------------------------------------------------------

def _bytes_formatter(v: float, _pos) -> str:
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if v >= k:
            return f"{v / k:g} {unit}"
    return f"{v:g} B"


def plot_collectives(df: pd.DataFrame) -> Figure:
    """Time of each collective against message size (from ``tables.collective_table``), one
    panel per collective, one line per group size; solid lines stay in the node (NVLink),
    dashed ones cross nodes. A right-hand panel shows the achieved bus bandwidth."""
    d = df[df["group_gpus"] > 1]
    colls = list(dict.fromkeys(d["collective"]))
    groups = sorted(d["group_gpus"].unique())
    colors = dict(zip(groups, sns.color_palette("viridis", len(groups)), strict=True))
    fig, axes = _new(13, 4.6, ncols=len(colls) + 1)
    for ax, coll in zip(axes[:-1], colls, strict=True):   # the last axis is drawn below
        for n in groups:
            g = d[(d["collective"] == coll) & (d["group_gpus"] == n)]
            cross = g["tier"].iloc[0].startswith("scale-out")
            ax.loglog(g["message_bytes"], g["time_s"] * 1e6, color=colors[n],
                      linestyle="--" if cross else "-", marker=".", label=f"N = {n}")
        ax.set_title(coll, fontsize=10)
        ax.set_xlabel("message per GPU")
        ax.set_ylabel("time (µs)")
        ax.xaxis.set_major_formatter(FuncFormatter(_bytes_formatter))
        ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax = axes[-1]
    for coll, style in zip(colls, ("-", ":"), strict=True):
        for n in groups:
            g = d[(d["collective"] == coll) & (d["group_gpus"] == n)]
            ax.semilogx(g["message_bytes"], g["bus_bandwidth_bytes_per_s"] / 1e9, color=colors[n],
                        linestyle=style, marker=".")
    ax.set_title("achieved bus bandwidth (solid: all-reduce)", fontsize=10)
    ax.set_xlabel("message per GPU")
    ax.set_ylabel("bus bandwidth per GPU (GB/s)")
    ax.xaxis.set_major_formatter(FuncFormatter(_bytes_formatter))
    ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    axes[0].legend(fontsize=8, title="group (dashed: across nodes)", title_fontsize=8)
    fig.suptitle("Collectives: flat at the latency floor for small messages, then bandwidth-"
                 "bound; crossing the node costs ~an order of magnitude", fontsize=11)
    return fig


# --------------------------------------------------------------------------------------------
# Latency, breakdowns, trade-offs
# --------------------------------------------------------------------------------------------

def plot_time_breakdown(breakdown: dict[str, float], title: str) -> Figure:
    """Horizontal bars of time by op (seconds in; shown in s, ms or µs, whichever reads), largest
    first, each labelled with its share; ops with zero time are left out. ``title`` should say
    what to see."""
    items = sorted(((k, v) for k, v in breakdown.items() if v > 0), key=lambda kv: -kv[1])
    total = sum(v for _, v in items)
    k, unit = (1.0, "s") if total >= 1 else (1e3, "ms") if total >= 1e-3 else (1e6, "µs")
    fig, ax = _new(8, 0.38 * len(items) + 1.8)
    names = [n.replace("_", " ") for n, _ in items]
    vals = np.array([v for _, v in items]) * k
    ax.barh(np.arange(len(items)), vals, color=PALETTE[0])
    for i, v in enumerate(vals):
        ax.annotate(f"{v / (total * k):.1%}" if total else "", (v, i), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(np.arange(len(items)), names)
    ax.invert_yaxis()
    ax.set_xlim(right=vals.max() * 1.15 if len(vals) else 1)
    ax.set_xlabel(f"time ({unit}); total {total * k:,.3g} {unit}")
    ax.set_ylabel("op")
    ax.set_title(title, fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# What-if analysis
# --------------------------------------------------------------------------------------------

def plot_tornado(df: pd.DataFrame, metric_label: str) -> Figure:
    """Tornado chart of ``sensitivity.tornado``: for each input (largest swing on top) two bars,
    the change of the metric from its base value when the input is at its low end and at its
    high end, in percent. A bar whose recommended layout differs from the base's is hatched and
    labelled with the new layout. ``metric_label`` names the metric, e.g. "prefill throughput
    per GPU"."""
    n = len(df)
    fig, ax = _new(9, 0.55 * n + 2.0)
    y = np.arange(n)
    h = 0.38
    base = df["metric_base"].to_numpy(dtype=float)
    ends = (("low", PALETTE[0], -h / 2), ("high", PALETTE[1], h / 2))
    span = 1.0
    for end, color, dy in ends:
        change = (df[f"metric_{end}"].to_numpy(dtype=float) / base - 1) * 100
        change = np.nan_to_num(change)
        span = max(span, float(np.abs(change).max()))
        moved = (df[f"layout_{end}"] != df["layout_base"]) | \
            (df[f"feasible_{end}"] != df["feasible_base"])
        ax.barh(y + dy, change, h, color=color, label=f"input at its {end} value")
        for yi, c, text, lay, mv in zip(y + dy, change, df[f"{end}_text"], df[f"layout_{end}"],
                                        moved, strict=True):
            if mv:
                ax.barh(yi, c, h, color="none", edgecolor="black", hatch="///", linewidth=0.6)
            label = f"{text}" + (f" → {lay}" if mv else "")
            ax.annotate(label, (c, yi), xytext=(3 if c >= 0 else -3, 0),
                        textcoords="offset points", va="center",
                        ha="left" if c >= 0 else "right", fontsize=7)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-span * 1.6, span * 1.6)
    ticks = [f"{lab}\n(base {b})" for lab, b in zip(df["label"], df["base_text"], strict=True)]
    ax.set_yticks(y, ticks, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"change in {metric_label} from the base (%)")
    ax.grid(True, axis="x", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"What moves the {metric_label} of the recommendation: longest bars first;\n"
                 "hatched bars (→ layout) change the recommended layout", fontsize=10)
    return fig

