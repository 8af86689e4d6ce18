"""Predict every validation case and summarise the errors: by metric, workload kind, split and
mode, and by leaving one source out (fit on the other sources, score the held-out one).

Error of a case: ``pred / meas - 1`` in the measured unit. Accuracy is the median and the 90th
percentile of ``|error|``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from analysis.inputs.types import Calibration, Hardware
from analysis.validation.cache import cached_table
from analysis.validation.cases import all_cases
from analysis.validation.data import ALL_METRIC_KINDS, MODES
from analysis.validation.fit import (
    FITTED_GPUS,
    TRANSFERRED,
    fit_gpu,
    load_overheads,
    overhead_for,
    transfer_note,
)
from analysis.validation.predict import (
    closed_form,
    mode_used,
    preset_hardware,
    sequence_overhead_s,
    simulate_case,
)

WORKLOAD_KINDS = ("static", "closed_loop", "poisson", "burst", "offline")

#: Case quantity -> the unit a person reads it in (every quantity a case can carry).
QUANTITY_UNITS = {
    "ttft_ms": "ms", "ttft_ms_mean": "ms", "tpot_ms_mean": "ms", "itl_ms_mean": "ms",
    "e2e_latency_ms_mean": "ms",
    "tokens_per_s_per_user": "output tokens/s per user",
    "output_tokens_per_s": "output tokens/s",
    "output_tokens_per_s_total": "output tokens/s",
    "output_tokens_per_s_per_gpu": "output tokens/s per GPU",
    "output_tokens_per_s_per_node": "output tokens/s per node",
    "input_tokens_per_s_per_node": "input tokens/s per node",
    "total_tokens_per_s": "total tokens/s",
}


def unit_of(quantity: str) -> str:
    """The unit of a case's ``quantity`` (``ttft_ms`` -> "ms"), from :data:`QUANTITY_UNITS`."""
    if quantity not in QUANTITY_UNITS:
        raise ValueError(f"quantity {quantity!r} has no unit in QUANTITY_UNITS; "
                         f"valid: {sorted(QUANTITY_UNITS)}")
    return QUANTITY_UNITS[quantity]


def case_hardware(gpu: str, calibrations: Mapping[str, Calibration] | None) -> Hardware:
    """The GPU with ``calibrations[gpu]`` (or the preset's own curves; a GPU without either
    borrows its donor's per :data:`TRANSFERRED`, labelled in the curve's source)."""
    hw = preset_hardware(gpu)
    if calibrations is not None:
        cal = calibrations.get(gpu)
        if cal is None and gpu in TRANSFERRED and TRANSFERRED[gpu][0] in calibrations:
            donor = calibrations[TRANSFERRED[gpu][0]]
            cal = replace(donor, source=transfer_note(gpu, donor))
        return replace(hw, calibration=cal)
    if hw.calibration is None and gpu in TRANSFERRED:
        donor = preset_hardware(TRANSFERRED[gpu][0]).calibration
        if donor is not None:
            hw = replace(hw, calibration=replace(donor, source=transfer_note(gpu, donor)))
    return hw


def predict_case(case: Mapping, mode: str, hw: Hardware, overhead_s: float,
                 sequence_overhead: float | None = None) -> float:
    """One case's prediction in its measured unit (``sequence_overhead``: seconds per sequence
    per iteration; default the engine profile's)."""
    t_seq = sequence_overhead_s(case["engine"], mode) if sequence_overhead is None \
        else sequence_overhead
    if case["path"] == "closed_form":
        return closed_form(case["row"], mode, hw, overhead_s, t_seq)
    return simulated_quantity(simulate_case(case["run"], mode, hw, overhead_s, t_seq),
                              case["quantity"])


def simulated_quantity(out: Mapping, quantity: str) -> float:
    """A case's quantity from the simulator's output (tokens/s per user = 1000 / TPOT ms)."""
    if quantity == "tokens_per_s_per_user":
        return 1e3 / out["tpot_ms_mean"]
    return float(out[quantity])


def validation_table(mode: str = "calibrated",
                     calibrations: Mapping[str, Calibration] | None = None,
                     overheads: Mapping[str, Mapping[str, float]] | None = None,
                     cases: list[dict] | None = None,
                     sequence_overheads: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Every case predicted in ``mode``. ``calibrations`` (GPU -> curves), ``overheads``
    (GPU -> engine -> seconds per iteration) and ``sequence_overheads`` (engine -> seconds per
    sequence per iteration) replace the presets', the stored fit's and the engine profiles'.
    The default table (all None) comes from :mod:`.cache` when the inputs are unchanged."""
    if calibrations is None and overheads is None and cases is None \
            and sequence_overheads is None:
        return cached_table(mode, lambda: _predict_all(mode, None, load_overheads(),
                                                       all_cases()))
    ov = load_overheads() if overheads is None else overheads
    return _predict_all(mode, calibrations, ov, all_cases() if cases is None else cases,
                        sequence_overheads)


def _predict_all(mode: str, calibrations: Mapping[str, Calibration] | None,
                 ov: Mapping[str, Mapping[str, float]], cases: list[dict],
                 sequence_overheads: Mapping[str, float] | None = None) -> pd.DataFrame:
    rows = []
    runs: dict[tuple, dict] = {}     # a serving row's metrics share one run: simulate it once
    for c in cases:
        hw = case_hardware(c["gpu"], calibrations)
        t_o = overhead_for(c["gpu"], c["engine"], mode, ov)
        t_seq = sequence_overhead_s(c["engine"], mode)
        if sequence_overheads is not None and mode != "sol":
            t_seq = sequence_overheads.get(c["engine"], t_seq)
        if c["path"] == "simulate":
            key = (id(c["run"]), c["gpu"], t_o)
            if key not in runs:
                runs[key] = simulate_case(c["run"], mode, hw, t_o, t_seq)
            pred = simulated_quantity(runs[key], c["quantity"])
        else:
            pred = predict_case(c, mode, hw, t_o, t_seq)
        rows.append({k: c[k] for k in ("case_id", "dataset", "row_id", "source", "engine",
                                       "gpu", "model", "layout", "isl", "osl",
                                       "workload_kind", "concurrency", "metric_kind",
                                       "quantity", "measured", "split", "path")}
                    | {"unit": unit_of(c["quantity"]), "predicted": pred,
                       "error": pred / c["measured"] - 1, "mode": mode,
                       "mode_used": mode_used(hw, mode), "overhead_s": t_o})
    return pd.DataFrame(rows)


def _stats(d: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    d = d.assign(abs_error=d["error"].abs())
    g = d.groupby(by, sort=False)
    return pd.DataFrame({"rows": g.size(), "median_error": g["error"].median(),
                         "median_abs_error": g["abs_error"].median(),
                         "p90_abs_error": g["abs_error"].quantile(0.9)}).reset_index()


def _order(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    rank = {k: i for i, k in enumerate(ALL_METRIC_KINDS + WORKLOAD_KINDS + MODES)}
    return df.sort_values(cols, key=lambda s: s.map(lambda v: rank.get(v, 99) if v in rank
                                                     else str(v))).reset_index(drop=True)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median and p90 ``|error|`` by mode, split and metric kind, with row counts."""
    cols = ["mode", "split", "metric_kind"]
    return _order(_stats(df, cols), cols)


def summary_by_kind(df: pd.DataFrame) -> pd.DataFrame:
    """Median and p90 ``|error|`` by mode, split and workload kind."""
    cols = ["mode", "split", "workload_kind"]
    return _order(_stats(df, cols), cols)


def median_abs_error_pivot(df: pd.DataFrame, split: str = "held_out") -> pd.DataFrame:
    """Median ``|error|`` on ``split``: one row per (mode, metric kind), one column per
    workload kind present, then ``all`` (every kind) and ``rows``; NaN where a cell is empty."""
    d = df[df["split"] == split]
    s = _stats(d, ["mode", "metric_kind", "workload_kind"])
    wide = s.pivot(index=["mode", "metric_kind"], columns="workload_kind",
                   values="median_abs_error")
    wide = wide[[k for k in WORKLOAD_KINDS if k in wide.columns]]
    tot = _stats(d, ["mode", "metric_kind"]).set_index(["mode", "metric_kind"])
    wide = wide.assign(all=tot["median_abs_error"], rows=tot["rows"]).reset_index()
    wide.columns.name = None
    return _order(wide, ["mode", "metric_kind"])


def error_by(df: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Median and p90 ``|error|`` and the median signed error, grouped by ``by``."""
    return _stats(df, [by] if isinstance(by, str) else list(by))


def leave_one_source_out(mode: str = "calibrated") -> pd.DataFrame:
    """For each source: refit the curves and overheads of every GPU the source has
    calibration cases on, on the calibration-split cases of the OTHER sources, and predict the
    source's cases (all of them, both splits); the other GPUs keep the stored fit.

    A GPU's fit reads only that GPU's calibration cases, so leaving a source out changes no
    other GPU's. The refit is the bounded surrogate fit (:func:`.fit.fit_gpu`); the
    simulator stage of :mod:`.host_fit` is not rerun per source (about 13 minutes each), so a
    refitted GPU has the surrogate's values, and the engines' host work per sequence (fitted
    with every source) is the one leak of this table."""
    cases = all_cases()
    full_cals = {g: c for g in FITTED_GPUS if (c := preset_hardware(g).calibration)}
    full_ovs = load_overheads()
    parts = []
    for src in sorted({c["source"] for c in cases}):
        train = [c for c in cases if c["source"] != src]
        cals, ovs = dict(full_cals), dict(full_ovs)
        touched = {c["gpu"] for c in cases if c["source"] == src
                   and c["split"] == "calibration" and c["gpu"] in full_cals}
        for gpu in sorted(touched):
            if any(c["gpu"] == gpu and c["split"] == "calibration" for c in train):
                cals[gpu], ovs[gpu] = fit_gpu(gpu, train)
            else:
                cals.pop(gpu)
                ovs.pop(gpu)
        test = [c for c in cases if c["source"] == src]
        parts.append(validation_table(mode, cals, ovs, test).assign(left_out=src))
    return pd.concat(parts, ignore_index=True)


def loso_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per left-out source and metric: median and p90 ``|error|``."""
    return _stats(df, ["left_out", "metric_kind"])


def loso_pooled(df: pd.DataFrame, by: str = "metric_kind") -> pd.DataFrame:
    """Every source's cases predicted with it left out, pooled: median and p90 ``|error|`` by
    metric kind (or ``by`` another column, e.g. ``workload_kind``)."""
    return _stats(df, [by])


def markdown(s: pd.DataFrame, keys: list[str]) -> str:
    """A summary frame as a markdown table: ``keys`` columns, then rows, median, p90."""
    lines = ["| " + " | ".join(keys) + " | rows | median abs error | p90 abs error |",
             "|" + "---|" * len(keys) + "---:|---:|---:|"]
    for r in s.to_dict("records"):
        lines.append("| " + " | ".join(str(r[k]) for k in keys) + f" | {r['rows']} | "
                     f"{r['median_abs_error']:.1%} | {r['p90_abs_error']:.1%} |")
    return "\n".join(lines)


def summary_markdown(df: pd.DataFrame) -> str:
    """The summary (by metric) as a markdown table."""
    return markdown(summary(df), ["mode", "split", "metric_kind"])


def sol_violations(df: pd.DataFrame) -> pd.DataFrame:
    """Speed-of-light cases that predict a time longer (or a throughput lower) than measured."""
    d = df[df["mode"] == "sol"]
    is_time = d["quantity"].str.contains("_ms")
    slower = (is_time & (d["error"] > 1e-9)) | (~is_time & (d["error"] < -1e-9))
    return d[slower & d["predicted"].map(math.isfinite)]
