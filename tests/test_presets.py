"""Every preset loads, names its source, and matches the reference numbers."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from analysis import anatomy
from analysis.inputs.read.hf_config import load_hf_config, model_from_hf_config
from analysis.inputs.read.mapping import DEFAULTS, PRESETS_DIR, hardware_from_ref, read_yaml
from analysis.inputs.read.scenario import list_presets, load_model, load_scenario

KINDS = ("gpus", "models", "scenarios")


@pytest.mark.parametrize("kind,name", [(k, n) for k in KINDS for n in list_presets(k)])
def test_every_preset_loads_and_has_a_source(kind, name):
    data = read_yaml(PRESETS_DIR / kind / f"{name}.yaml")
    assert isinstance(data.get("source"), str) and len(data["source"]) > 20
    if kind == "gpus":
        hw, _ = hardware_from_ref(name)
        assert hw.efficiency_source
    elif kind == "models":
        load_model(name)
    else:
        load_scenario(name)


def test_expected_presets_exist():
    assert set(list_presets("gpus")) == {"seed-card", "A100-80GB", "H100-SXM", "H800", "H200",
                                         "B200", "MI300X", "GB200"}
    assert set(list_presets("models")) == {"seed-moe", "mixtral-8x7b", "mixtral-8x22b",
                                           "deepseek-v3", "qwen3-30b-a3b", "olmoe-1b-7b",
                                           "gpt-oss-20b", "llama-3.1-8b", "llama-3.1-70b",
                                           # dense models of the validation set
                                           "mistral-7b", "llama-2-7b", "llama-2-70b",
                                           "llama-3.1-405b"}
    assert "seed" in list_presets("scenarios")


# Dense TFLOPS (bf16/fp16, fp8), memory GB, bandwidth TB/s, scale-up GB/s per direction,
# scale-out GB/s per GPU: reference/hardware/gpus.csv (columns bf16_fp16_dense_TFLOPS,
# fp8_dense_TFLOPS, memory_GB, mem_bw_TBps, scaleup_GBps_per_direction_per_gpu).
GPUS_CSV = {
    "A100-80GB": (312, None, 80, 2.039, 300, 25),      # gpus.csv A100-SXM4-80GB
    "H100-SXM": (989.4, 1978.9, 80, 3.35, 450, 50),    # gpus.csv H100 SXM5 80GB
    "H800": (989.4, 1978.9, 80, 3.35, 200, 50),        # gpus.csv H800 SXM5 80GB
    "H200": (989.4, 1978.9, 141, 4.8, 450, 50),        # gpus.csv H200 SXM 141GB
    "B200": (2250, 4500, 180, 8.0, 900, 50),           # gpus.csv B200 (HGX/DGX B200, 1000 W)
    "MI300X": (1307.4, 2614.9, 192, 5.3, 448, 50),     # gpus.csv MI300X
    "GB200": (2500, 5000, 186, 8.0, 900, 50),          # gpus.csv GB200 (per GPU, NVL72)
}


@pytest.mark.parametrize("name", sorted(GPUS_CSV))
def test_gpu_presets_match_gpus_csv(name):
    bf16, fp8, mem_gb, bw_tb, up_gb, out_gb = GPUS_CSV[name]
    hw, _ = hardware_from_ref(name)
    peaks = dict(hw.peak_flops_per_s)
    assert peaks["bf16"] == pytest.approx(bf16 * 1e12)
    if fp8 is None:
        assert "fp8" not in peaks
    else:
        assert peaks["fp8"] == pytest.approx(fp8 * 1e12)
    assert hw.hbm_capacity_bytes == pytest.approx(mem_gb * 1e9)
    assert hw.hbm_bandwidth_bytes_per_s == pytest.approx(bw_tb * 1e12)
    assert hw.scaleup_bandwidth_bytes_per_s == pytest.approx(up_gb * 1e9)
    assert hw.scaleout_bandwidth_bytes_per_s == pytest.approx(out_gb * 1e9)
    assert hw.gpus_per_node == (72 if name == "GB200" else 8)
    assert (hw.mfu, hw.bandwidth_utilization, hw.scaleout_efficiency) == (0.5, 0.8, 0.8)


def test_h800_usable_nvlink_is_deepseeks_160():
    hw, _ = hardware_from_ref("H800")
    # ~160 GB/s usable NVLink on H800: DeepSeek-V3 report, arXiv 2412.19437 sec. 3.2.2
    assert hw.scaleup_bandwidth_bytes_per_s * hw.scaleup_efficiency == pytest.approx(160e9)
    assert "160" in hw.efficiency_source


def test_seed_card():
    hw, notes = hardware_from_ref("seed-card")
    # seed plan: 400 TFLOPS, 64 GB, 1.8 TB/s, MFU 60%, bandwidth utilisation 80%
    assert dict(hw.peak_flops_per_s) == {"bf16": 400e12}
    assert hw.hbm_capacity_bytes == 64e9 and hw.hbm_bandwidth_bytes_per_s == 1.8e12
    assert (hw.mfu, hw.bandwidth_utilization) == (0.6, 0.8)
    assert DEFAULTS["interconnect"].reason in notes


def test_gpu_aliases_and_case():
    assert hardware_from_ref("h100")[0].name == "H100-SXM"
    assert hardware_from_ref("h100 sxm5 80gb")[0].name == "H100-SXM"


# exact_total_params, exact_active_params_incl_embedding: reference/models/models.csv
MODELS_CSV = {
    "mixtral-8x7b": (46702792704, 12879925248),    # models.csv Mixtral-8x7B-v0.1
    "deepseek-v3": (671026419200, 37552297472),    # models.csv DeepSeek-V3 (main model)
    "qwen3-30b-a3b": (30532122624, 3353032704),    # models.csv Qwen3-30B-A3B
    "olmoe-1b-7b": (6919161856, 1282017280),       # models.csv OLMoE-1B-7B-0924
    "gpt-oss-20b": (20914757184, 4187440704),      # models.csv gpt-oss-20b
    "llama-3.1-8b": (8030261248, 8030261248),      # models.csv Llama-3.1-8B
    "llama-3.1-70b": (70553706496, 70553706496),   # models.csv Llama-3.1-70B
    "mixtral-8x22b": (140630071296, None),         # Mixtral-8x22B-v0.1 config.json, computed
}


@pytest.mark.parametrize("name", sorted(MODELS_CSV))
def test_model_presets_match_models_csv(name):
    total, active = MODELS_CSV[name]
    model, _, warnings = load_model(name)
    assert anatomy.total_params(model) == total
    if active is not None:
        assert anatomy.active_params(model) == active
    assert warnings == []          # the declared figure agrees with the architecture


SHIPPED = {
    "mixtral-8x7b": "mistralai--Mixtral-8x7B-v0.1.json",
    "deepseek-v3": "deepseek-ai--DeepSeek-V3.json",
    "qwen3-30b-a3b": "Qwen--Qwen3-30B-A3B.json",
    "gpt-oss-20b": "openai--gpt-oss-20b.json",
    "llama-3.1-8b": "meta-llama--Meta-Llama-3.1-8B.json",
    "llama-3.1-70b": "meta-llama--Meta-Llama-3.1-70B.json",
}

_IGNORED = {"name", "source", "declared_total_params", "declared_active_params"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_model_preset_equals_its_config_json(name):
    """Cross-check: the hand-written YAML and the config.json reader agree field by field."""
    preset, _, _ = load_model(name)
    path = PRESETS_DIR / "hf_configs" / SHIPPED[name]
    from_cfg, _ = model_from_hf_config(load_hf_config(path), name, str(path))
    for f in preset.__dataclass_fields__:
        if f not in _IGNORED:
            assert getattr(preset, f) == getattr(from_cfg, f), f


def test_shipped_hf_configs_equal_the_reference_copies():
    ref = Path("/work/shared/reference/models/hf-configs")
    if not ref.is_dir():
        pytest.skip("reference folder not present")
    for p in ref.glob("*.json"):
        assert (PRESETS_DIR / "hf_configs" / p.name).read_bytes() == p.read_bytes()


def test_seed_moe_defaults_are_recorded():
    model, notes, warnings = load_model("seed-moe")
    assert model.top_k == 2 and model.num_experts == 16 and model.weight_precision == "fp16"
    assert model.attention.num_kv_heads == 16          # MHA, by the documented default
    for key in ("vocab_size", "num_kv_heads", "ffn_gated"):
        assert DEFAULTS[key].reason in notes
    assert warnings and "10B" in warnings[0]


def test_seed_scenario():
    s = load_scenario("seed")
    assert s.hardware.name == "seed-card" and s.model.name == "seed-moe"
    assert s.workload.batch_sequences == 128
    assert s.workload.prompt_range_tokens == (128, 10240)
    assert s.requirements.ttft_s == 10
    assert s.requirements.throughput_tokens_per_s_per_gpu == pytest.approx(100_000)
    assert s.requirements.throughput_kind is None
    assert s.current_strategy.gpus == 64
    assert (s.current_strategy.tp, s.current_strategy.ep, s.current_strategy.pp) == (4, 16, 1)
    # Declared 10B against ~0.45B derived: the first warning, with both numbers.
    derived = anatomy.total_params(s.model)
    assert derived == pytest.approx(0.45e9, rel=0.02)
    assert "10B" in s.warnings[0] and "0.452B" in s.warnings[0]
    assert f"{derived:,}" in s.warnings[0]
    for key in ("interconnect", "vocab_size", "ffn_gated", "num_kv_heads", "output_tokens"):
        assert DEFAULTS[key].reason in s.assumptions


def test_scenario_preset_name_is_case_insensitive():
    assert load_scenario("SEED") == load_scenario("seed")


def test_card_scenarios_go_through_cards(tmp_path, monkeypatch):
    """A .md card is read by analysis.inputs.read.cards.scenario_dict_from_card (stubbed here)."""
    seen = {}

    def fake(text, path):
        seen["args"] = (text, path)
        return ({"name": "card", "hardware": "seed-card", "model": "seed-moe",
                 "workload": {"batch_sequences": 2, "prompt_tokens": 64}},
                ["the card gives no output length"])

    monkeypatch.setitem(sys.modules, "analysis.inputs.read.cards",
                        types.SimpleNamespace(scenario_dict_from_card=fake))
    card = tmp_path / "card.md"
    card.write_text("# a card\n")
    s = load_scenario(card)
    assert seen["args"] == ("# a card\n", str(card))
    assert s.assumptions[0] == "the card gives no output length"
    assert s.warnings and "10B" in s.warnings[0]
