"""The report's serving section, reading, expected error and version stamp (issue 13)."""

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from analysis.inputs.read.mapping import hardware_from_ref
from analysis.inputs.read.scenario import load_scenario
from analysis.inputs.serving import ServingRequirements
from analysis.report import sections_serving as SV
from analysis.report import stamp
from analysis.report import strategy as report
from analysis.validation.latest import LATEST_SUMMARY, latest_summary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def serving_report(tmp_path_factory):
    """The seed model (0.45B parameters, fast) on H100 (it has a price and a board power) with
    a serving block: 512 + 128 tokens, TTFT 2 s and TPOT 50 ms at p90, at most 8 GPUs."""
    sc = load_scenario("seed")
    sc = replace(sc, hardware=hardware_from_ref("H100-SXM", "hardware")[0])
    sv = ServingRequirements(prompt_tokens=512, output_tokens=128, tpot_s=0.05, ttft_s=2.0,
                             percentile="p90")
    sc = replace(sc, serving=sv, max_gpus=8, name="seed-serving")
    out = tmp_path_factory.mktemp("serving")
    return report.write_report(sc, out), out


def test_serving_section_has_targets_pareto_layout_xpyd_and_cost(serving_report):
    rep, out = serving_report
    text = (out / "report.md").read_text(encoding="utf-8")
    sec = text.split("## Serving\n", 1)[1].split("\n## ", 1)[0]
    dep = rep.serving["deployment"]
    assert dep is not None
    # targets at their percentile, with the chosen deployment's value beside each
    assert "| TTFT at p90 |" in sec
    assert "| TPOT at p90 |" in sec
    assert f"on {dep['gpus']} GPUs at concurrency {dep['concurrency']}" in sec
    assert "![throughput per GPU against tokens/s per user](figures/serving_pareto.png)" in sec
    assert (out / "figures" / "serving_pareto.png").stat().st_size > 1000
    assert "### Disaggregated (xPyD) against aggregated" in sec
    assert f"Why: {rep.serving['reason']}" in sec
    ec = rep.serving["economics"]
    assert f"${ec['cost_usd_per_million_output_tokens']:.3f}" in sec
    assert f"${ec['cost_usd_per_million_input_tokens']:.3f}" in sec
    assert "Energy, upper bound" in sec
    assert "**Reading: serving.**" in text
    assert report.verdict(rep).startswith("Serving: deploy ")


def test_serving_strategies_csv_has_the_concurrency_column(serving_report):
    rep, out = serving_report
    t = pd.read_csv(out / "strategies.csv")
    assert "serving_concurrency_per_replica" in t.columns
    conc = rep.serving["concurrency_by_layout"]
    got = {r.layout: int(r.serving_concurrency_per_replica) for r in t.itertuples()
           if not pd.isna(r.serving_concurrency_per_replica)}
    assert got and got == {k: v for k, v in conc.items() if k in set(t["layout"])}


def test_serving_report_is_deterministic(serving_report, tmp_path):
    rep, out = serving_report
    again = report.write_report(rep.scenario, tmp_path)
    assert again.markdown == rep.markdown
    assert (tmp_path / "strategies.csv").read_bytes() == (out / "strategies.csv").read_bytes()


def test_static_scenario_keeps_its_reading_and_no_serving_section():
    sc = load_scenario("seed")
    committed = (ROOT / "reports" / "seed" / "report.md").read_text(encoding="utf-8")
    assert "**Reading: static batch.**" in committed and "## Serving" not in committed
    assert "128 sequences" in SV.reading_line(_inputs(sc))
    # (that its strategies.csv has no serving column is checked on the regenerated table in
    # tests/test_report.py, since the seed's table is not committed)


def _inputs(sc):
    from analysis import estimate as E
    from analysis.report.sections_inputs import ReportInputs
    return ReportInputs(sc, None, None, None, None, None, {}, E.Options())


def test_the_report_states_the_files_expected_error():
    """The numbers in the committed seed report are the stored summary's, for its mode."""
    stored = json.loads(LATEST_SUMMARY.read_text(encoding="utf-8"))["modes"]["derated"]
    committed = (ROOT / "reports" / "seed" / "report.md").read_text(encoding="utf-8")
    line = next(x for x in committed.splitlines() if x.startswith("**Expected error.**"))
    for key, words in SV.METRIC_WORDS:
        e = stored[key]
        assert f"{words} {e['median_abs_error']:.0%} ({e['rows']} cases)" in line
    assert "held-out" in line.lower() and "derated mode" in line


@pytest.mark.parametrize("mode", ["calibrated", "sol"])
def test_expected_error_follows_the_mode(mode):
    stored = json.loads(LATEST_SUMMARY.read_text(encoding="utf-8"))["modes"][mode]
    line = SV.expected_error_line(mode, uncalibrated=False)
    assert f"TPOT {stored['TPOT']['median_abs_error']:.0%}" in line and f"{mode} mode" in line


def test_latest_summary_keeps_held_out_rows_rounded():
    # two hand-made rows: 0.123456 rounds to 4 significant figures; the calibration row is left out
    df = pd.DataFrame([
        {"mode": "derated", "split": "held_out", "metric_kind": "TPOT", "rows": 3,
         "median_abs_error": 0.123456, "p90_abs_error": 0.5},
        {"mode": "derated", "split": "calibration", "metric_kind": "TPOT", "rows": 9,
         "median_abs_error": 0.9, "p90_abs_error": 0.9}])
    s = latest_summary(df, 12)
    assert s["modes"] == {"derated": {"TPOT": {"rows": 3, "median_abs_error": 0.1235,
                                               "p90_abs_error": 0.5}}}


def test_version_in_markdown_and_commit_only_in_html(serving_report):
    rep, out = serving_report
    md = (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"MoEPlan {stamp.package_version()}, **derated** mode" in md
    commit = stamp.git_commit()
    assert "commit" not in md.split("\n## ", 1)[0]
    assert f'<p id="stamp">MoEPlan {stamp.package_version()}, commit {commit}' in html


def test_git_commit_outside_a_repository_is_unknown(tmp_path):
    assert stamp.git_commit(tmp_path) == "unknown"
    assert stamp.package_version(tmp_path) in ("0.1.0", "unknown")
