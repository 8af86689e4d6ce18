"""Text helpers for hand-written cards and plans: numbers, ranges, products and parallel degrees.

Pure functions on strings; no field names of any card beyond the parallel degrees.

* :func:`words_to_digits` turns number words into digits ("six" -> "6", "a single" -> "1",
  "twenty-four" -> "24", "one hundred twenty-eight" -> "128"), so every other helper reads both.
* :func:`numbers` finds numbers with their k / M / B suffix and the text after them (the unit);
  "10,240" is one number, "FP16" and "H100" are none.
* :func:`find_range` reads "1k to 32k", "512-8192", "[128, 10240]", "128 ~ 10240",
  "between 128 and 10240".
* :func:`find_product` reads "8 x 8 x 2 x 8 = 1024", "EP x TP = 16 x 4 = 64", "a x b".
* :func:`read_degrees` reads a parallel layout in every shape people write (see its docstring);
  a degree it does not find is *not stated* (absent, ``None`` from :meth:`Degrees.get`), never 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["DEGREE_WORDS", "Degrees", "Number", "Product", "find_product", "find_range",
           "number_of", "numbers", "read_degrees", "degrees_in_text", "scale_suffix",
           "words_to_digits"]

# --------------------------------------------------------------------------------------------
# Numbers in words
# --------------------------------------------------------------------------------------------

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
          "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
          "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SPECIAL = {"a single": 1, "single": 1, "a pair of": 2, "a couple of": 2, "a dozen": 12,
            "dozen": 12, "both": 2}
_U = "|".join(sorted(_UNITS, key=len, reverse=True))
_T = "|".join(_TENS)
_BELOW_100 = rf"(?:(?:{_T})(?:[\s-]+(?:{_U}))?|{_U})"
_WORD_NUMBER_RE = re.compile(
    rf"\b(?:a\s+single|a\s+pair\s+of|a\s+couple\s+of|a\s+dozen|"
    rf"(?:(?:{_BELOW_100}|a|one)\s+hundred(?:\s+(?:and\s+)?{_BELOW_100})?)|{_BELOW_100})\b",
    re.IGNORECASE)


def _word_value(words: str) -> int:
    w = re.sub(r"\s+", " ", words.lower().replace("-", " ")).strip()
    if w in _SPECIAL:
        return _SPECIAL[w]
    total = 0
    if " hundred" in w:
        head, _, w = w.partition(" hundred")
        total = 100 * (1 if head in ("a", "one") else _word_value(head))
        w = w.replace("and", "").strip()
    for part in w.split():
        total += _TENS.get(part, _UNITS.get(part, 0))
    return total


def words_to_digits(text: str) -> str:
    """``text`` with number words written as digits: "selects six experts" -> "selects 6 experts".

    Zero to nineteen, the tens, their compounds ("sixty-four") and hundreds ("one hundred
    twenty-eight"), "a single" (1; "single-card" is left alone), "a pair of" / "a couple of" (2),
    "a dozen" (12).
    Word forms of "one" used as a pronoun are rare in cards; "a" alone is never a number.
    """
    return _WORD_NUMBER_RE.sub(lambda m: str(_word_value(m.group(0))), text)


# --------------------------------------------------------------------------------------------
# Numbers with suffixes and units
# --------------------------------------------------------------------------------------------

_NUM = r"(\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?)"
_NUMBER_RE = re.compile(rf"(?<![\w.]){_NUM}(?:\s?([kKMB])(?![A-Za-z]))?")


@dataclass(frozen=True)
class Number:
    value: float       # as written, before the suffix
    suffix: str        # "k", "M", "B" or ""
    start: int
    end: int           # after the suffix
    after: str         # the text after the number (where its unit is)


def scale_suffix(value: float, suffix: str, k: float = 1000.0) -> float:
    """``value`` times its suffix: k = ``k`` (1000, or 1024 for token counts), M = 1e6, B = 1e9."""
    return value * {"": 1.0, "k": k, "K": k, "M": 1e6, "B": 1e9}[suffix]


def numbers(text: str) -> list[Number]:
    """Every number in ``text`` (digits or words), with its k / M / B suffix and what follows."""
    out = []
    for m in _NUMBER_RE.finditer(text):
        out.append(Number(float(m.group(1).replace(",", "")), m.group(2) or "", m.start(),
                          m.end(), text[m.end():]))
    return out


def number_of(text: str, k: float = 1000.0) -> float | None:
    """The first number of ``text`` with its suffix applied; words read too ("six" -> 6)."""
    got = numbers(words_to_digits(text))
    return scale_suffix(got[0].value, got[0].suffix, k) if got else None


_RN = rf"{_NUM}\s*([kKM](?![A-Za-z]))?"
_RANGE_RES = [
    re.compile(rf"\[\s*{_RN}\s*[,;]\s*{_RN}\s*\]"),
    re.compile(rf"between\s+{_RN}\s+and\s+{_RN}", re.IGNORECASE),
    re.compile(rf"(?<![\w.]){_RN}\s*(?:~|–|—|-|to|\.\.\.?|…)\s*{_RN}", re.IGNORECASE),
]


def find_range(text: str, k: float = 1000.0) -> tuple[float, float, re.Match] | None:
    """``(lo, hi, match)`` of the first range in ``text`` ("1k to 32k" -> 1000, 32000 with
    ``k`` = 1000), or None. Reversed ranges are returned as written (the caller judges)."""
    for rx in _RANGE_RES:
        m = rx.search(text)
        if m:
            lo = scale_suffix(float(m.group(1).replace(",", "")), m.group(2) or "", k)
            hi = scale_suffix(float(m.group(3).replace(",", "")), m.group(4) or "", k)
            return lo, hi, m
    return None


# --------------------------------------------------------------------------------------------
# Products: "8 x 8 x 2 x 8 = 1024", "EP x TP = 16 x 4 = 64"
# --------------------------------------------------------------------------------------------

_X = r"\s*[x×*]\s*"
_FACTOR = r"\d+(?:\.\d+)?"
_NAME = r"[A-Za-z][A-Za-z_]*"
_PRODUCT_RE = re.compile(
    rf"(?:(?P<names>{_NAME}(?:{_X}{_NAME})+)\s*=\s*)?"
    rf"(?<![\w.])(?P<factors>{_FACTOR}(?:{_X}{_FACTOR})+)(?![\w.])"
    rf"(?:\s*=\s*(?P<total>\d[\d,]*(?:\.\d+)?))?")
_NAMES_ONLY_RE = re.compile(rf"(?<![\w])(?P<names>{_NAME}(?:{_X}{_NAME})+)(?![\w])")


@dataclass(frozen=True)
class Product:
    factors: tuple[float, ...]          # () for a product of names only ("a x b")
    names: tuple[str, ...]              # "EP x TP" -> ("EP", "TP"); () when not written
    total: float | None                 # the stated result after "=", None when not written
    start: int
    end: int

    @property
    def value(self) -> float | None:
        """The product of the factors (None for names only)."""
        if not self.factors:
            return None
        p = 1.0
        for f in self.factors:
            p *= f
        return p


def find_product(text: str) -> Product | None:
    """The first product in ``text``: numbers joined by x / × / *, with the names before them
    and the stated total after them when written; else a product of names ("a x b")."""
    m = _PRODUCT_RE.search(text)
    if m:
        factors = tuple(float(f) for f in re.split(_X, m.group("factors")))
        names = tuple(re.split(_X, m.group("names"))) if m.group("names") else ()
        if names and len(names) != len(factors):
            names = ()
        total = float(m.group("total").replace(",", "")) if m.group("total") else None
        return Product(factors, names, total, m.start(), m.end())
    m = _NAMES_ONLY_RE.search(text)
    if m and re.search(r"[x×*]", m.group("names")):
        parts = tuple(re.split(_X, m.group("names")))
        if all(len(p) <= 12 for p in parts) and not any(p.lower() == "x" for p in parts):
            return Product((), parts, None, m.start(), m.end())
    return None


# --------------------------------------------------------------------------------------------
# Parallel degrees
# --------------------------------------------------------------------------------------------

#: Degree name -> how people write it (longest first inside each; names tried in this order).
DEGREE_WORDS: dict[str, str] = {
    "etp": r"expert[\s_-]*tensor[\s_-]*parallel(?:ism)?|\betp|\bmoe[\s_-]*tp",
    "dp_attn": (r"attention[\s_-]*data[\s_-]*parallel(?:ism)?|data[\s_-]*parallel[\s_-]*attention"
                r"|attention[\s_-]*dp|\bdp[\s_-]*attn|\battn[\s_-]*dp|\bdp[\s_-]*attention"),
    "ep": r"expert[\s_-]*parallel(?:ism)?|\bep",
    "tp": r"tensor[\s_-]*(?:model[\s_-]*)?parallel(?:ism)?|\btp",
    "pp": r"pipeline[\s_-]*parallel(?:ism)?|pipeline[\s_-]*stages?|\bpp",
    "dp": r"data[\s_-]*parallel(?:ism)?|\bdp",
    "microbatches": r"micro[\s_-]*batch(?:es)?",
    "redundant_experts": r"redundant[\s_-]*experts?",
}
_ABBR = {"etp": "etp", "dp_attn": "dp_attn", "ep": "ep", "tp": "tp", "pp": "pp", "dp": "dp",
         "mb": "microbatches", "re": "redundant_experts"}
_NAME_RE = "|".join(f"(?P<{n}>{rx})" for n, rx in DEGREE_WORDS.items())
_D = r"(?P<v>\d+)"
_KEYED = re.compile(rf"(?:{_NAME_RE})(?:\s*\(\s*\w+\s*\))?\s*(?:degree|size|width|factor)?\s*"
                    rf"(?:[:=]|:=|\bis\b|\bof\b)\s*(?:a\s+)?{_D}(?![\d.])\s*(?:-?\s*way\b|x\b|×)?",
                    re.IGNORECASE)
_WAY_FIRST = re.compile(rf"(?<![\w.]){_D}\s*(?:-?\s*way|x|×)\s*(?:{_NAME_RE})(?![a-z])",
                        re.IGNORECASE)
_LONG_AFTER = re.compile(
    r"(?<![\w.])(?P<v>\d+)\s+(?:(?P<pp>pipeline[\s_-]*stages?)|(?P<tp>tensor[\s_-]*parallel\w*)"
    r"|(?P<ep>expert[\s_-]*parallel\w*)|(?P<dp>data[\s_-]*parallel\w*|(?:model\s+)?replicas?)"
    r"|(?P<microbatches>micro[\s_-]*batch(?:es)?))(?![a-z])", re.IGNORECASE)
_COMPACT_TOKEN = re.compile(r"(?<![A-Za-z0-9])(etp|dp_attn|ep|tp|pp|dp|mb|re)[_]?(\d+)(?![\d.])",
                            re.IGNORECASE)
_LABEL_RE = re.compile(r"(?<![\w-])(?:(?:etp|dp_attn|ep|tp|pp|dp|mb|re)[_]?\d+[-_,/ ]?){2,}"
                       r"(?![\w])", re.IGNORECASE)
_SINGLE_COMPACT = re.compile(r"(?<![A-Za-z0-9_-])(etp|ep|tp|pp|dp)(\d+)(?![\w.-])",
                             re.IGNORECASE)
_TOTAL_RE = re.compile(
    r"^\W*(?:(?:the\s+)?(?:number\s+of|num)\s+)?(?:total\s+)?"
    r"(?:gpus?|cards?|devices?|accelerators?|world[\s_-]*size)"
    r"(?:\s+(?:total|used|required|count))?\s*(?:[:=]|\bis\b)\s*"
    r"(?:[A-Za-z_×x* ]+=\s*)?(?:[\d.]+(?:\s*[x×*]\s*[\d.]+)+\s*=\s*)?"
    r"(?P<v>\d[\d,]*)(?![\d.])", re.IGNORECASE)
_GPUS_TOTAL_RE = re.compile(
    r"(?<![\w.])(?P<v>\d[\d,]*)\s*(?:gpus|cards|devices)\s+(?:in\s+)?total\b"
    r"|\btotal\s+of\s+(?P<v2>\d[\d,]*)\s*(?:gpus|cards|devices)\b", re.IGNORECASE)


def _name_of(m: re.Match) -> str:
    return next(n for n in DEGREE_WORDS if m.groupdict().get(n))


@dataclass
class Degrees:
    """Parallel degrees read from text: name -> (value, line number); absent = not stated."""

    values: dict[str, tuple[int, int]] = field(default_factory=dict)
    gpus: tuple[int, int] | None = None          # a stated GPU count (value, line)
    product: tuple[Product, int] | None = None   # a stated "EP x TP = ..." product (and line)
    conflicts: list[str] = field(default_factory=list)

    def get(self, name: str) -> int | None:
        """The stated degree, or None when the text does not state it (never a default 1)."""
        return self.values[name][0] if name in self.values else None

    def line_of(self, name: str) -> int | None:
        return self.values[name][1] if name in self.values else None

    def put(self, name: str, value: int, line: int) -> None:
        if name in self.values:
            old, where = self.values[name]
            if old != value:
                self.conflicts.append(f"line {line}: {name} = {value} disagrees with {name} = "
                                      f"{old} (line {where}); the first is kept")
            return
        self.values[name] = (value, line)

    def __bool__(self) -> bool:
        return bool(self.values)


def degrees_in_text(text: str, heading: str = "") -> list[tuple[str, int]]:
    """Every (degree name, value) stated in one line of text, in the order written.

    Shapes read: ``Tensor Parallelism (TP): 4-way``, ``Decision: EP = 16``, ``TP=4``,
    ``tp=4,ep=16``, ``TP size of 4``, ``8-way tensor parallelism``, ``4-way TP``, the tool's
    printed labels ``tp4-ep16`` / ``tp4-dp_attn2-ep8-mb2``, compact ``EP16-TP4-PP2`` /
    ``EP64_TP2`` / ``TP4``, the names of a product ``EP x TP x PP = 16 x 4 x 1 = 64``, and
    ``Degree: 8`` under a ``heading`` that names one parallelism ("### Tensor Parallelism").
    Number words are read ("eight-way").
    """
    t = words_to_digits(text)
    found: list[tuple[int, str, int]] = []     # (position, name, value)
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    def add(pos: int, end: int, name: str, value: int) -> None:
        if free(pos, end):
            found.append((pos, name, value))
            taken.append((pos, end))

    p = find_product(t)
    if p and p.names and p.factors:
        names = [_canonical(n) for n in p.names]
        if all(names):
            for n, f in zip(names, p.factors, strict=True):
                found.append((p.start, n, int(f)))
            taken.append((p.start, p.end))
    for m in _LABEL_RE.finditer(t):
        for tok in _COMPACT_TOKEN.finditer(m.group(0)):
            add(m.start() + tok.start(), m.start() + tok.end(), _ABBR[tok.group(1).lower()],
                int(tok.group(2)))
    for rx in (_KEYED, _WAY_FIRST, _LONG_AFTER):
        for m in rx.finditer(t):
            add(m.start(), m.end(), _name_of(m), int(m.group("v")))
    for m in _SINGLE_COMPACT.finditer(t):
        add(m.start(), m.end(), _ABBR[m.group(1).lower()], int(m.group(2)))
    if not found and heading:
        named = [n for n in DEGREE_WORDS if re.search(DEGREE_WORDS[n], heading, re.IGNORECASE)]
        m = re.match(r"\s*(?:degree|size|ways?|width|parallel(?:ism)?(?: degree)?)\s*[:=]\s*"
                     r"(\d+)(?![\d.])", t, re.IGNORECASE)
        if m and len(named) >= 1:
            found.append((0, named[0], int(m.group(1))))
    return [(n, v) for _, n, v in sorted(found, key=lambda x: x[0])]


def _canonical(name: str) -> str | None:
    for n, rx in DEGREE_WORDS.items():
        if re.fullmatch(rf"(?:{rx})", name.strip(), re.IGNORECASE):
            return n
    return None


def read_degrees(lines: Iterable[tuple[int, str, str]]) -> Degrees:
    """Read a layout from ``(line number, text, heading)`` triples (one section or a document).

    Every degree keeps the line it came from; a second, different value for the same degree is a
    conflict (reported, the first kept). A GPU count ("GPUs: 128", "Total GPUs = EP x TP = 8 x 8
    = 64") is kept apart in ``gpus``; a product with names and numbers also gives the degrees.
    Degrees that no line states stay absent: :meth:`Degrees.get` returns None, never 1.
    """
    out = Degrees()
    for no, text, heading in lines:
        t = words_to_digits(text)
        g = _TOTAL_RE.match(t) or _GPUS_TOTAL_RE.search(t)
        if g:
            gpus = int((g.group("v") or g.groupdict().get("v2")).replace(",", ""))
            if out.gpus is None:
                out.gpus = (gpus, no)
            elif out.gpus[0] != gpus:
                out.conflicts.append(f"line {no}: {gpus} GPUs disagrees with {out.gpus[0]} GPUs "
                                     f"(line {out.gpus[1]}); the first is kept")
        p = find_product(t)
        if p and p.factors and out.product is None and (p.names or p.total is not None):
            out.product = (p, no)
        for name, value in degrees_in_text(text, heading):
            out.put(name, value, no)
    return out
