"""Read a hand-written scenario card (markdown) into a plain scenario dict.

A card is a few sections of "Key: value" lines, written by hand::

    ## Environment Condition
    * **Single-card computing power**: 400TFlops.
    * **VRAM Bandwidth**: 1.8TBps.
    ...
    ## Model Configuration
    * **Layers**: 16-layer, Each layer includes Multi-head attention + Mixture of experts, ...

:func:`scenario_dict_from_card` returns ``(scenario_dict, assumptions)``; the dict has the shape
``analysis.loaders.scenario_from_dict`` consumes (name, source, hardware, model, workload,
requirements, and current_strategy / max_gpus when the card states them). Every default this
module fills in, and every reading of a loosely worded line, is recorded in ``assumptions``.

How a card is read:

* Sections are recognised by their heading (any level, ``**bold**`` or not): hardware
  (environment, GPU, cluster), model, input data / workload, requirements, and a current or
  recommended parallel strategy. A sub-heading with an unknown title inherits an input section
  (hardware, model, workload, requirements); anywhere else (a plan's "Expected Performance",
  "Resource Allocation", ...) it is ignored as a whole, since those are outputs, not inputs.
* Inside input sections a line is classified by its *key*, not by its section: a card may put
  the batch size under "Model Configuration".
* A known key whose value lacks a needed number (``Layers: many``) raises :class:`ParseError`
  with the line number; an unknown line is recorded as ``line N ignored: '...'``.
* Top-k is read from anywhere in the text ("Top-2 expert routing", "top-k: 2",
  "2 experts per token"); absent on an MoE card it is assumed to be 2.

Units: TFLOPS = 1e12 FLOP/s (PFLOPS, GFLOPS scaled), GB = 1e9 B and GiB = 2**30 B (kept apart:
GiB is converted to GB, never read as GB), TB/s = 1e12 B/s ("TBps" alike), times in s / ms / us,
throughput in tokens/ms or tokens/s (converted to tokens/ms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.inputs.errors import ParseError
from analysis.inputs.read.card.build import CARD_NEEDS, build_scenario, field_lines
from analysis.inputs.read.card.lines import handle_free_text, handle_input_line
from analysis.inputs.read.card.strategy import handle_strategy_line, scan_other_line
from analysis.inputs.read.card.values import INPUT_KINDS, WARNING_PREFIX, CardLine, CardState
from analysis.inputs.read.markdown import Section, split
from analysis.inputs.read.text import words_to_digits

__all__ = ["CARD_NEEDS", "CardReading", "read_card", "scenario_dict_from_card"]

# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

def section_kind(title: str) -> str | None:
    t = title.lower()
    if re.search(r"parallel(?:ism)?\s+(?:strateg|layout|config|plan|scheme)"
                 r"|strateg(?:y|ies)\s+(?:composition|layout)"
                 r"|(?:current|recommended|existing|deployed|proposed)\s+(?:\w+\s+)?"
                 r"(?:strateg|layout|parallel)|^\W*(?:parallelism|layout|sharding)\W*$"
                 r"|\bbaseline\b|current\s+(?:deployment|setup|configuration)", t):
        return "strategy"
    if re.search(r"requirement|\bslos?\b|\bslas?\b|\btargets?\b|constraints?\b", t):
        return "requirements"
    if re.search(r"\bmodel\b|architecture|network config", t):
        return "model"
    if re.search(r"\binput\b|workload|traffic|requests?\b|\bdata\b|serving|batch", t):
        return "workload"
    if re.search(r"hardware|environment|\bgpus?\b|cluster|machine|device|system|accelerator"
                 r"|infrastructure|compute resources?", t):
        return "hardware"
    return None


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------

@dataclass
class CardReading:
    """What a card says: the scenario mapping, the assumptions (every default, every loose
    reading), the warnings (conflicts, lines not read) and, per field, the line it came from."""

    scenario: dict
    assumptions: list[str]
    warnings: list[str]
    fields: dict[str, dict]         # "model.num_layers" -> {"value": 16, "line": 9}


def scenario_dict_from_card(text: str, path: str = "<card>") -> tuple[dict, list[str]]:
    """Read a scenario card into ``(scenario dict, assumptions)`` (warnings included, in the
    order they arose); :func:`read_card` keeps the warnings and the line of each field apart.

    Raises :class:`ParseError` (with the 1-based line number when one line is at fault) for an
    empty or non-card text, a missing hardware or model section, a needed number that is not
    there (``Layers: many``) and not stated on another line, or a missing essential field.
    """
    st = _read(text, path)
    return build_scenario(st, path)


def read_card(text: str, path: str = "<card>") -> CardReading:
    """:func:`scenario_dict_from_card` with the warnings and each field's line kept apart."""
    st = _read(text, path)
    scenario, said = build_scenario(st, path)
    assumptions, warnings = split_warnings(said)
    return CardReading(scenario, assumptions, warnings, field_lines(st))


def split_warnings(said: list[str]) -> tuple[list[str], list[str]]:
    """A card's notes as (assumptions, warnings): warnings carry :data:`WARNING_PREFIX`."""
    n = len(WARNING_PREFIX)
    return ([a for a in said if not a.startswith(WARNING_PREFIX)],
            [a[n:] for a in said if a.startswith(WARNING_PREFIX)])


def _read(text: str, path: str) -> CardState:
    """Every line of the card into a :class:`CardState` (facts, flags, degrees, notes)."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError(path, f"empty card: {CARD_NEEDS}")
    st = CardState(path)
    headings: list[tuple[int, str]] = []   # stack of (level, kind)
    kind, title = "preamble", ""
    other_start: tuple[str, int] | None = None
    doc = split(text, pseudo_heading=lambda t: section_kind(t) is not None)
    for ev in doc.events():
        if isinstance(ev, Section):
            if other_start:
                st.ignored_sections.append(f"'{other_start[0]}' (line {other_start[1]})")
                other_start = None
            kind, title = _enter_section(st, headings, ev), ev.title
            if kind == "other":
                other_start = (title, ev.no)
            continue
        if ev.key == "":
            continue        # a table's header row
        key = ev.key.lower().strip() if ev.key else None
        line = CardLine(ev.no, ev.raw, ev.text, key, words_to_digits(ev.value), kind, title)
        try:
            _dispatch(st, line)
        except ParseError as e:
            st.line_errors.append((e, line))
    if other_start:
        st.ignored_sections.append(f"'{other_start[0]}' (line {other_start[1]})")
    if doc.fenced:
        st.note("code blocks skipped: " + ", ".join(f"lines {a}-{b}" if a != b else f"line {a}"
                                                    for a, b in doc.fenced))
    return st


def _enter_section(st: CardState, headings: list[tuple[int, str]], sec: Section) -> str:
    """The kind of the section a heading opens (an unknown sub-heading inherits an input
    section's kind)."""
    while headings and headings[-1][0] >= sec.level:
        headings.pop()
    parent = headings[-1][1] if headings else None
    k = section_kind(sec.title)
    if sec.level == 1 and re.search(r"\bplan\b|\bcard\b|\bscenario\b", sec.title, re.IGNORECASE):
        k = "preamble"      # a document title, not a section
    if k is None:
        k = parent if parent in INPUT_KINDS and parent != "preamble" else "other"
    if k in ("hardware", "model", "workload", "requirements", "strategy"):
        st.kinds_seen.add(k)
    if k == "strategy":
        st.strategy_headings.append(sec.title)
    headings.append((sec.level, k))
    return k


def _dispatch(st: CardState, line: CardLine) -> None:
    if line.kind == "other":
        scan_other_line(st, line)
    elif line.kind == "strategy":
        handle_strategy_line(st, line)
    elif line.key is None:
        handle_free_text(st, line)
    else:
        handle_input_line(st, line)
