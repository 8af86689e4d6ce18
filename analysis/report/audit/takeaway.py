"""The audit's takeaway as Markdown, written from what the audit found.

Notebook 09 used to end with a hand-written takeaway about the seed plan; re-run with another
plan it described the wrong one (issue 15). :func:`takeaway_markdown` says what is wrong, what
the checklist leaves unchecked and which advice cannot apply, from the
:class:`~analysis.report.audit.result.AuditResult` alone.
"""

from __future__ import annotations

import math

from analysis.report.audit.quantities import QUANTITIES, Verdict, error_text
from analysis.report.audit.result import AuditResult

#: Advice verdicts that mean the advice cannot help this layout.
CANNOT_APPLY = ("does not apply", "impossible")


def takeaway_markdown(res: AuditResult) -> str:
    """One paragraph: the wrong claims (largest error first, each with its error), requirements
    the checklist never checks, advice that cannot apply to the plan's layout."""
    n = res.counts()
    checkable = n["confirmed"] + n["wrong"]
    where = (f"Re-derived for its own layout, `{res.strategy.label()}`, " if res.strategy
             else "It states no layout we could read, so only claims that need none are "
             "re-derived: ")
    parts = [f"**Takeaway:** a plan's numbers are claims, not facts. {where}"
             + _wrong_text(res, n["wrong"], checkable)]
    unchecked = [f for f in res.findings if f.kind == "requirement" and f.verdict == "unchecked"]
    if any(f.line_no is None for f in unchecked):
        parts.append("it has no validation checklist, so none of its requirements is checked")
    elif unchecked:
        parts.append("its checklist never checks " + _quoted([f.statement for f in unchecked]))
    advice = [f.statement for f in res.findings
              if f.kind == "optimisation" and f.verdict in CANNOT_APPLY]
    if advice:
        parts.append("and this advice cannot apply to its layout: " + _quoted(advice))
    closing = "A plan written from our own estimate passes the same audit claim by claim."
    return "; ".join(parts) + ". " + closing


def _wrong_text(res: AuditResult, wrong: int, checkable: int) -> str:
    if checkable == 0:
        return "none of its claims could be checked"
    if wrong == 0:
        return ("its one checkable claim is confirmed within tolerance" if checkable == 1
                else f"all {checkable} checkable claims are confirmed within tolerance")
    if checkable == 1:
        return "its one checkable claim is wrong: " + _ranked(res)
    return f"{wrong} of its {checkable} checkable claims are wrong: " + _ranked(res)


def _ranked(res: AuditResult) -> str:
    """The wrong claims' labels with their largest error, largest first."""
    worst: dict[str, tuple[float, str]] = {}     # claim label -> (|log error|, error text)
    for v in res.verdicts:
        if v.status == "wrong":
            label = QUANTITIES[v.claim.quantity].label
            size, text = _error(v)
            if label not in worst or size > worst[label][0]:
                worst[label] = (size, text)
    ranked = sorted(worst.items(), key=lambda kv: -kv[1][0])
    return ", ".join(f"{label} ({text})" if text else label for label, (_, text) in ranked)


def _error(v: Verdict) -> tuple[float, str]:
    """How far off a wrong claim is: |ln(claimed / ours)| (inf for a zero claim) and the text
    the verdict table prints; (0, "") for a tick or a claim without a number."""
    c = v.claim
    if v.error is None or not isinstance(v.ours, (int, float)) or isinstance(v.ours, bool):
        return 0.0, ""
    claimed, ours = float(c.claimed_value), float(v.ours)
    size = abs(math.log(claimed / ours)) if claimed > 0 and ours > 0 else math.inf
    return size, error_text(claimed, ours, c.unit)


def _quoted(statements: list[str]) -> str:
    return ", ".join(f"“{s}”" for s in dict.fromkeys(statements))
