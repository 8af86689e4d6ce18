"""Plain mappings (from YAML, a scenario card or a preset file) -> the typed inputs.

Keys are the dataclass field names of :mod:`analysis.inputs` (SI units) or a unit-suffixed
human variant from :data:`UNIT_KEYS` (``hbm_capacity_GB: 80`` is ``hbm_capacity_bytes: 80e9``).
Fractions accept percent strings (``mfu: "60%"``). Unknown keys, wrong types and impossible
values raise :class:`~analysis.errors.InputError` naming the key, the value and what is valid;
nothing here lets a bare ``KeyError`` or ``TypeError`` reach the user.

Every default used for something the input did not say is returned as one readable sentence
(the *assumptions*); the defaults and the reason for each live in one table, :data:`DEFAULTS`.

Scenario schema (a YAML mapping; ``docs/scenario-format.md`` has the long form)::

    name: my-scenario
    hardware: H100-SXM            # a preset name, or a mapping (optionally `preset: NAME`
                                  # plus overrides)
    model: mixtral-8x7b           # a preset name, a path to a model YAML or a HF config.json
                                  # (relative to the scenario file), or a mapping
    workload: {batch_sequences: 128, prompt_tokens: [128, 10240], output_tokens: 256}
    requirements: {ttft_s: 10, tpot_ms: 50, throughput_tokens_per_ms_per_gpu: 100,
                   throughput_kind: prefill, memory_reserve_fraction: 0.1}
    current_strategy: "tp=4,ep=16"  # optional: a layout to evaluate beside the recommendation
    max_gpus: 1024                # optional search budget
    fixed_gpus: 64                # optional: the GPU count is fixed
"""

from __future__ import annotations

from analysis.inputs.read.assemble import (  # noqa: F401
    SCENARIO_KEYS,
    hardware_from_ref,
    model_from_ref,
    scenario_from_dict,
    size_warnings,
)
from analysis.inputs.read.parts import (  # noqa: F401
    calibration_from_dict,
    hardware_from_dict,
    model_from_dict,
    requirements_from_dict,
    strategy_from_value,
    workload_from_dict,
)
from analysis.inputs.read.presets import (  # noqa: F401
    PRESET_KINDS,
    PRESETS_DIR,
    find_preset,
    list_presets,
    load_json_text,
    parse_yaml_text,
    preset_path,
    read_preset,
    read_yaml,
)
from analysis.inputs.read.values import (  # noqa: F401
    DEFAULTS,
    FRACTION_FIELDS,
    META_KEYS,
    UNIT_KEYS,
    Default,
    closest,
    unknown_key_error,
)
