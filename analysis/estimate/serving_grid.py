"""The closed-loop serving estimate of :mod:`analysis.estimate.serving`, vectorised: many
(layout, concurrency) rows priced in three calls of the op model instead of three per row.

Same equations as :func:`analysis.estimate.serving.serve` (closed loop), row by row:
``t_iter = t_decode(R) + t_prefill_extra(R / O)``, ``TPOT = t_iter``,
``TTFT = wait + t_iter / 2 + t_decode(R) + t_prefill_extra(max(1, R / O))``, output tokens/s
``= R / t_iter`` with ``R = min(C, fit)`` running and the rest waiting (Little's law). A test
checks every row against :func:`~analysis.estimate.serving.serve`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from analysis import estimate as E
from analysis.inputs.types import Scenario, Workload


def _by_dp_attn(lay: E.Layouts):
    """(mask, replica attention ranks) per distinct ``dp * dp_attn``."""
    ranks = lay.dp * lay.dp_attn
    for r in np.unique(ranks).tolist():
        yield ranks == r, int(r)


def layout_reasons(scenario: Scenario, lay: E.Layouts, isl: int, osl: int) -> list[list[str]]:
    """Per layout, why it cannot serve requests of ``isl`` + ``osl`` tokens (empty = it can),
    one sequence per attention rank (as :func:`~analysis.estimate.serving.serve` checks)."""
    out: list[list[str]] = [[] for _ in range(len(lay))]
    for mask, ranks in _by_dp_attn(lay):
        idx = np.flatnonzero(mask)
        sub = replace(lay.subset(mask), microbatches=np.ones(len(idx), dtype=np.int64))
        for i, reasons in zip(idx.tolist(), E.rejection_reasons(
                scenario.model, Workload(ranks, (isl,), osl), sub), strict=True):
            out[i] = reasons
    return out


def max_running_requests_grid(scenario: Scenario, lay: E.Layouts, isl: int, osl: int,
                              opts: E.Options) -> np.ndarray:
    """:func:`~analysis.estimate.serving.max_running_requests` of every layout:
    ``floor(free bytes / KV bytes of one sequence) * dp * dp_attn`` (0 when nothing fits)."""
    fit = np.zeros(len(lay))
    for mask, ranks in _by_dp_attn(lay):
        sub = replace(lay.subset(mask), microbatches=np.ones(int(mask.sum()), dtype=np.int64))
        mem = E.memory_per_gpu_bytes(scenario.hardware, scenario.model,
                                     Workload(ranks, (isl,), osl),
                                     scenario.requirements.memory_reserve_fraction, sub, opts)
        kv = np.asarray(mem["kv_cache"], dtype=float)
        free = scenario.hardware.hbm_capacity_bytes - sum(
            np.asarray(v, dtype=float) for k, v in mem.items() if k != "kv_cache")
        ok = (free > 0) & (kv > 0)
        fit[mask] = np.where(ok, np.floor(np.where(ok, free, 0) / np.where(ok, kv, 1)), 0) * ranks
    return fit


def _prefill_extra_s(scenario: Scenario, lay: E.Layouts, prompts: np.ndarray, isl: int,
                     opts: E.Options) -> np.ndarray:
    ops = E.stage_ops(scenario.hardware, scenario.model, lay, opts,
                      seqs_per_group=prompts / lay.dp, query_tokens_per_seq=isl, phase="prefill")
    gpu = sum(np.asarray(ops[o].compute_s, dtype=float) for o in E.OPS if o not in E.COMM_OPS)
    comm = sum(np.asarray(ops[o].comm_s, dtype=float) for o in E.COMM_OPS)
    return lay.pp * (gpu + comm)


def closed_loop_grid(scenario: Scenario, lay: E.Layouts, concurrency: np.ndarray,
                     fit: np.ndarray, isl: int, osl: int, opts: E.Options
                     ) -> dict[str, np.ndarray]:
    """Row ``i``: layout ``lay[i]`` at closed-loop ``concurrency[i]`` (whole deployment) with
    ``fit[i]`` requests held by memory. Keys as :class:`~analysis.estimate.serving.
    ServingEstimate` (seconds, tokens/s)."""
    c = np.asarray(concurrency, dtype=float)
    running = np.minimum(c, fit)
    per_replica = running / lay.dp
    m_dec = np.minimum(lay.pp, np.maximum(per_replica, 1.0))
    ops = E.stage_ops(scenario.hardware, scenario.model, lay, opts,
                      seqs_per_group=E.lockstep_group_sequences(per_replica / m_dec, lay.dp_attn),
                      query_tokens_per_seq=1,
                      phase="decode", context_tokens=isl + osl / 2)
    t_dec = lay.pp * np.asarray(E.stage_time_s(ops, opts), dtype=float)
    t_iter = t_dec + _prefill_extra_s(scenario, lay, running / osl, isl, opts)
    t_first = t_dec + _prefill_extra_s(scenario, lay, np.maximum(1.0, running / osl), isl, opts)
    completions_per_s = running / (osl * t_iter)
    wait = np.where(c > running, (c - running) / completions_per_s, 0.0)
    out_per_s = running / t_iter
    gpus = lay.gpus.astype(float)
    return {"concurrency": c, "running": fit, "iteration_s": t_iter, "decode_s": t_dec,
            "queue_wait_s": wait, "ttft_s": wait + t_iter / 2 + t_first, "tpot_s": t_iter,
            "output_tokens_per_s": out_per_s, "output_tokens_per_s_per_gpu": out_per_s / gpus,
            "total_tokens_per_s_per_gpu": out_per_s * (isl + osl) / osl / gpus,
            "tokens_per_s_per_user": 1 / t_iter, "memory_limited": c > fit}


def geometric_grid(top: float) -> list[int]:
    """1, 2, 4, ... below ``top``, and ``floor(top)`` itself (empty when ``top < 1``)."""
    t = int(math.floor(top))
    if t < 1:
        return []
    return sorted({2 ** i for i in range(t.bit_length()) if 2 ** i < t} | {t})
