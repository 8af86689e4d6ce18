"""The report's sections on the answer: the recommended layout, its resources, implementation,
communication, optimisations, performance, scalability, alternatives, the current strategy, the
declared reading, the binding constraint, the checklist and the assumptions.
"""

from __future__ import annotations

from analysis import anatomy as A
from analysis import estimate as E
from analysis import fmt
from analysis.inputs.types import Strategy
from analysis.report.derived import (
    MEMORY_WITH_RESERVE,
    METRIC_HEADER,
    TPOT_LONGEST,
    TTFT_LONGEST,
    current_row,
    met,
    metrics_rows,
    optimisations,
    placement,
    scalability,
    throughput_lowest,
)
from analysis.report.sections_inputs import ReportInputs, md_table
from analysis.search import planner as S


def _lowest(est: E.Estimate, kind: str) -> float:
    """The checked throughput reading: the lowest over the prompt lengths."""
    return min(r[S.THROUGHPUT_COLUMNS[kind]] for r in est.metrics)


def degrees_text(s: Strategy) -> str:
    return (f"tp={s.tp}, dp_attn={s.dp_attn}, etp={s.etp}, ep={s.ep}, pp={s.pp}, dp={s.dp}, "
            f"prefill micro-batches={s.microbatches}"
            + (f", redundant experts={s.redundant_experts}" if s.redundant_experts else ""))


def recommended(c: ReportInputs) -> list[str]:
    """The recommended layout (or best compromise): degrees, placement, why, the search."""
    s = c.est.strategy
    kind = c.plan.throughput_kind
    p = c.plan
    scenario = c.scenario
    out: list[str] = []
    add = out.append
    add("## Recommended parallel strategy\n" if p.feasible else
        "## Best compromise (no layout meets every requirement)\n")
    pl = placement(scenario, s)
    add(f"- Layout `{s.label()}`: {s.describe()} ({degrees_text(s)})")
    add(f"- GPUs: {s.gpus} = tp {s.tp} x dp_attn {s.dp_attn} x pp {s.pp} x dp {s.dp} "
        f"(experts: etp {s.etp} x ep {s.ep} over the same tp x dp_attn GPUs)")
    ep_where = ("inside a node (NVLink)" if pl["ep_group_inside_node"]
                else "spans nodes (scale-out network)")
    add(f"- Placement: {pl['nodes']} node(s) of {pl['gpus_per_node']} GPUs; TP groups "
        f"{'inside' if pl['tp_inside_node'] else 'across'} a node; the expert group of "
        f"{s.tp * s.dp_attn} GPUs {ep_where}")
    because = (f"fewest GPUs that meet every requirement, then highest {kind} throughput per GPU"
               if p.feasible else "it passes the most checks and comes closest to the failing "
               "targets, among layouts that fit in memory")
    add(f"- Chosen because: {because}")
    n_valid, n_bad = int(p.table["valid"].sum()), int((~p.table["valid"]).sum())
    add(f"- Search: {n_valid:,} layouts evaluated (all in `strategies.csv`); degrees are "
        f"generated only where they divide what they split (heads, experts, batch), and "
        + (f"{n_bad:,} more were rejected with their reasons" if n_bad else
           "no generated candidate was otherwise impossible"))
    add("")
    add(md_table([[k.replace("_", " "), v["layout"], v["gpus"], fmt.seconds(v["ttft_s"]),
                   fmt.tokens_per_ms(v["throughput_tokens_per_s_per_gpu"])]
                  for k, v in p.objectives.items()],
                 ["objective", "layout", "GPUs", TTFT_LONGEST, throughput_lowest(kind)]))
    add("")
    return out


def resources(c: ReportInputs) -> list[str]:
    """Memory per GPU by component, what divides each, and the memory figure."""
    hw = c.scenario.hardware
    wl = c.scenario.workload
    s = c.est.strategy
    est = c.est
    figures = c.figures
    sum(A.params_by_component(c.scenario.model).values())
    out: list[str] = []
    add = out.append
    add("## Resources\n")
    mem_total = sum(est.memory_bytes.values())
    add(md_table([[k.replace("_", " "), fmt.gb(v, 3), fmt.pct(v / mem_total)]
                  for k, v in est.memory_bytes.items()]
                 + [["**total, with the runtime reserve**", f"**{fmt.gb(mem_total, 3)}**",
                     (f"**{fmt.pct(mem_total / hw.hbm_capacity_bytes)} of "
                      f"{fmt.gb(hw.hbm_capacity_bytes)}**")]],
                 ["memory per GPU", "bytes", "share"]))
    add("")
    add(f"Non-expert weights are divided by tp x pp = {s.tp * s.pp}, expert weights by "
        f"etp x ep x pp = {s.etp * s.ep * s.pp}; the KV cache holds this GPU's "
        f"{wl.batch_sequences / s.dp / s.dp_attn:g} sequences at "
        f"{wl.max_prompt_tokens + wl.output_tokens} tokens; activations are those of one "
        f"prefill micro-batch of {wl.batch_sequences // s.dp // s.microbatches} sequences.\n")
    add(f"![Memory per GPU]({figures['memory']})\n")
    return out


def implementation(c: ReportInputs) -> list[str]:
    """Pipeline stages, experts per EP rank and what each TP group splits."""
    s = c.est.strategy
    pl = placement(c.scenario, c.est.strategy)
    out: list[str] = []
    add = out.append
    add("## Implementation\n")
    add("Pipeline stages (GPU ids count tp fastest, then dp_attn, then pp, then dp; replica 0 "
        "shown, the others repeat it):\n")
    add(md_table([[x["stage"], x["layers"], x["gpus"], x["nodes"]] for x in pl["stages"]],
                 ["stage", "layers", "GPUs", "node(s)"], "rlll"))
    add("")
    if pl["experts"]:
        shown = pl["experts"][:16]
        add(f"Experts of every MoE layer over the {s.ep} expert-parallel ranks of a stage"
            f"{' (first 16 shown)' if len(pl['experts']) > 16 else ''}:\n")
        add(md_table([[x["ep_rank"], x["experts"], x["gpus_in_stage"],
                       x["ffn_columns_per_gpu"]] for x in shown],
                     ["EP rank", "experts", "GPUs (in stage)", "FFN columns per GPU"], "rlll"))
        add("")
    add("What each tensor-parallel group of " + str(s.tp) + " GPUs splits: "
        + "; ".join(f"{k} {v}" for k, v in pl["tp_split"].items()) + ".\n")
    return out


def communication(c: ReportInputs) -> list[str]:
    """Every collective of one stage step: bytes per GPU, link and time."""
    hw = c.scenario.hardware
    s = c.est.strategy
    est = c.est
    out: list[str] = []
    add = out.append
    add("## Communication\n")
    rows = []
    for phase, ops in (("prefill (one stage step)", est.prefill_ops),
                       ("decode (one stage step)", est.decode_ops)):
        for o in ops:
            if o["op"] in E.COMM_OPS and o["comm_bytes"] > 0:
                tier = {"tp_all_reduce": "NVLink" if s.tp <= hw.gpus_per_node else "scale-out",
                        "ep_dispatch_combine": "NVLink" if s.tp * s.dp_attn <= hw.gpus_per_node
                        else "NVLink + scale-out",
                        "pp_send": "NVLink" if s.tp * s.dp_attn * s.pp <= hw.gpus_per_node
                        else "scale-out"}[o["op"]]
                rows.append([phase, o["op"].replace("_", " "), fmt.gb(o["comm_bytes"], 4), tier,
                             fmt.seconds(o["comm_s"])])
    if rows:
        add(md_table(rows, ["phase", "collective", "bytes per GPU", "link", "time"], "lllll"))
    else:
        add("No communication: the layout runs on one GPU per replica.")
    add("")
    add("TP: two ring all-reduces per layer of the attention group's tokens. EP: each token's "
        "hidden vector is dispatched to the distinct remote GPUs holding its top-k experts and "
        "combined back. PP: activations sent to the next stage once per step.\n")
    return out


def optimisations_section(c: ReportInputs) -> list[str]:
    """Which memory and performance optimisations apply, with their numbers."""
    est = c.est
    scenario = c.scenario
    opts = c.opts
    out: list[str] = []
    add = out.append
    add("## Memory and performance optimisations\n")
    applies = optimisations(scenario, est, opts)
    add(md_table([[name, "applies" if ok else "does not apply", why] for name, ok, why in applies],
                 ["optimisation", "verdict", "why"], "lll"))
    add("")
    return out


def expected_performance(c: ReportInputs) -> list[str]:
    """Metrics at every prompt length, speed-of-light share, time by resource."""
    kind = c.plan.throughput_kind
    est = c.est
    figures = c.figures
    out: list[str] = []
    add = out.append
    add("## Expected performance\n")
    add(md_table(metrics_rows(est, kind), METRIC_HEADER, "r" * len(METRIC_HEADER)))
    add("")
    add(f"Speed-of-light share: this layout reaches {est.sol_fraction['ttft']:.0%} of the "
        f"speed-of-light TTFT and {est.sol_fraction['tpot']:.0%} of the speed-of-light TPOT "
        f"(all efficiencies 1, no communication).\n")
    add(f"![TTFT against prompt length]({figures['ttft']})\n")
    add(f"![Where the time goes]({figures['time_breakdown']})\n")
    add(f"![Where a decode step goes]({figures['decode_breakdown']})\n")
    for phase, label, total_s in (("prefill", "TTFT at the longest prompt", est.worst["ttft_s"]),
                                  ("decode", "a decode step at the longest context",
                                   sum(est.tpot_breakdown_s.values()))):
        parts = [f"{k.replace('_', ' ')} {fmt.seconds(v)} ({v / total_s:.0%})"
                 for k, v in est.by_resource(phase).items() if v > 0]
        add(f"By the resource that bounds each op, {label} ({fmt.seconds(total_s)}) is "
            + ", ".join(parts) + ".\n")
    dec = sorted(est.tpot_breakdown_s.items(), key=lambda kv: -kv[1])[:3]
    tpot_end = sum(est.tpot_breakdown_s.values())
    add("A decode step at the longest context is led by "
        + ", ".join(f"{k.replace('_', ' ')} ({v / tpot_end:.0%})" for k, v in dec) + ".\n")
    return out


def scalability_section(c: ReportInputs) -> list[str]:
    """Best layout per GPU count and the recommendation at other batch sizes."""
    kind = c.plan.throughput_kind
    p = c.plan
    est = c.est
    scenario = c.scenario
    opts = c.opts
    figures = c.figures
    out: list[str] = []
    add = out.append
    add("## Scalability\n")
    sc_ = scalability(scenario, p, est, opts)
    add("Best layout at each GPU count (meeting every requirement where possible):\n")
    add(md_table(sc_["by_gpus"], ["GPUs", "layout", TTFT_LONGEST, TPOT_LONGEST,
                                  throughput_lowest(kind), "meets all"], "rlrrrl"))
    add("")
    add("The recommended layout at other batch sizes:\n")
    add(md_table(sc_["by_batch"], ["batch", TTFT_LONGEST, TPOT_LONGEST, throughput_lowest(kind),
                                   MEMORY_WITH_RESERVE, "fits"], "rrrrrl"))
    add("")
    add("Across prompt lengths see *Expected performance*.\n")
    add(f"![Throughput per GPU against TTFT]({figures['pareto_ttft']})\n")
    add(f"![Throughput per GPU against tokens/s per user]({figures['pareto_user']})\n")
    return out


def alternatives(c: ReportInputs) -> list[str]:
    """The runners-up and why each was not chosen."""
    kind = c.plan.throughput_kind
    p = c.plan
    out: list[str] = []
    add = out.append
    add("## Alternatives\n")
    kcol = f"min_{S.THROUGHPUT_COLUMNS[kind]}"
    add(md_table([[x["layout"], int(x["gpus"]), fmt.seconds(x["ttft_s"]), fmt.seconds(x["tpot_s"]),
                   fmt.tokens_per_ms(x[kcol]), fmt.gb(x["memory_per_gpu_bytes"]),
                   x["why_not_chosen"]] for _, x in p.alternatives.iterrows()],
                 ["layout", "GPUs", TTFT_LONGEST, TPOT_LONGEST, throughput_lowest(kind),
                  MEMORY_WITH_RESERVE, "why not chosen"], "lrrrrrl"))
    add("")
    return out


def current_strategy(c: ReportInputs) -> list[str]:
    """The scenario's current strategy beside the recommendation, with its checks."""
    s = c.est.strategy
    kind = c.plan.throughput_kind
    p = c.plan
    est = c.est
    scenario = c.scenario
    current = c.current
    current_error = c.current_error
    mem_total = sum(c.est.memory_bytes.values())
    out: list[str] = []
    add = out.append
    if scenario.current_strategy is not None:
        add("## The scenario's current strategy\n")
        cs = scenario.current_strategy
        if current is None:
            add(f"`{cs.label()}` ({cs.gpus} GPUs) cannot run: {current_error}.\n")
        else:
            cw, rw = current.worst, est.worst
            cur_checks = S.checks_for(scenario, current_row(scenario, current, p))
            add(md_table([
                ["GPUs", cs.gpus, s.gpus],
                [MEMORY_WITH_RESERVE, fmt.gb(sum(current.memory_bytes.values())),
                 fmt.gb(mem_total)],
                [TTFT_LONGEST, fmt.seconds(cw["ttft_s"]), fmt.seconds(rw["ttft_s"])],
                [TPOT_LONGEST, fmt.seconds(cw["tpot_s"]), fmt.seconds(rw["tpot_s"])],
                [throughput_lowest(kind), fmt.tokens_per_ms(_lowest(current, kind)),
                 fmt.tokens_per_ms(_lowest(est, kind))],
                ["requirements met", met(cur_checks), met(p.checks)],
            ], ["", f"current `{cs.label()}`", f"recommended `{s.label()}`"], "lrr"))
            add("")
            for c in cur_checks:
                add(f"- {fmt.tick(c.passed)} {c.name}: {c.detail}")
            add("")
    return out


def declared_reading(c: ReportInputs) -> list[str]:
    """The plan under the declared size, when it disagrees with the architecture."""
    m = c.scenario.model
    declared = c.declared
    total = sum(A.params_by_component(c.scenario.model).values())
    out: list[str] = []
    add = out.append
    if declared is not None:
        add("## Under the declared size\n")
        dm = declared.scenario.model
        ds = declared.recommended
        key = "expert_intermediate_size" if m.is_moe else "dense_intermediate_size"
        add(f"The scenario declares {m.declared_total_params / 1e9:g}B parameters; the "
            f"architecture gives {fmt.params(total)}. This report uses the **architecture** "
            f"(it is what the stated dimensions compute). Read the other way, with the gap put "
            f"into the FFN width ({getattr(m, key)} -> {getattr(dm, key)}, "
            f"{fmt.params(A.total_params(dm))} parameters):\n")
        head = (f"{'recommended' if declared.feasible else 'best compromise'} "
                f"`{ds.label()}` ({ds.describe()})")
        add(md_table([[("✓ " if c.passed else "✗ ") + c.name, c.detail]
                      for c in declared.checks], [head, "number"], "ll"))
        add("")
        if declared.binding:
            for line in declared.binding["what_would_have_to_change"]:
                add(f"- Binding: {line}")
            add("")
    return out


def binding_constraint(c: ReportInputs) -> list[str]:
    """What binds when nothing meets every requirement, and what would have to change."""
    p = c.plan
    out: list[str] = []
    add = out.append
    if p.binding:
        add("## Binding constraint\n")
        for f_ in p.binding["failed"]:
            ceil = (f"; ceiling {fmt.tokens_per_ms(f_['ceiling'])} per GPU set by "
                    f"{f_['resource']} ({f_['why']})" if "ceiling" in f_ else "")
            best = (fmt.seconds(f_["best_value"]) if f_["requirement"] in ("TTFT", "TPOT") else
                    fmt.gb(f_["best_value"]) if f_["requirement"] == "memory" else
                    fmt.tokens_per_ms(f_["best_value"]))
            add(f"- **{f_['requirement']}**: best over every layout {best}{ceil}")
        for line in p.binding["what_would_have_to_change"]:
            add(f"- What would have to change: {line}")
        add("")
    return out


def checklist(c: ReportInputs) -> list[str]:
    """The validation checklist, plus the other throughput readings (not checked)."""
    r = c.scenario.requirements
    kind = c.plan.throughput_kind
    p = c.plan
    est = c.est
    out: list[str] = []
    add = out.append
    add("## Validation checklist\n")
    for c in p.checks:
        add(f"- {fmt.tick(c.passed)} {c.name}: {c.detail}")
    other = [k for k in S.THROUGHPUT_COLUMNS if k != kind]
    if r.throughput_tokens_per_s_per_gpu is not None:
        for k in other:
            val = est.worst[S.THROUGHPUT_COLUMNS[k]]
            vals = [row[S.THROUGHPUT_COLUMNS[k]] for row in est.metrics]
            ok = min(vals) >= r.throughput_tokens_per_s_per_gpu
            add(f"- (other reading, not the one checked) {fmt.tick(ok)} throughput per GPU as "
                f"{k}: lowest {fmt.tokens_per_ms(min(vals))} over the prompt lengths "
                f"({fmt.tokens_per_ms(val)} at the longest), target "
                f"{fmt.tokens_per_ms(r.throughput_tokens_per_s_per_gpu)}")
    add("")
    return out


def assumptions(c: ReportInputs) -> list[str]:
    """The assumptions the estimate used."""
    est = c.est
    out: list[str] = []
    add = out.append
    add("## Assumptions\n")
    for x in est.to_dict()["assumptions"]:
        add(f"- {x}")
    add("")
    return out
