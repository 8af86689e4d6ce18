"""Interactive layout explorer for JupyterLab (sliders), kept out of the papermill/nbval path.

The pure parts are what the tests check: :func:`estimate_layout` (degrees and workload in, the
estimate or the readable reason the layout is impossible out), :func:`explore` (its headline
numbers as a table), :func:`chart_data` (what the chart draws, straight from the estimate) and
:func:`preset_scenario` (a scenario from a model preset, a GPU preset and a workload, composed
as ``plan --model M --hardware H`` composes it). The chart is drawn by
:mod:`analysis.explorer_chart`; :func:`layout_explorer` (in :mod:`analysis.explorer_widget`)
wraps all of it in ipywidgets for a person at a keyboard; ``explorers/layout_explorer.ipynb``
calls it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import pandas as pd

from analysis import estimate as E
from analysis import fmt
from analysis.inputs.errors import MoEPlanError
from analysis.inputs.read.presets import find_preset, list_presets
from analysis.inputs.read.scenario import compose_scenario
from analysis.inputs.types import Scenario, Strategy, Workload


def _etp_mismatch(tp: int, dp_attn: int, etp: int, ep: int) -> str | None:
    """Why ``etp`` cannot go with the other degrees (``tp * dp_attn == etp * ep``), or None."""
    gpus = tp * dp_attn
    if gpus == etp * ep:
        return None
    valid = f"etp={gpus // ep} with ep={ep}" if gpus % ep == 0 else \
        f"an ep that divides {gpus}"
    return (f"impossible: attention uses tp*dp_attn = {tp}*{dp_attn} = {gpus} GPUs but experts "
            f"use etp*ep = {etp}*{ep} = {etp * ep}; valid: etp*ep = {gpus}, e.g. {valid} "
            f"(or etp on auto)")


def estimate_layout(scenario: Scenario, tp: int = 1, dp_attn: int = 1, ep: int = 1, pp: int = 1,
                    dp: int = 1, microbatches: int = 1, batch_sequences: int | None = None,
                    prompt_tokens: int | None = None, mode: str = "derated",
                    etp: int | None = None) -> E.Estimate | str:
    """The estimate of one layout at one batch and prompt length, or a one-line reason starting
    "impossible:" when the degrees cannot go together. ``etp=None`` derives it from
    ``tp * dp_attn == etp * ep``; a given ``etp`` must satisfy that equation."""
    wl = scenario.workload
    b = batch_sequences or wl.batch_sequences
    s = prompt_tokens or wl.max_prompt_tokens
    if etp is None:
        if (tp * dp_attn) % ep:
            divisors = [d for d in range(1, tp * dp_attn + 1) if (tp * dp_attn) % d == 0]
            return (f"impossible: ep={ep} does not divide the tp*dp_attn = {tp}*{dp_attn} = "
                    f"{tp * dp_attn} GPUs the experts share; valid: ep in {divisors}")
        etp = tp * dp_attn // ep
    elif why := _etp_mismatch(tp, dp_attn, etp, ep):
        return why
    try:
        strategy = Strategy(tp=tp, dp_attn=dp_attn, etp=etp, ep=ep, pp=pp, dp=dp,
                            microbatches=microbatches)
        sc = replace(scenario, workload=Workload(b, (s,), wl.output_tokens))
        return E.estimate(sc, strategy, E.Options(mode=mode))
    except MoEPlanError as exc:
        return f"impossible: {exc}"


def explore(scenario: Scenario, tp: int = 1, dp_attn: int = 1, ep: int = 1, pp: int = 1,
            dp: int = 1, microbatches: int = 1, batch_sequences: int | None = None,
            prompt_tokens: int | None = None, mode: str = "derated",
            etp: int | None = None) -> pd.DataFrame:
    """One layout's headline numbers as a two-column table (quantity, value), or a one-row
    table whose ``value`` says why the layout is impossible (see :func:`estimate_layout`)."""
    est = estimate_layout(scenario, tp, dp_attn, ep, pp, dp, microbatches, batch_sequences,
                          prompt_tokens, mode, etp)
    return summary_table(est)


def summary_table(est: E.Estimate | str) -> pd.DataFrame:
    """The table :func:`explore` returns, from an estimate (or the reason there is none)."""
    if isinstance(est, str):
        return pd.DataFrame({"quantity": ["layout"], "value": [est]})
    w, strategy = est.worst, est.strategy
    mem = sum(est.memory_bytes.values())
    cap = est.scenario.hardware.hbm_capacity_bytes
    fits = "" if mem <= cap else "  (does NOT fit)"
    rows = [
        ("layout", f"{strategy.label()} ({strategy.describe()})"),
        ("memory per GPU", f"{fmt.gb(mem)} of {fmt.gb(cap)}{fits}"),
        ("TTFT (batch prefill)", fmt.seconds(w["ttft_s"])),
        ("TPOT (mid-generation)", fmt.seconds(w["tpot_s"])),
        ("prefill throughput per GPU", fmt.tokens_per_ms(w["prefill_tokens_per_s_per_gpu"])),
        ("decode throughput per GPU", fmt.tokens_per_ms(w["decode_tokens_per_s_per_gpu"])),
        ("prefill MFU", fmt.pct(w["prefill_mfu"])),
        ("largest TTFT term", max(((k, v) for k, v in est.ttft_breakdown_s.items()),
                                  key=lambda kv: kv[1])[0].replace("_", " ")),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"])


class ChartData(NamedTuple):
    """What the explorer's chart draws: ``memory`` (component, gb: memory per GPU, GB = 1e9
    bytes, runtime reserve included), ``time`` (phase "TTFT" or "TPOT", op, ms; ops with no
    time left out), the GPU's ``capacity_gb`` and the layout ``label``."""

    memory: pd.DataFrame
    time: pd.DataFrame
    capacity_gb: float
    label: str


def chart_data(est: E.Estimate) -> ChartData:
    """The estimate's own memory and time breakdowns in GB and ms: nothing re-derived, so the
    memory column sums to the table's memory per GPU, the TTFT rows to the worst-case TTFT and
    the TPOT rows to TPOT at the longest context."""
    memory = pd.DataFrame({"component": list(est.memory_bytes),
                           "gb": [v / 1e9 for v in est.memory_bytes.values()]})
    time = pd.DataFrame(
        [(phase, op, t * 1e3)
         for phase, parts in (("TTFT", est.ttft_breakdown_s), ("TPOT", est.tpot_breakdown_s))
         for op, t in parts.items() if t > 0],
        columns=["phase", "op", "ms"])
    return ChartData(memory, time, est.scenario.hardware.hbm_capacity_bytes / 1e9,
                     est.strategy.label())


def preset_names() -> dict[str, list[str]]:
    """The shipped model and GPU presets the selectors offer: {"models": [...], "gpus": [...]}."""
    return {"models": list_presets("models"), "gpus": list_presets("gpus")}


def preset_of(kind: str, name: str) -> str | None:
    """The preset name (file stem) a loaded model or GPU ``name`` came from, or None."""
    path = find_preset(kind, name)
    return path.stem if path is not None else None


def preset_scenario(model: str, gpu: str, batch_sequences: int, prompt_tokens: int,
                    output_tokens: int = 256) -> Scenario:
    """A scenario from a model preset, a GPU preset and a workload: the same composition as
    ``python -m analysis plan --model M --hardware H`` (:func:`compose_scenario`)."""
    return compose_scenario(gpu, model, batch_sequences, prompt_tokens, output_tokens)


def scenario_for(base: Scenario, model: str | None, gpu: str | None) -> Scenario:
    """``base`` with its model and GPU swapped for the named presets (None keeps the base's own).
    Two presets make a :func:`preset_scenario` with the base's workload; the base itself comes
    back when both names are the presets it was built from."""
    if model == preset_of("models", base.model.name) and \
            gpu == preset_of("gpus", base.hardware.name):
        return base
    wl = base.workload
    if model is not None and gpu is not None:
        return preset_scenario(model, gpu, wl.batch_sequences, wl.max_prompt_tokens,
                               wl.output_tokens)
    from analysis.inputs.read.assemble import hardware_from_ref
    from analysis.inputs.read.scenario import load_model

    return replace(base, model=base.model if model is None else load_model(model)[0],
                   hardware=base.hardware if gpu is None else hardware_from_ref(gpu)[0])


def layout_explorer(scenario_ref: str = "seed"):  # pragma: no cover - needs a browser
    """The widget (:func:`analysis.explorer_widget.layout_explorer`): model and GPU selectors,
    sliders for every degree, batch, prompt and mode; the table and the chart update live."""
    from analysis.explorer_widget import layout_explorer as widget

    return widget(scenario_ref)
