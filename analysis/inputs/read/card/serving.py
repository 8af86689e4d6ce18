"""Serving targets in a scenario card: TTFT and TPOT at a percentile and a request rate.

Lines of the requirements section such as::

    - TTFT (p90): 2 s
    - TPOT: 50 ms at p99
    - Request rate: 20 requests/s

are read as the ordinary TTFT and TPOT targets, and a stated percentile or request rate makes
the card a serving scenario: :func:`serving_block` then builds the scenario's ``serving:``
block (docs/scenario-format.md) from them; its lengths are the card's workload's. A card that
states neither keeps the static-batch reading, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import replace

from analysis.inputs.read.card.values import CardLine, CardState, fmt_num, need_number, read_time_s
from analysis.inputs.serving import PERCENTILES

#: "p90", "90th percentile", "90 % percentile", "median" (= p50); group 1 or 2 is the number.
PERCENTILE_RE = re.compile(r"\bp(\d{2})\b|\b(\d{2})\s*(?:th|%)?[\s-]*percentile\b|\bmedian\b",
                           re.IGNORECASE)

#: Request-rate units -> factor to requests per second.
RATE_UNITS = ((r"(?:/|per)\s*(?:s|sec|second)\b|\bqps\b|\brps\b", 1.0),
              (r"(?:/|per)\s*(?:min|minute)\b", 1 / 60), (r"(?:/|per)\s*(?:h|hr|hour)\b", 1 / 3600))


def read_percentile(st: CardState, line: CardLine) -> str | None:
    """The percentile a latency line states ("p90"), None when it states none; ParseError for
    one the simulator does not report (p95)."""
    m = PERCENTILE_RE.search(f"{line.key or ''} {line.value}")
    if m is None:
        return None
    p = "p50" if m.group(0).lower() == "median" else f"p{m.group(1) or m.group(2)}"
    if p not in PERCENTILES:
        raise st.error(line, f"serving.percentile: {p} is not one of "
                             f"{', '.join(PERCENTILES)} (write e.g. 'TTFT (p90): 2 s')")
    return p


def _without_percentile(line: CardLine) -> CardLine:
    return replace(line, value=PERCENTILE_RE.sub(" ", line.value),
                   key=PERCENTILE_RE.sub(" ", line.key or "").strip() or line.key)


def _latency(st: CardState, line: CardLine, fact: str) -> None:
    p = read_percentile(st, line)
    if p is not None:
        st.set("serving_percentile", p, line)
    st.set(fact, read_time_s(st, _without_percentile(line), f"requirements.{fact}"), line)


def read_ttft(st: CardState, line: CardLine) -> None:
    """TTFT target, and its percentile if the line states one."""
    _latency(st, line, "ttft_s")


def read_tpot(st: CardState, line: CardLine) -> None:
    """TPOT target, and its percentile if the line states one."""
    _latency(st, line, "tpot_s")


def read_request_rate(st: CardState, line: CardLine) -> None:
    """Requests per second for the whole deployment ("20 requests/s", "1200 per minute")."""
    v, rest = need_number(st, line, "serving.request_rate_per_s", "Request rate: 20 requests/s")
    if v <= 0:
        raise st.error(line, f"serving.request_rate_per_s: {fmt_num(v)} is not positive "
                             f"(write e.g. 'Request rate: 20 requests/s')")
    for pattern, scale in RATE_UNITS:
        if re.search(pattern, f"{rest} {line.key or ''}", re.IGNORECASE):
            st.set("request_rate_per_s", v * scale, line)
            return
    st.note(f"line {line.no}: request rate {fmt_num(v)} has no unit; read as requests per "
            f"second")
    st.set("request_rate_per_s", v, line)


def serving_block(st: CardState, assumptions: list[str]) -> dict | None:
    """The ``serving:`` block when the card states a percentile or a request rate, else None.
    It states no lengths: the scenario reader takes the workload's, as for a YAML block (a
    prompt range becomes a uniform draw)."""
    if "serving_percentile" not in st.facts and "request_rate_per_s" not in st.facts:
        return None
    block: dict = {}        # lengths: the workload's, as for a YAML serving block
    for fact in ("ttft_s", "tpot_s", "request_rate_per_s"):
        if st.get(fact) is not None:
            block[fact] = st.get(fact)
    if "serving_percentile" in st.facts:
        block["percentile"] = st.get("serving_percentile")
    else:
        assumptions.append("serving: no percentile stated with TTFT or TPOT: p90 (the default)")
    assumptions.append("serving: the card states "
                       + ("a percentile" if "serving_percentile" in st.facts else "a request rate")
                       + ", so it is read as a serving scenario (targets per request, "
                         "continuous batching) as well as a static batch")
    return block
