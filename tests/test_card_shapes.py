"""Cards in the shapes people write (issue 14): prose bullets, number words, dense models,
products, strategies under any heading. Hand-written cards in tests/cards/; each expected
value is next to the line of the card it comes from.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from analysis.cli import main
from analysis.inputs.errors import ParseError
from analysis.inputs.read.cards import read_card, scenario_dict_from_card
from analysis.inputs.read.scenario import load_scenario

HERE = Path(__file__).resolve().parent
CARDS = HERE / "cards"
EXAMPLES = HERE.parent / "examples" / "cards"


def card(name: str):
    return read_card((CARDS / name).read_text(encoding="utf-8"), name)


def test_dense_card_in_prose():
    r = card("dense-prose.md")
    m = r.scenario["model"]
    assert m["num_layers"] == 32                           # line 9: 32 decoder layers
    assert m["num_experts"] == 0                           # line 9: a dense MLP (no experts)
    assert m["num_dense_layers"] == 32                     # every layer dense
    assert m["hidden_size"] == 4096                        # line 10: Hidden dimension 4096
    assert m["attention"] == {"kind": "gqa", "num_heads": 32,      # line 11: 32 query heads
                              "num_kv_heads": 8,                   # line 11: 8 KV heads
                              "head_dim": 128}                     # line 11: of size 128
    assert m["dense_intermediate_size"] == 11008           # line 12
    assert m["precision"] == "bf16"                        # line 13
    assert "top_k" not in m                                # dense: no top-k
    assert r.scenario["workload"] == {"batch_sequences": 64,        # line 16: sixty-four
                                      "prompt_tokens": [512, 8192],  # line 17: 512-8192
                                      "output_tokens": 256}          # line 18: Sequence Out
    assert r.scenario["requirements"] == {"ttft_s": 2.0}   # line 21
    assert r.fields["model.num_layers"] == {"value": 32, "line": 9}
    assert r.fields["workload.output_tokens"] == {"value": 256, "line": 18}
    assert r.warnings == []
    sc = load_scenario(CARDS / "dense-prose.md")           # builds valid typed inputs
    assert not sc.model.is_moe and sc.workload.output_tokens == 256


def test_moe_card_in_words_skips_code_and_reads_top_k_in_words():
    r = card("moe-words.md")
    m = r.scenario["model"]
    assert m["num_layers"] == 48                 # line 9 (the fenced "Layers: 999" is skipped)
    assert m["hidden_size"] == 4096              # line 10
    assert m["attention"]["num_heads"] == 32 and m["attention"]["num_kv_heads"] == 8  # line 11
    assert m["attention"]["head_dim"] == 128     # line 11
    assert m["num_experts"] == 64                # line 12: sixty-four experts
    assert m["top_k"] == 6                       # line 12: selects six experts per token
    assert m["expert_intermediate_size"] == 1408  # line 14 (line 13 "Expert type" is no count)
    assert m["precision"] == "fp8"               # line 15
    assert r.scenario["hardware"]["peak_TFLOPS"] == {"fp8": 989.0}   # line 4
    assert r.scenario["workload"] == {"batch_sequences": 256,             # line 24
                                      "prompt_tokens": [1024, 32768],     # line 25: 1k to 32k
                                      "output_tokens": 2048}              # line 26
    assert r.scenario["requirements"] == {"tpot_s": 0.05}               # line 29: 50 ms
    assert "current_strategy" not in r.scenario   # "tp: 8" sits in the skipped code block
    assert any("code blocks skipped: lines 18-20" in a for a in r.assumptions)
    assert any("line 13" in a and "not how many" in a for a in r.assumptions)


def test_total_gpus_product_reads_1024_and_the_degrees():
    r = card("product-1024.md")
    assert r.scenario["current_strategy"] == {"ep": 8, "tp": 8, "pp": 2, "dp": 8}  # line 24
    assert r.fields["current_strategy.gpus"] == {"value": 1024, "line": 24}
    assert r.scenario["model"]["top_k"] == 1      # line 16: a single expert
    assert r.scenario["model"]["attention"]["num_kv_heads"] == 8   # line 14 (table rows: 5-7)
    assert r.scenario["hardware"]["hbm_capacity_GB"] == 141.0      # line 6 (a table row)
    assert r.warnings == []
    sc = load_scenario(CARDS / "product-1024.md")
    assert sc.current_strategy.gpus == 1024       # 8 x 8 x 2 x 8


def test_strategy_under_baseline_with_a_gpu_count_choosing_tp_inside_ep():
    r = card("baseline-nested.md")
    # line 22: EP32-TP4; line 23: GPUs: 32 = EP, so TP 4 runs inside the 32 EP ranks
    assert r.scenario["current_strategy"] == {"ep": 32, "tp": 4, "pp": 1, "dp": 1, "etp": 1,
                                              "dp_attn": 8}
    assert any("TP 4 runs inside the attention group" in a for a in r.assumptions)
    assert r.scenario["model"]["top_k"] == 2      # line 13: activates two experts
    # lines 18-19: two prompt lengths: a warning, the first kept
    assert r.scenario["workload"]["prompt_tokens"] == 2048
    assert r.warnings == [("line 19: prompt_tokens restated as 4096; the first value 2048 "
                          "(line 18) is kept")]
    assert load_scenario(CARDS / "baseline-nested.md").current_strategy.gpus == 32


def test_strategy_stated_only_under_performance_evaluation():
    r = card("evaluation-strategy.md")
    assert r.scenario["current_strategy"] == {"ep": 8, "tp": 2, "pp": 2, "dp": 1}  # line 21
    assert any("read from 'Performance Evaluation'" in a for a in r.assumptions)
    assert any("dp = 1" in a for a in r.assumptions)     # DP not stated: said, not silent
    assert "ttft_s" not in r.scenario["requirements"]   # "TTFT achieved" is not a target


def test_gpu_count_that_disagrees_with_the_product_is_a_warning():
    text = (CARDS / "product-1024.md").read_text(encoding="utf-8").replace("= 1024", "= 1000")
    r = read_card(text, "x.md")
    assert r.scenario["current_strategy"] == {"ep": 8, "tp": 8, "pp": 2, "dp": 8}
    assert any("not the 1000 written" in w for w in r.warnings)
    assert any("1000 GPUs in total, which differs" in w for w in r.warnings)


def test_check_json_reports_the_strategy_and_field_lines(capsys):
    assert main(["check", str(CARDS / "product-1024.md"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["current_strategy"]["degrees"]["gpus"] == 1024
    assert d["current_strategy"]["can_run"] is True
    assert d["hardware"]["hbm_capacity_bytes"] == 141e9
    assert d["fields_read"]["model.num_layers"] == {"value": 64, "line": 11}
    assert d["workload"]["batch_sequences"] == 1024


def test_check_says_why_a_current_strategy_cannot_run(capsys, tmp_path):
    text = (CARDS / "baseline-nested.md").read_text(encoding="utf-8")
    path = tmp_path / "bad.md"
    path.write_text(text.replace("EP32-TP4", "EP32-TP3").replace("GPUs: 32", "GPUs: 96"))
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cannot run" in out and "tp=3 does not divide the 16 attention heads" in out


def test_one_unreadable_line_does_not_void_the_card():
    text = (EXAMPLES / "moe-10b-16e-requirements.md").read_text(encoding="utf-8")
    base, _ = scenario_dict_from_card(text, "c.md")
    lines = text.splitlines()
    lines.insert(16, "* **Layers**: many")
    got, said = scenario_dict_from_card("\n".join(lines), "c.md")
    assert got == base
    assert any(a.startswith("warning: line 17 not read") for a in said)
    with pytest.raises(ParseError) as e:     # the only layers line unreadable: an error
        seed = (EXAMPLES / "seed-plan.md").read_text(encoding="utf-8")
        scenario_dict_from_card(seed.replace("- Layers: 16", "- Layers: many"), "c.md")
    assert e.value.line == 12 and "num_layers" in str(e.value)


# --------------------------------------------------------------------------------------------
# Property: one garbage line anywhere changes nothing else that is read
# --------------------------------------------------------------------------------------------

ALL_CARDS = sorted(EXAMPLES.glob("*.md")) + sorted(CARDS.glob("*.md"))
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in ALL_CARDS}
BASE = {name: scenario_dict_from_card(t, name)[0] for name, t in TEXTS.items()}

#: Words that state something in a card (a field, a unit, a number, a layout): a garbage
#: line made of other words must not change what the card says.
_MEANINGFUL = re.compile(
    r"\d|\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty"
    r"|seventy|eighty|ninety|hundred|single|pair|couple|dozen|top|moe|mlp|ffn|dense|expert"
    r"|mla|mqa|gqa|mha|latent|query|multi|grouped|mixture|tp|ep|pp|dp|etp|mb|re|no)\b"
    r"|[`~#|*_:=\-]{1}|^\s*$", re.IGNORECASE)
_WORDS = ["lorem", "ipsum", "see", "appendix", "the", "plan", "TODO", "N/A", "ok", "fine",
          "notes", "tbd", "???", "!!", "(draft)", "and", "or", "figure", "table", "below"]
GARBAGE = hs.one_of(
    hs.lists(hs.sampled_from(_WORDS), min_size=1, max_size=6).map(" ".join),
    hs.text(alphabet=string.ascii_letters + " .,;!?()'\"", min_size=1, max_size=40),
    hs.sampled_from(["* **Layers**: many", "- Token Dimension: unknown", "- Batch size: varies",
                     "- Sequence length: long", "> a quoted remark", "<!-- comment -->",
                     "- Expert Parameters: 0.62GB", "* * *"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hs.sampled_from(sorted(TEXTS)), where=hs.floats(0, 1), garbage=GARBAGE)
def test_one_garbage_line_changes_nothing_else(name, where, garbage):
    keyed = garbage.startswith(("* **", "- ", "> ", "<!--", "* * *"))
    if not keyed and _MEANINGFUL.search(garbage):
        return                                          # says something: not garbage
    text = TEXTS[name]
    lines = text.splitlines()
    at = int(where * len(lines))
    lines.insert(at, garbage)
    got, _ = scenario_dict_from_card("\n".join(lines), name)
    assert got == BASE[name]
