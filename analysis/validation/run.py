"""Predictions against published measurements, and the calibrated efficiency curves.

The validation set is data, next to this module:

* ``measurements.csv``: the columns we need of the reference measurements (one metric per row,
  each with its ``source_id`` and ``source_url``), copied so the package does not depend on
  anything outside the repository;
* ``mapping.csv``: one row per measurement. A *mapped* row names the model and GPU presets, the
  precisions, the layout, the estimator that reproduces how the benchmark measured, the lengths,
  the quantity (in the measured unit), the split, and every default used for a detail the source
  leaves out. A *skipped* row says why it cannot be mapped defensibly.

Estimators (reference/README.md, "How serving benchmarks measure"):

``static``          B sequences start and finish together (gptSessionBenchmark): output
                    tokens/s per GPU = ``B * O / (TTFT + (O - 1) * TPOT) / GPUs``;
``batch1_ttft``     prefill of one prompt, in ms;
``batch1_decode``   one sequence decoding: tokens/s per user = ``1 / TPOT`` (mid-generation);
``serve_max``       continuous batching with as many requests in flight as memory holds
                    (:func:`analysis.serving.serve` with ``concurrency=None``): output tokens/s
                    of the whole deployment;
``prefill_node``    a static prefill batch: input tokens/s per GPU x 8 GPUs per node;
``decode_node``     one decode step of the whole batch at a fixed context: output tokens/s per
                    GPU x 8.

Split (declared once, never tuned): a row is ``calibration`` when the first byte of
``sha256("moeplan-validation:<row_id>")`` is even, else ``held_out``. Curves are fitted on
calibration rows only; the summary reports both splits.

Error of a row: ``pred / meas - 1`` in the measured unit (tokens/s per user for gpt-fast rows,
whose kind is TPOT). Accuracy is the median and 90th percentile of ``|error|``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.estimate import model as E
from analysis.inputs.errors import InputError
from analysis.inputs.read.mapping import PRESETS_DIR, hardware_from_ref
from analysis.inputs.read.scenario import load_model
from analysis.inputs.types import Calibration, Hardware, Scenario, Strategy, Workload

HERE = Path(__file__).resolve().parent
MEASUREMENTS_CSV = HERE / "measurements.csv"
MAPPING_CSV = HERE / "mapping.csv"
SPLIT_SALT = "moeplan-validation:"
MODES = ("calibrated", "derated", "sol")
METRIC_KINDS = ("TTFT", "TPOT", "throughput")
GPUS_PER_NODE_REPORTED = 8      # "per 8-GPU node" in every per-node row

#: GPUs whose curves are fitted on their own calibration rows.
FITTED_GPUS = ("A100-80GB", "H100-SXM", "H200")
#: GPUs without enough rows of their own, and the fitted GPU whose curves they borrow (with why).
TRANSFERRED = {"H800": ("H100-SXM", ("the H800 is the H100 SXM's GH100 die and HBM3 with NVLink "
                                     "cut to 400 GB/s both ways; only 2 partially specified "
                                     "rows exist for it, too few to fit seven parameters"))}


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def split_of(row_id: int) -> str:
    """The declared split of a row: "calibration" if the first byte of
    ``sha256("moeplan-validation:<row_id>")`` is even, else "held_out"."""
    digest = hashlib.sha256(f"{SPLIT_SALT}{int(row_id)}".encode()).digest()
    return "calibration" if digest[0] % 2 == 0 else "held_out"


@lru_cache(maxsize=1)
def _measurements() -> pd.DataFrame:
    return pd.read_csv(MEASUREMENTS_CSV, dtype=str, keep_default_na=False)


def load_measurements() -> pd.DataFrame:
    """The copied reference measurements (every column as text; ``value`` may be a range)."""
    return _measurements().copy()


def load_mapping() -> pd.DataFrame:
    """The mapping, one row per measurement (mapped or skipped), joined with what was measured
    (``measured`` as a float for mapped rows, ``unit``, ``model``, ``gpu``, ``source_url``)."""
    m = pd.read_csv(MAPPING_CSV, keep_default_na=False,
                    dtype={"row_id": int, "source_id": str})
    meas = _measurements()[["row_id", "model", "gpu", "metric", "value", "unit", "spec_level",
                            "source_url"]].copy()
    meas["row_id"] = meas["row_id"].astype(int)
    out = m.merge(meas, on="row_id", how="left", validate="one_to_one")
    out["measured"] = [float(v) if s == "mapped" else math.nan
                       for v, s in zip(out["value"], out["status"], strict=True)]
    return out


def skipped_rows() -> pd.DataFrame:
    """Why rows were skipped: one line per reason with the row ids it covers."""
    m = load_mapping()
    s = m[m["status"] == "skipped"]
    return (s.groupby("skip_reason", sort=False)["row_id"]
            .agg(lambda ids: ", ".join(str(i) for i in ids)).rename("row_ids").reset_index())


def mapped_rows() -> pd.DataFrame:
    """The mapped rows only."""
    m = load_mapping()
    return m[m["status"] == "mapped"].reset_index(drop=True)


def _options(text: str, mode: str) -> E.Options:
    """``"imbalance=balanced;overlap=1;dispatch_bytes=1;combine_bytes=2"`` -> Options."""
    kw: dict[str, Any] = {"mode": mode}
    names = {"imbalance": ("imbalance", str), "overlap": ("overlap_fraction", float),
             "dispatch_bytes": ("dispatch_bytes_per_element", float),
             "combine_bytes": ("combine_bytes_per_element", float)}
    for part in filter(None, (text or "").split(";")):
        key, _, value = part.partition("=")
        if key not in names:
            raise InputError("mapping.options", key, "unknown option", ", ".join(names))
        field, cast = names[key]
        kw[field] = cast(value)
    return E.Options(**kw)


# --------------------------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------------------------

@cache
def _model(preset: str, weight: str, kv: str, act: str):
    model, _, _ = load_model(preset)
    return replace(model, weight_precision=weight, expert_weight_precision="", kv_precision=kv,
                   activation_precision=act)


@cache
def preset_hardware(gpu: str) -> Hardware:
    """The GPU preset as shipped (with its ``calibration:`` block, if any)."""
    return hardware_from_ref(gpu)[0]


def _scenario(row: Mapping[str, Any], hw: Hardware) -> Scenario:
    model = _model(row["model_preset"], row["weight_precision"], row["kv_precision"],
                   row["activation_precision"])
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


def mode_used(hw: Hardware, mode: str) -> str:
    """What actually produced a prediction: calibrated mode on a GPU without curves is the
    derated estimate, and says so."""
    if mode == "calibrated" and hw.calibration is None:
        return "derated (no calibration)"
    return mode


def predict(row: Mapping[str, Any], mode: str = "calibrated", hardware: Hardware | None = None
            ) -> float:
    """The prediction for one mapped row, in the row's measured unit.

    ``hardware`` replaces the GPU preset (the fit passes trial curves this way).
    """
    if mode not in MODES:
        raise InputError("mode", mode, "unknown mode", ", ".join(MODES))
    hw = hardware or preset_hardware(row["gpu_preset"])
    sc = _scenario(row, hw)
    opts = _options(row["options"], mode)
    strategy = Strategy.parse(row["layout"])
    est = row["estimator"]
    lay = E.Layouts.from_strategies([strategy])
    isl = int(row["isl"])
    if est == "serve_max":
        from analysis.estimate.serving import serve
        return serve(sc, strategy, isl, int(row["osl"]), None, None, opts).output_tokens_per_s
    if est == "decode_node":
        tpot, _ = E.decode(hw, sc.model, sc.workload, lay, opts, float(row["context_tokens"]))
        per_gpu = sc.workload.batch_sequences / float(tpot[0]) / strategy.gpus
        return per_gpu * GPUS_PER_NODE_REPORTED
    if est == "prefill_node":
        ttft, _ = E.prefill(hw, sc.model, sc.workload, lay, opts, isl)
        per_gpu = sc.workload.batch_sequences * isl / float(ttft[0]) / strategy.gpus
        return per_gpu * GPUS_PER_NODE_REPORTED
    if est == "batch1_ttft":
        ttft, _ = E.prefill(hw, sc.model, sc.workload, lay, opts, isl)
        return float(ttft[0]) * 1e3
    if est in ("static", "batch1_decode"):
        r = E.evaluate_layouts(sc, lay, opts, isl)
        key = "output_tokens_per_s_per_gpu" if est == "static" else "tokens_per_s_per_user"
        return float(r[key][0])
    raise InputError("mapping.estimator", est, "unknown estimator",
                     "static, batch1_ttft, batch1_decode, serve_max, prefill_node, decode_node")


def validation_table(mode: str = "calibrated", calibrations: Mapping[str, Calibration] | None
                     = None) -> pd.DataFrame:
    """Every mapped row predicted in ``mode``: row_id, source, model, gpu, metric kind, phase,
    measured, predicted, error (pred/meas - 1), split, mode (asked) and mode_used (what produced
    it). ``calibrations`` (GPU preset -> Calibration) replace the presets' curves."""
    rows = []
    for r in mapped_rows().to_dict("records"):
        hw = preset_hardware(r["gpu_preset"])
        if calibrations is not None:
            hw = replace(hw, calibration=calibrations.get(r["gpu_preset"]))
        pred = predict(r, mode, hw)
        rows.append({"row_id": r["row_id"], "source": r["source_id"], "model": r["model_preset"],
                     "gpu": r["gpu_preset"], "layout": r["layout"], "isl": r["isl"],
                     "osl": r["osl"], "metric_kind": r["metric_kind"], "phase": r["phase"],
                     "quantity": r["quantity"], "unit": r["unit"], "measured": r["measured"],
                     "predicted": pred, "error": pred / r["measured"] - 1, "split": r["split"],
                     "spec_level": r["spec_level"], "mode": mode,
                     "mode_used": mode_used(hw, mode)})
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th-percentile ``|error|`` by mode, split and metric kind, with row counts."""
    d = df.assign(abs_error=df["error"].abs())
    g = d.groupby(["mode", "split", "metric_kind"], sort=False)["abs_error"]
    out = pd.DataFrame({"rows": g.size(), "median_abs_error": g.median(),
                        "p90_abs_error": g.quantile(0.9)}).reset_index()
    order = {k: i for i, k in enumerate(METRIC_KINDS)}
    return out.sort_values(["mode", "split", "metric_kind"], key=lambda s: s.map(
        lambda v: order.get(v, v) if s.name == "metric_kind" else v)).reset_index(drop=True)


def error_by(df: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Median and p90 ``|error|`` and the median signed error, grouped by ``by``."""
    d = df.assign(abs_error=df["error"].abs())
    g = d.groupby(by)
    return pd.DataFrame({"rows": g.size(), "median_error": g["error"].median(),
                         "median_abs_error": g["abs_error"].median(),
                         "p90_abs_error": g["abs_error"].quantile(0.9)}).reset_index()


# --------------------------------------------------------------------------------------------
# Why the worst rows miss
# --------------------------------------------------------------------------------------------

def explain(row: Mapping[str, Any]) -> str:
    """A short reason for a large error, from what we know of the row's setup (the estimator's
    known blind spots, named by the row's source, lengths and layout)."""
    src, err = row["source"], row["error"]
    over = err > 0
    tp = int(re.search(r"tp=(\d+)", row["layout"]).group(1)) if "tp=" in row["layout"] else 1
    if src == "TRT_PERF_v0.17":
        if over:
            return ("over-predicted max throughput: the scheduler's real batch is capped "
                    "(max_batch_size / max_num_tokens, paged-KV block waste) below what memory "
                    "holds, which we assume it reaches" + (" ; long prompts (chunked prefill "
                    "stalls) make it worse" if int(row["isl"]) >= 5000 else ""))
        if tp == 1 or int(row["isl"]) + int(row["osl"]) >= 4000:
            return ("under-predicted: memory-tight layout (weights leave little KV room), so "
                    "the batch is set by our KV budget: prompt + output tokens reserved per "
                    "request and our activation estimate make it smaller than the engine's")
        return "under-predicted max throughput: the engine's large-batch GEMMs beat our curves"
    if src == "GPT_FAST":
        return ("batch-1 decode on a power-capped A100 (330 W): at high TP the per-GPU weight "
                "slice is small and fixed per-step costs (kernel launches, all-reduce latency) "
                "dominate; torch.compile fuses ops, so a per-op overhead is only approximate")
    if src == "TRT_PERF_v0.9":
        if row["metric_kind"] == "TTFT":
            return ("batch-1 prefill: short prompts are launch- and all-reduce-latency bound; "
                    "one curve per GPU cannot fit both 128- and 2048-token prompts")
        return ("static batch: TTFT of the whole batch and decode at the mid-point context; the "
                "engine's (non-paged) KV and batch limits are not modelled")
    if src in ("SGL_EP_H100", "DS_PROFILE_via_SGL"):
        return ("DeepSeek-V3 with DP attention + EP: DeepEP/DeepGEMM kernels, two-batch overlap "
                "(read as all communication hidden) and EPLB are approximated, not modelled")
    return ""


def worst_rows(df: pd.DataFrame, n: int = 10, split: str | None = "held_out") -> pd.DataFrame:
    """The ``n`` rows with the largest ``|error|`` (on ``split``), each with an explanation."""
    d = df if split is None else df[df["split"] == split]
    d = d.assign(abs_error=d["error"].abs()).sort_values("abs_error", ascending=False).head(n)
    d = d.assign(why=[explain(r) for r in d.to_dict("records")])
    return d[["row_id", "source", "model", "gpu", "layout", "isl", "osl", "metric_kind",
              "measured", "predicted", "error", "why"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------

#: Grids of the coordinate search, one per Calibration parameter (SI units).
GRIDS: dict[str, tuple[float, ...]] = {
    "compute_max": tuple(np.round(np.arange(0.20, 1.0001, 0.025), 3)),
    "compute_half_tokens": (0, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    "memory_max": tuple(np.round(np.arange(0.30, 1.0001, 0.0125), 4)),
    "memory_half_bytes": (0, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7),
    "scaleup_max": tuple(np.round(np.arange(0.20, 1.0001, 0.05), 2)),
    "scaleup_half_bytes": (0, 1e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7),
    "op_overhead_s": (0, 0.5e-6, 1e-6, 2e-6, 3e-6, 4e-6, 5e-6, 6e-6, 8e-6, 10e-6, 12e-6, 15e-6,
                      20e-6),
}
FIT_ORDER = ("memory_max", "compute_max", "op_overhead_s", "memory_half_bytes",
             "compute_half_tokens", "scaleup_max", "scaleup_half_bytes")
FIT_SWEEPS = 3


def _start(hw: Hardware) -> dict[str, float]:
    """The search starts from the card's constants (no size dependence, no fixed cost)."""
    return {"compute_max": hw.mfu, "compute_half_tokens": 0.0,
            "memory_max": hw.bandwidth_utilization, "memory_half_bytes": 0.0,
            "scaleup_max": hw.scaleup_efficiency, "scaleup_half_bytes": 0.0,
            "op_overhead_s": 0.0}


def _objective(hw: Hardware, rows: list[dict], params: dict[str, float]) -> float:
    """Mean ``|log(pred / meas)|`` with each metric kind weighted equally (so the 6 TTFT rows
    count as much as the 100 throughput rows)."""
    cal = Calibration(**params, scaleout_max=hw.scaleout_efficiency, source="trial")
    trial = replace(hw, calibration=cal)
    kinds = {}
    for r in rows:
        err = abs(math.log(predict(r, "calibrated", trial) / r["measured"]))
        kinds.setdefault(r["metric_kind"], []).append(err)
    return float(np.mean([np.mean(v) for v in kinds.values()]))


def fit_calibration(gpu: str, rows: pd.DataFrame | list[dict], sweeps: int = FIT_SWEEPS,
                    grids: Mapping[str, tuple[float, ...]] | None = None) -> Calibration:
    """Fit ``gpu``'s curves on ``rows`` (mapped rows; only its calibration-split rows are used,
    whatever else is passed): a deterministic coordinate search over :data:`GRIDS`, ``sweeps``
    passes in :data:`FIT_ORDER`, each parameter set to the grid value that minimises
    :func:`_objective` (ties keep the earlier value). No randomness, no scipy."""
    recs = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    recs = [r for r in recs if r["gpu_preset"] == gpu and r["split"] == "calibration"]
    if not recs:
        raise InputError("gpu", gpu, "no calibration rows to fit on",
                         ", ".join(FITTED_GPUS))
    recs.sort(key=lambda r: r["row_id"])
    hw = replace(preset_hardware(gpu), calibration=None)
    grids = dict(GRIDS, **(grids or {}))
    params = _start(hw)
    best = _objective(hw, recs, params)
    for _ in range(sweeps):
        changed = False
        for name in FIT_ORDER:
            for value in grids[name]:
                trial = dict(params, **{name: float(value)})
                obj = _objective(hw, recs, trial)
                if obj < best - 1e-12:
                    best, params, changed = obj, trial, True
        if not changed:
            break
    ids = [r["row_id"] for r in recs]
    source = (f"fitted on the {len(ids)} calibration-split rows of analysis/validation/"
              f"mapping.csv for {gpu} (row_id {_ranges(ids)}); coordinate search over fixed "
              f"grids, {sweeps} sweeps, minimising the mean |log(pred/meas)| with each metric "
              f"kind weighted equally (objective {best:.4f}); scale-out curve not fitted "
              f"(kept at the stated efficiency)")
    return Calibration(**params, scaleout_max=hw.scaleout_efficiency, source=source)


def _ranges(ids: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    ids = sorted(ids)
    out, start, prev = [], ids[0], ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(f"{start}-{prev}" if prev > start else f"{start}")
        if i is not None:
            start = prev = i
    return ", ".join(out)


def fit_all(sweeps: int = FIT_SWEEPS) -> dict[str, Calibration]:
    """Fitted curves of every GPU in :data:`FITTED_GPUS`, and the transferred ones."""
    rows = mapped_rows()
    cals = {gpu: fit_calibration(gpu, rows, sweeps) for gpu in FITTED_GPUS}
    for gpu, (donor, why) in TRANSFERRED.items():
        c = cals[donor]
        cals[gpu] = replace(c, source=f"transferred from {donor} ({why}); {donor}: {c.source}")
    return cals


def calibration_table(gpus: tuple[str, ...] = FITTED_GPUS + tuple(TRANSFERRED)
                      + ("seed-card",)) -> pd.DataFrame:
    """The curves each GPU preset carries (one row per GPU), beside its stated constants;
    a GPU without curves shows its stated MFU and utilisation and ``calibrated = False``."""
    rows = []
    for gpu in gpus:
        hw = preset_hardware(gpu)
        c = hw.calibration
        rows.append({
            "gpu": gpu, "calibrated": c is not None,
            "stated_mfu": hw.mfu, "stated_hbm_util": hw.bandwidth_utilization,
            "compute_max": c.compute_max if c else None,
            "compute_half_tokens": c.compute_half_tokens if c else None,
            "memory_max": c.memory_max if c else None,
            "memory_half_MB": c.memory_half_bytes / 1e6 if c else None,
            "nvlink_max": c.scaleup_max if c else None,
            "nvlink_half_kB": c.scaleup_half_bytes / 1e3 if c else None,
            "op_overhead_us": c.op_overhead_s * 1e6 if c else None,
            "provenance": (c.source.split(" (row_id")[0] if c else
                           "no measurements: the preset's stated efficiencies"),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Writing the curves into the presets
# --------------------------------------------------------------------------------------------

_FIELD_COMMENTS = {
    "compute_max": "MFU reached by large GEMMs",
    "compute_half_tokens": "GEMM rows (tokens) at which MFU is half of compute_max",
    "memory_max": "HBM utilisation reached by large transfers",
    "memory_half_bytes": "bytes per op per layer at which utilisation is half of memory_max",
    "scaleup_max": "NVLink efficiency reached by large messages",
    "scaleup_half_bytes": "message bytes at which NVLink efficiency is half of scaleup_max",
    "scaleout_max": "scale-out efficiency (not fitted: the stated value)",
    "scaleout_half_bytes": "not fitted",
    "op_overhead_s": "fixed cost per op per layer (launches, small kernels), seconds",
}


def calibration_yaml(cal: Calibration, fitted_when: str) -> str:
    """The ``calibration:`` block of a GPU preset (a YAML fragment ending in a newline)."""
    lines = ["# Size-dependent efficiencies for `--mode calibrated` (analysis/validation; refit",
             "# with `python -m analysis validate --refit`). The constants above stay the",
             "# derated mode's; nothing here changes them.",
             "calibration:"]
    for name, comment in _FIELD_COMMENTS.items():
        v = getattr(cal, name)
        lines.append(f"  {name}: {v:.6g}".ljust(34) + f"# {comment}")
    text = f"{cal.source}. Fitted {fitted_when}."
    lines.append("  source: >-")
    words, line = text.split(), "   "
    for w in words:
        if len(line) + len(w) + 1 > 96:
            lines.append(line)
            line = "   "
        line += " " + w
    lines.append(line)
    return "\n".join(lines) + "\n"


def write_calibrations(cals: Mapping[str, Calibration] | None = None,
                       fitted_when: str = "with the package's current estimator") -> list[Path]:
    """Write ``cals`` (default: :func:`fit_all`) into the GPU preset YAMLs as a trailing
    ``calibration:`` block, replacing any earlier one. Other keys are left byte-for-byte."""
    cals = fit_all() if cals is None else cals
    written = []
    for gpu, cal in cals.items():
        path = PRESETS_DIR / "gpus" / f"{gpu}.yaml"
        text = path.read_text(encoding="utf-8")
        marker = "# Size-dependent efficiencies for `--mode calibrated`"
        if marker in text:
            text = text[:text.index(marker)].rstrip("\n") + "\n"
        path.write_text(text + "\n" + calibration_yaml(cal, fitted_when), encoding="utf-8")
        written.append(path)
    preset_hardware.cache_clear()
    return written


# --------------------------------------------------------------------------------------------
# Command line: python -m analysis validate
# --------------------------------------------------------------------------------------------

def summary_markdown(df: pd.DataFrame) -> str:
    """The summary as a markdown table (median and p90 |error| per metric kind and split)."""
    s = summary(df)
    lines = ["| mode | split | metric | rows | median abs error | p90 abs error |",
             "|---|---|---|---:|---:|---:|"]
    for r in s.to_dict("records"):
        lines.append(f"| {r['mode']} | {r['split']} | {r['metric_kind']} | {r['rows']} | "
                     f"{r['median_abs_error']:.1%} | {r['p90_abs_error']:.1%} |")
    return "\n".join(lines)
