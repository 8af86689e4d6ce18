"""``plan``: search every layout and recommend one (``--serving``: :mod:`.plan_serving`)."""

from __future__ import annotations

import sys

from analysis import fmt
from analysis.commands.common import as_json, options, trusted_scenario
from analysis.inputs.errors import InputError
from analysis.search import planner as S


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
        # docs/scenario-format.md, Serving
        from analysis.commands.plan_serving import cmd_plan_serving

        if not compare:
            args.hardware = None
        return cmd_plan_serving(args, sc, options(args, sc))
    p = S.plan(sc, options(args, sc), args.max_gpus, top_n=args.top, redundant_choices=choices,
               tbo_choices=(False,) if args.no_search_tbo else (False, True),
               progress=sys.stderr.isatty())
    d = p.to_dict()
    if args.json:
        print(as_json(d))
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
