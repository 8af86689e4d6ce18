"""A plan's lines and sections, through the shared markdown splitter
(:mod:`analysis.inputs.read.markdown`): each line outside code fences with its section kind
(hardware, model, ..., performance, checklist), key, value and tick."""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.inputs.read import markdown as md

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
OUTPUT_KINDS = ("resources", "implementation", "communication", "memory_optimisation",
                 "performance_optimisation", "optimisation", "performance", "scalability",
                 "checklist")
PART_OF_KIND = {"hardware": "hardware", "model": "model", "workload": "workload",
                 "requirements": "requirements", "strategy": "layout"}


def _section_kind(title: str) -> str | None:
    t = title.lower()
    for kind, rx in _SECTION_RULES:
        if re.search(rx, t):
            return kind
    return None


@dataclass
class Line:
    no: int
    raw: str
    text: str            # without bullet, tick, bold
    key: str             # lower-case key ("" when the line has none)
    value: str           # after the key (the whole text when there is no key)
    tick: bool | None    # ✓ True, ✗ False, no tick None
    kind: str            # section kind
    section: str         # section title


@dataclass
class Section:
    title: str
    kind: str
    first: int
    last: int


def _heading_kind(level: int, title: str, parent: str | None) -> str:
    """A heading's section kind; a sub-heading with no kind of its own inherits its parent's."""
    k = _section_kind(title)
    if level == 1 and re.search(r"\bplan\b|\bcard\b|\bscenario\b|\bdeployment\b",
                                title, re.IGNORECASE):
        k = "title"
    if k is None or (parent in OUTPUT_KINDS and k == "strategy"):
        k = parent if parent not in (None, "title", "strategy") else (k or "other")
    if parent == "strategy" and k in ("strategy", "other"):
        k = "strategy"
    return k


def split_plan(text: str) -> tuple[list[Line], list[Section]]:
    """Every non-empty, non-heading line outside code with its section kind; the sections with
    their line span (from the heading to the line before the next heading)."""
    doc = md.split(text, pseudo_heading=lambda t: _section_kind(t) is not None, pseudo_level=3,
                   equals=False)
    lines: list[Line] = []
    sections: list[Section] = []
    kind_of: dict[int, str] = {}       # id(markdown section) -> kind
    kind, title = "preamble", ""
    for ev in doc.events():
        if isinstance(ev, md.Section):
            parent = kind_of.get(id(ev.parent)) if ev.parent is not None else None
            kind, title = _heading_kind(ev.level, ev.title, parent), ev.title
            kind_of[id(ev)] = kind
            if sections:
                sections[-1].last = ev.no - 1
            sections.append(Section(title, kind, ev.no, ev.no))
            continue
        lines.append(Line(ev.no, ev.raw, ev.text, (ev.key or "").lower(), ev.value, ev.tick,
                          kind, title))
        if sections:
            sections[-1].last = ev.no
    return lines, sections
