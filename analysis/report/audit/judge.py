"""Judging a claim against our value: confirmed within the quantity's tolerance plus the
printed rounding, wrong (with both numbers and the size of the error), or not checkable (with
what is missing)."""

from __future__ import annotations

from analysis import fmt
from analysis.report.audit.ctx import where_stated
from analysis.report.audit.ours import Ctx, NotCheckable, ours
from analysis.report.audit.quantities import QUANTITIES, Claim, Quantity, Verdict, error_text, show


def tolerance_text(q: Quantity, c: Claim) -> str:
    """"±10% + printed rounding (±5 ms)", or "exact"."""
    if q.unit == "check":
        return "exact"
    base = "exact" if not q.tolerance else f"±{q.tolerance:.0%}"
    if c.rounding and q.unit != "count":
        r = fmt.params(c.rounding) if q.unit == "params" else show(c.rounding, q.unit)
        return f"{base} + printed rounding (±{r})"
    return base


def _agrees(q: Quantity, c: Claim, claimed: float, ours_: float) -> bool:
    """|claimed - ours| <= tolerance x |ours| + rounding; counts exact (a fractional count of
    ours within the printed rounding)."""
    if q.unit == "count" and q.tolerance is None:
        return (abs(claimed - ours_) < 1e-9 if float(ours_).is_integer()
                else abs(claimed - ours_) <= c.rounding + 1e-12)
    return abs(claimed - ours_) <= (q.tolerance or 0.0) * abs(ours_) + c.rounding + 1e-12


def _missing_why(part: str, ctx: Ctx) -> str:
    """"needs the model ('## Model Configuration': ...), in the plan ...: why it was not read"."""
    if part == "estimate":
        return f"needs a layout that can run, and the plan's cannot: {ctx.missing[part]}"
    return (f"needs {where_stated(part, ctx.from_card)}, which could not be read: "
            f"{ctx.missing[part]}")


def judge(c: Claim, ctx: Ctx) -> Verdict:
    """The verdict on one claim."""
    q = QUANTITIES[c.quantity]
    tol = tolerance_text(q, c)
    for part in q.needs:
        if part in ctx.missing:
            return Verdict(c, "not checkable", None, None, tol, _missing_why(part, ctx))
    if ctx.scenario is None and set(q.needs) - {"layout"}:
        # the parts were read, yet no scenario could be built from them
        why = next(iter(ctx.missing.values()), "no scenario could be built")
        return Verdict(c, "not checkable", None, None, tol,
                       f"needs a scenario built from the plan's inputs ({where_stated('model')}"
                       f" and {where_stated('hardware')}); none could be built: {why}")
    try:
        value, why = ours(c, ctx)
    except NotCheckable as e:
        return Verdict(c, "not checkable", None, None, tol, str(e))
    if q.unit == "check":
        ok = bool(value) == bool(c.claimed_value)
        if not ok:
            why = (f"{q.label}: {show(c.claimed_value, 'check')} claimed, ours "
                   f"{show(bool(value), 'check')}. " + why)
        return Verdict(c, "confirmed" if ok else "wrong", bool(value), None, tol, why)
    claimed = float(c.claimed_value)
    value = float(value)
    err = claimed / value - 1 if value else None
    ok = _agrees(q, c, claimed, value) or (c.bound == "upper" and value <= claimed + c.rounding)
    if not ok:
        why = (f"{q.label}: {show(claimed, q.unit)} claimed, ours {show(value, q.unit)} "
               f"({error_text(claimed, value, q.unit)})"
               + (f"; the claim is read as {c.reading.text()}"
                  if c.reading and c.reading.kind != "restated" else "")
               + ". " + why)
    return Verdict(c, "confirmed" if ok else "wrong", value, err, tol, why.strip())
