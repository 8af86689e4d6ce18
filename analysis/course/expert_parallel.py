"""Chapter 06, expert parallelism: dispatch destinations, all-to-all bytes and time against ep,
the busiest rank's load under random routing, the experts a batch touches, and their figures.
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
from analysis.course.layouts import pure_ep
from analysis.course.plots import (
    INT,
    panels,
)
from analysis.estimate import formulas as f
from analysis.inputs.types import Hardware, Model
from analysis.report.figures import PALETTE

__all__ = [
    "balance_tokens_per_gpu",
    "destinations_table",
    "distinct_ranks_exact",
    "ep_dispatch_table",
    "imbalance_table",
    "plot_dispatch_vs_ep",
    "plot_imbalance",
    "touched_experts_table",
]


def distinct_ranks_exact(ranks, num_experts: int, top_k: int):
    """Expected distinct ranks holding a token's k distinct experts:
    ``N * (1 - C(E - E/N, k) / C(E, k))``; see
    :func:`analysis.formulas.distinct_ranks_per_token_exact`, which the estimate uses."""
    return f.distinct_ranks_per_token_exact(ranks, num_experts, top_k)


def destinations_table(model: Model, eps: Sequence[int], gpus_per_node: int) -> pd.DataFrame:
    """Where one token's dispatch goes, expert parallelism over N = ep GPUs (tp = etp = 1).

    Columns: ep, destinations (exact, :func:`distinct_ranks_exact`, what the estimate uses),
    destinations_approx (``N(1-(1-1/N)^k)``, k independent draws), remote_destinations
    (``x (N-1)/N``),
    intra_node_destinations (``x (min(N, g)-1)/N`` for g GPUs per node),
    inter_node_destinations (``x (N - min(N, g))/N``).
    """
    n = np.asarray(eps, dtype=float)
    dest = E.ep_destinations(model, n, 1)
    in_node = np.minimum(n, gpus_per_node)
    return pd.DataFrame({
        "ep": np.asarray(eps, dtype=np.int64), "destinations": dest,
        "destinations_approx": f.distinct_ranks_per_token(n, model.top_k),
        "remote_destinations": dest * (n - 1) / n,
        "intra_node_destinations": dest * (in_node - 1) / n,
        "inter_node_destinations": dest * (n - in_node) / n})


def ep_dispatch_table(hw: Hardware, model: Model, eps: Sequence[int], tokens_per_gpu: float,
                      opts: E.Options | None = None) -> pd.DataFrame:
    """Dispatch + combine time of one MoE layer against ep, each GPU sending ``tokens_per_gpu``
    tokens (layout tp = etp = 1, dp_attn = ep). Degrees that do not divide E are dropped.

    Per link: ``T * n_dest * D * (b_dispatch + b_combine) / W + 2 alpha``
    (``formulas.ep_all_to_all_time_s``); the in-node share runs on NVLink while the cross-node
    share runs on the scale-out network, at the same time, so the layer takes the slower.
    ``layer_s`` is the estimate's own ``ep_dispatch_combine`` per MoE layer
    (``estimate.stage_ops``); ``intra_s``/``inter_s`` are its two parts. Columns: ep,
    crosses_node, destinations, intra_node_destinations, inter_node_destinations, intra_s,
    inter_s, layer_s, bytes_per_gpu.
    """
    opts = opts or E.Options()
    eps = [n for n in eps if n <= model.num_experts and model.num_experts % n == 0]
    lay = pure_ep(eps)
    dest = destinations_table(model, eps, hw.gpus_per_node)
    b_d, b_c = E.ep_element_bytes(model, opts)
    d = model.hidden_size
    bw_up, lat_up = (float(x) for x in E.link_for_group(hw, 1, opts))
    bw_out, lat_out = (float(x) for x in E.link_for_group(hw, hw.gpus_per_node + 1, opts))
    t = float(tokens_per_gpu)
    intra = f.ep_all_to_all_time_s(t, dest["intra_node_destinations"].to_numpy(), d, b_d, b_c,
                                   bw_up, lat_up)
    inter = f.ep_all_to_all_time_s(t, dest["inter_node_destinations"].to_numpy(), d, b_d, b_c,
                                   bw_out, lat_out)
    crosses = lay.ep > hw.gpus_per_node
    ops = E.stage_ops(hw, model, lay, opts, seqs_per_group=t * lay.ep.astype(float),
                      query_tokens_per_seq=1, phase="decode", context_tokens=1.0)
    n_moe = model.num_moe_layers
    return pd.DataFrame({
        "ep": lay.ep, "crosses_node": crosses, "destinations": dest["destinations"],
        "intra_node_destinations": dest["intra_node_destinations"],
        "inter_node_destinations": dest["inter_node_destinations"],
        "intra_s": np.where(lay.ep > 1, intra, 0.0), "inter_s": np.where(crosses, inter, 0.0),
        "overhead_s": np.broadcast_to(ops["ep_dispatch_combine"].overhead_s, lay.ep.shape) / n_moe,
        "layer_s": ops["ep_dispatch_combine"].time_s / n_moe,
        "bytes_per_gpu": ops["ep_dispatch_combine"].comm_bytes / n_moe})


def imbalance_table(mean_pairs: Sequence[float], ranks: Sequence[int], samples: int = 200,
                    seed: int = 0) -> pd.DataFrame:
    """The busiest of N EP ranks when token-expert pairs land uniformly at random, against the
    mean load mu per rank.

    Expected maximum ``mu + sqrt(2 mu ln N)`` (``formulas.expected_max_load``; Raab & Steger
    1998), so the imbalance factor is ``1 + sqrt(2 ln N / mu)``: it falls as 1/sqrt(mu). A seeded
    simulation throws ``round(mu N)`` pairs into N ranks ``samples`` times and averages the
    maximum. Columns: ranks, mean_pairs, expected_max_pairs, imbalance_factor,
    simulated_max_pairs, simulated_factor.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n in ranks:
        for mu in mean_pairs:
            worst = float(f.expected_max_load(mu, n))
            total = int(round(mu * n))
            sim = rng.multinomial(total, np.full(n, 1.0 / n), size=samples).max(axis=1).mean()
            rows.append({"ranks": int(n), "mean_pairs": float(mu), "expected_max_pairs": worst,
                         "imbalance_factor": worst / mu, "simulated_max_pairs": float(sim),
                         "simulated_factor": float(sim) / (total / n)})
    return pd.DataFrame(rows)


def balance_tokens_per_gpu(model: Model, ep: int, target_factor: float = 1.1,
                           redundant_experts: int = 0) -> pd.DataFrame:
    """Fewest decode tokens per GPU (layout tp = etp = 1, dp_attn = ep) that bring the busiest
    EP rank within ``target_factor`` of the mean.

    Each GPU sends T tokens with k picks each, so a rank's mean load is ``mu = T k``. The factor
    ``1 + s sqrt(2 ln N / mu) <= f`` with ``s = E / (E + R)`` (the estimate's redundant-expert
    heuristic, ``estimate.busiest_rank_load``) gives ``mu >= 2 ln N (s / (f - 1))^2`` and
    ``T = ceil(mu / k)``. Columns: model, ep, redundant_experts, target_factor, mean_pairs,
    tokens_per_gpu, batch_sequences (= T * ep).
    """
    s = model.num_experts / (model.num_experts + redundant_experts)
    mu = 2 * math.log(ep) * (s / (target_factor - 1)) ** 2
    t = math.ceil(mu / model.top_k - 1e-9)
    return pd.DataFrame([{"model": model.name, "ep": ep, "redundant_experts": redundant_experts,
                          "target_factor": target_factor, "mean_pairs": mu, "tokens_per_gpu": t,
                          "batch_sequences": t * ep}])


def touched_experts_table(model: Model, ep: int, tokens: Sequence[float]) -> pd.DataFrame:
    """Experts whose weights a decode step must read on one EP rank, against the tokens T of
    the step (all G = ep GPUs together).

    A rank holds E/N experts; each is missed by all T tokens with probability ``(1 - k/E)^T``, so
    ``touched = (E/N)(1 - (1 - k/E)^T)`` (``formulas.distinct_experts_touched``). Columns: tokens,
    experts_on_rank, touched_experts, touched_fraction, expert_bytes_read (per MoE layer).
    """
    t = np.asarray(tokens, dtype=float)
    on_rank = model.num_experts / ep
    touched = f.distinct_experts_touched(on_rank, model.num_experts, model.top_k, t)
    return pd.DataFrame({"tokens": t, "experts_on_rank": on_rank, "touched_experts": touched,
                         "touched_fraction": touched / on_rank,
                         "expert_bytes_read": touched * A.expert_params(model)
                         * model.expert_weight_bytes_per_param})


def plot_dispatch_vs_ep(df: pd.DataFrame, gpus_per_node: int) -> Figure:
    """Dispatch + combine time of one MoE layer against ep, one panel per ``model`` (from
    :func:`analysis.course.ep_dispatch_table` with a ``model`` column): the in-node (NVLink) part,
    the cross-node part and the layer's time (the slower of the two); the dotted line is the
    node boundary."""
    models = list(dict.fromkeys(df["model"]))
    fig, axes = panels(len(models))
    for ax, m in zip(axes, models, strict=True):
        g = df[df["model"] == m]
        ax.plot(g["ep"], g["layer_s"] * 1e6, color="black", marker="o", linewidth=2,
                label="layer time (slower part)")
        ax.plot(g["ep"], g["intra_s"] * 1e6, color=PALETTE[0], marker=".", linestyle="--",
                label="in-node part (NVLink)")
        inter = g[g["crosses_node"]]
        ax.plot(inter["ep"], inter["inter_s"] * 1e6, color=PALETTE[3], marker=".",
                linestyle="--", label="cross-node part (scale-out)")
        ax.axvline(gpus_per_node, color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"{gpus_per_node} GPUs per node", (gpus_per_node, 0.97),
                    xycoords=("data", "axes fraction"), xytext=(3, 0),
                    textcoords="offset points", fontsize=7, va="top")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(INT)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("expert-parallel degree ep (GPUs)")
        ax.set_ylabel("dispatch + combine per MoE layer (µs)")
        ax.grid(True, linewidth=0.4, alpha=0.6)
        ax.set_title(m, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Dispatch time jumps where the group leaves the node: past it most destinations "
                 "are on the ~9x slower scale-out link", fontsize=10)
    return fig


def plot_imbalance(df: pd.DataFrame) -> Figure:
    """Busiest-rank load over the mean against the mean token-expert pairs per rank, one line
    per rank count N (from :func:`analysis.course.imbalance_table`): the formula
    ``1 + sqrt(2 ln N / mu)`` as lines, the seeded simulation as dots."""
    fig, axes = panels(1, width_each=7.5, height=4.6)
    ax = axes[0]
    ranks = sorted(df["ranks"].unique())
    shades = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(ranks)))
    colors = dict(zip(ranks, shades, strict=True))
    for n, g in df.groupby("ranks"):
        ax.plot(g["mean_pairs"], g["imbalance_factor"], color=colors[n], label=f"N = {n}")
        ax.scatter(g["mean_pairs"], g["simulated_factor"], color=colors[n], s=18, zorder=3)
    ax.scatter([], [], color="grey", s=18, label="simulated (dots)")
    ax.axhline(1.1, color="firebrick", linestyle="--", linewidth=1, label="10% over the mean")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(INT)
    ax.set_xlabel("mean token-expert pairs per EP rank, μ")
    ax.set_ylabel("busiest rank / mean (imbalance factor)")
    ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8, title="EP ranks (lines: formula)", title_fontsize=8)
    ax.set_title("Random routing overloads the busiest rank by ~sqrt(2 ln N / μ): small decode "
                 "batches pay\nthe most, and the formula sits above the simulation "
                 "(conservative)", fontsize=10)
    return fig
