"""One prediction per validation case: the serving-engine simulator for benchmark runs, the
closed form for a single static batch (and as the fit's fast surrogate).

Which path a case takes (issue 11, item 4):

* ``simulate``: the run mapping is handed to :func:`analysis.simulate.run.simulate_run` (an
  offline ``trtllm-bench``/``benchmark_throughput`` run = the whole dataset queued at once, run
  at the engine's caps; a closed loop; a gpt-fast batch-1 generation = a static batch of 1);
* ``closed_form``: one static batch (``gptSessionBenchmark``, ``benchmark_latency``, batch-1
  prefill, a node's prefill or decode step): :func:`closed_form` below.

A per-iteration host time ``t_o + t_seq * n`` (scheduling, launches outside graphs, and work
per sequence: input metadata, sampling, detokenisation) is added to every engine iteration of
``n`` sequences: in the simulator through the engine's ``iteration_overhead_s`` and
``sequence_overhead_s``; in the closed form as ``TTFT + t_o + t_seq * b`` and ``TPOT + t_o +
t_seq * b`` for a batch of ``b`` (one iteration per output token). Speed-of-light mode uses
``t_o = t_seq = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from typing import Any

from analysis import estimate as E
from analysis.inputs.errors import InputError
from analysis.inputs.read.mapping import hardware_from_ref
from analysis.inputs.read.scenario import load_model
from analysis.inputs.types import Hardware, Scenario, Strategy, Workload
from analysis.simulate.profiles import load_profile
from analysis.validation.data import GPUS_PER_NODE_REPORTED, MODES, _options

#: Old-row estimators that describe one static batch (closed form) and those that describe a
#: benchmark run (simulated).
CLOSED_FORM_ESTIMATORS = ("static", "batch1_ttft", "prefill_node", "decode_node")
SIMULATED_ESTIMATORS = ("serve_max", "batch1_decode")


@cache
def _model(preset: str, weight: str, kv: str, act: str, experts: str = ""):
    model, _, _ = load_model(preset)
    return replace(model, weight_precision=weight, expert_weight_precision=experts,
                   kv_precision=kv, activation_precision=act)


@cache
def preset_hardware(gpu: str) -> Hardware:
    """The GPU preset as shipped (with its ``calibration:`` block, if any)."""
    return hardware_from_ref(gpu)[0]


@cache
def stated_overhead_s(engine: str, gpu: str) -> float:
    """The engine profile's stated per-iteration overhead (derated mode), seconds; 0 for an
    engine without a profile (gpt-fast)."""
    if engine not in ("vllm", "sglang", "trtllm"):
        return 0.0
    hw = preset_hardware(gpu)
    return load_profile(engine, hw.hbm_capacity_bytes, 1)[0].iteration_overhead_s


@cache
def sequence_overhead_s(engine: str, mode: str) -> float:
    """The engine profile's host work per sequence per iteration, seconds; 0 at speed of light
    and for an engine without a profile (gpt-fast). Host-side, so the same on every GPU."""
    if mode == "sol" or engine not in ("vllm", "sglang", "trtllm"):
        return 0.0
    return load_profile(engine, 80e9, 1)[0].sequence_overhead_s


def mode_used(hw: Hardware, mode: str) -> str:
    """What actually produced a prediction: calibrated mode on a GPU without curves is the
    derated estimate, and says so; transferred curves say so too."""
    if mode == "calibrated" and hw.calibration is None:
        return "derated (no calibration)"
    if mode == "calibrated" and hw.calibration.source.startswith("transferred"):
        return "calibrated (transferred: " + hw.calibration.source.split(";")[0][12:] + ")"
    return mode


# --------------------------------------------------------------------------------------------
# Closed form: one static batch
# --------------------------------------------------------------------------------------------

def _scenario(row: Mapping[str, Any], hw: Hardware) -> Scenario:
    model = _model(row["model_preset"], row["weight_precision"], row["kv_precision"],
                   row["activation_precision"], row.get("expert_precision", "") or "")
    wl = Workload(int(row["batch_sequences"] or 1), (int(row["isl"]),), int(row["osl"]))
    sc = Scenario(f"validation-row-{row['row_id']}", hw, model, wl)
    budget = row.get("memory_budget") or ""
    if budget:
        key, _, value = budget.partition("=")
        if key != "kv_free_fraction":
            raise InputError("mapping.memory_budget", budget, "unknown memory budget",
                             "kv_free_fraction=<fraction>")
        sc = replace(sc, requirements=replace(sc.requirements, memory_reserve_fraction=(
            kv_free_reserve_fraction(sc, Strategy.parse(row["layout"]), float(value)))))
    return sc


def kv_free_reserve_fraction(sc: Scenario, strategy: Strategy, kv_fraction: float) -> float:
    """The runtime reserve, as a fraction of HBM, of an engine that gives ``kv_fraction`` of
    the memory left after weights, activations and buffers to the KV cache (TensorRT-LLM's
    ``free_gpu_memory_fraction``): ``(1 - kv_fraction) * free / capacity``."""
    lay = E.Layouts.from_strategies([replace(strategy, microbatches=1)])
    one = replace(sc.workload, batch_sequences=1)
    mem = E.memory_per_gpu_bytes(sc.hardware, sc.model, one, 0.0, lay, E.Options())
    fixed = sum(float(v[0]) for k, v in mem.items() if k not in ("kv_cache", "runtime_reserve"))
    cap = sc.hardware.hbm_capacity_bytes
    return max(0.0, (1 - kv_fraction) * (cap - fixed) / cap)


def closed_form(row: Mapping[str, Any], mode: str = "calibrated", hardware: Hardware | None =
                None, overhead_s: float = 0.0, sequence_overhead_s: float = 0.0) -> float:
    """The closed-form prediction of one case, in its measured unit, with ``overhead_s`` per
    engine iteration and ``sequence_overhead_s`` per sequence in it. Also the fit's surrogate
    for simulated cases (``serve_max``: the steady state of
    :func:`analysis.estimate.serving.serve` at the memory-bound concurrency, its TPOT lengthened
    by the host time of an iteration of the running requests)."""
    if mode not in MODES:
        raise InputError("mode", mode, "unknown mode", ", ".join(MODES))
    hw = hardware or preset_hardware(row["gpu_preset"])
    sc = _scenario(row, hw)
    opts = _options(row["options"], mode)
    strategy = Strategy.parse(row["layout"])
    est = row["estimator"]
    lay = E.Layouts.from_strategies([strategy])
    isl, osl, b = int(row["isl"]), int(row["osl"]), sc.workload.batch_sequences
    t_o = overhead_s + sequence_overhead_s * b
    if est == "serve_max":
        from analysis.estimate.serving import serve
        cap = row.get("running_cap")    # the engine's max_batch_size (trtllm-bench build)
        s = serve(sc, strategy, isl, osl, float(cap) if cap else None, None, opts)
        per_rank = min(s.concurrency, s.running) / (strategy.dp * strategy.dp_attn)
        t_o = overhead_s + sequence_overhead_s * per_rank
        out = s.output_tokens_per_s * s.tpot_s / (s.tpot_s + t_o)
        return out * (isl + osl) / osl if row.get("quantity") == "total_tokens_per_s" else out
    if est == "decode_node":
        tpot, _ = E.decode(hw, sc.model, sc.workload, lay, opts, float(row["context_tokens"]))
        return b / (float(tpot[0]) + t_o) / strategy.gpus * GPUS_PER_NODE_REPORTED
    if est == "prefill_node":
        ttft, _ = E.prefill(hw, sc.model, sc.workload, lay, opts, isl)
        return b * isl / (float(ttft[0]) + t_o) / strategy.gpus * GPUS_PER_NODE_REPORTED
    if est == "batch1_ttft":
        ttft, _ = E.prefill(hw, sc.model, sc.workload, lay, opts, isl)
        return (float(ttft[0]) + t_o) * 1e3
    if est in ("static", "batch1_decode", "static_e2e", "static_tpot"):
        r = E.evaluate_layouts(sc, lay, opts, isl)
        ttft, tpot = float(r["ttft_s"][0]) + t_o, float(r["tpot_s"][0]) + t_o
        e2e = ttft + (osl - 1) * tpot
        if est == "static":
            return b * osl / e2e / strategy.gpus
        if est == "static_e2e":
            return e2e * 1e3
        if est == "static_tpot":
            return tpot * 1e3
        return 1 / tpot
    raise InputError("mapping.estimator", est, "unknown estimator",
                     "static, static_e2e, static_tpot, batch1_ttft, batch1_decode, serve_max, "
                     "prefill_node, decode_node")


# --------------------------------------------------------------------------------------------
# Simulator: one benchmark run
# --------------------------------------------------------------------------------------------

def simulate_case(run: Mapping[str, Any], mode: str, hw: Hardware, overhead_s: float,
                  sequence_overhead: float | None = None) -> dict:
    """Simulate ``run`` (a run mapping without hardware and mode) on ``hw`` in ``mode`` with
    ``overhead_s`` per iteration and ``sequence_overhead`` per sequence in it (default: the
    engine profile's); the simulator's output dict."""
    from analysis.simulate.run import simulate_run

    engine = dict(run.get("engine") or {"name": "generic"})
    engine["iteration_overhead_s"] = overhead_s
    if sequence_overhead is not None:
        engine["sequence_overhead_s"] = sequence_overhead
    return simulate_run(dict(run, engine=engine, mode=mode, hardware=hw))
