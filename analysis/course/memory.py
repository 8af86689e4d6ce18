"""Chapter 02, memory and the KV cache: bytes per cached token by attention kind, the largest
batch that fits, where the KV cache caps decode, and their figures. Every number comes from
:mod:`analysis.estimate` and :mod:`analysis.anatomy`.

Symbols as in notebooks/NOTATION.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis import anatomy as A
from analysis import estimate as E
from analysis.course.layouts import parse_layouts
from analysis.course.plots import (
    COLORS,
    comma,
    fig_axes,
    log_axes,
)
from analysis.estimate import serving
from analysis.inputs.types import Model, Scenario, Strategy, Workload

__all__ = [
    "decode_kv_cap_table",
    "kv_bytes_per_token_table",
    "largest_batch_table",
    "plot_decode_kv_cap",
    "plot_largest_batch",
]


def kv_bytes_per_token_table(models: Sequence[Model], context_tokens: int) -> pd.DataFrame:
    """KV-cache bytes per token and per sequence, with the arithmetic spelled out.

    MHA/GQA: ``2 * L * H_kv * d_h * b`` (a key and a value per KV head per layer);
    MLA: ``L * (r_kv + d_rope) * b`` (one latent and one shared rope key per layer; DeepSeek-V2,
    arXiv 2405.04434, sec. 2.1.2). ``mha_equivalent_bytes_per_token`` caches a key and a value for
    every one of the H query heads, ``L * H * (d_qk + d_v) * b``: what GQA and MLA save against.
    Per sequence: bytes per token x C (sliding-window layers cap at their window,
    :func:`analysis.anatomy.kv_cache_bytes_per_sequence`).
    """
    rows = []
    for m in models:
        a = m.attention
        b = m.kv_bytes_per_element
        per_token = A.kv_cache_bytes_per_token(m)
        if a.kind == "mla":
            kind = "MLA"
            formula = (f"L·(r_kv+d_rope)·b = {m.num_layers}·({a.kv_lora_rank}+"
                       f"{a.qk_rope_head_dim})·{b:g} = {per_token:,.0f}")
        else:
            kind = "MHA" if a.num_kv_heads == a.num_heads else "GQA"
            formula = (f"2·L·H_kv·d_h·b = 2·{m.num_layers}·{a.num_kv_heads}·{a.head_dim}·{b:g}"
                       f" = {per_token:,.0f}")
        mha = m.num_layers * a.num_heads * (a.qk_head_dim + a.v_dim) * b
        rows.append({
            "model": m.name, "attention": kind, "layers": m.num_layers,
            "cached_elements_per_token_per_layer": A.kv_cache_elements_per_token_per_layer(m),
            "kv_bytes_per_element": b, "formula": formula,
            "kv_bytes_per_token": int(per_token),
            "mha_equivalent_bytes_per_token": int(mha),
            "saving_vs_mha": mha / per_token,
            "context_tokens": context_tokens,
            "kv_per_sequence_bytes": A.kv_cache_bytes_per_sequence(m, context_tokens),
        })
    return pd.DataFrame(rows)


def largest_batch_table(scenario: Scenario, layouts: Sequence[Strategy | str],
                        contexts_tokens: Sequence[int], output_tokens: int,
                        opts: E.Options | None = None) -> pd.DataFrame:
    """The largest batch whose KV cache fits, per layout and context length C (prompt + output).

    ``B_max = floor((HBM - fixed) / KV_seq_gpu) * dp * dp_attn`` where ``fixed`` is everything
    but the cache (weights, one prompt's prefill activations, buffers, runtime reserve) and
    ``KV_seq_gpu = ceil(L/pp) * C * kv_bytes_per_token_per_layer_per_gpu(tp)`` the cache one
    sequence puts on a GPU (:func:`analysis.serving.max_running_requests`, the same count).
    Columns: layout, gpus, context_tokens, weights_bytes_per_gpu, fixed_bytes_per_gpu,
    free_bytes_per_gpu, kv_per_seq_bytes_per_gpu, max_batch (whole deployment),
    max_batch_per_gpu. Invalid layouts raise :class:`~analysis.errors.LayoutError`.
    """
    opts = opts or E.Options()
    cap = scenario.hardware.hbm_capacity_bytes
    rows = []
    for s in parse_layouts(layouts):
        E.check_strategy(scenario.model, Workload(s.dp * s.dp_attn, (1,), 1),
                         replace(s, microbatches=1))
        for c in contexts_tokens:
            mem = serving.memory_for_one_sequence_per_rank(scenario, s, int(c) - output_tokens,
                                                           output_tokens, opts)
            kv_seq = mem["kv_cache"]
            fixed = sum(v for k, v in mem.items() if k != "kv_cache")
            bmax = serving.max_running_requests(scenario, s, int(c) - output_tokens,
                                                output_tokens, opts)
            rows.append({"model": scenario.model.name, "layout": s.label(), "gpus": s.gpus,
                         "context_tokens": int(c),
                         "weights_bytes_per_gpu": mem["non_expert_weights"]
                         + mem["expert_weights"],
                         "fixed_bytes_per_gpu": fixed, "free_bytes_per_gpu": cap - fixed,
                         "kv_per_seq_bytes_per_gpu": kv_seq, "max_batch": int(bmax),
                         "max_batch_per_gpu": bmax / s.gpus})
    return pd.DataFrame(rows)


def decode_kv_cap_table(scenario: Scenario, layout: Strategy | str, batches: Sequence[int],
                        context_tokens: int, output_tokens: int,
                        opts: E.Options | None = None) -> pd.DataFrame:
    """Decode throughput against batch, and the ceiling the KV reads put on it.

    Every decode step reads each sequence's whole cache once, so per GPU
    ``TPOT >= B/(dp*dp_attn) * KV_seq_gpu / (BW * u)`` and the throughput per GPU,
    ``B / (TPOT * GPUs)``, can never exceed ``kv_cap = BW * u / (tp * pp * KV_seq_gpu)``
    whatever the batch (BW the HBM bandwidth, u its utilisation; ``tp * pp * KV_seq_gpu`` is the
    whole cache of one sequence for MHA/GQA with tp <= H_kv, and tp copies of it for MLA).
    ``tpot_s`` and ``decode_tokens_per_s_per_gpu`` are the package's full estimate
    (:func:`analysis.estimate.decode` at context C: weights, compute, communication too);
    ``kv_read_share`` is the KV-read time over TPOT. ``fits`` compares B with the largest batch
    of :func:`largest_batch_table`.
    """
    opts = opts or E.Options()
    (s,) = parse_layouts([layout])
    m, hw = scenario.model, scenario.hardware
    lay = E.Layouts.from_strategies([s])
    bw = hw.hbm_bandwidth_bytes_per_s * (1.0 if opts.mode == "sol" else hw.bandwidth_utilization)
    n_moe, n_dense = E.stage_layers(m, s.pp)
    kv_seq_gpu = float((n_moe + n_dense) * A.cached_tokens_per_layer(m, context_tokens)
                       * E.kv_cache_bytes_per_token_per_layer_per_gpu(m, s.tp))
    cap = bw / (s.tp * s.pp * kv_seq_gpu)
    bmax = serving.max_running_requests(scenario, s, context_tokens - output_tokens,
                                        output_tokens, opts)
    rows = []
    for b in batches:
        wl = Workload(int(b), (context_tokens,), output_tokens)
        tpot, _ = E.decode(hw, m, wl, lay, opts, context_tokens)
        tpot = float(tpot[0])
        kv_s = b / (s.dp * s.dp_attn) * kv_seq_gpu / bw
        rows.append({"model": m.name, "layout": s.label(), "gpus": s.gpus, "batch": int(b),
                     "context_tokens": context_tokens, "kv_per_seq_bytes_per_gpu": kv_seq_gpu,
                     "kv_read_s": kv_s, "tpot_s": tpot, "kv_read_share": kv_s / tpot,
                     "decode_tokens_per_s_per_gpu": b / tpot / s.gpus,
                     "kv_cap_tokens_per_s_per_gpu": cap, "max_batch": int(bmax),
                     "fits": b <= bmax})
    return pd.DataFrame(rows)


def plot_largest_batch(df: pd.DataFrame) -> Figure:
    """Largest batch that fits (sequences, log scale) against context length C (tokens, log 2),
    one line per (model, layout) of :func:`largest_batch_table`. A line that halves when C
    doubles is limited by the cache alone."""
    fig, ax = fig_axes(width=8, height=4.8)
    keys = list(dict.fromkeys(zip(df["model"], df["layout"], strict=True)))
    for i, (model, layout) in enumerate(keys):
        g = df[(df["model"] == model) & (df["layout"] == layout)].sort_values("context_tokens")
        g = g[g["max_batch"] > 0]
        gpus = f"{g['gpus'].iloc[0]} GPUs" if len(g) else "does not fit"
        ax.plot(g["context_tokens"], g["max_batch"], marker="o", markersize=4,
                color=COLORS[i % 10], label=f"{model}, {layout} ({gpus})")
    log_axes(ax, minor=lambda v, _p: "")
    ax.set_xlabel("context length C = prompt + output (tokens)")
    ax.set_ylabel("largest batch that fits (sequences)")
    ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8)
    ax.set_title("The KV cache sets the batch: doubling the context halves the sequences "
                 "that fit", fontsize=10)
    return fig


def plot_decode_kv_cap(df: pd.DataFrame) -> Figure:
    """Decode throughput per GPU (tokens/ms) against batch (sequences, log 2), one panel per
    model of :func:`decode_kv_cap_table`: the estimate as a line (hollow markers where the batch
    does not fit in memory), the KV-read ceiling as a dashed horizontal line and the largest
    batch that fits as a dotted vertical line."""
    models = list(dict.fromkeys(df["model"]))
    fig, axes = fig_axes(ncols=len(models), width=6 * len(models), height=4.6)
    axes = np.atleast_1d(axes)
    for ax, model, color in zip(axes, models, COLORS[:len(models)], strict=True):
        g = df[df["model"] == model].sort_values("batch")
        y = g["decode_tokens_per_s_per_gpu"] / 1e3
        ax.plot(g["batch"], y, color=color, label=f"estimate, {g['layout'].iloc[0]}")
        fit = g[g["fits"]]
        no = g[~g["fits"]]
        ax.scatter(fit["batch"], fit["decode_tokens_per_s_per_gpu"] / 1e3, color=color, s=25,
                   zorder=3, label="fits in memory")
        ax.scatter(no["batch"], no["decode_tokens_per_s_per_gpu"] / 1e3, facecolor="white",
                   edgecolor=color, s=25, zorder=3, label="does not fit")
        cap = g["kv_cap_tokens_per_s_per_gpu"].iloc[0] / 1e3
        ax.axhline(cap, color="firebrick", linestyle="--", linewidth=1.2,
                   label=f"KV-read ceiling {cap:,.3g} tokens/ms")
        bmax = g["max_batch"].iloc[0]
        if bmax > 0:
            ax.axvline(bmax, color="dimgrey", linestyle=":", linewidth=1.2,
                       label=f"largest batch that fits: {bmax:,}")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(comma))
        ax.set_ylim(0, cap * 1.3)
        ax.set_xlabel("batch B (sequences decoding together)")
        ax.set_ylabel("decode throughput (tokens/ms per GPU)")
        ax.set_title(f"{model}, C = {g['context_tokens'].iloc[0]:,} tokens", fontsize=10)
        ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
        ax.legend(fontsize=7.5, loc="lower right")
    fig.suptitle("Decode throughput climbs with the batch until memory stops it; it can never "
                 "pass the KV-read ceiling", fontsize=11)
    return fig
