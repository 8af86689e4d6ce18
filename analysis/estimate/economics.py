"""Cost and energy of a serving deployment: small pure formulas, SI units in every name.

Cost is rental cost: the GPUs' hourly price over the tokens they produce. Input (prompt) and
output tokens are charged by the share of GPU time each phase takes, so the two costs add up to
the deployment's whole bill. Energy is an upper bound: every GPU at its maximum board power all
the time (real draw is lower; host, network and cooling are not counted).
"""

from __future__ import annotations

SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MILLION = 1e6


def deployment_cost_usd_per_s(price_usd_per_gpu_hour: float, gpus: int) -> float:
    """``price * gpus / 3600``: dollars per second of the whole deployment."""
    return price_usd_per_gpu_hour * gpus / SECONDS_PER_HOUR


def cost_usd_per_million_tokens(cost_usd_per_s: float, share_of_time: float,
                                tokens_per_s: float) -> float:
    """``cost/s * share / tokens/s * 1e6``: dollars per million tokens of a kind that takes
    ``share_of_time`` of the GPUs' time and is produced at ``tokens_per_s``."""
    return cost_usd_per_s * share_of_time / tokens_per_s * TOKENS_PER_MILLION


def energy_upper_bound_j_per_token(board_power_w: float, gpus: int, tokens_per_s: float) -> float:
    """``P_board * gpus / tokens/s``: joules per token with every GPU at full board power."""
    return board_power_w * gpus / tokens_per_s


def deployment_economics(price_usd_per_gpu_hour: float | None, board_power_w: float | None,
                         gpus: int, input_tokens_per_s: float, output_tokens_per_s: float,
                         prefill_share_of_time: float) -> dict[str, float | None]:
    """Cost per million input and output tokens (GPU time split by phase:
    ``prefill_share_of_time`` to input tokens, the rest to output), the blended cost per million
    tokens of both kinds, and the energy upper bound per output token and per token. ``None``
    where the GPU preset has no price or board power."""
    out: dict[str, float | None] = dict.fromkeys(
        ("cost_usd_per_hour", "cost_usd_per_million_input_tokens",
         "cost_usd_per_million_output_tokens", "cost_usd_per_million_tokens",
         "energy_upper_bound_j_per_output_token", "energy_upper_bound_j_per_token"))
    total_tokens_per_s = input_tokens_per_s + output_tokens_per_s
    if price_usd_per_gpu_hour is not None:
        c = deployment_cost_usd_per_s(price_usd_per_gpu_hour, gpus)
        out["cost_usd_per_hour"] = c * SECONDS_PER_HOUR
        out["cost_usd_per_million_input_tokens"] = cost_usd_per_million_tokens(
            c, prefill_share_of_time, input_tokens_per_s)
        out["cost_usd_per_million_output_tokens"] = cost_usd_per_million_tokens(
            c, 1 - prefill_share_of_time, output_tokens_per_s)
        out["cost_usd_per_million_tokens"] = cost_usd_per_million_tokens(c, 1.0,
                                                                         total_tokens_per_s)
    if board_power_w is not None:
        out["energy_upper_bound_j_per_output_token"] = energy_upper_bound_j_per_token(
            board_power_w, gpus, output_tokens_per_s)
        out["energy_upper_bound_j_per_token"] = energy_upper_bound_j_per_token(
            board_power_w, gpus, total_tokens_per_s)
    return out
