"""``anatomy``, ``evaluate`` and ``check``: one model, one layout, one scenario as read."""

from __future__ import annotations

import argparse

from analysis import anatomy as A
from analysis import estimate as E
from analysis import fmt
from analysis.commands.common import as_json, options, trusted_model, trusted_scenario
from analysis.inputs.types import Strategy


def cmd_anatomy(args: argparse.Namespace) -> int:
    from analysis.inputs.read.scenario import load_model

    model, assumptions, warnings = load_model(args.model)
    model = trusted_model(model, args.trust_size)
    out = A.summary(model, prompt_tokens=args.prompt_tokens)
    out["assumptions"] = assumptions
    out["warnings"] = warnings
    if args.json:
        print(as_json(out))
        return 0
    for w in warnings:
        print(f"WARNING: {w}\n")
    print(f"{model.name}: {out['total_params']:,} parameters ({fmt.params(out['total_params'])})")
    print(f"  active per token: {fmt.params(out['active_params'])} with the input embedding, "
          f"{fmt.params(out['active_params_excl_input_embedding'])} without")
    print(f"  KV cache: {out['kv_cache_bytes_per_token']:,.0f} bytes per token "
          f"({model.kv_precision})")
    print("  parameters by component:")
    total = out["total_params"]
    for k, v in out["params_by_component"].items():
        print(f"    {k:<16} {v:>18,}  {v / total:6.1%}")
    print(f"  prefill FLOPs per token at {args.prompt_tokens} tokens: "
          f"{sum(out['prefill_flops_per_token_by_op'].values()) / 1e9:.3g} GFLOP")
    if assumptions:
        print("  assumptions:")
        for a in assumptions:
            print(f"    - {a}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from analysis.inputs.read.scenario import load_scenario

    sc = trusted_scenario(load_scenario(args.scenario), args.trust_size)
    strategy = Strategy.parse(args.strategy)
    est = E.estimate(sc, strategy, options(args, sc))
    d = est.to_dict()
    if args.json:
        print(as_json(d))
        return 0
    for w in d["warnings"]:
        print(f"WARNING: {w}\n")
    hw = sc.hardware
    mem = d["memory_per_gpu_bytes"]
    print(f"{sc.name}: layout {est.strategy.label()} on {strategy.gpus} x {hw.name} "
          f"({d['options']})")
    print(f"  memory per GPU: {fmt.gb(mem['total'])} of {fmt.gb(mem['capacity'])} "
          f"({fmt.pct(d['memory_utilization'])})")
    for k, v in mem["breakdown"].items():
        print(f"    {k:<20} {fmt.gb(v):>12}")
    print(f"  {'prompt':>8} {'TTFT':>10} {'TPOT':>10} {'prefill/GPU':>18} {'decode/GPU':>18}")
    for r in d["metrics_by_prompt_length"]:
        print(f"  {r['prompt_tokens']:>8.0f} {fmt.seconds(r['ttft_s']):>10} "
              f"{fmt.seconds(r['tpot_s']):>10} "
              f"{fmt.tokens_per_ms(r['prefill_tokens_per_s_per_gpu']):>18} "
              f"{fmt.tokens_per_ms(r['decode_tokens_per_s_per_gpu']):>18}")
    by_res = ", ".join(f"{k.replace('_', ' ')} {v / d['ttft_s']:.0%}"
                       for k, v in d["time_breakdown"]["ttft_by_resource_s"].items() if v > 0)
    print(f"  worst-case TTFT by resource: {by_res}")
    print("  where the worst-case TTFT goes:")
    for k, v in d["time_breakdown"]["ttft_s"].items():
        if v > 0:
            print(f"    {k:<22} {fmt.seconds(v):>10}  {v / d['ttft_s']:6.1%}")
    return 0


def current_strategy_check(sc) -> list[str]:
    """Why the scenario's current strategy cannot run, by the search's own layout rules
    (:func:`analysis.estimate.layout_rejections`); empty when it can (or none is stated)."""
    if sc.current_strategy is None:
        return []
    lay = E.Layouts.from_strategies([sc.current_strategy])
    return E.rejection_reasons(sc.model, sc.workload, lay)[0]


def check_dict(sc, source: str) -> dict:
    """``check --json``: the scenario as read (SI units in every key), the current strategy
    and its check, warnings, assumptions and, for a card, the line each field came from."""
    from dataclasses import asdict

    from analysis.inputs.read.scenario import card_fields

    cs = sc.current_strategy
    reasons = current_strategy_check(sc)
    return {
        "scenario": sc.name, "source": sc.source,
        "hardware": asdict(sc.hardware), "model": asdict(sc.model),
        "workload": asdict(sc.workload), "requirements": asdict(sc.requirements),
        "max_gpus": sc.max_gpus, "fixed_gpus": sc.fixed_gpus,
        "current_strategy": None if cs is None else {
            "label": cs.label(), "described": cs.describe(), "degrees": cs.as_dict(),
            "can_run": not reasons, "rejections": reasons,
            "uneven_splits": [] if reasons else E.split_notes(sc.model, sc.workload, cs)},
        "warnings": list(sc.warnings), "assumptions": list(sc.assumptions),
        "fields_read": card_fields(source),
    }


def cmd_check(args: argparse.Namespace) -> int:
    from analysis.inputs.read.scenario import load_scenario

    sc = load_scenario(args.scenario)
    if args.json:
        print(as_json(check_dict(sc, args.scenario)))
        return 0
    print(f"{sc.name}: {sc.model.name} on {sc.hardware.name}, batch "
          f"{sc.workload.batch_sequences}, prompts {sc.workload.min_prompt_tokens}-"
          f"{sc.workload.max_prompt_tokens} tokens: readable")
    if sc.current_strategy is not None:
        reasons = current_strategy_check(sc)
        notes = E.split_notes(sc.model, sc.workload, sc.current_strategy)
        verdict = ("can run" + "".join(f"; {n}" for n in notes) if not reasons
                   else "cannot run: " + "; ".join(reasons))
        print(f"  current strategy {sc.current_strategy.label()} "
              f"({sc.current_strategy.describe()}): {verdict}")
    for w in sc.warnings:
        print(f"  warning: {w}")
    for a in sc.assumptions:
        print(f"  assumed: {a}")
    return 0
