"""The metrics a deployment is judged by (TTFT, TPOT, throughput per GPU, memory) for N layouts
at once, and :func:`estimate`: one layout explained (metrics at every prompt length, memory and
time breakdowns that sum to their totals).

* The busiest pipeline stage holds ``ceil(L / pp)`` layers plus the embedding and the head
  (conservative for pp > 1).
* Prefill of the batch in ``m`` micro-batches takes ``(m + pp - 1)`` stage steps (TTFT); decode
  runs the batch as ``min(pp, B)`` micro-batches, and a token passes through all ``pp`` stages, so
  TPOT = ``pp * stage time``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from analysis import anatomy as A
from analysis.estimate import formulas as f
from analysis.estimate.context import ep_precisions_assumption
from analysis.estimate.efficiency import OpCost
from analysis.estimate.layouts import (
    Layouts,
    check_strategy,
    lockstep_group_sequences,
    split_notes,
)
from analysis.estimate.memory import memory_per_gpu_bytes
from analysis.estimate.ops import (
    COMM_OPS,
    OPS,
    overlap_batches,
    stage_ops,
    stage_split_s,
    stage_time_s,
)
from analysis.estimate.options import Options
from analysis.inputs.types import Hardware, Model, Scenario, Strategy


def prefill_chunk_ops(hw: Hardware, model: Model, lay: Layouts, opts: Options, *,
                      seqs_per_group, prompt_tokens, cached_prefix_tokens: float = 0.0
                      ) -> dict[str, OpCost]:
    """The ops of one prefill stage step: ``seqs_per_group`` prompts of ``prompt_tokens`` new
    tokens (after ``cached_prefix_tokens`` already in the KV cache) through a stage's G GPUs."""
    return stage_ops(hw, model, lay, opts, seqs_per_group=seqs_per_group,
                     query_tokens_per_seq=prompt_tokens, phase="prefill",
                     context_tokens=cached_prefix_tokens)


def decode_step_time_s(hw: Hardware, model: Model, lay: Layouts, opts: Options, *,
                       seqs_per_replica, context_tokens) -> tuple[np.ndarray, dict[str, OpCost]]:
    """One decode step of ``seqs_per_replica`` sequences at ``context_tokens``: ``pp * stage
    time`` with the sequences in ``min(pp, max(seqs, 1))`` micro-batches (a token passes through
    every stage), each run in lockstep over the dp_attn ranks (:func:`lockstep_group_sequences`),
    and the stage's ops. Under speculative decoding (``opts.draft_tokens`` > 0)
    the time per output token: the verify step over d + 1 tokens per sequence plus the drafts,
    over the expected tokens per step (:func:`speculative_terms`); the ops are the verify
    step's."""
    seqs = np.asarray(seqs_per_replica, dtype=float)
    m_dec = np.minimum(lay.pp, np.maximum(seqs, 1.0))
    group = lockstep_group_sequences(seqs / m_dec, lay.dp_attn)
    q, frac, tokens = speculative_terms(model, opts)
    k = overlap_batches(lay, opts, group, q)
    ops = stage_ops(hw, model, lay, opts, seqs_per_group=group / k,
                    query_tokens_per_seq=q, phase="decode", context_tokens=context_tokens)
    step = lay.pp * stage_time_s(ops, opts, k)
    if q == 1:
        return step, ops
    plain, _ = decode_step_time_s(hw, model, lay, replace(opts, draft_tokens=0),
                                  seqs_per_replica=seqs, context_tokens=context_tokens)
    return f.speculative_time_per_token_s(step, plain, q - 1, frac, tokens), ops


def speculative_terms(model: Model, opts: Options) -> tuple[int, float, float]:
    """(query tokens per sequence in a verify step d + 1, the draft's cost per draft token as a
    fraction of a plain step f, expected tokens per step E); (1, 0, 1) without speculation.
    f defaults to an MTP module of one layer: 1/L of the target's step."""
    d = opts.draft_tokens
    if not d:
        return 1, 0.0, 1.0
    frac = (opts.draft_cost_fraction if opts.draft_cost_fraction is not None
            else 1.0 / model.num_layers)
    return d + 1, frac, float(f.expected_tokens_per_step(opts.acceptance_rate, d))


def prefill(hw, model, workload, lay, opts, prompt_tokens, cached_prefix_tokens: float = 0.0
            ) -> tuple[np.ndarray, dict[str, OpCost]]:
    """TTFT of the batch at one prompt length: ``(m + pp - 1) * stage time`` of a micro-batch,
    and the stage's ops. ``prompt_tokens`` are computed; ``cached_prefix_tokens`` more before
    them are already cached (prefix-cache hits): attended to, not recomputed."""
    b_rep = workload.batch_sequences / lay.dp
    seqs = lockstep_group_sequences(b_rep / lay.microbatches, lay.dp_attn)
    k = overlap_batches(lay, opts, seqs, prompt_tokens)
    ops = prefill_chunk_ops(hw, model, lay, opts, seqs_per_group=seqs / k,
                            prompt_tokens=prompt_tokens, cached_prefix_tokens=cached_prefix_tokens)
    return f.pipeline_steps(lay.pp, lay.microbatches) * stage_time_s(ops, opts, k), ops


def decode(hw, model, workload, lay, opts, context_tokens) -> tuple[np.ndarray, dict[str, OpCost]]:
    """TPOT at a context length: ``pp * stage time`` with the batch in ``min(pp, B)``
    micro-batches (a token passes through every stage), and the stage's ops."""
    return decode_step_time_s(hw, model, lay, opts, seqs_per_replica=workload.batch_sequences
                              / lay.dp, context_tokens=context_tokens)


def evaluate_layouts(scenario: Scenario, lay: Layouts, opts: Options | None = None,
                     prompt_tokens: int | None = None) -> dict[str, np.ndarray]:
    """Headline metrics of N layouts at one prompt length (default: the longest, the worst case
    for TTFT and memory). Every value is an array of N."""
    opts = opts or Options()
    hw, m, wl = scenario.hardware, scenario.model, scenario.workload
    s = prompt_tokens or wl.max_prompt_tokens
    o = wl.output_tokens
    gpus = lay.gpus.astype(float)
    b = wl.batch_sequences
    ttft, _ = prefill(hw, m, wl, lay, opts, s)
    tpot_start, _ = decode(hw, m, wl, lay, opts, s)
    tpot_end, _ = decode(hw, m, wl, lay, opts, s + o)
    tpot_avg, _ = decode(hw, m, wl, lay, opts, s + o / 2)
    e2e = ttft + (o - 1) * tpot_avg
    mem = memory_per_gpu_bytes(hw, m, wl, scenario.requirements.memory_reserve_fraction, lay, opts)
    mem_total = sum(mem.values())
    flops_prefill = b * sum(A.prefill_flops_by_op(m, s).values())
    peak = hw.peak_flops_for(m.activation_precision)
    return {
        "prompt_tokens": np.full(len(lay), s),
        "gpus": gpus,
        "ttft_s": ttft,
        "tpot_start_s": tpot_start,
        "tpot_end_s": tpot_end,
        "tpot_s": tpot_avg,
        "e2e_latency_s": e2e,
        "prefill_tokens_per_s_per_gpu": b * s / ttft / gpus,
        "decode_tokens_per_s_per_gpu": b / tpot_avg / gpus,
        "total_tokens_per_s_per_gpu": b * (s + o) / e2e / gpus,
        "output_tokens_per_s_per_gpu": b * o / e2e / gpus,
        "tokens_per_s_per_user": 1 / tpot_avg,
        "prefill_mfu": flops_prefill / (ttft * gpus * peak),
        "memory_per_gpu_bytes": mem_total,
        "memory_utilization": mem_total / hw.hbm_capacity_bytes,
        "fits_memory": mem_total <= hw.hbm_capacity_bytes,
    }


# --------------------------------------------------------------------------------------------
# One layout, explained
# --------------------------------------------------------------------------------------------

@dataclass
class Estimate:
    """Everything about one layout: metrics at every prompt length, memory and time breakdowns."""

    scenario: Scenario
    strategy: Strategy
    options: Options
    metrics: list[dict[str, float]]                 # one row per prompt length
    memory_bytes: dict[str, float]
    prefill_ops: list[dict[str, object]]            # at the longest prompt, per op
    decode_ops: list[dict[str, object]]             # at the longest context, per op
    ttft_breakdown_s: dict[str, float]              # sums to worst-case TTFT
    tpot_breakdown_s: dict[str, float]              # sums to TPOT at the longest context
    sol_fraction: dict[str, float]                  # speed-of-light time / this time
    warnings: list[str] = field(default_factory=list)

    def by_resource(self, phase: str) -> dict[str, float]:
        """The phase's breakdown grouped by the resource that set each op's time (compute,
        memory, communication) plus the pipeline's idle steps; sums to the phase's time
        (worst-case TTFT for "prefill", TPOT at the longest context for "decode")."""
        breakdown, ops = ((self.ttft_breakdown_s, self.prefill_ops) if phase == "prefill"
                          else (self.tpot_breakdown_s, self.decode_ops))
        out = {"compute": 0.0, "memory": 0.0, "communication": 0.0, "pipeline_bubble": 0.0}
        for row in ops:
            out[row["bound"]] += breakdown[row["op"]]
        out["pipeline_bubble"] += breakdown["pipeline_bubble"]
        return out

    @property
    def worst(self) -> dict[str, float]:
        """Metrics at the longest prompt (the TTFT worst case)."""
        return max(self.metrics, key=lambda r: r["prompt_tokens"])

    def to_dict(self) -> dict:
        w = self.worst
        return {
            "strategy": self.strategy.as_dict(),
            "layout": self.strategy.label(),
            "mode": self.options.mode,
            "options": self.options.describe(),
            "memory_per_gpu_bytes": {"total": sum(self.memory_bytes.values()),
                                     "capacity": self.scenario.hardware.hbm_capacity_bytes,
                                     "breakdown": self.memory_bytes},
            "ttft_s": w["ttft_s"],
            "tpot_s": w["tpot_s"],
            "tpot_start_s": w["tpot_start_s"],
            "tpot_end_s": w["tpot_end_s"],
            "prefill_tokens_per_ms_per_gpu": w["prefill_tokens_per_s_per_gpu"] / 1e3,
            "decode_tokens_per_ms_per_gpu": w["decode_tokens_per_s_per_gpu"] / 1e3,
            "total_tokens_per_ms_per_gpu": w["total_tokens_per_s_per_gpu"] / 1e3,
            "e2e_latency_s": w["e2e_latency_s"],
            "prefill_mfu": w["prefill_mfu"],
            "memory_utilization": w["memory_utilization"],
            "metrics_by_prompt_length": self.metrics,
            "time_breakdown": {"ttft_s": self.ttft_breakdown_s, "tpot_s": self.tpot_breakdown_s,
                               "ttft_by_resource_s": self.by_resource("prefill"),
                               "tpot_by_resource_s": self.by_resource("decode"),
                               "prefill_ops": self.prefill_ops, "decode_ops": self.decode_ops},
            "speed_of_light_fraction": self.sol_fraction,
            "assumptions": list(self.scenario.assumptions) + [
                "estimate: " + self.options.describe(),
                "busiest pipeline stage holds ceil(L/pp) layers plus embedding and head",
            ] + split_notes(self.scenario.model, self.scenario.workload, self.strategy) + [
                "decode TPOT averaged at the mid-generation context (prompt + output/2)",
                ("decode only: no prompt-sized activations or buffers held"
                 if self.options.decode_only else
                 f"chunked prefill: activations and communication buffers sized for at most "
                 f"{self.options.prefill_chunk_tokens} prompt tokens per attention rank per "
                 f"iteration (engines cap the tokens of a step); prefill time is not changed"),
            ] + ([ep_precisions_assumption(self.scenario.model, self.options)]
                 if self.scenario.model.is_moe else []),
            "warnings": list(self.scenario.warnings) + self.warnings,
        }


def _op_rows(ops: dict[str, OpCost]) -> list[dict[str, object]]:
    rows = []
    for name in OPS:
        op = ops[name]
        rows.append({"op": name, "flops": float(op.flops[0]), "hbm_bytes": float(op.hbm_bytes[0]),
                     "comm_bytes": float(op.comm_bytes[0]), "compute_s": float(op.compute_s[0]),
                     "memory_s": float(op.memory_s[0]), "comm_s": float(op.comm_s[0]),
                     "overhead_s": float(np.broadcast_to(op.overhead_s, op.flops.shape)[0]),
                     "time_s": float(op.time_s[0]), "bound": str(op.bound[0])})
    return rows


def _breakdown(ops: dict[str, OpCost], steps: float, bubble_steps: float, opts: Options,
               batches: float = 1.0) -> dict[str, float]:
    """Per-op share of ``steps * stage time``, with overlap credited to communication ops and
    the pipeline's idle steps as their own line; sums to the phase's time. Under two-batch
    overlap ``ops`` are one of ``batches`` micro-batches."""
    times = {o: float(ops[o].time_s[0]) for o in OPS}
    gpu, comm, exposed = stage_split_s(times, opts, batches)
    exposed = float(exposed)
    steps, bubble_steps = steps * batches, bubble_steps * batches
    scale = exposed / comm if comm else 0.0
    out = {}
    for o in OPS:
        t = times[o] * (scale if o in COMM_OPS else 1.0)
        out[o] = t * steps
    stage = gpu + exposed
    out["pipeline_bubble"] = stage * bubble_steps
    return out


def _speculative_breakdown(verify: dict[str, float], tokens: float, tpot_s: float
                           ) -> dict[str, float]:
    """Under speculative decoding the verify step's ops per output token (over E tokens per
    step) and the drafts as their own line, ``speculative_draft``; sums to TPOT. Unchanged
    without speculation (E = 1)."""
    if tokens == 1.0:
        return verify
    out = {k: v / tokens for k, v in verify.items()}
    out["speculative_draft"] = tpot_s - sum(out.values())
    return out


def estimate(scenario: Scenario, strategy: Strategy, opts: Options | None = None) -> Estimate:
    """Estimate one layout at every prompt length of the workload (LayoutError if impossible)."""
    opts = opts or Options()
    hw, m, wl = scenario.hardware, scenario.model, scenario.workload
    check_strategy(m, wl, strategy)
    lay = Layouts.from_strategies([strategy])
    sol = Options(**{**opts.__dict__, "mode": "sol"})
    rows = []
    for s in wl.prompt_lengths_tokens:
        r = {k: float(v[0]) for k, v in evaluate_layouts(scenario, lay, opts, s).items()}
        rows.append(r)
    s_max = wl.max_prompt_tokens
    ctx_end = s_max + wl.output_tokens
    ttft, p_ops = prefill(hw, m, wl, lay, opts, s_max)
    tpot, d_ops = decode(hw, m, wl, lay, opts, ctx_end)
    ttft_sol, _ = prefill(hw, m, wl, lay, sol, s_max)
    tpot_sol, _ = decode(hw, m, wl, lay, sol, ctx_end)
    mb, pp = strategy.microbatches, strategy.pp
    b_rep = wl.batch_sequences / strategy.dp
    k_pre = float(overlap_batches(lay, opts, b_rep / mb, s_max)[0])
    q, _, tokens = speculative_terms(m, opts)
    k_dec = float(overlap_batches(lay, opts, b_rep / min(pp, max(b_rep, 1.0)), q)[0])
    ttft_bd = _breakdown(p_ops, mb, pp - 1, opts, k_pre)
    tpot_bd = _speculative_breakdown(_breakdown(d_ops, pp, 0, opts, k_dec), tokens,
                                     float(tpot[0]))
    mem = {k: float(v[0]) for k, v in memory_per_gpu_bytes(
        hw, m, wl, scenario.requirements.memory_reserve_fraction, lay, opts).items()}
    warnings = []
    if strategy.tp > hw.gpus_per_node:
        warnings.append(f"tp={strategy.tp} spans more than one node of {hw.gpus_per_node} GPUs: "
                        f"its all-reduces run on the scale-out network")
    if m.attention.kind == "gqa" and strategy.tp > m.attention.num_kv_heads:
        warnings.append(f"tp={strategy.tp} exceeds the {m.attention.num_kv_heads} KV heads: "
                        f"each KV head is replicated on {strategy.tp // m.attention.num_kv_heads} "
                        f"GPUs")
    return Estimate(scenario, strategy, opts, rows, mem, _op_rows(p_ops), _op_rows(d_ops),
                    ttft_bd, tpot_bd,
                    {"ttft": float(ttft_sol[0] / ttft[0]), "tpot": float(tpot_sol[0] / tpot[0])},
                    warnings)
