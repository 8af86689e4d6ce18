"""What the claims are judged against (:class:`Ctx`): the plan's scenario and layout, our
estimate of that layout, and what could not be read; where each missing part is written in a
plan (:func:`where_stated`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis import estimate as E
from analysis.inputs.types import Scenario, Strategy
from analysis.report.audit.quantities import Claim, sig

#: Where a plan states each part (the seed plan's headings), for "not checkable" reasons.
SECTION_OF = {
    "hardware": "the hardware ('## Hardware Environment': compute, memory, bandwidth)",
    "model": "the model ('## Model Configuration': layers, hidden size, heads, experts)",
    "workload": "the workload ('## Input Data': batch size, sequence lengths)",
    "requirements": "the requirements ('## Performance Requirements': TTFT, TPOT, throughput)",
    "layout": "the layout ('## Recommended Parallel Strategy': EP / TP / PP degrees)",
}


def where_stated(part: str, from_card: bool = False) -> str:
    """"the requirements ('## Performance Requirements': ...), in the plan or its card"."""
    where = SECTION_OF.get(part, f"the plan's {part}")
    if part == "layout":
        return where + ", in the plan"
    return where + (", in the card given" if from_card else
                    ", in the plan (or a scenario card given with --card)")


class NotCheckable(Exception):
    """A claim no number of ours can settle; the message says what is missing."""


@dataclass
class Ctx:
    """What the claims are judged against: the plan's scenario and layout, our estimate."""

    scenario: Scenario | None
    strategy: Strategy | None
    missing: dict[str, str]
    est: E.Estimate | None
    row: pd.Series | None          # the plan's layout as a search-table row (checks)
    kind: str                      # how the throughput requirement is read
    kind_why: str
    opts: E.Options
    claims: list[Claim] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)   # defaults the reading filled in
    from_card: bool = False        # the scenario is a card given beside the plan

    def stated(self, what: str) -> bool:
        """Whether an input (e.g. "MFU") was stated rather than defaulted."""
        return not any(a.startswith(f"no {what} stated") for a in self.assumptions)


def used_bytes(ctx: Ctx) -> float:
    """Memory per GPU without the runtime reserve."""
    return sum(v for k, v in ctx.est.memory_bytes.items() if k != "runtime_reserve")


def memory_breakdown(ctx: Ctx) -> str:
    """Our memory per GPU, part by part, each with the degree that divides it."""
    s = ctx.strategy
    mem = ctx.est.memory_bytes
    wl = ctx.scenario.workload
    seqs = wl.batch_sequences / s.dp / s.dp_attn
    used = sum(v for k, v in mem.items() if k != "runtime_reserve")
    return (f"ours per GPU: non-expert weights / (tp x pp = {s.tp * s.pp}) "
            f"{sig(mem['non_expert_weights'] / 1e9)} GB + expert weights / (etp x ep x pp = "
            f"{s.etp * s.ep * s.pp}) {sig(mem['expert_weights'] / 1e9)} GB + KV cache of "
            f"{seqs:g} sequences x {wl.max_prompt_tokens + wl.output_tokens} tokens "
            f"{sig(mem['kv_cache'] / 1e9)} GB + activations {sig(mem['activations'] / 1e9)} GB "
            f"+ communication buffers {sig(mem['comm_buffers'] / 1e9)} GB = "
            f"{sig(used / 1e9)} GB used"
            + ("" if "hardware" in ctx.missing else
               f" (with the {ctx.scenario.requirements.memory_reserve_fraction:.0%} runtime "
               f"reserve {sig(mem['runtime_reserve'] / 1e9)} GB: "
               f"{sig(sum(mem.values()) / 1e9)} GB, the figure the strategy report's memory "
               f"table and the fit check show)"))
