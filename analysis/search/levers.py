"""What would raise throughput per GPU when no layout reaches the target: the real levers, in
the order they are worth trying, and never a feature the model already has.

:func:`throughput_levers` returns one sentence for the binding-constraint advice. It first says
whether the best layout is far below the resource ceiling (then the levers are the batch size,
the concurrency and the layout, not the hardware) and then what raises the ceiling itself, naming
only what applies to this model: fp8 KV only when the KV cache is wider than one byte, fewer KV
heads only for multi-head attention (a GQA or MLA model already has them), MLA never for a model
that has it, fp8 compute only when activations are wider than one byte.
"""

from __future__ import annotations

from analysis.inputs.types import Model

#: Below this share of its ceiling the best layout is limited by the batch, the concurrency or
#: the layout, not by the resource (batching and communication leave the rest unused).
FAR_BELOW_CEILING = 0.8


def _kv_smaller(m: Model) -> list[str]:
    """Ways to shrink the KV cache that the model does not already use."""
    a = m.attention
    out = []
    if m.kv_bytes_per_element > 1:
        out.append(f"fp8 KV (now {m.kv_precision})")
    if a.kind != "mla" and a.num_kv_heads == a.num_heads:
        out.append("fewer KV heads (GQA or MLA; the model has multi-head attention)")
    return out


def ceiling_levers(m: Model, kind: str, resource: str) -> str:
    """What raises the ceiling of ``kind`` throughput set by ``resource``."""
    out = []
    if "memory bandwidth" in resource:
        kv = _kv_smaller(m)
        out.append("more HBM bandwidth per GPU, "
                   + (f"a smaller KV cache ({', '.join(kv)}) " if kv else "")
                   + "or shorter contexts")
    if "compute" in resource:
        out.append("more FLOP/s per GPU, a higher MFU, or fewer FLOPs per token")
    return "; and ".join(out) or "more of the binding resource per GPU"


def throughput_levers(m: Model, kind: str, resource: str | None, best_tokens_per_s: float,
                      ceiling_tokens_per_s: float | None, batch_sequences: int) -> str:
    """One sentence (no final stop): the levers for ``kind`` throughput per GPU; batch,
    concurrency and layout first when the best layout is far below the ceiling (best / ceiling
    < :data:`FAR_BELOW_CEILING`)."""
    if not resource:
        return ("Raising it needs a larger batch, another layout, or more FLOP/s and bandwidth "
                "per GPU")
    ceiling = ceiling_levers(m, kind, resource)
    if ceiling_tokens_per_s and best_tokens_per_s < FAR_BELOW_CEILING * ceiling_tokens_per_s:
        share = best_tokens_per_s / ceiling_tokens_per_s
        return (f"The best layout reaches {share:.0%} of that ceiling, so the first levers are "
                f"the batch size (now {batch_sequences} sequences: more tokens share each "
                f"weight read and each message), the concurrency when served (a serving: block "
                f"plans it) and the layout (fewer GPUs per model copy, less communication); "
                f"raising the ceiling itself needs {ceiling}")
    return f"Raising it needs {ceiling}"
