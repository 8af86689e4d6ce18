"""Efficiencies with a physical meaning and bounds, fitted per GPU on the calibration split.

What is fitted (each a fraction of the GPU's own stated peak, or a time), and its bounds:

==========================  ==============================================  =================
parameter                   physical meaning                                bounds
==========================  ==============================================  =================
memory_max                  HBM bandwidth reached by large streaming reads  [0.60, 0.95]
memory_half_bytes           bytes per op per layer at half of memory_max    [0, 20 MB]
compute_max                 tensor-core FLOP/s reached by large GEMMs       [0.30, 0.90]
compute_half_tokens         GEMM rows (tokens; tokens per expert in a       [0, 256]
                            grouped GEMM) at half of compute_max (small-M)
scaleup_max                 NVLink / Infinity Fabric bandwidth reached      [0.50, 0.90]
op_overhead_s               launch and tail of one kernel, per op per layer [0, 8 us]
iteration overhead (per     host work per engine iteration: scheduling,     [0, 4 ms]
engine family and GPU)      sampling, input preparation, launches
==========================  ==============================================  =================

Objective: the mean ``|log(pred / meas)|`` over the GPU's calibration-split cases, each metric
kind weighted equally. Predictions in the fit come from the closed form (a fast surrogate of
the simulator: the steady state at the memory-bound concurrency for offline runs, one static
batch otherwise); the reported accuracy always comes from the simulator. A deterministic
coordinate search over the fixed grids below (every grid inside its bounds), no randomness.

A GPU without cases of its own borrows a fitted GPU's fractions (:data:`TRANSFERRED`): the
efficiencies are fractions of each GPU's own peaks, so the borrowed curve scales with the ratio
of peaks and nothing else; every output that uses one says "transferred".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis.inputs.errors import InputError
from analysis.inputs.read.mapping import PRESETS_DIR
from analysis.inputs.types import Calibration
from analysis.validation.data import HERE
from analysis.validation.predict import (
    closed_form,
    preset_hardware,
    sequence_overhead_s,
    stated_overhead_s,
)

OVERHEADS_YAML = HERE / "fitted_overheads.yaml"

#: Bounds of every fitted parameter (inclusive), SI units; a test checks every fitted value.
BOUNDS: dict[str, tuple[float, float]] = {
    "memory_max": (0.60, 0.95), "memory_half_bytes": (0.0, 2e7),
    "compute_max": (0.30, 0.90), "compute_half_tokens": (0.0, 256.0),
    "scaleup_max": (0.50, 0.90), "op_overhead_s": (0.0, 8e-6),
    "iteration_overhead_s": (0.0, 4e-3),
}
GRIDS: dict[str, tuple[float, ...]] = {
    "memory_max": tuple(np.round(np.arange(0.60, 0.9501, 0.025), 3)),
    "memory_half_bytes": (0.0, 2e5, 5e5, 1e6, 2e6, 5e6),
    "compute_max": tuple(np.round(np.arange(0.30, 0.9001, 0.05), 2)),
    "compute_half_tokens": (0.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0),
    "scaleup_max": (0.5, 0.6, 0.7, 0.8, 0.9),
    "op_overhead_s": (0.0, 1e-6, 2e-6, 3e-6, 4e-6, 6e-6, 8e-6),
    "iteration_overhead_s": (0.0, 1e-4, 2e-4, 4e-4, 7e-4, 1e-3, 1.5e-3, 2e-3, 3e-3, 4e-3),
}
CURVE_PARAMS = ("memory_max", "compute_max", "op_overhead_s", "memory_half_bytes",
                "compute_half_tokens", "scaleup_max")
FIT_SWEEPS = 2
#: GPUs fitted on their own cases.
FITTED_GPUS = ("A100-80GB", "H100-SXM", "H200", "MI300X")
#: GPUs without enough cases, the fitted GPU they borrow from, and why that one.
TRANSFERRED = {
    "H800": ("H100-SXM", ("the H800 is the H100 SXM's GH100 die and HBM3 with NVLink cut to "
                         "400 GB/s; 2 partially specified rows are too few to fit")),
    "B200": ("H200", ("the nearest fitted NVIDIA GPU (HBM3e, NVLink, the same engines); "
                     "efficiencies kept as fractions of the B200's own peaks")),
    "GB200": ("H200", ("the nearest fitted NVIDIA GPU; efficiencies kept as fractions of the "
                      "GB200's own peaks")),
    "MI325X": ("MI300X", "the MI300X's CDNA3 die with more, faster HBM3e"),
}


def transfer_note(gpu: str, donor: Calibration) -> str:
    name, why = TRANSFERRED[gpu]
    return f"transferred from {name} ({why}); {name}: {donor.source}"


def _objective(gpu: str, cases: list[dict], params: Mapping[str, float],
               overheads: Mapping[str, float]) -> float:
    from dataclasses import replace
    cal = Calibration(**{k: params[k] for k in CURVE_PARAMS}, source="trial")
    hw = replace(preset_hardware(gpu), calibration=cal)
    kinds: dict[str, list[float]] = {}
    for c in cases:
        pred = closed_form(c["row"], "calibrated", hw, overheads[c["engine"]],
                           sequence_overhead_s(c["engine"], "calibrated"))
        err = abs(math.log(pred / c["measured"])) if pred > 0 else 10.0
        kinds.setdefault(c["metric_kind"], []).append(err)
    return float(np.mean([np.mean(v) for v in kinds.values()]))


def fit_gpu(gpu: str, cases: list[dict], sweeps: int = FIT_SWEEPS,
            grids: Mapping[str, tuple[float, ...]] | None = None
            ) -> tuple[Calibration, dict[str, float]]:
    """Fit ``gpu``'s curves and its engines' per-iteration overheads on the calibration-split
    cases of ``cases`` (others are ignored); ``grids`` replace some of :data:`GRIDS`."""
    grids = dict(GRIDS, **(grids or {}))
    recs = sorted((c for c in cases if c["gpu"] == gpu and c["split"] == "calibration"),
                  key=lambda c: c["case_id"])
    if not recs:
        raise InputError("gpu", gpu, "no calibration cases to fit on", ", ".join(FITTED_GPUS))
    hw = preset_hardware(gpu)
    params = {"memory_max": min(max(hw.bandwidth_utilization, 0.6), 0.95),
              "compute_max": min(max(hw.mfu, 0.3), 0.9), "op_overhead_s": 0.0,
              "memory_half_bytes": 0.0, "compute_half_tokens": 0.0,
              "scaleup_max": min(max(hw.scaleup_efficiency, 0.5), 0.9)}
    engines = sorted({c["engine"] for c in recs})
    over = {e: stated_overhead_s(e, gpu) for e in engines}
    best = _objective(gpu, recs, params, over)
    for _ in range(sweeps):
        for name in CURVE_PARAMS + tuple(f"iter:{e}" for e in engines):
            grid = grids["iteration_overhead_s" if name.startswith("iter:") else name]
            for value in grid:
                p, o = dict(params), dict(over)
                if name.startswith("iter:"):
                    o[name[5:]] = float(value)
                else:
                    p[name] = float(value)
                obj = _objective(gpu, recs, p, o)
                if obj < best - 1e-12:
                    best, params, over = obj, p, o
    srcs = sorted({c["source"] for c in recs})
    source = (f"fitted on {len(recs)} calibration-split cases for {gpu} (sources "
              f"{', '.join(srcs)}); bounded coordinate search, {sweeps} sweeps, mean "
              f"|log(pred/meas)| per metric kind {best:.4f}, closed-form surrogate; scale-out "
              f"not fitted")
    cal = Calibration(**params, scaleout_max=hw.scaleout_efficiency, source=source)
    return cal, over


def fit_all(cases: list[dict] | None = None) -> tuple[dict[str, Calibration],
                                                     dict[str, dict[str, float]]]:
    """Curves per GPU and overheads per GPU and engine, fitted on ``cases`` (default: all);
    a GPU in :data:`FITTED_GPUS` without calibration cases in ``cases`` gets none."""
    from analysis.validation.cases import all_cases
    cases = all_cases() if cases is None else cases
    cals: dict[str, Calibration] = {}
    overs: dict[str, dict[str, float]] = {}
    for gpu in FITTED_GPUS:
        if any(c["gpu"] == gpu and c["split"] == "calibration" for c in cases):
            cals[gpu], overs[gpu] = fit_gpu(gpu, cases)
    return cals, overs


def load_overheads(path: Path = OVERHEADS_YAML) -> dict[str, dict[str, float]]:
    """The stored fitted overheads: GPU -> engine family -> seconds per iteration."""
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {g: {e: float(v) for e, v in d.items()} for g, d in data.get("overheads", {}).items()}


def overhead_for(gpu: str, engine: str, mode: str, overheads: Mapping[str, Mapping[str, float]]
                 ) -> float:
    """Per-iteration overhead of ``engine`` on ``gpu`` in ``mode``: 0 at speed of light, the
    profile's stated value in derated mode, the fitted value in calibrated mode (the donor
    GPU's for a transferred GPU; the stated value when nothing was fitted)."""
    if mode == "sol":
        return 0.0
    if mode == "calibrated":
        for g in (gpu, TRANSFERRED.get(gpu, ("",))[0]):
            if engine in overheads.get(g, {}):
                return float(overheads[g][engine])
    return stated_overhead_s(engine, gpu)


def check_bounds(cal: Calibration, overheads: Mapping[str, float]) -> list[str]:
    """Every fitted value outside :data:`BOUNDS` (an empty list when all are inside)."""
    bad = [f"{k} = {getattr(cal, k)}" for k in CURVE_PARAMS
           if not BOUNDS[k][0] - 1e-12 <= getattr(cal, k) <= BOUNDS[k][1] + 1e-12]
    lo, hi = BOUNDS["iteration_overhead_s"]
    return bad + [f"iteration_overhead_s[{e}] = {v}" for e, v in overheads.items()
                  if not lo <= v <= hi]

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
    cals = fit_all()[0] if cals is None else cals
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




def write_overheads(overheads: Mapping[str, Mapping[str, float]], path: Path = OVERHEADS_YAML
                    ) -> Path:
    """Store the fitted per-iteration overheads (GPU -> engine -> seconds)."""
    lines = ["# Per-iteration engine overheads: fixed host work per iteration (scheduling,",
             "# sampling, input preparation, launches), seconds, per GPU and engine, bounded",
             (f"# to {BOUNDS['iteration_overhead_s']}. Fitted with the GPU curves (analysis/"
              "validation/fit.py,"),
             "# `python -m analysis validate --refit`), then refitted through the simulator",
             "# beside the host work per sequence (analysis/validation/host_fit.py, step 4).",
             "# gpt-fast = the generic profile.",
             "overheads:"]
    for gpu in sorted(overheads):
        lines.append(f"  {gpu}:")
        lines += [f"    {e}: {v:.6g}" for e, v in sorted(overheads[gpu].items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def refit() -> list[Path]:
    """Fit every GPU on every source's calibration split; write the curves into the GPU
    presets and the overheads into :data:`OVERHEADS_YAML`."""
    cals, overs = fit_all()
    paths = write_calibrations(cals)
    return paths + [write_overheads(overs)]


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
            "op_overhead_us": c.op_overhead_s * 1e6 if c else None,
            "provenance": (c.source.split(" (sources")[0] if c else
                           (f"transferred from {TRANSFERRED[gpu][0]}" if gpu in TRANSFERRED
                            else "no measurements: the preset's stated efficiencies")),
        })
    return pd.DataFrame(rows)
