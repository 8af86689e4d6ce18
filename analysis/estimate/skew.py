"""Expert-load skew beyond uniform routing: Zipf-distributed expert popularity, redundant copies
of the hottest experts, and the busiest EP rank's expected load under that placement.

Notation: E experts, R redundant copies, ``ep`` ranks each holding (E + R) / ep expert
instances; ``s`` the Zipf exponent of the experts' shares of routed token-expert pairs
(expert i, hottest first, carries ``p_i = i^-s / sum_j j^-s``; s = 0 is uniform).
"""

from __future__ import annotations

import numpy as np


def zipf_expert_shares(num_experts: int, skew: float) -> np.ndarray:
    """Shares of routed token-expert pairs, hottest first: ``p_i = i^-s / sum_{j=1}^{E} j^-s``
    (Zipf's law with exponent s over the E experts; s = 0 gives 1/E each)."""
    ranks = np.arange(1, num_experts + 1, dtype=float)
    w = ranks ** -float(skew)
    return w / w.sum()


def replicate_hottest(shares: np.ndarray, redundant: int) -> np.ndarray:
    """Copies of each expert when R redundant copies go, one at a time, to the expert whose
    per-copy share ``p_i / c_i`` is highest (EPLB's greedy replication of hot experts);
    the copies share its load equally. Returns ``c_i`` (>= 1, summing to E + R)."""
    copies = np.ones(len(shares), dtype=np.int64)
    for _ in range(int(redundant)):
        copies[int(np.argmax(shares / copies))] += 1
    return copies


def assign_instances(instance_shares: np.ndarray, ep: int) -> np.ndarray:
    """The rank of each instance (share ``p_i / c_i`` each) when they are placed largest first
    on the least-loaded rank with a free slot, ``len / ep`` slots per rank
    (longest-processing-time greedy; ties to the lowest rank)."""
    inst = np.asarray(instance_shares, dtype=float)
    slots = len(inst) // ep
    load = np.zeros(ep)
    free = np.full(ep, slots)
    rank = np.empty(len(inst), dtype=np.int64)
    for j in np.argsort(-inst, kind="stable"):
        r = int(np.argmin(np.where(free > 0, load, np.inf)))
        load[r] += inst[j]
        free[r] -= 1
        rank[j] = r
    return rank


def place_instances(shares: np.ndarray, copies: np.ndarray, ep: int) -> np.ndarray:
    """Each rank's share of the routed pairs when the ``sum c_i`` instances (share
    ``p_i / c_i`` each) are placed by :func:`assign_instances`, (E + R) / ep slots per rank."""
    inst = np.repeat(shares / copies, copies)
    rank = assign_instances(inst, ep)
    load = np.zeros(ep)
    for j in np.argsort(-inst, kind="stable"):   # the greedy's order of additions
        load[rank[j]] += inst[j]
    return load


def zipf_busiest_rank_load(mean_pairs, ep: int, num_experts: int, redundant: int,
                           skew: float) -> np.ndarray:
    """Expected routed pairs on the busiest EP rank under Zipf skew s with the hottest experts
    replicated: rank r expects ``lambda_r = mean * ep * share_r`` (:func:`place_instances`),
    and its count fluctuates like a Poisson count, so the busiest is taken as
    ``max_r (lambda_r + sqrt(2 lambda_r ln ep))`` (the Gaussian maximum of
    :func:`analysis.estimate.formulas.expected_max_load`, applied per rank; equal to it at
    s = 0 without redundancy). Tested against a seeded Monte Carlo of routed pairs."""
    mean = np.asarray(mean_pairs, dtype=float)
    if ep <= 1:
        return mean
    load = place_instances(zipf_expert_shares(num_experts, skew),
                           replicate_hottest(zipf_expert_shares(num_experts, skew), redundant),
                           ep)
    lam = mean[..., None] * ep * load
    return np.max(lam + np.sqrt(2 * lam * np.log(ep)), axis=-1)


def instance_touch_probabilities(tokens, num_experts: int, top_k: int, redundant: int,
                                 skew: float) -> tuple[np.ndarray, np.ndarray]:
    """(probability each expert instance is touched by T tokens, its rank under
    :func:`assign_instances` for ``ep`` given later), as (``q`` of shape (..., E + R), shares).

    A token picks expert i with probability ``pi_i = min(k p_i, 1)`` (p_i its share of pairs,
    k picks per token) and sends the pick to one of its ``c_i`` copies at random, so instance j
    of expert i is touched by T tokens with ``q_j = 1 - (1 - pi_i / c_i)^T``
    (tokens independent). At s = 0 without copies, ``1 - (1 - k/E)^T`` as
    :func:`analysis.estimate.formulas.distinct_experts_touched`."""
    p = zipf_expert_shares(num_experts, skew)
    c = replicate_hottest(p, redundant)
    hit = np.repeat(np.minimum(top_k * p, 1.0) / c, c)
    t = np.asarray(tokens, dtype=float)[..., None]
    return 1 - (1 - hit) ** t, np.repeat(p / c, c)


def zipf_busiest_rank_experts_touched(tokens, ep: int, num_experts: int, top_k: int,
                                      redundant: int, skew: float) -> np.ndarray:
    """Expected distinct expert instances touched on the busiest EP rank (the rank whose
    weight reads set a decode step's pace) when T tokens route under Zipf popularity s with
    the hottest experts replicated and placed as :func:`place_instances` places them.

    Instance j is touched with ``q_j`` (:func:`instance_touch_probabilities`); rank r's count
    ``X_r`` is a sum of independent Bernoulli(q_j) over its (E + R) / ep instances (a
    Poisson-binomial, computed exactly by convolution), the ranks taken as independent, so
    ``E[max_r X_r] = sum_{x >= 0} (1 - prod_r P(X_r <= x))``. The same approximations as the
    uniform :func:`analysis.estimate.formulas.busiest_rank_experts_touched` (independent picks
    across experts and ranks), to which it reduces at s = 0 without copies; with one rank, the
    expected count ``sum_j q_j``. Tested against a seeded Monte Carlo of routing
    (tests/test_skew.py)."""
    q, inst = instance_touch_probabilities(tokens, num_experts, top_k, redundant, skew)
    rank = assign_instances(inst, ep)
    slots = q.shape[-1] // ep
    by_rank = np.stack([q[..., rank == r] for r in range(ep)], axis=-2)  # (..., ep, slots)
    pmf = np.zeros(by_rank.shape[:-1] + (slots + 1,))
    pmf[..., 0] = 1.0
    for j in range(slots):                  # add one Bernoulli(q_j) per rank
        qj = by_rank[..., j, None]
        pmf = pmf * (1 - qj) + np.concatenate(
            [np.zeros_like(pmf[..., :1]), pmf[..., :-1]], axis=-1) * qj
    cdf = np.minimum(np.cumsum(pmf, axis=-1), 1.0)[..., :-1]       # P(X_r <= x), x < slots
    return np.sum(1 - np.prod(cdf, axis=-2), axis=-1)
