"""Scenario assembly: a part given as a preset name, a file or a mapping (``preset: NAME`` plus
overrides), and a whole scenario mapping -> :class:`~analysis.inputs.types.Scenario`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analysis import anatomy
from analysis.inputs.errors import InputError
from analysis.inputs.read.hf_config import load_hf_config, model_from_hf_config
from analysis.inputs.read.parts import (
    hardware_from_dict,
    model_from_dict,
    requirements_from_dict,
    strategy_from_value,
    workload_from_dict,
)
from analysis.inputs.read.presets import PRESETS_DIR, find_preset, read_preset, read_yaml
from analysis.inputs.read.values import (
    as_integer,
    as_mapping,
    as_number,
    as_string,
    as_string_list,
    build_checked,
    unknown_key_error,
)
from analysis.inputs.speculative import Speculative
from analysis.inputs.types import Hardware, Model, Scenario


def _with_preset(d: Mapping[str, Any], kind: str, where: str | None
                 ) -> tuple[dict[str, Any], str | None]:
    """Merge ``preset: NAME`` with overrides: the overrides win."""
    d = dict(d)
    name = d.pop("preset", None)
    if name is None:
        return d, None
    base, _ = read_preset(kind, as_string(name, f"{kind[:-1]}.preset", where))
    base.pop("aliases", None)
    if kind == "models" and "attention" in base and "attention" in d:
        base["attention"] = {**base["attention"], **d.pop("attention")}
    overridden = sorted(k for k in d if k not in ("name", "notes", "assumptions"))
    base.update(d)
    note = (f"preset {name} with overrides: {', '.join(overridden)}" if overridden else None)
    return base, note


def hardware_from_ref(ref: object, where: str | None = None) -> tuple[Hardware, list[str]]:
    """Hardware from a preset name or a mapping (optionally ``preset: NAME`` + overrides)."""
    if isinstance(ref, str):
        data, path = read_preset("gpus", ref)
        return hardware_from_dict(data, str(path))
    d, note = _with_preset(as_mapping(ref, "hardware", where), "gpus", where)
    hw, assumptions = hardware_from_dict(d, where)
    return hw, assumptions + ([note] if note else [])


def model_from_ref(ref: object, base_dir: str | Path | None = None, where: str | None = None
                   ) -> tuple[Model, list[str]]:
    """A model from a preset name, a model YAML, a HF ``config.json`` or a mapping.

    Paths are relative to ``base_dir`` (the scenario file's folder). A string that is neither an
    existing file nor a ``.yaml``/``.yml``/``.json`` path is looked up as a preset name.
    """
    if isinstance(ref, Path):
        ref = str(ref)
    if isinstance(ref, str):
        path = Path(ref).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        looks_like_file = ref.lower().endswith((".yaml", ".yml", ".json"))
        if path.is_file() or looks_like_file:
            if not path.is_file():
                raise InputError("model", ref, f"no such file ({path})",
                                 "a preset name, or a path to a model YAML or config.json",
                                 where)
            if path.suffix.lower() == ".json":
                cfg = load_hf_config(path)
                return model_from_hf_config(cfg, _hf_name(path), str(path))
            data = read_yaml(path)
            return model_from_dict(as_mapping(data, "model", str(path)), str(path))
        if find_preset("models", ref) is None and (PRESETS_DIR / "hf_configs").is_dir():
            shipped = {p.stem.lower(): p for p in (PRESETS_DIR / "hf_configs").glob("*.json")}
            if ref.lower() in shipped:
                return model_from_ref(str(shipped[ref.lower()]))
        data, path = read_preset("models", ref)
        data.pop("aliases", None)
        return model_from_dict(data, str(path))
    d, note = _with_preset(as_mapping(ref, "model", where), "models", where)
    model, assumptions = model_from_dict(d, where)
    return model, assumptions + ([note] if note else [])


def _hf_name(path: Path) -> str:
    """A model name for a config.json: its folder name, or the file stem when that is not
    just ``config``."""
    return path.parent.name if path.stem == "config" else path.stem


# --------------------------------------------------------------------------------------------
# Scenario
# --------------------------------------------------------------------------------------------

SCENARIO_KEYS = ("name", "hardware", "model", "workload", "requirements", "current_strategy",
                 "max_gpus", "fixed_gpus", "source", "notes", "assumptions", "description",
                 "serving", "speculative")


def size_warnings(model: Model) -> list[str]:
    """The declared-vs-derived size message when the two disagree (see
    :func:`analysis.anatomy.check_declared_size`)."""
    check = anatomy.check_declared_size(model)
    return [check.message] if check is not None and check.disagrees else []


def scenario_from_dict(d: Mapping[str, Any], where: str | None = None,
                       base_dir: str | Path | None = None) -> Scenario:
    """A :class:`Scenario` from the schema in this module's docstring.

    Assumptions from every part are gathered in order (hardware, model, workload,
    requirements); a declared model size that disagrees with the architecture is the first
    warning.
    """
    d = as_mapping(d, "scenario", where)
    for key in d:
        if key not in SCENARIO_KEYS:
            raise unknown_key_error("scenario", key, list(SCENARIO_KEYS), where)
    for required in ("hardware", "model", "workload"):
        if d.get(required) is None:
            raise InputError(f"scenario.{required}", None, "required but not given",
                             {"hardware": "a GPU preset name or mapping",
                              "model": "a model preset name, a file path or a mapping",
                              "workload": "{batch_sequences: ..., prompt_tokens: ...}"}[required],
                             where)
    assumptions = as_string_list(d.get("assumptions"), "scenario.assumptions", where)
    hw, a = hardware_from_ref(d["hardware"], _sub(where, "hardware"))
    assumptions += a
    model, a = model_from_ref(d["model"], base_dir, _sub(where, "model"))
    assumptions += a
    workload, a = workload_from_dict(d["workload"], _sub(where, "workload"))
    assumptions += a
    requirements, a = requirements_from_dict(d.get("requirements"), _sub(where, "requirements"))
    assumptions += a
    strategy = None
    if d.get("current_strategy") is not None:
        strategy = strategy_from_value(d["current_strategy"], _sub(where, "current_strategy"))
    extra: dict[str, Any] = {}
    for key in ("max_gpus", "fixed_gpus"):
        if d.get(key) is not None:
            extra[key] = as_integer(d[key], f"scenario.{key}", where)
    if d.get("serving") is not None:
        from analysis.inputs.read.serving import serving_from_dict

        extra["serving"], a = serving_from_dict(d["serving"], workload, _sub(where, "serving"))
        assumptions += a
    if d.get("speculative") is not None:
        extra["speculative"] = speculative_from_dict(d["speculative"], _sub(where, "speculative"))
    name = as_string(d.get("name") or (Path(where).stem if where else "scenario"),
                   "scenario.name", where)
    return build_checked(Scenario, where, name=name, hardware=hw, model=model, workload=workload,
                  requirements=requirements, current_strategy=strategy,
                  assumptions=tuple(dict.fromkeys(assumptions)),
                  warnings=tuple(size_warnings(model)),
                  source=as_string(d.get("source") or (where or ""), "scenario.source", where),
                  **extra)


SPECULATIVE_KEYS = ("draft_tokens", "acceptance_rate", "draft_cost_fraction")


def speculative_from_dict(d: Any, where: str | None) -> Speculative:
    """``speculative: {draft_tokens: 1, acceptance_rate: 0.85, draft_cost_fraction: 0.05}``
    (draft_cost_fraction left out: an MTP module of one layer)."""
    d = as_mapping(d, "speculative", where)
    for key in d:
        if key not in SPECULATIVE_KEYS:
            raise unknown_key_error("speculative", key, list(SPECULATIVE_KEYS), where)
    kw: dict[str, Any] = {}
    if d.get("draft_tokens") is not None:
        kw["draft_tokens"] = as_integer(d["draft_tokens"], "speculative.draft_tokens", where)
    for key in ("acceptance_rate", "draft_cost_fraction"):
        if d.get(key) is not None:
            kw[key] = as_number(d[key], f"speculative.{key}", where, fraction=True)
    return build_checked(Speculative, where, **kw)


def _sub(where: str | None, part: str) -> str:
    return f"{where}: {part}" if where else part
