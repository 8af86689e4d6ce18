"""Read a scenario's ``serving:`` block into :class:`analysis.inputs.serving.ServingRequirements`.

```yaml
serving:
  prompt_tokens: 1024              # or {distribution: uniform, min: 512, max: 1536}
  output_tokens: 512               # or {distribution: normal, mean: 512, std: 128}
  ttft_ms: 2000                    # or ttft_s
  tpot_ms: 50                      # or tpot_s
  percentile: p90                  # p50, p90 or p99 (default p90)
  request_rate_per_s: 20           # whole deployment: the plan finds the fewest GPUs
  throughput_tokens_per_ms_per_gpu: 5   # or throughput_tokens_per_s_per_gpu
  throughput_counts: output        # output (default) or total tokens
  engine: vllm                     # engine profile for the simulator (default generic)
  disaggregation: true             # consider separate prefill and decode pools (default true)
```

Lengths left out are taken from the scenario's ``workload`` (its prompt length, or its range as
a uniform draw; its output length), and each default taken is an assumption.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analysis.inputs.errors import InputError
from analysis.inputs.serving import PERCENTILES, ServingRequirements
from analysis.inputs.types import Workload

SERVING_KEYS = ("prompt_tokens", "output_tokens", "ttft_s", "ttft_ms", "tpot_s", "tpot_ms",
                "percentile", "request_rate_per_s", "throughput_tokens_per_s_per_gpu",
                "throughput_tokens_per_ms_per_gpu", "throughput_counts", "engine",
                "disaggregation", "notes", "assumptions")
_UNITS = {"ttft_ms": ("ttft_s", 1e-3), "tpot_ms": ("tpot_s", 1e-3),
          "throughput_tokens_per_ms_per_gpu": ("throughput_tokens_per_s_per_gpu", 1e3)}
DEFAULT_PERCENTILE = "p90"


def _err(field: str, value: object, why: str, valid: str, where: str | None) -> InputError:
    return InputError(f"serving.{field}", value, why, valid, where)


def _whole(field: str, value: object, where: str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value in (float("inf"), float("-inf")) or value != int(value) or value < 1:
        raise _err(field, value, "must be a whole number >= 1", "a whole number >= 1", where)
    return int(value)


def _number(field: str, value: object, where: str | None, lo: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value == float("inf") or value < lo:
        raise _err(field, value, f"must be a finite number >= {lo:g}", f"a number >= {lo:g}",
                   where)
    return float(value)


def length_spec(value: object, field: str, where: str | None) -> Any:
    """A length as the simulator accepts it: a whole number, ``{distribution: uniform, min,
    max}`` or ``{distribution: normal, mean, std}``; checked here so bad input fails early."""
    if not isinstance(value, Mapping):
        return _whole(field, value, where)
    kind = value.get("distribution")
    allowed = {"uniform": ("distribution", "min", "max"),
               "normal": ("distribution", "mean", "std")}
    if kind not in allowed:
        raise _err(f"{field}.distribution", kind, "unknown distribution", "uniform, normal",
                   where)
    for key in value:
        if key not in allowed[kind]:
            raise _err(f"{field}.{key}", value[key], f"not a field of a {kind} draw",
                       ", ".join(allowed[kind]), where)
    if kind == "uniform":
        lo = _whole(f"{field}.min", value.get("min"), where)
        hi = _whole(f"{field}.max", value.get("max"), where)
        if hi < lo:
            raise _err(f"{field}.max", hi, f"below min = {lo}", f"a whole number >= {lo}", where)
        return {"distribution": "uniform", "min": lo, "max": hi}
    mean = _number(f"{field}.mean", value.get("mean"), where, lo=1.0)
    std = _number(f"{field}.std", value.get("std"), where)
    return {"distribution": "normal", "mean": mean, "std": std}


def _lengths_from_workload(w: Workload) -> tuple[Any, Any, list[str]]:
    if w.prompt_range_tokens is not None:
        lo, hi = w.prompt_range_tokens
        isl: Any = {"distribution": "uniform", "min": lo, "max": hi}
        text = f"uniform {lo}..{hi}"
    else:
        isl = w.max_prompt_tokens
        text = str(isl)
    return isl, w.output_tokens, [
        f"serving.prompt_tokens not given: the workload's prompts ({text} tokens)",
        f"serving.output_tokens not given: the workload's output_tokens ({w.output_tokens})"]


def serving_from_dict(d: object, workload: Workload, where: str | None = None
                      ) -> tuple[ServingRequirements, list[str]]:
    """``(requirements, assumptions)`` from the ``serving:`` mapping; ``workload`` fills in
    lengths left out."""
    if not isinstance(d, Mapping):
        raise InputError("serving", d, "must be a mapping", "{prompt_tokens: 1024, "
                         "output_tokens: 512, ttft_ms: 2000, tpot_ms: 50}", where)
    values: dict[str, Any] = {}
    for key, raw in d.items():
        if key not in SERVING_KEYS:
            raise _err(str(key), raw, "unknown field", ", ".join(SERVING_KEYS), where)
        if key in ("notes", "assumptions") or raw is None:
            continue
        field, factor = _UNITS.get(key, (key, 1.0))
        if field in values:
            raise _err(key, raw, f"{field} given twice", f"one of the keys for {field}", where)
        if field in ("ttft_s", "tpot_s", "request_rate_per_s", "throughput_tokens_per_s_per_gpu"):
            values[field] = _number(key, raw, where) * factor
        else:
            values[field] = raw
    assumptions: list[str] = []
    isl, osl, notes = _lengths_from_workload(workload)
    if "prompt_tokens" in values:
        values["prompt_tokens"] = length_spec(values["prompt_tokens"], "prompt_tokens", where)
    else:
        values["prompt_tokens"] = isl
        assumptions.append(notes[0])
    if "output_tokens" in values:
        values["output_tokens"] = length_spec(values["output_tokens"], "output_tokens", where)
    else:
        values["output_tokens"] = osl
        assumptions.append(notes[1])
    if "percentile" not in values:
        values["percentile"] = DEFAULT_PERCENTILE
        assumptions.append(f"serving.percentile not given: TTFT and TPOT checked at "
                           f"{DEFAULT_PERCENTILE} (one request in ten may be slower), the "
                           f"percentile serving benchmarks most often report beside the mean")
    elif str(values["percentile"]).lower() not in PERCENTILES:
        raise _err("percentile", values["percentile"], "unknown percentile",
                   ", ".join(PERCENTILES), where)
    values["percentile"] = str(values["percentile"]).lower()
    if "disaggregation" in values and not isinstance(values["disaggregation"], bool):
        raise _err("disaggregation", values["disaggregation"], "must be true or false",
                   "true, false", where)
    if "engine" in values and not isinstance(values["engine"], str):
        raise _err("engine", values["engine"], "must be a name", "vllm, sglang, trtllm, generic",
                   where)
    if "engine" not in values:
        assumptions.append("serving.engine not given: the generic engine profile "
                           "(docs/simulate.md)")
    try:
        return ServingRequirements(**values), assumptions
    except InputError as e:
        raise InputError(e.field, e.value, e.why, e.valid, where) from None
