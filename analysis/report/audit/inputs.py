"""The plan's inputs (scenario and layout), read through the scenario-card reader
(:func:`analysis.inputs.read.cards.scenario_dict_from_card`), line by line tolerant: a line it
cannot read is blanked and reported; a missing or incomplete hardware or model section is replaced
by a placeholder (reported, and every claim that needs it is then "not checkable") so that the
rest of the plan is still audited."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.read.cards import CARD_NEEDS, scenario_dict_from_card
from analysis.inputs.read.mapping import scenario_from_dict
from analysis.inputs.read.scenario import load_scenario
from analysis.inputs.types import Scenario, Strategy
from analysis.report.audit.layout import read_layout
from analysis.report.audit.lines import Line
from analysis.report.audit.quantities import Unreadable
from analysis.report.audit.result import display_path

_HW_STUB = ("\n\n## Hardware Environment (placeholder: the plan's could not be read)\n"
            "- GPU Compute Power: 1 TFlops\n- Single-card VRAM: 1000 GB\n"
            "- VRAM Bandwidth: 1 TBps\n")
_MODEL_STUB = ("\n\n## Model Configuration (placeholder: the plan's could not be read)\n"
               "- Layers: 1\n- Token Dimension: 64\n- Attention Heads: 1 x 64\n"
               "- Experts per Layer: 1\n- MoE Hidden Size: 64\n")


@dataclass
class Inputs:
    scenario: Scenario | None
    strategy: Strategy | None
    missing: dict[str, str]              # part -> why it was not read
    unreadable: list[Unreadable]
    assumptions: list[str]


def _short(why: str) -> str:
    return why.replace(f": {CARD_NEEDS}", "").replace(f"; {CARD_NEEDS}", "").strip()


def _stub_for(why: str, stubs: list[str], unreadable: list[Unreadable],
              missing: dict[str, str]) -> bool:
    """Add the placeholder a card error asks for; False when there is none left to add."""
    both = why.startswith("not a scenario card")
    if (both or why.startswith(("no hardware section", "hardware"))) and _HW_STUB not in stubs:
        unreadable.append(Unreadable(None, "Hardware", "no hardware section" if both else why))
        missing.setdefault("hardware", "no hardware section" if both else why)
        stubs.append(_HW_STUB)
        if not both:
            return True
    if _MODEL_STUB not in stubs:
        unreadable.append(Unreadable(None, "Model", "no model section" if both else why))
        missing.setdefault("model", "no model section" if both else why)
        stubs.append(_MODEL_STUB)
        return True
    unreadable.append(Unreadable(None, "inputs", why))
    return False


def _read_card(rows: list[str], path: str, kind_of: dict[int, str],
               unreadable: list[Unreadable], missing: dict[str, str]
               ) -> tuple[dict | None, list[str]]:
    """The card reader's scenario dictionary, blanking each line it cannot read (``rows`` is
    edited in place) and adding placeholders for missing sections."""
    stubs: list[str] = []
    for _ in range(len(rows) + 3):
        try:
            return scenario_dict_from_card("\n".join(rows) + "".join(stubs), path)
        except ParseError as e:
            if e.line and e.line <= len(rows) and rows[e.line - 1].strip():
                # one stray line never voids its section: it is reported and left out; a
                # field it leaves unstated is then missing (the reader says so)
                if kind_of.get(e.line) != "strategy":     # the layout is read apart
                    unreadable.append(Unreadable(e.line, rows[e.line - 1].strip(),
                                                 _short(e.why)))
                rows[e.line - 1] = ""
                continue
            if not _stub_for(_short(e.why), stubs, unreadable, missing):
                break
    return None, []


def _fill_defaults(data: dict, missing: dict[str, str]) -> None:
    """Placeholders for a workload the plan does not state (the claims that need it are then
    not checkable); the parts that are missing, with why."""
    wl = data.setdefault("workload", {})
    if "batch_sequences" not in wl:
        missing.setdefault("workload", "no batch size stated")
        wl["batch_sequences"] = 1
    if "prompt_tokens" not in wl:
        missing.setdefault("workload", "no sequence (prompt) length stated")
        wl["prompt_tokens"] = 1
    if not data.get("requirements"):
        missing.setdefault("requirements", "no requirement stated")


def _scenario(data: dict, path: str, unreadable: list[Unreadable],
              missing: dict[str, str]) -> Scenario | None:
    """The scenario without a layout (the layout is read apart, :mod:`.layout`)."""
    data.pop("current_strategy", None)
    try:
        return scenario_from_dict(data, path, Path(path).parent)
    except InputError as e:
        unreadable.append(Unreadable(None, "inputs", str(e)))
        for part in ("hardware", "model", "workload", "requirements"):
            missing.setdefault(part, f"no scenario could be built: {e}")
        return None


def _with_layout(inputs: Inputs, lines: list[Line]) -> Inputs:
    """The plan's own layout (:func:`.layout.read_layout`), with what could not be read."""
    lay = read_layout(lines)
    inputs.unreadable += lay.unreadable
    inputs.assumptions += lay.notes
    if lay.strategy is None:
        inputs.missing.setdefault("layout", lay.missing or "no layout could be read")
    inputs.strategy = lay.strategy
    return inputs


def read_inputs(text: str, path: str, lines: list[Line], card: str | None = None) -> Inputs:
    """The scenario and layout of a plan, with what could not be read and why. With ``card``
    (the scenario card or YAML the plan was written from) the scenario is the card's and the
    plan's own input sections are not needed; the layout is always the plan's."""
    if card is not None:
        scenario = replace(load_scenario(card), current_strategy=None)
        note = f"inputs read from the card {display_path(card)}"
        return _with_layout(Inputs(scenario, None, {}, [], [note]), lines)
    rows = text.splitlines()
    kind_of = {ln.no: ln.kind for ln in lines}
    unreadable: list[Unreadable] = []
    missing: dict[str, str] = {}
    data, assumptions = _read_card(rows, path, kind_of, unreadable, missing)
    if data is None:
        for part in ("hardware", "model", "workload", "requirements"):
            missing.setdefault(part, "the inputs could not be read, so no scenario was built")
        return _with_layout(Inputs(None, None, missing, unreadable, []), lines)
    _fill_defaults(data, missing)
    scenario = _scenario(data, path, unreadable, missing)
    n_rows = len(rows)
    keep = [a for a in assumptions if not a.startswith("sections ignored")
            and "restated as" not in a and "placeholder" not in a
            and not a.startswith("current strategy") and "taken as the current strategy" not in a
            and all(int(x) <= n_rows for x in re.findall(r"\bline (\d+)", a))]
    return _with_layout(Inputs(scenario, None, missing, unreadable, keep), lines)
