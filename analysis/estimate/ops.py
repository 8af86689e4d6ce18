"""The per-op cost model: a stage step is the list of named ops below, in this order.

Adding an op is adding one entry to :data:`REGISTRY` (a :class:`~analysis.estimate.context.Op`
from one of the ``ops_*`` modules): :func:`stage_ops`, :data:`OPS`, :data:`COMM_OPS`, the memory
(:mod:`analysis.estimate.memory`) and the time breakdowns all read this list.

A stage's time is the sum of its ops' times with ``overlap_fraction`` of the communication
hidden under GPU work (:func:`stage_split_s`, the one place that arithmetic lives).
"""

from __future__ import annotations

import numpy as np

from analysis.estimate import formulas as f
from analysis.estimate import ops_attention, ops_comm, ops_dense, ops_moe
from analysis.estimate.context import Op, OpContext
from analysis.estimate.efficiency import OpCost
from analysis.estimate.layouts import Layouts
from analysis.estimate.options import Options
from analysis.inputs.types import Hardware, Model

REGISTRY: tuple[Op, ...] = (
    ops_dense.EMBEDDING,
    ops_dense.NORMS,
    ops_attention.ATTENTION_PROJ,
    ops_attention.ATTENTION_CORE,
    ops_moe.ROUTER,
    ops_moe.ROUTED_EXPERTS,
    ops_moe.SHARED_EXPERTS,
    ops_dense.DENSE_FFN,
    ops_dense.HEAD,
    ops_comm.TP_ALL_REDUCE,
    ops_comm.EP_DISPATCH_COMBINE,
    ops_comm.PP_SEND,
)
OPS = tuple(op.name for op in REGISTRY)
COMM_OPS = tuple(op.name for op in REGISTRY if op.comm)
GPU_OPS = tuple(op.name for op in REGISTRY if not op.comm)


def op_context(hw: Hardware, model: Model, lay: Layouts, opts: Options, *, seqs_per_group,
               query_tokens_per_seq, phase: str, context_tokens: float = 0.0) -> OpContext:
    """The :class:`OpContext` of one stage step (see :func:`stage_ops`)."""
    return OpContext(hw, model, lay, opts, phase, seqs_per_group, query_tokens_per_seq,
                     context_tokens)


def stage_ops(hw: Hardware, model: Model, lay: Layouts, opts: Options, *,
              seqs_per_group, query_tokens_per_seq, phase: str, context_tokens: float = 0.0
              ) -> dict[str, OpCost]:
    """Every op of the busiest pipeline stage for one stage step, per GPU.

    ``seqs_per_group`` sequences pass through a stage's G = tp*dp_attn GPUs, each with
    ``query_tokens_per_seq`` new tokens (S in prefill, 1 in decode); in decode each attends to
    ``context_tokens`` cached tokens.
    """
    c = op_context(hw, model, lay, opts, seqs_per_group=seqs_per_group,
                   query_tokens_per_seq=query_tokens_per_seq, phase=phase,
                   context_tokens=context_tokens)
    return {op.name: op.cost(c) for op in REGISTRY}


def overlap_batches(lay: Layouts, opts: Options, seqs_per_group, query_tokens):
    """Micro-batches a stage step runs as: 2 with two-batch overlap (``opts.two_batch_overlap``
    for every layout, or the layout's own ``lay.tbo`` flag, a choice the planner searches)
    where an attention rank has at least 2 tokens to split, else 1."""
    tokens = np.asarray(seqs_per_group, dtype=float) / lay.dp_attn * query_tokens
    on = opts.two_batch_overlap | (lay.tbo != 0)
    return np.where(on & (tokens >= 2), 2.0, 1.0)


def stage_split_s(times: dict[str, np.ndarray], opts: Options, batches=1.0):
    """(GPU time, communication time, exposed communication time) of one micro-batch's stage
    step from each op's time: ``exposed = comm - min(f * comm, gpu)``
    (:func:`analysis.estimate.formulas.exposed_comm_time_s`), f = ``overlap_fraction``, or 1
    under two-batch overlap (``batches`` = 2: one micro-batch's communication hides under the
    other's GPU work, so the pair takes ``2 max(gpu, comm)``)."""
    gpu = sum(times[o] for o in GPU_OPS)
    comm = sum(times[o] for o in COMM_OPS)
    frac = np.where(np.asarray(batches) > 1, 1.0, opts.overlap_fraction)
    return gpu, comm, f.exposed_comm_time_s(comm, gpu, frac)


def stage_time_s(ops: dict[str, OpCost], opts: Options, batches=1.0) -> np.ndarray:
    """Sum of op times, with ``overlap_fraction`` of communication hidden under GPU work; under
    two-batch overlap ``ops`` are one of ``batches`` micro-batches, each reading the weights
    again and launching its own kernels."""
    gpu, _, exposed = stage_split_s({o: ops[o].time_s for o in OPS}, opts, batches)
    return batches * (gpu + exposed)


def compute_and_comm_s(ops: dict[str, OpCost]) -> np.ndarray:
    """The GPU ops' compute time plus the communication time, without memory time: what extra
    tokens add to a forward pass whose weight reads are already paid for."""
    return sum(ops[o].compute_s for o in GPU_OPS) + sum(ops[o].comm_s for o in COMM_OPS)
