"""The validation's latest numbers, stored as data in the repository so every report can state
its expected error without re-running the validation (about two minutes).

``python -m analysis validate`` (all modes) writes :data:`LATEST_SUMMARY`; the strategy report
reads it with :func:`expected_error`. The file holds the held-out median and p90 ``|error|``
by mode and metric kind, rounded to four significant figures so a rerun on the same data
gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

#: Where ``python -m analysis validate`` writes the latest held-out summary.
LATEST_SUMMARY = Path(__file__).resolve().parent / "latest_summary.json"

_SPLIT = "held_out"


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def latest_summary(summary: pd.DataFrame, cases: int) -> dict:
    """The held-out rows of :func:`analysis.validation.report.summary` as a JSON-ready dict:
    ``{"split": "held_out", "cases": n, "modes": {mode: {metric: {"rows", "median_abs_error",
    "p90_abs_error"}}}}``; errors are fractions (0.21 = 21 %)."""
    held = summary[summary["split"] == _SPLIT]
    modes: dict[str, dict] = {}
    for r in held.to_dict("records"):
        modes.setdefault(r["mode"], {})[r["metric_kind"]] = {
            "rows": int(r["rows"]), "median_abs_error": _sig(r["median_abs_error"]),
            "p90_abs_error": _sig(r["p90_abs_error"])}
    return {"split": _SPLIT, "cases": int(cases),
            "source": "python -m analysis validate (analysis/validation/measurements.csv, "
                      "serving_runs.csv)",
            "modes": modes}


def write_latest_summary(summary: pd.DataFrame, cases: int,
                         path: Path = LATEST_SUMMARY) -> Path:
    """Write :func:`latest_summary` to ``path`` (sorted keys, stable bytes)."""
    path.write_text(json.dumps(latest_summary(summary, cases), indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


def read_latest_summary(path: Path = LATEST_SUMMARY) -> dict | None:
    """The stored summary, or None when the file is missing."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def expected_error(mode: str, path: Path = LATEST_SUMMARY) -> dict[str, dict] | None:
    """Held-out ``{metric: {"rows", "median_abs_error", "p90_abs_error"}}`` of ``mode``, or
    None when no summary is stored or it lacks that mode."""
    s = read_latest_summary(path)
    return None if s is None else s["modes"].get(mode)
