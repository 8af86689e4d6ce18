"""Validation against published measurements and the calibrated efficiency curves
(see :mod:`analysis.validation.run`)."""

from .run import (  # noqa: F401
    fit_all,
    fit_calibration,
    load_mapping,
    load_measurements,
    mapped_rows,
    predict,
    split_of,
    summary,
    validation_table,
    worst_rows,
    write_calibrations,
)
