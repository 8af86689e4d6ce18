"""Mappings -> typed inputs: units, percentages, workloads, defaults recorded, every error path."""

from __future__ import annotations

import pytest

from analysis import anatomy
from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.read.mapping import (
    DEFAULTS,
    hardware_from_dict,
    model_from_dict,
    read_yaml,
    requirements_from_dict,
    scenario_from_dict,
    strategy_from_value,
    workload_from_dict,
)
from analysis.inputs.read.scenario import load_model, load_scenario

GPU = {"name": "toy", "peak_TFLOPS": {"bf16": 100}, "hbm_capacity_GB": 10,
       "hbm_bandwidth_TB_per_s": 1}
TOY = {"name": "toy", "num_layers": 2, "hidden_size": 8, "vocab_size": 10,
       "attention": {"num_heads": 2, "num_kv_heads": 1, "head_dim": 4},
       "num_experts": 4, "top_k": 2, "expert_intermediate_size": 4, "precision": "bf16"}


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------

def test_hardware_units():
    hw, _ = hardware_from_dict({
        "name": "x", "peak_TFLOPS": {"bf16": 989.4, "fp8": 1978.9}, "hbm_capacity_GB": 80,
        "hbm_bandwidth_TB_per_s": 3.35, "scaleup_bandwidth_GB_per_s": 450,
        "scaleout_bandwidth_GB_per_s": 50, "scaleup_latency_us": 2, "scaleout_latency_us": 5,
        "gpus_per_node": 8, "mfu": 0.5, "bandwidth_utilization": 0.8,
        "scaleup_efficiency": 0.8, "scaleout_efficiency": 0.8})
    assert dict(hw.peak_flops_per_s) == {"bf16": pytest.approx(989.4e12),
                                         "fp8": pytest.approx(1978.9e12)}
    assert hw.hbm_capacity_bytes == 80e9
    assert hw.hbm_bandwidth_bytes_per_s == pytest.approx(3.35e12)
    assert hw.scaleup_bandwidth_bytes_per_s == 450e9
    assert hw.scaleout_bandwidth_bytes_per_s == 50e9
    assert hw.scaleup_latency_s == pytest.approx(2e-6)
    assert hw.scaleout_latency_s == pytest.approx(5e-6)


def test_gib_and_si_keys():
    hw, _ = hardware_from_dict({"name": "x", "peak_flops_per_s": {"fp16": 1e14},
                                "hbm_capacity_GiB": 64, "hbm_bandwidth_bytes_per_s": 1e12})
    assert hw.hbm_capacity_bytes == 64 * 2**30
    assert dict(hw.peak_flops_per_s) == {"bf16": 1e14}   # fp16 runs at the bf16 peak


def test_both_unit_variants_is_an_error():
    with pytest.raises(InputError, match="already given"):
        hardware_from_dict({**GPU, "hbm_capacity_bytes": 10e9})


def test_percent_strings_for_fractions():
    hw, _ = hardware_from_dict({**GPU, "mfu": "60%", "bandwidth_utilization": "80 %"})
    assert hw.mfu == pytest.approx(0.6)
    assert hw.bandwidth_utilization == pytest.approx(0.8)
    req, _ = requirements_from_dict({"memory_reserve_fraction": "5%"})
    assert req.memory_reserve_fraction == pytest.approx(0.05)


def test_percent_not_accepted_for_a_size():
    with pytest.raises(InputError, match="percentage"):
        hardware_from_dict({**GPU, "hbm_capacity_GB": "80%"})


def test_requirement_units():
    req, _ = requirements_from_dict({"ttft_ms": 500, "tpot_ms": 50,
                                     "throughput_tokens_per_ms_per_gpu": 100,
                                     "throughput_kind": "Prefill"})
    assert req.ttft_s == pytest.approx(0.5)
    assert req.tpot_s == pytest.approx(0.05)
    assert req.throughput_tokens_per_s_per_gpu == pytest.approx(100_000)
    assert req.throughput_kind == "prefill"
    req, _ = requirements_from_dict({"ttft_s": 10, "throughput_tokens_per_s_per_gpu": 3000})
    assert req.ttft_s == 10 and req.throughput_tokens_per_s_per_gpu == 3000


def test_declared_params_in_billions_and_numeric_strings():
    model, _ = model_from_dict({**TOY, "declared_total_params_B": "10", "num_layers": "2"})
    assert model.declared_total_params == 10e9
    assert model.num_layers == 2 and isinstance(model.num_layers, int)


def test_single_peak_is_taken_as_bf16_and_said():
    hw, notes = hardware_from_dict({**GPU, "peak_TFLOPS": 400})
    assert dict(hw.peak_flops_per_s) == {"bf16": 400e12}
    assert any("BF16/FP16" in n for n in notes)


# --------------------------------------------------------------------------------------------
# Precision shorthand and model defaults
# --------------------------------------------------------------------------------------------

def test_precision_shorthand_sets_all_three():
    model, _ = model_from_dict({**TOY, "precision": "FP16"})
    assert (model.weight_precision, model.kv_precision, model.activation_precision) == (
        "fp16", "fp16", "fp16")


def test_precision_explicit_field_beats_shorthand():
    model, _ = model_from_dict({**TOY, "precision": "fp8", "kv_precision": "bf16"})
    assert (model.weight_precision, model.kv_precision) == ("fp8", "bf16")


def test_weight_only_precision_keeps_kv_in_bf16_and_says_so():
    d = {k: v for k, v in TOY.items() if k != "precision"}
    model, notes = model_from_dict({**d, "weight_precision": "int4"})
    assert model.weight_bytes_per_param == 0.5
    assert model.kv_precision == "bf16" and model.activation_precision == "bf16"
    assert any("KV-cache and activation precision not given" in n for n in notes)


def test_model_defaults_are_recorded():
    model, notes = model_from_dict({"name": "bare", "num_layers": 2, "hidden_size": 8,
                                    "num_heads": 2, "num_experts": 4,
                                    "expert_intermediate_size": 4})
    assert model.vocab_size == 32000
    assert model.attention.num_kv_heads == 2 and model.attention.head_dim == 4
    assert model.ffn_gated and model.top_k == 2 and model.weight_precision == "bf16"
    for key in ("vocab_size", "num_kv_heads", "head_dim", "ffn_gated", "top_k", "precision",
                "num_dense_layers", "architecture_details"):
        assert DEFAULTS[key].reason in notes, key
    assert "vocabulary not given: assumed 32,000 (Llama-2/Mixtral tokenizer size)" in notes
    assert "KV heads not given: assumed equal to attention heads (MHA)" in notes


def test_nothing_assumed_when_everything_is_given():
    _, notes = model_from_dict({**TOY, "num_dense_layers": 0, "ffn_gated": True,
                                "norm": "rmsnorm", "tie_word_embeddings": False})
    assert notes == []


def test_flat_and_nested_attention_agree():
    flat = {k: v for k, v in TOY.items() if k != "attention"} | TOY["attention"]
    assert model_from_dict(flat)[0] == model_from_dict(TOY)[0]


def test_mla_model_from_mapping():
    model, _ = model_from_dict({
        "name": "mla", "num_layers": 2, "hidden_size": 8, "vocab_size": 10, "num_experts": 4,
        "top_k": 2, "expert_intermediate_size": 4, "precision": "bf16",
        "attention": {"num_heads": 2, "kv_lora_rank": 4, "qk_nope_head_dim": 2,
                      "qk_rope_head_dim": 2, "v_head_dim": 2}})
    assert model.attention.kind == "mla"
    assert anatomy.kv_cache_bytes_per_token(model) == 2 * 6 * 2


def test_dense_model_when_no_experts_named():
    d = {k: v for k, v in TOY.items() if k not in ("num_experts", "top_k",
                                                  "expert_intermediate_size")}
    model, _ = model_from_dict({**d, "dense_intermediate_size": 12})
    assert not model.is_moe and model.num_dense_layers == 2


# --------------------------------------------------------------------------------------------
# Hardware defaults
# --------------------------------------------------------------------------------------------

def test_interconnect_default_is_one_sentence():
    hw, notes = hardware_from_dict(GPU)
    assert hw.gpus_per_node == 8 and hw.scaleup_bandwidth_bytes_per_s == 450e9
    assert hw.scaleout_bandwidth_bytes_per_s == 50e9
    assert DEFAULTS["interconnect"].reason in notes
    assert DEFAULTS["efficiency"].reason in notes
    assert hw.mfu == 0.5


def test_partial_interconnect_defaults_name_each_field():
    hw, notes = hardware_from_dict({**GPU, "gpus_per_node": 4, "scaleup_bandwidth_GB_per_s": 100})
    assert hw.gpus_per_node == 4
    assert DEFAULTS["scaleout_bandwidth_bytes_per_s"].reason in notes
    assert DEFAULTS["latency"].reason in notes
    assert DEFAULTS["interconnect"].reason not in notes


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------

def test_fixed_workload_and_output_default():
    w, notes = workload_from_dict({"batch_sequences": 8, "prompt_tokens": 2048})
    assert w.prompt_lengths_tokens == (2048,) and w.output_tokens == 256
    assert "output length not given: assumed 256 tokens" in notes


def test_range_workload():
    w, _ = workload_from_dict({"batch_sequences": 128, "prompt_tokens": [128, 10240],
                               "output_tokens": 64})
    assert w.prompt_range_tokens == (128, 10240)
    assert w.prompt_lengths_tokens == (128, 256, 512, 1024, 2048, 4096, 8192, 10240)
    assert w.output_tokens == 64


def test_distribution_workload():
    w, _ = workload_from_dict({"batch_sequences": 4,
                               "prompt_tokens": {"lengths": [512, 4096], "weights": ["80%", 0.2]}})
    assert w.prompt_lengths_tokens == (512, 4096)
    assert w.prompt_length_weights == pytest.approx((0.8, 0.2))


def test_distribution_weights_normalised_and_defaulted():
    w, notes = workload_from_dict({"batch_sequences": 4,
                                   "prompt_tokens": {"lengths": [1, 2], "weights": [3, 1]}})
    assert w.prompt_length_weights == pytest.approx((0.75, 0.25))
    assert any("normalised" in n for n in notes)
    w, notes = workload_from_dict({"batch_sequences": 4, "prompt_tokens": {"lengths": [1, 2]}})
    assert w.prompt_length_weights == pytest.approx((0.5, 0.5))
    assert DEFAULTS["prompt_length_weights"].reason in notes


@pytest.mark.parametrize("prompt,match", [
    ([128, 256, 512], "two ends"),
    ([512, 128], "reversed"),
    (0, "> 0"),
    (-5, "> 0"),
    ("long", "not a number"),
    ({"lengths": []}, "non-empty"),
    ({"lengths": [1, 2], "weights": [1]}, "one weight per prompt length"),
    ({"lenghts": [1]}, "did you mean 'lengths'"),
])
def test_workload_errors(prompt, match):
    with pytest.raises(InputError, match=match):
        workload_from_dict({"batch_sequences": 4, "prompt_tokens": prompt})


def test_workload_needs_prompt_tokens():
    with pytest.raises(InputError, match="prompt_tokens"):
        workload_from_dict({"batch_sequences": 4})


# --------------------------------------------------------------------------------------------
# Strategy
# --------------------------------------------------------------------------------------------

def test_strategy_from_string_and_mapping():
    s = strategy_from_value("tp=4,ep=16,pp=1")
    assert s.gpus == 64 and s.ep == 16 and s.tp == 4
    assert strategy_from_value({"tp": 4, "ep": 16}) == s


@pytest.mark.parametrize("value,match", [
    ({"tp": 4, "xp": 2}, "did you mean"),
    ({"tp": "four"}, "not a number"),
    (42, "text or a mapping"),
    ("tp=4,etp=3", "cannot choose"),
])
def test_strategy_errors(value, match):
    with pytest.raises(InputError, match=match):
        strategy_from_value(value)


# --------------------------------------------------------------------------------------------
# Error paths: every bad input is an InputError naming the field and value
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change,field", [
    ({"hbm_capacity_GB": 0}, "hardware.hbm_capacity_bytes"),
    ({"hbm_capacity_GB": -80}, "hardware.hbm_capacity_bytes"),
    ({"hbm_bandwidth_TB_per_s": 0}, "hardware.hbm_bandwidth_bytes_per_s"),
    ({"peak_TFLOPS": {"bf16": 0}}, "hardware.peak_flops_per_s[bf16]"),
    ({"peak_TFLOPS": {"fp7": 10}}, "hardware.peak_TFLOPS.fp7"),
    ({"mfu": 1.5}, "hardware.mfu"),
    ({"mfu": "150%"}, "hardware.mfu"),
    ({"gpus_per_node": 2.5}, "hardware.gpus_per_node"),
    ({"hbm_capacity_GB": "lots"}, "hardware.hbm_capacity_GB"),
    ({"hbm_capacity_GB": [80]}, "hardware.hbm_capacity_GB"),
    ({"hbm_capacity_GB": True}, "hardware.hbm_capacity_GB"),
])
def test_hardware_errors(change, field):
    with pytest.raises(InputError) as err:
        hardware_from_dict({**GPU, **change}, "gpu.yaml")
    assert err.value.field == field
    assert str(err.value).startswith("gpu.yaml: ")


@pytest.mark.parametrize("change,field,match", [
    ({"num_layers": 0}, "model.num_layers", "> 0"),
    ({"hidden_size": -8}, "model.hidden_size", "> 0"),
    ({"top_k": 5}, "model.top_k", "cannot exceed"),
    ({"attention": {"num_heads": 3, "num_kv_heads": 2, "head_dim": 4}},
     "model.attention.num_kv_heads", "multiple of KV heads"),
    ({"precision": "fp12"}, "model.precision", "unknown precision"),
    ({"kv_precision": "int3"}, "model.kv_precision", "unknown precision"),
    ({"num_layers": "many"}, "model.num_layers", "not a number"),
    ({"num_layers": 2.5}, "model.num_layers", "whole number"),
    ({"ffn_gated": "maybe"}, "model.ffn_gated", "true or false"),
    ({"name": ["a"]}, "model.name", "text"),
    ({"num_expert": 4}, "model.num_expert", "did you mean 'num_experts'"),
    ({"attention": {"num_heads": 2, "num_kv_head": 1, "head_dim": 4}},
     "model.attention.num_kv_head", "did you mean 'num_kv_heads'"),
])
def test_model_errors(change, field, match):
    with pytest.raises(InputError, match=match) as err:
        model_from_dict({**TOY, **change})
    assert err.value.field == field


def test_unknown_key_lists_valid_keys():
    with pytest.raises(InputError) as err:
        hardware_from_dict({**GPU, "hbm_capacty_GB": 80})
    msg = str(err.value)
    assert "did you mean 'hbm_capacity_GB'" in msg
    assert "valid:" in msg and "hbm_bandwidth_TB_per_s" in msg


def test_model_needs_heads():
    with pytest.raises(InputError, match="num_heads"):
        model_from_dict({"num_layers": 2, "hidden_size": 8})


def test_model_that_is_not_a_mapping():
    with pytest.raises(InputError, match="mapping"):
        model_from_dict(["not", "a", "mapping"])


def test_requirements_errors():
    with pytest.raises(InputError, match="unknown throughput kind"):
        requirements_from_dict({"throughput_kind": "burst"})
    with pytest.raises(InputError, match="ttft_s"):
        requirements_from_dict({"ttft_s": -1})
    with pytest.raises(InputError, match="did you mean 'ttft_ms'"):
        requirements_from_dict({"ttft_msec": 1})


# --------------------------------------------------------------------------------------------
# Scenarios and files
# --------------------------------------------------------------------------------------------

SCENARIO = {"name": "toy", "hardware": GPU, "model": TOY,
            "workload": {"batch_sequences": 8, "prompt_tokens": 512, "output_tokens": 16}}


def test_scenario_from_dict_gathers_assumptions():
    s = scenario_from_dict({**SCENARIO, "current_strategy": "tp=2", "max_gpus": 16,
                            "fixed_gpus": 8, "requirements": {"ttft_s": 1}})
    assert s.current_strategy.tp == 2 and s.max_gpus == 16 and s.fixed_gpus == 8
    assert DEFAULTS["interconnect"].reason in s.assumptions
    assert DEFAULTS["memory_reserve_fraction"].reason in s.assumptions
    assert s.warnings == ()


def test_scenario_unknown_key_and_missing_part():
    with pytest.raises(InputError, match="did you mean 'workload'"):
        scenario_from_dict({**SCENARIO, "workloads": {}})
    d = dict(SCENARIO)
    del d["model"]
    with pytest.raises(InputError, match="scenario.model"):
        scenario_from_dict(d)


def test_hardware_preset_with_overrides():
    s = scenario_from_dict({**SCENARIO, "hardware": {"preset": "h100", "mfu": "40%"}})
    assert s.hardware.name == "H100-SXM" and s.hardware.mfu == pytest.approx(0.4)
    assert s.hardware.hbm_capacity_bytes == 80e9
    assert any("overrides: mfu" in a for a in s.assumptions)


def test_declared_size_warning_comes_first():
    s = scenario_from_dict({**SCENARIO, "model": {**TOY, "declared_total_params_B": 1}})
    assert s.warnings and s.warnings[0].startswith("Declared size 1B")


def test_scenario_model_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "toy.yaml").write_text(
        "name: toy\nnum_layers: 2\nhidden_size: 8\nvocab_size: 10\n"
        "attention: {num_heads: 2, num_kv_heads: 1, head_dim: 4}\n"
        "num_experts: 4\ntop_k: 2\nexpert_intermediate_size: 4\n")
    (tmp_path / "s.yaml").write_text(
        "name: rel\nhardware: H100-SXM\nmodel: models/toy.yaml\n"
        "workload: {batch_sequences: 2, prompt_tokens: 64}\n")
    s = load_scenario(tmp_path / "s.yaml")
    assert s.model.name == "toy" and s.hardware.name == "H100-SXM"
    model, _, warnings = load_model(tmp_path / "models" / "toy.yaml")
    assert model == s.model and warnings == []


def test_scenario_with_a_config_json_model(tmp_path):
    import shutil

    from analysis.inputs.read.mapping import PRESETS_DIR
    shutil.copy(PRESETS_DIR / "hf_configs" / "mistralai--Mixtral-8x7B-v0.1.json",
                tmp_path / "config.json")
    (tmp_path / "s.yaml").write_text(
        "hardware: H100\nmodel: config.json\nworkload: {batch_sequences: 2, prompt_tokens: 64}\n")
    s = load_scenario(str(tmp_path / "s.yaml"))
    assert anatomy.total_params(s.model) == 46702792704   # models.csv exact_total_params
    assert s.name == "s"


def test_malformed_yaml_names_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\nhardware: H100\nworkload: {batch_sequences: 2\nmodel: x\n")
    with pytest.raises(ParseError) as err:
        load_scenario(p)
    assert err.value.line is not None and err.value.line >= 3
    assert f"{p}:{err.value.line}" in str(err.value)


def test_malformed_yaml_bad_indent_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\nhardware:\n  name: x\n bad: 1\n")
    with pytest.raises(ParseError) as err:
        read_yaml(p)
    assert err.value.line == 4


def test_malformed_json_model_names_the_line(tmp_path):
    p = tmp_path / "config.json"
    p.write_text('{\n  "model_type": "mixtral"\n  "hidden_size": 8\n}\n')
    with pytest.raises(ParseError) as err:
        load_model(p)
    assert err.value.line == 3


def test_config_json_is_not_a_scenario(tmp_path):
    p = tmp_path / "config.json"
    p.write_text("{}")
    with pytest.raises(InputError, match="holds a model only") as err:
        load_scenario(p)
    assert "scenario YAML" in str(err.value) and "model: config.json" in str(err.value)


def test_model_yaml_is_not_a_scenario(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("name: toy\nnum_layers: 2\nhidden_size: 8\n")
    with pytest.raises(InputError, match="describes a model"):
        load_scenario(p)


@pytest.mark.parametrize("loader,ref,hint", [
    (load_scenario, "sed", "seed"),
    (load_model, "mixtral-8x7", "mixtral-8x7b"),
])
def test_unknown_preset_suggests_closest(loader, ref, hint):
    with pytest.raises(InputError) as err:
        loader(ref)
    assert f"did you mean {hint!r}" in str(err.value)
    assert "valid:" in str(err.value)


def test_unknown_gpu_preset_suggests_closest():
    with pytest.raises(InputError, match="did you mean 'H100-SXM'"):
        scenario_from_dict({**SCENARIO, "hardware": "H100-SMX"})


def test_missing_model_file():
    with pytest.raises(InputError, match="no such file"):
        load_model("does/not/exist.yaml")


def test_speculative_block_is_read_and_reaches_the_options():
    # issue 12: speculative: {draft_tokens, acceptance_rate, draft_cost_fraction}
    from analysis.estimate import Options
    d = {"hardware": GPU, "model": TOY, "workload": {"batch_sequences": 2, "prompt_tokens": 8},
         "speculative": {"draft_tokens": 2, "acceptance_rate": "80%"}}
    sc = scenario_from_dict(d)
    assert sc.speculative.draft_tokens == 2 and sc.speculative.acceptance_rate == 0.8
    assert sc.speculative.draft_cost_fraction is None            # an MTP module of one layer
    opts = Options().with_speculative(sc.speculative)
    assert (opts.draft_tokens, opts.acceptance_rate) == (2, 0.8)
    # options that already state speculation win
    assert Options(draft_tokens=1, acceptance_rate=0.5).with_speculative(
        sc.speculative).draft_tokens == 1
    assert scenario_from_dict({**d, "speculative": None}).speculative is None
    with pytest.raises(InputError, match="speculative.acceptance_rate = 1.5: must be a prob"):
        scenario_from_dict({**d, "speculative": {"acceptance_rate": 1.5}})
    with pytest.raises(InputError, match="unknown key"):
        scenario_from_dict({**d, "speculative": {"draft_token": 1}})


def test_strategy_mapping_reads_two_batch_overlap():
    # issue 12: a layout with two-batch overlap, as a mapping or as its label
    s = strategy_from_value({"dp_attn": 8, "ep": 8, "two_batch_overlap": True})
    assert s.two_batch_overlap and s.label() == "dp_attn8-ep8-tbo"
    assert strategy_from_value({"dp_attn": 8, "ep": 8, "tbo": "yes"}) == s
    assert strategy_from_value("dp_attn8-ep8-tbo") == s
    assert not strategy_from_value({"dp_attn": 8, "ep": 8}).two_batch_overlap
    with pytest.raises(InputError, match="must be true or false"):
        strategy_from_value({"ep": 8, "tbo": 3})
