"""Facts the report derives from a layout: where everything sits, which optimisations apply, how
the answer scales, and small shared pieces (the metrics rows, the checklist summary).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from analysis import estimate as E
from analysis import fmt
from analysis.estimate import formulas
from analysis.inputs.types import Scenario, Strategy
from analysis.search import planner as S


def placement(scenario: Scenario, s: Strategy) -> dict:
    """Which GPUs hold what: nodes, pipeline stages and their layers, expert ranks and their
    experts, what a TP group splits. GPU ids count tp fastest, then dp_attn, pp, dp."""
    m, hw = scenario.model, scenario.hardware
    gpn = hw.gpus_per_node
    g = s.tp * s.dp_attn
    counts = E.stage_layer_counts(m.num_layers, s.pp)
    stages = []
    for st in range(s.pp):
        lo = sum(counts[:st])
        hi = lo + counts[st] - 1
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
    s, m = est.strategy, scenario.model
    out: list[tuple[str, bool, str]] = []
    ttft = est.worst["ttft_s"]
    bd = est.ttft_breakdown_s
    comm_share = (bd["ep_dispatch_combine"] + bd["tp_all_reduce"] + bd["pp_send"]) / ttft
    if s.two_batch_overlap or (comm_share > 0.05 and s.ep > 1):
        out.append(_two_batch_overlap(scenario, est, opts, comm_share))
    elif comm_share > 0.05:
        full = E.estimate(scenario, s, replace(opts, overlap_fraction=1.0))
        why = (f"communication is {comm_share:.0%} of TTFT; hiding all of it under compute "
               f"would bring TTFT from {fmt.seconds(ttft)} to "
               f"{fmt.seconds(full.worst['ttft_s'])}")
        out.append(("Overlap communication with computation", True, why))
    else:
        out.append(("Overlap communication with computation", False,
                    f"communication is only {comm_share:.0%} of TTFT"))
    if s.pp > 1:
        bubble = float(np.asarray(formulas.pipeline_bubble_fraction(s.pp, s.microbatches)))
        why = (f"{s.pp} stages with {s.microbatches} micro-batches leave {bubble:.0%} of "
               f"prefill idle")
        out.append(("Prefill micro-batching against pipeline bubbles", True, why))
    else:
        why = "one pipeline stage has no bubble to fill"
        if s.microbatches > 1:
            why += f"; {s.microbatches} micro-batches are used only to bound activation memory"
        out.append(("Micro-batching for pipeline bubbles", False, why))
    out.append(_expert_balance(scenario, s))
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
    out.append(_chunked_prefill(scenario, est, opts, total_mem))
    out.append(("Activation checkpointing", False,
                "inference keeps no activations for a backward pass: nothing to recompute"))
    out.append(("KV-cache compression for inactive experts", False,
                "the KV cache belongs to attention, not to experts: no expert has a KV cache"))
    return out


def _two_batch_overlap(scenario: Scenario, est: E.Estimate, opts: E.Options, comm_share: float
                       ) -> tuple[str, bool, str]:
    """(optimisation, applies?, why): the layout with and without two-batch overlap, each with
    its costs (half-size GEMMs, a second weight read, twice the kernels)."""
    s = est.strategy
    other = E.estimate(scenario, s.with_(two_batch_overlap=not s.two_batch_overlap), opts)
    on, off = (est, other) if s.two_batch_overlap else (other, est)
    t_on, t_off = on.worst, off.worst
    numbers = (f"TTFT {fmt.seconds(t_off['ttft_s'])} -> {fmt.seconds(t_on['ttft_s'])}, TPOT "
               f"{fmt.seconds(t_off['tpot_end_s'])} -> {fmt.seconds(t_on['tpot_end_s'])} with "
               f"it (costs included: half-size GEMMs, a second weight read, twice the kernels)")
    name = "Overlap communication with computation (two-batch overlap, as DeepSeek)"
    if s.two_batch_overlap:
        return (name, True, f"the layout runs it (label -tbo): {numbers}")
    helps = t_on["ttft_s"] < t_off["ttft_s"] or t_on["tpot_end_s"] < t_off["tpot_end_s"]
    return (name, helps, f"communication is {comm_share:.0%} of TTFT; {numbers}")


def _chunked_prefill(scenario: Scenario, est: E.Estimate, opts: E.Options, total_mem: float
                     ) -> tuple[str, bool, str]:
    """(optimisation, applied?, what the model did): the chunk size it used, whether the chunk
    caps a micro-batch's tokens per attention rank, and the prefill memory sized by it."""
    s, wl = est.strategy, scenario.workload
    act, buf = est.memory_bytes["activations"], est.memory_bytes.get("comm_buffers", 0.0)
    if opts.decode_only:
        why = ("decode-only layout (prefill runs elsewhere): it holds no prompt-sized "
               "activations or buffers")
        return ("Chunked prefill", False, why)
    chunk = opts.prefill_chunk_tokens
    tokens = wl.batch_sequences / s.dp / s.microbatches / s.dp_attn * wl.max_prompt_tokens
    memory = (f"prefill activations {fmt.gb(act)} ({act / total_mem:.0%} of memory per GPU) and "
              f"communication buffers {fmt.gb(buf)}")
    if chunk < tokens:
        why = (f"applied: the model prefills {chunk:,} tokens per attention rank per iteration "
               f"(of {tokens:,.0f} in a micro-batch), so {memory} are sized by the chunk; the "
               f"prefill time is that of the whole micro-batch")
        return ("Chunked prefill", True, why)
    why = (f"a micro-batch has {tokens:,.0f} tokens per attention rank, within the "
           f"{chunk:,}-token chunk the model allows: {memory}, nothing to chunk")
    return ("Chunked prefill", False, why)


def _expert_balance(scenario: Scenario, s: Strategy) -> tuple[str, bool, str]:
    """(optimisation, applies?, why) for redundant experts: the busiest EP rank's load over the
    mean under uniform-random routing, in prefill and in decode."""
    m, wl = scenario.model, scenario.workload
    if not (m.is_moe and s.ep > 1):
        return ("Redundant experts / expert load balancing", False,
                "no expert parallelism: every GPU holds every expert")
    lay = E.Layouts.from_strategies([s])
    tok = wl.batch_sequences / s.dp / s.microbatches * wl.max_prompt_tokens
    mu = tok * m.top_k / s.ep
    busiest = float(E.busiest_rank_load(mu, lay.ep, m, lay.redundant_experts,
                                        E.Options(imbalance="uniform"))[0])
    dec_mu = wl.batch_sequences / s.dp * m.top_k / s.ep
    dec_ratio = float(formulas.expected_max_load(dec_mu, s.ep)) / dec_mu
    why = (f"under uniform-random routing the busiest of {s.ep} EP ranks carries "
           f"{busiest / mu:.2f}x the mean in prefill and {dec_ratio:.2f}x in decode; real "
           f"routing is more skewed, so replicate hot experts when the gap matters")
    return ("Redundant experts / expert load balancing (EPLB)", dec_ratio > 1.1, why)


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
        col = S.THROUGHPUT_COLUMNS[p.throughput_kind]
        lowest = min(float(E.evaluate_layouts(sc, lay, opts, n)[col][0])
                     for n in sc.workload.prompt_lengths_tokens)
        by_batch.append([b, fmt.seconds(r["ttft_s"]), fmt.seconds(r["tpot_s"]),
                         fmt.tokens_per_ms(lowest),
                         fmt.gb(r["memory_per_gpu_bytes"]), fmt.tick(bool(r["fits_memory"]))])
    return {"by_gpus": by_gpus, "by_batch": by_batch}


#: Column labels that say which reading a number is (one reading per quantity and section):
#: latencies at the longest prompt, throughput lowest over the prompt lengths (as the checklist
#: checks it), memory with the runtime reserve.
TTFT_LONGEST = "TTFT (longest prompt)"
TPOT_LONGEST = "TPOT (longest prompt)"
MEMORY_WITH_RESERVE = "memory / GPU (with reserve)"


def throughput_lowest(kind: str) -> str:
    """'prefill / GPU (lowest over prompts)': the label of the checked throughput reading."""
    return f"{kind} / GPU (lowest over prompts)"


def metrics_rows(est: E.Estimate, kind: str) -> list[list[str]]:
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


def met(checks: list[S.Check]) -> str:
    """'✓ 4 of 4' / '✗ 3 of 4'."""
    passed = sum(c.passed for c in checks)
    return f"{fmt.tick(passed == len(checks))} {passed} of {len(checks)}"


def current_row(scenario: Scenario, current: E.Estimate, p: S.Plan) -> pd.Series:
    """The current strategy's metrics in the shape of a search-table row, for its checklist."""
    lay = E.Layouts.from_strategies([current.strategy])
    df = S.add_checks(scenario, S.evaluate_all(scenario, lay, p.options))
    return df.iloc[0]
