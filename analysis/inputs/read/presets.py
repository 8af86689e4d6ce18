"""Files and presets: YAML and JSON with the failing line, and the shipped preset folders."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.read.files import read_text_file
from analysis.inputs.read.values import closest

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
PRESET_KINDS = ("gpus", "models", "scenarios")


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; ParseError with the 1-based line on malformed YAML. Text parsed
    before (the same file, byte for byte) is not parsed again; the caller gets its own copy."""
    p = Path(path)
    text = read_text_file(p, "YAML file")
    key = (str(p), text)
    if key not in _PARSED:
        data = parse_yaml_text(text, str(p))
        if len(_PARSED) >= 256:
            _PARSED.clear()
        _PARSED[key] = data
    return copy.deepcopy(_PARSED[key])


#: read_yaml's parsed files by (path, text): presets are read again for every run
_PARSED: dict[tuple[str, str], Any] = {}


def parse_yaml_text(text: str, path: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        lines = text.splitlines()
        shown = lines[line - 1] if line and line <= len(lines) else None
        raise ParseError(path, f"malformed YAML: {e.problem or e.context}", line, shown) from None
    except yaml.YAMLError as e:
        raise ParseError(path, f"malformed YAML: {e}") from None


def norm_name(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def list_presets(kind: str) -> list[str]:
    """Names of the shipped presets of ``kind`` ("gpus", "models", "scenarios")."""
    kind = {"gpu": "gpus", "hardware": "gpus", "model": "models",
            "scenario": "scenarios"}.get(kind, kind)
    if kind not in PRESET_KINDS:
        raise InputError("preset kind", kind, "unknown", ", ".join(PRESET_KINDS))
    return sorted(p.stem for p in (PRESETS_DIR / kind).glob("*.yaml"))


def find_preset(kind: str, name: str) -> Path | None:
    """The preset file for ``name`` (case-insensitive; ``aliases:`` in GPU and model presets
    count too), or None."""
    wanted = norm_name(name)
    for stem in list_presets(kind):
        if norm_name(stem) == wanted:
            return PRESETS_DIR / kind / f"{stem}.yaml"
    for stem in list_presets(kind):
        path = PRESETS_DIR / kind / f"{stem}.yaml"
        data = read_yaml(path)
        aliases = data.get("aliases", []) if isinstance(data, Mapping) else []
        if wanted in {norm_name(str(a)) for a in aliases}:
            return path
    return None


def preset_path(kind: str, name: str) -> Path:
    """As :func:`find_preset`, but an unknown name raises InputError listing the presets and
    suggesting the closest."""
    path = find_preset(kind, name)
    if path is None:
        names = list_presets(kind)
        hint = closest(name, names)
        why = f"no {kind[:-1]} preset of that name" + (f" (did you mean {hint!r}?)" if hint
                                                       else "")
        raise InputError(kind[:-1], name, why, ", ".join(names))
    return path


def read_preset(kind: str, name: str) -> tuple[dict[str, Any], Path]:
    """The mapping in a preset file; ParseError when it lacks the required ``source`` key."""
    path = preset_path(kind, name)
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ParseError(str(path), "a preset file must hold a mapping")
    if not data.get("source"):
        raise ParseError(str(path), "a preset needs a `source` key saying where its numbers "
                                    "come from")
    return dict(data), path


def load_json_text(text: str, path: str) -> Any:
    """Parse JSON; ParseError with the 1-based line on malformed JSON."""
    def refuse(name: str) -> None:
        raise ParseError(path, f"{name} is not a number; valid: finite numbers only")

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as e:
        lines = text.splitlines()
        shown = lines[e.lineno - 1] if 0 < e.lineno <= len(lines) else None
        raise ParseError(path, f"malformed JSON: {e.msg} (column {e.colno})", e.lineno,
                         shown) from None
