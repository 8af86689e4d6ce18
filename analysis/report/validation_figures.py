"""Figures of the validation table (:func:`analysis.validation.validation_table`): predicted
against measured, the signed error against concurrency, and the error by group.

Pure and deterministic: each function takes the table and returns a Figure; groups are drawn in
a fixed order (workload kinds as in :data:`analysis.validation.WORKLOAD_KINDS`, others sorted).
Every case carries its ``unit`` (ms, output tokens/s per GPU, ...); where one panel mixes units
the marker shape says which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from analysis.report.figures import _new, _palette
from analysis.validation.data import ALL_METRIC_KINDS
from analysis.validation.report import WORKLOAD_KINDS

__all__ = ["plot_error_by", "plot_residual_vs_concurrency", "plot_validation_scatter"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_SPLITS = (("held_out", "held-out (filled)"), ("calibration", "calibration (hollow)"))


def _groups(values) -> list:
    """Distinct values in a fixed order: workload kinds first as declared, the rest sorted."""
    present = set(values)
    known = [k for k in WORKLOAD_KINDS if k in present]
    return known + sorted(present - set(known), key=str)


def _kinds(df: pd.DataFrame) -> list[str]:
    return [k for k in ALL_METRIC_KINDS if k in set(df["metric_kind"])]


def _unit_label(units: list[str]) -> str:
    return units[0] if len(units) == 1 else "the case's unit, by marker"


def _legend(fig: Figure, hue: str, colors: dict, markers: dict) -> None:
    """One legend for the figure: colour = ``hue`` value, fill = split, shape = unit."""
    h = [Line2D([], [], color=c, marker="o", linestyle="", label=str(k))
         for k, c in colors.items()]
    h += [Line2D([], [], color="grey", marker="o", linestyle="", label=lab,
                 markerfacecolor="grey" if s == "held_out" else "none") for s, lab in _SPLITS]
    if len(markers) > 1:
        h += [Line2D([], [], color="black", marker=m, linestyle="", markerfacecolor="none",
                     label=u) for u, m in markers.items()]
    fig.legend(handles=h, fontsize=7, loc="outside right upper",
               title=f"colour: {hue.replace('_', ' ')}", title_fontsize=7)


def _scatter(ax, g: pd.DataFrame, x: str, y, hue: str, colors: dict, markers: dict) -> None:
    for key in colors:
        for split, _ in _SPLITS:
            for unit, m in markers.items():
                s = g[(g[hue] == key) & (g["split"] == split) & (g["unit"] == unit)]
                if len(s):
                    c = colors[key]
                    ax.scatter(s[x], y(s), s=20, marker=m, linewidth=0.9, edgecolor=c,
                               facecolor=c if split == "held_out" else "none")


def plot_validation_scatter(df: pd.DataFrame, hue: str = "workload_kind",
                            band: float = 0.2) -> Figure:
    """Predicted against measured, log-log, one panel per metric kind, with the line y = x and
    a ±``band`` band. Colour is ``hue`` (``workload_kind``, ``gpu``, ``source``...), filled
    markers are held-out cases, hollow ones calibration cases. Columns used: ``metric_kind``,
    ``measured``, ``predicted``, ``unit``, ``split``, ``mode`` and ``hue``."""
    kinds = _kinds(df)
    fig, axes = _new(3.6 * len(kinds) + 2.2, 4.2, ncols=len(kinds))
    axes = np.atleast_1d(axes)
    keys = _groups(df[hue])
    colors = dict(zip(keys, _palette(len(keys)), strict=True))
    units = sorted(set(df["unit"]))
    markers = dict(zip(units, _MARKERS * 2, strict=False))
    for ax, kind in zip(axes, kinds, strict=True):
        g = df[df["metric_kind"] == kind]
        lo = float(min(g["measured"].min(), g["predicted"].min())) / 1.5
        hi = float(max(g["measured"].max(), g["predicted"].max())) * 1.5
        xs = np.geomspace(lo, hi, 50)
        ax.plot(xs, xs, color="black", linewidth=0.8)
        ax.fill_between(xs, xs * (1 - band), xs * (1 + band), color="grey", alpha=0.18)
        _scatter(ax, g, "measured", lambda s: s["predicted"], hue, colors,
                 {u: m for u, m in markers.items() if u in set(g["unit"])})
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        unit = _unit_label(sorted(set(g["unit"])))
        ax.set_xlabel(f"measured ({unit})", fontsize=8)
        ax.set_ylabel(f"predicted ({unit})", fontsize=8)
        ax.set_title(f"{kind}: {len(g)} cases", fontsize=9)
        ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    _legend(fig, hue, colors, markers)
    mode = ", ".join(sorted(set(df["mode"])))
    fig.suptitle(f"Predicted against measured ({mode}), by {hue.replace('_', ' ')}: points "
                 f"in the grey band are within ±{band:.0%} of the line y = x", fontsize=10)
    return fig


def plot_residual_vs_concurrency(df: pd.DataFrame, hue: str = "workload_kind",
                                 band: float = 0.2) -> Figure:
    """Signed error ``predicted / measured - 1`` (%) against the run's concurrency or batch
    (log x), one panel per metric kind, for the cases that have one (``concurrency`` not NaN).
    Colour is ``hue``, fill the split, marker the unit; the grey band is ±``band``."""
    d = df[df["concurrency"].notna()].assign(error_pct=lambda t: t["error"] * 100)
    kinds = _kinds(d)
    fig, axes = _new(3.6 * len(kinds) + 2.2, 3.8, ncols=len(kinds))
    axes = np.atleast_1d(axes)
    keys = _groups(d[hue])
    colors = dict(zip(keys, _palette(len(keys)), strict=True))
    markers = dict(zip(sorted(set(d["unit"])), _MARKERS * 2, strict=False))
    for ax, kind in zip(axes, kinds, strict=True):
        g = d[d["metric_kind"] == kind]
        ax.axhspan(-band * 100, band * 100, color="grey", alpha=0.18)
        ax.axhline(0, color="black", linewidth=0.8)
        _scatter(ax, g, "concurrency", lambda s: s["error_pct"], hue, colors,
                 {u: m for u, m in markers.items() if u in set(g["unit"])})
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency or batch (requests)", fontsize=8)
        ax.set_ylabel("error, predicted / measured - 1 (%)", fontsize=8)
        ax.set_title(f"{kind}: {len(g)} cases", fontsize=9)
        ax.grid(True, linewidth=0.4, alpha=0.6)
    _legend(fig, hue, colors, markers)
    mode = ", ".join(sorted(set(df["mode"])))
    fig.suptitle(f"Error against concurrency ({mode}): above 0 the prediction is higher than "
                 f"measured; the grey band is ±{band:.0%}", fontsize=10)
    return fig


def plot_error_by(df: pd.DataFrame, by: str, band: float = 0.2) -> Figure:
    """Box plot of the signed error ``pred/meas - 1`` (in %) grouped by ``by`` (e.g.
    "source", "gpu"), held-out and calibration cases side by side; 0 is a perfect
    prediction."""
    d = df.assign(error_pct=df["error"] * 100)
    order = _groups(d[by])
    fig, ax = _new(8, 0.45 * len(order) + 1.8)
    sns.boxplot(data=d, y=by, x="error_pct", hue="split", order=order,
                hue_order=["calibration", "held_out"], palette=_palette(2), ax=ax,
                fliersize=2, linewidth=0.8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.axvspan(-band * 100, band * 100, color="grey", alpha=0.12)
    ax.set_xlabel("error, predicted / measured - 1 (%)")
    ax.set_ylabel(by.replace("_", " "))
    ax.grid(True, axis="x", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8, title="split", title_fontsize=8)
    ax.set_title(f"Error by {by.replace('_', ' ')}: boxes inside the grey ±{band:.0%} band "
                 "are predicted well", fontsize=10)
    return fig
