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

from analysis.inputs.errors import ParseError
from analysis.inputs.read.card.build import CARD_NEEDS, build_scenario
from analysis.inputs.read.card.lines import (
    handle_free_text,
    handle_input_line,
    handle_strategy_line,
    scan_top_k,
)
from analysis.inputs.read.card.values import INPUT_KINDS, CardLine, CardState
from analysis.inputs.read.markdown import Section, split

__all__ = ["CARD_NEEDS", "scenario_dict_from_card"]

# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

def section_kind(title: str) -> str | None:
    t = title.lower()
    if re.search(r"parallel(?:ism)?\s+(?:strateg|layout|config|plan|scheme)"
                 r"|strateg(?:y|ies)\s+(?:composition|layout)"
                 r"|(?:current|recommended|existing|deployed|proposed)\s+(?:\w+\s+)?"
                 r"(?:strateg|layout|parallel)|^\W*(?:parallelism|layout|sharding)\W*$", t):
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

def scenario_dict_from_card(text: str, path: str = "<card>") -> tuple[dict, list[str]]:
    """Read a scenario card into ``(scenario dict, assumptions)``.

    Raises :class:`ParseError` (with the 1-based line number when one line is at fault) for an
    empty or non-card text, a missing hardware or model section, a needed number that is not
    there (``Layers: many``), or a missing essential field.
    """
    if not isinstance(text, str) or not text.strip():
        raise ParseError(path, f"empty card: {CARD_NEEDS}")
    st = CardState(path)
    headings: list[tuple[int, str]] = []   # stack of (level, kind)
    kind, title = "preamble", ""
    other_start: tuple[str, int] | None = None
    doc = split(text, pseudo_heading=lambda t: section_kind(t) is not None)
    for ev in doc.events():
        if isinstance(ev, Section):
            no, level, htitle = ev.no, ev.level, ev.title
            if other_start:
                st.ignored_sections.append(f"'{other_start[0]}' (line {other_start[1]})")
                other_start = None
            while headings and headings[-1][0] >= level:
                headings.pop()
            parent = headings[-1][1] if headings else None
            k = section_kind(htitle)
            if level == 1 and re.search(r"\bplan\b|\bcard\b|\bscenario\b", htitle, re.IGNORECASE):
                k = "preamble"      # a document title, not a section
            if k is None:
                k = parent if parent in INPUT_KINDS and parent != "preamble" else "other"
            if k in ("hardware", "model", "workload", "requirements", "strategy"):
                st.kinds_seen.add(k)
            if k == "strategy":
                st.strategy_headings.append(htitle)
            headings.append((level, k))
            kind, title = k, htitle
            if k == "other":
                other_start = (htitle, no)
            continue
        key, value = ev.key, ev.value
        line = CardLine(ev.no, ev.raw, ev.text, key.lower().strip() if key else None, value, kind,
                     title)
        if kind == "other":
            scan_top_k(st, line)   # top-k is read wherever it is stated
        elif key == "":
            continue
        elif kind == "strategy":
            handle_strategy_line(st, line)
        elif key is None:
            handle_free_text(st, line)
        else:
            handle_input_line(st, line)
    if other_start:
        st.ignored_sections.append(f"'{other_start[0]}' (line {other_start[1]})")
    return build_scenario(st, path)
