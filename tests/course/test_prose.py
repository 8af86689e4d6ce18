"""Chapter sentences generated from the run's numbers (analysis.course.prose): the two exercise
answers worked by hand, and each reading names the model or GPU it was given, never a default."""

import pytest

from analysis.course import expert_parallel, prose
from analysis.report import tables


def test_params_per_gpu_with_ep_by_hand(seed):
    # seed-moe: 452,346,368 parameters, 402,653,184 of them routed experts (tables.anatomy_table);
    # ep = 8: 49,693,184 replicated + 402,653,184 / 8 = 50,331,648 -> 100,024,832 per GPU
    anatomy = tables.anatomy_table(seed.model)
    assert prose.params_per_gpu_with_ep(anatomy, 8) == 100_024_832
    assert prose.params_per_gpu_with_ep(anatomy, 1) == 452_346_368


def test_half_bandwidth_message_by_hand(h100):
    # H100-SXM in a node: N alpha W = 8 * 2 us * (450 GB/s * 0.8) = 5.76 MB
    assert prose.half_bandwidth_message_bytes(h100, 8) == pytest.approx(5.76e6)
    # past the node: 16 * 5 us * (50 GB/s * 0.8) = 3.2 MB
    assert prose.half_bandwidth_message_bytes(h100, 16) == pytest.approx(3.2e6)
    # and the ring's bus bandwidth there is half the link: the equation's check
    row = tables.collective_table(h100, [5.76e6], [8]).iloc[0]
    assert row.bus_bandwidth_bytes_per_s == pytest.approx(row.link_bandwidth_bytes_per_s / 2)


def test_readings_name_the_given_model_and_gpu(mixtral, h100):
    m, hw = mixtral.model, mixtral.hardware
    anatomy = tables.anatomy_table(m)
    texts = [
        prose.anatomy_reading(m, anatomy, tables.flops_per_token_table(m, 1024, 1024), 1024, 1024),
        prose.collectives_reading(hw, tables.collective_table(hw, [1e3, 1e9], [8, 64])),
        prose.tp_worked_all_reduce(m, hw, 64),
        prose.ep_destinations_worked(m, 8),
        prose.ep_paper_count(m, hw, 8),
        prose.ep_balance_reading(expert_parallel.balance_tokens_per_gpu(m, 8, 1.1), 32),
    ]
    for text in texts:
        assert "seed-moe" not in text and "DeepSeek-V3" not in text and "H100" not in text
    assert m.name in texts[0] and hw.name in texts[1] and hw.name in texts[2]


def test_tp_worked_all_reduce_matches_the_hand_numbers(mixtral, h100):
    # Mixtral decode, B = 64, D = 4096, bf16: M = 524,288 B; at tp = 8 on H100 NVLink
    # (360 GB/s, 2 us): bandwidth 2.55 us, ring 28 us, tree 12 us -> tree, 14.5 us per all-reduce
    text = prose.tp_worked_all_reduce(mixtral.model, h100, 64)
    for part in ("524,288", "2.55$ µs", "= 28$ µs", "= 12$ µs", "tree, 14.5 µs"):
        assert part in text, part
