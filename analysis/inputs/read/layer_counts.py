"""How many of a config's L layers are dense, by arithmetic (no per-layer list).

A config.json names its MoE layers by a rule (DeepSeek: ``i >= first_k_dense_replace and
i % moe_layer_freq == 0``; Qwen: ``(i + 1) % decoder_sparse_step == 0`` and ``i`` not in
``mlp_only_layers``). Counting them by building one flag per layer costs memory and time in L,
which a config controls; these functions count in O(1) (plus the length of ``mlp_only_layers``,
bounded by the file size).
"""

from __future__ import annotations

from collections.abc import Iterable


def multiples_in_range(start: int, stop: int, step: int, offset: int = 0) -> int:
    """How many ``i`` in ``[start, stop)`` have ``(i + offset) % step == 0`` (``step >= 1``)."""
    if stop <= start:
        return 0
    # count of multiples of step in [start + offset, stop + offset)
    lo, hi = start + offset, stop + offset
    return (hi - 1) // step - (lo - 1) // step


def moe_layers_every(num_layers: int, first: int, step: int, offset: int = 0,
                     excluded: Iterable[int] = ()) -> tuple[int, bool]:
    """(dense layers, whether the dense layers are not the first ones) when layer ``i`` is MoE
    iff ``i >= first``, ``(i + offset) % step == 0`` and ``i`` is not in ``excluded``.

    The MoE layers are contiguous at the end exactly when they are ``[L - n_moe, L)``: all
    layers from the first MoE one on are MoE.
    """
    L = num_layers
    first = max(first, 0)
    moe_idx = {i for i in set(excluded) if isinstance(i, int) and first <= i < L
               and (i + offset) % step == 0}
    n_moe = multiples_in_range(first, L, step, offset) - len(moe_idx)
    dense = L - n_moe
    if n_moe == 0:
        return dense, False
    # first MoE layer: the first multiple at or after `first`, skipping excluded ones
    i = first + (-(first + offset)) % step
    while i in moe_idx:
        i += step
    contiguous = (step == 1 or n_moe == 1) and i == L - n_moe and not (
        moe_idx and max(moe_idx) > i)
    return dense, not contiguous


def moe_layers_listed(num_layers: int, listed: Iterable[object]) -> tuple[int, bool]:
    """(dense layers, whether the dense layers are not the first ones) when the MoE layers are
    listed by index (Llama-4's ``moe_layers``); indices outside ``[0, L)`` are ignored."""
    moe = {i for i in listed if isinstance(i, int) and not isinstance(i, bool)
           and 0 <= i < num_layers}
    n_moe = len(moe)
    contiguous = n_moe == 0 or (min(moe) == num_layers - n_moe)
    return num_layers - n_moe, not contiguous
