"""Layouts as arrays (one int array per degree), which of them are possible and why not, and
the layers of a layout's busiest pipeline stage.

Placement: the ``tp`` ranks of an attention group are adjacent GPUs; ``dp_attn`` groups make the
expert group of ``G = tp * dp_attn = etp * ep`` GPUs; ``pp`` stages of G GPUs follow; ``dp``
replicas last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from analysis.inputs.errors import LayoutError
from analysis.inputs.types import DEGREE_NAMES, Model, Strategy, Workload, layout_label


@dataclass
class Layouts:
    """Degrees of N layouts, one int array per degree (see :class:`analysis.inputs.Strategy`),
    and ``tbo``: 1 where the layout runs two-batch overlap (:func:`analysis.estimate.ops.
    overlap_batches`), 0 elsewhere (all 0 unless given)."""

    tp: np.ndarray
    dp_attn: np.ndarray
    etp: np.ndarray
    ep: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    microbatches: np.ndarray
    redundant_experts: np.ndarray
    tbo: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        if self.tbo is None:
            self.tbo = np.zeros(len(self.tp), dtype=np.int64)

    @classmethod
    def from_strategies(cls, strategies: list[Strategy]) -> Layouts:
        cols = {n: np.array([getattr(s, n) for s in strategies], dtype=np.int64)
                for n in DEGREE_NAMES}
        return cls(**cols, tbo=np.array([int(s.two_batch_overlap) for s in strategies],
                                        dtype=np.int64))

    def __len__(self) -> int:
        return len(self.tp)

    @property
    def group(self) -> np.ndarray:
        """GPUs of one stage of one replica: ``tp * dp_attn`` (= ``etp * ep``)."""
        return self.tp * self.dp_attn

    @property
    def gpus(self) -> np.ndarray:
        return self.group * self.pp * self.dp

    def labels(self) -> list[str]:
        """:func:`~analysis.inputs.layout_label` of every layout."""
        cols = [getattr(self, n).tolist() for n in DEGREE_NAMES]
        return [layout_label(*vals, tbo=bool(t))
                for *vals, t in zip(*cols, self.tbo.tolist(), strict=True)]

    def subset(self, mask) -> Layouts:
        return Layouts(**{n: getattr(self, n)[mask] for n in DEGREE_NAMES}, tbo=self.tbo[mask])


def layout_rejections(model: Model, workload: Workload | None, lay: Layouts
                      ) -> list[tuple[np.ndarray, str]]:
    """Every reason a layout is impossible, as (mask of layouts it applies to, reason template).

    Templates use ``{tp}``, ``{ep}``... for the layout's degrees. Memory is not checked here (a
    layout that does not fit is still estimated, and fails the memory check). Without a
    ``workload`` only the model's rules apply (a serving engine batches whatever arrives).
    """
    a = model.attention
    rules: list[tuple[np.ndarray, str]] = [
        (lay.tp * lay.dp_attn != lay.etp * lay.ep,
         "attention GPUs tp*dp_attn = {tp}*{dp_attn} differ from expert GPUs etp*ep = {etp}*{ep}"),
        (a.num_heads % lay.tp != 0,
         f"tp={{tp}} does not divide the {a.num_heads} attention heads"),
        (lay.pp > model.num_layers,
         f"pp={{pp}} stages exceed the {model.num_layers} layers: a stage would hold no layer"),
    ]
    if workload is not None:
        rules += _batch_rules(workload.batch_sequences, lay)
    if a.kind == "gqa":
        kv = a.num_kv_heads
        rules.append((np.where(lay.tp <= kv, kv % lay.tp != 0, lay.tp % kv != 0),
                      f"tp={{tp}} and the {kv} KV heads: neither divides the other"))
    if model.is_moe:
        e = model.num_experts
        rules += [
            ((e + lay.redundant_experts) % lay.ep != 0,
             f"ep={{ep}} does not divide the {e} experts (+{{redundant_experts}} redundant)"),
            (model.expert_intermediate_size % lay.etp != 0,
             f"etp={{etp}} does not divide the expert FFN width {model.expert_intermediate_size}"),
            (lay.ep > e + lay.redundant_experts,
             f"ep={{ep}} exceeds the {e} experts (+{{redundant_experts}} redundant)"),
        ]
    else:
        rules.append(((lay.ep != 1) | (lay.redundant_experts != 0),
                      "a dense model has no experts to spread: ep={ep} must be 1"))
        rules.append((lay.dp_attn != 1,
                      "a dense model has no expert layer to share: use dp, not dp_attn={dp_attn}"))
    if model.num_dense_layers or model.num_shared_experts:
        width = model.dense_intermediate_size or model.shared_expert_intermediate_size
        rules.append((width % lay.tp != 0,
                      f"tp={{tp}} does not divide the dense FFN width {width}"))
    return rules


def _batch_rules(b: int, lay: Layouts) -> list[tuple[np.ndarray, str]]:
    """The batch of ``b`` sequences must split over replicas and micro-batches. It need not split
    evenly over the ``dp_attn`` ranks: engines give each rank floor or ceil of its share and
    run idle ranks on dummy batches in lockstep (:func:`busiest_rank_sequences`)."""
    return [
        (b % lay.dp != 0, f"dp={{dp}} replicas do not divide the batch of {b} sequences"),
        ((b % lay.dp == 0) & ((b // lay.dp) % lay.microbatches != 0),
         f"{{microbatches}} micro-batches do not divide the {b}/{{dp}} sequences of a replica"),
    ]


def rejection_reasons(model: Model, workload: Workload | None, lay: Layouts
                      ) -> list[list[str]]:
    """Per layout, the readable list of reasons it is impossible (empty = valid)."""
    reasons: list[list[str]] = [[] for _ in range(len(lay))]
    cols = {n: getattr(lay, n).tolist() for n in DEGREE_NAMES}
    for mask, template in layout_rejections(model, workload, lay):
        for i in np.flatnonzero(mask).tolist():
            vals = {n: cols[n][i] for n in DEGREE_NAMES}
            reasons[i].append(template.format(**vals))
    return reasons


def valid_mask(model: Model, workload: Workload, lay: Layouts) -> np.ndarray:
    ok = np.ones(len(lay), dtype=bool)
    for mask, _ in layout_rejections(model, workload, lay):
        ok &= ~np.asarray(mask, dtype=bool)
    return ok


def check_strategy(model: Model, workload: Workload | None, strategy: Strategy) -> None:
    """Raise LayoutError with every reason when ``strategy`` is impossible (for ``workload``'s
    batch; for the model alone when None)."""
    reasons = rejection_reasons(model, workload, Layouts.from_strategies([strategy]))[0]
    if reasons:
        raise LayoutError(strategy.label(), reasons)


def stage_layer_counts(num_layers: int, pp: int) -> list[int]:
    """Layers of each of ``pp`` pipeline stages, as even as possible: every stage holds
    ``floor(L/pp)`` and the first ``L mod pp`` stages one more, so the busiest holds
    ``ceil(L/pp)``. Engines split the same way (vLLM ``vllm/distributed/utils.py``
    ``get_pp_indices``: ``L // pp`` per stage, ``L % pp`` stages one more; it puts the extra
    layers on the later stages, which changes no stage's size). 30 layers over 4: 8, 8, 7, 7."""
    base, extra = divmod(num_layers, pp)
    return [base + (1 if i < extra else 0) for i in range(pp)]


def stage_imbalance(num_layers: int, pp: int) -> float:
    """Busiest stage over the mean: ``ceil(L/pp) / (L/pp)`` (1 when pp divides L); every stage
    step waits for the busiest stage, so pipeline time grows by this factor over an even split.
    30 layers over 4: 8 / 7.5 = 1.0667."""
    return math.ceil(num_layers / pp) / (num_layers / pp)


def busiest_rank_sequences(seqs, ranks):
    """Sequences on the busiest of ``ranks`` attention-DP ranks: ``ceil(seqs / ranks)`` for a
    whole number of sequences (ranks get floor or ceil of the share; the step waits for the
    busiest, and idle ranks run dummy batches: vLLM 0.11 ``get_dp_padding``, SGLang 0.5.5
    ``prepare_mlp_sync_batch``, ``/work/shared/reference/serving-engines.md`` rule 7); the mean
    ``seqs / ranks`` when ``seqs`` is an average (serving concurrency). 24 over 32: 1."""
    s = np.asarray(seqs, dtype=float)
    r = np.asarray(ranks, dtype=float)
    whole = np.abs(s - np.round(s)) < 1e-9
    return np.where(whole, np.ceil(np.round(s) / r - 1e-12), s / r)


def lockstep_group_sequences(seqs_per_group, dp_attn):
    """Sequences a stage group runs as in attention-DP lockstep: ``dp_attn * ceil(seqs /
    dp_attn)`` for a whole number of sequences (every rank padded to the busiest rank's,
    :func:`busiest_rank_sequences`), ``seqs`` for an average.
    24 sequences over dp_attn 32: 32 (1 each; 8 ranks run a dummy sequence)."""
    return np.asarray(dp_attn, dtype=float) * busiest_rank_sequences(seqs_per_group, dp_attn)


def idle_ranks(seqs: int, ranks: int) -> int:
    """Attention-DP ranks with no sequence: ``max(ranks - seqs, 0)``. 24 over 32: 8."""
    return max(ranks - seqs, 0)


def split_notes(model: Model, workload: Workload | None, s: Strategy) -> list[str]:
    """What the layout rules allow that is not an even split, in words: uneven pipeline stages
    (with the time they cost) and attention-DP ranks with unequal or no sequences."""
    out = []
    n, pp = model.num_layers, s.pp
    if pp > 1 and n % pp and pp <= n:
        counts = stage_layer_counts(n, pp)
        out.append(f"pp={pp} does not divide the {n} layers: stages of "
                   f"{', '.join(map(str, counts))} layers (as engines split them); the busiest "
                   f"stage's {max(counts)} layers set every step, {stage_imbalance(n, pp):.3f}x "
                   f"an even {n / pp:g}")
    if workload is not None and s.dp_attn > 1:
        b = workload.batch_sequences
        if b % s.dp == 0 and (b // s.dp) % s.microbatches == 0:
            mb = b // s.dp // s.microbatches
            if mb % s.dp_attn:
                busiest = int(busiest_rank_sequences(mb, s.dp_attn))
                idle = idle_ranks(mb, s.dp_attn)
                out.append(f"a prefill micro-batch of {mb} sequences over dp_attn={s.dp_attn} "
                           f"ranks: the busiest rank holds {busiest}, its step sets everyone's"
                           + (f"; {idle} ranks are idle (dummy batches in lockstep)"
                              if idle else ""))
    return out


def valid_reason(model: Model, workload: Workload | None, s: Strategy) -> str:
    """Why a layout that passes :func:`layout_rejections` can run, in words: what its degrees
    divide, and (:func:`split_notes`) what is split unevenly."""
    what = "heads, KV heads, FFN widths" + (", experts" if model.is_moe else "")
    text = (f"{s.label()}: tp, ep and etp divide what they split ({what}); "
            + ("dp and the micro-batches divide the batch" if workload is not None
               else "no batch stated") + f"; pp={s.pp} <= {model.num_layers} layers")
    notes = split_notes(model, workload, s)
    return text + ("; " + "; ".join(notes) if notes else "")


def stage_layers(model: Model, pp) -> tuple[np.ndarray, np.ndarray]:
    """Layers of the busiest stage: ``ceil(L/pp)`` (:func:`stage_layer_counts`), as many of them
    MoE as there are."""
    n = np.ceil(model.num_layers / np.asarray(pp, dtype=float))
    n_moe = np.minimum(n, model.num_moe_layers)
    return n_moe, n - n_moe
