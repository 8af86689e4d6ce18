"""The ops every transformer has: embedding lookup, norms, the dense FFN of dense layers, and the
head (logits of each sequence's newest position, vocabulary split by tp)."""

from __future__ import annotations

import numpy as np

from analysis import anatomy as A
from analysis.estimate.context import Op, OpContext
from analysis.estimate.efficiency import OpCost


def _embedding(c: OpContext) -> OpCost:
    """A row of the table read and written per token."""
    return c.rates.gpu_op(0.0, c.tok_a * c.d * (c.w + c.act), layers=1)


def _norms(c: OpContext) -> OpCost:
    """Two norms per layer, ~4 FLOPs per element, each reading and writing the residual."""
    d, act = c.d, c.act
    return c.rates.gpu_op(c.n_layers * 2 * 4 * c.tok_a * d, c.n_layers * 2 * 2 * c.tok_a * d * act,
                          rows=1e12, layers=c.n_layers, kernels=2)


def _dense_ffn(c: OpContext) -> OpCost:
    m = c.model
    p_dense = A.dense_ffn_params_per_layer(m)
    return c.rates.gpu_op(c.n_dense * 2 * c.tok_a * p_dense / c.tp,
                          c.n_dense * (p_dense / c.tp * c.w
                                       + c.tok_a * 2 * c.d
                                       * c.act),
                          rows=c.tok_a, layers=c.n_dense, kernels=2)


def _dense_ffn_workspace(c: OpContext) -> np.ndarray:
    """The ``n_in`` intermediates of width F_dense / tp (models with dense layers)."""
    m = c.model
    if not m.num_dense_layers:
        return c.zeros
    n_in = 2 if m.ffn_gated else 1
    return c.tok_a * n_in * m.dense_intermediate_size / c.tp * c.act


def _head(c: OpContext) -> OpCost:
    """Only the newest position of each sequence needs logits; FP32 logits written."""
    m = c.model
    p_head = m.vocab_size * c.d
    return c.rates.gpu_op(2 * c.seqs_a * p_head / c.tp,
                          p_head / c.tp * c.w
                          + c.seqs_a * m.vocab_size / c.tp * 4,
                          rows=c.seqs_a, layers=1)


def _logits_workspace(c: OpContext) -> np.ndarray:
    return c.seqs_a * c.model.vocab_size / c.tp * 4


EMBEDDING = Op("embedding", _embedding)
NORMS = Op("norms", _norms)
DENSE_FFN = Op("dense_ffn", _dense_ffn, workspace_bytes=_dense_ffn_workspace)
HEAD = Op("head", _head, workspace_bytes=_logits_workspace)
