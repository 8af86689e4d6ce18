"""Chapter 08 (analysis.course.data_parallel): KV per GPU against tp, and attention DP."""


import pytest

from analysis.course import data_parallel


def test_kv_per_gpu_vs_tp(dsv3, mixtral):
    df = data_parallel.kv_per_gpu_vs_tp_table([dsv3.model, mixtral.model], [1, 2, 8, 16], 8192)
    mla = df[df.attention == "MLA"].set_index("tp")
    gqa = df[df.attention == "GQA"].set_index("tp")
    assert (mla["kv_per_seq_bytes_per_gpu"] == 61 * 576 * 2 * 8192).all()
    assert list(mla["copies"]) == [1, 2, 8, 16]
    assert gqa.loc[8, "kv_per_seq_bytes_per_gpu"] == 32 * 2 * 128 * 1 * 2 * 8192
    assert gqa.loc[8, "copies"] == 1
    assert gqa.loc[16, "copies"] == 2       # past H_kv = 8 heads are replicated
    assert gqa.loc[16, "kv_per_seq_bytes_per_gpu"] == gqa.loc[8, "kv_per_seq_bytes_per_gpu"]


def test_attention_dp_table(dsv3, mixtral):
    lays = ["tp=8", "tp=1,dp_attn=8,ep=8", "tp=8,dp=2"]
    d = data_parallel.attention_dp_table(dsv3, lays, 8192, 256).set_index("layout")
    assert d.loc["dp_attn8-ep8", "max_batch_per_gpu"] > 4 * d.loc["tp8-etp8", "max_batch_per_gpu"]
    # replicas change (almost) nothing per GPU; not exactly, because serving.max_running_requests
    # counts the prefill activations of 1/(dp*dp_attn) of a prompt per GPU
    assert d.loc["tp8-etp8-dp2", "max_batch_per_gpu"] == pytest.approx(
        d.loc["tp8-etp8", "max_batch_per_gpu"], rel=0.05)
    assert d.loc["tp8-etp8-dp2", "decode_tokens_per_s_per_gpu"] == pytest.approx(
        d.loc["tp8-etp8", "decode_tokens_per_s_per_gpu"], rel=0.05)
    assert (d["decode_tokens_per_s_per_gpu"] <= d["kv_cap_tokens_per_s_per_gpu"]).all()
    g = data_parallel.attention_dp_table(mixtral, lays, 8192, 256).set_index("layout")
    # GQA with tp <= H_kv: tp costs no cache, so tp=8 fits more than attention DP (whose
    # replicated attention weights take memory)
    assert g.loc["tp8-etp8", "max_batch_per_gpu"] >= g.loc["dp_attn8-ep8", "max_batch_per_gpu"]
