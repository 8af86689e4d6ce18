"""The course figures (analysis.course.*.plot_*): every axis labelled."""


import matplotlib

from analysis.course import data_parallel, memory, pipeline


def test_figures_have_labels(seed, dsv3, mixtral):
    figs = [
        memory.plot_largest_batch(memory.largest_batch_table(seed, ["tp=1"], [1024, 2048], 256)),
        memory.plot_decode_kv_cap(memory.decode_kv_cap_table(seed, "tp=1", [1, 4], 2048, 256)),
        pipeline.plot_pipeline(pipeline.pipeline_latency_table(seed, "tp=1", [1, 2], [1, 2], 1024),
                               pipeline.pipeline_capacity_table(seed, "tp=1", [1, 2], 2048, 256),
                               "t"),
        data_parallel.plot_attention_dp(
            data_parallel.kv_per_gpu_vs_tp_table([dsv3.model], [1, 2], 1024),
            data_parallel.attention_dp_table(mixtral, ["tp=8"], 2048, 256)),
    ]
    for fig in figs:
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        matplotlib.pyplot.close(fig)
