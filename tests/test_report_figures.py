"""Every figure of the strategy report (analysis.report.report_figures) states its quantity and
unit, marks the recommended (and current) layout, draws only distinct series, and never
contradicts its title."""

import itertools
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis import estimate as E
from analysis.inputs.read.scenario import load_scenario
from analysis.report import report_figures as RF
from analysis.report import strategy as report

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
#: a unit in parentheses, as every quantitative axis label carries it
UNIT = re.compile(r"\((s|ms|µs|GB|GB = 1e9 bytes|tokens|tokens/s|tokens/ms)\)")
CATEGORICAL = {"layout", "op"}


def _figures(scenario):
    p, est, _, current, _ = report.build(scenario)
    compare = [report._strategy(r) for _, r in p.alternatives.head(2).iterrows()]
    if current is not None:
        compare.insert(0, current.strategy)
    figs = RF.report_figures(scenario, p, est, compare, E.Options(), scenario.current_strategy)
    return p, est, figs


@pytest.fixture(scope="module", params=["seed", "moe-64e-fp8-fixed-length"])
def drawn(request):
    name = request.param
    sc = load_scenario(name if name == "seed" else str(ROOT / "examples/cards" / f"{name}.md"))
    p, est, figs = _figures(sc)
    yield sc, p, est, figs
    for f in figs.values():
        plt.close(f)


def _legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def test_the_report_draws_six_figures_with_a_decode_breakdown(drawn):
    _, _, _, figs = drawn
    assert set(figs) == {"memory", "time_breakdown", "decode_breakdown", "ttft", "pareto_ttft",
                         "pareto_user"}
    assert "decode step (TPOT)" in figs["decode_breakdown"].axes[0].get_title()


def test_titles_and_axes_name_their_quantity_and_unit(drawn):
    _, _, _, figs = drawn
    for name, fig in figs.items():
        for ax in fig.axes:
            assert ax.get_title().strip(), name
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                assert label, name
                assert label in CATEGORICAL or UNIT.search(label), (name, label)
                assert not re.search(r"\de[+-]\d", label), (name, label)   # human numbers
            assert not re.search(r"\de[+-]\d", ax.get_title()), name


def test_legends_hold_no_duplicate_or_invisible_series(drawn):
    _, _, _, figs = drawn
    for name, fig in figs.items():
        texts = _legend_texts(fig)
        assert len(texts) == len(set(texts)), (name, texts)
        for ax in fig.axes:
            lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
            for ln in lines:
                assert ln.get_visible() and ln.get_alpha() in (None, 1), (name, ln.get_label())
            for a, b in itertools.combinations(lines, 2):
                xa, ya = (np.asarray(v, dtype=float) for v in a.get_data())
                xb, yb = (np.asarray(v, dtype=float) for v in b.get_data())
                same = (xa.shape == xb.shape and np.allclose(xa, xb)
                        and np.allclose(ya, yb, rtol=RF.SAME))
                assert not same, (name, a.get_label(), b.get_label())


def test_recommended_and_current_layouts_are_marked(drawn):
    sc, p, _, figs = drawn
    for name in ("memory", "ttft", "pareto_ttft", "pareto_user"):
        fig = figs[name]
        words = " ".join(_legend_texts(fig) + [t.get_text() for ax in fig.axes
                                                for t in ax.get_yticklabels()])
        assert "recommended" in words, name
        cur = sc.current_strategy
        if cur is not None and name in ("memory", "ttft"):
            assert "current" in words, name
    for name in ("time_breakdown", "decode_breakdown"):
        assert p.recommended.label() in figs[name].axes[0].get_title()


def test_trade_off_titles_agree_with_where_the_recommendation_lies(drawn):
    _, p, _, figs = drawn
    for name in ("pareto_ttft", "pareto_user"):
        title = figs[name].axes[0].get_title()
        off = "off this front" in title
        assert off != ("is on the front" in title), title
        # the ringed point is the recommendation, and the title says truly where it is
        ax = figs[name].axes[0]
        ring = [c for c in ax.collections if str(c.get_label()).startswith("recommended")][0]
        (x, y), = ring.get_offsets()
        front = [ln for ln in ax.get_lines() if ln.get_label() == "Pareto front"][0]
        fx, fy = (np.asarray(v, dtype=float) for v in front.get_data())
        # lower TTFT is better; higher speed per user is better; 1% counts as a tie
        sx, tol = (-1.0 if name == "pareto_ttft" else 1.0), 0.01
        fx, x = sx * fx, sx * x
        beaten = (fy >= y) & (fx >= x) & ((fy > y + tol * abs(y)) | (fx > x + tol * abs(x)))
        assert off == bool(beaten.any()), (name, title)


def test_on_front_by_hand():
    import pandas as pd
    v = pd.DataFrame({"layout": ["a", "b", "c", "d"], "t": [1.0, 2.0, 3.0, 1.0],
                      "y": [1.0, 3.0, 2.0, 1.0]})
    # lower t better: a (fastest) and b (highest y) are on the front, c is beaten by b,
    # d ties with a and counts as on the front
    assert [RF.on_front(v, "t", "y", x, False) for x in "abcd"] == [True, True, False, True]
    # within 1% of a better point counts as on the front; 2% behind does not
    w = pd.DataFrame({"layout": ["a", "b", "c"], "t": [1.0, 1.005, 1.02], "y": [1.0] * 3})
    assert [RF.on_front(w, "t", "y", x, False) for x in "abc"] == [True, True, False]
    assert RF.time_unit(1.73) == (1.0, "s") and RF.time_unit(0.0312) == (1e3, "ms")
