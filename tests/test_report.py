"""The strategy report: reproducible, complete, honest, and never half-written."""

import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.inputs.read.scenario import load_scenario
from analysis.report import strategy as report

ROOT = Path(__file__).resolve().parents[1]
CARDS = sorted((ROOT / "examples" / "cards").glob("*.md"))

# The seed plan's sections (examples/cards/seed-plan.md), each computed here
SECTIONS = ["## Hardware", "## Model", "## Input", "## Requirements",
            "## Recommended parallel strategy|## Best compromise", "## Resources",
            "## Implementation", "## Communication", "## Memory and performance optimisations",
            "## Expected performance", "## Scalability", "## Alternatives",
            "## Validation checklist", "## Assumptions"]


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed")
    return report.write_report(load_scenario("seed"), out), out


def test_committed_seed_report_regenerates_unchanged(seed_report):
    _, out = seed_report
    # strategies.csv itself (about 3 MB) is not committed: its SHA-256 is
    for name in ("report.md", "strategies.csv.sha256"):
        committed = (ROOT / "reports" / "seed" / name).read_text(encoding="utf-8")
        fresh = (out / name).read_text(encoding="utf-8")
        assert fresh == committed, f"reports/seed/{name} is stale: run `make report`"
    digest = hashlib.sha256((out / "strategies.csv").read_bytes()).hexdigest()
    assert (out / "strategies.csv.sha256").read_text() == f"{digest}  strategies.csv\n"
    # a static scenario's table has no serving column
    head = pd.read_csv(out / "strategies.csv", nrows=1)
    assert "serving_concurrency_per_replica" not in head.columns


def test_every_section_of_the_seed_plan_is_covered(seed_report):
    rep, out = seed_report
    for section in SECTIONS:
        assert re.search(section, rep.markdown), section
    for fig in ("memory", "time_breakdown", "decode_breakdown", "ttft", "pareto_ttft",
                "pareto_user"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 10_000
        assert f"figures/{fig}.png" in rep.markdown


def test_every_tick_is_backed_by_a_number(seed_report):
    rep, _ = seed_report
    lines = [ln for ln in rep.markdown.splitlines() if "✓" in ln or "✗" in ln]
    assert lines
    for ln in lines:
        if "valid degrees" in ln:
            continue  # backed by the layout's degrees, named on the line
        assert re.search(r"\d", ln), ln


def test_seed_report_is_honest_about_both_readings(seed_report):
    rep, _ = seed_report
    md = rep.markdown
    # the declared-vs-derived inconsistency, with both numbers
    assert "Declared size 10B" in md and "452,346,368" in md
    # the requirement's reading is stated, and the other readings are shown
    assert "How the throughput requirement is read: **prefill**" in md
    assert "(other reading, not the one checked)" in md
    # under the declared 10B reading, prefill throughput is compute-bound below 100 tokens/ms:
    # 400 TFLOP/s * 0.6 / 2.69 GFLOP per token = 89.3 tokens/ms (see the report's own numbers)
    assert "## Under the declared size" in md
    assert "compute ceiling is 89.3 tokens/ms" in md
    assert rep.declared_plan is not None and not rep.declared_plan.feasible


def test_seed_plan_layout_is_evaluated_beside_the_recommendation(seed_report):
    rep, _ = seed_report
    assert rep.current is not None
    assert rep.current.strategy.gpus == 64
    assert "## The scenario's current strategy" in rep.markdown


def test_seed_plan_false_claims_are_not_repeated(seed_report):
    rep, _ = seed_report
    md = rep.markdown
    assert re.search(r"KV-cache compression for inactive experts \| does not apply", md)
    assert re.search(r"Activation checkpointing \| does not apply", md)


@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_every_example_card_produces_a_report(card, tmp_path):
    sc = load_scenario(str(card))
    rep = report.write_report(sc, tmp_path)
    assert (tmp_path / "report.md").exists() and (tmp_path / "strategies.csv").exists()
    for section in SECTIONS:
        assert re.search(section, rep.markdown), (card.name, section)
    if sc.current_strategy is not None:
        assert "## The scenario's current strategy" in rep.markdown
    assert "nan" not in rep.markdown.lower().replace("financ", "")


def test_a_failure_leaves_no_report_that_looks_complete(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report, "make_figures", boom)
    with pytest.raises(RuntimeError):
        report.write_report(load_scenario("seed"), tmp_path)
    assert not (tmp_path / "report.md").exists()
    assert not (tmp_path / "strategies.csv").exists()


def test_slug_is_a_safe_folder_name():
    assert report.slug("seed") == "seed"
    card = "../examples/cards/moe-64e-fp8-fixed-length.md"
    assert report.slug(card) == "moe-64e-fp8-fixed-length"
    assert report.slug("my scenario v2") == "my-scenario-v2"


def test_each_section_labels_its_reading(seed_report):
    """One reading per quantity and section, named: latencies at the longest prompt, the checked
    throughput lowest over the prompt lengths, memory with the runtime reserve."""
    rep, _ = seed_report
    md = rep.markdown
    cur = md.split("## The scenario's current strategy", 1)[1].split("\n## ", 1)[0]
    # the current-strategy table reads throughput as the checklist does (lowest over prompts)
    lowest = min(r["prefill_tokens_per_s_per_gpu"] for r in rep.current.metrics)
    assert f"| prefill / GPU (lowest over prompts) | {lowest / 1e3:.3g} tokens/ms |" in cur
    for section in ("## Alternatives", "## Scalability"):
        body = md.split(section, 1)[1].split("\n## ", 1)[0]
        assert "TTFT (longest prompt)" in body and "(lowest over prompts)" in body, section
        assert "| TTFT |" not in body and "| prefill / GPU |" not in body, section
    assert "**total, with the runtime reserve**" in md


def test_report_paths_are_relative_to_the_repository():
    from analysis.report.sections_inputs import ROOT, repo_relative
    nb = ROOT / "notebooks"
    assert repo_relative("../examples/cards/x.md", nb) == "examples/cards/x.md"
    assert repo_relative(f"{ROOT}/examples/cards/x.md: Hardware", nb) == \
        "examples/cards/x.md: Hardware"
    assert repo_relative("reference/seed/plan.md: a/b", nb) == "reference/seed/plan.md: a/b"
    assert repo_relative("/etc/hosts", nb) == "/etc/hosts"          # outside: left as given


def test_chunked_prefill_row_says_what_the_model_did():
    # issue 12: seed batch 128 at its longest prompt 10,240 over tp4-ep16 (dp_attn 16): a
    # micro-batch holds 128 / 16 x 10,240 = 81,920 tokens per attention rank; the default
    # 8,192-token chunk caps it, a 100,000-token chunk does not; decode-only holds none
    from analysis import estimate as E
    from analysis.inputs import Strategy
    from analysis.report.derived import optimisations
    sc = load_scenario("seed")
    s = Strategy.parse("tp4-ep16")

    def row(opts):
        est = E.estimate(sc, s, opts)
        return next(r for r in optimisations(sc, est, opts) if r[0] == "Chunked prefill")

    _, applied, why = row(E.Options())
    assert applied and "8,192 tokens per attention rank" in why and "of 81,920" in why
    assert "prefill activations" in why and "communication buffers" in why
    _, applied, why = row(E.Options(prefill_chunk_tokens=100_000))
    assert not applied and "81,920 tokens per attention rank" in why and "100,000" in why
    _, applied, why = row(E.Options(decode_only=True))
    assert not applied and "decode-only" in why


def test_overlap_row_weighs_two_batch_overlap_with_its_costs():
    # issue 12: for an EP layout the overlap row compares the layout with and without
    # two-batch overlap, both estimated with its costs; a -tbo layout says it runs it
    from analysis import estimate as E
    from analysis.inputs import Strategy
    from analysis.report.derived import optimisations
    sc = load_scenario("seed")
    for label, runs in (("tp4-ep16", False), ("tp4-ep16-tbo", True)):
        s = Strategy.parse(label)
        est = E.estimate(sc, s, E.Options())
        name, _, why = next(r for r in optimisations(sc, est, E.Options())
                            if r[0].startswith("Overlap communication"))
        assert "two-batch overlap" in name and "second weight read" in why
        assert ("the layout runs it" in why) == runs
