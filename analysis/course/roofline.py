"""Chapter 03, the roofline: ridge points, arithmetic intensity of each weight-reading op by
tokens in flight, the batch at which decode turns compute-bound, and its figure.

Nothing here is a second model: per-op times come from :func:`analysis.estimate.stage_ops`, the
same code the planner runs.

Notation and units: ``notebooks/NOTATION.md`` (SI units in every column whose name carries
the unit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import anatomy as A
from analysis import estimate as E
from analysis.course.layouts import pure_tp
from analysis.course.plots import (
    INT,
    panels,
)
from analysis.inputs.types import Hardware, Model
from analysis.report.figures import PALETTE

__all__ = [
    "compute_bound_batch",
    "expert_bound_check",
    "intensity_table",
    "phase_intensity_table",
    "plot_intensity",
    "ridge_points",
]


def _efficiencies(hw: Hardware, mode: str) -> tuple[float, float]:
    """(MFU, HBM utilisation) of a mode: 1 and 1 at the speed of light."""
    return (1.0, 1.0) if mode == "sol" else (hw.mfu, hw.bandwidth_utilization)


def ridge_points(hw: Hardware, precision: str) -> pd.DataFrame:
    """The intensity where an op stops being memory-bound, at the speed of light and derated.

    ``I* = peak / bandwidth`` (jax-ml/scaling-book, "Rooflines"); derated
    ``I* = (peak * MFU) / (bandwidth * utilisation)``, the threshold the estimate's ``bound``
    column uses. Columns: mode, peak_flops_per_s, hbm_bandwidth_bytes_per_s,
    ridge_flops_per_byte.
    """
    peak, bw = hw.peak_flops_for(precision), hw.hbm_bandwidth_bytes_per_s
    rows = []
    for mode in ("sol", "derated"):
        mfu, util = _efficiencies(hw, mode)
        rows.append({"mode": mode, "peak_flops_per_s": peak * mfu,
                     "hbm_bandwidth_bytes_per_s": bw * util,
                     "ridge_flops_per_byte": peak * mfu / (bw * util)})
    return pd.DataFrame(rows)


def _weight_ops(model: Model) -> dict[str, tuple[float, float, float]]:
    """Per weight-bearing op: (P parameters read once, w bytes per parameter, activation bytes
    per token), with the same byte terms as ``estimate.stage_ops`` at tp = etp = 1.

    * attention projections: ``P = attention matmul params``; per token it reads its input,
      writes its output (2D) and the q, k, v, o widths;
    * one routed expert: ``P = n_mat * D * F``; per token ``(2D + 2 * n_in * F) * a`` (input,
      output, and the n_in intermediate vectors written and read back).
    """
    act = model.activation_bytes_per_element
    width = E.attention_width(model)
    ops = {"attention_proj": (float(A.attention_matmul_params_per_layer(model)),
                              model.weight_bytes_per_param, (2 * model.hidden_size + width) * act)}
    if model.is_moe:
        n_in = 2 if model.ffn_gated else 1
        ops["routed_expert"] = (float(A.expert_params(model)), model.expert_weight_bytes_per_param,
                                (2 * model.hidden_size + 2 * n_in * model.expert_intermediate_size)
                                * act)
    return ops


def intensity_table(model: Model, tokens: Sequence[float]) -> pd.DataFrame:
    """Arithmetic intensity of a weight matmul against the tokens that share one read of it.

    T tokens through P parameters: ``FLOPs = 2 T P``, ``bytes = P w + T c`` (c activation bytes
    per token), so ``I(T) = 2 T P / (P w + T c)``: about ``2T / w`` while the weights dominate the
    bytes, and at most ``2P / c`` once the activations do. Columns: op, tokens, flops, hbm_bytes,
    intensity_flops_per_byte, weights_only_intensity_flops_per_byte (= 2T/w).
    """
    t = np.asarray(tokens, dtype=float)
    frames = []
    for op, (p, w, c) in _weight_ops(model).items():
        flops, nbytes = 2 * t * p, p * w + t * c
        frames.append(pd.DataFrame({"op": op, "tokens": t, "flops": flops, "hbm_bytes": nbytes,
                                    "intensity_flops_per_byte": flops / nbytes,
                                    "weights_only_intensity_flops_per_byte": 2 * t / w}))
    return pd.concat(frames, ignore_index=True)


def phase_intensity_table(hw: Hardware, model: Model, batch_sequences: int,
                          prompt_tokens: int) -> pd.DataFrame:
    """Where prefill and decode put each weight matmul on one GPU holding the whole model
    (tp = ep = 1), against the derated ridge.

    Tokens per weight read: prefill of B prompts of S tokens gives the attention projections
    ``T = B S`` and each routed expert ``T = B S k / E`` on average; a decode step gives ``T = B``
    and ``T = B k / E``. Columns: op, phase, tokens, intensity_flops_per_byte,
    ridge_flops_per_byte (derated), bound.
    """
    ridge = float(ridge_points(hw, model.activation_precision)["ridge_flops_per_byte"].iloc[1])
    rows = []
    for op, (p, w, c) in _weight_ops(model).items():
        share = model.top_k / model.num_experts if op == "routed_expert" else 1.0
        for phase, t in (("prefill", batch_sequences * prompt_tokens * share),
                         ("decode", batch_sequences * share)):
            i = 2 * t * p / (p * w + t * c)
            rows.append({"op": op, "phase": phase, "tokens": t, "intensity_flops_per_byte": i,
                         "ridge_flops_per_byte": ridge,
                         "bound": "compute" if i >= ridge else "memory"})
    return pd.DataFrame(rows)


def compute_bound_batch(hw: Hardware, model: Model) -> pd.DataFrame:
    """The decode batch at which each weight matmul turns compute-bound, at the speed of light
    and derated.

    Setting ``I(T) = I*`` in :func:`intensity_table` gives the tokens per weight read
    ``T* = I* P w / (2P - I* c)`` (infinite when ``2P <= I* c``: the op never gets there). A
    decode step brings one token per sequence: the attention projections see ``T = B`` (per
    attention GPU), a routed expert ``T = B k / E`` on average, so ``B* = T*`` and
    ``B* = T* E / k``, rounded up. Columns: op, mode, ridge_flops_per_byte,
    tokens_per_weight_read, decode_batch.
    """
    ridges = ridge_points(hw, model.activation_precision)
    rows = []
    for op, (p, w, c) in _weight_ops(model).items():
        per_token = model.num_experts / model.top_k if op == "routed_expert" else 1.0
        for _, r in ridges.iterrows():
            ridge = float(r["ridge_flops_per_byte"])
            denom = 2 * p - ridge * c
            t_star = ridge * p * w / denom if denom > 0 else math.inf
            batch = math.ceil(t_star * per_token - 1e-9) if math.isfinite(t_star) else math.inf
            rows.append({"op": op, "mode": r["mode"], "ridge_flops_per_byte": ridge,
                         "tokens_per_weight_read": t_star, "decode_batch": batch})
    return pd.DataFrame(rows)


def expert_bound_check(hw: Hardware, model: Model, batch_sequences: int,
                       context_tokens: int, opts: E.Options | None = None) -> pd.DataFrame:
    """The estimate's own verdict on the routed experts of a decode step just below and at
    ``batch_sequences`` (one GPU holding the whole model, ``estimate.stage_ops``): the check of
    :func:`compute_bound_batch` against the full model, where touched experts, the router's
    choice and the busiest rank are all accounted. Columns: batch_sequences, flops, hbm_bytes,
    intensity_flops_per_byte, compute_s, memory_s, bound.
    """
    opts = opts or E.Options()
    lay = pure_tp([1, 1])
    ops = E.stage_ops(hw, model, lay, opts,
                      seqs_per_group=np.array([batch_sequences - 1, batch_sequences], dtype=float),
                      query_tokens_per_seq=1, phase="decode", context_tokens=context_tokens)
    op = ops["routed_experts"]
    return pd.DataFrame({"batch_sequences": [batch_sequences - 1, batch_sequences],
                         "flops": op.flops, "hbm_bytes": op.hbm_bytes,
                         "intensity_flops_per_byte": op.flops / op.hbm_bytes,
                         "compute_s": op.compute_s, "memory_s": op.memory_s,
                         "bound": np.where(op.compute_s >= op.memory_s, "compute", "memory")})


def plot_intensity(curves: pd.DataFrame, points: pd.DataFrame, ridges: pd.DataFrame) -> Figure:
    """Arithmetic intensity against tokens per weight read, one panel per ``model``.

    ``curves``: :func:`analysis.course.intensity_table` rows with a ``model`` column; ``points``:
    :func:`analysis.course.phase_intensity_table` rows with a ``model`` column (prefill as
    circles, decode as squares); ``ridges``: :func:`analysis.course.ridge_points` rows with a
    ``model`` column (derated ridge dashed, speed of light dotted).
    """
    models = list(dict.fromkeys(curves["model"]))
    fig, axes = panels(len(models))
    colors = {"attention_proj": PALETTE[0], "routed_expert": PALETTE[1]}
    for ax, m in zip(axes, models, strict=True):
        c = curves[curves["model"] == m]
        for op, g in c.groupby("op", sort=False):
            ax.loglog(g["tokens"], g["intensity_flops_per_byte"], color=colors.get(op, "grey"),
                      label=op.replace("_", " "))
        r = ridges[ridges["model"] == m].set_index("mode")["ridge_flops_per_byte"]
        ax.axhline(r["derated"], color="black", linestyle="--", linewidth=1,
                   label=f"ridge, derated: {r['derated']:,.0f} FLOP/B")
        ax.axhline(r["sol"], color="grey", linestyle=":", linewidth=1,
                   label=f"ridge, speed of light: {r['sol']:,.0f} FLOP/B")
        p = points[points["model"] == m]
        for (op, phase), g in p.groupby(["op", "phase"], sort=False):
            ax.scatter(g["tokens"], g["intensity_flops_per_byte"], s=70, zorder=4,
                       marker="o" if phase == "prefill" else "s", color=colors.get(op, "grey"),
                       edgecolor="black", linewidth=0.6)
        ax.set_xlabel("tokens sharing one read of the weights, T")
        ax.set_ylabel("arithmetic intensity (FLOPs per HBM byte)")
        ax.xaxis.set_major_formatter(INT)
        ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
        ax.set_title(m, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], marker=mk, linestyle="", color="white", markeredgecolor="black")
                for mk in ("o", "s")]
    labels += ["prefill (T = B·S, or B·S·k/E per expert)", "decode (T = B, or B·k/E per expert)"]
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Intensity grows with the tokens that share a weight read: about 2T/w FLOPs per "
                 "byte until the ridge; decode (squares) sits far left of prefill (circles)",
                 fontsize=10)
    return fig
