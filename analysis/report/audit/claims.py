"""Claims: every number (or tick) a plan's model, strategy and output sections state, read by
key words rather than exact wording, with its unit converted to SI."""

from __future__ import annotations

import re
from dataclasses import replace

from analysis.report.audit.lines import OUTPUT_KINDS, Line
from analysis.report.audit.numbers import (
    APPROX,
    NUM,
    Num,
    bytes_in,
    counts_in,
    params_in,
    percents_in,
    throughputs_in,
    times_in,
)
from analysis.report.audit.quantities import QUANTITIES, Claim, Unreadable

_COMPARATOR = re.compile(r"\(?\s*\btarget\s*[:=]?|≤|<=|≥|>=|(?<![-\w])<(?!-)|(?<![-\w])>"
                         r"|\bvs\.?\s|\bagainst\b|\brequired\b", re.IGNORECASE)


def _lhs_rhs(value: str) -> tuple[str, str]:
    m = _COMPARATOR.search(value)
    return (value[:m.start()], value[m.end():]) if m else (value, "")


_TRAILING_TICK = re.compile(r"(✓|✔|✅|✗|✘|❌)\s*$")
_ACHIEVED = re.compile(r"achiev|actual|expected|estimat|project|predict|measured|result")
_TARGET = re.compile(r"target|requirement|\bslo\b|\bsla\b|goal|required")


def _ticked(ln: Line) -> bool | None:
    if ln.tick is not None:
        return ln.tick
    m = _TRAILING_TICK.search(ln.text)
    return None if m is None else m.group(1) in "✓✔✅"


def _claim(ln: Line, quantity: str, num: Num | None, detail: str = "",
           value: float | bool | None = None, bound: str = "") -> Claim:
    q = QUANTITIES[quantity]
    if num is None:
        return Claim(ln.section, ln.no, ln.text, quantity, value, q.unit, "", 0.0, False, detail,
                     bound, _ticked(ln))
    return Claim(ln.section, ln.no, ln.text, quantity, num.value, q.unit, num.printed,
                 num.rounding, num.approximate, detail, bound, _ticked(ln))


def _bare_target(rhs: str, like: Num) -> Num | None:
    """"(target 100)" after "98.4 tokens/ms": a bare number in the unit of the value before."""
    m = re.search(rf"^\W*{NUM}", rhs)
    if m is None:
        return None
    scale = like.value / float(re.sub(r"[^\d.]", "", like.printed.split()[0].lstrip("~≈")) or 1)
    text = m.group(1).replace(",", "")
    dec = len(text.split(".")[1]) if "." in text else 0
    return Num(float(text) * scale, 0.5 * 10.0**-dec * scale, m.group(1), False, m.start(1),
               m.end(1))


def _throughput_scope(text: str) -> tuple[str, str]:
    """("total" | "per_gpu", kind or "") from the words of a throughput line."""
    t = text.lower()
    scope = "per_gpu" if re.search(r"per[\s-]*(?:gpu|card|device|chip)|/\s*gpu|gpu\s*-?\s*1", t) \
        else "total"
    kind = next((k for k in ("prefill", "decode") if k in t), "")
    if not kind and re.search(r"generat|output tokens", t):
        kind = "decode"
    return scope, kind


def extract(lines: list[Line], unreadable: list[Unreadable]) -> tuple[list[Claim], list[Line]]:
    """Claims from the model, strategy and output sections; the lines left for the
    qualitative rules (no claim found)."""
    claims: list[Claim] = []
    rest: list[Line] = []

    def garbled(ln: Line, what: str) -> None:
        unreadable.append(Unreadable(ln.no, ln.text, f"{what}: no number with a unit could be "
                                                     f"read"))

    for ln in lines:
        k, v, t = ln.key, ln.value, ln.text
        low = t.lower()
        before = len(claims)
        if ln.kind == "model":
            if re.search(r"param|weights", k) and not re.search(r"bytes|precision", k) \
                    and not re.search(r"\d\s*[KMGT]i?B\b", v):   # bytes, not a count
                got = params_in(v)
                q = "params_active" if re.search(r"activ", k) else "params_total"
                if got:
                    claims.append(_claim(ln, q, got[0]))
                else:
                    garbled(ln, QUANTITIES[q].label)
            continue
        if ln.kind == "strategy":
            if re.search(r"^(?:total |number of |num )?(?:gpus?|cards?|devices?)(?: count| total"
                         r"| used| needed)?$|world size|total gpus", k):
                got = counts_in(v)
                if got:
                    claims.append(_claim(ln, "gpu_count", got[0]))
                else:
                    garbled(ln, "total GPUs")
            continue
        if ln.kind not in OUTPUT_KINDS:
            continue

        if ln.kind == "checklist" or ln.tick is not None:
            claims += _checklist_claims(ln)
        else:
            claims += _output_claims(ln, garbled)
        if len(claims) == before or not re.search(r"\d", low):
            rest.append(ln)
    return claims, rest


def _output_claims(ln: Line, garbled) -> list[Claim]:
    """The numbers of an output line: by its key, else from the phases' free text."""
    return _keyed_claims(ln, garbled) or _phase_claims(ln)


def _keyed_claims(ln: Line, garbled) -> list[Claim]:
    """A line whose key names what its number is (memory, TTFT, throughput, ...)."""
    k, v, t = ln.key, ln.value, ln.text
    low = t.lower()
    out: list[Claim] = []
    lhs, rhs = _lhs_rhs(v)
    if re.search(r"\bmfu\b|compute\s+util|flops?\s+util|model\s+flops|compute\s+efficien"
                 r"|tensor[\s-]*core\s+util", k) and percents_in(v):
        out.append(_claim(ln, "mfu", percents_in(v)[0]))
    elif re.search(r"bandwidth|\bmbu\b", k) and re.search(r"util|efficien", k) and percents_in(v):
        out.append(_claim(ln, "bandwidth_utilization", percents_in(v)[0]))
    elif re.search(r"memory|vram|hbm", k) and re.search(r"headroom|free|remaining|spare|left"
                                                        r"|available", k) and bytes_in(v):
        out.append(_claim(ln, "memory_free", bytes_in(v)[0]))
    elif re.search(r"memory|vram|hbm", k) and re.search(r"util|efficien|usage|used|%",
                                                        k + " " + v) and percents_in(v):
        out.append(_claim(ln, "memory_utilization", percents_in(v)[0]))
    elif re.search(r"kv[\s-]*cache", k) and (re.search(r"per[\s-]*gpu|/\s*gpu|memory|size", k)
                                              or bytes_in(lhs)):
        got = bytes_in(lhs)
        out.append(_claim(ln, "kv_cache_per_gpu", got[0])) if got else garbled(ln, "KV cache")
    elif re.search(r"weights?\b|param", k) and not re.search(r"bandwidth|precision|dtype", k) \
            and bytes_in(lhs):       # weights in bytes; what they count: :mod:`.classify`
        out.append(_claim(ln, "memory_per_gpu", bytes_in(lhs)[0]))
    elif re.search(r"memory|vram|hbm", k) and not re.search(r"bandwidth", k):
        got = bytes_in(lhs)
        if got:
            out.append(_claim(ln, "memory_per_gpu", got[0]))
        elif not re.search(r"optimi|compress|checkpoint|shard", low):
            garbled(ln, "memory per GPU")
    elif re.search(r"prefill", k) and re.search(r"time|latency|duration", k):
        got = times_in(v)
        out.append(_claim(ln, "prefill_time", got[0])) if got else garbled(ln, "prefill time")
    elif re.search(r"ttft|time to first token|first[\s-]token", k) and _TARGET.search(k) \
            and not _ACHIEVED.search(k) and times_in(v):
        out.append(_claim(ln, "ttft_target", times_in(v)[0]))
    elif re.search(r"ttft|time to first token|first[\s-]token", k):
        out += _ttft_claims(ln, lhs, rhs, garbled)
    elif re.search(r"tpot|time per output token|inter[\s-]?token|decode (?:step|latency)", k):
        got = times_in(lhs)
        out.append(_claim(ln, "tpot", got[0])) if got else garbled(ln, "TPOT")
    elif re.search(r"throughput|tokens?/", k):
        out += _throughput_claims(ln, lhs, rhs, garbled)
    elif re.search(r"expert", k) and re.search(r"util|activ|usage|sparsity", k) and percents_in(v):
        out.append(_claim(ln, "expert_utilization", percents_in(v)[0]))
    elif re.search(r"^(?:total |number of )?gpus?(?: count| total| used)?$", k) and counts_in(v):
        out.append(_claim(ln, "gpu_count", counts_in(v)[0]))
    return out


def _ttft_claims(ln: Line, lhs: str, rhs: str, garbled) -> list[Claim]:
    """A TTFT line: the achieved value (an upper bound when written "< 6 s") and a target
    beside it, if any."""
    out: list[Claim] = []
    got = times_in(lhs)
    upper = not got and re.match(r"^\s*(?:<|≤|<=|under|below)", ln.value) and times_in(rhs)
    if upper:      # "TTFT Achievement: <6 s": an achieved value of at most 6 s
        out.append(_claim(ln, "ttft", times_in(rhs)[0], bound="upper"))
        rhs = ""
    elif got:
        out.append(_claim(ln, "ttft", got[0]))
    else:
        garbled(ln, "TTFT")
    tgt = times_in(rhs)
    if tgt:
        out.append(_claim(ln, "ttft_target", tgt[0]))
    return out


def _throughput_claims(ln: Line, lhs: str, rhs: str, garbled) -> list[Claim]:
    """A throughput line: the value, per GPU or in all (:func:`_throughput_scope`), and a target
    beside it, if any."""
    out: list[Claim] = []
    got = throughputs_in(lhs)
    if got:
        scope, kind = _throughput_scope(ln.key + " " + ln.value)
        out.append(_claim(ln, "throughput_per_gpu" if scope == "per_gpu"
                          else "throughput_total", got[0], detail=kind))
    else:
        garbled(ln, "throughput")
    tgt = throughputs_in(rhs) or ([_bare_target(rhs, got[0])] if got and rhs else [])
    if tgt and tgt[0] is not None:
        out.append(_claim(ln, "throughput_target", tgt[0]))
    return out


def _phase_claims(ln: Line) -> list[Claim]:
    """Free-text statements of the implementation phases ("Distribute 16 experts across 16
    GPUs", "Create 1 pipeline stages", "Top-2 expert routing")."""
    low = ln.text.lower()
    out: list[Claim] = []
    m = re.search(rf"(?:distribute|place|spread|shard|split)\s+{NUM}\s+(?:routed\s+)?experts?"
                  rf"\s+(?:across|over|on|onto|to|among)\s+{NUM}\s+(?:gpus?|devices?|cards?)",
                  low)
    if m:
        n = counts_in(m.group(0))
        out.append(_claim(ln, "num_experts", n[0]))
        out.append(_claim(ln, "expert_gpus", n[1]))
    m = re.search(rf"each\s+(?:gpu|device|card)\s+(?:handles|holds|hosts|has|gets|stores|runs)\s+"
                  rf"{APPROX}{NUM}\s+experts?", low) or \
        re.search(rf"{APPROX}{NUM}\s+experts?\s+(?:per|on each|for each)\s+(?:gpu|device|card)",
                  low)
    if m:
        out.append(_claim(ln, "experts_per_gpu", counts_in(m.group(0))[-1]))
    m = re.search(rf"{NUM}\s+experts?\s+per\s+(?:ep\s+)?rank", low)
    if m:
        out.append(_claim(ln, "experts_per_rank", counts_in(m.group(0))[0]))
    m = (re.search(rf"(?:create|use|with|into)\s+{NUM}\s+(?:pipeline\s+)?stages?", low)
         or re.search(rf"{NUM}\s+pipeline\s+stages?", low))
    if m:
        out.append(_claim(ln, "pp_degree", counts_in(m.group(0))[0]))
    m = (re.search(rf"(?:each\s+)?stage\s+(?:contains|has|holds|gets|runs)\s+{APPROX}{NUM}\s+"
                   r"(?:transformer\s+)?layers?", low)
         or re.search(rf"{NUM}\s+layers?\s+(?:per|in each|for each)\s+stage", low))
    if m:
        out.append(_claim(ln, "layers_per_stage", counts_in(m.group(0))[0]))
    m = re.search(rf"{NUM}[\s-]*way\s+(?:tp|tensor)", low)
    if m:
        out.append(_claim(ln, "tp_degree", counts_in(m.group(0))[0]))
    m = re.search(rf"{NUM}[\s-]*way\s+(?:ep|expert)", low)
    if m:
        out.append(_claim(ln, "ep_degree", counts_in(m.group(0))[0]))
    m = re.search(r"\btop[-_\s]?k?\s*[-=:]?\s*(\d+)(?![\d%.])", low)
    if m and ln.kind == "implementation":
        n = int(m.group(1))
        out.append(replace(_claim(ln, "top_k", None, value=float(n)), printed=f"top-{n}"))
    return out


def _checklist_claims(ln: Line) -> list[Claim]:
    """A checklist line: its tick (a claim that a requirement is met) and its numbers."""
    topic, out = _checklist_numbers(ln)
    if ln.tick is not None:
        if topic is None:
            out.append(_claim(ln, "unverifiable", None, value=ln.tick))
        else:
            out.append(_claim(ln, topic, None, value=ln.tick))
    return out


def _checklist_numbers(ln: Line) -> tuple[str | None, list[Claim]]:
    """What a checklist line's tick is about, and the numbers it states."""
    t = ln.text
    low = t.lower()
    out: list[Claim] = []
    lhs, rhs = _lhs_rhs(t)
    topic = None
    if re.search(r"memory|vram|hbm", low):
        topic = "memory_fits"
        got = bytes_in(lhs)
        if got:
            out.append(_claim(ln, "memory_per_gpu", got[0]))
        cap = bytes_in(rhs)
        if cap:
            out.append(_claim(ln, "memory_capacity", cap[0]))
    elif re.search(r"ttft|first token", low):
        topic = "ttft_met"
        got = times_in(lhs)
        if got:
            out.append(_claim(ln, "ttft", got[0]))
        tgt = times_in(rhs)
        if tgt:
            out.append(_claim(ln, "ttft_target", tgt[0]))
    elif re.search(r"tpot|per output token|inter[\s-]?token", low):
        topic = "tpot_met"
        got = times_in(lhs)
        if got:
            out.append(_claim(ln, "tpot", got[0]))
    elif re.search(r"throughput|tokens?/", low):
        topic = "throughput_met"
        got = throughputs_in(lhs)
        if got:
            scope, kind = _throughput_scope(lhs)
            out.append(_claim(ln, "throughput_per_gpu" if scope == "per_gpu"
                              else "throughput_total", got[0], detail=kind))
        tgt = throughputs_in(rhs)
        if tgt:
            out.append(_claim(ln, "throughput_target", tgt[0]))
    elif re.search(r"parallel|degree|compatib|ep\s*[x×*]", low):
        topic = "degrees_valid"
        m = re.search(r"((?:[A-Za-z_]+\s*[x×*]\s*)+[A-Za-z_]+)\s*=\s*((?:\d+\s*[x×*]\s*)+\d+)"
                      r"\s*=\s*(\d+)", t)
        if m:
            names = [x.strip().lower() for x in re.split(r"[x×*]", m.group(1))]
            factors = [int(x) for x in re.split(r"[x×*]", m.group(2))]
            n = counts_in(m.group(3))[0]
            detail = ",".join(f"{a}={b}" for a, b in zip(names, factors, strict=True))
            out.append(_claim(ln, "degrees_product", replace(n, printed=m.group(0)),
                              detail=detail))
    return topic, out
