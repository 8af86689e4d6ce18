"""Hand-worked checks of every formula in analysis.formulas, plus published anchors."""

import math

import numpy as np
import pytest

from analysis.estimate import formulas as f


def test_compute_time_divides_by_derated_peak():
    # 1e12 FLOP on a 100 TFLOP/s chip at 50% MFU: 1e12 / 5e13 = 0.02 s
    assert f.compute_time_s(1e12, 1e14, 0.5) == pytest.approx(0.02)


def test_memory_time_divides_by_derated_bandwidth():
    # 1 GB over 1 TB/s at 80%: 1e9 / 8e11 = 1.25 ms
    assert f.memory_time_s(1e9, 1e12, 0.8) == pytest.approx(1.25e-3)


def test_ring_all_reduce_by_hand():
    # 1 GB over 4 ranks, 100 GB/s, 1 us: 2*3/4 * 1e9/1e11 + 2*3*1e-6 = 0.015 + 6e-6
    assert f.ring_all_reduce_time_s(1e9, 4, 1e11, 1e-6) == pytest.approx(0.015006)
    assert f.ring_all_reduce_time_s(1e9, 1, 1e11, 1e-6) == 0.0


def test_distinct_ranks_per_token_by_hand():
    # 16 ranks, top-2: 16 * (1 - (15/16)^2) = 16 * 0.12109375 = 1.9375
    assert f.distinct_ranks_per_token(16, 2) == pytest.approx(1.9375)
    # one rank: the token visits it once, whatever k
    assert f.distinct_ranks_per_token(1, 8) == pytest.approx(1.0)
    # top-1 always visits exactly one rank
    assert f.distinct_ranks_per_token(64, 1) == pytest.approx(1.0)


def test_distinct_experts_touched_by_hand():
    # 4 of 16 experts on the rank, top-2, one token: 4 * (1 - (1 - 2/16)^1) = 0.5
    assert f.distinct_experts_touched(4, 16, 2, 1) == pytest.approx(0.5)
    # two tokens: 4 * (1 - 0.875^2) = 4 * 0.234375 = 0.9375
    assert f.distinct_experts_touched(4, 16, 2, 2) == pytest.approx(0.9375)
    # a large batch touches every expert on the rank
    assert f.distinct_experts_touched(4, 16, 2, 10_000) == pytest.approx(4.0)


def test_expected_max_load_by_hand():
    # mu = 100 over 4 ranks: 100 + sqrt(2 * 100 * ln 4) = 100 + 16.651...
    assert f.expected_max_load(100, 4) == pytest.approx(100 + math.sqrt(200 * math.log(4)))
    assert f.expected_max_load(100, 1) == pytest.approx(100)


def test_pipeline_bubble_and_steps():
    # p = 4, m = 12: 3 / 15 = 0.2 of the time idle; 15 stage steps
    assert f.pipeline_bubble_fraction(4, 12) == pytest.approx(0.2)
    assert f.pipeline_steps(4, 12) == 15
    assert f.pipeline_bubble_fraction(1, 1) == 0.0


def test_deepseek_v3_ep_bound_decode_anchor():
    # arXiv 2505.09343 sec. 4.3: (1 B dispatch + 2 B combine) x 32 tokens x 9 experts x 7000
    # hidden / 50 GB/s = 120.96 us per layer
    per_layer = f.ep_all_to_all_time_s(32, 9, 7000, 1, 2, 50e9)
    assert per_layer == pytest.approx(120.96e-6)
    # two overlapped micro-batches x 61 layers = 14.76 ms per output token (~67 tokens/s)
    per_token = 2 * 61 * per_layer
    assert per_token == pytest.approx(14.76e-3, rel=1e-3)
    assert 1 / per_token == pytest.approx(67, rel=0.02)  # "about 67 tokens/s": 67.8
    # on a 900 GB/s NVL72 domain: 0.82 ms per token (same source)
    assert 2 * 61 * f.ep_all_to_all_time_s(32, 9, 7000, 1, 2, 900e9) == pytest.approx(
        0.82e-3, rel=0.01)


def test_p2p_and_overlap():
    assert f.p2p_time_s(1e6, 1e9, 1e-6) == pytest.approx(1e-3 + 1e-6)
    # half of 10 ms of comm can hide, but only 2 ms of compute is there to hide it under
    assert f.exposed_comm_time_s(10e-3, 2e-3, 0.5) == pytest.approx(8e-3)
    assert f.exposed_comm_time_s(10e-3, 20e-3, 0.0) == pytest.approx(10e-3)


def test_formulas_work_on_arrays():
    n = np.array([1, 2, 4, 8])
    out = f.ring_all_reduce_time_s(1e6, n, 1e9, 0.0)
    assert out.shape == (4,)
    assert out[0] == 0 and np.all(np.diff(out) > 0)


def test_tree_all_reduce_has_logarithmic_latency():
    # 1 KB over 64 ranks at 50 GB/s, 5 us: ring latency 2 * 63 * 5 us = 630 us; tree
    # 2 * log2(64) * 5 us = 60 us; both carry 2 * 63/64 * 1000 B / 50e9 = 39.4 ns of bandwidth
    bw = 2 * 63 / 64 * 1000 / 50e9
    assert f.ring_all_reduce_time_s(1000, 64, 50e9, 5e-6) == pytest.approx(bw + 630e-6)
    assert f.tree_all_reduce_time_s(1000, 64, 50e9, 5e-6) == pytest.approx(bw + 60e-6)
    assert f.all_reduce_time_s(1000, 64, 50e9, 5e-6) == pytest.approx(bw + 60e-6)
    # 3 ranks: tree depth ceil(log2 3) = 2 -> 4 alpha, ring 2 * 2 alpha: equal
    assert f.tree_all_reduce_time_s(0, 3, 1e9, 1e-6) == pytest.approx(4e-6)
    assert f.tree_all_reduce_time_s(1e9, 1, 1e9, 1e-6) == 0.0


def test_distinct_ranks_exact_by_hand():
    # Mixtral: 8 experts, top-2, one expert per rank over 8 ranks: two distinct experts are
    # always on two distinct ranks
    assert f.distinct_ranks_per_token_exact(8, 8, 2) == pytest.approx(2.0)
    # 16 experts over 4 ranks (4 each), top-2: a rank is missed with C(12,2)/C(16,2) = 66/120
    assert f.distinct_ranks_per_token_exact(4, 16, 2) == pytest.approx(4 * (1 - 66 / 120))
    # one rank: always visited once
    assert f.distinct_ranks_per_token_exact(1, 16, 2) == pytest.approx(1.0)
    # many experts per rank: approaches the with-replacement formula from above
    exact = f.distinct_ranks_per_token_exact(8, 4096, 8)
    approx = f.distinct_ranks_per_token(8, 8)
    assert exact >= approx and exact == pytest.approx(approx, rel=0.01)


def test_busiest_rank_experts_touched_by_hand():
    # Mixtral (E = 8, k = 2) on EP8, one token: each rank holds n = 1 expert, touched with
    # p = 2/8; the busiest of 8 ranks: 1 - (3/4)^8 = 0.8999 against a mean of 0.25 (3.6x)
    assert f.busiest_rank_experts_touched(1, 8, 2, 1, 8) == pytest.approx(1 - 0.75 ** 8)
    # two experts per rank, p = 1/2 (E = 4, k = 2, T = 1), 2 ranks: a rank's count is
    # Binomial(2, 1/2), F(0) = 1/4, F(1) = 3/4: E[max] = (1 - 1/16) + (1 - 9/16) = 1.375
    assert f.busiest_rank_experts_touched(2, 4, 2, 1, 2) == pytest.approx(1.375)
    # one rank: the mean rank's count, n p (= distinct_experts_touched)
    assert f.busiest_rank_experts_touched(4, 16, 2, 1, 1) == pytest.approx(
        f.distinct_experts_touched(4, 16, 2, 1))
    # many tokens: every expert on every rank is touched
    assert f.busiest_rank_experts_touched(32, 256, 8, 1e5, 8) == pytest.approx(32.0)


@pytest.mark.parametrize("experts,top_k,tokens,ranks", [(8, 2, 4, 8), (256, 8, 16, 64),
                                                         (128, 8, 8, 16), (64, 6, 32, 8)])
def test_busiest_rank_experts_touched_against_simulated_routing(experts, top_k, tokens, ranks):
    # seeded Monte Carlo of the routing: each token picks top_k distinct experts uniformly;
    # experts sit in contiguous blocks of E / N per rank; average the busiest rank's count
    rng = np.random.default_rng(12)
    n = experts // ranks
    trials = 3000
    busiest = 0.0
    for _ in range(trials):
        picks = np.argsort(rng.random((tokens, experts)), axis=1)[:, :top_k]
        touched = np.zeros(experts, dtype=bool)
        touched[picks.ravel()] = True
        busiest += touched.reshape(ranks, n).sum(axis=1).max()
    assert f.busiest_rank_experts_touched(n, experts, top_k, tokens, ranks) == pytest.approx(
        busiest / trials, rel=0.02)


def test_units_touched_under_group_limited_routing_by_hand():
    # DeepSeek-V3: 256 experts in 8 groups of 32, a token's top-8 from 4 groups (2 per group)
    # one unit per group (8 nodes of 32 experts): 8 x (1 - C(7, 4) / C(8, 4)) = 8 x 1/2 = 4
    assert f.units_touched_per_token(8, 256, 8, 8, 4) == pytest.approx(4.0)
    # 4 units of 2 groups each: 4 x (1 - C(6, 4) / C(8, 4)) = 4 x (1 - 15/70) = 22/7
    assert f.units_touched_per_token(4, 256, 8, 8, 4) == pytest.approx(22 / 7)
    # 16 units of 16 experts (two per group): 16 x 4/8 x (1 - C(16, 2) / C(32, 2))
    assert f.units_touched_per_token(16, 256, 8, 8, 4) == pytest.approx(8 * (1 - 120 / 496))
    # no group limit: the unlimited hypergeometric count
    assert f.units_touched_per_token(16, 256, 8) == pytest.approx(
        f.distinct_ranks_per_token_exact(16, 256, 8))
    assert f.units_touched_per_token(1, 256, 8, 8, 4) == pytest.approx(1.0)


@pytest.mark.parametrize("units", [2, 4, 8, 16, 32, 64])
def test_units_touched_against_simulated_deepseek_routing(units):
    # DeepSeek-V3's routing with random scores (inference/model.py Gate): a group's score is the
    # sum of its top-2 expert scores, the top-4 of 8 groups are kept, the top-8 experts of those
    # are chosen; units hold contiguous blocks of 256 / N experts. Our closed form assumes 2
    # picks per chosen group: it overestimates the spread by at most 6% (at N = 16).
    rng = np.random.default_rng(3)
    experts, groups, kept, k = 256, 8, 4, 8
    trials, total = 2000, 0
    for _ in range(trials):
        s = rng.random(experts)
        group_score = np.sort(s.reshape(groups, -1), axis=1)[:, -2:].sum(axis=1)
        keep = np.zeros(experts, dtype=bool)
        for g in np.argsort(-group_score)[:kept]:
            keep[g * 32:(g + 1) * 32] = True
        picks = np.argsort(-np.where(keep, s, -1.0))[:k]
        total += len(set((picks // (experts // units)).tolist()))
    simulated = total / trials
    ours = float(f.units_touched_per_token(units, experts, k, groups, kept))
    assert simulated <= ours <= simulated * 1.065
