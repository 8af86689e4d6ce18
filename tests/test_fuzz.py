"""A bounded slice of the fuzzer in every ``make test`` run, and the crash corpus replayed.

Contract (issue 16): every verb, given any mutation of the example inputs, exits 0 with finite
JSON or 2 with one ``error:`` line, never a traceback, within 2 s. ``make fuzz N=10000`` runs
the same cases at length (``tests/fuzz/run.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.harness import (
    CORPUS,
    OPS,
    ROOT,
    SEEDS,
    VERBS_BY_KIND,
    argv_for,
    input_for,
    mutate,
    run_cli,
    warm_up,
    write_input,
)

CASES = st.sampled_from(SEEDS).flatmap(
    lambda sk: st.tuples(st.just(sk), st.sampled_from(VERBS_BY_KIND[sk[1]]),
                         st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1 << 20)),
                                  min_size=1, max_size=3)))


@seed(16)
@settings(max_examples=30, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=CASES)
def test_mutated_inputs_keep_the_contract(case, tmp_path_factory):
    (seed_path, kind), verb, ops = case
    warm_up(tmp_path_factory.mktemp("warm"))
    tmp = tmp_path_factory.mktemp("fuzz")
    target = write_input(tmp, seed_path, kind, mutate(seed_path.read_bytes(), ops))
    out = run_cli(argv_for(verb, str(input_for(verb, kind, target)), ops))
    assert out.kind in ("ok", "error"), f"{out.kind}: {verb} {ops}\n{out.detail}"


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.json"))


@pytest.mark.parametrize("meta_path", _corpus(), ids=lambda p: p.stem)
def test_crash_corpus_replays_clean(meta_path: Path, tmp_path: Path):
    """Every input that once crashed, hung or printed invalid output now keeps the contract."""
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    seed_path = ROOT / meta["seed"]
    data = next(p for p in CORPUS.glob(meta_path.stem + ".*") if p.suffix != ".json").read_bytes()
    target = write_input(tmp_path, seed_path, meta["kind"], data)
    path = str(input_for(meta["verb"], meta["kind"], target))
    out = run_cli([a.replace("{f}", path) for a in meta["argv"]])
    assert out.kind in ("ok", "error"), f"{out.kind}: {meta}\n{out.detail}"
