"""Requests and how a benchmark client sends them.

Arrival kinds (``/work/shared/reference/serving-engines.md``, "Benchmark clients"):

* ``closed_loop``: concurrency C over N requests; the client keeps C in flight (a semaphore,
  ``--max-concurrency``): C are sent at t = 0 and each completion sends the next at once.
  With a fixed output length the C finish together and restart together: waves.
* ``burst``: all N sent at t = 0 (``--request-rate inf``, the clients' default).
* ``poisson``: exponential gaps at rate lambda (``--request-rate``), the first at t = 0.
* ``static``: an offline batch of N handed to the engine at once; the engine runs it at its own
  caps (KV-limited concurrency), not as one pass.

Lengths are fixed, or drawn (seeded) from ``{distribution: uniform, min, max}`` or
``{distribution: normal, mean, std}`` (rounded, at least 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analysis.inputs.errors import InputError

ARRIVAL_KINDS = ("closed_loop", "burst", "poisson", "static")
DISTRIBUTIONS = ("uniform", "normal")


@dataclass(frozen=True)
class Requests:
    """N requests: prompt, output and prefix-cached token counts, and send times (seconds;
    NaN for closed loop, where the client sends on completions)."""

    isl: np.ndarray
    osl: np.ndarray
    prefix_cached: np.ndarray
    arrival_s: np.ndarray

    def __len__(self) -> int:
        return len(self.isl)


def _whole(field: str, value: object, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or value < lo:
        raise InputError(field, value, f"must be a whole number >= {lo}",
                         f"a whole number >= {lo}")
    return int(value)


def _positive(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or value == float("inf"):
        raise InputError(field, value, "must be a finite number > 0", "a number > 0")
    return float(value)


def draw_lengths(spec: object, n: int, rng: np.random.Generator, field: str) -> np.ndarray:
    """``n`` token counts: a fixed whole number, or a seeded draw from a stated distribution."""
    if not isinstance(spec, Mapping):
        return np.full(n, _whole(field, spec), dtype=np.int64)
    kind = spec.get("distribution")
    allowed = {"uniform": ("distribution", "min", "max"),
               "normal": ("distribution", "mean", "std")}
    if kind not in allowed:
        raise InputError(f"{field}.distribution", kind, "unknown distribution",
                         ", ".join(DISTRIBUTIONS))
    for key in spec:
        if key not in allowed[kind]:
            raise InputError(f"{field}.{key}", spec[key], f"not a field of a {kind} draw",
                             ", ".join(allowed[kind]))
    if kind == "uniform":
        lo = _whole(f"{field}.min", spec.get("min"))
        hi = _whole(f"{field}.max", spec.get("max"))
        if hi < lo:
            raise InputError(f"{field}.max", hi, f"below min = {lo}", f"a whole number >= {lo}")
        return rng.integers(lo, hi + 1, size=n).astype(np.int64)
    mean = _positive(f"{field}.mean", spec.get("mean"))
    std = spec.get("std")
    if isinstance(std, bool) or not isinstance(std, (int, float)) or std < 0:
        raise InputError(f"{field}.std", std, "must be a number >= 0", "a number >= 0")
    return np.maximum(np.round(rng.normal(mean, std, size=n)), 1).astype(np.int64)


def poisson_arrivals_s(rate_per_s: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Send times of a Poisson process: the first at 0, then exponential gaps of mean
    ``1 / rate`` (the vLLM and SGLang clients' ``--request-rate``, burstiness 1)."""
    gaps = rng.exponential(1.0 / rate_per_s, size=max(n - 1, 0))
    return np.concatenate([[0.0], np.cumsum(gaps)])


def make_requests(n: int, isl_spec: object, osl_spec: object, prefix_cached_tokens: int,
                  kind: str, rate_per_s: float | None, seed: int) -> Requests:
    """The run's requests; one generator seeded with ``seed`` draws lengths, then arrivals."""
    rng = np.random.default_rng(seed)
    isl = draw_lengths(isl_spec, n, rng, "workload.isl")
    osl = draw_lengths(osl_spec, n, rng, "workload.osl")
    if prefix_cached_tokens < 0:
        raise InputError("workload.prefix_cached_tokens", prefix_cached_tokens,
                         "must be >= 0", "0 <= x < isl")
    if prefix_cached_tokens and int(isl.min()) <= prefix_cached_tokens:
        raise InputError("workload.prefix_cached_tokens", prefix_cached_tokens,
                         f"not shorter than the shortest prompt ({int(isl.min())} tokens): at "
                         f"least one prompt token must be computed",
                         f"0 <= x < {int(isl.min())}")
    prefix = np.full(n, int(prefix_cached_tokens), dtype=np.int64)
    if kind == "poisson":
        arrival = poisson_arrivals_s(float(rate_per_s), n, rng)
    elif kind == "closed_loop":
        arrival = np.full(n, np.nan)
    else:
        arrival = np.zeros(n)
    return Requests(isl, osl, prefix, arrival)
