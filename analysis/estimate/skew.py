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


def place_instances(shares: np.ndarray, copies: np.ndarray, ep: int) -> np.ndarray:
    """Each rank's share of the routed pairs when the ``sum c_i`` instances (share
    ``p_i / c_i`` each) are placed largest first on the least-loaded rank with a free slot,
    (E + R) / ep slots per rank (longest-processing-time greedy)."""
    inst = np.repeat(shares / copies, copies)
    slots = len(inst) // ep
    load = np.zeros(ep)
    free = np.full(ep, slots)
    for x in np.sort(inst)[::-1]:
        r = int(np.argmin(np.where(free > 0, load, np.inf)))
        load[r] += x
        free[r] -= 1
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
