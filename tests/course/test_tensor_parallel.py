"""Chapter 05 (analysis.course.tensor_parallel): shards, all-reduce algorithms and per-layer times,
by hand and against the estimate."""


import numpy as np
import pytest

from analysis import estimate as E
from analysis.course import tensor_parallel
from analysis.inputs import Strategy
from analysis.inputs.read.scenario import load_model
from tests.course.toys_course import TOY_HW


def test_tp_shard_table_replicates_kv_heads_past_h_kv():
    mix = load_model("mixtral-8x7b")[0]                        # H = 32, H_kv = 8, d_h = 128
    df = tensor_parallel.tp_shard_table(mix, [1, 8, 16, 32]).set_index("tp")
    assert df.loc[16, "kv_heads_per_gpu"] == 1 and df.loc[16, "kv_replication"] == 2
    assert df.loc[32, "kv_replication"] == 4
    # 32 layers * 2 * 128 * 1 head * 2 B = 16,384 B per token per GPU at tp >= 8
    assert df.loc[8, "kv_cache_bytes_per_token_per_gpu"] == 16_384
    assert df.loc[32, "kv_cache_bytes_per_token_per_gpu"] == 16_384
    assert df.loc[1, "all_reduces_per_layer"] == 0 and df.loc[8, "all_reduces_per_layer"] == 2
    seed = tensor_parallel.tp_shard_table(load_model("seed-moe")[0], [16, 32]).set_index("tp")
    assert bool(seed.loc[16, "valid"]) and not bool(seed.loc[32, "valid"])
    assert "16 attention heads" in seed.loc[32, "reason"]


def test_all_reduce_algorithms_by_hand():
    # 4 ranks in a node of 4: W = 100 GB/s, alpha = 1 us. M = 1 MB:
    # bandwidth 2*3/4 * 1e6 / 100e9 = 15 us; ring + 2*3*1 = 21 us; tree + 2*2*1 = 19 us
    df = tensor_parallel.all_reduce_algorithms(TOY_HW, [1e6], [4], E.Options()).iloc[0]
    assert df["ring_s"] == pytest.approx(21e-6)
    assert df["tree_s"] == pytest.approx(19e-6)
    assert df["time_s"] == pytest.approx(19e-6) and df["algorithm"] == "tree"


def test_tp_layer_times_sum_and_match_the_estimate(h100):
    mix = load_model("mixtral-8x7b")[0]
    lt = tensor_parallel.tp_layer_time_table(h100, mix, [1, 2, 4, 8, 16], 64, 2048, 2048)
    parts = lt["compute_s"] + lt["memory_s"] + lt["communication_s"]
    np.testing.assert_allclose(parts, lt["layer_s"], rtol=1e-12)
    # the layer ops of stage_ops divided by L: decode at tp=8
    lay = E.Layouts.from_strategies([Strategy(tp=8, etp=8)])
    ops = E.stage_ops(h100, mix, lay, E.Options(), seqs_per_group=64, query_tokens_per_seq=1,
                      phase="decode", context_tokens=2048)
    per_layer = sum(float(ops[o].time_s[0]) for o in tensor_parallel.LAYER_OPS) / mix.num_layers
    row = lt[(lt.phase == "decode") & (lt.tp == 8)].iloc[0]
    assert row["layer_s"] == pytest.approx(per_layer, rel=1e-12)
    assert lt[lt.phase == "decode"]["communication_s"].iloc[0] == 0      # tp = 1: no all-reduce
    best = tensor_parallel.tp_fastest(lt).set_index("phase")
    assert best.loc["decode", "tp"] == 8                                # past the node it slows
