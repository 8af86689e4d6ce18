"""Chapter 06, two-batch overlap (TBO): one decode step of one MoE layer as a timeline, without
overlap and with the batch split into two micro-batches whose communication hides under the
other's GPU work, every duration taken from the estimate's own per-op rows
(:attr:`analysis.estimate.Estimate.decode_ops`), never re-derived. Notation and units:
``notebooks/NOTATION.md``.

The estimate's model of TBO (:func:`analysis.estimate.ops.stage_split_s`): with G the GPU time
and C the communication time of one micro-batch's layer, the pair takes ``2 max(G, C)``; without
overlap (``overlap_fraction`` 0) the whole batch's layer takes ``G_1 + C_1``, the sum of its ops.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis import estimate as E
from analysis.course.plots import panels
from analysis.inputs.types import Scenario, Strategy
from analysis.report.figures import PALETTE

__all__ = ["LAYER_OPS", "decode_layer_ops", "ep_decode_layer_ops", "plot_tbo_timeline",
           "tbo_reading", "tbo_segments", "tbo_summary"]

#: The ops of one MoE layer in the order the timeline draws them: (op, stream, per) where the
#: estimate's row covers ``per`` = "layers" (every layer of the stage) or "moe" (its MoE layers).
#: Per-step ops (embedding, head, pipeline send) and the dense layers' FFN are not in a layer.
LAYER_OPS: tuple[tuple[str, str, str], ...] = (
    ("norms", "compute", "layers"),
    ("attention_proj", "compute", "layers"),
    ("attention_core", "compute", "layers"),
    ("tp_all_reduce", "communication", "layers"),
    ("router", "compute", "moe"),
    ("ep_dispatch_combine", "communication", "moe"),
    ("routed_experts", "compute", "moe"),
    ("shared_experts", "compute", "moe"),
)


def _layer_rows(est: E.Estimate) -> pd.DataFrame:
    """The estimate's decode op rows of :data:`LAYER_OPS`, divided by the layers they cover:
    per-layer ``time_s`` and ``hbm_bytes``."""
    n_moe, n_dense = (float(x[0]) for x in E.stage_layers(est.scenario.model,
                                                           np.array([est.strategy.pp])))
    layers = {"layers": n_moe + n_dense, "moe": n_moe}
    rows = {r["op"]: r for r in est.decode_ops}
    return pd.DataFrame([{"op": op, "stream": stream,
                          "time_s": rows[op]["time_s"] / layers[per],
                          "hbm_bytes": rows[op]["hbm_bytes"] / layers[per]}
                         for op, stream, per in LAYER_OPS])


def decode_layer_ops(scenario: Scenario, strategy: Strategy,
                     opts: E.Options | None = None) -> pd.DataFrame:
    """One MoE layer's decode ops at the longest context for ``strategy`` without and with
    two-batch overlap: the estimate run twice (``two_batch_overlap`` off and on), its
    ``decode_ops`` rows per layer (:data:`LAYER_OPS`). Columns: op, stream (compute or
    communication), off_s and off_hbm_bytes (the whole batch), on_s and on_hbm_bytes (one of
    the two micro-batches); ``attrs`` carry the model, layout and micro-batch count."""
    off = E.estimate(scenario, strategy.with_(two_batch_overlap=False), opts)
    on = E.estimate(scenario, strategy.with_(two_batch_overlap=True), opts)
    a, b = _layer_rows(off), _layer_rows(on)
    df = pd.DataFrame({"op": a["op"], "stream": a["stream"], "off_s": a["time_s"],
                       "off_hbm_bytes": a["hbm_bytes"], "on_s": b["time_s"],
                       "on_hbm_bytes": b["hbm_bytes"]})
    df.attrs.update(model=scenario.model.name, layout=strategy.with_(
        two_batch_overlap=True).label(), tokens_per_rank=scenario.workload.batch_sequences
        / strategy.dp_attn / strategy.dp)
    return df


def tbo_segments(ops: pd.DataFrame) -> pd.DataFrame:
    """The timeline's bars from :func:`decode_layer_ops`. Without overlap the whole batch's ops
    run one after the other (length = the sum of the ops). With TBO, in steady state: micro-batch
    A's GPU ops run while B's communication runs, then B's GPU ops while A's communication
    runs; each half takes ``max(G, C)`` (one micro-batch's GPU and communication time), the
    layer ``2 max(G, C)``, as the estimate charges it. The order of ops inside a stream is
    illustrative. Columns: timeline, micro_batch, stream, op, start_s, end_s (zero-length ops
    dropped)."""
    live = ops[(ops["off_s"] > 0) | (ops["on_s"] > 0)]
    out, t = [], 0.0
    for r in live.itertuples():
        out.append(("no overlap", "whole batch", r.stream, r.op, t, t + r.off_s))
        t += r.off_s
    s = tbo_summary(ops)
    half = s["tbo_layer_s"] / 2
    for start, gpu_mb, comm_mb in ((0.0, "A", "B"), (half, "B", "A")):
        clock = {"compute": start, "communication": start}
        for r in live.itertuples():
            mb = gpu_mb if r.stream == "compute" else comm_mb
            out.append(("two-batch overlap", mb, r.stream, r.op, clock[r.stream],
                        clock[r.stream] + r.on_s))
            clock[r.stream] += r.on_s
    df = pd.DataFrame(out, columns=["timeline", "micro_batch", "stream", "op", "start_s",
                                    "end_s"])
    return df[df["end_s"] > df["start_s"]].reset_index(drop=True)


def tbo_summary(ops: pd.DataFrame) -> dict[str, float]:
    """What TBO hides and what it costs, per MoE layer, from :func:`decode_layer_ops`:
    ``off_layer_s = G_1 + C_1``; ``tbo_layer_s = 2 max(G, C)``; ``comm_s = 2 C`` of which
    ``hidden_comm_s = 2 min(G, C)`` runs under the other micro-batch's GPU work;
    ``extra_gpu_s = 2 G - G_1`` (smaller GEMMs and the second weight read);
    ``gpu_bytes_off`` / ``gpu_bytes_on`` the GPU ops' HBM bytes (one pass vs two)."""
    gpu = ops["stream"] == "compute"
    g1, c1 = float(ops.loc[gpu, "off_s"].sum()), float(ops.loc[~gpu, "off_s"].sum())
    g, c = float(ops.loc[gpu, "on_s"].sum()), float(ops.loc[~gpu, "on_s"].sum())
    return {"off_layer_s": g1 + c1, "tbo_layer_s": 2 * max(g, c), "off_comm_s": c1,
            "comm_s": 2 * c, "hidden_comm_s": 2 * min(g, c), "off_gpu_s": g1, "gpu_s": 2 * g,
            "extra_gpu_s": 2 * g - g1,
            "gpu_bytes_off": float(ops.loc[gpu, "off_hbm_bytes"].sum()),
            "gpu_bytes_on": 2 * float(ops.loc[gpu, "on_hbm_bytes"].sum())}


def plot_tbo_timeline(ops: pd.DataFrame) -> Figure:
    """Two Gantt panels of one MoE layer's decode step (from :func:`decode_layer_ops`): without
    overlap and with two-batch overlap, one row per stream (compute, communication), bars
    coloured by op (micro-batch B hatched), a shared ms axis and a note of what is hidden and
    what TBO costs."""
    seg, s = tbo_segments(ops), tbo_summary(ops)
    names = list(dict.fromkeys(seg["op"]))
    colour = {op: PALETTE[i % len(PALETTE)] for i, op in enumerate(names)}
    fig, axes = panels(1, width_each=9.0, height=4.8)
    ax = axes[0]
    rows = [("no overlap", "compute"), ("no overlap", "communication"),
            ("two-batch overlap", "compute"), ("two-batch overlap", "communication")]
    for y, (tl, stream) in enumerate(rows):
        g = seg[(seg["timeline"] == tl) & (seg["stream"] == stream)]
        for r in g.itertuples():
            ax.broken_barh([(r.start_s * 1e3, (r.end_s - r.start_s) * 1e3)], (y - 0.38, 0.76),
                           facecolors=colour[r.op], edgecolor="white", linewidth=0.5,
                           hatch="//" if r.micro_batch == "B" else None)
    ax.set_yticks(range(len(rows)), [f"{tl}\n{stream}" for tl, stream in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axhline(1.5, color="grey", linewidth=0.6)
    for x, y in ((s["off_layer_s"], 0), (s["tbo_layer_s"], 2)):     # each timeline's end
        ax.vlines(x * 1e3, y - 0.5, y + 1.5, color="black", linestyle=":", linewidth=1)
        ax.annotate(f"{x * 1e3:.3f} ms", (x * 1e3, y - 0.45), xytext=(3, 0),
                    textcoords="offset points", fontsize=7, va="top")
    ax.set_xlabel("time within one MoE layer of a decode step (ms)")
    ax.grid(True, axis="x", linewidth=0.4, alpha=0.6)
    handles = [Patch(facecolor=colour[o], label=o) for o in names]
    handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//", label="micro-batch B"))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    ax.set_title(f"{ops.attrs.get('model', '')} on {ops.attrs.get('layout', '')}: one MoE layer "
                 f"of a decode step\ntwo-batch overlap hides {s['hidden_comm_s'] * 1e3:.3f} of "
                 f"{s['comm_s'] * 1e3:.3f} ms of communication and costs "
                 f"{s['extra_gpu_s'] * 1e3:+.3f} ms of GPU time\n(half-size GEMMs; each "
                 f"micro-batch reads the weights: GPU ops read {s['gpu_bytes_off'] / 1e6:,.0f} -> "
                 f"{s['gpu_bytes_on'] / 1e6:,.0f} MB per layer)", fontsize=9)
    return fig


def tbo_reading(ops: pd.DataFrame) -> str:
    """A paragraph reading :func:`tbo_summary` of the run: lengths, hidden communication, the
    GPU cost and which way the trade falls."""
    s, a = tbo_summary(ops), ops.attrs
    gain = s["off_layer_s"] - s["tbo_layer_s"]
    verdict = ("TBO wins" if gain > 0 else "TBO loses: the second weight read and the smaller "
               "GEMMs cost more than the communication it hides")
    return (f"For {a.get('model', 'the model')} on `{a.get('layout', '')}` with "
            f"{a.get('tokens_per_rank', 0):g} decode tokens per attention rank, one MoE layer "
            f"takes {s['off_layer_s'] * 1e3:.3f} ms without overlap (GPU "
            f"{s['off_gpu_s'] * 1e3:.3f} ms + communication {s['off_comm_s'] * 1e3:.3f} ms) and "
            f"{s['tbo_layer_s'] * 1e3:.3f} ms with two-batch overlap: "
            f"{s['hidden_comm_s'] * 1e3:.3f} of its {s['comm_s'] * 1e3:.3f} ms of communication "
            f"hide under the other micro-batch's GPU work, while the GPU work grows from "
            f"{s['off_gpu_s'] * 1e3:.3f} to {s['gpu_s'] * 1e3:.3f} ms (each micro-batch reads "
            f"the weights again, so the GPU ops read {s['gpu_bytes_off'] / 1e6:,.0f} -> "
            f"{s['gpu_bytes_on'] / 1e6:,.0f} MB per layer, and each GEMM has half the rows). "
            f"{verdict} by {abs(gain) * 1e3:.3f} ms per layer.")


def ep_decode_layer_ops(scenario: Scenario, ep: int, tokens_per_gpu: int,
                        opts: E.Options | None = None) -> pd.DataFrame:
    """:func:`decode_layer_ops` of DeepSeek's decode layout (tp = etp = 1, dp_attn = ep, ep
    capped at E) with ``tokens_per_gpu`` sequences on each GPU (the batch is set to
    ``tokens_per_gpu * ep``)."""
    n = min(int(ep), scenario.model.num_experts)
    sc = replace(scenario, workload=replace(scenario.workload,
                                            batch_sequences=int(tokens_per_gpu) * n))
    return decode_layer_ops(sc, Strategy(tp=1, dp_attn=n, etp=1, ep=n), opts)
