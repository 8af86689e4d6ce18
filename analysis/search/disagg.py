"""Search for disaggregated serving (xPyD): a prefill pool and a decode pool, each with its own
layout, rate-matched, against the same targets as aggregated serving.

* Prefill: every replica layout x prompts per batch B (1, 2, 4, ... up to what memory holds and
  16,384 prompt tokens per attention rank); ``TTFT = k * t_batch(B) + t_kv`` (``k`` by
  percentile, :data:`analysis.estimate.disagg.TTFT_BATCHES_BY_PERCENTILE`); rate
  ``r_p = B / t_batch``.
* KV transfer: ``kv_bytes_per_token * I`` over one GPU's scale-out link at the GPU's
  scale-out efficiency, plus its latency (conservative: a real transfer spreads over every
  GPU's link).
* Decode: every replica layout x concurrency C up to what memory and the engine's running cap
  hold; ``TPOT = t_step(C)``
  with no prefill in the iteration; rate ``r_d = C / (O * TPOT)``.

Per-GPU throughput of the pair is ``O / (g_p / r_p + g_d / r_d)`` at matched rates, so each pool
is chosen alone (the highest requests/s per GPU meeting its target), then the instance ratio
x:y (:func:`analysis.estimate.disagg.best_ratio`), or with a request rate the fewest
instances that carry it. Closed form only: the simulator runs one pool with prefill and decode
together, so xPyD figures are not simulated (stated in the assumptions).
"""

from __future__ import annotations

import math

import numpy as np

from analysis import anatomy as A
from analysis import estimate as E
from analysis.estimate import disagg as D
from analysis.estimate import serving_grid as SG
from analysis.inputs.serving import ServingRequirements
from analysis.inputs.types import Scenario, Strategy
from analysis.search.serving import engine_running_cap

PREFILL_TOKENS_PER_RANK_MAX = 16384


def kv_transfer_s(scenario: Scenario, isl: int, opts: E.Options) -> tuple[float, float]:
    """(bytes, seconds) of one request's KV transfer from prefill to decode."""
    hw = scenario.hardware
    nbytes = D.kv_transfer_bytes_per_request(A.kv_cache_bytes_per_token(scenario.model), isl)
    eff = 1.0 if opts.mode == "sol" else hw.scaleout_efficiency
    return nbytes, D.kv_transfer_time_s(nbytes, hw.scaleout_bandwidth_bytes_per_s * eff,
                                        hw.scaleout_latency_s)


def _expand(lay: E.Layouts, tops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and geometric-grid value (1, 2, 4, ..., top) per layout."""
    idx, val = [], []
    for i, top in enumerate(tops.tolist()):
        grid = SG.geometric_grid(top)
        idx += [i] * len(grid)
        val += grid
    return np.array(idx, dtype=int), np.array(val, dtype=float)


def _best(layouts: list[Strategy], idx, per_gpu, ok, extra: dict) -> dict | None:
    """The row with the most requests/s per GPU among ``ok``; ties to fewer GPUs."""
    if not ok.any():
        return None
    gpus = np.array([layouts[i].gpus for i in idx])
    order = np.lexsort((gpus, -np.where(ok, per_gpu, -np.inf)))
    j = int(order[0])
    s = layouts[int(idx[j])]
    return {"strategy": s, "layout": s.label(), "gpus": s.gpus,
            "requests_per_s_per_gpu": float(per_gpu[j]),
            **{k: float(v[j]) for k, v in extra.items()}}


def best_prefill(scenario: Scenario, sv: ServingRequirements, layouts: list[Strategy],
                 lay: E.Layouts, isl: int, t_kv: float, opts: E.Options) -> dict | None:
    fit = SG.max_running_requests_grid(scenario, lay, isl, 1, opts)
    cap = np.floor(PREFILL_TOKENS_PER_RANK_MAX * lay.dp_attn * lay.dp / isl)
    idx, b = _expand(lay, np.minimum(fit, np.maximum(cap, 1)))
    if len(idx) == 0:
        return None
    t = D.prefill_batch_time_s(scenario, lay.subset(idx), b, isl, opts)
    ttft = D.prefill_ttft_s(t, t_kv, sv.percentile)
    ok = np.ones(len(idx), dtype=bool) if sv.ttft_s is None else ttft <= sv.ttft_s
    rate = b / t
    best = _best(layouts, idx, rate / lay.gpus[idx], ok,
                 {"prompts_per_batch": b, "batch_s": t, "ttft_s": ttft, "requests_per_s": rate})
    if best is not None:
        best["prompts_per_batch"] = int(best["prompts_per_batch"])
    return best


def best_decode(scenario: Scenario, sv: ServingRequirements, layouts: list[Strategy],
                lay: E.Layouts, isl: int, osl: int, opts: E.Options) -> dict | None:
    fit = np.minimum(SG.max_running_requests_grid(scenario, lay, isl, osl, opts),
                     engine_running_cap(scenario, sv, layouts))
    idx, c = _expand(lay, fit)
    if len(idx) == 0:
        return None
    t = D.decode_step_time_s(scenario, lay.subset(idx), c, isl, osl, opts)
    ok = np.ones(len(idx), dtype=bool) if sv.tpot_s is None else t <= sv.tpot_s
    rate = c / (osl * t)
    best = _best(layouts, idx, rate / lay.gpus[idx], ok,
                 {"concurrency": c, "tpot_s": t, "requests_per_s": rate})
    if best is not None:
        best["concurrency"] = int(best["concurrency"])
    return best


def search_disaggregated(scenario: Scenario, sv: ServingRequirements, layouts: list[Strategy],
                         budget: int, opts: E.Options) -> dict:
    """The best xPyD deployment within ``budget`` GPUs, or ``{"feasible": False, "reason"}``."""
    isl, osl = max(1, round(sv.isl_mean)), max(1, round(sv.osl_mean))
    lay_all = E.Layouts.from_strategies(layouts)
    keep = [i for i, r in enumerate(SG.layout_reasons(scenario, lay_all, isl, osl)) if not r]
    layouts = [layouts[i] for i in keep]
    lay = lay_all.subset(np.array(keep, dtype=int))
    nbytes, t_kv = kv_transfer_s(scenario, isl, opts)
    base = {"kv_transfer_bytes_per_request": nbytes, "kv_transfer_s": t_kv}
    pre = best_prefill(scenario, sv, layouts, lay, isl, t_kv, opts)
    dec = best_decode(scenario, sv, layouts, lay, isl, osl, opts)
    if pre is None or dec is None:
        which = "prefill (TTFT)" if pre is None else "decode (TPOT)"
        return {**base, "feasible": False,
                "reason": f"no {which} layout within {budget} GPUs meets the target"}
    if sv.request_rate_per_s is not None:
        x = math.ceil(sv.request_rate_per_s / pre["requests_per_s"] - 1e-9)
        y = math.ceil(sv.request_rate_per_s / dec["requests_per_s"] - 1e-9)
        per_gpu = D.pools_output_tokens_per_s_per_gpu(
            x, y, pre["requests_per_s"], dec["requests_per_s"], pre["gpus"], dec["gpus"], osl)
    else:
        x, y, per_gpu = D.best_ratio(pre["requests_per_s"], dec["requests_per_s"], pre["gpus"],
                                     dec["gpus"], osl, budget)
        if x == 0:
            return {**base, "feasible": False,
                    "reason": f"one prefill ({pre['gpus']} GPUs) and one decode instance "
                              f"({dec['gpus']} GPUs) exceed the budget of {budget} GPUs"}
    gpus = x * pre["gpus"] + y * dec["gpus"]
    total = per_gpu * (isl + osl) / osl
    target = sv.throughput_tokens_per_s_per_gpu
    got = per_gpu if sv.throughput_counts == "output" else total
    ok = target is None or got >= target
    return {**base, "feasible": ok,
            "reason": "" if ok else f"{got:,.0f} tokens/s per GPU, below the {target:,.0f} asked",
            "prefill": {k: v for k, v in pre.items() if k != "strategy"},
            "decode": {k: v for k, v in dec.items() if k != "strategy"},
            "prefill_instances": x, "decode_instances": y, "gpus": gpus,
            "ratio": f"{x}P{y}D",
            "ttft_s": pre["ttft_s"], "tpot_s": dec["tpot_s"],
            "output_tokens_per_s_per_gpu": per_gpu, "total_tokens_per_s_per_gpu": total,
            "requests_per_s": min(x * pre["requests_per_s"], y * dec["requests_per_s"])}
