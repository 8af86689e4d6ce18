"""The typed inputs (hardware, model, workload, requirements, strategy), checks and errors.

Readers that turn files into these types live in :mod:`analysis.inputs.read`."""

from analysis.inputs.errors import (  # noqa: F401
    InputError,
    LayoutError,
    MoEPlanError,
    ParseError,
)
from analysis.inputs.serving import ServingRequirements  # noqa: F401
from analysis.inputs.types import (  # noqa: F401
    BYTES_PER_ELEMENT,
    COMPUTE_PEAK_KEY,
    DEGREE_NAMES,
    PRECISION_ALIASES,
    Attention,
    AttentionKind,
    Calibration,
    Hardware,
    Model,
    NormKind,
    QKNorm,
    Requirements,
    Scenario,
    Strategy,
    ThroughputKind,
    Workload,
    bytes_per_element,
    check_fraction,
    check_positive,
    layout_label,
    normalise_precision,
    prompt_grid_tokens,
    saturating_efficiency,
)
