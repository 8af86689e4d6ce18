"""Load a model or a whole scenario from whatever the user points at.

A reference is one of:

- a preset name (case-insensitive, aliases allowed): ``seed``, ``H100-SXM``, ``mixtral-8x7b``;
- a ``.yaml`` / ``.yml`` file: a scenario (schema in :mod:`analysis.loaders`) or a model;
- a Hugging Face ``config.json``: a model only;
- a ``.md`` scenario card, read by :func:`analysis.cards.scenario_dict_from_card`.

Every default used to fill a gap ends up in ``Scenario.assumptions``; a declared model size that
disagrees with the architecture is the first of ``Scenario.warnings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.read.card.values import WARNING_PREFIX
from analysis.inputs.read.files import read_text_file
from analysis.inputs.read.mapping import (
    find_preset,
    model_from_dict,
    model_from_ref,
    preset_path,
    read_yaml,
    scenario_from_dict,
    size_warnings,
)
from analysis.inputs.read.mapping import (
    list_presets as _list_presets,
)
from analysis.inputs.types import Model, Scenario

__all__ = ["card_fields", "compose_scenario", "list_presets", "load_model", "load_scenario"]

_SCENARIO_MARKERS = ("hardware", "model", "workload")
_MODEL_MARKERS = ("num_layers", "hidden_size", "attention", "num_experts")

WRAP_HINT = ("a config.json holds a model only; wrap it in a scenario YAML: "
             "{{name: my-scenario, hardware: H100-SXM, model: {path}, "
             "workload: {{batch_sequences: 64, prompt_tokens: 2048}}}}")


def list_presets(kind: str) -> list[str]:
    """Names of the shipped presets: ``kind`` is "gpus", "models" or "scenarios"."""
    return _list_presets(kind)


def _is_file_ref(ref: str) -> bool:
    return ref.lower().endswith((".yaml", ".yml", ".json", ".md")) or Path(ref).is_file()


def load_model(ref: str | Path | Mapping[str, Any]) -> tuple[Model, list[str], list[str]]:
    """``(model, assumptions, warnings)`` from a model preset name, a model YAML, a
    ``config.json``, a mapping, or anything holding a scenario (a scenario preset name or YAML,
    a ``.md`` scenario card): then its model. ``warnings`` holds the declared-vs-derived size
    message when they disagree."""
    if isinstance(ref, Mapping):
        model, assumptions = model_from_dict(ref, "model")
    else:
        ref = str(ref)
        is_scenario_preset = (not _is_file_ref(ref) and find_preset("models", ref) is None
                              and find_preset("scenarios", ref) is not None)
        if ref.lower().endswith(".md") or is_scenario_preset:
            sc = load_scenario(ref)
            return sc.model, list(sc.assumptions), size_warnings(sc.model)
        if ref.lower().endswith((".yaml", ".yml")) and Path(ref).is_file():
            data = read_yaml(ref)
            if isinstance(data, Mapping) and "model" in data and "num_layers" not in data:
                _scenario_from_yaml(Path(ref))   # checked as check and plan check it
                # a scenario file: take its model, paths relative to the scenario
                model, assumptions = model_from_ref(data["model"], Path(ref).parent,
                                                    f"{ref}: model")
                return model, assumptions, size_warnings(model)
        model, assumptions = model_from_ref(ref)
    return model, assumptions, size_warnings(model)


def load_scenario(ref: str | Path | Mapping[str, Any]) -> Scenario:
    """A :class:`Scenario` from a preset name, a scenario YAML, a ``.md`` scenario card or a
    mapping. A ``config.json`` is refused with a note on how to wrap it."""
    if isinstance(ref, Mapping):
        return scenario_from_dict(ref, "scenario", None)
    ref = str(ref)
    if not _is_file_ref(ref):
        path = find_preset("scenarios", ref)
        if path is None:
            path = preset_path("scenarios", ref)   # raises with the list and a suggestion
        return _scenario_from_yaml(path)
    path = Path(ref).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".json":
        raise InputError("scenario", ref, WRAP_HINT.format(path=path.name),
                         "a scenario .yaml, a .md scenario card or a preset name: "
                         + ", ".join(list_presets("scenarios")))
    if not path.is_file():
        raise InputError("scenario", ref, "no such file",
                         "an existing .yaml or .md file, or a preset name: "
                         + ", ".join(list_presets("scenarios")))
    if suffix == ".md":
        return _scenario_from_card(path)
    return _scenario_from_yaml(path)


def compose_scenario(gpu: str, model: str, batch_sequences: int, prompt_tokens: Any,
                     output_tokens: int = 256, name: str | None = None,
                     requirements: Mapping[str, Any] | None = None) -> Scenario:
    """A scenario from a GPU preset, a model reference (preset, YAML or config.json) and a
    workload, as the notebooks' parameters give them. ``prompt_tokens`` is a length, a
    ``[lo, hi]`` range or ``{lengths, weights}``, as in a scenario YAML."""
    return load_scenario({
        "name": name or f"{model}-on-{gpu}",
        "hardware": gpu,
        "model": model,
        "workload": {"batch_sequences": batch_sequences, "prompt_tokens": prompt_tokens,
                     "output_tokens": output_tokens},
        "requirements": dict(requirements or {}),
    })


def _scenario_from_yaml(path: Path) -> Scenario:
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ParseError(str(path), "a scenario file must hold a mapping (name, hardware, model, "
                                    "workload, ...)")
    if not any(k in data for k in _SCENARIO_MARKERS) and any(k in data for k in _MODEL_MARKERS):
        raise InputError("scenario", str(path),
                         "this file describes a model, not a scenario; point a scenario's "
                         f"`model:` at it (model: {path.name})",
                         "a YAML with hardware, model and workload")
    return scenario_from_dict(data, str(path), path.parent)


def _scenario_from_card(path: Path) -> Scenario:
    from analysis.inputs.read.cards import scenario_dict_from_card

    data, said = scenario_dict_from_card(read_text_file(path, "scenario card"), str(path))
    prefix = WARNING_PREFIX
    card_assumptions = [a for a in said if not a.startswith(prefix)]
    card_warnings = [a[len(prefix):] for a in said if a.startswith(prefix)]
    scenario = scenario_from_dict(data, str(path), path.parent)
    merged = tuple(dict.fromkeys(card_assumptions + list(scenario.assumptions)))
    return replace(scenario, assumptions=merged,
                   warnings=tuple(dict.fromkeys(list(scenario.warnings) + card_warnings)))


def card_fields(path: str | Path) -> dict[str, dict] | None:
    """For a scenario card: each field read -> {"value", "line"}; None for other inputs."""
    p = Path(path)
    if p.suffix.lower() != ".md" or not p.is_file():
        return None
    from analysis.inputs.read.cards import read_card

    return read_card(read_text_file(p, "scenario card"), str(p)).fields
