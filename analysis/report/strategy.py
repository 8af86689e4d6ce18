"""The strategy report: every section of the seed plan's layout, computed rather than claimed.

``write_report(scenario, out_dir)`` runs the planner (under both readings of the model when its
declared size disagrees with its architecture), estimates the recommendation and any current
strategy, draws the figures and writes ``report.md`` and ``strategies.csv``. Output is
deterministic: the same inputs give byte-identical text. The sections themselves live in
:mod:`analysis.report.sections_inputs` and :mod:`analysis.report.sections_plan`, one function each.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from analysis import anatomy as A
from analysis import estimate as E
from analysis import fmt
from analysis.inputs.errors import LayoutError
from analysis.inputs.types import DEGREE_NAMES, Scenario, Strategy
from analysis.report import html as H
from analysis.report import sections_inputs as SI
from analysis.report import sections_plan as SP
from analysis.report import sections_serving as SV
from analysis.report.derived import (  # noqa: F401  (placement, scalability: public names)
    METRIC_HEADER,
    met,
    metrics_rows,
    optimisations,
    placement,
    scalability,
)
from analysis.report.report_figures import make_figures
from analysis.report.sections_inputs import md_table  # noqa: F401  (used by the audit)
from analysis.report.serving_figures import plot_serving_pareto
from analysis.report.stamp import git_commit, package_version
from analysis.search import planner as S
from analysis.search import serving as SS
from analysis.search.serving_plan import ServingPlanOptions, serving_plan

#: The report's sections in order; each takes a ReportInputs and returns its markdown lines.
SECTIONS = (SI.title, SV.provenance, SI.verdict_section, SI.hardware, SI.model,
            SI.workload_input, SI.requirements, SV.serving, SP.recommended, SP.resources,
            SP.implementation, SP.communication,
            SP.optimisations_section, SP.expected_performance, SP.scalability_section,
            SP.alternatives, SP.current_strategy, SP.declared_reading, SP.binding_constraint,
            SP.checklist, SP.assumptions)


def _strategy(row: pd.Series) -> Strategy:
    return Strategy(**{n: int(row[n]) for n in DEGREE_NAMES},
                    two_batch_overlap=bool(row.get("tbo", 0)))



# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

@dataclass
class Report:
    scenario: Scenario
    plan: S.Plan
    estimate: E.Estimate
    declared_plan: S.Plan | None
    current: E.Estimate | None
    current_error: str | None
    markdown: str
    path: Path | None = None
    serving: dict | None = None     # ServingPlan.to_dict() for a scenario with serving:



def build(scenario: Scenario, opts: E.Options | None = None, max_gpus: int | None = None,
          progress: bool = False) -> tuple[S.Plan, E.Estimate, S.Plan | None,
                                           E.Estimate | None, str | None]:
    """Run everything the report needs: the plan (both readings), the recommendation's estimate
    and the current strategy's, if the scenario has one."""
    opts = (opts or E.Options()).with_speculative(scenario.speculative)
    p = S.plan(scenario, opts, max_gpus, progress=progress)
    est = E.estimate(scenario, p.recommended, opts)
    declared = None
    check = A.check_declared_size(scenario.model)
    if check is not None and check.disagrees:
        sc2 = replace(scenario, model=A.model_matching_declared(scenario.model))
        declared = S.plan(sc2, opts, max_gpus, progress=progress)
    current = current_error = None
    if scenario.current_strategy is not None:
        try:
            current = E.estimate(scenario, scenario.current_strategy, opts)
        except LayoutError as exc:
            current_error = str(exc)
    return p, est, declared, current, current_error



def render(scenario: Scenario, p: S.Plan, est: E.Estimate, declared: S.Plan | None,
           current: E.Estimate | None, current_error: str | None, figures: dict[str, str],
           opts: E.Options, serving: dict | None = None) -> str:
    """The report as markdown: every section of :data:`SECTIONS`, in order."""
    c = SI.ReportInputs(scenario, p, est, declared, current, current_error, figures, opts,
                        serving)
    return "\n".join(line for section in SECTIONS for line in section(c))


def write_report(scenario: Scenario, out_dir: str | os.PathLike, opts: E.Options | None = None,
                 max_gpus: int | None = None) -> Report:
    """Plan, estimate, draw and write ``report.md`` and ``strategies.csv`` into ``out_dir``, with
    ``strategies.csv.sha256`` (its digest, in ``sha256sum`` format) beside it.

    Files are written to temporary names and renamed at the end, so a failure never leaves a
    half-written report that looks complete.
    """
    opts = opts or E.Options()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p, est, declared, current, current_error = build(scenario, opts, max_gpus)
    compare = [_strategy(row) for _, row in p.alternatives.head(2).iterrows()]
    if current is not None:
        compare.insert(0, current.strategy)
    figs = make_figures(scenario, p, est, compare, out, opts, scenario.current_strategy)
    sv = serving_dict(scenario, opts, max_gpus)
    if sv is not None:
        figs["serving_pareto"] = save_serving_figure(sv, out)
    text = render(scenario, p, est, declared, current, current_error, figs, opts, sv)
    rep = Report(scenario, p, est, declared, current, current_error, text, out / "report.md",
                 sv)
    tmp_md = out / "report.md.tmp"
    tmp_csv = out / "strategies.csv.tmp"
    tmp_html = out / "report.html.tmp"
    tmp_md.write_text(text, encoding="utf-8")
    strategies_table(p, sv).to_csv(tmp_csv, index=False, float_format="%.6g")
    stamp = (f"MoEPlan {package_version()}, commit {git_commit()}, {opts.mode} mode")
    tmp_html.write_text(H.report_html(text, out, f"MoE deployment plan: {scenario.name}",
                                      verdict(rep), p.feasible, key_numbers(rep), stamp),
                        encoding="utf-8")
    tmp_sum = out / "strategies.csv.sha256.tmp"
    tmp_sum.write_text(f"{sha256_hex(tmp_csv)}  strategies.csv\n", encoding="utf-8")
    tmp_csv.replace(out / "strategies.csv")
    tmp_sum.replace(out / "strategies.csv.sha256")
    tmp_html.replace(out / "report.html")
    tmp_md.replace(out / "report.md")
    return rep


def serving_dict(scenario: Scenario, opts: E.Options, max_gpus: int | None = None
                 ) -> dict | None:
    """The serving plan's dict for a scenario with a ``serving:`` block, else None. The
    simulator confirms at most ``confirm_max`` candidates with no wall-clock limit, so the
    report does not depend on the machine's speed."""
    if scenario.serving is None:
        return None
    so = SS.SearchOptions(max_gpus=max_gpus, confirm_time_s=float("inf"), estimate=opts)
    d = serving_plan(scenario, ServingPlanOptions(search=so)).to_dict()
    d.pop("search_time_s", None)        # wall-clock time: not part of a deterministic report
    return d


def save_serving_figure(plan: dict, out: Path) -> str:
    """Draw the serving fronts into ``out/figures/serving_pareto.png``; its relative path."""
    from analysis.report.figures import save

    save(plot_serving_pareto(plan), out / "figures" / "serving_pareto.png")
    return "figures/serving_pareto.png"


def out_dir_name(name: str, mode: str = "derated") -> str:
    """The report's folder: :func:`slug` of the scenario, with ``-<mode>`` unless derated (the
    default), so a calibrated or speed-of-light report never overwrites the committed one."""
    return slug(name) if mode == "derated" else f"{slug(name)}-{mode}"


def slug(name: str) -> str:
    """A folder name for a scenario: letters, digits, dots, dashes and underscores only."""
    import re

    base = Path(name).stem if ("/" in name or name.endswith((".yaml", ".yml", ".md"))) else name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-") or "scenario"


def verdict(rep: Report) -> str:
    """One line: what to deploy, or that nothing meets every requirement; for a serving
    scenario the serving deployment first, then the static-batch reading."""
    static = _static_verdict(rep)
    if rep.serving is None:
        return static
    dep = rep.serving["deployment"]
    if dep is None:
        return f"Serving: no deployment meets the targets. Static batch: {static}"
    return (f"Serving: deploy {dep['kind']} {dep['layout']} on {dep['gpus']} GPUs at "
            f"concurrency {dep['concurrency']} (targets met at "
            f"{rep.serving['requirements']['percentile']}). Static batch: {static}")


def _static_verdict(rep: Report) -> str:
    s = rep.plan.recommended
    if rep.plan.feasible:
        return f"Recommended: {s.label()} ({s.describe()}); every requirement is met."
    failed = ", ".join(c.name for c in rep.plan.checks if not c.passed)
    return (f"No layout meets every requirement. Best compromise: {s.label()} ({s.describe()}); "
            f"fails: {failed}.")


def key_numbers(rep: Report) -> list[tuple[str, str]]:
    """The summary's key numbers, each labelled with the reading it is."""
    s, est, p = rep.plan.recommended, rep.estimate, rep.plan
    col = S.THROUGHPUT_COLUMNS[p.throughput_kind]
    mem = sum(est.memory_bytes.values())
    cap = rep.scenario.hardware.hbm_capacity_bytes
    dep = (rep.serving or {}).get("deployment")
    serving = [] if not dep else [
        ("serving: layout, GPUs, concurrency",
         f"{dep['kind']} `{dep['layout']}`, {dep['gpus']}, {dep['concurrency']}"),
        ("serving: output throughput per GPU", fmt.tokens_per_ms(
            dep["output_tokens_per_s_per_gpu"]))]
    return serving + [
        ("layout", f"`{s.label()}` ({s.describe()})"),
        ("GPUs", f"{s.gpus}"),
        ("TTFT, at the longest prompt", fmt.seconds(est.worst["ttft_s"])),
        ("TPOT, at the longest context", fmt.seconds(est.worst["tpot_s"])),
        (f"{p.throughput_kind} throughput per GPU, lowest over prompt lengths",
         fmt.tokens_per_ms(min(r[col] for r in est.metrics))),
        ("memory per GPU, without the runtime reserve", f"{fmt.gb(mem)} of {fmt.gb(cap)}"),
        ("requirements met", met(p.checks)),
    ]


def checklist_table(rep: Report) -> pd.DataFrame:
    """The recommendation's checklist: requirement, ✓/✗, value, target, the number in words."""
    return pd.DataFrame([{"requirement": c.name, "met": fmt.tick(c.passed), "detail": c.detail}
                         for c in rep.plan.checks])


def performance_table(rep: Report) -> pd.DataFrame:
    """Expected performance of the recommendation at every prompt length, readable units."""
    return pd.DataFrame(metrics_rows(rep.estimate, rep.plan.throughput_kind),
                        columns=METRIC_HEADER)


def strategies_table(p: S.Plan, serving: dict | None = None) -> pd.DataFrame:
    """Every evaluated and rejected layout, in a stable order, with readable columns; for a
    serving scenario also ``serving_concurrency_per_replica``, the highest concurrency at which
    the layout meets the serving targets in the closed-form screen (empty when it never does or
    is not a serving candidate)."""
    t = p.table.copy()
    keep = ["layout", *DEGREE_NAMES, "tbo", "gpus", "valid", "rejected_because", "meets_all",
            "check_memory", "check_ttft", "check_tpot", "check_throughput", "ttft_s", "tpot_s",
            "tpot_max_s", "memory_per_gpu_bytes", "memory_utilization",
            "min_prefill_tokens_per_s_per_gpu", "min_decode_tokens_per_s_per_gpu",
            "min_total_tokens_per_s_per_gpu", "prefill_mfu", "tokens_per_s_per_user"]
    t = t[[c for c in keep if c in t.columns]]
    if serving is not None:
        conc = serving.get("concurrency_by_layout", {})
        t = t.assign(serving_concurrency_per_replica=t["layout"].map(conc).astype("Int64"))
    return t.sort_values(["valid", "gpus", "layout"], ascending=[False, True, True],
                         kind="mergesort").reset_index(drop=True)


def sha256_hex(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as hex: the seed's table of every layout (about 3 MB) is not
    committed, its digest is, so a test can tell the regenerated table is byte-identical."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
