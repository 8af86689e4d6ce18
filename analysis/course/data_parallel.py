"""Chapter 08, data parallelism and attention data parallelism: KV cache per GPU against tp by
attention kind, what dp_attn buys, and its figure.

Symbols as in notebooks/NOTATION.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import anatomy as A
from analysis import estimate as E
from analysis.course.layouts import decode_tpot_s, parse_layouts
from analysis.course.memory import largest_batch_table
from analysis.course.plots import (
    COLORS,
    fig_axes,
    log_axes,
)
from analysis.inputs.types import Model, Scenario, Strategy

__all__ = [
    "attention_dp_table",
    "kv_per_gpu_vs_tp_table",
    "plot_attention_dp",
]


def kv_per_gpu_vs_tp_table(models: Sequence[Model], tps: Sequence[int],
                           context_tokens: int) -> pd.DataFrame:
    """KV-cache bytes one sequence of C tokens puts on each GPU of a tp group, per model.

    Per GPU: ``L * C * kv_bytes_per_token_per_layer_per_gpu(tp)``
    (:func:`analysis.estimate.kv_cache_bytes_per_token_per_layer_per_gpu`): GQA splits its H_kv
    heads, ``2 * d_h * max(H_kv/tp, 1) * b``; MLA's latent is shared by all heads and cannot be
    split, ``(r_kv + d_rope) * b`` on every rank. ``kv_per_seq_group_bytes`` = tp x per GPU;
    ``copies`` = group bytes / one copy (1 = no waste; tp for MLA).
    """
    rows = []
    for m in models:
        one = A.kv_cache_bytes_per_sequence(m, context_tokens)
        kind = "MLA" if m.attention.kind == "mla" else (
            "MHA" if m.attention.num_kv_heads == m.attention.num_heads else "GQA")
        for tp in tps:
            per_gpu = float(m.num_layers * A.cached_tokens_per_layer(m, context_tokens)
                            * E.kv_cache_bytes_per_token_per_layer_per_gpu(m, tp))
            rows.append({"model": m.name, "attention": kind, "tp": int(tp),
                         "context_tokens": context_tokens,
                         "kv_per_seq_bytes_per_gpu": per_gpu,
                         "kv_per_seq_group_bytes": per_gpu * tp,
                         "kv_per_seq_one_copy_bytes": one,
                         "copies": per_gpu * tp / one})
    return pd.DataFrame(rows)


def attention_dp_table(scenario: Scenario, layouts: Sequence[Strategy | str],
                       context_tokens: int, output_tokens: int,
                       opts: E.Options | None = None) -> pd.DataFrame:
    """Layouts that spend their GPUs on tp, on attention data parallelism (dp_attn) or on
    replicas (dp), compared at the largest batch of C-token sequences that fits.

    Columns: model, layout, tp, dp_attn, etp, ep, dp, gpus, weights_bytes_per_gpu,
    kv_per_seq_bytes_per_gpu, max_batch, max_batch_per_gpu, tpot_s (decode at the largest batch,
    context C), decode_tokens_per_s_per_gpu (``B_max / (TPOT * GPUs)``) and the KV-read ceiling
    ``BW*u / (tp*pp*KV_seq_gpu)`` of :func:`decode_kv_cap_table`.
    """
    opts = opts or E.Options()
    hw = scenario.hardware
    bw = hw.hbm_bandwidth_bytes_per_s * (1.0 if opts.mode == "sol" else hw.bandwidth_utilization)
    rows = []
    for s in parse_layouts(layouts):
        cap = largest_batch_table(scenario, [s], [context_tokens], output_tokens, opts).iloc[0]
        bmax = int(cap["max_batch"])
        tpot = decode_tpot_s(scenario, s, bmax, context_tokens, opts)
        rows.append({
            "model": scenario.model.name, "layout": s.label(), "tp": s.tp,
            "dp_attn": s.dp_attn, "etp": s.etp, "ep": s.ep, "dp": s.dp, "gpus": s.gpus,
            "weights_bytes_per_gpu": cap["weights_bytes_per_gpu"],
            "kv_per_seq_bytes_per_gpu": cap["kv_per_seq_bytes_per_gpu"],
            "max_batch": bmax, "max_batch_per_gpu": bmax / s.gpus, "tpot_s": tpot,
            "decode_tokens_per_s_per_gpu": bmax / tpot / s.gpus if bmax else 0.0,
            "kv_cap_tokens_per_s_per_gpu": bw / (s.tp * s.pp * cap["kv_per_seq_bytes_per_gpu"]),
        })
    return pd.DataFrame(rows)


def plot_attention_dp(kv: pd.DataFrame, dp: pd.DataFrame) -> Figure:
    """Left: KV bytes per GPU for one sequence (MB, log) against tp (log 2), one line per model of
    :func:`kv_per_gpu_vs_tp_table`. Right: sequences that fit per GPU for each layout of
    :func:`attention_dp_table`, one bar group per model."""
    fig, (ax1, ax2) = fig_axes(ncols=2, width=12.5, height=4.8)
    for i, model in enumerate(dict.fromkeys(kv["model"])):
        g = kv[kv["model"] == model].sort_values("tp")
        ax1.plot(g["tp"], g["kv_per_seq_bytes_per_gpu"] / 1e6, marker="o", color=COLORS[i],
                 label=f"{model} ({g['attention'].iloc[0]})")
    log_axes(ax1)
    ax1.set_xlabel("tensor-parallel degree tp")
    ax1.set_ylabel(f"KV cache per GPU for one sequence (MB), C = "
                   f"{int(kv['context_tokens'].iloc[0]):,}")
    ax1.set_title("tp splits GQA's KV heads; MLA's latent stays whole on every rank", fontsize=10)
    ax1.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax1.legend(fontsize=8)
    models = list(dict.fromkeys(dp["model"]))
    layouts = list(dict.fromkeys(dp["layout"]))
    x = np.arange(len(layouts))
    w = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        g = dp[dp["model"] == model].set_index("layout").reindex(layouts)
        ax2.bar(x + (i - (len(models) - 1) / 2) * w, g["max_batch_per_gpu"].fillna(0), w,
                color=COLORS[i], label=model)
    ax2.set_xticks(x, layouts, rotation=20, ha="right", fontsize=8)
    ax2.set_ylim(0, max(float(dp["max_batch_per_gpu"].max()), 1.0) * 1.25)
    ax2.set_xlabel("layout")
    ax2.set_ylabel("sequences that fit per GPU")
    ax2.set_title("Same GPUs, different split: attention DP holds more MLA sequences", fontsize=10)
    ax2.grid(True, axis="y", linewidth=0.4, alpha=0.6)
    ax2.legend(fontsize=8)
    return fig
