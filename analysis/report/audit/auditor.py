"""Audit a deployment plan: read what it claims, re-derive every number, judge each claim.

A *plan* is a markdown file in the seed plan's layout (``reference/seed/plan.md``): four input
sections (hardware, model, input data, requirements), a "Recommended Parallel Strategy" with
EP / TP / PP degrees, then output sections that state numbers (Resource Allocation,
Implementation Strategy phases, Expected Performance, Validation Checklist) and qualitative
advice (Memory / Performance Optimization, Communication Pattern).

How it is read:

* The inputs and the layout come from :func:`analysis.cards.scenario_dict_from_card`, the same
  reader as scenario cards. A line it cannot read is reported with its number and left out; a
  missing hardware section is replaced by a placeholder so that claims that do not depend on the
  hardware (parameter count, GPU count, experts and layers per GPU, memory footprint) are still
  judged, and the others are marked "not checkable" with the reason.
* The output sections are read here, line by line, by key words rather than exact wording;
  units are converted (GB / GiB / MB, s / ms / µs, tokens/ms / tokens/s, %), a leading "~" is
  kept as "approximate". Each number becomes a :class:`Claim`.

How each claim is judged (:class:`Verdict`): our model (:func:`analysis.estimate.estimate`)
runs on the scenario read from the plan and **the plan's own layout**, and the claim is

* ``confirmed`` when ``|claimed - ours| <= tolerance * |ours| + rounding``, where ``rounding`` is
  half a unit of the last digit the plan printed ("0.00 s" covers up to 0.005 s, so it cannot
  stand for 0.12 s); tolerances are per quantity (:data:`QUANTITIES`): exact for counts and
  degrees, 10% for memory, times, throughputs and parameter counts;
* ``wrong``, with our value and the size of the error;
* ``not checkable``, with the reason (an input the plan does not state, a line that could not be
  read, a statement no number can settle).

Qualitative advice is matched against what can apply to the layout
(:func:`analysis.report.optimisations` and the rules in :func:`_qualitative`), requirements the
checklist never checks are named, and internal inconsistencies (degrees whose product is not the
GPU count, one quantity stated twice with different values) are listed. Finally the plan's
layout is put beside the one :func:`analysis.search.planner` recommends for the same scenario.

:func:`write_audit` writes ``audit.md`` (deterministic); ``python -m analysis audit PLAN.md``
prints it (``--json`` for the machine-readable form, ``--out DIR`` to write the file).
:func:`render_plan_md` writes a plan in the seed's layout from one of our estimates: a plan whose
every claim the audit confirms (the tests use it).
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import anatomy as A
from analysis import fmt
from analysis.estimate import model as E
from analysis.inputs.errors import InputError, LayoutError, ParseError
from analysis.inputs.read.cards import CARD_NEEDS, scenario_dict_from_card
from analysis.inputs.read.files import read_text_file
from analysis.inputs.read.mapping import scenario_from_dict
from analysis.inputs.types import Scenario, Strategy
from analysis.search import planner as S

__all__ = ["QUANTITIES", "AuditResult", "Claim", "Finding", "Unreadable", "Verdict", "audit",
           "audit_dir_name", "comparison_table", "findings_table", "render_plan_md",
           "verdict_table", "write_audit"]

REPO_ROOT = Path(__file__).resolve().parents[3]

# --------------------------------------------------------------------------------------------
# What a claim is, and how each kind of claim is judged
# --------------------------------------------------------------------------------------------


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
    "kv_cache_per_gpu": Quantity("KV cache per GPU", "bytes", 0.10,
                                 ("model", "workload", "layout", "estimate")),
    "memory_capacity": Quantity("GPU memory (restated)", "bytes", 0.0, ("hardware",)),
    "memory_utilization": Quantity("memory utilisation", "fraction", 0.10,
                                   ("hardware", "model", "workload", "layout", "estimate")),
    "prefill_time": Quantity("prefill time of the batch", "s", 0.10,
                             ("hardware", "model", "workload", "layout", "estimate")),
    "ttft": Quantity("TTFT", "s", 0.10,
                     ("hardware", "model", "workload", "layout", "estimate")),
    "tpot": Quantity("TPOT", "s", 0.10,
                     ("hardware", "model", "workload", "layout", "estimate")),
    "ttft_target": Quantity("TTFT target (restated)", "s", 0.0, ("requirements",)),
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
                "approximate": c.approximate, "status": self.status, "ours": self.ours,
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


# --------------------------------------------------------------------------------------------
# Numbers with units, as printed
# --------------------------------------------------------------------------------------------

_NUM = r"(\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?|\.\d+)"
_APPROX = r"(~|≈|about\s+|approx\.?\s+|approximately\s+|roughly\s+|around\s+)?"

_BYTE_UNITS = {"tib": 2.0**40, "gib": 2.0**30, "mib": 2.0**20, "kib": 2.0**10, "tb": 1e12,
               "gb": 1e9, "mb": 1e6, "kb": 1e3, "bytes": 1.0, "byte": 1.0, "b": 1.0}
_BYTES_RE = re.compile(rf"{_APPROX}{_NUM}\s*(TiB|GiB|MiB|KiB|TB|GB|MB|KB|bytes?|B)(?![A-Za-z/])",
                       re.IGNORECASE)
_TIME_UNITS = [("ms", 1e-3), ("msec", 1e-3), ("millisecond", 1e-3), ("milliseconds", 1e-3),
               ("µs", 1e-6), ("μs", 1e-6), ("us", 1e-6), ("microsecond", 1e-6),
               ("microseconds", 1e-6), ("s", 1.0), ("sec", 1.0), ("secs", 1.0), ("second", 1.0),
               ("seconds", 1.0), ("min", 60.0), ("mins", 60.0), ("minute", 60.0),
               ("minutes", 60.0)]
_TIME_RE = re.compile(rf"{_APPROX}{_NUM}\s*(milliseconds?|microseconds?|seconds?|minutes?|msec|"
                      rf"secs?|mins?|ms|µs|μs|us|s)(?![A-Za-z])", re.IGNORECASE)
_TPUT_RE = re.compile(rf"{_APPROX}{_NUM}\s*([kKM])?\s*(?:tokens?|toks?|tkns?)\s*(?:/|per)\s*"
                      r"(?:gpu\s*(?:/|per)\s*)?(ms|msec|milliseconds?|s|sec|seconds?)"
                      r"(?![A-Za-z])", re.IGNORECASE)
_PCT_RE = re.compile(rf"{_APPROX}{_NUM}\s*%")
_PARAMS_RE = re.compile(rf"{_APPROX}{_NUM}\s*(billion|million|trillion|bn|mn|tn|[BMTK])?"
                        r"(?![A-Za-z])", re.IGNORECASE)
_COUNT_RE = re.compile(rf"(?<![\w.]){_APPROX}{_NUM}(?![\w.%])")


@dataclass(frozen=True)
class _Num:
    value: float             # in SI
    rounding: float          # half a unit of the last printed digit, in SI
    printed: str
    approximate: bool
    start: int
    end: int


def _parse_num(s: str) -> tuple[float, int]:
    """Value and decimals of a printed number ("10,240" -> (10240, 0); "1.15" -> (1.15, 2))."""
    s = s.replace(",", "")
    dec = len(s.split(".")[1]) if "." in s else 0
    return float(s), dec


def _mk(m: re.Match, scale: float) -> _Num:
    v, dec = _parse_num(m.group(2))
    return _Num(v * scale, 0.5 * 10.0**-dec * scale, m.group(0).strip(), bool(m.group(1)),
                m.start(), m.end())


def _bytes(s: str) -> list[_Num]:
    return [_mk(m, _BYTE_UNITS[m.group(3).lower()]) for m in _BYTES_RE.finditer(s)]


def _times(s: str) -> list[_Num]:
    out = []
    for m in _TIME_RE.finditer(s):
        scale = dict(_TIME_UNITS).get(m.group(3).lower().replace("μ", "µ"), 1.0)
        out.append(_mk(m, scale))
    return out


def _throughputs(s: str) -> list[_Num]:
    """Tokens per second (SI) from "640 tokens/ms", "1.2k tokens/s", "100 tok/s per GPU"."""
    out = []
    for m in _TPUT_RE.finditer(s):
        mult = {"k": 1e3, "m": 1e6}.get((m.group(3) or "").lower(), 1.0)
        per_s = 1e3 if m.group(4).lower().startswith("m") else 1.0
        out.append(_mk(m, mult * per_s))
    return out


def _percents(s: str) -> list[_Num]:
    return [_mk(m, 0.01) for m in _PCT_RE.finditer(s)]


def _params(s: str) -> list[_Num]:
    out = []
    for m in _PARAMS_RE.finditer(s):
        u = (m.group(3) or "").lower()
        scale = {"b": 1e9, "bn": 1e9, "billion": 1e9, "m": 1e6, "mn": 1e6, "million": 1e6,
                 "t": 1e12, "tn": 1e12, "trillion": 1e12, "k": 1e3}.get(u)
        if scale is None:
            v, _ = _parse_num(m.group(2))
            scale = 1.0 if v >= 1e6 else 1e9   # a bare "10" in a parameter line: billions
        out.append(_mk(m, scale))
    return out


def _counts(s: str) -> list[_Num]:
    return [_mk(m, 1.0) for m in _COUNT_RE.finditer(s)]


def _sig(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures, never in exponent form."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    d = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{d}f}"


def _g(x: float) -> str:
    """An input restated as it was given (up to 6 significant figures)."""
    return f"{x:.6g}"


def _cnt(x: float) -> str:
    """A count: whole numbers without decimals, fractions to 3 significant figures."""
    return f"{x:g}" if float(x).is_integer() else _sig(x)


def show(value, unit: str) -> str:
    """A value in the unit a person reads (GB, ms, tokens/ms, %)."""
    if value is None:
        return "—"
    if unit == "check":
        return "✓" if value else "✗"
    if unit == "bytes":
        return f"{_sig(value / 1e9)} GB"
    if unit == "s":
        return "0 s" if value == 0 else fmt.seconds(value)
    if unit == "tokens/s":
        return f"{_sig(value / 1e3)} tokens/ms"
    if unit == "fraction":
        return f"{_sig(value * 100)}%"
    if unit == "params":
        return f"{fmt.params(value)} ({value:,.0f})"
    return f"{value:g}"


def _error_text(claimed: float, ours: float, unit: str = "") -> str:
    """"+22%", "22.1x too high", or "0 where ours is 156 ms" for a zero claim."""
    if ours == 0:
        return "ours is 0"
    if claimed == 0:
        return f"0 where ours is {show(ours, unit)}" if unit else "0 where ours is not"
    r = claimed / ours
    if r >= 2:
        return f"{_sig(r)}x too high"
    if r <= 0.5:
        return f"{_sig(1 / r)}x too low"
    return f"{(r - 1) * 100:+.0f}%"


# --------------------------------------------------------------------------------------------
# Sections and lines
# --------------------------------------------------------------------------------------------

_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s*(.*?)\s*#*\s*$")
_BULLET_RE = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_TICK_RE = re.compile(r"^\s*(?:[-*+•]\s*)?(✓|✔|☑|✅|\[[xX]\]|✗|✘|❌|☐|\[ \])\s*")
_TICK_TRUE = {"✓", "✔", "☑", "✅", "[x]", "[X]"}

#: Section kinds of the plan's layout, recognised by title words (first match wins).
_SECTION_RULES = [
    ("checklist", r"checklist|validation|verification|sanity"),
    ("requirements", r"requirement|\bslos?\b|\bslas?\b|\btargets?\b|constraints?"),
    ("memory_optimisation", r"memory\s+optimi[sz]"),
    ("performance_optimisation", r"perf\w*\s+optimi[sz]"),
    ("optimisation", r"optimi[sz]ation|\btuning\b"),
    ("performance", (r"expected\s+perf|performance\s+(?:estimate|expectation|projection"
                     r"|summary|prediction)|projected|estimated\s+perf|^\W*performance\W*$"
                     r"|^\W*results?\W*$")),
    ("resources", r"resource|allocation|memory\s+(?:budget|footprint|plan)"),
    ("communication", r"communication"),
    ("implementation", r"implementation|\bphase\b|placement|deployment\s+steps"),
    ("scalability", r"scalab|scaling"),
    ("strategy", r"strateg|parallel|layout|sharding"),
    ("model", r"\bmodel\b|architecture"),
    ("hardware", r"hardware|environment|\bgpus?\b|cluster|machine|device|system|accelerator"),
    ("workload", r"\binput\b|workload|traffic|requests?\b|\bdata\b|batch"),
]
_OUTPUT_KINDS = ("resources", "implementation", "communication", "memory_optimisation",
                 "performance_optimisation", "optimisation", "performance", "scalability",
                 "checklist")
_PART_OF_KIND = {"hardware": "hardware", "model": "model", "workload": "workload",
                 "requirements": "requirements", "strategy": "layout"}


def _section_kind(title: str) -> str | None:
    t = title.lower()
    for kind, rx in _SECTION_RULES:
        if re.search(rx, t):
            return kind
    return None


def _clean(s: str) -> str:
    s = s.replace("**", "").replace("__", "").replace("`", "")
    return re.sub(r"\s+", " ", s).strip()


@dataclass
class _Line:
    no: int
    raw: str
    text: str            # without bullet, tick, bold
    key: str             # lower-case key ("" when the line has none)
    value: str           # after the key (the whole text when there is no key)
    tick: bool | None    # ✓ True, ✗ False, no tick None
    kind: str            # section kind
    section: str         # section title


@dataclass
class _Section:
    title: str
    kind: str
    first: int
    last: int


def _split(text: str) -> tuple[list[_Line], list[_Section]]:
    """Every non-empty, non-heading line with its section; the sections with their line span."""
    lines: list[_Line] = []
    sections: list[_Section] = []
    stack: list[tuple[int, str]] = []
    kind, title = "preamble", ""
    in_fence = False
    for no, raw in enumerate(text.splitlines(), start=1):
        if re.match(r"^\s*(```|~~~)", raw):
            in_fence = not in_fence
            continue
        if in_fence or not raw.strip() or re.match(r"^\s*\|?\s*:?-{3,}", raw) \
                or re.match(r"^\s*(?:[-*_]\s*){3,}$", raw):
            continue
        h = _HEADING_RE.match(raw)
        bold = re.fullmatch(r"\s*\*\*([^*]+)\*\*\s*:?\s*", raw)
        if h or (bold and _section_kind(bold.group(1))):
            level = len(h.group(1)) if h else 3
            htitle = _clean(h.group(2) if h else bold.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            parent = stack[-1][1] if stack else None
            k = _section_kind(htitle)
            if level == 1 and re.search(r"\bplan\b|\bcard\b|\bscenario\b|\bdeployment\b",
                                        htitle, re.IGNORECASE):
                k = "title"
            if k is None or (parent in _OUTPUT_KINDS and k == "strategy"):
                k = parent if parent not in (None, "title", "strategy") else (k or "other")
            if parent == "strategy" and k in ("strategy", "other"):
                k = "strategy"
            stack.append((level, k))
            kind, title = k, htitle
            if sections:
                sections[-1].last = no - 1
            sections.append(_Section(htitle, k, no, no))
            continue
        tm = _TICK_RE.match(raw)
        tick = None
        body = raw
        if tm:
            tick = tm.group(1) in _TICK_TRUE
            body = raw[tm.end():]
        else:
            body = _BULLET_RE.sub("", raw, count=1)
        t = _clean(body)
        key, value = "", t
        if t.startswith("|"):
            cells = [c.strip() for c in t.strip("|").split("|")]
            if len(cells) >= 2:
                key, value = cells[0].lower(), " ".join(cells[1:])
        else:
            m = re.match(r"^([^:：]{1,80}?)\s*[:：]\s*(.*)$", t)
            if m and not re.match(r"^\d+$", m.group(1)):
                key, value = m.group(1).lower(), m.group(2)
        lines.append(_Line(no, raw, t, key, value, tick, kind, title))
        if sections:
            sections[-1].last = no
    return lines, sections


# --------------------------------------------------------------------------------------------
# Reading the inputs (scenario + layout) through analysis.cards
# --------------------------------------------------------------------------------------------

_HW_STUB = ("\n\n## Hardware Environment (placeholder: the plan's could not be read)\n"
            "- GPU Compute Power: 1 TFlops\n- Single-card VRAM: 1000 GB\n"
            "- VRAM Bandwidth: 1 TBps\n")
_MODEL_STUB = ("\n\n## Model Configuration (placeholder: the plan's could not be read)\n"
               "- Layers: 1\n- Token Dimension: 64\n- Attention Heads: 1 x 64\n"
               "- Experts per Layer: 1\n- MoE Hidden Size: 64\n")


@dataclass
class _Inputs:
    scenario: Scenario | None
    strategy: Strategy | None
    missing: dict[str, str]              # part -> why it was not read
    unreadable: list[Unreadable]
    assumptions: list[str]


def _short(why: str) -> str:
    return why.replace(f": {CARD_NEEDS}", "").replace(f"; {CARD_NEEDS}", "").strip()


def _read_inputs(text: str, path: str, lines: list[_Line]) -> _Inputs:
    """The scenario and layout through :func:`scenario_dict_from_card`, line by line tolerant:
    a line it cannot read is blanked and reported; a missing or incomplete hardware or model
    section is replaced by a placeholder (reported, and every claim that needs it is then "not
    checkable") so that the rest of the plan is still audited."""
    rows = text.splitlines()
    kind_of = {ln.no: ln.kind for ln in lines}
    unreadable: list[Unreadable] = []
    missing: dict[str, str] = {}
    stubs: list[str] = []
    data = None
    assumptions: list[str] = []
    for _ in range(len(rows) + 3):
        try:
            data, assumptions = scenario_dict_from_card("\n".join(rows) + "".join(stubs), path)
            break
        except ParseError as e:
            if e.line and e.line <= len(rows) and rows[e.line - 1].strip():
                unreadable.append(Unreadable(e.line, rows[e.line - 1].strip(), _short(e.why)))
                part = _PART_OF_KIND.get(kind_of.get(e.line, ""), "model")
                missing.setdefault(part, f"line {e.line} could not be read: {_short(e.why)}")
                rows[e.line - 1] = ""
                continue
            why = _short(e.why)
            both = why.startswith("not a scenario card")
            if (both or why.startswith(("no hardware section", "hardware"))) \
                    and _HW_STUB not in stubs:
                unreadable.append(Unreadable(None, "Hardware", "no hardware section" if both
                                             else why))
                missing.setdefault("hardware", "no hardware section" if both else why)
                stubs.append(_HW_STUB)
                if not both:
                    continue
            if _MODEL_STUB not in stubs:
                unreadable.append(Unreadable(None, "Model", "no model section" if both else why))
                missing.setdefault("model", "no model section" if both else why)
                stubs.append(_MODEL_STUB)
                continue
            unreadable.append(Unreadable(None, "inputs", why))
            break
    if data is None:
        for part in ("hardware", "model", "workload", "requirements", "layout"):
            missing.setdefault(part, "the inputs could not be read, so no scenario was built")
        return _Inputs(None, None, missing, unreadable, [])

    wl = data.setdefault("workload", {})
    if "batch_sequences" not in wl:
        missing.setdefault("workload", "no batch size stated")
        wl["batch_sequences"] = 1
    if "prompt_tokens" not in wl:
        missing.setdefault("workload", "no sequence (prompt) length stated")
        wl["prompt_tokens"] = 1
    if not data.get("requirements"):
        missing.setdefault("requirements", "no requirement stated")
    if "current_strategy" not in data:
        missing.setdefault("layout", "no parallel degrees stated (a 'Recommended Parallel "
                                     "Strategy' section with EP / TP / PP lines)")
    scenario = None
    for _ in range(2):
        try:
            scenario = scenario_from_dict(data, path, Path(path).parent)
            break
        except InputError as e:
            if "current_strategy" in data and "strategy" in str(e.field):
                unreadable.append(Unreadable(None, "Recommended Parallel Strategy", str(e)))
                missing.setdefault("layout", str(e))
                data.pop("current_strategy")
                continue
            unreadable.append(Unreadable(None, "inputs", str(e)))
            missing.setdefault("model", str(e))
            break
    strategy = scenario.current_strategy if scenario is not None else None
    if "layout" in missing:
        strategy = None     # a degree could not be read: the layout would be a guess
    if strategy is None:
        missing.setdefault("layout", "no layout could be read")
    n_rows = len(rows)
    keep = [a for a in assumptions if not a.startswith("sections ignored")
            and "restated as" not in a and "placeholder" not in a
            and all(int(x) <= n_rows for x in re.findall(r"\bline (\d+)", a))]
    return _Inputs(scenario, strategy, missing, unreadable, keep)


# --------------------------------------------------------------------------------------------
# Extracting claims from the output sections
# --------------------------------------------------------------------------------------------

_COMPARATOR = re.compile(r"\(?\s*\btarget\s*[:=]?|≤|<=|≥|>=|(?<![-\w])<(?!-)|(?<![-\w])>"
                         r"|\bvs\.?\s|\bagainst\b|\brequired\b", re.IGNORECASE)


def _lhs_rhs(value: str) -> tuple[str, str]:
    m = _COMPARATOR.search(value)
    return (value[:m.start()], value[m.end():]) if m else (value, "")


def _claim(ln: _Line, quantity: str, num: _Num | None, detail: str = "",
           value: float | bool | None = None) -> Claim:
    q = QUANTITIES[quantity]
    if num is None:
        return Claim(ln.section, ln.no, ln.text, quantity, value, q.unit, "", 0.0, False, detail)
    return Claim(ln.section, ln.no, ln.text, quantity, num.value, q.unit, num.printed,
                 num.rounding, num.approximate, detail)


def _throughput_scope(text: str) -> tuple[str, str]:
    """("total" | "per_gpu", kind or "") from the words of a throughput line."""
    t = text.lower()
    scope = "per_gpu" if re.search(r"per[\s-]*(?:gpu|card|device|chip)|/\s*gpu|gpu\s*-?\s*1", t) \
        else "total"
    kind = next((k for k in ("prefill", "decode") if k in t), "")
    if not kind and re.search(r"generat|output tokens", t):
        kind = "decode"
    return scope, kind


def _extract(lines: list[_Line], unreadable: list[Unreadable]) -> tuple[list[Claim], list[_Line]]:
    """Claims from the model, strategy and output sections; the lines left for the
    qualitative rules (no claim found)."""
    claims: list[Claim] = []
    rest: list[_Line] = []

    def garbled(ln: _Line, what: str) -> None:
        unreadable.append(Unreadable(ln.no, ln.text, f"{what}: no number with a unit could be "
                                                     f"read"))

    for ln in lines:
        k, v, t = ln.key, ln.value, ln.text
        low = t.lower()
        before = len(claims)
        if ln.kind == "model":
            if re.search(r"param|weights", k) and not re.search(r"bytes|precision", k):
                got = _params(v)
                q = "params_active" if re.search(r"activ", k) else "params_total"
                if got:
                    claims.append(_claim(ln, q, got[0]))
                else:
                    garbled(ln, QUANTITIES[q].label)
            continue
        if ln.kind == "strategy":
            if re.search(r"^(?:total |number of |num )?(?:gpus?|cards?|devices?)(?: count| total"
                         r"| used| needed)?$|world size|total gpus", k):
                got = _counts(v)
                if got:
                    claims.append(_claim(ln, "gpu_count", got[0]))
                else:
                    garbled(ln, "total GPUs")
            continue
        if ln.kind not in _OUTPUT_KINDS:
            continue

        if ln.kind == "checklist" or ln.tick is not None:
            claims += _checklist_claims(ln)
        else:
            claims += _output_claims(ln, garbled)
        if len(claims) == before or not re.search(r"\d", low):
            rest.append(ln)
    return claims, rest


def _output_claims(ln: _Line, garbled) -> list[Claim]:
    k, v, t = ln.key, ln.value, ln.text
    low = t.lower()
    out: list[Claim] = []
    lhs, rhs = _lhs_rhs(v)
    if re.search(r"memory|vram|hbm", k) and re.search(r"util|efficien|usage|used|%", k + " " + v) \
            and _percents(v):
        out.append(_claim(ln, "memory_utilization", _percents(v)[0]))
    elif re.search(r"kv[\s-]*cache", k) and re.search(r"per[\s-]*gpu|/\s*gpu|memory|size", k):
        got = _bytes(v)
        out.append(_claim(ln, "kv_cache_per_gpu", got[0])) if got else garbled(ln, "KV cache")
    elif re.search(r"memory|vram|hbm", k) and not re.search(r"bandwidth", k):
        got = _bytes(lhs)
        if got:
            out.append(_claim(ln, "memory_per_gpu", got[0]))
        elif not re.search(r"optimi|compress|checkpoint|shard", low):
            garbled(ln, "memory per GPU")
    elif re.search(r"prefill", k) and re.search(r"time|latency|duration", k):
        got = _times(v)
        out.append(_claim(ln, "prefill_time", got[0])) if got else garbled(ln, "prefill time")
    elif re.search(r"ttft|time to first token|first[\s-]token", k):
        got = _times(lhs)
        if got:
            out.append(_claim(ln, "ttft", got[0]))
        else:
            garbled(ln, "TTFT")
        tgt = _times(rhs)
        if tgt:
            out.append(_claim(ln, "ttft_target", tgt[0]))
    elif re.search(r"tpot|time per output token|inter[\s-]?token|decode (?:step|latency)", k):
        got = _times(lhs)
        out.append(_claim(ln, "tpot", got[0])) if got else garbled(ln, "TPOT")
    elif re.search(r"throughput|tokens?/", k):
        got = _throughputs(lhs)
        if got:
            scope, kind = _throughput_scope(k + " " + v)
            out.append(_claim(ln, "throughput_per_gpu" if scope == "per_gpu"
                              else "throughput_total", got[0], detail=kind))
        else:
            garbled(ln, "throughput")
        tgt = _throughputs(rhs)
        if tgt:
            out.append(_claim(ln, "throughput_target", tgt[0]))
    elif re.search(r"expert", k) and re.search(r"util|activ|usage|sparsity", k) and _percents(v):
        out.append(_claim(ln, "expert_utilization", _percents(v)[0]))
    elif re.search(r"^(?:total |number of )?gpus?(?: count| total| used)?$", k) and _counts(v):
        out.append(_claim(ln, "gpu_count", _counts(v)[0]))
    if out:
        return out
    # free-text statements of the implementation phases
    m = re.search(rf"(?:distribute|place|spread|shard|split)\s+{_NUM}\s+(?:routed\s+)?experts?"
                  rf"\s+(?:across|over|on|onto|to|among)\s+{_NUM}\s+(?:gpus?|devices?|cards?)",
                  low)
    if m:
        n = _counts(m.group(0))
        out.append(_claim(ln, "num_experts", n[0]))
        out.append(_claim(ln, "expert_gpus", n[1]))
    m = re.search(rf"each\s+(?:gpu|device|card)\s+(?:handles|holds|hosts|has|gets|stores|runs)\s+"
                  rf"{_APPROX}{_NUM}\s+experts?", low) or \
        re.search(rf"{_APPROX}{_NUM}\s+experts?\s+(?:per|on each|for each)\s+(?:gpu|device|card)",
                  low)
    if m:
        out.append(_claim(ln, "experts_per_gpu", _counts(m.group(0))[-1]))
    m = re.search(rf"{_NUM}\s+experts?\s+per\s+(?:ep\s+)?rank", low)
    if m:
        out.append(_claim(ln, "experts_per_rank", _counts(m.group(0))[0]))
    m = (re.search(rf"(?:create|use|with|into)\s+{_NUM}\s+(?:pipeline\s+)?stages?", low)
         or re.search(rf"{_NUM}\s+pipeline\s+stages?", low))
    if m:
        out.append(_claim(ln, "pp_degree", _counts(m.group(0))[0]))
    m = (re.search(rf"(?:each\s+)?stage\s+(?:contains|has|holds|gets|runs)\s+{_APPROX}{_NUM}\s+"
                   r"(?:transformer\s+)?layers?", low)
         or re.search(rf"{_NUM}\s+layers?\s+(?:per|in each|for each)\s+stage", low))
    if m:
        out.append(_claim(ln, "layers_per_stage", _counts(m.group(0))[0]))
    m = re.search(rf"{_NUM}[\s-]*way\s+(?:tp|tensor)", low)
    if m:
        out.append(_claim(ln, "tp_degree", _counts(m.group(0))[0]))
    m = re.search(rf"{_NUM}[\s-]*way\s+(?:ep|expert)", low)
    if m:
        out.append(_claim(ln, "ep_degree", _counts(m.group(0))[0]))
    m = re.search(r"\btop[-_\s]?k?\s*[-=:]?\s*(\d+)(?![\d%.])", low)
    if m and ln.kind == "implementation":
        n = int(m.group(1))
        out.append(replace(_claim(ln, "top_k", None, value=float(n)), printed=f"top-{n}"))
    return out


def _checklist_claims(ln: _Line) -> list[Claim]:
    """A checklist line: its tick (a claim that a requirement is met) and its numbers."""
    t = ln.text
    low = t.lower()
    out: list[Claim] = []
    lhs, rhs = _lhs_rhs(t)
    topic = None
    if re.search(r"memory|vram|hbm", low):
        topic = "memory_fits"
        got = _bytes(lhs)
        if got:
            out.append(_claim(ln, "memory_per_gpu", got[0]))
        cap = _bytes(rhs)
        if cap:
            out.append(_claim(ln, "memory_capacity", cap[0]))
    elif re.search(r"ttft|first token", low):
        topic = "ttft_met"
        got = _times(lhs)
        if got:
            out.append(_claim(ln, "ttft", got[0]))
        tgt = _times(rhs)
        if tgt:
            out.append(_claim(ln, "ttft_target", tgt[0]))
    elif re.search(r"tpot|per output token|inter[\s-]?token", low):
        topic = "tpot_met"
        got = _times(lhs)
        if got:
            out.append(_claim(ln, "tpot", got[0]))
    elif re.search(r"throughput|tokens?/", low):
        topic = "throughput_met"
        got = _throughputs(lhs)
        if got:
            scope, kind = _throughput_scope(lhs)
            out.append(_claim(ln, "throughput_per_gpu" if scope == "per_gpu"
                              else "throughput_total", got[0], detail=kind))
        tgt = _throughputs(rhs)
        if tgt:
            out.append(_claim(ln, "throughput_target", tgt[0]))
    elif re.search(r"parallel|degree|compatib|ep\s*[x×*]", low):
        topic = "degrees_valid"
        m = re.search(r"((?:[A-Za-z_]+\s*[x×*]\s*)+[A-Za-z_]+)\s*=\s*((?:\d+\s*[x×*]\s*)+\d+)"
                      r"\s*=\s*(\d+)", t)
        if m:
            names = [x.strip().lower() for x in re.split(r"[x×*]", m.group(1))]
            factors = [int(x) for x in re.split(r"[x×*]", m.group(2))]
            n = _counts(m.group(3))[0]
            detail = ",".join(f"{a}={b}" for a, b in zip(names, factors, strict=True))
            out.append(_claim(ln, "degrees_product", replace(n, printed=m.group(0)),
                              detail=detail))
    if ln.tick is not None:
        if topic is None:
            out.append(_claim(ln, "unverifiable", None, value=ln.tick))
        else:
            out.append(_claim(ln, topic, None, value=ln.tick))
    return out


# --------------------------------------------------------------------------------------------
# Judging
# --------------------------------------------------------------------------------------------

class _NotCheckable(Exception):
    pass


@dataclass
class _Ctx:
    scenario: Scenario | None
    strategy: Strategy | None
    missing: dict[str, str]
    est: E.Estimate | None
    row: pd.Series | None          # the plan's layout as a search-table row (checks)
    kind: str                      # how the throughput requirement is read
    kind_why: str
    opts: E.Options
    claims: list[Claim] = field(default_factory=list)


def _tolerance_text(q: Quantity, c: Claim) -> str:
    if q.unit == "check":
        return "exact"
    base = "exact" if not q.tolerance else f"±{q.tolerance:.0%}"
    if c.rounding and q.unit != "count":
        r = fmt.params(c.rounding) if q.unit == "params" else show(c.rounding, q.unit)
        return f"{base} + printed rounding (±{r})"
    return base


def _judge(c: Claim, ctx: _Ctx) -> Verdict:
    q = QUANTITIES[c.quantity]
    tol = _tolerance_text(q, c)
    for part in q.needs:
        if part in ctx.missing:
            what = "the layout cannot run" if part == "estimate" else f"the plan's {part}"
            return Verdict(c, "not checkable", None, None, tol,
                           f"needs {what}, which could not be read: {ctx.missing[part]}")
    try:
        ours, why = _ours(c, ctx)
    except _NotCheckable as e:
        return Verdict(c, "not checkable", None, None, tol, str(e))
    if q.unit == "check":
        ok = bool(ours) == bool(c.claimed_value)
        return Verdict(c, "confirmed" if ok else "wrong", bool(ours), None, tol, why)
    claimed = float(c.claimed_value)
    ours = float(ours)
    err = claimed / ours - 1 if ours else None
    if q.unit == "count" and q.tolerance is None:
        ok = (abs(claimed - ours) < 1e-9 if float(ours).is_integer()
              else abs(claimed - ours) <= c.rounding + 1e-12)
    else:
        ok = abs(claimed - ours) <= (q.tolerance or 0.0) * abs(ours) + c.rounding + 1e-12
    if not ok:
        why = (f"{show(claimed, q.unit)} claimed, ours {show(ours, q.unit)} "
               f"({_error_text(claimed, ours, q.unit)}). " + why)
    return Verdict(c, "confirmed" if ok else "wrong", ours, err, tol, why.strip())


def _plan_breakdown(ctx: _Ctx) -> str:
    s = ctx.strategy
    mem = ctx.est.memory_bytes
    wl = ctx.scenario.workload
    seqs = wl.batch_sequences / s.dp / s.dp_attn
    used = sum(v for k, v in mem.items() if k != "runtime_reserve")
    return (f"ours per GPU: non-expert weights / (tp x pp = {s.tp * s.pp}) "
            f"{_sig(mem['non_expert_weights'] / 1e9)} GB + expert weights / (etp x ep x pp = "
            f"{s.etp * s.ep * s.pp}) {_sig(mem['expert_weights'] / 1e9)} GB + KV cache of "
            f"{seqs:g} sequences x {wl.max_prompt_tokens + wl.output_tokens} tokens "
            f"{_sig(mem['kv_cache'] / 1e9)} GB + activations {_sig(mem['activations'] / 1e9)} GB "
            f"+ communication buffers {_sig(mem['comm_buffers'] / 1e9)} GB = "
            f"{_sig(used / 1e9)} GB used"
            + ("" if "hardware" in ctx.missing else
               f" (with the {ctx.scenario.requirements.memory_reserve_fraction:.0%} runtime "
               f"reserve {_sig(mem['runtime_reserve'] / 1e9)} GB: "
               f"{_sig(sum(mem.values()) / 1e9)} GB, what the fit check uses)"))


def _used_bytes(ctx: _Ctx) -> float:
    return sum(v for k, v in ctx.est.memory_bytes.items() if k != "runtime_reserve")


def _ours(c: Claim, ctx: _Ctx) -> tuple[object, str]:
    """Our value for a claim and a sentence explaining it."""
    sc, s, est = ctx.scenario, ctx.strategy, ctx.est
    q = c.quantity
    m = sc.model if sc is not None else None
    if q == "params_total":
        total = A.total_params(m)
        parts = A.params_by_component(m)
        big = ", ".join(f"{k.replace('_', ' ')} {fmt.params(v)}" for k, v in parts.items() if v)
        exp = ""
        if m.is_moe:
            exp = (f"; routed experts = {m.num_moe_layers} layers x {m.num_experts} experts x "
                   f"{3 if m.ffn_gated else 2} x {m.hidden_size} x {m.expert_intermediate_size}")
        return total, (f"the stated dimensions give {total:,} parameters ({big}{exp}); the "
                       f"declared figure cannot come from them")
    if q == "params_active":
        return A.active_params(m), "active parameters per token with the input embedding"
    if q == "gpu_count":
        return s.gpus, (f"{s.label()}: tp {s.tp} x dp_attn {s.dp_attn} x pp {s.pp} x dp {s.dp} "
                        f"= {s.gpus} GPUs (experts: etp {s.etp} x ep {s.ep})")
    if q == "degrees_product":
        pairs = [p.split("=") for p in c.detail.split(",") if "=" in p]
        listed = math.prod(int(b) for _, b in pairs) if pairs else None
        deg = {"ep": s.ep, "tp": s.tp, "pp": s.pp, "dp": s.dp, "etp": s.etp,
               "dp_attn": s.dp_attn}
        mism = [f"{a.upper()} written {b}, layout {deg[a]}" for a, b in pairs
                if a in deg and deg[a] != int(b)]
        why = f"the layout has {s.gpus} GPUs"
        if listed is not None and listed != c.claimed_value:
            why += f"; the plan's own factors multiply to {listed}, not {c.claimed_value:g}"
        if mism:
            why += "; " + "; ".join(mism)
        return s.gpus, why
    if q in ("ep_degree", "tp_degree", "pp_degree"):
        name = q.split("_")[0]
        return getattr(s, name), f"the layout's {name.upper()} degree"
    if q == "num_experts":
        return m.num_experts, "the model's experts per layer"
    if q == "top_k":
        return m.top_k, "the model's top-k"
    if q == "expert_gpus":
        return s.etp * s.ep, (f"{s.ep} EP ranks x etp {s.etp} GPUs each = {s.etp * s.ep} GPUs "
                              f"per stage hold the experts of a layer"
                              + (f"; '{c.claimed_value:g}' counts EP ranks, not GPUs"
                                 if s.etp > 1 and c.claimed_value == s.ep else ""))
    if q == "experts_per_gpu":
        per_rank = (m.num_experts + s.redundant_experts) / s.ep
        per_gpu = per_rank / s.etp
        why = (f"read per GPU, as written: {m.num_experts + s.redundant_experts} experts / ep "
               f"{s.ep} = {per_rank:g} per EP rank")
        if s.etp > 1:
            why += (f", and etp = {s.etp} splits each expert's FFN over the {s.etp} GPUs of its "
                    f"rank ({m.expert_intermediate_size // s.etp} of {m.expert_intermediate_size}"
                    f" columns each), so a GPU holds {_sig(per_gpu)} of an expert; per EP rank "
                    f"the figure would be {per_rank:g}")
        return per_gpu, why
    if q == "experts_per_rank":
        per_rank = (m.num_experts + s.redundant_experts) / s.ep
        return per_rank, f"{m.num_experts + s.redundant_experts} experts / ep {s.ep}"
    if q == "layers_per_stage":
        n = math.ceil(m.num_layers / s.pp)
        return n, f"ceil({m.num_layers} layers / pp {s.pp}) = {n} on the busiest stage"
    if q == "memory_per_gpu":
        used = _used_bytes(ctx)
        why = _plan_breakdown(ctx)
        if c.claimed_value and abs(c.claimed_value - used) > 0.1 * used:
            total = c.claimed_value * s.gpus
            why = (f"{show(c.claimed_value, 'bytes')} x {s.gpus} GPUs = "
                   f"{show(total, 'bytes')}: one total divided evenly by the GPU count, whereas "
                   f"each part of the memory is split by a different degree. " + why)
        return used, why
    if q == "kv_cache_per_gpu":
        return est.memory_bytes["kv_cache"], "our KV cache per GPU at the longest context"
    if q == "memory_capacity":
        cap = sc.hardware.hbm_capacity_bytes
        usable = cap * (1 - sc.requirements.memory_reserve_fraction)
        if abs(c.claimed_value - usable) <= c.rounding + 1e-6:
            return usable, "the GPU memory less the runtime reserve"
        return cap, "the GPU memory the plan states"
    if q == "memory_utilization":
        used = _used_bytes(ctx)
        cap = sc.hardware.hbm_capacity_bytes
        with_reserve = sum(est.memory_bytes.values()) / cap * 100
        return used / cap, (f"ours {show(used, 'bytes')} used / {show(cap, 'bytes')} = "
                            f"{_sig(used / cap * 100)}% ({_sig(with_reserve)}% with the runtime "
                            f"reserve); the plan's figure follows from its memory per GPU")
    if q in ("prefill_time", "ttft"):
        w = est.worst
        lo = min(est.metrics, key=lambda r: r["prompt_tokens"])
        wl = sc.workload
        flops = wl.batch_sequences * sum(A.prefill_flops_by_op(m, wl.max_prompt_tokens).values())
        rate = s.gpus * sc.hardware.peak_flops_for(m.activation_precision) * sc.hardware.mfu
        floor = flops / rate
        why = (f"prefill of the whole batch of {wl.batch_sequences} sequences at the longest "
               f"prompt ({wl.max_prompt_tokens} tokens), where the TTFT requirement binds"
               + (f"; {fmt.seconds(lo['ttft_s'])} at {int(lo['prompt_tokens'])} tokens"
                  if len(est.metrics) > 1 else "")
               + f". Compute floor alone: {flops:.3g} FLOP / ({s.gpus} GPUs x "
               f"{sc.hardware.peak_flops_for(m.activation_precision) / 1e12:g} TFLOP/s x "
               f"{sc.hardware.mfu:.0%} MFU) = {fmt.seconds(floor)}")
        if wl.batch_sequences > 1 and c.claimed_value is not None \
                and abs(c.claimed_value - floor / wl.batch_sequences) <= c.rounding \
                and abs(c.claimed_value - w["ttft_s"]) > c.rounding:
            why += (f"; one sequence alone would be {fmt.seconds(floor / wl.batch_sequences)}, "
                    f"which does print as the plan's figure: the plan ignores the batch of "
                    f"{wl.batch_sequences}")
        return w["ttft_s"], why
    if q == "tpot":
        w = est.worst
        return w["tpot_s"], (f"one decode step at the longest prompt, mid-generation "
                             f"({fmt.seconds(w['tpot_start_s'])} at the start, "
                             f"{fmt.seconds(w['tpot_end_s'])} at the end)")
    if q == "ttft_target":
        if sc.requirements.ttft_s is None:
            raise _NotCheckable("the plan's requirements state no TTFT target")
        return sc.requirements.ttft_s, "the TTFT requirement"
    if q == "throughput_target":
        t = sc.requirements.throughput_tokens_per_s_per_gpu
        if t is None:
            raise _NotCheckable("the plan's requirements state no throughput target")
        return t, "the throughput requirement (per GPU)"
    if q in ("throughput_total", "throughput_per_gpu"):
        kind = c.detail or ctx.kind
        col = S.THROUGHPUT_COLUMNS[kind]
        per_gpu = float(ctx.row[f"min_{col}"])
        ours = per_gpu * s.gpus if q == "throughput_total" else per_gpu
        why = (f"{kind} throughput ({S.THROUGHPUT_MEANING[kind]}), lowest over the prompt "
               f"lengths: {show(per_gpu, 'tokens/s')} per GPU x {s.gpus} GPUs = "
               f"{show(per_gpu * s.gpus, 'tokens/s')} in total"
               + ("" if c.detail else f" (read as {kind}: {ctx.kind_why})"))
        if q == "throughput_total" and c.claimed_value:
            why += (f". The plan's figure is {show(c.claimed_value / s.gpus, 'tokens/s')} per "
                    f"GPU x {s.gpus} GPUs, a per-GPU rate that none of the plan's stated "
                    f"quantities produces")
        return ours, why
    if q == "expert_utilization":
        frac = m.top_k / m.num_experts if m.num_experts else 0.0
        wl = sc.workload
        touched = 1 - (1 - frac) ** wl.batch_sequences if m.num_experts else 0.0
        return frac, (f"top-k / experts = {m.top_k} / {m.num_experts} = {_sig(frac * 100)}%: the "
                      f"share of a layer's experts that ONE token activates (the arithmetic "
                      f"holds). It is not how busy the expert GPUs are: a decode step of "
                      f"{wl.batch_sequences} tokens touches {_sig(touched * 100)}% of the "
                      f"experts, and a prefill batch all of them")
    if q == "memory_fits":
        ok = bool(ctx.row["fits_memory"])
        return ok, (f"{show(float(ctx.row['memory_per_gpu_bytes']), 'bytes')} per GPU with the "
                    f"runtime reserve, of {show(sc.hardware.hbm_capacity_bytes, 'bytes')}")
    if q == "ttft_met":
        if sc.requirements.ttft_s is None:
            raise _NotCheckable("the plan's requirements state no TTFT target")
        return bool(ctx.row["check_ttft"]), (f"ours {fmt.seconds(float(ctx.row['ttft_s']))} "
                                             f"against {fmt.seconds(sc.requirements.ttft_s)}")
    if q == "tpot_met":
        if sc.requirements.tpot_s is None:
            raise _NotCheckable("the plan's requirements state no TPOT target")
        return bool(ctx.row["check_tpot"]), (f"ours {fmt.seconds(float(ctx.row['tpot_max_s']))}"
                                             f" against {fmt.seconds(sc.requirements.tpot_s)}")
    if q == "throughput_met":
        t = sc.requirements.throughput_tokens_per_s_per_gpu
        if t is None:
            raise _NotCheckable("the plan's requirements state no throughput target")
        v = float(ctx.row[f"min_{S.THROUGHPUT_COLUMNS[ctx.kind]}"])
        return bool(ctx.row["check_throughput"]), (f"ours {show(v, 'tokens/s')} per GPU "
                                                   f"({ctx.kind}) against {show(t, 'tokens/s')}")
    if q == "degrees_valid":
        try:
            E.check_strategy(m, sc.workload, s)
        except LayoutError as e:
            return False, "; ".join(e.reasons)
        products = [x for x in ctx.claims if x.quantity == "degrees_product"
                    and x.line_no == c.line_no and x.claimed_value != s.gpus]
        if products:
            return False, f"the stated product is not the layout's {s.gpus} GPUs"
        return True, (f"{s.label()}: every degree divides what it splits (heads, KV heads, "
                      f"experts, layers, batch)")
    if q == "unverifiable":
        raise _NotCheckable("a tick with no number and no requirement behind it: nothing "
                            "measurable to check" + _unverifiable_hint(c, ctx))
    raise _NotCheckable(f"no rule for {q}")


def _unverifiable_hint(c: Claim, ctx: _Ctx) -> str:
    low = c.text.lower()
    sc, s = ctx.scenario, ctx.strategy
    if "balanc" in low and sc is not None and s is not None and sc.model.is_moe and s.ep > 1:
        mu = sc.workload.batch_sequences / s.dp * sc.model.top_k / s.ep
        ratio = float(E.f.expected_max_load(mu, s.ep)) / mu
        return (f" (load balance depends on the routing, which the plan does not give; under "
                f"uniform-random routing the busiest of {s.ep} EP ranks carries {ratio:.2f}x the "
                f"mean in decode)")
    return ""


# --------------------------------------------------------------------------------------------
# Qualitative statements
# --------------------------------------------------------------------------------------------

#: (regex on a statement, name prefix of the entry in analysis.report.optimisations)
_OPTIMISATION_RULES = [
    (r"kv[\s-]*cache.{0,40}(?:inactive|expert)|expert.{0,40}kv[\s-]*cache",
     "KV-cache compression for inactive experts"),
    (r"activation\s+checkpoint|recomput", "Activation checkpointing"),
    ((r"micro-?batch.{0,60}(?:bubble|pipeline)|(?:bubble|pipeline).{0,60}micro-?batch"
      r"|pipeline\s+bubble"), "Micro-batching|Prefill micro-batching"),
    (r"overlap.{0,40}communication|communication.{0,40}overlap", "Overlap communication"),
    (r"load\s+balanc|\beplb\b|redundant\s+experts?", "Redundant experts"),
    (r"fp8\s+kv|kv[\s-]*cache.{0,30}(?:fp8|int8|quanti[sz]|compress)", "FP8 KV cache"),
    (r"chunked\s+prefill", "Chunked prefill"),
    (r"attention\s+data\s+parallel", "Attention data parallelism"),
]


#: Optimisations whose verdict rests on times or memory shares, so on the hardware.
_NEEDS_HARDWARE = ("Overlap communication", "FP8 KV cache", "Chunked prefill")


def _qualitative(lines: list[_Line], ctx: _Ctx) -> tuple[list[Finding], list[_Line]]:
    """Findings for optimisation and communication statements; the lines no rule speaks to."""
    from analysis.report.strategy import optimisations

    sc, s, est = ctx.scenario, ctx.strategy, ctx.est
    opts = optimisations(sc, est, ctx.opts) if est is not None else []
    out: list[Finding] = []
    left: list[_Line] = []
    for ln in lines:
        low = ln.text.lower()
        f = None
        for rx, name in _OPTIMISATION_RULES:
            if not re.search(rx, low):
                continue
            if name.startswith("KV-cache compression for inactive"):
                f = Finding("optimisation", ln.no, ln.text, "impossible", True, _KV_EXPERTS)
            elif name.startswith("Activation checkpointing"):
                f = Finding("optimisation", ln.no, ln.text, "does not apply", True, _CHECKPOINT)
            elif name.startswith("Micro-batching") and s is not None and s.pp == 1:
                f = Finding("optimisation", ln.no, ln.text, "does not apply", True,
                            "pp = 1: one pipeline stage has no bubble to fill")
            elif est is None:
                f = Finding("optimisation", ln.no, ln.text, "not checkable", False,
                            "needs the plan's layout estimated: "
                            + (ctx.missing.get("estimate") or ctx.missing.get("layout")
                               or "inputs missing"))
            elif name.startswith(_NEEDS_HARDWARE) and "hardware" in ctx.missing:
                f = Finding("optimisation", ln.no, ln.text, "not checkable", False,
                            f"whether it pays depends on times and memory shares, and the "
                            f"plan's hardware could not be read: {ctx.missing['hardware']}")
            else:
                hit = next((o for o in opts
                            if any(o[0].startswith(n) for n in name.split("|"))), None)
                if hit is not None:
                    _, applies, why = hit
                    f = Finding("optimisation", ln.no, ln.text,
                                "applies" if applies else "does not apply", not applies, why)
            break
        if f is None and est is not None:
            f = _layout_rule(ln, low, sc, s, est, "hardware" not in ctx.missing)
        if f is None:
            left.append(ln)
        else:
            out.append(f)
    return out, left


_KV_EXPERTS = ("the KV cache holds attention's keys and values, one entry per token per layer; "
               "experts are FFNs and keep no cache, so there is no KV cache of an inactive (or "
               "active) expert to compress")
_CHECKPOINT = ("activation checkpointing drops activations in the forward pass and recomputes "
               "them for the backward pass of training; inference has no backward pass and keeps "
               "only one layer's activations at a time, so there is nothing to recompute")


def _layout_rule(ln: _Line, low: str, sc: Scenario, s: Strategy, est: E.Estimate,
                 timed: bool = True) -> Finding | None:
    """Statements whose truth follows from the layout's degrees (with the time of each
    collective when the hardware was read, ``timed``)."""
    mem = est.memory_bytes
    if re.search(r"expert\s+cach|cach\w*\s+(?:hot|frequent|popular)", low):
        return Finding("optimisation", ln.no, ln.text, "does not apply", True,
                       f"every expert this GPU serves is resident in HBM "
                       f"({_sig(mem['expert_weights'] / 1e9)} GB of expert weights per GPU, "
                       f"all weights fit): there is no slower tier to cache experts from")
    if re.search(r"weight\s+shard|shard\w*\s+(?:the\s+)?weights", low):
        ok = s.tp > 1 or s.ep > 1 or s.pp > 1
        return Finding("optimisation", ln.no, ln.text, "applies" if ok else "does not apply",
                       not ok, f"non-expert weights are split by tp x pp = {s.tp * s.pp}, expert "
                               f"weights by etp x ep x pp = {s.etp * s.ep * s.pp}")
    comm = {o["op"]: o for o in est.prefill_ops}
    if re.search(r"point[\s-]*to[\s-]*point|\bp2p\b|between\s+stages", low):
        ok = s.pp > 1
        if ok:
            detail = "activations go to the next stage once per step"
            if timed:
                detail += f" ({fmt.seconds(comm['pp_send']['comm_s'])} per prefill step)"
        else:
            detail = "one stage sends nothing between stages"
        return Finding("optimisation", ln.no, ln.text, "applies" if ok else "does not apply",
                       not ok, f"pp = {s.pp}: {detail}")
    if re.search(r"all[\s-]*to[\s-]*all|dispatch", low):
        ok = s.ep > 1
        return Finding("optimisation", ln.no, ln.text, "applies" if ok else "does not apply",
                       not ok, f"ep = {s.ep}: " + (
                           ("tokens are dispatched to and combined from the EP ranks holding "
                            "their experts"
                            + (f", {fmt.seconds(comm['ep_dispatch_combine']['comm_s'])} per "
                               f"prefill step" if timed else ""))
                           if ok else "no expert parallelism, no all-to-all"))
    if re.search(r"all[\s-]*reduce", low):
        ok = s.tp > 1
        return Finding("optimisation", ln.no, ln.text, "applies" if ok else "does not apply",
                       not ok, f"tp = {s.tp}: " + (
                           ("partial sums of attention and FFN outputs are all-reduced over the "
                            f"{s.tp} GPUs of a TP group"
                            + (f", {fmt.seconds(comm['tp_all_reduce']['comm_s'])} per prefill "
                               f"step" if timed else ""))
                           if ok else "no tensor parallelism, nothing to reduce"))
    return None


# --------------------------------------------------------------------------------------------
# Requirements never checked, inconsistencies
# --------------------------------------------------------------------------------------------

def _requirement_findings(ctx: _Ctx, lines: list[_Line], verdicts: list[Verdict]
                          ) -> list[Finding]:
    sc = ctx.scenario
    if sc is None or "requirements" in ctx.missing:
        return []
    r = sc.requirements
    checklist = [ln for ln in lines if ln.kind == "checklist"]
    if not checklist:
        return [Finding("requirement", None, "Validation Checklist", "unchecked", True,
                        "the plan has no validation checklist: none of its requirements is "
                        "checked")]
    text = " ".join(ln.text.lower() for ln in checklist)
    all_ticked = all(ln.tick for ln in checklist if ln.tick is not None)
    req_lines = {ln.key: ln for ln in lines if ln.kind == "requirements"}
    out = []
    wanted = [("TTFT", r.ttft_s, r"ttft|first token"),
              ("TPOT", r.tpot_s, r"tpot|per output token|inter[\s-]?token"),
              ("throughput per GPU", r.throughput_tokens_per_s_per_gpu, r"throughput|tokens?/")]
    for name, target, rx in wanted:
        if target is None:
            continue
        src = next((ln for k, ln in req_lines.items() if re.search(rx, k)), None)
        if re.search(rx, text):
            out.append(Finding("requirement", src.no if src else None,
                               src.text if src else name, "checked", False,
                               f"the checklist has a line for the {name} requirement"))
            continue
        is_tput = name == "throughput per GPU"
        shown = show(target, "tokens/s" if is_tput else "s") + (" per GPU" if is_tput else "")
        why = (f"the {name} requirement ({shown}) has no checklist line"
               + (", yet every checklist line is ticked" if all_ticked else ""))
        if name == "throughput per GPU":
            own = [v for v in verdicts if v.claim.quantity in ("throughput_total",
                                                              "throughput_per_gpu")
                   and (v.claim.quantity == "throughput_per_gpu" or ctx.strategy is not None)]
            if own:
                c = own[0].claim
                per_gpu = c.claimed_value / ctx.strategy.gpus \
                    if c.quantity == "throughput_total" else c.claimed_value
                verdict = "would fail" if per_gpu < target else "would meet"
                why += (f". By the plan's own figure ({c.printed}"
                        + (f" / {ctx.strategy.gpus} GPUs" if c.quantity == "throughput_total"
                           else "") + f" = {show(per_gpu, 'tokens/s')} per GPU) it {verdict} it"
                        + (f" by {_sig(target / per_gpu)}x" if per_gpu < target else ""))
            if ctx.row is not None:
                v = float(ctx.row[f"min_{S.THROUGHPUT_COLUMNS[ctx.kind]}"])
                why += (f"; by ours ({ctx.kind}, lowest over the prompt lengths) it is "
                        f"{show(v, 'tokens/s')} per GPU: {'met' if v >= target else 'NOT met'}")
        elif name == "TTFT" and ctx.row is not None:
            why += (f"; ours {fmt.seconds(float(ctx.row['ttft_s']))}: "
                    f"{'met' if ctx.row['check_ttft'] else 'NOT met'}")
        elif name == "TPOT" and ctx.row is not None:
            why += (f"; ours {fmt.seconds(float(ctx.row['tpot_max_s']))}: "
                    f"{'met' if ctx.row['check_tpot'] else 'NOT met'}")
        out.append(Finding("requirement", src.no if src else None,
                           src.text if src else name, "unchecked", True, why))
    return out


def _consistency_findings(claims: list[Claim], ctx: _Ctx) -> list[Finding]:
    out = []
    s = ctx.strategy
    if s is not None:
        for c in claims:
            if c.quantity == "gpu_count":
                ok = c.claimed_value == s.gpus
                out.append(Finding("consistency", c.line_no, c.text,
                                   "consistent" if ok else "inconsistent", not ok,
                                   f"the degrees give tp {s.tp} x dp_attn {s.dp_attn} x pp {s.pp}"
                                   f" x dp {s.dp} = {s.gpus} GPUs (EP {s.ep} x TP {s.tp} x PP "
                                   f"{s.pp} when TP runs inside each expert); the plan states "
                                   f"{c.claimed_value:g}"))
            if c.quantity == "degrees_product":
                pairs = [p.split("=") for p in c.detail.split(",") if "=" in p]
                listed = math.prod(int(b) for _, b in pairs)
                if listed != c.claimed_value:
                    out.append(Finding("consistency", c.line_no, c.text, "inconsistent", True,
                                       f"{' x '.join(b for _, b in pairs)} = {listed}, not "
                                       f"{c.claimed_value:g}"))
    # a tick whose own numbers, on the same line, fail the target it claims to meet
    targets = {}
    if ctx.scenario is not None:
        r = ctx.scenario.requirements
        targets = {"ttft_met": ("ttft", "ttft_target", r.ttft_s, 1),
                   "throughput_met": ("throughput_per_gpu", "throughput_target",
                                      r.throughput_tokens_per_s_per_gpu, -1)}
        if "hardware" not in ctx.missing:
            targets["memory_fits"] = ("memory_per_gpu", "memory_capacity",
                                      ctx.scenario.hardware.hbm_capacity_bytes, 1)
    for c in claims:
        if c.quantity not in targets or not c.claimed_value:
            continue
        num_q, tgt_q, req, sign = targets[c.quantity]
        same = [x for x in claims if x.line_no == c.line_no]
        num = next((x for x in same if x.quantity == num_q), None)
        tgt = next((x for x in same if x.quantity == tgt_q), None)
        target = tgt.claimed_value if tgt is not None else req
        if num is None or target is None:
            continue
        fails = (num.claimed_value - target) * sign > num.rounding
        if fails:
            out.append(Finding("consistency", c.line_no, c.text, "inconsistent", True,
                               f"ticked as met, but the line's own figure {num.printed} "
                               f"{'exceeds' if sign > 0 else 'falls short of'} the target "
                               f"{tgt.printed if tgt is not None else show(target, num.unit)}"))
    # one quantity stated twice with values that cannot both round from one number
    by_q: dict[str, list[Claim]] = {}
    for c in claims:
        if QUANTITIES[c.quantity].unit != "check" and c.claimed_value is not None:
            by_q.setdefault(c.quantity, []).append(c)
    pairs_q = [("prefill_time", "ttft")]
    for a, b in pairs_q:
        if a in by_q and b in by_q:
            by_q[a] = by_q[a] + by_q.pop(b)
    for q, cs in by_q.items():
        for x, y in itertools.pairwise(cs):
            if abs(x.claimed_value - y.claimed_value) > x.rounding + y.rounding + 1e-12:
                out.append(Finding("consistency", y.line_no, y.text, "inconsistent", True,
                                   f"{QUANTITIES[q].label}: {x.printed} on line {x.line_no} but "
                                   f"{y.printed} on line {y.line_no}"))
    if ctx.scenario is not None and "hardware" not in ctx.missing:
        cap = ctx.scenario.hardware.hbm_capacity_bytes
        mems = by_q.get("memory_per_gpu", [])
        for u in by_q.get("memory_utilization", []):
            if mems:
                implied = mems[0].claimed_value / cap
                if abs(implied - u.claimed_value) <= u.rounding + mems[0].rounding / cap:
                    out.append(Finding("consistency", u.line_no, u.text, "consistent", False,
                                       f"{mems[0].printed} / {show(cap, 'bytes')} = "
                                       f"{_sig(implied * 100)}%: the utilisation follows from the "
                                       f"plan's memory per GPU (and is as right or wrong as it)"))
    return out


# --------------------------------------------------------------------------------------------
# The plan's layout beside ours
# --------------------------------------------------------------------------------------------

def _layout_row(sc: Scenario, s: Strategy, opts: E.Options) -> pd.Series:
    lay = E.Layouts.from_strategies([s])
    return S.add_checks(sc, S.evaluate_all(sc, lay, opts)).iloc[0]


def _comparison(ctx: _Ctx) -> dict:
    sc = ctx.scenario
    blockers = [p for p in ("hardware", "model", "workload") if p in ctx.missing]
    if sc is None or blockers:
        return {"available": False,
                "why": "needs " + ", ".join(f"the plan's {p} ({ctx.missing[p]})"
                                            for p in blockers or ["model"]
                                            if p in ctx.missing) or "a scenario"}
    p = S.plan(sc, ctx.opts, progress=False)
    rec_est = E.estimate(sc, p.recommended, ctx.opts)
    rec_row = p.recommended_row
    kind = ctx.kind
    col = f"min_{S.THROUGHPUT_COLUMNS[kind]}"

    def side(s: Strategy, row: pd.Series, est: E.Estimate, checks) -> dict:
        used = sum(v for k, v in est.memory_bytes.items() if k != "runtime_reserve")
        return {"layout": s.label(), "gpus": s.gpus, "ttft_s": float(row["ttft_s"]),
                "throughput_tokens_per_s_per_gpu": float(row[col]),
                "throughput_tokens_per_s_total": float(row[col]) * s.gpus,
                "memory_used_bytes_per_gpu": used,
                "memory_bytes_per_gpu": float(sum(est.memory_bytes.values())),
                "requirements_met": sum(c.passed for c in checks),
                "requirements": len(checks),
                "failed": [c.name for c in checks if not c.passed]}

    out = {"available": True, "throughput_kind": kind, "throughput_why": ctx.kind_why,
           "ours_label": p.label, "ours_feasible": p.feasible,
           "ours": side(p.recommended, rec_row, rec_est, p.checks), "plan": None,
           "plan_claimed": {}}
    if ctx.est is not None:
        out["plan"] = side(ctx.strategy, ctx.row, ctx.est, S.checks_for(sc, ctx.row))
    return out


# --------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------

@dataclass
class AuditResult:
    """Everything the audit found; :meth:`to_dict` is the ``--json`` form."""

    plan_path: str
    scenario: Scenario | None
    strategy: Strategy | None
    verdicts: list[Verdict]
    findings: list[Finding]
    comparison: dict
    unreadable: list[Unreadable]
    read: dict[str, str]               # part -> what was read, or why not
    sections: list[tuple[str, str, int, int]]
    unchecked_statements: list[tuple[int, str]]
    assumptions: list[str]
    markdown: str = ""
    path: Path | None = None

    @property
    def claims(self) -> list[Verdict]:
        return self.verdicts

    def counts(self) -> dict[str, int]:
        out = {"confirmed": 0, "wrong": 0, "not checkable": 0}
        for v in self.verdicts:
            out[v.status] += 1
        return out

    def summary(self) -> str:
        n = self.counts()
        probs = sum(f.problem for f in self.findings)
        return (f"{len(self.verdicts)} claims: {n['confirmed']} confirmed, {n['wrong']} wrong, "
                f"{n['not checkable']} not checkable; {len(self.findings)} qualitative findings, "
                f"{probs} of them problems; {_unreadable_count(self)}")

    def to_dict(self) -> dict:
        return {"plan": self.plan_path,
                "layout": self.strategy.label() if self.strategy else None,
                "summary": {**self.counts(), "findings": len(self.findings),
                            "problems": sum(f.problem for f in self.findings)},
                "read": self.read,
                "claims": [v.as_dict() for v in self.verdicts],
                "findings": [f.as_dict() for f in self.findings],
                "comparison": self.comparison,
                "unreadable": [u.as_dict() for u in self.unreadable],
                "assumptions": self.assumptions}


def _unreadable_count(res: AuditResult) -> str:
    n = len(res.unreadable)
    return "everything was read" if n == 0 else \
        f"{n} {'thing' if n == 1 else 'things'} could not be read"


def display_path(path: str | os.PathLike) -> str:
    """The plan's path relative to the repository when it lies inside it (so the audit text does
    not depend on the working directory), else as given."""
    p = Path(path)
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def audit_dir_name(plan_path: str | os.PathLike) -> str:
    """``examples/cards/seed-plan.md`` -> ``seed-audit``: the file's stem without a trailing
    ``-plan``, plus ``-audit`` (the Makefile's ``audit`` target names its folder the same way)."""
    stem = Path(plan_path).stem
    stem = re.sub(r"[-_]plan$", "", stem) or stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem) + "-audit"


def _read_text(path: str | os.PathLike) -> str:
    p = Path(path)
    if not p.is_file():
        raise InputError("plan", str(path), "no such file", "a plan in markdown (.md)")
    return read_text_file(p, "plan")


PLAN_NEEDS = ("a plan is markdown in the seed plan's layout: '## Hardware Environment', "
              "'## Model Configuration', '## Input Data', '## Performance Requirements', "
              "'## Recommended Parallel Strategy' with EP / TP / PP degrees, and output "
              "sections such as 'Resource Allocation', 'Expected Performance' and "
              "'Validation Checklist'")


def audit(plan_path: str | os.PathLike, opts: E.Options | None = None,
          text: str | None = None) -> AuditResult:
    """Read a plan, judge every claim, check the qualitative advice, compare with our plan.

    Raises :class:`ParseError` for an empty file or one that is not a plan at all; a partial
    plan is audited as far as it can be, with what could not be read listed.
    """
    opts = opts or E.Options()
    shown = display_path(plan_path)
    if text is None:
        text = _read_text(plan_path)
    if not text.strip():
        raise ParseError(shown, f"empty file: nothing to audit; {PLAN_NEEDS}")
    lines, sections = _split(text)
    kinds = {s.kind for s in sections}
    if not kinds & ({"hardware", "model", "workload", "requirements", "strategy"}
                    | set(_OUTPUT_KINDS)):
        raise ParseError(shown, f"not a plan: no section of the seed plan's layout was found; "
                                f"{PLAN_NEEDS}")
    inputs = _read_inputs(text, shown, lines)
    unreadable = list(inputs.unreadable)
    claims, rest = _extract(lines, unreadable)
    sc, s = inputs.scenario, inputs.strategy
    missing = dict(inputs.missing)
    if sc is None:      # no scenario could be built: nothing that rests on one is checkable
        why = next(iter(missing.values()), "its inputs do not make a scenario")
        for part in ("hardware", "model", "workload", "requirements"):
            missing.setdefault(part, why)

    est = row = None
    layout_error = None
    blocked = [p for p in ("model", "workload") if p in missing]
    if blocked:
        missing["estimate"] = f"the plan's {blocked[0]} could not be read ({missing[blocked[0]]})"
    elif sc is not None and s is not None:
        try:
            est = E.estimate(sc, s, opts)
            if "hardware" not in missing:    # the checks rest on times: not with a placeholder
                row = _layout_row(sc, s, opts)
        except LayoutError as e:
            missing["estimate"] = str(e)
            layout_error = str(e)
    else:
        missing.setdefault("estimate", missing.get("layout") or missing.get("model")
                           or "no layout")
    kind, kind_why = S.throughput_reading(sc) if sc is not None else ("prefill", "")
    ctx = _Ctx(sc, s, missing, est, row, kind, kind_why, opts, claims)
    verdicts = [_judge(c, ctx) for c in claims]

    qual_lines = [ln for ln in rest if ln.kind in _OUTPUT_KINDS and ln.kind != "checklist"
                  and ln.tick is None]
    findings, left = _qualitative(qual_lines, ctx)
    if layout_error:
        findings.insert(0, Finding("layout", None, s.label(), "impossible", True,
                                   layout_error))
    findings += _requirement_findings(ctx, lines, verdicts)
    findings += _consistency_findings(claims, ctx)
    findings.sort(key=lambda f: (f.line_no is None, f.line_no or 0))

    comparison = _comparison(ctx) if sc is not None else {
        "available": False, "why": missing.get("model", "no scenario")}
    if comparison.get("available"):
        comparison["plan_claimed"] = _claimed_headline(claims)
        ticks = [c.claimed_value for c in claims if QUANTITIES[c.quantity].unit == "check"]
        comparison["plan_ticks"] = (f"{sum(map(bool, ticks))} of {len(ticks)} ticked"
                                    if ticks else "—")

    read = _what_was_read(sc, s, inputs.missing, lines)
    secs = [(x.title, x.kind, x.first, x.last) for x in sections]
    unchecked = [(ln.no, ln.text) for ln in left]
    res = AuditResult(shown, sc, s, verdicts, findings, comparison, unreadable, read, secs,
                      unchecked, inputs.assumptions)
    res.markdown = render_audit(res, opts)
    return res


def _claimed_headline(claims: list[Claim]) -> dict:
    """The plan's own headline numbers for the comparison table (first statement of each)."""
    out = {}
    for q in ("gpu_count", "ttft", "prefill_time", "throughput_total", "throughput_per_gpu",
              "memory_per_gpu"):
        c = next((c for c in claims if c.quantity == q), None)
        if c is not None:
            out[q] = {"value": c.claimed_value, "printed": c.printed, "line_no": c.line_no}
    return out


def _lines_of(lines: list[_Line], kind: str) -> str:
    nos = [ln.no for ln in lines if ln.kind == kind]
    return f"lines {nos[0]}-{nos[-1]}" if nos else "not found"


def _what_was_read(sc: Scenario | None, s: Strategy | None, missing: dict[str, str],
                   lines: list[_Line]) -> dict[str, str]:
    out: dict[str, str] = {}

    def put(part: str, kind: str, text: str) -> None:
        where = _lines_of(lines, kind)
        if part in missing:
            out[part] = f"NOT READ ({where}): {missing[part]}"
        else:
            out[part] = f"{text} ({where})"

    if sc is None:
        for part, kind in (("hardware", "hardware"), ("model", "model"),
                           ("workload", "workload"), ("requirements", "requirements"),
                           ("layout", "strategy")):
            put(part, kind, "")
        return out
    hw, m, wl, r = sc.hardware, sc.model, sc.workload, sc.requirements
    put("hardware", "hardware",
        f"{hw.peak_flops_for(m.activation_precision) / 1e12:g} TFLOP/s dense at "
        f"{m.weight_precision}, {show(hw.hbm_capacity_bytes, 'bytes')} HBM at "
        f"{hw.hbm_bandwidth_bytes_per_s / 1e12:g} TB/s, MFU {hw.mfu:.0%}, bandwidth utilisation "
        f"{hw.bandwidth_utilization:.0%}")
    att = m.attention
    put("model", "model",
        f"{m.num_layers} layers, hidden {m.hidden_size}, {att.num_heads} heads x "
        f"{att.head_dim} ({att.num_kv_heads} KV heads), "
        + (f"{m.num_experts} experts of FFN width {m.expert_intermediate_size}, top-{m.top_k}"
           if m.is_moe else f"dense FFN {m.dense_intermediate_size}")
        + f", {m.weight_precision}; {fmt.params(A.total_params(m))} parameters from the dimensions")
    lens = (f"{wl.min_prompt_tokens}-{wl.max_prompt_tokens}" if wl.min_prompt_tokens !=
            wl.max_prompt_tokens else f"{wl.max_prompt_tokens}")
    put("workload", "workload",
        f"batch {wl.batch_sequences}, prompts {lens} tokens, output {wl.output_tokens} tokens"
        + ("" if wl.output_tokens_stated else " (not stated: assumed)"))
    reqs = []
    if r.ttft_s is not None:
        reqs.append(f"TTFT {fmt.seconds(r.ttft_s)}")
    if r.tpot_s is not None:
        reqs.append(f"TPOT {fmt.seconds(r.tpot_s)}")
    if r.throughput_tokens_per_s_per_gpu is not None:
        reqs.append(f"throughput {show(r.throughput_tokens_per_s_per_gpu, 'tokens/s')} per GPU")
    put("requirements", "requirements", ", ".join(reqs) or "none")
    if s is not None:
        put("layout", "strategy",
            f"EP {s.ep} x TP {s.tp} x PP {s.pp}"
            + (f" x DP {s.dp}" if s.dp > 1 else "")
            + f" -> `{s.label()}` on {s.gpus} GPUs: attention tp {s.tp} x dp_attn {s.dp_attn}, "
              f"experts etp {s.etp} x ep {s.ep}"
            + (" (TP runs inside each expert, as the plan says)" if s.etp == s.tp > 1 else "")
            + (f", {s.microbatches} prefill micro-batches" if s.microbatches > 1 else ""))
    else:
        put("layout", "strategy", "")
    return out


# --------------------------------------------------------------------------------------------
# audit.md
# --------------------------------------------------------------------------------------------

def _cell(s: str) -> str:
    return s.replace("|", "\\|")


def render_audit(res: AuditResult, opts: E.Options | None = None) -> str:
    """The audit as markdown (deterministic)."""
    from analysis.report.strategy import md_table

    opts = opts or E.Options()
    out: list[str] = []
    add = out.append
    layout = f"`{res.strategy.label()}` on {res.strategy.gpus} GPUs" if res.strategy else \
        "(no layout could be read)"
    add(f"# Audit of the plan `{res.plan_path}`\n")
    add(f"Every number the plan states is re-derived by MoEPlan's model for **the plan's own "
        f"layout**, {layout}, and judged within the tolerance given for its quantity "
        f"(counts exact; memory, times, throughputs and parameter counts ±10%, plus half a unit "
        f"of the last digit the plan printed). Estimate: {opts.describe()}.\n")
    n = res.counts()
    add(f"**Summary: {len(res.verdicts)} claims: {n['confirmed']} confirmed, {n['wrong']} wrong, "
        f"{n['not checkable']} not checkable. {len(res.findings)} qualitative findings, "
        f"{sum(f.problem for f in res.findings)} of them problems. "
        + _unreadable_count(res).capitalize() + ".**\n")

    add("## What was read\n")
    add(md_table([[part, _cell(v)] for part, v in res.read.items()], ["part", "read as"], "ll"))
    add("")
    add("Sections found: " + "; ".join(f"{t} ({k}, lines {a}-{b})"
                                       for t, k, a, b in res.sections) + ".\n")
    if res.unreadable:
        add("Could not be read (the rest is audited without it):\n")
        for u in res.unreadable:
            where = f"line {u.line_no}" if u.line_no else f"section '{u.text}'"
            shown = f" `{u.text}`" if u.line_no else ""
            add(f"- {where}{shown}: {u.why}")
        add("")
    else:
        add("Every line of the plan's input sections was read.\n")
    if res.assumptions:
        add("Assumptions made reading the inputs:\n")
        for a in res.assumptions:
            add(f"- {a}")
        add("")

    add("## Claims\n")
    rows = []
    for v in res.verdicts:
        c = v.claim
        q = QUANTITIES[c.quantity]
        plan_v = show(c.claimed_value, c.unit) if q.unit == "check" else (c.printed or
                                                                             show(c.claimed_value,
                                                                                  c.unit))
        err = "" if v.error is None or v.status != "wrong" else _error_text(
            float(c.claimed_value), float(v.ours), c.unit)
        mark = {"confirmed": "confirmed", "wrong": "**wrong**",
                "not checkable": "not checkable"}[v.status]
        rows.append([c.line_no, _cell(c.section), _cell(q.label), _cell(plan_v),
                     _cell(show(v.ours, c.unit)), err, v.tolerance, mark])
    add(md_table(rows, ["line", "section", "claim", "plan", "ours", "error", "tolerance",
                        "verdict"], "rlllllll"))
    add("")
    add("Why, claim by claim:\n")
    for v in res.verdicts:
        c = v.claim
        add(f"- line {c.line_no} ({QUANTITIES[c.quantity].label}, `{_cell(c.text)}`): "
            f"**{v.status}**. {v.why}")
    add("")

    add("## Qualitative findings\n")
    if res.findings:
        add(md_table([[f.line_no or "", f.kind, _cell(f.statement),
                       f"**{f.verdict}**" if f.problem else f.verdict, _cell(f.why)]
                      for f in res.findings],
                     ["line", "kind", "statement", "verdict", "why"], "rllll"))
    else:
        add("None.")
    add("")
    if res.unchecked_statements:
        add("Statements with no number and no rule to check them against: "
            + "; ".join(f"line {no} `{_cell(t)}`" for no, t in res.unchecked_statements) + ".\n")

    add("## The plan's layout beside our recommendation\n")
    cmp_ = res.comparison
    if not cmp_.get("available"):
        add(f"Not available: {cmp_.get('why')}.\n")
    else:
        table = comparison_table(res)
        add(md_table(table.values.tolist(), list(table.columns), "lllll"))
        add("")
        ours = cmp_["ours"]
        basis = ("fewest GPUs meeting every requirement" if cmp_["ours_feasible"]
                 else "nothing meets every requirement")
        add(f"Ours is the planner's {cmp_['ours_label']} for the same scenario ({basis}); "
            f"throughput is read as {cmp_['throughput_kind']}: {cmp_['throughput_why']}.\n")
        if ours["failed"]:
            add(f"Ours fails: {', '.join(ours['failed'])}.\n")
    return "\n".join(out)


def verdict_table(res: AuditResult) -> pd.DataFrame:
    """One row per claim: line, section, claim, the plan's value, ours, error, verdict."""
    rows = []
    for v in res.verdicts:
        c = v.claim
        q = QUANTITIES[c.quantity]
        rows.append({"line": c.line_no, "section": c.section, "claim": q.label,
                     "plan": show(c.claimed_value, c.unit) if q.unit == "check"
                     else (c.printed or show(c.claimed_value, c.unit)),
                     "ours": show(v.ours, c.unit),
                     "error": "" if v.status != "wrong" or v.error is None
                     else _error_text(float(c.claimed_value), float(v.ours), c.unit),
                     "verdict": v.status})
    return pd.DataFrame(rows, columns=["line", "section", "claim", "plan", "ours", "error",
                                       "verdict"])


def findings_table(res: AuditResult) -> pd.DataFrame:
    """One row per qualitative finding."""
    return pd.DataFrame([{"line": f.line_no, "statement": f.statement, "verdict": f.verdict,
                          "problem": f.problem, "why": f.why} for f in res.findings],
                        columns=["line", "statement", "verdict", "problem", "why"])


def comparison_table(res: AuditResult) -> pd.DataFrame:
    """GPUs, TTFT, throughput and memory: as the plan claims, the plan's layout by our model,
    our recommendation, and the difference (ours - the plan's layout)."""
    cmp_ = res.comparison
    cols = ["", "plan (as claimed)", "plan's layout (our model)", "our recommendation",
            "difference"]
    if not cmp_.get("available"):
        return pd.DataFrame([], columns=cols)
    o, p, claimed = cmp_["ours"], cmp_["plan"], cmp_.get("plan_claimed", {})
    kind = cmp_["throughput_kind"]

    def cl(*qs, unit):
        for q in qs:
            if q in claimed:
                return claimed[q]["printed"] or show(claimed[q]["value"], unit)
        return "—"

    def diff(a, b, unit):
        if p is None:
            return "—"
        d = b - a
        if unit == "count":
            return f"{d:+g}"
        if a and b:
            r = b / a
            return f"{'+' if d >= 0 else '-'}{show(abs(d), unit)} ({_sig(r)}x)"
        return f"{show(d, unit)}"

    def pv(key, unit):
        return show(p[key], unit) if p else "—"

    rows = [
        ["layout", "—", f"`{p['layout']}`" if p else "—", f"`{o['layout']}`", ""],
        ["GPUs", cl("gpu_count", unit="count"), pv("gpus", "count"), show(o["gpus"], "count"),
         diff(p["gpus"], o["gpus"], "count") if p else "—"],
        ["TTFT (longest prompt)", cl("ttft", "prefill_time", unit="s"), pv("ttft_s", "s"),
         show(o["ttft_s"], "s"), diff(p["ttft_s"], o["ttft_s"], "s") if p else "—"],
        [f"throughput per GPU ({kind}, lowest over prompts)", cl("throughput_per_gpu",
                                                                 unit="tokens/s"),
         pv("throughput_tokens_per_s_per_gpu", "tokens/s"),
         show(o["throughput_tokens_per_s_per_gpu"], "tokens/s"),
         diff(p["throughput_tokens_per_s_per_gpu"], o["throughput_tokens_per_s_per_gpu"],
              "tokens/s") if p else "—"],
        [f"throughput, all GPUs ({kind})", cl("throughput_total", unit="tokens/s"),
         pv("throughput_tokens_per_s_total", "tokens/s"),
         show(o["throughput_tokens_per_s_total"], "tokens/s"),
         diff(p["throughput_tokens_per_s_total"], o["throughput_tokens_per_s_total"],
              "tokens/s") if p else "—"],
        ["memory per GPU (used)", cl("memory_per_gpu", unit="bytes"),
         pv("memory_used_bytes_per_gpu", "bytes"), show(o["memory_used_bytes_per_gpu"], "bytes"),
         diff(p["memory_used_bytes_per_gpu"], o["memory_used_bytes_per_gpu"], "bytes")
         if p else "—"],
        ["memory per GPU (with runtime reserve)", "—", pv("memory_bytes_per_gpu", "bytes"),
         show(o["memory_bytes_per_gpu"], "bytes"),
         diff(p["memory_bytes_per_gpu"], o["memory_bytes_per_gpu"], "bytes") if p else "—"],
        ["requirements met", cmp_.get("plan_ticks", "—"),
         f"{p['requirements_met']} of {p['requirements']}" if p else "—",
         f"{o['requirements_met']} of {o['requirements']}", ""],
    ]
    return pd.DataFrame(rows, columns=cols)


def write_audit(plan_path: str | os.PathLike, out_dir: str | os.PathLike,
                opts: E.Options | None = None) -> AuditResult:
    """Audit ``plan_path`` and write ``out_dir/audit.md`` (via a temporary name)."""
    res = audit(plan_path, opts)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "audit.md.tmp"
    tmp.write_text(res.markdown + "\n", encoding="utf-8")
    tmp.replace(out / "audit.md")
    res.path = out / "audit.md"
    return res


# --------------------------------------------------------------------------------------------
# A plan in the seed's layout from one of our estimates (every claim true by construction)
# --------------------------------------------------------------------------------------------

def render_plan_md(est: E.Estimate, title: str = "LLM Parallel Strategy Deployment Plan "
                                                  "(MoEPlan)") -> str:
    """A plan in the seed plan's layout whose every number is our estimate's.

    Interconnect, vocabulary and gating are not part of the layout; the plan is read back with
    the defaults, so render estimates of scenarios that use them (as the seed does).
    """
    sc, s = est.scenario, est.strategy
    hw, m, wl, r = sc.hardware, sc.model, sc.workload, sc.requirements
    opts = est.options
    row = _layout_row(sc, s, opts)
    kind, _ = S.throughput_reading(sc)
    col = f"min_{S.THROUGHPUT_COLUMNS[kind]}"
    per_gpu = float(row[col])
    used = sum(v for k, v in est.memory_bytes.items() if k != "runtime_reserve")
    ttft = est.worst["ttft_s"]
    L: list[str] = []
    add = L.append
    add(f"# {title}\n")
    add("## Hardware Environment")
    add(f"- GPU Compute Power: {_g(hw.peak_flops_for(m.activation_precision) / 1e12)} TFlops")
    add(f"- Single-card VRAM: {_g(hw.hbm_capacity_bytes / 1e9)} GB")
    add(f"- VRAM Bandwidth: {_g(hw.hbm_bandwidth_bytes_per_s / 1e12)} TBps")
    add(f"- MFU Utilization: {hw.mfu * 100:.1f}%")
    add(f"- Bandwidth Utilization: {hw.bandwidth_utilization * 100:.1f}%\n")
    add("## Model Configuration")
    add(f"- Parameters: {_sig(A.total_params(m) / 1e9)}B")
    add(f"- Layers: {m.num_layers}")
    if m.is_moe:
        add(f"- Experts per Layer: {m.num_experts}")
    add(f"- Precision: {m.weight_precision.upper()}")
    add(f"- Token Dimension: {m.hidden_size}")
    add(f"- Attention Heads: {m.attention.num_heads} x {m.attention.head_dim}")
    if m.attention.num_kv_heads != m.attention.num_heads:
        add(f"- KV Heads: {m.attention.num_kv_heads}")
    if m.is_moe:
        add(f"- MoE Hidden Size: {m.expert_intermediate_size}")
    else:
        add(f"- MLP Hidden Size: {m.dense_intermediate_size}")
    add("")
    add("## Input Data")
    add(f"- Batch Size: {wl.batch_sequences}")
    lo, hi = wl.min_prompt_tokens, wl.max_prompt_tokens
    add(f"- Sequence Length: {lo} - {hi} tokens" if lo != hi else f"- Sequence Length: {hi} tokens")
    if wl.output_tokens_stated:
        add(f"- Output Length: {wl.output_tokens} tokens")
    add("")
    add("## Performance Requirements")
    if r.ttft_s is not None:
        add(f"- TTFT: {_g(r.ttft_s)}s")
    if r.tpot_s is not None:
        add(f"- TPOT: {_g(r.tpot_s * 1e3)}ms")
    if r.throughput_tokens_per_s_per_gpu is not None:
        add(f"- Throughput per GPU: {_g(r.throughput_tokens_per_s_per_gpu / 1e3)} tokens/ms")
    add("")
    add("## Recommended Parallel Strategy\n")
    add("### Strategy Composition")
    add(f"- Expert Parallelism (EP): {s.ep}-way")
    add(f"- Tensor Parallelism (TP): {s.tp}-way")
    if s.etp != s.tp or s.dp_attn != s.ep:
        add(f"- Expert Tensor Parallelism (ETP): {s.etp}-way")
        add(f"- Attention Data Parallelism: {s.dp_attn}-way")
    add(f"- Pipeline Parallelism (PP): {s.pp}-way")
    if s.dp > 1:
        add(f"- Data Parallelism (DP): {s.dp}-way")
    if s.microbatches > 1:
        add(f"- Prefill Micro-batches: {s.microbatches}")
    if s.redundant_experts:
        add(f"- Redundant Experts: {s.redundant_experts}")
    add(f"- Total GPUs: {s.gpus}\n")
    add("### Resource Allocation")
    add(f"- Memory per GPU: {_sig(used / 1e9)} GB")
    add(f"- Memory Utilization: {_sig(used / hw.hbm_capacity_bytes * 100)}%")
    add(f"- Expected Prefill Time: {_sig(ttft)}s\n")
    add("### Implementation Strategy\n")
    if m.is_moe:
        per_rank = (m.num_experts + s.redundant_experts) / s.ep
        add("#### Phase 1: Expert Parallelism (EP)")
        add(f"- Distribute {m.num_experts} experts across {s.ep * s.etp} GPUs")
        add(f"- Each GPU handles {_cnt(per_rank / s.etp)} experts")
        if s.etp > 1:
            add(f"- {_cnt(per_rank)} experts per EP rank, split over its {s.etp} GPUs")
        add(f"- Top-{m.top_k} expert routing"
            + (" with all-to-all communication" if s.ep > 1 else "") + "\n")
    add("#### Phase 2: Tensor Parallelism (TP)")
    add(f"- Apply {s.tp}-way TP to attention" + (" and within each expert"
                                                  if s.etp == s.tp else "") + "\n")
    add("#### Phase 3: Pipeline Parallelism (PP)")
    add(f"- Create {s.pp} pipeline stages")
    add(f"- Each stage contains {math.ceil(m.num_layers / s.pp)} layers\n")
    from analysis.report.strategy import optimisations

    applies = [(n, why) for n, ok, why in optimisations(sc, est, opts) if ok]
    add("### Performance Optimization")
    for n, _why in applies:
        add(f"- {n}")
    if not applies:
        add("- None needed")
    add("")
    add("### Expected Performance")
    ttft_target = f" (target: {_g(r.ttft_s)}s)" if r.ttft_s is not None else ""
    add(f"- TTFT: {_sig(ttft)}s{ttft_target}")
    add(f"- Throughput: {_sig(per_gpu * s.gpus / 1e3)} tokens/ms total ({kind})")
    add(f"- Throughput per GPU: {_sig(per_gpu / 1e3)} tokens/ms ({kind})")
    add(f"- Memory efficiency: {_sig(used / hw.hbm_capacity_bytes * 100)}% per GPU")
    if m.is_moe:
        add(f"- Expert utilization: {_sig(m.top_k / m.num_experts * 100)}% "
            f"(top-{m.top_k} routing)")
    add("")
    add("### Validation Checklist")

    def tick(ok) -> str:
        return "✓" if ok else "✗"

    cap = hw.hbm_capacity_bytes
    add(f"{tick(row['fits_memory'])} Memory requirements satisfied: {_sig(used / 1e9)} GB "
        f"≤ {_g(cap / 1e9)} GB")
    if r.ttft_s is not None:
        add(f"{tick(row['check_ttft'])} TTFT requirement met: {_sig(float(row['ttft_s']))}s ≤ "
            f"{_g(r.ttft_s)}s")
    if r.tpot_s is not None:
        add(f"{tick(row['check_tpot'])} TPOT requirement met: "
            f"{_sig(float(row['tpot_max_s']) * 1e3)}ms")
    if r.throughput_tokens_per_s_per_gpu is not None:
        add(f"{tick(row['check_throughput'])} Throughput requirement met: "
            f"{_sig(per_gpu / 1e3)} tokens/ms per GPU ({kind}) ≥ "
            f"{_g(r.throughput_tokens_per_s_per_gpu / 1e3)} tokens/ms")
    names, vals = ["EP", "TP", "PP"], [s.ep, s.tp, s.pp]
    if s.etp != s.tp or s.dp_attn != s.ep:
        names, vals = ["EP", "ETP", "PP"], [s.ep, s.etp, s.pp]
    if s.dp > 1:
        names.append("DP")
        vals.append(s.dp)
    add(f"✓ Parallelism degrees are compatible ({'×'.join(names)} = "
        f"{'×'.join(map(str, vals))} = {s.gpus})")
    return "\n".join(L) + "\n"


def json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return str(x)
