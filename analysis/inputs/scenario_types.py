"""The plan's problem: what is served (workload), the targets (requirements), and the scenario
that bundles them with a GPU, a model and a current layout. Importable from
:mod:`analysis.inputs.types` and :mod:`analysis.inputs` too.

Like the other inputs: immutable dataclasses in SI base units, checked in ``__post_init__``
with an :class:`~analysis.inputs.errors.InputError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from analysis.inputs import limits
from analysis.inputs.checks import check_fraction, check_positive
from analysis.inputs.errors import InputError
from analysis.inputs.serving import ServingRequirements
from analysis.inputs.speculative import Speculative
from analysis.inputs.strategy import Strategy

if TYPE_CHECKING:   # annotations only: types.py re-exports this module's names
    from analysis.inputs.types import Hardware, Model

# --------------------------------------------------------------------------------------------
# Workload
# --------------------------------------------------------------------------------------------

#: Prompt lengths evaluated for a range [lo, hi]: powers of two strictly inside, plus both ends.
def prompt_grid_tokens(lo: int, hi: int) -> tuple[int, ...]:
    """Evaluation grid for a prompt-length range: ``lo``, every power of two in (lo, hi), ``hi``."""
    pts = {lo, hi}
    p = 1
    while p < hi:
        if p > lo:
            pts.add(p)
        p *= 2
    return tuple(sorted(pts))


@dataclass(frozen=True)
class Workload:
    """What the deployment serves: ``batch_sequences`` sequences in flight together.

    ``prompt_lengths_tokens`` are the prompt lengths to evaluate (one for a fixed length, a grid
    for a range); ``prompt_length_weights`` (same length, summing to 1) make it a distribution.
    TTFT is checked at the longest prompt, the worst case.
    """

    batch_sequences: int
    prompt_lengths_tokens: tuple[int, ...]
    output_tokens: int = 256
    prompt_length_weights: tuple[float, ...] | None = None
    prompt_range_tokens: tuple[int, int] | None = None   # as the user gave it, for reports
    output_tokens_stated: bool = True    # False when output_tokens is a default, not the user's

    def __post_init__(self) -> None:
        check_positive("workload.batch_sequences", self.batch_sequences, integer=True)
        check_positive("workload.output_tokens", self.output_tokens, integer=True)
        if not self.prompt_lengths_tokens:
            raise InputError("workload.prompt_lengths_tokens", self.prompt_lengths_tokens,
                             "no prompt length given", "one or more whole numbers > 0")
        for s in self.prompt_lengths_tokens:
            check_positive("workload.prompt_lengths_tokens", s, integer=True)
        if self.prompt_length_weights is not None:
            w = self.prompt_length_weights
            if len(w) != len(self.prompt_lengths_tokens):
                raise InputError("workload.prompt_length_weights", w,
                                 "needs one weight per prompt length",
                                 f"{len(self.prompt_lengths_tokens)} weights summing to 1")
            for x in w:
                check_positive("workload.prompt_length_weights", x, allow_zero=True)
            if abs(sum(w) - 1) > 1e-6:
                raise InputError("workload.prompt_length_weights", w, f"sum to {sum(w):g}",
                                 "weights summing to 1")
        if self.prompt_range_tokens is not None:
            lo, hi = self.prompt_range_tokens
            if lo > hi:
                raise InputError("workload.prompt_range_tokens", self.prompt_range_tokens,
                                 "the range is reversed", f"[{hi}, {lo}]")
        limits.check_workload(self)

    @property
    def max_prompt_tokens(self) -> int:
        return max(self.prompt_lengths_tokens)

    @property
    def min_prompt_tokens(self) -> int:
        return min(self.prompt_lengths_tokens)

    @classmethod
    def from_range(cls, batch_sequences: int, lo: int, hi: int, output_tokens: int = 256,
                   output_tokens_stated: bool = True) -> Workload:
        check_positive("workload.prompt_range_tokens[0]", lo, integer=True)
        check_positive("workload.prompt_range_tokens[1]", hi, integer=True)
        limits.check_limit("workload.prompt_range_tokens[1]", hi, "prompt_tokens")
        if lo > hi:
            raise InputError("workload.prompt_range_tokens", (lo, hi), "the range is reversed",
                             f"[{hi}, {lo}]")
        return cls(batch_sequences, prompt_grid_tokens(int(lo), int(hi)), output_tokens,
                   prompt_range_tokens=(int(lo), int(hi)),
                   output_tokens_stated=output_tokens_stated)


# --------------------------------------------------------------------------------------------
# Requirements
# --------------------------------------------------------------------------------------------

ThroughputKind = Literal["prefill", "decode", "total"]


@dataclass(frozen=True)
class Requirements:
    """Service-level targets; each is optional (None = not required).

    ``throughput_tokens_per_s_per_gpu`` counts the tokens named by ``throughput_kind``:
    "prefill" (prompt tokens processed), "decode" (tokens generated) or "total" (both, over a
    whole request). ``memory_reserve_fraction`` of HBM is kept free for the runtime
    (allocator fragmentation, CUDA context, graphs).
    """

    ttft_s: float | None = None
    tpot_s: float | None = None
    throughput_tokens_per_s_per_gpu: float | None = None
    throughput_kind: ThroughputKind | None = None
    throughput_kind_reason: str = ""
    memory_reserve_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("ttft_s", "tpot_s", "throughput_tokens_per_s_per_gpu"):
            v = getattr(self, name)
            if v is not None:
                check_positive(f"requirements.{name}", v)
        if self.throughput_kind not in (None, "prefill", "decode", "total"):
            raise InputError("requirements.throughput_kind", self.throughput_kind,
                             "unknown throughput kind", "prefill, decode, total")
        check_fraction("requirements.memory_reserve_fraction", self.memory_reserve_fraction,
                       allow_zero=True)
        if self.memory_reserve_fraction >= 1:
            raise InputError("requirements.memory_reserve_fraction", self.memory_reserve_fraction,
                             "would leave no memory for the model", "0 <= x < 1")
        limits.check_requirements(self)

# --------------------------------------------------------------------------------------------
# Scenario: everything a plan needs, plus what was assumed to fill the gaps
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """One planning problem. ``assumptions`` lists every default used to fill a gap in the input;
    ``warnings`` lists anything the user should look at (e.g. declared vs derived size)."""

    name: str
    hardware: Hardware
    model: Model
    workload: Workload
    requirements: Requirements = field(default_factory=Requirements)
    current_strategy: Strategy | None = None
    max_gpus: int = 1024
    fixed_gpus: int | None = None
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = ""
    serving: ServingRequirements | None = None   # the serving: block, when the scenario has one
    speculative: Speculative | None = None       # the speculative: block (MTP / draft model)

    def __post_init__(self) -> None:
        check_positive("scenario.max_gpus", self.max_gpus, integer=True)
        if self.fixed_gpus is not None:
            check_positive("scenario.fixed_gpus", self.fixed_gpus, integer=True)
        limits.check_scenario(self)

    def with_assumptions(self, *more: str) -> Scenario:
        return replace(self, assumptions=tuple(dict.fromkeys(self.assumptions + more)))

    def with_warnings(self, *more: str) -> Scenario:
        return replace(self, warnings=tuple(dict.fromkeys(self.warnings + more)))
