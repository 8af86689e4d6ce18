"""One benchmark run, predicted: parse and validate a run mapping, build the scenario, simulate,
return the metrics. The format is public API: ``docs/simulate.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from analysis.inputs.errors import InputError
from analysis.inputs.read.mapping import (
    hardware_from_ref,
    model_from_ref,
    read_yaml,
    strategy_from_value,
)
from analysis.inputs.types import Hardware
from analysis.simulate import cost as C
from analysis.simulate.engine import EngineCaps, Trace, run_replica
from analysis.simulate.host import eager_forward_host_s
from analysis.simulate.metrics import run_metrics
from analysis.simulate.profiles import (
    eager_host_s_per_layer,
    host_layer_kind,
    kv_pool_bytes_per_gpu,
    load_profile,
)
from analysis.simulate.workload import ARRIVAL_KINDS, Requests, make_requests

RUN_KEYS = ("name", "hardware", "gpus", "model", "precision", "layout", "engine", "workload",
            "mode", "seed", "notes", "source")
WORKLOAD_KEYS = ("isl", "osl", "arrival", "prefix_cached_tokens")
ARRIVAL_KEYS = ("kind", "concurrency", "rate", "num_requests", "batch", "warmup_requests")
PRECISION_KEYS = ("weights", "kv", "experts", "activations")
MODES = ("derated", "sol", "calibrated")

SIMPLIFICATIONS = (
    ("simulator: KV blocks for a whole request (prompt + output) are reserved at admission and "
    "never preempted (TensorRT-LLM's GUARANTEED_NO_EVICT; vLLM and SGLang admit more and "
    "preempt or retract)"),
    ("simulator: attention-DP ranks run in lockstep, every rank padded to the busiest rank's "
    "tokens; dp replicas are independent engines, requests dealt to them round-robin"),
    ("simulator: an iteration is pp stage times (a token passes every stage); no pipelining of "
    "micro-batches within an iteration"),
    ("simulator: a stretch of decode-only iterations is priced at its mid-point context, and an "
    "arrival inside it is admitted within one iteration of the exact step"),
    ("simulator: no CUDA-graph padding, speculative decoding, prefix-cache hits beyond "
    "prefix_cached_tokens, or client/network latency"),
)


def _mapping(value: object, field: str, valid: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(field, value, "must be a mapping", valid)
    return value


def _keys(d: Mapping[str, Any], allowed: tuple[str, ...], section: str) -> None:
    for key in d:
        if key not in allowed:
            raise InputError(f"{section}.{key}" if section else str(key), d[key],
                             "unknown field", ", ".join(allowed))


def _whole(field: str, value: object, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value in (float("inf"), float("-inf")) or value != int(value) or value < lo:
        raise InputError(field, value, f"must be a whole number >= {lo}",
                         f"a whole number >= {lo}")
    return int(value)


def _rate(value: object) -> float:
    if isinstance(value, str) and value.strip().lower() == "inf":
        return math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError("workload.arrival.rate", value, "must be a number > 0",
                         "requests per second > 0, or inf (then kind: burst)")
    return float(value)


def parse_arrival(d: object) -> tuple[str, int | None, float | None, int, int, list[str]]:
    """(kind, concurrency, rate per s, number of requests, warm-up requests, assumptions) of
    ``workload.arrival``."""
    d = _mapping(d, "workload.arrival", "{kind: closed_loop, concurrency: 16, num_requests: 500}")
    _keys(d, ARRIVAL_KEYS, "workload.arrival")
    kind = d.get("kind")
    if kind not in ARRIVAL_KINDS:
        raise InputError("workload.arrival.kind", kind, "unknown arrival kind",
                         ", ".join(ARRIVAL_KINDS))
    assumptions: list[str] = []
    conc = rate = None
    if kind == "closed_loop":
        conc = _whole("workload.arrival.concurrency", d.get("concurrency"))
        if d.get("num_requests") is None:
            n = 10 * conc
            assumptions.append(f"workload.arrival.num_requests not given: {n} (10 x concurrency)")
        else:
            n = _whole("workload.arrival.num_requests", d.get("num_requests"))
    elif kind == "poisson":
        rate = _rate(d.get("rate"))
        if math.isinf(rate):
            raise InputError("workload.arrival.rate", d.get("rate"),
                             "an infinite rate sends every request at once",
                             "a finite rate, or kind: burst")
        n = _whole("workload.arrival.num_requests", d.get("num_requests"))
    elif kind == "burst":
        n = _whole("workload.arrival.num_requests", d.get("num_requests"))
    else:  # static
        raw = d.get("batch", d.get("num_requests"))
        n = _whole("workload.arrival.batch", raw)
    for key, used in (("concurrency", kind == "closed_loop"), ("rate", kind == "poisson")):
        if d.get(key) is not None and not used:
            raise InputError(f"workload.arrival.{key}", d[key], f"has no meaning for kind {kind}",
                             {"concurrency": "only with kind: closed_loop",
                              "rate": "only with kind: poisson"}[key])
    warmup = _whole("workload.arrival.warmup_requests", d.get("warmup_requests", 0), lo=0)
    if warmup >= n:
        raise InputError("workload.arrival.warmup_requests", warmup,
                         f"leaves none of the {n} requests to measure",
                         f"0 to {n - 1} (the client's discarded warm-up requests)")
    return kind, conc, rate, n, warmup, assumptions


def parse_layout(value: object, gpus: int | None) -> tuple[Any, list[str]]:
    """The layout (a strategy string, a printed label or a mapping of degrees), reconciled
    with ``gpus``: a layout on fewer GPUs is replicated (dp) to fill them."""
    assumptions: list[str] = []
    if value is None:
        if gpus is None:
            raise InputError("layout", None, "required when gpus is not given",
                             "'tp=8', 'tp=4,ep=16' or a label such as tp4-ep16")
        value = f"tp={gpus}"
        assumptions.append(f"layout not given: tp={gpus} (tensor parallel over every GPU)")
    strategy = (C.layout_from_text(value) if isinstance(value, str)
                else strategy_from_value(value, "layout"))
    n = C.gpus_of(strategy)
    if gpus is not None and gpus != n:
        if gpus % n == 0 and strategy.dp == 1:
            strategy = C.with_dp(strategy, gpus // n)
            assumptions.append(f"layout {value} uses {n} GPUs: {gpus // n} replicas (dp) fill "
                               f"the {gpus}")
        else:
            raise InputError("gpus", gpus, f"layout {strategy.label()} uses {n} GPUs",
                             f"{n}, or a multiple of it when the layout has no dp")
    return strategy, assumptions


def simulate_run(mapping: Mapping[str, Any], base_dir: str | Path | None = None) -> dict:
    """Predict one benchmark run. ``mapping`` holds the fields of ``docs/simulate.md``;
    relative model paths are read from ``base_dir``. Returns the metrics, with ``assumptions``
    (list of strings) and ``mode``."""
    d = _mapping(mapping, "run", "a mapping with hardware, model, layout, engine, workload")
    _keys(d, RUN_KEYS, "")
    for required in ("hardware", "model", "workload"):
        if d.get(required) is None:
            raise InputError(required, None, "required but not given",
                             {"hardware": "a GPU preset name, e.g. H100-SXM",
                              "model": "a model preset name, a model YAML or a config.json path",
                              "workload": "{isl, osl, arrival: {kind, ...}}"}[required])
    hw, model, assumptions = _hardware_and_model(d, base_dir)
    mode = d.get("mode", "derated")
    if mode not in MODES:
        raise InputError("mode", mode, "unknown mode", ", ".join(MODES))
    seed = _whole("seed", d.get("seed", 0), lo=0)
    gpus = None if d.get("gpus") is None else _whole("gpus", d["gpus"])
    strategy, a = parse_layout(d.get("layout"), gpus)
    assumptions += a
    gpus = C.gpus_of(strategy)

    kind, conc, rate, n, warmup, prefix, req, a = _workload_requests(d["workload"], seed)
    assumptions += a

    metrics, profile, a = simulate_objects(hw, model, strategy, req, kind, conc,
                                           d.get("engine"), mode, warmup_requests=warmup)
    assumptions += a
    hw_name = (d["hardware"] if isinstance(d["hardware"], str) else
               hw.name if isinstance(d["hardware"], Hardware) else "custom")
    out: dict[str, Any] = {"name": d.get("name") or "run", "mode": mode, "hardware": hw_name,
                           "model": C.model_name(model), "precision": C.model_precisions(model),
                           "layout": strategy.label(), "gpus": gpus,
                           "engine": profile.as_dict(),
                           "workload": {"kind": kind, "num_requests": n, "concurrency": conc,
                                        "rate_per_s": rate, "warmup_requests": warmup,
                                        "prefix_cached_tokens": prefix,
                                        "isl_mean": float(req.isl.mean()),
                                        "osl_mean": float(req.osl.mean())}}
    out.update(metrics)
    out["assumptions"] = list(dict.fromkeys(assumptions + list(SIMPLIFICATIONS)))
    return out


def _hardware_and_model(d: Mapping[str, Any], base_dir) -> tuple[Hardware, Any, list[str]]:
    """The run's GPU and model (with its ``precision:`` overrides), and what was assumed."""
    assumptions: list[str] = []
    if isinstance(d["hardware"], Hardware):     # the validation's trial curves, already built
        hw = d["hardware"]
    else:
        hw, a = hardware_from_ref(d["hardware"], "hardware")
        assumptions += a
    model, a = model_from_ref(d["model"], base_dir, "model")
    assumptions += a
    if d.get("precision") is not None:
        p = _mapping(d["precision"], "precision", "{weights: fp8, kv: fp8, experts: fp4}")
        _keys(p, PRECISION_KEYS, "precision")
        model = C.with_precision(model, p.get("weights"), p.get("kv"), p.get("experts"),
                                 p.get("activations"))
    return hw, model, assumptions


def _workload_requests(workload: object, seed: int):
    """The run's ``workload:`` block read: ``(arrival kind, concurrency, rate, requests, prefix
    cached tokens, the Requests, assumptions)``."""
    w = _mapping(workload, "workload", "{isl: 1024, osl: 256, arrival: {kind: burst, "
                                       "num_requests: 500}}")
    _keys(w, WORKLOAD_KEYS, "workload")
    for required in ("isl", "osl", "arrival"):
        if w.get(required) is None:
            raise InputError(f"workload.{required}", None, "required but not given",
                             {"isl": "prompt tokens: a whole number or {distribution: ...}",
                              "osl": "output tokens: a whole number or {distribution: ...}",
                              "arrival": "{kind: closed_loop | burst | poisson | static, ...}"
                              }[required])
    kind, conc, rate, n, warmup, a = parse_arrival(w["arrival"])
    prefix = _whole("workload.prefix_cached_tokens", w.get("prefix_cached_tokens", 0), lo=0)
    req = make_requests(n, w["isl"], w["osl"], prefix, kind, rate, seed)
    return kind, conc, rate, n, warmup, prefix, req, a


def simulate_objects(hw, model, strategy, req: Requests, kind: str, conc: int | None,
                     engine: object, mode: str, warmup_requests: int = 0
                     ) -> tuple[dict, Any, list[str]]:
    """The run on already-built inputs (hardware, model, layout, requests): ``(metrics, engine
    profile, assumptions)``, the metrics being every output key of ``docs/simulate.md`` from
    ``ttft_ms_mean`` to ``iterations``. :func:`simulate_run` and the serving search
    (:mod:`analysis.search.serving`) share it. ``warmup_requests``: the first requests (in
    send order) are simulated but left out of the per-request latencies (TTFT, TPOT, e2e), as a
    benchmark that discards its warm-up (a closed loop's first wave all arrives at t = 0);
    throughput and ITL stay over the whole run."""
    assumptions: list[str] = []
    degrees = C.layout_degrees(strategy)
    profile, a = load_profile(engine, C.hardware_capacity_bytes(hw), degrees["tp"],
                              offline=(kind == "static"))
    assumptions += a
    host_per_layer = 0.0 if mode == "sol" else eager_host_s_per_layer(profile, model)
    assumptions += _host_cost_assumptions(profile, model, host_per_layer)
    if request_path_s(profile, kind, mode):
        assumptions.append(f"engine {profile.name} {profile.version}: a request reaches the "
                           f"scheduler {profile.request_path_s * 1e3:g} ms after it is sent "
                           f"(HTTP, tokenisation, the tokens' way back): "
                           f"{profile.request_path_basis}")
    isl_max, osl_max = int(req.isl.max()), int(req.osl.max())
    C.check_layout(model, strategy, isl_max, osl_max)
    opts = C.options(mode)

    kv_bytes, kv_tokens = _kv_pool(hw, model, strategy, opts, profile)
    caps = EngineCaps(
        ranks=degrees["dp_attn"], max_running_requests=profile.max_running_requests,
        max_tokens_per_iteration=profile.max_tokens_per_iteration,
        chunked_prefill=profile.chunked_prefill, mixing=profile.mixing,
        iteration_overhead_s=profile.iteration_overhead_s,
        kv_capacity_blocks=kv_tokens // profile.block_size_tokens,
        block_size_tokens=profile.block_size_tokens, dp_assignment=profile.dp_assignment,
        prefill_host_s=eager_forward_host_s(host_per_layer, model.num_layers / degrees["pp"]),
        sequence_overhead_s=0.0 if mode == "sol" else profile.sequence_overhead_s,
        request_path_s=request_path_s(profile, kind, mode))
    tables = _cost_tables(
        hw, model, strategy, opts,
        max_tokens_per_rank=max(profile.max_tokens_per_iteration, profile.max_running_requests)
        + isl_max, max_context_tokens=isl_max + osl_max)
    traces = _run_replicas(req, caps, tables, conc, degrees["dp"], kind)
    arrival, first, done, itl_v, itl_c, isl_all, osl_all = _pool(traces, req, degrees["dp"])
    metrics = run_metrics(arrival, first, done, isl_all, osl_all, itl_v, itl_c,
                          C.gpus_of(strategy))
    if warmup_requests:
        w = slice(warmup_requests, None)
        steady = run_metrics(arrival[w], first[w], done[w], isl_all[w], osl_all[w], itl_v,
                             itl_c, C.gpus_of(strategy))
        metrics.update({k: v for k, v in steady.items()
                        if k.startswith(("ttft_", "tpot_", "e2e_latency_"))})
    metrics.update({
        "kv_pool_bytes_per_gpu": float(kv_bytes),
        "kv_capacity_tokens_per_rank": kv_tokens,
        "kv_peak_use_fraction": max(t.peak_kv_fraction for t, _ in traces),
        "memory_limited": any(t.kv_limited for t, _ in traces),
        "running_cap_limited": any(t.running_limited for t, _ in traces),
        "iterations": int(sum(t.iterations for t, _ in traces)),
    })
    return metrics, profile, assumptions


def request_path_s(profile, kind: str, mode: str) -> float:
    """The engine's request path for a run of arrival ``kind`` in ``mode``, seconds: none for
    a static batch (an offline engine has no HTTP client) or at speed of light."""
    return 0.0 if kind == "static" or mode == "sol" else profile.request_path_s


def _host_cost_assumptions(profile, model, host_per_layer: float) -> list[str]:
    """The engine's host costs as the run uses them: the per-iteration overhead, and the host
    launch time of an eager prompt iteration when there is one (none at speed of light)."""
    out = [(f"engine {profile.name} {profile.version} per-iteration overhead "
            f"{profile.iteration_overhead_s * 1e3:g} ms: {profile.iteration_overhead_basis}"),
           (f"engine {profile.name} {profile.version} host work per sequence per iteration "
            f"{profile.sequence_overhead_s * 1e6:g} us: {profile.sequence_overhead_basis}")]
    if host_per_layer:
        out.append(f"engine {profile.name} {profile.version} launches prompt iterations outside "
                   f"CUDA graphs: at least {host_per_layer * 1e3:g} ms of host time per "
                   f"{host_layer_kind(model)} layer ({host_per_layer * model.num_layers * 1e3:.0f}"
                   f" ms per forward): {profile.eager_prefill_basis}")
    return out


def _kv_pool(hw, model, strategy, opts, profile) -> tuple[float, int]:
    """(KV pool bytes per GPU, KV tokens per rank) by the engine's memory rule; an
    :class:`InputError` when the weights and the reserve leave nothing."""
    mem = C.memory_budget(hw, model, strategy, opts, profile.max_tokens_per_iteration)
    kv_bytes = kv_pool_bytes_per_gpu(profile.kv_memory_rule, profile.kv_memory_fraction,
                                     mem.capacity_bytes, mem.weights_bytes,
                                     mem.activations_bytes, mem.comm_buffers_bytes)
    if kv_bytes <= 0:
        raise InputError("layout", strategy.label(),
                         f"weights ({mem.weights_bytes / 1e9:.1f} GB per GPU) and the engine's "
                         f"reserve leave no KV-cache memory on {hw.name} "
                         f"({mem.capacity_bytes / 1e9:.0f} GB, {profile.kv_memory_rule} at "
                         f"{profile.kv_memory_fraction:.2f})",
                         "more GPUs per replica (larger tp, ep or pp), or lower precision")
    return kv_bytes, int(kv_bytes // mem.kv_bytes_per_token)


@lru_cache(maxsize=256)
def _cost_tables(hw, model, strategy, opts, max_tokens_per_rank: int, max_context_tokens: int):
    """:func:`analysis.simulate.cost.iteration_cost_tables`, cached on its (hashable, frozen)
    arguments: a sweep of loads on one (GPU, model, layout, mode) prices the layout once."""
    return C.iteration_cost_tables(hw, model, strategy, opts,
                                   max_tokens_per_rank=max_tokens_per_rank,
                                   max_context_tokens=max_context_tokens)


def _replica_requests(req: Requests, i: int, dp: int) -> Requests:
    sl = slice(i, None, dp)
    return Requests(req.isl[sl], req.osl[sl], req.prefix_cached[sl], req.arrival_s[sl])


def _run_replicas(req: Requests, caps: EngineCaps, tables, conc: int | None, dp: int,
                  kind: str) -> list[tuple[Trace, np.ndarray]]:
    """Simulate each of the ``dp`` replicas on its round-robin share (requests i, i + dp, ...;
    a closed loop's concurrency split as evenly); identical shares are simulated once."""
    out: list[tuple[Trace, np.ndarray]] = []
    cache: dict[tuple, Trace] = {}
    for i in range(dp):
        share = _replica_requests(req, i, dp)
        if len(share) == 0:
            continue
        c = None if conc is None else conc // dp + (1 if i < conc % dp else 0)
        if c == 0:
            continue
        key = (len(share), c, share.isl.tobytes(), share.osl.tobytes(),
               share.arrival_s.tobytes())
        if key not in cache:
            cache[key] = run_replica(share, caps, tables, c)
        out.append((cache[key], np.arange(i, len(req), dp)))
    return out


def _pool(traces, req: Requests, dp: int):
    """Every replica's per-request times in request order, and the pooled ITL gaps."""
    n = len(req)
    arrival, first, done = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    gaps, counts = [], []
    for t, idx in traces:
        arrival[idx], first[idx], done[idx] = t.arrival_s, t.first_token_s, t.done_s
        gaps.append(t.itl_s)
        counts.append(t.itl_count)
    keep = ~np.isnan(done)
    return (arrival[keep], first[keep], done[keep], np.concatenate(gaps),
            np.concatenate(counts), req.isl[keep], req.osl[keep])


def simulate_file(path: str | Path) -> dict:
    """:func:`simulate_run` on a run YAML; model paths relative to the file."""
    data = read_yaml(path)
    return simulate_run(data, Path(path).parent)
