"""The five inputs of a plan: hardware, model, workload, requirements and layout (strategy).

The layout lives in :mod:`analysis.inputs.strategy`, precisions in :mod:`analysis.inputs.precision`
and the numeric checks in :mod:`analysis.inputs.checks`; their names are importable from here too.

Each is an immutable dataclass in SI base units with the unit in every field name. All validation
lives here, in ``__post_init__``, and raises :class:`~analysis.errors.InputError` naming the field,
the value, why it is wrong and what would be valid. Everything downstream may assume valid inputs.

Notation (declared once, used in code, notebooks and reports; see ``notebooks/NOTATION.md``):
  B batch (sequences), S prompt length, O output length, D hidden size, L layers,
  E routed experts, k experts per token (top-k), F expert FFN width, H query heads,
  H_kv key/value heads, d_h head dimension, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from analysis.inputs import limits
from analysis.inputs.checks import check_fraction, check_positive
from analysis.inputs.errors import InputError
from analysis.inputs.precision import (  # noqa: F401  (re-exported for old imports)
    BYTES_PER_ELEMENT,
    COMPUTE_PEAK_KEY,
    PRECISION_ALIASES,
    bytes_per_element,
    normalise_precision,
)
from analysis.inputs.serving import ServingRequirements
from analysis.inputs.speculative import Speculative
from analysis.inputs.strategy import DEGREE_NAMES, Strategy, layout_label  # noqa: F401

# --------------------------------------------------------------------------------------------
# Hardware
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """Size-dependent efficiencies fitted to measurements (used in "calibrated" mode).

    Small matrix multiplications, small transfers and short messages reach far less of peak than
    large ones. Each efficiency saturates with size as ``eff(x) = eff_max * x / (x + x_half)``
    (half of ``eff_max`` at ``x_half``): x is a GEMM's rows (tokens) for compute, the bytes an op
    moves for HBM, the message bytes for each link tier. ``op_overhead_s`` is a fixed cost per
    op per layer (kernel launches, small fused kernels) that no amount of parallelism splits.
    """

    compute_max: float
    compute_half_tokens: float
    memory_max: float
    memory_half_bytes: float
    scaleup_max: float = 0.8
    scaleup_half_bytes: float = 0.0
    scaleout_max: float = 0.8
    scaleout_half_bytes: float = 0.0
    op_overhead_s: float = 0.0
    source: str = ""              # what it was fitted on, and how

    def __post_init__(self) -> None:
        for name in ("compute_max", "memory_max", "scaleup_max", "scaleout_max"):
            check_fraction(f"hardware.calibration.{name}", getattr(self, name))
        for name in ("compute_half_tokens", "memory_half_bytes", "scaleup_half_bytes",
                     "scaleout_half_bytes", "op_overhead_s"):
            check_positive(f"hardware.calibration.{name}", getattr(self, name), allow_zero=True)


def saturating_efficiency(size, eff_max: float, half: float):
    """``eff_max * x / (x + x_half)``: the efficiency an op of size x reaches (x_half = 0 means
    size does not matter). Works on arrays."""
    import numpy as np

    x = np.maximum(np.asarray(size, dtype=float), 1e-30)
    return eff_max * x / (x + half) if half > 0 else eff_max * np.ones_like(x)


@dataclass(frozen=True)
class Hardware:
    """One GPU type and the system it sits in.

    Bandwidths are per GPU per direction, in bytes/s (GB/s = 1e9 B/s). ``peak_flops_per_s`` holds
    *dense* tensor-core peaks keyed by precision ("bf16", "fp8", ...); 2:4-sparse headline figures
    are twice these and never used.
    """

    name: str
    peak_flops_per_s: tuple[tuple[str, float], ...]  # dense peak per precision key
    hbm_capacity_bytes: float
    hbm_bandwidth_bytes_per_s: float
    gpus_per_node: int = 8                         # GPUs in one scale-up (NVLink) domain
    scaleup_bandwidth_bytes_per_s: float = 450e9   # per GPU per direction inside a node
    scaleout_bandwidth_bytes_per_s: float = 50e9   # per GPU per direction across nodes
    scaleup_latency_s: float = 2e-6                # per message, inside a node
    scaleout_latency_s: float = 5e-6               # per message, across nodes
    mfu: float = 0.6                               # achieved / peak FLOP/s in derated mode
    bandwidth_utilization: float = 0.8             # achieved / peak HBM bandwidth
    scaleup_efficiency: float = 0.8                # achieved / peak scale-up link bandwidth
    scaleout_efficiency: float = 0.8               # achieved / peak scale-out bandwidth
    efficiency_source: str = ""
    source: str = ""
    calibration: Calibration | None = None         # size-dependent curves, if fitted
    price_usd_per_gpu_hour: float | None = None    # rental price, for cost per token (editable)
    price_source: str = ""                         # where the price comes from
    price_date: str = ""                           # when it was read (YYYY-MM-DD)
    board_power_W: float | None = None             # board power (TDP), for an energy upper bound
    board_power_source: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise InputError("hardware.name", self.name, "a GPU needs a name", "a non-empty string")
        if not self.peak_flops_per_s:
            raise InputError("hardware.peak_flops_per_s", self.peak_flops_per_s,
                             "no compute peak given", "at least one of bf16, fp8, ... in FLOP/s")
        for key, value in self.peak_flops_per_s:
            if key not in set(COMPUTE_PEAK_KEY.values()):
                raise InputError("hardware.peak_flops_per_s", key, "unknown precision key",
                                 ", ".join(sorted(set(COMPUTE_PEAK_KEY.values()))))
            check_positive(f"hardware.peak_flops_per_s[{key}]", value)
        for name in ("hbm_capacity_bytes", "hbm_bandwidth_bytes_per_s",
                     "scaleup_bandwidth_bytes_per_s", "scaleout_bandwidth_bytes_per_s"):
            check_positive(f"hardware.{name}", getattr(self, name))
        check_positive("hardware.gpus_per_node", self.gpus_per_node, integer=True)
        for name in ("scaleup_latency_s", "scaleout_latency_s"):
            check_positive(f"hardware.{name}", getattr(self, name), allow_zero=True)
        for name in ("mfu", "bandwidth_utilization", "scaleup_efficiency", "scaleout_efficiency"):
            check_fraction(f"hardware.{name}", getattr(self, name))
        for name in ("price_usd_per_gpu_hour", "board_power_W"):
            if getattr(self, name) is not None:
                check_positive(f"hardware.{name}", getattr(self, name))
        limits.check_hardware(self)

    def peak_flops_for(self, precision: str) -> float:
        """Dense peak FLOP/s for matmuls in ``precision``; InputError if this GPU lacks it."""
        key = COMPUTE_PEAK_KEY[normalise_precision(precision)]
        table = dict(self.peak_flops_per_s)
        if key in table:
            return table[key]
        if key == "fp4" and "bf16" in table:  # weight-only fp4 falls back to bf16 kernels
            return table["bf16"]
        raise InputError("model.compute_precision", precision,
                         f"{self.name} has no {key} compute peak",
                         ", ".join(k for k, _ in self.peak_flops_per_s))


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

AttentionKind = Literal["gqa", "mla"]
NormKind = Literal["rmsnorm", "layernorm", "layernorm_nobias"]
QKNorm = Literal["none", "per_head", "full"]


@dataclass(frozen=True)
class Attention:
    """Attention shape. MHA is GQA with ``num_kv_heads == num_heads``.

    For MLA (DeepSeek-V2/V3) the cache holds a ``kv_lora_rank`` latent plus a shared
    ``qk_rope_head_dim`` key per token per layer; queries use ``q_lora_rank`` (0 = no low rank).
    """

    kind: AttentionKind = "gqa"
    num_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0                  # GQA: q/k/v head dim
    q_lora_rank: int = 0               # MLA only; 0 = full-rank query projection
    kv_lora_rank: int = 0              # MLA only
    qk_nope_head_dim: int = 0          # MLA only
    qk_rope_head_dim: int = 0          # MLA only
    v_head_dim: int = 0                # MLA only
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: QKNorm = "none"           # Qwen3: per head; OLMoE: over the full q and k widths
    sinks: bool = False                # gpt-oss: one learned sink logit per head
    sliding_window_tokens: int = 0     # 0 = full attention on every layer
    sliding_layers: int = 0            # how many layers use the sliding window

    @property
    def qk_head_dim(self) -> int:
        """Width of one head's query/key dot product."""
        if self.kind == "mla":
            return self.qk_nope_head_dim + self.qk_rope_head_dim
        return self.head_dim

    @property
    def v_dim(self) -> int:
        """Width of one head's value (and attention output)."""
        return self.v_head_dim if self.kind == "mla" else self.head_dim


@dataclass(frozen=True)
class Model:
    """A decoder-only transformer, dense or Mixture-of-Experts.

    ``num_dense_layers`` of the ``num_layers`` use a dense FFN of width
    ``dense_intermediate_size``; the rest are MoE layers with ``num_experts`` routed experts of
    width ``expert_intermediate_size`` (top-``top_k``) and ``num_shared_experts`` shared experts of
    width ``shared_expert_intermediate_size`` each. A dense model has ``num_experts == 0``.
    """

    name: str
    num_layers: int
    hidden_size: int
    attention: Attention
    vocab_size: int = 32000
    ffn_gated: bool = True                  # SwiGLU: 3 matrices (gate, up, down); plain MLP: 2
    ffn_bias: bool = False                  # biases on expert / dense FFN matrices (gpt-oss)
    num_dense_layers: int = 0
    dense_intermediate_size: int = 0
    num_experts: int = 0
    top_k: int = 0
    expert_intermediate_size: int = 0
    num_shared_experts: int = 0
    shared_expert_intermediate_size: int = 0
    shared_expert_gate: bool = False        # Qwen2-MoE: sigmoid gate Linear(D, 1)
    n_group: int = 0                        # group-limited routing: experts in n_group groups
    topk_group: int = 0                     # ... a token's experts come from topk_group of them
    router_bias: bool = False               # gpt-oss
    router_score_bias: bool = False         # DeepSeek-V3 e_score_correction_bias (E per layer)
    tie_word_embeddings: bool = False
    norm: NormKind = "rmsnorm"
    lm_head_bias: bool = False
    weight_precision: str = "bf16"
    expert_weight_precision: str = ""       # "" = same as weight_precision
    kv_precision: str = "bf16"
    activation_precision: str = "bf16"      # also the matmul (compute) precision
    dispatch_precision: str = ""            # EP dispatch; "" = the activation precision
    combine_precision: str = ""             # EP combine; "" = the activation's, BF16 if narrower
    declared_total_params: float | None = None   # a count stated by the user or card, if any
    declared_active_params: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        f = "model"
        if not self.name or not isinstance(self.name, str):
            raise InputError(f"{f}.name", self.name, "a model needs a name", "a non-empty string")
        for name in ("num_layers", "hidden_size", "vocab_size"):
            check_positive(f"{f}.{name}", getattr(self, name), integer=True)
        self._check_attention()
        check_positive(f"{f}.num_dense_layers", self.num_dense_layers, integer=True,
                       allow_zero=True)
        if self.num_dense_layers > self.num_layers:
            raise InputError(f"{f}.num_dense_layers", self.num_dense_layers,
                             f"more than the {self.num_layers} layers", f"0..{self.num_layers}")
        if self.num_dense_layers:
            check_positive(f"{f}.dense_intermediate_size", self.dense_intermediate_size,
                           integer=True)
        check_positive(f"{f}.num_experts", self.num_experts, integer=True, allow_zero=True)
        if self.num_experts:
            check_positive(f"{f}.top_k", self.top_k, integer=True)
            if self.top_k > self.num_experts:
                raise InputError(f"{f}.top_k", self.top_k,
                                 f"top-k cannot exceed the number of routed experts "
                                 f"({self.num_experts})", f"1..{self.num_experts}")
            check_positive(f"{f}.expert_intermediate_size", self.expert_intermediate_size,
                           integer=True)
        elif self.num_dense_layers != self.num_layers:
            raise InputError(f"{f}.num_experts", 0,
                             "a model with no routed experts must have every layer dense "
                             f"(num_dense_layers = {self.num_dense_layers}, "
                             f"num_layers = {self.num_layers})",
                             "num_experts > 0, or num_dense_layers = num_layers")
        check_positive(f"{f}.num_shared_experts", self.num_shared_experts, integer=True,
                       allow_zero=True)
        if self.num_shared_experts:
            check_positive(f"{f}.shared_expert_intermediate_size",
                           self.shared_expert_intermediate_size, integer=True)
        if self.n_group or self.topk_group:
            self._check_groups()
        if self.norm not in ("rmsnorm", "layernorm", "layernorm_nobias"):
            raise InputError(f"{f}.norm", self.norm, "unknown norm",
                             "rmsnorm, layernorm, layernorm_nobias")
        for name in ("weight_precision", "kv_precision", "activation_precision"):
            normalise_precision(getattr(self, name), f"{f}.{name}")
        for name in ("expert_weight_precision", "dispatch_precision", "combine_precision"):
            if getattr(self, name):
                normalise_precision(getattr(self, name), f"{f}.{name}")
        for name in ("declared_total_params", "declared_active_params"):
            if getattr(self, name) is not None:
                check_positive(f"{f}.{name}", getattr(self, name))
        limits.check_model(self)

    def _check_attention(self) -> None:
        """The attention block's invariants (GQA heads divide, MLA ranks, sliding window)."""
        f = "model"
        a = self.attention
        if a.kind not in ("gqa", "mla"):
            raise InputError(f"{f}.attention.kind", a.kind, "unknown attention kind", "gqa, mla")
        check_positive(f"{f}.attention.num_heads", a.num_heads, integer=True)
        check_positive(f"{f}.attention.num_kv_heads", a.num_kv_heads, integer=True)
        if a.kind == "gqa":
            check_positive(f"{f}.attention.head_dim", a.head_dim, integer=True)
            if a.num_heads % a.num_kv_heads:
                raise InputError(f"{f}.attention.num_kv_heads", a.num_kv_heads,
                                 f"query heads ({a.num_heads}) must be a multiple of KV heads",
                                 "a divisor of num_heads")
        else:
            for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
                check_positive(f"{f}.attention.{name}", getattr(a, name), integer=True)
            check_positive(f"{f}.attention.q_lora_rank", a.q_lora_rank, integer=True,
                           allow_zero=True)
        if a.qk_norm not in ("none", "per_head", "full"):
            raise InputError(f"{f}.attention.qk_norm", a.qk_norm, "unknown", "none, per_head, full")
        check_positive(f"{f}.attention.sliding_window_tokens", a.sliding_window_tokens,
                       integer=True, allow_zero=True)
        check_positive(f"{f}.attention.sliding_layers", a.sliding_layers, integer=True,
                       allow_zero=True)
        if a.sliding_layers > self.num_layers:
            raise InputError(f"{f}.attention.sliding_layers", a.sliding_layers,
                             f"more than the {self.num_layers} layers", f"0..{self.num_layers}")

    def _check_groups(self) -> None:
        """Group-limited routing (DeepSeek-V3 ``n_group``, ``topk_group``): the groups split the
        experts evenly and the chosen groups hold at least k experts."""
        f = "model"
        check_positive(f"{f}.n_group", self.n_group, integer=True)
        check_positive(f"{f}.topk_group", self.topk_group, integer=True)
        if not self.num_experts or self.num_experts % self.n_group:
            raise InputError(f"{f}.n_group", self.n_group,
                             f"does not split the {self.num_experts} routed experts evenly",
                             "a divisor of num_experts")
        if self.topk_group > self.n_group or \
                self.topk_group * self.num_experts // self.n_group < self.top_k:
            raise InputError(f"{f}.topk_group", self.topk_group,
                             f"must pick at most n_group = {self.n_group} groups holding at "
                             f"least top_k = {self.top_k} experts",
                             f"{-(-self.top_k * self.n_group // self.num_experts)} <= x <= "
                             f"{self.n_group}")

    # Derived facts used everywhere (no formulas here beyond naming)
    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def num_moe_layers(self) -> int:
        return self.num_layers - self.num_dense_layers

    @property
    def weight_bytes_per_param(self) -> float:
        return bytes_per_element(self.weight_precision)

    @property
    def expert_weight_bytes_per_param(self) -> float:
        return bytes_per_element(self.expert_weight_precision or self.weight_precision)

    @property
    def kv_bytes_per_element(self) -> float:
        return bytes_per_element(self.kv_precision)

    @property
    def activation_bytes_per_element(self) -> float:
        return bytes_per_element(self.activation_precision)


# --------------------------------------------------------------------------------------------
# Workload
# --------------------------------------------------------------------------------------------

#: Prompt lengths evaluated for a range [lo, hi]: powers of two strictly inside, plus both ends.
def prompt_grid_tokens(lo: int, hi: int) -> tuple[int, ...]:
    """Evaluation grid for a prompt-length range: ``lo``, every power of two in (lo, hi), ``hi``."""
    pts = {lo, hi}
    p = 1
    while p < hi:
        if p > lo:
            pts.add(p)
        p *= 2
    return tuple(sorted(pts))


@dataclass(frozen=True)
class Workload:
    """What the deployment serves: ``batch_sequences`` sequences in flight together.

    ``prompt_lengths_tokens`` are the prompt lengths to evaluate (one for a fixed length, a grid
    for a range); ``prompt_length_weights`` (same length, summing to 1) make it a distribution.
    TTFT is checked at the longest prompt, the worst case.
    """

    batch_sequences: int
    prompt_lengths_tokens: tuple[int, ...]
    output_tokens: int = 256
    prompt_length_weights: tuple[float, ...] | None = None
    prompt_range_tokens: tuple[int, int] | None = None   # as the user gave it, for reports
    output_tokens_stated: bool = True    # False when output_tokens is a default, not the user's

    def __post_init__(self) -> None:
        check_positive("workload.batch_sequences", self.batch_sequences, integer=True)
        check_positive("workload.output_tokens", self.output_tokens, integer=True)
        if not self.prompt_lengths_tokens:
            raise InputError("workload.prompt_lengths_tokens", self.prompt_lengths_tokens,
                             "no prompt length given", "one or more whole numbers > 0")
        for s in self.prompt_lengths_tokens:
            check_positive("workload.prompt_lengths_tokens", s, integer=True)
        if self.prompt_length_weights is not None:
            w = self.prompt_length_weights
            if len(w) != len(self.prompt_lengths_tokens):
                raise InputError("workload.prompt_length_weights", w,
                                 "needs one weight per prompt length",
                                 f"{len(self.prompt_lengths_tokens)} weights summing to 1")
            for x in w:
                check_positive("workload.prompt_length_weights", x, allow_zero=True)
            if abs(sum(w) - 1) > 1e-6:
                raise InputError("workload.prompt_length_weights", w, f"sum to {sum(w):g}",
                                 "weights summing to 1")
        if self.prompt_range_tokens is not None:
            lo, hi = self.prompt_range_tokens
            if lo > hi:
                raise InputError("workload.prompt_range_tokens", self.prompt_range_tokens,
                                 "the range is reversed", f"[{hi}, {lo}]")
        limits.check_workload(self)

    @property
    def max_prompt_tokens(self) -> int:
        return max(self.prompt_lengths_tokens)

    @property
    def min_prompt_tokens(self) -> int:
        return min(self.prompt_lengths_tokens)

    @classmethod
    def from_range(cls, batch_sequences: int, lo: int, hi: int, output_tokens: int = 256,
                   output_tokens_stated: bool = True) -> Workload:
        check_positive("workload.prompt_range_tokens[0]", lo, integer=True)
        check_positive("workload.prompt_range_tokens[1]", hi, integer=True)
        limits.check_limit("workload.prompt_range_tokens[1]", hi, "prompt_tokens")
        if lo > hi:
            raise InputError("workload.prompt_range_tokens", (lo, hi), "the range is reversed",
                             f"[{hi}, {lo}]")
        return cls(batch_sequences, prompt_grid_tokens(int(lo), int(hi)), output_tokens,
                   prompt_range_tokens=(int(lo), int(hi)),
                   output_tokens_stated=output_tokens_stated)


# --------------------------------------------------------------------------------------------
# Requirements
# --------------------------------------------------------------------------------------------

ThroughputKind = Literal["prefill", "decode", "total"]


@dataclass(frozen=True)
class Requirements:
    """Service-level targets; each is optional (None = not required).

    ``throughput_tokens_per_s_per_gpu`` counts the tokens named by ``throughput_kind``:
    "prefill" (prompt tokens processed), "decode" (tokens generated) or "total" (both, over a
    whole request). ``memory_reserve_fraction`` of HBM is kept free for the runtime
    (allocator fragmentation, CUDA context, graphs).
    """

    ttft_s: float | None = None
    tpot_s: float | None = None
    throughput_tokens_per_s_per_gpu: float | None = None
    throughput_kind: ThroughputKind | None = None
    throughput_kind_reason: str = ""
    memory_reserve_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("ttft_s", "tpot_s", "throughput_tokens_per_s_per_gpu"):
            v = getattr(self, name)
            if v is not None:
                check_positive(f"requirements.{name}", v)
        if self.throughput_kind not in (None, "prefill", "decode", "total"):
            raise InputError("requirements.throughput_kind", self.throughput_kind,
                             "unknown throughput kind", "prefill, decode, total")
        check_fraction("requirements.memory_reserve_fraction", self.memory_reserve_fraction,
                       allow_zero=True)
        if self.memory_reserve_fraction >= 1:
            raise InputError("requirements.memory_reserve_fraction", self.memory_reserve_fraction,
                             "would leave no memory for the model", "0 <= x < 1")
        limits.check_requirements(self)

# --------------------------------------------------------------------------------------------
# Scenario: everything a plan needs, plus what was assumed to fill the gaps
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """One planning problem. ``assumptions`` lists every default used to fill a gap in the input;
    ``warnings`` lists anything the user should look at (e.g. declared vs derived size)."""

    name: str
    hardware: Hardware
    model: Model
    workload: Workload
    requirements: Requirements = field(default_factory=Requirements)
    current_strategy: Strategy | None = None
    max_gpus: int = 1024
    fixed_gpus: int | None = None
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = ""
    serving: ServingRequirements | None = None   # the serving: block, when the scenario has one
    speculative: Speculative | None = None       # the speculative: block (MTP / draft model)

    def __post_init__(self) -> None:
        check_positive("scenario.max_gpus", self.max_gpus, integer=True)
        if self.fixed_gpus is not None:
            check_positive("scenario.fixed_gpus", self.fixed_gpus, integer=True)
        limits.check_scenario(self)

    def with_assumptions(self, *more: str) -> Scenario:
        return replace(self, assumptions=tuple(dict.fromkeys(self.assumptions + more)))

    def with_warnings(self, *more: str) -> Scenario:
        return replace(self, warnings=tuple(dict.fromkeys(self.warnings + more)))
