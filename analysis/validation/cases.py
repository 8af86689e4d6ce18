"""Validation cases: one measured metric of one run, from both data sets, with how to predict it.

* ``mapping.csv`` rows (``measurements.csv``): each mapped row is one case. ``serve_max`` rows
  (trtllm-bench max throughput: the whole dataset queued, run at the engine's caps) and
  ``batch1_decode`` rows (gpt-fast, one sequence generating) are simulated; one static batch
  keeps the closed form.
* ``serving_runs.csv`` rows (SERVING_RUNS.md): each row is one run, giving one case per metric
  it reports (mean TTFT, TPOT or ITL, end-to-end latency, throughput). :data:`SOURCE_RULES`
  says per source how the row becomes a run mapping, or why it is skipped.

Every case carries a closed-form surrogate row (the fit's fast objective) and, when simulated,
a run mapping (``docs/simulate.md``) without ``hardware`` and ``mode``.
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from typing import Any

import pandas as pd

from analysis.validation.data import HERE, mapped_rows

SERVING_CSV = HERE / "serving_runs.csv"
SERVING_SALT = "moeplan-serving:"

#: Hugging Face id -> (model preset, why the preset is that model's architecture).
MODEL_PRESETS: dict[str, tuple[str, str]] = {
    "meta-llama/Llama-3.1-70B-Instruct": ("llama-3.1-70b", ("the instruct tune of Llama-3.1-70B "
                                          "(same config.json)")),
    "meta-llama/Llama-3.1-405B-Instruct": ("llama-3.1-405b", ("the instruct tune of "
                                           "Llama-3.1-405B (same config.json)")),
    "meta-llama/Llama-3.3-70B-Instruct": ("llama-3.1-70b", ("Llama-3.3-70B has the Llama-3.1-70B "
                                          "architecture: its config.json on Hugging Face has "
                                          "the same layers, widths, heads and vocabulary (Meta "
                                          "Llama 3.3 model card: 'same architecture')")),
    "deepseek-ai/DeepSeek-R1": ("deepseek-v3", ("DeepSeek-R1 is trained from DeepSeek-V3-Base "
                                "and has its architecture (DeepSeek-R1 paper, section 2; the "
                                "same config.json, DeepseekV3ForCausalLM)")),
    "deepseek-ai/DeepSeek-V3": ("deepseek-v3", "the preset"),
    "Qwen/Qwen3-30B-A3B": ("qwen3-30b-a3b", "the preset"),
}

#: Engine family of each old-row source (the per-iteration overhead is fitted per family).
OLD_SOURCE_ENGINE = {"TRT_PERF_v0.17": "trtllm", "TRT_PERF_v0.9": "trtllm",
                     "GPT_FAST": "gpt-fast", "SGL_EP_H100": "sglang",
                     "DS_PROFILE_via_SGL": "sglang"}

#: Per serving source: None = mapped by :func:`_serving_case_rows`, else the skip reason.
SOURCE_RULES: dict[str, str | None] = {
    "MLPERF_INF_v4.1_AMD": "MLPerf: the dataset's prompt lengths (isl) are not in the summary "
                           "files and the layout is not stated",
    "MLPERF_INF_v4.1_NVIDIA": "MLPerf: isl not stated, layout and precision not stated",
    "MLPERF_INF_v5.0_AMD": "MLPerf: isl not stated, precision not stated",
    "MLPERF_INF_v5.0_NVIDIA": "MLPerf: isl not stated, layout not stated",
    "MOREH_DSR1_MI300X_MAXTPUT": "prefill-decode disaggregation over 5 instances: the simulator "
                                 "runs one engine",
    "SGL_PR3602_EP_H200": "random lengths with unknown means (range ratio not stated)",
    "LMSYS_SGL_MTP_BLOG": "decode side of a PD deployment with MTP speculative decoding; the "
                          "rank-to-GPU mapping is an assumption",
    "ROCM_VLLM_DEVDOCKER_20250812": None,
    "ROCM_VLLM_DEVDOCKER_20250305": None,
    "SGL_ISSUE28224_GB200_L70B": None,
    "TRTLLM_BLOG1_DSR1_B200_MINLAT": None,
    "INFERENCEX_ISSUE870_DSR1_H200_SGL": None,
    "TT_ISSUE356_DSR1_16xH100_SGL": None,
    "NIM_BENCH_L33_70B_2xH100": None,
    "INFERENCEX_ISSUE870_DSR1_B200_SGL": None,
    "TT_ISSUE340_QWEN3_30B_A100": "GPU count and layout not stated, and TP1 does not fit: the "
                                  "4096-token TTFT (75.2 ms) is below one A100's bf16 peak time "
                                  "for that prefill (~2.9e13 FLOP / 312 TFLOP/s = 92 ms)",
}

#: Columns of a source that hold something other than their name says, left unscored
#: (source -> column -> why).
METRICS_NOT_SCORED = {
    "TT_ISSUE356_DSR1_16xH100_SGL": {
        "output_tokens_per_s": "the table's 'Tput Decode' is 1000/TPOT (the per-user decode "
                               "rate), not output tokens over the run; TPOT is scored already"},
}

#: serving_runs.csv column -> (metric kind, simulator output key).
SERVING_METRICS = (("ttft_ms_mean", "TTFT", "ttft_ms_mean"),
                   ("tpot_ms_mean", "TPOT", "tpot_ms_mean"),
                   ("itl_ms_mean", "TPOT", "itl_ms_mean"),
                   ("e2e_ms_mean", "e2e", "e2e_latency_ms_mean"),
                   ("output_tokens_per_s", "throughput", "output_tokens_per_s"),
                   ("total_tokens_per_s", "throughput", "total_tokens_per_s"))

#: trtllm-bench dataset size when the row does not give it (an assumption, stated per case).
OFFLINE_REQUESTS = 1000
#: trtllm-bench dataset sizes of the TensorRT-LLM 0.17 perf-overview runs, by (isl, osl):
#: its "Preparing a Dataset" table ($num_requests), docs/source/performance/perf-overview.md
#: at v0.17.0.
TRTLLM_V017_REQUESTS = {(128, 128): 30000, (128, 2048): 3000, (128, 4096): 1500,
                        (2048, 128): 3000, (2048, 2048): 1500, (5000, 500): 1500,
                        (1000, 1000): 3000, (500, 2000): 3000, (20000, 2000): 1000}


def serving_split(key: str) -> str:
    """"calibration" if the first byte of ``sha256("moeplan-serving:<key>")`` is even, else
    "held_out"; ``key`` names the run by its content (the CSV's row_id is not stable)."""
    digest = hashlib.sha256(f"{SERVING_SALT}{key}".encode()).digest()
    return "calibration" if digest[0] % 2 == 0 else "held_out"


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def _skip_reason(r: dict) -> str:
    rule = SOURCE_RULES.get(r["source_id"], "source without a mapping rule")
    if rule is not None:
        return rule
    if "MTP" in str(r["notes"]) and "no MTP" not in str(r["notes"]):
        return "speculative decoding (MTP) is not simulated"
    if r["model"] not in MODEL_PRESETS:
        return f"no model preset for {r['model']}"
    if math.isnan(_num(r["isl"])) or math.isnan(_num(r["osl"])):
        return "prompt or output length not stated"
    return ""


def _precision(r: dict) -> dict[str, str]:
    """Precisions of a serving row: the stated weights, KV as stated or the weights' (fp4
    weights: bf16 KV); FP8 and NVFP4 checkpoints run their GEMMs at the weights' precision;
    DeepSeek-R1 NVFP4 keeps attention and dense layers in bf16 (TRT-LLM blog 1's table)."""
    w = str(r["weight_precision"])
    kv = str(r["kv_precision"]) if str(r["kv_precision"]) not in ("", "nan") else (
        "bf16" if w == "fp4" else w)
    if r["model"] == "deepseek-ai/DeepSeek-R1" and w == "fp4":
        return {"weights": "bf16", "experts": "fp4", "kv": kv, "activations": "bf16"}
    return {"weights": w, "kv": kv, "activations": w}


def _layout(r: dict) -> str:
    text = str(r["layout"]).split(" ")[0]
    return {"tp8-ep8": "tp=8,dp_attn=1,etp=1,ep=8"}.get(text, text)   # attention TP8, MoE EP8


def _lengths(r: dict) -> tuple[object, object]:
    """(isl, osl) specs of a run: the stated fixed lengths, or, for a client's random dataset
    with ``range ratio R`` < 1 in ``length_distribution``, uniform [round(R L), L] (the vLLM
    and InferenceX random dataset draws each length uniformly in [R L, L])."""
    isl, osl = int(_num(r["isl"])), int(_num(r["osl"]))
    m = re.search(r"range ratio ([0-9.]+)", str(r["length_distribution"]))
    if not m or float(m.group(1)) >= 1:
        return isl, osl
    ratio = float(m.group(1))
    return ({"distribution": "uniform", "min": round(ratio * isl), "max": isl},
            {"distribution": "uniform", "min": round(ratio * osl), "max": osl})


def _mean_tokens(spec: object) -> int:
    """A length spec's mean, whole tokens (a uniform draw: the midpoint)."""
    if isinstance(spec, dict):
        return round((spec["min"] + spec["max"]) / 2)
    return int(spec)


#: Sources whose client discards a warm-up phase before measuring (source -> why we say so).
#: Their closed loops are simulated with the first wave (C requests) left out of the
#: latencies and, when the row gives no count, 10 C measured requests after it.
WARMUP_DISCARDED = {
    "NIM_BENCH_L33_70B_2xH100": "the NIM benchmarking guide's procedure runs AIPerf after a "
                                "warm-up ('Set Up AIPerf and Warm Up'); counts not stated",
}


def _arrival(r: dict) -> tuple[dict, str, int | None, str]:
    """(arrival mapping, workload kind, concurrency, surrogate estimator) of an online row:
    ``closed_loop`` (``--max-concurrency C``, request rate inf), ``burst`` (request rate inf,
    no cap: all N at t = 0) and ``poisson`` (``--request-rate``; a stated cap is not modelled).
    A closed loop of a :data:`WARMUP_DISCARDED` source drops its first wave from latencies."""
    n = _num(r["num_requests"])
    conc = _num(r["concurrency"])
    if r["arrival"] == "closed_loop":
        c = int(conc)
        if r["source_id"] in WARMUP_DISCARDED:
            measured = int(n) if not math.isnan(n) else 10 * c
            return ({"kind": "closed_loop", "concurrency": c, "num_requests": c + measured,
                     "warmup_requests": c}, "closed_loop", c, "static_tpot")
        return ({"kind": "closed_loop", "concurrency": c,
                 "num_requests": int(n) if not math.isnan(n) else 4 * c},
                "closed_loop", c, "static_tpot")
    if r["arrival"] == "burst":
        return {"kind": "burst", "num_requests": int(n)}, "burst", int(n), "static_tpot"
    return ({"kind": "poisson", "rate": _num(r["request_rate_per_s"]), "num_requests": int(n)},
            "rate", None, "static_tpot")


def _run_of_serving(r: dict) -> tuple[dict, str, int | None, str]:
    """(run mapping, workload kind, concurrency, estimator of the closed-form surrogate)."""
    isl, osl = int(_num(r["isl"])), int(_num(r["osl"]))
    engine = {"name": r["engine"]}
    version = re.match(r"v?(\d+\.\d+(\.\d+)?)", str(r["engine_version"]))
    if version:     # "0.4.3+rocm614" -> 0.4.3; a commit hash: the profile's default version
        engine["version"] = version.group(1)
    arrival = r["arrival"]
    if arrival == "static":
        wl = {"kind": "static", "batch": int(_num(r["batch"]))}
        kind, conc, est = "static", int(_num(r["batch"])), "static_e2e"
    elif arrival == "offline":
        wl = {"kind": "static", "batch": int(_num(r["num_requests"]))}
        kind, conc, est = "offline", None, "serve_max"
    else:   # closed_loop, burst, poisson
        wl, kind, conc, est = _arrival(r)
    preset = MODEL_PRESETS[r["model"]][0]
    isl_spec, osl_spec = _lengths(r) if kind != "static" else (isl, osl)
    run = {"name": f"{r['source_id']}-{r['row_id']}", "model": preset,
           "precision": _precision(r), "layout": _layout(r), "gpus": int(_num(r["gpus"])),
           "engine": engine, "workload": {"isl": isl_spec, "osl": osl_spec, "arrival": wl}}
    return run, kind, conc, est


def _surrogate(run: dict, r: dict, est: str, quantity: str, gpu: str) -> dict:
    """A mapping.csv-like row for the closed form (the fit's surrogate)."""
    p = run["precision"]
    wl = run["workload"]
    batch = wl["arrival"].get("batch", 1) if est != "serve_max" else 1
    from analysis.simulate.cost import layout_from_text
    layout = layout_from_text(run["layout"])
    layout_text = ",".join(f"{k}={v}" for k, v in layout.as_dict().items()
                           if k not in ("gpus", "microbatches") and v not in (0, 1))
    return {"row_id": r["row_id"], "model_preset": run["model"], "gpu_preset": gpu,
            "weight_precision": p["weights"], "kv_precision": p["kv"],
            "activation_precision": p["activations"], "expert_precision": p.get("experts", ""),
            "layout": layout_text or "tp=1", "estimator": est, "batch_sequences": batch,
            "isl": _mean_tokens(wl["isl"]), "osl": _mean_tokens(wl["osl"]), "options": "",
            "memory_budget": "",
            "quantity": quantity, "context_tokens": ""}


def _serving_case_rows() -> tuple[list[dict], list[dict]]:
    """(cases, skipped rows with reasons) of serving_runs.csv."""
    d = pd.read_csv(SERVING_CSV, dtype=str, keep_default_na=False)
    cases, skipped = [], []
    for r in d.to_dict("records"):
        why = _skip_reason(r)
        if why:
            skipped.append({"dataset": "serving", "row_id": int(r["row_id"]),
                            "source": r["source_id"], "skip_reason": why})
            continue
        run, kind, conc, est = _run_of_serving(r)
        key = "|".join(str(r[c]) for c in ("source_id", "hardware", "model", "isl", "osl",
                                           "arrival", "concurrency", "batch", "num_requests",
                                           "engine_version", "output_tokens_per_s"))
        for col, metric, out_key in SERVING_METRICS:
            measured = _num(r[col])
            if math.isnan(measured) or col in METRICS_NOT_SCORED.get(r["source_id"], {}):
                continue
            quantity = "total_tokens_per_s" if col == "total_tokens_per_s" else out_key
            cases.append({
                "case_id": f"S{r['row_id']}:{col}", "dataset": "serving",
                "row_id": int(r["row_id"]), "source": r["source_id"], "engine": r["engine"],
                "gpu": r["hardware"], "model": run["model"], "layout": run["layout"],
                "isl": int(_num(r["isl"])), "osl": int(_num(r["osl"])),
                "workload_kind": kind, "concurrency": conc, "metric_kind": metric,
                "quantity": out_key, "measured": measured, "split": serving_split(key),
                "path": "closed_form" if kind == "static" else "simulate",
                "run": run, "row": _surrogate(run, r, est, quantity, r["hardware"])})
    return cases, skipped


def trtllm_bench_engine(r: dict) -> dict:
    """The engine of a trtllm-bench max-throughput row: TensorRT-LLM 0.17 with the caps
    ``trtllm-bench build --dataset`` sets (:func:`analysis.simulate.profiles.trtllm_bench_caps`
    on the preset GPU's memory) and ``--kv_cache_free_gpu_mem_fraction 0.95`` (the 0.17
    perf-overview, "Running the Benchmark": "in majority of cases")."""
    from analysis.simulate import cost as C
    from analysis.simulate.profiles import trtllm_bench_caps, trtllm_bench_max_requests
    from analysis.validation.predict import _model, preset_hardware

    hw = preset_hardware(r["gpu_preset"])
    model = _model(r["model_preset"], r["weight_precision"], r["kv_precision"],
                   r["activation_precision"])
    strategy = C.layout_from_text(r["layout"])
    mem = C.memory_budget(hw, model, strategy, C.options("derated"), 2048)
    isl, osl = int(r["isl"]), int(r["osl"])
    fit = trtllm_bench_max_requests(mem.capacity_bytes, mem.weights_bytes,
                                    mem.kv_bytes_per_token, isl, osl)
    bs, tokens = trtllm_bench_caps(fit, isl, osl, strategy.pp)
    return {"name": "trtllm", "version": "0.17", "kv_memory_fraction": 0.95,
            "max_running_requests": bs, "max_tokens_per_iteration": tokens}


def _old_case(r: dict) -> dict:
    est = r["estimator"]
    simulated = est in ("serve_max", "batch1_decode")
    run = None
    if simulated:
        n = TRTLLM_V017_REQUESTS.get((int(r["isl"]), int(r["osl"])), OFFLINE_REQUESTS)
        wl = ({"kind": "static", "batch": n} if est == "serve_max"
              else {"kind": "static", "batch": 1})
        engine = trtllm_bench_engine(r) if est == "serve_max" else {"name": "generic"}
        run = {"name": f"mapping-{r['row_id']}", "model": r["model_preset"],
               "precision": {"weights": r["weight_precision"], "kv": r["kv_precision"],
                             "activations": r["activation_precision"]},
               "layout": r["layout"], "engine": engine,
               "workload": {"isl": int(r["isl"]), "osl": int(r["osl"]), "arrival": wl}}
    kind = {"serve_max": "offline"}.get(est, "static")
    conc = None if est == "serve_max" else int(r["batch_sequences"] or 1)
    return {"case_id": f"M{r['row_id']}", "dataset": "mapping", "row_id": int(r["row_id"]),
            "source": r["source_id"], "engine": OLD_SOURCE_ENGINE.get(r["source_id"], "generic"),
            "gpu": r["gpu_preset"], "model": r["model_preset"], "layout": r["layout"],
            "isl": int(r["isl"]), "osl": int(r["osl"]), "workload_kind": kind,
            "concurrency": conc, "metric_kind": r["metric_kind"],
            "quantity": {"serve_max": "output_tokens_per_s",
                         "batch1_decode": "tokens_per_s_per_user"}.get(est, r["quantity"]),
            "measured": float(r["measured"]), "split": r["split"],
            "path": "simulate" if simulated else "closed_form", "run": run,
            "row": dict(r, running_cap=run["engine"]["max_running_requests"])
            if est == "serve_max" else dict(r)}


@lru_cache(maxsize=1)
def _all_cases() -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    serving, skipped = _serving_case_rows()
    old = [_old_case(r) for r in mapped_rows().to_dict("records")]
    return tuple(old + serving), tuple(skipped)


def all_cases() -> list[dict]:
    """Every case of both data sets (dicts; ``run`` and ``row`` are shared, do not mutate)."""
    return list(_all_cases()[0])


def skipped_serving_rows() -> pd.DataFrame:
    """serving_runs.csv rows not predicted, each with its reason."""
    return pd.DataFrame(list(_all_cases()[1]))
