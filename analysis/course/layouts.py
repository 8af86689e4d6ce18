"""Layouts as the course's notebook parameters (labels such as ``"tp4-ep16"``), the pure layouts
the chapters compare (pure tensor parallelism, attention-DP plus expert parallelism), and the
decode-step time of one layout at a given batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from analysis import estimate as E
from analysis.inputs.errors import InputError
from analysis.inputs.types import Scenario, Strategy, Workload

__all__ = ["decode_tpot_s", "parse_layout", "parse_layouts", "pure_ep", "pure_tp"]

_PREFIX = {"tp": "tp", "dp_attn": "dp_attn", "etp": "etp", "ep": "ep", "pp": "pp", "dp": "dp",
           "mb": "microbatches", "re": "redundant_experts"}


def parse_layout(layout: Strategy | str) -> Strategy:
    """A layout from a :class:`Strategy`, ``"tp=4,ep=16"`` (:meth:`Strategy.parse`) or its label
    ``"tp4-ep16"`` (the form :func:`~analysis.inputs.layout_label` prints; ``"single-gpu"`` for
    none). Labels carry no ``=``, so papermill's ``inspect_notebook`` can read a parameter cell
    that holds them. Unnamed degrees are filled in as :meth:`Strategy.complete` does."""
    if isinstance(layout, Strategy):
        return layout
    text = str(layout).strip()
    if "=" in text:
        return Strategy.parse(text)
    if text in ("single-gpu", ""):
        return Strategy()
    values: dict[str, int] = {}
    for part in text.split("-"):
        m = re.fullmatch(r"([a-z_]+?)(\d+)", part)
        if m is None or m.group(1) not in _PREFIX:
            raise InputError("layout", text, f"cannot read {part!r}",
                             "a label such as 'tp8', 'tp4-ep16', 'dp_attn8-ep8-pp2' "
                             f"(degrees {', '.join(_PREFIX)}) or 'tp=4,ep=16'")
        values[_PREFIX[m.group(1)]] = int(m.group(2))
    return Strategy.complete(**values)


def parse_layouts(layouts: Sequence[Strategy | str]) -> list[Strategy]:
    """:func:`parse_layout` of each."""
    return [parse_layout(x) for x in layouts]


def pure_tp(tps: Sequence[int]) -> E.Layouts:
    """Pure tensor parallelism: tp GPUs hold every expert, each a 1/tp slice (etp = tp, ep = 1)."""
    t = np.asarray(tps, dtype=np.int64)
    one = np.ones_like(t)
    return E.Layouts(tp=t, dp_attn=one, etp=t, ep=one, pp=one, dp=one, microbatches=one,
                     redundant_experts=0 * one)


def pure_ep(eps: Sequence[int]) -> E.Layouts:
    """Attention data parallel, experts expert-parallel over the same GPUs: tp = etp = 1,
    dp_attn = ep (the DeepSeek-V3 decode layout)."""
    n = np.asarray(eps, dtype=np.int64)
    one = np.ones_like(n)
    return E.Layouts(tp=one, dp_attn=n, etp=one, ep=n, pp=one, dp=one, microbatches=one,
                     redundant_experts=0 * one)


def decode_tpot_s(scenario: Scenario, s: Strategy, batch: int, context_tokens: float,
                  opts: E.Options) -> float:
    """TPOT of ``batch`` sequences at ``context_tokens`` (NaN for an empty batch)."""
    if batch < 1:
        return float("nan")
    wl = Workload(int(batch), (int(context_tokens),), scenario.workload.output_tokens)
    tpot, _ = E.decode(scenario.hardware, scenario.model, wl, E.Layouts.from_strategies([s]),
                          opts, context_tokens)
    return float(tpot[0])
