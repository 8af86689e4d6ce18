"""Chapter 05, tensor parallelism: what each of tp GPUs holds, the all-reduce algorithms, the
per-layer time against tp, and its figure.

Notation and units: ``notebooks/NOTATION.md`` (SI units in every column whose name carries
the unit).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import estimate as E
from analysis.course.layouts import pure_tp
from analysis.estimate import formulas as f
from analysis.inputs.types import Hardware, Model, Workload
from analysis.report.figures import DPI, PALETTE

__all__ = [
    "all_reduce_algorithms",
    "plot_tp_split",
    "tp_fastest",
    "tp_layer_time_table",
    "tp_shard_table",
]


LAYER_OPS = ("norms", "attention_proj", "attention_core", "router", "routed_experts",
             "shared_experts", "dense_ffn", "tp_all_reduce", "ep_dispatch_combine")


def tp_shard_table(model: Model, tps: Sequence[int], batch_sequences: int = 1) -> pd.DataFrame:
    """What one GPU of a pure-tp group holds: heads, KV heads (replicated past H_kv), FFN
    columns of each expert, vocabulary rows of the head, and the all-reduce message per token.

    Columns: tp, heads_per_gpu (H/tp), kv_heads_per_gpu (max(H_kv/tp, 1); MLA caches one latent
    on every rank), kv_replication (GPUs holding each KV head), ffn_columns_per_gpu (F/tp),
    vocab_rows_per_gpu (V/tp), all_reduces_per_layer (2), all_reduce_bytes_per_token (D * a),
    kv_cache_bytes_per_token_per_gpu (all L layers: ``L * 2 d_h max(H_kv/tp, 1) * b_kv``),
    valid, reason (why a tp is impossible, else "").
    """
    a = model.attention
    lay = pure_tp(tps)
    reasons = E.rejection_reasons(model, Workload(batch_sequences, (1,), 1), lay)
    t = lay.tp.astype(float)
    mla = a.kind == "mla"
    kv = np.ones_like(t) if mla else E.kv_heads_per_gpu(model, t)
    width = model.expert_intermediate_size if model.is_moe else model.dense_intermediate_size
    return pd.DataFrame({
        "tp": lay.tp, "heads_per_gpu": a.num_heads / t, "kv_heads_per_gpu": kv,
        "kv_replication": t if mla else np.maximum(t / a.num_kv_heads, 1.0),
        "ffn_columns_per_gpu": width / t, "vocab_rows_per_gpu": model.vocab_size / t,
        "all_reduces_per_layer": np.where(lay.tp > 1, 2, 0),
        "all_reduce_bytes_per_token": float(model.hidden_size * model.activation_bytes_per_element),
        "kv_cache_bytes_per_token_per_gpu": model.num_layers
        * E.kv_cache_bytes_per_token_per_layer_per_gpu(model, t),
        "valid": [not r for r in reasons], "reason": ["; ".join(r) for r in reasons]})


def all_reduce_algorithms(hw: Hardware, message_bytes: Sequence[float], ranks: Sequence[int],
                          opts: E.Options | None = None) -> pd.DataFrame:
    """Ring against tree all-reduce of M bytes over N adjacent GPUs (NVLink inside a node, the
    scale-out network past it), and the one the estimate takes (the faster).

    ring ``2(N-1)/N * M/W + 2(N-1) alpha``; tree ``2(N-1)/N * M/W + 2 ceil(log2 N) alpha``
    (``formulas.ring_all_reduce_time_s``, ``formulas.tree_all_reduce_time_s``). Columns: ranks,
    message_bytes, bandwidth_bytes_per_s, latency_s, ring_s, tree_s, time_s, algorithm.
    """
    opts = opts or E.Options()
    m = np.asarray(message_bytes, dtype=float)
    n = np.asarray(ranks, dtype=np.int64)
    nn, mm = (x.ravel() for x in np.meshgrid(n, m, indexing="ij"))
    bw, lat = (np.asarray(x, dtype=float) * np.ones(len(nn))
               for x in E.link_for_group(hw, nn, opts))
    ring = f.ring_all_reduce_time_s(mm, nn, bw, lat)
    tree = f.tree_all_reduce_time_s(mm, nn, bw, lat)
    return pd.DataFrame({"ranks": nn, "message_bytes": mm, "bandwidth_bytes_per_s": bw,
                         "latency_s": lat, "ring_s": ring, "tree_s": tree,
                         "time_s": f.all_reduce_time_s(mm, nn, bw, lat),
                         "algorithm": np.where(tree < ring, "tree", "ring")})


def _per_layer_split(ops: dict[str, E.OpCost], n_layers: np.ndarray) -> dict[str, np.ndarray]:
    """Per-layer time of the layer ops, split by what bounds each op: compute-bound ops' time,
    memory-bound ops' time, communication time (embedding and head left out)."""
    comp = mem = comm = 0.0
    for name in LAYER_OPS:
        op = ops[name]
        if name in E.COMM_OPS:
            comm = comm + op.time_s
        else:
            is_comp = op.compute_s >= op.memory_s
            comp = comp + np.where(is_comp, op.time_s, 0.0)
            mem = mem + np.where(is_comp, 0.0, op.time_s)
    return {"compute_s": comp / n_layers, "memory_s": mem / n_layers,
            "communication_s": comm / n_layers}


def tp_layer_time_table(hw: Hardware, model: Model, tps: Sequence[int], batch_sequences: int,
                        prompt_tokens: int, context_tokens: int,
                        opts: E.Options | None = None) -> pd.DataFrame:
    """Average per-layer time of pure tensor parallelism against tp, in prefill (B prompts of S
    tokens) and decode (one token for each of B sequences at context C), from
    ``estimate.stage_ops`` (one stage, one micro-batch). Impossible tp values are dropped (see
    :func:`tp_shard_table` for the reason).

    Each op takes ``max(compute, memory, communication)``; its time is filed under what bounds it.
    Columns: phase, tp, inside_node, compute_s, memory_s, communication_s, layer_s (their sum),
    speedup (layer_s at the smallest tp / layer_s), communication_share.
    """
    opts = opts or E.Options()
    shard = tp_shard_table(model, tps, batch_sequences)
    lay = pure_tp(shard.loc[shard["valid"], "tp"].to_numpy())
    n_moe, n_dense = E.stage_layers(model, lay.pp)
    frames = []
    for phase, q, ctx in (("prefill", prompt_tokens, 0.0), ("decode", 1, context_tokens)):
        ops = E.stage_ops(hw, model, lay, opts, seqs_per_group=batch_sequences,
                          query_tokens_per_seq=q, phase=phase, context_tokens=ctx)
        split = _per_layer_split(ops, n_moe + n_dense)
        df = pd.DataFrame({"phase": phase, "tp": lay.tp,
                           "inside_node": lay.tp <= hw.gpus_per_node, **split})
        df["layer_s"] = df["compute_s"] + df["memory_s"] + df["communication_s"]
        df["speedup"] = df["layer_s"].iloc[0] / df["layer_s"]
        df["communication_share"] = df["communication_s"] / df["layer_s"]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def tp_fastest(layer_times: pd.DataFrame) -> pd.DataFrame:
    """Per phase, the tp with the shortest layer time in a :func:`tp_layer_time_table`, and the
    share of that time spent in all-reduces. Columns: phase, tp, layer_s, communication_share."""
    idx = layer_times.groupby("phase", sort=False)["layer_s"].idxmin()
    return layer_times.loc[idx, ["phase", "tp", "layer_s", "communication_share"]] \
        .reset_index(drop=True)


def plot_tp_split(df: pd.DataFrame, gpus_per_node: int) -> Figure:
    """Stacked bars of the average per-layer time (compute-bound ops, memory-bound ops,
    all-reduce) against tp, one panel per (``model``, phase), from
    :func:`analysis.course.tp_layer_time_table` with a ``model`` column. A dashed line marks the
    node boundary (tp > ``gpus_per_node`` runs its all-reduces on the scale-out network)."""
    keys = list(dict.fromkeys(zip(df["model"], df["phase"], strict=True)))
    n_models = len(dict.fromkeys(df["model"]))
    fig, grid = plt.subplots(n_models, 2, figsize=(10, 3.6 * n_models + 0.6), dpi=DPI,
                             layout="constrained", squeeze=False)
    axes = list(grid.ravel())
    parts = (("compute_s", "compute-bound ops", PALETTE[0]),
             ("memory_s", "memory-bound ops", PALETTE[1]),
             ("communication_s", "TP all-reduces", PALETTE[3]))
    for ax, (m, phase) in zip(axes, keys, strict=False):
        g = df[(df["model"] == m) & (df["phase"] == phase)]
        x = np.arange(len(g))
        total = g["layer_s"].to_numpy() * 1e3
        scale, unit = (1e6, "µs") if total.max() < 1 else (1e3, "ms")
        bottom = np.zeros(len(g))
        for col, label, color in parts:
            v = g[col].to_numpy() * scale
            ax.bar(x, v, bottom=bottom, color=color, label=label, width=0.7)
            bottom += v
        for xi, t in zip(x, bottom, strict=True):
            ax.annotate(f"{t:,.3g}", (xi, t), xytext=(0, 2), textcoords="offset points",
                        ha="center", fontsize=7)
        inside = int((g["tp"] <= gpus_per_node).sum())
        if 0 < inside < len(g):
            ax.axvline(inside - 0.5, color="black", linestyle="--", linewidth=1)
            ax.annotate("node\nboundary", (inside - 0.5, 0.97),
                        xycoords=("data", "axes fraction"), xytext=(-3, 0),
                        textcoords="offset points", fontsize=7, va="top", ha="right")
        ax.set_xticks(x, [str(t) for t in g["tp"]])
        ax.set_xlabel("tensor-parallel degree tp (GPUs)")
        ax.set_ylabel(f"time per layer ({unit})")
        ax.set_ylim(top=bottom.max() * 1.18)
        ax.set_title(f"{m}: {phase}", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Per-layer time against tp: compute and weight reads shrink as 1/tp, the "
                 "all-reduces do not,\nand past the node they dominate", fontsize=10)
    return fig
