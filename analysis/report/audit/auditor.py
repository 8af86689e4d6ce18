"""Audit a deployment plan: read what it claims, re-derive every number, judge each claim.

A *plan* is a markdown file in the seed plan's layout (``examples/cards/seed-plan.md``): four
input sections (hardware, model, input data, requirements), a "Recommended Parallel Strategy" with
EP / TP / PP degrees, then output sections that state numbers (Resource Allocation,
Implementation Strategy phases, Expected Performance, Validation Checklist) and qualitative
advice (Memory / Performance Optimization, Communication Pattern).

How it is read:

* The inputs and the layout come from
  :func:`analysis.inputs.read.cards.scenario_dict_from_card`, the same reader as scenario cards.
  A line it cannot read is reported with its number and left out; a missing hardware section is
  replaced by a placeholder so that claims that do not depend on the hardware (parameter count,
  GPU count, experts and layers per GPU, memory footprint) are still
  judged, and the others are marked "not checkable" with the reason.
* The output sections are read here, line by line, by key words rather than exact wording;
  units are converted (GB / GiB / MB, s / ms / µs, tokens/ms / tokens/s, %), a leading "~" is
  kept as "approximate". Each number becomes a :class:`Claim`.

How each claim is judged (:class:`Verdict`): our model (:func:`analysis.estimate.estimate`)
runs on the scenario read from the plan and **the plan's own layout**, and the claim is

* ``confirmed`` when ``|claimed - ours| <= tolerance * |ours| + rounding``, where ``rounding`` is
  half a unit of the last digit the plan printed ("0.00 s" covers up to 0.005 s, so it cannot
  stand for 0.12 s); tolerances are per quantity (:data:`QUANTITIES`): exact for counts and
  degrees, 10% for memory, times, throughputs and parameter counts;
* ``wrong``, with our value and the size of the error;
* ``not checkable``, with the reason (an input the plan does not state, a line that could not be
  read, a statement no number can settle).

Qualitative advice is matched against what can apply to the layout
(:func:`analysis.report.strategy.optimisations` and the rules in :mod:`.advice`), requirements the
checklist never checks are named, and internal inconsistencies (degrees whose product is not the
GPU count, one quantity stated twice with different values) are listed. Finally the plan's
layout is put beside the one :func:`analysis.search.planner` recommends for the same scenario.

:func:`write_audit` writes ``audit.md`` (deterministic); ``python -m analysis audit PLAN.md``
prints it (``--json`` for the machine-readable form, ``--out DIR`` to write the file).
:func:`render_plan_md` writes a plan in the seed's layout from one of our estimates: a plan whose
every claim the audit confirms (the tests use it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from analysis import estimate as E
from analysis.inputs.errors import InputError, LayoutError, ParseError
from analysis.inputs.read.files import read_text_file
from analysis.report.audit.advice import qualitative
from analysis.report.audit.claims import extract
from analysis.report.audit.classify import classify
from analysis.report.audit.compare import claimed_headline, comparison, layout_row
from analysis.report.audit.findings import consistency_findings, requirement_findings
from analysis.report.audit.inputs import read_inputs
from analysis.report.audit.judge import judge
from analysis.report.audit.lines import OUTPUT_KINDS, split_plan
from analysis.report.audit.ours import Ctx
from analysis.report.audit.quantities import QUANTITIES, Claim, Finding, show  # noqa: F401
from analysis.report.audit.render import render_audit, what_was_read
from analysis.report.audit.result import REPO_ROOT, AuditResult, display_path  # noqa: F401
from analysis.search import planner as S

__all__ = ["QUANTITIES", "AuditResult", "audit", "audit_dir_name", "display_path",
           "json_default", "show", "write_audit"]



def audit_dir_name(plan_path: str | os.PathLike) -> str:
    """``examples/cards/seed-plan.md`` -> ``seed-audit``: the file's stem without a trailing
    ``-plan``, plus ``-audit`` (the Makefile's ``audit`` target names its folder the same way)."""
    stem = Path(plan_path).stem
    stem = re.sub(r"[-_]plan$", "", stem) or stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem) + "-audit"


def _read_text(path: str | os.PathLike) -> str:
    p = Path(path)
    if not p.is_file():
        raise InputError("plan", str(path), "no such file", "a plan in markdown (.md)")
    return read_text_file(p, "plan")


PLAN_NEEDS = ("a plan is markdown in the seed plan's layout: '## Hardware Environment', "
              "'## Model Configuration', '## Input Data', '## Performance Requirements', "
              "'## Recommended Parallel Strategy' with EP / TP / PP degrees, and output "
              "sections such as 'Resource Allocation', 'Expected Performance' and "
              "'Validation Checklist'")



def _estimate(sc, s, missing: dict[str, str], opts: E.Options):
    """Our estimate of the plan's layout and its search-table row (the checks); the layout's
    error when it cannot run. Sets ``missing["estimate"]`` when there is no estimate."""
    blocked = [p for p in ("model", "workload") if p in missing]
    if blocked:
        missing["estimate"] = f"the plan's {blocked[0]} could not be read ({missing[blocked[0]]})"
        return None, None, None
    if sc is None or s is None:
        missing.setdefault("estimate", missing.get("layout") or missing.get("model")
                           or "no layout")
        return None, None, None
    try:
        est = E.estimate(sc, s, opts)
        # the checks rest on times: not with a placeholder hardware
        row = layout_row(sc, s, opts) if "hardware" not in missing else None
        return est, row, None
    except LayoutError as e:
        missing["estimate"] = str(e)
        return None, None, str(e)


def _findings(ctx: Ctx, lines, rest, claims: list[Claim], verdicts, layout_error):
    """Qualitative findings, requirements unchecked, inconsistencies, by line; the statements
    no rule speaks to."""
    qual_lines = [ln for ln in rest if ln.kind in OUTPUT_KINDS and ln.kind != "checklist"
                  and ln.tick is None]
    findings, left = qualitative(qual_lines, ctx)
    if layout_error:
        findings.insert(0, Finding("layout", None, ctx.strategy.label(), "impossible", True,
                                   layout_error))
    findings += requirement_findings(ctx, lines, verdicts)
    findings += consistency_findings(claims, ctx)
    findings.sort(key=lambda f: (f.line_no is None, f.line_no or 0))
    return findings, left


def _comparison(ctx: Ctx, claims: list[Claim]) -> dict:
    """The plan's layout beside our recommendation, with the plan's own headline numbers."""
    if ctx.scenario is None:
        return {"available": False, "why": ctx.missing.get("model", "no scenario")}
    out = comparison(ctx)
    if out.get("available"):
        out["plan_claimed"] = claimed_headline(claims)
        ticks = [c.claimed_value for c in claims if QUANTITIES[c.quantity].unit == "check"]
        out["plan_ticks"] = (f"{sum(map(bool, ticks))} of {len(ticks)} ticked"
                             if ticks else "—")
    return out


def audit(plan_path: str | os.PathLike, opts: E.Options | None = None,
          text: str | None = None, card: str | os.PathLike | None = None) -> AuditResult:
    """Read a plan, judge every claim, check the qualitative advice, compare with our plan.

    ``card`` is the scenario (card, YAML or preset) the plan was written from: with it, a plan
    that does not restate the hardware, model, workload or requirements is still checkable.

    Raises :class:`ParseError` for an empty file or one that is not a plan at all; a partial
    plan is audited as far as it can be, with what could not be read listed.
    """
    opts = opts or E.Options()
    shown = display_path(plan_path)
    if text is None:
        text = _read_text(plan_path)
    if not text.strip():
        raise ParseError(shown, f"empty file: nothing to audit; {PLAN_NEEDS}")
    lines, sections = split_plan(text)
    kinds = {s.kind for s in sections}
    if not kinds & ({"hardware", "model", "workload", "requirements", "strategy"}
                    | set(OUTPUT_KINDS)):
        raise ParseError(shown, f"not a plan: no section of the seed plan's layout was found; "
                                f"{PLAN_NEEDS}")
    inputs = read_inputs(text, shown, lines, None if card is None else str(card))
    unreadable = list(inputs.unreadable)
    claims, rest = extract(lines, unreadable)
    claims = [classify(c) for c in claims]      # what each claim is, before it is judged
    sc, s = inputs.scenario, inputs.strategy
    missing = dict(inputs.missing)
    est, row, layout_error = _estimate(sc, s, missing, opts)
    kind, kind_why = S.throughput_reading(sc) if sc is not None else ("prefill", "")
    ctx = Ctx(sc, s, missing, est, row, kind, kind_why, opts, claims,
              inputs.assumptions + (list(sc.assumptions) if sc is not None else []),
              card is not None)
    verdicts = [judge(c, ctx) for c in claims]
    findings, left = _findings(ctx, lines, rest, claims, verdicts, layout_error)
    res = AuditResult(shown, sc, s, verdicts, findings, _comparison(ctx, claims), unreadable,
                      what_was_read(sc, s, inputs.missing, lines),
                      [(x.title, x.kind, x.first, x.last) for x in sections],
                      [(ln.no, ln.text) for ln in left], inputs.assumptions)
    res.markdown = render_audit(res, opts)
    return res


def write_audit(plan_path: str | os.PathLike, out_dir: str | os.PathLike,
                opts: E.Options | None = None, card: str | os.PathLike | None = None
                ) -> AuditResult:
    """Audit ``plan_path`` and write ``out_dir/audit.md`` (via a temporary name)."""
    res = audit(plan_path, opts, card=card)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "audit.md.tmp"
    tmp.write_text(res.markdown + "\n", encoding="utf-8")
    tmp.replace(out / "audit.md")
    res.path = out / "audit.md"
    return res



def json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return str(x)
