"""The report's first sections: title and verdict, then what it was given (hardware, model,
input, requirements). Each section is a function of :class:`ReportInputs` returning its lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from analysis import anatomy as A
from analysis import estimate as E
from analysis import fmt
from analysis.inputs.types import Scenario
from analysis.search import planner as S


@dataclass(frozen=True)
class ReportInputs:
    """Everything a section may read: the scenario, the plan and its estimates, the figures."""
    scenario: Scenario
    plan: S.Plan
    est: E.Estimate
    declared: S.Plan | None
    current: E.Estimate | None
    current_error: str | None
    figures: dict[str, str]
    opts: E.Options
    serving: dict | None = None     # ServingPlan.to_dict() when the scenario has serving:


def md_table(rows: list[list[object]], header: list[str], align: str | None = None) -> str:
    """A GitHub-flavoured markdown table; ``align`` is one of l/r per column."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    for r in rows:      # a pipe inside a cell is escaped, as GitHub's tables want
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(lines)


#: The repository root: report text names files relative to it, wherever the run started.
ROOT = Path(__file__).resolve().parents[2]


def repo_relative(text: str, cwd: Path | None = None) -> str:
    """``text`` with every file path in it (relative like ``../../examples/x.md``, or absolute)
    that lies inside the repository rewritten relative to the repository root."""
    cwd = cwd or Path.cwd()

    def fix(m: re.Match) -> str:
        p = Path(m.group(0))
        full = (p if p.is_absolute() else cwd / p).resolve()
        try:
            return full.relative_to(ROOT).as_posix()
        except ValueError:
            return m.group(0)

    return re.sub(r"(?:/|(?:\.\./)+)[\w.-]+(?:/[\w.-]+)*", fix, text)


def title(c: ReportInputs) -> list[str]:
    """Title, the scenario's source and the mode the numbers were computed in."""
    scenario = c.scenario
    opts = c.opts
    out: list[str] = []
    add = out.append
    add(f"# MoE deployment plan: {scenario.name}\n")
    add(f"Scenario `{scenario.name}`, read from: "
        f"{repo_relative(scenario.source or scenario.name)}\n")
    add(f"Every number below is computed by MoEPlan's model in `analysis/` ({opts.describe()}); "
        f"the assumptions it used are listed at the end.\n")
    return out


def verdict_section(c: ReportInputs) -> list[str]:
    """The one-line verdict (deploy X, or the best compromise) and the scenario's warnings."""
    s = c.est.strategy
    p = c.plan
    scenario = c.scenario
    out: list[str] = []
    add = out.append
    if p.feasible:
        add(f"**Verdict: deploy `{s.label()}` ({s.describe()}).** It meets every requirement "
            f"(checklist below) with the fewest GPUs.\n")
    else:
        add(f"**Verdict: no layout up to {scenario.max_gpus} GPUs meets every requirement.** "
            f"The best compromise is `{s.label()}` ({s.describe()}), labelled as such; what "
            f"binds and what would have to change is under *Binding constraint*.\n")
    for w in scenario.warnings:
        add(f"> **Warning.** {w}\n")
    return out


def hardware(c: ReportInputs) -> list[str]:
    """The GPU: peaks, HBM, efficiencies and their source, calibration, links."""
    hw = c.scenario.hardware
    opts = c.opts
    out: list[str] = []
    add = out.append
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
    return out


def model(c: ReportInputs) -> list[str]:
    """The model's architecture, parameters by component and the declared-size check."""
    m = c.scenario.model
    out: list[str] = []
    add = out.append
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
    return out


def workload_input(c: ReportInputs) -> list[str]:
    """The workload: batch, prompt lengths evaluated, output length."""
    wl = c.scenario.workload
    out: list[str] = []
    add = out.append
    add("## Input\n")
    rng = (f"{wl.prompt_range_tokens[0]} to {wl.prompt_range_tokens[1]} tokens, evaluated at "
           f"{', '.join(map(str, wl.prompt_lengths_tokens))}" if wl.prompt_range_tokens else
           ", ".join(map(str, wl.prompt_lengths_tokens)) + " tokens")
    add(f"- Batch: {wl.batch_sequences} sequences served together (one static batch)")
    add(f"- Prompt length: {rng}")
    add(f"- Output length: {wl.output_tokens} tokens"
        + ("" if wl.output_tokens_stated else " (not stated: assumed)"))
    add("")
    return out


def requirements(c: ReportInputs) -> list[str]:
    """The requirements as targets, and how the throughput requirement is read."""
    hw = c.scenario.hardware
    r = c.scenario.requirements
    kind = c.plan.throughput_kind
    p = c.plan
    out: list[str] = []
    add = out.append
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
    return out
