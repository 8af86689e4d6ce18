"""A plan in the seed's layout from one of our estimates: every claim true by construction (the
tests audit it and expect every claim confirmed)."""

from __future__ import annotations

import math

from analysis import anatomy as A
from analysis import estimate as E
from analysis.report.audit.compare import layout_row
from analysis.report.audit.quantities import sig
from analysis.report.strategy import optimisations
from analysis.search import planner as S


def _g(x: float) -> str:
    """An input restated as it was given (up to 6 significant figures)."""
    return f"{x:.6g}"


def _cnt(x: float) -> str:
    """A count: whole numbers without decimals, fractions to 3 significant figures."""
    return f"{x:g}" if float(x).is_integer() else sig(x)


def _inputs_md(sc, add) -> None:
    """The four input sections, as the seed plan states them."""
    hw, m, wl, r = sc.hardware, sc.model, sc.workload, sc.requirements
    add("## Hardware Environment")
    add(f"- GPU Compute Power: {_g(hw.peak_flops_for(m.activation_precision) / 1e12)} TFlops")
    add(f"- Single-card VRAM: {_g(hw.hbm_capacity_bytes / 1e9)} GB")
    add(f"- VRAM Bandwidth: {_g(hw.hbm_bandwidth_bytes_per_s / 1e12)} TBps")
    add(f"- MFU Utilization: {hw.mfu * 100:.1f}%")
    add(f"- Bandwidth Utilization: {hw.bandwidth_utilization * 100:.1f}%\n")
    add("## Model Configuration")
    add(f"- Parameters: {sig(A.total_params(m) / 1e9)}B")
    add(f"- Layers: {m.num_layers}")
    if m.is_moe:
        add(f"- Experts per Layer: {m.num_experts}")
    add(f"- Precision: {m.weight_precision.upper()}")
    add(f"- Token Dimension: {m.hidden_size}")
    add(f"- Attention Heads: {m.attention.num_heads} x {m.attention.head_dim}")
    if m.attention.num_kv_heads != m.attention.num_heads:
        add(f"- KV Heads: {m.attention.num_kv_heads}")
    if m.is_moe:
        add(f"- MoE Hidden Size: {m.expert_intermediate_size}")
    else:
        add(f"- MLP Hidden Size: {m.dense_intermediate_size}")
    add("")
    add("## Input Data")
    add(f"- Batch Size: {wl.batch_sequences}")
    lo, hi = wl.min_prompt_tokens, wl.max_prompt_tokens
    add(f"- Sequence Length: {lo} - {hi} tokens" if lo != hi else f"- Sequence Length: {hi} tokens")
    if wl.output_tokens_stated:
        add(f"- Output Length: {wl.output_tokens} tokens")
    add("")
    add("## Performance Requirements")
    if r.ttft_s is not None:
        add(f"- TTFT: {_g(r.ttft_s)}s")
    if r.tpot_s is not None:
        add(f"- TPOT: {_g(r.tpot_s * 1e3)}ms")
    if r.throughput_tokens_per_s_per_gpu is not None:
        add(f"- Throughput per GPU: {_g(r.throughput_tokens_per_s_per_gpu / 1e3)} tokens/ms")
    add("")


def _strategy_md(s, add) -> None:
    """The layout's degrees."""
    add("## Recommended Parallel Strategy\n")
    add("### Strategy Composition")
    add(f"- Expert Parallelism (EP): {s.ep}-way")
    add(f"- Tensor Parallelism (TP): {s.tp}-way")
    if s.etp != s.tp or s.dp_attn != s.ep:
        add(f"- Expert Tensor Parallelism (ETP): {s.etp}-way")
        add(f"- Attention Data Parallelism: {s.dp_attn}-way")
    add(f"- Pipeline Parallelism (PP): {s.pp}-way")
    if s.dp > 1:
        add(f"- Data Parallelism (DP): {s.dp}-way")
    if s.microbatches > 1:
        add(f"- Prefill Micro-batches: {s.microbatches}")
    if s.redundant_experts:
        add(f"- Redundant Experts: {s.redundant_experts}")
    add(f"- Total GPUs: {s.gpus}\n")


def _implementation_md(m, s, add) -> None:
    """Experts per GPU, TP and pipeline stages, in the seed's phases."""
    add("### Implementation Strategy\n")
    if m.is_moe:
        per_rank = (m.num_experts + s.redundant_experts) / s.ep
        add("#### Phase 1: Expert Parallelism (EP)")
        add(f"- Distribute {m.num_experts} experts across {s.ep * s.etp} GPUs")
        add(f"- Each GPU handles {_cnt(per_rank / s.etp)} experts")
        if s.etp > 1:
            add(f"- {_cnt(per_rank)} experts per EP rank, split over its {s.etp} GPUs")
        add(f"- Top-{m.top_k} expert routing"
            + (" with all-to-all communication" if s.ep > 1 else "") + "\n")
    add("#### Phase 2: Tensor Parallelism (TP)")
    add(f"- Apply {s.tp}-way TP to attention" + (" and within each expert"
                                                  if s.etp == s.tp else "") + "\n")
    add("#### Phase 3: Pipeline Parallelism (PP)")
    add(f"- Create {s.pp} pipeline stages")
    add(f"- Each stage contains {math.ceil(m.num_layers / s.pp)} layers\n")


def _performance_md(est, per_gpu: float, used: float, kind: str, add) -> None:
    """Resource allocation, applicable optimisations and expected performance."""
    sc, s, opts = est.scenario, est.strategy, est.options
    hw, m, r = sc.hardware, sc.model, sc.requirements
    ttft = est.worst["ttft_s"]
    add("### Resource Allocation")
    add(f"- Memory per GPU: {sig(used / 1e9)} GB")
    add(f"- Memory Utilization: {sig(used / hw.hbm_capacity_bytes * 100)}%")
    add(f"- Expected Prefill Time: {sig(ttft)}s\n")
    _implementation_md(m, s, add)
    applies = [(n, why) for n, ok, why in optimisations(sc, est, opts) if ok]
    add("### Performance Optimization")
    for n, _why in applies:
        add(f"- {n}")
    if not applies:
        add("- None needed")
    add("")
    add("### Expected Performance")
    ttft_target = f" (target: {_g(r.ttft_s)}s)" if r.ttft_s is not None else ""
    add(f"- TTFT: {sig(ttft)}s{ttft_target}")
    add(f"- Throughput: {sig(per_gpu * s.gpus / 1e3)} tokens/ms total ({kind})")
    add(f"- Throughput per GPU: {sig(per_gpu / 1e3)} tokens/ms ({kind})")
    add(f"- Memory efficiency: {sig(used / hw.hbm_capacity_bytes * 100)}% per GPU")
    if m.is_moe:
        add(f"- Expert utilization: {sig(m.top_k / m.num_experts * 100)}% "
            f"(top-{m.top_k} routing)")
    add("")


def _checklist_md(sc, s, row, per_gpu: float, used: float, kind: str, add) -> None:
    """One tick per requirement, as our estimate judges it."""
    hw, r = sc.hardware, sc.requirements
    add("### Validation Checklist")

    def tick(ok) -> str:
        return "✓" if ok else "✗"

    cap = hw.hbm_capacity_bytes
    add(f"{tick(row['fits_memory'])} Memory requirements satisfied: {sig(used / 1e9)} GB "
        f"≤ {_g(cap / 1e9)} GB")
    if r.ttft_s is not None:
        add(f"{tick(row['check_ttft'])} TTFT requirement met: {sig(float(row['ttft_s']))}s ≤ "
            f"{_g(r.ttft_s)}s")
    if r.tpot_s is not None:
        add(f"{tick(row['check_tpot'])} TPOT requirement met: "
            f"{sig(float(row['tpot_max_s']) * 1e3)}ms")
    if r.throughput_tokens_per_s_per_gpu is not None:
        add(f"{tick(row['check_throughput'])} Throughput requirement met: "
            f"{sig(per_gpu / 1e3)} tokens/ms per GPU ({kind}) ≥ "
            f"{_g(r.throughput_tokens_per_s_per_gpu / 1e3)} tokens/ms")
    names, vals = ["EP", "TP", "PP"], [s.ep, s.tp, s.pp]
    if s.etp != s.tp or s.dp_attn != s.ep:
        names, vals = ["EP", "ETP", "PP"], [s.ep, s.etp, s.pp]
    if s.dp > 1:
        names.append("DP")
        vals.append(s.dp)
    add(f"✓ Parallelism degrees are compatible ({'×'.join(names)} = "
        f"{'×'.join(map(str, vals))} = {s.gpus})")


def render_plan_md(est: E.Estimate, title: str = "LLM Parallel Strategy Deployment Plan "
                                                  "(MoEPlan)") -> str:
    """A plan in the seed plan's layout whose every number is our estimate's.

    Interconnect, vocabulary and gating are not part of the layout; the plan is read back with
    the defaults, so render estimates of scenarios that use them (as the seed does).
    """
    sc, s = est.scenario, est.strategy
    row = layout_row(sc, s, est.options)
    kind, _ = S.throughput_reading(sc)
    per_gpu = float(row[f"min_{S.THROUGHPUT_COLUMNS[kind]}"])
    used = sum(v for k, v in est.memory_bytes.items() if k != "runtime_reserve")
    L: list[str] = []
    add = L.append
    add(f"# {title}\n")
    _inputs_md(sc, add)
    _strategy_md(s, add)
    _performance_md(est, per_gpu, used, kind, add)
    _checklist_md(sc, s, row, per_gpu, used, kind, add)
    return "\n".join(L) + "\n"
