"""Serving targets in a scenario card: TTFT and TPOT at a percentile, a request rate (issue 13).
The card below is written by hand; every expected value is read off it."""

import pytest

from analysis.inputs.errors import MoEPlanError
from analysis.inputs.read.scenario import load_scenario

CARD = """# Serving card

## Hardware
- GPUs: up to 16
- Single-card computing power: 400 TFLOPS
- MFU: 60%
- HBM bandwidth: 1.8 TB/s
- Bandwidth utilization: 80%
- Memory capacity: 64 GB

## Model
- Layers: 16, each with multi-head attention and a mixture of experts, 16 experts per layer
- Top-k: 2
- Precision: FP16
- Hidden size: 512
- Attention: 16 heads of dimension 32
- MoE hidden size: 1024

## Input
- Batch size: 32 sequences
- Prompt length: 1024 tokens
- Output length: 128 tokens

## Requirements
- TTFT (p99): 500 ms
- TPOT: 40 ms at p99
- Request rate: 1200 requests per minute
"""


def _load(tmp_path, text, name="serving-card.md"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return load_scenario(str(p))


def test_card_with_percentile_and_rate_is_a_serving_scenario(tmp_path):
    sc = _load(tmp_path, CARD)
    sv = sc.serving
    assert sv is not None
    assert sv.ttft_s == pytest.approx(0.5)          # 500 ms
    assert sv.tpot_s == pytest.approx(0.040)        # 40 ms
    assert sv.percentile == "p99"
    assert sv.request_rate_per_s == pytest.approx(20.0)   # 1200 per minute / 60
    assert (sv.isl_mean, sv.osl_mean) == (1024, 128)
    # the static reading keeps the same targets
    assert sc.requirements.ttft_s == pytest.approx(0.5)
    assert sc.requirements.tpot_s == pytest.approx(0.040)
    assert sc.workload.batch_sequences == 32


def test_median_is_p50_and_rate_per_second(tmp_path):
    text = CARD.replace("- TTFT (p99): 500 ms", "- TTFT: median under 2 s").replace(
        "- TPOT: 40 ms at p99", "- TPOT: 50 ms").replace(
        "- Request rate: 1200 requests per minute", "- Request rate: 7.5 req/s")
    sv = _load(tmp_path, text).serving
    assert sv.percentile == "p50" and sv.ttft_s == pytest.approx(2.0)
    assert sv.tpot_s == pytest.approx(0.05) and sv.request_rate_per_s == pytest.approx(7.5)


def test_card_without_percentile_or_rate_stays_static(tmp_path):
    text = CARD.replace(" (p99)", "").replace(" at p99", "").replace(
        "- Request rate: 1200 requests per minute\n", "")
    sc = _load(tmp_path, text)
    assert sc.serving is None
    assert sc.requirements.ttft_s == pytest.approx(0.5)


def test_committed_cards_stay_static():
    for name in ("seed", "examples/cards/moe-10b-16e-requirements.md"):
        assert load_scenario(name).serving is None


def test_unsupported_percentile_is_one_clear_error(tmp_path):
    text = CARD.replace("TTFT (p99)", "TTFT (p95)").replace(" at p99", "")
    with pytest.raises(MoEPlanError, match=r"serving\.percentile: p95 is not one of p50, p90"):
        _load(tmp_path, text)


def test_unsupported_percentile_beside_a_readable_one_is_a_warning(tmp_path):
    """As for every card field: another line states the percentile (TPOT at p99), so the p95
    line is reported, not fatal."""
    sc = _load(tmp_path, CARD.replace("TTFT (p99)", "TTFT (p95)"))
    assert sc.serving.percentile == "p99"
    assert any("p95" in w for w in sc.warnings)
