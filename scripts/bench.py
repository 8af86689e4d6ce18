"""Benchmarks: how fast one estimate and the full search run. Prints figures; asserts nothing.

    make bench            # or: .venv/bin/python scripts/bench.py [SCENARIO]

Reports the best of several repeats (the machine's other load only ever slows a run down).
"""

from __future__ import annotations

import sys
import time

from analysis import estimate as E
from analysis import search as S
from analysis.inputs import Strategy
from analysis.inputs.read.scenario import load_scenario


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ref = sys.argv[1] if len(sys.argv) > 1 else "seed"
    sc = load_scenario(ref)
    strategy = sc.current_strategy or Strategy.parse("ep=8")

    n = 200
    t = best_of(lambda: [E.estimate(sc, strategy) for _ in range(n)], 3)
    print(f"one layout, full explained estimate at {len(sc.workload.prompt_lengths_tokens)} "
          f"prompt lengths: {n / t:,.0f} layouts/s ({t / n * 1e3:.2f} ms each)")

    lay = S.candidate_layouts(sc)
    ok = E.valid_mask(sc.model, sc.workload, lay)
    valid = lay.subset(ok)
    t = best_of(lambda: E.evaluate_layouts(sc, valid, E.Options()))
    print(f"vectorised headline metrics at one prompt length: {len(valid):,} layouts in "
          f"{t * 1e3:.1f} ms = {len(valid) / t:,.0f} layouts/s")

    t = best_of(lambda: S.plan(sc, progress=False), 3)
    p = S.plan(sc, progress=False)
    n_valid = int(p.table["valid"].sum())
    n_all = len(p.table)
    print(f"full search of '{sc.name}': {n_all:,} candidates ({n_valid:,} valid, evaluated at "
          f"{len(sc.workload.prompt_lengths_tokens)} prompt lengths) in {t:.3f} s = "
          f"{n_valid / t:,.0f} valid layouts/s")

    from analysis.simulate.run import simulate_run
    run = {"hardware": "H100-SXM", "gpus": 8, "model": "mixtral-8x7b", "layout": "tp=8",
           "engine": {"name": "vllm", "version": "0.8.5"},
           "workload": {"isl": 1024, "osl": 1024, "arrival": {"kind": "poisson", "rate": 4,
                                                              "num_requests": 500}}}
    t = best_of(lambda: simulate_run(run))
    print(f"simulate 500 requests (Poisson, Mixtral tp=8, vLLM V1), setup included: "
          f"{t * 1e3:.1f} ms")

    from pathlib import Path

    from analysis.search.serving_plan import serving_plan
    ds = load_scenario(str(Path(__file__).resolve().parents[1] / "examples" / "serving"
                           / "deepseek-v3-h200-serving.yaml"))
    t = best_of(lambda: serving_plan(ds), 3)
    p = serving_plan(ds)
    print(f"serving search, DeepSeek-V3 on up to {ds.max_gpus} H200, xPyD considered: "
          f"{p.candidates_evaluated:,} layout x concurrency candidates, {len(p.runs)} simulated, "
          f"in {t:.2f} s (target <= 10 s); chosen: {p.winner}")


if __name__ == "__main__":
    main()
