"""The validation's public names in one place (kept for notebooks, tests and the CLI).

The work is split by concern: :mod:`.data` (the old measurement set and its mapping, the
declared split), :mod:`.cases` (both data sets as cases: one measured metric of one run, and
how to predict it), :mod:`.predict` (closed form and simulator), :mod:`.fit` (bounded
efficiencies and per-iteration overheads), :mod:`.report` (tables, leave-one-source-out) and
:mod:`.explain` (why the worst cases miss), :mod:`.takeaway` (notebook 10's takeaway).
"""

from analysis.validation.cases import all_cases, skipped_serving_rows  # noqa: F401
from analysis.validation.data import (  # noqa: F401
    ALL_METRIC_KINDS,
    METRIC_KINDS,
    MODES,
    load_mapping,
    load_measurements,
    mapped_rows,
    skipped_rows,
    split_of,
)
from analysis.validation.explain import explain, worst_rows  # noqa: F401
from analysis.validation.fit import (  # noqa: F401
    BOUNDS,
    FITTED_GPUS,
    TRANSFERRED,
    calibration_table,
    calibration_yaml,
    check_bounds,
    fit_all,
    fit_gpu,
    load_overheads,
    refit,
    write_calibrations,
)
from analysis.validation.predict import closed_form, mode_used, preset_hardware  # noqa: F401
from analysis.validation.report import (  # noqa: F401
    QUANTITY_UNITS,
    WORKLOAD_KINDS,
    error_by,
    leave_one_source_out,
    loso_pooled,
    loso_table,
    markdown,
    median_abs_error_pivot,
    sol_violations,
    summary,
    summary_by_kind,
    summary_markdown,
    unit_of,
    validation_table,
)
from analysis.validation.takeaway import takeaway_markdown  # noqa: F401
