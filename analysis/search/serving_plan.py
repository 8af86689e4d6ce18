"""The serving plan: aggregated serving (:mod:`analysis.search.serving`) against disaggregated
prefill and decode (:mod:`analysis.search.disagg`), the winner with its reason, and the cost and
energy of the chosen deployment (:mod:`analysis.estimate.economics`).

Entry point for reports and the CLI: :func:`serving_plan` ``(scenario, opts) -> ServingPlan``;
``ServingPlan.to_dict()`` has units in its keys. The comparison uses the closed-form figures of
both (the simulator has no disaggregated pools); aggregated serving's figures at the percentile
are the simulator's. Disaggregation wins only when it beats aggregated serving by more than
:data:`DISAGG_MARGIN` (a second pool, a KV-transfer network and two schedulers to run).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

from analysis import estimate as E
from analysis.estimate import economics as EC
from analysis.inputs.errors import InputError, MoEPlanError
from analysis.inputs.read.mapping import hardware_from_ref
from analysis.inputs.types import Scenario
from analysis.search import disagg as DG
from analysis.search import serving as SS

DISAGG_MARGIN = 0.10


@dataclass(frozen=True)
class ServingPlanOptions:
    """What :func:`serving_plan` searches: the serving search's bounds and whether xPyD is
    considered (``None``: as the scenario's ``serving.disaggregation`` says)."""

    search: SS.SearchOptions = field(default_factory=SS.SearchOptions)
    disaggregation: bool | None = None


@dataclass
class ServingPlan:
    scenario: str
    hardware: str
    model: str
    requirements: dict
    aggregated: dict
    disaggregated: dict | None
    winner: str | None
    reason: str
    deployment: dict | None
    economics: dict
    pareto: dict
    runs: list
    rejected: list
    layouts_evaluated: int
    candidates_evaluated: int
    assumptions: list
    search_time_s: float
    concurrency_by_layout: dict = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.deployment is not None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["feasible"] = self.feasible
        return d


def _aggregated_summary(sv, out: dict) -> dict:
    row, sim = out["chosen"], out["simulated"]
    if row is None:
        best = out.get("best_estimate")
        why = ("no layout meets the targets even in the closed-form estimate"
               if best is None or len(best) == 0 else
               "no confirmed candidate meets the targets at the percentile in the simulator")
        if out["runs"]:
            r = out["runs"][0]
            why += (f" (the best, {r['layout']} at concurrency {r['concurrency_per_replica']}, "
                    f"simulated TTFT {r['ttft_s']:.3g} s and TPOT {r['tpot_s'] * 1e3:.3g} ms at "
                    f"{sv.percentile})")
        return {"feasible": False, "reason": why}
    per_replica_rps = min(float(row["requests_per_s_per_replica"]),
                          float(sim["requests_per_s_per_replica"]))
    replicas = (1 if sv.request_rate_per_s is None
                else math.ceil(sv.request_rate_per_s / per_replica_rps - 1e-9))
    return {"feasible": True, "layout": row["layout"], "family": row["family"],
            "gpus_per_replica": int(row["gpus_per_replica"]), "replicas": replicas,
            "gpus": replicas * int(row["gpus_per_replica"]),
            "concurrency_per_replica": int(row["concurrency_per_replica"]),
            "concurrency": replicas * int(row["concurrency_per_replica"]),
            "estimate": {"ttft_s": float(row["ttft_s"]), "tpot_s": float(row["tpot_s"]),
                         "output_tokens_per_s_per_gpu": float(row["output_tokens_per_s_per_gpu"]),
                         "total_tokens_per_s_per_gpu": float(row["total_tokens_per_s_per_gpu"]),
                         "tokens_per_s_per_user": float(row["tokens_per_s_per_user"]),
                         "prefill_share_of_time": float(row["prefill_share_of_time"])},
            "simulated": {k: v for k, v in sim.items() if k not in ("layout",)},
            "requests_per_s_per_replica": per_replica_rps}


def choose(sv, agg: dict, dis: dict | None) -> tuple[str | None, str]:
    """Aggregated or disaggregated, and why (closed-form figures of both)."""
    if dis is None or not dis.get("feasible"):
        if not agg["feasible"]:
            return None, ("neither aggregated nor disaggregated serving meets the targets: "
                          f"aggregated: {agg['reason']}; disaggregated: "
                          f"{(dis or {}).get('reason', 'not considered')}")
        why = ("was not considered" if dis is None
               else f"does not meet the targets ({dis['reason']})")
        return "aggregated", f"aggregated: disaggregated serving {why}"
    if not agg["feasible"]:
        differ = dis["prefill"]["layout"] != dis["decode"]["layout"]
        return "disaggregated", (
            f"disaggregated: aggregated serving does not meet the targets ({agg['reason']}); "
            f"separate pools do: prefill on {dis['prefill']['layout']} meets TTFT in batches of "
            f"{dis['prefill']['prompts_per_batch']} prompts, decode on "
            f"{dis['decode']['layout']} meets TPOT at concurrency "
            f"{dis['decode']['concurrency']} with no prefill in its iterations"
            + ("; the two phases want different layouts" if differ else ""))
    a_tps = agg["estimate"]["output_tokens_per_s_per_gpu"]
    d_tps = dis["output_tokens_per_s_per_gpu"]
    a_g, d_g = agg["gpus"], dis["gpus"]
    layouts = (f"prefill on {dis['prefill']['layout']} and decode on {dis['decode']['layout']} "
               f"({dis['ratio']})")
    if sv.request_rate_per_s is not None:
        better = d_g < a_g * (1 - DISAGG_MARGIN)
        what = f"{d_g} GPUs against {a_g} for {sv.request_rate_per_s:g} requests/s"
    else:
        better = d_tps > a_tps * (1 + DISAGG_MARGIN)
        what = (f"{d_tps:,.0f} output tokens/s per GPU against {a_tps:,.0f} "
                f"({d_tps / a_tps - 1:+.0%})")
    same = dis["prefill"]["layout"] == dis["decode"]["layout"] == agg["layout"]
    if better:
        return "disaggregated", (
            f"disaggregated: {what}; {layouts} each run the layout that suits them, and decode "
            f"steps no longer share iterations with prefills, so the TPOT target allows a larger "
            f"batch than aggregated {agg['layout']} at concurrency "
            f"{agg['concurrency_per_replica']}")
    return "aggregated", (
        f"aggregated {agg['layout']}: disaggregated ({layouts}) gives {what}, "
        f"{'the same layout for both phases, ' if same else ''}not more than "
        f"{DISAGG_MARGIN:.0%} better, which does not pay for a second pool and the KV transfer "
        f"({dis['kv_transfer_s'] * 1e3:.2g} ms per request)")


def concurrency_by_layout(table, sv) -> dict[str, int]:
    """Each screened layout's highest concurrency per replica that meets the targets in the
    closed-form screen (layouts that never meet them are left out)."""
    if table is None or len(table) == 0:
        return {}
    ok = table[SS.meets_mask(table, sv)]
    best = ok.groupby("layout")["concurrency_per_replica"].max()
    return {str(k): int(v) for k, v in sorted(best.items())}


def chosen_point(sv, agg: dict, dis: dict | None, winner: str | None, fronts: dict) -> dict | None:
    """The chosen deployment as a point of the throughput-per-GPU against tokens/s-per-user
    plane (closed-form figures, as the fronts), with its family and whether it lies on that
    family's front (an xPyD deployment has no family: ``family`` "xPyD", ``on_front`` None)."""
    col = SS.throughput_column(sv)
    if winner == "aggregated":
        est = agg["estimate"]
        on = any(pt["layout"] == agg["layout"]
                 and pt["concurrency_per_replica"] == agg["concurrency_per_replica"]
                 for pt in fronts.get(agg["family"], []))
        return {"family": agg["family"], "layout": agg["layout"],
                "concurrency_per_replica": agg["concurrency_per_replica"],
                "tokens_per_s_per_user": est["tokens_per_s_per_user"],
                "tokens_per_s_per_gpu": est[col], "on_front": on}
    if winner == "disaggregated":
        return {"family": "xPyD", "layout": dis["ratio"],
                "concurrency_per_replica": dis["decode"]["concurrency"],
                "tokens_per_s_per_user": 1 / dis["tpot_s"], "tokens_per_s_per_gpu": dis[col],
                "on_front": None}
    return None


def _deployment(sv, winner: str | None, agg: dict, dis: dict | None) -> dict | None:
    if winner == "aggregated":
        sim = agg["simulated"]
        tps = sim["output_tokens_per_s_per_gpu"]
        return {"kind": "aggregated", "layout": agg["layout"], "gpus": agg["gpus"],
                "concurrency": agg["concurrency"], "ttft_s": sim["ttft_s"], "tpot_s": sim["tpot_s"],
                "output_tokens_per_s_per_gpu": tps,
                "total_tokens_per_s_per_gpu": sim["total_tokens_per_s_per_gpu"],
                "prefill_share_of_time": agg["estimate"]["prefill_share_of_time"],
                "basis": f"simulated closed loop, {sv.percentile}"}
    if winner == "disaggregated":
        return {"kind": "disaggregated",
                "layout": f"{dis['ratio']}: prefill {dis['prefill']['layout']}, decode "
                          f"{dis['decode']['layout']}",
                "gpus": dis["gpus"],
                "concurrency": dis["decode_instances"] * dis["decode"]["concurrency"],
                "ttft_s": dis["ttft_s"], "tpot_s": dis["tpot_s"],
                "output_tokens_per_s_per_gpu": dis["output_tokens_per_s_per_gpu"],
                "total_tokens_per_s_per_gpu": dis["total_tokens_per_s_per_gpu"],
                "prefill_share_of_time": dis["prefill_instances"] * dis["prefill"]["gpus"]
                / dis["gpus"],
                "basis": f"closed form, {sv.percentile} TTFT as whole batches"}
    return None


def _economics(scenario: Scenario, sv, dep: dict | None) -> dict:
    hw = scenario.hardware
    info = {"price_usd_per_gpu_hour": hw.price_usd_per_gpu_hour,
            "price_source": hw.price_source, "price_date": hw.price_date,
            "board_power_W": hw.board_power_W}
    if dep is None:
        return info
    out_tps = dep["output_tokens_per_s_per_gpu"] * dep["gpus"]
    in_tps = (dep["total_tokens_per_s_per_gpu"] - dep["output_tokens_per_s_per_gpu"]) \
        * dep["gpus"]
    return {**info, **EC.deployment_economics(hw.price_usd_per_gpu_hour, hw.board_power_W,
                                              dep["gpus"], in_tps, out_tps,
                                              dep["prefill_share_of_time"])}


def serving_plan(scenario: Scenario, opts: ServingPlanOptions | None = None) -> ServingPlan:
    """Search aggregated and disaggregated serving for ``scenario``'s ``serving:`` block and
    choose one, with cost and energy. InputError when the scenario has no ``serving:`` block."""
    opts = opts or ServingPlanOptions()
    sv = scenario.serving
    if sv is None:
        raise InputError("serving", None, "this scenario has no serving: block",
                         "add serving: {prompt_tokens, output_tokens, ttft_ms, tpot_ms} "
                         "(docs/scenario-format.md)")
    start = time.perf_counter()
    so = opts.search
    budget = so.max_gpus or scenario.fixed_gpus or scenario.max_gpus
    out = SS.search_aggregated(scenario, sv, replace(so, max_gpus=budget))
    agg = _aggregated_summary(sv, out)
    want_dis = sv.disaggregation if opts.disaggregation is None else opts.disaggregation
    dis = (DG.search_disaggregated(scenario, sv, SS.replica_layouts(scenario, budget), budget,
                                   so.estimate) if want_dis else None)
    winner, reason = choose(sv, agg, dis)
    dep = _deployment(sv, winner, agg, dis)
    return ServingPlan(
        scenario=scenario.name, hardware=scenario.hardware.name, model=scenario.model.name,
        requirements=sv.as_dict(), aggregated=agg, disaggregated=dis, winner=winner,
        reason=reason, deployment=dep, economics=_economics(scenario, sv, dep),
        pareto={"fronts": out["pareto"], "chosen": chosen_point(sv, agg, dis, winner,
                                                               out["pareto"])},
        runs=out["runs"], rejected=out["rejected"],
        layouts_evaluated=out["layouts"], candidates_evaluated=len(out["table"]),
        concurrency_by_layout=concurrency_by_layout(out["table"], sv),
        assumptions=list(scenario.assumptions) + assumptions(sv, so.estimate),
        search_time_s=time.perf_counter() - start)


def compare_hardware(scenario: Scenario, names: list[str],
                     opts: ServingPlanOptions | None = None) -> list[dict]:
    """The best deployment of ``scenario`` on each GPU preset in ``names``, side by side: one
    row per GPU with the plan's winner, layout, GPUs, concurrency, TTFT and TPOT at the
    percentile, output tokens/s per GPU and cost per million tokens."""
    rows = []
    for name in names:
        hw, _ = hardware_from_ref(name.strip(), "--hardware")
        try:
            p = serving_plan(replace(scenario, hardware=hw), opts)
        except MoEPlanError as e:      # this GPU cannot run the model at all (e.g. no fp8)
            rows.append({"hardware": name.strip(), "winner": None, "layout": None,
                         "gpus": None, "concurrency": None, "ttft_s": None, "tpot_s": None,
                         "output_tokens_per_s_per_gpu": None,
                         "price_usd_per_gpu_hour": hw.price_usd_per_gpu_hour,
                         "cost_usd_per_million_output_tokens": None,
                         "cost_usd_per_million_tokens": None, "reason": str(e)})
            continue
        dep, ec = p.deployment or {}, p.economics
        rows.append({"hardware": name.strip(), "winner": p.winner, "layout": dep.get("layout"),
                     "gpus": dep.get("gpus"), "concurrency": dep.get("concurrency"),
                     "ttft_s": dep.get("ttft_s"), "tpot_s": dep.get("tpot_s"),
                     "output_tokens_per_s_per_gpu": dep.get("output_tokens_per_s_per_gpu"),
                     "price_usd_per_gpu_hour": ec.get("price_usd_per_gpu_hour"),
                     "cost_usd_per_million_output_tokens":
                         ec.get("cost_usd_per_million_output_tokens"),
                     "cost_usd_per_million_tokens": ec.get("cost_usd_per_million_tokens"),
                     "reason": p.reason})
    return rows


def assumptions(sv, est: E.Options) -> list[str]:
    return [
        (f"serving: candidates screened with the closed-form steady state at the mean lengths "
        f"({sv.isl_mean:g} prompt + {sv.osl_mean:g} output tokens), {est.mode} mode; the best "
        f"confirmed with the simulator (engine {sv.engine}, closed loop, TTFT and TPOT at "
        f"{sv.percentile})"),
        ("serving: disaggregated figures are closed form (the simulator runs one pool); KV "
        "transfer over one GPU's scale-out link at its efficiency, plus its latency"),
        (f"serving: disaggregation chosen only when more than {DISAGG_MARGIN:.0%} better than "
        f"aggregated serving (a second pool, a KV-transfer network and two schedulers to run)"),
        ("cost: GPU rental only, input and output tokens charged by their phase's share of GPU "
        "time; energy: every GPU at full board power (an upper bound; host and cooling not "
        "counted)"),
    ]
