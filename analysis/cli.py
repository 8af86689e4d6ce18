"""The command-line interface. Each command parses arguments, calls the package, prints.

Bad input ends with one line ``error: <what is wrong>`` on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import pandas as pd

from analysis import anatomy as A
from analysis import fmt
from analysis.estimate import model as E
from analysis.estimate import serving as SV
from analysis.inputs.errors import InputError, MoEPlanError
from analysis.inputs.types import Strategy, bytes_per_element, normalise_precision
from analysis.report import sensitivity as SE
from analysis.report.audit import auditor as AU
from analysis.search import planner as S
from analysis.validation import run as V


def _json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=float, ensure_ascii=False)


# ------------------------------------------------------------------------------------ anatomy

def trusted_model(model, trust: str):
    """The model as the user chose to trust it: its architecture (default), or the declared
    parameter count (:func:`analysis.anatomy.model_matching_declared`)."""
    from analysis.inputs.errors import InputError

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
    from analysis.inputs.read.scenario import load_model

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

def _precision_bytes(args: argparse.Namespace, name: str) -> float | None:
    """Bytes per element of ``--<name>-precision`` (None when not given)."""
    value = getattr(args, f"{name}_precision", None)
    if value is None:
        return None
    return bytes_per_element(normalise_precision(value, f"--{name}-precision"))


def _options(args: argparse.Namespace) -> E.Options:
    return E.Options(mode=args.mode, imbalance=args.imbalance,
                     imbalance_factor=args.imbalance_factor, overlap_fraction=args.overlap,
                     dispatch_bytes_per_element=_precision_bytes(args, "dispatch"),
                     combine_bytes_per_element=_precision_bytes(args, "combine"),
                     two_batch_overlap=args.two_batch_overlap)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from analysis.inputs.read.scenario import load_scenario

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
    from analysis.inputs.read.scenario import load_scenario

    sc = load_scenario(args.scenario)
    print(f"{sc.name}: {sc.model.name} on {sc.hardware.name}, batch "
          f"{sc.workload.batch_sequences}, prompts {sc.workload.min_prompt_tokens}-"
          f"{sc.workload.max_prompt_tokens} tokens: readable")
    for w in sc.warnings:
        print(f"  warning: {w}")
    for a in sc.assumptions:
        print(f"  assumed: {a}")
    return 0


# ------------------------------------------------------ plan, serve, sensitivity, audit, validate

def _register_plan(sub) -> None:
    p = sub.add_parser("plan", help="search every layout and recommend one")
    p.add_argument("scenario", help="preset name, scenario YAML or scenario card")
    p.add_argument("--max-gpus", type=int, default=None,
                   help="GPU budget (default: the scenario's, else 1024)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--top", type=int, default=10, help="alternatives to list (default 10)")
    p.add_argument("--redundant-experts", default="0",
                   help="redundant expert copies per layer to try, comma-separated (default 0)")
    _add_estimate_options(p)
    p.set_defaults(func=cmd_plan)


def cmd_plan(args) -> int:
    from analysis.inputs.errors import InputError
    from analysis.inputs.read.scenario import load_scenario

    if args.max_gpus is not None and args.max_gpus < 1:
        raise InputError("--max-gpus", args.max_gpus, "must be at least 1", "a whole number >= 1")
    try:
        choices = tuple(sorted({int(x) for x in args.redundant_experts.split(",") if x.strip()}))
    except ValueError:
        raise InputError("--redundant-experts", args.redundant_experts, "not whole numbers",
                         "comma-separated whole numbers >= 0, e.g. 0,16,32") from None
    if not choices or min(choices) < 0:
        raise InputError("--redundant-experts", args.redundant_experts, "must be >= 0",
                         "comma-separated whole numbers >= 0, e.g. 0,16,32")

    sc = trusted_scenario(load_scenario(args.scenario), args.trust_size)
    p = S.plan(sc, _options(args), args.max_gpus, top_n=args.top, redundant_choices=choices)
    d = p.to_dict()
    if args.json:
        print(json.dumps(d, indent=2, default=float, ensure_ascii=False))
        return 0
    for w in d["warnings"]:
        print(f"WARNING: {w}\n")
    rec = d["recommended"]
    head = "RECOMMENDED" if p.feasible else "NO LAYOUT MEETS EVERY REQUIREMENT; BEST COMPROMISE"
    print(f"{head}: {rec['layout']} ({p.recommended.describe()})")
    for c in p.checks:
        print(f"  {fmt.tick(c.passed)} {c.name}: {c.detail}")
    print(f"  throughput requirement read as {p.throughput_kind}: {p.throughput_reason}")
    if p.binding:
        for line in p.binding["what_would_have_to_change"]:
            print(f"  binding: {line}")
    print(f"  {d['layouts_evaluated']} layouts evaluated, {d['layouts_rejected']} rejected, "
          f"in {p.seconds:.2f} s")
    return 0


def _register_serve(sub) -> None:
    p = sub.add_parser("serve", help="steady-state serving estimate under continuous batching")
    p.add_argument("scenario", help="preset name, scenario YAML or scenario card")
    p.add_argument("--strategy", required=True, help='degrees, e.g. "tp=8" or "tp=4,ep=16"')
    g = p.add_mutually_exclusive_group()
    g.add_argument("--concurrency", type=float, default=None,
                   help="requests in flight (closed loop); default: as many as memory holds")
    g.add_argument("--request-rate", type=float, default=None,
                   help="Poisson arrivals per second (open loop)")
    p.add_argument("--isl", type=int, default=None, help="prompt tokens (default: the "
                                                         "scenario's longest prompt)")
    p.add_argument("--osl", type=int, default=None, help="output tokens (default: the "
                                                         "scenario's output length)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_estimate_options(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from analysis.inputs.read.scenario import load_scenario

    sc = trusted_scenario(load_scenario(args.scenario), args.trust_size)
    s = Strategy.parse(args.strategy)
    isl = args.isl or sc.workload.max_prompt_tokens
    osl = args.osl or sc.workload.output_tokens
    est = SV.serve(sc, s, isl, osl, args.concurrency, args.request_rate, _options(args))
    if args.json:
        d = est.to_dict()
        d["assumptions"] = list(sc.assumptions) + [SV.__doc__.split("\n\n")[1].replace("\n", " ")]
        print(json.dumps(d, indent=2))
        return 0
    print(f"{sc.name}: {s.label()} on {s.gpus} GPUs, {isl} prompt + {osl} output tokens, "
          f"{est.concurrency:.4g} requests in flight ({est.mode} mode)")
    if est.memory_limited:
        print(f"  memory holds only {est.running:.0f} running requests: the rest queue "
              f"({fmt.seconds(est.queue_wait_s)} wait)")
    print(f"  iteration {fmt.seconds(est.iteration_s)} = decode {fmt.seconds(est.decode_s)} + "
          f"interleaved prefill {fmt.seconds(est.prefill_s)}")
    print(f"  TTFT {fmt.seconds(est.ttft_s)}, TPOT {fmt.seconds(est.tpot_s)} "
          f"({est.tokens_per_s_per_user:.3g} tokens/s per user)")
    print(f"  output throughput {est.output_tokens_per_s:,.0f} tokens/s "
          f"({est.output_tokens_per_s_per_gpu:,.0f} per GPU)")
    return 0


def _register_sensitivity(sub) -> None:
    p = sub.add_parser("sensitivity",
                       help="what-if analysis: which inputs move the recommendation, and where "
                            "it changes")
    p.add_argument("scenario", help="preset name, scenario YAML or scenario card")
    p.add_argument("--inputs", default=None,
                   help="comma-separated inputs to vary (default: all): " + ",".join(SE.BY_NAME))
    p.add_argument("--metric", default="throughput_per_gpu", choices=list(SE.METRICS),
                   help="metric of the recommendation for the tornado (default: throughput per "
                        "GPU of the required kind)")
    p.add_argument("--points", type=int, default=21,
                   help="grid points of each threshold scan (default 21)")
    p.add_argument("--scan", default="moved", choices=list(SE.SCANS),
                   help="inputs to scan for thresholds: those that moved the tornado (default), "
                        "only the most influential (top), all, or none")
    p.add_argument("--max-gpus", type=int, default=None,
                   help="GPU budget (default: the scenario's, else 1024)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_estimate_options(p)
    p.set_defaults(func=cmd_sensitivity)


def cmd_sensitivity(args) -> int:
    from analysis.inputs.read.scenario import load_scenario

    if args.max_gpus is not None and args.max_gpus < 1:
        raise InputError("--max-gpus", args.max_gpus, "must be at least 1", "a whole number >= 1")
    if args.points < 3:
        raise InputError("--points", args.points, "too few to scan", "a whole number >= 3")
    names = SE.inputs_named(args.inputs)          # checked before any (slow) planning
    sc = load_scenario(args.scenario)
    res = SE.analyse(sc, _options(args), [i.name for i in names], args.metric, args.points,
                  args.scan, args.max_gpus, progress=True)
    if args.json:
        print(_json(res.to_dict()))
        return 0
    top = SE.most_influential(res.tornado)
    print(f"{sc.name}: what-if analysis of the recommendation, {res.base.describe()}")
    print(f"  metric: {res.metric_label} of the recommended layout "
          f"({SE.METRICS[res.metric][0]})")
    print()
    print(SE.readable_tornado(res.tornado).to_string(index=False))
    print()
    print(f"most influential input: {top['input']} ({top['label']}), swing "
          f"{top['swing_fraction']:.1%} between {top['low_text']} and {top['high_text']}")
    print()
    if res.thresholds.empty:
        print("thresholds: none scanned")
    else:
        print("thresholds (where the recommendation changes, bracketed to 2%):")
        for r in res.thresholds.itertuples():
            if r.changes:
                x = f" ({r.x_base:.3g}x base)" if math.isfinite(r.x_base) else ""
                print(f"  {r.input}: {r.threshold_text}{x}: "
                      f"{SE.layout_text(r.layout_below, r.feasible_below)} below, "
                      f"{SE.layout_text(r.layout_above, r.feasible_above)} above; {r.why}")
            else:
                print(f"  {r.input}: no change; {r.why}")
    for n in res.notes:
        print(f"  note: {n}")
    print()
    print(SE.takeaway(res).replace("**", ""))
    print(f"  {res.plans} plans in {res.seconds:.1f} s")
    return 0


def _register_audit(sub) -> None:
    p = sub.add_parser("audit", help="audit a plan: re-derive every claim, give each a verdict")
    p.add_argument("plan", help="a plan in the seed plan's markdown layout")
    p.add_argument("--json", action="store_true", help="machine-readable output (claims, "
                                                       "findings, comparison, unreadable)")
    p.add_argument("--out", default=None, help="write DIR/audit.md (default: print it)")
    _add_estimate_options(p)
    p.set_defaults(func=cmd_audit)


def cmd_audit(args) -> int:

    opts = _options(args)
    res = AU.write_audit(args.plan, args.out, opts) if args.out else AU.audit(args.plan, opts)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, default=AU.json_default, ensure_ascii=False))
        return 0
    if args.out:
        print(f"{res.plan_path}: {res.summary()}")
        for v in res.verdicts:
            if v.status == "wrong":
                c = v.claim
                print(f"  wrong, line {c.line_no}: {AU.QUANTITIES[c.quantity].label}: plan "
                      f"{c.printed or AU.show(c.claimed_value, c.unit)}, "
                      f"ours {AU.show(v.ours, c.unit)}")
        for u in res.unreadable:
            print(f"  could not read{f' line {u.line_no}' if u.line_no else ''}: {u.why}")
        print(f"wrote {res.path}")
        return 0
    print(res.markdown)
    return 0


def _register_validate(sub) -> None:
    p = sub.add_parser("validate", help="predictions against published measurements: "
                                        "median and p90 |error| by metric and split")
    p.add_argument("--mode", choices=list(V.MODES) + ["all"], default="all",
                   help="which estimate to validate (default: calibrated, derated and sol)")
    p.add_argument("--refit", action="store_true",
                   help="refit the calibrated curves on the calibration split and write them "
                        "into analysis/inputs/presets/gpus/*.yaml before validating")
    p.add_argument("--worst", type=int, default=5, help="held-out rows to list by |error|")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    if args.refit:
        for path in V.write_calibrations():
            print(f"wrote calibration: {path}")
    modes = V.MODES if args.mode == "all" else (args.mode,)
    m = V.load_mapping()
    print(f"validation set: {int((m['status'] == 'mapped').sum())} rows mapped, "
          f"{int((m['status'] == 'skipped').sum())} skipped (see analysis/validation/mapping.csv)")
    tables = [V.validation_table(mode) for mode in modes]
    df = pd.concat(tables, ignore_index=True)
    print(V.summary_markdown(df))
    for t in tables:
        fallback = t[t["mode_used"] != t["mode"]]
        if len(fallback):
            print(f"note: {len(fallback)} {t['mode'].iloc[0]} rows used "
                  f"{fallback['mode_used'].iloc[0]} (GPU without curves)")
    if args.worst:
        w = V.worst_rows(tables[0], args.worst)
        print(f"worst held-out rows ({modes[0]}):")
        for r in w.to_dict("records"):
            print(f"  row {r['row_id']} {r['source']} {r['model']} on {r['gpu']} {r['layout']} "
                  f"{r['isl']}/{r['osl']}: {r['error']:+.0%} - {r['why']}")
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
    p.add_argument("--dispatch-precision", default=None,
                   help="EP dispatch precision, e.g. fp8 or bf16 (default: the model's, else "
                        "its activation precision)")
    p.add_argument("--two-batch-overlap", action="store_true",
                   help="run each step as two micro-batches whose communication hides under "
                        "the other's compute (costs: half-size GEMMs, a second weight read)")
    p.add_argument("--combine-precision", default=None,
                   help="EP combine precision (default: the model's, else its activation "
                        "precision but at least bf16)")
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

    for register in (_register_plan, _register_serve, _register_sensitivity, _register_audit,
                     _register_validate):
        register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
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
