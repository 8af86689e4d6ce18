"""The explorer's pure part: slider values in, the estimate's numbers (or why not) out."""

import pytest

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


# ------------------------------------------------------------------ etp, presets, chart data

def test_a_given_etp_is_the_derived_one_or_a_readable_refusal():
    sc = load_scenario("seed")
    assert explore(sc, tp=4, dp_attn=16, etp=4, ep=16).equals(explore(sc, tp=4, dp_attn=16,
                                                                       ep=16))
    other = explore(sc, tp=4, dp_attn=4, etp=2, ep=8).set_index("quantity")["value"]
    assert other["layout"].startswith("tp4-dp_attn4-etp2-ep8 (16 GPUs")   # 4*4 == 2*8
    bad = explore(sc, tp=4, dp_attn=2, etp=2, ep=2)["value"][0]
    assert bad == ("impossible: attention uses tp*dp_attn = 4*2 = 8 GPUs but experts use "
                   "etp*ep = 2*2 = 4; valid: etp*ep = 8, e.g. etp=4 with ep=2 (or etp on auto)")
    assert "valid: ep in [1, 2]" in explore(sc, tp=2, ep=4)["value"][0]


def test_chart_data_is_the_estimates_own_breakdowns_in_gb_and_ms():
    from analysis.explorer import chart_data, estimate_layout

    sc = load_scenario("seed")
    est = estimate_layout(sc, tp=4, dp_attn=16, ep=16)
    d = chart_data(est)
    mem = d.memory.set_index("component")["gb"]
    # seed-moe routed experts: 16 layers x 16 experts x 3 x 512 x 1024 params x 2 B (fp16)
    # = 805,306,368 B over ep16 x etp4 = 64 GPUs -> 12,582,912 B = 0.012582912 GB
    assert mem["expert_weights"] == pytest.approx(16 * 16 * 3 * 512 * 1024 * 2 / 64 / 1e9)
    assert mem.sum() == pytest.approx(sum(est.memory_bytes.values()) / 1e9)
    assert d.capacity_gb == 64.0                      # seed-card: 64 GB per GPU
    ttft = d.time[d.time["phase"] == "TTFT"].set_index("op")["ms"]
    tpot = d.time[d.time["phase"] == "TPOT"].set_index("op")["ms"]
    assert ttft.sum() == pytest.approx(est.worst["ttft_s"] * 1e3)
    assert tpot.sum() == pytest.approx(sum(est.tpot_breakdown_s.values()) * 1e3)
    assert ttft["ep_dispatch_combine"] == est.ttft_breakdown_s["ep_dispatch_combine"] * 1e3
    assert "pipeline_bubble" not in ttft.index        # pp=1: zero-time ops are left out
    assert d.label == "tp4-dp_attn16-etp4-ep16"


def test_a_scenario_from_presets_is_the_one_plan_composes():
    from analysis.explorer import preset_names, preset_scenario, scenario_for
    from analysis.inputs.read.presets import list_presets
    from analysis.inputs.read.scenario import compose_scenario

    names = preset_names()
    assert names == {"models": list_presets("models"), "gpus": list_presets("gpus")}
    assert {"seed-moe", "mixtral-8x7b"} <= set(names["models"]) and "H100-SXM" in names["gpus"]
    sc = preset_scenario("mixtral-8x7b", "H100-SXM", 8, 1024)
    assert sc == compose_scenario("H100-SXM", "mixtral-8x7b", 8, 1024)   # plan --model/--hardware
    assert sc.hardware.hbm_capacity_bytes == 80e9 and sc.model.num_experts == 8

    seed = load_scenario("seed")
    assert scenario_for(seed, "seed-moe", "seed-card") is seed          # its own presets
    swapped = scenario_for(seed, "mixtral-8x7b", "H100-SXM")
    assert (swapped.model.name, swapped.hardware.name) == ("Mixtral-8x7B-v0.1", "H100-SXM")
    assert swapped.workload.batch_sequences == seed.workload.batch_sequences
    gpu_only = scenario_for(seed, None, "H200")
    assert (gpu_only.model, gpu_only.hardware.name) == (seed.model, "H200")


# -------------------------------------------------------------------------------- the chart

def test_the_chart_draws_a_layout_with_units_on_every_axis():
    import matplotlib.pyplot as plt

    from analysis.explorer import estimate_layout
    from analysis.explorer_chart import explorer_figure

    fig = explorer_figure(estimate_layout(load_scenario("seed"), tp=4, dp_attn=16, ep=16))
    mem, ttft, tpot = fig.axes
    assert fig._suptitle.get_text().startswith("tp4-dp_attn16-etp4-ep16: seed-moe on seed-card")
    assert "(GB" in mem.get_ylabel()
    assert ttft.get_xlabel() == "time (ms); total 160 ms"          # 160.2 ms worst-case TTFT
    assert tpot.get_xlabel().startswith("time (ms)")
    labels = [t.get_text() for t in mem.get_legend().get_texts()]
    assert len(labels) == len(set(labels)) and "GPU memory capacity: 64 GB" in labels
    assert [t.get_text() for t in mem.get_xticklabels()] == ["total 7.24 GB\n(fits)"]
    plt.close(fig)


def test_the_chart_of_an_impossible_layout_says_why():
    import matplotlib.pyplot as plt

    from analysis.explorer import estimate_layout
    from analysis.explorer_chart import explorer_figure

    why = estimate_layout(load_scenario("seed"), tp=4, dp_attn=2, etp=2, ep=2)
    fig = explorer_figure(why)
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts).replace("\n", " ")
    assert text == why and "impossible" in fig._suptitle.get_text()
    plt.close(fig)


def test_times_read_without_exponents():
    from analysis.explorer_chart import ms_text

    assert [ms_text(v) for v in (0.00301, 14.37, 117.7, 29912.4)] == \
        ["0.00301 ms", "14.4 ms", "118 ms", "29,912 ms"]
