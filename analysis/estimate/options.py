"""How to estimate: the efficiency mode, the expert-load model, overlap and EP byte sizes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from analysis.inputs.errors import InputError
from analysis.inputs.speculative import check_speculative

Mode = Literal["derated", "sol", "calibrated"]
Imbalance = Literal["balanced", "uniform", "factor", "zipf"]

#: Fixed cost of one kernel (launch, ramp-up and tail) added to every op's roofline time in
#: derated mode: a few microseconds. NVIDIA Technical Blog, "Getting Started with CUDA Graphs"
#: (A. Gray, 2019): back-to-back launches of a short kernel measured about 3.8 us each, of
#: which about 2.9 us is the kernel; a near-empty kernel's launch-to-completion floor is of the
#: same order. 3 us is taken within that range (not fitted); with it the FasterTransformer
#: 13B TP2 decode anchor (tests/test_anchors.py) comes within its 15% tolerance. (The blog's
#: figures are quoted as read when this was written; the page could not be re-read since. For
#: scale, Holistic Trace Analysis's docs, "CUDA kernel launch stats", put a launch's CPU side
#: at 5-20 us without graphs, which engines hide by replaying CUDA graphs in decode.)
KERNEL_OVERHEAD_S = 3e-6


@dataclass(frozen=True)
class Options:
    """How to estimate.

    ``mode``: "derated" applies the hardware's MFU, bandwidth utilisation and link efficiencies;
    "sol" (speed of light) sets them all to 1 and drops communication; "calibrated" uses the
    hardware's fitted size-dependent curves (:class:`~analysis.inputs.Calibration`) and falls back
    to "derated" for a GPU that has none (``describe`` says which was used).
    ``imbalance``: "balanced" (every EP rank gets the mean load), "uniform" (routing uniformly at
    random: the expected busiest rank, :func:`analysis.formulas.expected_max_load`), or "factor"
    (busiest = ``imbalance_factor`` x mean), or "zipf" (expert popularity with Zipf exponent
    ``skew``, redundant copies on the hottest experts, :mod:`analysis.estimate.skew`).
    ``overlap_fraction`` of communication may hide under
    compute (0 = none, the default). ``dispatch_bytes_per_element`` /
    ``combine_bytes_per_element`` override the model's EP precisions
    (:func:`analysis.estimate.context.ep_element_bytes`: FP8 dispatch, BF16 combine for an FP8
    model by default).
    ``prefill_chunk_tokens``: tokens one attention rank prefills per iteration (chunked prefill:
    engines cap the tokens of a step, e.g. SGLang ``--chunked-prefill-size``, vLLM
    ``--max-num-batched-tokens``); it sizes the prefill activations and communication buffers,
    not the prefill time. ``decode_only``: the layout serves decode only (prefill runs
    elsewhere, disaggregated), so it holds no prompt-sized activations or buffers.
    ``kernel_overhead_s``: fixed cost per kernel in derated mode (:data:`KERNEL_OVERHEAD_S`).
    ``node_dedup``: cross-node dispatch sends once per destination node and forwards over
    NVLink (DeepEP's internode kernels). Off by default, decided with two-batch overlap's costs
    in place (issue 12): reading the validation's eight DeepSeek-V3 DeepEP rows as ``tbo=1``
    with ``node_dedup=1``, calibrated mode improves (prefill rows -4..-23% -> +5..-19%) but
    derated mode, the default, turns the prefill rows from -4..-23% into +36..+76% (held-out
    throughput median 21.1% -> 24.1%): the derated compute is optimistic there and the
    undeduplicated traffic was hiding it.
    ``two_batch_overlap``: each stage step runs as two micro-batches whose communication hides
    under each other's GPU work (DeepSeek, SGLang), at the cost of half-size GEMMs, a second
    weight read and twice the kernels (:func:`analysis.estimate.ops.stage_time_s`).
    ``draft_tokens`` (d), ``acceptance_rate`` (a), ``draft_cost_fraction`` (f): speculative
    decoding / multi-token prediction. Each decode step drafts d tokens per sequence (each
    costing f of an ordinary step; None = an MTP module of one layer, f = 1/L), the target
    verifies d + 1 tokens per sequence in one step, and a sequence gains
    ``(1 - a^(d+1)) / (1 - a)`` tokens per step (Leviathan et al. 2023): TPOT = step time /
    that (:func:`analysis.estimate.formulas.speculative_time_per_token_s`). d = 0: off.
    """

    mode: Mode = "derated"
    imbalance: Imbalance = "uniform"
    imbalance_factor: float = 1.0
    skew: float = 1.0
    overlap_fraction: float = 0.0
    dispatch_bytes_per_element: float | None = None
    combine_bytes_per_element: float | None = None
    prefill_chunk_tokens: int = 8192
    decode_only: bool = False
    kernel_overhead_s: float = KERNEL_OVERHEAD_S
    node_dedup: bool = False
    two_batch_overlap: bool = False
    draft_tokens: int = 0
    acceptance_rate: float = 0.0
    draft_cost_fraction: float | None = None

    def __post_init__(self) -> None:
        check_speculative(self.draft_tokens, self.acceptance_rate, self.draft_cost_fraction)
        if self.mode not in ("derated", "sol", "calibrated"):
            raise InputError("options.mode", self.mode, "unknown mode", "derated, sol, calibrated")
        if self.imbalance not in ("balanced", "uniform", "factor", "zipf"):
            raise InputError("options.imbalance", self.imbalance, "unknown imbalance model",
                             "balanced, uniform, factor, zipf")
        if not (self.skew >= 0):
            raise InputError("options.skew", self.skew, "a Zipf exponent cannot be negative",
                             "s >= 0 (0 = uniform popularity; about 1 for strongly skewed)")
        if not (self.imbalance_factor >= 1):
            raise InputError("options.imbalance_factor", self.imbalance_factor,
                             "the busiest rank cannot carry less than the mean", "a number >= 1")
        if not (isinstance(self.prefill_chunk_tokens, int) and self.prefill_chunk_tokens >= 1):
            raise InputError("options.prefill_chunk_tokens", self.prefill_chunk_tokens,
                             "tokens per prefill iteration must be a whole number",
                             "an integer >= 1 (engines default to a few thousand, e.g. 8192)")
        if not (self.kernel_overhead_s >= 0):
            raise InputError("options.kernel_overhead_s", self.kernel_overhead_s,
                             "a fixed cost cannot be negative", "seconds >= 0, e.g. 3e-6")
        if not (0 <= self.overlap_fraction <= 1):
            raise InputError("options.overlap_fraction", self.overlap_fraction,
                             "must be a fraction", "0 <= x <= 1")

    def with_speculative(self, spec) -> Options:
        """These options with a scenario's ``speculative:`` block
        (:class:`analysis.inputs.speculative.Speculative`) unless speculation is already set."""
        if spec is None or self.draft_tokens:
            return self
        return replace(self, draft_tokens=spec.draft_tokens,
                       acceptance_rate=spec.acceptance_rate,
                       draft_cost_fraction=spec.draft_cost_fraction)

    def describe(self) -> str:
        imb = {"balanced": "perfectly balanced experts",
               "uniform": "uniform-random routing (busiest EP rank at its expected maximum)",
               "factor": f"busiest EP rank at {self.imbalance_factor:g}x the mean",
               "zipf": f"Zipf-skewed expert popularity (s = {self.skew:g}), redundant copies on "
                       f"the hottest experts"}[self.imbalance]
        mode = {"derated": f"derated by the GPU's efficiency factors, plus "
                           f"{self.kernel_overhead_s * 1e6:g} us per kernel",
                "sol": "speed of light (all efficiencies 1, no communication)",
                "calibrated": "calibrated size-dependent efficiencies where the GPU has them, "
                              "else its stated efficiency factors"}[self.mode]
        overlap = ("two-batch overlap (communication hidden under the other micro-batch)"
                   if self.two_batch_overlap else
                   f"{self.overlap_fraction:.0%} of communication overlapped with compute")
        spec = ""
        if self.draft_tokens:
            cost = (f"{self.draft_cost_fraction:g} of a step each" if self.draft_cost_fraction
                    is not None else "an MTP module of one layer")
            spec = (f"; speculative decoding: {self.draft_tokens} draft token(s) accepted at "
                    f"{self.acceptance_rate:.0%} ({cost})")
        return f"{mode}; {imb}; {overlap}{spec}"
