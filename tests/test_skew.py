"""Expert-load skew (issue 12): Zipf popularity, replication of the hottest experts, and the
busiest EP rank's expected load, by hand and against a seeded Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import estimate as E
from analysis.estimate.skew import (
    place_instances,
    replicate_hottest,
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
