"""Turning SI values into text a person reads: the only place units change.

GB = 1e9 bytes (never GiB unless said), ms for latencies, tokens/ms per GPU for throughput
(the unit the seed plan and scenario cards use).
"""

from __future__ import annotations

import math


def params(n: float) -> str:
    """12,879,925,248 -> '12.88B'; 452,346,368 -> '452.3M'."""
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    return f"{n:,.0f}"


def gb(nbytes: float, digits: int = 2) -> str:
    return f"{nbytes / 1e9:.{digits}f} GB"


def seconds(t: float) -> str:
    """A latency with a unit that keeps 3 significant figures: '812 µs', '14.8 ms', '2.31 s'."""
    if not math.isfinite(t):
        return "n/a"
    if t >= 1:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} µs"


def ms(t: float, digits: int = 2) -> str:
    return f"{t * 1e3:.{digits}f} ms"


def tokens_per_ms(tokens_per_s: float) -> str:
    return f"{tokens_per_s / 1e3:.3g} tokens/ms"


def pct(x: float, digits: int = 1) -> str:
    return f"{x * 100:.{digits}f}%"


def tick(ok: bool) -> str:
    return "✓" if ok else "✗"


def table_number(x: float) -> str:
    """A number in a table shown to a person: thousands separated from 1,000 on, else four
    significant figures (2861.83 -> '2,862'; 831.7766 -> '831.8'; 0.036220 -> '0.03622')."""
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def use_readable_tables() -> None:
    """Show every float of a pandas table through :func:`table_number` (notebooks call it once,
    so no table prints six decimals)."""
    import pandas as pd

    pd.set_option("display.float_format", table_number)
