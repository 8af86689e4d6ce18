"""Figures of the course chapters (03, 05, 06), drawn from the DataFrames of
:mod:`analysis.course`. Each function returns a matplotlib Figure whose axes carry units and whose
title says what to see; save it with :func:`analysis.figures.save`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis.report.figures import DPI, PALETTE

__all__ = ["plot_dispatch_vs_ep", "plot_imbalance", "plot_intensity", "plot_tp_split"]

_INT = FuncFormatter(lambda v, _p: f"{v:,.0f}" if v >= 1 else f"{v:g}")


def _panels(n: int, width_each: float = 5.2, height: float = 4.3):
    fig, axes = plt.subplots(1, n, figsize=(width_each * n, height), dpi=DPI,
                             layout="constrained", squeeze=False)
    return fig, list(axes[0])


def plot_intensity(curves: pd.DataFrame, points: pd.DataFrame, ridges: pd.DataFrame) -> Figure:
    """Arithmetic intensity against tokens per weight read, one panel per ``model``.

    ``curves``: :func:`analysis.course.intensity_table` rows with a ``model`` column; ``points``:
    :func:`analysis.course.phase_intensity_table` rows with a ``model`` column (prefill as
    circles, decode as squares); ``ridges``: :func:`analysis.course.ridge_points` rows with a
    ``model`` column (derated ridge dashed, speed of light dotted).
    """
    models = list(dict.fromkeys(curves["model"]))
    fig, axes = _panels(len(models))
    colors = {"attention_proj": PALETTE[0], "routed_expert": PALETTE[1]}
    for ax, m in zip(axes, models, strict=True):
        c = curves[curves["model"] == m]
        for op, g in c.groupby("op", sort=False):
            ax.loglog(g["tokens"], g["intensity_flops_per_byte"], color=colors.get(op, "grey"),
                      label=op.replace("_", " "))
        r = ridges[ridges["model"] == m].set_index("mode")["ridge_flops_per_byte"]
        ax.axhline(r["derated"], color="black", linestyle="--", linewidth=1,
                   label=f"ridge, derated: {r['derated']:,.0f} FLOP/B")
        ax.axhline(r["sol"], color="grey", linestyle=":", linewidth=1,
                   label=f"ridge, speed of light: {r['sol']:,.0f} FLOP/B")
        p = points[points["model"] == m]
        for (op, phase), g in p.groupby(["op", "phase"], sort=False):
            ax.scatter(g["tokens"], g["intensity_flops_per_byte"], s=70, zorder=4,
                       marker="o" if phase == "prefill" else "s", color=colors.get(op, "grey"),
                       edgecolor="black", linewidth=0.6)
        ax.set_xlabel("tokens sharing one read of the weights, T")
        ax.set_ylabel("arithmetic intensity (FLOPs per HBM byte)")
        ax.xaxis.set_major_formatter(_INT)
        ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
        ax.set_title(m, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], marker=mk, linestyle="", color="white", markeredgecolor="black")
                for mk in ("o", "s")]
    labels += ["prefill (T = B·S, or B·S·k/E per expert)", "decode (T = B, or B·k/E per expert)"]
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Intensity grows with the tokens that share a weight read: about 2T/w FLOPs per "
                 "byte until the ridge; decode (squares) sits far left of prefill (circles)",
                 fontsize=10)
    return fig


def plot_tp_split(df: pd.DataFrame, gpus_per_node: int) -> Figure:
    """Stacked bars of the average per-layer time (compute-bound ops, memory-bound ops,
    all-reduce) against tp, one panel per (``model``, phase), from
    :func:`analysis.course.tp_layer_time_table` with a ``model`` column. A dashed line marks the
    node boundary (tp > ``gpus_per_node`` runs its all-reduces on the scale-out network)."""
    keys = list(dict.fromkeys(zip(df["model"], df["phase"], strict=True)))
    n_models = len(dict.fromkeys(df["model"]))
    fig, grid = plt.subplots(n_models, 2, figsize=(10, 3.6 * n_models + 0.6), dpi=DPI,
                             layout="constrained", squeeze=False)
    axes = list(grid.ravel())
    parts = (("compute_s", "compute-bound ops", PALETTE[0]),
             ("memory_s", "memory-bound ops", PALETTE[1]),
             ("communication_s", "TP all-reduces", PALETTE[3]))
    for ax, (m, phase) in zip(axes, keys, strict=False):
        g = df[(df["model"] == m) & (df["phase"] == phase)]
        x = np.arange(len(g))
        total = g["layer_s"].to_numpy() * 1e3
        scale, unit = (1e6, "µs") if total.max() < 1 else (1e3, "ms")
        bottom = np.zeros(len(g))
        for col, label, color in parts:
            v = g[col].to_numpy() * scale
            ax.bar(x, v, bottom=bottom, color=color, label=label, width=0.7)
            bottom += v
        for xi, t in zip(x, bottom, strict=True):
            ax.annotate(f"{t:,.3g}", (xi, t), xytext=(0, 2), textcoords="offset points",
                        ha="center", fontsize=7)
        inside = int((g["tp"] <= gpus_per_node).sum())
        if 0 < inside < len(g):
            ax.axvline(inside - 0.5, color="black", linestyle="--", linewidth=1)
            ax.annotate("node\nboundary", (inside - 0.5, 0.97),
                        xycoords=("data", "axes fraction"), xytext=(-3, 0),
                        textcoords="offset points", fontsize=7, va="top", ha="right")
        ax.set_xticks(x, [str(t) for t in g["tp"]])
        ax.set_xlabel("tensor-parallel degree tp (GPUs)")
        ax.set_ylabel(f"time per layer ({unit})")
        ax.set_ylim(top=bottom.max() * 1.18)
        ax.set_title(f"{m}: {phase}", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Per-layer time against tp: compute and weight reads shrink as 1/tp, the "
                 "all-reduces do not,\nand past the node they dominate", fontsize=10)
    return fig


def plot_dispatch_vs_ep(df: pd.DataFrame, gpus_per_node: int) -> Figure:
    """Dispatch + combine time of one MoE layer against ep, one panel per ``model`` (from
    :func:`analysis.course.ep_dispatch_table` with a ``model`` column): the in-node (NVLink) part,
    the cross-node part and the layer's time (the slower of the two); the dotted line is the
    node boundary."""
    models = list(dict.fromkeys(df["model"]))
    fig, axes = _panels(len(models))
    for ax, m in zip(axes, models, strict=True):
        g = df[df["model"] == m]
        ax.plot(g["ep"], g["layer_s"] * 1e6, color="black", marker="o", linewidth=2,
                label="layer time (slower part)")
        ax.plot(g["ep"], g["intra_s"] * 1e6, color=PALETTE[0], marker=".", linestyle="--",
                label="in-node part (NVLink)")
        inter = g[g["crosses_node"]]
        ax.plot(inter["ep"], inter["inter_s"] * 1e6, color=PALETTE[3], marker=".",
                linestyle="--", label="cross-node part (scale-out)")
        ax.axvline(gpus_per_node, color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"{gpus_per_node} GPUs per node", (gpus_per_node, 0.97),
                    xycoords=("data", "axes fraction"), xytext=(3, 0),
                    textcoords="offset points", fontsize=7, va="top")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(_INT)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("expert-parallel degree ep (GPUs)")
        ax.set_ylabel("dispatch + combine per MoE layer (µs)")
        ax.grid(True, linewidth=0.4, alpha=0.6)
        ax.set_title(m, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Dispatch time jumps where the group leaves the node: past it most destinations "
                 "are on the ~9x slower scale-out link", fontsize=10)
    return fig


def plot_imbalance(df: pd.DataFrame) -> Figure:
    """Busiest-rank load over the mean against the mean token-expert pairs per rank, one line
    per rank count N (from :func:`analysis.course.imbalance_table`): the formula
    ``1 + sqrt(2 ln N / mu)`` as lines, the seeded simulation as dots."""
    fig, axes = _panels(1, width_each=7.5, height=4.6)
    ax = axes[0]
    ranks = sorted(df["ranks"].unique())
    shades = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(ranks)))
    colors = dict(zip(ranks, shades, strict=True))
    for n, g in df.groupby("ranks"):
        ax.plot(g["mean_pairs"], g["imbalance_factor"], color=colors[n], label=f"N = {n}")
        ax.scatter(g["mean_pairs"], g["simulated_factor"], color=colors[n], s=18, zorder=3)
    ax.scatter([], [], color="grey", s=18, label="simulated (dots)")
    ax.axhline(1.1, color="firebrick", linestyle="--", linewidth=1, label="10% over the mean")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_INT)
    ax.set_xlabel("mean token-expert pairs per EP rank, μ")
    ax.set_ylabel("busiest rank / mean (imbalance factor)")
    ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8, title="EP ranks (lines: formula)", title_fontsize=8)
    ax.set_title("Random routing overloads the busiest rank by ~sqrt(2 ln N / μ): small decode "
                 "batches pay\nthe most, and the formula sits above the simulation "
                 "(conservative)", fontsize=10)
    return fig
