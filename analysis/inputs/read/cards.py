"""Read a hand-written scenario card (markdown) into a plain scenario dict.

A card is a few sections of "Key: value" lines, written by hand::

    ## Environment Condition
    * **Single-card computing power**: 400TFlops.
    * **VRAM Bandwidth**: 1.8TBps.
    ...
    ## Model Configuration
    * **Layers**: 16-layer, Each layer includes Multi-head attention + Mixture of experts, ...

:func:`scenario_dict_from_card` returns ``(scenario_dict, assumptions)``; the dict has the shape
``analysis.loaders.scenario_from_dict`` consumes (name, source, hardware, model, workload,
requirements, and current_strategy / max_gpus when the card states them). Every default this
module fills in, and every reading of a loosely worded line, is recorded in ``assumptions``.

How a card is read:

* Sections are recognised by their heading (any level, ``**bold**`` or not): hardware
  (environment, GPU, cluster), model, input data / workload, requirements, and a current or
  recommended parallel strategy. A sub-heading with an unknown title inherits an input section
  (hardware, model, workload, requirements); anywhere else (a plan's "Expected Performance",
  "Resource Allocation", ...) it is ignored as a whole, since those are outputs, not inputs.
* Inside input sections a line is classified by its *key*, not by its section: a card may put
  the batch size under "Model Configuration".
* A known key whose value lacks a needed number (``Layers: many``) raises :class:`ParseError`
  with the line number; an unknown line is recorded as ``line N ignored: '...'``.
* Top-k is read from anywhere in the text ("Top-2 expert routing", "top-k: 2",
  "2 experts per token"); absent on an MoE card it is assumed to be 2.

Units: TFLOPS = 1e12 FLOP/s (PFLOPS, GFLOPS scaled), GB = 1e9 B and GiB = 2**30 B (kept apart:
GiB is converted to GB, never read as GB), TB/s = 1e12 B/s ("TBps" alike), times in s / ms / us,
throughput in tokens/ms or tokens/s (converted to tokens/ms).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.read.markdown import Section, split
from analysis.inputs.types import COMPUTE_PEAK_KEY, normalise_precision

__all__ = ["scenario_dict_from_card"]

CARD_NEEDS = ("a scenario card needs at least a hardware section (computing power, memory "
              "capacity, memory bandwidth) and a model section (layers, token dimension, "
              "attention heads, and experts with their hidden size or an MLP hidden size), "
              "as '## Heading' followed by 'Key: value' lines")

DEFAULT_TOP_K = 2
DEFAULT_MFU = 0.6
DEFAULT_BANDWIDTH_UTILIZATION = 0.8
DEFAULT_PRECISION = "bf16"

_INPUT_KINDS = ("hardware", "model", "workload", "requirements", "preamble")

# --------------------------------------------------------------------------------------------
# Numbers and units
# --------------------------------------------------------------------------------------------

_NUM_RE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?)")
_NONE_RE = re.compile(r"^\s*(none|n/?a|nil|null|no|not (?:required|specified|given|stated)"
                      r"|unspecified|no (?:requirement|target|limit)s?|unlimited|-+|—|∞)"
                      r"\s*\.?\s*$", re.IGNORECASE)


def _numbers(s: str) -> list[tuple[float, int, int]]:
    """Every number in ``s`` as (value, start, end); "10,240" is one number, "FP16" none."""
    return [(float(m.group(1).replace(",", "")), m.start(1), m.end(1)) for m in _NUM_RE.finditer(s)]


def _first(s: str) -> tuple[float, str] | None:
    """First number in ``s`` and the text right after it (where its unit is)."""
    nums = _numbers(s)
    if not nums:
        return None
    v, _, end = nums[0]
    return v, s[end:]


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass
class _Line:
    no: int            # 1-based line number in the card
    raw: str           # the line as written
    text: str          # without bullets, bold markers, backticks
    key: str | None    # lower-case key, None for free text
    value: str         # the value (or the whole text for free text)
    kind: str          # section kind: hardware, model, workload, requirements, preamble,
    #                    strategy, other
    heading: str       # title of the section the line sits in


@dataclass
class _State:
    path: str
    facts: dict[str, tuple[object, _Line]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    notes_seen: set[str] = field(default_factory=set)
    flags: dict[str, _Line] = field(default_factory=dict)
    strategy: dict[str, tuple[int, _Line]] = field(default_factory=dict)
    strategy_total: tuple[int, _Line] | None = None
    top_k: list[tuple[int, _Line, bool]] = field(default_factory=list)  # (k, line, from key)
    kinds_seen: set[str] = field(default_factory=set)
    strategy_headings: list[str] = field(default_factory=list)
    ignored_sections: list[str] = field(default_factory=list)

    def error(self, line: _Line, why: str) -> ParseError:
        return ParseError(self.path, why, line=line.no, text=line.raw)

    def note(self, text: str) -> None:
        if text not in self.notes_seen:      # a set: reading stays linear in the card's size
            self.notes_seen.add(text)
            self.notes.append(text)

    def set(self, name: str, value: object, line: _Line) -> None:
        """Record a fact; a later, different value for the same fact is noted and dropped."""
        if name in self.facts:
            old, where = self.facts[name]
            if old != value:
                self.note(f"line {line.no}: {name} restated as {value!r}; the first value "
                          f"{old!r} (line {where.no}) is kept")
            return
        self.facts[name] = (value, line)

    def get(self, name: str, default: object = None) -> object:
        return self.facts[name][0] if name in self.facts else default

    def line_of(self, name: str) -> _Line | None:
        return self.facts[name][1] if name in self.facts else None


def _need_number(st: _State, line: _Line, field_name: str, example: str,
                 integer: bool = False) -> tuple[float, str]:
    """The first number on a line that must have one, else ParseError naming the field."""
    got = _first(line.value)
    if got is None:
        raise st.error(line, f"{field_name}: no number in {line.value.strip()!r} "
                             f"(write e.g. {example!r})")
    if integer and got[0] != int(got[0]):
        raise st.error(line, f"{field_name}: {_fmt(got[0])} is not a whole number "
                             f"(write e.g. {example!r})")
    return got


# --------------------------------------------------------------------------------------------
# Value readers (one per kind of quantity)
# --------------------------------------------------------------------------------------------

def _read_flops(st: _State, line: _Line) -> float:
    """Peak compute in TFLOPS."""
    v, rest = _need_number(st, line, "hardware.peak_TFLOPS", "Computing power: 400 TFLOPS")
    m = re.match(r"\s*([ptg])\s*(?:flop|ops\b|/s|$|\W)", rest, re.IGNORECASE)
    scale = {"p": 1000.0, "t": 1.0, "g": 1e-3}
    if m:
        tflops = v * scale[m.group(1).lower()]
    elif re.match(r"\s*flop", rest, re.IGNORECASE):
        tflops = v / 1e12
    else:
        tflops = v
        st.note(f"line {line.no}: computing power {_fmt(v)} has no unit; read as TFLOPS")
    if re.search(r"sparse|sparsity|2:4", line.value, re.IGNORECASE):
        tflops /= 2
        st.note(f"line {line.no}: computing power is a 2:4-sparse figure; halved to the dense "
                f"peak {_fmt(tflops)} TFLOPS")
    return tflops


def _read_bytes_gb(st: _State, line: _Line) -> float:
    """A memory capacity in GB (1e9 B); GiB (2**30 B) is converted, never read as GB."""
    v, rest = _need_number(st, line, "hardware.hbm_capacity_GB", "Memory capacity: 64 GB")
    m = re.match(r"\s*([kKmMgGtT])(i)?(b|B|bytes?)?(?![a-zA-Z])", rest)
    if not m:
        st.note(f"line {line.no}: memory capacity {_fmt(v)} has no unit; read as GB")
        return v
    prefix, binary, b = m.group(1).lower(), bool(m.group(2)), m.group(3)
    if binary:
        gb = _prefixed_bytes(v, prefix, binary) / 1e9
        st.note(f"line {line.no}: {_fmt(v)} {prefix.upper()}iB = {gb:.6g} GB (GiB = 2^30 B, "
                f"GB = 1e9 B)")
        return gb
    if not b:
        st.note(f"line {line.no}: '{_fmt(v)}{m.group(1)}' read as {_fmt(v)} "
                f"{prefix.upper()}B (decimal)")
    return _prefixed_bytes(v, prefix, binary) / 1e9


def _prefixed_bytes(value: float, prefix: str, binary: bool) -> float:
    """Bytes in ``value`` k/M/G/T-bytes: powers of 1024 when ``binary`` (KiB, GiB), else 1000."""
    power = {"k": 1, "m": 2, "g": 3, "t": 4}[prefix.lower()]
    return value * (2 ** (10 * power) if binary else 10 ** (3 * power))


def _read_bandwidth_tbs(st: _State, line: _Line) -> float:
    """A memory bandwidth in TB/s (1e12 B/s); TiB/s and GB/s converted."""
    v, rest = _need_number(st, line, "hardware.hbm_bandwidth_TB_per_s", "Bandwidth: 1.8 TB/s")
    m = re.match(r"\s*([kKmMgGtT])(i)?(?:b|B|bytes?)\s*(ps|/\s*s(?:ec)?|\s*per\s+s)?", rest)
    if not m:
        unit = "TB/s" if v < 100 else "GB/s"
        st.note(f"line {line.no}: memory bandwidth {_fmt(v)} has no unit; read as {unit}")
        return v if unit == "TB/s" else v / 1000
    prefix, binary = m.group(1).lower(), bool(m.group(2))
    if binary:
        tbs = _prefixed_bytes(v, prefix, binary) / 1e12
        st.note(f"line {line.no}: {_fmt(v)} {prefix.upper()}iB/s = {tbs:.6g} TB/s "
                f"(TiB = 2^40 B, TB = 1e12 B)")
        return tbs
    if not m.group(3):
        st.note(f"line {line.no}: memory bandwidth '{_fmt(v)} {prefix.upper()}B' read as "
                f"{prefix.upper()}B/s")
    return _prefixed_bytes(v, prefix, binary) / 1e12


def _read_fraction(st: _State, line: _Line, field_name: str) -> float:
    v, rest = _need_number(st, line, field_name, f"{line.key or field_name}: 60%")
    if rest.lstrip().startswith("%"):
        return v / 100
    if v <= 1:
        return v
    if v <= 100:
        st.note(f"line {line.no}: {field_name} {_fmt(v)} read as {_fmt(v)}%")
        return v / 100
    raise st.error(line, f"{field_name}: {_fmt(v)} is not a fraction or a percentage "
                         f"(write e.g. '60%')")


_TIME_UNITS = [(r"ms|msecs?|milliseconds?", 1e-3), (r"µs|μs|us|usecs?|microseconds?", 1e-6),
               (r"s|secs?|seconds?", 1.0), (r"mins?|minutes?", 60.0)]


def _read_time_s(st: _State, line: _Line, field_name: str) -> float | None:
    """A time in seconds, or None for "None" / "N/A" / "-" (no target)."""
    if _NONE_RE.match(line.value) or (_first(line.value) is None
                                      and re.search(r"\bnone\b|not required|no requirement",
                                                    line.value, re.IGNORECASE)):
        return None
    v, rest = _need_number(st, line, field_name, f"{line.key}: 10 s")
    for pattern, scale in _TIME_UNITS:
        if re.match(rf"\s*(?:{pattern})(?![a-zA-Z])", rest, re.IGNORECASE):
            return v * scale
    for pattern, scale in _TIME_UNITS:  # unit in the key: "TTFT (ms): 500"
        if re.search(rf"[(\[]\s*(?:{pattern})\s*[)\]]", line.key or "", re.IGNORECASE):
            return v * scale
    st.note(f"line {line.no}: {field_name} {_fmt(v)} has no time unit; read as seconds")
    return v


_THROUGHPUT_RE = re.compile(
    r"(?:tokens?|toks?|tkns?)\s*(?:/|per)\s*(?:gpu\s*(?:/|per)\s*)?"
    r"(ms|msecs?|milliseconds?|s|secs?|seconds?)(?![a-zA-Z])", re.IGNORECASE)


def _read_throughput_per_ms(st: _State, line: _Line) -> float | None:
    """Throughput in tokens per ms per GPU, or None for no target."""
    if _NONE_RE.match(line.value):
        return None
    v, rest = _need_number(st, line, "requirements.throughput_tokens_per_ms_per_gpu",
                           "Throughput per GPU: 100 tokens/ms")
    km = re.match(r"\s*([kK])(?![a-zA-Z])", rest)
    if km:
        v *= 1000
    m = _THROUGHPUT_RE.search(line.value) or _THROUGHPUT_RE.search(line.key or "")
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
        st.note(f"line {line.no}: throughput {_fmt(v)} tokens/s = {per_ms:g} tokens/ms")
    if not re.search(r"gpu|card|device|chip", (line.key or "") + " " + line.value, re.IGNORECASE):
        st.note(f"line {line.no}: throughput read as per GPU (the line does not say per what)")
    return per_ms


def _read_params_b(st: _State, line: _Line) -> float | None:
    """A parameter count in billions, or None (noted) when unreadable: it is only a check."""
    got = _first(line.value)
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
    st.note(f"line {line.no}: parameter count {_fmt(v)} has no unit; read as billions")
    return v


def _read_tokens(st: _State, line: _Line, v: float, rest: str) -> int:
    if re.match(r"\s*[kK](?![a-zA-Z])", rest):
        st.note(f"line {line.no}: '{_fmt(v)}k' tokens read as {_fmt(v)} x 1024")
        v *= 1024
    if v != int(v):
        raise st.error(line, f"workload: {_fmt(v)} tokens is not a whole number")
    return int(v)


_N = r"(\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?)\s*([kK](?![a-zA-Z]))?"


def _read_prompt(st: _State, line: _Line) -> int | list[int]:
    """A fixed prompt length or a [lo, hi] range."""
    val = line.value
    m = (re.search(rf"\[\s*{_N}\s*[,;]\s*{_N}\s*\]", val)
         or re.search(rf"(?<![\w.]){_N}\s*(?:~|–|—|-|to|\.\.\.?|…)\s*{_N}", val)
         or re.search(rf"between\s+{_N}\s+and\s+{_N}", val, re.IGNORECASE))
    if m:
        lo = _read_tokens(st, line, float(m.group(1).replace(",", "")), m.group(2) or "")
        hi = _read_tokens(st, line, float(m.group(3).replace(",", "")), m.group(4) or "")
        if lo > hi:
            raise st.error(line, f"workload.prompt_tokens: the range {lo} to {hi} is reversed")
        return lo if lo == hi else [lo, hi]
    v, rest = _need_number(st, line, "workload.prompt_tokens", "Sequence Length: 128 ~ 10240")
    return _read_tokens(st, line, v, rest)


# --------------------------------------------------------------------------------------------
# Line classification
# --------------------------------------------------------------------------------------------

_TOPK_TEXT = [
    re.compile(r"\btop[-_\s]?k\s*(?:=|:|is|of)?\s*(\d+)", re.IGNORECASE),
    re.compile(r"\btop[-_\s]?(\d+)(?![\d%.])", re.IGNORECASE),
    re.compile(r"(\d+)\s+(?:routed\s+)?experts?\s+(?:are\s+)?(?:activated\s+|active\s+|selected\s+"
               r"|chosen\s+|used\s+|routed\s+)?(?:per|for each|for every|each)\s+token",
               re.IGNORECASE),
    re.compile(r"(\d+)\s+(?:active|activated|selected)\s+experts", re.IGNORECASE),
    re.compile(r"activates?\s+(\d+)\s+experts", re.IGNORECASE),
]
_EXPERTS_TEXT = re.compile(
    r"(?<![\w.])(\d+)[\s-]*(?:routed\s+)?experts?\b"
    r"(?!\s+(?:are\s+)?(?:activated\s+|active\s+|selected\s+|chosen\s+|used\s+)?"
    r"(?:per|for each|for every|each)\s+token)", re.IGNORECASE)
_MOE_WORDS = re.compile(r"mixture[\s-]+of[\s-]+experts?|\bmoe\b|\bexperts?\b", re.IGNORECASE)
_DENSE_WORDS = re.compile(r"\bmlp\b|\bffn\b|\bdense\b|feed[\s-]?forward", re.IGNORECASE)


def _scan_top_k(st: _State, line: _Line, from_key: bool = False) -> bool:
    text = line.value if from_key else line.text
    for rx in _TOPK_TEXT:
        m = rx.search(text)
        if m:
            st.top_k.append((int(m.group(1)), line, from_key))
            return True
    return False


def _scan_experts(st: _State, line: _Line, text: str) -> bool:
    """Experts named inside another line ("Each layer has 64 experts")."""
    for m in _EXPERTS_TEXT.finditer(text):
        before = text[max(0, m.start() - 5):m.start()].lower()
        if "top" in before:
            continue
        st.set("num_experts", int(m.group(1)), line)
        return True
    return False


def _architecture_words(st: _State, line: _Line, text: str) -> None:
    """Dense / MoE / MHA / MQA / MLA words on a Layers or architecture line."""
    if _MOE_WORDS.search(text):
        st.flags.setdefault("moe", line)
    elif _DENSE_WORDS.search(text):
        st.flags.setdefault("dense", line)
    _attention_words(st, line, text)


def _attention_words(st: _State, line: _Line, text: str) -> None:
    if re.search(r"multi[\s-]?latent|\bmla\b", text, re.IGNORECASE):
        raise st.error(line, "model.attention: multi-head latent attention (MLA) cannot be "
                             "described in a card; give the model as YAML instead")
    if re.search(r"multi[\s-]?query|\bmqa\b", text, re.IGNORECASE):
        st.flags.setdefault("mqa", line)
    elif re.search(r"grouped[\s-]?query|\bgqa\b", text, re.IGNORECASE):
        st.flags.setdefault("gqa", line)
    elif re.search(r"multi[\s-]?head[\s-]?attention|\bmha\b", text, re.IGNORECASE):
        st.flags.setdefault("mha", line)


def _handle_attention(st: _State, line: _Line) -> None:
    key, val = line.key or "", line.value
    _attention_words(st, line, key + " " + val)
    read = False
    m = re.search(r"(?<![\w.])(\d+)\s*[x×*]\s*(\d+)(?![\w.])", val)
    if m:
        st.set("num_heads", int(m.group(1)), line)
        st.set("head_dim", int(m.group(2)), line)
        st.note(f"line {line.no}: '{m.group(0)}' read as {m.group(1)} heads of dimension "
                f"{m.group(2)}")
        read = True
    kv = (re.search(r"(\d+)\s*(?:kv|key[\s-]*value)\s*(?:heads|groups)", val, re.IGNORECASE)
          or re.search(r"(?:kv|key[\s-]*value)\s*heads\D{0,12}?(\d+)", val, re.IGNORECASE))
    if kv:
        st.set("num_kv_heads", int(kv.group(1)), line)
        read = True
    heads = (re.search(r"number of (?:attention |query |q )?heads\s*(?:is|=|:|of)?\s*(\d+)",
                       val, re.IGNORECASE)
             or re.search(r"(\d+)\s*(?:attention\s+|query\s+|q\s+)?heads\b", val, re.IGNORECASE))
    if heads and not m:
        st.set("num_heads", int(heads.group(1)), line)
        read = True
    hd = (re.search(r"dimension of (?:each|every|one|a)\s+heads?\s*(?:is|=|:|of)?\s*(\d+)", val,
                    re.IGNORECASE)
          or re.search(r"head[\s_-]*dim(?:ension)?s?\s*(?:is|=|:|of)?\s*(\d+)", val, re.IGNORECASE)
          or re.search(r"(\d+)\s*(?:dims?|dimensions?)?\s*(?:per|each)\s+head", val, re.IGNORECASE))
    if hd and not m:
        st.set("head_dim", int(hd.group(1)), line)
        read = True
    if read:
        return
    if re.search(r"kv|key[\s-]*value|groups", key):
        v, _ = _need_number(st, line, "model.attention.num_kv_heads", "KV heads: 8", True)
        st.set("num_kv_heads", int(v), line)
    elif re.search(r"head[\s_-]*dim|dimension of (?:each|a|one) head|per head", key):
        v, _ = _need_number(st, line, "model.attention.head_dim", "Head dim: 128", True)
        st.set("head_dim", int(v), line)
    elif re.search(r"heads", key):
        v, _ = _need_number(st, line, "model.attention.num_heads", "Attention heads: 16", True)
        st.set("num_heads", int(v), line)
    elif _first(val) is not None:
        raise st.error(line, "model.attention: cannot tell heads from head dimension; write "
                             "e.g. 'Attention Heads: 16 x 32' (16 heads of dimension 32)")
    elif not any(f in st.flags and st.flags[f] is line for f in ("mha", "gqa", "mqa")):
        st.note(f"line {line.no} ignored: {line.text.strip()!r}")


def _handle_ffn(st: _State, line: _Line, dense_key: bool) -> None:
    key, val = line.key or "", line.value
    v, _ = _need_number(st, line, "model.expert_intermediate_size",
                        "MoE Hidden Size: 1024", integer=True)
    val_dense = bool(_DENSE_WORDS.search(val)) and not _MOE_WORDS.search(val)
    val_moe = bool(_MOE_WORDS.search(val))
    key_moe = bool(re.search(r"moe|expert", key))
    if dense_key:
        st.set("dense_intermediate_size", int(v), line)
    elif val_dense or (not val_moe and not key_moe):
        st.set("ffn_width_dense", int(v), line)
        st.flags.setdefault("ffn_dense", line)
        if key_moe:
            st.note(f"line {line.no}: the key says MoE but the value says "
                    f"'{_DENSE_WORDS.search(val).group(0)}': read as the dense MLP width")
    else:
        st.set("ffn_width_moe", int(v), line)
        st.flags.setdefault("ffn_moe", line)


def _handle_gpus(st: _State, line: _Line) -> None:
    val = line.value
    if re.search(r"no\s+limit|unlimited|ample|plenty|any number|as many|unbounded|enough",
                 val, re.IGNORECASE) or _NONE_RE.match(val):
        st.set("gpus_unlimited", True, line)
        return
    m = re.match(r"\s*(?:up to|at most|max(?:imum)?|<=|≤|~)?\s*(\d[\d,]*)(?![\w.])", val,
                 re.IGNORECASE)
    if m:
        st.set("max_gpus", int(m.group(1).replace(",", "")), line)
        return
    if _first(val) is None and re.search(r"[A-Za-z]", val):
        st.set("gpu_name", val.strip().rstrip("."), line)
        return
    st.note(f"line {line.no} ignored: {line.text.strip()!r} (GPU count not understood)")


def _handle_input_line(st: _State, line: _Line) -> None:
    """One "Key: value" line of an input section (hardware, model, workload, requirements)."""
    k, val = line.key or "", line.value
    # requirements first: "Time per output token" must not read as an output length
    if re.search(r"ttft|time to (?:the )?first token|first[\s-]token latency", k):
        t = _read_time_s(st, line, "requirements.ttft_s")
        st.set("ttft_s", t, line)
    elif re.search(r"tpot|time per output token|inter[\s-]?token|\bitl\b|per[\s-]token latency",
                   k):
        t = _read_time_s(st, line, "requirements.tpot_s")
        st.set("tpot_s", t, line)
    elif re.search(r"throughput|\btps\b", k):
        st.set("throughput_per_ms", _read_throughput_per_ms(st, line), line)
    # hardware
    elif re.search(r"\bmfu\b|flops util|compute util|model flops", k):
        st.set("mfu", _read_fraction(st, line, "hardware.mfu"), line)
    elif re.search(r"(?:bandwidth|\bbw\b|\bmbu\b).*util|\bmbu\b", k):
        st.set("bandwidth_utilization",
               _read_fraction(st, line, "hardware.bandwidth_utilization"), line)
    elif re.search(r"comput|flops|\bpeak\b|\btops\b", k):
        st.set("peak_tflops", _read_flops(st, line), line)
    elif re.search(r"bandwidth|\bbw\b", k):
        if re.search(r"nvlink|interconnect|network|infiniband|\bib\b|pcie|scale|inter[\s-]?node"
                     r"|intra[\s-]?node|link|ethernet|rdma", k):
            st.note(f"line {line.no} ignored: {line.text.strip()!r} (interconnect bandwidth is "
                    f"not read from cards; the hardware defaults apply)")
        else:
            st.set("hbm_bandwidth_tbs", _read_bandwidth_tbs(st, line), line)
    elif re.search(r"vram|video memory|memory|\bhbm\b|gpu mem|capacity", k):
        st.set("hbm_capacity_gb", _read_bytes_gb(st, line), line)
    elif re.search(r"^(?:number of |num(?:ber)? ?|max(?:imum)? |total |available |the )?"
                   r"(?:gpus?|cards?|accelerators?|devices?)(?: count| budget| limit"
                   r"| available| number| type| model| name)?$", k):
        _handle_gpus(st, line)
    # model
    elif re.search(r"top[-_\s]?k|experts? per token|active experts|activated experts"
                   r"|experts? activated|routing", k):
        if not _scan_top_k(st, line, from_key=True):
            got = _first(val)
            if got is None:
                raise st.error(line, "model.top_k: no number (write e.g. 'Top-k: 2')")
            st.top_k.append((int(got[0]), line, True))
    elif re.search(r"shared experts?", k) and not re.search(r"size|dim|width|hidden", k):
        got = _first(val)
        if got and got[0] > 0:
            st.note(f"line {line.no}: {_fmt(got[0])} shared experts stated; cards carry routed "
                    f"experts only, so shared experts are NOT counted")
    elif (re.search(r"moe|expert|mlp|ffn|feed[\s-]?forward|dense", k)
          and re.search(r"hidden|size|dim|width|intermediate", k)) or "intermediate" in k:
        _handle_ffn(st, line, dense_key=bool(re.search(r"dense", k)
                                             and not re.search(r"moe|expert", k)))
    elif re.search(r"dense layers?|first .*dense|leading dense", k):
        v, _ = _need_number(st, line, "model.num_dense_layers", "Dense layers: 1", True)
        st.set("num_dense_layers", int(v), line)
    elif re.search(r"expert", k):
        got = _first(val)
        if got is None:
            if re.search(r"^\s*(none|no|0)\b", val, re.IGNORECASE):
                st.set("num_experts", 0, line)
            else:
                raise st.error(line, "model.num_experts: no number (write e.g. 'Experts per "
                                     "Layer: 16')")
        else:
            v, _ = _need_number(st, line, "model.num_experts", "Experts per Layer: 16", True)
            st.set("num_experts", int(v), line)
        _scan_top_k(st, line)
    elif re.search(r"head|attention|\bmha\b|\bgqa\b|\bmqa\b", k):
        _handle_attention(st, line)
    elif (re.search(r"token dim|dimension of (?:each )?token|hidden|d_?model|model dim"
                    r"|embedding (?:size|dim)|\bdim(?:ension)?$|width", k)
          and not re.search(r"layer", k)):
        v, _ = _need_number(st, line, "model.hidden_size", "Token Dimension: 512", integer=True)
        st.set("hidden_size", int(v), line)
    elif re.search(r"layers?|depth|blocks", k):
        v, _ = _need_number(st, line, "model.num_layers", "Layers: 16", integer=True)
        st.set("num_layers", int(v), line)
        rest = val[val.find(re.search(r"\d", val).group(0)) + 1:] if re.search(r"\d", val) else ""
        _scan_experts(st, line, rest)
        _scan_top_k(st, line)
        _architecture_words(st, line, val)
    elif re.search(r"architecture|structure|^type$|model type|block", k):
        _scan_experts(st, line, val)
        _scan_top_k(st, line)
        _architecture_words(st, line, val)
    elif re.search(r"precision|dtype|data ?type|quanti[sz]", k):
        m = re.search(r"\b(?:mx|nv)?fp\d+\b|\bbf16\b|\bint\d+\b|\bfloat\d+\b|\bbfloat16\b"
                      r"|\bhalf\b|\be[45]m[23]\b|\bw4a16\b", val, re.IGNORECASE)
        if not m:
            raise st.error(line, "model.precision: not a precision (write e.g. 'Precision: FP16';"
                                 " known: fp32, bf16, fp16, fp8, int8, fp4, int4, mxfp4)")
        try:
            st.set("precision", normalise_precision(m.group(0)), line)
        except InputError as e:
            raise st.error(line, f"model.precision: {e}") from None
    elif re.search(r"weights|param", k):
        p = _read_params_b(st, line)
        if p is not None:
            if re.search(r"activ", k):
                st.note(f"line {line.no}: {_fmt(p)}B active parameters noted (not carried)")
            else:
                st.set("declared_total_params_B", p, line)
    elif re.search(r"vocab", k):
        v, _ = _need_number(st, line, "model.vocab_size", "Vocabulary: 32000", integer=True)
        st.set("vocab_size", int(v), line)
    elif re.search(r"^(?:model(?: name)?|name)$", k):
        st.set("model_name", val.strip().rstrip("."), line)
    # workload
    elif re.search(r"batch", k):
        v, _ = _need_number(st, line, "workload.batch_sequences", "Batch size: 128", True)
        st.set("batch_sequences", int(v), line)
    elif re.search(r"output|generat|decode len|\bosl\b|new tokens", k):
        v, rest = _need_number(st, line, "workload.output_tokens", "Output length: 256")
        st.set("output_tokens", _read_tokens(st, line, v, rest), line)
    elif re.search(r"seq(?:uence)?[\s_-]*len|prompt|input[\s_-]*(?:len|tokens)|context[\s_-]*len"
                   r"|\bisl\b|sequence", k):
        st.set("prompt_tokens", _read_prompt(st, line), line)
    else:
        if not _scan_top_k(st, line):
            st.note(f"line {line.no} ignored: {line.text.strip()!r}")


def _handle_free_text(st: _State, line: _Line) -> None:
    """A line of an input section with no key ("Each layer has 64 experts")."""
    got = _scan_top_k(st, line)
    got = _scan_experts(st, line, line.text) or got
    if not got:
        st.note(f"line {line.no} ignored: {line.text.strip()!r}")


_STRATEGY_KEYS = [
    ("microbatches", r"micro[\s-]*batch"),
    ("redundant_experts", r"redundant"),
    ("etp", r"expert[\s-]*tensor|\betp\b"),
    ("dp_attn", r"attention[\s-]*(?:data|dp)|dp[\s_-]*attn|\battn[\s_-]*dp"),
    ("ep", r"expert[\s-]*parallel|\(ep\)|^ep\b"),
    ("tp", r"tensor[\s-]*parallel|\(tp\)|^tp\b"),
    ("pp", r"pipeline[\s-]*parallel|\(pp\)|^pp\b"),
    ("dp", r"data[\s-]*parallel|\(dp\)|^dp\b"),
]


def _handle_strategy_line(st: _State, line: _Line) -> None:
    k = line.key or ""
    several = re.findall(r"\b(etp|ep|tp|pp|dp)\s*[=:]\s*(\d+)\b", line.text, re.IGNORECASE)
    if len(several) >= 2:   # "tp=4, ep=16, pp=1"
        for name, v in several:
            st.strategy.setdefault(name.lower(), (int(v), line))
        return
    if line.key is not None:
        if re.search(r"total|gpus?\b|world size", k):
            got = _first(line.value)
            if got:
                st.strategy_total = (int(got[0]), line)
                return
        for name, rx in _STRATEGY_KEYS:
            if re.search(rx, k):
                v, _ = _need_number(st, line, f"current_strategy.{name}",
                                    f"{line.key}: 8-way", integer=True)
                if name in st.strategy and st.strategy[name][0] != int(v):
                    st.note(f"line {line.no}: {name} restated as {int(v)}; the first value "
                            f"{st.strategy[name][0]} (line {st.strategy[name][1].no}) is kept")
                st.strategy.setdefault(name, (int(v), line))
                return
    found = re.findall(r"\b(etp|ep|tp|pp|dp)\s*[=:]?\s*(\d+)\b", line.text, re.IGNORECASE)
    if found:
        for name, v in found:
            st.strategy.setdefault(name.lower(), (int(v), line))
        return
    if not _scan_top_k(st, line):
        st.note(f"line {line.no} ignored: {line.text.strip()!r}")


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

def _section_kind(title: str) -> str | None:
    t = title.lower()
    if re.search(r"parallel(?:ism)?\s+(?:strateg|layout|config|plan|scheme)"
                 r"|strateg(?:y|ies)\s+(?:composition|layout)"
                 r"|(?:current|recommended|existing|deployed|proposed)\s+(?:\w+\s+)?"
                 r"(?:strateg|layout|parallel)|^\W*(?:parallelism|layout|sharding)\W*$", t):
        return "strategy"
    if re.search(r"requirement|\bslos?\b|\bslas?\b|\btargets?\b|constraints?\b", t):
        return "requirements"
    if re.search(r"\bmodel\b|architecture|network config", t):
        return "model"
    if re.search(r"\binput\b|workload|traffic|requests?\b|\bdata\b|serving|batch", t):
        return "workload"
    if re.search(r"hardware|environment|\bgpus?\b|cluster|machine|device|system|accelerator"
                 r"|infrastructure|compute resources?", t):
        return "hardware"
    return None


def _slug(path: str) -> str:
    base = os.path.basename(path)
    base = re.sub(r"\.(md|markdown|txt)$", "", base, flags=re.IGNORECASE)
    s = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    return s or "card"


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------

def scenario_dict_from_card(text: str, path: str = "<card>") -> tuple[dict, list[str]]:
    """Read a scenario card into ``(scenario dict, assumptions)``.

    Raises :class:`ParseError` (with the 1-based line number when one line is at fault) for an
    empty or non-card text, a missing hardware or model section, a needed number that is not
    there (``Layers: many``), or a missing essential field.
    """
    if not isinstance(text, str) or not text.strip():
        raise ParseError(path, f"empty card: {CARD_NEEDS}")
    st = _State(path)
    headings: list[tuple[int, str]] = []   # stack of (level, kind)
    kind, title = "preamble", ""
    other_start: tuple[str, int] | None = None
    doc = split(text, pseudo_heading=lambda t: _section_kind(t) is not None)
    for ev in doc.events():
        if isinstance(ev, Section):
            no, level, htitle = ev.no, ev.level, ev.title
            if other_start:
                st.ignored_sections.append(f"'{other_start[0]}' (line {other_start[1]})")
                other_start = None
            while headings and headings[-1][0] >= level:
                headings.pop()
            parent = headings[-1][1] if headings else None
            k = _section_kind(htitle)
            if level == 1 and re.search(r"\bplan\b|\bcard\b|\bscenario\b", htitle, re.IGNORECASE):
                k = "preamble"      # a document title, not a section
            if k is None:
                k = parent if parent in _INPUT_KINDS and parent != "preamble" else "other"
            if k in ("hardware", "model", "workload", "requirements", "strategy"):
                st.kinds_seen.add(k)
            if k == "strategy":
                st.strategy_headings.append(htitle)
            headings.append((level, k))
            kind, title = k, htitle
            if k == "other":
                other_start = (htitle, no)
            continue
        key, value = ev.key, ev.value
        line = _Line(ev.no, ev.raw, ev.text, key.lower().strip() if key else None, value, kind,
                     title)
        if kind == "other":
            _scan_top_k(st, line)   # top-k is read wherever it is stated
        elif key == "":
            continue
        elif kind == "strategy":
            _handle_strategy_line(st, line)
        elif key is None:
            _handle_free_text(st, line)
        else:
            _handle_input_line(st, line)
    if other_start:
        st.ignored_sections.append(f"'{other_start[0]}' (line {other_start[1]})")
    return _build(st, path)


_HARDWARE_FACTS = ("peak_tflops", "hbm_capacity_gb", "hbm_bandwidth_tbs", "mfu",
                   "bandwidth_utilization", "gpu_name", "max_gpus", "gpus_unlimited")
_MODEL_FACTS = ("num_layers", "hidden_size", "num_heads", "head_dim", "num_kv_heads",
                "num_experts", "ffn_width_moe", "ffn_width_dense", "precision",
                "declared_total_params_B", "vocab_size", "model_name")


def _build(st: _State, path: str) -> tuple[dict, list[str]]:
    assumptions: list[str] = []
    say = assumptions.append
    has_hw = "hardware" in st.kinds_seen or any(f in st.facts for f in _HARDWARE_FACTS)
    has_model = "model" in st.kinds_seen or any(f in st.facts for f in _MODEL_FACTS)
    if not has_hw and not has_model:
        raise ParseError(path, f"not a scenario card (no hardware or model section found): "
                               f"{CARD_NEEDS}")
    if not has_model:
        raise ParseError(path, f"no model section: {CARD_NEEDS}")
    if not has_hw:
        raise ParseError(path, f"no hardware section: {CARD_NEEDS}")

    def need(names: dict[str, str], section: str) -> None:
        missing = [label for name, label in names.items() if name not in st.facts]
        if missing:
            raise ParseError(path, f"{section}: the card does not state {', '.join(missing)}; "
                                   f"{CARD_NEEDS}")

    slug = _slug(path)

    # ---- model -------------------------------------------------------------------------
    need({"num_layers": "the number of layers (model.num_layers, e.g. 'Layers: 16')",
          "hidden_size": "the token dimension (model.hidden_size, e.g. 'Token Dimension: 512')",
          "num_heads": "the attention heads (model.attention.num_heads, e.g. "
                       "'Attention Heads: 16 x 32')"}, "model")
    L, D, H = st.get("num_layers"), st.get("hidden_size"), st.get("num_heads")
    if "head_dim" in st.facts:
        d_h = st.get("head_dim")
    else:
        if D % H:
            raise ParseError(path, f"model: no head dimension stated and hidden size {D} is not "
                                   f"divisible by {H} heads; write e.g. 'Attention Heads: "
                                   f"{H} x 64'")
        d_h = D // H
        say(f"no head dimension stated: hidden size / heads = {D} / {H} = {d_h}")
    if "num_kv_heads" in st.facts:
        H_kv = st.get("num_kv_heads")
    elif "mqa" in st.flags:
        H_kv = 1
        say("multi-query attention stated: 1 KV head")
    else:
        H_kv = H
        why = ("the card says multi-head attention" if "mha" in st.flags
               else "GQA is named but no KV head count" if "gqa" in st.flags
               else "nothing says otherwise")
        say(f"no KV heads stated: MHA (KV heads = heads = {H}; {why})")
    if H * d_h != D:
        st.note(f"heads x head dim = {H} x {d_h} = {H * d_h} differs from the hidden size {D}: "
                f"kept as stated (attention width may differ from hidden, as in Qwen3)")

    precision = st.get("precision")
    if precision is None:
        precision = DEFAULT_PRECISION
        say(f"no precision stated: {DEFAULT_PRECISION}")

    model: dict = {
        "name": st.get("model_name") or slug,
        "num_layers": L,
        "hidden_size": D,
        "attention": {"kind": "gqa", "num_heads": H, "num_kv_heads": H_kv, "head_dim": d_h},
    }
    if "model_name" not in st.facts:
        say(f"no model name stated: named '{slug}' after the card")

    E = st.get("num_experts")
    flags = st.flags
    if E:
        if "dense" in flags:
            st.note(f"line {flags['dense'].no} describes dense layers but {E} experts are "
                    f"stated (line {st.line_of('num_experts').no}): read as MoE")
        F = st.get("ffn_width_moe", st.get("ffn_width_dense"))
        if F is None:
            raise ParseError(path, "model: an MoE card needs the experts' hidden size "
                                   "(model.expert_intermediate_size, e.g. 'MoE Hidden Size: "
                                   "1024')")
        if "ffn_width_moe" not in st.facts:
            say(f"line {st.line_of('ffn_width_dense').no}: the FFN width {F} is read as the "
                f"experts' hidden size")
        n_dense = st.get("num_dense_layers", 0)
        model.update({"num_experts": E, "expert_intermediate_size": F,
                      "num_dense_layers": n_dense})
        if n_dense:
            if "dense_intermediate_size" not in st.facts:
                raise ParseError(path, "model: dense layers are stated but not their FFN width "
                                       "(model.dense_intermediate_size, e.g. 'Dense FFN hidden "
                                       "size: 4096')")
            model["dense_intermediate_size"] = st.get("dense_intermediate_size")
        else:
            say("no dense layers stated: every layer is an MoE layer")
        ks = sorted(st.top_k, key=lambda t: (not t[2], t[1].kind not in _INPUT_KINDS, t[1].no))
        if ks:
            k, where, _ = ks[0]
            model["top_k"] = k
            say(f"top-k = {k} read from line {where.no}: {where.text.strip()!r}")
            for k2, w2, _ in ks[1:]:
                if k2 != k:
                    st.note(f"line {w2.no} states top-{k2}; top-{k} (line {where.no}) is kept")
        else:
            model["top_k"] = DEFAULT_TOP_K
            say(f"no top-k stated: top-k = {DEFAULT_TOP_K} experts per token (the Mixtral / "
                f"GShard convention)")
    else:
        if "moe" in flags and E is None:
            raise ParseError(path, "model.num_experts: the card describes a mixture of experts "
                                   "but not how many (write e.g. 'Each layer has 16 experts')",
                             line=flags["moe"].no, text=flags["moe"].raw)
        if "ffn_moe" in flags and E is None and "dense" not in flags:
            raise ParseError(path, "model.num_experts: an expert hidden size is stated but not "
                                   "the number of experts (write e.g. 'Experts per Layer: 16')",
                             line=flags["ffn_moe"].no, text=flags["ffn_moe"].raw)
        F = st.get("dense_intermediate_size", st.get("ffn_width_dense", st.get("ffn_width_moe")))
        if F is None:
            raise ParseError(path, "model: no FFN width stated (for a dense model the MLP hidden "
                                   "size, e.g. 'MLP Hidden Size: 4096'; for an MoE model the "
                                   "number of experts and their hidden size)")
        model.update({"num_experts": 0, "num_dense_layers": L, "dense_intermediate_size": F})
        if "dense" in flags:
            say(f"dense model: line {flags['dense'].no} describes the layers as attention + "
                f"MLP and no experts are stated; the MLP hidden size {F} is the dense FFN width")
        elif E == 0:
            say(f"dense model: the card states no experts; FFN width {F}")
        else:
            say(f"dense model: no experts stated; FFN width {F} read as a dense MLP")
        if st.top_k:
            st.note("a top-k is stated but the model is dense: ignored")
    model["precision"] = precision
    if "declared_total_params_B" in st.facts:
        model["declared_total_params_B"] = st.get("declared_total_params_B")
    else:
        say("no total parameter count stated: nothing to check the derived count against")
    if "vocab_size" in st.facts:
        model["vocab_size"] = st.get("vocab_size")
    model["source"] = path

    # ---- hardware ----------------------------------------------------------------------
    need({"peak_tflops": "the computing power (hardware.peak_TFLOPS, e.g. 'Single-card "
                         "computing power: 400 TFLOPS')",
          "hbm_capacity_gb": "the memory capacity (hardware.hbm_capacity_GB, e.g. 'VRAM: 64 GB')",
          "hbm_bandwidth_tbs": "the memory bandwidth (hardware.hbm_bandwidth_TB_per_s, e.g. "
                               "'VRAM Bandwidth: 1.8 TB/s')"}, "hardware")
    ckey = COMPUTE_PEAK_KEY[precision]
    peak = st.get("peak_tflops")
    say(f"the card's single computing-power figure ({_fmt(peak)} TFLOPS) is taken as the dense "
        f"peak at the model's precision ({precision}, compute key '{ckey}')")
    hardware: dict = {
        "name": st.get("gpu_name") or "card-gpu",
        "peak_TFLOPS": {ckey: peak},
        "hbm_capacity_GB": st.get("hbm_capacity_gb"),
        "hbm_bandwidth_TB_per_s": st.get("hbm_bandwidth_tbs"),
    }
    for name, default, label in (("mfu", DEFAULT_MFU, "MFU"),
                                 ("bandwidth_utilization", DEFAULT_BANDWIDTH_UTILIZATION,
                                  "bandwidth utilization")):
        if name in st.facts:
            hardware[name] = st.get(name)
        else:
            hardware[name] = default
            say(f"no {label} stated: {default:g}")
    hardware["source"] = path
    say("interconnect (NVLink / network) bandwidths and GPUs per node are not in the card: "
        "the hardware defaults apply")

    # ---- workload ----------------------------------------------------------------------
    workload: dict = {}
    if "batch_sequences" in st.facts:
        workload["batch_sequences"] = st.get("batch_sequences")
    else:
        st.note("no batch size stated: the scenario needs one from elsewhere")
    if "prompt_tokens" in st.facts:
        workload["prompt_tokens"] = st.get("prompt_tokens")
    else:
        st.note("no sequence (prompt) length stated: the scenario needs one from elsewhere")
    if "output_tokens" in st.facts:
        workload["output_tokens"] = st.get("output_tokens")
    else:
        say("no output length stated: the default output length applies")

    # ---- requirements ------------------------------------------------------------------
    requirements: dict = {}
    for fact, key, label in (("ttft_s", "ttft_s", "TTFT"), ("tpot_s", "tpot_s", "TPOT"),
                             ("throughput_per_ms", "throughput_tokens_per_ms_per_gpu",
                              "throughput per GPU")):
        if fact in st.facts and st.get(fact) is not None:
            requirements[key] = st.get(fact)
        elif fact in st.facts:
            say(f"{label}: '{st.line_of(fact).value.strip()}' (line {st.line_of(fact).no}): "
                f"no {label} target")
        else:
            say(f"no {label} target stated")

    scenario: dict = {"name": slug, "source": path, "hardware": hardware, "model": model,
                      "workload": workload, "requirements": requirements}

    # ---- current strategy --------------------------------------------------------------
    if st.strategy:
        cs = {name: v for name, (v, _) in st.strategy.items()}
        for name in ("pp", "dp"):
            if name not in cs:
                cs[name] = 1
                say(f"current strategy: no {name.upper()} degree stated: {name} = 1")
        order = ("ep", "tp", "pp", "dp", "etp", "dp_attn", "microbatches", "redundant_experts")
        scenario["current_strategy"] = {n: cs[n] for n in order if n in cs}
        rec = [h for h in st.strategy_headings
               if re.search(r"recommend|proposed|optimi[sz]ed|suggested", h, re.IGNORECASE)]
        if rec:
            say(f"the card's '{rec[0]}' is taken as the current strategy (to be audited)")
        if st.strategy_total:
            total, tl = st.strategy_total
            prod = 1
            for n in ("ep", "tp", "pp", "dp"):
                prod *= cs.get(n, 1)
            rel = "equals" if prod == total else "differs from"
            st.note(f"line {tl.no}: the strategy states {total} GPUs in total, which {rel} "
                    f"EP x TP x PP x DP = {prod}")
    elif "strategy" in st.kinds_seen:
        st.note("a strategy section is present but states no parallel degrees")

    # ---- GPU budget --------------------------------------------------------------------
    if "max_gpus" in st.facts:
        scenario["max_gpus"] = st.get("max_gpus")
        say(f"line {st.line_of('max_gpus').no}: {st.get('max_gpus')} GPUs read as the most "
            f"the plan may use")
    elif "gpus_unlimited" in st.facts:
        say(f"GPUs: '{st.line_of('gpus_unlimited').value.strip()}' (line "
            f"{st.line_of('gpus_unlimited').no}): no GPU limit; the default search budget applies")
    else:
        say("no GPU limit stated: the default search budget applies")

    if st.ignored_sections:
        st.note("sections ignored (not inputs): " + ", ".join(st.ignored_sections))
    return scenario, assumptions + st.notes
