"""Scenario cards (hand-written markdown) read into scenario dicts: analysis/cards.py.

Every expected number below was read by hand from the card named in the comment on its line
(line numbers are the card's, 1-based). The cards are the public examples in examples/cards/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.inputs.errors import ParseError
from analysis.inputs.read.cards import scenario_dict_from_card

CARDS = Path(__file__).resolve().parent.parent / "examples" / "cards"
DENSE = "dense-10b-mlp-requirements.md"
MOE10 = "moe-10b-16e-requirements.md"
MOE30 = "moe-30b-64e-current-strategy.md"
FP8 = "moe-64e-fp8-fixed-length.md"
SEED = "seed-plan.md"


def parse(name: str) -> tuple[dict, list[str]]:
    path = CARDS / name
    return scenario_dict_from_card(path.read_text(encoding="utf-8"), str(path))


def has(assumptions: list[str], *words: str) -> bool:
    """True if one assumption mentions every word (case-insensitive)."""
    return any(all(w.lower() in a.lower() for w in words) for a in assumptions)


def test_examples_are_the_five_public_cards():
    assert sorted(p.name for p in CARDS.glob("*.md")) == sorted([DENSE, MOE10, MOE30, FP8, SEED])


# --------------------------------------------------------------------------------------------
# The four reference cards and the seed plan, field by field
# --------------------------------------------------------------------------------------------

def _check_card_hardware(d: dict, path: str, key: str) -> None:
    hw = d["hardware"]
    assert hw["name"] == "card-gpu"
    assert hw["peak_TFLOPS"] == {key: 400.0}            # line 5: 400TFlops
    assert hw["mfu"] == pytest.approx(0.6)              # line 6: 60%
    assert hw["hbm_bandwidth_TB_per_s"] == pytest.approx(1.8)  # line 7: 1.8TBps
    assert hw["bandwidth_utilization"] == pytest.approx(0.8)   # line 8: 80%
    assert hw["hbm_capacity_GB"] == pytest.approx(64)   # line 9: 64GB
    assert hw["source"] == path


def test_moe_10b_16e_card():
    d, a = parse(MOE10)
    path = str(CARDS / MOE10)
    assert d["name"] == "moe-10b-16e-requirements"
    assert d["source"] == path
    _check_card_hardware(d, path, "bf16")
    m = d["model"]
    assert m["declared_total_params_B"] == 10.0         # line 17: weights 10B
    assert m["num_layers"] == 16                        # line 18: 16-layer
    assert m["num_experts"] == 16                       # line 18: Each layer has 16 experts
    assert m["num_dense_layers"] == 0
    assert m["precision"] == "fp16"                     # line 19: FP16
    assert m["hidden_size"] == 512                      # line 20: each token is 512
    assert m["attention"] == {"kind": "gqa", "num_heads": 16, "num_kv_heads": 16,
                              "head_dim": 32}           # line 21: 16 heads, each 32
    assert m["expert_intermediate_size"] == 1024        # line 22: hidden of MOE is 1024
    assert m["top_k"] == 2                              # not stated: default
    assert m["source"] == path
    assert d["workload"] == {"batch_sequences": 128,    # line 27: 128 sequences
                             "prompt_tokens": [128, 10240]}  # line 28: [128, 10240]
    assert d["requirements"] == {"ttft_s": 10.0,        # line 33: 10s
                                 "throughput_tokens_per_ms_per_gpu": 100.0}  # line 35
    assert "tpot_s" not in d["requirements"]            # line 34: None
    assert "max_gpus" not in d                          # line 4: no limits
    assert "current_strategy" not in d
    assert has(a, "top-k", "2")
    assert has(a, "KV heads", "MHA")
    assert has(a, "TPOT", "no TPOT target")
    assert has(a, "no GPU limit", "default search budget")
    assert has(a, "computing-power", "model's precision", "bf16")
    assert has(a, "no output length stated")


def test_dense_card_is_a_dense_model():
    d, a = parse(DENSE)
    path = str(CARDS / DENSE)
    assert d["name"] == "dense-10b-mlp-requirements"
    _check_card_hardware(d, path, "bf16")
    m = d["model"]
    assert m["num_experts"] == 0                        # line 16: attention + MLP, no experts
    assert m["num_dense_layers"] == 16                  # line 16: 16-layer
    assert m["num_layers"] == 16
    assert m["dense_intermediate_size"] == 1024         # line 20: hidden of MLP is 1024
    assert "expert_intermediate_size" not in m and "top_k" not in m
    assert m["declared_total_params_B"] == 10.0         # line 15: 10B
    assert m["precision"] == "fp16"                     # line 17
    assert m["hidden_size"] == 512                      # line 18
    assert m["attention"]["num_heads"] == 16            # line 19
    assert m["attention"]["head_dim"] == 32             # line 19
    assert m["attention"]["num_kv_heads"] == 16
    assert d["workload"] == {"batch_sequences": 128, "prompt_tokens": [128, 10240]}  # 25, 26
    assert d["requirements"] == {"ttft_s": 10.0, "throughput_tokens_per_ms_per_gpu": 100.0}
    assert has(a, "dense model")
    assert not has(a, "top-k")
    assert has(a, "line 20", "MLP")                     # key says MOE, value says MLP


def test_moe_30b_card_current_strategy_and_workload_in_model_section():
    d, a = parse(MOE30)
    path = str(CARDS / MOE30)
    assert d["name"] == "moe-30b-64e-current-strategy"
    _check_card_hardware(d, path, "bf16")
    m = d["model"]
    assert m["declared_total_params_B"] == 30.0         # line 17: 30B
    assert m["num_layers"] == 16                        # line 18
    assert m["num_experts"] == 64                       # line 18: 64 experts
    assert m["precision"] == "fp16"                     # line 19
    assert m["hidden_size"] == 1024                     # line 22
    assert m["attention"] == {"kind": "gqa", "num_heads": 16, "num_kv_heads": 16,
                              "head_dim": 64}           # line 23
    assert m["expert_intermediate_size"] == 2048        # line 24
    assert m["top_k"] == 2
    # batch and sequence length sit under "Model Configuration" in this card
    assert d["workload"] == {"batch_sequences": 128,    # line 20
                             "prompt_tokens": [128, 10240]}  # line 21: 128 ~ 10240
    assert d["current_strategy"] == {"ep": 8, "tp": 8, "pp": 8, "dp": 8}  # lines 30-33
    assert d["requirements"] == {}
    assert has(a, "no TTFT target")
    assert has(a, "top-k", "2")


def test_fp8_card_fixed_length_no_weights():
    d, a = parse(FP8)
    path = str(CARDS / FP8)
    assert d["name"] == "moe-64e-fp8-fixed-length"
    _check_card_hardware(d, path, "fp8")                # FP8 model: the "fp8" compute key
    m = d["model"]
    assert m["precision"] == "fp8"                      # line 18: FP8
    assert "declared_total_params_B" not in m           # no weights line
    assert m["num_layers"] == 16                        # line 17
    assert m["num_experts"] == 64                       # line 17
    assert m["hidden_size"] == 1024                     # line 21
    assert m["attention"]["num_heads"] == 16            # line 22
    assert m["attention"]["head_dim"] == 64             # line 22
    assert m["expert_intermediate_size"] == 2048        # line 23
    assert m["top_k"] == 2
    assert d["workload"] == {"batch_sequences": 128,    # line 19
                             "prompt_tokens": 1024}     # line 20: 1024 tokens per sequence
    assert "current_strategy" not in d
    assert has(a, "fp8", "compute key")
    assert has(a, "top-k", "2")
    assert has(a, "no total parameter count")


def test_seed_plan_first_four_sections():
    d, a = parse(SEED)
    path = str(CARDS / SEED)
    assert d["name"] == "seed-plan"
    hw = d["hardware"]
    assert hw["peak_TFLOPS"] == {"bf16": 400.0}         # line 4: 400 TFlops
    assert hw["hbm_capacity_GB"] == pytest.approx(64)   # line 5: 64 GB
    assert hw["hbm_bandwidth_TB_per_s"] == pytest.approx(1.8)  # line 6: 1.8 TBps
    assert hw["mfu"] == pytest.approx(0.6)              # line 7: 60.0%
    assert hw["bandwidth_utilization"] == pytest.approx(0.8)  # line 8: 80.0%
    assert hw["source"] == path
    m = d["model"]
    assert m["declared_total_params_B"] == 10.0         # line 11: 10.0B
    assert m["num_layers"] == 16                        # line 12
    assert m["num_experts"] == 16                       # line 13
    assert m["precision"] == "fp16"                     # line 14
    assert m["hidden_size"] == 512                      # line 15
    assert m["attention"] == {"kind": "gqa", "num_heads": 16, "num_kv_heads": 16,
                              "head_dim": 32}           # line 16: 16 x 32
    assert m["expert_intermediate_size"] == 1024        # line 17
    assert m["top_k"] == 2                              # line 45: Top-2 expert routing
    assert d["workload"] == {"batch_sequences": 128,    # line 20
                             "prompt_tokens": [128, 10240]}  # line 21: 128 - 10240
    assert d["requirements"] == {"ttft_s": 10.0,        # line 24
                                 "throughput_tokens_per_ms_per_gpu": 100.0}  # line 25
    assert d["current_strategy"] == {"ep": 16, "tp": 4, "pp": 1, "dp": 1}  # lines 30-32
    assert "max_gpus" not in d
    assert has(a, "top-k = 2", "line 45")
    assert not has(a, "no top-k stated")
    assert has(a, "16 x 32", "16 heads of dimension 32")
    assert has(a, "no DP degree stated")
    assert has(a, "Recommended Parallel Strategy", "current strategy")
    # the plan's outputs (Expected Performance: "TTFT: 0.0s") are not read as inputs
    assert has(a, "sections ignored", "Expected Performance")


# --------------------------------------------------------------------------------------------
# Variations
# --------------------------------------------------------------------------------------------

BASE = """\
## Hardware
- Computing power: 400 TFLOPS
- VRAM: 64 GB
- VRAM Bandwidth: 1.8 TB/s
- MFU: 60%
- Bandwidth utilization: 80%

## Model Configuration
- Layers: 16
- Experts per Layer: 16
- Precision: BF16
- Token Dimension: 512
- Attention Heads: 16 x 32
- MoE Hidden Size: 1024

## Input Data
- Batch Size: 128
- Sequence Length: 1024 tokens

## Performance Requirements
- TTFT: 10s
"""


def card(text: str = BASE, **replace: str) -> tuple[dict, list[str]]:
    for old, new in replace.items():
        old = old.replace("_", " ")
        assert old in text, old
        text = text.replace(old, new)
    return scenario_dict_from_card(text, "variant.md")


def test_base_variant():
    d, _ = card()
    assert d["name"] == "variant"
    assert d["hardware"]["peak_TFLOPS"] == {"bf16": 400.0}
    assert d["hardware"]["hbm_bandwidth_TB_per_s"] == pytest.approx(1.8)
    assert d["model"]["num_experts"] == 16 and d["model"]["top_k"] == 2
    assert d["workload"] == {"batch_sequences": 128, "prompt_tokens": 1024}
    assert d["requirements"] == {"ttft_s": 10.0}


def test_reordered_sections_parse_the_same():
    sections = ["## " + s for s in BASE.split("## ") if s]
    reordered = "".join(reversed(sections))
    assert scenario_dict_from_card(reordered, "variant.md")[0] == card()[0]


@pytest.mark.parametrize("bw", ["1.8TBps", "1.8 TBps", "1.8 TB/s", "1.8TB/s", "1800 GB/s",
                                "1.8 TB per second"])
def test_bandwidth_spellings(bw):
    d, _ = card(BASE.replace("1.8 TB/s", bw))
    assert d["hardware"]["hbm_bandwidth_TB_per_s"] == pytest.approx(1.8)


def test_glued_units_and_bold_keys():
    text = (BASE.replace("- Computing power: 400 TFLOPS", "* **Single-card compute power**: "
                         "400TFlops.")
            .replace("- VRAM: 64 GB", "* **Memory capacity**: 64GB")
            .replace("- TTFT: 10s", "- **TTFT**: 500ms\n- **Throughput per GPU**: 100tokens/ms")
            .replace("- Sequence Length: 1024 tokens", "- Sequence Length: 128 ~ 10240"))
    d, _ = scenario_dict_from_card("```\n" + text + "\n---\n```\n", "variant.md")
    assert d["hardware"]["peak_TFLOPS"] == {"bf16": 400.0}
    assert d["hardware"]["hbm_capacity_GB"] == pytest.approx(64)
    assert d["requirements"]["ttft_s"] == pytest.approx(0.5)
    assert d["requirements"]["throughput_tokens_per_ms_per_gpu"] == pytest.approx(100)
    assert d["workload"]["prompt_tokens"] == [128, 10240]


def test_gib_is_kept_distinct_from_gb():
    d, a = card(BASE.replace("64 GB", "64 GiB"))
    assert d["hardware"]["hbm_capacity_GB"] == pytest.approx(64 * 2**30 / 1e9)
    assert has(a, "GiB", "GB")


def test_throughput_in_tokens_per_second_is_converted():
    d, _ = card(BASE.replace("- TTFT: 10s", "- Throughput per GPU: 5000 tokens/s"))
    assert d["requirements"]["throughput_tokens_per_ms_per_gpu"] == pytest.approx(5.0)


def test_time_units():
    d, _ = card(BASE.replace("- TTFT: 10s", "- TTFT: 2 seconds\n- TPOT: 50 ms"))
    assert d["requirements"] == {"ttft_s": 2.0, "tpot_s": pytest.approx(0.05)}
    d, _ = card(BASE.replace("- TTFT: 10s", "- TPOT: 200us"))
    assert d["requirements"]["tpot_s"] == pytest.approx(200e-6)


@pytest.mark.parametrize("line", ["- Top-k: 4", "- Top-4 expert routing", "- Routing: top-4",
                                  "- 4 experts per token"])
def test_top_k_spellings(line):
    d, a = card(BASE.replace("- MoE Hidden Size: 1024", "- MoE Hidden Size: 1024\n" + line))
    assert d["model"]["top_k"] == 4
    assert not has(a, "no top-k stated")


def test_experts_inside_the_layers_line_and_synonyms():
    text = (BASE.replace("- Layers: 16\n- Experts per Layer: 16\n",
                         "- Layers: 24-layer, Multi-head attention + Mixture of experts, "
                         "Each layer has 64 experts\n")
            .replace("Attention Heads: 16 x 32", "Dimension of MHA: The number of heads is 16 "
                     "and the dimension of each heads is 32")
            .replace("MoE Hidden Size", "Hidden size of MOE"))
    d, _ = scenario_dict_from_card(text, "variant.md")
    assert d["model"]["num_layers"] == 24 and d["model"]["num_experts"] == 64
    assert d["model"]["attention"]["num_heads"] == 16
    assert d["model"]["attention"]["head_dim"] == 32
    assert d["model"]["expert_intermediate_size"] == 1024


def test_prompt_range_spellings():
    for s in ("[128, 10240]", "128 ~ 10240", "128 - 10240 tokens", "128 to 10240",
              "from 128 to 10,240 tokens"):
        d, _ = card(BASE.replace("1024 tokens", s))
        assert d["workload"]["prompt_tokens"] == [128, 10240], s
    d, _ = card(BASE.replace("1024 tokens", "1024 tokens per sequence"))
    assert d["workload"]["prompt_tokens"] == 1024


def test_gpu_limit_and_no_limit():
    d, a = card(BASE.replace("## Hardware\n", "## Hardware\n- GPUs: 64\n"))
    assert d["max_gpus"] == 64
    d, a = card(BASE.replace("## Hardware\n", "## Hardware\n- GPUs: Ample GPU resources, "
                             "no limits.\n"))
    assert "max_gpus" not in d
    assert has(a, "default search budget")
    assert not has(a, "ignored")


def test_heads_times_head_dim_differs_from_hidden_is_a_note_not_an_error():
    d, a = card(BASE.replace("16 x 32", "32 x 128"))
    assert d["model"]["attention"]["num_heads"] == 32
    assert d["model"]["attention"]["head_dim"] == 128
    assert has(a, "differs from the hidden size 512")


def test_unknown_line_is_noted_with_its_number():
    _, a = card(BASE.replace("- MoE Hidden Size: 1024", "- MoE Hidden Size: 1024\n"
                             "- Expert load balancing"))
    assert has(a, "line 15 ignored", "Expert load balancing")
    _, a = card(BASE.replace("- MoE Hidden Size: 1024", "- MoE Hidden Size: 1024\n"
                             "- Favourite colour: blue"))
    assert has(a, "line 15 ignored", "Favourite colour")


def test_missing_defaults_are_recorded():
    text = (BASE.replace("- MFU: 60%\n", "").replace("- Bandwidth utilization: 80%\n", "")
            .replace("- Precision: BF16\n", ""))
    d, a = scenario_dict_from_card(text, "variant.md")
    assert d["hardware"]["mfu"] == 0.6 and d["hardware"]["bandwidth_utilization"] == 0.8
    assert d["model"]["precision"] == "bf16"
    assert has(a, "no MFU stated") and has(a, "no bandwidth utilization stated")
    assert has(a, "no precision stated")


def test_gqa_kv_heads():
    d, a = card(BASE.replace("- Attention Heads: 16 x 32", "- Attention Heads: 16 x 32\n"
                             "- KV heads: 4"))
    assert d["model"]["attention"]["num_kv_heads"] == 4
    assert not has(a, "no KV heads stated")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   \n\n"])
def test_empty_card(text):
    with pytest.raises(ParseError) as e:
        scenario_dict_from_card(text, "empty.md")
    assert "hardware section" in str(e.value) and "model section" in str(e.value)
    assert e.value.path == "empty.md"


def test_non_card_text():
    with pytest.raises(ParseError) as e:
        scenario_dict_from_card("# Shopping\n- eggs\n- milk\n", "list.md")
    assert "hardware section" in str(e.value) and "model section" in str(e.value)


def test_layers_many_names_line_and_field():
    with pytest.raises(ParseError) as e:
        card(BASE.replace("- Layers: 16", "- Layers: many"))
    assert e.value.line == 9
    assert "num_layers" in str(e.value)
    assert "variant.md:9" in str(e.value)
    assert "Layers: many" in e.value.text


def test_no_model_section():
    text = BASE.split("## Model Configuration")[0] + "## Input Data\n- Batch Size: 128\n"
    with pytest.raises(ParseError) as e:
        scenario_dict_from_card(text, "variant.md")
    assert "no model section" in str(e.value)


def test_throughput_without_unit_is_an_error():
    with pytest.raises(ParseError) as e:
        card(BASE.replace("- TTFT: 10s", "- Throughput per GPU: 100"))
    assert "tokens/ms" in str(e.value) and e.value.line == 21


def test_moe_without_expert_count_is_an_error():
    with pytest.raises(ParseError) as e:
        card(BASE.replace("- Layers: 16\n- Experts per Layer: 16",
                          "- Layers: 16, Multi-head attention + Mixture of experts"))
    assert "num_experts" in str(e.value)


# --------------------------------------------------------------------------------------------
# The numbers read are valid typed inputs (a minimal mapping; the real one is loaders.py)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [DENSE, MOE10, MOE30, FP8, SEED])
def test_parsed_values_build_valid_typed_inputs(name):
    from analysis.inputs import Attention, Hardware, Model, Strategy, Workload

    d, _ = parse(name)
    hw, m, w = d["hardware"], dict(d["model"]), d["workload"]
    Hardware(hw["name"], tuple((k, v * 1e12) for k, v in hw["peak_TFLOPS"].items()),
             hw["hbm_capacity_GB"] * 1e9, hw["hbm_bandwidth_TB_per_s"] * 1e12,
             mfu=hw["mfu"], bandwidth_utilization=hw["bandwidth_utilization"])
    attention = Attention(**m.pop("attention"))
    p = m.pop("precision")
    params = m.pop("declared_total_params_B", None)
    m.pop("source")
    model = Model(attention=attention, weight_precision=p, kv_precision=p,
                  activation_precision=p,
                  declared_total_params=params * 1e9 if params else None, **m)
    assert model.is_moe == (name != DENSE)
    s = w["prompt_tokens"]
    if isinstance(s, list):
        Workload.from_range(w["batch_sequences"], *s)
    else:
        Workload(w["batch_sequences"], (s,))
    if "current_strategy" in d:
        Strategy.complete(**d["current_strategy"])


def test_table_rows_headless_lines_and_inline_degrees():
    text = """\
| Key | Value |
|---|---|
| GPU | H100 SXM |
| Peak compute | 989 TFLOPS |
| VRAM | 80GB |
| VRAM bandwidth | 3350 GB/s |
| num_hidden_layers | 32 |
| Hidden | 4096 |
| Attention | 32 heads, 8 KV heads, head dim 128 |
| Experts | 8 (top-2) |
| Expert intermediate size | 14336 |
| Prompt length | 8k |

## Current Strategy
- tp=2, ep=4
"""
    d, a = scenario_dict_from_card(text, "table.md")
    assert d["hardware"]["name"] == "H100 SXM"
    assert d["hardware"]["hbm_bandwidth_TB_per_s"] == pytest.approx(3.35)
    assert d["model"]["num_layers"] == 32 and d["model"]["hidden_size"] == 4096
    assert d["model"]["attention"] == {"kind": "gqa", "num_heads": 32, "num_kv_heads": 8,
                                       "head_dim": 128}
    assert d["model"]["num_experts"] == 8 and d["model"]["top_k"] == 2
    assert d["workload"]["prompt_tokens"] == 8192
    assert has(a, "8k", "1024")
    assert d["current_strategy"] == {"ep": 4, "tp": 2, "pp": 1, "dp": 1}


def test_strategy_section_reads_micro_batches_and_redundant_experts():
    text = """## Model Configuration
- Layers: 16
- Experts per Layer: 16
- Token Dimension: 512
- Attention Heads: 16 x 32
- MoE Hidden Size: 1024
## Hardware Environment
- GPU Compute Power: 400 TFlops
- Single-card VRAM: 64 GB
- VRAM Bandwidth: 1.8 TBps
## Input Data
- Batch Size: 128
- Sequence Length: 1024 tokens
## Recommended Parallel Strategy
- Expert Parallelism (EP): 8-way
- Pipeline Parallelism (PP): 2-way
- Prefill Micro-batches: 4
- Redundant Experts: 8
"""
    d, _ = scenario_dict_from_card(text, "plan.md")
    assert d["current_strategy"] == {"ep": 8, "pp": 2, "dp": 1, "microbatches": 4,
                                     "redundant_experts": 8}
