"""Validation against published measurements and the calibrated efficiency curves
(see :mod:`analysis.validation.run`)."""

from .run import (  # noqa: F401
    all_cases,
    fit_all,
    fit_gpu,
    leave_one_source_out,
    load_mapping,
    load_measurements,
    mapped_rows,
    split_of,
    summary,
    validation_table,
    worst_rows,
    write_calibrations,
)
