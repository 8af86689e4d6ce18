"""Disaggregated prefill and decode (xPyD): formulas.

Prefill instances run whole prompts in batches; each finished prompt's KV cache crosses the
scale-out network to a decode instance, which runs decode steps only (no prefill shares its
iterations). Notation: I prompt tokens, O output tokens per request; ``x`` prefill instances of
``g_p`` GPUs at ``r_p`` requests/s each, ``y`` decode instances of ``g_d`` GPUs at ``r_d``.
Sources: DistServe (Zhong et al., OSDI 2024) and Splitwise (Patel et al., ISCA 2024) for the
split and rate matching; the KV transfer is the plain bandwidth-plus-latency model of the scaling
book's communication chapter.
"""

from __future__ import annotations

import numpy as np

from analysis import estimate as E
from analysis.inputs.types import Scenario

#: TTFT of a prefill instance that runs batches of length t back to back: a request waits for
#: the running batch (t / 2 on average, t at worst) and then for its own (t).
TTFT_BATCHES_BY_PERCENTILE = {"p50": 1.5, "p90": 2.0, "p99": 2.0}

#: Relative gain a larger xPyD deployment needs over a smaller one to be preferred.
RATIO_GAIN_MIN = 0.01


def kv_transfer_bytes_per_request(kv_bytes_per_token: float, prompt_tokens: float) -> float:
    """KV bytes one request moves from prefill to decode: ``kv_bytes_per_token * I`` (every
    layer's keys and values of every prompt token, whole model)."""
    return kv_bytes_per_token * prompt_tokens


def kv_transfer_time_s(transfer_bytes: float, bandwidth_bytes_per_s: float,
                       latency_s: float) -> float:
    """``bytes / bandwidth + latency``: one request's KV over the scale-out network."""
    return transfer_bytes / bandwidth_bytes_per_s + latency_s


def prefill_ttft_s(batch_time_s, kv_transfer_s: float, percentile: str):
    """TTFT on a prefill pool running batches of ``batch_time_s`` back to back:
    ``k * t_batch + t_transfer``, ``k`` from :data:`TTFT_BATCHES_BY_PERCENTILE` (1.5 at the
    median, 2 in the tail: the whole running batch, then its own)."""
    return TTFT_BATCHES_BY_PERCENTILE[percentile] * np.asarray(batch_time_s) + kv_transfer_s


def pools_output_tokens_per_s_per_gpu(x: int, y: int, prefill_requests_per_s: float,
                                      decode_requests_per_s: float, prefill_gpus: int,
                                      decode_gpus: int, output_tokens: float) -> float:
    """Rate-matched output tokens/s per GPU of ``x`` prefill and ``y`` decode instances: the
    slower pool sets the rate, ``min(x r_p, y r_d) * O / (x g_p + y g_d)``."""
    rate = min(x * prefill_requests_per_s, y * decode_requests_per_s)
    return rate * output_tokens / (x * prefill_gpus + y * decode_gpus)


def prefill_batch_time_s(scenario: Scenario, lay: E.Layouts, prompts, isl: int,
                         opts: E.Options) -> np.ndarray:
    """One prefill forward of ``prompts`` prompts of ``isl`` tokens per replica, through every
    pipeline stage (no micro-batch pipelining): ``pp * t_stage`` with weights, compute and
    communication as the op model prices them. Vectorised over layouts."""
    ops = E.stage_ops(scenario.hardware, scenario.model, lay, opts,
                      seqs_per_group=np.asarray(prompts, dtype=float) / lay.dp,
                      query_tokens_per_seq=isl, phase="prefill")
    return lay.pp * np.asarray(E.stage_time_s(ops, opts), dtype=float)


def decode_step_time_s(scenario: Scenario, lay: E.Layouts, running, isl: int, osl: int,
                       opts: E.Options) -> np.ndarray:
    """One decode step of ``running`` requests per replica at the mid-generation context
    ``I + O / 2``, nothing else in the iteration (as
    :func:`analysis.estimate.serving._decode_step_s`). Vectorised over layouts."""
    per_replica = np.asarray(running, dtype=float) / lay.dp
    m_dec = np.minimum(lay.pp, np.maximum(per_replica, 1.0))
    ops = E.stage_ops(scenario.hardware, scenario.model, lay, opts,
                      seqs_per_group=per_replica / m_dec, query_tokens_per_seq=1,
                      phase="decode", context_tokens=isl + osl / 2)
    return lay.pp * np.asarray(E.stage_time_s(ops, opts), dtype=float)


def best_ratio(prefill_requests_per_s: float, decode_requests_per_s: float, prefill_gpus: int,
               decode_gpus: int, output_tokens: float, max_gpus: int, max_instances: int = 32
               ) -> tuple[int, int, float]:
    """``(x, y, tokens/s per GPU)``: the instance counts within ``max_gpus`` with the highest
    rate-matched throughput per GPU (:func:`pools_output_tokens_per_s_per_gpu`); a larger
    deployment must beat a smaller one by more than :data:`RATIO_GAIN_MIN` (1%), so near-ties go
    to fewer GPUs. ``(0, 0, 0.0)`` when one of each does not fit."""
    best = (0, 0, 0.0)
    best_gpus = 0
    for x in range(1, max_instances + 1):
        for y in range(1, max_instances + 1):
            g = x * prefill_gpus + y * decode_gpus
            if g > max_gpus:
                break
            v = pools_output_tokens_per_s_per_gpu(x, y, prefill_requests_per_s,
                                                  decode_requests_per_s, prefill_gpus,
                                                  decode_gpus, output_tokens)
            if best_gpus == 0 or (g > best_gpus and v > best[2] * (1 + RATIO_GAIN_MIN)) \
                    or (g <= best_gpus and v >= best[2] * (1 - RATIO_GAIN_MIN)
                        and (g < best_gpus or v > best[2])):
                best, best_gpus = (x, y, v), g
    return best
