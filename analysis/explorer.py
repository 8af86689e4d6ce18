"""Interactive layout explorer for JupyterLab (sliders), kept out of the papermill/nbval path.

:func:`explore` is the pure part: degrees and workload in, a summary table (or the readable
reason the layout is impossible) out; it is what the tests check. :func:`layout_explorer` wraps
it in ipywidgets sliders for a person at a keyboard; ``explorers/layout_explorer.ipynb`` calls it.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from analysis import estimate as E
from analysis import fmt
from analysis.inputs.errors import MoEPlanError
from analysis.inputs.types import Scenario, Strategy, Workload


def explore(scenario: Scenario, tp: int = 1, dp_attn: int = 1, ep: int = 1, pp: int = 1,
            dp: int = 1, microbatches: int = 1, batch_sequences: int | None = None,
            prompt_tokens: int | None = None, mode: str = "derated") -> pd.DataFrame:
    """One layout's headline numbers as a two-column table (quantity, value), or a one-row
    table whose ``value`` says why the layout is impossible. ``etp`` follows from
    ``tp * dp_attn == etp * ep``."""
    wl = scenario.workload
    b = batch_sequences or wl.batch_sequences
    s = prompt_tokens or wl.max_prompt_tokens
    try:
        if (tp * dp_attn) % ep:
            why = (f"impossible: ep={ep} does not divide the tp*dp_attn = {tp * dp_attn} GPUs "
                   f"the experts share")
            return pd.DataFrame({"quantity": ["layout"], "value": [why]})
        strategy = Strategy(tp=tp, dp_attn=dp_attn, etp=tp * dp_attn // ep, ep=ep, pp=pp, dp=dp,
                            microbatches=microbatches)
        sc = replace(scenario, workload=Workload(b, (s,), wl.output_tokens))
        est = E.estimate(sc, strategy, E.Options(mode=mode))
    except MoEPlanError as exc:
        return pd.DataFrame({"quantity": ["layout"], "value": [f"impossible: {exc}"]})
    w = est.worst
    mem = sum(est.memory_bytes.values())
    cap = sc.hardware.hbm_capacity_bytes
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


def layout_explorer(scenario_ref: str = "seed"):  # pragma: no cover - needs a browser
    """Sliders for the degrees, batch, prompt length and mode; the table updates as they move."""
    import ipywidgets as w
    from IPython.display import display

    from analysis.inputs.read.scenario import load_scenario

    sc = load_scenario(scenario_ref)
    pow2 = [1, 2, 4, 8, 16, 32, 64]
    controls = {
        "tp": w.SelectionSlider(options=pow2, value=1, description="tp"),
        "dp_attn": w.SelectionSlider(options=pow2, value=1, description="dp_attn"),
        "ep": w.SelectionSlider(options=pow2, value=1, description="ep"),
        "pp": w.SelectionSlider(options=[1, 2, 4, 8, 16], value=1, description="pp"),
        "dp": w.SelectionSlider(options=pow2, value=1, description="dp"),
        "microbatches": w.SelectionSlider(options=pow2, value=1, description="micro-batches"),
        "batch_sequences": w.IntSlider(value=sc.workload.batch_sequences, min=1,
                                       max=max(1024, sc.workload.batch_sequences),
                                       description="batch"),
        "prompt_tokens": w.IntSlider(value=sc.workload.max_prompt_tokens, min=16,
                                     max=max(32768, sc.workload.max_prompt_tokens), step=16,
                                     description="prompt"),
        "mode": w.ToggleButtons(options=["derated", "sol", "calibrated"], value="derated"),
    }
    out = w.interactive_output(lambda **kw: display(explore(sc, **kw)), controls)
    display(w.VBox([w.HTML(f"<b>{sc.name}</b>: {sc.model.name} on {sc.hardware.name}"),
                    *controls.values(), out]))
