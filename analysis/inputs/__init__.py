"""The typed inputs (hardware, model, workload, requirements, strategy), checks and errors.

Readers that turn files into these types live in :mod:`analysis.inputs.read`."""

from analysis.inputs.checks import (  # noqa: F401
    check_fraction,
    check_positive,
)
from analysis.inputs.errors import (  # noqa: F401
    InputError,
    LayoutError,
    MoEPlanError,
    ParseError,
)
from analysis.inputs.precision import (  # noqa: F401
    BYTES_PER_ELEMENT,
    COMPUTE_PEAK_KEY,
    PRECISION_ALIASES,
    bytes_per_element,
    normalise_precision,
)
from analysis.inputs.scenario_types import (  # noqa: F401
    Requirements,
    Scenario,
    ThroughputKind,
    Workload,
    prompt_grid_tokens,
)
from analysis.inputs.serving import ServingRequirements  # noqa: F401
from analysis.inputs.speculative import Speculative, check_speculative  # noqa: F401
from analysis.inputs.strategy import (  # noqa: F401
    DEGREE_NAMES,
    Strategy,
    layout_label,
)
from analysis.inputs.types import (  # noqa: F401
    Attention,
    AttentionKind,
    Calibration,
    Hardware,
    Model,
    NormKind,
    QKNorm,
    saturating_efficiency,
)
