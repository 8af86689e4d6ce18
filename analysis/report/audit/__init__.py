"""Auditing a plan written by someone else: its claims, re-derived and judged.

Rooms: :mod:`.lines` (sections and lines), :mod:`.numbers` (numbers with units),
:mod:`.inputs` (the scenario and layout), :mod:`.claims` (what the plan states),
:mod:`.classify` (what each claim is: kind, scope, what memory counts), :mod:`.quantities`
(the quantities, their tolerances), :mod:`.ctx`, :mod:`.ours` and :mod:`.ours_memory` (our
value for each, on the same definition), :mod:`.judge` (the verdict), :mod:`.advice` and
:mod:`.findings` (qualitative statements, unchecked requirements, inconsistencies),
:mod:`.compare` (beside our recommendation), :mod:`.render` (``audit.md``), :mod:`.takeaway`
(the notebook's takeaway), :mod:`.plan_md` (a plan from our estimate), :mod:`.auditor`
(the whole audit)."""

from analysis.report.audit.auditor import (  # noqa: F401
    PLAN_NEEDS,
    REPO_ROOT,
    audit,
    audit_dir_name,
    display_path,
    json_default,
    write_audit,
)
from analysis.report.audit.classify import classify  # noqa: F401
from analysis.report.audit.compare import comparison_table  # noqa: F401
from analysis.report.audit.plan_md import render_plan_md  # noqa: F401
from analysis.report.audit.quantities import (  # noqa: F401
    QUANTITIES,
    Claim,
    Finding,
    Quantity,
    Reading,
    Unreadable,
    Verdict,
    show,
)
from analysis.report.audit.render import findings_table, render_audit, verdict_table  # noqa: F401
from analysis.report.audit.result import AuditResult  # noqa: F401
from analysis.report.audit.takeaway import takeaway_markdown  # noqa: F401
