"""Speculative decoding / multi-token prediction as a scenario states it (``speculative:``).

``draft_tokens`` (d) tokens are drafted per step, each accepted with probability
``acceptance_rate`` (a); a draft token costs ``draft_cost_fraction`` (f) of the target's decode
step (None: an MTP module of one layer, f = 1/L). The estimate reads it through
:class:`analysis.estimate.Options` (same field names).
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.inputs.errors import InputError


def check_speculative(draft_tokens, acceptance_rate, draft_cost_fraction) -> None:
    """One-line errors for impossible speculation settings (shared by the scenario's block and
    the estimate's options)."""
    if isinstance(draft_tokens, bool) or not (isinstance(draft_tokens, int) and draft_tokens >= 0):
        raise InputError("speculative.draft_tokens", draft_tokens,
                         "draft tokens per step must be a whole number",
                         "an integer >= 0 (0 = no speculation; MTP drafts 1)")
    if not (0 <= acceptance_rate <= 1):
        raise InputError("speculative.acceptance_rate", acceptance_rate,
                         "must be a probability", "0 <= a <= 1 (e.g. 0.85 for DeepSeek MTP)")
    if draft_cost_fraction is not None and not (draft_cost_fraction >= 0):
        raise InputError("speculative.draft_cost_fraction", draft_cost_fraction,
                         "a cost cannot be negative",
                         "a fraction of the target's step per draft token, e.g. 0.05")


@dataclass(frozen=True)
class Speculative:
    """Speculative decoding as stated: d draft tokens per step, acceptance rate a, a draft
    token's cost as a fraction f of a target decode step (None: an MTP module of one layer)."""

    draft_tokens: int = 1
    acceptance_rate: float = 0.0
    draft_cost_fraction: float | None = None

    def __post_init__(self) -> None:
        check_speculative(self.draft_tokens, self.acceptance_rate, self.draft_cost_fraction)
