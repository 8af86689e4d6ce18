"""The standard formulas of distributed inference, each a small pure function.

Every function works on Python scalars and on NumPy arrays alike (elementwise), so the search can
evaluate thousands of layouts in one call with the same code a single estimate uses.
Units are SI: seconds, bytes, bytes/s, FLOP, FLOP/s.
"""

from __future__ import annotations

import math

import numpy as np


def compute_time_s(flops, peak_flops_per_s, efficiency=1.0):
    """Time to do ``flops`` at ``efficiency * peak``: ``t = FLOPs / (peak * MFU)``."""
    return flops / (peak_flops_per_s * efficiency)


def memory_time_s(nbytes, bandwidth_bytes_per_s, utilization=1.0):
    """Time to move ``nbytes`` through HBM: ``t = bytes / (bandwidth * utilisation)``."""
    return nbytes / (bandwidth_bytes_per_s * utilization)


def ring_all_reduce_time_s(message_bytes, ranks, bandwidth_bytes_per_s, latency_s):
    """Ring all-reduce of M bytes over N ranks: ``2(N-1)/N * M / W + 2(N-1) * alpha``.

    Each rank sends and receives ``2(N-1)/N * M`` (a reduce-scatter then an all-gather), in
    ``2(N-1)`` latency-bound steps (Patarasuk & Yuan 2009; NCCL docs, "Performance"). 0 for N = 1.
    """
    n = np.asarray(ranks, dtype=float)
    t = 2 * (n - 1) / n * message_bytes / bandwidth_bytes_per_s + 2 * (n - 1) * latency_s
    return np.where(n > 1, t, 0.0)


def tree_all_reduce_time_s(message_bytes, ranks, bandwidth_bytes_per_s, latency_s):
    """Double-binary-tree all-reduce (NCCL's choice for small messages): the same
    ``2(N-1)/N * M / W`` bandwidth term as a ring, but ``2 * ceil(log2 N) * alpha`` of latency
    (a reduce up and a broadcast down a tree of depth log2 N; Sanders et al. 2009, NCCL 2.4
    release notes). 0 for N = 1."""
    n = np.asarray(ranks, dtype=float)
    depth = np.ceil(np.log2(np.maximum(n, 1.0)))
    t = 2 * (n - 1) / n * message_bytes / bandwidth_bytes_per_s + 2 * depth * latency_s
    return np.where(n > 1, t, 0.0)


def all_reduce_time_s(message_bytes, ranks, bandwidth_bytes_per_s, latency_s):
    """All-reduce with the faster of ring and tree, as NCCL's tuner picks per message size."""
    args = (message_bytes, ranks, bandwidth_bytes_per_s, latency_s)
    return np.minimum(ring_all_reduce_time_s(*args), tree_all_reduce_time_s(*args))


def distinct_ranks_per_token(ranks, top_k):
    """Expected distinct ranks one token's top-k experts live on, experts spread uniformly over
    N ranks: ``N * (1 - (1 - 1/N)^k)`` (k draws, each rank missed with probability (1-1/N)^k).
    """
    n = np.asarray(ranks, dtype=float)
    return n * (1 - (1 - 1 / n) ** top_k)


def distinct_ranks_per_token_exact(ranks, experts, top_k):
    """Expected distinct ranks a token's top-k experts live on, when the k experts are distinct
    (sampled without replacement) and E/N sit on each of N ranks:
    ``N * (1 - C(E - E/N, k) / C(E, k))`` -- a rank is missed when all k picks avoid its E/N
    experts (hypergeometric). Exact where :func:`distinct_ranks_per_token` approximates: Mixtral
    (E = 8, k = 2) over 8 ranks visits exactly 2 ranks, not 1.875."""
    n = np.asarray(ranks, dtype=float)
    others = experts - experts / n               # experts not on a given rank
    miss = np.ones_like(n)
    for i in range(int(top_k)):
        miss = miss * np.clip((others - i) / (experts - i), 0.0, 1.0)
    return n * (1 - miss)


def _miss_probability(eligible, held, top_k):
    """Probability that k distinct picks among ``eligible`` experts all avoid ``held`` of them:
    ``C(M - m, k) / C(M, k)`` as a product (valid for fractional m)."""
    miss = 1.0
    for i in range(int(top_k)):
        miss = miss * np.clip((eligible - held - i) / (eligible - i), 0.0, 1.0)
    return miss


def _unit_touched_probability(units: int, experts: int, top_k: int, n_group: int,
                              topk_group: int) -> float:
    """P(a given unit is touched) under group-limited routing, for units that nest in groups
    (units divisible by n_group) or groups that nest in units (n_group divisible by units)."""
    if units % n_group == 0:       # a unit's E/N experts lie in one group, chosen w.p. g_k/G,
        per_group = top_k / topk_group          # which then receives k/g_k of the k picks
        return topk_group / n_group * (1 - _miss_probability(experts / n_group, experts / units,
                                                             per_group))
    h = n_group // units           # a unit holds h whole groups: missed if none is chosen
    return 1 - math.comb(n_group - h, topk_group) / math.comb(n_group, topk_group)


def units_touched_per_token(units, experts, top_k, n_group=0, topk_group=0):
    """Expected distinct units (EP ranks, or nodes) a token's k experts live on, E/N experts in
    contiguous blocks on each of N units.

    Unlimited routing: :func:`distinct_ranks_per_token_exact`. Group-limited routing
    (DeepSeek-V3 ``n_group`` = G groups of E/G experts; a token picks ``topk_group`` = g_k
    groups, by the sum of each group's top-2 scores, then its k experts among them): the chosen
    groups are uniform, and each receives k/g_k of the picks (the top-2 group score makes the
    picks spread over the chosen groups), uniform within it. A unit of h whole groups is then
    touched w.p. ``1 - C(G - h, g_k) / C(G, g_k)``; a unit of m = E/N experts inside a group
    w.p. ``(g_k / G) (1 - C(E/G - m, k/g_k) / C(E/G, k/g_k))``. DeepSeek-V3 over 8 nodes of
    32 experts: exactly 4 nodes against 5.3 unlimited. Units that neither nest in nor contain
    whole groups fall back to the unlimited count. Within 6% (above) of DeepSeek-V3's routing
    simulated with random scores in tests/test_formulas.py.
    """
    unlimited = distinct_ranks_per_token_exact(units, experts, top_k)
    if n_group <= 1 or topk_group <= 0 or topk_group >= n_group:
        return unlimited
    u = np.asarray(units)
    out = np.array(unlimited, dtype=float)
    for value in np.unique(u):
        v = int(value)
        if v % n_group == 0 or n_group % v == 0:
            out = np.where(u == value, v * _unit_touched_probability(
                v, experts, top_k, n_group, topk_group), out)
    return out


def distinct_experts_touched(experts_on_rank, num_experts, top_k, tokens):
    """Expected distinct experts a rank holding ``E/N`` experts sees when T tokens each pick
    top-k of E uniformly: ``(E/N) * (1 - (1 - k/E)^T)``.

    This is how many experts' weights a decode step must read on that rank: with few tokens
    only some are touched; with many, all of them (the "batch effect" on MoE decode).
    """
    return experts_on_rank * (1 - (1 - top_k / num_experts) ** np.asarray(tokens, dtype=float))


def busiest_rank_experts_touched(experts_on_rank, num_experts, top_k, tokens, ranks):
    """Expected distinct experts touched on the busiest of N ranks (the rank whose expert reads
    set a decode step's pace), each rank holding n experts, T tokens each picking top-k of E
    uniformly.

    Each expert is touched with ``p = 1 - (1 - k/E)^T``; a rank's count is taken as
    Binomial(n, p) and the N ranks as independent (both ignore the weak negative correlation of
    a token's k distinct picks), so ``E[max] = sum_{x=0}^{n-1} (1 - F(x)^N)`` with F the
    binomial CDF. Mixtral (E = 8, k = 2) on EP8, one token: p = 1/4 and n = 1, so
    ``E[max] = 1 - (3/4)^8 = 0.90`` experts against a mean of 0.25. Checked against a seeded
    Monte Carlo of the routing in tests/test_formulas.py. Equals the mean for N = 1.
    """
    n = np.rint(np.asarray(experts_on_rank, dtype=float))
    ranks = np.asarray(ranks, dtype=float)
    p_touch = 1 - (1 - top_k / num_experts) ** np.asarray(tokens, dtype=float)
    p = np.clip(p_touch, 0.0, 1.0 - 1e-12)
    shape = np.broadcast(n, p, ranks).shape
    n, p, ranks = (np.broadcast_to(x, shape) for x in (n, p, ranks))
    pmf = (1 - p) ** n                                  # P(X = 0)
    cdf = pmf.copy()
    out = np.zeros(shape)
    spread = ranks > 1
    for x in range(int(n[spread].max(initial=0))):
        out = out + np.where(x < n, 1 - cdf ** ranks, 0.0)   # P(max > x)
        pmf = pmf * np.maximum(n - x, 0) / (x + 1) * p / (1 - p)
        cdf = np.minimum(cdf + pmf, 1.0)
    return np.where(spread, out, n * p_touch)           # one rank: the mean, n p


def expected_max_load(mean_load, ranks):
    """Expected load of the busiest of N ranks when picks land uniformly at random:
    ``mu + sqrt(2 * mu * ln N)`` (Gaussian approximation of the maximum of N Poisson(mu)
    counts; Raab & Steger 1998). Equals ``mu`` for N = 1."""
    n = np.asarray(ranks, dtype=float)
    mu = np.asarray(mean_load, dtype=float)
    return mu + np.sqrt(2 * mu * np.log(np.maximum(n, 1.0)))


def pipeline_bubble_fraction(stages, microbatches):
    """Idle fraction of a pipeline with p stages and m micro-batches: ``(p-1)/(m+p-1)``
    (GPipe, Huang et al. 2019, arXiv 1811.06965)."""
    p = np.asarray(stages, dtype=float)
    return (p - 1) / (microbatches + p - 1)


def pipeline_steps(stages, microbatches):
    """Stage steps for m micro-batches through p stages: ``m + p - 1``."""
    return microbatches + np.asarray(stages) - 1


def ep_all_to_all_time_s(tokens, destinations_per_token, hidden_size, dispatch_bytes_per_element,
                         combine_bytes_per_element, bandwidth_bytes_per_s, latency_s=0.0):
    """Dispatch + combine of an expert-parallel MoE layer on one link:
    ``T * n_dest * D * (b_dispatch + b_combine) / W + 2 * alpha``.

    Each token's hidden vector goes to each remote destination (dispatch) and comes back
    (combine). DeepSeek-V3 decode on 50 GB/s InfiniBand: 32 tokens * 9 destinations * 7000 *
    (1 + 2) B / 50 GB/s = 120.96 us per layer (arXiv 2505.09343, sec. 4.3).
    """
    volume = tokens * destinations_per_token * hidden_size * (
        dispatch_bytes_per_element + combine_bytes_per_element)
    return volume / bandwidth_bytes_per_s + 2 * latency_s


def p2p_time_s(message_bytes, bandwidth_bytes_per_s, latency_s):
    """One point-to-point send (pipeline stage boundary): ``M / W + alpha``."""
    return message_bytes / bandwidth_bytes_per_s + latency_s


def exposed_comm_time_s(comm_s, overlappable_s, overlap_fraction):
    """Communication left on the critical path when ``overlap_fraction`` of it hides under
    ``overlappable_s`` of compute: ``comm - min(overlap * comm, overlappable)``."""
    return comm_s - np.minimum(overlap_fraction * comm_s, overlappable_s)


def expected_tokens_per_step(acceptance_rate, draft_tokens):
    """Expected tokens a sequence gains per speculative step with ``d`` draft tokens, each
    accepted with probability ``a`` independently until the first rejection, plus the target's
    own token: ``E = 1 + a + ... + a^d = (1 - a^(d+1)) / (1 - a)`` (``d + 1`` at a = 1).
    Leviathan, Kalman and Matias, "Fast Inference from Transformers via Speculative Decoding"
    (ICML 2023), eq. 1."""
    a = np.asarray(acceptance_rate, dtype=float)
    d = np.asarray(draft_tokens, dtype=float)
    safe = np.where(a < 1, a, 0.5)
    return np.where(a < 1, (1 - safe ** (d + 1)) / (1 - safe), d + 1)


def speculative_time_per_token_s(verify_step_s, plain_step_s, draft_tokens,
                                 draft_cost_fraction, expected_tokens):
    """Time per output token under speculative decoding:
    ``(T_verify + d * f * T_plain) / E``, where ``T_verify`` is the target's step over the
    ``d + 1`` tokens of each sequence, ``T_plain`` its ordinary one-token step, ``f`` the draft's
    cost per draft token as a fraction of ``T_plain`` (an MTP module of one layer: 1/L) and
    ``E`` :func:`expected_tokens_per_step`."""
    return (verify_step_s + draft_tokens * draft_cost_fraction * plain_step_s) / expected_tokens
