"""Our value for each kind of claim, re-derived with the package's own estimate for the plan's
layout, and a sentence explaining it (one small function per quantity, :data:`_OURS`)."""

from __future__ import annotations

import math

from analysis import anatomy as A
from analysis import estimate as E
from analysis import fmt
from analysis.estimate import formulas
from analysis.inputs.errors import LayoutError
from analysis.report.audit.ctx import Ctx, NotCheckable, where_stated
from analysis.report.audit.ours_memory import MEMORY_OURS
from analysis.report.audit.quantities import Claim, show, sig
from analysis.search import planner as S

__all__ = ["Ctx", "NotCheckable", "ours"]


# ---------------------------------------------------------------------------- the model's size

def _params_total(c: Claim, ctx: Ctx):
    m = ctx.scenario.model
    total = A.total_params(m)
    parts = A.params_by_component(m)
    big = ", ".join(f"{k.replace('_', ' ')} {fmt.params(v)}" for k, v in parts.items() if v)
    exp = ""
    if m.is_moe:
        exp = (f"; routed experts = {m.num_moe_layers} layers x {m.num_experts} experts x "
               f"{3 if m.ffn_gated else 2} x {m.hidden_size} x {m.expert_intermediate_size}")
    return total, (f"the stated dimensions give {total:,} parameters ({big}{exp}); the "
                   f"declared figure cannot come from them")


def _params_active(c: Claim, ctx: Ctx):
    return A.active_params(ctx.scenario.model), ("active parameters per token with the input "
                                                 "embedding")


def _num_experts(c: Claim, ctx: Ctx):
    return ctx.scenario.model.num_experts, "the model's experts per layer"


def _top_k(c: Claim, ctx: Ctx):
    return ctx.scenario.model.top_k, "the model's top-k"


def _expert_utilization(c: Claim, ctx: Ctx):
    m, wl = ctx.scenario.model, ctx.scenario.workload
    frac = m.top_k / m.num_experts if m.num_experts else 0.0
    touched = 1 - (1 - frac) ** wl.batch_sequences if m.num_experts else 0.0
    return frac, (f"top-k / experts = {m.top_k} / {m.num_experts} = {sig(frac * 100)}%: the "
                  f"share of a layer's experts that ONE token activates (the arithmetic "
                  f"holds). It is not how busy the expert GPUs are: a decode step of "
                  f"{wl.batch_sequences} tokens touches {sig(touched * 100)}% of the "
                  f"experts, and a prefill batch all of them")


# ---------------------------------------------------------------------------- the layout's counts

def _gpu_count(c: Claim, ctx: Ctx):
    s = ctx.strategy
    return s.gpus, (f"{s.label()}: tp {s.tp} x dp_attn {s.dp_attn} x pp {s.pp} x dp {s.dp} "
                    f"= {s.gpus} GPUs (experts: etp {s.etp} x ep {s.ep})")


def _degrees_product(c: Claim, ctx: Ctx):
    s = ctx.strategy
    pairs = [p.split("=") for p in c.detail.split(",") if "=" in p]
    listed = math.prod(int(b) for _, b in pairs) if pairs else None
    deg = {"ep": s.ep, "tp": s.tp, "pp": s.pp, "dp": s.dp, "etp": s.etp, "dp_attn": s.dp_attn}
    mism = [f"{a.upper()} written {b}, layout {deg[a]}" for a, b in pairs
            if a in deg and deg[a] != int(b)]
    why = f"the layout has {s.gpus} GPUs"
    if listed is not None and listed != c.claimed_value:
        why += f"; the plan's own factors multiply to {listed}, not {c.claimed_value:g}"
    if mism:
        why += "; " + "; ".join(mism)
    return s.gpus, why


def _degree(c: Claim, ctx: Ctx):
    name = c.quantity.split("_")[0]
    return getattr(ctx.strategy, name), f"the layout's {name.upper()} degree"


def _expert_gpus(c: Claim, ctx: Ctx):
    s = ctx.strategy
    return s.etp * s.ep, (f"{s.ep} EP ranks x etp {s.etp} GPUs each = {s.etp * s.ep} GPUs "
                          f"per stage hold the experts of a layer"
                          + (f"; '{c.claimed_value:g}' counts EP ranks, not GPUs"
                             if s.etp > 1 and c.claimed_value == s.ep else ""))


def _experts_per_gpu(c: Claim, ctx: Ctx):
    m, s = ctx.scenario.model, ctx.strategy
    per_rank = (m.num_experts + s.redundant_experts) / s.ep
    per_gpu = per_rank / s.etp
    why = (f"read per GPU, as written: {m.num_experts + s.redundant_experts} experts / ep "
           f"{s.ep} = {per_rank:g} per EP rank")
    if s.etp > 1:
        why += (f", and etp = {s.etp} splits each expert's FFN over the {s.etp} GPUs of its "
                f"rank ({m.expert_intermediate_size // s.etp} of {m.expert_intermediate_size}"
                f" columns each), so a GPU holds {sig(per_gpu)} of an expert; per EP rank "
                f"the figure would be {per_rank:g}")
    return per_gpu, why


def _experts_per_rank(c: Claim, ctx: Ctx):
    m, s = ctx.scenario.model, ctx.strategy
    per_rank = (m.num_experts + s.redundant_experts) / s.ep
    return per_rank, f"{m.num_experts + s.redundant_experts} experts / ep {s.ep}"


def _layers_per_stage(c: Claim, ctx: Ctx):
    m, s = ctx.scenario.model, ctx.strategy
    n = math.ceil(m.num_layers / s.pp)
    return n, f"ceil({m.num_layers} layers / pp {s.pp}) = {n} on the busiest stage"


# ---------------------------------------------------------------------------- times, throughputs

def _ttft(c: Claim, ctx: Ctx):
    sc, s, est = ctx.scenario, ctx.strategy, ctx.est
    m, wl, hw = sc.model, sc.workload, sc.hardware
    w = est.worst
    lo = min(est.metrics, key=lambda r: r["prompt_tokens"])
    flops = wl.batch_sequences * sum(A.prefill_flops_by_op(m, wl.max_prompt_tokens).values())
    peak = hw.peak_flops_for(m.activation_precision)
    floor = flops / (s.gpus * peak * hw.mfu)
    why = (f"prefill of the whole batch of {wl.batch_sequences} sequences at the longest "
           f"prompt ({wl.max_prompt_tokens} tokens), where the TTFT requirement binds"
           + (f"; {fmt.seconds(lo['ttft_s'])} at {int(lo['prompt_tokens'])} tokens"
              if len(est.metrics) > 1 else "")
           + f". Compute floor alone: {flops:.3g} FLOP / ({s.gpus} GPUs x "
           f"{peak / 1e12:g} TFLOP/s x {hw.mfu:.0%} MFU) = {fmt.seconds(floor)}")
    if wl.batch_sequences > 1 and c.claimed_value is not None \
            and abs(c.claimed_value - floor / wl.batch_sequences) <= c.rounding \
            and abs(c.claimed_value - w["ttft_s"]) > c.rounding:
        why += (f"; one sequence alone would be {fmt.seconds(floor / wl.batch_sequences)}, "
                f"which does print as the plan's figure: the plan ignores the batch of "
                f"{wl.batch_sequences}")
    return w["ttft_s"], why


def _tpot(c: Claim, ctx: Ctx):
    w = ctx.est.worst
    return w["tpot_s"], (f"one decode step at the longest prompt, mid-generation "
                         f"({fmt.seconds(w['tpot_start_s'])} at the start, "
                         f"{fmt.seconds(w['tpot_end_s'])} at the end)")


def _throughput(c: Claim, ctx: Ctx):
    s = ctx.strategy
    kind = c.detail or ctx.kind
    per_gpu = float(ctx.row[f"min_{S.THROUGHPUT_COLUMNS[kind]}"])
    ours = per_gpu * s.gpus if c.quantity == "throughput_total" else per_gpu
    why = (f"{kind} throughput ({S.THROUGHPUT_MEANING[kind]}), lowest over the prompt "
           f"lengths: {show(per_gpu, 'tokens/s')} per GPU x {s.gpus} GPUs = "
           f"{show(per_gpu * s.gpus, 'tokens/s')} in total"
           + ("" if c.detail else f" (read as {kind}: {ctx.kind_why})"))
    if c.quantity == "throughput_total" and c.claimed_value:
        why += (f". The plan's figure is {show(c.claimed_value / s.gpus, 'tokens/s')} per "
                f"GPU x {s.gpus} GPUs, a per-GPU rate that none of the plan's stated "
                f"quantities produces")
    return ours, why


# ---------------------------------------------------------------------------- requirements, ticks

def _no_target(what: str, ctx: Ctx) -> NotCheckable:
    return NotCheckable(f"needs a {what} target to compare with, and none is stated in "
                        + where_stated("requirements", ctx.from_card))


def _ttft_target(c: Claim, ctx: Ctx):
    if ctx.scenario.requirements.ttft_s is None:
        raise _no_target("TTFT", ctx)
    return ctx.scenario.requirements.ttft_s, "compared as a target: the TTFT requirement"


def _tpot_target(c: Claim, ctx: Ctx):
    if ctx.scenario.requirements.tpot_s is None:
        raise _no_target("TPOT", ctx)
    return ctx.scenario.requirements.tpot_s, "compared as a target: the TPOT requirement"


def _throughput_target(c: Claim, ctx: Ctx):
    t = ctx.scenario.requirements.throughput_tokens_per_s_per_gpu
    if t is None:
        raise _no_target("throughput", ctx)
    if c.reading is not None and c.reading.scope == "total" and ctx.strategy is not None:
        n = ctx.strategy.gpus
        return t * n, (f"compared as a target over all GPUs: the throughput requirement "
                       f"{show(t, 'tokens/s')} per GPU x {n} GPUs")
    return t, "compared as a target: the throughput requirement (per GPU)"


def _memory_fits(c: Claim, ctx: Ctx):
    return bool(ctx.row["fits_memory"]), (
        f"{show(float(ctx.row['memory_per_gpu_bytes']), 'bytes')} per GPU with the runtime "
        f"reserve, of {show(ctx.scenario.hardware.hbm_capacity_bytes, 'bytes')}")


def _ttft_met(c: Claim, ctx: Ctx):
    r = ctx.scenario.requirements
    if r.ttft_s is None:
        raise _no_target("TTFT", ctx)
    return bool(ctx.row["check_ttft"]), (f"ours {fmt.seconds(float(ctx.row['ttft_s']))} "
                                         f"against {fmt.seconds(r.ttft_s)}")


def _tpot_met(c: Claim, ctx: Ctx):
    r = ctx.scenario.requirements
    if r.tpot_s is None:
        raise _no_target("TPOT", ctx)
    return bool(ctx.row["check_tpot"]), (f"ours {fmt.seconds(float(ctx.row['tpot_max_s']))}"
                                         f" against {fmt.seconds(r.tpot_s)}")


def _throughput_met(c: Claim, ctx: Ctx):
    t = ctx.scenario.requirements.throughput_tokens_per_s_per_gpu
    if t is None:
        raise _no_target("throughput", ctx)
    v = float(ctx.row[f"min_{S.THROUGHPUT_COLUMNS[ctx.kind]}"])
    return bool(ctx.row["check_throughput"]), (f"ours {show(v, 'tokens/s')} per GPU "
                                               f"({ctx.kind}) against {show(t, 'tokens/s')}")


def _degrees_valid(c: Claim, ctx: Ctx):
    sc, s = ctx.scenario, ctx.strategy
    try:
        E.check_strategy(sc.model, sc.workload, s)
    except LayoutError as e:
        return False, "; ".join(e.reasons)
    products = [x for x in ctx.claims if x.quantity == "degrees_product"
                and x.line_no == c.line_no and x.claimed_value != s.gpus]
    if products:
        return False, f"the stated product is not the layout's {s.gpus} GPUs"
    return True, E.valid_reason(sc.model, sc.workload, s)


def _unverifiable(c: Claim, ctx: Ctx):
    raise NotCheckable("a tick with no number and no requirement behind it: nothing "
                       "measurable to check; needs a figure on the line, or a requirement in "
                       + where_stated("requirements", ctx.from_card) + ", that the tick "
                       "refers to" + _unverifiable_hint(c, ctx))


def _unverifiable_hint(c: Claim, ctx: Ctx) -> str:
    low = c.text.lower()
    sc, s = ctx.scenario, ctx.strategy
    if "balanc" in low and sc is not None and s is not None and sc.model.is_moe and s.ep > 1:
        mu = sc.workload.batch_sequences / s.dp * sc.model.top_k / s.ep
        ratio = float(formulas.expected_max_load(mu, s.ep)) / mu
        return (f" (load balance depends on the routing, which the plan does not give; under "
                f"uniform-random routing the busiest of {s.ep} EP ranks carries {ratio:.2f}x the "
                f"mean in decode)")
    return ""


#: quantity -> our value and why (see :data:`analysis.report.audit.quantities.QUANTITIES`).
_OURS = {
    "params_total": _params_total, "params_active": _params_active,
    "gpu_count": _gpu_count, "degrees_product": _degrees_product,
    "ep_degree": _degree, "tp_degree": _degree, "pp_degree": _degree,
    "num_experts": _num_experts, "top_k": _top_k, "expert_gpus": _expert_gpus,
    "experts_per_gpu": _experts_per_gpu, "experts_per_rank": _experts_per_rank,
    "layers_per_stage": _layers_per_stage, **MEMORY_OURS,
    "prefill_time": _ttft, "ttft": _ttft, "tpot": _tpot, "ttft_target": _ttft_target,
    "tpot_target": _tpot_target, "throughput_target": _throughput_target,
    "throughput_total": _throughput, "throughput_per_gpu": _throughput,
    "expert_utilization": _expert_utilization, "memory_fits": _memory_fits,
    "ttft_met": _ttft_met, "tpot_met": _tpot_met, "throughput_met": _throughput_met,
    "degrees_valid": _degrees_valid, "unverifiable": _unverifiable,
}


def ours(c: Claim, ctx: Ctx) -> tuple[object, str]:
    """Our value for a claim and a sentence explaining it."""
    rule = _OURS.get(c.quantity)
    if rule is None:
        raise NotCheckable(f"no rule for {c.quantity}")
    return rule(c, ctx)
