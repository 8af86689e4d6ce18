"""Checks on command-line values and on what the CLI prints, kept apart from the verbs.

- :class:`OneLineParser`: argparse's own errors (unknown option, bad choice, a word where a
  number goes) end in the same one line ``error: ...`` and exit 2 as every other bad input.
- :func:`check_args`: every numeric option checked once, before any work: finite, in range,
  within :data:`analysis.inputs.limits.LIMITS`; 0 is a value (``--isl 0`` is an error, not "not
  given").
- :func:`dumps_json`: the one place JSON is written, with NaN and infinity refused, so an
  impossible number ends in an error naming its key, never in the output.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from analysis.inputs.errors import InputError, MoEPlanError
from analysis.inputs.limits import LIMITS


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors print one ``error:`` line and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"error: {message}; valid: see `{self.prog} --help`\n")
        sys.exit(2)


#: option (argparse dest) -> (flag, minimum, limit name or a number, whole number?, optional?)
_NUMERIC = {
    "prompt_tokens": ("--prompt-tokens", 1, "prompt_tokens", True),
    "isl": ("--isl", 1, "prompt_tokens", True),
    "osl": ("--osl", 1, "output_tokens", True),
    "max_gpus": ("--max-gpus", 1, "gpus", True),
    "top": ("--top", 0, 100_000, True),
    "worst": ("--worst", 0, 100_000, True),
    "points": ("--points", 3, 1001, True),
    "concurrency": ("--concurrency", 0, "batch", False),
    "request_rate": ("--request-rate", 0, 1e9, False),
    "imbalance_factor": ("--imbalance-factor", 1, 1e6, False),
    "overlap": ("--overlap", 0, 1, False),
}
_STRICT = {"concurrency", "request_rate"}   # must be > minimum, not >= minimum


def check_args(args: argparse.Namespace) -> None:
    """InputError for the first numeric option that is not finite, below its minimum or above
    its limit. Options a verb does not have, and options left at None (not given), are skipped."""
    for dest, (flag, lo, top, whole) in _NUMERIC.items():
        v = getattr(args, dest, None)
        if v is None:
            continue
        hi = LIMITS[top] if isinstance(top, str) else top
        kind = "a whole number" if whole else "a number"
        rel = ">" if dest in _STRICT else ">="
        shown = f"{hi:,.0f}" if float(hi).is_integer() else f"{hi:g}"
        valid = f"{kind} {rel} {lo:g} and <= {shown}"
        if not math.isfinite(v):
            raise InputError(flag, v, "must be a finite number", valid)
        if v < lo or (dest in _STRICT and v == lo):
            raise InputError(flag, v, f"must be {rel} {lo:g}", valid)
        if v > hi:
            raise InputError(flag, v, f"above the limit of {shown}", valid)


def first_non_finite(obj, path: str = "output") -> tuple[str, float] | None:
    """(key path, value) of the first NaN or infinity in a JSON-like structure, or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (path, obj)
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        hit = first_non_finite(v, f"{path}.{k}" if isinstance(k, str) else f"{path}[{k}]")
        if hit:
            return hit
    return None


def dumps_json(obj, default=float) -> str:
    """``obj`` as indented JSON with NaN and infinity refused (an :class:`MoEPlanError` naming
    the key, so the CLI prints one ``error:`` line and exits 2)."""
    try:
        return json.dumps(obj, indent=2, sort_keys=False, default=default, ensure_ascii=False,
                          allow_nan=False)
    except ValueError:
        plain = json.loads(json.dumps(obj, default=default))   # NaN survives the round trip
        hit = first_non_finite(plain)
        where, value = hit if hit else ("output", math.nan)
        raise MoEPlanError(f"{where} = {value}: not a finite number, so no answer can be "
                           "printed; valid: inputs whose estimate is finite (check the inputs "
                           "for extreme values)") from None
