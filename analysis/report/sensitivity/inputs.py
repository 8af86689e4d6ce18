"""The declared inputs of the what-if analysis: how to read and set each on a Scenario/Options,
and which values are valid.
"""


import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from analysis import estimate as E
from analysis import fmt
from analysis.inputs.errors import InputError
from analysis.inputs.types import Scenario, prompt_grid_tokens

Setter = Callable[[Scenario, E.Options, float], tuple[Scenario, E.Options]]
Getter = Callable[[Scenario, E.Options], float]


def _hw(name: str) -> tuple[Getter, Setter]:
    def get(sc: Scenario, opts: E.Options) -> float:
        return float(getattr(sc.hardware, name))

    def put(sc: Scenario, opts: E.Options, v: float) -> tuple[Scenario, E.Options]:
        return replace(sc, hardware=replace(sc.hardware, **{name: v})), opts

    return get, put


def _workload(name: str) -> tuple[Getter, Setter]:
    def get(sc: Scenario, opts: E.Options) -> float:
        return float(getattr(sc.workload, name))

    def put(sc: Scenario, opts: E.Options, v: float) -> tuple[Scenario, E.Options]:
        return replace(sc, workload=replace(sc.workload, **{name: int(v)})), opts

    return get, put


def _get_prompt(sc: Scenario, opts: E.Options) -> float:
    return float(sc.workload.max_prompt_tokens)


def _put_prompt(sc: Scenario, opts: E.Options, v: float) -> tuple[Scenario, E.Options]:
    """Set the longest prompt S to ``v``. A range [lo, hi] becomes [min(lo, v), v] with its
    evaluation grid rebuilt; a list of lengths has its longest set to ``v`` and the others capped
    at ``v`` (weights kept, one per length)."""
    wl, s = sc.workload, int(v)
    if wl.prompt_range_tokens is not None and wl.prompt_length_weights is None:
        lo = min(wl.prompt_range_tokens[0], s)
        new = replace(wl, prompt_lengths_tokens=prompt_grid_tokens(lo, s),
                      prompt_range_tokens=(lo, s))
    else:
        longest = wl.prompt_lengths_tokens.index(wl.max_prompt_tokens)
        lengths = tuple(s if i == longest else min(x, s)
                        for i, x in enumerate(wl.prompt_lengths_tokens))
        if wl.prompt_length_weights is None:
            lengths = tuple(sorted(set(lengths)))
        new = replace(wl, prompt_lengths_tokens=lengths, prompt_range_tokens=None)
    return replace(sc, workload=new), opts


def _get_imbalance(sc: Scenario, opts: E.Options) -> float:
    """The busiest EP rank over the mean: the factor if one is set, 1 when balanced, NaN for
    uniform-random routing (there the factor depends on the layout)."""
    return {"factor": opts.imbalance_factor, "balanced": 1.0}.get(opts.imbalance, math.nan)


def _put_imbalance(sc: Scenario, opts: E.Options, v: float) -> tuple[Scenario, E.Options]:
    return sc, replace(opts, imbalance="factor", imbalance_factor=float(v))


def _show_fraction(v: float) -> str:
    return f"{v * 100:.3g}%"


def _show_bandwidth(v: float) -> str:
    return f"{v / 1e9:.3g} GB/s"


def _show_tokens(v: float) -> str:
    return f"{v:,.0f} tokens"


def _show_batch(v: float) -> str:
    return f"{v:,.0f} sequences"


def _show_factor(v: float) -> str:
    return "uniform routing" if math.isnan(v) else f"{v:.3g}x the mean"


Kind = str  # "fraction" | "positive" | "count" | "batch" | "imbalance"


@dataclass(frozen=True)
class Input:
    """One input of the what-if analysis: how to read and set it, and its valid values.

    ``kind`` sets the clamp: "fraction" (0 < x <= 1), "positive" (x >= 0), "count" (whole
    number >= 1), "batch" (a multiple of gcd(base batch, 8), at least that), "imbalance"
    (x >= 1). ``tornado_factors`` and ``scan_factors`` multiply the scenario's value to give the
    tornado's low/high and the threshold scan's bounds.
    """

    name: str                    # the key used by --inputs and in the tables
    label: str                   # what a reader sees
    get: Getter
    put: Setter
    show: Callable[[float], str]
    kind: Kind
    tornado_factors: tuple[float, float] = (0.5, 2.0)
    scan_factors: tuple[float, float] = (0.1, 10.0)

    def base(self, sc: Scenario, opts: E.Options) -> float:
        return self.get(sc, opts)

    def clamp(self, value: float, sc: Scenario, opts: E.Options) -> float:
        """The nearest valid value to ``value``."""
        if self.kind == "fraction":
            return float(min(max(value, 1e-6), 1.0))
        if self.kind == "positive":
            return float(max(value, 0.0))
        if self.kind == "count":
            return float(max(1, round(value)))
        if self.kind == "batch":
            step = math.gcd(sc.workload.batch_sequences, 8)
            return float(max(step, step * round(value / step)))
        if self.kind == "imbalance":
            return float(max(1.0, value))
        raise ValueError(self.kind)

    def _range(self, sc: Scenario, opts: E.Options, factors: tuple[float, float],
               unset: tuple[float, float]) -> tuple[float, float]:
        base = self.base(sc, opts)
        if math.isnan(base):              # imbalance under uniform routing: no factor to scale
            lo, hi = unset
        else:
            lo, hi = base * factors[0], base * factors[1]
        return self.clamp(lo, sc, opts), self.clamp(hi, sc, opts)

    def tornado_range(self, sc: Scenario, opts: E.Options) -> tuple[float, float]:
        """(low, high) for the tornado; for the imbalance under uniform routing 1x and 2x."""
        return self._range(sc, opts, self.tornado_factors, (1.0, 2.0))

    def scan_range(self, sc: Scenario, opts: E.Options) -> tuple[float, float]:
        """(low, high) bounds of the threshold scan; imbalance under uniform routing 1x to 4x."""
        return self._range(sc, opts, self.scan_factors, (1.0, 4.0))

    def apply(self, sc: Scenario, opts: E.Options, value: float) -> tuple[Scenario, E.Options]:
        """The scenario and options with this input set to ``value`` (clamped first)."""
        return self.put(sc, opts, self.clamp(value, sc, opts))


#: Every input the analysis perturbs, in the order the tables list ties.
INPUTS: tuple[Input, ...] = (
    Input("mfu", "MFU", *_hw("mfu"), _show_fraction, "fraction"),
    Input("bandwidth_utilization", "HBM bandwidth utilisation", *_hw("bandwidth_utilization"),
          _show_fraction, "fraction"),
    Input("scaleup_bandwidth", "scale-up (NVLink) bandwidth",
          *_hw("scaleup_bandwidth_bytes_per_s"), _show_bandwidth, "positive"),
    Input("scaleout_bandwidth", "scale-out bandwidth", *_hw("scaleout_bandwidth_bytes_per_s"),
          _show_bandwidth, "positive"),
    Input("scaleup_latency", "scale-up latency per message", *_hw("scaleup_latency_s"),
          fmt.seconds, "positive"),
    Input("scaleout_latency", "scale-out latency per message", *_hw("scaleout_latency_s"),
          fmt.seconds, "positive"),
    Input("prompt_length", "longest prompt S", _get_prompt, _put_prompt, _show_tokens, "count",
          scan_factors=(0.25, 4.0)),
    Input("batch", "batch B", *_workload("batch_sequences"), _show_batch, "batch",
          scan_factors=(0.25, 4.0)),
    Input("output_length", "output length O", *_workload("output_tokens"), _show_tokens, "count",
          scan_factors=(0.25, 10.0)),
    Input("imbalance", "MoE load imbalance (busiest EP rank / mean)", _get_imbalance,
          _put_imbalance, _show_factor, "imbalance"),
)
BY_NAME = {i.name: i for i in INPUTS}


def input_names() -> list[str]:
    return [i.name for i in INPUTS]


def inputs_named(names: str | Sequence[str] | None) -> list[Input]:
    """Inputs by name (a list, or a comma-separated string); InputError names an unknown one."""
    if names is None:
        return list(INPUTS)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise InputError("--inputs", "", "no input named", ", ".join(BY_NAME))
    out = []
    for n in names:
        if isinstance(n, Input):
            out.append(n)
        elif n in BY_NAME:
            out.append(BY_NAME[n])
        else:
            raise InputError("--inputs", n, "unknown input", ", ".join(BY_NAME))
    return list(dict.fromkeys(out))
