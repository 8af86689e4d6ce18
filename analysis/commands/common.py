"""What several verbs share: the model or scenario as the user chose to trust it, the estimate
options read from the flags, and the one JSON writer."""

from __future__ import annotations

import argparse

from analysis import anatomy as A
from analysis import estimate as E
from analysis.commands.checks import dumps_json
from analysis.inputs.errors import InputError
from analysis.inputs.types import bytes_per_element, normalise_precision


def as_json(obj, default=float) -> str:
    """Every verb's JSON, written in one place: NaN and infinity are an error, never output."""
    return dumps_json(obj, default)


def trusted_model(model, trust: str):
    """The model as the user chose to trust it: its architecture (default), or the declared
    parameter count (:func:`analysis.anatomy.model_matching_declared`)."""
    if trust == "architecture":
        return model
    if model.declared_total_params is None:
        raise InputError("--trust-size", trust, f"{model.name} declares no parameter count",
                         "architecture (the default), or a model with a declared size")
    return A.model_matching_declared(model)


def trusted_scenario(scenario, trust: str):
    from dataclasses import replace

    model = trusted_model(scenario.model, trust)
    if model is scenario.model:
        return scenario
    return replace(scenario, model=model).with_assumptions(
        f"--trust-size declared: {model.source.split('; ')[-1]}")


def precision_bytes(args: argparse.Namespace, name: str) -> float | None:
    """Bytes per element of ``--<name>-precision`` (None when not given)."""
    value = getattr(args, f"{name}_precision", None)
    if value is None:
        return None
    return bytes_per_element(normalise_precision(value, f"--{name}-precision"))


def options(args: argparse.Namespace, sc=None) -> E.Options:
    """The estimate options of ``--mode``, ``--imbalance`` (and ``--skew``), ``--overlap``, the
    dispatch and combine precisions, ``--two-batch-overlap`` and speculative decoding; a
    scenario's ``speculative:`` block applies when ``--draft-tokens`` is not given."""
    return E.Options(mode=args.mode, imbalance=args.imbalance,
                     imbalance_factor=args.imbalance_factor, skew=args.skew,
                     overlap_fraction=args.overlap,
                     dispatch_bytes_per_element=precision_bytes(args, "dispatch"),
                     combine_bytes_per_element=precision_bytes(args, "combine"),
                     two_batch_overlap=args.two_batch_overlap,
                     draft_tokens=args.draft_tokens, acceptance_rate=args.acceptance_rate,
                     draft_cost_fraction=args.draft_cost_fraction
                     ).with_speculative(getattr(sc, "speculative", None))
