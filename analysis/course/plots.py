"""Shared plot helpers of the course figures: panel grids, number formatters for log axes.
Each chapter's figures live in its topic module (:mod:`analysis.course.roofline` and so on); each
returns a matplotlib Figure whose axes carry units; save it with
:func:`analysis.report.figures.save`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from analysis.report.figures import DPI

__all__ = ["COLORS", "COURSE_DPI", "INT", "comma", "fig_axes", "log_axes", "minor_125", "panels"]

#: Integer tick labels with thousands separators, plain below 1.
INT = FuncFormatter(lambda v, _p: f"{v:,.0f}" if v >= 1 else f"{v:g}")
#: The chapter 02 / 11 / 12 figures' colours and resolution.
COLORS = plt.get_cmap("tab10").colors
COURSE_DPI = 110


def panels(n: int, width_each: float = 5.2, height: float = 4.3):
    """A figure of ``n`` side-by-side axes (a list), at the report figures' resolution."""
    fig, axes = plt.subplots(1, n, figsize=(width_each * n, height), dpi=DPI,
                             layout="constrained", squeeze=False)
    return fig, list(axes[0])


def fig_axes(ncols: int = 1, width: float = 8.0, height: float = 4.5):
    """``plt.subplots`` of one row at the course resolution, constrained layout."""
    return plt.subplots(1, ncols, figsize=(width, height), dpi=COURSE_DPI, layout="constrained")


def comma(v: float, _pos) -> str:
    """A tick label: thousands separators from 1 up, plain below."""
    return f"{v:,.0f}" if v >= 1 else f"{v:g}"


def minor_125(v: float, _pos) -> str:
    """Label the 2x and 5x minor ticks of a log axis, so a short range still reads."""
    lead = f"{v:.0e}"[0]
    return comma(v, _pos) if lead in "25" else ""


def log_axes(ax, minor=None) -> None:
    """Log-2 x axis and log y axis with plain-number tick labels (the course's log-log plots);
    ``minor`` formats the y minor ticks (default 1, 2, 5 of each decade)."""
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(comma))
    ax.yaxis.set_major_formatter(FuncFormatter(comma))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor or minor_125))
