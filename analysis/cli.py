"""The command-line interface. Each command parses arguments, calls the package, prints.

Bad input ends with one line ``error: <what is wrong>`` on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import math
import sys

import pandas as pd

from analysis import anatomy as A
from analysis import fmt
from analysis.cli_checks import OneLineParser, check_args, dumps_json
from analysis.estimate import model as E
from analysis.estimate import serving as SV
from analysis.inputs.errors import InputError, MoEPlanError
from analysis.inputs.types import Strategy, bytes_per_element, normalise_precision
from analysis.report import sensitivity as SE
from analysis.report.audit import auditor as AU
from analysis.search import planner as S
from analysis.validation import run as V


def _json(obj, default=float) -> str:
    """Every verb's JSON, written in one place: NaN and infinity are an error, never output."""
    return dumps_json(obj, default)


# ------------------------------------------------------------------------------------ anatomy

def trusted_model(model, trust: str):
    """The model as the user chose to trust it: its architecture (default), or the declared
    parameter count (:func:`analysis.anatomy.model_matching_declared`)."""
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


def _options(args: argparse.Namespace, sc=None) -> E.Options:
    """The estimate's options from the command line; a scenario's ``speculative:`` block
    applies when ``--draft-tokens`` is not given."""
    return E.Options(mode=args.mode, imbalance=args.imbalance,
                     imbalance_factor=args.imbalance_factor, skew=args.skew,
                     overlap_fraction=args.overlap,
                     dispatch_bytes_per_element=_precision_bytes(args, "dispatch"),
                     combine_bytes_per_element=_precision_bytes(args, "combine"),
                     two_batch_overlap=args.two_batch_overlap,
                     draft_tokens=args.draft_tokens, acceptance_rate=args.acceptance_rate,
                     draft_cost_fraction=args.draft_cost_fraction
                     ).with_speculative(getattr(sc, "speculative", None))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from analysis.inputs.read.scenario import load_scenario

    sc = trusted_scenario(load_scenario(args.scenario), args.trust_size)
    strategy = Strategy.parse(args.strategy)
    est = E.estimate(sc, strategy, _options(args, sc))
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
            "can_run": not reasons, "rejections": reasons},
        "warnings": list(sc.warnings), "assumptions": list(sc.assumptions),
        "fields_read": card_fields(source),
    }


def cmd_check(args: argparse.Namespace) -> int:
    from analysis.inputs.read.scenario import load_scenario

    sc = load_scenario(args.scenario)
    if args.json:
        print(_json(check_dict(sc, args.scenario)))
        return 0
    print(f"{sc.name}: {sc.model.name} on {sc.hardware.name}, batch "
          f"{sc.workload.batch_sequences}, prompts {sc.workload.min_prompt_tokens}-"
          f"{sc.workload.max_prompt_tokens} tokens: readable")
    if sc.current_strategy is not None:
        reasons = current_strategy_check(sc)
        verdict = "can run" if not reasons else "cannot run: " + "; ".join(reasons)
        print(f"  current strategy {sc.current_strategy.label()} "
              f"({sc.current_strategy.describe()}): {verdict}")
    for w in sc.warnings:
        print(f"  warning: {w}")
    for a in sc.assumptions:
        print(f"  assumed: {a}")
    return 0


# ------------------------------------------------------ plan, serve, sensitivity, audit, validate

def _register_plan(sub) -> None:
    p = sub.add_parser("plan", help="search every layout and recommend one")
    p.add_argument("scenario", nargs="?", default=None,
                   help="preset name, scenario YAML or scenario card; or leave it out and give "
                        "--model and --hardware")
    q = p.add_argument_group("a scenario without a file (instead of SCENARIO)")
    q.add_argument("--model", help="model preset, model YAML or config.json, e.g. mixtral-8x7b")
    q.add_argument("--hardware", default=None,
                   help="GPU preset, e.g. H100-SXM; with a SCENARIO (or --serving), serving plans "
                        "side by side on a comma-separated list, e.g. H100-SXM,H200,B200,MI300X")
    q.add_argument("--batch", type=int, default=64, help="sequences in flight (default 64)")
    q.add_argument("--isl", type=int, default=2048, help="prompt tokens (default 2048)")
    q.add_argument("--osl", type=int, default=256, help="output tokens (default 256)")
    q.add_argument("--ttft", type=float, default=None, help="TTFT target in seconds")
    q.add_argument("--tpot", type=float, default=None, help="TPOT target in seconds")
    p.add_argument("--max-gpus", type=int, default=None,
                   help="GPU budget (default: the scenario's, else 1024)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--top", type=int, default=10, help="alternatives to list (default 10)")
    p.add_argument("--redundant-experts", default="0",
                   help="redundant expert copies per layer to try, comma-separated (default 0)")
    p.add_argument("--no-search-tbo", action="store_true",
                   help="do not search two-batch overlap (by default every layout with ep > 1 "
                        "is also tried with it, labelled '-tbo')")
    p.add_argument("--serving", action="store_true",
                   help="plan for serving (layout x concurrency, aggregated or xPyD, cost); "
                        "automatic when the scenario has a serving: block")
    _add_estimate_options(p)
    p.set_defaults(func=cmd_plan)


def cmd_plan(args) -> int:
    from analysis.inputs.read.scenario import load_scenario

    try:
        choices = tuple(sorted({int(x) for x in args.redundant_experts.split(",") if x.strip()}))
    except ValueError:
        raise InputError("--redundant-experts", args.redundant_experts, "not whole numbers",
                         "comma-separated whole numbers >= 0, e.g. 0,16,32") from None
    if not choices or min(choices) < 0:
        raise InputError("--redundant-experts", args.redundant_experts, "must be >= 0",
                         "comma-separated whole numbers >= 0, e.g. 0,16,32")

    if args.scenario is not None and args.model:
        raise InputError("scenario", args.scenario, "given together with --model",
                         "either a SCENARIO or --model and --hardware, not both")
    compare = args.scenario is not None and bool(args.hardware)
    if args.scenario is None:
        sc = _plan_scenario(args)
    else:
        sc = load_scenario(args.scenario)
    sc = trusted_scenario(sc, args.trust_size)
    if args.serving or compare or sc.serving is not None:
        from analysis.cli_serving import cmd_plan_serving  # docs/scenario-format.md, Serving

        if not compare:
            args.hardware = None
        return cmd_plan_serving(args, sc, _options(args, sc))
    p = S.plan(sc, _options(args, sc), args.max_gpus, top_n=args.top, redundant_choices=choices,
               tbo_choices=(False,) if args.no_search_tbo else (False, True),
               progress=sys.stderr.isatty())
    d = p.to_dict()
    if args.json:
        print(_json(d))
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


def _plan_scenario(args):
    """``plan --model M --hardware H [--batch --isl --osl --ttft --tpot]``: a scenario composed
    from presets, without a YAML."""
    from analysis.inputs.errors import InputError
    from analysis.inputs.read.scenario import compose_scenario

    for flag, value in (("--model", args.model), ("--hardware", args.hardware)):
        if not value:
            raise InputError(flag, "missing", "plan needs a SCENARIO, or --model and --hardware",
                             "e.g. plan seed, or plan --model mixtral-8x7b --hardware H100-SXM")
    for flag, value in (("--batch", args.batch), ("--isl", args.isl), ("--osl", args.osl)):
        if value < 1:
            raise InputError(flag, value, "must be at least 1", "a whole number >= 1")
    for flag, value in (("--ttft", args.ttft), ("--tpot", args.tpot)):
        if value is not None and not value > 0:
            raise InputError(flag, value, "must be positive", "seconds > 0, e.g. 2 or 0.05")
    req = {k: v for k, v in (("ttft_s", args.ttft), ("tpot_s", args.tpot)) if v is not None}
    return compose_scenario(args.hardware, args.model, args.batch, args.isl, args.osl,
                            requirements=req)


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
    isl = args.isl if args.isl is not None else sc.workload.max_prompt_tokens
    osl = args.osl if args.osl is not None else sc.workload.output_tokens
    est = SV.serve(sc, s, isl, osl, args.concurrency, args.request_rate,
                   _options(args, sc))
    if args.json:
        d = est.to_dict()
        d["assumptions"] = list(sc.assumptions) + [SV.__doc__.split("\n\n")[1].replace("\n", " ")]
        print(_json(d))
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

    names = SE.inputs_named(args.inputs)          # checked before any (slow) planning
    sc = load_scenario(args.scenario)
    res = SE.analyse(sc, _options(args, sc), [i.name for i in names], args.metric, args.points,
                  args.scan, args.max_gpus, progress=sys.stderr.isatty())
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
    p.add_argument("--card", default=None, help="the scenario card (or YAML, or preset) the plan "
                                                "was written from, for a plan that does not "
                                                "restate its inputs")
    _add_estimate_options(p)
    p.set_defaults(func=cmd_audit)


def cmd_audit(args) -> int:
    opts = _options(args)
    res = AU.write_audit(args.plan, args.out, opts, card=args.card) if args.out else \
        AU.audit(args.plan, opts, card=args.card)
    if args.json:
        print(_json(res.to_dict(), default=AU.json_default))
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
                                        "median and p90 |error| by metric, workload kind, "
                                        "split and mode")
    p.add_argument("--mode", choices=list(V.MODES) + ["all"], default="all",
                   help="which estimate to validate (default: calibrated, derated and sol)")
    p.add_argument("--refit", action="store_true",
                   help="refit the bounded curves and engine overheads on the calibration split "
                        "and write them into analysis/inputs/presets/gpus/*.yaml and "
                        "analysis/validation/fitted_overheads.yaml before validating")
    p.add_argument("--loso", action="store_true",
                   help="also leave each source out: refit on the others, score it (slow: one "
                        "fit per source)")
    p.add_argument("--worst", type=int, default=5, help="held-out cases to list by |error|")
    p.add_argument("--json", action="store_true", help="print the tables as JSON")
    p.set_defaults(func=cmd_validate)


def _records(df) -> list[dict]:
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def cmd_validate(args) -> int:
    if args.refit:
        for path in V.refit():
            print(f"wrote: {path}")
    modes = V.MODES if args.mode == "all" else (args.mode,)
    tables = [V.validation_table(mode) for mode in modes]
    df = pd.concat(tables, ignore_index=True)
    loso = V.leave_one_source_out(modes[0]) if args.loso else None
    skipped = V.skipped_serving_rows()
    m = V.load_mapping()
    if args.json:
        out = {"cases": int(len(tables[0])),
               "skipped": {"mapping": int((m["status"] == "skipped").sum()),
                           "serving": int(len(skipped))},
               "by_metric": _records(V.summary(df)), "by_workload_kind":
               _records(V.summary_by_kind(df)), "sol_violations": int(len(V.sol_violations(df)))}
        if loso is not None:
            out["leave_one_source_out"] = _records(V.loso_table(loso))
        print(_json(out))
        return 0
    print(f"validation set: {len(tables[0])} cases ({int((m['status'] == 'mapped').sum())} "
          f"mapping rows, {int((tables[0]['dataset'] == 'serving').sum())} serving-run metrics); "
          f"skipped: {int((m['status'] == 'skipped').sum())} mapping rows, {len(skipped)} "
          f"serving runs (reasons: analysis/validation/mapping.csv, cases.SOURCE_RULES)")
    print(V.summary_markdown(df))
    print(V.markdown(V.summary_by_kind(df), ["mode", "split", "workload_kind"]))
    if loso is not None:
        print(f"leave one source out ({modes[0]}):")
        print(V.markdown(V.loso_table(loso), ["left_out", "metric_kind"]))
    for t in tables:
        used = t.loc[t["mode_used"] != t["mode"], "mode_used"].value_counts()
        for label, n in used.items():
            print(f"note: {n} {t['mode'].iloc[0]} cases used {label}")
    print(f"speed-of-light cases slower than measured: {len(V.sol_violations(df))}")
    if args.worst:
        w = V.worst_rows(tables[0], args.worst)
        print(f"worst held-out cases ({modes[0]}):")
        for r in w.to_dict("records"):
            print(f"  {r['case_id']} {r['source']} {r['model']} on {r['gpu']} {r['layout']} "
                  f"{r['isl']}/{r['osl']} {r['workload_kind']}: {r['error']:+.0%} {r['why']}")
    return 0


# ------------------------------------------------------------------------------------ simulate

def cmd_simulate(args: argparse.Namespace) -> int:
    from analysis.simulate.run import simulate_file

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
    p.add_argument("--imbalance", choices=["balanced", "uniform", "factor", "zipf"],
                   default="uniform",
                   help="MoE load model (default: uniform-random routing, busiest rank)")
    p.add_argument("--imbalance-factor", type=float, default=1.0,
                   help="busiest EP rank / mean, with --imbalance factor")
    p.add_argument("--skew", type=float, default=1.0,
                   help="Zipf exponent of expert popularity, with --imbalance zipf (default 1)")
    p.add_argument("--overlap", type=float, default=0.0,
                   help="fraction of communication hidden under compute (default 0)")
    p.add_argument("--dispatch-precision", default=None,
                   help="EP dispatch precision, e.g. fp8 or bf16 (default: the model's, else "
                        "its activation precision)")
    p.add_argument("--draft-tokens", type=int, default=0,
                   help="speculative decoding / MTP: draft tokens per step (default 0: off)")
    p.add_argument("--acceptance-rate", type=float, default=0.0,
                   help="probability each draft token is accepted (tokens per step = "
                        "(1 - a^(d+1)) / (1 - a))")
    p.add_argument("--draft-cost-fraction", type=float, default=None,
                   help="a draft token's cost as a fraction of a decode step (default: an MTP "
                        "module of one layer, 1/L)")
    p.add_argument("--two-batch-overlap", action="store_true",
                   help="run each step as two micro-batches whose communication hides under "
                        "the other's compute (costs: half-size GEMMs, a second weight read)")
    p.add_argument("--combine-precision", default=None,
                   help="EP combine precision (default: the model's, else its activation "
                        "precision but at least bf16)")
    _add_trust(p)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m analysis",
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
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=cmd_check)

    r = sub.add_parser("simulate", help="predict one benchmark run of a serving engine "
                                        "(docs/simulate.md)")
    r.add_argument("run", help="run YAML: hardware, gpus, model, layout, engine, workload")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=cmd_simulate)

    for register in (_register_plan, _register_serve, _register_sensitivity, _register_audit,
                     _register_validate):
        register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:       # --help (0) or a usage error, already printed in one line
        return exc.code if isinstance(exc.code, int) else 2
    try:
        check_args(args)
        return args.func(args)
    except MoEPlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: no such file: {exc.filename}", file=sys.stderr)
        return 2
    except OSError as exc:          # a name too long, a directory, no permission
        print(f"error: cannot read {str(exc.filename)[:200]!r}: {exc.strerror}; valid: a "
              "readable file or a preset name", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
