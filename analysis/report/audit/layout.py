"""The plan's layout, read with the shared strategy-text reader
(:func:`analysis.inputs.read.text.read_degrees`) in every shape people write degrees in.

Only stated degrees are set: a plan that states micro-batches (or nothing) but no parallel degree
has no layout, never a 1-GPU one. When EP and TP are both stated without saying how the experts
are split, two readings are possible:

* TP inside each expert (``etp = tp``, ``dp_attn = ep``): GPUs = EP x TP x PP x DP;
* experts whole, TP inside an attention group of EP ranks (``etp = 1``, ``dp_attn = ep / tp``):
  GPUs = EP x PP x DP.

The stated GPU count (or a written "within each expert") chooses; without either, the experts are
taken as whole (a plan that never splits experts does not get ``etp = tp``). The choice is said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analysis.inputs.errors import InputError
from analysis.inputs.read import text as T
from analysis.inputs.types import Strategy
from analysis.report.audit.lines import Line
from analysis.report.audit.quantities import Unreadable

_PARALLEL = ("ep", "tp", "pp", "dp", "etp", "dp_attn")
_SPLIT_EXPERTS = re.compile(r"(?:within|inside|in)\s+(?:each|every|the)\s+experts?|expert[\s-]*"
                            r"tensor|tp\s+(?:for|on|across)\s+(?:the\s+)?experts?", re.IGNORECASE)
_DEGREE_KEY = re.compile(r"parallel|\b(?:e?tp|ep|pp|dp)\b|degree", re.IGNORECASE)


@dataclass
class Layout:
    strategy: Strategy | None
    missing: str | None                       # why there is no layout
    notes: list[str] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


def _source_lines(lines: list[Line]) -> list[Line]:
    """The strategy section's lines; without degrees there, the output sections' lines."""
    own = [ln for ln in lines if ln.kind == "strategy"]
    if any(T.degrees_in_text(ln.text, ln.section) for ln in own):
        return own
    return [ln for ln in lines if ln.kind not in ("hardware", "model", "workload",
                                                  "requirements")] or own


def _unread_degree_lines(src: list[Line]) -> list[Unreadable]:
    """A "Key: value" line whose key names a degree but whose value is no degree."""
    out = []
    for ln in src:
        if ln.key and _DEGREE_KEY.search(ln.key) and not re.search(r"total|gpus?|world", ln.key) \
                and not T.degrees_in_text(ln.text, ln.section) \
                and not re.search(r"micro|redundant|strateg|composition|type|pattern|comm", ln.key):
            out.append(Unreadable(ln.no, ln.text, "names a parallel degree, but no degree could be "
                                                   "read from its value"))
    return out


def _candidates(d: dict[str, int], text: str, gpus: int | None) -> tuple[dict[str, int], str]:
    """The degrees to complete, and how EP x TP was read."""
    if "tp" not in d or "ep" not in d or {"etp", "dp_attn"} & set(d):
        return d, ""
    tp, ep, rest = d["tp"], d["ep"], d.get("pp", 1) * d.get("dp", 1)
    inside = {**d, "etp": tp, "dp_attn": ep}
    whole = {**d, "etp": 1, "dp_attn": ep // tp} if ep % tp == 0 else None
    if gpus is not None and whole is not None and gpus == ep * rest and gpus != ep * tp * rest:
        return whole, (f"EP {ep} with TP {tp} on the stated {gpus} GPUs: experts whole (etp 1), "
                       f"TP {tp} inside an attention group of {ep} EP ranks")
    if gpus is not None and gpus == ep * tp * rest:
        return inside, (f"EP {ep} x TP {tp} read as TP inside each expert (etp {tp}), which "
                        f"matches the stated {gpus} GPUs")
    if _SPLIT_EXPERTS.search(text) or whole is None:
        return inside, f"EP {ep} x TP {tp} read as TP inside each expert (etp {tp}), as written"
    return whole, (f"EP {ep} with TP {tp}: the plan never splits the experts, so etp = 1 and TP "
                   f"runs inside an attention group of {ep} EP ranks ({ep} GPUs per stage)")


def read_layout(lines: list[Line]) -> Layout:
    """The plan's layout from the degrees it states (see the module docstring)."""
    src = _source_lines(lines)
    deg = T.read_degrees((ln.no, ln.text, ln.section) for ln in src)
    bad = _unread_degree_lines(src)
    out = Layout(None, None, [f"layout: {c}" for c in deg.conflicts], bad)
    stated = {n: deg.get(n) for n in _PARALLEL if deg.get(n) is not None}
    if bad:
        out.missing = f"line {bad[0].line_no} names a degree that could not be read"
        return out
    if not stated:
        only = [n for n in ("microbatches", "redundant_experts") if deg.get(n)]
        extra = f" (only {', '.join(only)} stated, which is no layout)" if only else ""
        out.missing = ("no parallel degree (EP / TP / PP / DP) stated" + extra)
        return out
    for n in ("pp", "dp"):
        if n not in stated:
            out.notes.append(f"layout: no {n.upper()} degree stated: {n} = 1 assumed")
    gpus = deg.gpus[0] if deg.gpus else None
    d, how = _candidates(dict(stated), " ".join(ln.text for ln in lines), gpus)
    if how:
        out.notes.append(f"layout: {how}")
    for n in ("microbatches", "redundant_experts"):
        if deg.get(n) is not None:
            d[n] = deg.get(n)
    try:
        out.strategy = Strategy.complete(**d)
    except InputError as e:
        out.missing = str(e)
    return out
