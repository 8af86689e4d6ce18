"""The command line: the JSON each command promises, and one clear line for every bad input."""

import json
from pathlib import Path

import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "analysis" / "inputs" / "presets" / "hf_configs"
CARDS = ROOT / "examples" / "cards"


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def run_json(capsys, *argv):
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


def test_anatomy_json_has_the_promised_keys_and_exact_counts(capsys):
    d = run_json(capsys, "anatomy", "mixtral-8x7b")
    for key in ("total_params", "active_params", "kv_cache_bytes_per_token",
                "params_by_component", "assumptions", "warnings"):
        assert key in d
    assert d["total_params"] == 46_702_792_704   # models.csv exact_total_params
    assert d["active_params"] == 12_879_925_248  # models.csv, with the input embedding
    assert sum(d["params_by_component"].values()) == d["total_params"]


@pytest.mark.parametrize("ref", [str(CONFIGS / "deepseek-ai--DeepSeek-V3.json"),
                                 str(CARDS / "moe-64e-fp8-fixed-length.md"), "seed"])
def test_anatomy_reads_every_kind_of_input(capsys, ref):
    d = run_json(capsys, "anatomy", ref)
    assert d["total_params"] > 0


def test_anatomy_of_deepseek_v3_config(capsys):
    d = run_json(capsys, "anatomy", str(CONFIGS / "deepseek-ai--DeepSeek-V3.json"))
    assert d["total_params"] == 671_026_419_200        # models.csv: main model, MTP excluded
    assert d["kv_cache_bytes_per_token"] == 70_272    # (512 + 64) x 61 x 2 B: arXiv 2505.09343


def test_seed_shows_declared_against_derived(capsys):
    d = run_json(capsys, "anatomy", "seed")
    assert d["warnings"] and "10B" in d["warnings"][0] and "452,346,368" in d["warnings"][0]
    assert d["declared_vs_derived"]["disagrees"]


def test_evaluate_json_has_the_promised_keys(capsys):
    d = run_json(capsys, "evaluate", "seed", "--strategy", "tp=4,ep=16,pp=1")
    for key in ("memory_per_gpu_bytes", "ttft_s", "tpot_s", "prefill_tokens_per_ms_per_gpu",
                "decode_tokens_per_ms_per_gpu", "time_breakdown", "assumptions", "warnings"):
        assert key in d
    assert "breakdown" in d["memory_per_gpu_bytes"]
    assert d["strategy"]["gpus"] == 64                   # the seed's EP16 x TP4
    # a complete estimate at both ends of the seed's prompt range
    rows = {r["prompt_tokens"]: r for r in d["metrics_by_prompt_length"]}
    for s in (128, 10240):
        assert all(v == v and v != float("inf") for v in rows[s].values())
        assert rows[s]["ttft_s"] > 0 and rows[s]["tpot_s"] > 0
    assert rows[10240]["ttft_s"] > rows[128]["ttft_s"]


def test_evaluate_accepts_every_degree(capsys):
    d = run_json(capsys, "evaluate", "seed", "--strategy",
                 "tp=2,dp_attn=2,etp=1,ep=4,pp=2,dp=2,mb=2,redundant_experts=4")
    assert d["strategy"]["gpus"] == 16 and d["strategy"]["redundant_experts"] == 4


def test_sol_never_slower_than_derated(capsys):
    a = run_json(capsys, "evaluate", "seed", "--strategy", "ep=8")
    b = run_json(capsys, "evaluate", "seed", "--strategy", "ep=8", "--mode", "sol")
    assert b["ttft_s"] <= a["ttft_s"] and b["tpot_s"] <= a["tpot_s"]


def test_trust_size_declared_uses_the_declared_count(capsys):
    d = run_json(capsys, "anatomy", "seed", "--trust-size", "declared")
    assert d["total_params"] == pytest.approx(10e9, rel=0.01)
    same = run_json(capsys, "anatomy", "mixtral-8x7b", "--trust-size", "declared")
    assert same["total_params"] == 46_702_792_704   # declared and derived agree: unchanged


def test_check_lists_assumptions(capsys):
    rc, out, _ = run(capsys, "check", str(CARDS / "dense-10b-mlp-requirements.md"))
    assert rc == 0 and "assumed:" in out


def _bad(capsys, *argv):
    rc, out, err = run(capsys, *argv)
    assert rc == 2, (argv, out, err)
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_bad_inputs_give_one_clear_line(capsys, tmp_path):
    assert "no model preset of that name" in _bad(capsys, "anatomy", "mixtrall")
    assert "no such file" in _bad(capsys, "anatomy", str(tmp_path / "missing.json"))
    bad_json = tmp_path / "config.json"
    bad_json.write_text('{"model_type": "mixtral",\n "hidden_size": }')
    assert ":2" in _bad(capsys, "anatomy", str(bad_json))          # the line of the error
    bad_yaml = tmp_path / "s.yaml"
    bad_yaml.write_text("name: x\nhardware: [H100-SXM\nmodel: seed-moe\n")
    assert "s.yaml" in _bad(capsys, "check", str(bad_yaml))
    neg = tmp_path / "neg.yaml"
    neg.write_text("name: x\nhardware: H100-SXM\nmodel: {preset: seed-moe, num_layers: -4}\n"
                   "workload: {batch_sequences: 8, prompt_tokens: 128}\n")
    assert "num_layers" in _bad(capsys, "check", str(neg))
    topk = tmp_path / "topk.yaml"
    topk.write_text("name: x\nhardware: H100-SXM\nmodel: {preset: seed-moe, top_k: 20}\n"
                    "workload: {batch_sequences: 8, prompt_tokens: 128}\n")
    assert "top_k" in _bad(capsys, "check", str(topk))
    prec = tmp_path / "prec.yaml"
    prec.write_text("name: x\nhardware: H100-SXM\nmodel: {preset: seed-moe, precision: fp7}\n"
                    "workload: {batch_sequences: 8, prompt_tokens: 128}\n")
    assert "unknown precision" in _bad(capsys, "check", str(prec))
    card = tmp_path / "card.md"
    card.write_text("## Model Configuration\n* **Layers**: many\n")
    assert "card.md" in _bad(capsys, "check", str(card))
    assert "tp=3 does not divide the 16 attention heads" in _bad(
        capsys, "evaluate", "seed", "--strategy", "tp=3")
    assert "unknown degree" in _bad(capsys, "evaluate", "seed", "--strategy", "xp=2")
    assert "declares no parameter count" in _bad(   # the FP8 card states no weights
        capsys, "anatomy", str(CARDS / "moe-64e-fp8-fixed-length.md"), "--trust-size", "declared")


def test_dispatch_and_combine_precisions_from_the_command_line(capsys):
    # seed (fp16): default both 2 B; --combine-precision fp8 halves the combine
    d = run_json(capsys, "evaluate", "seed", "--strategy", "tp=4,ep=16")
    assert any("dispatch at 2 and combine at 2 bytes" in a for a in d["assumptions"])
    d = run_json(capsys, "evaluate", "seed", "--strategy", "tp=4,ep=16",
                 "--dispatch-precision", "fp8", "--combine-precision", "FP8")
    assert any("dispatch at 1 and combine at 1 bytes" in a for a in d["assumptions"])
    rc, _, err = run(capsys, "evaluate", "seed", "--strategy", "tp=4,ep=16",
                     "--combine-precision", "fp9")
    assert rc == 2 and err.startswith("error: --combine-precision = 'fp9': unknown precision")


def test_dispatch_and_combine_precisions_from_scenario_yaml():
    from analysis.inputs.read.scenario import load_scenario

    sc = load_scenario({"hardware": "H100-SXM", "workload": {"batch_sequences": 4,
                                                              "prompt_tokens": 100},
                        "model": {"name": "m", "num_layers": 2, "hidden_size": 1024,
                                  "num_heads": 8, "num_experts": 4, "top_k": 1,
                                  "expert_intermediate_size": 1024, "precision": "fp8",
                                  "dispatch_precision": "fp8", "combine_precision": "fp8"}})
    assert (sc.model.dispatch_precision, sc.model.combine_precision) == ("fp8", "fp8")


def test_plan_without_a_yaml_from_model_and_hardware(capsys):
    """plan --model M --hardware H composes the scenario from presets; the targets arrive as
    requirements (2 s TTFT, 50 ms TPOT), and the JSON says which layout meets them."""
    assert main(["plan", "--model", "mixtral-8x7b", "--hardware", "H100-SXM", "--batch", "32",
                 "--isl", "4096", "--osl", "256", "--ttft", "2", "--tpot", "0.05",
                 "--max-gpus", "16", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    names = " ".join(c["name"] for c in d["checks"])
    assert "TTFT" in names and "TPOT" in names
    assert d["recommended"]["layout"]
    assert "--hardware = 'missing'" in _bad(capsys, "plan", "--model", "mixtral-8x7b")
    assert "--ttft = -1.0: must be positive" in _bad(
        capsys, "plan", "--model", "mixtral-8x7b", "--hardware", "H100-SXM", "--ttft", "-1")
    assert "not both" in _bad(capsys, "plan", "seed", "--model", "mixtral-8x7b")
