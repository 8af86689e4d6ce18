"""The explorer's pure part: slider values in, the estimate's numbers (or why not) out."""

from analysis import estimate as E
from analysis.explorer import explore
from analysis.inputs import Strategy
from analysis.inputs.read.scenario import load_scenario


def test_explore_shows_the_estimates_own_numbers():
    sc = load_scenario("seed")
    df = explore(sc, dp_attn=8, ep=8).set_index("quantity")["value"]
    est = E.estimate(sc, Strategy.parse("ep=8"))
    assert df["layout"].startswith("dp_attn8-ep8 (8 GPUs")
    from analysis import fmt
    assert df["TTFT (batch prefill)"] == fmt.seconds(est.worst["ttft_s"])
    assert df["TPOT (mid-generation)"] == fmt.seconds(est.worst["tpot_s"])


def test_explore_says_why_a_layout_is_impossible():
    sc = load_scenario("seed")
    bad = explore(sc, tp=32)      # 16 heads
    assert bad["value"][0].startswith("impossible:") and "attention heads" in bad["value"][0]
    odd = explore(sc, tp=2, ep=4)
    assert "does not divide" in odd["value"][0]


def test_explore_flags_memory_that_does_not_fit():
    sc = load_scenario("seed")
    df = explore(sc, batch_sequences=512).set_index("quantity")["value"]
    assert "does NOT fit" in df["memory per GPU"]


def test_widget_builds_without_a_browser():
    import ipywidgets

    from analysis.explorer import layout_explorer
    assert ipywidgets.__version__.startswith("8.")
    layout_explorer("seed")   # builds the sliders and renders once; no front-end needed
