"""Hugging Face ``config.json`` -> :class:`~analysis.inputs.Model`, family by family.

Supported ``model_type``: mixtral, deepseek_v2, deepseek_v3, qwen2_moe, qwen3_moe, olmoe, gpt_oss,
llama, mistral, dbrx, phimoe, llama4 (its ``text_config``), plus a generic fallback for unknown
types with Llama-like keys. Each reader records what it had to assume; counts are exact to the
parameter for the shipped configs (``tests/test_hf_config.py`` pins them to ``models.csv``).

Our :class:`Model` holds ``num_dense_layers`` and not a layer order: dense layers are counted
wherever they sit (DeepSeek's first k, Llama-4's interleaving, Qwen's ``mlp_only_layers``);
parameter counts, FLOPs and memory do not depend on the order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.limits import check_limit
from analysis.inputs.read.files import read_text_file
from analysis.inputs.read.presets import load_json_text
from analysis.inputs.types import Attention, Model, normalise_precision

SUPPORTED_MODEL_TYPES = ("mixtral", "deepseek_v2", "deepseek_v3", "qwen2_moe", "qwen3_moe",
                         "olmoe", "gpt_oss", "llama", "mistral", "dbrx", "phimoe", "llama4")

LAYER_ORDER_NOTE = ("dense and MoE layers are not contiguous in this model: counted by kind "
                    "(layer order does not matter for parameter, FLOP or memory counts)")


def load_hf_config(path: str | Path) -> dict[str, Any]:
    """Read a ``config.json``; ParseError (with the line) when it is not valid JSON."""
    p = Path(path)
    cfg = load_json_text(read_text_file(p, "config.json"), str(p))
    if not isinstance(cfg, dict):
        raise ParseError(str(p), "a config.json must hold a JSON object")
    return cfg


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

class _Cfg:
    """Typed access to a config mapping; missing or ill-typed required keys -> ParseError."""

    def __init__(self, cfg: Mapping[str, Any], path: str) -> None:
        self.cfg = cfg
        self.path = path

    def has(self, key: str) -> bool:
        return self.cfg.get(key) is not None

    def int(self, key: str, default: int | None = None) -> int:
        v = self.cfg.get(key)
        if v is None:
            if default is None:
                raise ParseError(self.path, f"config has no {key!r} (needed for "
                                            f"model_type {self.cfg.get('model_type')!r})")
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v != int(v) or v < 0:
            raise ParseError(self.path, f"{key} = {v!r}: expected a whole number >= 0")
        return int(v)

    def bool(self, key: str, default: bool) -> bool:
        v = self.cfg.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ParseError(self.path, f"{key} = {v!r}: expected true or false")
        return v

    def sub(self, key: str) -> _Cfg:
        v = self.cfg.get(key) or {}
        if not isinstance(v, Mapping):
            raise ParseError(self.path, f"{key} = {v!r}: expected a JSON object")
        return _Cfg(v, self.path)


def _precisions(c: _Cfg, notes: list[str]) -> dict[str, str]:
    """Weight, expert, KV and activation precision from ``torch_dtype`` (or ``dtype``) and
    ``quantization_config``."""
    dtype = c.cfg.get("torch_dtype") or c.cfg.get("dtype")
    if dtype is None:
        base = "bf16"
        notes.append("torch_dtype not given: assumed BF16 weights, KV cache and activations")
    else:
        try:
            base = normalise_precision(str(dtype), "torch_dtype")
        except InputError:
            base = "bf16"
            notes.append(f"torch_dtype {dtype!r} not understood: assumed BF16")
    out = {"weight_precision": base, "kv_precision": base, "activation_precision": base,
           "expert_weight_precision": ""}
    q = c.cfg.get("quantization_config") or {}
    method = str(q.get("quant_method", "")).lower() if isinstance(q, Mapping) else ""
    if method == "fp8":
        out["weight_precision"] = "fp8"
        if q.get("activation_scheme"):
            out["activation_precision"] = "fp8"
            notes.append("quantization_config fp8 with an activation scheme: weights and matmul "
                         "inputs in FP8 (W8A8), KV cache kept in "
                         f"{base.upper()} (torch_dtype)")
        else:
            notes.append("quantization_config fp8: weights in FP8")
    elif method == "mxfp4":
        out["expert_weight_precision"] = "mxfp4"
        notes.append("quantization_config mxfp4: routed-expert weights in MXFP4 (4.25 bits), "
                     "everything else (attention, router, embeddings) in "
                     f"{base.upper()} as its modules_to_not_convert says")
    elif method:
        notes.append(f"quantization_config {method!r} not modelled: weights taken at "
                     f"{base.upper()}")
    return out


def _gqa(c: _Cfg, notes: list[str], *, heads: str = "num_attention_heads",
         kv_heads: str = "num_key_value_heads", hidden: str = "hidden_size",
         **extra: Any) -> Attention:
    h = c.int(heads)
    if c.has(kv_heads):
        h_kv = c.int(kv_heads)
    else:
        h_kv = h
        notes.append(f"{kv_heads} not given: assumed equal to {heads} (MHA)")
    d = c.int(hidden)
    head_dim = c.int("head_dim") if c.has("head_dim") else (d // h if h else 0)
    return Attention(kind="gqa", num_heads=h, num_kv_heads=h_kv, head_dim=head_dim, **extra)


def _sliding(c: _Cfg, num_layers: int, model_type: str) -> dict[str, int]:
    """Sliding-window layers: ``layer_types`` when given (gpt-oss), all layers for Mistral-style
    configs with a window, ``num_layers - max_window_layers`` for Qwen with the window on."""
    window = c.cfg.get("sliding_window")
    layer_types = c.cfg.get("layer_types")
    if isinstance(layer_types, list) and window:
        n = sum(1 for t in layer_types if t == "sliding_attention")
        return {"sliding_window_tokens": int(window), "sliding_layers": n} if n else {}
    if not window:
        return {}
    if model_type in ("qwen2_moe", "qwen3_moe"):
        if not c.bool("use_sliding_window", False):
            return {}
        n = num_layers - c.int("max_window_layers", num_layers)
        return {"sliding_window_tokens": int(window), "sliding_layers": max(n, 0)} if n > 0 else {}
    if model_type in ("mistral", "mixtral", "phimoe"):
        return {"sliding_window_tokens": int(window), "sliding_layers": num_layers}
    return {}


def _moe_layers(c: _Cfg, num_layers: int, num_experts: int, first: int, step_key: str,
                offset: int, excluded: list = ()) -> tuple[int, bool]:
    """(number of dense layers, whether the dense layers are not the first ones), counted by
    :func:`~analysis.inputs.read.layer_counts.moe_layers_every` (no list per layer)."""
    from analysis.inputs.read.layer_counts import moe_layers_every

    step = c.int(step_key, 1)
    if step < 1:
        raise ParseError(c.path, f"{step_key} = {step!r}: every how many layers an MoE layer "
                                 "comes; valid: a whole number >= 1")
    check_limit("num_hidden_layers", num_layers, "layers", where=c.path)
    if num_experts <= 0:
        return num_layers, False
    return moe_layers_every(num_layers, first, step, offset, excluded)


def _finish(kw: dict[str, Any], notes: list[str], name: str, path: str) -> tuple[Model, list[str]]:
    kw.setdefault("name", name)
    kw.setdefault("source", path)
    try:
        model = Model(**kw)
    except InputError as e:
        raise InputError(e.field, e.value, e.why, e.valid, path) from None
    return model, list(dict.fromkeys(notes))


def _tie(c: _Cfg, notes: list[str]) -> bool:
    if c.has("tie_word_embeddings"):
        return c.bool("tie_word_embeddings", False)
    notes.append("tie_word_embeddings not given: assumed separate input and output embeddings")
    return False


# --------------------------------------------------------------------------------------------
# Families
# --------------------------------------------------------------------------------------------

def _llama_like(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    """Llama, Mistral, Mixtral, PhiMoE, Qwen-MoE and OLMoE share these keys."""
    L = c.int("num_hidden_layers")
    attention_bias = c.bool("attention_bias", False)
    attn = dict(qkv_bias=attention_bias, o_bias=attention_bias, **_sliding(c, L, model_type))
    return dict(num_layers=L, hidden_size=c.int("hidden_size"), vocab_size=c.int("vocab_size"),
                attention=_gqa(c, notes, **attn), tie_word_embeddings=_tie(c, notes),
                **_precisions(c, notes))


def _dense(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    kw = _llama_like(c, notes, model_type)
    kw.update(num_dense_layers=kw["num_layers"], dense_intermediate_size=c.int("intermediate_size"),
              ffn_bias=c.bool("mlp_bias", False))
    return kw


def _mixtral(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    kw = _llama_like(c, notes, model_type)
    kw.update(num_experts=c.int("num_local_experts"), top_k=c.int("num_experts_per_tok"),
              expert_intermediate_size=c.int("intermediate_size"))
    return kw


def _phimoe(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    # PhiMoE: LayerNorm with bias, q/k/v/o biases (attention_bias), a biased lm_head.
    kw = _mixtral(c, notes, model_type)
    kw.update(norm="layernorm", lm_head_bias=c.bool("lm_head_bias", False))
    return kw


def _qwen_moe(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    kw = _llama_like(c, notes, model_type)
    L = kw["num_layers"]
    if model_type == "qwen2_moe":
        # Qwen2 attention always has q/k/v biases and no o bias.
        kw["attention"] = _gqa(c, notes, qkv_bias=True, o_bias=False, **_sliding(c, L, model_type))
    else:
        # Qwen3: no biases, an RMSNorm over head_dim on q and on k.
        kw["attention"] = _gqa(c, notes, qkv_bias=c.bool("attention_bias", False),
                               o_bias=c.bool("attention_bias", False), qk_norm="per_head",
                               **_sliding(c, L, model_type))
    E = c.int("num_experts")
    mlp_only = c.cfg.get("mlp_only_layers") or []
    if not isinstance(mlp_only, list):
        raise ParseError(c.path, f"mlp_only_layers = {mlp_only!r}: expected a list of layers")
    dense, scattered = _moe_layers(c, L, E, 0, "decoder_sparse_step", 1, mlp_only)
    if scattered:
        notes.append(LAYER_ORDER_NOTE)
    kw.update(num_experts=E, top_k=c.int("num_experts_per_tok"),
              expert_intermediate_size=c.int("moe_intermediate_size"), num_dense_layers=dense)
    if dense:
        kw["dense_intermediate_size"] = c.int("intermediate_size")
    shared = c.int("shared_expert_intermediate_size", 0)
    if shared:
        kw.update(num_shared_experts=1, shared_expert_intermediate_size=shared,
                  shared_expert_gate=True)   # Qwen2-MoE: sigmoid(Linear(D, 1)) on the shared path
    return kw


def _olmoe(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    kw = _llama_like(c, notes, model_type)
    # OLMoE: RMSNorm over the full q and k projections (q_norm: H*d_h, k_norm: H_kv*d_h).
    kw["attention"] = _gqa(c, notes, qkv_bias=c.bool("attention_bias", False),
                           o_bias=c.bool("attention_bias", False), qk_norm="full")
    kw.update(num_experts=c.int("num_experts"), top_k=c.int("num_experts_per_tok"),
              expert_intermediate_size=c.int("intermediate_size"))
    return kw


def _gpt_oss(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    kw = _llama_like(c, notes, model_type)
    L = kw["num_layers"]
    bias = c.bool("attention_bias", True)
    kw["attention"] = _gqa(c, notes, qkv_bias=bias, o_bias=bias, sinks=True,
                           **_sliding(c, L, model_type))
    top_k = c.int("num_experts_per_tok") if c.has("num_experts_per_tok") else \
        c.int("experts_per_token")
    kw.update(num_experts=c.int("num_local_experts"), top_k=top_k,
              expert_intermediate_size=c.int("intermediate_size"), ffn_bias=True,
              router_bias=True)
    return kw


def _deepseek(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    L = c.int("num_hidden_layers")
    h = c.int("num_attention_heads")
    attention = Attention(
        kind="mla", num_heads=h, num_kv_heads=c.int("num_key_value_heads", h),
        q_lora_rank=c.int("q_lora_rank", 0),   # null in DeepSeek-V2-Lite: full-rank queries
        kv_lora_rank=c.int("kv_lora_rank"), qk_nope_head_dim=c.int("qk_nope_head_dim"),
        qk_rope_head_dim=c.int("qk_rope_head_dim"), v_head_dim=c.int("v_head_dim"),
        qkv_bias=c.bool("attention_bias", False), o_bias=c.bool("attention_bias", False))
    E = c.int("n_routed_experts")
    first_dense = c.int("first_k_dense_replace", 0)
    dense, scattered = _moe_layers(c, L, E, first_dense, "moe_layer_freq", 0)
    if scattered:
        notes.append(LAYER_ORDER_NOTE)
    mtp = c.int("num_nextn_predict_layers", 0)
    if mtp:
        notes.append(f"{mtp} multi-token-prediction layer(s) (num_nextn_predict_layers) excluded: "
                     "the main model only, as the published total counts it (DeepSeek-V3: "
                     "671B main + 14B MTP on the hub)")
    shared = c.int("n_shared_experts", 0)
    kw: dict[str, Any] = dict(
        num_layers=L, hidden_size=c.int("hidden_size"), vocab_size=c.int("vocab_size"),
        attention=attention, tie_word_embeddings=_tie(c, notes), num_experts=E,
        top_k=c.int("num_experts_per_tok"), expert_intermediate_size=c.int("moe_intermediate_size"),
        num_dense_layers=dense,
        # The shared experts are one MLP of width n_shared * moe_intermediate_size; as n_shared
        # experts of width moe_intermediate_size the count is identical (no biases).
        num_shared_experts=shared,
        shared_expert_intermediate_size=c.int("moe_intermediate_size") if shared else 0,
        router_score_bias=str(c.cfg.get("topk_method", "")) == "noaux_tc",
        # group-limited routing: a token's experts come from topk_group of n_group groups
        n_group=c.int("n_group", 0) if c.int("topk_group", 0) else 0,
        topk_group=c.int("topk_group", 0) if c.int("n_group", 0) else 0,
        **_precisions(c, notes))
    if dense:
        kw["dense_intermediate_size"] = c.int("intermediate_size")
    return kw


def _dbrx(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    attn_cfg, ffn_cfg = c.sub("attn_config"), c.sub("ffn_config")
    d, h = c.int("d_model"), c.int("n_heads")
    if attn_cfg.has("kv_n_heads"):
        h_kv = attn_cfg.int("kv_n_heads")
    else:
        h_kv = h
        notes.append("attn_config.kv_n_heads not given: assumed equal to n_heads (MHA)")
    # DBRX: fused Wqkv and out_proj without biases; LayerNorm without bias; GLU experts
    # (w1, v1, w2); clip_qkv changes no shape.
    return dict(num_layers=c.int("n_layers"), hidden_size=d, vocab_size=c.int("vocab_size"),
                attention=Attention(kind="gqa", num_heads=h, num_kv_heads=h_kv, head_dim=d // h),
                tie_word_embeddings=_tie(c, notes), norm="layernorm_nobias",
                num_experts=ffn_cfg.int("moe_num_experts"), top_k=ffn_cfg.int("moe_top_k"),
                expert_intermediate_size=ffn_cfg.int("ffn_hidden_size"), **_precisions(c, notes))


def _llama4(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    if c.has("text_config"):
        # dtype, quantization and tying sit at the top level of a Llama-4 config
        outer = {k: c.cfg[k] for k in ("torch_dtype", "dtype", "quantization_config",
                                       "tie_word_embeddings") if k in c.cfg}
        c = _Cfg({**outer, **c.sub("text_config").cfg}, c.path)
        notes.append("Llama-4: the text model only (text_config); the vision encoder and "
                     "projector are not counted")
    kw = _llama_like(c, notes, "llama4")
    L = kw["num_layers"]
    moe_layers = c.cfg.get("moe_layers")
    if isinstance(moe_layers, list):
        from analysis.inputs.read.layer_counts import moe_layers_listed

        dense, scattered = moe_layers_listed(L, moe_layers)
    else:
        dense, scattered = _moe_layers(c, L, 1, 0, "interleave_moe_layer_step", 1)
    if scattered:
        notes.append(LAYER_ORDER_NOTE)
    inter = c.int("intermediate_size")
    # Every MoE layer has one always-on shared expert of width intermediate_size; dense layers
    # use intermediate_size_mlp. The q/k L2 norm has no weights; no_rope_layers changes no shape.
    kw.update(num_experts=c.int("num_local_experts"), top_k=c.int("num_experts_per_tok"),
              expert_intermediate_size=inter, num_shared_experts=1,
              shared_expert_intermediate_size=inter, num_dense_layers=dense)
    if dense:
        kw["dense_intermediate_size"] = c.int("intermediate_size_mlp")
    return kw


def _generic(c: _Cfg, notes: list[str], model_type: str) -> dict[str, Any]:
    experts_key = next((k for k in ("num_local_experts", "num_experts", "n_routed_experts")
                        if c.cfg.get(k)), None)
    notes.append(f"model_type {model_type!r} is not one MoEPlan knows: read as a Llama-style "
                 f"{'MoE (Mixtral-like, every layer MoE)' if experts_key else 'dense'} decoder "
                 "from its standard keys; check the counts against the publisher's")
    kw = _llama_like(c, notes, model_type)
    if experts_key:
        width = "moe_intermediate_size" if c.has("moe_intermediate_size") else "intermediate_size"
        kw.update(num_experts=c.int(experts_key), top_k=c.int("num_experts_per_tok"),
                  expert_intermediate_size=c.int(width))
    else:
        kw.update(num_dense_layers=kw["num_layers"],
                  dense_intermediate_size=c.int("intermediate_size"),
                  ffn_bias=c.bool("mlp_bias", False))
    return kw


_READERS: dict[str, Callable[[_Cfg, list[str], str], dict[str, Any]]] = {
    "llama": _dense, "mistral": _dense, "mixtral": _mixtral, "phimoe": _phimoe,
    "qwen2_moe": _qwen_moe, "qwen3_moe": _qwen_moe, "olmoe": _olmoe, "gpt_oss": _gpt_oss,
    "deepseek_v2": _deepseek, "deepseek_v3": _deepseek, "dbrx": _dbrx, "llama4": _llama4,
}

_GENERIC_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                 "intermediate_size")


def model_from_hf_config(cfg: Mapping[str, Any], name: str, path: str = "config.json"
                         ) -> tuple[Model, list[str]]:
    """A :class:`Model` from a Hugging Face config mapping, and the assumptions made.

    Unknown ``model_type`` with the Llama keys (``hidden_size``, ``num_hidden_layers``,
    ``num_attention_heads``, ``vocab_size``, ``intermediate_size``) is read generically, and said
    so; with nothing readable it is a ParseError.
    """
    if not isinstance(cfg, Mapping):
        raise ParseError(path, "a config.json must hold a JSON object")
    c = _Cfg(cfg, path)
    model_type = str(cfg.get("model_type") or "")
    if model_type == "llama4_text":
        model_type = "llama4"
    notes: list[str] = []
    reader = _READERS.get(model_type)
    if reader is None:
        if not all(c.has(k) for k in _GENERIC_KEYS):
            missing = [k for k in _GENERIC_KEYS if not c.has(k)]
            raise ParseError(path, f"model_type {model_type or '(none)'!r} is not supported and "
                                   f"the config lacks the standard keys {missing}; supported: "
                                   + ", ".join(SUPPORTED_MODEL_TYPES))
        reader = _generic
    kw = reader(c, notes, model_type)
    return _finish(kw, notes, name, path)
