"""Expert-load skew (issue 12): Zipf popularity, replication of the hottest experts, and the
busiest EP rank's expected load, by hand and against a seeded Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import estimate as E
from analysis.estimate.skew import (
    assign_instances,
    place_instances,
    replicate_hottest,
    zipf_busiest_rank_experts_touched,
    zipf_busiest_rank_load,
    zipf_expert_shares,
)
from analysis.inputs.errors import InputError


def test_zipf_shares_by_hand():
    # s = 1, E = 4: weights 1, 1/2, 1/3, 1/4, sum 25/12 -> 12/25, 6/25, 4/25, 3/25
    assert zipf_expert_shares(4, 1.0) == pytest.approx([12 / 25, 6 / 25, 4 / 25, 3 / 25])
    assert zipf_expert_shares(4, 0.0) == pytest.approx([0.25] * 4)


def test_replicas_go_to_the_hottest_and_placement_by_hand():
    # shares 12, 6, 4, 3 (/25), 4 redundant copies one at a time to the highest per-copy
    # share (ties to the first): 12 -> expert 1 (6, 6, 4, 3); 6 -> expert 1 (4, 6, 4, 3);
    # 6 -> expert 2 (4, 3, 4, 3); 4 -> expert 1 (3, 3, 4, 3): copies (4, 2, 1, 1)
    p = zipf_expert_shares(4, 1.0)
    c = replicate_hottest(p, 4)
    assert c.tolist() == [4, 2, 1, 1] and c.sum() == 8
    # 8 instances (4 and seven 3s, /25) on 2 ranks of 4 slots, largest first to the lighter
    # rank with a free slot: 4 | 3, 3 | 3, 3 | 3, 3 | then the full rank is skipped:
    # loads 4 + 3 + 3 + 3 = 13 and 3 + 3 + 3 + 3 = 12 (/25)
    load = place_instances(p, c, 2)
    assert sorted((load * 25).round(9).tolist()) == [12.0, 13.0]


def test_without_skew_or_copies_it_is_the_uniform_expected_maximum():
    # s = 0, R = 0: every rank expects the mean, so the busiest is mu + sqrt(2 mu ln N)
    got = zipf_busiest_rank_load(512.0, 8, 64, 0, 0.0)
    assert float(got) == pytest.approx(float(E.formulas.expected_max_load(512.0, 8)))


def _monte_carlo(mean, ep, experts, redundant, s, trials=60, seed=0):
    """Routed pairs drawn from the Zipf shares, each split uniformly over its expert's copies,
    placed as place_instances places them; the mean over trials of the busiest rank."""
    rng = np.random.default_rng(seed)
    p = zipf_expert_shares(experts, s)
    c = replicate_hottest(p, redundant)
    owner = np.repeat(np.arange(experts), c)
    share = np.repeat(p / c, c)
    rank_of = np.empty(len(owner), dtype=int)
    load, free = np.zeros(ep), np.full(ep, len(owner) // ep)
    for j in np.argsort(-share, kind="stable"):
        r = int(np.argmin(np.where(free > 0, load, np.inf)))
        load[r] += share[j]
        free[r] -= 1
        rank_of[j] = r
    busiest = []
    for _ in range(trials):
        counts = np.bincount(rng.choice(experts, size=int(mean * ep), p=p), minlength=experts)
        per_rank = np.zeros(ep)
        for e in range(experts):
            copies = np.flatnonzero(owner == e)
            per_rank[rank_of[copies]] += rng.multinomial(counts[e], [1 / len(copies)] * len(copies))
        busiest.append(per_rank.max())
    return float(np.mean(busiest))


@pytest.mark.parametrize("mean, ep, experts, redundant, s", [
    (512, 8, 64, 0, 1.0),     # skewed, no copies: the hottest expert's rank sets the step
    (512, 8, 64, 16, 1.0),    # 16 copies on the hottest experts flatten it
    (256, 32, 256, 32, 0.8),  # DeepSeek-like: 256 experts, 32 redundant, EP32
])
def test_busiest_rank_against_a_seeded_monte_carlo(mean, ep, experts, redundant, s):
    # the per-rank Gaussian maximum is a little above the simulated mean maximum (measured:
    # +6.5%, +2.7%, +2.7%); within 8%, never below by more than 2%
    got = float(zipf_busiest_rank_load(mean, ep, experts, redundant, s))
    sim = _monte_carlo(mean, ep, experts, redundant, s)
    assert got == pytest.approx(sim, rel=0.08)
    assert got >= 0.98 * sim


def test_zipf_option_reaches_the_estimate_and_copies_help():
    # toy MoE (4 experts, top-2) on EP2 under s = 1: the busiest rank carries more than under
    # uniform routing's heuristic at large batch; 2 redundant copies (on the hottest) cut it
    from analysis.estimate.context import busiest_rank_load
    from tests.toys import TOY_MOE
    opts = E.Options(imbalance="zipf", skew=1.0)
    no_copy = float(busiest_rank_load(np.array([1000.0]), np.array([2]), TOY_MOE,
                                      np.array([0]), opts)[0])
    copies = float(busiest_rank_load(np.array([1000.0]), np.array([2]), TOY_MOE,
                                     np.array([2]), opts)[0])
    # by hand: shares 12, 6, 4, 3 (/25) on 2 ranks of 2 slots: 12+3 | 6+4 -> the busiest
    # expects 2 x 1000 x 15/25 = 1200, + sqrt(2 x 1200 x ln 2) = 40.8 -> 1240.8
    assert no_copy == pytest.approx(1200 + np.sqrt(2 * 1200 * np.log(2)))
    assert copies < no_copy
    assert "Zipf" in opts.describe()
    with pytest.raises(InputError, match="options.skew"):
        E.Options(imbalance="zipf", skew=-1)


# --- experts touched on the busiest rank under Zipf popularity (decode weight reads) ---------

def test_touched_experts_under_zipf_by_hand():
    # E = 4, s = 1: shares 12, 6, 4, 3 (/25); no copies on 2 ranks of 2 slots: 12 -> rank 0,
    # 6 -> rank 1, 4 -> rank 1 (lighter), 3 -> rank 0 (rank 1 full): {12, 3} | {6, 4}
    p = zipf_expert_shares(4, 1.0)
    assert assign_instances(p, 2).tolist() == [0, 1, 1, 0]
    # k = 1, T = 1: instance j touched with q_j = p_j. Rank counts as independent Bernoulli
    # sums: P(X0 = 0) = 13/25 * 22/25 = 286/625, P(X1 = 0) = 19/25 * 21/25 = 399/625,
    # P(X0 <= 1) = 1 - 12*3/625 = 589/625, P(X1 <= 1) = 1 - 6*4/625 = 601/625;
    # E[max] = (1 - 286*399/625^2) + (1 - 589*601/625^2) = 313147/390625 = 0.8017 (the true
    # value is 1: one pick touches exactly one expert; the independence approximation is
    # weakest at one token, see the Monte Carlo below for real batch sizes)
    assert float(zipf_busiest_rank_experts_touched(1, 2, 4, 1, 0, 1.0)) == pytest.approx(
        313147 / 390625)
    # one rank: the expected count sum_j q_j = 1 exactly (one token, one pick)
    assert float(zipf_busiest_rank_experts_touched(1, 1, 4, 1, 0, 1.0)) == pytest.approx(1.0)
    # T = 2, k = 1, one rank: sum_j 1 - (1 - p_j)^2 = 2 - sum p_j^2 = 2 - 205/625 = 1.672
    assert float(zipf_busiest_rank_experts_touched(2, 1, 4, 1, 0, 1.0)) == pytest.approx(
        2 - (144 + 36 + 16 + 9) / 625)


@pytest.mark.parametrize("n, experts, top_k, tokens, ranks", [
    (1, 8, 2, 1, 8), (2, 4, 2, 1, 2), (8, 64, 4, 16, 8), (32, 256, 8, 16, 8)])
def test_touched_without_skew_or_copies_is_the_uniform_busiest(n, experts, top_k, tokens, ranks):
    assert float(zipf_busiest_rank_experts_touched(tokens, ranks, experts, top_k, 0, 0.0)) == \
        pytest.approx(float(E.formulas.busiest_rank_experts_touched(n, experts, top_k, tokens,
                                                                    ranks)), rel=1e-9)


def _touched_monte_carlo(tokens, ep, experts, top_k, redundant, s, trials=300, seed=12):
    """Each token picks top_k distinct experts with inclusion probabilities k p_i (systematic
    sampling over a random order, Madow 1949: exact inclusion probabilities, k picks), sends each
    pick to one of the expert's copies at random; instances placed by assign_instances; the mean
    over trials of the busiest rank's distinct touched instances."""
    rng = np.random.default_rng(seed)
    p = zipf_expert_shares(experts, s)
    c = replicate_hottest(p, redundant)
    pi = top_k * p
    assert pi.max() <= 1
    rank = assign_instances(np.repeat(p / c, c), ep)
    first = np.concatenate([[0], np.cumsum(c)[:-1]])
    total = 0.0
    for _ in range(trials):
        order = np.argsort(rng.random((tokens, experts)), axis=1)
        end = np.cumsum(pi[order], axis=1)
        u = rng.random((tokens, 1))
        chosen = order[np.floor(end - u) > np.floor(end - pi[order] - u)]
        inst = first[chosen] + (rng.random(len(chosen)) * c[chosen]).astype(int)
        touched = np.zeros(c.sum(), dtype=bool)
        touched[inst] = True
        total += np.bincount(rank[touched], minlength=ep).max()
    return total / trials


@pytest.mark.parametrize("tokens, ep, experts, top_k, redundant, s", [
    (4, 8, 64, 4, 0, 1.0),        # skewed, no copies, few tokens
    (16, 8, 64, 4, 16, 1.0),      # 16 copies of the hottest experts
    (16, 32, 256, 8, 32, 0.8),    # DeepSeek-like: 256 experts, 32 redundant, EP32
    (64, 32, 256, 8, 32, 0.8),
])
def test_touched_experts_against_a_seeded_monte_carlo(tokens, ep, experts, top_k, redundant, s):
    # measured (300 trials, seed 12): formula / simulation - 1 = -1.5%, -0.8%, -0.7%, -0.7%
    # (independence across instances and ranks slightly undercounts); tolerance 5%
    got = float(zipf_busiest_rank_experts_touched(tokens, ep, experts, top_k, redundant, s))
    sim = _touched_monte_carlo(tokens, ep, experts, top_k, redundant, s)
    assert got == pytest.approx(sim, rel=0.05)


def test_zipf_option_sets_the_busiest_ranks_decode_reads():
    # toy MoE (E = 4, top-1, L = 2, expert 2 D F = 2 x 1024^2 params at 2 bytes) on EP2 with
    # dp_attn 2, one decode token per rank: T = 2 tokens route, s = 1 (placement {12, 3} | {6, 4}
    # /25 as above). q_j = 1 - (1 - p_j)^2 = 456, 141 | 264, 184 (/625);
    # F0(0) = 169*484/625^2, F1(0) = 361*441/625^2, F0(1) = 1 - 456*141/625^2,
    # F1(1) = 1 - 264*184/625^2;
    # E[max] = (1 - 0.2094 x 0.4076) + (1 - 0.8354 x 0.8757) = 1.1831 instances
    from analysis.estimate.context import busiest_rank_load
    from analysis.estimate.layouts import Layouts
    from analysis.estimate.ops import stage_ops
    from analysis.inputs.types import Strategy
    from tests.toys import TOY_CHIP, TOY_MOE
    n2 = 625.0 ** 2
    f0, f1 = 169 * 484 / n2, 361 * 441 / n2
    g0, g1 = 1 - 456 * 141 / n2, 1 - 264 * 184 / n2
    touched = (1 - f0 * f1) + (1 - g0 * g1)
    assert touched == pytest.approx(1.1831, abs=1e-4)
    opts = E.Options(imbalance="zipf", skew=1.0)
    lay = Layouts.from_strategies([Strategy(ep=2, dp_attn=2)])
    ops = stage_ops(TOY_CHIP, TOY_MOE, lay, opts, seqs_per_group=2, query_tokens_per_seq=1,
                    phase="decode", context_tokens=10)
    pairs = float(busiest_rank_load(np.array([1.0]), np.array([2]), TOY_MOE, np.array([0]),
                                    opts)[0])      # mean pairs 2 x 1 / 2 = 1 per rank
    want = 2 * (touched * 2 * 1024 * 1024 * 2 + pairs * (2 * 1024 + 2 * 1024) * 2)
    assert float(ops["routed_experts"].hbm_bytes[0]) == pytest.approx(want)
