"""One reader per input part: a plain mapping -> Hardware, Calibration, Model, Workload,
Requirements or Strategy, with the assumptions made for what the mapping did not say."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from analysis.inputs.errors import InputError
from analysis.inputs.read.values import (
    DEFAULTS,
    META_KEYS,
    Default,
    as_boolean,
    as_integer,
    as_mapping,
    as_number,
    as_string,
    as_string_list,
    build_checked,
    canonical,
    field_kinds,
    unknown_key_error,
)
from analysis.inputs.types import (
    COMPUTE_PEAK_KEY,
    Attention,
    Calibration,
    Hardware,
    Model,
    Requirements,
    Strategy,
    Workload,
    normalise_precision,
)

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
        x = as_number(value, f"hardware.{key}", where)
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
        peaks[canon] = as_number(x, name, where) * factor
    return tuple(peaks.items()), notes


def hardware_from_dict(d: Mapping[str, Any], where: str | None = None
                       ) -> tuple[Hardware, list[str]]:
    """A :class:`Hardware` from a mapping, and the assumptions made for what it leaves out.

    Required: ``peak_TFLOPS`` (or ``peak_flops_per_s``), HBM capacity and bandwidth. A preset
    reference (``preset: H100-SXM``) is resolved by :func:`hardware_from_ref`, not here.
    """
    kinds = field_kinds(Hardware)
    kinds["peak_flops_per_s"] = "raw"
    kinds["calibration"] = "raw"
    values, given_as = canonical(d, "hardware", kinds, where, extra=frozenset({"aliases"}))
    if values.get("calibration", (None, 1.0))[0] is None:
        values.pop("calibration", None)
    else:
        values["calibration"] = calibration_from_dict(values["calibration"][0], where)
    assumptions = as_string_list(as_mapping(d, "hardware", where).get("assumptions"),
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
    return build_checked(Hardware, where, **values), list(dict.fromkeys(assumptions))


_CALIBRATION_KINDS = field_kinds(Calibration)
_CALIBRATION_FRACTIONS = frozenset({"compute_max", "memory_max", "scaleup_max", "scaleout_max"})


def calibration_from_dict(d: Mapping[str, Any], where: str | None = None) -> Calibration:
    """A :class:`~analysis.inputs.Calibration` from a GPU preset's optional ``calibration:``
    mapping. Keys are the dataclass fields (SI units: ``memory_half_bytes``, ``op_overhead_s``);
    the ``*_max`` fractions also accept percent strings. ``compute_max`` and ``memory_max`` are
    required (the curves have no meaningful default); the link curves default to the dataclass
    values. ``source`` records what the curves were fitted on and how; ``notes`` is free text.
    Unknown keys and bad values raise InputError naming ``hardware.calibration.<key>``."""
    section = "hardware.calibration"
    d = as_mapping(d, section, where)
    values: dict[str, Any] = {}
    valid = sorted(set(_CALIBRATION_KINDS) | META_KEYS)
    for key, value in d.items():
        if not isinstance(key, str) or key not in valid:
            raise unknown_key_error(section, key, valid, where)
        if key in META_KEYS:
            continue
        name = f"{section}.{key}"
        if _CALIBRATION_KINDS[key] == "number":
            values[key] = as_number(value, name, where, fraction=key in _CALIBRATION_FRACTIONS)
        else:
            values[key] = as_string(value, name, where) if value is not None else ""
    for required in ("compute_max", "memory_max"):
        if values.get(required) is None:
            raise InputError(f"{section}.{required}", None, "required but not given",
                             "a fraction, e.g. 0.7", where)
    values.setdefault("compute_half_tokens", 0.0)
    values.setdefault("memory_half_bytes", 0.0)
    return build_checked(Calibration, where, **values)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

_ATTENTION_KINDS = field_kinds(Attention)
_MODEL_KINDS = field_kinds(Model, skip=("attention",))
_PRECISION_FIELDS = ("weight_precision", "expert_weight_precision", "kv_precision",
                     "activation_precision", "dispatch_precision", "combine_precision")
_DETAIL_FIELDS = ("norm", "ffn_bias", "tie_word_embeddings", "lm_head_bias", "router_bias")


def model_from_dict(d: Mapping[str, Any], where: str | None = None) -> tuple[Model, list[str]]:
    """A :class:`Model` from a mapping, and the assumptions made for what it leaves out.

    Attention fields go in an ``attention:`` mapping or flat at the top level. ``precision``
    sets weight, KV-cache and activation precision together.
    """
    d = as_mapping(d, "model", where)
    flat_attention = {k: v for k, v in d.items() if k in _ATTENTION_KINDS and k != "kind"}
    if "kind" in d:
        flat_attention["kind"] = d["kind"]
    rest = {k: v for k, v in d.items() if k not in flat_attention}
    if "attention" in rest:
        nested = dict(as_mapping(rest.pop("attention"), "model.attention", where))
        for k in flat_attention:
            if k in nested:
                raise InputError(f"model.{k}", flat_attention[k],
                                 "given both at the top level and under attention:",
                                 "one place", where)
        flat_attention.update(nested)
    kinds = dict(_MODEL_KINDS, precision="str")
    values, _ = canonical(rest, "model", kinds, where, extra=frozenset({"aliases"}))
    attn, _ = canonical(flat_attention, "model.attention", _ATTENTION_KINDS, where)
    assumptions = as_string_list(d.get("assumptions"), "model.assumptions", where)

    for required in ("num_layers", "hidden_size"):
        if values.get(required) is None:
            raise InputError(f"model.{required}", None, "required but not given",
                             "a whole number > 0", where)
    if attn.get("num_heads") is None:
        raise InputError("model.attention.num_heads", None, "required but not given",
                         "a whole number > 0", where)
    values.setdefault("name", "custom model")

    attention = _attention(attn, values["hidden_size"], assumptions, where)

    _precisions(values, assumptions, where)

    _model_defaults(values, attn, assumptions)
    values = {k: v for k, v in values.items() if v is not None}
    model = build_checked(Model, where, attention=attention, **values)
    return model, list(dict.fromkeys(assumptions))


def _attention(attn: dict[str, Any], hidden_size: int, assumptions: list[str],
               where: str | None) -> Attention:
    """The attention block; KV heads and head dimension defaulted (and said) when not given."""
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
            if hidden_size % h:
                raise InputError("model.attention.head_dim", None,
                                 f"not given, and hidden size {hidden_size} does not "
                                 f"split into {h} heads", "give head_dim", where)
            attn["head_dim"] = hidden_size // h
            assumptions.append(DEFAULTS["head_dim"].reason)
    return build_checked(Attention, where, **{k: v for k, v in attn.items() if v is not None})


def _precisions(values: dict[str, Any], assumptions: list[str], where: str | None) -> None:
    """Weight, KV and activation precisions in ``values``: ``precision`` is shorthand for all
    three; the KV cache and activations default to the weights' when those are 16-bit or wider."""
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


def _model_defaults(values: dict[str, Any], attn: dict[str, Any], assumptions: list[str]) -> None:
    """Vocabulary, gated FFN, top-k and dense layers: the documented defaults, each said."""
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
    values, _ = canonical(d, "workload", kinds, where)
    assumptions = as_string_list(d.get("assumptions"), "workload.assumptions", where)
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
        lo, hi = (as_integer(x, name, where) for x in raw)
        return _build_range(b, lo, hi, o, where, output_stated), assumptions
    if isinstance(raw, Mapping):
        for key in raw:
            if key not in ("lengths", "weights"):
                raise unknown_key_error(name, key, ["lengths", "weights"], where)
        lengths_raw = raw.get("lengths")
        if not isinstance(lengths_raw, (list, tuple)) or not lengths_raw:
            raise InputError(f"{name}.lengths", lengths_raw, "must be a non-empty list",
                             "a list of whole numbers > 0", where)
        lengths = tuple(as_integer(x, f"{name}.lengths", where) for x in lengths_raw)
        weights_raw = raw.get("weights")
        if weights_raw is None:
            weights = tuple(1 / len(lengths) for _ in lengths)
            assumptions.append(DEFAULTS["prompt_length_weights"].reason)
        else:
            if not isinstance(weights_raw, (list, tuple)):
                raise InputError(f"{name}.weights", weights_raw, "must be a list",
                                 "one weight per length", where)
            weights = tuple(as_number(x, f"{name}.weights", where, fraction=True)
                            for x in weights_raw)
            total = sum(weights)
            if len(weights) == len(lengths) and total > 0 and abs(total - 1) > 1e-6:
                assumptions.append(f"prompt-length weights sum to {total:g}: normalised to 1")
                weights = tuple(w / total for w in weights)
        return build_checked(Workload, where, batch_sequences=b, prompt_lengths_tokens=lengths,
                      output_tokens=o, prompt_length_weights=weights,
                      output_tokens_stated=output_stated), assumptions
    s = as_integer(raw, name, where)
    return build_checked(Workload, where, batch_sequences=b, prompt_lengths_tokens=(s,),
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
    values, _ = canonical(d, "requirements", field_kinds(Requirements), where)
    assumptions = as_string_list(d.get("assumptions"), "requirements.assumptions", where)
    if values.get("memory_reserve_fraction") is None:
        values["memory_reserve_fraction"] = DEFAULTS["memory_reserve_fraction"].value
        assumptions.append(DEFAULTS["memory_reserve_fraction"].reason)
    if values.get("throughput_kind") is not None:
        values["throughput_kind"] = values["throughput_kind"].strip().lower()
    if values.get("throughput_kind_reason") is None:
        values.pop("throughput_kind_reason", None)
    return build_checked(Requirements, where, **values), assumptions


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
                key = "two_batch_overlap" if key == "tbo" else key
                if key not in names:
                    raise unknown_key_error("strategy", key, names, where)
                degrees[key] = (int(as_boolean(x, f"strategy.{key}", where))
                                if key == "two_batch_overlap"
                                else as_integer(x, f"strategy.{key}", where))
            return Strategy.complete(**degrees)
    except InputError as e:
        raise InputError(e.field, e.value, e.why, e.valid, e.where or where) from None
    raise InputError("strategy", value, f"must be text or a mapping, got {type(value).__name__}",
                     "'tp=4,ep=16,pp=1' or {tp: 4, ep: 16}", where)
