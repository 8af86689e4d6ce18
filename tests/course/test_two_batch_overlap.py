"""Chapter 06, two-batch overlap timeline (analysis.course.two_batch_overlap): segments by hand,
and the timeline's lengths against the estimate's own decode step."""

import pandas as pd
import pytest

from analysis import estimate as E
from analysis.course import two_batch_overlap as tbo
from analysis.inputs import Requirements, Scenario, Strategy, Workload
from tests.course.toys_course import TOY, TOY_HW


def _ops(rows):
    """A hand-made decode_layer_ops table: (op, stream, off_s, on_s), bytes 10 / 6 per op."""
    return pd.DataFrame([{"op": o, "stream": st, "off_s": a, "off_hbm_bytes": 10.0,
                          "on_s": b, "on_hbm_bytes": 6.0} for o, st, a, b in rows])


def test_segments_and_summary_by_hand():
    # whole batch: attention 2 ms, dispatch/combine 2 ms, experts 1 ms -> 5 ms in a row;
    # one micro-batch: attention 1.5, comm 1.0, experts 0.5 -> G = 2, C = 1, TBO = 2 max = 4 ms
    ops = _ops([("attention_proj", "compute", 2e-3, 1.5e-3),
                ("ep_dispatch_combine", "communication", 2e-3, 1e-3),
                ("routed_experts", "compute", 1e-3, 0.5e-3),
                ("tp_all_reduce", "communication", 0.0, 0.0)])
    s = tbo.tbo_summary(ops)
    assert s["off_layer_s"] == pytest.approx(5e-3)
    assert s["tbo_layer_s"] == pytest.approx(4e-3)
    assert s["comm_s"] == pytest.approx(2e-3) and s["hidden_comm_s"] == pytest.approx(2e-3)
    assert s["extra_gpu_s"] == pytest.approx(2 * 2e-3 - 3e-3)        # 1 ms more GPU work
    assert s["gpu_bytes_off"] == 20.0 and s["gpu_bytes_on"] == 24.0  # 2 ops x 10 vs 2 x 2 x 6
    seg = tbo.tbo_segments(ops)
    assert "tp_all_reduce" not in set(seg["op"])                     # zero-length ops dropped
    off = seg[seg["timeline"] == "no overlap"]
    assert off["end_s"].max() == pytest.approx(5e-3)
    on = seg[seg["timeline"] == "two-batch overlap"].set_index(["micro_batch", "op"])
    # A computes 0-2 ms while B communicates 0-1 ms; then B computes 2-4, A communicates 2-3
    assert on.loc[("A", "routed_experts"), "end_s"] == pytest.approx(2e-3)
    assert on.loc[("B", "ep_dispatch_combine"), ["start_s", "end_s"]].tolist() == \
        pytest.approx([0.0, 1e-3])
    assert on.loc[("B", "routed_experts"), "end_s"] == pytest.approx(4e-3)
    assert on.loc[("A", "ep_dispatch_combine"), ["start_s", "end_s"]].tolist() == \
        pytest.approx([2e-3, 3e-3])
    # a stream never runs two bars at once
    for _, g in on.reset_index().groupby("stream"):
        g = g.sort_values("start_s")
        assert (g["start_s"].to_numpy()[1:] >= g["end_s"].to_numpy()[:-1] - 1e-15).all()


@pytest.mark.parametrize("layout, overhead_s, batch, gpu_bound", [
    ("dp_attn=4,ep=4", None, 8, True), ("dp_attn=4,ep=4", None, 512, True),
    ("dp_attn=8,ep=8", 0.0, 16, False),     # across the toy's 4-GPU nodes, no kernel cost
])
def test_timeline_lengths_are_the_estimates_step(layout, overhead_s, batch, gpu_bound):
    # toy MoE (both layers MoE, pp = 1): the estimate's decode step at the
    # longest context is L layers of the timeline plus the per-step ops (embedding, head),
    # run once without overlap and once per micro-batch with TBO; the TBO half-step is the
    # slower of GPU and communication, 2 max(G, C) (ops.stage_split_s)
    sc = Scenario("toy", TOY_HW, TOY, Workload(batch, (1000,), 24), Requirements())
    s = Strategy.parse(layout)
    opts = E.Options(imbalance="balanced", **({} if overhead_s is None
                                             else {"kernel_overhead_s": overhead_s}))
    ops = tbo.decode_layer_ops(sc, s, opts)
    summ = tbo.tbo_summary(ops)
    est_off = E.estimate(sc, s, opts)
    est_on = E.estimate(sc, s.with_(two_batch_overlap=True), opts)

    def per_step(est):
        rows = {r["op"]: r for r in est.decode_ops}
        return sum(rows[o]["time_s"] for o in ("embedding", "head", "pp_send", "dense_ffn"))

    layers = TOY.num_layers
    off_tpot = sum(est_off.tpot_breakdown_s.values())
    # no overlap: the layer is the sum of its ops, and L layers + per-step ops are the step
    assert summ["off_layer_s"] == pytest.approx(ops["off_s"].sum())
    assert layers * summ["off_layer_s"] + per_step(est_off) == pytest.approx(off_tpot)
    on_tpot = sum(est_on.tpot_breakdown_s.values())
    rows = {r["op"]: r for r in est_on.decode_ops}
    gpu = sum(rows[o]["time_s"] for o in E.OPS if o not in E.COMM_OPS)
    comm = sum(rows[o]["time_s"] for o in E.COMM_OPS)
    assert on_tpot == pytest.approx(2 * max(gpu, comm))             # the estimate's TBO step
    assert (gpu >= comm) == gpu_bound
    if gpu_bound:        # GPU-bound: L TBO layers + each micro-batch's per-step ops
        assert layers * summ["tbo_layer_s"] + 2 * per_step(est_on) == pytest.approx(on_tpot)
    else:                # communication-bound: the per-step ops hide too
        assert layers * summ["tbo_layer_s"] == pytest.approx(on_tpot)


def test_real_model_figure_and_reading(dsv3):
    ops = tbo.ep_decode_layer_ops(dsv3, 64, 32)
    assert ops.attrs["layout"] == "dp_attn64-ep64-tbo" and ops.attrs["tokens_per_rank"] == 32
    text = tbo.tbo_reading(ops)
    assert dsv3.model.name in text and "ms" in text
    fig = tbo.plot_tbo_timeline(ops)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(labels) == len(set(labels)) and "micro-batch B" in labels
    assert fig.axes[0].get_xlabel().endswith("(ms)")
