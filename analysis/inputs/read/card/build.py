"""Scenario cards, part 3: the facts read -> a scenario dict, with every default said."""

from __future__ import annotations

import os
import re

from analysis.inputs.errors import ParseError
from analysis.inputs.read.card.serving import serving_block
from analysis.inputs.read.card.strategy import current_strategy
from analysis.inputs.read.card.values import INPUT_KINDS, CardState, fmt_num
from analysis.inputs.types import COMPUTE_PEAK_KEY

CARD_NEEDS = ("a scenario card needs at least a hardware section (computing power, memory "
              "capacity, memory bandwidth) and a model section (layers, token dimension, "
              "attention heads, and experts with their hidden size or an MLP hidden size), "
              "as '## Heading' followed by 'Key: value' lines")

DEFAULT_TOP_K = 2
DEFAULT_MFU = 0.6
DEFAULT_BANDWIDTH_UTILIZATION = 0.8
DEFAULT_PRECISION = "bf16"


def card_slug(path: str) -> str:
    base = os.path.basename(path)
    base = re.sub(r"\.(md|markdown|txt)$", "", base, flags=re.IGNORECASE)
    s = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    return s or "card"


HARDWARE_FACTS = ("peak_tflops", "hbm_capacity_gb", "hbm_bandwidth_tbs", "mfu",
                   "bandwidth_utilization", "gpu_name", "max_gpus", "gpus_unlimited")
MODEL_FACTS = ("num_layers", "hidden_size", "num_heads", "head_dim", "num_kv_heads",
                "num_experts", "ffn_width_moe", "ffn_width_dense", "precision",
                "declared_total_params_B", "vocab_size", "model_name")


def _check_sections(st: CardState, path: str) -> None:
    """A card needs a hardware and a model section (or facts that belong to them)."""
    has_hw = "hardware" in st.kinds_seen or any(f in st.facts for f in HARDWARE_FACTS)
    has_model = "model" in st.kinds_seen or any(f in st.facts for f in MODEL_FACTS)
    if not has_hw and not has_model:
        raise ParseError(path, f"not a scenario card (no hardware or model section found): "
                               f"{CARD_NEEDS}")
    if not has_model:
        raise ParseError(path, f"no model section: {CARD_NEEDS}")
    if not has_hw:
        raise ParseError(path, f"no hardware section: {CARD_NEEDS}")


def _need(st: CardState, path: str, names: dict[str, str], section: str) -> None:
    """ParseError naming every field of ``names`` the card does not state."""
    missing = [label for name, label in names.items() if name not in st.facts]
    if missing:
        raise ParseError(path, f"{section}: the card does not state {', '.join(missing)}; "
                               f"{CARD_NEEDS}")


def _attention(st: CardState, path: str, assumptions: list[str]) -> dict:
    """Heads, KV heads and head dimension; the head dimension and KV heads defaulted, said."""
    say = assumptions.append
    _need(st, path, {
        "num_layers": "the number of layers (model.num_layers, e.g. 'Layers: 16')",
        "hidden_size": "the token dimension (model.hidden_size, e.g. 'Token Dimension: 512')",
        "num_heads": "the attention heads (model.attention.num_heads, e.g. "
                     "'Attention Heads: 16 x 32')"}, "model")
    D, H = st.get("hidden_size"), st.get("num_heads")
    if "head_dim" in st.facts:
        d_h = st.get("head_dim")
    else:
        if D % H:
            raise ParseError(path, f"model: no head dimension stated and hidden size {D} is not "
                                   f"divisible by {H} heads; write e.g. 'Attention Heads: "
                                   f"{H} x 64'")
        d_h = D // H
        say(f"no head dimension stated: hidden size / heads = {D} / {H} = {d_h}")
    if "num_kv_heads" in st.facts:
        H_kv = st.get("num_kv_heads")
    elif "mqa" in st.flags:
        H_kv = 1
        say("multi-query attention stated: 1 KV head")
    else:
        H_kv = H
        why = ("the card says multi-head attention" if "mha" in st.flags
               else "GQA is named but no KV head count" if "gqa" in st.flags
               else "nothing says otherwise")
        say(f"no KV heads stated: MHA (KV heads = heads = {H}; {why})")
    if H * d_h != D:
        st.note(f"heads x head dim = {H} x {d_h} = {H * d_h} differs from the hidden size {D}: "
                f"kept as stated (attention width may differ from hidden, as in Qwen3)")
    return {"kind": "gqa", "num_heads": H, "num_kv_heads": H_kv, "head_dim": d_h}


def _top_k(st: CardState, assumptions: list[str]) -> int:
    """The top-k stated with a key first, then in input sections, then by line; else 2, said."""
    ks = sorted(st.top_k, key=lambda t: (not t[2], t[1].kind not in INPUT_KINDS, t[1].no))
    if not ks:
        assumptions.append(f"no top-k stated: top-k = {DEFAULT_TOP_K} experts per token (the "
                           f"Mixtral / GShard convention)")
        return DEFAULT_TOP_K
    k, where, _ = ks[0]
    assumptions.append(f"top-k = {k} read from line {where.no}: {where.text.strip()!r}")
    for k2, w2, _ in ks[1:]:
        if k2 != k:
            st.note(f"line {w2.no} states top-{k2}; top-{k} (line {where.no}) is kept")
    return k


def _moe_ffn(st: CardState, path: str, E: int, assumptions: list[str]) -> dict:
    """Experts, their FFN width, dense layers and top-k of an MoE card."""
    say = assumptions.append
    flags = st.flags
    if "dense" in flags:
        st.note(f"line {flags['dense'].no} describes dense layers but {E} experts are "
                f"stated (line {st.line_of('num_experts').no}): read as MoE")
    F = st.get("ffn_width_moe", st.get("ffn_width_dense"))
    if F is None:
        raise ParseError(path, "model: an MoE card needs the experts' hidden size "
                               "(model.expert_intermediate_size, e.g. 'MoE Hidden Size: "
                               "1024')")
    if "ffn_width_moe" not in st.facts:
        say(f"line {st.line_of('ffn_width_dense').no}: the FFN width {F} is read as the "
            f"experts' hidden size")
    n_dense = st.get("num_dense_layers", 0)
    out = {"num_experts": E, "expert_intermediate_size": F, "num_dense_layers": n_dense}
    if n_dense:
        if "dense_intermediate_size" not in st.facts:
            raise ParseError(path, "model: dense layers are stated but not their FFN width "
                                   "(model.dense_intermediate_size, e.g. 'Dense FFN hidden "
                                   "size: 4096')")
        out["dense_intermediate_size"] = st.get("dense_intermediate_size")
    else:
        say("no dense layers stated: every layer is an MoE layer")
    out["top_k"] = _top_k(st, assumptions)
    return out


def _dense_ffn(st: CardState, path: str, E: int | None, assumptions: list[str]) -> dict:
    """The FFN of a dense card (no experts stated, or zero experts)."""
    say = assumptions.append
    flags = st.flags
    if "moe" in flags and E is None:
        raise ParseError(path, "model.num_experts: the card describes a mixture of experts "
                               "but not how many (write e.g. 'Each layer has 16 experts')",
                         line=flags["moe"].no, text=flags["moe"].raw)
    if "ffn_moe" in flags and E is None and "dense" not in flags:
        raise ParseError(path, "model.num_experts: an expert hidden size is stated but not "
                               "the number of experts (write e.g. 'Experts per Layer: 16')",
                         line=flags["ffn_moe"].no, text=flags["ffn_moe"].raw)
    F = st.get("dense_intermediate_size", st.get("ffn_width_dense", st.get("ffn_width_moe")))
    if F is None:
        raise ParseError(path, "model: no FFN width stated (for a dense model the MLP hidden "
                               "size, e.g. 'MLP Hidden Size: 4096'; for an MoE model the "
                               "number of experts and their hidden size)")
    L = st.get("num_layers")
    if "dense" in flags:
        say(f"dense model: line {flags['dense'].no} describes the layers as attention + "
            f"MLP and no experts are stated; the MLP hidden size {F} is the dense FFN width")
    elif E == 0:
        say(f"dense model: the card states no experts; FFN width {F}")
    else:
        say(f"dense model: no experts stated; FFN width {F} read as a dense MLP")
    if st.top_k:
        st.note("a top-k is stated but the model is dense: ignored")
    return {"num_experts": 0, "num_dense_layers": L, "dense_intermediate_size": F}


def _model(st: CardState, path: str, slug: str, assumptions: list[str]) -> dict:
    """The model mapping: layers, hidden size, attention, FFN (MoE or dense), precision."""
    say = assumptions.append
    attention = _attention(st, path, assumptions)
    precision = st.get("precision")
    if precision is None:
        precision = DEFAULT_PRECISION
        say(f"no precision stated: {DEFAULT_PRECISION}")
    model: dict = {"name": st.get("model_name") or slug, "num_layers": st.get("num_layers"),
                   "hidden_size": st.get("hidden_size"), "attention": attention}
    if "model_name" not in st.facts:
        say(f"no model name stated: named '{slug}' after the card")
    E = st.get("num_experts")
    model.update(_moe_ffn(st, path, E, assumptions) if E
                 else _dense_ffn(st, path, E, assumptions))
    model["precision"] = precision
    if "declared_total_params_B" in st.facts:
        model["declared_total_params_B"] = st.get("declared_total_params_B")
    else:
        say("no total parameter count stated: nothing to check the derived count against")
    if "vocab_size" in st.facts:
        model["vocab_size"] = st.get("vocab_size")
    model["source"] = path
    return model


def _hardware(st: CardState, path: str, precision: str, assumptions: list[str]) -> dict:
    """The GPU: its one computing-power figure at the model's precision, memory, bandwidth."""
    say = assumptions.append
    _need(st, path, {
        "peak_tflops": "the computing power (hardware.peak_TFLOPS, e.g. 'Single-card "
                       "computing power: 400 TFLOPS')",
        "hbm_capacity_gb": "the memory capacity (hardware.hbm_capacity_GB, e.g. 'VRAM: 64 GB')",
        "hbm_bandwidth_tbs": "the memory bandwidth (hardware.hbm_bandwidth_TB_per_s, e.g. "
                             "'VRAM Bandwidth: 1.8 TB/s')"}, "hardware")
    ckey = COMPUTE_PEAK_KEY[precision]
    peak = st.get("peak_tflops")
    say(f"the card's single computing-power figure ({fmt_num(peak)} TFLOPS) is taken as the "
        f"dense peak at the model's precision ({precision}, compute key '{ckey}')")
    hardware: dict = {
        "name": st.get("gpu_name") or "card-gpu",
        "peak_TFLOPS": {ckey: peak},
        "hbm_capacity_GB": st.get("hbm_capacity_gb"),
        "hbm_bandwidth_TB_per_s": st.get("hbm_bandwidth_tbs"),
    }
    for name, default, label in (("mfu", DEFAULT_MFU, "MFU"),
                                 ("bandwidth_utilization", DEFAULT_BANDWIDTH_UTILIZATION,
                                  "bandwidth utilization")):
        if name in st.facts:
            hardware[name] = st.get(name)
        else:
            hardware[name] = default
            say(f"no {label} stated: {default:g}")
    hardware["source"] = path
    say("interconnect (NVLink / network) bandwidths and GPUs per node are not in the card: "
        "the hardware defaults apply")
    return hardware


def _workload(st: CardState, assumptions: list[str]) -> dict:
    workload: dict = {}
    if "batch_sequences" in st.facts:
        workload["batch_sequences"] = st.get("batch_sequences")
    else:
        st.note("no batch size stated: the scenario needs one from elsewhere")
    if "prompt_tokens" in st.facts:
        workload["prompt_tokens"] = st.get("prompt_tokens")
    else:
        st.note("no sequence (prompt) length stated: the scenario needs one from elsewhere")
    if "output_tokens" in st.facts:
        workload["output_tokens"] = st.get("output_tokens")
    else:
        assumptions.append("no output length stated: the default output length applies")
    return workload


def _requirements(st: CardState, assumptions: list[str]) -> dict:
    requirements: dict = {}
    for fact, key, label in (("ttft_s", "ttft_s", "TTFT"), ("tpot_s", "tpot_s", "TPOT"),
                             ("throughput_per_ms", "throughput_tokens_per_ms_per_gpu",
                              "throughput per GPU")):
        if fact in st.facts and st.get(fact) is not None:
            requirements[key] = st.get(fact)
        elif fact in st.facts:
            assumptions.append(f"{label}: '{st.line_of(fact).value.strip()}' (line "
                               f"{st.line_of(fact).no}): no {label} target")
        else:
            assumptions.append(f"no {label} target stated")
    return requirements


#: The field a line error names (start of its message) -> the fact that, read on another line,
#: makes the error a warning instead.
_ERROR_FACT = {
    "hardware.peak_TFLOPS": "peak_tflops", "hardware.hbm_capacity_GB": "hbm_capacity_gb",
    "hardware.hbm_bandwidth_TB_per_s": "hbm_bandwidth_tbs", "hardware.mfu": "mfu",
    "hardware.bandwidth_utilization": "bandwidth_utilization",
    "requirements.ttft_s": "ttft_s", "requirements.tpot_s": "tpot_s",
    "requirements.throughput_tokens_per_ms_per_gpu": "throughput_per_ms",
    "serving.percentile": "serving_percentile", "serving.request_rate_per_s": "request_rate_per_s",
    "model.num_layers": "num_layers", "model.hidden_size": "hidden_size",
    "model.attention.num_heads": "num_heads", "model.attention.head_dim": "head_dim",
    "model.attention.num_kv_heads": "num_kv_heads", "model.num_experts": "num_experts",
    "model.expert_intermediate_size": "ffn_width_moe", "model.num_dense_layers":
    "num_dense_layers", "model.precision": "precision", "model.vocab_size": "vocab_size",
    "workload.batch_sequences": "batch_sequences", "workload.output_tokens": "output_tokens",
    "workload.prompt_tokens": "prompt_tokens",
}


def resolve_line_errors(st: CardState) -> None:
    """One unreadable line never voids a card whose other lines state the field: its error
    becomes a warning. An error whose field no other line states is raised (the first by line).
    """
    for err, line in sorted(st.line_errors, key=lambda t: t[1].no):
        field_name = err.why.split(":", 1)[0].strip()
        fact = _ERROR_FACT.get(field_name)
        stated = (fact in st.facts if fact else
                  bool(st.top_k) if field_name == "model.top_k" else
                  field_name.split(".")[-1] in st.strategy
                  if field_name.startswith("current_strategy.") else False)
        if fact == "ffn_width_moe":
            stated = "ffn_width_moe" in st.facts or "ffn_width_dense" in st.facts
        if not stated:
            raise err
        where = st.line_of(fact) if fact else None
        st.warn(f"line {line.no} not read ({err.why}); {field_name} is read from "
                f"{f'line {where.no}' if where else 'another line'}")


def _gpu_budget(st: CardState, scenario: dict, assumptions: list[str]) -> None:
    say = assumptions.append
    if "max_gpus" in st.facts:
        scenario["max_gpus"] = st.get("max_gpus")
        say(f"line {st.line_of('max_gpus').no}: {st.get('max_gpus')} GPUs read as the most "
            f"the plan may use")
    elif "gpus_unlimited" in st.facts:
        say(f"GPUs: '{st.line_of('gpus_unlimited').value.strip()}' (line "
            f"{st.line_of('gpus_unlimited').no}): no GPU limit; the default search budget "
            f"applies")
    else:
        say("no GPU limit stated: the default search budget applies")


def build_scenario(st: CardState, path: str) -> tuple[dict, list[str]]:
    """The scenario dict and the assumptions (defaults said first, then the reading notes)."""
    resolve_line_errors(st)
    _check_sections(st, path)
    assumptions: list[str] = []
    slug = card_slug(path)
    model = _model(st, path, slug, assumptions)
    hardware = _hardware(st, path, model["precision"], assumptions)
    scenario: dict = {"name": slug, "source": path, "hardware": hardware, "model": model,
                      "workload": _workload(st, assumptions),
                      "requirements": _requirements(st, assumptions)}
    serving = serving_block(st, assumptions)
    if serving is not None:
        scenario["serving"] = serving
    strategy = current_strategy(st, assumptions)
    if strategy is not None:
        scenario["current_strategy"] = strategy
    _gpu_budget(st, scenario, assumptions)
    if st.ignored_sections:
        st.note("sections ignored (not inputs): " + ", ".join(st.ignored_sections))
    return scenario, assumptions + st.notes


#: Card fact -> its place in the scenario mapping (units in the names).
FACT_PATH = {
    "peak_tflops": "hardware.peak_TFLOPS", "hbm_capacity_gb": "hardware.hbm_capacity_GB",
    "hbm_bandwidth_tbs": "hardware.hbm_bandwidth_TB_per_s", "mfu": "hardware.mfu",
    "bandwidth_utilization": "hardware.bandwidth_utilization", "gpu_name": "hardware.name",
    "max_gpus": "max_gpus", "num_layers": "model.num_layers", "hidden_size": "model.hidden_size",
    "num_heads": "model.attention.num_heads", "head_dim": "model.attention.head_dim",
    "num_kv_heads": "model.attention.num_kv_heads", "num_experts": "model.num_experts",
    "ffn_width_moe": "model.expert_intermediate_size",
    "ffn_width_dense": "model.ffn_intermediate_size",
    "dense_intermediate_size": "model.dense_intermediate_size",
    "num_dense_layers": "model.num_dense_layers", "precision": "model.precision",
    "declared_total_params_B": "model.declared_total_params_B", "vocab_size": "model.vocab_size",
    "model_name": "model.name", "batch_sequences": "workload.batch_sequences",
    "prompt_tokens": "workload.prompt_tokens", "output_tokens": "workload.output_tokens",
    "ttft_s": "requirements.ttft_s", "tpot_s": "requirements.tpot_s",
    "throughput_per_ms": "requirements.throughput_tokens_per_ms_per_gpu",
    "serving_percentile": "serving.percentile", "request_rate_per_s": "serving.request_rate_per_s",
}


def field_lines(st: CardState) -> dict[str, dict]:
    """Every field the card states -> {"value": ..., "line": N} (the line it was read from)."""
    out = {FACT_PATH[f]: {"value": v, "line": ln.no} for f, (v, ln) in st.facts.items()
           if f in FACT_PATH}
    if st.top_k:
        k, ln, _ = sorted(st.top_k, key=lambda t: (not t[2], t[1].kind not in INPUT_KINDS,
                                                   t[1].no))[0]
        out["model.top_k"] = {"value": k, "line": ln.no}
    for name, (v, ln) in st.strategy.items():
        out[f"current_strategy.{name}"] = {"value": v, "line": ln.no}
    if st.gpus is not None:
        out["current_strategy.gpus"] = {"value": st.gpus[0], "line": st.gpus[1].no}
    return dict(sorted(out.items()))
