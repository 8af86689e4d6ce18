"""Defaults, unit keys and the small typed readers every mapping reader shares.

Every default used for something the input did not say is returned as one readable sentence
(the *assumptions*); the defaults and the reason for each live in one table, :data:`DEFAULTS`.
Keys are the dataclass field names (SI units) or a unit-suffixed human variant from
:data:`UNIT_KEYS`; every wrong type or value is an :class:`~analysis.inputs.errors.InputError`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from analysis.inputs.errors import InputError

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


def as_number(value: object, name: str, where: str | None, *, fraction: bool = False) -> float:
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


def as_integer(value: object, name: str, where: str | None) -> int:
    x = as_number(value, name, where)
    if x != int(x):
        raise InputError(name, value, "must be a whole number", "a whole number", where)
    return int(x)


def as_boolean(value: object, name: str, where: str | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
        return value.strip().lower() in ("true", "yes")
    raise InputError(name, value, "must be true or false", "true, false", where)


def as_string(value: object, name: str, where: str | None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InputError(name, value, f"must be text, got {type(value).__name__}", "a string", where)


def as_mapping(value: object, name: str, where: str | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(name, value, f"must be a mapping, got {type(value).__name__}",
                         "key: value pairs", where)
    return value


def as_string_list(value: object, name: str, where: str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [as_string(v, name, where) for v in value]
    raise InputError(name, value, "must be a list of sentences", "a list of strings", where)


def field_kind(annotation: object) -> str:
    """Reader kind of a dataclass field from its (string) annotation."""
    text = str(annotation)
    if text.startswith("int"):
        return "int"
    if text.startswith("bool"):
        return "bool"
    if text.startswith("float"):
        return "number"
    return "str"


def read_field(kind: str, value: object, name: str, where: str | None) -> Any:
    if value is None and kind != "str":
        return None
    if kind == "int":
        return as_integer(value, name, where)
    if kind == "bool":
        return as_boolean(value, name, where)
    if kind == "number":
        return as_number(value, name, where, fraction=name.rsplit(".", 1)[-1] in FRACTION_FIELDS)
    return None if value is None else as_string(value, name, where)


def canonical(d: Mapping[str, Any], section: str, kinds: dict[str, str], where: str | None,
               extra: frozenset[str] = frozenset()) -> tuple[dict[str, Any], dict[str, str]]:
    """Check keys and convert units: ``(values by field, the user's key for each field)``.

    ``kinds`` maps each accepted field to its reader kind ("int", "bool", "number", "str",
    "raw"); unit keys from :data:`UNIT_KEYS` whose field is accepted are converted to SI.
    """
    d = as_mapping(d, section, where)
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
            x = as_number(value, label, where) if value is not None else None
            out[field_name] = None if x is None else x * factor
        else:
            out[field_name] = read_field(kind, value, label, where)
    return out, given_as


def build_checked(cls: type, where: str | None, **kwargs: Any) -> Any:
    """Construct a dataclass, adding ``where`` to any InputError its validation raises."""
    try:
        return cls(**kwargs)
    except InputError as e:
        if e.where or not where:
            raise
        raise InputError(e.field, e.value, e.why, e.valid, where) from None


def field_kinds(cls: type, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {f.name: field_kind(f.type) for f in fields(cls) if f.name not in skip}
