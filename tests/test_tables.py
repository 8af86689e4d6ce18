"""The tables behind the notebooks: breakdowns sum to their totals, tables agree with the
functions they wrap, and two values worked by hand (a ring all-reduce, a roofline ridge point)."""

import numpy as np
import pytest

from analysis import anatomy as A
from analysis import estimate as E
from analysis.course import roofline
from analysis.inputs.read.mapping import hardware_from_ref
from analysis.inputs.read.scenario import list_presets, load_model, load_scenario
from analysis.report import tables as T

SEED_LAYOUTS = ["tp=1", "ep=8", "ep=16", "tp=4,ep=16", "tp=8,pp=2"]


@pytest.fixture(scope="module")
def seed():
    return load_scenario("seed")


@pytest.fixture(scope="module")
def h100():
    return hardware_from_ref("H100-SXM")[0]


@pytest.mark.parametrize("name", list_presets("models"))
def test_anatomy_table_total_is_total_params(name):
    model = load_model(name)[0]
    df = T.anatomy_table(model)
    parts, total = df[df.component != "total"], df[df.component == "total"].iloc[0]
    assert total["params"] == A.total_params(model)
    assert parts["params"].sum() == total["params"]
    assert parts["active_params"].sum() == total["active_params"] == A.active_params(model, True)
    assert parts["active_params_excl_input_embedding"].sum() == A.active_params(model, False)
    assert parts["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", list_presets("models"))
def test_anatomy_check_matches(name):
    check = T.anatomy_check(load_model(name)[0])
    assert check["match"].all(), check.to_string()


def test_flops_per_token_table_sums_to_total():
    model = load_model("deepseek-v3")[0]
    df = T.flops_per_token_table(model, 4096, 4096)
    parts, total = df[df.op != "total"], df[df.op == "total"].iloc[0]
    assert parts["prefill_flops_per_token"].sum() == pytest.approx(total["prefill_flops_per_token"])
    assert parts["decode_flops_per_token"].sum() == pytest.approx(total["decode_flops_per_token"])


def test_memory_table_equals_estimate(seed):
    df = T.memory_table(seed, SEED_LAYOUTS)
    lay = E.Layouts.from_strategies(T.strategies(SEED_LAYOUTS))
    mem = E.memory_per_gpu_bytes(seed.hardware, seed.model, seed.workload,
                                 seed.requirements.memory_reserve_fraction, lay, E.Options())
    for c in E.MEMORY_COMPONENTS:
        np.testing.assert_allclose(df[f"{c}_bytes"], mem[c], rtol=0)
    cols = [f"{c}_bytes" for c in E.MEMORY_COMPONENTS]
    np.testing.assert_allclose(df[cols].sum(axis=1), df["total_bytes"], rtol=1e-12)
    # the same totals the one-layout estimate reports
    for s, total in zip(T.strategies(SEED_LAYOUTS), df["total_bytes"], strict=True):
        assert sum(E.estimate(seed, s).memory_bytes.values()) == pytest.approx(total, rel=1e-12)
    assert list(df["fits"]) == list(df["total_bytes"] <= seed.hardware.hbm_capacity_bytes)
    # One GPU now holds the seed batch (issue 12: prefill activations are sized by the tokens of
    # one iteration, not the whole prompt batch). By hand: KV = 128 sequences x (10,240 + 256)
    # tokens x 2 (K, V) x 16 layers x 512 x 2 B = 44,023,414,784 B; + 0.905 GB of weights +
    # 6.4 GB reserve (10% of 64 GB) + activations is 51.4 GB <= 64 GB.
    one = df.iloc[0]
    assert one["kv_cache_bytes"] == 128 * (10_240 + 256) * 2 * 16 * 512 * 2
    assert one["fits"] and one["total_bytes"] == pytest.approx(51.45e9, rel=1e-3)


def test_roofline_table_sums_to_ttft_and_tpot(seed):
    s = T.strategies(["ep=8"])[0]          # pp = 1, one micro-batch: TTFT is one stage step
    df = T.roofline_table(seed, s)
    est = E.estimate(seed, s)
    assert df[df.phase == "prefill"]["time_s"].sum() == pytest.approx(est.worst["ttft_s"])
    assert df[df.phase == "decode"]["time_s"].sum() == pytest.approx(
        sum(est.tpot_breakdown_s.values()))
    # an op takes its slowest resource plus the fixed cost of its kernels (issue 12: 3 us each
    # in derated mode)
    np.testing.assert_allclose(
        df["time_s"], df[["compute_s", "memory_s", "comm_s"]].max(axis=1) + df["overhead_s"],
        rtol=1e-12)
    assert (df["overhead_s"] > 0).any()
    gpu = df[df.flops > 0]
    np.testing.assert_allclose(gpu["intensity_flops_per_byte"], gpu["flops"] / gpu["hbm_bytes"])


def test_ridge_point_h100_by_hand(h100):
    # H100 SXM dense BF16 peak 989.4 TFLOP/s over 3.35 TB/s HBM3: 989.4e12 / 3.35e12 = 295.34 FLOP/B
    ridge = roofline.ridge_points(h100, "bf16").set_index("mode")["ridge_flops_per_byte"]["sol"]
    assert ridge == pytest.approx(989.4e12 / 3.35e12)
    assert ridge == pytest.approx(295.343, rel=1e-5)


def test_collective_table_ring_all_reduce_by_hand(h100):
    df = T.collective_table(h100, [1e6], [8])
    row = df[df.collective == "ring all-reduce"].iloc[0]
    # 1 MB over N = 8 H100s, all inside one node: NVLink 450 GB/s x 0.8 efficiency = 360 GB/s,
    # alpha = 2 us. Wire bytes 2 * 7/8 * 1e6 = 1.75e6 B; 1.75e6 / 360e9 = 4.8611 us;
    # latency 2 * 7 * 2 us = 28 us; total 32.8611 us. Bus bandwidth 1.75e6 B / 32.8611 us
    # = 53.25 GB/s.
    assert row["tier"].startswith("NVLink")
    assert row["wire_bytes_per_gpu"] == pytest.approx(1.75e6)
    assert row["time_s"] == pytest.approx(32.8611e-6, rel=1e-5)
    assert row["bus_bandwidth_bytes_per_s"] == pytest.approx(53.254e9, rel=1e-4)
    assert row["latency_floor_s"] == pytest.approx(28e-6)


def test_collective_table_crossing_the_node_is_slower(h100):
    df = T.collective_table(h100, [1e9], [8, 16])
    ar = df[df.collective == "ring all-reduce"].set_index("group_gpus")
    assert ar.loc[16, "tier"].startswith("scale-out")
    assert ar.loc[16, "time_s"] > 9 * ar.loc[8, "time_s"]     # 360 GB/s vs 40 GB/s links


def test_ttft_table_matches_estimate(seed):
    df = T.ttft_table(seed, ["ep=8", "tp=4,ep=16"])
    assert len(df) == 2 * len(seed.workload.prompt_lengths_tokens)
    est = E.estimate(seed, T.strategies(["tp=4,ep=16"])[0])
    rows = df[df.layout == est.strategy.label()]
    np.testing.assert_allclose(rows["ttft_s"], [m["ttft_s"] for m in est.metrics])
    assert rows["prompt_tokens"].max() == seed.workload.max_prompt_tokens


def test_readable_converts_units_by_name():
    import pandas as pd
    df = pd.DataFrame({"total_bytes": [2.5e9], "ttft_s": [0.0123456],
                       "decode_tokens_per_s_per_gpu": [12_345.0]})
    out = T.readable(df)
    assert list(out.columns) == ["total_GB", "ttft_ms", "decode_tokens_per_ms_per_gpu"]
    assert out.iloc[0].tolist() == [2.5, 12.3, 12.3]


def test_readable_shows_fractions_as_percent():
    import pandas as pd
    df = pd.DataFrame({"kv_read_share": [0.61503], "bubble_fraction": [0.000123],
                       "memory_utilization": [0.949], "prefill_mfu": [0.5]})
    out = T.readable(df)
    assert list(out.columns) == ["kv_read_share_pct", "bubble_pct", "memory_utilization_pct",
                                 "prefill_mfu_pct"]
    assert out.iloc[0].tolist() == [61.5, 0.0123, 94.9, 50.0]
