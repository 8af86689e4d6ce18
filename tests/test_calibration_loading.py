"""The optional ``calibration:`` block of a GPU preset: parsed into inputs.Calibration, with a
typed error for every bad key or value; presets with and without it keep their stated factors."""

from __future__ import annotations

import pytest

from analysis.inputs import Calibration
from analysis.inputs.errors import InputError
from analysis.inputs.read.mapping import (
    calibration_from_dict,
    hardware_from_dict,
    hardware_from_ref,
)

TOY = {"name": "toy", "peak_TFLOPS": {"bf16": 100}, "hbm_capacity_GB": 10,
       "hbm_bandwidth_TB_per_s": 1}


def test_calibration_block_is_parsed_into_calibration():
    hw, _ = hardware_from_dict({**TOY, "calibration": {
        "compute_max": 0.7, "compute_half_tokens": 64, "memory_max": "85%",
        "memory_half_bytes": 1e6, "scaleup_max": 0.6, "scaleup_half_bytes": 3e4,
        "op_overhead_s": 4e-6, "source": "fitted by hand", "notes": "free text"}})
    assert hw.calibration == Calibration(0.7, 64, 0.85, 1e6, scaleup_max=0.6,
                                         scaleup_half_bytes=3e4, op_overhead_s=4e-6,
                                         source="fitted by hand")
    assert hw.mfu == 0.5   # the stated factors (here the documented defaults) are untouched


def test_no_calibration_block_means_none():
    hw, _ = hardware_from_dict(TOY)
    assert hw.calibration is None


def test_half_points_and_link_curves_default():
    cal = calibration_from_dict({"compute_max": 0.6, "memory_max": 0.8})
    assert (cal.compute_half_tokens, cal.memory_half_bytes, cal.scaleup_half_bytes,
            cal.op_overhead_s) == (0, 0, 0, 0)
    assert cal.scaleup_max == Calibration.__dataclass_fields__["scaleup_max"].default


@pytest.mark.parametrize("block,field", [
    ({"compute_max": 0.6, "memory_max": 0.8, "mfu": 0.5}, "hardware.calibration.mfu"),
    ({"memory_max": 0.8}, "hardware.calibration.compute_max"),
    ({"compute_max": 1.5, "memory_max": 0.8}, "hardware.calibration.compute_max"),
    ({"compute_max": 0.6, "memory_max": "fast"}, "hardware.calibration.memory_max"),
    ({"compute_max": 0.6, "memory_max": 0.8, "op_overhead_s": -1e-6},
     "hardware.calibration.op_overhead_s"),
])
def test_bad_calibration_raises_input_error_naming_the_key(block, field):
    with pytest.raises(InputError) as e:
        hardware_from_dict({**TOY, "calibration": block}, "toy.yaml")
    assert e.value.field == field


def test_calibration_must_be_a_mapping():
    with pytest.raises(InputError) as e:
        hardware_from_dict({**TOY, "calibration": 0.7})
    assert e.value.field == "hardware.calibration"


def test_unknown_key_suggests_the_closest():
    with pytest.raises(InputError) as e:
        calibration_from_dict({"compute_max": 0.6, "memory_max": 0.8, "op_overhead": 1e-6})
    assert "op_overhead_s" in str(e.value)


@pytest.mark.parametrize("gpu", ["A100-80GB", "H100-SXM", "H200", "H800", "MI300X"])
def test_calibrated_presets_carry_curves_with_provenance(gpu):
    hw, _ = hardware_from_ref(gpu)
    assert hw.calibration is not None
    # the bounded fit of issue 11 names its split and the sources it was fitted on
    assert "calibration-split cases" in hw.calibration.source
    assert "sources" in hw.calibration.source
    assert (hw.mfu, hw.bandwidth_utilization) == (0.5, 0.8)   # stated factors unchanged


@pytest.mark.parametrize("gpu", ["seed-card", "B200", "GB200"])
def test_gpus_without_measurements_keep_their_stated_efficiencies(gpu):
    # no published measurement exists for these GPUs: calibrated mode falls back to the card's
    # (or the preset's stated) efficiency factors
    hw, _ = hardware_from_ref(gpu)
    assert hw.calibration is None
