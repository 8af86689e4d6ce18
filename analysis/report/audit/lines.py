"""A plan's lines and sections: each non-empty line outside code fences with its section kind
(hardware, model, ..., performance, checklist), key, value and tick."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def _clean(s: str) -> str:
    s = s.replace("**", "").replace("__", "").replace("`", "")
    return re.sub(r"\s+", " ", s).strip()


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


def _heading(raw: str) -> tuple[int, str] | None:
    """(level, title) of a markdown heading or of a bold line that names a section kind."""
    h = _HEADING_RE.match(raw)
    if h:
        return len(h.group(1)), _clean(h.group(2))
    bold = re.fullmatch(r"\s*\*\*([^*]+)\*\*\s*:?\s*", raw)
    if bold and _section_kind(bold.group(1)):
        return 3, _clean(bold.group(1))
    return None


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


def _body(no: int, raw: str, kind: str, title: str) -> Line:
    """A body line without its bullet, tick and bold, split into key and value."""
    tm = _TICK_RE.match(raw)
    tick = None
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
    return Line(no, raw, t, key, value, tick, kind, title)


def _skipped(raw: str) -> bool:
    """Blank lines, table separators and horizontal rules."""
    return (not raw.strip() or bool(re.match(r"^\s*\|?\s*:?-{3,}", raw))
            or bool(re.match(r"^\s*(?:[-*_]\s*){3,}$", raw)))


def split_plan(text: str) -> tuple[list[Line], list[Section]]:
    """Every non-empty, non-heading line with its section; the sections with their line span."""
    lines: list[Line] = []
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    kind, title = "preamble", ""
    in_fence = False
    for no, raw in enumerate(text.splitlines(), start=1):
        if re.match(r"^\s*(```|~~~)", raw):
            in_fence = not in_fence
            continue
        if in_fence or _skipped(raw):
            continue
        h = _heading(raw)
        if h:
            level, title = h
            while stack and stack[-1][0] >= level:
                stack.pop()
            kind = _heading_kind(level, title, stack[-1][1] if stack else None)
            stack.append((level, kind))
            if sections:
                sections[-1].last = no - 1
            sections.append(Section(title, kind, no, no))
            continue
        lines.append(_body(no, raw, kind, title))
        if sections:
            sections[-1].last = no
    return lines, sections
