"""Numbers with units, as a plan prints them: bytes, times, throughputs, percentages, parameter
counts and plain counts, each converted to SI with half a unit of its last printed digit."""

from __future__ import annotations

import re
from dataclasses import dataclass

NUM = r"(\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?|\.\d+)"
APPROX = r"(~|≈|about\s+|approx\.?\s+|approximately\s+|roughly\s+|around\s+)?"

_BYTE_UNITS = {"tib": 2.0**40, "gib": 2.0**30, "mib": 2.0**20, "kib": 2.0**10, "tb": 1e12,
               "gb": 1e9, "mb": 1e6, "kb": 1e3, "bytes": 1.0, "byte": 1.0, "b": 1.0}
_BYTES_RE = re.compile(rf"{APPROX}{NUM}\s*(TiB|GiB|MiB|KiB|TB|GB|MB|KB|bytes?|B)(?![A-Za-z/])",
                       re.IGNORECASE)
_TIME_UNITS = [("ms", 1e-3), ("msec", 1e-3), ("millisecond", 1e-3), ("milliseconds", 1e-3),
               ("µs", 1e-6), ("μs", 1e-6), ("us", 1e-6), ("microsecond", 1e-6),
               ("microseconds", 1e-6), ("s", 1.0), ("sec", 1.0), ("secs", 1.0), ("second", 1.0),
               ("seconds", 1.0), ("min", 60.0), ("mins", 60.0), ("minute", 60.0),
               ("minutes", 60.0)]
_TIME_RE = re.compile(rf"{APPROX}{NUM}\s*(milliseconds?|microseconds?|seconds?|minutes?|msec|"
                      rf"secs?|mins?|ms|µs|μs|us|s)(?![A-Za-z])", re.IGNORECASE)
_TPUT_RE = re.compile(rf"{APPROX}{NUM}\s*([kKM])?\s*(?:tokens?|toks?|tkns?)\s*(?:/|per)\s*"
                      r"(?:gpu\s*(?:/|per)\s*)?(ms|msec|milliseconds?|s|sec|seconds?)"
                      r"(?![A-Za-z])", re.IGNORECASE)
_PCT_RE = re.compile(rf"{APPROX}{NUM}\s*%")
_PARAMS_RE = re.compile(rf"{APPROX}{NUM}\s*(billion|million|trillion|bn|mn|tn|[BMTK])?"
                        r"(?![A-Za-z])", re.IGNORECASE)
_COUNT_RE = re.compile(rf"(?<![\w.]){APPROX}{NUM}(?![\w.%])")


@dataclass(frozen=True)
class Num:
    value: float             # in SI
    rounding: float          # half a unit of the last printed digit, in SI
    printed: str
    approximate: bool
    start: int
    end: int


def _parse_num(s: str) -> tuple[float, int]:
    """Value and decimals of a printed number ("10,240" -> (10240, 0); "1.15" -> (1.15, 2))."""
    s = s.replace(",", "")
    dec = len(s.split(".")[1]) if "." in s else 0
    return float(s), dec


def _mk(m: re.Match, scale: float) -> Num:
    v, dec = _parse_num(m.group(2))
    return Num(v * scale, 0.5 * 10.0**-dec * scale, m.group(0).strip(), bool(m.group(1)),
                m.start(), m.end())


def bytes_in(s: str) -> list[Num]:
    return [_mk(m, _BYTE_UNITS[m.group(3).lower()]) for m in _BYTES_RE.finditer(s)]


def times_in(s: str) -> list[Num]:
    out = []
    for m in _TIME_RE.finditer(s):
        scale = dict(_TIME_UNITS).get(m.group(3).lower().replace("μ", "µ"), 1.0)
        out.append(_mk(m, scale))
    return out


def throughputs_in(s: str) -> list[Num]:
    """Tokens per second (SI) from "640 tokens/ms", "1.2k tokens/s", "100 tok/s per GPU"."""
    out = []
    for m in _TPUT_RE.finditer(s):
        mult = {"k": 1e3, "m": 1e6}.get((m.group(3) or "").lower(), 1.0)
        per_s = 1e3 if m.group(4).lower().startswith("m") else 1.0
        out.append(_mk(m, mult * per_s))
    return out


def percents_in(s: str) -> list[Num]:
    return [_mk(m, 0.01) for m in _PCT_RE.finditer(s)]


def params_in(s: str) -> list[Num]:
    out = []
    for m in _PARAMS_RE.finditer(s):
        u = (m.group(3) or "").lower()
        scale = {"b": 1e9, "bn": 1e9, "billion": 1e9, "m": 1e6, "mn": 1e6, "million": 1e6,
                 "t": 1e12, "tn": 1e12, "trillion": 1e12, "k": 1e3}.get(u)
        if scale is None:
            v, _ = _parse_num(m.group(2))
            scale = 1.0 if v >= 1e6 else 1e9   # a bare "10" in a parameter line: billions
        out.append(_mk(m, scale))
    return out


def counts_in(s: str) -> list[Num]:
    return [_mk(m, 1.0) for m in _COUNT_RE.finditer(s)]

