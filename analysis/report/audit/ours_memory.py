"""Our value for each memory and utilisation claim, on the definition the claim was classified
with (:mod:`.classify`): weights with weights, KV cache with KV cache, everything with everything,
per GPU with per GPU, all GPUs with all GPUs; free memory as free memory; the utilisation of
compute, of memory bandwidth and of memory capacity each as itself."""

from __future__ import annotations

from analysis import anatomy as A
from analysis.report.audit.ctx import Ctx, NotCheckable, memory_breakdown, used_bytes, where_stated
from analysis.report.audit.quantities import COUNTS, Claim, show, sig


def _per_gpu_parts(ctx: Ctx) -> dict[str, float]:
    """Our memory per GPU under each definition a plan may use (:data:`COUNTS`)."""
    mem = ctx.est.memory_bytes
    return {"weights": mem["non_expert_weights"] + mem["expert_weights"],
            "expert_weights": mem["expert_weights"],
            "non_expert_weights": mem["non_expert_weights"],
            "kv_cache": mem["kv_cache"], "activations": mem["activations"],
            "total": used_bytes(ctx), "total_with_reserve": float(sum(mem.values()))}


def _other_definition(c: Claim, ctx: Ctx, per_gpu_claimed: float) -> str:
    """When the claimed figure matches another definition of ours (within 10%), say so."""
    parts = _per_gpu_parts(ctx)
    same = [k for k, v in parts.items() if k != c.reading.counts and v
            and abs(per_gpu_claimed - v) <= 0.10 * v + c.rounding]
    if not same:
        return ""
    k = same[0]
    return (f" The plan's figure does match ours counting {COUNTS[k]} "
            f"({show(parts[k], 'bytes')} per GPU): the plan may count that instead, but its "
            f"words say {COUNTS[c.reading.counts]}.")


def _usage(c: Claim, ctx: Ctx):
    """A usage claim (weights, KV cache, activations or everything; per GPU or all GPUs):
    ours on the same definition. A total is compared as a total: the plan's figure / GPUs
    against ours per GPU (the same ratio)."""
    s = ctx.strategy
    counts = c.reading.counts
    per_gpu = _per_gpu_parts(ctx)[counts]
    total = c.reading.scope == "total"
    ours = per_gpu * s.gpus if total else per_gpu
    what = COUNTS[counts]
    why = memory_breakdown(ctx)
    if total and c.claimed_value:
        why = (f"the plan's total / {s.gpus} GPUs = {show(c.claimed_value / s.gpus, 'bytes')} "
               f"per GPU, against ours {show(per_gpu, 'bytes')} per GPU ({what}; ours x "
               f"{s.gpus} GPUs = {show(ours, 'bytes')}). " + why)
    if counts == "total" and not total and c.claimed_value \
            and abs(c.claimed_value - per_gpu) > 0.1 * per_gpu:
        why = (f"{show(c.claimed_value, 'bytes')} x {s.gpus} GPUs = "
               f"{show(c.claimed_value * s.gpus, 'bytes')}: one total divided evenly by the "
               f"GPU count, whereas each part of the memory is split by a different degree. "
               + why)
    if c.claimed_value:
        why += _other_definition(c, ctx, c.claimed_value / (s.gpus if total else 1))
    return ours, why


def _weights_total(c: Claim, ctx: Ctx):
    """The model's weights, once (replicas not counted): routed experts at the expert
    precision, the rest at the weight precision (:func:`analysis.anatomy.weight_bytes`)."""
    m = ctx.scenario.model
    wb = A.weight_bytes(m)
    key = {"expert_weights": "expert", "non_expert_weights": "non_expert"}.get(
        c.reading.counts)
    ours = wb[key] if key else wb["expert"] + wb["non_expert"]
    why = (f"compared as the model's weights, once ({COUNTS[c.reading.counts]}): "
           f"expert weights {show(wb['expert'], 'bytes')} + non-expert weights "
           f"{show(wb['non_expert'], 'bytes')} = {show(wb['expert'] + wb['non_expert'], 'bytes')}"
           f" at {m.weight_precision}")
    if ctx.est is not None:
        why += (f"; per GPU the plan's layout holds {show(_per_gpu_parts(ctx)['weights'], 'bytes')}"
                f" of weights")
    return ours, why


def _memory_capacity(c: Claim, ctx: Ctx):
    sc = ctx.scenario
    cap = sc.hardware.hbm_capacity_bytes
    usable = cap * (1 - sc.requirements.memory_reserve_fraction)
    if abs(c.claimed_value - usable) <= c.rounding + 1e-6:
        return usable, "the GPU memory less the runtime reserve"
    return cap, "the GPU memory the plan states (a capacity, not a usage)"


def _memory_free(c: Claim, ctx: Ctx):
    cap = ctx.scenario.hardware.hbm_capacity_bytes
    used = used_bytes(ctx)
    return cap - used, (f"free memory: {show(cap, 'bytes')} - {show(used, 'bytes')} used = "
                        f"{show(cap - used, 'bytes')} per GPU (compared as free memory, not usage)")


def _input_fraction(c: Claim, ctx: Ctx, value: float, label: str, what: str):
    """A utilisation the estimate takes as an input: compared with it when the plan (or its
    card) states it, else an assumption-only claim."""
    if not ctx.stated(label):
        raise NotCheckable(
            f"an assumption-only claim: the {what} is an efficiency the estimate assumes, and "
            f"neither the plan nor its card states one (the estimate uses the default "
            f"{sig(value * 100)}%); needs the {label} stated in "
            + where_stated("hardware", ctx.from_card))
    return value, (f"the {what} the estimate uses ({sig(value * 100)}%, stated as an input and "
                   f"restated here, not derived)")


def _mfu(c: Claim, ctx: Ctx):
    return _input_fraction(c, ctx, ctx.scenario.hardware.mfu, "MFU",
                           "compute utilisation (MFU: achieved / peak FLOP/s)")


def _bandwidth_utilization(c: Claim, ctx: Ctx):
    value, why = _input_fraction(c, ctx, ctx.scenario.hardware.bandwidth_utilization,
                                 "bandwidth utilization", "memory-bandwidth utilisation")
    return value, why + "; not the memory-capacity utilisation"


def _memory_utilization(c: Claim, ctx: Ctx):
    used = used_bytes(ctx)
    cap = ctx.scenario.hardware.hbm_capacity_bytes
    with_reserve = sum(ctx.est.memory_bytes.values()) / cap * 100
    return used / cap, (f"compared as memory-capacity utilisation: ours {show(used, 'bytes')} "
                        f"used / {show(cap, 'bytes')} = {sig(used / cap * 100)}% "
                        f"({sig(with_reserve)}% with the runtime reserve); the plan's figure "
                        f"follows from its memory per GPU")


#: quantity -> our value and why, for memory and utilisation claims.
MEMORY_OURS = {
    "memory_per_gpu": _usage, "memory_total": _usage, "weights_per_gpu": _usage,
    "kv_cache_per_gpu": _usage, "kv_cache_total": _usage, "activations_per_gpu": _usage,
    "weights_total": _weights_total, "memory_capacity": _memory_capacity,
    "memory_free": _memory_free, "mfu": _mfu, "bandwidth_utilization": _bandwidth_utilization,
    "memory_utilization": _memory_utilization,
}
