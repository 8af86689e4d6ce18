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
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import estimate as E
from analysis.inputs.errors import InputError

HERE = Path(__file__).resolve().parent
MEASUREMENTS_CSV = HERE / "measurements.csv"
MAPPING_CSV = HERE / "mapping.csv"
SPLIT_SALT = "moeplan-validation:"
MODES = ("calibrated", "derated", "sol")
#: Metric kinds of the old rows; the serving rows add "e2e" (end-to-end latency).
METRIC_KINDS = ("TTFT", "TPOT", "throughput")
ALL_METRIC_KINDS = ("TTFT", "TPOT", "e2e", "throughput")
GPUS_PER_NODE_REPORTED = 8      # "per 8-GPU node" in every per-node row

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
    """``"imbalance=balanced;overlap=1;dispatch_bytes=1;combine_bytes=2"`` -> Options
    (``tbo=1``: two-batch overlap; ``node_dedup=1``: per-node deduplicated dispatch)."""
    kw: dict[str, Any] = {"mode": mode}
    flag = lambda v: bool(int(v))  # noqa: E731
    names = {"imbalance": ("imbalance", str), "overlap": ("overlap_fraction", float),
             "dispatch_bytes": ("dispatch_bytes_per_element", float),
             "combine_bytes": ("combine_bytes_per_element", float),
             "tbo": ("two_batch_overlap", flag), "node_dedup": ("node_dedup", flag)}
    for part in filter(None, (text or "").split(";")):
        key, _, value = part.partition("=")
        if key not in names:
            raise InputError("mapping.options", key, "unknown option", ", ".join(names))
        field, cast = names[key]
        kw[field] = cast(value)
    return E.Options(**kw)


