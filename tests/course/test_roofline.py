"""Chapter 03 (analysis.course.roofline): ridge points, intensities and the compute-bound batch
worked by hand on the toy chip, and tied to the estimate they explain."""

import math

import pytest

from analysis.course import roofline
from analysis.inputs import Hardware
from analysis.inputs.read.scenario import load_model
from tests.course.toys_course import TOY, TOY_HW


def test_ridge_points_by_hand():
    r = roofline.ridge_points(TOY_HW, "bf16").set_index("mode")["ridge_flops_per_byte"]
    assert r["sol"] == pytest.approx(100.0)                  # 100e12 / 1e12
    assert r["derated"] == pytest.approx(100.0)              # (100e12 * 0.5) / (1e12 * 0.5)


def test_intensity_of_one_expert_by_hand():
    # P = 40,000, w = 2, c = (2*100 + 2*1*200) * 2 = 1,200 B per token.
    # T = 100: 2*100*40,000 / (40,000*2 + 100*1,200) = 8e6 / 200,000 = 40 FLOP/B
    df = roofline.intensity_table(TOY, [1, 100])
    e = df[df.op == "routed_expert"].set_index("tokens")
    assert e.loc[100.0, "intensity_flops_per_byte"] == pytest.approx(40.0)
    assert e.loc[1.0, "weights_only_intensity_flops_per_byte"] == pytest.approx(1.0)  # 2T/w


def test_compute_bound_batch_by_hand():
    # T* = I* P w / (2P - I* c) = 100 * 40,000 * 2 / (80,000 - 120,000) < 0: never compute-bound
    df = roofline.compute_bound_batch(TOY_HW, TOY)
    e = df[df.op == "routed_expert"]
    assert (e["tokens_per_weight_read"] == math.inf).all()
    # a chip with ridge 10: T* = 10 * 80,000 / (80,000 - 12,000) = 11.76 tokens per expert,
    # B* = ceil(11.76 * 8 / 2) = ceil(47.06) = 48 sequences
    hw = Hardware("toy10", (("bf16", 10e12),), 80e9, 1e12, mfu=1.0, bandwidth_utilization=1.0)
    e = roofline.compute_bound_batch(hw, TOY).query(
        "op == 'routed_expert' and mode == 'sol'").iloc[0]
    assert e["tokens_per_weight_read"] == pytest.approx(800_000 / 68_000)
    assert e["decode_batch"] == 48


@pytest.mark.parametrize("model", ["seed-moe", "mixtral-8x7b", "deepseek-v3", "qwen3-30b-a3b"])
def test_compute_bound_batch_is_where_the_estimate_flips(h100, model):
    m = load_model(model)[0]
    b = int(roofline.compute_bound_batch(h100, m).query(
        "op == 'routed_expert' and mode == 'derated'")["decode_batch"].iloc[0])
    check = roofline.expert_bound_check(h100, m, b, 2048)
    assert check["bound"].tolist() == ["memory", "compute"]


def test_phase_intensity_matches_intensity_table():
    p = roofline.phase_intensity_table(TOY_HW, TOY, 4, 100).set_index(["op", "phase"])
    assert p.loc[("routed_expert", "decode"), "tokens"] == pytest.approx(1.0)      # 4 * 2/8
    assert p.loc[("routed_expert", "prefill"), "tokens"] == pytest.approx(100.0)   # 4*100*2/8
    assert p.loc[("routed_expert", "prefill"), "intensity_flops_per_byte"] == pytest.approx(40.0)
    assert p.loc[("routed_expert", "prefill"), "bound"] == "memory"
