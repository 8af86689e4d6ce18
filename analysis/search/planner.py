"""The planner: enumerate every layout up to a GPU budget (:mod:`analysis.search.space`), estimate
them all at once, check every requirement (:mod:`analysis.search.checks`), and pick a
recommendation (or say honestly that nothing meets the requirements: the binding constraint and
the ceilings no layout can beat). Every candidate is kept, the impossible ones with their reasons
(``strategies.csv``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import anatomy as A
from analysis import fmt
from analysis.estimate.layouts import rejection_reasons, valid_mask
from analysis.estimate.options import Options
from analysis.inputs.errors import MoEPlanError
from analysis.inputs.types import DEGREE_NAMES, Scenario, Strategy, layout_label
from analysis.search.checks import (  # noqa: F401  (THROUGHPUT_MEANING, add_checks re-exported)
    THROUGHPUT_COLUMNS,
    THROUGHPUT_MEANING,
    Check,
    add_checks,
    checks_for,
    evaluate_all,
    throughput_reading,
)
from analysis.search.levers import throughput_levers
from analysis.search.space import POW2, candidate_layouts  # noqa: F401  (POW2 re-exported)


def throughput_ceilings(scenario: Scenario, opts: Options) -> dict[str, dict]:
    """Upper bounds on throughput per GPU that hold for every layout, at the longest prompt.

    * prefill: compute-bound, ``peak * MFU / (prefill FLOPs per prompt token)``;
    * decode: each generated token must read its own sequence's KV cache, so
      ``bandwidth * util / (KV bytes of one sequence at the final context)`` also caps it, as does
      compute, ``peak * MFU / (decode FLOPs per token)``;
    * total: a request of S + O tokens takes at least ``S / C_prefill + O / C_decode``
      GPU-seconds, so ``(S + O) / (S / C_prefill + O / C_decode)``.
    """
    hw, m, wl = scenario.hardware, scenario.model, scenario.workload
    sol = opts.mode == "sol"
    mfu = 1.0 if sol else hw.mfu
    util = 1.0 if sol else hw.bandwidth_utilization
    peak = hw.peak_flops_for(m.activation_precision)
    s = wl.max_prompt_tokens
    pre_flops = sum(A.prefill_flops_by_op(m, s).values()) / s
    ctx = s + wl.output_tokens
    dec_flops = sum(A.decode_flops_by_op(m, ctx).values())
    kv_seq = A.kv_cache_bytes_per_sequence(m, ctx)
    dec_compute = peak * mfu / dec_flops
    dec_memory = hw.hbm_bandwidth_bytes_per_s * util / kv_seq
    pre_ceiling = peak * mfu / pre_flops
    dec_ceiling = min(dec_compute, dec_memory)
    # a whole request spends S / C_prefill + O / C_decode GPU-seconds at best
    total_ceiling = (s + wl.output_tokens) / (s / pre_ceiling + wl.output_tokens / dec_ceiling)
    return {
        "total": {"tokens_per_s_per_gpu": total_ceiling,
                  "resource": "prefill compute and decode "
                              + ("memory bandwidth" if dec_memory < dec_compute else "compute"),
                  "why": f"a request of {s} prompt and {wl.output_tokens} generated tokens needs "
                         f"at least {s} / {pre_ceiling / 1e3:.3g}k + {wl.output_tokens} / "
                         f"{dec_ceiling / 1e3:.3g}k GPU-seconds (prefill and decode ceilings)"},
        "prefill": {"tokens_per_s_per_gpu": pre_ceiling, "resource": "compute",
                    "why": f"each prompt token at {s} tokens costs {pre_flops / 1e9:.3g} GFLOP; "
                           f"{peak / 1e12:.0f} TFLOP/s at {mfu:.0%} MFU"},
        "decode": {"tokens_per_s_per_gpu": dec_ceiling,
                   "resource": "memory bandwidth (KV cache)" if dec_memory < dec_compute
                   else "compute",
                   "why": (f"each generated token reads its sequence's KV cache, "
                           f"{fmt.gb(kv_seq)} at {ctx} tokens, through "
                           f"{hw.hbm_bandwidth_bytes_per_s * util / 1e12:.3g} TB/s effective"
                           if dec_memory < dec_compute else
                           f"each generated token costs {dec_flops / 1e9:.3g} GFLOP")},
    }


@dataclass
class Plan:
    """A search's outcome for one reading of the model."""

    scenario: Scenario
    options: Options
    table: pd.DataFrame                 # every candidate, valid or not, with metrics and checks
    feasible: bool
    recommended: Strategy | None
    recommended_row: pd.Series | None
    label: str                          # "recommended" or "best compromise"
    checks: list[Check]
    throughput_kind: str
    throughput_reason: str
    binding: dict | None                # when infeasible: what binds and what would have to change
    alternatives: pd.DataFrame          # top-N evaluated layouts with why each lost
    objectives: dict[str, dict]         # fewest GPUs / best throughput / lowest TTFT
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> pd.DataFrame:
        return self.table[self.table["valid"]]

    def to_dict(self) -> dict:
        rec = None
        if self.recommended is not None:
            rec = {**self.recommended.as_dict(), "layout": self.recommended.label(),
                   "label": self.label}
        return {
            "scenario": self.scenario.name,
            "feasible": self.feasible,
            "recommended": rec,
            "checks": [c.as_dict() for c in self.checks],
            "throughput_requirement_means": {"kind": self.throughput_kind,
                                             "why": self.throughput_reason},
            "binding_constraint": self.binding,
            "alternatives": self.alternatives.to_dict(orient="records"),
            "objectives": self.objectives,
            "layouts_evaluated": int(self.table["valid"].sum()),
            "layouts_rejected": int((~self.table["valid"]).sum()),
            "assumptions": list(self.scenario.assumptions),
            "warnings": list(self.scenario.warnings) + self.notes,
        }


def _progress(done: int, total: int, start: float, label: str = "searching layouts") -> None:
    """A one-line progress bar on stderr, shown only once the work has taken a second."""
    if time.perf_counter() - start < 1.0:
        return
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run_search(scenario: Scenario, opts: Options | None = None, max_gpus: int | None = None,
               chunk: int = 20000, progress: bool = True,
               redundant_choices: tuple[int, ...] = (0,),
               tbo_choices: tuple[bool, ...] = (False, True)) -> pd.DataFrame:
    """Every candidate layout as a row: degrees, ``tbo`` (two-batch overlap), ``valid`` and
    ``rejected_because``, metrics and requirement checks (metrics are NaN-free: rejected layouts
    carry none)."""
    opts = opts or Options()
    start = time.perf_counter()
    lay = candidate_layouts(scenario, max_gpus, redundant_choices, tbo_choices)
    ok = valid_mask(scenario.model, scenario.workload, lay)
    reasons = rejection_reasons(scenario.model, scenario.workload, lay.subset(~ok))
    good = lay.subset(ok)
    parts = []
    for i in range(0, len(good), chunk):
        part = good.subset(slice(i, i + chunk))
        parts.append(add_checks(scenario, evaluate_all(scenario, part, opts)))
        if progress:
            _progress(min(i + chunk, len(good)), len(good), start)
    valid = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    valid["valid"] = True
    valid["rejected_because"] = ""
    bad = pd.DataFrame({n: getattr(lay.subset(~ok), n) for n in (*DEGREE_NAMES, "tbo")})
    bad["gpus"] = lay.subset(~ok).gpus
    bad["valid"] = False
    bad["rejected_because"] = ["; ".join(r) for r in reasons]
    table = pd.concat([valid, bad], ignore_index=True) if len(bad) else valid
    cols = [table[n].tolist() for n in DEGREE_NAMES]
    table.insert(0, "layout", [layout_label(*vals, tbo=bool(t)) for *vals, t in
                               zip(*cols, table["tbo"].tolist(), strict=True)])
    return table


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of points no other point beats on both axes (higher x better, higher y better)."""
    order = np.lexsort((-y, -x))
    mask = np.zeros(len(x), dtype=bool)
    best_y = -np.inf
    for i in order:
        if y[i] > best_y:
            mask[i] = True
            best_y = y[i]
    return mask


def _why_lost(row: pd.Series, rec: pd.Series, kind_col: str) -> str:
    fails = [n.replace("check_", "") for n in ("check_memory", "check_ttft", "check_tpot",
                                                "check_throughput") if not row[n]]
    if fails:
        return "fails " + ", ".join(fails)
    if row["gpus"] > rec["gpus"]:
        return f"needs {int(row['gpus'])} GPUs against {int(rec['gpus'])}"
    if row[kind_col] >= rec[kind_col] * 0.995:
        return (f"same GPUs and throughput within 0.5%; ranked after it by TTFT "
                f"({fmt.seconds(row['ttft_s'])} against {fmt.seconds(rec['ttft_s'])}) "
                f"and then by search order")
    if row[kind_col] < rec[kind_col]:
        return (f"lower throughput per GPU ({fmt.tokens_per_ms(row[kind_col])} against "
                f"{fmt.tokens_per_ms(rec[kind_col])})")
    return "tied on GPUs and throughput; ranked later"


def _rank(scenario: Scenario, v: pd.DataFrame, kcol: str, feasible: bool
          ) -> tuple[pd.DataFrame, str]:
    """Valid layouts best first, and the label of the first. Feasible: those meeting everything,
    fewest GPUs, then throughput per GPU, then TTFT. Otherwise memory first (a compromise must be
    deployable), then most checks passed, then closeness to the failing targets, then GPUs."""
    if feasible:
        return v[v["meets_all"]].sort_values(["gpus", kcol, "ttft_s"],
                                             ascending=[True, False, True],
                                             kind="mergesort"), "recommended"
    r = scenario.requirements
    score = v[["check_memory", "check_ttft", "check_tpot", "check_throughput"]].sum(axis=1)
    closeness = np.ones(len(v))
    if r.ttft_s is not None:
        closeness *= np.minimum(1, r.ttft_s / v["ttft_s"].to_numpy())
    if r.tpot_s is not None:
        closeness *= np.minimum(1, r.tpot_s / v["tpot_max_s"].to_numpy())
    if r.throughput_tokens_per_s_per_gpu is not None:
        closeness *= np.minimum(1, v[kcol].to_numpy() / r.throughput_tokens_per_s_per_gpu)
    v = v.assign(_score=score.to_numpy(), _close=closeness)
    return v.sort_values(["check_memory", "_score", "_close", "gpus"],
                         ascending=[False, False, False, True], kind="mergesort"), \
        "best compromise"


def _objectives(v: pd.DataFrame, kcol: str, feasible: bool) -> dict[str, dict]:
    """The best layout for each single objective among those meeting everything (else those
    that fit in memory, else all)."""
    pool = v[v["meets_all"]] if feasible else v[v["check_memory"]]
    if pool.empty:
        pool = v
    objectives = {}
    for name, col, asc in (("fewest_gpus", "gpus", True), ("highest_throughput_per_gpu", kcol,
                                                           False), ("lowest_ttft", "ttft_s", True)):
        sort_cols = [col, kcol] if name == "fewest_gpus" else [col]
        sort_asc = [asc, False] if name == "fewest_gpus" else [asc]
        row = pool.sort_values(sort_cols, ascending=sort_asc, kind="mergesort").iloc[0]
        objectives[name] = {"layout": row["layout"], "gpus": int(row["gpus"]),
                            "ttft_s": float(row["ttft_s"]), "tpot_s": float(row["tpot_s"]),
                            "throughput_tokens_per_s_per_gpu": float(row[kcol])}
    return objectives


def plan(scenario: Scenario, opts: Options | None = None, max_gpus: int | None = None,
         top_n: int = 10, progress: bool = True,
         redundant_choices: tuple[int, ...] = (0,),
         tbo_choices: tuple[bool, ...] = (False, True)) -> Plan:
    """Search every layout and choose one.

    Recommended: the fewest GPUs meeting every requirement, ties broken by throughput per GPU
    (the required kind), then lower TTFT. When nothing meets everything: the layout that passes
    the most checks and comes closest to the failing targets, labelled "best compromise".
    """
    opts = opts or Options()
    start = time.perf_counter()
    table = run_search(scenario, opts, max_gpus, progress=progress,
                       redundant_choices=redundant_choices, tbo_choices=tbo_choices)
    kind, why = throughput_reading(scenario)
    kcol = f"min_{THROUGHPUT_COLUMNS[kind]}"
    v = table[table["valid"]].copy()
    if v.empty:
        raise_no_layout(scenario, table, max_gpus or scenario.fixed_gpus or scenario.max_gpus)
    feasible = bool(v["meets_all"].any())
    ranked, label = _rank(scenario, v, kcol, feasible)
    best = ranked.iloc[0]
    rec = Strategy(**{n: int(best[n]) for n in DEGREE_NAMES},
                   two_batch_overlap=bool(best["tbo"]))
    checks = checks_for(scenario, best)

    alts = ranked.iloc[1:top_n + 1].copy()
    alts["why_not_chosen"] = [_why_lost(row, best, kcol) for _, row in alts.iterrows()]
    alt_cols = ["layout", *DEGREE_NAMES, "tbo", "gpus", "ttft_s", "tpot_s", kcol,
                "memory_per_gpu_bytes", "meets_all", "why_not_chosen"]
    alternatives = alts[alt_cols].reset_index(drop=True)

    objectives = _objectives(v, kcol, feasible)

    binding = None if feasible else binding_constraint(scenario, v, best, kind, opts)
    out = Plan(scenario, opts, table, feasible, rec, best, label, checks, kind, why, binding,
               alternatives, objectives)
    out.seconds = time.perf_counter() - start
    return out


def raise_no_layout(scenario: Scenario, table: pd.DataFrame, budget: int) -> None:
    reasons = table["rejected_because"].value_counts().head(3)
    raise MoEPlanError(
        f"no layout up to {budget} GPUs is even valid for {scenario.model.name}; "
        f"most common reasons: " + "; ".join(f"{k} ({n}x)" for k, n in reasons.items()))


def binding_constraint(scenario: Scenario, v: pd.DataFrame, best: pd.Series, kind: str,
                       opts: Options) -> dict:
    """Name what no layout can meet, its ceiling, and what would have to change."""
    r = scenario.requirements
    hw = scenario.hardware
    kcol = f"min_{THROUGHPUT_COLUMNS[kind]}"
    out: dict = {"failed": [], "what_would_have_to_change": []}
    fits = v[v["check_memory"]]
    if fits.empty:
        least = float(v["memory_per_gpu_bytes"].min())
        out["failed"].append({"requirement": "memory", "best_value": least,
                              "target": hw.hbm_capacity_bytes,
                              "resource": "HBM capacity"})
        out["what_would_have_to_change"].append(
            f"no layout fits: the smallest footprint is {fmt.gb(least)} per GPU against "
            f"{fmt.gb(hw.hbm_capacity_bytes)}; a larger GPU budget, more memory per GPU, or a "
            f"smaller batch or context")
        fits = v
    if r.throughput_tokens_per_s_per_gpu is not None and not fits["check_throughput"].any():
        ceilings = throughput_ceilings(scenario, opts)
        best_seen = float(fits[kcol].max())
        target = r.throughput_tokens_per_s_per_gpu
        ceiling = ceilings.get(kind, {})
        entry = {"requirement": f"throughput per GPU ({kind})", "best_value": best_seen,
                 "target": target}
        if ceiling:
            entry.update({"ceiling": ceiling["tokens_per_s_per_gpu"],
                          "resource": ceiling["resource"], "why": ceiling["why"]})
        out["failed"].append(entry)
        factor = target / best_seen
        out["what_would_have_to_change"].append(
            f"throughput per GPU ({kind}) peaks at {fmt.tokens_per_ms(best_seen)} over every "
            f"layout against {fmt.tokens_per_ms(target)} required: {factor:.3g}x short"
            + (f"; the {ceiling['resource']} ceiling is "
               f"{fmt.tokens_per_ms(ceiling['tokens_per_s_per_gpu'])} ({ceiling['why']})"
               if ceiling else "")
            + ". " + throughput_levers(scenario.model, kind, ceiling.get("resource"), best_seen,
                                       ceiling.get("tokens_per_s_per_gpu"),
                                       scenario.workload.batch_sequences))
    if r.ttft_s is not None and not fits["check_ttft"].any():
        best_ttft = float(fits["ttft_s"].min())
        out["failed"].append({"requirement": "TTFT", "best_value": best_ttft, "target": r.ttft_s})
        out["what_would_have_to_change"].append(
            f"the fastest prefill of the batch takes {fmt.seconds(best_ttft)} against "
            f"{fmt.seconds(r.ttft_s)}: a larger GPU budget, a smaller batch or shorter prompts")
    if r.tpot_s is not None and not fits["check_tpot"].any():
        best_tpot = float(fits["tpot_max_s"].min())
        out["failed"].append({"requirement": "TPOT", "best_value": best_tpot, "target": r.tpot_s})
        out["what_would_have_to_change"].append(
            f"the fastest decode step takes {fmt.seconds(best_tpot)} against "
            f"{fmt.seconds(r.tpot_s)}")
    if not out["failed"]:
        out["what_would_have_to_change"].append(
            "each requirement is met by some layout, but no single layout meets them all at "
            "once: relax one target or raise the GPU budget")
    return out
