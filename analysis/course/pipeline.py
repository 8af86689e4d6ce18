"""Chapter 07, pipeline parallelism: the micro-batches a bubble target needs, prefill latency and
decode capacity against pp, and their figure.

Symbols as in notebooks/NOTATION.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis import estimate as E
from analysis.course.layouts import decode_tpot_s, parse_layouts
from analysis.course.memory import largest_batch_table
from analysis.course.plots import (
    COLORS,
    comma,
    fig_axes,
    log_axes,
)
from analysis.estimate import formulas as f
from analysis.inputs.types import Scenario, Strategy

__all__ = [
    "microbatches_for_bubble",
    "pipeline_capacity_table",
    "pipeline_latency_table",
    "plot_pipeline",
]


def microbatches_for_bubble(stages: int, max_bubble_fraction: float) -> int:
    """Fewest micro-batches m with bubble ``(p-1)/(m+p-1) <= f``: ``m = ceil((p-1)(1-f)/f)``
    (GPipe, Huang et al. 2019, arXiv 1811.06965); 1 when p = 1."""
    if stages <= 1:
        return 1
    # round off float noise first so an exact m is not pushed up by one
    return max(1, math.ceil(round((stages - 1) * (1 - max_bubble_fraction)
                                  / max_bubble_fraction, 9)))


def pipeline_latency_table(scenario: Scenario, layout: Strategy | str, pps: Sequence[int],
                           microbatches: Sequence[int], prompt_tokens: int,
                           opts: E.Options | None = None) -> pd.DataFrame:
    """Prefill and decode of the scenario's batch for ``layout`` with pp stages and m
    micro-batches (every valid combination; invalid ones are left out).

    The busiest stage holds ``ceil(L/pp)`` layers; prefill takes ``m + p - 1`` stage steps of one
    micro-batch (``ttft_s = (m+p-1) * prefill_stage_s``), of which ``p - 1`` are the bubble,
    ``(p-1)/(m+p-1)`` of the time; the first micro-batch is done after p steps
    (``first_microbatch_s = p * prefill_stage_s``, the latency of its sequences); decode passes
    each token through all p stages (``tpot_s = p * decode stage time``, the batch in
    ``min(p, B)`` micro-batches).
    Columns: layout, pp, microbatches, gpus, layers_per_stage, pipeline_steps, bubble_fraction,
    prefill_stage_s, ttft_s, first_microbatch_s, tpot_s, prefill/decode_tokens_per_s_per_gpu,
    memory_per_gpu_bytes, fits_memory.
    """
    opts = opts or E.Options()
    (base,) = parse_layouts([layout])
    cands = [base.with_(pp=p, microbatches=mb) for p in pps for mb in microbatches]
    lay = E.Layouts.from_strategies(cands)
    ok = E.valid_mask(scenario.model, scenario.workload, lay)
    lay = lay.subset(ok)
    r = E.evaluate_layouts(scenario, lay, opts, prompt_tokens)
    steps = f.pipeline_steps(lay.pp, lay.microbatches)
    return pd.DataFrame({
        "layout": lay.labels(), "pp": lay.pp, "microbatches": lay.microbatches,
        "gpus": lay.gpus, "layers_per_stage": np.ceil(scenario.model.num_layers / lay.pp)
        .astype(int), "pipeline_steps": steps,
        "bubble_fraction": f.pipeline_bubble_fraction(lay.pp, lay.microbatches),
        "prefill_stage_s": r["ttft_s"] / steps, "ttft_s": r["ttft_s"],
        "first_microbatch_s": lay.pp * r["ttft_s"] / steps, "tpot_s": r["tpot_s"],
        "prefill_tokens_per_s_per_gpu": r["prefill_tokens_per_s_per_gpu"],
        "decode_tokens_per_s_per_gpu": r["decode_tokens_per_s_per_gpu"],
        "memory_per_gpu_bytes": r["memory_per_gpu_bytes"], "fits_memory": r["fits_memory"],
    })


def pipeline_capacity_table(scenario: Scenario, layout: Strategy | str, pps: Sequence[int],
                            context_tokens: int, output_tokens: int,
                            opts: E.Options | None = None) -> pd.DataFrame:
    """What pipeline stages buy in memory, and what that buys in decode throughput.

    Per GPU, pp divides the weights (``/(tp*pp)``, experts ``/(etp*ep*pp)``) and each
    sequence's cache (``ceil(L/pp)`` layers), so the batch that fits, :func:`largest_batch_table`,
    grows faster than the GPUs when weights crowd the cache out. Decode at context C:
    ``tpot_fixed_batch_s`` for the scenario's batch B, ``tpot_max_batch_s`` for the largest batch
    that fits, and throughput per GPU ``B / (TPOT * GPUs)`` for each.
    """
    opts = opts or E.Options()
    (base,) = parse_layouts([layout])
    b = scenario.workload.batch_sequences
    rows = []
    for p in pps:
        s = base.with_(pp=int(p), microbatches=1)
        if E.rejection_reasons(scenario.model, scenario.workload,
                               E.Layouts.from_strategies([s]))[0]:
            continue
        cap = largest_batch_table(scenario, [s], [context_tokens], output_tokens, opts).iloc[0]
        bmax = int(cap["max_batch"])
        t_fix = decode_tpot_s(scenario, s, b, context_tokens, opts)
        t_max = decode_tpot_s(scenario, s, bmax, context_tokens, opts)
        rows.append({
            "layout": s.label(), "pp": int(p), "gpus": s.gpus,
            "weights_bytes_per_gpu": cap["weights_bytes_per_gpu"],
            "kv_per_seq_bytes_per_gpu": cap["kv_per_seq_bytes_per_gpu"],
            "max_batch": bmax, "max_batch_per_gpu": bmax / s.gpus,
            "batch": b, "tpot_fixed_batch_s": t_fix,
            "decode_fixed_batch_tokens_per_s_per_gpu": b / t_fix / s.gpus,
            "tpot_max_batch_s": t_max,
            "decode_max_batch_tokens_per_s_per_gpu": bmax / t_max / s.gpus if bmax else 0.0,
        })
    return pd.DataFrame(rows)


def plot_pipeline(latency: pd.DataFrame, capacity: pd.DataFrame, title: str) -> Figure:
    """Two panels against pp stages: TTFT (ms, log) of the batch, one line per micro-batch count
    m (:func:`pipeline_latency_table`); decode throughput per GPU (tokens/ms) at the scenario's
    batch and at the largest batch that fits (:func:`pipeline_capacity_table`)."""
    fig, (ax1, ax2) = fig_axes(ncols=2, width=12, height=4.6)
    ms = sorted(latency["microbatches"].unique())
    cmap = plt.get_cmap("viridis")
    for i, mb in enumerate(ms):
        g = latency[latency["microbatches"] == mb].sort_values("pp")
        ax1.plot(g["pp"], g["ttft_s"] * 1e3, marker="o", markersize=4,
                 color=cmap(i / max(len(ms) - 1, 1)), label=f"m = {mb}")
    g = latency[latency["microbatches"] == ms[-1]].sort_values("pp")
    ax1.plot(g["pp"], g["first_microbatch_s"] * 1e3, color="black", linestyle="--",
             linewidth=1, label=f"first micro-batch done, m = {ms[-1]}")
    log_axes(ax1)
    ax1.set_xlabel("pipeline stages pp")
    ax1.set_ylabel("TTFT of the batch (ms)")
    ax1.set_title("Prefill: with m = 1 stages only wait for each other;\n"
                  "more micro-batches fill the pipeline", fontsize=10)
    ax1.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax1.legend(fontsize=8, title="micro-batches", title_fontsize=8)
    c = capacity.sort_values("pp")
    b = int(c["batch"].iloc[0]) if len(c) else 0
    ax2.plot(c["pp"], c["decode_fixed_batch_tokens_per_s_per_gpu"] / 1e3, marker="o",
             color=COLORS[0], label=f"fixed batch B = {b:,}")
    ax2.plot(c["pp"], c["decode_max_batch_tokens_per_s_per_gpu"] / 1e3, marker="s",
             color=COLORS[1], label="largest batch that fits")
    for _, r in c.iterrows():
        ax2.annotate(f"B={int(r['max_batch']):,}",
                     (r["pp"], r["decode_max_batch_tokens_per_s_per_gpu"] / 1e3),
                     xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax2.set_xscale("log", base=2)
    ax2.xaxis.set_major_formatter(FuncFormatter(comma))
    top = float(np.nanmax(c[["decode_fixed_batch_tokens_per_s_per_gpu",
                             "decode_max_batch_tokens_per_s_per_gpu"]].to_numpy())) if len(c) else 1
    ax2.set_ylim(0, top / 1e3 * 1.2)
    ax2.margins(x=0.12)
    ax2.set_xlabel("pipeline stages pp")
    ax2.set_ylabel("decode throughput (tokens/ms per GPU)")
    ax2.set_title("Decode: at a fixed batch more stages only add GPUs;\n"
                  "the memory they free lets a larger batch in", fontsize=10)
    ax2.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax2.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig
