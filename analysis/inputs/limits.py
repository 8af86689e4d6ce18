"""Limits on every input size, stated once.

Generous (several times the largest model or cluster in use today) but bounded, so that no input
can make the work unbounded: the readers and the typed inputs check against these numbers, and
every loop over layers, divisors or lines is bounded by one of them. A value past a limit fails
with the one-line error form and the limit in ``valid:``, e.g.
``model.num_layers = 1000000000: above the limit; valid: a whole number 1..10,000``.
"""

from __future__ import annotations

import math

from analysis.inputs.errors import InputError

#: The limits. Counts are whole numbers; byte and rate limits are floats in SI units.
LIMITS: dict[str, float] = {
    "layers": 10_000,                   # L (DeepSeek-V3: 61)
    "experts": 100_000,                 # E routed experts per layer (DeepSeek-V3: 256)
    "top_k": 10_000,                    # k experts per token
    "heads": 100_000,                   # H, H_kv (Llama-3.1-405B: 128)
    "head_dim": 100_000,                # d_h and the MLA ranks and head widths
    "hidden_size": 1_000_000,           # D (Llama-3.1-405B: 16,384)
    "intermediate_size": 10_000_000,    # F, dense and shared FFN widths (405B: 53,248)
    "vocab": 10_000_000,                # V (Gemma: 256,000)
    "prompt_tokens": 10_000_000,        # S, one prompt
    "output_tokens": 10_000_000,        # O, one answer
    "batch": 1_000_000,                 # B sequences in flight
    "gpus": 1_000_000,                  # GPUs in a layout, budget or node
    "degree": 1_000_000,                # any one parallel degree (tp, ep, pp, ...)
    "redundant_experts": 100_000,       # redundant expert copies per layer
    "params": 1e16,                     # declared parameter counts
    "memory_bytes": 1e15,               # HBM per GPU (1 PB)
    "bandwidth_bytes_per_s": 1e16,      # HBM or link bandwidth per GPU
    "flops_per_s": 1e19,                # peak FLOP/s per GPU
    "latency_s": 1.0,                   # per message
    "time_s": 1e7,                      # a TTFT or TPOT requirement (about 4 months)
    "throughput_tokens_per_s": 1e12,    # a throughput requirement per GPU
    "file_bytes": 10 * 1024 * 1024,     # any input file (10 MiB)
}

#: What each limit counts, for the ``valid:`` text.
_UNIT = {"file_bytes": "bytes", "memory_bytes": "bytes",
         "bandwidth_bytes_per_s": "bytes/s", "flops_per_s": "FLOP/s", "latency_s": "s",
         "time_s": "s", "throughput_tokens_per_s": "tokens/s"}


def limit(name: str) -> float:
    """The limit called ``name`` (KeyError for a name not in :data:`LIMITS`)."""
    return LIMITS[name]


def check_limit(field: str, value: object, name: str, *, where: str | None = None) -> None:
    """InputError when ``value`` (already known to be a finite number) exceeds limit ``name``.

    Non-numbers and non-finite numbers are refused too, so a caller may use this alone.
    """
    top = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(field, value, "must be a finite number", f"a number <= {top:,g}", where)
    if value > top:
        unit = f" {_UNIT[name]}" if name in _UNIT else ""
        shown = f"{top:,.0f}" if float(top).is_integer() and top < 1e12 else f"{top:g}"
        raise InputError(field, value, f"above the limit of {shown}{unit}",
                         f"a number no larger than {shown}{unit}", where)


def check_limits(prefix: str, pairs: dict[str, str], obj: object) -> None:
    """Check ``getattr(obj, attr)`` against limit ``name`` for each ``attr: name`` in ``pairs``
    (None values are skipped: optional inputs)."""
    for attr, name in pairs.items():
        value = getattr(obj, attr)
        if value is not None:
            check_limit(f"{prefix}.{attr}", value, name)


MODEL_LIMITS = {"num_layers": "layers", "hidden_size": "hidden_size", "vocab_size": "vocab",
                "num_dense_layers": "layers", "dense_intermediate_size": "intermediate_size",
                "num_experts": "experts", "top_k": "top_k",
                "expert_intermediate_size": "intermediate_size",
                "num_shared_experts": "experts",
                "shared_expert_intermediate_size": "intermediate_size",
                "declared_total_params": "params", "declared_active_params": "params"}
ATTENTION_LIMITS = {"num_heads": "heads", "num_kv_heads": "heads", "head_dim": "head_dim",
                    "q_lora_rank": "head_dim", "kv_lora_rank": "head_dim",
                    "qk_nope_head_dim": "head_dim", "qk_rope_head_dim": "head_dim",
                    "v_head_dim": "head_dim", "sliding_window_tokens": "prompt_tokens",
                    "sliding_layers": "layers"}
HARDWARE_LIMITS = {"hbm_capacity_bytes": "memory_bytes",
                   "hbm_bandwidth_bytes_per_s": "bandwidth_bytes_per_s",
                   "gpus_per_node": "gpus",
                   "scaleup_bandwidth_bytes_per_s": "bandwidth_bytes_per_s",
                   "scaleout_bandwidth_bytes_per_s": "bandwidth_bytes_per_s",
                   "scaleup_latency_s": "latency_s", "scaleout_latency_s": "latency_s"}
REQUIREMENT_LIMITS = {"ttft_s": "time_s", "tpot_s": "time_s",
                      "throughput_tokens_per_s_per_gpu": "throughput_tokens_per_s"}


def check_model(model) -> None:
    """Every size of a :class:`~analysis.inputs.types.Model` within its limit."""
    check_limits("model", MODEL_LIMITS, model)
    check_limits("model.attention", ATTENTION_LIMITS, model.attention)


def check_hardware(hw) -> None:
    check_limits("hardware", HARDWARE_LIMITS, hw)
    for key, value in hw.peak_flops_per_s:
        check_limit(f"hardware.peak_flops_per_s[{key}]", value, "flops_per_s")


def check_workload(w) -> None:
    check_limit("workload.batch_sequences", w.batch_sequences, "batch")
    check_limit("workload.output_tokens", w.output_tokens, "output_tokens")
    for s in w.prompt_lengths_tokens:
        check_limit("workload.prompt_lengths_tokens", s, "prompt_tokens")


def check_requirements(r) -> None:
    check_limits("requirements", REQUIREMENT_LIMITS, r)


def check_strategy(s, names: tuple[str, ...]) -> None:
    for n in names:
        check_limit(f"strategy.{n}", getattr(s, n),
                    "redundant_experts" if n == "redundant_experts" else "degree")
    check_limit("strategy.gpus", s.gpus, "gpus")


def check_scenario(sc) -> None:
    check_limit("scenario.max_gpus", sc.max_gpus, "gpus")
    if sc.fixed_gpus is not None:
        check_limit("scenario.fixed_gpus", sc.fixed_gpus, "gpus")
