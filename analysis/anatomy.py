"""Model anatomy: parameters by component, active parameters, FLOPs per token, KV-cache bytes.

Every count is a small pure function of a :class:`~analysis.inputs.Model`, exact to the
parameter (tests pin each real model to its checkpoint's count). Notation as in
``analysis.inputs``: D hidden, F FFN width, E routed experts, k top-k, H heads, H_kv KV heads,
d_h head dim, V vocabulary, L layers, S prompt length, C context length.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.inputs.types import Model

COMPONENTS = ("embedding", "attention", "router", "routed_experts", "shared_experts",
              "dense_ffn", "norms", "head")


# --------------------------------------------------------------------------------------------
# Parameter counts of the building blocks
# --------------------------------------------------------------------------------------------

def norm_params(width: int, norm: str) -> int:
    """Parameters of one normalisation over ``width`` features.

    RMSNorm (and LayerNorm without bias) has a scale per feature: ``width``; LayerNorm has a scale
    and a bias: ``2 * width`` (Ba et al. 2016, arXiv 1607.06450; Zhang & Sennrich 2019).
    """
    return 2 * width if norm == "layernorm" else width


def ffn_params(hidden: int, intermediate: int, gated: bool, bias: bool = False) -> int:
    """Parameters of one FFN (or one expert): ``n_mat * D * F`` plus biases.

    Gated (SwiGLU: gate, up, down; Shazeer 2020, arXiv 2002.05202) has n_mat = 3, a plain MLP
    (up, down) has n_mat = 2. Biases: ``F`` per input-side matrix and ``D`` for the down matrix.
    """
    n_in = 2 if gated else 1
    params = (n_in + 1) * hidden * intermediate
    if bias:
        params += n_in * intermediate + hidden
    return params


def attention_params_per_layer(model: Model) -> int:
    """Parameters of one attention block (projections, their biases, q/k norms, sinks).

    GQA/MHA: ``D*H*d_h`` (q) + ``2*D*H_kv*d_h`` (k, v) + ``H*d_h*D`` (o).
    MLA (DeepSeek-V2, arXiv 2405.04434, sec. 2.1): q = ``D*r_q + r_q + r_q*H*(d_nope+d_rope)``
    (low-rank with its norm; ``D*H*(d_nope+d_rope)`` when r_q = 0), kv_a = ``D*(r_kv + d_rope)``,
    its norm ``r_kv``, kv_b = ``r_kv*H*(d_nope+d_v)``, o = ``H*d_v*D``.
    """
    a = model.attention
    d = model.hidden_size
    h = a.num_heads
    if a.kind == "mla":
        dqk = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:
            q = d * a.q_lora_rank + norm_params(a.q_lora_rank, model.norm) + a.q_lora_rank * h * dqk
        else:
            q = d * h * dqk
        kv = (d * (a.kv_lora_rank + a.qk_rope_head_dim) + norm_params(a.kv_lora_rank, model.norm)
              + a.kv_lora_rank * h * (a.qk_nope_head_dim + a.v_head_dim))
        o = h * a.v_head_dim * d
        params = q + kv + o
        q_width, k_width = h * dqk, h * dqk
    else:
        q_width = h * a.head_dim
        k_width = a.num_kv_heads * a.head_dim
        params = d * q_width + 2 * d * k_width + q_width * d
        if a.qkv_bias:
            params += q_width + 2 * k_width
    if a.o_bias:
        params += d
    if a.qk_norm == "per_head":      # Qwen3: one RMSNorm over d_h for q and one for k
        params += 2 * a.qk_head_dim
    elif a.qk_norm == "full":        # OLMoE: RMSNorm over the whole q and k projections
        params += q_width + k_width
    if a.sinks:                      # gpt-oss: one learned sink logit per head
        params += h
    return params


def attention_matmul_params_per_layer(model: Model) -> int:
    """The part of :func:`attention_params_per_layer` that multiplies every token (no norms,
    sinks or biases): the weights whose FLOPs are ``2 * params`` per token."""
    a = model.attention
    d = model.hidden_size
    h = a.num_heads
    if a.kind == "mla":
        dqk = a.qk_nope_head_dim + a.qk_rope_head_dim
        q = (d * a.q_lora_rank + a.q_lora_rank * h * dqk) if a.q_lora_rank else d * h * dqk
        kv = (d * (a.kv_lora_rank + a.qk_rope_head_dim)
              + a.kv_lora_rank * h * (a.qk_nope_head_dim + a.v_head_dim))
        return q + kv + h * a.v_head_dim * d
    return 2 * d * h * a.head_dim + 2 * d * a.num_kv_heads * a.head_dim


def router_params_per_layer(model: Model) -> int:
    """Router of one MoE layer: ``E * D`` (+ ``E`` bias, + ``E`` score-correction bias)."""
    if not model.is_moe:
        return 0
    e = model.num_experts
    return e * model.hidden_size + (e if model.router_bias else 0) + (
        e if model.router_score_bias else 0)


def expert_params(model: Model) -> int:
    """Parameters of one routed expert: an FFN of width F (see :func:`ffn_params`)."""
    if not model.is_moe:
        return 0
    return ffn_params(model.hidden_size, model.expert_intermediate_size, model.ffn_gated,
                      model.ffn_bias)


def shared_experts_params_per_layer(model: Model) -> int:
    """All shared experts of one MoE layer, plus Qwen2-MoE's sigmoid gate ``Linear(D, 1)``."""
    if not model.num_shared_experts:
        return 0
    one = ffn_params(model.hidden_size, model.shared_expert_intermediate_size, model.ffn_gated,
                     model.ffn_bias)
    return model.num_shared_experts * one + (model.hidden_size if model.shared_expert_gate else 0)


def dense_ffn_params_per_layer(model: Model) -> int:
    """FFN of one dense layer (width ``dense_intermediate_size``)."""
    if not model.num_dense_layers:
        return 0
    return ffn_params(model.hidden_size, model.dense_intermediate_size, model.ffn_gated,
                      model.ffn_bias)


def embedding_params(model: Model) -> int:
    """Input embedding table: ``V * D``."""
    return model.vocab_size * model.hidden_size


def head_params(model: Model) -> int:
    """Output head (unembedding): ``V * D`` (+ ``V`` bias); 0 when tied to the embedding."""
    if model.tie_word_embeddings:
        return 0
    return model.vocab_size * model.hidden_size + (model.vocab_size if model.lm_head_bias else 0)


def layer_norms_params(model: Model) -> int:
    """Two norms per layer (before attention and before the FFN) plus the final norm."""
    return (2 * model.num_layers + 1) * norm_params(model.hidden_size, model.norm)


# --------------------------------------------------------------------------------------------
# Totals
# --------------------------------------------------------------------------------------------

def params_by_component(model: Model) -> dict[str, int]:
    """Every parameter of the model, by component, in :data:`COMPONENTS` order.

    The values sum to :func:`total_params`, and a test says so.
    """
    moe = model.num_moe_layers
    return {
        "embedding": embedding_params(model),
        "attention": model.num_layers * attention_params_per_layer(model),
        "router": moe * router_params_per_layer(model),
        "routed_experts": moe * model.num_experts * expert_params(model),
        "shared_experts": moe * shared_experts_params_per_layer(model),
        "dense_ffn": model.num_dense_layers * dense_ffn_params_per_layer(model),
        "norms": layer_norms_params(model),
        "head": head_params(model),
    }


def total_params(model: Model) -> int:
    """Total parameters: the sum of :func:`params_by_component`."""
    return sum(params_by_component(model).values())


def active_params_by_component(model: Model, include_input_embedding: bool = True
                               ) -> dict[str, int]:
    """Parameters one token uses: only ``k`` of the ``E`` routed experts per MoE layer.

    Two publishers' conventions differ only in the input embedding: Mixtral, Qwen and OLMoE count
    it (``include_input_embedding=True``), DeepSeek and gpt-oss do not (a lookup does no matmul).
    Both count the output head.
    """
    parts = params_by_component(model)
    if model.is_moe:
        parts["routed_experts"] = model.num_moe_layers * model.top_k * expert_params(model)
    if not include_input_embedding:
        parts["embedding"] = 0
    if model.tie_word_embeddings:  # the shared table serves as the head
        parts["head"] = embedding_params(model)
        if include_input_embedding:
            parts["head"] = 0
    return parts


def active_params(model: Model, include_input_embedding: bool = True) -> int:
    """Active parameters per token under a convention (see :func:`active_params_by_component`)."""
    return sum(active_params_by_component(model, include_input_embedding).values())


def expert_params_total(model: Model) -> int:
    """All routed-expert parameters (the part expert parallelism shards)."""
    return params_by_component(model)["routed_experts"]


def weight_bytes(model: Model) -> dict[str, float]:
    """Bytes of weights: routed experts at the expert precision, everything else at the weight
    precision. Keys: ``expert``, ``non_expert``."""
    expert = expert_params_total(model)
    return {
        "expert": expert * model.expert_weight_bytes_per_param,
        "non_expert": (total_params(model) - expert) * model.weight_bytes_per_param,
    }


# --------------------------------------------------------------------------------------------
# KV cache
# --------------------------------------------------------------------------------------------

def kv_cache_elements_per_token_per_layer(model: Model) -> int:
    """Cached elements per token per layer.

    GQA/MHA: ``2 * H_kv * d_h`` (a key and a value per KV head). MLA: ``r_kv + d_rope`` (the
    compressed latent plus the shared rope key; DeepSeek-V2 report, sec. 2.1.2).
    """
    a = model.attention
    if a.kind == "mla":
        return a.kv_lora_rank + a.qk_rope_head_dim
    return 2 * a.num_kv_heads * a.head_dim


def kv_cache_bytes_per_token(model: Model) -> float:
    """KV-cache bytes per token over all layers, every layer caching the full context.

    ``L * elements_per_layer * bytes``; DeepSeek-V3 in BF16: 61 * 576 * 2 = 70,272 B
    (arXiv 2505.09343, Table 1).
    """
    return model.num_layers * kv_cache_elements_per_token_per_layer(model) * \
        model.kv_bytes_per_element


def cached_tokens_per_layer(model: Model, context_tokens: float) -> float:
    """Average tokens a layer caches for one sequence of ``context_tokens``: full layers keep
    all of them, sliding-window layers at most the window."""
    a = model.attention
    full = model.num_layers - a.sliding_layers
    sliding = min(context_tokens, a.sliding_window_tokens) if a.sliding_layers else 0
    return (full * context_tokens + a.sliding_layers * sliding) / model.num_layers


def kv_cache_bytes_per_sequence(model: Model, context_tokens: float) -> float:
    """KV-cache bytes one sequence of ``context_tokens`` holds, sliding windows respected."""
    return kv_cache_bytes_per_token(model) * cached_tokens_per_layer(model, context_tokens)


# --------------------------------------------------------------------------------------------
# FLOPs
# --------------------------------------------------------------------------------------------

def causal_attention_pairs(seq_tokens: float, window_tokens: float = 0) -> float:
    """(query, key) pairs a causal prefill of ``S`` tokens scores: ``S(S+1)/2``.

    With a sliding window W (W < S): ``W(W+1)/2 + (S-W)*W`` (each later query sees W keys).
    """
    s = seq_tokens
    if window_tokens and window_tokens < s:
        w = window_tokens
        return w * (w + 1) / 2 + (s - w) * w
    return s * (s + 1) / 2


def attention_core_flops_per_pair(model: Model, absorbed: bool = False) -> float:
    """FLOPs of one (query, key) pair in one layer, all heads: ``2*H*(d_qk + d_v)``.

    Scores cost ``2*d_qk`` per head and weighting the values ``2*d_v``. MLA in decode runs
    "absorbed" over the latent (FlashMLA): ``d_qk = r_kv + d_rope``, ``d_v = r_kv``.
    """
    a = model.attention
    if a.kind == "mla" and absorbed:
        return 2 * a.num_heads * (2 * a.kv_lora_rank + a.qk_rope_head_dim)
    return 2 * a.num_heads * (a.qk_head_dim + a.v_dim)


def attention_pairs_prefill(model: Model, seq_tokens: float, prefix_tokens: float = 0.0
                            ) -> float:
    """Causal (query, key) pairs over all layers for one prompt of S new tokens after P cached
    ones (a prefix-cache hit, or the earlier chunks of a chunked prefill).

    The S queries sit at positions ``P .. P+S-1`` and see every earlier key (or the last W), so
    the pairs are ``C(P + S) - C(P)`` with ``C`` = :func:`causal_attention_pairs`: for a full
    layer ``S*P + S(S+1)/2``; with no prefix, ``C(S)``. Same differencing as the simulator's
    chunk cost (``analysis.simulate.cost``).
    """
    a = model.attention
    full = model.num_layers - a.sliding_layers

    def pairs(window: float) -> float:
        return (causal_attention_pairs(prefix_tokens + seq_tokens, window)
                - causal_attention_pairs(prefix_tokens, window))

    return full * pairs(0) + a.sliding_layers * pairs(a.sliding_window_tokens)


def prefill_flops_by_op(model: Model, prompt_tokens: int) -> dict[str, float]:
    """FLOPs to prefill one prompt of S tokens, by op, all layers.

    Every matmul costs ``2 * params`` per token (Kaplan et al. 2020, arXiv 2001.08361, Table 1);
    attention is causal (:func:`causal_attention_pairs`); only the last position needs logits,
    so the head runs once per sequence (as vLLM, SGLang and TensorRT-LLM do).
    """
    s = prompt_tokens
    moe = model.num_moe_layers
    return {
        "attention_proj": 2 * s * model.num_layers * attention_matmul_params_per_layer(model),
        "attention_core": attention_core_flops_per_pair(model) * attention_pairs_prefill(model, s),
        "router": 2 * s * moe * model.num_experts * model.hidden_size,
        "routed_experts": 2 * s * moe * model.top_k * expert_params(model),
        "shared_experts": 2 * s * moe * shared_experts_params_per_layer(model),
        "dense_ffn": 2 * s * model.num_dense_layers * dense_ffn_params_per_layer(model),
        "head": 2.0 * model.vocab_size * model.hidden_size,
    }


def decode_flops_by_op(model: Model, context_tokens: int) -> dict[str, float]:
    """FLOPs to generate one token with ``C`` tokens already cached, by op, all layers.

    As :func:`prefill_flops_by_op` for one token, plus attention over the cached context
    (MLA absorbed, see :func:`attention_core_flops_per_pair`).
    """
    moe = model.num_moe_layers
    pairs = model.num_layers * cached_tokens_per_layer(model, context_tokens)
    return {
        "attention_proj": 2.0 * model.num_layers * attention_matmul_params_per_layer(model),
        "attention_core": attention_core_flops_per_pair(model, absorbed=True) * pairs,
        "router": 2.0 * moe * model.num_experts * model.hidden_size,
        "routed_experts": 2.0 * moe * model.top_k * expert_params(model),
        "shared_experts": 2.0 * moe * shared_experts_params_per_layer(model),
        "dense_ffn": 2.0 * model.num_dense_layers * dense_ffn_params_per_layer(model),
        "head": 2.0 * model.vocab_size * model.hidden_size,
    }


# --------------------------------------------------------------------------------------------
# Declared vs derived
# --------------------------------------------------------------------------------------------

DISCREPANCY_THRESHOLD = 0.05


@dataclass(frozen=True)
class SizeCheck:
    """A declared parameter count against the one the architecture gives."""

    declared_params: float
    derived_params: int
    relative_gap: float          # (declared - derived) / derived
    message: str

    @property
    def disagrees(self) -> bool:
        return abs(self.relative_gap) > DISCREPANCY_THRESHOLD


def check_declared_size(model: Model) -> SizeCheck | None:
    """Compare the declared total with the architecture; None when nothing was declared.

    A gap over 5% produces a message with both numbers and where the gap could be.
    """
    if model.declared_total_params is None:
        return None
    derived = total_params(model)
    declared = float(model.declared_total_params)
    gap = (declared - derived) / derived
    msg = (f"Declared size {declared / 1e9:.3g}B parameters vs {derived / 1e9:.3g}B derived from "
           f"the architecture ({derived:,} parameters): the declared figure is "
           f"{declared / derived:.3g}x the derived one.")
    if abs(gap) > DISCREPANCY_THRESHOLD:
        parts = params_by_component(model)
        biggest = max(parts, key=parts.get)
        missing = declared - derived
        hints = [f"the largest component is {biggest} ({parts[biggest] / 1e9:.3g}B)"]
        if model.is_moe and missing > 0:
            per_expert_layer = model.num_moe_layers * expert_params(model)
            hints.append(f"matching it would need ~{missing / per_expert_layer:,.0f} more experts "
                         f"per layer, or a wider expert FFN, more layers or a larger hidden size")
        hints.append("the declared figure may count another model, include an embedding for a "
                     "larger vocabulary, or be a rounded marketing number")
        msg += " Where the gap could be: " + "; ".join(hints) + "."
    return SizeCheck(declared, derived, gap, msg)


def summary(model: Model, prompt_tokens: int = 2048, context_tokens: int | None = None) -> dict:
    """Everything the anatomy CLI and notebook show, as plain numbers (JSON-ready)."""
    ctx = context_tokens if context_tokens is not None else prompt_tokens
    size = check_declared_size(model)
    pre = prefill_flops_by_op(model, prompt_tokens)
    dec = decode_flops_by_op(model, ctx)
    return {
        "model": model.name,
        "total_params": total_params(model),
        "active_params": active_params(model, include_input_embedding=True),
        "active_params_excl_input_embedding": active_params(model, include_input_embedding=False),
        "params_by_component": params_by_component(model),
        "active_params_by_component": active_params_by_component(model, True),
        "weight_bytes": weight_bytes(model),
        "kv_cache_bytes_per_token": kv_cache_bytes_per_token(model),
        "prefill_prompt_tokens": prompt_tokens,
        "prefill_flops_per_token_by_op": {k: v / prompt_tokens for k, v in pre.items()},
        "decode_context_tokens": ctx,
        "decode_flops_per_token_by_op": dec,
        "declared_total_params": model.declared_total_params,
        "declared_vs_derived": None if size is None else {
            "declared": size.declared_params, "derived": size.derived_params,
            "relative_gap": size.relative_gap, "disagrees": size.disagrees,
            "message": size.message},
    }


def model_matching_declared(model: Model) -> Model:
    """The "declared" reading of a model whose stated size disagrees with its architecture.

    The gap is put where most of a model's parameters live: the routed experts' FFN width for an
    MoE model, the dense FFN width for a dense one. Total parameters are linear in that width,
    ``N(F) = N(0) + F * dN/dF``, so ``F' = (N_declared - N(0)) / (dN/dF)``, rounded to a multiple
    of 64 (a width real kernels tile). Returns the model unchanged when nothing was declared or
    the two agree within :data:`DISCREPANCY_THRESHOLD`.
    """
    from dataclasses import replace

    check = check_declared_size(model)
    if check is None or not check.disagrees:
        return model
    key = "expert_intermediate_size" if model.is_moe else "dense_intermediate_size"
    n0 = total_params(replace(model, **{key: 64}))
    n1 = total_params(replace(model, **{key: 128}))
    per_unit = (n1 - n0) / 64
    base = n0 - 64 * per_unit
    width = (model.declared_total_params - base) / per_unit
    width = max(64, int(round(width / 64)) * 64)
    return replace(model, **{key: width}, name=f"{model.name} (declared size)",
                   source=f"{model.source}; {key} scaled to {width} to match the declared "
                          f"{model.declared_total_params / 1e9:.3g}B parameters")
