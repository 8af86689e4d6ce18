"""Scenario cards, part 4: the current strategy. Lines of a strategy section (or of any other
section that states degrees) are read with :mod:`analysis.inputs.read.text`; a stated GPU count
chooses between the readings of "EP x TP"; unstated PP / DP are 1, said; conflicts are warnings.
"""

from __future__ import annotations

import re

from analysis.inputs.errors import InputError
from analysis.inputs.read.card.values import CardLine, CardState, fmt_num
from analysis.inputs.read.card.words import scan_top_k
from analysis.inputs.read.text import degrees_in_text, read_degrees
from analysis.inputs.strategy import Strategy


def handle_strategy_line(st: CardState, line: CardLine) -> None:
    """A line of a strategy section: degrees in any shape (see
    :func:`analysis.inputs.read.text.degrees_in_text`), a GPU count ("GPUs: 128", "Total GPUs =
    EP x TP x PP x DP = 8 x 8 x 2 x 8 = 1024") and its product; else a top-k; else noted."""
    d = read_degrees([(line.no, line.text, line.heading)])
    for name, (v, _) in d.values.items():
        put_degree(st, name, v, line)
    if d.gpus is not None:
        if st.gpus is None:
            st.gpus = (d.gpus[0], line)
        elif st.gpus[0] != d.gpus[0]:
            st.warn(f"line {line.no}: {d.gpus[0]} GPUs disagrees with {st.gpus[0]} GPUs (line "
                    f"{st.gpus[1].no}); the first is kept")
    if d.product is not None:
        st.products.append((d.product[0], line))
    if d or d.gpus is not None:
        return
    names = [n for n, _ in degrees_in_text(line.key + ": 1")] if line.key else []
    if names and re.search(r"\b(?:none|no|disabled|off|not used)\b", line.value, re.IGNORECASE):
        put_degree(st, names[0], 1, line)
        return
    if names:   # a degree named but not readable: never guessed (an error unless stated elsewhere)
        raise st.error(line, f"current_strategy.{names[0]}: no degree in {line.value.strip()!r} "
                             f"(write e.g. '{line.key}: 4-way')")
    if not scan_top_k(st, line):
        st.note(f"line {line.no} ignored: {line.text.strip()!r}")


def put_degree(st: CardState, name: str, value: int, line: CardLine) -> None:
    """Record a stated degree; a different restatement is a warning (the first is kept)."""
    if name in st.strategy:
        old, where = st.strategy[name]
        if old != value:
            st.warn(f"line {line.no}: {name} restated as {value}; the first value {old} (line "
                    f"{where.no}) is kept")
        return
    st.strategy[name] = (value, line)


def scan_other_line(st: CardState, line: CardLine) -> None:
    """A line of a section that is not an input ("## Baseline", "## Performance Evaluation"):
    top-k is read wherever it is stated; degrees are kept per section, in case no strategy
    section states any."""
    scan_top_k(st, line)
    found = degrees_in_text(line.text, line.heading)
    if found:
        st.other_degrees.setdefault(line.heading, []).extend((n, v, line) for n, v in found)


def _stated_strategy(st: CardState, assumptions: list[str]) -> dict[str, tuple[int, int]]:
    """Degree -> (value, line): from the strategy sections, else from the first other section
    that states degrees ("## Baseline", "## Performance Evaluation"), said so."""
    if st.strategy:
        return {n: (v, ln.no) for n, (v, ln) in st.strategy.items()}
    for heading, found in st.other_degrees.items():
        if any(n in ("tp", "ep", "pp", "dp", "etp", "dp_attn") for n, _, _ in found):
            out: dict[str, tuple[int, int]] = {}
            for n, v, ln in found:
                if n in out and out[n][0] != v:
                    st.warn(f"line {ln.no}: {n} restated as {v} under '{heading}'; {out[n][0]} "
                            f"(line {out[n][1]}) is kept")
                out.setdefault(n, (v, ln.no))
            assumptions.append(f"the current strategy is read from '{heading}' (line "
                               f"{found[0][2].no}), the first section that states degrees")
            st.ignored_sections = [s for s in st.ignored_sections
                                   if not s.startswith(f"'{heading}'")]
            return out
    return {}


def _gpus_of(cs: dict[str, int]) -> int | None:
    """GPUs of the layout the degrees describe, completed as the scenario reader will
    (:meth:`Strategy.complete`); None when they cannot form a layout."""
    try:
        return Strategy.complete(**cs).gpus
    except InputError:
        return None


def _choose_reading(st: CardState, cs: dict[str, int], assumptions: list[str]) -> None:
    """EP and TP stated without dp_attn / etp: the seed's product reading (etp = tp, dp_attn =
    ep: EP x TP GPUs) or TP inside an attention group of EP ranks (dp_attn = ep / tp, etp = 1:
    EP GPUs). A stated GPU count chooses; without one the product reading is kept, said."""
    if not ("tp" in cs and "ep" in cs) or "dp_attn" in cs or "etp" in cs or cs["tp"] == 1:
        return
    tp, ep = cs["tp"], cs["ep"]
    rest = cs.get("pp", 1) * cs.get("dp", 1)
    product, nested = tp * ep * rest, ep * rest
    if st.gpus is None:
        assumptions.append(f"current strategy: EP {ep} and TP {tp} read as a product (experts "
                           f"EP {ep} x TP {tp}, attention TP {tp} x DP {ep}): {product} GPUs; no "
                           f"GPU count is stated to choose TP inside the EP group ({nested})")
        return
    n, line = st.gpus
    if n == nested and ep % tp == 0 and n != product:
        cs.update(dp_attn=ep // tp, etp=1)
        assumptions.append(f"current strategy: line {line.no} states {n} GPUs = EP x PP x DP, so "
                           f"TP {tp} runs inside the attention group of the {ep} EP ranks "
                           f"(attention TP {tp} x DP {ep // tp}, experts EP {ep}), not EP x TP = "
                           f"{product}")
    elif n == product:
        pass    # the product reading, confirmed by the count (noted by _check_products)
    else:
        st.warn(f"line {line.no}: {n} GPUs matches neither EP x TP x PP x DP = {product} nor TP "
                f"inside the EP group ({nested}); the product reading is kept")


def _fill_pp_dp(cs: dict[str, int], assumptions: list[str]) -> None:
    """PP and DP not stated: 1, said. A stated GPU count is not used to solve them (a count that
    differs from the layout's is a conflict to report, see :func:`_check_products`)."""
    for name in ("pp", "dp"):
        if name not in cs:
            cs[name] = 1
            assumptions.append(f"current strategy: no {name.upper()} degree stated: {name} = 1")


def current_strategy(st: CardState, assumptions: list[str]) -> dict | None:
    """The degrees the card states, the reading a stated GPU count chooses, PP / DP filled in;
    every choice said, every disagreement a warning."""
    stated = _stated_strategy(st, assumptions)
    if not stated:
        if "strategy" in st.kinds_seen:
            st.note("a strategy section is present but states no parallel degrees")
        return None
    cs = {name: v for name, (v, _) in stated.items()}
    _choose_reading(st, cs, assumptions)
    _fill_pp_dp(cs, assumptions)
    rec = [h for h in st.strategy_headings
           if re.search(r"recommend|proposed|optimi[sz]ed|suggested", h, re.IGNORECASE)]
    if rec and st.strategy:
        assumptions.append(f"the card's '{rec[0]}' is taken as the current strategy (to be "
                           f"audited)")
    _check_products(st, cs)
    order = ("ep", "tp", "pp", "dp", "etp", "dp_attn", "microbatches", "redundant_experts")
    return {n: cs[n] for n in order if n in cs}


def _check_products(st: CardState, cs: dict[str, int]) -> None:
    """A written product that does not multiply out, and a GPU count that differs from the
    layout's: warnings (the stated degrees are kept)."""
    for p, line in st.products:
        if p.total is not None and p.total != p.value:
            st.warn(f"line {line.no}: {' x '.join(fmt_num(f) for f in p.factors)} = "
                    f"{fmt_num(p.value)}, not the {fmt_num(p.total)} written")
    if st.gpus is not None:
        n, line = st.gpus
        gpus = _gpus_of(cs)
        prod = 1
        for name in ("ep", "tp", "pp", "dp"):
            prod *= cs.get(name, 1)
        if gpus == prod:
            text = (f"line {line.no}: the strategy states {n} GPUs in total, which "
                    f"{'equals' if gpus == n else 'differs from'} EP x TP x PP x DP = {prod}")
        else:
            text = (f"line {line.no}: the strategy states {n} GPUs in total, which "
                    f"{'equals' if gpus == n else 'differs from'} the layout's {gpus}")
        (st.note if gpus == n else st.warn)(text)
