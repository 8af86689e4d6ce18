"""The explorer's widget: model and GPU dropdowns, a slider for every degree (etp included,
"auto" derives it), batch, prompt length and mode, and below them the summary table and the live
chart, redrawn whenever a control moves. Everything it shows comes from the pure functions of
:mod:`analysis.explorer` and :func:`analysis.explorer_chart.explorer_figure`.
"""

from __future__ import annotations

from analysis.explorer import estimate_layout, preset_names, preset_of, scenario_for, summary_table
from analysis.inputs.errors import MoEPlanError
from analysis.inputs.types import Strategy


def _selector(kind: str, own: str, description: str):  # pragma: no cover - widget plumbing
    """A dropdown of the shipped presets of ``kind``, set to the one ``own`` came from (or to
    an extra "(scenario's own)" entry when it is not a preset)."""
    import ipywidgets as w

    names = preset_names()[kind]
    default = preset_of(kind, own)
    options = [(n, n) for n in names]
    if default is None:
        options.insert(0, (f"{own} (scenario's own)", ""))    # "" keeps the scenario's own
    return w.Dropdown(options=options, value=default or "", description=description)


def layout_explorer(scenario_ref: str = "seed"):  # pragma: no cover - needs a browser
    """Model and GPU selectors, sliders for every degree (etp on "auto" derives it), batch,
    prompt length and mode; the table and the chart update as they move. The degrees start at
    the scenario's current layout, if it names one."""
    from functools import lru_cache

    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from analysis.explorer_chart import explorer_figure
    from analysis.inputs.read.scenario import load_scenario

    base = load_scenario(scenario_ref)
    scenario = lru_cache(maxsize=16)(lambda m, g: scenario_for(base, m, g))
    pow2 = [1, 2, 4, 8, 16, 32, 64]
    wl = base.workload

    start = base.current_strategy or Strategy()

    def slider(name, options=pow2, **kw):   # starts at the scenario's current layout
        value = kw.pop("value", None)
        if value is None:
            value = getattr(start, name) if getattr(start, name) in options else 1
        return w.SelectionSlider(options=options, value=value,
                                 description=kw.pop("description", name), **kw)

    controls = {
        "model": _selector("models", base.model.name, "model"),
        "gpu": _selector("gpus", base.hardware.name, "GPU"),
        "tp": slider("tp"), "dp_attn": slider("dp_attn"),
        "etp": slider("etp", [("auto", 0)] + [(str(n), n) for n in pow2], value=0),
        "ep": slider("ep"), "pp": slider("pp", [1, 2, 4, 8, 16]), "dp": slider("dp"),
        "microbatches": slider("microbatches", description="micro-batches"),
        "batch_sequences": w.IntSlider(value=wl.batch_sequences, min=1,
                                       max=max(1024, wl.batch_sequences), description="batch"),
        "prompt_tokens": w.IntSlider(value=wl.max_prompt_tokens, min=16,
                                     max=max(32768, wl.max_prompt_tokens), step=16,
                                     description="prompt"),
        "mode": w.ToggleButtons(options=["derated", "sol", "calibrated"], value="derated"),
    }

    def show(model, gpu, etp, **degrees):
        try:
            est = estimate_layout(scenario(model or None, gpu or None), etp=etp or None,
                                  **degrees)
        except MoEPlanError as exc:     # a preset pair the readers refuse
            est = f"impossible: {exc}"
        display(summary_table(est))
        fig = explorer_figure(est)
        display(fig)
        plt.close(fig)

    out = w.interactive_output(show, controls)
    display(w.VBox([w.HTML(f"<b>{base.name}</b>: {base.model.name} on {base.hardware.name}"),
                    *controls.values(), out]))
