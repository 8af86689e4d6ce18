"""The layout (parallel strategy) of a plan: degrees, their printed label, and how a partly
stated layout is completed (``tp * dp_attn == etp * ep``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from analysis.inputs import limits
from analysis.inputs.checks import check_positive
from analysis.inputs.errors import InputError

__all__ = ["DEGREE_NAMES", "Strategy", "layout_label"]

DEGREE_NAMES = ("tp", "dp_attn", "etp", "ep", "pp", "dp", "microbatches", "redundant_experts")
_LABEL_PREFIX = ("tp", "dp_attn", "etp", "ep", "pp", "dp", "mb", "re")
TBO_LABEL = "tbo"  # the label part of a layout that runs two-batch overlap


def layout_label(tp: int, dp_attn: int, etp: int, ep: int, pp: int, dp: int,
                 microbatches: int = 1, redundant_experts: int = 0, tbo: bool = False) -> str:
    """Short, stable name of a layout: the degrees that are not 1 (redundant experts: not 0),
    in :data:`DEGREE_NAMES` order, e.g. ``tp4-dp_attn16-etp4-ep16``; "single-gpu" for none;
    ``-tbo`` appended when the layout runs two-batch overlap (``tp1-dp_attn32-ep32-tbo``)."""
    values = (tp, dp_attn, etp, ep, pp, dp, microbatches, redundant_experts)
    idle_values = (1, 1, 1, 1, 1, 1, 1, 0)
    parts = [f"{p}{v}" for p, v, idle in zip(_LABEL_PREFIX, values, idle_values, strict=True)
             if v != idle]
    label = "-".join(parts) or "single-gpu"
    return f"{label}-{TBO_LABEL}" if tbo else label


def _label_degrees(label: str) -> dict[str, int]:
    """Degrees named in a printed label: "tp4-dp_attn2-ep8-mb2" -> {tp: 4, dp_attn: 2, ep: 8,
    microbatches: 2}; "single-gpu" -> {}; a ``-tbo`` part -> {two_batch_overlap: 1}. Unknown
    parts raise InputError."""
    if label.lower() == "single-gpu":
        return {}
    values: dict[str, int] = {}
    for part in label.lower().split("-"):
        if part == TBO_LABEL:
            values["two_batch_overlap"] = 1
            continue
        m = re.fullmatch(r"([a-z_]+?)(\d+)", part)
        if m is None or m.group(1) not in _LABEL_PREFIX:
            raise InputError("strategy", label, f"cannot read {part!r}",
                             "a label such as 'tp8', 'tp4-ep16', 'dp_attn8-ep8-pp2' (prefixes "
                             f"{', '.join(_LABEL_PREFIX)}) or 'tp=4,ep=16,pp=1'")
        name = DEGREE_NAMES[_LABEL_PREFIX.index(m.group(1))]
        if name in values:
            raise InputError("strategy", label, f"{name} is given twice",
                             f"each degree once, e.g. '{part}'")
        values[name] = int(m.group(2))
    return values


@dataclass(frozen=True)
class Strategy:
    """A parallel layout as serving engines run it.

    Attention runs with tensor parallelism ``tp`` and attention data parallelism ``dp_attn``; the
    experts run over the same ``tp * dp_attn`` GPUs with expert-tensor parallelism ``etp`` and
    expert parallelism ``ep`` (so ``tp * dp_attn == etp * ep``). ``pp`` pipeline stages, ``dp``
    independent replicas; a prefill batch runs in ``microbatches`` micro-batches.
    ``redundant_experts`` extra expert copies per layer spread over the EP ranks (as DeepSeek's
    EPLB). GPUs = tp * dp_attn * pp * dp.
    """

    tp: int = 1
    dp_attn: int = 1
    etp: int = 1
    ep: int = 1
    pp: int = 1
    dp: int = 1
    microbatches: int = 1
    redundant_experts: int = 0
    two_batch_overlap: bool = False  # each step as two micro-batches hiding each other's comm

    def __post_init__(self) -> None:
        object.__setattr__(self, "two_batch_overlap", bool(self.two_batch_overlap))
        for name in DEGREE_NAMES:
            check_positive(f"strategy.{name}", getattr(self, name), integer=True,
                           allow_zero=(name == "redundant_experts"))
        limits.check_strategy(self, DEGREE_NAMES)
        if self.tp * self.dp_attn != self.etp * self.ep:
            raise InputError("strategy", self.label(),
                             f"attention uses tp*dp_attn = {self.tp * self.dp_attn} GPUs but "
                             f"experts use etp*ep = {self.etp * self.ep}; they must be the same "
                             f"GPUs",
                             "degrees with tp*dp_attn == etp*ep (e.g. tp=4, ep=4)")

    @property
    def gpus_per_replica(self) -> int:
        return self.tp * self.dp_attn * self.pp

    @property
    def gpus(self) -> int:
        return self.gpus_per_replica * self.dp

    def label(self) -> str:
        """Short, stable name: only the degrees that are not 1, e.g. ``tp4-ep16``."""
        return layout_label(*(getattr(self, n) for n in DEGREE_NAMES), tbo=self.two_batch_overlap)

    def describe(self) -> str:
        """The layout in words, e.g. "64 GPUs: attention TP 4 x DP 16, experts EP 16 x TP 4;
        prefill in 2 micro-batches"."""
        n = self.gpus
        parts = [f"{n} GPU{'s' if n != 1 else ''}"]
        inner = []
        if self.tp * self.dp_attn > 1:
            attn = " x ".join(x for x in (f"TP {self.tp}" if self.tp > 1 else "",
                                          f"DP {self.dp_attn}" if self.dp_attn > 1 else "") if x)
            expert = " x ".join(x for x in (f"EP {self.ep}" if self.ep > 1 else "",
                                            f"TP {self.etp}" if self.etp > 1 else "") if x)
            inner.append(f"attention {attn}, experts {expert}")
        if self.pp > 1:
            inner.append(f"{self.pp} pipeline stages")
        if self.dp > 1:
            inner.append(f"{self.dp} replicas")
        if self.redundant_experts:
            inner.append(f"{self.redundant_experts} redundant experts per layer")
        text = parts[0] + (": " + ", ".join(inner) if inner else "")
        if self.microbatches > 1:
            text += f"; prefill in {self.microbatches} micro-batches"
        if self.two_batch_overlap:
            text += "; two-batch overlap"
        return text

    def as_dict(self) -> dict[str, int]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["gpus"] = self.gpus
        return d

    @classmethod
    def parse(cls, text: str) -> Strategy:
        """Read ``"tp=4,ep=16,pp=1"`` or the printed label ``"tp4-ep16"`` (:func:`layout_label`,
        ``"single-gpu"`` for none). Unnamed degrees are filled in by :meth:`complete` (so that
        ``tp * dp_attn == etp * ep``); a label and its ``name=value`` spelling read the same."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("strategy", text, "empty layout",
                             "comma-separated degrees, e.g. 'tp=4,ep=16,pp=1'")
        if "=" not in text:
            return cls.complete(**_label_degrees(text.strip()))
        values: dict[str, int] = {}
        aliases = {"mb": "microbatches", "m": "microbatches", "dpattn": "dp_attn",
                   "attn_dp": "dp_attn", "redundant": "redundant_experts",
                   "tbo": "two_batch_overlap"}
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            if "=" not in part:
                raise InputError("strategy", part, "each degree is name=value",
                                 "e.g. 'tp=4,ep=16,pp=1'")
            name, _, raw = part.partition("=")
            name = aliases.get(name.lower(), name.lower())
            if name not in (*DEGREE_NAMES, "two_batch_overlap"):
                raise InputError("strategy", name, "unknown degree",
                                 ", ".join(DEGREE_NAMES) + ", tbo (0 or 1)")
            if name in values:
                raise InputError("strategy", text, f"{name} is given twice",
                                 f"each degree once, e.g. '{name}={raw}'")
            try:
                values[name] = int(raw)
            except ValueError:
                raise InputError(f"strategy.{name}", raw, "not a whole number",
                                 "a whole number >= 1") from None
        return cls.complete(**values)

    @classmethod
    def complete(cls, **values: int) -> Strategy:
        """Fill in the degrees a user left out, so that ``tp * dp_attn == etp * ep``.

        - nothing about experts named (no ep, no etp): experts are split like attention,
          ``etp = tp`` and ``ep = dp_attn`` (vLLM / TensorRT-LLM without expert parallelism);
        - ``tp`` and ``ep`` named, no ``dp_attn`` or ``etp``: the product reading the seed plan uses
          (``EP x TP x PP = GPUs``): ``etp = tp``, ``dp_attn = ep``; "tp=4,ep=16" is 64 GPUs;
        - otherwise the one unnamed degree among dp_attn, etp, ep is solved for.
        """
        v = {k: int(x) for k, x in values.items()}
        tp = v.setdefault("tp", 1)
        named = {k for k in ("dp_attn", "etp", "ep") if k in v}

        def solve(name: str, num: int, den: int) -> None:
            if den <= 0 or num % den:
                raise InputError("strategy", cls._fmt(values),
                                 f"cannot choose {name}: {num} GPUs do not split into {den}",
                                 "degrees with tp*dp_attn == etp*ep")
            v[name] = num // den

        if not named & {"ep", "etp"}:
            v["etp"], v["ep"] = tp, v.setdefault("dp_attn", 1)
        elif named == {"ep"}:
            v["etp"], v["dp_attn"] = tp, v["ep"]
        elif "dp_attn" not in v and "ep" in v:
            v.setdefault("etp", 1)
            solve("dp_attn", v["ep"] * v["etp"], tp)
        elif "dp_attn" not in v:  # only etp named
            v["dp_attn"] = 1
            solve("ep", tp, v["etp"])
        elif "etp" not in v:
            solve("etp", tp * v["dp_attn"], v["ep"])
        elif "ep" not in v:
            solve("ep", tp * v["dp_attn"], v["etp"])
        return cls(**v)

    @staticmethod
    def _fmt(values: dict[str, int]) -> str:
        return ",".join(f"{k}={x}" for k, x in values.items())

    def with_(self, **changes: int) -> Strategy:
        return replace(self, **changes)
