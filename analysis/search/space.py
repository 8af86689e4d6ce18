"""The declared space of candidate layouts up to a GPU budget.

The space: ``tp`` in powers of two dividing the heads; ``dp_attn``, ``etp`` in powers of two with
``ep = tp * dp_attn / etp`` dividing the experts; ``pp`` in the divisors of L and powers of two up
to L (uneven stages allowed, as engines allow them); ``dp`` and the prefill micro-batch count
``m`` (up to 64) in powers of two dividing the batch; ``dp_attn`` up to the sequences of a
prefill micro-batch (they need not divide evenly: the busiest rank sets the step; more ranks than
sequences would only add idle GPUs, so the search does not propose them, though the layout rules
accept them); ``redundant_experts`` in the given choices (``plan(..., redundant_choices=(0, 32))``,
CLI ``--redundant-experts 0,32``; default 0); two-batch overlap (``tbo``) on and off for every
layout with expert parallelism (``ep > 1``, where there is an all-to-all to hide;
``tbo_choices=(False,)`` or CLI ``--no-search-tbo`` searches without it).
"""

from __future__ import annotations

import itertools

import numpy as np

from analysis.estimate.layouts import Layouts
from analysis.inputs.errors import InputError
from analysis.inputs.types import DEGREE_NAMES, Scenario
from analysis.search.divisors import divisors

POW2 = tuple(2 ** i for i in range(11))  # 1 .. 1024


def candidate_layouts(scenario: Scenario, max_gpus: int | None = None,
                      redundant_choices: tuple[int, ...] = (0,),
                      tbo_choices: tuple[bool, ...] = (False, True)) -> Layouts:
    """Every layout of the declared space up to the GPU budget (``scenario.fixed_gpus`` if set).

    Degrees are generated only where they can divide what they split: ``tp`` (a power of two)
    divides the query heads, ``ep`` divides the experts (plus redundant copies), ``dp`` divides
    the batch, the micro-batch count divides a replica's sequences, and ``dp_attn`` is at most a
    micro-batch's sequences. Validity is decided by the same rules as the current-strategy check,
    :func:`analysis.estimate.layout_rejections` (KV heads, FFN widths, layers ...), and every
    reject is kept with its reason.
    """
    m = scenario.model
    b = scenario.workload.batch_sequences
    cap = max_gpus or scenario.fixed_gpus or scenario.max_gpus
    tps = [t for t in POW2 if t <= cap and m.attention.num_heads % t == 0]
    pps = sorted({p for p in divisors(m.num_layers) if p <= cap}
                 | {p for p in POW2 if p <= min(cap, m.num_layers)})
    rows = []
    for tp, dp_attn in itertools.product(tps, POW2):
        g = tp * dp_attn
        if g > cap or dp_attn > b or (not m.is_moe and dp_attn != 1):
            continue
        for r in (redundant_choices if m.is_moe else (0,)):
            etps = ([x for x in POW2 if g % x == 0 and (m.num_experts + r) % (g // x) == 0]
                    if m.is_moe else [g])
            for etp, pp in itertools.product(etps, pps):
                if g * pp > cap:
                    continue
                for dp in POW2:
                    if g * pp * dp > cap or dp > b:
                        break
                    if b % dp:
                        continue
                    per_replica = b // dp
                    for mb in POW2:
                        if mb > 64 or mb > per_replica:
                            break
                        if per_replica % mb == 0 and per_replica // mb >= dp_attn:
                            rows.append((tp, dp_attn, etp, g // etp, pp, dp, mb, r))
    arr = np.array(rows, dtype=np.int64).reshape(-1, len(DEGREE_NAMES))
    lay = with_tbo(Layouts(*[arr[:, i] for i in range(len(DEGREE_NAMES))]), tbo_choices)
    if scenario.fixed_gpus:
        lay = lay.subset(lay.gpus == scenario.fixed_gpus)
    if len(lay) == 0:
        if scenario.fixed_gpus:
            raise InputError("scenario.fixed_gpus", scenario.fixed_gpus,
                             f"no layout has exactly {scenario.fixed_gpus} GPUs within a budget of "
                             f"{cap} (GPU counts are products of powers of two and divisors of the "
                             f"{m.num_layers} layers)", "a power of two, or a multiple of one by a "
                             "divisor of the layer count, no larger than the budget")
        raise InputError("max_gpus", cap, "no layout fits in this budget", "a budget >= 1")
    return lay


def with_tbo(lay: Layouts, tbo_choices: tuple[bool, ...]) -> Layouts:
    """Each layout once per two-batch-overlap choice; the ``tbo`` copies only where ``ep > 1``
    (two-batch overlap hides the expert all-to-all; without one there is nothing to hide and
    only its costs would remain). Layouts without tbo come first, in their search order."""
    parts = []
    for t in dict.fromkeys(bool(x) for x in tbo_choices):
        part = lay.subset(lay.ep > 1) if t else lay.subset(np.ones(len(lay), dtype=bool))
        part.tbo = np.full(len(part), int(t), dtype=np.int64)
        parts.append(part)
    return Layouts(**{n: np.concatenate([getattr(p, n) for p in parts])
                      for n in (*DEGREE_NAMES, "tbo")})
