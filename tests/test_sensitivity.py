"""The what-if analysis (analysis.sensitivity) on toy scenarios whose answers are worked by hand.

Toy chip: as tests/test_search.py (100 TFLOP/s bf16, MFU 0.5, 4 GPUs per node) but with an HBM
of 1e15 B/s at full utilisation, so every prefill op is compute-bound and memory time is
negligible (< 0.1% of TTFT). Toy model: tests/test_search.py's TOY_MOE (L = 2, D = 1024, E = 4,
top-1, fp16). Prefill FLOPs of one 1000-token prompt: 29,284,352,000 (worked in
tests/test_search.py); a batch of B = 2 is 58,568,704,000 FLOPs.

MFU threshold by hand: one GPU prefills the batch in TTFT = FLOPs / (peak * MFU). It meets a
1 ms TTFT target when MFU >= MFU* = 58,568,704,000 / (1e14 * 1e-3) = 0.585687. At the base
MFU 0.5 it does not (TTFT 1.171 ms), so the planner needs 2 GPUs; above MFU* one GPU suffices.
"""

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import estimate as E
from analysis.inputs import Requirements, Scenario, Workload
from analysis.inputs.errors import InputError
from analysis.report import sensitivity as T
from tests.toys import BALANCED, TOY_CHIP, TOY_MOE

REPO = Path(__file__).resolve().parents[1]


# the toy chip with HBM so fast that only compute matters
FAST_HBM_CHIP = dataclasses.replace(TOY_CHIP, name="toy-fast-hbm",
                                    hbm_bandwidth_bytes_per_s=1e15, bandwidth_utilization=1.0)

BATCH_PREFILL_FLOPS = 2 * 29_284_352_000            # B = 2 prompts of 1000 tokens
TTFT_TARGET_S = 1e-3
MFU_STAR = BATCH_PREFILL_FLOPS / (1e14 * TTFT_TARGET_S)   # 0.58568704


def toy(batch=2, prompt=1000, output=8, max_gpus=8, **req):
    return Scenario("toy", FAST_HBM_CHIP, TOY_MOE, Workload(batch, (prompt,), output),
                    Requirements(memory_reserve_fraction=0.0, **req), max_gpus=max_gpus)


def test_hand_value():
    assert MFU_STAR == pytest.approx(0.58568704, rel=1e-9)


def test_mfu_threshold_where_one_gpu_starts_meeting_ttft_matches_the_hand_value():
    sc = toy(ttft_s=TTFT_TARGET_S)
    assert T.outcome(sc, BALANCED).gpus == 2            # at MFU 0.5 one GPU is too slow
    thr = T.thresholds(sc, "mfu", BALANCED)
    assert thr["changes"].all()
    one = thr[(thr["gpus_above"] == 1) & (thr["gpus_below"] == 2)]
    assert len(one) == 1, thr[["threshold", "layout_below", "layout_above"]]
    row = one.iloc[0]
    assert row["threshold"] == pytest.approx(MFU_STAR, rel=0.02)
    assert row["below"] < row["above"] and row["above"] / row["below"] <= 1.02 + 1e-12
    assert row["x_base"] == pytest.approx(row["threshold"] / 0.5)
    assert row["side"] == "above base"
    # the base needs 2 GPUs; past the threshold one GPU meets the target, and the reason says so
    assert row["feasible_below"] and row["feasible_above"]
    assert row["why"] == f"{row['layout_above']} meets every requirement on fewer GPUs"
    # seen from the other side (base MFU 0.7, one GPU): below MFU* the one-GPU layout fails TTFT
    hi = dataclasses.replace(sc, hardware=dataclasses.replace(FAST_HBM_CHIP, mfu=0.7))
    thr_hi = T.thresholds(hi, "mfu", BALANCED)
    row_hi = thr_hi[(thr_hi["gpus_above"] == 1) & (thr_hi["gpus_below"] == 2)].iloc[0]
    assert row_hi["threshold"] == pytest.approx(MFU_STAR, rel=0.02)
    assert row_hi["side"] == "below base"
    assert row_hi["why"].startswith(f"{row_hi['layout_above']} fails TTFT")


def test_tornado_is_sorted_by_swing_and_mfu_scales_compute_bound_throughput():
    # No targets: one GPU is always recommended, and its prefill throughput per GPU,
    # B * S / TTFT = B * S * peak * MFU / FLOPs, is proportional to MFU (norms, not in the FLOP
    # count, add 0.06% to TTFT).
    sc = toy(throughput_kind="prefill")
    df = T.tornado(sc, opts=BALANCED)
    assert list(df["swing"]) == sorted(df["swing"], reverse=True)
    assert set(df["input"]) == set(T.input_names())
    mfu = df.set_index("input").loc["mfu"]
    assert (mfu["low_value"], mfu["base_value"], mfu["high_value"]) == (0.25, 0.5, 1.0)
    base = 2 * 1000 * 1e14 * 0.5 / BATCH_PREFILL_FLOPS
    assert mfu["metric_base"] == pytest.approx(base, rel=1e-3)
    assert mfu["metric_low"] == pytest.approx(base / 2, rel=1e-3)
    assert mfu["metric_high"] == pytest.approx(base * 2, rel=1e-3)
    assert mfu["swing_fraction"] == pytest.approx(1.5, rel=1e-3)
    assert not mfu["layout_changed"]
    assert T.most_influential(df)["input"] == "mfu"
    # links are not used by a one-GPU layout: no swing
    for name in ("scaleup_bandwidth", "scaleout_latency"):
        assert df.set_index("input").loc[name, "swing"] == 0


def test_tornado_gpus_metric_and_unknown_metric():
    sc = toy(ttft_s=TTFT_TARGET_S)
    df = T.tornado(sc, metric="gpus", opts=BALANCED, inputs="mfu")
    row = df.iloc[0]
    # MFU 0.25 -> TTFT 2.34 ms on one GPU: 4 GPUs (dp4, 0.59 ms); MFU 1.0 -> one GPU
    assert (row["metric_low"], row["metric_base"], row["metric_high"]) == (4, 2, 1)
    assert row["layout_changed"]
    with pytest.raises(InputError, match="metric"):
        T.tornado(sc, metric="speed", opts=BALANCED, inputs="mfu")


@pytest.mark.parametrize("factor", [1e-3, 0.5, 2.0, 1e3])
def test_perturbations_stay_valid(factor):
    sc = dataclasses.replace(toy(batch=24), hardware=dataclasses.replace(FAST_HBM_CHIP, mfu=0.6))
    opts = E.Options()
    for inp in T.INPUTS:
        base = inp.base(sc, opts)
        value = (1.5 if math.isnan(base) else base) * factor
        s2, o2 = inp.apply(sc, opts, value)       # constructing them re-runs every validation
        hw, wl = s2.hardware, s2.workload
        assert 0 < hw.mfu <= 1 and 0 < hw.bandwidth_utilization <= 1
        assert all(isinstance(x, int) and x >= 1 for x in wl.prompt_lengths_tokens)
        assert isinstance(wl.batch_sequences, int) and wl.batch_sequences % 8 == 0
        assert isinstance(wl.output_tokens, int) and wl.output_tokens >= 1
        assert o2.imbalance_factor >= 1
        lo, hi = inp.tornado_range(sc, opts)
        assert lo <= hi
    mfu = T.BY_NAME["mfu"]
    assert mfu.tornado_range(sc, opts) == (0.3, 1.0)      # x2 of 0.6 clamped to 1
    assert T.BY_NAME["batch"].clamp(27, sc, opts) == 24  # nearest multiple of gcd(24, 8) = 8


def test_prompt_length_moves_the_longest_of_a_range():
    sc = dataclasses.replace(toy(), workload=Workload.from_range(4, 128, 1000))
    inp = T.BY_NAME["prompt_length"]
    s2, _ = inp.apply(sc, E.Options(), 4000.4)
    assert s2.workload.max_prompt_tokens == 4000
    assert s2.workload.prompt_range_tokens == (128, 4000)
    assert s2.workload.prompt_lengths_tokens == (128, 256, 512, 1024, 2048, 4000)
    s3, _ = inp.apply(sc, E.Options(), 64)      # below the range's low end: a single length
    assert s3.workload.prompt_lengths_tokens == (64,)


def test_imbalance_sets_a_factor_option():
    inp = T.BY_NAME["imbalance"]
    sc = toy()
    assert math.isnan(inp.base(sc, E.Options()))            # uniform routing has no factor
    assert inp.tornado_range(sc, E.Options()) == (1.0, 2.0)
    _, o = inp.apply(sc, E.Options(), 0.5)
    assert (o.imbalance, o.imbalance_factor) == ("factor", 1.0)


def test_no_threshold_when_nothing_changes_and_plans_are_cached():
    T.clear_cache()
    sc = toy()
    thr = T.thresholds(sc, "scaleout_latency", BALANCED, points=5)
    assert len(thr) == 1 and not thr["changes"].iloc[0] and np.isnan(thr["threshold"].iloc[0])
    assert thr["layout_below"].iloc[0] == thr["layout_above"].iloc[0]
    plans = T.cache_info()["plans"]
    T.thresholds(sc, "scaleout_latency", BALANCED, points=5)
    assert T.cache_info()["plans"] == plans                  # all answered from the cache


def test_unknown_input_is_an_input_error():
    with pytest.raises(InputError, match="unknown input"):
        T.tornado(toy(), inputs="mfu,warp_speed")


def test_analyse_takeaway_names_the_most_influential_input():
    res = T.analyse(toy(ttft_s=TTFT_TARGET_S), BALANCED, inputs="mfu,batch", points=9)
    line = T.takeaway(res)
    top = T.most_influential(res.tornado)
    assert line.startswith("**Takeaway:** ") and top["label"] in line
    d = res.to_dict()
    json.dumps(d, default=float)
    assert d["most_influential"]["input"] == top["input"]


def test_plot_tornado_draws_two_bars_per_input():
    from analysis.report import figures

    df = T.tornado(toy(), opts=BALANCED, inputs="mfu,bandwidth_utilization")
    fig = figures.plot_tornado(df, "prefill throughput per GPU")
    bars = [p for p in fig.axes[0].patches if p.get_facecolor()[3] > 0]
    assert len(bars) == 2 * len(df)
    figures.plt.close(fig)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *args], check=False, cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_cli_sensitivity_seed_names_an_input_and_a_threshold():
    r = _cli("sensitivity", "seed", "--inputs", "mfu,prompt_length,batch", "--scan", "top",
             "--points", "5")     # 5 grid points: the output's shape, not the thresholds
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    top = [ln for ln in lines if ln.startswith("most influential input: ")]
    assert len(top) == 1
    assert top[0].split(": ", 1)[1].split(" ")[0] in T.input_names()
    assert any(ln.startswith("thresholds") for ln in lines)
    assert any(ln.startswith("Takeaway: ") for ln in lines)


def test_cli_sensitivity_rejects_unknown_inputs():
    r = _cli("sensitivity", "seed", "--inputs", "mfu,bogus")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert any(ln.startswith("error:") and "--inputs" in ln and "bogus" in ln for ln in lines)
    assert r.stdout == ""
