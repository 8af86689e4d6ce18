"""Serving requirements: what a deployment under continuous batching must meet.

A scenario's optional ``serving:`` block (read by :mod:`analysis.inputs.read.serving`) turns the
plan from the static-batch reading (one batch of ``workload.batch_sequences``) into the serving
reading: requests of ``prompt_tokens`` and ``output_tokens`` arrive and run under continuous
batching; TTFT and TPOT are checked at ``percentile`` over requests; throughput is output
tokens per second per GPU (or total tokens when ``throughput_counts`` is ``total``).

Lengths are a whole number or a seeded draw ``{distribution: uniform, min, max}`` /
``{distribution: normal, mean, std}``, the simulator's format (``docs/simulate.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analysis.inputs.errors import InputError

PERCENTILES = ("p50", "p90", "p99")
THROUGHPUT_COUNTS = ("output", "total")


def _positive_or_none(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or value == float("inf"):
        raise InputError(f"serving.{name}", value, "must be a finite number > 0",
                         "a number > 0, or leave it out")


def length_mean_tokens(spec: object) -> float:
    """Mean of a length spec: the number itself; ``(min + max) / 2`` for a uniform draw (whole
    numbers min..max, equally likely); ``mean`` for a normal draw (rounding and the floor at 1
    ignored)."""
    if not isinstance(spec, Mapping):
        return float(spec)  # type: ignore[arg-type]
    if spec.get("distribution") == "uniform":
        return (float(spec["min"]) + float(spec["max"])) / 2
    return float(spec["mean"])


def length_max_tokens(spec: object) -> int:
    """Longest length a spec draws, for memory and layout checks: the number; ``max`` of a
    uniform draw; ``mean + 3 std`` of a normal draw (99.87% of draws lie below)."""
    if not isinstance(spec, Mapping):
        return int(spec)  # type: ignore[call-overload]
    if spec.get("distribution") == "uniform":
        return int(spec["max"])
    return max(1, int(round(float(spec["mean"]) + 3 * float(spec["std"]))))


@dataclass(frozen=True)
class ServingRequirements:
    """Targets and traffic of a serving deployment. Times in seconds, rates per second.

    ``prompt_tokens`` / ``output_tokens`` hold the length spec as given (an int or a
    distribution mapping); :attr:`isl_mean` etc. read it. Every target is optional.
    """

    prompt_tokens: Any
    output_tokens: Any
    ttft_s: float | None = None
    tpot_s: float | None = None
    percentile: str = "p90"
    request_rate_per_s: float | None = None             # whole deployment
    throughput_tokens_per_s_per_gpu: float | None = None
    throughput_counts: str = "output"                    # "output" or "total" tokens
    engine: str = "generic"                              # engine profile for the simulator
    disaggregation: bool = True                          # consider xPyD

    def __post_init__(self) -> None:
        for name in ("ttft_s", "tpot_s", "request_rate_per_s",
                     "throughput_tokens_per_s_per_gpu"):
            _positive_or_none(name, getattr(self, name))
        if self.percentile not in PERCENTILES:
            raise InputError("serving.percentile", self.percentile, "unknown percentile",
                             ", ".join(PERCENTILES))
        if self.throughput_counts not in THROUGHPUT_COUNTS:
            raise InputError("serving.throughput_counts", self.throughput_counts,
                             "unknown kind of token", ", ".join(THROUGHPUT_COUNTS))

    @property
    def isl_mean(self) -> float:
        return length_mean_tokens(self.prompt_tokens)

    @property
    def osl_mean(self) -> float:
        return length_mean_tokens(self.output_tokens)

    @property
    def isl_max(self) -> int:
        return length_max_tokens(self.prompt_tokens)

    @property
    def osl_max(self) -> int:
        return length_max_tokens(self.output_tokens)

    @property
    def simulator_stat(self) -> str:
        """The simulator's statistic key for :attr:`percentile` (``median``, ``p90``, ``p99``)."""
        return {"p50": "median"}.get(self.percentile, self.percentile)

    def as_dict(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
                "ttft_s": self.ttft_s, "tpot_s": self.tpot_s, "percentile": self.percentile,
                "request_rate_per_s": self.request_rate_per_s,
                "throughput_tokens_per_s_per_gpu": self.throughput_tokens_per_s_per_gpu,
                "throughput_counts": self.throughput_counts, "engine": self.engine,
                "disaggregation": self.disaggregation}
