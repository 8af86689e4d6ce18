"""Why the worst validation cases miss: a short reason per case from what we know of its
setup (the estimator's known blind spots, named by source, lengths and layout)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd


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
    return d[["case_id", "row_id", "source", "model", "gpu", "layout", "isl", "osl",
              "workload_kind", "metric_kind", "measured", "predicted", "error", "why"]
             ].reset_index(drop=True)


