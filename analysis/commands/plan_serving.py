"""``python -m analysis plan SCENARIO --serving`` (automatic when the scenario has a
``serving:`` block) and ``--hardware A,B,C``: printing only; the work is
:func:`analysis.search.serving_plan.serving_plan`."""

from __future__ import annotations

import json
from dataclasses import replace

from analysis import estimate as E
from analysis import fmt
from analysis.inputs.read.serving import serving_from_dict
from analysis.inputs.types import Scenario
from analysis.search.serving import SearchOptions
from analysis.search.serving_plan import ServingPlanOptions, compare_hardware, serving_plan


def with_serving(sc: Scenario) -> Scenario:
    """The scenario with a ``serving:`` block: its own, or one from its workload (no targets)."""
    if sc.serving is not None:
        return sc
    sv, notes = serving_from_dict({}, sc.workload, "--serving")
    return replace(sc, serving=sv).with_assumptions(*notes)


def _targets(sv) -> str:
    parts = []
    if sv.ttft_s is not None:
        parts.append(f"TTFT <= {fmt.seconds(sv.ttft_s)}")
    if sv.tpot_s is not None:
        parts.append(f"TPOT <= {fmt.seconds(sv.tpot_s)}")
    if sv.throughput_tokens_per_s_per_gpu is not None:
        parts.append(f">= {sv.throughput_tokens_per_s_per_gpu:,.0f} {sv.throughput_counts} "
                     f"tokens/s per GPU")
    if sv.request_rate_per_s is not None:
        parts.append(f"{sv.request_rate_per_s:g} requests/s")
    return (f"targets at {sv.percentile}: " + ", ".join(parts)) if parts else "no targets"


def _money(x) -> str:
    return f"${x:,.3g}"


def print_plan(p, sv) -> None:
    d = p.to_dict()
    print(f"SERVING PLAN: {p.model} on {p.hardware}, {sv.isl_mean:g} prompt + {sv.osl_mean:g} "
          f"output tokens; {_targets(sv)}")
    dep = p.deployment
    if dep is None:
        print(f"  NO DEPLOYMENT MEETS THE TARGETS: {p.reason}")
    else:
        print(f"  CHOSEN: {dep['kind']} {dep['layout']}, {dep['gpus']} GPU"
              f"{'s' if dep['gpus'] != 1 else ''}, concurrency "
              f"{dep['concurrency']:,.0f}")
        print(f"    TTFT {fmt.seconds(dep['ttft_s'])}, TPOT {fmt.seconds(dep['tpot_s'])} "
              f"({dep['basis']}); {dep['output_tokens_per_s_per_gpu']:,.0f} output tokens/s "
              f"per GPU")
        print(f"  why: {p.reason}")
    ec = d["economics"]
    if dep is not None and ec.get("price_usd_per_gpu_hour") is None:
        print(f"  cost: n/a ({p.hardware} has no price_usd_per_gpu_hour in its preset)")
    elif dep is not None:
        print(f"  cost: {_money(ec.get('cost_usd_per_million_output_tokens'))} per million "
              f"output tokens, {_money(ec.get('cost_usd_per_million_input_tokens'))} per million "
              f"input tokens, {_money(ec.get('cost_usd_per_million_tokens'))} per million tokens")
        print(f"    at ${ec['price_usd_per_gpu_hour']:g} per GPU-hour ({ec['price_date']}): "
              f"{ec['price_source']}")
        if ec.get("energy_upper_bound_j_per_output_token") is not None:
            print(f"  energy: at most {ec['energy_upper_bound_j_per_output_token']:.3g} J per "
                  f"output token ({ec['board_power_W']:g} W per GPU, all the time)")
    print(f"  {d['layouts_evaluated']} layouts, {d['candidates_evaluated']} layout x concurrency "
          f"candidates screened, {len(d['runs'])} simulated, in {d['search_time_s']:.2f} s")


def print_comparison(rows: list[dict]) -> None:
    head = (f"{'hardware':<10} {'deployment':<14} {'layout':<52} {'GPUs':>5} {'conc.':>7} "
            f"{'TTFT':>9} {'TPOT':>9} {'out tok/s/GPU':>13} {'$/M out':>8} {'$/M tok':>8}")
    print(head)
    for r in rows:
        def num(x, f):
            return "-" if x is None else format(x, f)
        print(f"{r['hardware']:<10} {r['winner'] or 'none':<14} {str(r['layout'] or '-'):<52} "
              f"{num(r['gpus'], 'd'):>5} {num(r['concurrency'], ',.0f'):>7} "
              f"{fmt.seconds(r['ttft_s']) if r['ttft_s'] is not None else '-':>9} "
              f"{fmt.seconds(r['tpot_s']) if r['tpot_s'] is not None else '-':>9} "
              f"{num(r['output_tokens_per_s_per_gpu'], ',.0f'):>13} "
              f"{num(r['cost_usd_per_million_output_tokens'], '.3f'):>8} "
              f"{num(r['cost_usd_per_million_tokens'], '.3f'):>8}")
    for r in rows:
        if r["winner"] is None:
            print(f"  {r['hardware']}: {r['reason']}")


def cmd_plan_serving(args, sc: Scenario, est: E.Options) -> int:
    """The serving plan of ``sc`` (or, with ``--hardware``, one per GPU side by side)."""
    sc = with_serving(sc)
    opts = ServingPlanOptions(SearchOptions(max_gpus=args.max_gpus, estimate=est))
    if args.hardware:
        rows = compare_hardware(sc, [h for h in args.hardware.split(",") if h.strip()], opts)
        if args.json:
            print(json.dumps(rows, indent=2, default=float, ensure_ascii=False))
        else:
            print_comparison(rows)
        return 0
    p = serving_plan(sc, opts)
    if args.json:
        print(json.dumps(p.to_dict(), indent=2, default=float, ensure_ascii=False))
        return 0
    print_plan(p, sc.serving)
    return 0
