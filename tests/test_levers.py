"""The binding-constraint advice names the real levers and never what the model already has
(issue 13: DeepSeek-V3 was told its ceiling is compute, then to get more HBM bandwidth and MLA)."""

from pathlib import Path

from analysis.estimate.options import Options
from analysis.inputs.read.assemble import model_from_ref
from analysis.inputs.read.scenario import load_scenario
from analysis.search import planner as S
from analysis.search.levers import ceiling_levers, throughput_levers

DSV3 = model_from_ref("deepseek-v3")[0]          # MLA attention
MIXTRAL = model_from_ref("mixtral-8x7b")[0]      # GQA, 8 KV heads of 32
LLAMA2_7B = model_from_ref("llama-2-7b")[0]      # MHA, 32 KV heads of 32


def test_model_kinds_are_what_the_tests_assume():
    assert DSV3.attention.kind == "mla"
    assert MIXTRAL.attention.num_kv_heads < MIXTRAL.attention.num_heads
    assert LLAMA2_7B.attention.num_kv_heads == LLAMA2_7B.attention.num_heads


def test_deepseek_v3_kv_advice_never_recommends_mla_or_fewer_heads():
    text = ceiling_levers(DSV3, "decode", "memory bandwidth (KV cache)")
    assert "MLA" not in text and "KV heads" not in text and "GQA" not in text
    assert "HBM bandwidth" in text


def test_gqa_model_is_not_told_to_use_gqa_and_mha_model_is():
    assert "KV heads" not in ceiling_levers(MIXTRAL, "decode", "memory bandwidth (KV cache)")
    assert "fewer KV heads" in ceiling_levers(LLAMA2_7B, "decode",
                                              "memory bandwidth (KV cache)")


def test_compute_ceiling_never_asks_for_bandwidth():
    text = ceiling_levers(DSV3, "decode", "compute")
    assert "HBM" not in text and "FLOP/s" in text


def test_far_below_the_ceiling_the_levers_are_batch_concurrency_layout():
    # 1.36 of a 10.2 ceiling: 13 %, far below 80 %: batch, concurrency and layout come first
    text = throughput_levers(DSV3, "total", "prefill compute and decode compute", 1360.0,
                             10200.0, 64)
    assert text.startswith("The best layout reaches 13% of that ceiling")
    for lever in ("batch size (now 64 sequences", "concurrency", "layout"):
        assert lever in text
    # near the ceiling (99 %) only the ceiling's own levers remain, as the seed report says
    near = throughput_levers(DSV3, "prefill", "compute", 88.9, 89.3, 128)
    assert near == "Raising it needs more FLOP/s per GPU, a higher MFU, or fewer FLOPs per token"


def test_deepseek_v3_plan_binding_names_batch_and_no_mla(tmp_path: Path):
    """End to end: DeepSeek-V3 on H200, 50 tokens/ms per GPU, which no layout reaches."""
    y = tmp_path / "dsv3.yaml"
    y.write_text("name: dsv3-static\nhardware: H200\nmodel: deepseek-v3\nmax_gpus: 64\n"
                 "workload: {batch_sequences: 64, prompt_tokens: 4096, output_tokens: 1024}\n"
                 "requirements: {throughput_tokens_per_ms_per_gpu: 50}\n", encoding="utf-8")
    p = S.plan(load_scenario(str(y)), Options())
    assert not p.feasible
    advice = " ".join(p.binding["what_would_have_to_change"])
    assert "MLA" not in advice and "KV heads" not in advice
    assert "batch size" in advice
    if "memory bandwidth" not in p.binding["failed"][0].get("resource", ""):
        assert "HBM bandwidth" not in advice
