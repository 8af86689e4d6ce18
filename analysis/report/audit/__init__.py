"""Auditing a plan written by someone else: its claims, re-derived and judged."""

from analysis.report.audit.auditor import (  # noqa: F401
    PLAN_NEEDS,
    QUANTITIES,
    REPO_ROOT,
    AuditResult,
    Claim,
    Finding,
    Quantity,
    Unreadable,
    Verdict,
    audit,
    audit_dir_name,
    comparison_table,
    display_path,
    findings_table,
    json_default,
    render_audit,
    render_plan_md,
    show,
    verdict_table,
    write_audit,
)
