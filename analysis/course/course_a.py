"""The computations behind the course chapters (03 roofline, 05 tensor parallelism, 06 expert
parallelism), each a small pure function returning a pandas DataFrame.

Nothing here is a second model: per-layer and per-op times come from
:func:`analysis.estimate.stage_ops`, the same code the planner runs, and the closed forms below
(ridge points, break-even batches, destination counts, busiest-rank loads) are the equations the
chapters derive, with tests that tie each to the estimate or to a hand-worked number.

Notation as in ``notebooks/NOTATION.md``: B batch (sequences), S prompt length, C context,
D hidden size, F expert FFN width, E routed experts, k top-k, L layers, H / H_kv heads,
d_h head dim, V vocabulary; degrees tp, dp_attn, etp, ep, pp, dp; G = tp * dp_attn; N the ranks
of a collective; T tokens; P parameters of one weight matrix set; w bytes per weight, a bytes per
activation element. Units: SI (seconds, bytes, FLOP) in every column whose name carries the unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import anatomy as A
from analysis.estimate import formulas as f
from analysis.estimate import model as E
from analysis.inputs.types import Hardware, Model, Workload

__all__ = [
    "all_reduce_algorithms", "balance_tokens_per_gpu", "compute_bound_batch",
    "destinations_table", "distinct_ranks_exact", "ep_dispatch_table", "expert_bound_check",
    "imbalance_table", "intensity_table", "phase_intensity_table", "ridge_points", "tp_fastest",
    "tp_layer_time_table", "tp_shard_table", "touched_experts_table",
]

LAYER_OPS = ("norms", "attention_proj", "attention_core", "router", "routed_experts",
             "shared_experts", "dense_ffn", "tp_all_reduce", "ep_dispatch_combine")


def _opts(opts: E.Options | None) -> E.Options:
    return opts or E.Options()


def _efficiencies(hw: Hardware, mode: str) -> tuple[float, float]:
    """(MFU, HBM utilisation) of a mode: 1 and 1 at the speed of light."""
    return (1.0, 1.0) if mode == "sol" else (hw.mfu, hw.bandwidth_utilization)


# --------------------------------------------------------------------------------------------
# 03 · Roofline
# --------------------------------------------------------------------------------------------

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
    opts = _opts(opts)
    lay = _pure_tp([1, 1])
    ops = E.stage_ops(hw, model, lay, opts,
                      seqs_per_group=np.array([batch_sequences - 1, batch_sequences], dtype=float),
                      query_tokens_per_seq=1, phase="decode", context_tokens=context_tokens)
    op = ops["routed_experts"]
    return pd.DataFrame({"batch_sequences": [batch_sequences - 1, batch_sequences],
                         "flops": op.flops, "hbm_bytes": op.hbm_bytes,
                         "intensity_flops_per_byte": op.flops / op.hbm_bytes,
                         "compute_s": op.compute_s, "memory_s": op.memory_s,
                         "bound": np.where(op.compute_s >= op.memory_s, "compute", "memory")})


# --------------------------------------------------------------------------------------------
# 05 · Tensor parallelism
# --------------------------------------------------------------------------------------------

def _pure_tp(tps: Sequence[int]) -> E.Layouts:
    """Pure tensor parallelism: tp GPUs hold every expert, each a 1/tp slice (etp = tp, ep = 1)."""
    t = np.asarray(tps, dtype=np.int64)
    one = np.ones_like(t)
    return E.Layouts(tp=t, dp_attn=one, etp=t, ep=one, pp=one, dp=one, microbatches=one,
                     redundant_experts=0 * one)


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
    lay = _pure_tp(tps)
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
    opts = _opts(opts)
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
    opts = _opts(opts)
    shard = tp_shard_table(model, tps, batch_sequences)
    lay = _pure_tp(shard.loc[shard["valid"], "tp"].to_numpy())
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


# --------------------------------------------------------------------------------------------
# 06 · Expert parallelism
# --------------------------------------------------------------------------------------------

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


def _pure_ep(eps: Sequence[int]) -> E.Layouts:
    """Attention data parallel, experts expert-parallel over the same GPUs: tp = etp = 1,
    dp_attn = ep (the DeepSeek-V3 decode layout)."""
    n = np.asarray(eps, dtype=np.int64)
    one = np.ones_like(n)
    return E.Layouts(tp=one, dp_attn=n, etp=one, ep=n, pp=one, dp=one, microbatches=one,
                     redundant_experts=0 * one)


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
    opts = _opts(opts)
    eps = [n for n in eps if n <= model.num_experts and model.num_experts % n == 0]
    lay = _pure_ep(eps)
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
