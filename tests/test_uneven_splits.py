"""Uneven splits as engines run them (issue 14): pipeline stages of unequal layer counts and
attention-DP ranks with unequal (or no) sequences. Every expected number is worked by hand on
the line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from analysis import estimate as E
from analysis.cli import main
from analysis.estimate.memory import weights_per_gpu_bytes
from analysis.inputs.read.scenario import load_scenario
from analysis.inputs.types import Strategy
from analysis.search.space import candidate_layouts

CARD = Path(__file__).resolve().parent / "cards" / "uneven-splits.md"


def test_thirty_layers_over_four_stages_are_8_8_7_7():
    assert E.stage_layer_counts(30, 4) == [8, 8, 7, 7]       # 30 = 4*7 + 2: two stages of 8
    assert E.stage_layer_counts(32, 4) == [8, 8, 8, 8]
    assert E.stage_layer_counts(3, 3) == [1, 1, 1]
    assert E.stage_imbalance(30, 4) == pytest.approx(8 / 7.5)  # 1.0667
    assert E.stage_imbalance(32, 4) == 1.0


def test_busiest_stage_sets_time_and_memory():
    """30 layers over pp=4 cost exactly what 32 layers over pp=4 cost: both busiest stages hold
    8 layers (ceil(30/4) = 32/4 = 8)."""
    sc = load_scenario(CARD)
    n_moe, n_dense = E.stage_layers(sc.model, 4)
    assert float(n_moe) == 8 and float(n_dense) == 0           # ceil(30/4), all MoE
    sc32 = replace(sc, model=replace(sc.model, num_layers=32))
    lay = E.Layouts.from_strategies([Strategy.complete(tp=2, pp=4)])
    a = E.evaluate_layouts(sc, lay)
    b = E.evaluate_layouts(sc32, lay)
    assert a["ttft_s"][0] == pytest.approx(b["ttft_s"][0], rel=1e-9)
    assert a["tpot_s"][0] == pytest.approx(b["tpot_s"][0], rel=1e-9)
    # expert weights: 30 layers' worth x 8/30 = 32 layers' worth x 8/32 (8 layers of experts)
    assert weights_per_gpu_bytes(sc.model, lay)[1][0] == pytest.approx(
        weights_per_gpu_bytes(sc32.model, lay)[1][0], rel=1e-9)


def test_pp_above_the_layers_cannot_run_and_says_so():
    sc = load_scenario(CARD)
    reasons = E.rejection_reasons(sc.model, sc.workload,
                                  E.Layouts.from_strategies([Strategy.complete(pp=31)]))[0]
    assert reasons == ["pp=31 stages exceed the 30 layers: a stage would hold no layer"]
    pp4 = E.Layouts.from_strategies([Strategy.complete(pp=4)])
    ok = E.rejection_reasons(sc.model, sc.workload, pp4)
    assert ok == [[]]                                          # 4 does not divide 30: runs


def test_24_sequences_over_32_attention_dp_ranks():
    assert float(E.busiest_rank_sequences(24, 32)) == 1.0       # ceil(24/32)
    assert E.idle_ranks(24, 32) == 8                            # 32 - 24
    assert float(E.lockstep_group_sequences(24, 32)) == 32.0    # 32 ranks x 1 each
    assert float(E.busiest_rank_sequences(40, 32)) == 2.0       # 8 ranks hold 2, 24 hold 1
    assert float(E.busiest_rank_sequences(12.5, 4)) == pytest.approx(3.125)  # an average: mean


def test_ep32_tp2_pp2_dp2_with_48_sequences_runs_and_pays_for_idle_ranks():
    """24 sequences a replica over dp_attn=32: every step costs what 32 sequences cost (the
    busiest rank holds 1; idle ranks run dummy batches), so TTFT and memory per GPU equal those
    of a batch of 64 (32 a replica, 1 per rank)."""
    sc = load_scenario(CARD)
    s = sc.current_strategy
    assert (s.ep, s.tp, s.pp, s.dp, s.dp_attn, s.etp) == (32, 2, 2, 2, 32, 2)
    E.check_strategy(sc.model, sc.workload, s)                  # no LayoutError
    lay = E.Layouts.from_strategies([s])
    sc64 = replace(sc, workload=replace(sc.workload, batch_sequences=64))
    a, b = E.evaluate_layouts(sc, lay), E.evaluate_layouts(sc64, lay)
    assert a["ttft_s"][0] == pytest.approx(b["ttft_s"][0], rel=1e-9)
    assert a["memory_per_gpu_bytes"][0] == pytest.approx(b["memory_per_gpu_bytes"][0], rel=1e-9)
    # throughput counts only the real sequences: 48/64 of the padded batch's
    assert a["prefill_tokens_per_s_per_gpu"][0] == pytest.approx(
        b["prefill_tokens_per_s_per_gpu"][0] * 48 / 64, rel=1e-9)
    notes = E.split_notes(sc.model, sc.workload, s)
    assert notes == [("a prefill micro-batch of 24 sequences over dp_attn=32 ranks: the busiest "
                      "rank holds 1, its step sets everyone's; 8 ranks are idle (dummy batches "
                      "in lockstep)")]
    est = E.estimate(sc, s).to_dict()
    assert notes[0] in est["assumptions"]


def test_check_says_the_card_can_run(capsys):
    assert main(["check", str(CARD), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    cs = d["current_strategy"]
    assert cs["can_run"] is True and cs["rejections"] == []
    assert cs["degrees"]["gpus"] == 256                         # 2 x 32 x 2 x 2
    assert any("8 ranks are idle" in n for n in cs["uneven_splits"])
    assert main(["check", str(CARD)]) == 0
    out = capsys.readouterr().out
    assert "can run" in out and "cannot run" not in out


def test_check_names_the_uneven_stages_not_a_division(capsys, tmp_path):
    path = tmp_path / "pp4.md"
    path.write_text(CARD.read_text(encoding="utf-8").replace("PP2", "PP4"), encoding="utf-8")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pp=4 does not divide the 30 layers: stages of 8, 8, 7, 7 layers" in out
    assert "1.067x an even 7.5" in out                          # 8 / 7.5
    reason = E.valid_reason(load_scenario(path).model, load_scenario(path).workload,
                            load_scenario(path).current_strategy)
    assert "divides 30" not in reason and "8, 8, 7, 7" in reason


def test_search_and_check_share_the_rules():
    """The search proposes attention-DP degrees that do not divide a micro-batch (24 sequences
    over dp_attn 16: busiest 2) and judges them with the same layout_rejections as the check."""
    sc = load_scenario(CARD)
    sc = replace(sc, workload=replace(sc.workload, batch_sequences=24), current_strategy=None)
    lay = candidate_layouts(sc, max_gpus=64)
    uneven = (lay.dp_attn == 16) & (lay.dp == 1) & (lay.microbatches == 1)
    assert uneven.any()                                         # 24 % 16 != 0, still proposed
    assert E.valid_mask(sc.model, sc.workload, lay)[uneven].all() or \
        all(r for r in E.rejection_reasons(sc.model, sc.workload, lay.subset(uneven))
            if not any("micro-batch" in x or "dp_attn" in x for x in r))
    assert not (lay.dp_attn > 24).any()                         # no prefill rank left idle
