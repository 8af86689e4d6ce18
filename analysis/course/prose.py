"""Sentences of course chapters 01, 04, 05 and 06 written from the run's own numbers (issue 15).

A chapter re-run with another model or GPU must not describe the default one, so each "Reading
it", worked example and takeaway that quotes a number is built here from the chapter's tables
and parameters, and the notebook shows it with ``display(Markdown(...))``. Every function returns
markdown text; none computes a new quantity the package does not already compute elsewhere,
except the two exercise answers, whose equations are in their docstrings.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis import anatomy as A
from analysis import fmt
from analysis.estimate import formulas as f
from analysis.inputs.types import Hardware, Model


def _kv_formula(model: Model) -> str:
    """The KV bytes per token written out, e.g. ``16 layers × 2 × 16 heads × 32 × 2 B``."""
    a, b = model.attention, model.kv_bytes_per_element
    if a.kind == "mla":
        return (f"{model.num_layers} layers × ({a.kv_lora_rank} + {a.qk_rope_head_dim}) × "
                f"{b:g} B")
    return f"{model.num_layers} layers × 2 × {a.num_kv_heads} KV heads × {a.head_dim} × {b:g} B"


def anatomy_reading(model: Model, anatomy: pd.DataFrame, flops: pd.DataFrame,
                    prompt_tokens: int, context_tokens: int) -> str:
    """Chapter 01's "Reading it" and takeaway for ``model``, from ``tables.anatomy_table`` and
    ``tables.flops_per_token_table`` (both of this run)."""
    row = anatomy.set_index("component")
    total, routed = row.loc["total", "params"], row.loc["routed_experts", "params"]
    active = row.loc["total", "active_params"]
    active_excl = row.loc["total", "active_params_excl_input_embedding"]
    fl = flops.set_index("op")
    proj = fl.loc["attention_proj"]
    core = fl.loc["attention_core"]
    prefill_ratio = core.prefill_flops_per_token / proj.prefill_flops_per_token
    decode_ratio = core.decode_flops_per_token / proj.decode_flops_per_token
    experts = (f"the routed experts hold {routed / total:.0%} of the {fmt.params(total)} "
               f"parameters, but a token uses only k = {model.top_k} of the E = "
               f"{model.num_experts} experts, so" if model.is_moe else
               f"this dense model has {fmt.params(total)} parameters, and")
    declared = ""
    if model.declared_total_params:
        ratio = model.declared_total_params / total
        declared = (f" The declared {fmt.params(model.declared_total_params)} is "
                    f"{ratio:.2g}× the architecture's count"
                    + (": memory and time figures built on it cannot be right."
                       if abs(ratio - 1) > 0.1 else ", within 10%."))
    text = (f"**Reading it.** Blue bars are what the GPUs must store, orange what each token uses. "
            f"For {model.name} {experts} {fmt.params(active)} parameters are active "
            f"({fmt.params(active_excl)} without the input embedding).{declared} "
            f"The KV cache is {A.kv_cache_bytes_per_token(model):,.0f} bytes per token "
            f"({model.attention.kind.upper()}: {_kv_formula(model)}), and at S = "
            f"{prompt_tokens:,} attention core FLOPs are {prefill_ratio:.2g}× the attention "
            f"projections' ({decode_ratio:.2g}× in decode at C = {context_tokens:,}).\n\n"
            f"**Takeaway:** size memory by the total ({fmt.params(total)}"
            + (", dominated by experts, which ep divides" if model.is_moe and routed / total > 0.5
               else "")
            + f") and compute by the active count ({fmt.params(active)} per token).")
    return text


def params_per_gpu_with_ep(anatomy: pd.DataFrame, ep: int) -> float:
    """Parameters one GPU holds when only the routed experts are split over ep GPUs:
    ``P_gpu = (P_total - P_routed) + P_routed / ep`` (everything else is replicated; the
    shared experts count as replicated, as in ``estimate.memory``)."""
    row = anatomy.set_index("component")
    total, routed = row.loc["total", "params"], row.loc["routed_experts", "params"]
    return float(total - routed + routed / ep)


def collectives_reading(hw: Hardware, coll: pd.DataFrame) -> str:
    """Chapter 04's "Reading it" and takeaway for ``hw`` from ``tables.collective_table``."""
    ring = coll[coll["collective"] == "ring all-reduce"]
    g = hw.gpus_per_node
    inside = ring[ring["group_gpus"] <= g]
    largest = ring[ring["group_gpus"] == ring["group_gpus"].max()].iloc[0]
    up = hw.scaleup_bandwidth_bytes_per_s * hw.scaleup_efficiency
    out = hw.scaleout_bandwidth_bytes_per_s * hw.scaleout_efficiency
    floor = ""
    if len(inside):
        big = inside[inside["group_gpus"] == inside["group_gpus"].max()].iloc[0]
        floor = (f" For {hw.name} a ring all-reduce over {big.group_gpus} GPUs costs at least "
                 f"{big.latency_floor_s * 1e6:,.0f} µs whatever the message, and ")
    else:
        floor = f" For {hw.name} a ring all-reduce costs "
    tier = largest.tier.split(" (")[0]
    floor += (f"{largest.latency_floor_s * 1e6:,.0f} µs over {largest.group_gpus} GPUs "
              f"on the {tier} tier, because a ring's step count grows with N.")
    gap = up / out
    return (f"**Reading it.** Below about 100 kB per GPU every curve is flat: the *latency floor* "
            f"(2(N-1)·α for a ring, 2α for an all-to-all) dominates and the achieved bus "
            f"bandwidth is a tiny fraction of the link.{floor} Past about 10 MB the curves turn "
            f"bandwidth-bound and the bus bandwidth approaches the link: {up / 1e9:,.0f} GB/s "
            f"inside a node ({hw.scaleup_bandwidth_bytes_per_s / 1e9:,.0f} GB/s × "
            f"{hw.scaleup_efficiency:g}) against {out / 1e9:,.0f} GB/s across nodes "
            f"({hw.scaleout_bandwidth_bytes_per_s / 1e9:,.0f} GB/s × {hw.scaleout_efficiency:g}), "
            f"a {gap:.2g}× gap, which shows as the jump from N = {g} (solid) to larger N (dashed). "
            f"An all-to-all across nodes keeps part of its traffic inside the node, so its bus "
            f"bandwidth sits between the two tiers and falls towards the scale-out link as N "
            f"grows.\n\n**Takeaway:** keep tensor parallelism inside one node of {g} GPUs, batch "
            f"small messages past the latency floor, and expect expert parallelism beyond {g} "
            f"GPUs to run at scale-out speed (~{gap:.2g}× slower per byte on {hw.name}).")


def half_bandwidth_message_bytes(hw: Hardware, ranks: int) -> float:
    """Message per GPU at which a ring all-reduce over N ranks reaches half its link's bandwidth.

    Bus bandwidth is ``w / t`` with ``w = 2(N-1)/N · M`` and ``t = w / W + 2(N-1) α``; it is
    ``W / 2`` when ``w / W = 2(N-1) α``, i.e. ``M = N α W`` (W the derated link bandwidth, α its
    latency: NVLink while N fits in a node, the scale-out network past it)."""
    inside = ranks <= hw.gpus_per_node
    bw = (hw.scaleup_bandwidth_bytes_per_s * hw.scaleup_efficiency if inside
          else hw.scaleout_bandwidth_bytes_per_s * hw.scaleout_efficiency)
    alpha = hw.scaleup_latency_s if inside else hw.scaleout_latency_s
    return ranks * alpha * bw


def tp_worked_all_reduce(model: Model, hw: Hardware, batch_sequences: int) -> str:
    """Chapter 05's worked decode all-reduce for ``model`` on ``hw`` at tp = one node."""
    tp = hw.gpus_per_node
    d, a = model.hidden_size, model.activation_bytes_per_element
    msg = batch_sequences * d * a
    w = hw.scaleup_bandwidth_bytes_per_s * hw.scaleup_efficiency
    alpha = hw.scaleup_latency_s
    bw_s = 2 * (tp - 1) / tp * msg / w
    ring_s, tree_s = 2 * (tp - 1) * alpha, 2 * math.ceil(math.log2(tp)) * alpha
    best = float(f.all_reduce_time_s(msg, tp, w, alpha))
    pick = "tree" if tree_s < ring_s else "ring"
    out = hw.scaleout_bandwidth_bytes_per_s * hw.scaleout_efficiency
    return (f"Worked by hand, {model.name} decode on {hw.name} ($B = {batch_sequences}$, "
            f"$D = {d:,}$, {a:g} B per element): $M = {batch_sequences} \\cdot {d} \\cdot {a:g} = "
            f"{msg:,.0f}$ B. At tp = {tp} (one node, $W = "
            f"{hw.scaleup_bandwidth_bytes_per_s / 1e9:g} \\times {hw.scaleup_efficiency:g} = "
            f"{w / 1e9:g}$ GB/s, $\\alpha = {alpha * 1e6:g}$ µs): bandwidth term "
            f"$2 \\cdot {tp - 1}/{tp} \\cdot {msg:,.0f} / {w / 1e9:g}\\text{{e}}9 = "
            f"{bw_s * 1e6:.3g}$ µs; ring latency $2 \\cdot {tp - 1} \\cdot {alpha * 1e6:g} = "
            f"{ring_s * 1e6:.3g}$ µs, tree $2 \\cdot {math.ceil(math.log2(tp))} \\cdot "
            f"{alpha * 1e6:g} = {tree_s * 1e6:.3g}$ µs → {pick}, {best * 1e6:.3g} µs per "
            f"all-reduce, {2 * best * 1e6:.3g} µs per layer. Past {tp} GPUs the group leaves the "
            f"node and $W$ drops from {w / 1e9:g} to {out / 1e9:g} GB/s: the same message costs "
            f"~{w / out:.2g}× more. The table computes it for the example's and the real model's "
            f"decode and prefill messages:")


def ep_destinations_worked(model: Model, ep: int) -> str:
    """Chapter 06's worked count of dispatch destinations for ``model`` at N = ep."""
    k = model.top_k
    miss = (1 - 1 / ep) ** k
    dest = float(f.distinct_ranks_per_token(ep, k))
    return (f"Worked by hand for {model.name} ($k = {k}$) at $N = {ep}$: "
            f"${ep}\\,(1 - ({ep - 1}/{ep})^{{{k}}}) = {ep}\\,(1 - {miss:.4f}) = {dest:.2f}$ "
            f"ranks, {dest * (ep - 1) / ep:.2f} of them remote.")


def ep_destinations_reading(dest: pd.DataFrame) -> str:
    """How far the independent-draw count is from the exact one, per model of ``dest``
    (``expert_parallel.destinations_table`` rows with a ``model`` column)."""
    parts = []
    for name, d in dest.groupby("model", sort=False):
        gap = d["destinations_approx"] / d["destinations"] - 1
        parts.append(f"{name} {gap.min():+.1%} to {gap.max():+.1%}")
    return ("`destinations_approx` (independent draws) against `destinations` (the exact count "
            "the estimate uses, group-limited where the model routes within n_group groups), "
            f"over the ep degrees tried: {'; '.join(parts)}. A negative gap means the simple "
            "formula under-counts the dispatch traffic; group-limited routing, which keeps a "
            "token's picks within a few groups, makes it over-count.")


def ep_paper_count(model: Model, hw: Hardware, ep: int) -> str:
    """Chapter 06's note on how our dispatch count differs from the paper's anchor."""
    in_node = min(ep, hw.gpus_per_node) - 1
    shared = ("the shared expert is computed where the token lives (never dispatched), "
              if model.num_shared_experts else "")
    return (f"The same formula inside the estimate, for {model.name} at ep = {ep}, with the "
            f"paper's precisions and the raw link bandwidth (link efficiency 1). Our count "
            f"differs from the paper's on purpose: {shared}only remote ranks count, {in_node} of "
            f"them share the sender's node, and $D$ is the model's exact {model.hidden_size:,}; "
            f"so this is not the paper's number:")


def ep_balance_reading(balance: pd.DataFrame, tokens_per_gpu: int) -> str:
    """Chapter 06's reading of the exercise answer (``balance_tokens_per_gpu`` rows)."""
    plain = balance.iloc[0]
    ratio = plain.tokens_per_gpu / tokens_per_gpu
    return (f"With these parameters: {plain.tokens_per_gpu} tokens per GPU for {plain.model} at "
            f"ep = {plain.ep} (μ = {plain.mean_pairs:,.0f} pairs), {ratio:.2g}× the "
            f"{tokens_per_gpu} tokens it decodes with"
            + (", one reason to add redundant experts or overlap two micro-batches."
               if ratio > 1 else ": the decode batch already balances the ranks."))
