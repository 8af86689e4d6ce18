"""Validation against published measurements (analysis/validation): the mapping's integrity,
the declared split, a fit that sees only calibration rows, and the guard: the median |error| on
held-out rows may not grow past what the model achieves today (plus a small margin)."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest
import yaml

from analysis import estimate as E
from analysis.inputs import Calibration, Strategy
from analysis.inputs.read.mapping import calibration_from_dict
from analysis.inputs.read.scenario import load_scenario
from analysis.validation import run as V

# Guard thresholds: median |pred/meas - 1| on held-out cases, per metric kind, every case
# predicted as the benchmark ran (simulator for offline and closed-loop runs, closed form for
# one static batch) with the bounded fit. Set from what is reached on 459 cases (held out,
# calibrated: TTFT 48.7%, TPOT 10.7%, e2e 11.2%, throughput 12.9%; derated: 43.3%, 22.2%, 27.6%,
# 21.1%) plus about a tenth, rounded up. TTFT is high because the closed-loop sweeps (InferenceX
# #870 on H200 and B200, tenstorrent #356: SGLang) are predicted 4-6x too short (open, README
# "How accurate it is"); throughput came down from 40% when offline trtllm-bench runs got their
# dataset sizes and build caps and decode attention its batch-size efficiency; derated TPOT from
# 45% to 26% with the fixed cost per kernel (issue 12); calibrated TTFT from 58% to 49% with the
# NIM Llama-3.3-70B sweep measured after its warm-up (issue 11); derated TPOT from 22% to 19% and
# calibrated TTFT p90 from 83% to 73% with SGLang's eager prompt iterations (host launch time
# per layer measured in sglang PR #12160), which leave the medians where they were.
# Host work per sequence per iteration, fitted through the simulator with H100's and H200's GEMM
# peaks and the per-iteration overheads (analysis/validation/host_fit.py), and the request path
# of served runs: calibrated TTFT 49% -> 25%, TPOT 10.7% -> 3.9%, e2e 11.2% -> 6.0%, throughput
# 12.9% -> 8.9%, closed loops 29.5% -> 6.6%; derated TTFT 43% -> 29%, throughput 21% -> 16%.
CALIBRATED_MAX_MEDIAN = {"TTFT": 0.28, "TPOT": 0.05, "e2e": 0.07, "throughput": 0.10}
DERATED_MAX_MEDIAN = {"TTFT": 0.32, "TPOT": 0.22, "e2e": 0.30, "throughput": 0.18}
CALIBRATED_MAX_P90_TTFT = 0.75


@pytest.fixture(scope="module")
def mapping() -> pd.DataFrame:
    return V.load_mapping()


@pytest.fixture(scope="module")
def calibrated() -> pd.DataFrame:
    return V.validation_table("calibrated")


@pytest.fixture(scope="module")
def derated() -> pd.DataFrame:
    return V.validation_table("derated")


@pytest.fixture(scope="module")
def sol() -> pd.DataFrame:
    return V.validation_table("sol")


# ------------------------------------------------------------------------ mapping integrity

def test_every_measurement_has_one_mapping_row(mapping):
    meas = V.load_measurements()
    assert sorted(mapping["row_id"]) == sorted(meas["row_id"].astype(int))
    assert mapping["row_id"].is_unique
    assert set(mapping["status"]) == {"mapped", "skipped"}


def test_every_skipped_row_has_a_reason(mapping):
    skipped = mapping[mapping["status"] == "skipped"]
    assert (skipped["skip_reason"].str.len() > 20).all()
    # production aggregates are never mapped (reference/README.md: not one layout's estimate)
    assert (mapping.loc[mapping["spec_level"] == "aggregate", "status"] == "skipped").all()


def test_mapped_rows_are_complete_and_name_their_source(mapping):
    m = mapping[mapping["status"] == "mapped"]
    for col in ("source_id", "source_url", "model_preset", "gpu_preset", "layout", "estimator",
                "isl", "osl", "metric_kind", "quantity", "split"):
        assert (m[col].astype(str).str.len() > 0).all(), col
    assert set(m["metric_kind"]) == set(V.METRIC_KINDS)
    # a partially specified row says which defaults filled its gaps
    partial = m[m["spec_level"] == "partial"]
    assert (partial["defaults_used"].str.len() > 20).all()


def test_split_is_the_declared_hash(mapping):
    m = mapping[mapping["status"] == "mapped"]
    assert [V.split_of(r) for r in m["row_id"]] == list(m["split"])
    assert V.split_of(409) == V.split_of(409)            # deterministic, no state
    counts = m["split"].value_counts()
    assert counts["held_out"] > 100 and counts["calibration"] > 100


# ------------------------------------------------------------------------ the guard

@pytest.mark.parametrize("kind", V.ALL_METRIC_KINDS)
def test_guard_calibrated_median_error_on_held_out_rows(calibrated, kind):
    held = calibrated[(calibrated["split"] == "held_out") & (calibrated["metric_kind"] == kind)]
    med = float(held["error"].abs().median())
    # published measurements: analysis/validation/measurements.csv (source on every row)
    assert med <= CALIBRATED_MAX_MEDIAN[kind], f"{kind}: held-out median |error| {med:.1%}"


@pytest.mark.parametrize("kind", V.ALL_METRIC_KINDS)
def test_guard_derated_median_error_on_held_out_rows(derated, kind):
    held = derated[(derated["split"] == "held_out") & (derated["metric_kind"] == kind)]
    med = float(held["error"].abs().median())
    # published measurements: analysis/validation/measurements.csv (source on every row)
    assert med <= DERATED_MAX_MEDIAN[kind], f"{kind}: held-out median |error| {med:.1%}"


def test_guard_calibrated_ttft_p90_on_held_out_rows(calibrated):
    held = calibrated[(calibrated["split"] == "held_out") & (calibrated["metric_kind"] == "TTFT")]
    p90 = float(held["error"].abs().quantile(0.9))
    # 68%: 83% before SGLang's prompt iterations were host-bound, 73% before the request path;
    # the short-prompt rows of tenstorrent #356 and InferenceX #870 (serving_runs.csv)
    assert p90 <= CALIBRATED_MAX_P90_TTFT, f"TTFT: held-out p90 |error| {p90:.1%}"


def test_every_prediction_says_which_mode_produced_it(calibrated, derated):
    assert set(calibrated["mode"]) == {"calibrated"} and set(derated["mode"]) == {"derated"}
    # a GPU without its own curves says it borrowed them; nothing falls back silently
    used = set(calibrated["mode_used"])
    assert "derated (no calibration)" not in used
    assert all(u == "calibrated" or u.startswith("calibrated (transferred") for u in used)
    borrowed = calibrated[calibrated["gpu"].isin(["B200", "GB200", "H800"])]
    assert len(borrowed) and borrowed["mode_used"].str.contains("transferred").all()
    assert (calibrated["predicted"] > 0).all() and (derated["predicted"] > 0).all()


def test_speed_of_light_is_never_slower_than_measured(sol):
    # every time (TTFT, TPOT, e2e latency) at speed of light is at most the measured one
    times = sol[sol["quantity"].str.contains("_ms")]
    assert len(times) > 60
    assert (times["predicted"] <= times["measured"]).all(), \
        times[times["predicted"] > times["measured"]][["case_id", "measured", "predicted"]]


def test_speed_of_light_throughput_is_never_below_measured(sol):
    # every throughput at speed of light is at least the measured one; the one cell that broke
    # this (M432, TRT-LLM 0.9 Mixtral 2048/2048 on A100) is above the HBM bound and is skipped
    # in mapping.csv with the arithmetic
    rates = sol[~sol["quantity"].str.contains("_ms")]
    assert len(rates) > 300
    assert (rates["predicted"] >= rates["measured"]).all(), \
        rates[rates["predicted"] < rates["measured"]][["case_id", "measured", "predicted"]]
    assert V.sol_violations(sol).empty


def test_summary_has_median_and_p90_per_kind_and_split(calibrated):
    s = V.summary(calibrated)
    assert set(s.columns) >= {"mode", "split", "metric_kind", "rows", "median_abs_error",
                              "p90_abs_error"}
    assert set(s["metric_kind"]) == set(V.ALL_METRIC_KINDS)
    assert (s["p90_abs_error"] >= s["median_abs_error"]).all()
    k = V.summary_by_kind(calibrated)
    assert {"static", "offline", "closed_loop"} <= set(k["workload_kind"])


def test_serving_rows_are_cases_or_skipped_with_a_reason():
    cases = [c for c in V.all_cases() if c["dataset"] == "serving"]
    skipped = V.skipped_serving_rows()
    runs = {c["row_id"] for c in cases}
    assert len(runs) + len(skipped) == 149          # SERVING_RUNS.md: 149 rows
    assert (skipped["skip_reason"].str.len() > 20).all()
    assert {c["gpu"] for c in cases} >= {"MI300X", "GB200", "B200"}


def test_a_column_that_repeats_tpot_is_not_scored_as_throughput():
    # tenstorrent #356's 'Tput Decode' is 1000/TPOT: 43.2 tokens/s at TPOT 23.1 ms (row 124)
    ids = {c["case_id"] for c in V.all_cases()}
    assert "S124:tpot_ms_mean" in ids and "S124:output_tokens_per_s" not in ids
    assert 1000 / 23.1 == pytest.approx(43.2, abs=0.1)   # tenstorrent/tt-inference-server#356


# ------------------------------------------------------------------------ fitting

# gpt-fast's A100 cases (closed form, fast) and two values per parameter, one sweep: the rule
# under test (held-out cases never reach the objective) does not depend on the grid.
SMALL_GRIDS = {"compute_max": (0.5, 0.7), "compute_half_tokens": (0, 64),
               "memory_max": (0.6, 0.8), "memory_half_bytes": (0, 1e6),
               "scaleup_max": (0.5, 0.8), "op_overhead_s": (0, 5e-6),
               "iteration_overhead_s": (0, 1e-3)}


def _small_fit(cases):
    return V.fit_gpu("A100-80GB", cases, sweeps=1, grids=SMALL_GRIDS)


def _gpt_fast():
    return [dict(c) for c in V.all_cases() if c["source"] == "GPT_FAST"]


def test_fit_ignores_held_out_cases():
    base = _small_fit(_gpt_fast())
    changed = [dict(c, measured=c["measured"] * 10) if c["split"] == "held_out" else c
               for c in _gpt_fast()]
    assert _small_fit(changed) == base
    cal = [c for c in _gpt_fast() if c["split"] == "calibration"][:6]
    moved = [dict(c, measured=c["measured"] * 3) if c in cal else c for c in _gpt_fast()]
    assert _small_fit(moved) != base


def test_every_stored_fitted_value_is_inside_its_bounds():
    overheads = V.load_overheads()
    for gpu in V.FITTED_GPUS:
        cal = V.preset_hardware(gpu).calibration
        assert cal is not None and cal.source.startswith("fitted"), gpu
        assert V.check_bounds(cal, overheads.get(gpu, {})) == [], gpu
    # the bounds themselves are physical: HBM 0.6-0.95, NVLink 0.5-0.9 (issue 11)
    assert V.BOUNDS["memory_max"] == (0.60, 0.95) and V.BOUNDS["scaleup_max"] == (0.50, 0.90)
    # host work per sequence per iteration, fitted through the simulator: 0-10 us
    from analysis.simulate.profiles import list_engines, load_profile
    from analysis.validation.host_fit import SEQUENCE_BOUNDS
    lo, hi = SEQUENCE_BOUNDS
    for name in list_engines():
        p = load_profile(name, 80e9, 1)[0]
        assert lo <= p.sequence_overhead_s <= hi, name
        assert p.sequence_overhead_basis.startswith(("fitted", "assumption")), name


def test_calibration_objective_by_hand():
    from analysis.validation.host_fit import best, calibration_objective
    df = pd.DataFrame({
        "split": ["calibration"] * 3 + ["held_out"],
        "engine": ["trtllm", "trtllm", "vllm", "trtllm"],
        "metric_kind": ["TTFT", "TTFT", "throughput", "TTFT"],
        "predicted": [2.0, 1.0, math.e, 100.0], "measured": [1.0, 1.0, 1.0, 1.0]})
    # TTFT: mean(|ln 2|, 0) = 0.3466; throughput: |ln e| = 1; kinds weighted equally
    assert calibration_objective(df) == pytest.approx((math.log(2) / 2 + 1) / 2)
    assert calibration_objective(df, "trtllm") == pytest.approx(math.log(2) / 2)
    grid = pd.DataFrame({"t_seq": [0.0, 2e-6, 4e-6], "objective": [0.3, 0.2, 0.2]})
    assert best(grid)["t_seq"] == 2e-6          # ties go to the first (lowest) grid point


def test_calibration_yaml_round_trips():
    cal = Calibration(0.7, 16, 0.575, 5e5, scaleup_max=0.3, scaleup_half_bytes=1e4,
                      op_overhead_s=6e-6, source="fitted on rows 1-3")
    block = yaml.safe_load(V.calibration_yaml(cal, "in a test"))["calibration"]
    back = calibration_from_dict(block)
    assert replace(back, source="") == replace(cal, source="")
    assert back.source.startswith("fitted on rows 1-3")


def test_seed_card_keeps_the_cards_efficiencies():
    # no measurement exists for the seed's card GPU: calibrated mode is its derated estimate
    sc = load_scenario("seed")
    assert sc.hardware.calibration is None
    s = Strategy.parse("tp=4,ep=16")
    a = E.estimate(sc, s, E.Options(mode="derated")).worst
    b = E.estimate(sc, s, E.Options(mode="calibrated")).worst
    assert (a["ttft_s"], a["tpot_s"]) == (b["ttft_s"], b["tpot_s"])
    assert V.mode_used(sc.hardware, "calibrated") == "derated (no calibration)"


def test_mapping_options_read_two_batch_overlap_and_node_dedup():
    # the mapping's options column can state two-batch overlap and per-node dedup (issue 12)
    from analysis.validation.data import _options
    o = _options("imbalance=uniform;tbo=1;node_dedup=1;combine_bytes=2", "derated")
    assert o.two_batch_overlap and o.node_dedup and o.combine_bytes_per_element == 2.0
    o = _options("overlap=1", "calibrated")
    assert not o.two_batch_overlap and not o.node_dedup and o.overlap_fraction == 1.0


def test_loso_pooled_takes_every_left_out_case_together_by_hand():
    # two sources, each scored with itself left out: TPOT errors +10%, -30%, +20% pool to a
    # median |error| of 20%; throughput's single case is 5%
    df = pd.DataFrame({"left_out": ["A", "A", "B", "B"],
                       "metric_kind": ["TPOT", "TPOT", "TPOT", "throughput"],
                       "workload_kind": ["static", "static", "closed_loop", "offline"],
                       "error": [0.10, -0.30, 0.20, 0.05]})
    pooled = V.loso_pooled(df).set_index("metric_kind")
    assert pooled.loc["TPOT", "median_abs_error"] == pytest.approx(0.20)
    assert pooled.loc["TPOT", "rows"] == 3 and pooled.loc["throughput", "rows"] == 1
    by_kind = V.loso_pooled(df, "workload_kind").set_index("workload_kind")
    assert by_kind.loc["static", "median_abs_error"] == pytest.approx(0.20)
