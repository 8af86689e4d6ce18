"""Fixtures the course tests share: the H100 preset and three scenarios (seed, DeepSeek-V3 and
Mixtral on H200 at 8k context)."""

import matplotlib
import pytest

from analysis.inputs.read.mapping import hardware_from_ref
from analysis.inputs.read.scenario import compose_scenario, load_scenario

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def h100():
    return hardware_from_ref("H100-SXM")[0]


@pytest.fixture(scope="module")
def seed():
    return load_scenario("seed")


@pytest.fixture(scope="module")
def dsv3():
    return compose_scenario("H200", "deepseek-v3", 64, 8192 - 256, 256)


@pytest.fixture(scope="module")
def mixtral():
    return compose_scenario("H200", "mixtral-8x7b", 64, 8192 - 256, 256)
