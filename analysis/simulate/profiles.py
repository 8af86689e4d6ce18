"""Serving-engine profiles: data files in ``analysis/inputs/presets/engines/``, one per engine.

A profile file holds ``defaults`` and a list of ``versions`` (each applies from its
``from_version`` on; the last one not newer than the asked version wins), plus optional
``small_gpu`` / ``large_gpu`` caps by GPU memory and ``offline`` caps for a static batch.
:func:`load_profile` resolves one for a GPU, a tensor-parallel size and a run kind, then applies
the user's overrides. An unknown engine gets ``generic`` and an assumption line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from analysis.inputs.errors import InputError
from analysis.inputs.read.presets import read_yaml

ENGINES_DIR = Path(__file__).resolve().parents[1] / "inputs" / "presets" / "engines"
GiB = 2**30

MIXING = ("mixed", "prefill_first")
KV_RULES = ("total_minus_non_kv", "total_static_minus_weights", "free_after_weights")
ASSIGNMENT = ("round_robin", "least_loaded")


@dataclass(frozen=True)
class EngineProfile:
    """One engine's scheduling caps as the simulator uses them.

    ``max_running_requests`` and ``max_tokens_per_iteration`` are per attention-DP rank (each
    rank is one scheduler). ``kv_memory_fraction`` is read by ``kv_memory_rule`` (see
    :func:`kv_pool_bytes_per_gpu`). ``iteration_overhead_s`` is a fixed host cost added to every
    iteration; ``iteration_overhead_basis`` says where it comes from.
    ``eager_prefill_host_s_per_layer`` is the host (CPU) time to launch one layer's kernels when
    an iteration with prompt tokens runs outside CUDA graphs, by layer kind
    (:data:`LAYER_KINDS`; 0 where the engine captures prefill in graphs or launches from C++);
    ``eager_prefill_basis`` is its source. ``sequence_overhead_s`` is the host work per
    sequence in an iteration (:func:`analysis.simulate.host.iteration_host_s`);
    ``sequence_overhead_basis`` says where it comes from. ``request_path_s`` is the time a
    served request spends outside the engine's iterations (HTTP, tokenisation, the hand-over to
    the scheduler, and its tokens' way back to the client), counted on the way in;
    ``request_path_basis`` says where it comes from.
    """

    name: str
    version: str
    label: str
    max_running_requests: int
    max_tokens_per_iteration: int
    chunked_prefill: bool
    mixing: str
    iteration_overhead_s: float
    iteration_overhead_basis: str
    eager_prefill_host_s_per_layer: dict[str, float]
    eager_prefill_basis: str
    sequence_overhead_s: float
    sequence_overhead_basis: str
    request_path_s: float
    request_path_basis: str
    kv_memory_rule: str
    kv_memory_fraction: float
    block_size_tokens: int
    dp_assignment: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


OVERRIDABLE = ("max_running_requests", "max_tokens_per_iteration", "chunked_prefill", "mixing",
               "iteration_overhead_s", "sequence_overhead_s", "request_path_s",
               "eager_prefill_host_s_per_layer",
               "kv_memory_fraction", "block_size_tokens", "dp_assignment")


#: Layer kinds with their own host launch time: MLA attention (DeepSeek-V2/V3 class, MoE or
#: not), GQA/MHA attention with a MoE FFN, and GQA/MHA with a dense FFN.
LAYER_KINDS = ("mla", "moe", "dense")


def host_layer_kind(model) -> str:
    """The model's layer kind for host launch time (:data:`LAYER_KINDS`): ``mla`` when its
    attention is MLA, else ``moe`` or ``dense`` by its FFN."""
    if model.attention.kind == "mla":
        return "mla"
    return "moe" if model.is_moe else "dense"


def eager_host_s_per_layer(profile: EngineProfile, model) -> float:
    """Host time to launch one of ``model``'s layers in an eager prompt iteration of
    ``profile``'s engine, seconds (its kind's value, :func:`host_layer_kind`)."""
    return profile.eager_prefill_host_s_per_layer[host_layer_kind(model)]


def _host_per_layer(x: Any) -> dict[str, float]:
    """``engine.eager_prefill_host_s_per_layer`` read: one number for every layer kind, or a
    mapping with a number for each of :data:`LAYER_KINDS`; each in [0, 0.1] s."""
    valid = "seconds in [0, 0.1], or {mla: s, moe: s, dense: s}"
    if isinstance(x, Mapping):
        if set(x) != set(LAYER_KINDS):
            raise InputError("engine.eager_prefill_host_s_per_layer", dict(x),
                             f"needs exactly the layer kinds {', '.join(LAYER_KINDS)}", valid)
        out = {k: x[k] for k in LAYER_KINDS}
    else:
        out = {k: x for k in LAYER_KINDS}
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 0.1:
            raise InputError(f"engine.eager_prefill_host_s_per_layer.{k}", v, "out of range",
                             valid)
    return {k: float(v) for k, v in out.items()}


def list_engines() -> list[str]:
    return sorted(p.stem for p in ENGINES_DIR.glob("*.yaml"))


def version_tuple(text: object, field: str = "engine.version") -> tuple[int, ...]:
    """``"0.6.3"`` -> ``(0, 6, 3)``; a leading ``v`` and a suffix like ``.post1`` or ``rc2``
    are ignored."""
    s = str(text).strip().lower().lstrip("v")
    parts = []
    for p in s.split("."):
        digits = ""
        for ch in p:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise InputError(field, text, "not a version number", "e.g. 0.6.3, 0.11 or 1.0")
    return tuple(parts)


def _read(name: str) -> dict[str, Any]:
    """The engine's preset file (parsed once a process: :func:`read_yaml` keeps it)."""
    return read_yaml(ENGINES_DIR / f"{name}.yaml")


def sglang_reserved_bytes(capacity_bytes: float, tp: int, bands: list[Mapping[str, float]],
                          above_bands_GiB: float) -> float:
    """SGLang (0.4.10) memory left out of ``mem_fraction_static``:
    ``reserved = base(capacity) + TP/2`` GiB, the base by GPU-memory band; a flat amount above
    the last band (``server_args.py``)."""
    cap_gib = capacity_bytes / GiB
    for band in bands:
        if cap_gib < band["below_GiB"]:
            return (band["base_GiB"] + tp / 2) * GiB
    return above_bands_GiB * GiB


def kv_pool_bytes_per_gpu(rule: str, fraction: float, capacity_bytes: float,
                          weights_bytes: float, activations_bytes: float,
                          buffers_bytes: float) -> float:
    """KV-cache pool of one GPU, bytes, by the engine's rule:

    * ``total_minus_non_kv`` (vLLM ``gpu_memory_utilization``):
      ``f * capacity - weights - activations - buffers``;
    * ``total_static_minus_weights`` (SGLang ``mem_fraction_static``, weights + KV pool):
      ``f * capacity - weights``;
    * ``free_after_weights`` (TensorRT-LLM ``free_gpu_memory_fraction``):
      ``f * (capacity - weights - activations - buffers)``.
    """
    if rule == "total_minus_non_kv":
        return fraction * capacity_bytes - weights_bytes - activations_bytes - buffers_bytes
    if rule == "total_static_minus_weights":
        return fraction * capacity_bytes - weights_bytes
    if rule == "free_after_weights":
        return fraction * (capacity_bytes - weights_bytes - activations_bytes - buffers_bytes)
    raise InputError("engine.kv_memory_rule", rule, "unknown rule", ", ".join(KV_RULES))


def load_profile(spec: Mapping[str, Any] | str | None, capacity_bytes: float, tp: int,
                 offline: bool = False) -> tuple[EngineProfile, list[str]]:
    """The engine profile for ``spec`` (``{name, version, <cap overrides>}`` or a name), on a
    GPU of ``capacity_bytes``, tensor-parallel size ``tp``; ``offline`` for a static batch.
    Returns the profile and the assumptions made."""
    assumptions: list[str] = []
    if spec is None:
        spec = {"name": "generic"}
        assumptions.append("engine: none given; the generic profile is used")
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise InputError("engine", spec, "must be a name or a mapping",
                         "{name: vllm, version: '0.8.5', max_running_requests: 256}")
    for key in spec:
        if key not in ("name", "version", *OVERRIDABLE):
            raise InputError(f"engine.{key}", spec[key], "unknown engine field",
                             ", ".join(("name", "version", *OVERRIDABLE)))
    name = str(spec.get("name") or "generic").strip().lower()
    name = {"vllm-v1": "vllm", "sgl": "sglang", "tensorrt-llm": "trtllm", "trt-llm": "trtllm",
            "tensorrt_llm": "trtllm"}.get(name, name)
    if name not in list_engines():
        assumptions.append(f"engine {spec.get('name')!r} has no profile "
                           f"({', '.join(list_engines())}): the generic profile is used")
        name = "generic"
    data = _read(name)
    asked = spec.get("version")
    version = str(asked if asked is not None else data["default_version"])
    if asked is None:
        assumptions.append(f"engine {name}: no version given; {version} assumed")
    v = version_tuple(version)
    chosen = None
    for entry in data["versions"]:
        if version_tuple(entry["from_version"]) <= v:
            chosen = entry
    if chosen is None:
        oldest = data["versions"][0]["from_version"]
        raise InputError("engine.version", asked, f"older than the oldest {name} profile",
                         f"{oldest} or later")
    merged = _settings({**data.get("defaults", {}), **chosen}, name, capacity_bytes, tp,
                       offline, assumptions)
    for key in OVERRIDABLE:
        if key in spec:
            merged[key] = spec[key]
    profile = _build(merged, name, version, data["source"])
    overridden = [k for k in OVERRIDABLE if k in spec]
    if overridden:
        assumptions.append(f"engine {name}: caps overridden by the run: {', '.join(overridden)}")
    return profile, assumptions


def _settings(merged: dict[str, Any], name: str, capacity_bytes: float, tp: int, offline: bool,
              assumptions: list[str]) -> dict[str, Any]:
    """A version's settings on this GPU: its small- or large-GPU and offline variants applied,
    the KV fraction for this tensor-parallel size (or from SGLang's reserved-memory bands).
    Appends what it assumed to ``assumptions``."""
    cap_gib = capacity_bytes / GiB
    small = merged.pop("small_gpu", None)
    large = merged.pop("large_gpu", None)
    off = merged.pop("offline", None)
    if small and cap_gib < small["below_GiB"]:
        merged.update({k: x for k, x in small.items() if k != "below_GiB"})
    if large and cap_gib >= large["above_GiB"]:
        merged.update({k: x for k, x in large.items() if k != "above_GiB"})
    if offline and off:
        merged.update(off)
        assumptions.append(f"engine {name}: static batch runs with its offline settings "
                           f"({', '.join(f'{k} {x}' for k, x in off.items())})")
    by_tp = merged.pop("kv_memory_fraction_by_tp", None)
    if by_tp:
        key = max((int(k) for k in by_tp if int(k) <= tp), default=min(int(k) for k in by_tp))
        merged["kv_memory_fraction"] = float(by_tp[key])
    bands = merged.pop("kv_reserved_GiB_bands", None)
    above = merged.pop("kv_reserved_GiB_above_bands", None)
    if bands:
        reserved = sglang_reserved_bytes(capacity_bytes, tp, bands, above)
        merged["kv_memory_fraction"] = (capacity_bytes - reserved) / capacity_bytes
    return merged


def _build(m: Mapping[str, Any], name: str, version: str, source: str) -> EngineProfile:
    def integer(key: str) -> int:
        x = m.get(key)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or x != int(x) or x < 1:
            raise InputError(f"engine.{key}", x, "must be a whole number", "a whole number >= 1")
        return int(x)

    def number(key: str, lo: float, hi: float) -> float:
        x = m.get(key)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not lo <= x <= hi:
            raise InputError(f"engine.{key}", x, "out of range", f"a number in [{lo}, {hi}]")
        return float(x)

    def choice(key: str, valid: tuple[str, ...]) -> str:
        x = m.get(key)
        if x not in valid:
            raise InputError(f"engine.{key}", x, "unknown value", ", ".join(valid))
        return str(x)

    chunked = m.get("chunked_prefill")
    if not isinstance(chunked, bool):
        raise InputError("engine.chunked_prefill", chunked, "must be true or false",
                         "true, false")
    return EngineProfile(
        name=name, version=version, label=str(m.get("label", "")),
        max_running_requests=integer("max_running_requests"),
        max_tokens_per_iteration=integer("max_tokens_per_iteration"),
        chunked_prefill=chunked, mixing=choice("mixing", MIXING),
        iteration_overhead_s=number("iteration_overhead_s", 0.0, 1.0),
        iteration_overhead_basis=" ".join(str(m.get("iteration_overhead_basis", "")).split()),
        eager_prefill_host_s_per_layer=_host_per_layer(m.get("eager_prefill_host_s_per_layer",
                                                             0.0)),
        eager_prefill_basis=" ".join(str(m.get("eager_prefill_basis", "")).split()),
        sequence_overhead_s=number("sequence_overhead_s", 0.0, 1e-3),
        sequence_overhead_basis=" ".join(str(m.get("sequence_overhead_basis", "")).split()),
        request_path_s=number("request_path_s", 0.0, 1.0),
        request_path_basis=" ".join(str(m.get("request_path_basis", "")).split()),
        kv_memory_rule=choice("kv_memory_rule", KV_RULES),
        kv_memory_fraction=number("kv_memory_fraction", 0.01, 1.0),
        block_size_tokens=integer("block_size_tokens"),
        dp_assignment=choice("dp_assignment", ASSIGNMENT),
        source=" ".join(str(source).split()))


def trtllm_bench_max_requests(capacity_bytes: float, weights_bytes: float,
                              kv_bytes_per_token: float, isl: int, osl: int,
                              kv_fraction: float = 0.95) -> float:
    """Requests whose whole KV fits, as ``trtllm-bench build`` estimates it (per GPU, which
    equals its sum over the ``tp * pp`` GPUs when weights and KV heads split evenly):

    ``requests = kv_fraction * (capacity - weights) / (kv_bytes_per_token * (isl + osl))``

    with ``kv_fraction`` = 0.95 (``calc_engine_setting``, ``tensorrt_llm/bench/build/
    tuning.py``, stored copy, version not pinned; serving-engines.md, "trtllm-bench
    heuristic"). Bytes are per GPU; ``kv_bytes_per_token`` is one token's KV on one GPU."""
    return kv_fraction * (capacity_bytes - weights_bytes) / (kv_bytes_per_token * (isl + osl))


def trtllm_bench_caps(max_requests: float, isl: int, osl: int, pp: int = 1) -> tuple[int, int]:
    """``(max_batch_size, max_num_tokens)`` that ``trtllm-bench build --dataset`` gives an
    engine (``finetune_setting``, ``tensorrt_llm/bench/build/tuning.py``, stored copy):

    * ``bs = min(max_requests, 4096) / pp``, rounded up to a multiple of 32 (at least 64)
      below 256, of 128 below 1024, else of 256;
    * ``tokens = min(bs * (1 + isl / osl), 32768)`` (``bs`` before rounding), rounded up to a
      multiple of 256 (at least 2048) below 4096, of 512 below 8192, else of 1024.

    Example: 1,000 requests, 128/128, pp 1 -> bs 1024, tokens 2000 -> (1024, 2048)."""
    raw_bs = min(max_requests, 4096) / pp
    raw_tokens = min(raw_bs * (1 + isl / osl), 32768)
    if raw_bs < 256:
        bs = max(64, 32 * math.ceil(raw_bs / 32))
    elif raw_bs < 1024:
        bs = 128 * math.ceil(raw_bs / 128)
    else:
        bs = 256 * math.ceil(raw_bs / 256)
    if raw_tokens < 4096:
        tokens = max(2048, 256 * math.ceil(raw_tokens / 256))
    elif raw_tokens < 8192:
        tokens = 512 * math.ceil(raw_tokens / 512)
    else:
        tokens = 1024 * math.ceil(raw_tokens / 1024)
    return int(bs), int(tokens)
