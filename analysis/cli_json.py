"""The ``--json`` payload of ``validate`` (the other verbs' come from their results' ``to_dict``
or :func:`analysis.cli.check_dict`). Keys carry their unit; fractions end in ``_fraction``."""

from __future__ import annotations

import pandas as pd


def validate_dict(mapping: pd.DataFrame, summary: pd.DataFrame, worst: pd.DataFrame) -> dict:
    """What ``validate`` prints, as a mapping: rows mapped and skipped, the summary by mode,
    split and metric (median and p90 |error| as fractions), and the worst held-out rows."""
    return {
        "rows_mapped": int((mapping["status"] == "mapped").sum()),
        "rows_skipped": int((mapping["status"] == "skipped").sum()),
        "summary": [{"mode": r["mode"], "split": r["split"], "metric": r["metric_kind"],
                     "rows": int(r["rows"]),
                     "median_abs_error_fraction": float(r["median_abs_error"]),
                     "p90_abs_error_fraction": float(r["p90_abs_error"])}
                    for r in summary.to_dict("records")],
        "worst_rows": [{"row_id": int(r["row_id"]), "source": r["source"], "model": r["model"],
                        "gpu": r["gpu"], "layout": r["layout"], "isl_tokens": int(r["isl"]),
                        "osl_tokens": int(r["osl"]), "error_fraction": float(r["error"]),
                        "why": r["why"]} for r in worst.to_dict("records")],
    }
