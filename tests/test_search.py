"""The planner (analysis.search) on toy scenarios whose answers are forced and worked by hand.

Toy chip (as tests/test_estimate.py): 100 TFLOP/s bf16 (fp16 uses the bf16 peak), MFU 0.5 ->
5e13 FLOP/s effective; 1 TB/s HBM at 0.5 utilisation -> 0.5e12 B/s effective; 4 GPUs per node,
100 GB/s NVLink, 10 GB/s scale-out, links at 100%.
Toy model: L = 2, D = 1024, MHA H = H_kv = 8, d_h = 128, E = 4 experts of F = 1024, top-1, plain
(2-matrix) FFN, V = 1000, fp16 everywhere.

Hand counts used below (same as tests/test_estimate.py):
  attention matmul params per layer 4 * 1024^2 = 4,194,304; one expert 2 * 1024 * 1024 = 2,097,152
  routed experts in total 2 layers * 4 * 2,097,152 = 16,777,216 params = 33,554,432 B
  everything else 10,449,920 params = 20,899,840 B
  all weights W = 54,454,272 B
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import anatomy as A
from analysis import estimate as E
from analysis import search as S
from analysis.inputs import (
    DEGREE_NAMES,
    Requirements,
    Scenario,
    Strategy,
    Workload,
)
from analysis.inputs.errors import MoEPlanError
from tests.toys import TOY_CHIP, TOY_DENSE, TOY_MOE

REPO = Path(__file__).resolve().parents[1]


BALANCED = E.Options(imbalance="balanced", kernel_overhead_s=0.0)  # hand-worked: no per-kernel cost

W_BYTES = 54_454_272                      # 33,554,432 + 20,899,840
EFFECTIVE_FLOPS = 1e14 * 0.5              # peak * MFU
# Prefill FLOPs of one 1000-token prompt of TOY_MOE:
#   attention projections 2 * 1000 * 2 layers * 4,194,304          = 16,777,216,000
#   attention core 2 * 8 * (128 + 128) = 4096 per pair
#                  x 2 layers x 1000 * 1001 / 2 = 500,500 pairs     =  4,100,096,000
#   router 2 * 1000 * 2 layers * 4 * 1024                           =     16,384,000
#   routed experts 2 * 1000 * 2 layers * top-1 * 2,097,152          =  8,388,608,000
#   head (last position only) 2 * 1000 * 1024                       =      2,048,000
PREFILL_FLOPS_1000 = 29_284_352_000
PREFILL_FLOPS_PER_TOKEN_1000 = 29_284_352  # / 1000 tokens


def toy(batch=2, prompt=1000, output=8, model=TOY_MOE, chip=TOY_CHIP, max_gpus=8,
        fixed_gpus=None, reserve=0.0, output_stated=True, **req):
    return Scenario("toy", chip, model,
                    Workload(batch, (prompt,), output, output_tokens_stated=output_stated),
                    Requirements(memory_reserve_fraction=reserve, **req),
                    max_gpus=max_gpus, fixed_gpus=fixed_gpus)


def run_plan(sc, opts=BALANCED, **kw):
    return S.plan(sc, opts, progress=False, **kw)


def test_toy_prefill_flops_by_hand():
    assert sum(A.prefill_flops_by_op(TOY_MOE, 1000).values()) == PREFILL_FLOPS_1000
    assert sum(A.weight_bytes(TOY_MOE).values()) == W_BYTES


# ------------------------------------------------------------------------- candidate_layouts

def _rows(lay):
    return list(zip(*[getattr(lay, n).tolist() for n in (*DEGREE_NAMES, "tbo")], strict=True))


@pytest.mark.parametrize("budget", [1, 2, 8, 64])
def test_candidates_keep_attention_and_expert_gpus_equal_within_budget(budget):
    lay = S.candidate_layouts(toy(max_gpus=budget))
    assert len(lay) > 0
    assert np.all(lay.tp * lay.dp_attn == lay.etp * lay.ep)
    assert np.all(lay.gpus <= budget)
    # 8 heads (tp <= 8) x 2 sequences (dp_attn x dp <= 2) x 2 layers (pp <= 2): at most 32 GPUs
    # can be given work at all; below that every power-of-two budget is reached
    assert lay.gpus.max() == min(budget, 32)
    rows = _rows(lay)
    assert len(rows) == len(set(rows))       # no layout listed twice


def test_candidate_count_by_hand_for_two_gpus():
    # Budget 2, batch 2, L = 2 (pp in {1, 2}), E = 4. Micro-batch counts m must divide a
    # replica's sequences, and each micro-batch must split over dp_attn:
    #   G = 1, pp 1, dp 1: m in {1, 2}                                              -> 2
    #   G = 1, pp 1, dp 2: one sequence per replica, m = 1                           -> 1
    #   G = 1, pp 2, dp 1: m in {1, 2}                                              -> 2
    #   G = 2 (tp 2): etp 1 (ep 2) or etp 2 (ep 1), m in {1, 2}                      -> 4
    #   G = 2 (dp_attn 2): etp 1 (ep 2) or etp 2 (ep 1), m = 1 (2 sequences over 2)  -> 2
    # and each of the 3 with ep = 2 again with two-batch overlap (tp2-ep2 m in {1, 2},
    # dp_attn2-ep2 m = 1)                                                          -> 3
    lay = S.candidate_layouts(toy(max_gpus=2))
    assert len(lay) == 14
    assert sorted(lay.labels()[-3:]) == ["dp_attn2-ep2-tbo", "tp2-ep2-mb2-tbo", "tp2-ep2-tbo"]
    assert len(S.candidate_layouts(toy(max_gpus=2), tbo_choices=(False,))) == 11
    # the max_gpus argument overrides the scenario's budget: budget 1 -> pp 1, dp 1, m in {1, 2}
    assert len(S.candidate_layouts(toy(max_gpus=64), max_gpus=1)) == 2


def test_fixed_gpus_keeps_only_that_count():
    lay = S.candidate_layouts(toy(max_gpus=64, fixed_gpus=4))
    assert len(lay) > 0
    assert set(lay.gpus.tolist()) == {4}
    # the budget alone would have allowed more (up to the 32 GPUs the toy can feed)
    assert S.candidate_layouts(toy(max_gpus=64)).gpus.max() == 32


def test_dense_model_has_no_expert_or_attention_dp_degrees():
    lay = S.candidate_layouts(toy(model=TOY_DENSE, max_gpus=16))
    assert len(lay) > 0
    assert set(lay.ep.tolist()) == {1}
    assert set(lay.dp_attn.tolist()) == {1}
    assert set(lay.redundant_experts.tolist()) == {0}
    assert np.all(lay.etp == lay.tp)
    assert lay.tp.max() == 8                  # tp explored up to the 8 heads it must divide


# -------------------------------------------------------------------------------- run_search

METRIC_COLUMNS = ("ttft_s", "tpot_s", "tpot_max_s", "memory_per_gpu_bytes",
                  "min_prefill_tokens_per_s_per_gpu", "min_decode_tokens_per_s_per_gpu",
                  "min_total_tokens_per_s_per_gpu")


def test_run_search_keeps_every_rejected_layout_with_a_reason():
    # an expert FFN of width 1020 cannot be split 8 ways (1020 / 8 = 127.5): the generator
    # cannot know that, the validity check does
    odd = dataclasses.replace(TOY_MOE, expert_intermediate_size=1020)
    sc = toy(model=odd, batch=4, max_gpus=16, ttft_s=1.0)
    table = S.run_search(sc, BALANCED, progress=False)
    n_candidates = len(S.candidate_layouts(sc))
    valid = table[table["valid"]]
    bad = table[~table["valid"]]
    assert len(valid) + len(bad) == n_candidates == len(table)
    assert len(valid) > 0 and len(bad) > 0
    assert all(isinstance(r, str) and r.strip() for r in bad["rejected_because"])
    assert (valid["rejected_because"] == "").all()
    for col in METRIC_COLUMNS:
        assert not valid[col].isna().any(), col
        assert np.all(np.isfinite(valid[col].to_numpy(dtype=float))), col
    # one rejection read exactly: tp8 with its experts split 8 ways
    row = bad[(bad.tp == 8) & (bad.dp_attn == 1) & (bad.etp == 8) & (bad.pp == 1)
              & (bad.dp == 1) & (bad.microbatches == 1)]
    assert len(row) == 1
    assert row["rejected_because"].iloc[0] == "etp=8 does not divide the expert FFN width 1020"
    assert set(bad["etp"]) <= {8, 16} and set(valid["etp"]) <= {1, 2, 4}  # 1020 = 4 x 255
    # degrees that cannot divide what they split are never generated: ep over 4 experts stays
    # at most 4, micro-batches divide the batch of 4
    assert table["ep"].max() <= 4 and set(table["microbatches"]) <= {1, 2, 4}
    # labels are unique
    assert table["layout"].is_unique


# -------------------------------------------------------------------- plan: forced answers

# A chip with 20 MB of HBM. Batch 1, prompt 8, output 8, no reserve, balanced experts.
# Batch 1 forces dp = dp_attn = 1, so G = tp * pp and every weight byte is split G ways:
#   weights per GPU = W / G = 54,454,272 / G
#     G = 1: 54.45 MB, G = 2: 27.23 MB  -> over 20 MB whatever else is added: cannot fit
#     G = 4: 13,613,568 B
#   everything else is tiny (bounded at its largest, G = 1):
#     KV      16 tokens x 2 layers x 2*8*128*2 B = 131,072 B
#     activ.  8 tok x 2D x 2 B = 32,768 + max(attn 8*3072*2, experts 8*(2048+1024)*2, logits
#             1000*4) = 49,152                                                 ->  81,920 B
#     comm    TP 8*1024*2 = 16,384 + EP 8 tok * etp(<=4) * 1024 * (2+2) B      <=  147,456 B
#   so a 4-GPU layout needs < 13,613,568 + 360,448 = 13,974,016 B <= 20e6: it fits.
SMALL_HBM = dataclasses.replace(TOY_CHIP, name="toy-20MB", hbm_capacity_bytes=20e6)


def test_weights_that_fit_only_over_four_gpus_give_exactly_four():
    sc = toy(batch=1, prompt=8, output=8, chip=SMALL_HBM, max_gpus=8)
    p = run_plan(sc)
    assert p.feasible and p.label == "recommended"
    assert p.recommended.gpus == 4
    mem = next(c for c in p.checks if c.name.startswith("memory"))
    assert mem.passed
    assert mem.target == 20e6
    assert W_BYTES / 4 <= mem.value <= W_BYTES / 4 + 360_448
    # and no layout on fewer GPUs fits: each holds at least W / 2 = 27.2 MB
    v = p.valid
    small = v[v["gpus"] < 4]
    assert len(small) > 0
    assert not small["check_memory"].any()
    assert (small["memory_per_gpu_bytes"] >= W_BYTES / 2).all()


# TTFT target 1 ms on the 100 GB chip, batch 2 x 1000 tokens:
#   one GPU must do 2 x 29,284,352,000 FLOPs at 5e13 FLOP/s >= 1.1714 ms > 1 ms (every op's time
#   is max(compute, memory) >= its compute, and the stage's FLOPs include all the model's)
#   dp = 2 runs one prompt per GPU, no communication: at most compute + memory time,
#     compute 29,284,352,000 + norms 2*2*4*1000*1024 = 29,300,736,000 FLOPs / 5e13 = 0.586 ms
#     memory  weights 54.45 MB + activations (embedding 4.1, norms 16.4, attention projections
#             20.5, attention core 20.5, experts 16.4, router 4.1 MB) = 136.5 MB / 0.5e12
#             = 0.273 ms
#   -> at most 0.859 ms < 1 ms. So 2 GPUs meet it and 1 cannot.
TTFT_TARGET = 1e-3


def test_ttft_one_gpu_cannot_meet_but_two_can():
    sc = toy(batch=2, prompt=1000, output=8, max_gpus=8, ttft_s=TTFT_TARGET)
    p = run_plan(sc)
    assert p.feasible and p.label == "recommended"
    assert p.recommended.gpus == 2
    v = p.valid
    one = v[v["gpus"] == 1]
    assert len(one) > 0
    assert (one["ttft_s"] >= 2 * PREFILL_FLOPS_1000 / EFFECTIVE_FLOPS).all()
    assert not one["check_ttft"].any()
    dp2 = v[v["layout"] == "dp2"].iloc[0]
    assert PREFILL_FLOPS_1000 / EFFECTIVE_FLOPS <= dp2["ttft_s"] <= 0.859e-3
    # every check passes; every requirement check carries its number and target
    names = [c.name for c in p.checks]
    assert names == ["valid degrees", "memory fits with the reserve", "TTFT at the longest prompt"]
    assert all(c.passed for c in p.checks)
    for c in p.checks[1:]:
        assert isinstance(c.value, float) and isinstance(c.target, float), c.name
    ttft = p.checks[2]
    assert ttft.target == TTFT_TARGET and ttft.value <= TTFT_TARGET
    assert ttft.value == pytest.approx(float(p.recommended_row["ttft_s"]))
    assert p.binding is None


# --------------------------------------------------------------------- infeasible throughput

# Prefill ceiling: 5e13 FLOP/s / 29,284,352 FLOPs per prompt token = 1,707,396.5 tokens/s/GPU.
PREFILL_CEILING = EFFECTIVE_FLOPS / PREFILL_FLOPS_PER_TOKEN_1000


def test_prefill_ceiling_by_hand():
    assert PREFILL_CEILING == pytest.approx(1_707_396.5, abs=0.1)
    c = S.throughput_ceilings(toy(), BALANCED)
    assert c["prefill"]["tokens_per_s_per_gpu"] == pytest.approx(PREFILL_CEILING, rel=1e-12)
    assert c["prefill"]["resource"] == "compute"
    # speed of light: MFU 1 -> twice the ceiling
    sol = S.throughput_ceilings(toy(), E.Options(mode="sol"))
    assert sol["prefill"]["tokens_per_s_per_gpu"] == pytest.approx(2 * PREFILL_CEILING)


@pytest.mark.parametrize("stated", [True, False])
def test_throughput_above_the_compute_ceiling_is_infeasible(stated):
    # 2,000,000 prompt tokens/s per GPU > the 1,707,396.5 ceiling: no layout can do it. Either said
    # outright ("prefill"), or read as prefill because neither TPOT nor output length is given.
    kw = {"throughput_kind": "prefill"} if stated else {}
    sc = toy(batch=4, max_gpus=16, output_stated=stated,
             throughput_tokens_per_s_per_gpu=2e6, **kw)
    p = run_plan(sc)
    assert p.throughput_kind == "prefill"
    assert p.feasible is False
    assert p.label == "best compromise"
    assert p.recommended is not None
    v = p.valid
    assert not v["check_throughput"].any()
    # the ceiling holds for every layout the search estimated
    assert (v["min_prefill_tokens_per_s_per_gpu"] <= PREFILL_CEILING * (1 + 1e-9)).all()
    # the checklist shows the failing requirement with its number and target
    thr = next(c for c in p.checks if c.name.startswith("throughput"))
    assert thr.name == "throughput per GPU (prefill)"
    assert not thr.passed and thr.target == 2e6 and thr.value < PREFILL_CEILING
    # what binds: the throughput requirement, at its ceiling
    b = p.binding
    assert b is not None
    entry = next(f for f in b["failed"] if f["requirement"].startswith("throughput"))
    assert entry["requirement"] == "throughput per GPU (prefill)"
    assert entry["target"] == 2e6
    assert entry["ceiling"] == pytest.approx(PREFILL_CEILING, rel=1e-12)
    assert entry["resource"] == "compute"
    assert entry["best_value"] == pytest.approx(v["min_prefill_tokens_per_s_per_gpu"].max())
    assert b["what_would_have_to_change"]
    assert all(isinstance(s, str) and s for s in b["what_would_have_to_change"])
    assert any("throughput per GPU (prefill)" in s for s in b["what_would_have_to_change"])
    # the compromise is still deployable: it fits in memory
    assert bool(p.recommended_row["check_memory"])


def test_unreachable_fixed_gpus_says_why():
    # L = 2 gives pp in {1, 2}; every other degree is a power of two: no layout has 3 GPUs
    sc = toy(max_gpus=8, fixed_gpus=3)
    with pytest.raises(MoEPlanError, match="no layout has exactly 3 GPUs"):
        S.candidate_layouts(sc)
    with pytest.raises(MoEPlanError, match="no layout has exactly 3 GPUs"):
        run_plan(sc)


def test_total_ceiling_combines_the_phase_ceilings_by_hand():
    # a request of S prompt and O generated tokens costs at least S/C_p + O/C_d GPU-seconds,
    # so C_total = (S + O) / (S / C_p + O / C_d)
    sc = toy(batch=4, prompt=1000, output=24)
    c = S.throughput_ceilings(sc, E.Options())
    cp, cd = c["prefill"]["tokens_per_s_per_gpu"], c["decode"]["tokens_per_s_per_gpu"]
    assert c["total"]["tokens_per_s_per_gpu"] == pytest.approx(1024 / (1000 / cp + 24 / cd))
    assert cd < c["total"]["tokens_per_s_per_gpu"] < cp


def test_memory_that_never_fits_is_named_as_binding():
    # 1 MB of HBM: even 8 GPUs need W / 8 = 6.8 MB each
    tiny = dataclasses.replace(TOY_CHIP, name="toy-1MB", hbm_capacity_bytes=1e6)
    p = run_plan(toy(batch=1, prompt=8, output=8, chip=tiny, max_gpus=8))
    assert not p.feasible and p.label == "best compromise"
    mem = next(f for f in p.binding["failed"] if f["requirement"] == "memory")
    assert mem["target"] == 1e6
    assert mem["best_value"] >= W_BYTES / 8
    assert p.binding["what_would_have_to_change"]


# ------------------------------------------------------------------------ throughput_reading

def test_throughput_reading():
    # stated kind wins, even when the scenario describes only prefill
    kind, why = S.throughput_reading(toy(output_stated=False, throughput_kind="decode"))
    assert kind == "decode" and why == "stated in the scenario"
    kind, why = S.throughput_reading(toy(throughput_kind="total", tpot_s=0.1,
                                         throughput_kind_reason="the card says so"))
    assert (kind, why) == ("total", "the card says so")
    # no TPOT, output length not stated: only prefill is described
    kind, why = S.throughput_reading(toy(output_stated=False, ttft_s=1.0))
    assert kind == "prefill" and "prefill" in why
    # a TPOT target: both phases
    kind, _ = S.throughput_reading(toy(output_stated=False, tpot_s=0.05))
    assert kind == "total"
    # output length stated, no TPOT: both phases too
    kind, _ = S.throughput_reading(toy(output_stated=True))
    assert kind == "total"


# ------------------------------------------------------------------------------ pareto_front

def test_pareto_front_six_points():
    #        A      B     C     D     E     F
    x = np.array([1.0, 2.0, 3.0, 4.0, 4.0, 5.0])
    y = np.array([10.0, 8.0, 8.0, 5.0, 3.0, 1.0])
    # A: highest y -> front. B: C has more x at the same y -> off. C: only A has more y (less x)
    # -> front. D: only F has more x (less y) -> front. E: D has the same x and more y -> off.
    # F: highest x -> front.
    expected = np.array([True, False, True, True, False, True])
    assert np.array_equal(S.pareto_front(x, y), expected)
    # the answer does not depend on the order of the points
    perm = np.array([4, 2, 5, 0, 3, 1])
    assert np.array_equal(S.pareto_front(x[perm], y[perm]), expected[perm])


# ---------------------------------------------------------------------------------- ranking

def _assert_ranking(p):
    kcol = f"min_{S.THROUGHPUT_COLUMNS[p.throughput_kind]}"
    pool = p.valid[p.valid["meets_all"]]
    fewest = pool["gpus"].min()
    assert p.recommended.gpus == fewest
    tied = pool[pool["gpus"] == fewest]
    assert len(tied) > 1                                  # a real tie on GPUs to break
    assert p.recommended_row[kcol] == tied[kcol].max()
    return tied, kcol


def test_ranking_fewest_gpus_then_throughput_of_the_required_kind():
    # Same toy as the TTFT test: 1 ms rules out 1 GPU; six 2-GPU layouts meet it (dp2,
    # dp_attn2-ep2, dp_attn2-etp2, tp2-ep2[-mb2], tp2-etp2[-mb2]). Which one wins depends on the
    # kind of throughput required (a 1 token/s target that every layout meets).
    base = dict(batch=2, prompt=1000, output=8, max_gpus=8, ttft_s=TTFT_TARGET,
                throughput_tokens_per_s_per_gpu=1.0)
    pre = run_plan(toy(throughput_kind="prefill", **base))
    dec = run_plan(toy(throughput_kind="decode", **base))
    tied_pre, kpre = _assert_ranking(pre)
    tied_dec, kdec = _assert_ranking(dec)
    # prefill: dp2 (each GPU prefills its own prompt, no communication) processes the most
    # prompt tokens per GPU; decode: tp2 halves the weight reads of each step and wins
    assert pre.recommended.label() == "dp2"
    assert dec.recommended.tp == 2
    assert pre.recommended.label() != dec.recommended.label()
    # and the winner of one kind is not the winner of the other
    assert tied_pre.loc[tied_pre[kdec].idxmax(), "layout"] != "dp2"
    # exact ties on the required kind fall to the lower TTFT: tp2-ep2 and tp2-ep2-mb2 decode
    # alike (mb only splits prefill) but mb2 prefills slower
    a = tied_dec[tied_dec["layout"] == "tp2-ep2"].iloc[0]
    b = tied_dec[tied_dec["layout"] == "tp2-ep2-mb2"].iloc[0]
    assert a[kdec] == b[kdec] and a["ttft_s"] < b["ttft_s"]
    # pure TP (experts split by etp, ep = 1) moves no tokens: the experts' partial sums ride on
    # the FFN all-reduce, so it beats tp2-ep2, which also dispatches to the other expert rank
    assert dec.recommended.label() == "tp2-etp2"
    c = tied_dec[tied_dec["layout"] == "tp2-etp2"].iloc[0]
    assert c[kdec] > a[kdec]


# ---------------------------------------------------------------------------------- to_dict

def test_plan_to_dict_is_json():
    p = run_plan(toy(batch=2, prompt=1000, output=8, max_gpus=8, ttft_s=TTFT_TARGET))
    d = p.to_dict()
    for key in ("feasible", "recommended", "checks", "binding_constraint", "alternatives"):
        assert key in d, key
    assert d["feasible"] is True
    assert d["recommended"]["gpus"] == 2
    assert d["recommended"]["layout"] == p.recommended.label()
    assert d["binding_constraint"] is None
    assert len(d["checks"]) == len(p.checks)
    for c in d["checks"]:
        assert {"name", "passed", "value", "target"} <= set(c)
    assert isinstance(d["alternatives"], list) and d["alternatives"]
    assert all("why_not_chosen" in a for a in d["alternatives"])
    text = json.dumps(d)               # no default=: every value is a plain JSON type
    back = json.loads(text)
    assert back["recommended"]["gpus"] == 2
    assert d["layouts_evaluated"] + d["layouts_rejected"] == len(p.table)

    infeasible = run_plan(toy(batch=4, max_gpus=16, throughput_kind="prefill",
                              throughput_tokens_per_s_per_gpu=2e6)).to_dict()
    assert infeasible["feasible"] is False
    assert infeasible["recommended"]["label"] == "best compromise"
    assert json.loads(json.dumps(infeasible))["binding_constraint"]["failed"]


# -------------------------------------------------------------------------------------- CLI

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_cli_plan_seed_json():
    r = _cli("plan", "seed", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert isinstance(d["feasible"], bool)
    assert d["recommended"]["gpus"] >= 1
    assert all({"name", "passed", "value", "target"} <= set(c) for c in d["checks"])
    assert "Traceback" not in r.stderr


def test_cli_plan_rejects_zero_gpus():
    r = _cli("plan", "seed", "--max-gpus", "0")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert any(ln.startswith("error:") and "--max-gpus" in ln for ln in lines), r.stderr
    assert r.stdout == ""


def test_mixtral_batch4_tpot4ms_recommends_a_layout_whose_busiest_gpu_meets_it():
    # issue 12, item 2: Mixtral-8x7B on 8 H100, batch 4, TPOT target 4 ms. With the mean rank's
    # expert reads the planner chose tp4-dp_attn2-ep8 (3.83 ms), whose busiest GPU reads whole
    # experts: 4 tokens x top-2 touch each of 8 single-expert ranks with p = 1 - (3/4)^4 = 0.68,
    # the busiest ~1.0 (1.46x the mean), so 5.17 ms. tp8 reads every expert once: 3.83 ms.
    from analysis.inputs.read.scenario import load_scenario

    sc = load_scenario({"name": "mixtral-b4-tpot4", "hardware": "H100-SXM",
                        "model": "mixtral-8x7b", "fixed_gpus": 8,
                        "workload": {"batch_sequences": 4, "prompt_tokens": 1024,
                                     "output_tokens": 256},
                        "requirements": {"tpot_ms": 4}})
    # (without the fixed cost per kernel, as the issue computed it: with 3 us per kernel no
    # layout of 8 H100 meets 4 ms, see the next assertion)
    opts = E.Options(kernel_overhead_s=0.0)
    p = S.plan(sc, opts, progress=False)
    assert p.feasible
    rec = E.estimate(sc, p.recommended, opts)
    assert rec.worst["tpot_end_s"] <= 4e-3
    ep8 = E.estimate(sc, Strategy.parse("tp=4,dp_attn=2,ep=8"), opts)
    assert ep8.worst["tpot_end_s"] > 4e-3            # fails once the busiest GPU sets the pace
    assert p.recommended.label() != "tp4-dp_attn2-ep8"
    assert not S.plan(sc, E.Options(), progress=False).feasible


def test_two_batch_overlap_is_a_searched_layout_choice():
    # Each layout with ep > 1 is searched again with two-batch overlap, labelled "-tbo"; its row
    # is the estimate of the same degrees under Options(two_batch_overlap=True) (cross-check of
    # the per-layout flag against the global option). Toy decode of 8 sequences over
    # dp_attn2-ep2 is weight-read bound and its all-to-all is in one node: two half micro-batches
    # read the expert weights twice, so here the -tbo copy is slower (its costs, not just its
    # gain), and the planner keeps the layout without it.
    sc = toy(batch=8, max_gpus=2, fixed_gpus=2)
    p = run_plan(sc)
    rows = p.table.set_index("layout")
    tbo = rows.loc["dp_attn2-ep2-tbo"]
    assert tbo["tbo"] == 1 and rows.loc["dp_attn2-ep2"]["tbo"] == 0
    with_opt = E.evaluate_layouts(sc, E.Layouts.from_strategies([Strategy.parse("dp_attn2-ep2")]),
                                  dataclasses.replace(BALANCED, two_batch_overlap=True))
    assert tbo["tpot_s"] == pytest.approx(float(with_opt["tpot_s"][0]))
    assert tbo["tpot_s"] > rows.loc["dp_attn2-ep2"]["tpot_s"]
    assert not p.recommended.two_batch_overlap
    # layouts without expert parallelism get no -tbo copy
    assert not any(lbl.endswith("-tbo") for lbl in rows.index if "ep" not in lbl)
    # the label reads back, and the flag reaches the estimate
    s = Strategy.parse("dp_attn2-ep2-tbo")
    assert s.two_batch_overlap and s.label() == "dp_attn2-ep2-tbo"
    assert Strategy.parse("dp_attn=2,ep=2,tbo=1") == s
    est = E.estimate(sc, s, BALANCED)
    assert est.worst["tpot_s"] == pytest.approx(tbo["tpot_s"])
    # searching without it gives the old space
    assert "dp_attn2-ep2-tbo" not in set(run_plan(sc, tbo_choices=(False,)).table["layout"])
