"""The strategy report's figures, as matplotlib Figures (:func:`report_figures`) and as PNGs
(:func:`make_figures`).

Every figure states its quantity and unit in human units (ms or s, GB, tokens/ms per GPU),
marks the recommended layout and the scenario's current one wherever they appear, draws only
distinct series (layouts whose curves coincide share one line and one legend entry), and never
contradicts its title: a trade-off figure says whether the recommendation lies on the front it
draws, and why not when it does not (it is chosen for the fewest GPUs that meet every
requirement, not for that trade-off).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis import estimate as E
from analysis.inputs.types import Scenario, Strategy
from analysis.report import figures as F
from analysis.report import tables as T
from analysis.search import planner as S

__all__ = ["SAME", "make_figures", "on_front", "plot_front", "plot_ttft_by_layout",
           "report_figures", "time_unit"]


def time_unit(max_seconds: float) -> tuple[float, str]:
    """(factor, unit) that shows times up to ``max_seconds`` in s, ms or µs."""
    if max_seconds >= 1.0:
        return 1.0, "s"
    if max_seconds >= 1e-3:
        return 1e3, "ms"
    return 1e6, "µs"


def _tagged(label: str, roles: dict[str, str]) -> str:
    return f"{label} ({roles[label]})" if label in roles else label


#: Curves closer than this (relative, at every point) are one series: they could not be told
#: apart on a log axis, so they share a line labelled ``a ≈ b``.
SAME = 0.02


def plot_ttft_by_layout(df: pd.DataFrame, target_s: float | None, roles: dict[str, str],
                        what: str) -> Figure:
    """TTFT against prompt length, one line per distinct curve (layouts whose TTFTs coincide
    share a line, labelled ``a ≈ b``: within :data:`SAME` at every prompt length); with a
    single prompt length, one bar per distinct value. ``roles`` tags layouts ("recommended",
    "current"); ``what`` goes into the title."""
    groups: list[tuple[list[str], pd.DataFrame]] = []
    for lay in dict.fromkeys(df["layout"]):
        g = df[df["layout"] == lay].sort_values("prompt_tokens")
        for names, h in groups:
            if np.allclose(h["ttft_s"].to_numpy(), g["ttft_s"].to_numpy(), rtol=SAME, atol=0):
                names.append(lay)
                break
        else:
            groups.append(([lay], g))
    k, unit = time_unit(max(float(df["ttft_s"].max()), target_s or 0.0))
    labels = [" ≈ ".join(_tagged(n, roles) for n in names) for names, _ in groups]
    colors = F._palette(len(groups))
    one_length = df["prompt_tokens"].nunique() == 1
    fig, ax = F._new(8, 4.8 if not one_length else 0.5 * len(groups) + 2.2)
    if one_length:
        s_tokens = int(df["prompt_tokens"].iloc[0])
        vals = [float(g["ttft_s"].iloc[0]) * k for _, g in groups]
        ax.barh(np.arange(len(groups)), vals, color=colors)
        ax.set_yticks(np.arange(len(groups)), labels)
        ax.invert_yaxis()
        ax.set_ylabel("layout")
        ax.set_xlabel(f"time to first token at {s_tokens:,} prompt tokens ({unit})")
        if target_s is not None:
            ax.axvline(target_s * k, color="firebrick", linestyle="--", linewidth=1.2,
                       label=f"TTFT target {target_s * k:,.3g} {unit}")
            ax.legend(fontsize=8)
        ax.set_title(f"TTFT by layout ({unit}) at the workload's one prompt length", fontsize=10)
        return fig
    for (_, g), label, color in zip(groups, labels, colors, strict=True):
        ax.loglog(g["prompt_tokens"], g["ttft_s"] * k, marker="o", markersize=4, color=color,
                  label=label)
    if target_s is not None:
        ax.axhline(target_s * k, color="firebrick", linestyle="--", linewidth=1.2,
                   label=f"TTFT target {target_s * k:,.3g} {unit}")
    ax.set_xlabel("prompt length S (tokens)")
    ax.set_ylabel(f"time to first token ({unit})")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
    ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8)
    ax.set_title(f"TTFT ({unit}) against prompt length: {what}", fontsize=10)
    return fig


def on_front(v: pd.DataFrame, x: str, y: str, layout: str, x_higher_better: bool,
             tol: float = 0.01) -> bool:
    """Whether ``layout`` is on the Pareto front of ``v`` (higher ``y`` better): no other
    layout is at least as good on both axes and better by more than ``tol`` (relative) on one,
    so a point a hair from the front, drawn on it, counts as on it."""
    r = v[v["layout"] == layout]
    if r.empty:
        return False
    sign = 1.0 if x_higher_better else -1.0
    rx, ry = sign * float(r[x].iloc[0]), float(r[y].iloc[0])
    vx, vy = sign * v[x].to_numpy(), v[y].to_numpy()
    better_x = vx > rx + tol * abs(rx)
    better_y = vy > ry + tol * abs(ry)
    return not bool(np.any((vx >= rx) & (vy >= ry) & (better_x | better_y)))


def plot_front(v: pd.DataFrame, x: str, y: str, front: str, xlabel: str, ylabel: str,
               roles: dict[str, str], x_factor: float = 1.0,
               x_higher_better: bool = False) -> Figure:
    """Every layout as a grey point at (``x`` * ``x_factor``, ``y``), the Pareto front as a line,
    the recommended layout ringed in red and the current one as a black square. The title says
    whether the recommendation lies on the front, and why not when it does not."""
    fig, ax = F._new(8, 5)
    ax.scatter(v[x] * x_factor, v[y], s=18, color="lightgrey", edgecolor="grey", linewidth=0.4,
               label="layouts that fit in memory")
    f = v[v[front]].sort_values(x)
    ax.plot(f[x] * x_factor, f[y], color=F.PALETTE[0], marker="o", markersize=5,
            label="Pareto front")
    if len(f) <= 12:
        for _, r in f.iterrows():
            ax.annotate(str(r["layout"]), (r[x] * x_factor, r[y]), xytext=(4, 4),
                        textcoords="offset points", fontsize=7)
    rec = [lay for lay, role in roles.items() if role.startswith("recommended")]
    cur = [lay for lay, role in roles.items() if role.endswith("current")]
    r = v[v["layout"].isin(rec)]
    ax.scatter(r[x] * x_factor, r[y], s=140, facecolor="none", edgecolor="firebrick",
               linewidth=1.8, label=f"recommended {', '.join(rec)}", zorder=4)
    c = v[v["layout"].isin(cur)]
    if len(c):
        ax.scatter(c[x] * x_factor, c[y], s=70, marker="s", facecolor="none", edgecolor="black",
                   linewidth=1.4, label=f"current {', '.join(cur)}", zorder=5)
    if x.endswith("_s") and (v[x] > 0).all() and v[x].max() / max(v[x].min(), 1e-30) > 30:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8)
    on = any(on_front(v, x, y, lay, x_higher_better) for lay in rec)
    verdict = ("the recommended layout (ringed) is on the front" if on else
               "the recommended layout (ringed) is off this front: it is chosen as the fewest\n"
               "GPUs that meet every requirement, not as the best of this trade-off")
    ax.set_title(f"{ylabel.split(' (')[0]} against {xlabel.split(' (')[0]}:\n{verdict}",
                 fontsize=9.5)
    return fig


def _roles(rec: Strategy, current: Strategy | None) -> dict[str, str]:
    roles = {rec.label(): "recommended"}
    if current is not None:
        roles[current.label()] = ("recommended = current" if current.label() == rec.label()
                                  else "current")
    return roles


def _breakdown(parts: dict[str, float], what: str) -> Figure:
    total = sum(v for v in parts.values() if v > 0)
    k, unit = time_unit(total)
    return F.plot_time_breakdown({n: v for n, v in parts.items() if v > 0},
                                 f"{what}: total {total * k:,.3g} {unit}")


def report_figures(scenario: Scenario, p: S.Plan, est: E.Estimate, compare: list[Strategy],
                   opts: E.Options, current: Strategy | None = None) -> dict[str, Figure]:
    """The report's figures by name: memory, time_breakdown (prefill), decode_breakdown, ttft,
    pareto_ttft, pareto_user."""
    wl, s = scenario.workload, est.strategy
    roles = _roles(s, current)
    layouts = [s] + [c for c in compare if c != s]
    out = {"memory": F.plot_memory(T.memory_table(scenario, layouts, opts),
                                   scenario.hardware.hbm_capacity_bytes, roles)}
    out["time_breakdown"] = _breakdown(
        est.ttft_breakdown_s, f"Where the TTFT of {s.label()} goes at the longest prompt\n"
        f"(batch {wl.batch_sequences}, {wl.max_prompt_tokens:,} tokens)")
    out["decode_breakdown"] = _breakdown(
        est.tpot_breakdown_s, f"Where a decode step (TPOT) of {s.label()} goes at the longest "
        f"context\n(batch {wl.batch_sequences}, {wl.max_prompt_tokens + wl.output_tokens:,} "
        f"tokens)")
    out["ttft"] = plot_ttft_by_layout(T.ttft_table(scenario, layouts, opts),
                                      scenario.requirements.ttft_s, roles,
                                      "the recommended layout beside the alternatives")
    kind = p.throughput_kind
    v = p.valid[p.valid["check_memory"]].copy()
    if v.empty:
        v = p.valid.copy()
    v["tput"] = v[f"min_{S.THROUGHPUT_COLUMNS[kind]}"] / 1e3
    v["on_front"] = S.pareto_front(v["tput"].to_numpy(), -v["ttft_s"].to_numpy())
    v["on_front_user"] = S.pareto_front(v["tput"].to_numpy(),
                                        v["tokens_per_s_per_user"].to_numpy())
    ylabel = f"{kind} throughput per GPU, lowest over prompt lengths (tokens/ms)"
    k, unit = time_unit(float(v["ttft_s"].max()))
    out["pareto_ttft"] = plot_front(v, "ttft_s", "tput", "on_front",
                                    f"TTFT at the longest prompt ({unit})", ylabel, roles, k)
    out["pareto_user"] = plot_front(v, "tokens_per_s_per_user", "tput", "on_front_user",
                                    "decode speed per user, 1 / mean TPOT (tokens/s)", ylabel,
                                    roles, x_higher_better=True)
    return out


def make_figures(scenario: Scenario, p: S.Plan, est: E.Estimate, compare: list[Strategy],
                 out_dir: Path, opts: E.Options, current: Strategy | None = None
                 ) -> dict[str, str]:
    """Draw :func:`report_figures` into ``out_dir/figures/<name>.png``; returns name -> path
    relative to ``out_dir``."""
    out = {}
    for name, fig in report_figures(scenario, p, est, compare, opts, current).items():
        F.save(fig, Path(out_dir) / "figures" / f"{name}.png")
        out[name] = f"figures/{name}.png"
    return out
