"""The generated prose of notebooks 09 and 11 (issue 15), on hand-made results with round
numbers: every number and name in the text comes from the result."""

import pandas as pd

from analysis.inputs.strategy import Strategy
from analysis.report import audit
from analysis.report import sensitivity as SE
from analysis.report.audit import AuditResult, Claim, Finding, Verdict
from analysis.report.sensitivity import Analysis, Outcome


def _verdict(quantity, claimed, ours, status, line_no=10):
    claim = Claim("Plan", line_no, "a line", quantity, claimed, "count")
    error = None if status != "wrong" else claimed / ours - 1
    return Verdict(claim, status, ours, error, "exact", "why")


def _audit(strategy):
    verdicts = [_verdict("params_total", 10e9, 0.5e9, "wrong"),    # 10e9 / 0.5e9 = 20x
                _verdict("tp_degree", 4, 2, "wrong"),              # 4 / 2 = 2x
                _verdict("gpu_count", 64, 64, "confirmed"),
                _verdict("top_k", None, None, "not checkable")]
    findings = [Finding("requirement", 25, "Throughput per GPU: 100 tokens/ms", "unchecked",
                        True, "no checklist line"),
                Finding("optimisation", 57, "Micro-batching for prefill", "does not apply", True,
                        "one stage"),
                Finding("optimisation", 61, "Overlap communication", "applies", False, "")]
    return AuditResult("plan.md", None, strategy, verdicts, findings, {}, [], {}, [], [], [])


def test_audit_takeaway_ranks_wrong_claims_and_names_what_the_checklist_misses():
    text = audit.takeaway_markdown(_audit(Strategy(tp=2, ep=2)))
    assert "own layout, `tp2-ep2`, 2 of its 3 checkable claims are wrong" in text
    # largest error first: 20x (ln 20 = 3.0) before 2x (ln 2 = 0.69)
    assert "total parameters (20.0x too high), TP degree (restated) (2.00x too high)" in text
    assert "never checks “Throughput per GPU: 100 tokens/ms”" in text
    assert "cannot apply to its layout: “Micro-batching for prefill”." in text
    assert "Overlap" not in text


def test_audit_takeaway_without_layout_or_checklist():
    res = _audit(None)
    res.verdicts = res.verdicts[2:]            # one confirmed, one not checkable
    res.findings = [Finding("requirement", None, "Validation Checklist", "unchecked", True, "")]
    text = audit.takeaway_markdown(res)
    assert "no layout we could read" in text
    assert "its one checkable claim is confirmed within tolerance" in text
    assert "it has no validation checklist" in text


def _row(name, label, low, base, high, lay_low, lay_high):
    swing = (max(low, base, high) - min(low, base, high)) / base
    return {"input": name, "label": label, "low_text": f"low {name}", "high_text": f"high {name}",
            "metric_low": low, "metric_base": base, "metric_high": high,
            "swing_fraction": swing, "layout_low": lay_low, "layout_high": lay_high,
            "feasible_low": True, "feasible_high": lay_high != "dp4",
            "layout_changed": lay_low != "x" or lay_high != "x", "metric": "throughput_per_gpu"}


def _analysis(layout, gpus):
    base = 200e3                                 # 200 tokens/ms
    rows = [_row("mfu", "MFU", 100e3, base, 300e3, "x", "x"),            # swing (300-100)/200 = 1
            _row("batch", "batch B", base, base, base, "x", "dp4"),
            _row("imbalance", "imbalance", 180e3, base, base, "x", "x"),  # swing 0.1
            *[_row(n, n, base, base, base, "x", "x") for n in SE.reading.LINK_INPUTS]]
    t = pd.DataFrame(rows)
    t[["layout_low", "layout_high"]] = t[["layout_low", "layout_high"]].replace("x", layout)
    t["layout_changed"] = t["input"] == "batch"
    outcome = Outcome(layout, True, gpus, base, 1.0, "decode")
    return Analysis("toy", outcome, "throughput_per_gpu", t, pd.DataFrame(), ["mfu"])


def test_reading_of_a_single_gpu_result():
    text = SE.reading_markdown(_analysis("single-gpu", 1))
    assert "scenario `toy` the planner recommends single-gpu on 1 GPU: it meets every" in text
    assert "decode throughput per GPU, is 200 tokens/ms" in text
    assert ("The longest bar is MFU: at low mfu the metric is 100 tokens/ms, at high mfu "
            "300 tokens/ms, a 100% swing.") in text
    assert "batch B (at low batch: single-gpu; at high batch: dp4 (compromise))" in text
    assert "Scanned for thresholds here: MFU." in text
    assert "a single GPU sends no messages" in text
    assert "swing measures the option, not the hardware" in text      # ep = 1, imbalance moved


def test_reading_of_an_expert_parallel_result_has_no_single_gpu_sentences():
    text = SE.reading_markdown(_analysis("tp2-ep4", 8))
    assert "tp2-ep4 on 8 GPUs" in text
    assert "single GPU" not in text and "measures the option" not in text


def _case(mode, split, kind, metric, error, concurrency=None):
    return {"mode": mode, "split": split, "workload_kind": kind, "metric_kind": metric,
            "error": error, "concurrency": concurrency}


def test_validation_takeaway_reads_medians_of_the_held_out_split():
    from analysis.validation.run import takeaway_markdown
    from analysis.validation.takeaway import pct

    cal = pd.DataFrame([
        _case("calibrated", "held_out", "static", "TTFT", 0.10),
        _case("calibrated", "held_out", "static", "TTFT", -0.30),       # median |e| = 0.20
        _case("calibrated", "held_out", "static", "e2e", 0.20, 1),
        _case("calibrated", "held_out", "static", "e2e", -0.10, 64),
        _case("calibrated", "held_out", "offline", "throughput", -0.5),
        _case("calibrated", "calibration", "static", "TTFT", 9.0)])     # not held out: ignored
    der = cal.assign(mode="derated", error=cal["error"] * 2)
    text = takeaway_markdown(cal, der)
    assert text.startswith("**Takeaway.** In `calibrated` mode, on held-out static batches the "
                           "median |error| is 20% for TTFT, 15% for e2e, against 40%, 30% in "
                           "`derated` mode.")
    assert ("Offline runs (the whole dataset queued): median |error| 50% over 1 held-out case, "
            "1 of them") in text
    assert "Closed-loop" not in text
    assert "goes from +20% at batch 1 to -10% at 64." in text
    assert (pct(0.035), pct(0.131), pct(1.0)) == ("3.5%", "13%", "100%")
