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
   (:class:`~analysis.simulate.cost.CostTables`) plus the host's (:mod:`.host`: a fixed part, a
   part per sequence, the launch time of a prompt iteration run without CUDA graphs);
4. a prompt whose last chunk ran emits its first token at the iteration's end; every decode
   emits one token; a request ends with its last token and frees its blocks.

A request reaches the schedulers ``request_path_s`` after its client sends it (HTTP,
tokenisation, the way back of its tokens); its latencies run from the send.

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

from analysis.simulate.host import iteration_host_s, launch_bound_s
from analysis.simulate.kv_blocks import blocks_needed
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
    prefill_host_s: float = 0.0     # host launch time of a forward with prompt tokens (eager)
    sequence_overhead_s: float = 0.0  # host work per sequence in an iteration
    request_path_s: float = 0.0     # client send -> the scheduler sees it, tokens' way back


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


def run_replica(req: Requests, caps: EngineCaps, cost: IterationCost,
                concurrency: int | None = None) -> Trace:
    """Simulate one replica serving ``req``. ``concurrency`` C: a closed loop (C sent at 0, each
    completion sends the next); None: requests are sent at ``req.arrival_s``."""
    sim = _Replica(req, caps, cost, concurrency)
    if sim.closed:
        for rid in range(min(int(concurrency), sim.n)):
            sim.client_send(rid, 0.0)
        sim.next_send = min(int(concurrency), sim.n)
    running, prefilling, stalls = sim.running, sim.prefilling, sim.stalls   # mutated in place
    waiting = sim.waiting
    send_arrivals, admit, decode_stretch, iteration = (sim.send_arrivals, sim.admit,
                                                       sim.decode_stretch, sim.iteration)
    next_arrival = sim.next_arrival
    while True:
        t_next = next_arrival()
        if t_next is not None and t_next <= sim.now:
            send_arrivals()
        if any(waiting):            # blocks only grow at admission, so the peak cannot move
            admit()
        if not any(running):
            t_next = next_arrival()
            if t_next is not None:
                sim.now = max(sim.now, t_next)
                continue
            break
        if not any(prefilling) and not any(stalls):
            decode_stretch()
        else:
            iteration()
    return sim.trace()


class _Replica:
    """One replica's state while :func:`run_replica` runs it: per rank, the waiting queue, the
    prompts being prefilled ([rid, position, end]), the decodes (count, context sum
    ``ctx_base + n_dec * decode step``, a heap of (finish step, rid)), reserved KV blocks and
    decodes stalled behind a prefill-only iteration ([accumulated s, requests])."""

    def __init__(self, req: Requests, caps: EngineCaps, cost: IterationCost,
                 concurrency: int | None) -> None:
        n = self.n = len(req)
        self.isl = req.isl.tolist()
        self.osl = req.osl.tolist()
        self.prefix = req.prefix_cached.tolist()
        self.need = blocks_needed(self.isl, self.osl, caps)
        self.cost = cost
        R = self.R = caps.ranks
        self.cap_run = caps.max_running_requests
        self.budget0 = caps.max_tokens_per_iteration
        self.kv_cap = caps.kv_capacity_blocks
        self.mixed = caps.mixing == "mixed"
        self.chunked = caps.chunked_prefill
        self.overhead = caps.iteration_overhead_s
        self.prefill_host = caps.prefill_host_s
        self.per_seq = caps.sequence_overhead_s
        self.least_loaded = caps.dp_assignment == "least_loaded"
        self.arrival = [math.nan] * n
        self.first = [math.nan] * n
        self.done = [math.nan] * n
        self.waiting = [deque() for _ in range(R)]
        self.prefilling: list[list[list[int]]] = [[] for _ in range(R)]
        self.running = [0] * R
        self.n_dec = [0] * R
        self.ctx_base = [0] * R
        self.dstep = [0] * R
        self.heaps: list[list[tuple[int, int]]] = [[] for _ in range(R)]
        self.blocks = [0] * R
        self.stalls: list[list[list[float]]] = [[] for _ in range(R)]
        self.itl: dict[float, int] = {}
        self.peak_blocks = 0
        self.kv_limited = self.running_limited = False
        self.rr = 0
        self.iterations = 0
        self.now = 0.0
        self.closed = concurrency is not None
        self.path = caps.request_path_s
        self.times = (req.arrival_s + self.path).tolist()   # open loop: at the scheduler
        self.next_send = 0          # next request to send (both loops send in id order)
        self.pending: deque[tuple[float, int]] = deque()  # closed loop: sent, not yet there

    # ---------------------------------------------------------------- arrivals and admission

    def target_rank(self) -> int:
        if not self.least_loaded or self.R == 1:
            return self.rr % self.R
        loads = [4 * len(self.waiting[r]) + self.running[r] for r in range(self.R)]
        return loads.index(min(loads))

    def send(self, rid: int) -> None:
        """Request ``rid`` reaches the scheduler: it queues on a rank."""
        r = self.target_rank()
        self.rr += 1
        self.waiting[r].append(rid)

    def client_send(self, rid: int, t: float) -> None:
        """A closed loop's client sends ``rid`` at ``t``; the scheduler sees it ``path`` later."""
        self.arrival[rid] = t
        if self.path > 0:
            self.pending.append((t + self.path, rid))
        else:
            self.send(rid)

    def next_arrival(self) -> float | None:
        """When the next request not yet queued reaches the scheduler, or None."""
        if self.pending:
            return self.pending[0][0]
        if not self.closed and self.next_send < self.n:
            return self.times[self.next_send]
        return None

    def send_arrivals(self) -> None:
        """Queue every request that has reached the scheduler by now."""
        pending, now = self.pending, self.now
        while pending and pending[0][0] <= now:
            self.send(pending.popleft()[1])
        if not self.closed:
            times, path = self.times, self.path
            while self.next_send < self.n and times[self.next_send] <= now:
                self.arrival[self.next_send] = times[self.next_send] - path
                self.send(self.next_send)
                self.next_send += 1

    def finish(self, r: int, rid: int, t: float) -> None:
        self.done[rid] = t
        self.blocks[r] -= self.need[rid]
        self.running[r] -= 1
        if self.closed and self.next_send < self.n:
            self.client_send(self.next_send, t)
            self.next_send += 1

    def admit(self) -> None:
        """FCFS per rank, while the running cap and the KV pool allow."""
        running, blocks, need, cap_run, kv_cap = (self.running, self.blocks, self.need,
                                                  self.cap_run, self.kv_cap)
        for r in range(self.R):
            w = self.waiting[r]
            while w:
                rid = w[0]
                if running[r] >= cap_run:
                    self.running_limited = True
                    break
                if blocks[r] + need[rid] > kv_cap:
                    self.kv_limited = True
                    break
                w.popleft()
                blocks[r] += need[rid]
                running[r] += 1
                self.prefilling[r].append([rid, self.prefix[rid], self.isl[rid]])
            if blocks[r] > self.peak_blocks:
                self.peak_blocks = blocks[r]

    # ---------------------------------------------------------------- decode-only stretches

    def stretch_s(self, k: int) -> float:
        """One iteration of a k-iteration decode-only stretch, priced at its mid-point context."""
        cost, n_dec, ctx_base, dstep = self.cost, self.n_dec, self.ctx_base, self.dstep
        if self.R == 1:             # one rank (the common case): no waves to price once
            nd = n_dec[0]
            c, m = cost.decode_attention(nd, (ctx_base[0] + nd * (dstep[0] + (k + 1) / 2)) / nd)
            worst = max(0.0, cost.attention_s(c, m) + cost.head(nd))
            return cost.iteration_s(nd, worst) + iteration_host_s(self.overhead, self.per_seq, nd)
        worst = 0.0
        seen = set()                # ranks in the same state (waves) are priced once
        for r in range(self.R):
            nd = n_dec[r]
            if nd:
                ctx_sum = ctx_base[r] + nd * (dstep[r] + (k + 1) / 2)
                if (nd, ctx_sum) in seen:
                    continue
                seen.add((nd, ctx_sum))
                c, m = cost.decode_attention(nd, ctx_sum / nd)
                worst = max(worst, cost.attention_s(c, m) + cost.head(nd))
        busiest = max(n_dec)
        return cost.iteration_s(busiest, worst) + iteration_host_s(self.overhead, self.per_seq,
                                                                   busiest)

    def decode_stretch(self) -> None:
        """Decode-only iterations advanced at once, up to the next completion, or to the next
        arrival when the rank it would go to could admit it."""
        n_dec, dstep, heaps, R, itl = self.n_dec, self.dstep, self.heaps, self.R, self.itl
        k = min(heaps[r][0][0] - dstep[r] for r in range(R) if n_dec[r])
        t = self.stretch_s(k)
        now = self.now
        t_next = self.next_arrival()
        if t_next is not None and now + k * t > t_next:
            nxt = self.pending[0][1] if self.pending else self.next_send
            r = self.target_rank()
            if self.running[r] < self.cap_run and self.blocks[r] + self.need[nxt] <= self.kv_cap:
                k2 = max(1, math.ceil((t_next - now) / t))
                if k2 < k:
                    k = k2
                    t = self.stretch_s(k)
        self.now = now + k * t
        self.iterations += k
        itl[t] = itl.get(t, 0) + sum(n_dec) * k
        for r in range(R):
            if n_dec[r]:
                dstep[r] += k
                self.pop_finished(r)

    def pop_finished(self, r: int) -> None:
        """End every request of rank ``r`` whose last decode step has run; take its share out
        of the rank's context sum (it joined at step ``d0 = finish step - (osl - 1)``)."""
        h = self.heaps[r]
        d = self.dstep[r]
        if not h or h[0][0] > d:
            return
        isl, osl, n_dec, ctx_base, now = self.isl, self.osl, self.n_dec, self.ctx_base, self.now
        while h and h[0][0] <= d:
            step, rid = heapq.heappop(h)
            n_dec[r] -= 1
            ctx_base[r] -= isl[rid] - (step - osl[rid] + 1)
            self.finish(r, rid, now)

    # ---------------------------------------------------------------- one explicit iteration

    def iteration(self) -> None:
        """One iteration with prompt chunks (or stalled decodes): the busiest rank sets its time."""
        busiest = 0
        worst = 0.0
        prompts = False
        seqs = 0
        plan = []
        for r in range(self.R):
            p = self.plan_rank(r)
            if p is not None:
                tokens, s = p[2], p[3]
                busiest = max(busiest, tokens)
                worst = max(worst, s)
                prompts = prompts or bool(p[1])
                seqs = max(seqs, (self.n_dec[r] if p[0] else 0) + len(p[1]))
            plan.append(p)
        t = self.cost.iteration_s(busiest, worst)
        if prompts:
            t = launch_bound_s(t, self.prefill_host)
        t += iteration_host_s(self.overhead, self.per_seq, seqs)
        self.now += t
        self.iterations += 1
        for r in range(self.R):
            p = plan[r]
            if p is not None:
                self.apply_rank(r, p[0], p[1], t)

    def plan_rank(self, r: int):
        """(decodes run?, [(prompt item, tokens taken)], tokens, attention + head s) of rank
        ``r`` this iteration, or None when it has nothing to run."""
        pf = self.prefilling[r]
        nd = self.n_dec[r]
        if not pf and not nd:
            return None
        cost = self.cost
        budget = self.budget0
        tokens = logits = 0
        c = m = 0.0
        decodes = nd > 0 and (self.mixed or not pf)
        if decodes:
            tokens += nd
            logits += nd
            budget -= nd
        chunks = []
        if pf and (self.mixed or not decodes):
            chunks, c, m, taken = self.prompt_chunks(pf, budget)
            tokens += taken
            logits += len(chunks)
        if decodes:
            dc, dm = cost.decode_attention(nd, (self.ctx_base[r] + nd * (self.dstep[r] + 1)) / nd)
            c += dc
            m += dm
        return decodes, chunks, tokens, cost.attention_s(c, m) + cost.head(logits)

    def prompt_chunks(self, pf: list[list[int]], budget: int):
        """Prompt chunks FCFS under ``budget`` tokens: ([(item, take)], attention compute s,
        attention memory s, tokens taken)."""
        chunks = []
        c = m = 0.0
        taken = 0
        for item in pf:
            rem = item[2] - item[1]
            if budget <= 0:
                break
            if self.chunked:
                take = min(rem, budget)
            elif rem <= budget or not chunks:
                take = rem
            else:
                break
            pc, pm = self.cost.prefill_attention(item[1], item[1] + take)
            c += pc
            m += pm
            taken += take
            budget -= take
            chunks.append((item, take))
        return chunks, c, m, taken

    def apply_rank(self, r: int, decodes: bool, chunks: list, t: float) -> None:
        """Rank ``r`` after an iteration of ``t`` s: decodes emit (or stall), prompts advance."""
        nd = self.n_dec[r]
        itl = self.itl
        if decodes:
            stalled = 0
            for acc, cnt in self.stalls[r]:
                itl[acc + t] = itl.get(acc + t, 0) + cnt
                stalled += cnt
            if nd > stalled:
                itl[t] = itl.get(t, 0) + nd - stalled
            self.stalls[r] = []
            self.dstep[r] += 1
            self.pop_finished(r)
        elif nd:
            stalled = 0
            for g in self.stalls[r]:
                g[0] += t
                stalled += g[1]
            if nd > stalled:
                self.stalls[r].append([t, nd - stalled])
        if chunks:
            self.prompts_advanced(r, chunks)

    def prompts_advanced(self, r: int, chunks: list) -> None:
        """A prompt whose last chunk ran emits its first token now and starts decoding.
        Chunks are taken FCFS and only the last can be partial, so the finished prompts are
        the first ones of the rank's list."""
        now = self.now
        done = 0
        for item, take in chunks:
            item[1] += take
            if item[1] >= item[2]:
                done += 1
                rid = item[0]
                self.first[rid] = now
                if self.osl[rid] <= 1:
                    self.finish(r, rid, now)
                else:
                    self.n_dec[r] += 1
                    self.ctx_base[r] += self.isl[rid] - self.dstep[r]
                    heapq.heappush(self.heaps[r], (self.dstep[r] + self.osl[rid] - 1, rid))
        if done:
            del self.prefilling[r][:done]

    def trace(self) -> Trace:
        itl = self.itl
        gaps = np.array(sorted(itl), dtype=float)
        counts = np.array([itl[g] for g in sorted(itl)], dtype=np.int64)
        return Trace(np.array(self.arrival), np.array(self.first), np.array(self.done), gaps,
                     counts, self.iterations, self.peak_blocks / self.kv_cap, self.kv_limited,
                     self.running_limited)
