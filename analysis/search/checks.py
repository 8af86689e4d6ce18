"""Requirement checks: which throughput a requirement means, every layout's metrics (worst case
over the prompt lengths), a boolean column per requirement, and one layout's checklist."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.estimate.layouts import Layouts, valid_reason
from analysis.estimate.metrics import evaluate_layouts
from analysis.estimate.options import Options
from analysis.inputs.types import DEGREE_NAMES, Scenario, Strategy

THROUGHPUT_COLUMNS = {"prefill": "prefill_tokens_per_s_per_gpu",
                      "decode": "decode_tokens_per_s_per_gpu",
                      "total": "total_tokens_per_s_per_gpu"}
THROUGHPUT_MEANING = {"prefill": "prompt tokens processed per second per GPU during prefill",
                      "decode": "tokens generated per second per GPU during decode",
                      "total": "prompt and generated tokens per second per GPU over whole requests"}


def throughput_reading(scenario: Scenario) -> tuple[str, str]:
    """Which throughput a "throughput per GPU" requirement means, and why.

    Stated in the scenario: that one. Otherwise: when the scenario describes only the prefill
    phase (no TPOT target and no stated output length), prompt tokens processed ("prefill");
    else tokens over whole requests ("total").
    """
    r = scenario.requirements
    if r.throughput_kind:
        return r.throughput_kind, r.throughput_kind_reason or "stated in the scenario"
    if r.tpot_s is None and not scenario.workload.output_tokens_stated:
        return "prefill", ("the scenario gives a TTFT target but no TPOT target and no output "
                           "length, so the only phase it describes is prefill: the requirement is "
                           "read as prompt tokens processed per GPU")
    return "total", ("the scenario describes both phases, so the requirement is read as prompt "
                     "and generated tokens per GPU over whole requests")


@dataclass
class Check:
    """One requirement against one layout: passed, the number, the target, and how it is read."""

    name: str
    passed: bool
    value: float | None
    target: float | None
    unit: str
    detail: str

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "value": self.value,
                "target": self.target, "unit": self.unit, "detail": self.detail}


def evaluate_all(scenario: Scenario, lay: Layouts, opts: Options) -> pd.DataFrame:
    """Metrics of every layout: worst case over the prompt lengths for each requirement."""
    wl = scenario.workload
    per_s = [evaluate_layouts(scenario, lay, opts, s) for s in wl.prompt_lengths_tokens]
    worst = per_s[int(np.argmax(wl.prompt_lengths_tokens))]
    df = pd.DataFrame({n: getattr(lay, n) for n in DEGREE_NAMES})
    df["tbo"] = lay.tbo
    df["gpus"] = lay.gpus
    for key, val in worst.items():
        if key not in ("gpus", "prompt_tokens"):
            df[key] = val
    for col in THROUGHPUT_COLUMNS.values():
        df[f"min_{col}"] = np.min(np.stack([p[col] for p in per_s]), axis=0)
    df["tpot_max_s"] = np.max(np.stack([p["tpot_end_s"] for p in per_s]), axis=0)
    return df


def add_checks(scenario: Scenario, df: pd.DataFrame) -> pd.DataFrame:
    """Add a boolean column per requirement and ``meets_all``."""
    r = scenario.requirements
    df["check_memory"] = df["fits_memory"]
    df["check_ttft"] = True if r.ttft_s is None else df["ttft_s"] <= r.ttft_s
    df["check_tpot"] = True if r.tpot_s is None else df["tpot_max_s"] <= r.tpot_s
    if r.throughput_tokens_per_s_per_gpu is None:
        df["check_throughput"] = True
    else:
        kind, _ = throughput_reading(scenario)
        df["check_throughput"] = (df[f"min_{THROUGHPUT_COLUMNS[kind]}"]
                                  >= r.throughput_tokens_per_s_per_gpu)
    checks = ["check_memory", "check_ttft", "check_tpot", "check_throughput"]
    df["meets_all"] = df[checks].all(axis=1)
    return df


def checks_for(scenario: Scenario, row: pd.Series) -> list[Check]:
    """The checklist of one evaluated layout, each with the number behind it."""
    r = scenario.requirements
    hw = scenario.hardware
    s = Strategy(**{n: int(row[n]) for n in DEGREE_NAMES})
    out = [Check("valid degrees", True, None, None, "",
                 valid_reason(scenario.model, scenario.workload, s))]
    out.append(Check("memory fits with the reserve", bool(row["fits_memory"]),
                     float(row["memory_per_gpu_bytes"]), hw.hbm_capacity_bytes, "bytes",
                     f"{fmt.gb(row['memory_per_gpu_bytes'])} per GPU including a "
                     f"{r.memory_reserve_fraction:.0%} runtime reserve, of "
                     f"{fmt.gb(hw.hbm_capacity_bytes)}"))
    if r.ttft_s is not None:
        out.append(Check("TTFT at the longest prompt", bool(row["ttft_s"] <= r.ttft_s),
                         float(row["ttft_s"]), r.ttft_s, "s",
                         f"{fmt.seconds(row['ttft_s'])} for the batch of "
                         f"{scenario.workload.batch_sequences} at "
                         f"{scenario.workload.max_prompt_tokens} tokens, target "
                         f"{fmt.seconds(r.ttft_s)}"))
    if r.tpot_s is not None:
        out.append(Check("TPOT at the end of generation", bool(row["tpot_max_s"] <= r.tpot_s),
                         float(row["tpot_max_s"]), r.tpot_s, "s",
                         f"{fmt.seconds(row['tpot_max_s'])}, target {fmt.seconds(r.tpot_s)}"))
    if r.throughput_tokens_per_s_per_gpu is not None:
        kind, _ = throughput_reading(scenario)
        v = float(row[f"min_{THROUGHPUT_COLUMNS[kind]}"])
        t = r.throughput_tokens_per_s_per_gpu
        out.append(Check(f"throughput per GPU ({kind})", v >= t, v, t, "tokens/s",
                         f"{fmt.tokens_per_ms(v)} per GPU ({THROUGHPUT_MEANING[kind]}, lowest "
                         f"over the prompt lengths), target {fmt.tokens_per_ms(t)}"))
    return out
