"""Search for serving: every replica layout x concurrency against TTFT/TPOT targets.

The space: replica layouts (``dp = 1``; replicas are added afterwards to carry a rate) with
``tp`` a power of two dividing the query heads, ``dp_attn`` a power of two (MoE only), experts
split either like attention (``etp = tp``, ``ep = dp_attn``) or by expert parallelism alone
(``etp = 1``, ``ep = tp * dp_attn``, when ``ep`` divides the experts), ``pp`` a power of two up to
8 dividing the layers; GPUs per replica up to the budget. Per layout, concurrency (requests in
flight per replica) on the grid 1, 2, 4, ... up to what memory holds, and that limit itself.

1. **Screen** every (layout, concurrency) with the closed-form steady state
   (:func:`analysis.estimate.serving.serve`, about a millisecond each) at the mean lengths.
2. **Confirm** the best screened candidates with the serving simulator
   (:func:`analysis.simulate.run.simulate_objects`): a closed loop of a bounded number of
   requests, TTFT and TPOT read at the target's percentile. The screen gives steady-state
   means, a percentile is higher: after each confirmation the ratio simulated / estimated is
   kept (per metric, the largest seen) and the next candidate must meet the targets with its
   estimate scaled by it. At most ``confirm_max`` runs within ``confirm_time_s``.

Objectives: the highest output tokens/s per GPU meeting the targets; with a request rate, the
fewest GPUs (replicas x GPUs per replica) that carry it. Per-GPU figures do not depend on the
number of replicas, so a larger GPU budget only adds candidates and never lowers the best
tokens/s per GPU.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis import estimate as E
from analysis.estimate import serving_grid as SG
from analysis.inputs.serving import ServingRequirements
from analysis.inputs.types import Scenario, Strategy
from analysis.simulate.profiles import load_profile
from analysis.simulate.run import simulate_objects
from analysis.simulate.workload import make_requests

POW2 = tuple(2 ** i for i in range(11))
REPLICA_DEGREES = ("tp", "dp_attn", "etp", "ep", "pp")


def strategy_of(row) -> Strategy:
    """The replica layout of a table row (its degree columns)."""
    return Strategy(**{k: int(row[k]) for k in REPLICA_DEGREES})


@dataclass(frozen=True)
class SearchOptions:
    """Bounds of the serving search."""

    max_gpus: int | None = None       # GPUs per replica at most (default: the scenario's budget)
    confirm_max: int = 4              # simulator runs at most
    confirm_time_s: float = 4.0       # stop confirming after this long (seconds)
    sim_requests_max: int = 600       # requests per simulated run at most
    estimate: E.Options = field(default_factory=E.Options)


def layout_family(s: Strategy) -> str:
    """Which kinds of parallelism a layout uses: "TP", "TP+EP", "DPattn+EP", "TP+PP", ...;
    "1 GPU" for none."""
    parts = [name for name, on in (("TP", s.tp > 1), ("DPattn", s.dp_attn > 1),
                                   ("EP", s.ep > 1), ("PP", s.pp > 1)) if on]
    return "+".join(parts) or "1 GPU"


def replica_layouts(scenario: Scenario, max_gpus: int) -> list[Strategy]:
    """Every replica layout of the declared space (module docstring) within ``max_gpus``."""
    m = scenario.model
    out: list[Strategy] = []
    pps = [p for p in POW2 if p <= 8 and m.num_layers % p == 0]
    for tp, dp_attn, pp in itertools.product(POW2, POW2, pps):
        g = tp * dp_attn
        if g * pp > max_gpus or m.attention.num_heads % tp or (not m.is_moe and dp_attn > 1):
            continue
        splits = {(tp, dp_attn)}
        if m.is_moe and g > 1 and m.num_experts % g == 0:
            splits.add((1, g))
        for etp, ep in sorted(splits):
            out.append(Strategy(tp=tp, dp_attn=dp_attn, etp=etp, ep=ep, pp=pp))
    return out


def _lengths(sv: ServingRequirements) -> tuple[int, int]:
    return max(1, round(sv.isl_mean)), max(1, round(sv.osl_mean))


def engine_running_cap(scenario: Scenario, sv: ServingRequirements,
                       layouts: list[Strategy]) -> np.ndarray:
    """Requests a replica's engine admits at most: its profile's ``max_running_requests`` per
    attention rank x ``dp_attn`` ranks (``docs/simulate.md``, engine profiles)."""
    caps: dict[int, int] = {}
    for s in layouts:
        if s.tp not in caps:
            profile, _ = load_profile(sv.engine, scenario.hardware.hbm_capacity_bytes, s.tp)
            caps[s.tp] = profile.max_running_requests
    return np.array([caps[s.tp] * s.dp_attn for s in layouts], dtype=float)


def screen(scenario: Scenario, sv: ServingRequirements, layouts: list[Strategy],
           opts: E.Options) -> tuple[pd.DataFrame, list[dict]]:
    """The closed-form steady state of every (layout, concurrency), vectorised
    (:mod:`analysis.estimate.serving_grid`): one row each, and the rejected layouts with their
    reason. Requests run at once are capped by memory and by the engine's running cap."""
    isl, osl = _lengths(sv)
    lay = E.Layouts.from_strategies(layouts)
    reasons = SG.layout_reasons(scenario, lay, isl, osl)
    fit = np.minimum(SG.max_running_requests_grid(scenario, lay, isl, osl, opts),
                     engine_running_cap(scenario, sv, layouts))
    rejected, idx, conc = [], [], []
    for i, s in enumerate(layouts):
        if reasons[i]:
            rejected.append({"layout": s.label(), "gpus": s.gpus, "reason": "; ".join(reasons[i])})
        elif fit[i] < 1:
            rejected.append({"layout": s.label(), "gpus": s.gpus,
                             "reason": f"not even one request of {isl + osl} tokens fits in "
                                       f"memory beside the weights on {scenario.hardware.name}"})
        else:
            grid = SG.geometric_grid(fit[i])
            idx += [i] * len(grid)
            conc += grid
    if not idx:
        return pd.DataFrame(), rejected
    rows = lay.subset(np.array(idx))
    est = SG.closed_loop_grid(scenario, rows, np.array(conc, dtype=float),
                              fit[np.array(idx)], isl, osl, opts)
    table = pd.DataFrame({
        "layout": [layouts[i].label() for i in idx],
        "family": [layout_family(layouts[i]) for i in idx],
        "gpus_per_replica": rows.gpus, **{k: getattr(rows, k) for k in REPLICA_DEGREES},
        "concurrency_per_replica": np.array(conc, dtype=int), "running_max": est["running"],
        "ttft_s": est["ttft_s"], "tpot_s": est["tpot_s"],
        "output_tokens_per_s_per_gpu": est["output_tokens_per_s_per_gpu"],
        "total_tokens_per_s_per_gpu": est["total_tokens_per_s_per_gpu"],
        "tokens_per_s_per_user": est["tokens_per_s_per_user"],
        "requests_per_s_per_replica": est["output_tokens_per_s"] / osl,
        "prefill_share_of_time": 1 - est["decode_s"] / est["iteration_s"],
        "memory_limited": est["memory_limited"]})
    return table, rejected


def throughput_column(sv: ServingRequirements) -> str:
    return {"output": "output_tokens_per_s_per_gpu",
            "total": "total_tokens_per_s_per_gpu"}[sv.throughput_counts]


def meets_mask(df: pd.DataFrame, sv: ServingRequirements, ttft_scale: float = 1.0,
               tpot_scale: float = 1.0) -> np.ndarray:
    """Rows whose latencies, scaled by the percentile-to-estimate ratios, meet the targets, and
    whose throughput meets the per-GPU target."""
    ok = np.ones(len(df), dtype=bool)
    if sv.ttft_s is not None:
        ok &= df["ttft_s"].to_numpy() * ttft_scale <= sv.ttft_s
    if sv.tpot_s is not None:
        ok &= df["tpot_s"].to_numpy() * tpot_scale <= sv.tpot_s
    if sv.throughput_tokens_per_s_per_gpu is not None:
        ok &= df[throughput_column(sv)].to_numpy() >= sv.throughput_tokens_per_s_per_gpu
    return ok


def replicas_for_rate(sv: ServingRequirements, requests_per_s_per_replica: np.ndarray
                      ) -> np.ndarray:
    """Replicas needed to carry the target rate: ``ceil(rate / rate per replica)``; 1 when no
    rate is asked."""
    if sv.request_rate_per_s is None:
        return np.ones(len(requests_per_s_per_replica), dtype=int)
    return np.ceil(sv.request_rate_per_s / np.asarray(requests_per_s_per_replica)
                   - 1e-9).astype(int)


def rank_candidates(df: pd.DataFrame, sv: ServingRequirements) -> pd.DataFrame:
    """Best first: with a request rate the fewest GPUs that carry it, then the highest
    throughput per GPU; without, the highest throughput per GPU, then the fewest GPUs per
    replica."""
    col = throughput_column(sv)
    df = df.assign(replicas=replicas_for_rate(sv, df["requests_per_s_per_replica"]))
    df = df.assign(gpus=df["replicas"] * df["gpus_per_replica"])
    if sv.request_rate_per_s is not None:
        return df.sort_values(["gpus", col, "layout"], ascending=[True, False, True],
                              kind="mergesort")
    return df.sort_values([col, "gpus_per_replica", "layout"], ascending=[False, True, True],
                          kind="mergesort")


def simulate_candidate(scenario: Scenario, sv: ServingRequirements, row: pd.Series,
                       opts: E.Options, max_requests: int, seed: int = 0) -> dict:
    """One closed-loop run of the candidate's replica at its concurrency C: ``max(2 C, min(4 C,
    max_requests))`` requests, the first C (the wave sent together at t = 0) left out of the
    percentiles as warm-up, so TTFT is read in the loop's steady state."""
    s = strategy_of(row)
    c = int(row["concurrency_per_replica"])
    n = max(2 * c, min(4 * c, max_requests))
    req = make_requests(n, sv.prompt_tokens, sv.output_tokens, 0, "closed_loop", None, seed)
    metrics, _, _ = simulate_objects(scenario.hardware, scenario.model, s, req, "closed_loop", c,
                                     sv.engine, opts.mode, warmup_requests=c)
    stat = sv.simulator_stat
    return {"layout": row["layout"], "concurrency_per_replica": c, "num_requests": n,
            "ttft_s": metrics[f"ttft_ms_{stat}"] / 1e3, "tpot_s": metrics[f"tpot_ms_{stat}"] / 1e3,
            "output_tokens_per_s_per_gpu": metrics["output_tokens_per_s_per_gpu"],
            "total_tokens_per_s_per_gpu": metrics["total_tokens_per_s_per_gpu"],
            "requests_per_s_per_replica": metrics["requests_per_s"]}


def confirm(scenario: Scenario, sv: ServingRequirements, ranked: pd.DataFrame,
            so: SearchOptions) -> tuple[pd.Series | None, dict | None, list[dict]]:
    """Simulate the best screened candidates until one meets the targets at the percentile
    (module docstring, step 2): ``(chosen row, its simulated figures, every run)``."""
    scale = {"ttft_s": 1.0, "tpot_s": 1.0}
    runs: list[dict] = []
    tried: set[tuple[str, int]] = set()
    start = time.perf_counter()
    while len(runs) < so.confirm_max and time.perf_counter() - start < so.confirm_time_s:
        ok = meets_mask(ranked, sv, scale["ttft_s"], scale["tpot_s"])
        pool = ranked[ok]
        pool = pool[[(r.layout, r.concurrency_per_replica) not in tried
                     for r in pool.itertuples()]]
        if pool.empty:
            break
        row = pool.iloc[0]
        tried.add((row["layout"], int(row["concurrency_per_replica"])))
        sim = simulate_candidate(scenario, sv, row, so.estimate, so.sim_requests_max)
        sim["meets"] = bool(meets_mask(pd.DataFrame([sim]), sv)[0])
        runs.append(sim)
        if sim["meets"]:
            return row, sim, runs
        for k in scale:
            scale[k] = max(scale[k], sim[k] / float(row[k]))
    return None, None, runs


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points no other point beats on both axes (higher x and higher y better)."""
    order = np.lexsort((-y, -x))
    mask = np.zeros(len(x), dtype=bool)
    best = -np.inf
    for i in order:
        if y[i] > best:
            mask[i], best = True, y[i]
    return mask


def pareto_by_family(df: pd.DataFrame, sv: ServingRequirements) -> dict[str, list[dict]]:
    """Per layout family, the throughput-per-GPU against tokens/s-per-user front: each point's
    layout, concurrency, tokens/s per user and tokens/s per GPU, by tokens/s per user."""
    col = throughput_column(sv)
    out: dict[str, list[dict]] = {}
    for fam, g in df.groupby("family", sort=True):
        m = pareto_mask(g["tokens_per_s_per_user"].to_numpy(), g[col].to_numpy())
        pts = g[m].sort_values("tokens_per_s_per_user")
        out[str(fam)] = [{"layout": r.layout,
                          "concurrency_per_replica": int(r.concurrency_per_replica),
                          "tokens_per_s_per_user": float(r.tokens_per_s_per_user),
                          "tokens_per_s_per_gpu": float(getattr(r, col))}
                         for r in pts.itertuples()]
    return out


def search_aggregated(scenario: Scenario, sv: ServingRequirements, so: SearchOptions) -> dict:
    """Screen, rank and confirm aggregated serving: the chosen candidate (estimated and
    simulated), the table, the fronts and the rejects."""
    budget = so.max_gpus or scenario.fixed_gpus or scenario.max_gpus
    layouts = replica_layouts(scenario, budget)
    table, rejected = screen(scenario, sv, layouts, so.estimate)
    if table.empty:
        return {"chosen": None, "simulated": None, "runs": [], "table": table,
                "rejected": rejected, "layouts": len(layouts), "pareto": {}}
    ranked = rank_candidates(table, sv)
    row, sim, runs = confirm(scenario, sv, ranked, so)
    return {"chosen": row, "simulated": sim, "runs": runs, "table": ranked,
            "rejected": rejected, "layouts": len(layouts), "pareto": pareto_by_family(table, sv),
            "best_estimate": ranked[meets_mask(ranked, sv)].head(1)}


def with_budget(so: SearchOptions, max_gpus: int | None) -> SearchOptions:
    return replace(so, max_gpus=max_gpus)


__all__ = ["SearchOptions", "confirm", "layout_family", "meets_mask",
           "pareto_by_family", "pareto_mask", "rank_candidates", "replica_layouts",
           "replicas_for_rate", "screen", "search_aggregated", "simulate_candidate",
           "strategy_of", "throughput_column"]
