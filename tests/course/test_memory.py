"""Chapter 02 (analysis.course.memory): KV bytes per token, the largest batch and the KV cap on
decode, by hand and against serving and the estimate."""

import math

import pytest

from analysis import anatomy as A
from analysis import estimate as E
from analysis.course import memory
from analysis.estimate import serving
from analysis.inputs import Strategy
from analysis.inputs.read.scenario import load_model


def test_kv_bytes_per_token_by_hand(seed, dsv3, mixtral):
    df = memory.kv_bytes_per_token_table([seed.model, mixtral.model, dsv3.model], 8192)
    # seed: MHA, 2 * 16 layers * 16 heads * 32 * 2 B (fp16)
    assert df.loc[0, "attention"] == "MHA" and df.loc[0, "kv_bytes_per_token"] == 32_768
    # Mixtral: GQA, 2 * 32 * 8 * 128 * 2 B = 131,072 B; 4x less than MHA (32 heads)
    assert df.loc[1, "kv_bytes_per_token"] == 131_072 and df.loc[1, "saving_vs_mha"] == 4
    # DeepSeek-V3: MLA, 61 * (512 + 64) * 2 B = 70,272 B (arXiv 2505.09343, Table 1)
    assert df.loc[2, "kv_bytes_per_token"] == 70_272
    assert df.loc[2, "formula"].endswith("= 70,272")
    assert df.loc[2, "kv_per_sequence_bytes"] == 70_272 * 8192


def test_largest_batch_matches_serving_and_arithmetic(dsv3):
    df = memory.largest_batch_table(dsv3, ["tp=8", "tp=1,dp_attn=8,ep=8"], [4096, 8192], 256)
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
    df = memory.largest_batch_table(seed, ["tp=1"], [4096, 8192], 256)
    b4, b8 = df["max_batch"]
    assert b8 == pytest.approx(b4 / 2, rel=0.02)


def test_decode_kv_cap_bounds_the_estimate(seed, dsv3):
    for sc, lay in ((seed, "tp=1"), (dsv3, "tp=8"), (dsv3, "tp=1,dp_attn=8,ep=8")):
        df = memory.decode_kv_cap_table(sc, lay, [1, 8, 64, 512, 4096], 8192, 256)
        assert (df["decode_tokens_per_s_per_gpu"] <= df["kv_cap_tokens_per_s_per_gpu"]).all()
        assert (df["kv_read_s"] <= df["tpot_s"]).all()
        assert df["kv_read_share"].is_monotonic_increasing
        assert (df["fits"] == (df["batch"] <= df["max_batch"])).all()


def test_decode_kv_cap_by_hand(seed):
    # MHA, tp = pp = 1: the cap is BW * u / KV bytes of one sequence
    hw = seed.hardware
    df = memory.decode_kv_cap_table(seed, "tp=1", [1], 8192, 256)
    kv_seq = A.kv_cache_bytes_per_sequence(seed.model, 8192)
    assert df.loc[0, "kv_cap_tokens_per_s_per_gpu"] == pytest.approx(
        hw.hbm_bandwidth_bytes_per_s * hw.bandwidth_utilization / kv_seq)


def test_mla_tp_divides_the_kv_cap(dsv3):
    a = memory.decode_kv_cap_table(dsv3, "tp=8", [1], 8192, 256).iloc[0]
    b = memory.decode_kv_cap_table(dsv3, "tp=1,dp_attn=8,ep=8", [1], 8192, 256).iloc[0]
    assert b.kv_cap_tokens_per_s_per_gpu == pytest.approx(8 * a.kv_cap_tokens_per_s_per_gpu)


def test_load_model_used_for_tables():
    m, _, _ = load_model("qwen3-30b-a3b")
    df = memory.kv_bytes_per_token_table([m], 1024)
    assert df.loc[0, "kv_bytes_per_token"] == 2 * 48 * 4 * 128 * 2
