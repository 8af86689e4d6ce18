"""The strategy report: every section of the seed plan's layout, computed rather than claimed.

``write_report(scenario, out_dir)`` runs the planner (under both readings of the model when its
declared size disagrees with its architecture), estimates the recommendation and any current
strategy, draws the figures and writes ``report.md`` and ``strategies.csv``. Output is
deterministic: the same inputs give byte-identical text.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import anatomy as A
from analysis import fmt
from analysis.estimate import model as E
from analysis.inputs.errors import LayoutError
from analysis.inputs.types import DEGREE_NAMES, Scenario, Strategy
from analysis.search import planner as S

# --------------------------------------------------------------------------------------------
# Small text helpers
# --------------------------------------------------------------------------------------------

def md_table(rows: list[list[object]], header: list[str], align: str | None = None) -> str:
    """A GitHub-flavoured markdown table; ``align`` is one of l/r per column."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def _strategy(row: pd.Series) -> Strategy:
    return Strategy(**{n: int(row[n]) for n in DEGREE_NAMES})


def _degrees_text(s: Strategy) -> str:
    return (f"tp={s.tp}, dp_attn={s.dp_attn}, etp={s.etp}, ep={s.ep}, pp={s.pp}, dp={s.dp}, "
            f"prefill micro-batches={s.microbatches}"
            + (f", redundant experts={s.redundant_experts}" if s.redundant_experts else ""))


# --------------------------------------------------------------------------------------------
# Derived sections
# --------------------------------------------------------------------------------------------

def placement(scenario: Scenario, s: Strategy) -> dict:
    """Which GPUs hold what: nodes, pipeline stages and their layers, expert ranks and their
    experts, what a TP group splits. GPU ids count tp fastest, then dp_attn, pp, dp."""
    m, hw = scenario.model, scenario.hardware
    gpn = hw.gpus_per_node
    g = s.tp * s.dp_attn
    per_stage = math.ceil(m.num_layers / s.pp)
    stages = []
    for st in range(s.pp):
        lo, hi = st * per_stage, min(m.num_layers, (st + 1) * per_stage) - 1
        first = st * g
        stages.append({"stage": st, "layers": f"{lo}-{hi}" if hi >= lo else "none",
                       "gpus": f"{first}-{first + g - 1}",
                       "nodes": f"{first // gpn}-{(first + g - 1) // gpn}"
                       if first // gpn != (first + g - 1) // gpn else f"{first // gpn}"})
    experts = []
    if m.is_moe:
        per_rank = (m.num_experts + s.redundant_experts) / s.ep
        for r in range(s.ep):
            lo = int(r * m.num_experts / s.ep)
            hi = int((r + 1) * m.num_experts / s.ep) - 1
            gpus = [r * s.etp + j for j in range(s.etp)]
            experts.append({"ep_rank": r, "experts": f"{lo}-{hi}" if hi > lo else f"{lo}",
                            "gpus_in_stage": ",".join(map(str, gpus)),
                            "ffn_columns_per_gpu": m.expert_intermediate_size // s.etp,
                            "experts_per_gpu": per_rank})
    a = m.attention
    tp_split = {"query heads per GPU": a.num_heads // s.tp,
                "KV heads per GPU": (f"{a.num_kv_heads / s.tp:g}" if a.kind == "gqa"
                                     and s.tp <= a.num_kv_heads else
                                     ("1 (replicated)" if a.kind == "gqa" else
                                      "the whole MLA latent (replicated)")),
                "vocabulary rows per GPU": math.ceil(m.vocab_size / s.tp)}
    if m.num_dense_layers:
        tp_split["dense FFN columns per GPU"] = m.dense_intermediate_size // s.tp
    if m.num_shared_experts:
        tp_split["shared-expert FFN columns per GPU"] = m.shared_expert_intermediate_size // s.tp
    return {"nodes": math.ceil(s.gpus / gpn), "gpus_per_node": gpn, "stages": stages,
            "experts": experts, "tp_split": tp_split,
            "tp_inside_node": s.tp <= gpn, "ep_group_inside_node": g <= gpn}


def optimisations(scenario: Scenario, est: E.Estimate, opts: E.Options
                  ) -> list[tuple[str, bool, str]]:
    """(optimisation, applies?, why with numbers) for this layout. Only what the numbers support."""
    s, m, wl = est.strategy, scenario.model, scenario.workload
    out: list[tuple[str, bool, str]] = []
    ttft = est.worst["ttft_s"]
    bd = est.ttft_breakdown_s
    comm_share = (bd["ep_dispatch_combine"] + bd["tp_all_reduce"] + bd["pp_send"]) / ttft
    if comm_share > 0.05:
        full = E.estimate(scenario, s, replace(opts, overlap_fraction=1.0))
        why = (f"communication is {comm_share:.0%} of TTFT; hiding all of it under compute "
               f"would bring TTFT from {fmt.seconds(ttft)} to "
               f"{fmt.seconds(full.worst['ttft_s'])}")
        out.append(("Overlap communication with computation (two micro-batches, as DeepSeek)",
                    True, why))
    else:
        out.append(("Overlap communication with computation", False,
                    f"communication is only {comm_share:.0%} of TTFT"))
    if s.pp > 1:
        bubble = float(np.asarray(E.f.pipeline_bubble_fraction(s.pp, s.microbatches)))
        why = (f"{s.pp} stages with {s.microbatches} micro-batches leave {bubble:.0%} of "
               f"prefill idle")
        out.append(("Prefill micro-batching against pipeline bubbles", True, why))
    else:
        why = "one pipeline stage has no bubble to fill"
        if s.microbatches > 1:
            why += f"; {s.microbatches} micro-batches are used only to bound activation memory"
        out.append(("Micro-batching for pipeline bubbles", False, why))
    if m.is_moe and s.ep > 1:
        lay = E.Layouts.from_strategies([s])
        tok = wl.batch_sequences / s.dp / s.microbatches * wl.max_prompt_tokens
        mu = tok * m.top_k / s.ep
        busiest = float(E.busiest_rank_load(mu, lay.ep, m, lay.redundant_experts,
                                            E.Options(imbalance="uniform"))[0])
        dec_mu = wl.batch_sequences / s.dp * m.top_k / s.ep
        dec_ratio = float(E.f.expected_max_load(dec_mu, s.ep)) / dec_mu
        why = (f"under uniform-random routing the busiest of {s.ep} EP ranks carries "
               f"{busiest / mu:.2f}x the mean in prefill and {dec_ratio:.2f}x in decode; real "
               f"routing is more skewed, so replicate hot experts when the gap matters")
        out.append(("Redundant experts / expert load balancing (EPLB)", dec_ratio > 1.1, why))
    else:
        out.append(("Redundant experts / expert load balancing", False,
                    "no expert parallelism: every GPU holds every expert"))
    total_mem = sum(est.memory_bytes.values())
    kv_share = est.memory_bytes["kv_cache"] / total_mem
    kv_read = next(r for r in est.decode_ops if r["op"] == "attention_core")["time_s"]
    kv_read_share = kv_read / sum(r["time_s"] for r in est.decode_ops)
    if m.kv_precision not in ("fp8", "int8", "fp4", "int4"):
        why = (f"the KV cache is {kv_share:.0%} of memory per GPU and reading it is "
               f"{kv_read_share:.0%} of a decode step; FP8 halves both")
        out.append(("FP8 KV cache", kv_share > 0.2 or kv_read_share > 0.3, why))
    if m.attention.kind == "mla":
        why = ("the MLA latent cannot be split by tensor parallelism, so every TP rank stores it "
               "whole; attention DP stores each sequence once")
        out.append(("Attention data parallelism for MLA", s.tp == 1 or s.dp_attn > 1, why))
    act_share = est.memory_bytes["activations"] / total_mem
    out.append(("Chunked prefill", act_share > 0.25,
                f"prefill activations are {act_share:.0%} of memory per GPU"))
    out.append(("Activation checkpointing", False,
                "inference keeps no activations for a backward pass: nothing to recompute"))
    out.append(("KV-cache compression for inactive experts", False,
                "the KV cache belongs to attention, not to experts: no expert has a KV cache"))
    return out


def scalability(scenario: Scenario, p: S.Plan, est: E.Estimate, opts: E.Options) -> dict:
    """How the answer moves with GPU count (best layout per count) and with batch size."""
    kcol = f"min_{S.THROUGHPUT_COLUMNS[p.throughput_kind]}"
    v = p.valid
    by_gpus = []
    for g in sorted(v["gpus"].unique()):
        sub = v[v["gpus"] == g]
        pool = sub[sub["meets_all"]] if sub["meets_all"].any() else sub[sub["check_memory"]]
        if pool.empty:
            by_gpus.append([int(g), "—", "nothing fits in memory", "", "", ""])
            continue
        row = pool.sort_values([kcol, "ttft_s"], ascending=[False, True],
                               kind="mergesort").iloc[0]
        by_gpus.append([int(g), row["layout"], fmt.seconds(row["ttft_s"]),
                        fmt.seconds(row["tpot_s"]), fmt.tokens_per_ms(row[kcol]),
                        fmt.tick(bool(row["meets_all"]))])
    by_batch = []
    b0 = scenario.workload.batch_sequences
    for b in sorted({max(1, b0 // 4), max(1, b0 // 2), b0, b0 * 2, b0 * 4}):
        sc = replace(scenario, workload=replace(scenario.workload, batch_sequences=b))
        lay = E.Layouts.from_strategies([est.strategy])
        if not E.valid_mask(sc.model, sc.workload, lay)[0]:
            by_batch.append([b, "layout invalid at this batch", "", "", "", ""])
            continue
        r = {k: float(x[0]) for k, x in E.evaluate_layouts(sc, lay, opts).items()}
        by_batch.append([b, fmt.seconds(r["ttft_s"]), fmt.seconds(r["tpot_s"]),
                         fmt.tokens_per_ms(r[S.THROUGHPUT_COLUMNS[p.throughput_kind]]),
                         fmt.gb(r["memory_per_gpu_bytes"]), fmt.tick(bool(r["fits_memory"]))])
    return {"by_gpus": by_gpus, "by_batch": by_batch}


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def make_figures(scenario: Scenario, p: S.Plan, est: E.Estimate, compare: list[Strategy],
                 out_dir: Path, opts: E.Options) -> dict[str, str]:
    from analysis.report import figures as F
    from analysis.report import tables as T

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    layouts = [est.strategy] + [c for c in compare if c != est.strategy]
    mem = T.memory_table(scenario, layouts, opts)
    F.save(F.plot_memory(mem, scenario.hardware.hbm_capacity_bytes), fig_dir / "memory.png")
    out["memory"] = "figures/memory.png"
    F.save(F.plot_time_breakdown(
        {k: v for k, v in est.ttft_breakdown_s.items() if v > 0},
        f"Where the TTFT of {est.strategy.label()} goes "
        f"(batch {scenario.workload.batch_sequences}, {scenario.workload.max_prompt_tokens} "
        f"tokens)"), fig_dir / "time_breakdown.png")
    out["time_breakdown"] = "figures/time_breakdown.png"
    ttft = T.ttft_table(scenario, layouts, opts)
    F.save(F.plot_ttft(ttft, scenario.requirements.ttft_s), fig_dir / "ttft.png")
    out["ttft"] = "figures/ttft.png"
    kcol = f"min_{S.THROUGHPUT_COLUMNS[p.throughput_kind]}"
    v = p.valid[p.valid["check_memory"]].copy()
    if v.empty:
        v = p.valid.copy()
    v["throughput_tokens_per_ms_per_gpu"] = v[kcol] / 1e3
    v["ttft_s_neg"] = -v["ttft_s"]
    v["on_front"] = S.pareto_front(v["throughput_tokens_per_ms_per_gpu"].to_numpy(),
                                   v["ttft_s_neg"].to_numpy())
    v["recommended"] = v["layout"] == est.strategy.label()
    F.save(F.plot_pareto(v, "ttft_s", "throughput_tokens_per_ms_per_gpu", "on_front",
                         "recommended"), fig_dir / "pareto_ttft.png")
    out["pareto_ttft"] = "figures/pareto_ttft.png"
    v["on_front_user"] = S.pareto_front(v["throughput_tokens_per_ms_per_gpu"].to_numpy(),
                                        v["tokens_per_s_per_user"].to_numpy())
    F.save(F.plot_pareto(v, "tokens_per_s_per_user", "throughput_tokens_per_ms_per_gpu",
                         "on_front_user", "recommended"), fig_dir / "pareto_user.png")
    out["pareto_user"] = "figures/pareto_user.png"
    return out


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

@dataclass
class Report:
    scenario: Scenario
    plan: S.Plan
    estimate: E.Estimate
    declared_plan: S.Plan | None
    current: E.Estimate | None
    current_error: str | None
    markdown: str
    path: Path | None = None


def _metrics_rows(est: E.Estimate, kind: str) -> list[list[str]]:
    rows = []
    for r in est.metrics:
        rows.append([int(r["prompt_tokens"]), fmt.seconds(r["ttft_s"]),
                     fmt.seconds(r["tpot_start_s"]), fmt.seconds(r["tpot_end_s"]),
                     fmt.tokens_per_ms(r["prefill_tokens_per_s_per_gpu"]),
                     fmt.tokens_per_ms(r["decode_tokens_per_s_per_gpu"]),
                     fmt.tokens_per_ms(r["total_tokens_per_s_per_gpu"]),
                     fmt.seconds(r["e2e_latency_s"]), fmt.pct(r["prefill_mfu"])])
    return rows


METRIC_HEADER = ["prompt tokens", "TTFT", "TPOT (start)", "TPOT (end)", "prefill / GPU",
                 "decode / GPU", "total / GPU", "request latency", "prefill MFU"]


def build(scenario: Scenario, opts: E.Options | None = None, max_gpus: int | None = None,
          progress: bool = False) -> tuple[S.Plan, E.Estimate, S.Plan | None,
                                           E.Estimate | None, str | None]:
    """Run everything the report needs: the plan (both readings), the recommendation's estimate
    and the current strategy's, if the scenario has one."""
    opts = opts or E.Options()
    p = S.plan(scenario, opts, max_gpus, progress=progress)
    est = E.estimate(scenario, p.recommended, opts)
    declared = None
    check = A.check_declared_size(scenario.model)
    if check is not None and check.disagrees:
        sc2 = replace(scenario, model=A.model_matching_declared(scenario.model))
        declared = S.plan(sc2, opts, max_gpus, progress=progress)
    current = current_error = None
    if scenario.current_strategy is not None:
        try:
            current = E.estimate(scenario, scenario.current_strategy, opts)
        except LayoutError as exc:
            current_error = str(exc)
    return p, est, declared, current, current_error


def render(scenario: Scenario, p: S.Plan, est: E.Estimate, declared: S.Plan | None,
           current: E.Estimate | None, current_error: str | None, figures: dict[str, str],
           opts: E.Options) -> str:
    """The report as markdown."""
    hw, m, wl, r = scenario.hardware, scenario.model, scenario.workload, scenario.requirements
    s = est.strategy
    kind = p.throughput_kind
    out: list[str] = []
    add = out.append
    add(f"# MoE deployment plan: {scenario.name}\n")
    add(f"Scenario `{scenario.name}`, read from: {scenario.source or scenario.name}\n")
    add(f"Every number below is computed by MoEPlan's model in `analysis/` ({opts.describe()}); "
        f"the assumptions it used are listed at the end.\n")

    # Verdict
    if p.feasible:
        add(f"**Verdict: deploy `{s.label()}` ({s.describe()}).** It meets every requirement "
            f"(checklist below) with the fewest GPUs.\n")
    else:
        add(f"**Verdict: no layout up to {scenario.max_gpus} GPUs meets every requirement.** "
            f"The best compromise is `{s.label()}` ({s.describe()}), labelled as such; what "
            f"binds and what would have to change is under *Binding constraint*.\n")
    for w in scenario.warnings:
        add(f"> **Warning.** {w}\n")

    # Hardware
    add("## Hardware\n")
    peaks = ", ".join(f"{k}: {v / 1e12:g} TFLOP/s" for k, v in hw.peak_flops_per_s)
    hbm = f"{fmt.gb(hw.hbm_capacity_bytes)} at {hw.hbm_bandwidth_bytes_per_s / 1e12:g} TB/s"
    effs = (f"MFU {hw.mfu:.0%}, HBM bandwidth {hw.bandwidth_utilization:.0%}, NVLink "
            f"{hw.scaleup_efficiency:.0%}, scale-out {hw.scaleout_efficiency:.0%}")
    node = (f"{hw.gpus_per_node} GPUs, {hw.scaleup_bandwidth_bytes_per_s / 1e9:g} GB/s per GPU "
            f"per direction, {hw.scaleup_latency_s * 1e6:g} µs per message")
    out_link = (f"{hw.scaleout_bandwidth_bytes_per_s / 1e9:g} GB/s per GPU per direction, "
                f"{hw.scaleout_latency_s * 1e6:g} µs per message")
    if hw.calibration is None:
        calib = ("none: no measurements exist for this GPU, so every mode, calibrated included, "
                 "uses the stated efficiencies above")
    elif opts.mode == "calibrated":
        calib = f"used in this report: {hw.calibration.source or 'fitted curves'}"
    else:
        calib = (f"available, not used in this {opts.mode} report (--mode calibrated): "
                 f"{hw.calibration.source or 'fitted curves'}")
    add(md_table([
        ["GPU", hw.name],
        ["dense peak", peaks],
        ["HBM", hbm],
        ["efficiency (derated mode)", effs],
        ["efficiency source", hw.efficiency_source or "—"],
        ["calibration", calib],
        ["node (scale-up domain)", node],
        ["scale-out", out_link],
        ["source", hw.source or "—"],
    ], ["item", "value"], "ll"))
    add("")

    # Model
    add("## Model\n")
    parts = A.params_by_component(m)
    total = sum(parts.values())
    a = m.attention
    attn = (f"MLA, {a.num_heads} heads, latent {a.kv_lora_rank} + rope {a.qk_rope_head_dim}"
            if a.kind == "mla" else
            f"{'MHA' if a.num_kv_heads == a.num_heads else 'GQA'}, {a.num_heads} heads x "
            f"{a.head_dim}, {a.num_kv_heads} KV heads")
    shared = f", {m.num_shared_experts} shared" if m.num_shared_experts else ""
    experts = (f"{m.num_experts} routed, top-{m.top_k}, FFN width "
               f"{m.expert_intermediate_size}{shared}" if m.is_moe else "none (dense)")
    precision = (f"weights {m.weight_precision}, KV {m.kv_precision}, activations "
                 f"{m.activation_precision}")
    active = (f"{fmt.params(A.active_params(m, True))} with the input embedding, "
              f"{fmt.params(A.active_params(m, False))} without")
    add(md_table([
        ["layers", f"{m.num_layers} ({m.num_moe_layers} MoE, {m.num_dense_layers} dense)"],
        ["hidden size D", m.hidden_size],
        ["attention", attn],
        ["experts", experts],
        ["FFN", "gated (SwiGLU, 3 matrices)" if m.ffn_gated else "plain (2 matrices)"],
        ["vocabulary", f"{m.vocab_size:,}"],
        ["precision", precision],
        ["total parameters", f"{total:,} ({fmt.params(total)})"],
        ["active per token", active],
        ["KV cache", f"{A.kv_cache_bytes_per_token(m):,.0f} bytes per token"],
    ], ["item", "value"], "ll"))
    add("")
    add(md_table([[k, f"{v:,}", fmt.pct(v / total)] for k, v in parts.items()],
                 ["component", "parameters", "share"]))
    add("")
    check = A.check_declared_size(m)
    if check is not None:
        add(("**Inconsistency.** " if check.disagrees else "Declared size agrees: ")
            + check.message + "\n")

    # Input
    add("## Input\n")
    rng = (f"{wl.prompt_range_tokens[0]} to {wl.prompt_range_tokens[1]} tokens, evaluated at "
           f"{', '.join(map(str, wl.prompt_lengths_tokens))}" if wl.prompt_range_tokens else
           ", ".join(map(str, wl.prompt_lengths_tokens)) + " tokens")
    add(f"- Batch: {wl.batch_sequences} sequences served together (one static batch)")
    add(f"- Prompt length: {rng}")
    add(f"- Output length: {wl.output_tokens} tokens"
        + ("" if wl.output_tokens_stated else " (not stated: assumed)"))
    add("")

    # Requirements
    add("## Requirements\n")
    req = []
    if r.ttft_s is not None:
        req.append(["TTFT", fmt.seconds(r.ttft_s),
                    "prefill of the whole batch at the longest prompt"])
    if r.tpot_s is not None:
        req.append(["TPOT", fmt.seconds(r.tpot_s), "decode step at the longest context"])
    if r.throughput_tokens_per_s_per_gpu is not None:
        req.append(["throughput per GPU", fmt.tokens_per_ms(r.throughput_tokens_per_s_per_gpu),
                    S.THROUGHPUT_MEANING[kind]])
    req.append(["memory", f"fits in {fmt.gb(hw.hbm_capacity_bytes)}",
                f"with {r.memory_reserve_fraction:.0%} kept as a runtime reserve"])
    add(md_table(req, ["requirement", "target", "meaning"], "lll"))
    add("")
    if r.throughput_tokens_per_s_per_gpu is not None:
        add(f"How the throughput requirement is read: **{kind}**, because {p.throughput_reason}. "
            f"The other readings are shown in *Expected performance*.\n")

    # Recommended layout
    add("## Recommended parallel strategy\n" if p.feasible else
        "## Best compromise (no layout meets every requirement)\n")
    pl = placement(scenario, s)
    add(f"- Layout `{s.label()}`: {s.describe()} ({_degrees_text(s)})")
    add(f"- GPUs: {s.gpus} = tp {s.tp} x dp_attn {s.dp_attn} x pp {s.pp} x dp {s.dp} "
        f"(experts: etp {s.etp} x ep {s.ep} over the same tp x dp_attn GPUs)")
    ep_where = ("inside a node (NVLink)" if pl["ep_group_inside_node"]
                else "spans nodes (scale-out network)")
    add(f"- Placement: {pl['nodes']} node(s) of {pl['gpus_per_node']} GPUs; TP groups "
        f"{'inside' if pl['tp_inside_node'] else 'across'} a node; the expert group of "
        f"{s.tp * s.dp_attn} GPUs {ep_where}")
    because = (f"fewest GPUs that meet every requirement, then highest {kind} throughput per GPU"
               if p.feasible else "it passes the most checks and comes closest to the failing "
               "targets, among layouts that fit in memory")
    add(f"- Chosen because: {because}")
    n_valid, n_bad = int(p.table["valid"].sum()), int((~p.table["valid"]).sum())
    add(f"- Search: {n_valid:,} layouts evaluated (all in `strategies.csv`); degrees are "
        f"generated only where they divide what they split (heads, experts, batch), and "
        + (f"{n_bad:,} more were rejected with their reasons" if n_bad else
           "no generated candidate was otherwise impossible"))
    add("")
    add(md_table([[k.replace("_", " "), v["layout"], v["gpus"], fmt.seconds(v["ttft_s"]),
                   fmt.tokens_per_ms(v["throughput_tokens_per_s_per_gpu"])]
                  for k, v in p.objectives.items()],
                 ["objective", "layout", "GPUs", "TTFT", f"{kind} / GPU"]))
    add("")

    # Resources
    add("## Resources\n")
    mem_total = sum(est.memory_bytes.values())
    add(md_table([[k.replace("_", " "), fmt.gb(v, 3), fmt.pct(v / mem_total)]
                  for k, v in est.memory_bytes.items()]
                 + [["**total**", f"**{fmt.gb(mem_total, 3)}**",
                     (f"**{fmt.pct(mem_total / hw.hbm_capacity_bytes)} of "
                      f"{fmt.gb(hw.hbm_capacity_bytes)}**")]],
                 ["memory per GPU", "bytes", "share"]))
    add("")
    add(f"Non-expert weights are divided by tp x pp = {s.tp * s.pp}, expert weights by "
        f"etp x ep x pp = {s.etp * s.ep * s.pp}; the KV cache holds this GPU's "
        f"{wl.batch_sequences / s.dp / s.dp_attn:g} sequences at "
        f"{wl.max_prompt_tokens + wl.output_tokens} tokens; activations are those of one "
        f"prefill micro-batch of {wl.batch_sequences // s.dp // s.microbatches} sequences.\n")
    add(f"![Memory per GPU]({figures['memory']})\n")

    # Implementation
    add("## Implementation\n")
    add("Pipeline stages (GPU ids count tp fastest, then dp_attn, then pp, then dp; replica 0 "
        "shown, the others repeat it):\n")
    add(md_table([[x["stage"], x["layers"], x["gpus"], x["nodes"]] for x in pl["stages"]],
                 ["stage", "layers", "GPUs", "node(s)"], "rlll"))
    add("")
    if pl["experts"]:
        shown = pl["experts"][:16]
        add(f"Experts of every MoE layer over the {s.ep} expert-parallel ranks of a stage"
            f"{' (first 16 shown)' if len(pl['experts']) > 16 else ''}:\n")
        add(md_table([[x["ep_rank"], x["experts"], x["gpus_in_stage"],
                       x["ffn_columns_per_gpu"]] for x in shown],
                     ["EP rank", "experts", "GPUs (in stage)", "FFN columns per GPU"], "rlll"))
        add("")
    add("What each tensor-parallel group of " + str(s.tp) + " GPUs splits: "
        + "; ".join(f"{k} {v}" for k, v in pl["tp_split"].items()) + ".\n")

    # Communication
    add("## Communication\n")
    rows = []
    for phase, ops in (("prefill (one stage step)", est.prefill_ops),
                       ("decode (one stage step)", est.decode_ops)):
        for o in ops:
            if o["op"] in E.COMM_OPS and o["comm_bytes"] > 0:
                tier = {"tp_all_reduce": "NVLink" if s.tp <= hw.gpus_per_node else "scale-out",
                        "ep_dispatch_combine": "NVLink" if s.tp * s.dp_attn <= hw.gpus_per_node
                        else "NVLink + scale-out",
                        "pp_send": "NVLink" if s.tp * s.dp_attn * s.pp <= hw.gpus_per_node
                        else "scale-out"}[o["op"]]
                rows.append([phase, o["op"].replace("_", " "), fmt.gb(o["comm_bytes"], 4), tier,
                             fmt.seconds(o["comm_s"])])
    if rows:
        add(md_table(rows, ["phase", "collective", "bytes per GPU", "link", "time"], "lllll"))
    else:
        add("No communication: the layout runs on one GPU per replica.")
    add("")
    add("TP: two ring all-reduces per layer of the attention group's tokens. EP: each token's "
        "hidden vector is dispatched to the distinct remote GPUs holding its top-k experts and "
        "combined back. PP: activations sent to the next stage once per step.\n")

    # Optimisations
    add("## Memory and performance optimisations\n")
    applies = optimisations(scenario, est, opts)
    add(md_table([[name, "applies" if ok else "does not apply", why] for name, ok, why in applies],
                 ["optimisation", "verdict", "why"], "lll"))
    add("")

    # Expected performance
    add("## Expected performance\n")
    add(md_table(_metrics_rows(est, kind), METRIC_HEADER, "r" * len(METRIC_HEADER)))
    add("")
    add(f"Speed-of-light share: this layout reaches {est.sol_fraction['ttft']:.0%} of the "
        f"speed-of-light TTFT and {est.sol_fraction['tpot']:.0%} of the speed-of-light TPOT "
        f"(all efficiencies 1, no communication).\n")
    add(f"![TTFT against prompt length]({figures['ttft']})\n")
    add(f"![Where the time goes]({figures['time_breakdown']})\n")
    for phase, label, total_s in (("prefill", "TTFT at the longest prompt", est.worst["ttft_s"]),
                                  ("decode", "a decode step at the longest context",
                                   sum(est.tpot_breakdown_s.values()))):
        parts = [f"{k.replace('_', ' ')} {fmt.seconds(v)} ({v / total_s:.0%})"
                 for k, v in est.by_resource(phase).items() if v > 0]
        add(f"By the resource that bounds each op, {label} ({fmt.seconds(total_s)}) is "
            + ", ".join(parts) + ".\n")
    dec = sorted(est.tpot_breakdown_s.items(), key=lambda kv: -kv[1])[:3]
    tpot_end = sum(est.tpot_breakdown_s.values())
    add("A decode step at the longest context is led by "
        + ", ".join(f"{k.replace('_', ' ')} ({v / tpot_end:.0%})" for k, v in dec) + ".\n")

    # Scalability
    add("## Scalability\n")
    sc_ = scalability(scenario, p, est, opts)
    add("Best layout at each GPU count (meeting every requirement where possible):\n")
    add(md_table(sc_["by_gpus"], ["GPUs", "layout", "TTFT", "TPOT", f"{kind} / GPU",
                                  "meets all"], "rlrrrl"))
    add("")
    add("The recommended layout at other batch sizes:\n")
    add(md_table(sc_["by_batch"], ["batch", "TTFT", "TPOT", f"{kind} / GPU", "memory / GPU",
                                   "fits"], "rrrrrl"))
    add("")
    add("Across prompt lengths see *Expected performance*.\n")
    add(f"![Throughput per GPU against TTFT]({figures['pareto_ttft']})\n")
    add(f"![Throughput per GPU against tokens/s per user]({figures['pareto_user']})\n")

    # Alternatives
    add("## Alternatives\n")
    kcol = f"min_{S.THROUGHPUT_COLUMNS[kind]}"
    add(md_table([[x["layout"], int(x["gpus"]), fmt.seconds(x["ttft_s"]), fmt.seconds(x["tpot_s"]),
                   fmt.tokens_per_ms(x[kcol]), fmt.gb(x["memory_per_gpu_bytes"]),
                   x["why_not_chosen"]] for _, x in p.alternatives.iterrows()],
                 ["layout", "GPUs", "TTFT", "TPOT", f"{kind} / GPU", "memory / GPU",
                  "why not chosen"], "lrrrrrl"))
    add("")

    # Current strategy
    if scenario.current_strategy is not None:
        add("## The scenario's current strategy\n")
        cs = scenario.current_strategy
        if current is None:
            add(f"`{cs.label()}` ({cs.gpus} GPUs) cannot run: {current_error}.\n")
        else:
            cw, rw = current.worst, est.worst
            cur_checks = S.checks_for(scenario, _current_row(scenario, current, p))
            add(md_table([
                ["GPUs", cs.gpus, s.gpus],
                ["memory per GPU", fmt.gb(sum(current.memory_bytes.values())),
                 fmt.gb(mem_total)],
                ["TTFT (longest prompt)", fmt.seconds(cw["ttft_s"]), fmt.seconds(rw["ttft_s"])],
                ["TPOT", fmt.seconds(cw["tpot_s"]), fmt.seconds(rw["tpot_s"])],
                [f"{kind} / GPU", fmt.tokens_per_ms(cw[S.THROUGHPUT_COLUMNS[kind]]),
                 fmt.tokens_per_ms(rw[S.THROUGHPUT_COLUMNS[kind]])],
                ["requirements met", _met(cur_checks), _met(p.checks)],
            ], ["", f"current `{cs.label()}`", f"recommended `{s.label()}`"], "lrr"))
            add("")
            for c in cur_checks:
                add(f"- {fmt.tick(c.passed)} {c.name}: {c.detail}")
            add("")

    # Declared reading
    if declared is not None:
        add("## Under the declared size\n")
        dm = declared.scenario.model
        ds = declared.recommended
        key = "expert_intermediate_size" if m.is_moe else "dense_intermediate_size"
        add(f"The scenario declares {m.declared_total_params / 1e9:g}B parameters; the "
            f"architecture gives {fmt.params(total)}. This report uses the **architecture** "
            f"(it is what the stated dimensions compute). Read the other way, with the gap put "
            f"into the FFN width ({getattr(m, key)} -> {getattr(dm, key)}, "
            f"{fmt.params(A.total_params(dm))} parameters):\n")
        head = (f"{'recommended' if declared.feasible else 'best compromise'} "
                f"`{ds.label()}` ({ds.describe()})")
        add(md_table([[("✓ " if c.passed else "✗ ") + c.name, c.detail]
                      for c in declared.checks], [head, "number"], "ll"))
        add("")
        if declared.binding:
            for line in declared.binding["what_would_have_to_change"]:
                add(f"- Binding: {line}")
            add("")

    # Binding constraint
    if p.binding:
        add("## Binding constraint\n")
        for f_ in p.binding["failed"]:
            ceil = (f"; ceiling {fmt.tokens_per_ms(f_['ceiling'])} per GPU set by "
                    f"{f_['resource']} ({f_['why']})" if "ceiling" in f_ else "")
            best = (fmt.seconds(f_["best_value"]) if f_["requirement"] in ("TTFT", "TPOT") else
                    fmt.gb(f_["best_value"]) if f_["requirement"] == "memory" else
                    fmt.tokens_per_ms(f_["best_value"]))
            add(f"- **{f_['requirement']}**: best over every layout {best}{ceil}")
        for line in p.binding["what_would_have_to_change"]:
            add(f"- What would have to change: {line}")
        add("")

    # Checklist
    add("## Validation checklist\n")
    for c in p.checks:
        add(f"- {fmt.tick(c.passed)} {c.name}: {c.detail}")
    other = [k for k in S.THROUGHPUT_COLUMNS if k != kind]
    if r.throughput_tokens_per_s_per_gpu is not None:
        for k in other:
            val = est.worst[S.THROUGHPUT_COLUMNS[k]]
            vals = [row[S.THROUGHPUT_COLUMNS[k]] for row in est.metrics]
            ok = min(vals) >= r.throughput_tokens_per_s_per_gpu
            add(f"- (other reading, not the one checked) {fmt.tick(ok)} throughput per GPU as "
                f"{k}: lowest {fmt.tokens_per_ms(min(vals))} over the prompt lengths "
                f"({fmt.tokens_per_ms(val)} at the longest), target "
                f"{fmt.tokens_per_ms(r.throughput_tokens_per_s_per_gpu)}")
    add("")

    # Assumptions
    add("## Assumptions\n")
    for x in est.to_dict()["assumptions"]:
        add(f"- {x}")
    add("")
    return "\n".join(out)


def _met(checks: list[S.Check]) -> str:
    """'✓ 4 of 4' / '✗ 3 of 4'."""
    passed = sum(c.passed for c in checks)
    return f"{fmt.tick(passed == len(checks))} {passed} of {len(checks)}"


def _current_row(scenario: Scenario, current: E.Estimate, p: S.Plan) -> pd.Series:
    """The current strategy's metrics in the shape of a search-table row, for its checklist."""
    lay = E.Layouts.from_strategies([current.strategy])
    df = S.add_checks(scenario, S.evaluate_all(scenario, lay, p.options))
    return df.iloc[0]


def write_report(scenario: Scenario, out_dir: str | os.PathLike, opts: E.Options | None = None,
                 max_gpus: int | None = None) -> Report:
    """Plan, estimate, draw and write ``report.md`` and ``strategies.csv`` into ``out_dir``.

    Files are written to temporary names and renamed at the end, so a failure never leaves a
    half-written report that looks complete.
    """
    opts = opts or E.Options()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p, est, declared, current, current_error = build(scenario, opts, max_gpus)
    compare = [_strategy(row) for _, row in p.alternatives.head(2).iterrows()]
    if current is not None:
        compare.insert(0, current.strategy)
    figs = make_figures(scenario, p, est, compare, out, opts)
    text = render(scenario, p, est, declared, current, current_error, figs, opts)
    tmp_md = out / "report.md.tmp"
    tmp_csv = out / "strategies.csv.tmp"
    tmp_md.write_text(text, encoding="utf-8")
    strategies_table(p).to_csv(tmp_csv, index=False, float_format="%.6g")
    tmp_csv.replace(out / "strategies.csv")
    tmp_md.replace(out / "report.md")
    return Report(scenario, p, est, declared, current, current_error, text, out / "report.md")


def slug(name: str) -> str:
    """A folder name for a scenario: letters, digits, dots, dashes and underscores only."""
    import re

    base = Path(name).stem if ("/" in name or name.endswith((".yaml", ".yml", ".md"))) else name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-") or "scenario"


def verdict(rep: Report) -> str:
    """One line: what to deploy, or that nothing meets every requirement."""
    s = rep.plan.recommended
    if rep.plan.feasible:
        return f"Recommended: {s.label()} ({s.describe()}); every requirement is met."
    failed = ", ".join(c.name for c in rep.plan.checks if not c.passed)
    return (f"No layout meets every requirement. Best compromise: {s.label()} ({s.describe()}); "
            f"fails: {failed}.")


def checklist_table(rep: Report) -> pd.DataFrame:
    """The recommendation's checklist: requirement, ✓/✗, value, target, the number in words."""
    return pd.DataFrame([{"requirement": c.name, "met": fmt.tick(c.passed), "detail": c.detail}
                         for c in rep.plan.checks])


def performance_table(rep: Report) -> pd.DataFrame:
    """Expected performance of the recommendation at every prompt length, readable units."""
    return pd.DataFrame(_metrics_rows(rep.estimate, rep.plan.throughput_kind),
                        columns=METRIC_HEADER)


def strategies_table(p: S.Plan) -> pd.DataFrame:
    """Every evaluated and rejected layout, in a stable order, with readable columns."""
    t = p.table.copy()
    keep = ["layout", *DEGREE_NAMES, "gpus", "valid", "rejected_because", "meets_all",
            "check_memory", "check_ttft", "check_tpot", "check_throughput", "ttft_s", "tpot_s",
            "tpot_max_s", "memory_per_gpu_bytes", "memory_utilization",
            "min_prefill_tokens_per_s_per_gpu", "min_decode_tokens_per_s_per_gpu",
            "min_total_tokens_per_s_per_gpu", "prefill_mfu", "tokens_per_s_per_user"]
    t = t[[c for c in keep if c in t.columns]]
    return t.sort_values(["valid", "gpus", "layout"], ascending=[False, True, True],
                         kind="mergesort").reset_index(drop=True)
