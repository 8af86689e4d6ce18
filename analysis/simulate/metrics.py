"""Benchmark metrics of a simulated run, defined as the vLLM and SGLang clients define them.

* TTFT: first token time - send time, per request.
* TPOT: ``(e2e - TTFT) / (output tokens - 1)`` per request, requests of one token left out.
* ITL: every gap between consecutive tokens, pooled over all requests.
* e2e latency: last token time - send time.
* Throughput: tokens / run duration, the duration from the first send (t = 0) to the last token.

Statistics: mean, median, p90, p99 (``numpy.percentile``'s linear rule; for the pooled ITL the
same rule on the gaps weighted by how many tokens saw each).
"""

from __future__ import annotations

import numpy as np

STATS = ("mean", "median", "p90", "p99")


def stats_ms(values_s: np.ndarray, prefix: str) -> dict[str, float]:
    """``{prefix_ms_mean, _median, _p90, _p99}`` of per-request values in seconds."""
    v = np.asarray(values_s, dtype=float)
    if v.size == 0:
        return {f"{prefix}_ms_{s}": float("nan") for s in STATS}
    q = np.percentile(v, [50, 90, 99])
    return {f"{prefix}_ms_mean": float(v.mean()) * 1e3, f"{prefix}_ms_median": float(q[0]) * 1e3,
            f"{prefix}_ms_p90": float(q[1]) * 1e3, f"{prefix}_ms_p99": float(q[2]) * 1e3}


def weighted_percentile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """``numpy.percentile(np.repeat(values, counts), q)`` without expanding: sorted
    ``values``; the linear rule at rank ``q/100 * (N - 1)``."""
    cum = np.cumsum(counts)
    pos = q / 100 * (cum[-1] - 1)
    lo = int(np.floor(pos))
    frac = pos - lo
    v_lo = values[np.searchsorted(cum, lo, side="right")]
    v_hi = values[np.searchsorted(cum, min(lo + 1, cum[-1] - 1), side="right")]
    return float(v_lo + (v_hi - v_lo) * frac)


def pooled_stats_ms(values_s: np.ndarray, counts: np.ndarray, prefix: str) -> dict[str, float]:
    """Mean, median, p90, p99 of gaps ``values_s`` seen ``counts`` times each, in ms."""
    keep = counts > 0
    v, c = np.asarray(values_s)[keep], np.asarray(counts)[keep]
    if c.sum() == 0:
        return {f"{prefix}_ms_{s}": float("nan") for s in STATS}
    order = np.argsort(v, kind="stable")
    v, c = v[order], c[order]
    out = {f"{prefix}_ms_mean": float((v * c).sum() / c.sum()) * 1e3}
    for name, q in (("median", 50), ("p90", 90), ("p99", 99)):
        out[f"{prefix}_ms_{name}"] = weighted_percentile(v, c, q) * 1e3
    return out


def run_metrics(arrival_s, first_token_s, done_s, isl, osl, itl_s, itl_count,
                gpus: int) -> dict[str, float]:
    """Latency statistics and throughput of one run (every replica's requests together)."""
    arrival_s, first_token_s, done_s = (np.asarray(x, dtype=float)
                                        for x in (arrival_s, first_token_s, done_s))
    isl, osl = np.asarray(isl), np.asarray(osl)
    ttft = first_token_s - arrival_s
    e2e = done_s - arrival_s
    multi = osl > 1
    tpot = (e2e[multi] - ttft[multi]) / (osl[multi] - 1)
    duration = float(done_s.max())
    out: dict[str, float] = {}
    out.update(stats_ms(ttft, "ttft"))
    out.update(stats_ms(tpot, "tpot"))
    out.update(pooled_stats_ms(itl_s, itl_count, "itl"))
    out.update(stats_ms(e2e, "e2e_latency"))
    out_tokens = float(osl.sum())
    all_tokens = float((isl + osl).sum())
    out.update({
        "duration_s": duration,
        "requests_per_s": len(osl) / duration,
        "output_tokens_per_s": out_tokens / duration,
        "total_tokens_per_s": all_tokens / duration,
        "output_tokens_per_s_per_gpu": out_tokens / duration / gpus,
        "total_tokens_per_s_per_gpu": all_tokens / duration / gpus,
    })
    return out
