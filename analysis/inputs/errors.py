"""Typed errors: every bad input says which field, which value, why, and what would be valid.

The CLI and the notebooks catch :class:`MoEPlanError` and print its message; no traceback reaches
the user for bad input.
"""

from __future__ import annotations


class MoEPlanError(Exception):
    """Base class for every error MoEPlan raises on purpose."""


class InputError(MoEPlanError, ValueError):
    """A user-supplied value is wrong.

    The message reads: ``<field> = <value>: <why>; valid: <what would be valid>``.
    """

    def __init__(self, field: str, value: object, why: str, valid: str | None = None,
                 where: str | None = None) -> None:
        self.field = field
        self.value = value
        self.why = why
        self.valid = valid
        self.where = where
        msg = f"{field} = {value!r}: {why}"
        if valid:
            msg += f"; valid: {valid}"
        if where:
            msg = f"{where}: {msg}"
        super().__init__(msg)


class ParseError(MoEPlanError, ValueError):
    """A file (YAML, JSON, scenario card, plan) could not be read.

    ``line`` is 1-based when known, so the user can find the offending line.
    """

    def __init__(self, path: str, why: str, line: int | None = None,
                 text: str | None = None) -> None:
        self.path = path
        self.why = why
        self.line = line
        self.text = text
        loc = f"{path}:{line}" if line else path
        msg = f"{loc}: {why}"
        if text:
            msg += f" (line reads: {text.strip()!r})"
        super().__init__(msg)


class LayoutError(MoEPlanError, ValueError):
    """A parallel layout is impossible for this model and workload; ``reasons`` lists each cause."""

    def __init__(self, layout: str, reasons: list[str]) -> None:
        self.layout = layout
        self.reasons = list(reasons)
        super().__init__(f"layout {layout} is impossible: " + "; ".join(self.reasons))
