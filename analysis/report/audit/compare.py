"""The plan's layout beside the one the planner recommends for the same scenario."""

from __future__ import annotations

import pandas as pd

from analysis import estimate as E
from analysis.inputs.types import Scenario, Strategy
from analysis.report.audit.ours import Ctx
from analysis.report.audit.quantities import Claim, show, sig
from analysis.report.audit.result import AuditResult
from analysis.search import planner as S


def layout_row(sc: Scenario, s: Strategy, opts: E.Options) -> pd.Series:
    lay = E.Layouts.from_strategies([s])
    return S.add_checks(sc, S.evaluate_all(sc, lay, opts)).iloc[0]


def comparison(ctx: Ctx) -> dict:
    sc = ctx.scenario
    blockers = [p for p in ("hardware", "model", "workload") if p in ctx.missing]
    if sc is None or blockers:
        return {"available": False,
                "why": "needs " + ", ".join(f"the plan's {p} ({ctx.missing[p]})"
                                            for p in blockers or ["model"]
                                            if p in ctx.missing) or "a scenario"}
    p = S.plan(sc, ctx.opts, progress=False)
    rec_est = E.estimate(sc, p.recommended, ctx.opts)
    rec_row = p.recommended_row
    kind = ctx.kind
    col = f"min_{S.THROUGHPUT_COLUMNS[kind]}"

    def side(s: Strategy, row: pd.Series, est: E.Estimate, checks) -> dict:
        used = sum(v for k, v in est.memory_bytes.items() if k != "runtime_reserve")
        return {"layout": s.label(), "gpus": s.gpus, "ttft_s": float(row["ttft_s"]),
                "throughput_tokens_per_s_per_gpu": float(row[col]),
                "throughput_tokens_per_s_total": float(row[col]) * s.gpus,
                "memory_used_bytes_per_gpu": used,
                "memory_bytes_per_gpu": float(sum(est.memory_bytes.values())),
                "requirements_met": sum(c.passed for c in checks),
                "requirements": len(checks),
                "failed": [c.name for c in checks if not c.passed]}

    out = {"available": True, "throughput_kind": kind, "throughput_why": ctx.kind_why,
           "ours_label": p.label, "ours_feasible": p.feasible,
           "ours": side(p.recommended, rec_row, rec_est, p.checks), "plan": None,
           "plan_claimed": {}}
    if ctx.est is not None:
        out["plan"] = side(ctx.strategy, ctx.row, ctx.est, S.checks_for(sc, ctx.row))
    return out



def claimed_headline(claims: list[Claim]) -> dict:
    """The plan's own headline numbers for the comparison table (first statement of each)."""
    out = {}
    for q in ("gpu_count", "ttft", "prefill_time", "throughput_total", "throughput_per_gpu",
              "memory_per_gpu"):
        c = next((c for c in claims if c.quantity == q), None)
        if c is not None:
            out[q] = {"value": c.claimed_value, "printed": c.printed, "line_no": c.line_no}
    return out



def comparison_table(res: AuditResult) -> pd.DataFrame:
    """GPUs, TTFT, throughput and memory: as the plan claims, the plan's layout by our model,
    our recommendation, and the difference (ours - the plan's layout)."""
    cmp_ = res.comparison
    cols = ["", "plan (as claimed)", "plan's layout (our model)", "our recommendation",
            "difference"]
    if not cmp_.get("available"):
        return pd.DataFrame([], columns=cols)
    o, p, claimed = cmp_["ours"], cmp_["plan"], cmp_.get("plan_claimed", {})
    kind = cmp_["throughput_kind"]

    def cl(*qs, unit):
        for q in qs:
            if q in claimed:
                return claimed[q]["printed"] or show(claimed[q]["value"], unit)
        return "—"

    def diff(a, b, unit):
        if p is None:
            return "—"
        d = b - a
        if unit == "count":
            return f"{d:+g}"
        if a and b:
            r = b / a
            return f"{'+' if d >= 0 else '-'}{show(abs(d), unit)} ({sig(r)}x)"
        return f"{show(d, unit)}"

    def pv(key, unit):
        return show(p[key], unit) if p else "—"

    rows = [
        ["layout", "—", f"`{p['layout']}`" if p else "—", f"`{o['layout']}`", ""],
        ["GPUs", cl("gpu_count", unit="count"), pv("gpus", "count"), show(o["gpus"], "count"),
         diff(p["gpus"], o["gpus"], "count") if p else "—"],
        ["TTFT (longest prompt)", cl("ttft", "prefill_time", unit="s"), pv("ttft_s", "s"),
         show(o["ttft_s"], "s"), diff(p["ttft_s"], o["ttft_s"], "s") if p else "—"],
        [f"throughput per GPU ({kind}, lowest over prompts)", cl("throughput_per_gpu",
                                                                 unit="tokens/s"),
         pv("throughput_tokens_per_s_per_gpu", "tokens/s"),
         show(o["throughput_tokens_per_s_per_gpu"], "tokens/s"),
         diff(p["throughput_tokens_per_s_per_gpu"], o["throughput_tokens_per_s_per_gpu"],
              "tokens/s") if p else "—"],
        [f"throughput, all GPUs ({kind})", cl("throughput_total", unit="tokens/s"),
         pv("throughput_tokens_per_s_total", "tokens/s"),
         show(o["throughput_tokens_per_s_total"], "tokens/s"),
         diff(p["throughput_tokens_per_s_total"], o["throughput_tokens_per_s_total"],
              "tokens/s") if p else "—"],
        ["memory per GPU (used)", cl("memory_per_gpu", unit="bytes"),
         pv("memory_used_bytes_per_gpu", "bytes"), show(o["memory_used_bytes_per_gpu"], "bytes"),
         diff(p["memory_used_bytes_per_gpu"], o["memory_used_bytes_per_gpu"], "bytes")
         if p else "—"],
        ["memory per GPU (with runtime reserve)", "—", pv("memory_bytes_per_gpu", "bytes"),
         show(o["memory_bytes_per_gpu"], "bytes"),
         diff(p["memory_bytes_per_gpu"], o["memory_bytes_per_gpu"], "bytes") if p else "—"],
        ["requirements met", cmp_.get("plan_ticks", "—"),
         f"{p['requirements_met']} of {p['requirements']}" if p else "—",
         f"{o['requirements_met']} of {o['requirements']}", ""],
    ]
    return pd.DataFrame(rows, columns=cols)
