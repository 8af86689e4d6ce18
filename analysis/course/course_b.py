"""Tables and figures for the course chapters on the KV cache (02), pipeline parallelism (11) and
data parallelism (12). Each table is a small pure function of the package's inputs that returns a
DataFrame in SI units (the unit in every column name); :func:`analysis.tables.readable` converts
them for people. Every number comes from :mod:`analysis.estimate`, :mod:`analysis.anatomy` and
:mod:`analysis.formulas`; nothing here is a second model of performance.

Notation (notebooks/NOTATION.md): B batch (sequences), S prompt length, C context (cached tokens),
L layers, H / H_kv / d_h heads, KV heads, head dim, r_kv the MLA latent (``kv_lora_rank``),
d_rope its shared rope key, b bytes per cached element; degrees tp, dp_attn, etp, ep, pp, dp,
m micro-batches; G = tp * dp_attn GPUs per stage.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis import anatomy as A
from analysis.estimate import formulas as f
from analysis.estimate import model as E
from analysis.estimate import serving
from analysis.inputs.errors import InputError
from analysis.inputs.types import Model, Scenario, Strategy, Workload

__all__ = [
    "attention_dp_table", "decode_kv_cap_table", "kv_bytes_per_token_table",
    "kv_per_gpu_vs_tp_table", "largest_batch_table", "microbatches_for_bubble", "parse_layout",
    "parse_layouts", "pipeline_capacity_table", "pipeline_latency_table", "plot_attention_dp",
    "plot_decode_kv_cap", "plot_largest_batch", "plot_pipeline",
]

_COLORS = plt.get_cmap("tab10").colors
_DPI = 110


# --------------------------------------------------------------------------------------------
# Layouts as notebook parameters
# --------------------------------------------------------------------------------------------

_PREFIX = {"tp": "tp", "dp_attn": "dp_attn", "etp": "etp", "ep": "ep", "pp": "pp", "dp": "dp",
           "mb": "microbatches", "re": "redundant_experts"}


def parse_layout(layout: Strategy | str) -> Strategy:
    """A layout from a :class:`Strategy`, ``"tp=4,ep=16"`` (:meth:`Strategy.parse`) or its label
    ``"tp4-ep16"`` (the form :func:`~analysis.inputs.layout_label` prints; ``"single-gpu"`` for
    none). Labels carry no ``=``, so papermill's ``inspect_notebook`` can read a parameter cell
    that holds them. Unnamed degrees are filled in as :meth:`Strategy.complete` does."""
    if isinstance(layout, Strategy):
        return layout
    text = str(layout).strip()
    if "=" in text:
        return Strategy.parse(text)
    if text in ("single-gpu", ""):
        return Strategy()
    values: dict[str, int] = {}
    for part in text.split("-"):
        m = re.fullmatch(r"([a-z_]+?)(\d+)", part)
        if m is None or m.group(1) not in _PREFIX:
            raise InputError("layout", text, f"cannot read {part!r}",
                             "a label such as 'tp8', 'tp4-ep16', 'dp_attn8-ep8-pp2' "
                             f"(degrees {', '.join(_PREFIX)}) or 'tp=4,ep=16'")
        values[_PREFIX[m.group(1)]] = int(m.group(2))
    return Strategy.complete(**values)


def parse_layouts(layouts: Sequence[Strategy | str]) -> list[Strategy]:
    """:func:`parse_layout` of each."""
    return [parse_layout(x) for x in layouts]





# --------------------------------------------------------------------------------------------
# KV cache (chapter 02)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Pipeline parallelism (chapter 11)
# --------------------------------------------------------------------------------------------

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


def _decode_at(scenario: Scenario, s: Strategy, batch: int, context_tokens: float,
               opts: E.Options) -> float:
    """TPOT of ``batch`` sequences at ``context_tokens`` (NaN for an empty batch)."""
    if batch < 1:
        return float("nan")
    wl = Workload(int(batch), (int(context_tokens),), scenario.workload.output_tokens)
    tpot, _ = E.decode(scenario.hardware, scenario.model, wl, E.Layouts.from_strategies([s]),
                       opts, context_tokens)
    return float(tpot[0])


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
        t_fix = _decode_at(scenario, s, b, context_tokens, opts)
        t_max = _decode_at(scenario, s, bmax, context_tokens, opts)
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


# --------------------------------------------------------------------------------------------
# Data parallelism and attention data parallelism (chapter 12)
# --------------------------------------------------------------------------------------------

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
        tpot = _decode_at(scenario, s, bmax, context_tokens, opts)
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


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def _fig(ncols: int = 1, width: float = 8.0, height: float = 4.5):
    return plt.subplots(1, ncols, figsize=(width, height), dpi=_DPI, layout="constrained")


def _comma(v: float, _pos) -> str:
    return f"{v:,.0f}" if v >= 1 else f"{v:g}"


def _minor_125(v: float, _pos) -> str:
    """Label the 2x and 5x minor ticks of a log axis, so a short range still reads."""
    lead = f"{v:.0e}"[0]
    return _comma(v, _pos) if lead in "25" else ""



def _log_axes(ax, minor=None) -> None:
    """Log-2 x axis and log y axis with plain-number tick labels (the course's log-log plots);
    ``minor`` formats the y minor ticks (default 1, 2, 5 of each decade)."""
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_comma))
    ax.yaxis.set_major_formatter(FuncFormatter(_comma))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor or _minor_125))

def plot_largest_batch(df: pd.DataFrame) -> Figure:
    """Largest batch that fits (sequences, log scale) against context length C (tokens, log 2),
    one line per (model, layout) of :func:`largest_batch_table`. A line that halves when C
    doubles is limited by the cache alone."""
    fig, ax = _fig(width=8, height=4.8)
    keys = list(dict.fromkeys(zip(df["model"], df["layout"], strict=True)))
    for i, (model, layout) in enumerate(keys):
        g = df[(df["model"] == model) & (df["layout"] == layout)].sort_values("context_tokens")
        g = g[g["max_batch"] > 0]
        gpus = f"{g['gpus'].iloc[0]} GPUs" if len(g) else "does not fit"
        ax.plot(g["context_tokens"], g["max_batch"], marker="o", markersize=4,
                color=_COLORS[i % 10], label=f"{model}, {layout} ({gpus})")
    _log_axes(ax, minor=lambda v, _p: "")
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
    fig, axes = _fig(ncols=len(models), width=6 * len(models), height=4.6)
    axes = np.atleast_1d(axes)
    for ax, model, color in zip(axes, models, _COLORS[:len(models)], strict=True):
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
        ax.xaxis.set_major_formatter(FuncFormatter(_comma))
        ax.set_ylim(0, cap * 1.3)
        ax.set_xlabel("batch B (sequences decoding together)")
        ax.set_ylabel("decode throughput (tokens/ms per GPU)")
        ax.set_title(f"{model}, C = {g['context_tokens'].iloc[0]:,} tokens", fontsize=10)
        ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
        ax.legend(fontsize=7.5, loc="lower right")
    fig.suptitle("Decode throughput climbs with the batch until memory stops it; it can never "
                 "pass the KV-read ceiling", fontsize=11)
    return fig


def plot_pipeline(latency: pd.DataFrame, capacity: pd.DataFrame, title: str) -> Figure:
    """Two panels against pp stages: TTFT (ms, log) of the batch, one line per micro-batch count
    m (:func:`pipeline_latency_table`); decode throughput per GPU (tokens/ms) at the scenario's
    batch and at the largest batch that fits (:func:`pipeline_capacity_table`)."""
    fig, (ax1, ax2) = _fig(ncols=2, width=12, height=4.6)
    ms = sorted(latency["microbatches"].unique())
    cmap = plt.get_cmap("viridis")
    for i, mb in enumerate(ms):
        g = latency[latency["microbatches"] == mb].sort_values("pp")
        ax1.plot(g["pp"], g["ttft_s"] * 1e3, marker="o", markersize=4,
                 color=cmap(i / max(len(ms) - 1, 1)), label=f"m = {mb}")
    g = latency[latency["microbatches"] == ms[-1]].sort_values("pp")
    ax1.plot(g["pp"], g["first_microbatch_s"] * 1e3, color="black", linestyle="--",
             linewidth=1, label=f"first micro-batch done, m = {ms[-1]}")
    _log_axes(ax1)
    ax1.set_xlabel("pipeline stages pp")
    ax1.set_ylabel("TTFT of the batch (ms)")
    ax1.set_title("Prefill: with m = 1 stages only wait for each other;\n"
                  "more micro-batches fill the pipeline", fontsize=10)
    ax1.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax1.legend(fontsize=8, title="micro-batches", title_fontsize=8)
    c = capacity.sort_values("pp")
    b = int(c["batch"].iloc[0]) if len(c) else 0
    ax2.plot(c["pp"], c["decode_fixed_batch_tokens_per_s_per_gpu"] / 1e3, marker="o",
             color=_COLORS[0], label=f"fixed batch B = {b:,}")
    ax2.plot(c["pp"], c["decode_max_batch_tokens_per_s_per_gpu"] / 1e3, marker="s",
             color=_COLORS[1], label="largest batch that fits")
    for _, r in c.iterrows():
        ax2.annotate(f"B={int(r['max_batch']):,}",
                     (r["pp"], r["decode_max_batch_tokens_per_s_per_gpu"] / 1e3),
                     xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax2.set_xscale("log", base=2)
    ax2.xaxis.set_major_formatter(FuncFormatter(_comma))
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


def plot_attention_dp(kv: pd.DataFrame, dp: pd.DataFrame) -> Figure:
    """Left: KV bytes per GPU for one sequence (MB, log) against tp (log 2), one line per model of
    :func:`kv_per_gpu_vs_tp_table`. Right: sequences that fit per GPU for each layout of
    :func:`attention_dp_table`, one bar group per model."""
    fig, (ax1, ax2) = _fig(ncols=2, width=12.5, height=4.8)
    for i, model in enumerate(dict.fromkeys(kv["model"])):
        g = kv[kv["model"] == model].sort_values("tp")
        ax1.plot(g["tp"], g["kv_per_seq_bytes_per_gpu"] / 1e6, marker="o", color=_COLORS[i],
                 label=f"{model} ({g['attention'].iloc[0]})")
    _log_axes(ax1)
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
                color=_COLORS[i], label=model)
    ax2.set_xticks(x, layouts, rotation=20, ha="right", fontsize=8)
    ax2.set_ylim(0, max(float(dp["max_batch_per_gpu"].max()), 1.0) * 1.25)
    ax2.set_xlabel("layout")
    ax2.set_ylabel("sequences that fit per GPU")
    ax2.set_title("Same GPUs, different split: attention DP holds more MLA sequences", fontsize=10)
    ax2.grid(True, axis="y", linewidth=0.4, alpha=0.6)
    ax2.legend(fontsize=8)
    return fig
