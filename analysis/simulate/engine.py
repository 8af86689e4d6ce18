"""An iteration-level simulator of one serving-engine replica.

One replica is ``R`` attention-DP ranks run in lockstep. Each rank is one scheduler with its
own requests (assigned on arrival, round-robin or least-loaded), its own running-request cap,
token budget per iteration and paged KV pool. Every iteration, on every rank:

1. **admission** (FCFS): waiting requests start while the rank runs fewer than
   ``max_running_requests`` and its KV pool has the blocks for the whole request
   (``ceil((prompt + output) / block)``: reserved at admission, never preempted);
2. **scheduling** under ``max_tokens_per_iteration``: ``mixed`` puts every running decode in
   (one token each) and fills the rest with prompt chunks, FCFS; ``prefill_first`` runs prompt
   chunks alone when there are any and the decodes wait. With chunked prefill a prompt is cut to
   the budget left; without, it runs whole (alone if it exceeds the budget);
3. the iteration takes the busiest rank's time from the cost model
   (:class:`~analysis.simulate.cost.CostTables`) plus the engine's fixed overhead;
4. a prompt whose last chunk ran emits its first token at the iteration's end; every decode
   emits one token; a request ends with its last token and frees its blocks.

Speed: between events (an admission, a prompt chunk, a completion, an admissible arrival) every
iteration has the same composition: only the contexts grow, by one token per iteration. Such a
stretch of k decode-only iterations is advanced at once, priced at its mid-point context
(exact while the attention cost is linear in context). There is no loop per token; the loops
per iteration run over ranks and the few prompts being prefilled.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from analysis.inputs.errors import InputError
from analysis.simulate.workload import Requests


class IterationCost(Protocol):
    """What the engine asks of a cost model (seconds); :class:`~.cost.CostTables` is one."""

    def linear(self, tokens: float) -> float: ...
    def head(self, seqs: float) -> float: ...
    def decode_attention(self, seqs: float, mean_context: float) -> tuple[float, float]: ...
    def prefill_attention(self, start: float, end: float) -> tuple[float, float]: ...
    def attention_s(self, compute_s: float, memory_s: float) -> float: ...
    def iteration_s(self, busiest_tokens: float, attention_and_head_s: float) -> float: ...


@dataclass(frozen=True)
class EngineCaps:
    """A replica's scheduler settings, per attention-DP rank."""

    ranks: int
    max_running_requests: int
    max_tokens_per_iteration: int
    chunked_prefill: bool
    mixing: str                     # "mixed" | "prefill_first"
    iteration_overhead_s: float
    kv_capacity_blocks: int         # per rank
    block_size_tokens: int
    dp_assignment: str              # "round_robin" | "least_loaded"


@dataclass
class Trace:
    """What one replica did. Times in seconds from the first send."""

    arrival_s: np.ndarray
    first_token_s: np.ndarray
    done_s: np.ndarray
    itl_s: np.ndarray               # distinct inter-token gaps ...
    itl_count: np.ndarray           # ... and how many tokens saw each (pooled over requests)
    iterations: int
    peak_kv_fraction: float         # busiest rank's reserved blocks / capacity, at the peak
    kv_limited: bool                # admission ever waited for KV blocks
    running_limited: bool           # admission ever waited for the running-request cap


def blocks_for(tokens: int, block_size_tokens: int) -> int:
    """KV blocks a sequence of ``tokens`` occupies: ``ceil(tokens / block size)``."""
    return -(-tokens // block_size_tokens)


def run_replica(req: Requests, caps: EngineCaps, cost: IterationCost,
                concurrency: int | None = None) -> Trace:
    """Simulate one replica serving ``req``. ``concurrency`` C: a closed loop (C sent at 0, each
    completion sends the next); None: requests are sent at ``req.arrival_s``."""
    n = len(req)
    isl = req.isl.tolist()
    osl = req.osl.tolist()
    prefix = req.prefix_cached.tolist()
    bs = caps.block_size_tokens
    need = [blocks_for(i + o, bs) for i, o in zip(isl, osl, strict=True)]
    if max(need) > caps.kv_capacity_blocks:
        big = int(np.argmax(need))
        raise InputError("workload", f"isl {isl[big]} + osl {osl[big]}",
                         f"one request needs {need[big]} KV blocks of {bs} tokens but a rank's "
                         f"pool holds {caps.kv_capacity_blocks}",
                         "shorter requests, more GPUs per rank (tp, pp) or a larger KV fraction")
    R = caps.ranks
    cap_run = caps.max_running_requests
    budget0 = caps.max_tokens_per_iteration
    kv_cap = caps.kv_capacity_blocks
    mixed = caps.mixing == "mixed"
    chunked = caps.chunked_prefill
    overhead = caps.iteration_overhead_s
    least_loaded = caps.dp_assignment == "least_loaded"

    arrival = [math.nan] * n
    first = [math.nan] * n
    done = [math.nan] * n
    waiting = [deque() for _ in range(R)]
    prefilling: list[list[list[int]]] = [[] for _ in range(R)]   # [rid, position, end]
    running = [0] * R
    n_dec = [0] * R
    ctx_base = [0] * R              # sum of context = ctx_base + n_dec * decode step
    dstep = [0] * R
    heaps: list[list[tuple[int, int]]] = [[] for _ in range(R)]   # (finish step, rid)
    blocks = [0] * R
    stalls: list[list[list[float]]] = [[] for _ in range(R)]     # [accumulated s, requests]
    itl: dict[float, int] = {}
    peak_blocks = 0
    kv_limited = running_limited = False
    rr = 0
    iterations = 0
    now = 0.0

    closed = concurrency is not None
    times = req.arrival_s.tolist()
    next_send = 0                   # next request to send (both loops send in id order)

    def target_rank() -> int:
        if not least_loaded or R == 1:
            return rr % R
        loads = [4 * len(waiting[r]) + running[r] for r in range(R)]
        return loads.index(min(loads))

    def send(rid: int, t: float) -> None:
        nonlocal rr
        r = target_rank()
        rr += 1
        arrival[rid] = t
        waiting[r].append(rid)

    def finish(r: int, rid: int, t: float) -> None:
        nonlocal next_send
        done[rid] = t
        blocks[r] -= need[rid]
        running[r] -= 1
        if closed and next_send < n:
            send(next_send, t)
            next_send += 1

    if closed:
        for rid in range(min(int(concurrency), n)):
            send(rid, 0.0)
        next_send = min(int(concurrency), n)

    while True:
        if not closed:
            while next_send < n and times[next_send] <= now:
                send(next_send, times[next_send])
                next_send += 1
        # admission, FCFS per rank
        for r in range(R):
            w = waiting[r]
            while w:
                rid = w[0]
                if running[r] >= cap_run:
                    running_limited = True
                    break
                if blocks[r] + need[rid] > kv_cap:
                    kv_limited = True
                    break
                w.popleft()
                blocks[r] += need[rid]
                running[r] += 1
                prefilling[r].append([rid, prefix[rid], isl[rid]])
            if blocks[r] > peak_blocks:
                peak_blocks = blocks[r]
        if not any(running):
            if not closed and next_send < n:
                now = max(now, times[next_send])
                continue
            break

        if not any(prefilling) and not any(stalls):
            # ---- a stretch of decode-only iterations, advanced at once
            k = min(heaps[r][0][0] - dstep[r] for r in range(R) if n_dec[r])

            def stretch_s(k: int) -> float:
                worst = 0.0
                seen = set()        # ranks in the same state (waves) are priced once
                for r in range(R):
                    nd = n_dec[r]
                    if nd:
                        ctx_sum = ctx_base[r] + nd * (dstep[r] + (k + 1) / 2)
                        if (nd, ctx_sum) in seen:
                            continue
                        seen.add((nd, ctx_sum))
                        c, m = cost.decode_attention(nd, ctx_sum / nd)
                        worst = max(worst, cost.attention_s(c, m) + cost.head(nd))
                return cost.iteration_s(max(n_dec), worst) + overhead

            t = stretch_s(k)
            if not closed and next_send < n and now + k * t > times[next_send]:
                r = target_rank()
                if running[r] < cap_run and blocks[r] + need[next_send] <= kv_cap:
                    k2 = max(1, math.ceil((times[next_send] - now) / t))
                    if k2 < k:
                        k = k2
                        t = stretch_s(k)
            now += k * t
            iterations += k
            total = sum(n_dec)
            itl[t] = itl.get(t, 0) + total * k
            for r in range(R):
                if n_dec[r]:
                    dstep[r] += k
                    _pop_finished(r, heaps, dstep, n_dec, ctx_base, isl, osl, now, finish)
            continue

        # ---- one explicit iteration
        busiest = 0
        worst = 0.0
        plan = []
        for r in range(R):
            pf = prefilling[r]
            nd = n_dec[r]
            if not pf and not nd:
                plan.append(None)
                continue
            budget = budget0
            tokens = logits = 0
            c = m = 0.0
            decodes = nd > 0 and (mixed or not pf)
            if decodes:
                tokens += nd
                logits += nd
                budget -= nd
            chunks = []
            if pf and (mixed or not decodes):
                for item in pf:
                    rem = item[2] - item[1]
                    if budget <= 0:
                        break
                    if chunked:
                        take = min(rem, budget)
                    elif rem <= budget or not chunks:
                        take = rem
                    else:
                        break
                    pc, pm = cost.prefill_attention(item[1], item[1] + take)
                    c += pc
                    m += pm
                    tokens += take
                    budget -= take
                    logits += 1
                    chunks.append((item, take))
            if decodes:
                dc, dm = cost.decode_attention(nd, (ctx_base[r] + nd * (dstep[r] + 1)) / nd)
                c += dc
                m += dm
            busiest = max(busiest, tokens)
            worst = max(worst, cost.attention_s(c, m) + cost.head(logits))
            plan.append((decodes, chunks))
        t = cost.iteration_s(busiest, worst) + overhead
        now += t
        iterations += 1
        for r in range(R):
            p = plan[r]
            if p is None:
                continue
            decodes, chunks = p
            nd = n_dec[r]
            if decodes:
                stalled = 0
                for acc, cnt in stalls[r]:
                    itl[acc + t] = itl.get(acc + t, 0) + cnt
                    stalled += cnt
                if nd > stalled:
                    itl[t] = itl.get(t, 0) + nd - stalled
                stalls[r] = []
                dstep[r] += 1
                _pop_finished(r, heaps, dstep, n_dec, ctx_base, isl, osl, now, finish)
            elif nd:
                stalled = 0
                for g in stalls[r]:
                    g[0] += t
                    stalled += g[1]
                if nd > stalled:
                    stalls[r].append([t, nd - stalled])
            if chunks:
                for item, take in chunks:
                    item[1] += take
                    if item[1] >= item[2]:
                        rid = item[0]
                        first[rid] = now
                        if osl[rid] <= 1:
                            finish(r, rid, now)
                        else:
                            n_dec[r] += 1
                            ctx_base[r] += isl[rid] - dstep[r]
                            heapq.heappush(heaps[r], (dstep[r] + osl[rid] - 1, rid))
                prefilling[r] = [it for it in prefilling[r] if it[1] < it[2]]

    gaps = np.array(sorted(itl), dtype=float)
    counts = np.array([itl[g] for g in sorted(itl)], dtype=np.int64)
    return Trace(np.array(arrival), np.array(first), np.array(done), gaps, counts, iterations,
                 peak_blocks / kv_cap, kv_limited, running_limited)


def _pop_finished(r, heaps, dstep, n_dec, ctx_base, isl, osl, now, finish) -> None:
    """End every request of rank ``r`` whose last decode step has run; take its share out of
    the rank's context sum (it joined at step ``d0 = finish step - (osl - 1)``)."""
    h = heaps[r]
    while h and h[0][0] <= dstep[r]:
        step, rid = heapq.heappop(h)
        n_dec[r] -= 1
        ctx_base[r] -= isl[rid] - (step - osl[rid] + 1)
        finish(r, rid, now)
