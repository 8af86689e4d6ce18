"""The serving search (issue 13): layout x concurrency against targets, aggregated against
disaggregated prefill/decode, cost and energy. Hand-worked formulas first, then pinned cases."""

import numpy as np
import pytest

from analysis import estimate as E
from analysis.estimate import disagg as D
from analysis.estimate import economics as EC
from analysis.estimate import serving as SV
from analysis.estimate import serving_grid as SG
from analysis.inputs.errors import InputError
from analysis.inputs.read.scenario import load_scenario
from analysis.inputs.types import Strategy
from analysis.search import serving as SS
from analysis.search.serving_plan import serving_plan


def scenario(hw, model, isl, osl, max_gpus=1024, **serving):
    return load_scenario({"name": f"{model}-{hw}", "hardware": hw, "model": model,
                          "max_gpus": max_gpus,
                          "workload": {"batch_sequences": 64, "prompt_tokens": isl,
                                       "output_tokens": osl},
                          "serving": {"prompt_tokens": isl, "output_tokens": osl, **serving}})


# ------------------------------------------------------------------ hand-worked formulas

def test_kv_transfer_by_hand():
    # DeepSeek-V3 MLA cache in bf16: 61 layers x (512 + 64) x 2 bytes = 70,272 bytes per token
    b = D.kv_transfer_bytes_per_request(70_272, 4096)
    assert b == 287_834_112
    # over 50 GB/s at 0.8 efficiency (40 GB/s) plus 5 us: 7.1959 ms + 0.005 ms
    assert D.kv_transfer_time_s(b, 40e9, 5e-6) == pytest.approx(287_834_112 / 40e9 + 5e-6)
    assert D.kv_transfer_time_s(b, 40e9, 5e-6) == pytest.approx(7.2009e-3, rel=1e-4)


def test_rate_matching_by_hand():
    # 2 prefill instances of 1 GPU at 10 req/s, 3 decode of 2 GPUs at 5 req/s, 100 output tokens:
    # min(20, 15) = 15 req/s x 100 tokens / (2 + 6) GPUs = 187.5 tokens/s per GPU
    assert D.pools_output_tokens_per_s_per_gpu(2, 3, 10, 5, 1, 2, 100) == pytest.approx(187.5)
    # prefill 10 req/s, decode 5 req/s, 1 GPU each: 1P2D matches (10 = 2 x 5), 3 GPUs,
    # 10 x 100 / 3 = 333.3 tokens/s per GPU; 2P4D is no better, so the smaller wins
    assert D.best_ratio(10, 5, 1, 1, 100, 64) == (1, 2, pytest.approx(1000 / 3))
    assert D.best_ratio(10, 5, 4, 4, 100, 4) == (0, 0, 0.0)     # one of each needs 8 GPUs


def test_ttft_of_batched_prefill_by_hand():
    # batches of 0.4 s back to back, 7 ms transfer: median 1.5 x 0.4 + 0.007, tail 2 x 0.4 + 0.007
    assert D.prefill_ttft_s(0.4, 0.007, "p50") == pytest.approx(0.607)
    assert D.prefill_ttft_s(0.4, 0.007, "p90") == pytest.approx(0.807)


def test_economics_by_hand_and_the_bill_adds_up():
    # 4 GPUs at $3/GPU-hour = $12/hour = $1/300 per second; 2,000 input and 1,000 output
    # tokens/s; prefill takes 25% of the GPU time
    e = EC.deployment_economics(3.0, 700.0, 4, 2000.0, 1000.0, 0.25)
    assert e["cost_usd_per_hour"] == pytest.approx(12.0)
    assert e["cost_usd_per_million_input_tokens"] == pytest.approx(1 / 300 * 0.25 / 2000 * 1e6)
    assert e["cost_usd_per_million_output_tokens"] == pytest.approx(2.5)  # 1/300*0.75/1000*1e6
    assert e["cost_usd_per_million_tokens"] == pytest.approx(1 / 300 / 3000 * 1e6)
    # the two kinds' costs add up to the bill: 0.4167 x 2000 + 2.5 x 1000 = 1e6 / 300 per s
    per_s = (e["cost_usd_per_million_input_tokens"] * 2000
             + e["cost_usd_per_million_output_tokens"] * 1000) / 1e6
    assert per_s == pytest.approx(12.0 / 3600)
    # 700 W x 4 GPUs / 1,000 output tokens/s = 2.8 J per output token (upper bound)
    assert e["energy_upper_bound_j_per_output_token"] == pytest.approx(2.8)
    none = EC.deployment_economics(None, None, 4, 2000.0, 1000.0, 0.25)
    assert none["cost_usd_per_million_tokens"] is None


def test_pareto_mask_by_hand():
    # (1, 5) (2, 4) (3, 1) are each best somewhere; (1, 3) and (2, 1) are beaten
    x = np.array([1, 2, 3, 1, 2.0])
    y = np.array([5, 4, 1, 3, 1.0])
    assert SS.pareto_mask(x, y).tolist() == [True, True, True, False, False]


# ------------------------------------------------------------------ cross-check

def test_vectorised_grid_matches_serve_row_by_row():
    sc = scenario("H100-SXM", "mixtral-8x7b", 256, 512)
    layouts = [Strategy.parse(t) for t in ("tp=2", "tp=4", "tp=1,dp_attn=4,ep=4", "tp=2,pp=2")]
    lay = E.Layouts.from_strategies(layouts)
    fit = SG.max_running_requests_grid(sc, lay, 256, 512, E.Options())
    for i, s in enumerate(layouts):
        assert fit[i] == SV.max_running_requests(sc, s, 256, 512, E.Options())
        for c in (1, 64, fit[i] + 100):
            est = SV.serve(sc, s, 256, 512, c)
            g = SG.closed_loop_grid(sc, lay.subset(np.array([i])), np.array([c]),
                                    fit[i:i + 1], 256, 512, E.Options())
            for key in ("ttft_s", "tpot_s", "output_tokens_per_s_per_gpu", "queue_wait_s"):
                assert g[key][0] == pytest.approx(getattr(est, key), rel=1e-9), (s, c, key)


# ------------------------------------------------------------------ pinned cases

def test_mixtral_on_h100_meets_5_tokens_per_ms_per_gpu_with_a_stated_concurrency():
    # issue 13: the static planner said no layout up to 1024 GPUs meets 5 tokens/ms per GPU
    sc = scenario("H100-SXM", "mixtral-8x7b", 256, 512, throughput_tokens_per_ms_per_gpu=5)
    p = serving_plan(sc)
    assert p.feasible and p.winner == "aggregated"
    agg = p.aggregated
    assert agg["layout"] == "dp_attn4-ep4" and agg["gpus"] == 4
    assert agg["concurrency_per_replica"] == 1832          # what memory holds on 4 H100
    assert agg["simulated"]["output_tokens_per_s_per_gpu"] >= 5000
    assert p.deployment["output_tokens_per_s_per_gpu"] >= 5000
    d = p.to_dict()
    assert d["economics"]["cost_usd_per_million_output_tokens"] > 0
    assert any(pt["layout"] == "dp_attn4-ep4" for pt in d["pareto"]["fronts"]["DPattn+EP"])
    # the chosen point (most tokens/s per GPU) lies on its family's front
    assert d["pareto"]["chosen"]["on_front"] is True
    assert d["pareto"]["chosen"]["concurrency_per_replica"] == 1832


def test_more_gpus_never_lower_the_best_tokens_per_s_per_gpu():
    sc = scenario("H100-SXM", "mixtral-8x7b", 1024, 256, tpot_ms=50)
    best = []
    for budget in (2, 4, 8, 16, 32, 64):
        table, _ = SS.screen(sc, sc.serving, SS.replica_layouts(sc, budget), E.Options())
        ok = SS.meets_mask(table, sc.serving)
        best.append(table["output_tokens_per_s_per_gpu"][ok].max())
    assert all(b2 >= b1 for b1, b2 in zip(best, best[1:], strict=False))


def test_deepseek_v3_on_h200_chooses_disaggregation_with_different_layouts():
    # the case: DeepSeek-V3 on up to 256 H200
    sc = scenario("H200", "deepseek-v3", 4096, 1024, max_gpus=256, ttft_ms=2000, tpot_ms=50)
    p = serving_plan(sc)
    assert p.winner == "disaggregated"
    dis = p.disaggregated
    assert dis["prefill"]["layout"] != dis["decode"]["layout"]
    assert dis["ttft_s"] <= 2.0 and dis["tpot_s"] <= 0.05
    assert p.deployment["gpus"] <= 256
    # the reason names both pools' layouts (and, when aggregated also meets the targets, the
    # throughput gain that decides it)
    assert dis["prefill"]["layout"] in p.reason and dis["decode"]["layout"] in p.reason


def test_small_dense_model_stays_aggregated():
    sc = scenario("H100-SXM", "llama-3.1-8b", 1024, 256, ttft_ms=1000, tpot_ms=50)
    p = serving_plan(sc)
    assert p.winner == "aggregated"
    assert p.aggregated["simulated"]["ttft_s"] <= 1.0
    assert p.aggregated["simulated"]["tpot_s"] <= 0.05
    assert "not more than 10% better" in p.reason


def test_throughput_can_count_prompt_and_output_tokens():
    # 1024 + 512 tokens per request: total = output x 1536 / 512 = 3 x output
    sc = scenario("H100-SXM", "mixtral-8x7b", 1024, 512, throughput_tokens_per_ms_per_gpu=5,
                  throughput_counts="total", percentile="p50", disaggregation=False)
    p = serving_plan(sc)
    assert p.feasible
    dep = p.deployment
    assert dep["total_tokens_per_s_per_gpu"] == pytest.approx(
        3 * dep["output_tokens_per_s_per_gpu"], rel=1e-6)
    assert dep["total_tokens_per_s_per_gpu"] >= 5000 and p.disaggregated is None


def test_fewest_gpus_for_a_request_rate():
    sc = scenario("H100-SXM", "llama-3.1-8b", 1024, 256, tpot_ms=50, request_rate_per_s=40,
                  disaggregation=False)
    p = serving_plan(sc)
    agg = p.aggregated
    # enough replicas to carry 40 requests/s at the confirmed rate per replica
    assert agg["replicas"] * agg["requests_per_s_per_replica"] >= 40
    assert (agg["replicas"] - 1) * agg["requests_per_s_per_replica"] < 40


def test_a_scenario_without_serving_block_is_refused_with_one_line():
    with pytest.raises(InputError) as e:
        serving_plan(load_scenario("seed"))
    assert e.value.field == "serving"


# ------------------------------------------------------------------ command line

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "serving"


def test_plan_on_a_serving_scenario_prints_json_with_units_in_keys(capsys):
    import json

    from analysis.cli import main

    assert main(["plan", str(EXAMPLES / "mixtral-h100-serving.yaml"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("winner", "reason", "deployment", "aggregated", "disaggregated", "economics",
                "pareto", "runs", "rejected", "assumptions", "search_time_s", "feasible"):
        assert key in d
    for key in ("layout", "gpus", "concurrency", "ttft_s", "tpot_s",
                "output_tokens_per_s_per_gpu"):
        assert key in d["deployment"]
    assert d["economics"]["price_usd_per_gpu_hour"] == 2.99


def test_plan_compares_gpus_side_by_side(capsys):
    from analysis.cli import main

    assert main(["plan", str(EXAMPLES / "mixtral-h100-serving.yaml"), "--max-gpus", "16",
                 "--hardware", "H100-SXM,H200,B200,MI300X"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["hardware", "deployment"]
    assert [line.split()[0] for line in out[1:]] == ["H100-SXM", "H200", "B200", "MI300X"]


def test_a_static_batch_scenario_keeps_its_reading(capsys):
    from analysis.cli import main

    assert main(["plan", "seed", "--max-gpus", "64"]) == 0
    assert "SERVING PLAN" not in capsys.readouterr().out


def test_a_gpu_that_cannot_run_the_model_gets_a_row_with_the_reason():
    from analysis.search.serving_plan import compare_hardware

    sc = scenario("H200", "deepseek-v3", 4096, 1024, ttft_ms=2000, tpot_ms=50)
    (row,) = compare_hardware(sc, ["A100-80GB"])
    assert row["winner"] is None and "fp8" in row["reason"]


def test_figures_of_a_serving_plan():
    import analysis
    from analysis.report.serving_figures import plot_hardware_comparison, plot_serving_pareto

    sc = scenario("H100-SXM", "llama-3.1-8b", 1024, 256, ttft_ms=1000, tpot_ms=50)
    d = analysis.serving_plan(sc).to_dict()
    fig = plot_serving_pareto(d)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "tokens/s per GPU" and "per user" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("chosen: ") for t in labels) and "TPOT target (50 ms)" in labels
    rows = [{"hardware": "H100-SXM", "output_tokens_per_s_per_gpu": 1000.0,
             "cost_usd_per_million_output_tokens": 0.5},
            {"hardware": "X", "output_tokens_per_s_per_gpu": None,
             "cost_usd_per_million_output_tokens": None}]
    heights = [p.get_height() for p in plot_hardware_comparison(rows).axes[0].patches]
    assert heights == [1000.0, 0.0]
