"""Paged KV blocks: what a request reserves in its rank's pool at admission."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from analysis.inputs.errors import InputError

if TYPE_CHECKING:
    from analysis.simulate.engine import EngineCaps


def blocks_for(tokens: int, block_size_tokens: int) -> int:
    """KV blocks a sequence of ``tokens`` occupies: ``ceil(tokens / block size)``."""
    return -(-tokens // block_size_tokens)


def blocks_needed(isl: list[int], osl: list[int], caps: EngineCaps) -> list[int]:
    """KV blocks each request reserves at admission; an :class:`InputError` when one request
    alone needs more than a rank's pool."""
    bs = caps.block_size_tokens
    need = [blocks_for(i + o, bs) for i, o in zip(isl, osl, strict=True)]
    if max(need) > caps.kv_capacity_blocks:
        big = int(np.argmax(need))
        raise InputError("workload", f"isl {isl[big]} + osl {osl[big]}",
                         f"one request needs {need[big]} KV blocks of {bs} tokens but a rank's "
                         f"pool holds {caps.kv_capacity_blocks}",
                         "shorter requests, more GPUs per rank (tp, pp) or a larger KV fraction")
    return need
