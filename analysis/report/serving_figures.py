"""Figures of a serving plan (:func:`analysis.search.serving_plan.serving_plan`): the
throughput-per-GPU against tokens/s-per-user fronts with the chosen point, and the GPUs side by
side. Each takes the plan's ``to_dict()`` (or ``compare_hardware`` rows) and returns a Figure;
save with :func:`analysis.report.figures.save`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from analysis.report.figures import DPI, PALETTE

__all__ = ["plot_hardware_comparison", "plot_serving_pareto"]


def plot_serving_pareto(plan: dict) -> Figure:
    """One line per layout family: its front of output tokens/s per GPU (y) against tokens/s
    per user (x, = 1 / TPOT), closed form; the chosen deployment as a star."""
    fig, ax = plt.subplots(figsize=(8.0, 4.5), dpi=DPI, layout="constrained")
    fronts = plan["pareto"]["fronts"]
    for i, (family, pts) in enumerate(sorted(fronts.items())):
        ax.plot([p["tokens_per_s_per_user"] for p in pts],
                [p["tokens_per_s_per_gpu"] for p in pts], marker="o", ms=3,
                color=PALETTE[i % len(PALETTE)], label=family)
    chosen = plan["pareto"].get("chosen")
    if chosen is not None:
        ax.plot([chosen["tokens_per_s_per_user"]], [chosen["tokens_per_s_per_gpu"]], marker="*",
                ms=16, color="black", linestyle="none",
                label=f"chosen: {chosen['family']} {chosen['layout']}")
    tpot = plan["requirements"].get("tpot_s")
    if tpot:
        ax.axvline(1 / tpot, color="grey", linestyle="--", lw=1,
                   label=f"TPOT target ({tpot * 1e3:g} ms)")
    ax.set_xscale("log")
    ax.set_xlabel("tokens/s per user (1 / TPOT)")
    ax.set_ylabel("tokens/s per GPU")
    ax.set_title(f"{plan['model']} on {plan['hardware']}: each layout family's front\n"
                 f"(up and right is better; the star is the chosen deployment)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return fig


def plot_hardware_comparison(rows: list[dict]) -> Figure:
    """Best deployment per GPU: output tokens/s per GPU (left) and dollars per million output
    tokens (right); a GPU without a deployment or a price shows no bar."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.0, 3.8), dpi=DPI, layout="constrained")
    names = [r["hardware"] for r in rows]
    tps = [r["output_tokens_per_s_per_gpu"] or 0.0 for r in rows]
    cost = [r["cost_usd_per_million_output_tokens"] or 0.0 for r in rows]
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(rows))]
    a.bar(names, tps, color=colours)
    a.set_ylabel("output tokens/s per GPU")
    a.set_title("throughput at the targets")
    b.bar(names, cost, color=colours)
    b.set_ylabel("$ per million output tokens")
    b.set_title("cost (GPU rental)")
    return fig
