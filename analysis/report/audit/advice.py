"""Qualitative advice checked against the plan's layout: an optimisation that applies, does not
apply or is impossible (a KV cache of experts, activation checkpointing in inference), and
communication statements whose truth follows from the degrees."""

from __future__ import annotations

import re

from analysis import estimate as E
from analysis import fmt
from analysis.inputs.types import Scenario, Strategy
from analysis.report.audit.lines import Line
from analysis.report.audit.ours import Ctx
from analysis.report.audit.quantities import Finding, sig
from analysis.report.strategy import optimisations

#: (regex on a statement, name prefix of the entry in analysis.report.optimisations)
_OPTIMISATION_RULES = [
    (r"kv[\s-]*cache.{0,40}(?:inactive|expert)|expert.{0,40}kv[\s-]*cache",
     "KV-cache compression for inactive experts"),
    (r"activation\s+checkpoint|recomput", "Activation checkpointing"),
    ((r"micro-?batch.{0,60}(?:bubble|pipeline)|(?:bubble|pipeline).{0,60}micro-?batch"
      r"|pipeline\s+bubble"), "Micro-batching|Prefill micro-batching"),
    (r"overlap.{0,40}communication|communication.{0,40}overlap", "Overlap communication"),
    (r"load\s+balanc|\beplb\b|redundant\s+experts?", "Redundant experts"),
    (r"fp8\s+kv|kv[\s-]*cache.{0,30}(?:fp8|int8|quanti[sz]|compress)", "FP8 KV cache"),
    (r"chunked\s+prefill", "Chunked prefill"),
    (r"attention\s+data\s+parallel", "Attention data parallelism"),
]


#: Optimisations whose verdict rests on times or memory shares, so on the hardware.
_NEEDS_HARDWARE = ("Overlap communication", "FP8 KV cache", "Chunked prefill")


def qualitative(lines: list[Line], ctx: Ctx) -> tuple[list[Finding], list[Line]]:
    """Findings for optimisation and communication statements; the lines no rule speaks to."""
    sc, s, est = ctx.scenario, ctx.strategy, ctx.est
    opts = optimisations(sc, est, ctx.opts) if est is not None else []
    out: list[Finding] = []
    left: list[Line] = []
    for ln in lines:
        low = ln.text.lower()
        f = None
        for rx, name in _OPTIMISATION_RULES:
            if not re.search(rx, low):
                continue
            if name.startswith("KV-cache compression for inactive"):
                f = Finding("optimisation", ln.no, ln.text, "impossible", True, _KV_EXPERTS)
            elif name.startswith("Activation checkpointing"):
                f = Finding("optimisation", ln.no, ln.text, "does not apply", True, _CHECKPOINT)
            elif name.startswith("Micro-batching") and s is not None and s.pp == 1:
                f = Finding("optimisation", ln.no, ln.text, "does not apply", True,
                            "pp = 1: one pipeline stage has no bubble to fill")
            elif est is None:
                f = Finding("optimisation", ln.no, ln.text, "not checkable", False,
                            "needs the plan's layout estimated: "
                            + (ctx.missing.get("estimate") or ctx.missing.get("layout")
                               or "inputs missing"))
            elif name.startswith(_NEEDS_HARDWARE) and "hardware" in ctx.missing:
                f = Finding("optimisation", ln.no, ln.text, "not checkable", False,
                            f"whether it pays depends on times and memory shares, and the "
                            f"plan's hardware could not be read: {ctx.missing['hardware']}")
            else:
                hit = next((o for o in opts
                            if any(o[0].startswith(n) for n in name.split("|"))), None)
                if hit is not None:
                    _, applies, why = hit
                    f = Finding("optimisation", ln.no, ln.text,
                                "applies" if applies else "does not apply", not applies, why)
            break
        if f is None and est is not None:
            f = _layout_rule(ln, low, sc, s, est, "hardware" not in ctx.missing)
        if f is None:
            left.append(ln)
        else:
            out.append(f)
    return out, left


_KV_EXPERTS = ("the KV cache holds attention's keys and values, one entry per token per layer; "
               "experts are FFNs and keep no cache, so there is no KV cache of an inactive (or "
               "active) expert to compress")
_CHECKPOINT = ("activation checkpointing drops activations in the forward pass and recomputes "
               "them for the backward pass of training; inference has no backward pass and keeps "
               "only one layer's activations at a time, so there is nothing to recompute")


def _layout_rule(ln: Line, low: str, sc: Scenario, s: Strategy, est: E.Estimate,
                 timed: bool = True) -> Finding | None:
    """Statements whose truth follows from the layout's degrees (with the time of each
    collective when the hardware was read, ``timed``)."""
    mem = est.memory_bytes
    if re.search(r"expert\s+cach|cach\w*\s+(?:hot|frequent|popular)", low):
        return Finding("optimisation", ln.no, ln.text, "does not apply", True,
                       f"every expert this GPU serves is resident in HBM "
                       f"({sig(mem['expert_weights'] / 1e9)} GB of expert weights per GPU, "
                       f"all weights fit): there is no slower tier to cache experts from")
    if re.search(r"weight\s+shard|shard\w*\s+(?:the\s+)?weights", low):
        ok = s.tp > 1 or s.ep > 1 or s.pp > 1
        return Finding("optimisation", ln.no, ln.text, "applies" if ok else "does not apply",
                       not ok, f"non-expert weights are split by tp x pp = {s.tp * s.pp}, expert "
                               f"weights by etp x ep x pp = {s.etp * s.ep * s.pp}")
    comm = {o["op"]: o for o in est.prefill_ops}
    if re.search(r"point[\s-]*to[\s-]*point|\bp2p\b|between\s+stages", low):
        ok = s.pp > 1
        if ok:
            detail = "activations go to the next stage once per step"
            if timed:
                detail += f" ({fmt.seconds(comm['pp_send']['comm_s'])} per prefill step)"
        else:
            detail = "one stage sends nothing between stages"
        return Finding("optimisation", ln.no, ln.text, "applies" if ok else "does not apply",
                       not ok, f"pp = {s.pp}: {detail}")
    if re.search(r"all[\s-]*to[\s-]*all|dispatch", low):
        ok = s.ep > 1
        return Finding("optimisation", ln.no, ln.text, "applies" if ok else "does not apply",
                       not ok, f"ep = {s.ep}: " + (
                           ("tokens are dispatched to and combined from the EP ranks holding "
                            "their experts"
                            + (f", {fmt.seconds(comm['ep_dispatch_combine']['comm_s'])} per "
                               f"prefill step" if timed else ""))
                           if ok else "no expert parallelism, no all-to-all"))
    if re.search(r"all[\s-]*reduce", low):
        ok = s.tp > 1
        return Finding("optimisation", ln.no, ln.text, "applies" if ok else "does not apply",
                       not ok, f"tp = {s.tp}: " + (
                           ("partial sums of attention and FFN outputs are all-reduced over the "
                            f"{s.tp} GPUs of a TP group"
                            + (f", {fmt.seconds(comm['tp_all_reduce']['comm_s'])} per prefill "
                               f"step" if timed else ""))
                           if ok else "no tensor parallelism, nothing to reduce"))
    return None
