"""The report's provenance, reading and serving sections.

* :func:`provenance`: the package version, the mode and the mode's expected error (held-out
  median ``|error|`` by metric from :mod:`analysis.validation.latest`), and which reading the
  report uses (static batch or serving) and why. Every report has it.
* :func:`serving`: only for a scenario with a ``serving:`` block: the targets checked at their
  percentile, the chosen layout, GPUs and concurrency, the throughput-per-GPU against
  tokens/s-per-user fronts with the chosen point, xPyD against aggregated with the reason, and
  the cost per million input and output tokens with the energy upper bound. It reads the dict
  of :meth:`analysis.search.serving_plan.ServingPlan.to_dict`.
"""

from __future__ import annotations

from analysis import fmt
from analysis.report.sections_inputs import ReportInputs, md_table
from analysis.report.stamp import package_version
from analysis.validation.latest import expected_error

#: Metric kinds of the validation in the order the report lists them, with their words.
METRIC_WORDS = (("TTFT", "TTFT"), ("TPOT", "TPOT"), ("e2e", "end-to-end latency"),
                ("throughput", "throughput"))


def expected_error_line(mode: str, uncalibrated: bool) -> str:
    """One paragraph: the held-out median |error| of ``mode`` by metric, from the stored
    validation summary (or that none is stored)."""
    err = expected_error(mode)
    where = ("`analysis/validation/latest_summary.json`, written by `python -m analysis "
             "validate`")
    if not err:
        return (f"**Expected error.** No validation summary of {mode} mode is stored ({where}); "
                f"run `make validate` to state it.\n")
    parts = [f"{words} {err[k]['median_abs_error']:.0%} ({err[k]['rows']} cases)"
             for k, words in METRIC_WORDS if k in err]
    note = (" This GPU has no calibration, so its calibrated numbers are the derated ones and "
            "the derated error is the closer guide." if uncalibrated else "")
    return (f"**Expected error.** Held-out median |error| of {mode} mode against published "
            f"measurements ({where}): " + ", ".join(parts) + "." + note + "\n")


def reading_line(c: ReportInputs) -> str:
    """Which reading the report uses (static batch or serving) and why."""
    wl = c.scenario.workload
    sv = c.scenario.serving
    if sv is None:
        return (f"**Reading: static batch.** The scenario has no `serving:` block, so every "
                f"figure is for one batch of {wl.batch_sequences} sequences that prefill "
                f"together and decode together, the reading its requirements are written "
                f"for.\n")
    return (f"**Reading: serving.** The scenario has a `serving:` block (targets at "
            f"{sv.percentile}), so its answer is the serving plan under *Serving*: requests "
            f"arriving and leaving continuously, layout, GPUs and concurrency chosen against "
            f"the targets. The scenario also declares a static batch of "
            f"{wl.batch_sequences} sequences, so the static-batch reading follows from "
            f"*Recommended parallel strategy* on, for comparison.\n")


def provenance(c: ReportInputs) -> list[str]:
    """Version and mode, the mode's expected error, and the reading used."""
    hw = c.scenario.hardware
    mode = c.opts.mode
    uncal = mode == "calibrated" and hw.calibration is None
    return [(f"MoEPlan {package_version()}, **{mode}** mode (`make report MODE=derated|"
            f"calibrated|sol`).\n"),
            expected_error_line(mode, uncal), reading_line(c)]


def _targets(plan: dict) -> list[list[str]]:
    req, dep = plan["requirements"], plan["deployment"] or {}
    pct = req["percentile"]
    rows = []
    for key, name in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")):
        if req.get(key) is not None:
            got = dep.get(key)
            rows.append([f"{name} at {pct}", fmt.seconds(req[key]),
                         fmt.seconds(got) if got is not None else "n/a",
                         fmt.tick(got is not None and got <= req[key])])
    if req.get("throughput_tokens_per_s_per_gpu") is not None:
        kind = req["throughput_counts"]
        got = dep.get(f"{kind}_tokens_per_s_per_gpu")
        rows.append([f"{kind} tokens/s per GPU", fmt.tokens_per_ms(
            req["throughput_tokens_per_s_per_gpu"]),
            fmt.tokens_per_ms(got) if got is not None else "n/a",
            fmt.tick(got is not None and got >= req["throughput_tokens_per_s_per_gpu"])])
    if req.get("request_rate_per_s") is not None:
        rows.append(["request rate", f"{req['request_rate_per_s']:g} requests/s",
                     f"carried by {dep.get('gpus', 'n/a')} GPUs", fmt.tick(bool(dep))])
    return rows


def _deployment(plan: dict) -> list[str]:
    dep = plan["deployment"]
    if dep is None:
        return [f"**No deployment meets the serving targets.** {plan['reason']}.\n"]
    return [(f"**Serving verdict: deploy {dep['kind']} `{dep['layout']}` on {dep['gpus']} GPUs "
            f"at concurrency {dep['concurrency']}** (requests in flight over the deployment; "
            f"figures: {dep['basis']}).\n"),
            (f"- Output throughput: {fmt.tokens_per_ms(dep['output_tokens_per_s_per_gpu'])} per "
            f"GPU; prompt plus output: {fmt.tokens_per_ms(dep['total_tokens_per_s_per_gpu'])} "
            f"per GPU"),
            f"- Prefill takes {dep['prefill_share_of_time']:.0%} of the GPU time", ""]


def _economics(plan: dict) -> list[str]:
    ec = plan["economics"]
    out = ["### Cost and energy\n"]
    if ec.get("cost_usd_per_million_output_tokens") is None:
        out.append("No price per GPU-hour in the GPU preset, or no deployment: no cost.\n")
    else:
        out.append(md_table([
            ["GPU-hour price", f"${ec['price_usd_per_gpu_hour']:g} ({ec['price_date']})"],
            ["deployment per hour", f"${ec['cost_usd_per_hour']:.2f}"],
            ["per million input tokens", f"${ec['cost_usd_per_million_input_tokens']:.3f}"],
            ["per million output tokens", f"${ec['cost_usd_per_million_output_tokens']:.3f}"],
            ["per million tokens, both kinds", f"${ec['cost_usd_per_million_tokens']:.3f}"],
        ], ["item", "value"], "ll"))
        out.append(f"\nPrice source: {ec['price_source']}. GPU rental only; input and output "
                   f"tokens are charged by their phase's share of GPU time.\n")
    if ec.get("energy_upper_bound_j_per_output_token") is not None:
        out.append(f"Energy, upper bound (every GPU at its {ec['board_power_W']:g} W board power "
                   f"all the time; host and cooling not counted): "
                   f"{ec['energy_upper_bound_j_per_output_token']:.3g} J per output token, "
                   f"{ec['energy_upper_bound_j_per_token']:.3g} J per token of either kind.\n")
    return out


def _xpyd(plan: dict) -> list[str]:
    dis = plan["disaggregated"]
    out = ["### Disaggregated (xPyD) against aggregated\n"]
    if dis is None:
        out.append("Disaggregated serving was not considered (`serving.disaggregation: "
                   "false`).\n")
    elif dis.get("feasible"):
        out.append(f"Best xPyD: {dis['ratio']}, prefill on `{dis['prefill']['layout']}` "
                   f"({dis['prefill']['gpus']} GPUs each), decode on "
                   f"`{dis['decode']['layout']}` ({dis['decode']['gpus']} GPUs each) at "
                   f"concurrency {dis['decode']['concurrency']}; {dis['gpus']} GPUs, "
                   f"{fmt.tokens_per_ms(dis['output_tokens_per_s_per_gpu'])} output per GPU "
                   f"(closed form).\n")
    out.append(f"Chosen: **{plan['winner'] or 'neither'}**. Why: {plan['reason']}.\n")
    return out


def serving(c: ReportInputs) -> list[str]:
    """The serving section; nothing for a scenario without a ``serving:`` block."""
    plan = c.serving
    if plan is None:
        return []
    req = plan["requirements"]
    out = ["## Serving\n",
           (f"Requests of {req['prompt_tokens']} prompt and {req['output_tokens']} output tokens "
           f"(engine profile `{req['engine']}`); targets checked at {req['percentile']} on the "
           f"chosen deployment.\n")]
    rows = _targets(plan)
    if rows:
        out += [md_table(rows, ["target", "required", "chosen deployment", "met"], "lllc"), ""]
    out += _deployment(plan)
    fig = c.figures.get("serving_pareto")
    if fig:
        out.append(f"![throughput per GPU against tokens/s per user]({fig})\n")
    ch = plan["pareto"].get("chosen")
    if ch is not None:
        where = ("on its family's front" if ch["on_front"] else
                 "a disaggregated deployment (no family front)" if ch["on_front"] is None else
                 "inside its family's front (the front's points miss a target)")
        out.append(f"Each line is one layout family's front of output tokens/s per GPU against "
                   f"tokens/s per user (1 / TPOT), closed form, every concurrency; the star is "
                   f"the chosen point, {ch['family']} `{ch['layout']}` at concurrency "
                   f"{ch['concurrency_per_replica']} per replica, {where}.\n")
    out += _xpyd(plan)
    out += _economics(plan)
    return out
