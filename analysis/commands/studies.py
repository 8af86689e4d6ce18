"""``sensitivity``, ``audit`` and ``validate``: studies of a plan, of someone's plan, and of the
model against measurements."""

from __future__ import annotations

import math
import sys

import pandas as pd

from analysis.commands.common import as_json, options
from analysis.report import sensitivity as SE
from analysis.report.audit import auditor as AU
from analysis.validation import run as V


def cmd_sensitivity(args) -> int:
    from analysis.inputs.read.scenario import load_scenario

    names = SE.inputs_named(args.inputs)          # checked before any (slow) planning
    sc = load_scenario(args.scenario)
    res = SE.analyse(sc, options(args, sc), [i.name for i in names], args.metric, args.points,
                  args.scan, args.max_gpus, progress=sys.stderr.isatty())
    if args.json:
        print(as_json(res.to_dict()))
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


def cmd_audit(args) -> int:
    opts = options(args)
    res = AU.write_audit(args.plan, args.out, opts, card=args.card) if args.out else \
        AU.audit(args.plan, opts, card=args.card)
    if args.json:
        print(as_json(res.to_dict(), default=AU.json_default))
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
    if args.mode == "all":      # the reports read their expected error from this file
        from analysis.validation.latest import write_latest_summary
        written = write_latest_summary(V.summary(df), len(tables[0]))
        if not args.json:
            print(f"wrote: {written}")
    if args.json:
        out = {"cases": int(len(tables[0])),
               "skipped": {"mapping": int((m["status"] == "skipped").sum()),
                           "serving": int(len(skipped))},
               "by_metric": _records(V.summary(df)), "by_workload_kind":
               _records(V.summary_by_kind(df)), "sol_violations": int(len(V.sol_violations(df)))}
        if loso is not None:
            out["leave_one_source_out"] = _records(V.loso_table(loso))
            out["leave_one_source_out_pooled"] = {
                "by_metric": _records(V.loso_pooled(loso)),
                "by_workload_kind": _records(V.loso_pooled(loso, "workload_kind"))}
        print(as_json(out))
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
        print("pooled over every left-out source:")
        print(V.markdown(V.loso_pooled(loso), ["metric_kind"]))
        print(V.markdown(V.loso_pooled(loso, "workload_kind"), ["workload_kind"]))
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
