"""What an audit found (:class:`AuditResult`), and its ``--json`` form."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from analysis.inputs.types import Scenario, Strategy
from analysis.report.audit.quantities import Finding, Unreadable, Verdict

REPO_ROOT = Path(__file__).resolve().parents[3]


def display_path(path: str | os.PathLike) -> str:
    """The plan's path relative to the repository when it lies inside it (so the audit text does
    not depend on the working directory), else as given."""
    p = Path(path)
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


@dataclass
class AuditResult:
    """Everything the audit found; :meth:`to_dict` is the ``--json`` form."""

    plan_path: str
    scenario: Scenario | None
    strategy: Strategy | None
    verdicts: list[Verdict]
    findings: list[Finding]
    comparison: dict
    unreadable: list[Unreadable]
    read: dict[str, str]               # part -> what was read, or why not
    sections: list[tuple[str, str, int, int]]
    unchecked_statements: list[tuple[int, str]]
    assumptions: list[str]
    markdown: str = ""
    path: Path | None = None

    @property
    def claims(self) -> list[Verdict]:
        return self.verdicts

    def counts(self) -> dict[str, int]:
        out = {"confirmed": 0, "wrong": 0, "not checkable": 0}
        for v in self.verdicts:
            out[v.status] += 1
        return out

    def summary(self) -> str:
        n = self.counts()
        probs = sum(f.problem for f in self.findings)
        return (f"{len(self.verdicts)} claims: {n['confirmed']} confirmed, {n['wrong']} wrong, "
                f"{n['not checkable']} not checkable; {len(self.findings)} qualitative findings, "
                f"{probs} of them problems; {unreadable_count(self)}")

    def to_dict(self) -> dict:
        return {"plan": self.plan_path,
                "layout": self.strategy.label() if self.strategy else None,
                "summary": {**self.counts(), "findings": len(self.findings),
                            "problems": sum(f.problem for f in self.findings)},
                "read": self.read,
                "claims": [v.as_dict() for v in self.verdicts],
                "findings": [f.as_dict() for f in self.findings],
                "comparison": self.comparison,
                "unreadable": [u.as_dict() for u in self.unreadable],
                "assumptions": self.assumptions}


def unreadable_count(res: AuditResult) -> str:
    n = len(res.unreadable)
    return "everything was read" if n == 0 else \
        f"{n} {'thing' if n == 1 else 'things'} could not be read"
