"""Findings that are not one claim: requirements the checklist never checks, and the plan's
internal inconsistencies (degrees whose product is not the GPU count, a tick beside a failing
number, one quantity stated twice with different values)."""

from __future__ import annotations

import itertools
import math
import re

from analysis import fmt
from analysis.report.audit.lines import Line
from analysis.report.audit.ours import Ctx
from analysis.report.audit.quantities import QUANTITIES, Claim, Finding, Verdict, show, sig
from analysis.search import planner as S

# ---------------------------------------------------------------------------- requirements


def _own_throughput_text(ctx: Ctx, verdicts: list[Verdict], target: float) -> str:
    """Whether the plan's own throughput figure, and ours, meet the per-GPU target."""
    why = ""
    own = [v for v in verdicts if v.claim.quantity in ("throughput_total", "throughput_per_gpu")
           and (v.claim.quantity == "throughput_per_gpu" or ctx.strategy is not None)]
    if own:
        c = own[0].claim
        per_gpu = c.claimed_value / ctx.strategy.gpus \
            if c.quantity == "throughput_total" else c.claimed_value
        verdict = "would fail" if per_gpu < target else "would meet"
        why += (f". By the plan's own figure ({c.printed}"
                + (f" / {ctx.strategy.gpus} GPUs" if c.quantity == "throughput_total"
                   else "") + f" = {show(per_gpu, 'tokens/s')} per GPU) it {verdict} it"
                + (f" by {sig(target / per_gpu)}x" if per_gpu < target else ""))
    if ctx.row is not None:
        v = float(ctx.row[f"min_{S.THROUGHPUT_COLUMNS[ctx.kind]}"])
        why += (f"; by ours ({ctx.kind}, lowest over the prompt lengths) it is "
                f"{show(v, 'tokens/s')} per GPU: {'met' if v >= target else 'NOT met'}")
    return why


def _ours_against(ctx: Ctx, name: str) -> str:
    """Our TTFT or TPOT and whether it meets the requirement."""
    if ctx.row is None:
        return ""
    if name == "TTFT":
        return (f"; ours {fmt.seconds(float(ctx.row['ttft_s']))}: "
                f"{'met' if ctx.row['check_ttft'] else 'NOT met'}")
    return (f"; ours {fmt.seconds(float(ctx.row['tpot_max_s']))}: "
            f"{'met' if ctx.row['check_tpot'] else 'NOT met'}")


def requirement_findings(ctx: Ctx, lines: list[Line], verdicts: list[Verdict]
                         ) -> list[Finding]:
    """Each stated requirement: checked by a checklist line, or not (with ours beside it)."""
    sc = ctx.scenario
    if sc is None or "requirements" in ctx.missing:
        return []
    r = sc.requirements
    checklist = [ln for ln in lines if ln.kind == "checklist"]
    if not checklist:
        return [Finding("requirement", None, "Validation Checklist", "unchecked", True,
                        "the plan has no validation checklist: none of its requirements is "
                        "checked")]
    text = " ".join(ln.text.lower() for ln in checklist)
    all_ticked = all(ln.tick for ln in checklist if ln.tick is not None)
    req_lines = {ln.key: ln for ln in lines if ln.kind == "requirements"}
    out = []
    wanted = [("TTFT", r.ttft_s, r"ttft|first token"),
              ("TPOT", r.tpot_s, r"tpot|per output token|inter[\s-]?token"),
              ("throughput per GPU", r.throughput_tokens_per_s_per_gpu, r"throughput|tokens?/")]
    for name, target, rx in wanted:
        if target is None:
            continue
        src = next((ln for k, ln in req_lines.items() if re.search(rx, k)), None)
        line_no, statement = (src.no, src.text) if src else (None, name)
        if re.search(rx, text):
            out.append(Finding("requirement", line_no, statement, "checked", False,
                               f"the checklist has a line for the {name} requirement"))
            continue
        is_tput = name == "throughput per GPU"
        shown = show(target, "tokens/s" if is_tput else "s") + (" per GPU" if is_tput else "")
        why = (f"the {name} requirement ({shown}) has no checklist line"
               + (", yet every checklist line is ticked" if all_ticked else ""))
        why += (_own_throughput_text(ctx, verdicts, target) if is_tput
                else _ours_against(ctx, name))
        out.append(Finding("requirement", line_no, statement, "unchecked", True, why))
    return out


# ---------------------------------------------------------------------------- consistency

def _degree_findings(claims: list[Claim], ctx: Ctx) -> list[Finding]:
    """A stated GPU count against the degrees; a stated product against its own factors."""
    out = []
    s = ctx.strategy
    for c in claims:
        if c.quantity == "gpu_count":
            ok = c.claimed_value == s.gpus
            out.append(Finding("consistency", c.line_no, c.text,
                               "consistent" if ok else "inconsistent", not ok,
                               f"the degrees give tp {s.tp} x dp_attn {s.dp_attn} x pp {s.pp}"
                               f" x dp {s.dp} = {s.gpus} GPUs (EP {s.ep} x TP {s.tp} x PP "
                               f"{s.pp} when TP runs inside each expert); the plan states "
                               f"{c.claimed_value:g}"))
        if c.quantity == "degrees_product":
            pairs = [p.split("=") for p in c.detail.split(",") if "=" in p]
            listed = math.prod(int(b) for _, b in pairs)
            if listed != c.claimed_value:
                out.append(Finding("consistency", c.line_no, c.text, "inconsistent", True,
                                   f"{' x '.join(b for _, b in pairs)} = {listed}, not "
                                   f"{c.claimed_value:g}"))
    return out


def _tick_findings(claims: list[Claim], ctx: Ctx) -> list[Finding]:
    """A tick whose own numbers, on the same line, fail the target it claims to meet."""
    out = []
    targets = {}
    if ctx.scenario is not None:
        r = ctx.scenario.requirements
        targets = {"ttft_met": ("ttft", "ttft_target", r.ttft_s, 1),
                   "throughput_met": ("throughput_per_gpu", "throughput_target",
                                      r.throughput_tokens_per_s_per_gpu, -1)}
        if "hardware" not in ctx.missing:
            targets["memory_fits"] = ("memory_per_gpu", "memory_capacity",
                                      ctx.scenario.hardware.hbm_capacity_bytes, 1)
    for c in claims:
        if c.quantity not in targets or not c.claimed_value:
            continue
        num_q, tgt_q, req, sign = targets[c.quantity]
        same = [x for x in claims if x.line_no == c.line_no]
        num = next((x for x in same if x.quantity == num_q), None)
        tgt = next((x for x in same if x.quantity == tgt_q), None)
        target = tgt.claimed_value if tgt is not None else req
        if num is None or target is None:
            continue
        if (num.claimed_value - target) * sign > num.rounding:
            out.append(Finding("consistency", c.line_no, c.text, "inconsistent", True,
                               f"ticked as met, but the line's own figure {num.printed} "
                               f"{'exceeds' if sign > 0 else 'falls short of'} the target "
                               f"{tgt.printed if tgt is not None else show(target, num.unit)}"))
    return out


def _trailing_tick_findings(claims: list[Claim]) -> list[Finding]:
    """A tick beside an output line whose own value fails its own target
    ("98.4 tokens/ms (target 100) ✓")."""
    out = []
    pairs = {"throughput_total": ("throughput_target", -1), "throughput_per_gpu":
             ("throughput_target", -1), "ttft": ("ttft_target", 1)}
    for c in claims:
        if c.quantity not in pairs or not c.ticked or c.section.lower().find("checklist") >= 0:
            continue
        tgt_q, sign = pairs[c.quantity]
        tgt = next((x for x in claims if x.line_no == c.line_no and x.quantity == tgt_q), None)
        if tgt is not None and (c.claimed_value - tgt.claimed_value) * sign > c.rounding:
            out.append(Finding("consistency", c.line_no, c.text, "inconsistent", True,
                               f"ticked as met, but the line's own figure {c.printed} "
                               f"{'exceeds' if sign > 0 else 'falls short of'} its target "
                               f"{tgt.printed}"))
    return out


def _repeat_findings(claims: list[Claim], ctx: Ctx) -> list[Finding]:
    """One quantity stated twice with values that cannot both round from one number; a memory
    utilisation that follows from the plan's memory per GPU."""
    out = []
    by_q: dict[str, list[Claim]] = {}
    for c in claims:
        if QUANTITIES[c.quantity].unit != "check" and c.claimed_value is not None:
            by_q.setdefault(c.quantity, []).append(c)
    if "prefill_time" in by_q and "ttft" in by_q:
        by_q["prefill_time"] = by_q["prefill_time"] + by_q.pop("ttft")
    for q, cs in by_q.items():
        for x, y in itertools.pairwise(cs):
            if abs(x.claimed_value - y.claimed_value) > x.rounding + y.rounding + 1e-12:
                out.append(Finding("consistency", y.line_no, y.text, "inconsistent", True,
                                   f"{QUANTITIES[q].label}: {x.printed} on line {x.line_no} but "
                                   f"{y.printed} on line {y.line_no}"))
    if ctx.scenario is not None and "hardware" not in ctx.missing:
        cap = ctx.scenario.hardware.hbm_capacity_bytes
        mems = by_q.get("memory_per_gpu", [])
        for u in by_q.get("memory_utilization", []):
            if mems:
                implied = mems[0].claimed_value / cap
                if abs(implied - u.claimed_value) <= u.rounding + mems[0].rounding / cap:
                    out.append(Finding("consistency", u.line_no, u.text, "consistent", False,
                                       f"{mems[0].printed} / {show(cap, 'bytes')} = "
                                       f"{sig(implied * 100)}%: the utilisation follows from the "
                                       f"plan's memory per GPU (and is as right or wrong as it)"))
    return out


def consistency_findings(claims: list[Claim], ctx: Ctx) -> list[Finding]:
    """Every internal inconsistency of the plan (and the consistencies worth saying)."""
    out = _degree_findings(claims, ctx) if ctx.strategy is not None else []
    return (out + _tick_findings(claims, ctx) + _trailing_tick_findings(claims)
            + _repeat_findings(claims, ctx))
