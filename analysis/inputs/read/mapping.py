"""Plain mappings (from YAML, a scenario card or a preset file) -> the typed inputs.

Keys are the dataclass field names of :mod:`analysis.inputs` (SI units) or a unit-suffixed
human variant from :data:`UNIT_KEYS` (``hbm_capacity_GB: 80`` is ``hbm_capacity_bytes: 80e9``).
Fractions accept percent strings (``mfu: "60%"``). Unknown keys, wrong types and impossible
values raise :class:`~analysis.errors.InputError` naming the key, the value and what is valid;
nothing here lets a bare ``KeyError`` or ``TypeError`` reach the user.

Every default used for something the input did not say is returned as one readable sentence
(the *assumptions*); the defaults and the reason for each live in one table, :data:`DEFAULTS`.

Scenario schema (a YAML mapping; ``docs/scenario-format.md`` has the long form)::

    name: my-scenario
    hardware: H100-SXM            # a preset name, or a mapping (optionally `preset: NAME`
                                  # plus overrides)
    model: mixtral-8x7b           # a preset name, a path to a model YAML or a HF config.json
                                  # (relative to the scenario file), or a mapping
    workload: {batch_sequences: 128, prompt_tokens: [128, 10240], output_tokens: 256}
    requirements: {ttft_s: 10, tpot_ms: 50, throughput_tokens_per_ms_per_gpu: 100,
                   throughput_kind: prefill, memory_reserve_fraction: 0.1}
    current_strategy: "tp=4,ep=16"  # optional: a layout to evaluate beside the recommendation
    max_gpus: 1024                # optional search budget
    fixed_gpus: 64                # optional: the GPU count is fixed
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from analysis import anatomy
from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.types import (
    COMPUTE_PEAK_KEY,
    Attention,
    Calibration,
    Hardware,
    Model,
    Requirements,
    Scenario,
    Strategy,
    Workload,
    normalise_precision,
)

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
PRESET_KINDS = ("gpus", "models", "scenarios")


# --------------------------------------------------------------------------------------------
# Defaults: the one table of everything assumed when the input is silent, with the reason
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Default:
    """A value used when the input does not give one, and the sentence that records it."""

    value: Any
    reason: str


DEFAULTS: dict[str, Default] = {
    # model
    "vocab_size": Default(
        32000, "vocabulary not given: assumed 32,000 (Llama-2/Mixtral tokenizer size)"),
    "num_kv_heads": Default(
        None, "KV heads not given: assumed equal to attention heads (MHA)"),
    "head_dim": Default(
        None, "head dimension not given: assumed hidden size / attention heads"),
    "ffn_gated": Default(
        True, "FFN gating not given: assumed SwiGLU (3 matrices per expert) as in Mixtral, "
              "DeepSeek and Qwen"),
    "top_k": Default(
        2, "experts per token not given: assumed top-2 (Mixtral, GShard)"),
    "num_dense_layers": Default(
        0, "dense layers not given: assumed every layer is a Mixture-of-Experts layer"),
    "architecture_details": Default(
        None, "norm, biases and embedding tying not given: assumed RMSNorm, no biases, no q/k "
              "norm and separate input/output embeddings (Llama/Mixtral style)"),
    "precision": Default(
        "bf16", "precision not given: assumed BF16 weights, KV cache and activations"),
    "kv_activation_precision": Default(
        "bf16", "KV-cache and activation precision not given: assumed {value} (serving engines "
                "keep the KV cache and activations in 16-bit unless told otherwise)"),
    # hardware
    "interconnect": Default(
        {"gpus_per_node": 8, "scaleup_bandwidth_bytes_per_s": 450e9,
         "scaleout_bandwidth_bytes_per_s": 50e9, "scaleup_latency_s": 2e-6,
         "scaleout_latency_s": 5e-6},
        "interconnect not given: assumed 8 GPUs per node, 450 GB/s NVLink per direction, "
        "50 GB/s scale-out per GPU, 2 µs / 5 µs per message (DGX H100 class)"),
    "gpus_per_node": Default(8, "GPUs per node not given: assumed 8 (one HGX/DGX board)"),
    "scaleup_bandwidth_bytes_per_s": Default(
        450e9, "scale-up bandwidth not given: assumed 450 GB/s per direction (NVLink 4, H100)"),
    "scaleout_bandwidth_bytes_per_s": Default(
        50e9, "scale-out bandwidth not given: assumed 50 GB/s per GPU (one 400 Gb/s NIC)"),
    "latency": Default(
        {"scaleup_latency_s": 2e-6, "scaleout_latency_s": 5e-6},
        "message latency not given: assumed 2 µs inside a node and 5 µs across nodes "
        "(typical NVLink / InfiniBand small-message latency)"),
    "efficiency": Default(
        {"mfu": 0.5, "bandwidth_utilization": 0.8, "scaleup_efficiency": 0.8,
         "scaleout_efficiency": 0.8},
        "efficiency factors not given: assumed MFU 0.5, HBM bandwidth utilisation 0.8 and link "
        "efficiency 0.8 (generic; the scaling book measures ~370 of 450 GB/s on H100 NVLink)"),
    # workload
    "batch_sequences": Default(1, "batch not given: assumed 1 sequence"),
    "output_tokens": Default(256, "output length not given: assumed 256 tokens"),
    "prompt_length_weights": Default(
        None, "prompt-length weights not given: assumed every listed length equally likely"),
    # requirements
    "memory_reserve_fraction": Default(
        0.1, "memory reserve not given: assumed 10% of HBM kept free for the runtime "
             "(allocator fragmentation, CUDA context, graphs)"),
}


# --------------------------------------------------------------------------------------------
# Units: the one table of human keys
# --------------------------------------------------------------------------------------------

#: Human key -> (dataclass field, factor to SI). ``hbm_capacity_GB: 80`` -> 80 * 1e9 bytes.
UNIT_KEYS: dict[str, tuple[str, float]] = {
    "hbm_capacity_GB": ("hbm_capacity_bytes", 1e9),
    "hbm_capacity_GiB": ("hbm_capacity_bytes", 2.0**30),
    "hbm_bandwidth_TB_per_s": ("hbm_bandwidth_bytes_per_s", 1e12),
    "hbm_bandwidth_GB_per_s": ("hbm_bandwidth_bytes_per_s", 1e9),
    "scaleup_bandwidth_GB_per_s": ("scaleup_bandwidth_bytes_per_s", 1e9),
    "scaleout_bandwidth_GB_per_s": ("scaleout_bandwidth_bytes_per_s", 1e9),
    "scaleout_bandwidth_Gb_per_s": ("scaleout_bandwidth_bytes_per_s", 1e9 / 8),
    "peak_TFLOPS": ("peak_flops_per_s", 1e12),          # dense, per precision
    "scaleup_latency_us": ("scaleup_latency_s", 1e-6),
    "scaleout_latency_us": ("scaleout_latency_s", 1e-6),
    "ttft_ms": ("ttft_s", 1e-3),
    "tpot_ms": ("tpot_s", 1e-3),
    "throughput_tokens_per_ms_per_gpu": ("throughput_tokens_per_s_per_gpu", 1e3),
    "declared_total_params_B": ("declared_total_params", 1e9),
    "declared_active_params_B": ("declared_active_params", 1e9),
}

#: Fields that are fractions: they also accept percent strings ("60%").
FRACTION_FIELDS = frozenset({"mfu", "bandwidth_utilization", "scaleup_efficiency",
                             "scaleout_efficiency", "memory_reserve_fraction"})

#: Keys every section may carry that are not dataclass fields.
META_KEYS = frozenset({"notes", "assumptions"})


# --------------------------------------------------------------------------------------------
# Small typed readers
# --------------------------------------------------------------------------------------------

def closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice nearest to ``word`` (difflib), or None."""
    hits = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    if not hits:
        lowered = {c.lower(): c for c in choices}
        hits = [lowered[h] for h in difflib.get_close_matches(str(word).lower(), list(lowered),
                                                                n=1, cutoff=0.5)]
    return hits[0] if hits else None


def unknown_key_error(section: str, key: object, valid: list[str], where: str | None
                      ) -> InputError:
    """InputError for an unknown key: names it, suggests the closest, lists the valid keys."""
    hint = closest(str(key), valid)
    why = "unknown key" + (f" (did you mean {hint!r}?)" if hint else "")
    return InputError(f"{section}.{key}", key, why, ", ".join(sorted(valid)), where)


def _number(value: object, name: str, where: str | None, *, fraction: bool = False) -> float:
    """A finite number from an int, float or numeric string ("1e9", "10,240", "60%")."""
    if isinstance(value, bool):
        raise InputError(name, value, "must be a number, not true/false", "a number", where)
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        percent = text.endswith("%")
        if percent and not fraction:
            raise InputError(name, value, "a percentage only makes sense for a fraction",
                             "a plain number", where)
        try:
            x = float(text.rstrip("%").strip())
        except ValueError:
            valid = "a number or a percentage like '60%'" if fraction else "a number"
            raise InputError(name, value, "not a number", valid, where) from None
        if percent:
            x /= 100
    else:
        raise InputError(name, value, f"must be a number, got {type(value).__name__}",
                         "a number", where)
    if not math.isfinite(x):
        raise InputError(name, value, "must be finite", "a finite number", where)
    return x


def _integer(value: object, name: str, where: str | None) -> int:
    x = _number(value, name, where)
    if x != int(x):
        raise InputError(name, value, "must be a whole number", "a whole number", where)
    return int(x)


def _boolean(value: object, name: str, where: str | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
        return value.strip().lower() in ("true", "yes")
    raise InputError(name, value, "must be true or false", "true, false", where)


def _string(value: object, name: str, where: str | None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InputError(name, value, f"must be text, got {type(value).__name__}", "a string", where)


def _mapping(value: object, name: str, where: str | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(name, value, f"must be a mapping, got {type(value).__name__}",
                         "key: value pairs", where)
    return value


def _string_list(value: object, name: str, where: str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [_string(v, name, where) for v in value]
    raise InputError(name, value, "must be a list of sentences", "a list of strings", where)


def _kind(annotation: object) -> str:
    """Reader kind of a dataclass field from its (string) annotation."""
    text = str(annotation)
    if text.startswith("int"):
        return "int"
    if text.startswith("bool"):
        return "bool"
    if text.startswith("float"):
        return "number"
    return "str"


def _read(kind: str, value: object, name: str, where: str | None) -> Any:
    if value is None and kind != "str":
        return None
    if kind == "int":
        return _integer(value, name, where)
    if kind == "bool":
        return _boolean(value, name, where)
    if kind == "number":
        return _number(value, name, where, fraction=name.rsplit(".", 1)[-1] in FRACTION_FIELDS)
    return None if value is None else _string(value, name, where)


def _canonical(d: Mapping[str, Any], section: str, kinds: dict[str, str], where: str | None,
               extra: frozenset[str] = frozenset()) -> tuple[dict[str, Any], dict[str, str]]:
    """Check keys and convert units: ``(values by field, the user's key for each field)``.

    ``kinds`` maps each accepted field to its reader kind ("int", "bool", "number", "str",
    "raw"); unit keys from :data:`UNIT_KEYS` whose field is accepted are converted to SI.
    """
    d = _mapping(d, section, where)
    unit_keys = {k: v for k, v in UNIT_KEYS.items() if v[0] in kinds}
    valid = sorted(set(kinds) | set(unit_keys) | META_KEYS | extra)
    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in d.items():
        if not isinstance(key, str) or key not in valid:
            raise unknown_key_error(section, key, valid, where)
        if key in META_KEYS or key in extra:
            continue
        field_name, factor = unit_keys.get(key, (key, 1.0))
        if field_name in given_as:
            raise InputError(f"{section}.{key}", value,
                             f"{field_name} is already given as {given_as[field_name]!r}",
                             "one of the two keys", where)
        given_as[field_name] = key
        kind = kinds[field_name]
        label = f"{section}.{key}"
        if kind == "raw":
            out[field_name] = (value, factor)
        elif factor != 1.0:
            x = _number(value, label, where) if value is not None else None
            out[field_name] = None if x is None else x * factor
        else:
            out[field_name] = _read(kind, value, label, where)
    return out, given_as


def _build(cls: type, where: str | None, **kwargs: Any) -> Any:
    """Construct a dataclass, adding ``where`` to any InputError its validation raises."""
    try:
        return cls(**kwargs)
    except InputError as e:
        if e.where or not where:
            raise
        raise InputError(e.field, e.value, e.why, e.valid, where) from None


def _field_kinds(cls: type, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {f.name: _kind(f.type) for f in fields(cls) if f.name not in skip}


# --------------------------------------------------------------------------------------------
# Hardware
# --------------------------------------------------------------------------------------------

_INTERCONNECT = ("gpus_per_node", "scaleup_bandwidth_bytes_per_s",
                 "scaleout_bandwidth_bytes_per_s", "scaleup_latency_s", "scaleout_latency_s")


def _peaks(value: object, factor: float, key: str, where: str | None
           ) -> tuple[tuple[tuple[str, float], ...], list[str]]:
    """Dense peaks per precision key: a mapping ``{bf16: 989.4, fp8: 1978.9}``, or one number
    (taken as the BF16/FP16 peak, and said so)."""
    notes: list[str] = []
    if not isinstance(value, Mapping):
        x = _number(value, f"hardware.{key}", where)
        notes.append("one compute peak given: taken as the dense BF16/FP16 tensor-core peak")
        value = {"bf16": x}
    peaks: dict[str, float] = {}
    valid_keys = sorted(set(COMPUTE_PEAK_KEY.values()))
    for prec, x in value.items():
        name = f"hardware.{key}.{prec}"
        try:
            canon = COMPUTE_PEAK_KEY[normalise_precision(str(prec), name)]
        except InputError:
            raise InputError(name, prec, "unknown precision", ", ".join(valid_keys),
                             where) from None
        peaks[canon] = _number(x, name, where) * factor
    return tuple(peaks.items()), notes


def hardware_from_dict(d: Mapping[str, Any], where: str | None = None
                       ) -> tuple[Hardware, list[str]]:
    """A :class:`Hardware` from a mapping, and the assumptions made for what it leaves out.

    Required: ``peak_TFLOPS`` (or ``peak_flops_per_s``), HBM capacity and bandwidth. A preset
    reference (``preset: H100-SXM``) is resolved by :func:`hardware_from_ref`, not here.
    """
    kinds = _field_kinds(Hardware)
    kinds["peak_flops_per_s"] = "raw"
    kinds["calibration"] = "raw"
    values, given_as = _canonical(d, "hardware", kinds, where, extra=frozenset({"aliases"}))
    if values.get("calibration", (None, 1.0))[0] is None:
        values.pop("calibration", None)
    else:
        values["calibration"] = calibration_from_dict(values["calibration"][0], where)
    assumptions = _string_list(_mapping(d, "hardware", where).get("assumptions"),
                               "hardware.assumptions", where)
    if values.get("peak_flops_per_s", (None, 1.0))[0] is None:
        values.pop("peak_flops_per_s", None)
    for required in ("peak_flops_per_s", "hbm_capacity_bytes", "hbm_bandwidth_bytes_per_s"):
        if values.get(required) is None:
            human = {"peak_flops_per_s": "peak_TFLOPS", "hbm_capacity_bytes": "hbm_capacity_GB",
                     "hbm_bandwidth_bytes_per_s": "hbm_bandwidth_TB_per_s"}[required]
            raise InputError(f"hardware.{human}", None, "required but not given",
                             f"{human} (or {required})", where)
    raw, factor = values.pop("peak_flops_per_s")
    values["peak_flops_per_s"], notes = _peaks(raw, factor, given_as["peak_flops_per_s"], where)
    assumptions += notes
    values.setdefault("name", "custom GPU")

    missing = [f for f in _INTERCONNECT if values.get(f) is None]
    if len(missing) == len(_INTERCONNECT):
        values.update(DEFAULTS["interconnect"].value)
        assumptions.append(DEFAULTS["interconnect"].reason)
    else:
        if {"scaleup_latency_s", "scaleout_latency_s"} <= set(missing):
            values.update(DEFAULTS["latency"].value)
            assumptions.append(DEFAULTS["latency"].reason)
            missing = [m for m in missing if not m.endswith("latency_s")]
        for f in missing:
            default = DEFAULTS.get(f) or Default(DEFAULTS["latency"].value[f],
                                                 DEFAULTS["latency"].reason)
            values[f] = default.value
            assumptions.append(default.reason)
    eff = DEFAULTS["efficiency"].value
    if all(values.get(f) is None for f in eff):
        values.update(eff)
        assumptions.append(DEFAULTS["efficiency"].reason)
    else:
        for f, x in eff.items():
            if values.get(f) is None:
                values[f] = x
                assumptions.append(f"{f} not given: assumed {x} (generic default)")
    values = {k: v for k, v in values.items() if v is not None}
    return _build(Hardware, where, **values), list(dict.fromkeys(assumptions))


_CALIBRATION_KINDS = _field_kinds(Calibration)
_CALIBRATION_FRACTIONS = frozenset({"compute_max", "memory_max", "scaleup_max", "scaleout_max"})


def calibration_from_dict(d: Mapping[str, Any], where: str | None = None) -> Calibration:
    """A :class:`~analysis.inputs.Calibration` from a GPU preset's optional ``calibration:``
    mapping. Keys are the dataclass fields (SI units: ``memory_half_bytes``, ``op_overhead_s``);
    the ``*_max`` fractions also accept percent strings. ``compute_max`` and ``memory_max`` are
    required (the curves have no meaningful default); the link curves default to the dataclass
    values. ``source`` records what the curves were fitted on and how; ``notes`` is free text.
    Unknown keys and bad values raise InputError naming ``hardware.calibration.<key>``."""
    section = "hardware.calibration"
    d = _mapping(d, section, where)
    values: dict[str, Any] = {}
    valid = sorted(set(_CALIBRATION_KINDS) | META_KEYS)
    for key, value in d.items():
        if not isinstance(key, str) or key not in valid:
            raise unknown_key_error(section, key, valid, where)
        if key in META_KEYS:
            continue
        name = f"{section}.{key}"
        if _CALIBRATION_KINDS[key] == "number":
            values[key] = _number(value, name, where, fraction=key in _CALIBRATION_FRACTIONS)
        else:
            values[key] = _string(value, name, where) if value is not None else ""
    for required in ("compute_max", "memory_max"):
        if values.get(required) is None:
            raise InputError(f"{section}.{required}", None, "required but not given",
                             "a fraction, e.g. 0.7", where)
    values.setdefault("compute_half_tokens", 0.0)
    values.setdefault("memory_half_bytes", 0.0)
    return _build(Calibration, where, **values)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

_ATTENTION_KINDS = _field_kinds(Attention)
_MODEL_KINDS = _field_kinds(Model, skip=("attention",))
_PRECISION_FIELDS = ("weight_precision", "expert_weight_precision", "kv_precision",
                     "activation_precision")
_DETAIL_FIELDS = ("norm", "ffn_bias", "tie_word_embeddings", "lm_head_bias", "router_bias")


def model_from_dict(d: Mapping[str, Any], where: str | None = None) -> tuple[Model, list[str]]:
    """A :class:`Model` from a mapping, and the assumptions made for what it leaves out.

    Attention fields go in an ``attention:`` mapping or flat at the top level. ``precision``
    sets weight, KV-cache and activation precision together.
    """
    d = _mapping(d, "model", where)
    flat_attention = {k: v for k, v in d.items() if k in _ATTENTION_KINDS and k != "kind"}
    if "kind" in d:
        flat_attention["kind"] = d["kind"]
    rest = {k: v for k, v in d.items() if k not in flat_attention}
    if "attention" in rest:
        nested = dict(_mapping(rest.pop("attention"), "model.attention", where))
        for k in flat_attention:
            if k in nested:
                raise InputError(f"model.{k}", flat_attention[k],
                                 "given both at the top level and under attention:",
                                 "one place", where)
        flat_attention.update(nested)
    kinds = dict(_MODEL_KINDS, precision="str")
    values, _ = _canonical(rest, "model", kinds, where, extra=frozenset({"aliases"}))
    attn, _ = _canonical(flat_attention, "model.attention", _ATTENTION_KINDS, where)
    assumptions = _string_list(d.get("assumptions"), "model.assumptions", where)

    for required in ("num_layers", "hidden_size"):
        if values.get(required) is None:
            raise InputError(f"model.{required}", None, "required but not given",
                             "a whole number > 0", where)
    if attn.get("num_heads") is None:
        raise InputError("model.attention.num_heads", None, "required but not given",
                         "a whole number > 0", where)
    values.setdefault("name", "custom model")

    # attention
    mla_keys = ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
    attn.setdefault("kind", "mla" if any(attn.get(k) for k in mla_keys) else "gqa")
    if attn["kind"] == "mla":
        attn.setdefault("num_kv_heads", attn["num_heads"])   # unused by MLA; kept valid
    else:
        if attn.get("num_kv_heads") is None:
            attn["num_kv_heads"] = attn["num_heads"]
            assumptions.append(DEFAULTS["num_kv_heads"].reason)
        if attn.get("head_dim") is None:
            h = attn["num_heads"]
            if h <= 0:
                raise InputError("model.attention.num_heads", h, "must be > 0",
                                 "a whole number > 0", where)
            if values["hidden_size"] % h:
                raise InputError("model.attention.head_dim", None,
                                 f"not given, and hidden size {values['hidden_size']} does not "
                                 f"split into {h} heads", "give head_dim", where)
            attn["head_dim"] = values["hidden_size"] // h
            assumptions.append(DEFAULTS["head_dim"].reason)
    attention = _build(Attention, where, **{k: v for k, v in attn.items() if v is not None})

    # precisions: `precision` is shorthand for all three
    shorthand = values.pop("precision", None)
    for f in _PRECISION_FIELDS:
        if values.get(f):
            values[f] = _precision(values[f], f"model.{f}", where)
    if shorthand is not None:
        p = _precision(shorthand, "model.precision", where)
        for f in ("weight_precision", "kv_precision", "activation_precision"):
            values.setdefault(f, p)
    if values.get("weight_precision") is None:
        p = DEFAULTS["precision"].value
        for f in ("weight_precision", "kv_precision", "activation_precision"):
            values.setdefault(f, p)
        assumptions.append(DEFAULTS["precision"].reason)
    if values.get("kv_precision") is None or values.get("activation_precision") is None:
        w = values["weight_precision"]
        p = w if w in ("bf16", "fp16", "fp32") else DEFAULTS["kv_activation_precision"].value
        values.setdefault("kv_precision", p)
        values.setdefault("activation_precision", p)
        assumptions.append(DEFAULTS["kv_activation_precision"].reason.format(value=p.upper()))

    # everything else that has a documented default
    if values.get("vocab_size") is None:
        values["vocab_size"] = DEFAULTS["vocab_size"].value
        assumptions.append(DEFAULTS["vocab_size"].reason)
    if values.get("ffn_gated") is None:
        values["ffn_gated"] = DEFAULTS["ffn_gated"].value
        assumptions.append(DEFAULTS["ffn_gated"].reason)
    if values.get("num_experts"):
        if values.get("top_k") is None:
            values["top_k"] = DEFAULTS["top_k"].value
            assumptions.append(DEFAULTS["top_k"].reason)
        if values.get("num_dense_layers") is None:
            assumptions.append(DEFAULTS["num_dense_layers"].reason)
    elif values.get("num_experts") is None and values.get("num_dense_layers") is None:
        # neither experts nor dense layers named: a dense model
        values["num_dense_layers"] = values["num_layers"]
        values["num_experts"] = 0
    if all(values.get(f) is None for f in _DETAIL_FIELDS) and \
            all(attn.get(f) is None for f in ("qkv_bias", "o_bias", "qk_norm")):
        assumptions.append(DEFAULTS["architecture_details"].reason)
    values = {k: v for k, v in values.items() if v is not None}
    model = _build(Model, where, attention=attention, **values)
    return model, list(dict.fromkeys(assumptions))


def _precision(value: object, name: str, where: str | None) -> str:
    try:
        return normalise_precision(value, name)  # type: ignore[arg-type]
    except InputError as e:
        raise InputError(e.field, e.value, e.why, e.valid, where) from None


# --------------------------------------------------------------------------------------------
# Workload, requirements, strategy
# --------------------------------------------------------------------------------------------

def workload_from_dict(d: Mapping[str, Any], where: str | None = None
                       ) -> tuple[Workload, list[str]]:
    """A :class:`Workload`. ``prompt_tokens`` is an int (fixed), ``[lo, hi]`` (a range,
    evaluated on :func:`~analysis.inputs.prompt_grid_tokens`) or ``{lengths, weights}``."""
    kinds = {"batch_sequences": "int", "prompt_tokens": "raw", "output_tokens": "int"}
    values, _ = _canonical(d, "workload", kinds, where)
    assumptions = _string_list(d.get("assumptions"), "workload.assumptions", where)
    output_stated = values.get("output_tokens") is not None
    for name in ("batch_sequences", "output_tokens"):
        if values.get(name) is None:
            values[name] = DEFAULTS[name].value
            assumptions.append(DEFAULTS[name].reason)
    if values.get("prompt_tokens", (None, 1.0))[0] is None:
        raise InputError("workload.prompt_tokens", None, "required but not given",
                         "a length (512), a range [128, 10240] or {lengths: [...], weights: [...]}",
                         where)
    raw, _ = values["prompt_tokens"]
    b, o = values["batch_sequences"], values["output_tokens"]
    name = "workload.prompt_tokens"
    if isinstance(raw, (list, tuple)):
        if len(raw) != 2:
            raise InputError(name, raw, "a list is a range and needs exactly two ends",
                             "[lo, hi], or {lengths: [...], weights: [...]} for a distribution",
                             where)
        lo, hi = (_integer(x, name, where) for x in raw)
        return _build_range(b, lo, hi, o, where, output_stated), assumptions
    if isinstance(raw, Mapping):
        for key in raw:
            if key not in ("lengths", "weights"):
                raise unknown_key_error(name, key, ["lengths", "weights"], where)
        lengths_raw = raw.get("lengths")
        if not isinstance(lengths_raw, (list, tuple)) or not lengths_raw:
            raise InputError(f"{name}.lengths", lengths_raw, "must be a non-empty list",
                             "a list of whole numbers > 0", where)
        lengths = tuple(_integer(x, f"{name}.lengths", where) for x in lengths_raw)
        weights_raw = raw.get("weights")
        if weights_raw is None:
            weights = tuple(1 / len(lengths) for _ in lengths)
            assumptions.append(DEFAULTS["prompt_length_weights"].reason)
        else:
            if not isinstance(weights_raw, (list, tuple)):
                raise InputError(f"{name}.weights", weights_raw, "must be a list",
                                 "one weight per length", where)
            weights = tuple(_number(x, f"{name}.weights", where, fraction=True)
                            for x in weights_raw)
            total = sum(weights)
            if len(weights) == len(lengths) and total > 0 and abs(total - 1) > 1e-6:
                assumptions.append(f"prompt-length weights sum to {total:g}: normalised to 1")
                weights = tuple(w / total for w in weights)
        return _build(Workload, where, batch_sequences=b, prompt_lengths_tokens=lengths,
                      output_tokens=o, prompt_length_weights=weights,
                      output_tokens_stated=output_stated), assumptions
    s = _integer(raw, name, where)
    return _build(Workload, where, batch_sequences=b, prompt_lengths_tokens=(s,),
                  output_tokens=o, output_tokens_stated=output_stated), assumptions


def _build_range(b: int, lo: int, hi: int, o: int, where: str | None,
                 output_stated: bool = True) -> Workload:
    try:
        return Workload.from_range(b, lo, hi, o, output_stated)
    except InputError as e:
        raise InputError(e.field, e.value, e.why, e.valid, e.where or where) from None


def requirements_from_dict(d: Mapping[str, Any] | None, where: str | None = None
                           ) -> tuple[Requirements, list[str]]:
    """:class:`Requirements`; every target optional. ``ttft_ms``, ``tpot_ms`` and
    ``throughput_tokens_per_ms_per_gpu`` are converted to seconds and tokens/s."""
    d = {} if d is None else d
    values, _ = _canonical(d, "requirements", _field_kinds(Requirements), where)
    assumptions = _string_list(d.get("assumptions"), "requirements.assumptions", where)
    if values.get("memory_reserve_fraction") is None:
        values["memory_reserve_fraction"] = DEFAULTS["memory_reserve_fraction"].value
        assumptions.append(DEFAULTS["memory_reserve_fraction"].reason)
    if values.get("throughput_kind") is not None:
        values["throughput_kind"] = values["throughput_kind"].strip().lower()
    if values.get("throughput_kind_reason") is None:
        values.pop("throughput_kind_reason", None)
    return _build(Requirements, where, **values), assumptions


def strategy_from_value(value: object, where: str | None = None) -> Strategy:
    """A :class:`Strategy` from ``"tp=4,ep=16"`` (:meth:`Strategy.parse`) or a mapping of
    degrees (:meth:`Strategy.complete` fills in the rest)."""
    try:
        if isinstance(value, str):
            return Strategy.parse(value)
        if isinstance(value, Mapping):
            names = [f.name for f in fields(Strategy)]
            degrees = {}
            for key, x in value.items():
                if key not in names:
                    raise unknown_key_error("strategy", key, names, where)
                degrees[key] = _integer(x, f"strategy.{key}", where)
            return Strategy.complete(**degrees)
    except InputError as e:
        raise InputError(e.field, e.value, e.why, e.valid, e.where or where) from None
    raise InputError("strategy", value, f"must be text or a mapping, got {type(value).__name__}",
                     "'tp=4,ep=16,pp=1' or {tp: 4, ep: 16}", where)


# --------------------------------------------------------------------------------------------
# Files and presets
# --------------------------------------------------------------------------------------------

def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; ParseError with the 1-based line on malformed YAML."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ParseError(str(p), f"cannot read: {e.strerror or e}") from None
    return parse_yaml_text(text, str(p))


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


def _norm_name(name: str) -> str:
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
    wanted = _norm_name(name)
    for stem in list_presets(kind):
        if _norm_name(stem) == wanted:
            return PRESETS_DIR / kind / f"{stem}.yaml"
    for stem in list_presets(kind):
        path = PRESETS_DIR / kind / f"{stem}.yaml"
        data = read_yaml(path)
        aliases = data.get("aliases", []) if isinstance(data, Mapping) else []
        if wanted in {_norm_name(str(a)) for a in aliases}:
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


def _with_preset(d: Mapping[str, Any], kind: str, where: str | None
                 ) -> tuple[dict[str, Any], str | None]:
    """Merge ``preset: NAME`` with overrides: the overrides win."""
    d = dict(d)
    name = d.pop("preset", None)
    if name is None:
        return d, None
    base, _ = read_preset(kind, _string(name, f"{kind[:-1]}.preset", where))
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
    d, note = _with_preset(_mapping(ref, "hardware", where), "gpus", where)
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
                from analysis.inputs.read.hf_config import load_hf_config, model_from_hf_config
                cfg = load_hf_config(path)
                return model_from_hf_config(cfg, _hf_name(path), str(path))
            data = read_yaml(path)
            return model_from_dict(_mapping(data, "model", str(path)), str(path))
        if find_preset("models", ref) is None and (PRESETS_DIR / "hf_configs").is_dir():
            shipped = {p.stem.lower(): p for p in (PRESETS_DIR / "hf_configs").glob("*.json")}
            if ref.lower() in shipped:
                return model_from_ref(str(shipped[ref.lower()]))
        data, path = read_preset("models", ref)
        data.pop("aliases", None)
        return model_from_dict(data, str(path))
    d, note = _with_preset(_mapping(ref, "model", where), "models", where)
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
                 "serving")


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
    d = _mapping(d, "scenario", where)
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
    assumptions = _string_list(d.get("assumptions"), "scenario.assumptions", where)
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
            extra[key] = _integer(d[key], f"scenario.{key}", where)
    if d.get("serving") is not None:
        from analysis.inputs.read.serving import serving_from_dict

        extra["serving"], a = serving_from_dict(d["serving"], workload, _sub(where, "serving"))
        assumptions += a
    name = _string(d.get("name") or (Path(where).stem if where else "scenario"),
                   "scenario.name", where)
    return _build(Scenario, where, name=name, hardware=hw, model=model, workload=workload,
                  requirements=requirements, current_strategy=strategy,
                  assumptions=tuple(dict.fromkeys(assumptions)),
                  warnings=tuple(size_warnings(model)),
                  source=_string(d.get("source") or (where or ""), "scenario.source", where),
                  **extra)


def _sub(where: str | None, part: str) -> str:
    return f"{where}: {part}" if where else part


def load_json_text(text: str, path: str) -> Any:
    """Parse JSON; ParseError with the 1-based line on malformed JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        lines = text.splitlines()
        shown = lines[e.lineno - 1] if 0 < e.lineno <= len(lines) else None
        raise ParseError(path, f"malformed JSON: {e.msg} (column {e.colno})", e.lineno,
                         shown) from None
