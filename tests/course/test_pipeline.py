"""Chapter 07 (analysis.course.pipeline): micro-batches for a bubble target, latency and capacity
against pp."""


import numpy as np
import pytest

from analysis.course import pipeline
from analysis.estimate import formulas as f
from analysis.inputs.read.scenario import compose_scenario


@pytest.mark.parametrize("p, frac, m", [(1, 0.2, 1), (2, 0.5, 1), (4, 0.2, 12), (4, 0.25, 9),
                                        (8, 0.1, 63)])
def test_microbatches_for_bubble(p, frac, m):
    assert pipeline.microbatches_for_bubble(p, frac) == m
    assert f.pipeline_bubble_fraction(p, m) <= frac + 1e-12
    if m > 1:
        assert f.pipeline_bubble_fraction(p, m - 1) > frac


def test_pipeline_latency_table(seed):
    df = pipeline.pipeline_latency_table(seed, "tp=1", [1, 2, 4], [1, 4], 4096)
    assert len(df) == 6
    r = df[(df.pp == 4) & (df.microbatches == 4)].iloc[0]
    assert r.pipeline_steps == 7 and r.bubble_fraction == pytest.approx(3 / 7)
    assert r.ttft_s == pytest.approx(7 * r.prefill_stage_s)
    assert r.first_microbatch_s == pytest.approx(4 * r.prefill_stage_s)
    assert r.layers_per_stage == 4
    # with one micro-batch the stages only wait for each other: TTFT does not fall with pp
    one = df[df.microbatches == 1].set_index("pp")["ttft_s"]
    assert one[4] >= 0.95 * one[1]
    # invalid combinations are left out (8 micro-batches do not divide a batch of 4)
    sc = compose_scenario("H200", "mixtral-8x7b", 4, 1024, 64)
    lat = pipeline.pipeline_latency_table(sc, "tp=8", [1, 2], [1, 8], 1024)
    assert set(lat["microbatches"]) == {1}


def test_pipeline_capacity_grows_when_weights_crowd_the_cache(dsv3, seed):
    df = pipeline.pipeline_capacity_table(dsv3, "tp=8", [1, 2, 4], 8192, 256)
    per_gpu = df["max_batch_per_gpu"].to_numpy()
    assert (np.diff(per_gpu) > 0).all()
    w = df["weights_bytes_per_gpu"]
    # the busiest of 2 stages holds ceil(61 / 2) = 31 of 61 layers (issue 14: uneven stages)
    assert w[1] == pytest.approx(w[0] * 31 / 61, rel=1e-4)
    thr = df["decode_max_batch_tokens_per_s_per_gpu"].to_numpy()
    assert thr[1] > thr[0]
    fixed = df["decode_fixed_batch_tokens_per_s_per_gpu"].to_numpy()
    assert (np.diff(fixed) < 0).all()       # a fixed batch only spreads over more GPUs
    # the seed model's weights are tiny: pp buys no sequences per GPU
    s = pipeline.pipeline_capacity_table(seed, "tp=1", [1, 4], 8192, 256)["max_batch_per_gpu"]
    assert s.iloc[1] == pytest.approx(s.iloc[0], rel=0.05)
