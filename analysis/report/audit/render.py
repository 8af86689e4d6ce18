"""The audit as markdown (``audit.md``, deterministic) and as tables for the notebook."""

from __future__ import annotations

import pandas as pd

from analysis import anatomy as A
from analysis import estimate as E
from analysis import fmt
from analysis.inputs.types import Scenario, Strategy
from analysis.report.audit.compare import comparison_table
from analysis.report.audit.lines import Line
from analysis.report.audit.quantities import QUANTITIES, error_text, show
from analysis.report.audit.result import AuditResult, unreadable_count
from analysis.report.strategy import md_table


def _lines_of(lines: list[Line], kind: str) -> str:
    nos = [ln.no for ln in lines if ln.kind == kind]
    return f"lines {nos[0]}-{nos[-1]}" if nos else "not found"


def what_was_read(sc: Scenario | None, s: Strategy | None, missing: dict[str, str],
                   lines: list[Line]) -> dict[str, str]:
    out: dict[str, str] = {}

    def put(part: str, kind: str, text: str) -> None:
        where = _lines_of(lines, kind)
        if part in missing:
            out[part] = f"NOT READ ({where}): {missing[part]}"
        else:
            out[part] = f"{text} ({where})"

    if sc is None:
        for part, kind in (("hardware", "hardware"), ("model", "model"),
                           ("workload", "workload"), ("requirements", "requirements"),
                           ("layout", "strategy")):
            put(part, kind, "")
        return out
    hw, m, wl, r = sc.hardware, sc.model, sc.workload, sc.requirements
    put("hardware", "hardware",
        f"{hw.peak_flops_for(m.activation_precision) / 1e12:g} TFLOP/s dense at "
        f"{m.weight_precision}, {show(hw.hbm_capacity_bytes, 'bytes')} HBM at "
        f"{hw.hbm_bandwidth_bytes_per_s / 1e12:g} TB/s, MFU {hw.mfu:.0%}, bandwidth utilisation "
        f"{hw.bandwidth_utilization:.0%}")
    att = m.attention
    put("model", "model",
        f"{m.num_layers} layers, hidden {m.hidden_size}, {att.num_heads} heads x "
        f"{att.head_dim} ({att.num_kv_heads} KV heads), "
        + (f"{m.num_experts} experts of FFN width {m.expert_intermediate_size}, top-{m.top_k}"
           if m.is_moe else f"dense FFN {m.dense_intermediate_size}")
        + f", {m.weight_precision}; {fmt.params(A.total_params(m))} parameters from the dimensions")
    lens = (f"{wl.min_prompt_tokens}-{wl.max_prompt_tokens}" if wl.min_prompt_tokens !=
            wl.max_prompt_tokens else f"{wl.max_prompt_tokens}")
    put("workload", "workload",
        f"batch {wl.batch_sequences}, prompts {lens} tokens, output {wl.output_tokens} tokens"
        + ("" if wl.output_tokens_stated else " (not stated: assumed)"))
    reqs = []
    if r.ttft_s is not None:
        reqs.append(f"TTFT {fmt.seconds(r.ttft_s)}")
    if r.tpot_s is not None:
        reqs.append(f"TPOT {fmt.seconds(r.tpot_s)}")
    if r.throughput_tokens_per_s_per_gpu is not None:
        reqs.append(f"throughput {show(r.throughput_tokens_per_s_per_gpu, 'tokens/s')} per GPU")
    put("requirements", "requirements", ", ".join(reqs) or "none")
    if s is not None:
        put("layout", "strategy",
            f"EP {s.ep} x TP {s.tp} x PP {s.pp}"
            + (f" x DP {s.dp}" if s.dp > 1 else "")
            + f" -> `{s.label()}` on {s.gpus} GPUs: attention tp {s.tp} x dp_attn {s.dp_attn}, "
              f"experts etp {s.etp} x ep {s.ep}"
            + (" (TP runs inside each expert, as the plan says)" if s.etp == s.tp > 1 else "")
            + (f", {s.microbatches} prefill micro-batches" if s.microbatches > 1 else ""))
    else:
        put("layout", "strategy", "")
    return out



def _cell(s: str) -> str:
    return s.replace("|", "\\|")


def _header_md(res: AuditResult, opts: E.Options, add) -> None:
    layout = f"`{res.strategy.label()}` on {res.strategy.gpus} GPUs" if res.strategy else \
        "(no layout could be read)"
    add(f"# Audit of the plan `{res.plan_path}`\n")
    add(f"Every number the plan states is first classified (\"read as\": a target, an achieved "
        f"value, a capacity, a usage, free memory, a utilisation of compute, of memory bandwidth "
        f"or of memory capacity; per GPU or total; for memory, what it counts), then re-derived "
        f"by MoEPlan's model for **the plan's own layout**, {layout}, on the same definition, "
        f"and judged within the tolerance given for its quantity "
        f"(counts exact; memory, times, throughputs and parameter counts ±10%, plus half a unit "
        f"of the last digit the plan printed). Estimate: {opts.describe()}.\n")
    n = res.counts()
    add(f"**Summary: {len(res.verdicts)} claims: {n['confirmed']} confirmed, {n['wrong']} wrong, "
        f"{n['not checkable']} not checkable. {len(res.findings)} qualitative findings, "
        f"{sum(f.problem for f in res.findings)} of them problems. "
        + unreadable_count(res).capitalize() + ".**\n")


def _read_md(res: AuditResult, add) -> None:
    """What was read, the sections found, what could not be read, the assumptions."""
    add("## What was read\n")
    add(md_table([[part, _cell(v)] for part, v in res.read.items()], ["part", "read as"], "ll"))
    add("")
    add("Sections found: " + "; ".join(f"{t} ({k}, lines {a}-{b})"
                                       for t, k, a, b in res.sections) + ".\n")
    if res.unreadable:
        add("Could not be read (the rest is audited without it):\n")
        for u in res.unreadable:
            where = f"line {u.line_no}" if u.line_no else f"section '{u.text}'"
            shown = f" `{u.text}`" if u.line_no else ""
            add(f"- {where}{shown}: {u.why}")
        add("")
    else:
        add("Every line of the plan's input sections was read.\n")
    if res.assumptions:
        add("Assumptions made reading the inputs:\n")
        for a in res.assumptions:
            add(f"- {a}")
        add("")


def _claims_md(res: AuditResult, add) -> None:
    """The claims table and the reason for each verdict."""
    add("## Claims\n")
    rows = []
    for v in res.verdicts:
        c = v.claim
        q = QUANTITIES[c.quantity]
        plan_v = show(c.claimed_value, c.unit) if q.unit == "check" else (c.printed or
                                                                             show(c.claimed_value,
                                                                                  c.unit))
        err = "" if v.error is None or v.status != "wrong" else error_text(
            float(c.claimed_value), float(v.ours), c.unit)
        mark = {"confirmed": "confirmed", "wrong": "**wrong**",
                "not checkable": "not checkable"}[v.status]
        rows.append([c.line_no, _cell(c.section), _cell(q.label),
                     c.reading.short() if c.reading else "", _cell(plan_v),
                     _cell(show(v.ours, c.unit)), err, v.tolerance, mark])
    add(md_table(rows, ["line", "section", "claim", "read as", "plan", "ours", "error",
                        "tolerance", "verdict"], "rllllllll"))
    add("")
    add("Why, claim by claim:\n")
    for v in res.verdicts:
        c = v.claim
        add(f"- line {c.line_no} ({QUANTITIES[c.quantity].label}, `{_cell(c.text)}`): "
            f"**{v.status}**. {v.why}")
    add("")


def _findings_md(res: AuditResult, add) -> None:
    add("## Qualitative findings\n")
    if res.findings:
        add(md_table([[f.line_no or "", f.kind, _cell(f.statement),
                       f"**{f.verdict}**" if f.problem else f.verdict, _cell(f.why)]
                      for f in res.findings],
                     ["line", "kind", "statement", "verdict", "why"], "rllll"))
    else:
        add("None.")
    add("")
    if res.unchecked_statements:
        add("Statements with no number and no rule to check them against: "
            + "; ".join(f"line {no} `{_cell(t)}`" for no, t in res.unchecked_statements) + ".\n")


def _comparison_md(res: AuditResult, add) -> None:
    add("## The plan's layout beside our recommendation\n")
    cmp_ = res.comparison
    if not cmp_.get("available"):
        add(f"Not available: {cmp_.get('why')}.\n")
    else:
        table = comparison_table(res)
        add(md_table(table.values.tolist(), list(table.columns), "lllll"))
        add("")
        ours = cmp_["ours"]
        basis = ("fewest GPUs meeting every requirement" if cmp_["ours_feasible"]
                 else "nothing meets every requirement")
        add(f"Ours is the planner's {cmp_['ours_label']} for the same scenario ({basis}); "
            f"throughput is read as {cmp_['throughput_kind']}: {cmp_['throughput_why']}.\n")
        if ours["failed"]:
            add(f"Ours fails: {', '.join(ours['failed'])}.\n")


def render_audit(res: AuditResult, opts: E.Options | None = None) -> str:
    """The audit as markdown (deterministic)."""
    opts = opts or E.Options()
    out: list[str] = []
    add = out.append
    _header_md(res, opts, add)
    _read_md(res, add)
    _claims_md(res, add)
    _findings_md(res, add)
    _comparison_md(res, add)
    return "\n".join(out)


def verdict_table(res: AuditResult) -> pd.DataFrame:
    """One row per claim: line, section, claim, how it was read (:mod:`.classify`), the plan's
    value, ours, error, verdict."""
    rows = []
    for v in res.verdicts:
        c = v.claim
        q = QUANTITIES[c.quantity]
        rows.append({"line": c.line_no, "section": c.section, "claim": q.label,
                     "read as": c.reading.short() if c.reading else "",
                     "plan": show(c.claimed_value, c.unit) if q.unit == "check"
                     else (c.printed or show(c.claimed_value, c.unit)),
                     "ours": show(v.ours, c.unit),
                     "error": "" if v.status != "wrong" or v.error is None
                     else error_text(float(c.claimed_value), float(v.ours), c.unit),
                     "verdict": v.status})
    return pd.DataFrame(rows, columns=["line", "section", "claim", "read as", "plan", "ours",
                                       "error", "verdict"])


def findings_table(res: AuditResult) -> pd.DataFrame:
    """One row per qualitative finding."""
    return pd.DataFrame([{"line": f.line_no, "statement": f.statement, "verdict": f.verdict,
                          "problem": f.problem, "why": f.why} for f in res.findings],
                        columns=["line", "statement", "verdict", "problem", "why"])
