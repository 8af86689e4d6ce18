"""``serve`` (steady state under continuous batching) and ``simulate`` (one engine run,
iteration by iteration)."""

from __future__ import annotations

import argparse

from analysis import fmt
from analysis.commands.common import as_json, options, trusted_scenario
from analysis.estimate import serving as SV
from analysis.inputs.types import Strategy


def cmd_serve(args) -> int:
    from analysis.inputs.read.scenario import load_scenario

    sc = trusted_scenario(load_scenario(args.scenario), args.trust_size)
    s = Strategy.parse(args.strategy)
    isl = args.isl if args.isl is not None else sc.workload.max_prompt_tokens
    osl = args.osl if args.osl is not None else sc.workload.output_tokens
    est = SV.serve(sc, s, isl, osl, args.concurrency, args.request_rate,
                   options(args, sc))
    if args.json:
        d = est.to_dict()
        d["assumptions"] = list(sc.assumptions) + [SV.__doc__.split("\n\n")[1].replace("\n", " ")]
        print(as_json(d))
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


def cmd_simulate(args: argparse.Namespace) -> int:
    from analysis.simulate.run import simulate_file

    out = simulate_file(args.run)
    if args.json:
        print(as_json(out))
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
