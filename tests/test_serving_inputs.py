"""The scenario's optional ``serving:`` block: read, defaulted with stated assumptions, refused
with one readable line, and absent from scenarios that do not have it (the format is unchanged)."""

import pytest

from analysis.inputs.errors import InputError
from analysis.inputs.read.scenario import load_scenario
from analysis.inputs.serving import ServingRequirements, length_max_tokens, length_mean_tokens

BASE = {"name": "s", "hardware": "H100-SXM", "model": "mixtral-8x7b",
        "workload": {"batch_sequences": 64, "prompt_tokens": [512, 1536], "output_tokens": 300}}


def with_serving(block):
    return load_scenario({**BASE, "serving": block})


def test_existing_scenarios_have_no_serving_block():
    assert load_scenario("seed").serving is None
    assert load_scenario(BASE).serving is None


def test_units_converted_and_defaults_stated():
    sc = with_serving({"ttft_ms": 2000, "tpot_ms": 50, "throughput_tokens_per_ms_per_gpu": 5,
                       "request_rate_per_s": 20})
    sv = sc.serving
    assert sv.ttft_s == pytest.approx(2.0) and sv.tpot_s == pytest.approx(0.05)
    assert sv.throughput_tokens_per_s_per_gpu == pytest.approx(5000)   # 5 tokens/ms = 5000/s
    assert sv.percentile == "p90" and sv.engine == "generic" and sv.disaggregation
    # lengths from the workload: the prompt range becomes a uniform draw
    assert sv.prompt_tokens == {"distribution": "uniform", "min": 512, "max": 1536}
    assert sv.output_tokens == 300
    text = " ".join(sc.assumptions)
    assert "serving.percentile not given" in text and "serving.prompt_tokens not given" in text


def test_length_specs_by_hand():
    # uniform 512..1536: mean (512 + 1536) / 2 = 1024, longest 1536
    u = {"distribution": "uniform", "min": 512, "max": 1536}
    assert length_mean_tokens(u) == 1024 and length_max_tokens(u) == 1536
    # normal mean 500, std 100: longest read as mean + 3 std = 800
    n = {"distribution": "normal", "mean": 500, "std": 100}
    assert length_mean_tokens(n) == 500 and length_max_tokens(n) == 800
    sv = ServingRequirements(1000, 200, percentile="p50")
    assert sv.simulator_stat == "median" and sv.isl_max == 1000 and sv.osl_mean == 200


@pytest.mark.parametrize("block, field", [
    ({"percentile": "p95"}, "serving.percentile"),
    ({"ttft_ms": -1}, "serving.ttft_ms"),
    ({"prompt_tokens": {"distribution": "lognormal"}}, "serving.prompt_tokens.distribution"),
    ({"prompt_tokens": {"distribution": "uniform", "min": 10, "max": 5}},
     "serving.prompt_tokens.max"),
    ({"ttft_ms": 100, "ttft_s": 0.1}, "serving.ttft_s"),
    ({"latency": 3}, "serving.latency"),
    ({"throughput_counts": "prefill"}, "serving.throughput_counts"),
])
def test_bad_serving_input_names_the_field(block, field):
    with pytest.raises(InputError) as e:
        with_serving(block)
    assert e.value.field == field
    assert "; valid: " in str(e.value)


def test_hardware_price_and_power_are_editable_and_checked():
    sc = load_scenario({**BASE, "hardware": {"preset": "H100-SXM", "price_usd_per_gpu_hour": 4.5}})
    assert sc.hardware.price_usd_per_gpu_hour == 4.5
    assert sc.hardware.board_power_W == 700          # the preset's, kept
    with pytest.raises(InputError) as e:
        load_scenario({**BASE, "hardware": {"preset": "H100-SXM", "board_power_W": -1}})
    assert "board_power_W" in e.value.field
