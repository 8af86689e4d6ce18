"""Plans in the shapes people write (issue 14): the scenario card beside a plan that does not
restate its inputs, layouts in every shape, only stated degrees set, a plan whose inputs build no
scenario (once a crash), and one stray line that voids nothing."""

import json
from pathlib import Path

import pytest

from analysis.report import audit as AU

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "tests" / "plans"
SEED_PLAN = ROOT / "examples" / "cards" / "seed-plan.md"     # also a scenario card
SEED_TEXT = SEED_PLAN.read_text(encoding="utf-8")


def _status(res):
    return {v.claim.quantity: v.status for v in res.verdicts}


def test_a_plan_without_inputs_is_checkable_with_its_card():
    plan = PLANS / "no-inputs-plan.md"
    alone = AU.audit(plan)
    assert _status(alone)["memory_per_gpu"] == "not checkable"
    res = AU.audit(plan, card=SEED_PLAN)
    st = _status(res)
    # 'EP = 16', 'TP=4', TP within each expert: the seed's 64 GPUs (16 x 4)
    assert res.strategy.label() == AU.audit(SEED_PLAN).strategy.label()
    assert st["gpu_count"] == "confirmed"
    assert st["memory_per_gpu"] == "wrong"            # the seed's total / 64 error, as before
    assert "not checkable" not in st.values()


def test_cli_takes_the_card(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "analysis", "audit",
                        str(PLANS / "no-inputs-plan.md"), "--card", str(SEED_PLAN), "--json"],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["summary"]["not checkable"] == 0 and d["layout"] == "tp4-dp_attn16-etp4-ep16"


def test_compact_layout_is_read():
    res = AU.audit(PLANS / "compact-layout-plan.md", card=SEED_PLAN)
    s = res.strategy
    assert (s.ep, s.tp, s.etp, s.pp, s.gpus) == (16, 4, 4, 1, 64)
    assert _status(res)["gpu_count"] == "confirmed"


def test_micro_batches_alone_are_no_layout():
    res = AU.audit(PLANS / "microbatches-only-plan.md", card=SEED_PLAN)
    assert res.strategy is None
    assert "micro" in res.read["layout"]
    (v,) = [v for v in res.verdicts if v.claim.quantity == "gpu_count"]
    assert v.status == "not checkable" and "no parallel degree" in v.why


def test_experts_are_not_split_unless_the_plan_says_so():
    """EP 16 and TP 4 on a stated 16 GPUs: experts whole (etp 1), TP inside an attention group
    of 16 EP ranks (dp_attn 4), not etp = tp (64 GPUs)."""
    res = AU.audit(PLANS / "whole-experts-plan.md", card=SEED_PLAN)
    s = res.strategy
    assert (s.ep, s.tp, s.etp, s.dp_attn, s.gpus) == (16, 4, 1, 4, 16)
    assert any("never splits" in a or "experts whole" in a for a in res.assumptions)
    assert _status(res)["gpu_count"] == "confirmed"


@pytest.mark.parametrize("line", ["- Top-k: 32", "- KV Heads: 5"])
def test_inputs_that_build_no_scenario_are_reported_not_a_crash(tmp_path, line):
    """Once `_ours` dereferenced the missing scenario (AttributeError on .requirements)."""
    text = SEED_TEXT.replace("- MoE Hidden Size: 1024", "- MoE Hidden Size: 1024\n" + line)
    p = tmp_path / "plan.md"
    p.write_text(text, encoding="utf-8")
    res = AU.audit(p)
    assert res.scenario is None and res.read["model"].startswith("NOT READ")
    st = _status(res)
    assert st["gpu_count"] == "confirmed"             # needs only the layout
    others = [v for v in res.verdicts
              if AU.QUANTITIES[v.claim.quantity].needs not in (("layout",), ())]
    assert others and all(v.status == "not checkable" for v in others)
    assert all("scenario" in v.why or "could not be read" in v.why for v in others)


def test_a_stray_line_does_not_void_the_model(tmp_path):
    text = SEED_TEXT.replace("- Layers: 16", "- Layers: 16\n- Expert Parameters: 0.62GB")
    p = tmp_path / "plan.md"
    p.write_text(text, encoding="utf-8")
    res = AU.audit(p)
    assert not res.read["model"].startswith("NOT READ")
    assert _status(res) == _status(AU.audit(SEED_PLAN))


# --------------------------------------------------------------------------------------------
# One plan judged claim by claim, each expected verdict written beside its claim
# --------------------------------------------------------------------------------------------

CLAIM_BY_CLAIM = {
    # (line, quantity): verdict                       why
    (6, "gpu_count"): "confirmed",                    # EP 16 x TP 4, TP within each expert
    (9, "ttft"): "confirmed",                         # "<600 s" is an achieved upper bound
    (10, "ttft_target"): "confirmed",                 # the card's TTFT target is 10 s
    (11, "throughput_per_gpu"): "wrong",              # 98.4 tokens/ms, far above ours
    (11, "throughput_target"): "confirmed",           # the card's 100 tokens/ms
    (12, "memory_free"): "confirmed",                 # headroom: 64 GB - 1.82 GB used = 62.2
    (13, "bandwidth_utilization"): "confirmed",       # the card's 80%, an input
    (14, "memory_per_gpu"): "wrong",                  # the seed's total / 64 error
}


def test_claim_by_claim():
    res = AU.audit(PLANS / "claim-by-claim-plan.md", card=SEED_PLAN)
    got = {(v.claim.line_no, v.claim.quantity): v.status for v in res.verdicts}
    assert got == CLAIM_BY_CLAIM
    # the code in the fence is not read as a claim (no "experts per GPU" = 7)
    tick = [f for f in res.findings if f.line_no == 11]
    assert tick and tick[0].verdict == "inconsistent" and "falls short" in tick[0].why
    (ttft,) = [v for v in res.verdicts if v.claim.quantity == "ttft"]
    assert ttft.claim.bound == "upper"


# --------------------------------------------------------------------------------------------
# Property: one garbage line anywhere never changes the verdicts of the other claims
# --------------------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = [SEED_PLAN, PLANS / "claim-by-claim-plan.md"]
_GARBAGE = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
    .filter(lambda t: not t.lstrip().startswith(("#", "```", "~~~", "|", "-", "*", "✓", "[")))
    .map(lambda t: t.replace("\n", " ")),
    st.builds(lambda k, v: f"- {k}: {v}",
              st.sampled_from(["Note", "Expert Parameters", "Misc", "Remark", "Owner"]),
              st.sampled_from(["0.62GB", "banana", "see below", "~3", "n/a", "TBD"])),
)


def _verdicts(text, tmp, card):
    p = tmp / "plan.md"
    p.write_text(text, encoding="utf-8")
    res = AU.audit(p, card=card)
    return {(v.claim.text, v.claim.quantity): v.status for v in res.verdicts}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(EXAMPLES) - 1), where=st.floats(0, 1), garbage=_GARBAGE)
def test_one_garbage_line_changes_no_other_verdict(tmp_path, which, where, garbage):
    plan = EXAMPLES[which]
    card = SEED_PLAN if plan != SEED_PLAN else None
    lines = plan.read_text(encoding="utf-8").splitlines()
    before = _verdicts("\n".join(lines), tmp_path, card)
    at = 1 + int(where * (len(lines) - 1))
    after = _verdicts("\n".join(lines[:at] + [garbage] + lines[at:]), tmp_path, card)
    assert {k: v for k, v in after.items() if k in before} == before
