"""Tests of analysis.course_b: hand-worked oracles and cross-checks against the package."""

import math

import matplotlib
import numpy as np
import pytest

from analysis import anatomy as A
from analysis import estimate as E
from analysis.course import course_b as C
from analysis.estimate import formulas as f
from analysis.estimate import serving
from analysis.inputs import Strategy
from analysis.inputs.read.scenario import compose_scenario, load_model, load_scenario

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def seed():
    return load_scenario("seed")


@pytest.fixture(scope="module")
def dsv3():
    return compose_scenario("H200", "deepseek-v3", 64, 8192 - 256, 256)


@pytest.fixture(scope="module")
def mixtral():
    return compose_scenario("H200", "mixtral-8x7b", 64, 8192 - 256, 256)


def test_kv_bytes_per_token_by_hand(seed, dsv3, mixtral):
    df = C.kv_bytes_per_token_table([seed.model, mixtral.model, dsv3.model], 8192)
    # seed: MHA, 2 * 16 layers * 16 heads * 32 * 2 B (fp16)
    assert df.loc[0, "attention"] == "MHA" and df.loc[0, "kv_bytes_per_token"] == 32_768
    # Mixtral: GQA, 2 * 32 * 8 * 128 * 2 B = 131,072 B; 4x less than MHA (32 heads)
    assert df.loc[1, "kv_bytes_per_token"] == 131_072 and df.loc[1, "saving_vs_mha"] == 4
    # DeepSeek-V3: MLA, 61 * (512 + 64) * 2 B = 70,272 B (arXiv 2505.09343, Table 1)
    assert df.loc[2, "kv_bytes_per_token"] == 70_272
    assert df.loc[2, "formula"].endswith("= 70,272")
    assert df.loc[2, "kv_per_sequence_bytes"] == 70_272 * 8192


def test_largest_batch_matches_serving_and_arithmetic(dsv3):
    df = C.largest_batch_table(dsv3, ["tp=8", "tp=1,dp_attn=8,ep=8"], [4096, 8192], 256)
    for _, r in df.iterrows():
        s = Strategy.parse({"tp8-etp8": "tp=8", "dp_attn8-ep8": "tp=1,dp_attn=8,ep=8"}[r.layout])
        assert r.max_batch == serving.max_running_requests(dsv3, s, r.context_tokens - 256, 256,
                                                           E.Options())
        assert r.max_batch == math.floor(r.free_bytes_per_gpu / r.kv_per_seq_bytes_per_gpu) \
            * s.dp * s.dp_attn
    # MLA: the latent is whole on every tp rank, so a sequence costs a GPU L * C * 576 * 2 B
    r = df[(df.layout == "tp8-etp8") & (df.context_tokens == 8192)].iloc[0]
    assert r.kv_per_seq_bytes_per_gpu == pytest.approx(61 * 8192 * 576 * 2)
    # attention DP holds several times more sequences on the same 8 GPUs
    b = df[df.context_tokens == 8192].set_index("layout")["max_batch"]
    assert b["dp_attn8-ep8"] > 4 * b["tp8-etp8"]


def test_largest_batch_halves_when_context_doubles(seed):
    df = C.largest_batch_table(seed, ["tp=1"], [4096, 8192], 256)
    b4, b8 = df["max_batch"]
    assert b8 == pytest.approx(b4 / 2, rel=0.02)


def test_decode_kv_cap_bounds_the_estimate(seed, dsv3):
    for sc, lay in ((seed, "tp=1"), (dsv3, "tp=8"), (dsv3, "tp=1,dp_attn=8,ep=8")):
        df = C.decode_kv_cap_table(sc, lay, [1, 8, 64, 512, 4096], 8192, 256)
        assert (df["decode_tokens_per_s_per_gpu"] <= df["kv_cap_tokens_per_s_per_gpu"]).all()
        assert (df["kv_read_s"] <= df["tpot_s"]).all()
        assert df["kv_read_share"].is_monotonic_increasing
        assert (df["fits"] == (df["batch"] <= df["max_batch"])).all()


def test_decode_kv_cap_by_hand(seed):
    # MHA, tp = pp = 1: the cap is BW * u / KV bytes of one sequence
    hw = seed.hardware
    df = C.decode_kv_cap_table(seed, "tp=1", [1], 8192, 256)
    kv_seq = A.kv_cache_bytes_per_sequence(seed.model, 8192)
    assert df.loc[0, "kv_cap_tokens_per_s_per_gpu"] == pytest.approx(
        hw.hbm_bandwidth_bytes_per_s * hw.bandwidth_utilization / kv_seq)


def test_mla_tp_divides_the_kv_cap(dsv3):
    a = C.decode_kv_cap_table(dsv3, "tp=8", [1], 8192, 256).iloc[0]
    b = C.decode_kv_cap_table(dsv3, "tp=1,dp_attn=8,ep=8", [1], 8192, 256).iloc[0]
    assert b.kv_cap_tokens_per_s_per_gpu == pytest.approx(8 * a.kv_cap_tokens_per_s_per_gpu)


@pytest.mark.parametrize("p, frac, m", [(1, 0.2, 1), (2, 0.5, 1), (4, 0.2, 12), (4, 0.25, 9),
                                        (8, 0.1, 63)])
def test_microbatches_for_bubble(p, frac, m):
    assert C.microbatches_for_bubble(p, frac) == m
    assert f.pipeline_bubble_fraction(p, m) <= frac + 1e-12
    if m > 1:
        assert f.pipeline_bubble_fraction(p, m - 1) > frac


def test_pipeline_latency_table(seed):
    df = C.pipeline_latency_table(seed, "tp=1", [1, 2, 4], [1, 4], 4096)
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
    assert set(C.pipeline_latency_table(sc, "tp=8", [1, 2], [1, 8], 1024)["microbatches"]) == {1}


def test_pipeline_capacity_grows_when_weights_crowd_the_cache(dsv3, seed):
    df = C.pipeline_capacity_table(dsv3, "tp=8", [1, 2, 4], 8192, 256)
    per_gpu = df["max_batch_per_gpu"].to_numpy()
    assert (np.diff(per_gpu) > 0).all()
    w = df["weights_bytes_per_gpu"]
    assert w[1] == pytest.approx(w[0] / 2)
    thr = df["decode_max_batch_tokens_per_s_per_gpu"].to_numpy()
    assert thr[1] > thr[0]
    fixed = df["decode_fixed_batch_tokens_per_s_per_gpu"].to_numpy()
    assert (np.diff(fixed) < 0).all()       # a fixed batch only spreads over more GPUs
    # the seed model's weights are tiny: pp buys no sequences per GPU
    s = C.pipeline_capacity_table(seed, "tp=1", [1, 4], 8192, 256)["max_batch_per_gpu"]
    assert s.iloc[1] == pytest.approx(s.iloc[0], rel=0.05)


def test_kv_per_gpu_vs_tp(dsv3, mixtral):
    df = C.kv_per_gpu_vs_tp_table([dsv3.model, mixtral.model], [1, 2, 8, 16], 8192)
    mla = df[df.attention == "MLA"].set_index("tp")
    gqa = df[df.attention == "GQA"].set_index("tp")
    assert (mla["kv_per_seq_bytes_per_gpu"] == 61 * 576 * 2 * 8192).all()
    assert list(mla["copies"]) == [1, 2, 8, 16]
    assert gqa.loc[8, "kv_per_seq_bytes_per_gpu"] == 32 * 2 * 128 * 1 * 2 * 8192
    assert gqa.loc[8, "copies"] == 1
    assert gqa.loc[16, "copies"] == 2       # past H_kv = 8 heads are replicated
    assert gqa.loc[16, "kv_per_seq_bytes_per_gpu"] == gqa.loc[8, "kv_per_seq_bytes_per_gpu"]


def test_attention_dp_table(dsv3, mixtral):
    lays = ["tp=8", "tp=1,dp_attn=8,ep=8", "tp=8,dp=2"]
    d = C.attention_dp_table(dsv3, lays, 8192, 256).set_index("layout")
    assert d.loc["dp_attn8-ep8", "max_batch_per_gpu"] > 4 * d.loc["tp8-etp8", "max_batch_per_gpu"]
    # replicas change (almost) nothing per GPU; not exactly, because serving.max_running_requests
    # counts the prefill activations of 1/(dp*dp_attn) of a prompt per GPU
    assert d.loc["tp8-etp8-dp2", "max_batch_per_gpu"] == pytest.approx(
        d.loc["tp8-etp8", "max_batch_per_gpu"], rel=0.05)
    assert d.loc["tp8-etp8-dp2", "decode_tokens_per_s_per_gpu"] == pytest.approx(
        d.loc["tp8-etp8", "decode_tokens_per_s_per_gpu"], rel=0.05)
    assert (d["decode_tokens_per_s_per_gpu"] <= d["kv_cap_tokens_per_s_per_gpu"]).all()
    g = C.attention_dp_table(mixtral, lays, 8192, 256).set_index("layout")
    # GQA with tp <= H_kv: tp costs no cache, so tp=8 fits more than attention DP (whose
    # replicated attention weights take memory)
    assert g.loc["tp8-etp8", "max_batch_per_gpu"] >= g.loc["dp_attn8-ep8", "max_batch_per_gpu"]


def test_figures_have_labels(seed, dsv3, mixtral):
    figs = [
        C.plot_largest_batch(C.largest_batch_table(seed, ["tp=1"], [1024, 2048], 256)),
        C.plot_decode_kv_cap(C.decode_kv_cap_table(seed, "tp=1", [1, 4], 2048, 256)),
        C.plot_pipeline(C.pipeline_latency_table(seed, "tp=1", [1, 2], [1, 2], 1024),
                        C.pipeline_capacity_table(seed, "tp=1", [1, 2], 2048, 256), "t"),
        C.plot_attention_dp(C.kv_per_gpu_vs_tp_table([dsv3.model], [1, 2], 1024),
                            C.attention_dp_table(mixtral, ["tp=8"], 2048, 256)),
    ]
    for fig in figs:
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        matplotlib.pyplot.close(fig)


def test_load_model_used_for_tables():
    m, _, _ = load_model("qwen3-30b-a3b")
    df = C.kv_bytes_per_token_table([m], 1024)
    assert df.loc[0, "kv_bytes_per_token"] == 2 * 48 * 4 * 128 * 2
