"""What a claim is: the quantities the audit recognises (with their tolerances and the parts of
the plan each needs), a claim, its verdict, a qualitative finding, something unreadable; and how
a value is shown to a person."""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis import fmt


@dataclass(frozen=True)
class Quantity:
    """A kind of claim: its label, SI unit, relative tolerance and the inputs ours needs."""

    label: str
    unit: str                 # SI: "bytes", "s", "tokens/s", "fraction", "count", "params", "check"
    tolerance: float | None   # relative; None = exact (counts, ticks)
    needs: tuple[str, ...]    # parts of the plan that must have been read: hardware, model,
    #                           workload, requirements, layout, estimate (the layout can run)


#: Every quantity the audit recognises. Times and throughputs get 10% because plans round them;
#: counts, degrees and ticks are exact; memory 10%; parameter counts 10% (publishers count the
#: embeddings differently, see reference/README.md).
QUANTITIES: dict[str, Quantity] = {
    "params_total": Quantity("total parameters", "params", 0.10, ("model",)),
    "params_active": Quantity("active parameters per token", "params", 0.10, ("model",)),
    "gpu_count": Quantity("total GPUs", "count", None, ("layout",)),
    "degrees_product": Quantity("product of the parallel degrees", "count", None, ("layout",)),
    "ep_degree": Quantity("EP degree (restated)", "count", None, ("layout",)),
    "tp_degree": Quantity("TP degree (restated)", "count", None, ("layout",)),
    "pp_degree": Quantity("pipeline stages (restated)", "count", None, ("layout",)),
    "num_experts": Quantity("experts per layer (restated)", "count", None, ("model",)),
    "top_k": Quantity("experts per token, top-k (restated)", "count", None, ("model",)),
    "expert_gpus": Quantity("GPUs the experts of a layer are spread over", "count", None,
                            ("model", "layout")),
    "experts_per_gpu": Quantity("experts per GPU", "count", None, ("model", "layout")),
    "experts_per_rank": Quantity("experts per EP rank", "count", None, ("model", "layout")),
    "layers_per_stage": Quantity("layers per pipeline stage", "count", None,
                                 ("model", "layout")),
    "memory_per_gpu": Quantity("memory per GPU", "bytes", 0.10,
                               ("model", "workload", "layout", "estimate")),
    "memory_total": Quantity("memory, all GPUs", "bytes", 0.10,
                             ("model", "workload", "layout", "estimate")),
    "weights_per_gpu": Quantity("weights per GPU", "bytes", 0.10,
                                ("model", "workload", "layout", "estimate")),
    "weights_total": Quantity("weights of the model", "bytes", 0.10, ("model",)),
    "kv_cache_per_gpu": Quantity("KV cache per GPU", "bytes", 0.10,
                                 ("model", "workload", "layout", "estimate")),
    "activations_per_gpu": Quantity("activation memory per GPU", "bytes", 0.10,
                                    ("model", "workload", "layout", "estimate")),
    "kv_cache_total": Quantity("KV cache, all GPUs", "bytes", 0.10,
                               ("model", "workload", "layout", "estimate")),
    "memory_capacity": Quantity("GPU memory (restated)", "bytes", 0.0, ("hardware",)),
    "memory_free": Quantity("free memory per GPU (headroom)", "bytes", 0.10,
                            ("hardware", "model", "workload", "layout", "estimate")),
    "bandwidth_utilization": Quantity("memory-bandwidth utilisation (an input)", "fraction",
                                      0.0, ("hardware",)),
    "mfu": Quantity("compute utilisation, MFU (an input)", "fraction", 0.0, ("hardware",)),
    "memory_utilization": Quantity("memory utilisation", "fraction", 0.10,
                                   ("hardware", "model", "workload", "layout", "estimate")),
    "prefill_time": Quantity("prefill time of the batch", "s", 0.10,
                             ("hardware", "model", "workload", "layout", "estimate")),
    "ttft": Quantity("TTFT", "s", 0.10,
                     ("hardware", "model", "workload", "layout", "estimate")),
    "tpot": Quantity("TPOT", "s", 0.10,
                     ("hardware", "model", "workload", "layout", "estimate")),
    "ttft_target": Quantity("TTFT target (restated)", "s", 0.0, ("requirements",)),
    "tpot_target": Quantity("TPOT target (restated)", "s", 0.0, ("requirements",)),
    "throughput_total": Quantity("throughput, all GPUs", "tokens/s", 0.10,
                                 ("hardware", "model", "workload", "layout", "estimate")),
    "throughput_per_gpu": Quantity("throughput per GPU", "tokens/s", 0.10,
                                   ("hardware", "model", "workload", "layout", "estimate")),
    "throughput_target": Quantity("throughput target (restated)", "tokens/s", 0.0,
                                  ("requirements",)),
    "expert_utilization": Quantity("expert utilisation", "fraction", 0.10, ("model",)),
    "memory_fits": Quantity("✓ memory requirement met", "check", None,
                            ("hardware", "model", "workload", "layout", "estimate")),
    "ttft_met": Quantity("✓ TTFT requirement met", "check", None,
                         ("hardware", "model", "workload", "requirements", "layout",
                          "estimate")),
    "tpot_met": Quantity("✓ TPOT requirement met", "check", None,
                         ("hardware", "model", "workload", "requirements", "layout",
                          "estimate")),
    "throughput_met": Quantity("✓ throughput requirement met", "check", None,
                               ("hardware", "model", "workload", "requirements", "layout",
                                "estimate")),
    "degrees_valid": Quantity("✓ parallel degrees compatible", "check", None,
                              ("model", "workload", "layout")),
    "unverifiable": Quantity("statement with no measurable criterion", "check", None, ()),
}


#: What kind of statement a claim is (:mod:`.classify`), as a person reads it.
KINDS = {
    "target": "a target (a requirement restated)",
    "achieved": "an achieved or expected value",
    "capacity": "a capacity (what the GPU has)",
    "usage": "a usage (what the plan puts in memory)",
    "free": "free memory (capacity less usage)",
    "mfu": "a utilisation of compute (MFU)",
    "bandwidth_utilization": "a utilisation of memory bandwidth",
    "capacity_utilization": "a utilisation of memory capacity",
    "expert_share": "a share of the experts a token activates",
    "restated": "a count of the model or layout",
    "check": "a tick",
}
#: What a memory claim counts.
COUNTS = {"weights": "weights only", "expert_weights": "expert weights only",
          "non_expert_weights": "non-expert weights only", "kv_cache": "KV cache only",
          "total": "everything (weights, KV cache, activations, buffers), without the runtime "
                   "reserve",
          "total_with_reserve": "everything, with the runtime reserve"}


@dataclass(frozen=True)
class Reading:
    """How a claim is read before it is judged: its kind (:data:`KINDS`), its scope
    ("per_gpu", "total" or "" where neither applies) and, for memory, what it counts
    (:data:`COUNTS`, "" otherwise)."""

    kind: str
    scope: str = ""
    counts: str = ""

    def text(self) -> str:
        """"a usage, per GPU, weights only"."""
        out = [KINDS[self.kind]]
        if self.scope:
            out.append("per GPU" if self.scope == "per_gpu" else "all GPUs together")
        if self.counts:
            out.append(COUNTS[self.counts])
        return ", ".join(out)

    def short(self) -> str:
        """"usage, per GPU, weights" (a table cell)."""
        out = [_SHORT.get(self.kind, self.kind)]
        if self.scope:
            out.append("per GPU" if self.scope == "per_gpu" else "total")
        if self.counts:
            out.append(_SHORT_COUNTS[self.counts])
        return ", ".join(out)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "scope": self.scope, "counts": self.counts,
                "text": self.text()}


_SHORT = {"bandwidth_utilization": "bandwidth utilisation",
          "capacity_utilization": "capacity utilisation", "expert_share": "expert share",
          "mfu": "MFU", "restated": "count", "check": "tick"}
_SHORT_COUNTS = {"weights": "weights", "expert_weights": "expert weights",
                 "non_expert_weights": "non-expert weights", "kv_cache": "KV cache",
                 "activations": "activations", "total": "all, no reserve",
                 "total_with_reserve": "all + reserve"}


@dataclass(frozen=True)
class Claim:
    """One number (or one tick) the plan states, in SI units.

    ``claimed_value`` is bytes, seconds, tokens/s (per GPU or total, as ``quantity`` says), a
    fraction, a count, or True/False for a tick; ``printed`` is the text it came from and
    ``rounding`` half a unit of its last printed digit, in the same unit.
    """

    section: str
    line_no: int
    text: str
    quantity: str
    claimed_value: float | bool | None
    unit: str
    printed: str = ""
    rounding: float = 0.0
    approximate: bool = False
    detail: str = ""                 # reading notes (a throughput kind, a tick's topic)
    bound: str = ""                  # "upper" for an achieved value written "<6 s" (at most)
    ticked: bool | None = None       # a tick on the line (leading or trailing), None if none
    reading: Reading | None = None   # set by :func:`.classify.classify` before judging


@dataclass(frozen=True)
class Verdict:
    """A claim judged against our model: confirmed, wrong or not checkable."""

    claim: Claim
    status: str                      # "confirmed", "wrong", "not checkable"
    ours: float | bool | None
    error: float | None              # claimed / ours - 1 (None for ticks and when uncheckable)
    tolerance: str
    why: str

    def as_dict(self) -> dict:
        c = self.claim
        return {"section": c.section, "line_no": c.line_no, "text": c.text,
                "quantity": c.quantity, "label": QUANTITIES[c.quantity].label,
                "claimed_value": c.claimed_value, "unit": c.unit, "printed": c.printed,
                "approximate": c.approximate,
                "reading": c.reading.as_dict() if c.reading else None,
                "status": self.status, "ours": self.ours,
                "ours_text": show(self.ours, c.unit), "error": self.error,
                "tolerance": self.tolerance, "why": self.why}


@dataclass(frozen=True)
class Finding:
    """A qualitative statement checked, a requirement left unchecked, or an inconsistency."""

    kind: str                        # "optimisation", "requirement", "consistency", "layout"
    line_no: int | None
    statement: str
    verdict: str                     # "applies", "does not apply", "impossible", "unchecked",
    #                                  "inconsistent", "consistent"
    problem: bool
    why: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "line_no": self.line_no, "statement": self.statement,
                "verdict": self.verdict, "problem": self.problem, "why": self.why}


@dataclass(frozen=True)
class Unreadable:
    """Something of the plan that could not be read, and why (line is None for a section)."""

    line_no: int | None
    text: str
    why: str

    def as_dict(self) -> dict:
        return {"line_no": self.line_no, "text": self.text, "why": self.why}



def sig(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures, never in exponent form."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    d = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{d}f}"



def show(value, unit: str) -> str:
    """A value in the unit a person reads (GB, ms, tokens/ms, %)."""
    if value is None:
        return "—"
    if unit == "check":
        return "✓" if value else "✗"
    if unit == "bytes":
        return f"{sig(value / 1e9)} GB"
    if unit == "s":
        return "0 s" if value == 0 else fmt.seconds(value)
    if unit == "tokens/s":
        return f"{sig(value / 1e3)} tokens/ms"
    if unit == "fraction":
        return f"{sig(value * 100)}%"
    if unit == "params":
        return f"{fmt.params(value)} ({value:,.0f})"
    return f"{value:g}"


def error_text(claimed: float, ours: float, unit: str = "") -> str:
    """"+22%", "22.1x too high", or "0 where ours is 156 ms" for a zero claim."""
    if ours == 0:
        return "ours is 0"
    if claimed == 0:
        return f"0 where ours is {show(ours, unit)}" if unit else "0 where ours is not"
    r = claimed / ours
    if r >= 2:
        return f"{sig(r)}x too high"
    if r <= 0.5:
        return f"{sig(1 / r)}x too low"
    return f"{(r - 1) * 100:+.0f}%"

