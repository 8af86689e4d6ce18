"""Scenario cards, part 1: the reading state, numbers, and one reader per kind of quantity.

Units: TFLOPS = 1e12 FLOP/s (PFLOPS, GFLOPS scaled), GB = 1e9 B and GiB = 2**30 B (kept apart:
GiB is converted to GB, never read as GB), TB/s = 1e12 B/s ("TBps" alike), times in s / ms / us,
throughput in tokens/ms or tokens/s (converted to tokens/ms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analysis.inputs.errors import ParseError

INPUT_KINDS = ("hardware", "model", "workload", "requirements", "preamble")
#: Marks a conflict or an unread line among a card's notes: a warning, not an assumption.
WARNING_PREFIX = "warning: "

# --------------------------------------------------------------------------------------------
# Numbers and units
# --------------------------------------------------------------------------------------------

NUM_RE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?)")
NONE_RE = re.compile(r"^\s*(none|n/?a|nil|null|no|not (?:required|specified|given|stated)"
                      r"|unspecified|no (?:requirement|target|limit)s?|unlimited|-+|—|∞)"
                      r"\s*\.?\s*$", re.IGNORECASE)


def all_numbers(s: str) -> list[tuple[float, int, int]]:
    """Every number in ``s`` as (value, start, end); "10,240" is one number, "FP16" none."""
    return [(float(m.group(1).replace(",", "")), m.start(1), m.end(1)) for m in NUM_RE.finditer(s)]


def first_number(s: str) -> tuple[float, str] | None:
    """First number in ``s`` and the text right after it (where its unit is)."""
    nums = all_numbers(s)
    if not nums:
        return None
    v, _, end = nums[0]
    return v, s[end:]


def fmt_num(x: float) -> str:
    return f"{x:g}"


@dataclass
class CardLine:
    no: int            # 1-based line number in the card
    raw: str           # the line as written
    text: str          # without bullets, bold markers, backticks
    key: str | None    # lower-case key, None for free text
    value: str         # the value (or the whole text for free text)
    kind: str          # section kind: hardware, model, workload, requirements, preamble,
    #                    strategy, other
    heading: str       # title of the section the line sits in


@dataclass
class CardState:
    path: str
    facts: dict[str, tuple[object, CardLine]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flags: dict[str, CardLine] = field(default_factory=dict)
    strategy: dict[str, tuple[int, CardLine]] = field(default_factory=dict)
    strategy_total: tuple[int, CardLine] | None = None
    top_k: list[tuple[int, CardLine, bool]] = field(default_factory=list)  # (k, line, from key)
    kinds_seen: set[str] = field(default_factory=set)
    strategy_headings: list[str] = field(default_factory=list)
    ignored_sections: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # conflicts and unread lines
    seen: set = field(default_factory=set)   # notes and ("warning", text): linear dedup
    line_errors: list[tuple[ParseError, CardLine]] = field(default_factory=list)
    gpus: tuple[int, CardLine] | None = None             # a GPU count stated with a strategy
    products: list[tuple[object, CardLine]] = field(default_factory=list)  # text.Product
    # degrees stated in sections that are not inputs ("## Baseline", "## Evaluation"):
    other_degrees: dict[str, list[tuple[str, int, CardLine]]] = field(default_factory=dict)

    def error(self, line: CardLine, why: str) -> ParseError:
        return ParseError(self.path, why, line=line.no, text=line.raw)

    def note(self, text: str) -> None:
        if text not in self.seen:      # a set: reading stays linear in the card's size
            self.seen.add(text)
            self.notes.append(text)

    def warn(self, text: str) -> None:
        """A conflict or an unread line: a note marked ``WARNING_PREFIX`` (the scenario loader
        moves it to the scenario's warnings)."""
        self.note(WARNING_PREFIX + text)
        if ("warning", text) not in self.seen:
            self.seen.add(("warning", text))
            self.warnings.append(text)

    def set(self, name: str, value: object, line: CardLine) -> None:
        """Record a fact; a later, different value for the same fact is a warning (the first
        value is kept: a conflict is reported, never resolved silently)."""
        if name in self.facts:
            old, where = self.facts[name]
            if old != value:
                self.warn(f"line {line.no}: {name} restated as {value!r}; the first value "
                          f"{old!r} (line {where.no}) is kept")
            return
        self.facts[name] = (value, line)

    def get(self, name: str, default: object = None) -> object:
        return self.facts[name][0] if name in self.facts else default

    def line_of(self, name: str) -> CardLine | None:
        return self.facts[name][1] if name in self.facts else None


def need_number(st: CardState, line: CardLine, field_name: str, example: str,
                 integer: bool = False) -> tuple[float, str]:
    """The first number on a line that must have one, else ParseError naming the field."""
    got = first_number(line.value)
    if got is None:
        raise st.error(line, f"{field_name}: no number in {line.value.strip()!r} "
                             f"(write e.g. {example!r})")
    if integer and got[0] != int(got[0]):
        raise st.error(line, f"{field_name}: {fmt_num(got[0])} is not a whole number "
                             f"(write e.g. {example!r})")
    return got


# --------------------------------------------------------------------------------------------
# Value readers (one per kind of quantity)
# --------------------------------------------------------------------------------------------

def read_flops(st: CardState, line: CardLine) -> float:
    """Peak compute in TFLOPS."""
    v, rest = need_number(st, line, "hardware.peak_TFLOPS", "Computing power: 400 TFLOPS")
    m = re.match(r"\s*([ptg])\s*(?:flop|ops\b|/s|$|\W)", rest, re.IGNORECASE)
    scale = {"p": 1000.0, "t": 1.0, "g": 1e-3}
    if m:
        tflops = v * scale[m.group(1).lower()]
    elif re.match(r"\s*flop", rest, re.IGNORECASE):
        tflops = v / 1e12
    else:
        tflops = v
        st.note(f"line {line.no}: computing power {fmt_num(v)} has no unit; read as TFLOPS")
    if re.search(r"sparse|sparsity|2:4", line.value, re.IGNORECASE):
        tflops /= 2
        st.note(f"line {line.no}: computing power is a 2:4-sparse figure; halved to the dense "
                f"peak {fmt_num(tflops)} TFLOPS")
    return tflops


def read_bytes_gb(st: CardState, line: CardLine) -> float:
    """A memory capacity in GB (1e9 B); GiB (2**30 B) is converted, never read as GB."""
    v, rest = need_number(st, line, "hardware.hbm_capacity_GB", "Memory capacity: 64 GB")
    m = re.match(r"\s*([kKmMgGtT])(i)?(b|B|bytes?)?(?![a-zA-Z])", rest)
    if not m:
        st.note(f"line {line.no}: memory capacity {fmt_num(v)} has no unit; read as GB")
        return v
    prefix, binary, b = m.group(1).lower(), bool(m.group(2)), m.group(3)
    if binary:
        gb = prefixed_bytes(v, prefix, binary) / 1e9
        st.note(f"line {line.no}: {fmt_num(v)} {prefix.upper()}iB = {gb:.6g} GB (GiB = 2^30 B, "
                f"GB = 1e9 B)")
        return gb
    if not b:
        st.note(f"line {line.no}: '{fmt_num(v)}{m.group(1)}' read as {fmt_num(v)} "
                f"{prefix.upper()}B (decimal)")
    return prefixed_bytes(v, prefix, binary) / 1e9


def prefixed_bytes(value: float, prefix: str, binary: bool) -> float:
    """Bytes in ``value`` k/M/G/T-bytes: powers of 1024 when ``binary`` (KiB, GiB), else 1000."""
    power = {"k": 1, "m": 2, "g": 3, "t": 4}[prefix.lower()]
    return value * (2 ** (10 * power) if binary else 10 ** (3 * power))


def read_bandwidth_tbs(st: CardState, line: CardLine) -> float:
    """A memory bandwidth in TB/s (1e12 B/s); TiB/s and GB/s converted."""
    v, rest = need_number(st, line, "hardware.hbm_bandwidth_TB_per_s", "Bandwidth: 1.8 TB/s")
    m = re.match(r"\s*([kKmMgGtT])(i)?(?:b|B|bytes?)\s*(ps|/\s*s(?:ec)?|\s*per\s+s)?", rest)
    if not m:
        unit = "TB/s" if v < 100 else "GB/s"
        st.note(f"line {line.no}: memory bandwidth {fmt_num(v)} has no unit; read as {unit}")
        return v if unit == "TB/s" else v / 1000
    prefix, binary = m.group(1).lower(), bool(m.group(2))
    if binary:
        tbs = prefixed_bytes(v, prefix, binary) / 1e12
        st.note(f"line {line.no}: {fmt_num(v)} {prefix.upper()}iB/s = {tbs:.6g} TB/s "
                f"(TiB = 2^40 B, TB = 1e12 B)")
        return tbs
    if not m.group(3):
        st.note(f"line {line.no}: memory bandwidth '{fmt_num(v)} {prefix.upper()}B' read as "
                f"{prefix.upper()}B/s")
    return prefixed_bytes(v, prefix, binary) / 1e12


def read_fraction(st: CardState, line: CardLine, field_name: str) -> float:
    v, rest = need_number(st, line, field_name, f"{line.key or field_name}: 60%")
    if rest.lstrip().startswith("%"):
        return v / 100
    if v <= 1:
        return v
    if v <= 100:
        st.note(f"line {line.no}: {field_name} {fmt_num(v)} read as {fmt_num(v)}%")
        return v / 100
    raise st.error(line, f"{field_name}: {fmt_num(v)} is not a fraction or a percentage "
                         f"(write e.g. '60%')")


TIME_UNITS = [(r"ms|msecs?|milliseconds?", 1e-3), (r"µs|μs|us|usecs?|microseconds?", 1e-6),
               (r"s|secs?|seconds?", 1.0), (r"mins?|minutes?", 60.0)]


def read_time_s(st: CardState, line: CardLine, field_name: str) -> float | None:
    """A time in seconds, or None for "None" / "N/A" / "-" (no target)."""
    if NONE_RE.match(line.value) or (first_number(line.value) is None
                                      and re.search(r"\bnone\b|not required|no requirement",
                                                    line.value, re.IGNORECASE)):
        return None
    v, rest = need_number(st, line, field_name, f"{line.key}: 10 s")
    for pattern, scale in TIME_UNITS:
        if re.match(rf"\s*(?:{pattern})(?![a-zA-Z])", rest, re.IGNORECASE):
            return v * scale
    for pattern, scale in TIME_UNITS:  # unit in the key: "TTFT (ms): 500"
        if re.search(rf"[(\[]\s*(?:{pattern})\s*[)\]]", line.key or "", re.IGNORECASE):
            return v * scale
    st.note(f"line {line.no}: {field_name} {fmt_num(v)} has no time unit; read as seconds")
    return v


THROUGHPUT_RE = re.compile(
    r"(?:tokens?|toks?|tkns?)\s*(?:/|per)\s*(?:gpu\s*(?:/|per)\s*)?"
    r"(ms|msecs?|milliseconds?|s|secs?|seconds?)(?![a-zA-Z])", re.IGNORECASE)


def read_throughput_per_ms(st: CardState, line: CardLine) -> float | None:
    """Throughput in tokens per ms per GPU, or None for no target."""
    if NONE_RE.match(line.value):
        return None
    v, rest = need_number(st, line, "requirements.throughput_tokens_per_ms_per_gpu",
                           "Throughput per GPU: 100 tokens/ms")
    km = re.match(r"\s*([kK])(?![a-zA-Z])", rest)
    if km:
        v *= 1000
    m = THROUGHPUT_RE.search(line.value) or THROUGHPUT_RE.search(line.key or "")
    if not m:
        m2 = re.search(r"\btps\b|tokens?/s\b", line.value + " " + (line.key or ""), re.IGNORECASE)
        if not m2:
            raise st.error(line, "requirements.throughput_tokens_per_ms_per_gpu: no unit; write "
                                 "'tokens/ms' or 'tokens/s' (they differ by 1000x)")
        unit = "s"
    else:
        unit = m.group(1).lower()
    per_ms = v if unit.startswith("m") else v / 1000
    if not unit.startswith("m"):
        st.note(f"line {line.no}: throughput {fmt_num(v)} tokens/s = {per_ms:g} tokens/ms")
    if not re.search(r"gpu|card|device|chip", (line.key or "") + " " + line.value, re.IGNORECASE):
        st.note(f"line {line.no}: throughput read as per GPU (the line does not say per what)")
    return per_ms


def read_params_b(st: CardState, line: CardLine) -> float | None:
    """A parameter count in billions, or None (noted) when unreadable: it is only a check."""
    got = first_number(line.value)
    if got is None:
        st.note(f"line {line.no} ignored: {line.text.strip()!r} (no parameter count)")
        return None
    v, rest = got
    m = re.match(r"\s*(b|bn|billion|m|mn|million|t|tn|trillion|k|thousand)(?![a-z])", rest,
                 re.IGNORECASE)
    if m:
        u = m.group(1).lower()[0]
        return v * {"b": 1.0, "m": 1e-3, "t": 1e3, "k": 1e-6}[u]
    if v >= 1e6:
        return v / 1e9
    st.note(f"line {line.no}: parameter count {fmt_num(v)} has no unit; read as billions")
    return v


def read_tokens(st: CardState, line: CardLine, v: float, rest: str) -> int:
    if re.match(r"\s*[kK](?![a-zA-Z])", rest):
        st.note(f"line {line.no}: '{fmt_num(v)}k' tokens read as {fmt_num(v)} x 1024")
        v *= 1024
    if v != int(v):
        raise st.error(line, f"workload: {fmt_num(v)} tokens is not a whole number")
    return int(v)


NUM_K = r"(\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?)\s*([kK](?![a-zA-Z]))?"


def read_prompt(st: CardState, line: CardLine) -> int | list[int]:
    """A fixed prompt length or a [lo, hi] range."""
    val = line.value
    m = (re.search(rf"\[\s*{NUM_K}\s*[,;]\s*{NUM_K}\s*\]", val)
         or re.search(rf"(?<![\w.]){NUM_K}\s*(?:~|–|—|-|to|\.\.\.?|…)\s*{NUM_K}", val)
         or re.search(rf"between\s+{NUM_K}\s+and\s+{NUM_K}", val, re.IGNORECASE))
    if m:
        lo = read_tokens(st, line, float(m.group(1).replace(",", "")), m.group(2) or "")
        hi = read_tokens(st, line, float(m.group(3).replace(",", "")), m.group(4) or "")
        if lo > hi:
            raise st.error(line, f"workload.prompt_tokens: the range {lo} to {hi} is reversed")
        return lo if lo == hi else [lo, hi]
    v, rest = need_number(st, line, "workload.prompt_tokens", "Sequence Length: 128 ~ 10240")
    return read_tokens(st, line, v, rest)
