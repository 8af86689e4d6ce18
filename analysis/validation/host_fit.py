"""Host work per sequence, and the GEMM peaks it was hiding, fitted through the simulator.

Every engine does some host work per running request in every iteration (building its input
metadata, sampling, appending the token, stop checks, detokenising, streaming): ``t_seq`` in
:func:`analysis.simulate.host.iteration_host_s`. Without it the model has no cost that grows
with the batch but not with the GPU's work, and the bounded fit of :mod:`.fit` made up for it by
lowering the GEMM peak: TensorRT-LLM 0.17's max-throughput runs were predicted 15-25% too slow
at TP 1-2 (small, KV-limited batches) and 3-25% too fast at TP 8 (batches of 1,000-4,000
sequences), and H100's ``compute_max`` sat on its lower bound (0.30), which made H100 prefill
(and so TTFT) 1.5x too slow.

This module fits ``t_seq`` per engine family together with the GEMM peak of the GPUs whose
rows carry it (H100, H200), on the calibration split only, through the same predictions
``validate`` reports (the simulator for benchmark runs, the closed form for a static batch),
by a deterministic grid scan, in four steps:

1. H100 ``compute_max`` x TensorRT-LLM ``t_seq`` (the engine of most calibration rows);
2. SGLang's and vLLM's ``t_seq`` (rows of their own: independent of each other);
3. H200 ``compute_max``;
4. the fixed host time per iteration ``t_o`` of every (GPU, engine) pair the surrogate fit
   stored (``fitted_overheads.yaml``): with ``t_seq`` in the model, a batch's host time no
   longer has to hide in ``t_o``.

Objective: the mean ``|log(pred / meas)|`` over calibration-split cases, each metric kind
weighted equally (as :mod:`.fit`). ``python -m analysis.validation.host_fit`` reruns it (about
10 minutes) and prints every grid point; the chosen values are stored in the engine profiles
(``sequence_overhead_s``), the GPU presets (``calibration.compute_max``) and
``fitted_overheads.yaml``, each saying so.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.inputs.types import Calibration
from analysis.validation.fit import FITTED_GPUS, GRIDS, load_overheads
from analysis.validation.predict import preset_hardware

#: Bounds of the host work per sequence per iteration, seconds: from none to 10 us (vLLM V1's
#: post-step loop alone takes 1.1 us per request at batch 128-256, PR #46112's
#: micro-benchmark; the schedule, input preparation and output processing loops add to it).
SEQUENCE_BOUNDS = (0.0, 1e-5)
SEQUENCE_GRID = (0.0, 2e-6, 4e-6, 6e-6, 8e-6, 1e-5)
COMPUTE_GRID = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65)


def calibration_objective(df: pd.DataFrame, engine: str | None = None) -> float:
    """Mean over metric kinds of the mean ``|log(pred / meas)|`` of the calibration-split rows
    of ``df`` (a :func:`analysis.validation.report.validation_table`), of one ``engine`` or
    all."""
    d = df[df["split"] == "calibration"]
    if engine is not None:
        d = d[d["engine"] == engine]
    err = np.abs(np.log(d["predicted"] / d["measured"]))
    return float(err.groupby(d["metric_kind"]).mean().mean())


def stored_calibrations(compute_max: Mapping[str, float] | None = None
                        ) -> dict[str, Calibration]:
    """The presets' curves of every fitted GPU, with ``compute_max`` replaced where given."""
    out = {}
    for gpu in FITTED_GPUS:
        cal = preset_hardware(gpu).calibration
        if cal is not None:
            out[gpu] = replace(cal, compute_max=(compute_max or {}).get(gpu, cal.compute_max))
    return out


def _table(compute_max: Mapping[str, float], seq: Mapping[str, float],
           overheads: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    from analysis.validation.report import validation_table
    return validation_table("calibrated", calibrations=stored_calibrations(compute_max),
                            sequence_overheads=seq, overheads=overheads)


def pair_objective(df: pd.DataFrame, gpu: str, engine: str) -> float:
    """:func:`calibration_objective` over the calibration cases of one GPU and engine."""
    return calibration_objective(df[df["gpu"] == gpu], engine)


def scan_overheads(compute: Mapping[str, float], seq: Mapping[str, float],
                   stored: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Step 4: every stored (GPU, engine) per-iteration overhead over :data:`.fit.GRIDS`'
    grid at once (each case has one GPU and one engine, so the pairs do not interact).
    Columns: t_o, then one objective per ``GPU/engine``."""
    rows = []
    for t_o in GRIDS["iteration_overhead_s"]:
        ov = {g: {e: t_o for e in es} for g, es in stored.items()}
        df = _table(compute, seq, ov)
        rows.append({"t_o": t_o} | {f"{g}/{e}": pair_objective(df, g, e)
                                    for g, es in stored.items() for e in es})
    return pd.DataFrame(rows)


def scan(compute_gpu: str | None, compute_grid: Sequence[float], engines: Sequence[str],
         seq_grid: Sequence[float], fixed_compute: Mapping[str, float],
         fixed_seq: Mapping[str, float], joint: bool = True) -> pd.DataFrame:
    """Objective at every grid point: ``compute_gpu``'s ``compute_max`` over ``compute_grid``
    (None: not scanned) times one ``t_seq`` for all of ``engines`` over ``seq_grid`` (none:
    ``seq_grid`` is ignored), the rest at ``fixed_*``. Columns: compute_max, t_seq (when
    scanned), objective (all engines), one per engine."""
    rows = []
    for cm, t in itertools.product(compute_grid if compute_gpu else [None], seq_grid):
        comp = dict(fixed_compute) | ({compute_gpu: cm} if compute_gpu else {})
        seq = dict(fixed_seq) | {e: t for e in engines}
        df = _table(comp, seq)
        rows.append({"compute_max": cm} | ({"t_seq": t} if engines else {})
                    | {"objective": calibration_objective(df)}
                    | {e: calibration_objective(df, e) for e in engines})
    return pd.DataFrame(rows)


def best(table: pd.DataFrame, column: str = "objective") -> dict:
    """The grid point of least ``column`` (the first on ties: the grids run low to high)."""
    return table.loc[table[column].idxmin()].to_dict()


def stored_values() -> tuple[dict[str, float], dict[str, float]]:
    """(GPU -> compute_max, engine -> t_seq) as the presets and profiles store them."""
    from analysis.validation.predict import sequence_overhead_s
    cals = stored_calibrations()
    return ({g: cals[g].compute_max for g in ("H100-SXM", "H200")},
            {e: sequence_overhead_s(e, "calibrated") for e in ("trtllm", "sglang", "vllm")})


def fit(verbose: bool = True) -> tuple[dict[str, float], dict[str, float],
                                      dict[str, dict[str, float]]]:
    """One sweep of the steps of the module docstring from the stored values; returns (GPU ->
    compute_max, engine -> t_seq, GPU -> engine -> t_o). The stored values are its fixed
    point: a rerun from them returns them."""
    compute, seq = stored_values()
    step1 = scan("H100-SXM", COMPUTE_GRID, ["trtllm"], SEQUENCE_GRID, compute, seq)
    b1 = best(step1)
    compute["H100-SXM"], seq["trtllm"] = b1["compute_max"], b1["t_seq"]
    step2 = scan(None, [], ["sglang", "vllm"], SEQUENCE_GRID, compute, seq)
    for e in ("sglang", "vllm"):
        seq[e] = best(step2, e)["t_seq"]
    step3 = scan("H200", COMPUTE_GRID, [], [0.0], compute, seq)   # no t_seq scanned
    compute["H200"] = best(step3)["compute_max"]
    step4 = scan_overheads(compute, seq, load_overheads())
    overheads = {g: {e: float(step4.loc[step4[f"{g}/{e}"].idxmin(), "t_o"]) for e in es}
                 for g, es in load_overheads().items()}
    if verbose:
        for name, t in (("1: H100 x TensorRT-LLM", step1), ("2: SGLang, vLLM", step2),
                        ("3: H200", step3), ("4: overheads per iteration", step4)):
            print(f"step {name}\n{t.to_string(index=False)}\n")
    return compute, seq, overheads


if __name__ == "__main__":
    compute_max, t_seq, t_o = fit()
    print("compute_max:", compute_max)
    print("sequence_overhead_s:", t_seq)
    print("iteration_overhead_s:", t_o)
