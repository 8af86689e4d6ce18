"""Chapter 06 (analysis.course.expert_parallel): destinations, dispatch, imbalance and touched
experts, by hand and against the estimate and a published anchor."""

import math

import numpy as np
import pytest

from analysis import estimate as E
from analysis.course import expert_parallel
from analysis.estimate import formulas as f
from analysis.inputs.read.mapping import hardware_from_ref
from analysis.inputs.read.scenario import load_model
from tests.course.toys_course import TOY, TOY_HW


def test_distinct_ranks_exact_by_hand():
    # E = 8, k = 2, N = 4 (2 experts per rank): miss = C(6,2)/C(8,2) = 15/28;
    # 4 * (1 - 15/28) = 13/7 = 1.857 (independent draws: 4 * (1 - 9/16) = 1.75)
    assert expert_parallel.distinct_ranks_exact(4, 8, 2) == pytest.approx(13 / 7)
    assert f.distinct_ranks_per_token(4, 2) == pytest.approx(1.75)
    # one expert per rank: k
    assert expert_parallel.distinct_ranks_exact(256, 256, 8) == pytest.approx(8.0)


def test_destinations_split_at_the_node_boundary():
    df = expert_parallel.destinations_table(TOY, [4, 8], 4).set_index("ep")
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
    # within: 10 * 0.75 * 100 * 4 / 100e9 + 2 us = 2.03 us -> 20.4 us, plus the fixed cost of
    # the dispatch and the combine kernels (2 x 3 us, derated mode, issue 12) = 26.4 us
    df = expert_parallel.ep_dispatch_table(TOY_HW, TOY, [1, 3, 4, 8], 10).set_index("ep")
    assert 3 not in df.index                                         # 3 does not divide E = 8
    assert df.loc[8, "inter_s"] == pytest.approx(20.4e-6)
    assert df.loc[8, "intra_s"] == pytest.approx(2.03e-6)
    assert df.loc[8, "overhead_s"] == pytest.approx(6e-6)
    assert df.loc[8, "layer_s"] == pytest.approx(26.4e-6)           # estimate.stage_ops' own value
    np.testing.assert_allclose(df["layer_s"], np.maximum(df["intra_s"], df["inter_s"])
                               + df["overhead_s"], rtol=1e-12)
    assert df.loc[1, "layer_s"] == 0


def test_deepseek_anchor_through_the_table():
    # arXiv 2505.09343 sec. 4.3: 32 tokens x 9 destinations x 7000 x (1 + 2) B / 50 GB/s
    assert f.ep_all_to_all_time_s(32, 9, 7000, 1, 2, 50e9) == pytest.approx(120.96e-6)
    ds = load_model("deepseek-v3")[0]
    h800 = hardware_from_ref("H800")[0]
    from dataclasses import replace
    raw = replace(h800, scaleup_efficiency=1.0, scaleout_efficiency=1.0)
    opts = E.Options(dispatch_bytes_per_element=1, combine_bytes_per_element=2,
                     kernel_overhead_s=0.0)
    # the paper's arithmetic routes uniformly; DeepSeek-V3's group limit (topk_group 4 of
    # n_group 8) only lowers the destinations, checked below
    uniform = replace(ds, n_group=0, topk_group=0)
    row = expert_parallel.ep_dispatch_table(raw, uniform, [64], 32, opts).iloc[0]
    # our destinations: 64 (1 - C(252, 8) / C(256, 8)) * 56/64 off-node, D = 7168, + 2 x 5 us
    inter = 64 * (1 - math.comb(252, 8) / math.comb(256, 8)) * 56 / 64
    assert row["layer_s"] == pytest.approx(32 * inter * 7168 * 3 / 50e9 + 10e-6, rel=1e-9)
    assert row["layer_s"] < 120.96e-6                               # below the paper's upper bound
    limited = expert_parallel.ep_dispatch_table(raw, ds, [64], 32, opts).iloc[0]
    assert limited["layer_s"] <= row["layer_s"]


def test_imbalance_formula_by_hand_and_simulation_deterministic():
    # N = 64, mu = 256: 256 + sqrt(2 * 256 * ln 64) = 256 + 46.14
    df = expert_parallel.imbalance_table([256], [64], samples=50, seed=1)
    assert df["expected_max_pairs"].iloc[0] == pytest.approx(256 + math.sqrt(512 * math.log(64)))
    again = expert_parallel.imbalance_table([256], [64], samples=50, seed=1)
    assert df["simulated_max_pairs"].iloc[0] == again["simulated_max_pairs"].iloc[0]
    # the formula is conservative at moderate N and mu
    big = expert_parallel.imbalance_table([64, 256], [8, 64], samples=200)
    assert (big["imbalance_factor"] > big["simulated_factor"]).all()


def test_balance_tokens_per_gpu_by_hand():
    # DeepSeek-V3, N = 64, 10%: mu = 2 ln 64 / 0.01 = 831.8 pairs; T = ceil(831.8 / 8) = 104
    ds = load_model("deepseek-v3")[0]
    row = expert_parallel.balance_tokens_per_gpu(ds, 64, 1.1).iloc[0]
    assert row["mean_pairs"] == pytest.approx(200 * math.log(64))
    assert row["tokens_per_gpu"] == 104 and row["batch_sequences"] == 104 * 64
    # R = 32: s = 256/288, mu = 831.8 * s^2 = 657.2; T = 83; and it agrees with the estimate
    r = expert_parallel.balance_tokens_per_gpu(ds, 64, 1.1, 32).iloc[0]
    assert r["tokens_per_gpu"] == 83
    busiest = E.busiest_rank_load(r["mean_pairs"], 64, ds, 32, E.Options())
    assert float(busiest) / r["mean_pairs"] == pytest.approx(1.1)


def test_touched_experts_by_hand():
    # E = 8, k = 2, N = 2 (4 experts per rank), T = 2: 4 * (1 - (3/4)^2) = 1.75
    df = expert_parallel.touched_experts_table(TOY, 2, [2, 1000]).set_index("tokens")
    assert df.loc[2.0, "touched_experts"] == pytest.approx(1.75)
    assert df.loc[1000.0, "touched_fraction"] == pytest.approx(1.0)
    assert df.loc[2.0, "expert_bytes_read"] == pytest.approx(1.75 * 40_000 * 2)
