"""The plan audit: every error of the seed plan named with both numbers, a plan written from our
own estimate confirmed claim by claim, one altered number flagged alone, and partial or
malformed plans reported line by line while the rest is still audited."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import estimate as E
from analysis import search as S
from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.read.scenario import load_scenario
from analysis.report import audit as AU

ROOT = Path(__file__).resolve().parents[1]
SEED_PLAN = ROOT / "examples" / "cards" / "seed-plan.md"


@pytest.fixture(scope="module")
def seed():
    return AU.audit(SEED_PLAN)


def _by_quantity(res, q):
    return [v for v in res.verdicts if v.claim.quantity == q]


def _finding(res, pattern):
    hits = [f for f in res.findings if re.search(pattern, f.statement, re.IGNORECASE)]
    assert hits, pattern
    return hits[0]


# --------------------------------------------------------------------------------------------
# The seed plan: each error of reference/README.md named, with the plan's value and ours
# --------------------------------------------------------------------------------------------

def test_seed_declared_size_cannot_come_from_the_dimensions(seed):
    (v,) = _by_quantity(seed, "params_total")
    assert v.status == "wrong" and v.claim.claimed_value == 10e9
    assert v.ours == 452_346_368                      # 16 x 16 x 3 x 512 x 1024 + the rest
    assert "452,346,368" in v.why and "10.00B" in v.why
    assert "10.0B" in seed.markdown and "452.3M" in seed.markdown


def test_seed_prefill_time_ignores_the_batch(seed):
    (v,) = _by_quantity(seed, "prefill_time")
    assert v.claim.printed == "0.00s" and v.claim.claimed_value == 0.0
    assert v.status == "wrong"
    assert v.ours > 0.005                             # beyond the printed rounding of 0.00 s
    assert "batch of 128" in v.why and "ignores the batch" in v.why
    assert re.search(r"ours \d+(\.\d+)? ms", v.why)
    ttft = _by_quantity(seed, "ttft")
    assert ttft and all(t.status == "wrong" for t in ttft)


def test_seed_throughput_is_a_guess_and_the_requirement_is_never_checked(seed):
    (v,) = _by_quantity(seed, "throughput_total")
    assert v.status == "wrong" and v.claim.claimed_value == 640e3 and v.claim.approximate
    assert "10.0 tokens/ms per GPU x 64 GPUs" in v.why
    assert re.search(r"ours [\d,]+ tokens/ms", v.why)
    f = _finding(seed, r"Throughput per GPU: 100 tokens/ms")
    assert f.verdict == "unchecked" and f.problem
    assert "every checklist line is ticked" in f.why
    assert "10.0 tokens/ms per GPU" in f.why and "100 tokens/ms" in f.why
    assert re.search(r"by ours .* tokens/ms per GPU", f.why)


def test_seed_memory_per_gpu_is_total_over_gpu_count(seed):
    mem = _by_quantity(seed, "memory_per_gpu")
    assert [m.claim.printed for m in mem] == ["1.15 GB", "1.2 GB"]
    assert all(m.status == "wrong" for m in mem)
    v = mem[0]
    assert "1.15 GB x 64 GPUs = 73.6 GB" in v.why
    for part in ("non-expert weights", "expert weights", "KV cache", "activations",
                 "communication buffers", "runtime reserve"):
        assert part in v.why
    util = _by_quantity(seed, "memory_utilization")
    assert util and all(u.status == "wrong" for u in util)


def test_seed_impossible_and_inapplicable_optimisations(seed):
    kv = _finding(seed, r"KV cache compression for inactive experts")
    assert kv.verdict == "impossible" and "attention" in kv.why
    mb = _finding(seed, r"Micro-batching")
    assert mb.verdict == "does not apply" and "pp = 1" in mb.why
    ck = _finding(seed, r"Activation checkpointing")
    assert ck.verdict == "does not apply" and "inference" in ck.why
    assert _finding(seed, r"Point-to-point").verdict == "does not apply"


def test_seed_expert_utilisation_is_per_token(seed):
    (v,) = _by_quantity(seed, "expert_utilization")
    assert v.status == "confirmed" and v.ours == pytest.approx(2 / 16)
    assert "ONE token" in v.why and "not how busy" in v.why


def test_seed_counts_gpus_experts_layers(seed):
    assert _by_quantity(seed, "gpu_count")[0].status == "confirmed"
    assert _by_quantity(seed, "degrees_product")[0].status == "confirmed"
    (per_gpu,) = _by_quantity(seed, "experts_per_gpu")
    assert per_gpu.status == "wrong" and per_gpu.ours == pytest.approx(0.25)
    assert "read per GPU" in per_gpu.why and "per EP rank the figure would be 1" in per_gpu.why
    assert _by_quantity(seed, "layers_per_stage")[0].status == "confirmed"
    assert _by_quantity(seed, "expert_gpus")[0].status == "wrong"


def test_seed_audit_compares_with_our_recommendation(seed):
    c = seed.comparison
    assert c["available"] and c["plan"]["gpus"] == 64
    rec = S.plan(load_scenario(SEED_PLAN), progress=False).recommended
    assert c["ours"]["layout"] == rec.label()
    table = AU.comparison_table(seed)
    assert list(table.iloc[:, 0])[:6] == ["layout", "GPUs", "TTFT (longest prompt)",
                                          table.iloc[3, 0], table.iloc[4, 0],
                                          "memory per GPU (used)"]
    assert "## The plan's layout beside our recommendation" in seed.markdown


def test_tolerance_counts_printed_rounding():
    """0.00 s covers up to 0.005 s; ±10% on top of that."""
    q = AU.QUANTITIES["prefill_time"]
    c = AU.Claim("x", 1, "t", "prefill_time", 0.0, "s", "0.00s", 0.005)
    assert abs(c.claimed_value - 0.004) <= q.tolerance * 0.004 + c.rounding
    assert not abs(c.claimed_value - 0.12) <= q.tolerance * 0.12 + c.rounding


# --------------------------------------------------------------------------------------------
# A plan written from our own estimate: every claim confirmed; one altered number flagged alone
# --------------------------------------------------------------------------------------------

def _layouts():
    sc = load_scenario(SEED_PLAN)
    return {"plan's layout": (sc, sc.current_strategy),
            "recommended": (sc, S.plan(sc, progress=False).recommended)}


@pytest.fixture(scope="module", params=["plan's layout", "recommended"])
def clean(request, tmp_path_factory):
    sc, strategy = _layouts()[request.param]
    text = AU.render_plan_md(E.estimate(sc, strategy))
    path = tmp_path_factory.mktemp("clean") / "clean-plan.md"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_clean_plan_every_claim_confirmed(clean):
    path, _ = clean
    res = AU.audit(path)
    assert len(res.verdicts) >= 25
    bad = [(v.claim.line_no, v.claim.text, v.status, v.why) for v in res.verdicts
           if v.status != "confirmed"]
    assert not bad
    assert not [f for f in res.findings if f.problem]
    assert res.unreadable == []


ALTERATIONS = [("- Memory per GPU:", "memory_per_gpu"),
               ("- Expected Prefill Time:", "prefill_time"),
               ("- Throughput: ", "throughput_total"),
               ("- Each stage contains", "layers_per_stage"),
               ("- Expert utilization:", "expert_utilization"),
               ("- Total GPUs:", "gpu_count")]


@pytest.mark.parametrize("prefix, quantity", ALTERATIONS)
def test_one_altered_number_flags_exactly_that_claim(clean, tmp_path, prefix, quantity):
    _, text = clean
    lines = text.splitlines()
    (no,) = [i for i, ln in enumerate(lines) if ln.startswith(prefix)]

    def double(m):
        return f"{float(m.group(0).replace(',', '')) * 2 + 1:g}"

    lines[no] = re.sub(r"\d[\d,]*(?:\.\d+)?", double, lines[no], count=1)
    path = tmp_path / "altered-plan.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = AU.audit(path)
    wrong = [(v.claim.line_no, v.claim.quantity) for v in res.verdicts if v.status == "wrong"]
    assert wrong == [(no + 1, quantity)]
    assert not [v for v in res.verdicts if v.status == "not checkable"]


# --------------------------------------------------------------------------------------------
# Malformed and partial plans
# --------------------------------------------------------------------------------------------

SEED_TEXT = SEED_PLAN.read_text(encoding="utf-8")


def _write(tmp_path, text, name="plan.md"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_empty_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParseError, match="empty file"):
        AU.audit(_write(tmp_path, ""))


def test_not_a_plan_is_a_clear_error(tmp_path):
    with pytest.raises(ParseError, match="not a plan"):
        AU.audit(_write(tmp_path, "hello\nworld\n"))
    with pytest.raises(InputError, match="no such file"):
        AU.audit(tmp_path / "missing.md")


def test_missing_hardware_section_is_reported_and_the_rest_audited(tmp_path):
    lines = SEED_TEXT.splitlines()
    start = lines.index("## Hardware Environment")
    text = "\n".join(lines[:start] + lines[start + 7:])
    res = AU.audit(_write(tmp_path, text))
    assert any("hardware" in u.why for u in res.unreadable)
    assert res.read["hardware"].startswith("NOT READ")
    status = {v.claim.quantity: v.status for v in res.verdicts}
    # what does not rest on the hardware is still judged
    assert status["params_total"] == "wrong"
    assert status["gpu_count"] == "confirmed"
    assert status["layers_per_stage"] == "confirmed"
    assert status["memory_per_gpu"] == "wrong"
    # what does is not checkable, and says why
    for q in ("prefill_time", "ttft", "throughput_total", "memory_utilization"):
        v = next(v for v in res.verdicts if v.claim.quantity == q)
        assert v.status == "not checkable" and "hardware" in v.why
    assert _finding(res, "KV cache compression").verdict == "impossible"
    assert "Not available" in res.markdown


def test_garbled_output_number_names_its_line(tmp_path):
    text = SEED_TEXT.replace("Memory per GPU: 1.15 GB", "Memory per GPU: 1.1.5 gigs")
    res = AU.audit(_write(tmp_path, text))
    no = text.splitlines().index("- Memory per GPU: 1.1.5 gigs") + 1
    assert [u.line_no for u in res.unreadable] == [no]
    assert f"line {no}" in res.markdown
    assert _by_quantity(res, "prefill_time")[0].status == "wrong"     # the rest is audited
    assert _by_quantity(res, "params_total")[0].status == "wrong"


def test_garbled_input_number_names_its_line(tmp_path):
    text = SEED_TEXT.replace("- Layers: 16", "- Layers: many")
    res = AU.audit(_write(tmp_path, text))
    no = text.splitlines().index("- Layers: many") + 1
    assert res.unreadable[0].line_no == no and "many" in res.unreadable[0].why
    assert res.read["model"].startswith("NOT READ")
    status = {v.claim.quantity: v.status for v in res.verdicts}
    assert status["gpu_count"] == "confirmed"          # needs only the layout
    assert status["prefill_time"] == "not checkable"
    assert _finding(res, "KV cache compression").verdict == "impossible"


def test_garbled_degree_leaves_the_layout_unread(tmp_path):
    # "four-way" is read since number words are (issue 14); "several-way" states no degree
    text = SEED_TEXT.replace("Tensor Parallelism (TP): 4-way",
                             "Tensor Parallelism (TP): several-way")
    res = AU.audit(_write(tmp_path, text))
    assert res.strategy is None and res.read["layout"].startswith("NOT READ")
    assert _by_quantity(res, "gpu_count")[0].status == "not checkable"
    assert _by_quantity(res, "params_total")[0].status == "wrong"


def test_wording_order_and_units_vary(tmp_path):
    text = """# Deployment plan

**Model Configuration**
| Field | Value |
|---|---|
| Layers | 16 |
| Token Dimension | 512 |
| Attention Heads | 16 x 32 |
| Experts per Layer | 16 |
| MoE Hidden Size | 1024 |
| Total parameters | 10 billion |

## Hardware
- Single-card computing power: 400 TFLOPS
- Memory capacity: 64 GB
- Memory bandwidth: 1800 GB/s

## Performance Requirements
- Time to first token: 10000 ms
- Throughput per GPU: 100,000 tokens/s

## Input Data
- Batch size: 128
- Sequence length: 128 ~ 10240

## Parallel Strategy
- EP = 16, TP = 4, PP = 1
- Total GPUs: 64

## Expected Performance
| Metric | Value |
|---|---|
| TTFT | ~2 ms |
| Throughput | 10 tokens/ms per GPU |
| Memory per GPU | 1.07 GiB |

## Validation
- [x] Throughput per GPU: 10,000 tokens/s
"""
    res = AU.audit(_write(tmp_path, text))
    got = {v.claim.quantity: v for v in res.verdicts}
    assert got["params_total"].claim.claimed_value == 10e9
    assert got["ttft"].claim.claimed_value == pytest.approx(2e-3)
    assert got["memory_per_gpu"].claim.claimed_value == pytest.approx(1.07 * 2**30)
    assert got["throughput_per_gpu"].claim.claimed_value == pytest.approx(10e3)
    assert all(v.status == "wrong" for q, v in got.items()
               if q in ("params_total", "ttft", "memory_per_gpu", "throughput_per_gpu"))
    assert got["gpu_count"].status == "confirmed"
    assert _finding(res, r"10,000 tokens/s").verdict == "inconsistent"


# --------------------------------------------------------------------------------------------
# CLI, JSON and the committed artefact
# --------------------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis", "audit", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False)


def test_cli_non_plan_exits_2_without_traceback(tmp_path):
    r = _cli(_write(tmp_path, "def f():\n    return 1\n", "code.py"))
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "not a plan" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_cli_json_has_claims_findings_comparison_unreadable():
    r = _cli(SEED_PLAN.relative_to(ROOT), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("claims", "findings", "comparison", "unreadable"):
        assert key in d
    c = d["claims"][0]
    for key in ("section", "line_no", "text", "quantity", "claimed_value", "unit", "status",
                "ours", "error", "tolerance", "why"):
        assert key in c
    assert d["summary"]["wrong"] >= 8


def test_committed_seed_audit_regenerates_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    res = AU.write_audit("examples/cards/seed-plan.md", tmp_path)
    committed = (ROOT / "reports" / "seed-audit" / "audit.md").read_text(encoding="utf-8")
    assert res.path.read_text(encoding="utf-8") == committed, \
        "reports/seed-audit/audit.md is stale: run `make report`"


def test_audit_dir_name():
    assert AU.audit_dir_name("examples/cards/seed-plan.md") == "seed-audit"
    assert AU.audit_dir_name("x/my plan.md") == "my-plan-audit"
