"""Metrics of the recommended layout, and one plan's outcome (cached by scenario, options and
budget), with a progress bar for long scans.
"""


import math
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass

from analysis import estimate as E
from analysis.inputs.errors import InputError, MoEPlanError
from analysis.inputs.types import Scenario
from analysis.report.sensitivity.inputs import Input
from analysis.search import planner as S

#: Metrics of the recommended layout: name -> (what it is, higher is better).
METRICS: dict[str, tuple[str, bool]] = {
    "throughput_per_gpu": ("throughput per GPU of the required kind", True),
    "gpus": ("GPUs of the recommended layout", False),
    "ttft_s": ("TTFT at the longest prompt", False),
}


@dataclass(frozen=True)
class Outcome:
    """What one plan recommends, reduced to what the analysis compares."""

    layout: str                  # the recommended (or best-compromise) layout; "none" if no valid
    feasible: bool               # it meets every requirement
    gpus: int
    throughput_per_gpu: float    # tokens/s per GPU of the required kind (lowest over prompts)
    ttft_s: float
    throughput_kind: str

    @property
    def key(self) -> tuple[str, bool]:
        """The recommendation changes when this changes."""
        return self.layout, self.feasible

    def describe(self) -> str:
        gpus = f"{self.gpus} GPU" + ("s" if self.gpus != 1 else "")
        return f"{self.layout} on {gpus}" + ("" if self.feasible else " (best compromise)")

    def metric(self, name: str) -> float:
        return float(getattr(self, check_metric(name)))


def metric_label(metric: str, throughput_kind: str) -> str:
    """What a reader calls the metric: "prefill throughput per GPU", "GPU count", "TTFT"."""
    return {"throughput_per_gpu": f"{throughput_kind} throughput per GPU", "gpus": "GPU count",
            "ttft_s": "TTFT"}[check_metric(metric)]


def check_metric(name: str) -> str:
    if name not in METRICS:
        raise InputError("metric", name, "unknown metric", ", ".join(METRICS))
    return name


_CACHE: dict[tuple, Outcome] = {}
_PLANS: OrderedDict[tuple, S.Plan] = OrderedDict()   # a few full plans, to explain changes
STATS = {"plans": 0, "hits": 0}


def clear_cache() -> None:
    _CACHE.clear()
    _PLANS.clear()
    STATS.update(plans=0, hits=0)


def cache_info() -> dict[str, int]:
    """Plans run and cache hits since the last :func:`clear_cache`."""
    return dict(STATS, cached=len(_CACHE))


def full_plan(sc: Scenario, opts: E.Options, max_gpus: int | None) -> S.Plan:
    key = (sc, opts, max_gpus)
    if key in _PLANS:
        _PLANS.move_to_end(key)
        return _PLANS[key]
    p = S.plan(sc, opts, max_gpus, top_n=0, progress=False)
    STATS["plans"] += 1
    _PLANS[key] = p
    while len(_PLANS) > 4:
        _PLANS.popitem(last=False)
    return p


def outcome(sc: Scenario, opts: E.Options | None = None, max_gpus: int | None = None) -> Outcome:
    """The planner's recommendation for ``sc`` (cached by scenario, options and budget)."""
    opts = opts or E.Options()
    key = (sc, opts, max_gpus)
    if key in _CACHE:
        STATS["hits"] += 1
        return _CACHE[key]
    try:
        p = full_plan(sc, opts, max_gpus)
    except InputError:
        raise
    except MoEPlanError:   # no layout is even valid at this value
        out = Outcome("none", False, 0, math.nan, math.nan, S.throughput_reading(sc)[0])
    else:
        row = p.recommended_row
        out = Outcome(p.recommended.label(), bool(p.feasible), int(p.recommended.gpus),
                      float(row[f"min_{S.THROUGHPUT_COLUMNS[p.throughput_kind]}"]),
                      float(row["ttft_s"]), p.throughput_kind)
    _CACHE[key] = out
    return out


class Progress:
    """A bar on stderr, drawn only once the work has taken more than a second.

    The total of a phase is fixed when the phase starts and never changes (:meth:`phase` starts
    the next one on a new line); plans whose number is not known in advance (bisection of a
    threshold) are counted apart, as "+k refining", after :meth:`refining`."""

    def __init__(self, enabled: bool, total: int, label: str = "what-if plans") -> None:
        self.enabled, self.total, self.label = enabled, max(total, 1), label
        self.done, self.start, self.drawn = 0, time.perf_counter(), False
        self.extra, self.pending = 0, 0

    def phase(self, label: str, total: int) -> None:
        """End the current line and count a new phase of ``total`` plans."""
        self.close()
        self.label, self.total, self.done, self.extra, self.pending = label, max(total, 1), 0, 0, 0

    def refining(self) -> None:
        """The next tick is a plan beyond the phase's fixed total."""
        self.pending += 1

    def tick(self, n: int = 1) -> None:
        if self.pending:
            self.pending, self.extra = self.pending - 1, self.extra + n
        else:
            self.done = min(self.done + n, self.total)
        if not self.enabled or time.perf_counter() - self.start < 1.0:
            return
        width = 30
        filled = int(width * self.done / self.total)
        more = f" (+{self.extra} refining)" if self.extra else ""
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done}/{self.total}{more}")
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


def outcome_at(inp: Input, sc: Scenario, opts: E.Options, value: float, max_gpus: int | None,
        bar: Progress | None = None) -> Outcome:
    s2, o2 = inp.apply(sc, opts, value)
    out = outcome(s2, o2, max_gpus)
    if bar is not None:
        bar.tick()
    return out


def tokens_per_ms_text(tokens_per_s: float) -> str:
    """3 significant figures without exponents: '99.1 tokens/ms', '1,230 tokens/ms'."""
    x = tokens_per_s / 1e3
    return f"{float(f'{x:.3g}'):,.0f} tokens/ms" if x >= 100 else f"{x:.3g} tokens/ms"
