"""The command-line interface. Each command parses arguments, calls the package, prints.

Bad input ends with one line ``error: <what is wrong>`` on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from . import anatomy as A
from . import estimate as E
from . import fmt
from .errors import MoEPlanError
from .inputs import Strategy


def _json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=float, ensure_ascii=False)


# ------------------------------------------------------------------------------------ anatomy

def trusted_model(model, trust: str):
    """The model as the user chose to trust it: its architecture (default), or the declared
    parameter count (:func:`analysis.anatomy.model_matching_declared`)."""
    from .errors import InputError

    if trust == "architecture":
        return model
    if model.declared_total_params is None:
        raise InputError("--trust-size", trust, f"{model.name} declares no parameter count",
                         "architecture (the default), or a model with a declared size")
    return A.model_matching_declared(model)


def trusted_scenario(scenario, trust: str):
    from dataclasses import replace

    model = trusted_model(scenario.model, trust)
    if model is scenario.model:
        return scenario
    return replace(scenario, model=model).with_assumptions(
        f"--trust-size declared: {model.source.split('; ')[-1]}")


def _add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-size", choices=["architecture", "declared"], default="architecture",
                   help="when the declared parameter count and the dimensions disagree, which to "
                        "trust (default: the architecture; 'declared' widens the expert FFN to "
                        "match the declared count)")


def cmd_anatomy(args: argparse.Namespace) -> int:
    from .scenario import load_model

    model, assumptions, warnings = load_model(args.model)
    model = trusted_model(model, args.trust_size)
    out = A.summary(model, prompt_tokens=args.prompt_tokens)
    out["assumptions"] = assumptions
    out["warnings"] = warnings
    if args.json:
        print(_json(out))
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


# ------------------------------------------------------------------------------------ evaluate

def _options(args: argparse.Namespace) -> E.Options:
    return E.Options(mode=args.mode, imbalance=args.imbalance,
                     imbalance_factor=args.imbalance_factor, overlap_fraction=args.overlap)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    sc = trusted_scenario(load_scenario(args.scenario), args.trust_size)
    strategy = Strategy.parse(args.strategy)
    est = E.estimate(sc, strategy, _options(args))
    d = est.to_dict()
    if args.json:
        print(_json(d))
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


# ------------------------------------------------------------------------------------ check

def cmd_check(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    sc = load_scenario(args.scenario)
    print(f"{sc.name}: {sc.model.name} on {sc.hardware.name}, batch "
          f"{sc.workload.batch_sequences}, prompts {sc.workload.min_prompt_tokens}-"
          f"{sc.workload.max_prompt_tokens} tokens: readable")
    for w in sc.warnings:
        print(f"  warning: {w}")
    for a in sc.assumptions:
        print(f"  assumed: {a}")
    return 0


# ------------------------------------------------------------------------------------ simulate

def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate.run import simulate_file

    out = simulate_file(args.run)
    if args.json:
        print(_json(out))
        return 0
    eng = out["engine"]
    wl = out["workload"]
    print(f"{out['name']}: {out['model']} on {out['gpus']} x {out['hardware']}, layout "
          f"{out['layout']}, {eng['name']} {eng['version']} ({out['mode']} mode)")
    print(f"  {wl['num_requests']} requests, {wl['kind']}, prompt {wl['isl_mean']:.0f} + output "
          f"{wl['osl_mean']:.0f} tokens (mean); {out['iterations']:,} iterations in "
          f"{out['duration_s']:.3g} s")
    print(f"  {'ms':<14} {'mean':>10} {'median':>10} {'p90':>10} {'p99':>10}")
    for key in ("ttft", "tpot", "itl", "e2e_latency"):
        vals = " ".join(f"{out[f'{key}_ms_{s}']:>10.4g}" for s in ("mean", "median", "p90", "p99"))
        print(f"  {key:<14} {vals}")
    print(f"  output {out['output_tokens_per_s']:,.0f} tokens/s "
          f"({out['output_tokens_per_s_per_gpu']:,.0f} per GPU), total "
          f"{out['total_tokens_per_s']:,.0f} tokens/s, {out['requests_per_s']:.3g} requests/s")
    print(f"  KV pool {out['kv_capacity_tokens_per_rank']:,} tokens per rank, peak use "
          f"{out['kv_peak_use_fraction']:.0%}"
          + ("; memory limited the running batch" if out["memory_limited"] else ""))
    print("  assumptions:")
    for a in out["assumptions"]:
        print(f"    - {a}")
    return 0


# ------------------------------------------------------------------------------------ main

def _add_estimate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=["derated", "sol", "calibrated"], default="derated",
                   help="derated by the GPU's stated efficiencies (default), speed of light, or "
                        "calibrated size-dependent efficiencies fitted to measurements")
    p.add_argument("--imbalance", choices=["balanced", "uniform", "factor"], default="uniform",
                   help="MoE load model (default: uniform-random routing, busiest rank)")
    p.add_argument("--imbalance-factor", type=float, default=1.0,
                   help="busiest EP rank / mean, with --imbalance factor")
    p.add_argument("--overlap", type=float, default=0.0,
                   help="fraction of communication hidden under compute (default 0)")
    _add_trust(p)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis",
                                description="MoEPlan: plan MoE inference layouts on GPUs.")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("anatomy", help="parameters, FLOPs and KV cache of a model")
    a.add_argument("model", help="preset name, model YAML, config.json or scenario card/YAML")
    a.add_argument("--prompt-tokens", type=int, default=2048,
                   help="prompt length for the FLOPs-per-token figures (default 2048)")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    _add_trust(a)
    a.set_defaults(func=cmd_anatomy)

    e = sub.add_parser("evaluate", help="estimate one layout on a scenario")
    e.add_argument("scenario", help="preset name, scenario YAML or scenario card")
    e.add_argument("--strategy", required=True,
                   help='degrees, e.g. "tp=4,ep=16,pp=1" (also dp_attn, etp, dp, mb, '
                        'redundant_experts)')
    e.add_argument("--json", action="store_true", help="machine-readable output")
    _add_estimate_options(e)
    e.set_defaults(func=cmd_evaluate)

    v = sub.add_parser("check", help="read a scenario and list its assumptions and warnings")
    v.add_argument("scenario", help="preset name, scenario YAML or scenario card")
    v.set_defaults(func=cmd_check)

    r = sub.add_parser("simulate", help="predict one benchmark run of a serving engine "
                                        "(docs/simulate.md)")
    r.add_argument("run", help="run YAML: hardware, gpus, model, layout, engine, workload")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=cmd_simulate)

    for register in COMMANDS.values():
        register(sub)
    return p


#: Further commands register themselves here (plan, audit, ...): name -> function(subparsers).
COMMANDS: dict[str, Callable] = {}


def main(argv: list[str] | None = None) -> int:
    _load_plugins()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MoEPlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: no such file: {exc.filename}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


def _load_plugins() -> None:
    """Import the modules that add commands (they call ``register_command``)."""
    import importlib

    for mod in ("analysis.search", "analysis.audit", "analysis.sensitivity", "analysis.serving",
                "analysis.validation.run"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise


def register_command(name: str, register: Callable) -> None:
    COMMANDS[name] = register
