"""The course module (analysis.course): each closed form worked by hand on round numbers, and
each table tied to the estimate it explains (estimate.stage_ops)."""

import math

import numpy as np
import pytest

from analysis import estimate as E
from analysis.course import course_a as C
from analysis.estimate import formulas as f
from analysis.inputs import Attention, Hardware, Model, Strategy
from analysis.inputs.read.mapping import hardware_from_ref
from analysis.inputs.read.scenario import load_model

# A toy chip with round numbers: 100 TFLOP/s bf16, 1 TB/s HBM -> ridge 100 FLOP/B (speed of
# light); MFU 0.5, utilisation 0.5 -> derated ridge 100 too. NVLink 100 GB/s, 4 GPUs per node,
# scale-out 10 GB/s, latencies 1 us / 10 us, link efficiency 1.
TOY_HW = Hardware("toy", (("bf16", 100e12),), 80e9, 1e12, gpus_per_node=4,
                  scaleup_bandwidth_bytes_per_s=100e9, scaleout_bandwidth_bytes_per_s=10e9,
                  scaleup_latency_s=1e-6, scaleout_latency_s=10e-6, mfu=0.5,
                  bandwidth_utilization=0.5, scaleup_efficiency=1.0, scaleout_efficiency=1.0)
# A toy MoE: D = 100, F = 200, plain MLP (P = 2 * 100 * 200 = 40,000 per expert), E = 8, k = 2,
# MHA 4 heads of 25, bf16.
TOY = Model("toy-moe", 2, 100, Attention("gqa", 4, 4, 25), vocab_size=1000, ffn_gated=False,
            num_experts=8, top_k=2, expert_intermediate_size=200)


@pytest.fixture(scope="module")
def h100():
    return hardware_from_ref("H100-SXM")[0]


def test_ridge_points_by_hand():
    r = C.ridge_points(TOY_HW, "bf16").set_index("mode")["ridge_flops_per_byte"]
    assert r["sol"] == pytest.approx(100.0)                  # 100e12 / 1e12
    assert r["derated"] == pytest.approx(100.0)              # (100e12 * 0.5) / (1e12 * 0.5)


def test_intensity_of_one_expert_by_hand():
    # P = 40,000, w = 2, c = (2*100 + 2*1*200) * 2 = 1,200 B per token.
    # T = 100: 2*100*40,000 / (40,000*2 + 100*1,200) = 8e6 / 200,000 = 40 FLOP/B
    df = C.intensity_table(TOY, [1, 100])
    e = df[df.op == "routed_expert"].set_index("tokens")
    assert e.loc[100.0, "intensity_flops_per_byte"] == pytest.approx(40.0)
    assert e.loc[1.0, "weights_only_intensity_flops_per_byte"] == pytest.approx(1.0)  # 2T/w


def test_compute_bound_batch_by_hand():
    # T* = I* P w / (2P - I* c) = 100 * 40,000 * 2 / (80,000 - 120,000) < 0: never compute-bound
    df = C.compute_bound_batch(TOY_HW, TOY)
    e = df[df.op == "routed_expert"]
    assert (e["tokens_per_weight_read"] == math.inf).all()
    # a chip with ridge 10: T* = 10 * 80,000 / (80,000 - 12,000) = 11.76 tokens per expert,
    # B* = ceil(11.76 * 8 / 2) = ceil(47.06) = 48 sequences
    hw = Hardware("toy10", (("bf16", 10e12),), 80e9, 1e12, mfu=1.0, bandwidth_utilization=1.0)
    e = C.compute_bound_batch(hw, TOY).query("op == 'routed_expert' and mode == 'sol'").iloc[0]
    assert e["tokens_per_weight_read"] == pytest.approx(800_000 / 68_000)
    assert e["decode_batch"] == 48


@pytest.mark.parametrize("model", ["seed-moe", "mixtral-8x7b", "deepseek-v3", "qwen3-30b-a3b"])
def test_compute_bound_batch_is_where_the_estimate_flips(h100, model):
    m = load_model(model)[0]
    b = int(C.compute_bound_batch(h100, m).query(
        "op == 'routed_expert' and mode == 'derated'")["decode_batch"].iloc[0])
    check = C.expert_bound_check(h100, m, b, 2048)
    assert check["bound"].tolist() == ["memory", "compute"]


def test_phase_intensity_matches_intensity_table():
    p = C.phase_intensity_table(TOY_HW, TOY, 4, 100).set_index(["op", "phase"])
    assert p.loc[("routed_expert", "decode"), "tokens"] == pytest.approx(1.0)      # 4 * 2/8
    assert p.loc[("routed_expert", "prefill"), "tokens"] == pytest.approx(100.0)   # 4*100*2/8
    assert p.loc[("routed_expert", "prefill"), "intensity_flops_per_byte"] == pytest.approx(40.0)
    assert p.loc[("routed_expert", "prefill"), "bound"] == "memory"


def test_tp_shard_table_replicates_kv_heads_past_h_kv():
    mix = load_model("mixtral-8x7b")[0]                        # H = 32, H_kv = 8, d_h = 128
    df = C.tp_shard_table(mix, [1, 8, 16, 32]).set_index("tp")
    assert df.loc[16, "kv_heads_per_gpu"] == 1 and df.loc[16, "kv_replication"] == 2
    assert df.loc[32, "kv_replication"] == 4
    # 32 layers * 2 * 128 * 1 head * 2 B = 16,384 B per token per GPU at tp >= 8
    assert df.loc[8, "kv_cache_bytes_per_token_per_gpu"] == 16_384
    assert df.loc[32, "kv_cache_bytes_per_token_per_gpu"] == 16_384
    assert df.loc[1, "all_reduces_per_layer"] == 0 and df.loc[8, "all_reduces_per_layer"] == 2
    seed = C.tp_shard_table(load_model("seed-moe")[0], [16, 32]).set_index("tp")
    assert bool(seed.loc[16, "valid"]) and not bool(seed.loc[32, "valid"])
    assert "16 attention heads" in seed.loc[32, "reason"]


def test_all_reduce_algorithms_by_hand():
    # 4 ranks in a node of 4: W = 100 GB/s, alpha = 1 us. M = 1 MB:
    # bandwidth 2*3/4 * 1e6 / 100e9 = 15 us; ring + 2*3*1 = 21 us; tree + 2*2*1 = 19 us
    df = C.all_reduce_algorithms(TOY_HW, [1e6], [4], E.Options()).iloc[0]
    assert df["ring_s"] == pytest.approx(21e-6)
    assert df["tree_s"] == pytest.approx(19e-6)
    assert df["time_s"] == pytest.approx(19e-6) and df["algorithm"] == "tree"


def test_tp_layer_times_sum_and_match_the_estimate(h100):
    mix = load_model("mixtral-8x7b")[0]
    lt = C.tp_layer_time_table(h100, mix, [1, 2, 4, 8, 16], 64, 2048, 2048)
    parts = lt["compute_s"] + lt["memory_s"] + lt["communication_s"]
    np.testing.assert_allclose(parts, lt["layer_s"], rtol=1e-12)
    # the layer ops of stage_ops divided by L: decode at tp=8
    lay = E.Layouts.from_strategies([Strategy(tp=8, etp=8)])
    ops = E.stage_ops(h100, mix, lay, E.Options(), seqs_per_group=64, query_tokens_per_seq=1,
                      phase="decode", context_tokens=2048)
    per_layer = sum(float(ops[o].time_s[0]) for o in C.LAYER_OPS) / mix.num_layers
    row = lt[(lt.phase == "decode") & (lt.tp == 8)].iloc[0]
    assert row["layer_s"] == pytest.approx(per_layer, rel=1e-12)
    assert lt[lt.phase == "decode"]["communication_s"].iloc[0] == 0      # tp = 1: no all-reduce
    best = C.tp_fastest(lt).set_index("phase")
    assert best.loc["decode", "tp"] == 8                                # past the node it slows


def test_distinct_ranks_exact_by_hand():
    # E = 8, k = 2, N = 4 (2 experts per rank): miss = C(6,2)/C(8,2) = 15/28;
    # 4 * (1 - 15/28) = 13/7 = 1.857 (independent draws: 4 * (1 - 9/16) = 1.75)
    assert C.distinct_ranks_exact(4, 8, 2) == pytest.approx(13 / 7)
    assert f.distinct_ranks_per_token(4, 2) == pytest.approx(1.75)
    assert C.distinct_ranks_exact(256, 256, 8) == pytest.approx(8.0)   # one expert per rank: k


def test_destinations_split_at_the_node_boundary():
    df = C.destinations_table(TOY, [4, 8], 4).set_index("ep")
    # N = 8 = E, g = 4: one expert per rank, so 2 distinct experts visit exactly 2 ranks
    # (k independent draws would say 8 * (1 - (7/8)^2) = 1.875); in node 3/8, across 4/8
    assert df.loc[8, "destinations"] == pytest.approx(2.0)
    assert df.loc[8, "destinations_approx"] == pytest.approx(1.875)
    assert df.loc[8, "intra_node_destinations"] == pytest.approx(2.0 * 3 / 8)
    assert df.loc[8, "inter_node_destinations"] == pytest.approx(2.0 * 4 / 8)
    assert df.loc[4, "inter_node_destinations"] == 0


def test_ep_dispatch_by_hand_and_against_the_estimate():
    # ep = 8 on 4-GPU nodes, T = 10 tokens, D = 100, bf16 both ways (4 B per element round trip):
    # 2 destinations (see above), 1.0 across nodes and 0.75 within:
    # across: 10 * 1.0 * 100 * 4 / 10e9 + 2 * 10 us = 0.4 us + 20 us = 20.4 us;
    # within: 10 * 0.75 * 100 * 4 / 100e9 + 2 us = 2.03 us -> layer 20.4 us
    df = C.ep_dispatch_table(TOY_HW, TOY, [1, 3, 4, 8], 10).set_index("ep")
    assert 3 not in df.index                                         # 3 does not divide E = 8
    assert df.loc[8, "inter_s"] == pytest.approx(20.4e-6)
    assert df.loc[8, "intra_s"] == pytest.approx(2.03e-6)
    assert df.loc[8, "layer_s"] == pytest.approx(20.4e-6)           # estimate.stage_ops' own value
    np.testing.assert_allclose(df["layer_s"], np.maximum(df["intra_s"], df["inter_s"]), rtol=1e-12)
    assert df.loc[1, "layer_s"] == 0


def test_deepseek_anchor_through_the_table():
    # arXiv 2505.09343 sec. 4.3: 32 tokens x 9 destinations x 7000 x (1 + 2) B / 50 GB/s
    assert f.ep_all_to_all_time_s(32, 9, 7000, 1, 2, 50e9) == pytest.approx(120.96e-6)
    ds = load_model("deepseek-v3")[0]
    h800 = hardware_from_ref("H800")[0]
    from dataclasses import replace
    raw = replace(h800, scaleup_efficiency=1.0, scaleout_efficiency=1.0)
    opts = E.Options(dispatch_bytes_per_element=1, combine_bytes_per_element=2)
    row = C.ep_dispatch_table(raw, ds, [64], 32, opts).iloc[0]
    # our destinations: 64 (1 - C(252, 8) / C(256, 8)) * 56/64 off-node, D = 7168, + 2 x 5 us
    inter = 64 * (1 - math.comb(252, 8) / math.comb(256, 8)) * 56 / 64
    assert row["layer_s"] == pytest.approx(32 * inter * 7168 * 3 / 50e9 + 10e-6, rel=1e-9)
    assert row["layer_s"] < 120.96e-6                               # below the paper's upper bound


def test_imbalance_formula_by_hand_and_simulation_deterministic():
    # N = 64, mu = 256: 256 + sqrt(2 * 256 * ln 64) = 256 + 46.14
    df = C.imbalance_table([256], [64], samples=50, seed=1)
    assert df["expected_max_pairs"].iloc[0] == pytest.approx(256 + math.sqrt(512 * math.log(64)))
    again = C.imbalance_table([256], [64], samples=50, seed=1)
    assert df["simulated_max_pairs"].iloc[0] == again["simulated_max_pairs"].iloc[0]
    # the formula is conservative at moderate N and mu
    big = C.imbalance_table([64, 256], [8, 64], samples=200)
    assert (big["imbalance_factor"] > big["simulated_factor"]).all()


def test_balance_tokens_per_gpu_by_hand():
    # DeepSeek-V3, N = 64, 10%: mu = 2 ln 64 / 0.01 = 831.8 pairs; T = ceil(831.8 / 8) = 104
    ds = load_model("deepseek-v3")[0]
    row = C.balance_tokens_per_gpu(ds, 64, 1.1).iloc[0]
    assert row["mean_pairs"] == pytest.approx(200 * math.log(64))
    assert row["tokens_per_gpu"] == 104 and row["batch_sequences"] == 104 * 64
    # R = 32: s = 256/288, mu = 831.8 * s^2 = 657.2; T = 83; and it agrees with the estimate
    r = C.balance_tokens_per_gpu(ds, 64, 1.1, 32).iloc[0]
    assert r["tokens_per_gpu"] == 83
    busiest = E.busiest_rank_load(r["mean_pairs"], 64, ds, 32, E.Options())
    assert float(busiest) / r["mean_pairs"] == pytest.approx(1.1)


def test_touched_experts_by_hand():
    # E = 8, k = 2, N = 2 (4 experts per rank), T = 2: 4 * (1 - (3/4)^2) = 1.75
    df = C.touched_experts_table(TOY, 2, [2, 1000]).set_index("tokens")
    assert df.loc[2.0, "touched_experts"] == pytest.approx(1.75)
    assert df.loc[1000.0, "touched_fraction"] == pytest.approx(1.0)
    assert df.loc[2.0, "expert_bytes_read"] == pytest.approx(1.75 * 40_000 * 2)
