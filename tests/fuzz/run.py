"""``make fuzz N=10000``: N mutated inputs through every verb, counts by outcome and verb.

Each failing input (crash, hang, invalid output) is kept under ``tests/fuzz/corpus/`` and
replayed by ``tests/test_fuzz.py``. Exit status 1 when anything failed.

    python -m tests.fuzz.run [N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.fuzz.harness import (
    OPS,
    SEEDS,
    VERBS_BY_KIND,
    argv_for,
    input_for,
    mutate,
    run_cli,
    save_crash,
    short,
    warm_up,
    write_input,
)

OUTCOMES = ("ok", "error", "crash", "hang", "invalid")


def draw(rng: random.Random) -> tuple[Path, str, str, list[tuple[str, int]]]:
    """One case: a seed input, a verb that reads its kind, one to three mutations."""
    seed, kind = rng.choice(SEEDS)
    verb = rng.choice(VERBS_BY_KIND[kind])
    ops = [(rng.choice(OPS), rng.randrange(1 << 20)) for _ in range(rng.randint(1, 3))]
    return seed, kind, verb, ops


def run_case(seed: Path, kind: str, verb: str, ops: list[tuple[str, int]], tmp: Path):
    data = mutate(seed.read_bytes(), ops)
    target = write_input(tmp, seed, kind, data)
    argv = argv_for(verb, str(input_for(verb, kind, target)), ops)
    return data, argv, run_cli(argv)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.run")
    ap.add_argument("n", type=int, nargs="?", default=1000, help="cases to run (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    counts: Counter[tuple[str, str]] = Counter()
    slowest = (0.0, "")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        warm = Path(d) / "warm"
        warm.mkdir()
        warm_up(warm)
        for i in range(args.n):
            seed, kind, verb, ops = draw(rng)
            case = Path(d) / str(i)
            case.mkdir()
            t0 = time.perf_counter()
            data, cli_argv, out = run_case(seed, kind, verb, ops, case)
            dt = time.perf_counter() - t0
            slowest = max(slowest, (dt, f"{verb} {seed.name} {ops}"))
            counts[(verb, out.kind)] += 1
            if out.kind not in ("ok", "error"):
                path = save_crash(seed, kind, verb, data, cli_argv, out)
                print(f"{out.kind}: {verb} on {seed.name} {ops}: "
                      f"{short(out.detail)} -> {path.name}",
                      file=sys.stderr)
    verbs = sorted({v for v, _ in counts})
    print(f"{args.n} cases, seed {args.seed}, {time.perf_counter() - start:.0f} s; slowest call "
          f"{slowest[0]:.2f} s ({slowest[1]})")
    print(f"{'verb':<12}" + "".join(f"{o:>9}" for o in OUTCOMES) + f"{'total':>9}")
    for v in verbs + ["all"]:
        row = [sum(c for (vv, o), c in counts.items() if o == k and v in (vv, "all"))
               for k in OUTCOMES]
        print(f"{v:<12}" + "".join(f"{x:>9}" for x in row) + f"{sum(row):>9}")
    bad = sum(c for (_, o), c in counts.items() if o not in ("ok", "error"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
