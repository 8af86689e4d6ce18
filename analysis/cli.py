"""The command line: every verb's argparse, and nothing else. What a verb does with its
arguments (call the package, print text or ``--json``) is in :mod:`analysis.commands`.

Bad input ends with one line ``error: <what is wrong>`` on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from analysis.commands.checks import OneLineParser, check_args
from analysis.inputs.errors import MoEPlanError
from analysis.report import sensitivity as SE
from analysis.validation.data import MODES


def _command(module: str, name: str):
    """The verb's handler ``analysis.commands.<module>.<name>``, imported when the verb runs:
    a verb loads only what it needs (``anatomy`` never imports matplotlib)."""
    def run(args):
        return getattr(importlib.import_module(f"analysis.commands.{module}"), name)(args)
    run.__name__ = name
    return run


cmd_anatomy = _command("model", "cmd_anatomy")
cmd_check = _command("model", "cmd_check")
cmd_evaluate = _command("model", "cmd_evaluate")
cmd_plan = _command("plan", "cmd_plan")
cmd_serve = _command("serve", "cmd_serve")
cmd_simulate = _command("serve", "cmd_simulate")
cmd_audit = _command("studies", "cmd_audit")
cmd_sensitivity = _command("studies", "cmd_sensitivity")
cmd_validate = _command("studies", "cmd_validate")


def _add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-size", choices=["architecture", "declared"], default="architecture",
                   help="when the declared parameter count and the dimensions disagree, which to "
                        "trust (default: the architecture; 'declared' widens the expert FFN to "
                        "match the declared count)")


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


def _register_validate(sub) -> None:
    p = sub.add_parser("validate", help="predictions against published measurements: "
                                        "median and p90 |error| by metric, workload kind, "
                                        "split and mode")
    p.add_argument("--mode", choices=list(MODES) + ["all"], default="all",
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
