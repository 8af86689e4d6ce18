"""Serving estimate: a deployment under continuous batching at a given concurrency.

Benchmarks rarely run one static batch. A closed loop at concurrency C keeps C requests in
flight; the engine runs *iterations*, each one decode step for every running request plus the
prefills of the requests admitted to replace those that just finished (continuous batching,
Orca; Yu et al., OSDI 2022). In steady state, with I prompt and O output tokens per request:

* each request lives O iterations, so ``C / O`` requests finish, and as many are admitted and
  prefilled, per iteration (C spread over ``dp`` replicas and their attention-DP ranks);
* ``t_iter = t_decode(C, context I + O/2) + t_prefill(C / O prompts of I tokens)``, where the
  prefill adds its FLOPs and communication but not its weight reads (one fused forward pass
  reads each weight once for decode and prefill tokens alike);
* TPOT = ``t_iter`` (a decode step waits for the prefills it shares the iteration with);
* TTFT = ``t_iter / 2`` (waiting for the running iteration to end) ``+ t_first``, the iteration
  that prefills its whole prompt (with the ``max(1, C/O)`` admitted beside it) and emits its
  first token;
* output throughput = ``C / t_iter`` tokens/s over the deployment.

When C does not fit in memory, the engine runs the largest batch that does and the rest queue:
TTFT grows by the queue's wait, ``(C - C_fit) / (C_fit / (O * t_iter))`` (Little's law).
An open loop at request rate ``lambda`` is the same with ``C = lambda * (TTFT + O * TPOT)``,
solved by fixed-point iteration; past capacity no steady state exists and we say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from analysis.estimate.layouts import Layouts, check_strategy
from analysis.estimate.memory import phase_memory_bytes
from analysis.estimate.metrics import decode_step_time_s, prefill_chunk_ops
from analysis.estimate.ops import compute_and_comm_s
from analysis.estimate.options import Options
from analysis.inputs.errors import InputError
from analysis.inputs.types import Scenario, Strategy, check_positive


@dataclass(frozen=True)
class ServingEstimate:
    """Steady state of one layout at one concurrency. Times in seconds."""

    strategy: Strategy
    concurrency: float           # requests in flight, whole deployment
    running: float               # requests the engine can hold (memory), whole deployment
    isl: int
    osl: int
    iteration_s: float
    decode_s: float              # decode part of an iteration
    prefill_s: float             # prefill part of an iteration
    queue_wait_s: float
    ttft_s: float
    tpot_s: float
    output_tokens_per_s: float   # whole deployment
    output_tokens_per_s_per_gpu: float
    total_tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float
    memory_limited: bool
    mode: str

    def to_dict(self) -> dict:
        d = {k: (float(v) if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
                 else v) for k, v in self.__dict__.items()}
        d["strategy"] = self.strategy.as_dict()
        d["layout"] = self.strategy.label()
        return d


def memory_for_one_sequence_per_rank(scenario: Scenario, strategy: Strategy, isl: int,
                                     osl: int, opts: Options) -> dict[str, float]:
    """Memory per GPU by component when every attention rank holds one sequence of ``isl``
    prompt and ``osl`` output tokens: the weights, one prompt's (chunked) prefill activations,
    buffers and reserve, and that one sequence's KV cache (``kv_cache``)."""
    lay = Layouts.from_strategies([replace(strategy, microbatches=1)])
    mem = phase_memory_bytes(scenario.hardware, scenario.model, lay, opts,
                             reserve_fraction=scenario.requirements.memory_reserve_fraction,
                             kv_sequences_per_gpu=1.0, context_tokens=isl + osl,
                             prefill_seqs_per_group=float(strategy.dp_attn), prompt_tokens=isl,
                             decode_seqs_per_group=float(strategy.dp_attn))
    return {k: float(v[0]) for k, v in mem.items()}


def max_running_requests(scenario: Scenario, strategy: Strategy, isl: int, osl: int,
                         opts: Options) -> float:
    """Largest number of requests (whole deployment) whose KV cache fits next to the weights,
    activations, buffers and reserve: ``floor(free bytes / KV bytes of one sequence) * dp *
    dp_attn``, sized by :func:`memory_for_one_sequence_per_rank` (so replicas change nothing
    per GPU)."""
    mem = memory_for_one_sequence_per_rank(scenario, strategy, isl, osl, opts)
    per_seq_gpu = mem["kv_cache"]
    free = scenario.hardware.hbm_capacity_bytes - sum(
        v for k, v in mem.items() if k != "kv_cache")
    if free <= 0 or per_seq_gpu <= 0:
        return 0.0
    return math.floor(free / per_seq_gpu) * strategy.dp * strategy.dp_attn


def _decode_step_s(scenario: Scenario, strategy: Strategy, running: float, isl: int, osl: int,
                   opts: Options) -> float:
    """One decode step of ``running`` requests (whole deployment) at the mid-generation context,
    through every pipeline stage; the requests spread over the ``dp`` replicas."""
    t, _ = decode_step_time_s(scenario.hardware, scenario.model,
                              Layouts.from_strategies([strategy]), opts,
                              seqs_per_replica=running / strategy.dp,
                              context_tokens=isl + osl / 2)
    return float(t[0])


def _prefill_extra_s(scenario: Scenario, strategy: Strategy, prompts: float, isl: int,
                     opts: Options) -> float:
    """What prefilling ``prompts`` prompts adds to an iteration that also runs a decode step:
    their compute and communication. Their weight reads are shared with the decode step (one
    fused forward pass reads each weight once), so memory time is not added again."""
    ops = prefill_chunk_ops(scenario.hardware, scenario.model,
                            Layouts.from_strategies([strategy]), opts,
                            seqs_per_group=prompts / strategy.dp, prompt_tokens=isl)
    return strategy.pp * float(compute_and_comm_s(ops)[0])


def serve(scenario: Scenario, strategy: Strategy, isl: int, osl: int,
          concurrency: float | None = None, request_rate_per_s: float | None = None,
          opts: Options | None = None) -> ServingEstimate:
    """Steady-state TTFT, TPOT and throughput of ``strategy`` serving requests of ``isl`` prompt
    and ``osl`` output tokens, at a closed-loop ``concurrency`` or an open-loop
    ``request_rate_per_s`` (exactly one of the two). ``concurrency=None`` and no rate: as many
    requests as memory holds (a "max throughput" run)."""
    opts = opts or Options()
    check_positive("isl", isl, integer=True)
    check_positive("osl", osl, integer=True)
    if concurrency is not None and request_rate_per_s is not None:
        raise InputError("concurrency", concurrency, "give a concurrency or a request rate, "
                         "not both", "one of --concurrency, --request-rate")
    check_strategy(scenario.model, None, replace(strategy, microbatches=1))
    fit = max_running_requests(scenario, strategy, isl, osl, opts)
    if fit < 1:
        raise InputError("strategy", strategy.label(),
                         f"not even one request of {isl + osl} tokens fits in memory beside the "
                         f"weights on {scenario.hardware.name}", "more GPUs (larger tp/ep/pp)")
    if request_rate_per_s is not None:
        check_positive("request_rate_per_s", request_rate_per_s)
        return _open_loop(scenario, strategy, isl, osl, request_rate_per_s, fit, opts)
    c = fit if concurrency is None else float(concurrency)
    check_positive("concurrency", c)
    return _closed_loop(scenario, strategy, isl, osl, c, fit, opts)


def _closed_loop(scenario, strategy, isl, osl, c, fit, opts) -> ServingEstimate:
    running = min(c, fit)
    t_dec = _decode_step_s(scenario, strategy, running, isl, osl, opts)
    t_pre = _prefill_extra_s(scenario, strategy, running / osl, isl, opts)
    t_iter = t_dec + t_pre
    # the iteration that admits a request prefills its whole prompt (with any others admitted
    # at the same time: running / osl on average, at least this one)
    t_first = t_dec + _prefill_extra_s(scenario, strategy, max(1.0, running / osl), isl, opts)
    # queued requests wait for running ones to finish: Little's law on the running set
    completions_per_s = running / (osl * t_iter)
    wait = (c - running) / completions_per_s if c > running else 0.0
    ttft = wait + t_iter / 2 + t_first
    out_per_s = running / t_iter
    gpus = strategy.gpus
    return ServingEstimate(strategy, c, fit, isl, osl, t_iter, t_dec, t_pre, wait, ttft, t_iter,
                           out_per_s, out_per_s / gpus, out_per_s * (isl + osl) / osl / gpus,
                           1 / t_iter, c > fit, opts.mode)


def _open_loop(scenario, strategy, isl, osl, rate, fit, opts) -> ServingEstimate:
    """Fixed point of ``C = rate * (TTFT + (O - 1) * TPOT)`` (Little's law)."""
    cap = _closed_loop(scenario, strategy, isl, osl, fit, fit, opts)
    capacity_rps = cap.output_tokens_per_s / osl
    if rate >= capacity_rps:
        raise InputError("request_rate_per_s", rate,
                         f"at or past this layout's capacity of {capacity_rps:.3g} requests/s: "
                         f"the queue grows without bound and no steady state exists",
                         f"a rate below {capacity_rps:.3g} requests/s, or more GPUs")
    c = max(1e-6, rate * osl * 1e-3)
    for _ in range(200):
        est = _closed_loop(scenario, strategy, isl, osl, c, fit, opts)
        new = rate * (est.ttft_s + (osl - 1) * est.tpot_s)
        if abs(new - c) <= 1e-6 * max(1.0, c):
            break
        c = 0.5 * c + 0.5 * new
    return replace(est, concurrency=c)
