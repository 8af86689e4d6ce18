"""Tables for the notebooks and the report: each function returns a pandas DataFrame.

All logic lives here, none in the notebooks. Numbers are in SI units (bytes, seconds, FLOP,
FLOP/s, bytes/s) in columns whose names carry the unit; :func:`readable` converts them to the
units a person reads (GB, ms, GFLOP, TFLOP/s, tokens/ms) only at the end.

Notation as in ``analysis.inputs``: B batch (sequences), S prompt length, C context length,
D hidden, F expert FFN width, E routed experts, k top-k, L layers, H heads; layout degrees tp,
dp_attn, etp, ep, pp, dp.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis import anatomy as A
from analysis import estimate as E
from analysis import fmt
from analysis.estimate import formulas as f
from analysis.inputs.types import Hardware, Model, Scenario, Strategy

__all__ = [
    "active_params_table", "anatomy_check", "anatomy_table", "collective_pivot",
    "collective_table",
    "flops_per_token_table", "memory_table", "model_facts_table", "readable",
    "roofline_table", "strategies", "ttft_table",
]

TOTAL = "total"


def strategies(layouts: Iterable[Strategy | str]) -> list[Strategy]:
    """Layouts as :class:`Strategy` values; strings are parsed (``"tp=4,ep=16"``)."""
    return [s if isinstance(s, Strategy) else Strategy.parse(s) for s in layouts]


# --------------------------------------------------------------------------------------------
# Model anatomy
# --------------------------------------------------------------------------------------------

def anatomy_table(model: Model) -> pd.DataFrame:
    """Parameters by component, their share of the total, and the parameters one token uses.

    Columns: component, params, share, active_params (input embedding counted: the Mixtral/Qwen
    convention), active_params_excl_input_embedding (the DeepSeek/gpt-oss convention). The last
    row, ``total``, is the column sum: ``anatomy.total_params`` and ``anatomy.active_params``.
    """
    parts = A.params_by_component(model)
    active = A.active_params_by_component(model, include_input_embedding=True)
    active_excl = A.active_params_by_component(model, include_input_embedding=False)
    total = sum(parts.values())
    rows = [{"component": c, "params": parts[c], "share": parts[c] / total,
             "active_params": active[c], "active_params_excl_input_embedding": active_excl[c]}
            for c in A.COMPONENTS]
    rows.append({"component": TOTAL, "params": total, "share": 1.0,
                 "active_params": sum(active.values()),
                 "active_params_excl_input_embedding": sum(active_excl.values())})
    return pd.DataFrame(rows)


def _per_layer_walk(model: Model, top_k: int | None) -> int:
    """Independent count: walk the L layers one by one and add what each holds.

    Layer i < num_dense_layers has a dense FFN, the others a router, E (or, for active
    parameters, k) routed experts and the shared experts; every layer has attention and two norms.
    Then the embedding, the final norm and the head. ``top_k=None`` counts all E experts.
    """
    norm = A.norm_params(model.hidden_size, model.norm)
    experts = model.num_experts if top_k is None else top_k
    total = 0
    for i in range(model.num_layers):
        total += A.attention_params_per_layer(model) + 2 * norm
        if i < model.num_dense_layers:
            total += A.dense_ffn_params_per_layer(model)
        else:
            total += (A.router_params_per_layer(model) + experts * A.expert_params(model)
                      + A.shared_experts_params_per_layer(model))
    head = A.head_params(model)
    if top_k is not None and model.tie_word_embeddings:
        head = 0  # the tied table is counted once, as the embedding
    return total + A.embedding_params(model) + norm + head


def anatomy_check(model: Model) -> pd.DataFrame:
    """nanoGPT-style cross-checks: each breakdown's sum against an independent count.

    Rows: total parameters (component sum vs a layer-by-layer walk), active parameters with the
    input embedding (same, with k experts per MoE layer), weight bytes (``weight_bytes`` vs
    ``params * bytes per param`` by precision). Columns: check, breakdown_sum, independent,
    match (exact for counts, 1e-12 relative for bytes).
    """
    expert = A.expert_params_total(model)
    wb = A.weight_bytes(model)
    rows = [
        ("total params: components vs layer walk",
         A.total_params(model), _per_layer_walk(model, None)),
        ("active params: components vs layer walk",
         A.active_params(model, include_input_embedding=True),
         _per_layer_walk(model, model.top_k if model.is_moe else None)),
        ("weight bytes: by part vs params x bytes/param",
         sum(wb.values()),
         expert * model.expert_weight_bytes_per_param
         + (A.total_params(model) - expert) * model.weight_bytes_per_param),
    ]
    return pd.DataFrame([{"check": c, "breakdown_sum": a, "independent": b,
                          "match": bool(math.isclose(a, b, rel_tol=1e-12))}
                         for c, a, b in rows])


def active_params_table(model: Model) -> pd.DataFrame:
    """Active parameters per token under both publishers' conventions, with the declared
    figure when the model states one (columns: convention, active_params, declared_active_params).
    """
    declared = model.declared_active_params
    return pd.DataFrame([
        {"convention": "input embedding counted (Mixtral, Qwen, OLMoE)",
         "active_params": A.active_params(model, True), "declared_active_params": declared},
        {"convention": "input embedding not counted (DeepSeek, gpt-oss)",
         "active_params": A.active_params(model, False), "declared_active_params": declared},
    ])


def model_facts_table(model: Model) -> pd.DataFrame:
    """Headline facts of a model: total and active parameters, weight and KV-cache bytes
    (columns: quantity, value, unit)."""
    wb = A.weight_bytes(model)
    rows = [
        ("total parameters", A.total_params(model), "params"),
        ("declared total parameters", model.declared_total_params, "params"),
        ("active parameters, input embedding counted", A.active_params(model, True), "params"),
        ("active parameters, input embedding not counted", A.active_params(model, False),
         "params"),
        ("weight bytes (all GPUs together)", sum(wb.values()), "bytes"),
        ("KV-cache bytes per token (all L layers)", A.kv_cache_bytes_per_token(model), "bytes"),
        ("KV-cache elements per token per layer",
         A.kv_cache_elements_per_token_per_layer(model), "elements"),
    ]
    df = pd.DataFrame(rows, columns=["quantity", "value", "unit"])
    df["readable"] = [_readable_value(v, u) for v, u in zip(df["value"], df["unit"], strict=True)]
    return df


def _readable_value(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not declared"
    if unit == "params":
        return fmt.params(value)
    if unit == "bytes":
        return fmt.gb(value) if value >= 1e8 else f"{value:,.0f} B"
    return f"{value:,.0f} {unit}"


def flops_per_token_table(model: Model, prompt_tokens: int, context_tokens: int
                          ) -> pd.DataFrame:
    """FLOPs per token by op: prefill of an S-token prompt (averaged over its S tokens) and
    decode of one token at context C; the last row is the total.

    Columns: op, prefill_flops_per_token, decode_flops_per_token.
    """
    pre = A.prefill_flops_by_op(model, prompt_tokens)
    dec = A.decode_flops_by_op(model, context_tokens)
    rows = [{"op": op, "prefill_flops_per_token": pre[op] / prompt_tokens,
             "decode_flops_per_token": dec[op]} for op in pre]
    rows.append({"op": TOTAL, "prefill_flops_per_token": sum(pre.values()) / prompt_tokens,
                 "decode_flops_per_token": sum(dec.values())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

def memory_table(scenario: Scenario, layouts: Sequence[Strategy | str],
                 opts: E.Options | None = None) -> pd.DataFrame:
    """Memory per GPU by component for each layout (one row per layout).

    Columns: layout, gpus, ``<component>_bytes`` for each of ``estimate.MEMORY_COMPONENTS``,
    total_bytes (their sum), capacity_bytes (HBM of one GPU), fits. Invalid layouts raise
    :class:`~analysis.errors.LayoutError` with every reason.
    """
    opts = opts or E.Options()
    strats = strategies(layouts)
    for s in strats:
        E.check_strategy(scenario.model, scenario.workload, s)
    lay = E.Layouts.from_strategies(strats)
    mem = E.memory_per_gpu_bytes(scenario.hardware, scenario.model, scenario.workload,
                                 scenario.requirements.memory_reserve_fraction, lay, opts)
    cap = scenario.hardware.hbm_capacity_bytes
    df = pd.DataFrame({"layout": [s.label() for s in strats], "gpus": [s.gpus for s in strats]})
    for c in E.MEMORY_COMPONENTS:
        df[f"{c}_bytes"] = np.asarray(mem[c], dtype=float)
    df["total_bytes"] = df[[f"{c}_bytes" for c in E.MEMORY_COMPONENTS]].sum(axis=1)
    df["capacity_bytes"] = float(cap)
    df["fits"] = df["total_bytes"] <= cap
    return df


# --------------------------------------------------------------------------------------------
# Roofline
# --------------------------------------------------------------------------------------------

def roofline_table(scenario: Scenario, strategy: Strategy | str,
                   opts: E.Options | None = None) -> pd.DataFrame:
    """Every op of the busiest stage, per GPU for one stage step, in prefill (longest prompt,
    the batch's micro-batch) and decode (longest context, one new token per sequence).

    Columns: phase, op, flops, hbm_bytes, comm_bytes, intensity_flops_per_byte (NaN for
    communication ops), compute_s, memory_s, comm_s, overhead_s (the fixed cost of the op's
    kernels), time_s (= max of the three + overhead_s), bound,
    achieved_flops_per_s (= flops / time_s). Ops the model lacks (zero work) are left out.
    With ``overlap_fraction`` 0 the ``time_s`` of a phase sum to one stage step.
    """
    (strat,) = strategies([strategy])
    est = E.estimate(scenario, strat, opts)
    rows = []
    for phase, ops in (("prefill", est.prefill_ops), ("decode", est.decode_ops)):
        for r in ops:
            if r["flops"] == 0 and r["hbm_bytes"] == 0 and r["comm_bytes"] == 0:
                continue
            rows.append({"phase": phase, **r})
    df = pd.DataFrame(rows)
    df["intensity_flops_per_byte"] = np.where(
        df["hbm_bytes"] > 0, df["flops"] / df["hbm_bytes"].where(df["hbm_bytes"] > 0), np.nan)
    df["achieved_flops_per_s"] = np.where(df["time_s"] > 0,
                                          df["flops"] / df["time_s"].where(df["time_s"] > 0), 0.0)
    cols = ["phase", "op", "flops", "hbm_bytes", "comm_bytes", "intensity_flops_per_byte",
            "compute_s", "memory_s", "comm_s", "overhead_s", "time_s", "bound",
            "achieved_flops_per_s"]
    return df[cols]


# --------------------------------------------------------------------------------------------
# Collectives
# --------------------------------------------------------------------------------------------

def collective_table(hw: Hardware, message_bytes: Sequence[float], group_sizes: Sequence[int],
                     opts: E.Options | None = None) -> pd.DataFrame:
    """Ring all-reduce and EP all-to-all (dispatch + combine) against message size and group.

    ``message_bytes`` M is the buffer one GPU contributes: the tensor all-reduced, or the bytes it
    dispatches (and gets back combined) in an all-to-all. Placement and links as in the estimate:
    N adjacent GPUs, NVLink while N fits in a node (``estimate.link_for_group``), else the
    scale-out network. Link efficiency per ``opts.mode`` (derated by default).

    * all-reduce: ``2(N-1)/N * M / W + 2(N-1) * alpha`` on the slowest link of the ring;
    * all-to-all: ``(N-1)/N * M`` each way (``formulas.ep_all_to_all_time_s``); past one node the
      in-node and cross-node shares run concurrently, each on its link, the slower one counts.

    Columns: collective, tier, group_gpus, message_bytes, wire_bytes_per_gpu (sent per GPU),
    link_bandwidth_bytes_per_s, latency_floor_s (time at M -> 0), time_s,
    bus_bandwidth_bytes_per_s (wire bytes / time, NCCL's "busbw").
    """
    opts = opts or E.Options()
    msg = np.asarray(message_bytes, dtype=float)
    n_msg = len(msg)
    rows = []
    for n in group_sizes:
        bw, lat = (float(x) for x in E.link_for_group(hw, n, opts))
        tier = "NVLink (in node)" if n <= hw.gpus_per_node else "scale-out (across nodes)"
        # ring all-reduce on the group's link
        t_ar = f.ring_all_reduce_time_s(msg, n, bw, lat)
        wire_ar = 2 * (n - 1) / n * msg
        floor_ar = float(f.ring_all_reduce_time_s(0.0, n, bw, lat))
        # all-to-all: remote share (N-1)/N of M, split into in-node and cross-node parts
        in_node = min(n, hw.gpus_per_node)
        frac_intra, frac_inter = (in_node - 1) / n, (n - in_node) / n
        bw_up, lat_up = (float(x) for x in E.link_for_group(hw, 1, opts))
        t_intra = f.ep_all_to_all_time_s(msg, frac_intra, 1, 1.0, 1.0, bw_up, lat_up)
        if frac_inter > 0:
            t_inter = f.ep_all_to_all_time_s(msg, frac_inter, 1, 1.0, 1.0, bw, lat)
            t_a2a = np.maximum(t_intra, t_inter)
            floor_a2a = max(2 * lat_up, 2 * lat)
        else:
            t_a2a = t_intra
            floor_a2a = 2 * lat_up
        if n == 1:
            t_a2a, floor_a2a = np.zeros(n_msg), 0.0
        wire_a2a = 2 * (n - 1) / n * msg                      # dispatch + combine
        for coll, t, wire, floor in (("ring all-reduce", t_ar, wire_ar, floor_ar),
                                     ("EP all-to-all", t_a2a, wire_a2a, floor_a2a)):
            t = np.asarray(t, dtype=float) * np.ones(n_msg)
            rows.append(pd.DataFrame({
                "collective": coll, "tier": tier, "group_gpus": n, "message_bytes": msg,
                "wire_bytes_per_gpu": wire, "link_bandwidth_bytes_per_s": bw,
                "latency_floor_s": floor, "time_s": t,
                "bus_bandwidth_bytes_per_s": np.where(t > 0, wire / np.where(t > 0, t, 1), 0.0),
            }))
    return pd.concat(rows, ignore_index=True)


def _size_label(nbytes: float) -> str:
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= k:
            return f"{nbytes / k:g} {unit}"
    return f"{nbytes:g} B"


def collective_pivot(df: pd.DataFrame, value: str = "time_s", digits: int = 3) -> pd.DataFrame:
    """A wide view of :func:`collective_table` for people: one row per (collective, tier,
    group_gpus), one column per message size. ``value`` "time_s" is shown in µs,
    "bus_bandwidth_bytes_per_s" in GB/s; columns read ``"<unit> @ <message size>"``."""
    scale, unit = {"time_s": (1e6, "µs"), "bus_bandwidth_bytes_per_s": (1e-9, "GB/s"),
                   "latency_floor_s": (1e6, "µs")}[value]
    wide = df.pivot_table(index=["collective", "tier", "group_gpus"], columns="message_bytes",
                          values=value, sort=False)
    wide = wide.reindex(sorted(wide.columns), axis=1) * scale
    wide.columns = [f"{unit} @ {_size_label(m)}" for m in wide.columns]
    return wide.map(lambda x: _sig(x, digits)).reset_index()


# --------------------------------------------------------------------------------------------
# Latency and throughput against prompt length
# --------------------------------------------------------------------------------------------

METRIC_COLUMNS = ("ttft_s", "tpot_s", "e2e_latency_s", "prefill_tokens_per_s_per_gpu",
                  "decode_tokens_per_s_per_gpu", "total_tokens_per_s_per_gpu",
                  "tokens_per_s_per_user", "memory_per_gpu_bytes", "fits_memory")


def ttft_table(scenario: Scenario, layouts: Sequence[Strategy | str],
               opts: E.Options | None = None) -> pd.DataFrame:
    """Long format: one row per (layout, prompt length of the workload), from
    ``estimate.estimate(...).metrics``.

    Columns: layout, gpus, prompt_tokens, then :data:`METRIC_COLUMNS` (ttft_s, tpot_s,
    prefill/decode/total tokens per s per GPU, tokens per s per user, memory, fits_memory).
    """
    rows = []
    for s in strategies(layouts):
        est = E.estimate(scenario, s, opts)
        for m in est.metrics:
            rows.append({"layout": s.label(), "gpus": s.gpus,
                         "prompt_tokens": int(m["prompt_tokens"]),
                         **{c: m[c] for c in METRIC_COLUMNS}})
    df = pd.DataFrame(rows)
    df["fits_memory"] = df["fits_memory"].astype(bool)
    return df


# --------------------------------------------------------------------------------------------
# For people: SI columns to readable units
# --------------------------------------------------------------------------------------------

_BYTES = {"B": 1.0, "KB": 1e-3, "MB": 1e-6, "GB": 1e-9}


def _units(bytes_unit: str) -> tuple[tuple[str, str, float], ...]:
    """(column suffix, new suffix, factor), most specific first."""
    b = _BYTES[bytes_unit]
    return (
        ("_tokens_per_s_per_gpu", "_tokens_per_ms_per_gpu", 1e-3),
        ("_tokens_per_s_per_user", "_tokens_per_s_per_user", 1.0),
        ("_flops_per_s", "_TFLOP_per_s", 1e-12),
        ("_bytes_per_s", "_GB_per_s", 1e-9),
        ("_flops_per_byte", "_flops_per_byte", 1.0),
        ("_flops_per_token", "_GFLOP_per_token", 1e-9),
        ("_bytes_per_gpu", f"_{bytes_unit}_per_gpu", b),
        ("_bytes", f"_{bytes_unit}", b),
        ("_s", "_ms", 1e3),
        # fractions read as percentages: 0.615 -> 61.5 (pandas would print 0.6150 or 0.000123)
        ("_share", "_share_pct", 100.0),
        ("_fraction", "_pct", 100.0),
        ("_utilization", "_utilization_pct", 100.0),
        ("_mfu", "_mfu_pct", 100.0),
    )


_BARE = {"flops": ("GFLOP", 1e-9), "params": ("params_M", 1e-6),
         "active_params": ("active_params_M", 1e-6),
         "active_params_excl_input_embedding": ("active_params_excl_input_embedding_M", 1e-6)}


def _sig(x: float, digits: int) -> float:
    if not isinstance(x, (float, np.floating)) or not math.isfinite(x) or x == 0:
        return x
    return round(float(x), digits - 1 - math.floor(math.log10(abs(x))))


def readable(df: pd.DataFrame, digits: int = 3, bytes_unit: str = "GB") -> pd.DataFrame:
    """A copy for people: SI columns converted by the unit in their name (``_bytes`` ->
    ``bytes_unit``, ``_s`` -> ms, ``_flops_per_s`` -> TFLOP/s, ``_bytes_per_s`` -> GB/s,
    ``_tokens_per_s_per_gpu`` -> tokens/ms, ``flops`` -> GFLOP, params -> millions, fractions
    (``_share``, ``_fraction``, ``_utilization``, ``_mfu``) -> percent), renamed accordingly, and
    floats rounded to ``digits`` significant figures."""
    units = _units(bytes_unit)
    out = df.copy()
    renames = {}
    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            continue
        if col in _BARE:
            new, factor = _BARE[col]
        else:
            match = next(((suf, new_suf, k) for suf, new_suf, k in units if col.endswith(suf)),
                         None)
            if match is None:
                continue
            suf, new_suf, factor = match
            new = col[: -len(suf)] + new_suf
        out[col] = df[col].astype(float) * factor
        renames[col] = new
    out = out.rename(columns=renames)
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda x: _sig(x, digits))
    return out
