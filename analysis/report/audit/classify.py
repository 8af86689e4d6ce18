"""Classifying each claim before it is judged: what KIND of statement it is (a target, an
achieved value, a capacity, a usage, free memory, a utilisation of compute (MFU), of memory
bandwidth or of memory capacity, a restated count, a tick), its SCOPE (per GPU or all GPUs
together) and, for memory, what it COUNTS (weights only, KV cache only, or everything).

The quantity a claim is judged as follows from that reading, so that a claim is only ever
compared with the same quantity: weights with weights, KV cache with KV cache, everything with
everything, a per-GPU figure with a per-GPU figure, a total with a total, a target with the
requirement and an achieved value with our estimate. ``classify`` is pure: a claim in, the same
claim with its :class:`Reading` (and perhaps a narrower quantity) out."""

from __future__ import annotations

import re
from dataclasses import replace

from analysis.report.audit.quantities import QUANTITIES, Claim, Reading

_TARGET = re.compile(r"target|requirement|\bslo\b|\bsla\b|goal|required|budget|\blimit\b")
_ACHIEVED = re.compile(r"achiev|actual|expected|estimat|project|predict|measured|result")
_MET = re.compile(r"\bmet\b|\bmeets?\b|satisf|fulfil|\bpass|\bok\b")
_PER_GPU = re.compile(r"per[\s-]*(?:gpu|card|device|chip|rank)|/\s*(?:gpu|card|device)"
                      r"|each\s+(?:gpu|card|device)|single[\s-]*(?:gpu|card)")
_TOTAL = re.compile(r"\btotal\b|all\s+gpus|cluster|overall|aggregate|combined|whole\s+model"
                    r"|full\s+model|across\s+(?:all\s+)?(?:the\s+)?(?:\d+\s+)?gpus")

#: quantity -> (kind, scope, counts) for the quantities whose reading never varies.
_FIXED = {
    "ttft_target": ("target", "", ""), "tpot_target": ("target", "", ""),
    "memory_capacity": ("capacity", "per_gpu", ""),
    "memory_free": ("free", "per_gpu", "total"),
    "mfu": ("mfu", "", ""),
    "bandwidth_utilization": ("bandwidth_utilization", "per_gpu", ""),
    "memory_utilization": ("capacity_utilization", "per_gpu", "total"),
    "expert_utilization": ("expert_share", "", ""),
}
_MEMORY = ("memory_per_gpu", "memory_total", "weights_per_gpu", "weights_total",
           "kv_cache_per_gpu", "kv_cache_total", "activations_per_gpu")
_MEMORY_QUANTITY = {("total", "per_gpu"): "memory_per_gpu", ("total", "total"): "memory_total",
                    ("weights", "per_gpu"): "weights_per_gpu",
                    ("weights", "total"): "weights_total",
                    ("kv_cache", "per_gpu"): "kv_cache_per_gpu",
                    ("kv_cache", "total"): "kv_cache_total",
                    ("activations", "per_gpu"): "activations_per_gpu",
                    ("activations", "total"): "activations_per_gpu"}


def _words(c: Claim) -> str:
    """The words that say what the number is: the line up to its first number's end (a
    "(target ...)" after it speaks of the target, not of this number)."""
    return c.text.lower()


def memory_counts(text: str) -> str:
    """What a memory line counts: "weights", "expert_weights", "non_expert_weights",
    "kv_cache", "activations", "total" or "total_with_reserve" (the runtime reserve named)."""
    t = text.lower()
    kv = re.search(r"\bkv\b|kv[\s-]*cache|key[\s/-]*value", t)
    w = re.search(r"weight|param", t)
    if re.search(r"reserve|incl\w*\s+(?:the\s+)?overhead|with\s+overhead", t):
        return "total_with_reserve"
    act = re.search(r"activation", t)
    if act and not (kv or w) and "+" not in t:
        return "activations"
    if (kv and w) or act or "+" in t or not (kv or w):
        return "total"
    if kv:
        return "kv_cache"
    if re.search(r"non[\s-]*expert|attention|dense|shared", t):
        return "non_expert_weights"
    if re.search(r"expert", t):
        return "expert_weights"
    return "weights"


def memory_scope(text: str, counts: str) -> str:
    """"per_gpu" or "total": per GPU unless the line says total; a bare "model weights" is the
    model's, so total."""
    t = text.lower()
    if _PER_GPU.search(t):
        return "per_gpu"
    if _TOTAL.search(t):
        return "total"
    if counts.endswith("weights") and re.search(r"\bmodel\b", t):
        return "total"
    return "per_gpu"


def _memory(c: Claim) -> tuple[str, Reading, str]:
    key = c.text.lower().split(":")[0] if ":" in c.text else ""
    if re.search(r"capacity|installed|physical|single[\s-]*card\s+(?:vram|memory)", key) \
            and not re.search(r"\bkv\b|kv[\s-]*cache|weight|param|activation", key):
        return "memory_capacity", Reading("capacity", "per_gpu"), ""
    counts = memory_counts(_words(c))
    scope = memory_scope(_words(c), counts)
    family = {"expert_weights": "weights", "non_expert_weights": "weights",
              "total_with_reserve": "total"}.get(counts, counts)
    detail = {"expert_weights": "expert", "non_expert_weights": "non_expert",
              "total_with_reserve": "reserve"}.get(counts, "")
    return _MEMORY_QUANTITY[(family, scope)], Reading("usage", scope, counts), detail


def _is_target(c: Claim) -> bool:
    """The key (the words before the number) names a target and not an achieved value."""
    key = c.text.lower().split(":")[0] if ":" in c.text else ""
    return (bool(_TARGET.search(key)) and not _ACHIEVED.search(key)
            and not _MET.search(key) and c.ticked is None)


def _performance(c: Claim) -> tuple[str, Reading]:
    q = c.quantity
    if q.startswith("throughput"):
        scope = "total" if q == "throughput_total" else "per_gpu"
        if q == "throughput_target":
            scope = "total" if _TOTAL.search(_words(c)) and not _PER_GPU.search(_words(c)) \
                else "per_gpu"
            return q, Reading("target", scope)
        if _is_target(c):
            return "throughput_target", Reading("target", scope)
        return q, Reading("achieved", scope)
    if q == "tpot" and _is_target(c):
        return "tpot_target", Reading("target")
    if q == "ttft" and _is_target(c):
        return "ttft_target", Reading("target")
    return q, Reading("achieved")


def classify(c: Claim) -> Claim:
    """The claim with its :class:`Reading`, and the quantity that reading makes it."""
    q, detail = c.quantity, c.detail
    if q in _FIXED:
        reading = Reading(*_FIXED[q])
    elif q in _MEMORY:
        q, reading, detail = _memory(c)
    elif q in ("ttft", "tpot", "prefill_time") or q.startswith("throughput"):
        q, reading = _performance(c)
    elif QUANTITIES[q].unit == "check":
        reading = Reading("check")
    else:
        reading = Reading("restated")
    return replace(c, quantity=q, unit=QUANTITIES[q].unit, reading=reading, detail=detail)
