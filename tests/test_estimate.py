"""The one-layout estimate on a toy chip with round numbers, worked by hand, plus properties.

Toy chip: 100 TFLOP/s, 1 TB/s HBM, 100 GB, MFU 0.5, bandwidth utilisation 0.5, 4 GPUs per node,
100 GB/s NVLink and 10 GB/s scale-out per direction, 1 us / 10 us latency, links at 100%.
Toy model: L = 2, D = 1024, MHA with H = H_kv = 8 heads of d_h = 128, E = 4 experts of F = 1024,
top-1, plain (2-matrix) FFN, V = 1000, fp16 everywhere (2 bytes).
"""

import dataclasses
import math

import numpy as np
import pytest

from analysis import anatomy as A
from analysis import estimate as E
from analysis.inputs import Attention, Model, Requirements, Scenario, Strategy, Workload
from analysis.inputs.errors import InputError, LayoutError
from analysis.inputs.types import DEGREE_NAMES
from tests.toys import BALANCED, TOY_CHIP, TOY_MOE


def scenario(batch=4, prompt=1000, output=24, model=TOY_MOE, reserve=0.0):
    return Scenario("toy", TOY_CHIP, model, Workload(batch, (prompt,), output),
                    Requirements(memory_reserve_fraction=reserve))


def lay(text):
    return E.Layouts.from_strategies([Strategy.parse(text)])


def test_toy_model_counts_by_hand():
    # attention 4 * 1024^2 = 4,194,304 per layer; expert 2 * 1024 * 1024 = 2,097,152
    assert A.attention_matmul_params_per_layer(TOY_MOE) == 4_194_304
    assert A.expert_params(TOY_MOE) == 2_097_152
    # total: embedding + head 2 * 1,024,000; attention 2 * 4,194,304; router 2 * 4 * 1024;
    # experts 2 * 4 * 2,097,152; norms (2 * 2 + 1) * 1024
    assert A.total_params(TOY_MOE) == 2_048_000 + 8_388_608 + 8_192 + 16_777_216 + 5_120


def test_memory_breakdown_by_hand_single_gpu():
    sc = scenario()
    mem = E.memory_per_gpu_bytes(TOY_CHIP, TOY_MOE, sc.workload, 0.0, lay("tp=1"), BALANCED)
    # experts: 16,777,216 params * 2 B; everything else: 10,449,920 params * 2 B
    assert mem["expert_weights"][0] == pytest.approx(33_554_432)
    assert mem["non_expert_weights"][0] == pytest.approx(20_899_840)
    # KV: 4 sequences x (1000 + 24) tokens x 2 layers x (2 * 8 * 128 * 2 B = 4096 B)
    assert mem["kv_cache"][0] == pytest.approx(4 * 1024 * 2 * 4096)
    assert mem["comm_buffers"][0] == 0
    assert mem["runtime_reserve"][0] == 0


def test_expert_parallelism_divides_expert_weights_only():
    sc = scenario()
    one = E.memory_per_gpu_bytes(TOY_CHIP, TOY_MOE, sc.workload, 0.0, lay("tp=1"), BALANCED)
    ep4 = E.memory_per_gpu_bytes(TOY_CHIP, TOY_MOE, sc.workload, 0.0, lay("ep=4"), BALANCED)
    tp4 = E.memory_per_gpu_bytes(TOY_CHIP, TOY_MOE, sc.workload, 0.0, lay("tp=4"), BALANCED)
    assert ep4["expert_weights"][0] == pytest.approx(one["expert_weights"][0] / 4)
    assert ep4["non_expert_weights"][0] == pytest.approx(one["non_expert_weights"][0])
    # ep=4 is attention-DP 4: each GPU caches a quarter of the sequences
    assert ep4["kv_cache"][0] == pytest.approx(one["kv_cache"][0] / 4)
    # tp=4 (experts split 4 ways too) divides both, and the 8 KV heads 4 ways
    assert tp4["expert_weights"][0] == pytest.approx(one["expert_weights"][0] / 4)
    assert tp4["non_expert_weights"][0] == pytest.approx(one["non_expert_weights"][0] / 4)
    assert tp4["kv_cache"][0] == pytest.approx(one["kv_cache"][0] / 4)


def test_decode_attention_reads_the_cache_once():
    sc = scenario()
    ops = E.stage_ops(TOY_CHIP, TOY_MOE, lay("tp=1"), BALANCED, seqs_per_group=4,
                      query_tokens_per_seq=1, phase="decode", context_tokens=1024)
    core = ops["attention_core"]
    # FLOPs: 2 layers x 4 seqs x 1024 keys x 2 * 8 heads * (128 + 128) = 33,554,432
    assert core.flops[0] == pytest.approx(33_554_432)
    # bytes: 2 layers x (cache 4 x 1024 x 4096 B + new tokens 4 x (q,k,v 3072 x 2 B + KV 4096 B))
    assert core.hbm_bytes[0] == pytest.approx(2 * (4 * 1024 * 4096 + 4 * (3072 * 2 + 4096)))
    # memory-bound: 33.6 MB / (1 TB/s * 0.5) = 67.3 us, against 0.67 us of compute
    assert core.memory_s[0] == pytest.approx(core.hbm_bytes[0] / 0.5e12)
    assert core.bound[0] == "memory"
    assert sc.workload.batch_sequences == 4


def test_decode_reads_only_the_experts_its_tokens_touch():
    ops = E.stage_ops(TOY_CHIP, TOY_MOE, lay("tp=1"), BALANCED, seqs_per_group=4,
                      query_tokens_per_seq=1, phase="decode", context_tokens=1024)
    ex = ops["routed_experts"]
    # 4 tokens, top-1 of 4 experts: 4 * (1 - (3/4)^4) = 2.734375 experts touched per layer
    touched = 4 * (1 - 0.75 ** 4)
    weights = touched * 2_097_152 * 2
    acts = 4 * (2 * 1024 + 2 * 1 * 1024) * 2        # 4 tokens in/out and the F-wide hidden
    assert ex.hbm_bytes[0] == pytest.approx(2 * (weights + acts))
    # FLOPs: 2 layers x 2 x 4 tokens x 2,097,152 params (balanced load: 4 pairs on one rank)
    assert ex.flops[0] == pytest.approx(2 * 2 * 4 * 2_097_152)


def test_prefill_attention_is_causal():
    ops = E.stage_ops(TOY_CHIP, TOY_MOE, lay("tp=1"), BALANCED, seqs_per_group=1,
                      query_tokens_per_seq=1000, phase="prefill")
    # pairs: 1000 * 1001 / 2 = 500,500 per layer; 2 * 8 * 256 = 4096 FLOPs a pair; 2 layers
    assert ops["attention_core"].flops[0] == pytest.approx(2 * 500_500 * 4096)


def test_prefill_after_a_cached_prefix_attends_to_it_by_hand():
    # 1000 new tokens after 3000 cached: each query sees the prefix and the causal part,
    # 1000 x 3000 + 1000 x 1001 / 2 = 3,500,500 pairs per layer; 4096 FLOPs a pair; 2 layers.
    # The prefix's K and V (2 x 8 heads x 128 x 2 B = 4096 B a token a layer) are read once.
    ops = {p: E.stage_ops(TOY_CHIP, TOY_MOE, lay("tp=1"), BALANCED, seqs_per_group=1,
                          query_tokens_per_seq=1000, phase="prefill", context_tokens=p)
           for p in (0, 3000)}
    assert ops[3000]["attention_core"].flops[0] == pytest.approx(2 * 3_500_500 * 4096)
    extra = ops[3000]["attention_core"].hbm_bytes[0] - ops[0]["attention_core"].hbm_bytes[0]
    assert extra == pytest.approx(2 * 3000 * 4096)
    # only attention sees the prefix: every other op costs what the 1000 new tokens cost
    for name in ("attention_proj", "routed_experts", "head"):
        assert ops[3000][name].flops[0] == ops[0][name].flops[0]


def test_prefix_pairs_under_a_sliding_window_by_hand():
    # window W = 2, S = 3 new tokens after P = 2 cached: queries at positions 2, 3, 4 each see
    # 2 keys, 6 pairs; full layers: 3 x 2 + 3 x 4 / 2 = 12 pairs. One layer of each kind.
    m = Model("toy-swa", 2, 1024, Attention("gqa", 8, 8, 128, sliding_window_tokens=2,
                                            sliding_layers=1), vocab_size=1000,
              num_dense_layers=2, dense_intermediate_size=1024, ffn_gated=False)
    assert A.attention_pairs_prefill(m, 3, 2) == 6 + 12
    # no prefix: positions 0, 1, 2 see 1, 2, 2 keys under the window (5) and 1, 2, 3 (6)
    assert A.attention_pairs_prefill(m, 3) == 5 + 6


def test_tp_all_reduce_by_hand():
    # tp=4 inside a 4-GPU node: each layer all-reduces 4 tokens x 1024 x 2 B = 8192 B twice.
    # Latency: ring 2 * 3 alpha = 6 us, tree 2 * log2(4) alpha = 4 us: the tree wins
    ops = E.stage_ops(TOY_CHIP, TOY_MOE, lay("tp=4"), BALANCED, seqs_per_group=4,
                      query_tokens_per_seq=1, phase="decode", context_tokens=1024)
    one = 2 * 3 / 4 * 8192 / 100e9 + 2 * 2 * 1e-6
    assert ops["tp_all_reduce"].comm_s[0] == pytest.approx(2 * 2 * one)
    # tp=8 leaves the node: the scale-out link (10 GB/s, 10 us) carries it; tree latency
    # 2 * log2(8) * 10 us = 60 us against the ring's 2 * 7 * 10 us = 140 us
    ops8 = E.stage_ops(TOY_CHIP, TOY_MOE, lay("tp=8"), BALANCED, seqs_per_group=4,
                       query_tokens_per_seq=1, phase="decode", context_tokens=1024)
    one8 = 2 * 7 / 8 * 8192 / 10e9 + 2 * 3 * 10e-6
    assert ops8["tp_all_reduce"].comm_s[0] == pytest.approx(2 * 2 * one8)


def test_pure_tensor_parallel_moves_no_tokens():
    # tp=4 with ep=1, dp_attn=1: every GPU holds every token after the attention all-reduce;
    # the experts' partial sums ride on the FFN all-reduce, so no dispatch/combine is charged
    ops = E.stage_ops(TOY_CHIP, TOY_MOE, lay("tp=4"), BALANCED, seqs_per_group=4,
                      query_tokens_per_seq=1, phase="decode", context_tokens=1024)
    assert ops["ep_dispatch_combine"].comm_s[0] == 0
    assert ops["ep_dispatch_combine"].comm_bytes[0] == 0


def test_ep_dispatch_inside_a_node_by_hand():
    # ep=4 (dp_attn=4), 4 sequences x 1 token: each GPU dispatches 1 token; top-1 over 4 ranks
    # visits 1 rank, of which 3/4 are remote: 1 x 0.75 x 1024 x (2 + 2) B / 100 GB/s + 2 us
    ops = E.stage_ops(TOY_CHIP, TOY_MOE, lay("ep=4"), BALANCED, seqs_per_group=4,
                      query_tokens_per_seq=1, phase="decode", context_tokens=1024)
    per_layer = 0.75 * 1024 * 4 / 100e9 + 2e-6
    assert ops["ep_dispatch_combine"].comm_s[0] == pytest.approx(2 * per_layer)


def test_pipeline_steps_and_decode_through_every_stage():
    sc = scenario(batch=8)
    l2 = lay("pp=2,mb=4")
    ttft, ops = E.prefill(TOY_CHIP, TOY_MOE, sc.workload, l2, BALANCED, 1000)
    # 4 micro-batches through 2 stages: 5 stage steps
    assert ttft[0] == pytest.approx(5 * E.stage_time_s(ops, BALANCED)[0])
    tpot, dops = E.decode(TOY_CHIP, TOY_MOE, sc.workload, l2, BALANCED, 1024)
    assert tpot[0] == pytest.approx(2 * E.stage_time_s(dops, BALANCED)[0])


def test_breakdowns_sum_to_totals():
    sc = scenario(batch=8, reserve=0.1)
    est = E.estimate(sc, Strategy.parse("tp=2,dp_attn=2,ep=4,pp=2,mb=2"))
    d = est.to_dict()
    assert sum(est.ttft_breakdown_s.values()) == pytest.approx(d["ttft_s"])
    ctx_end_tpot = est.metrics[-1]["tpot_end_s"]
    assert sum(est.tpot_breakdown_s.values()) == pytest.approx(ctx_end_tpot)
    assert sum(est.memory_bytes.values()) == pytest.approx(d["memory_per_gpu_bytes"]["total"])
    assert est.memory_bytes["runtime_reserve"] == pytest.approx(0.1 * 100e9)


def test_speed_of_light_ignores_efficiencies_and_communication():
    sc = scenario()
    sol = E.Options(mode="sol", imbalance="balanced")
    ops = E.stage_ops(TOY_CHIP, TOY_MOE, lay("tp=4"), sol, seqs_per_group=4,
                      query_tokens_per_seq=1, phase="decode", context_tokens=1024)
    assert ops["tp_all_reduce"].comm_s[0] == 0
    core = ops["attention_core"]
    assert core.memory_s[0] == pytest.approx(core.hbm_bytes[0] / 1e12)
    assert sc.model is TOY_MOE


def test_impossible_layouts_say_why():
    sc = scenario()
    with pytest.raises(LayoutError) as e:
        E.estimate(sc, Strategy.parse("tp=3"))
    assert "tp=3 does not divide the 8 attention heads" in str(e.value)
    with pytest.raises(LayoutError) as e:
        E.estimate(sc, Strategy.parse("ep=8"))
    assert "ep=8 does not divide the 4 experts" in str(e.value)
    with pytest.raises(LayoutError) as e:
        E.estimate(sc, Strategy.parse("pp=4"))
    assert "pp=4 stages exceed the 2 layers" in str(e.value)
    with pytest.raises(LayoutError) as e:
        E.estimate(sc, Strategy.parse("dp=3"))
    assert "dp=3 replicas do not divide the batch of 4" in str(e.value)


def test_kv_heads_replicate_past_tp():
    gqa = Model("g", 2, 1024, Attention("gqa", 8, 2, 128), vocab_size=1000, num_experts=4,
                top_k=1, expert_intermediate_size=1024)
    # 2 KV heads over tp=8: one head per GPU (replicated 4x), not a quarter of one
    per = E.kv_cache_bytes_per_token_per_layer_per_gpu(gqa, np.array([1, 2, 8]))
    assert list(per) == [2 * 128 * 2 * 2, 2 * 128 * 1 * 2, 2 * 128 * 1 * 2]


def test_mla_cache_is_not_split_by_tp():
    mla = Model("m", 2, 1024, Attention("mla", 8, 8, 0, kv_lora_rank=512, qk_nope_head_dim=64,
                                        qk_rope_head_dim=64, v_head_dim=64),
                num_experts=4, top_k=1, expert_intermediate_size=1024)
    per = E.kv_cache_bytes_per_token_per_layer_per_gpu(mla, np.array([1, 8]))
    assert list(per) == [(512 + 64) * 2, (512 + 64) * 2]


def test_options_reject_bad_values():
    with pytest.raises(InputError, match="options.mode"):
        E.Options(mode="fast")
    with pytest.raises(InputError, match="options.imbalance_factor"):
        E.Options(imbalance="factor", imbalance_factor=0.5)
    with pytest.raises(InputError, match="options.overlap_fraction"):
        E.Options(overlap_fraction=1.5)


# ---------------------------------------------------------------- properties over many layouts

def _layouts(**cols) -> E.Layouts:
    """Layouts from one sequence per degree."""
    return E.Layouts(**{n: np.asarray(cols[n], dtype=np.int64) for n in DEGREE_NAMES})


def _random_layouts(seed=0, n=400):
    rng = np.random.default_rng(seed)
    p2 = np.array([1, 2, 4, 8])
    tp = rng.choice(p2, n)
    dp_attn = rng.choice(p2, n)
    g = tp * dp_attn
    etp = np.array([rng.choice([x for x in (1, 2, 4, 8, 16, 32, 64)
                                if gi % x == 0 and gi // x <= 4])
                    for gi in g])
    return _layouts(tp=tp, dp_attn=dp_attn, etp=etp, ep=g // etp, pp=rng.choice([1, 2], n),
                    dp=rng.choice([1, 2], n), microbatches=rng.choice([1, 2], n),
                    redundant_experts=np.zeros(n, int))


def test_properties_hold_across_random_valid_layouts():
    sc = scenario(batch=64, prompt=512)
    lays = _random_layouts()
    ok = E.valid_mask(TOY_MOE, sc.workload, lays)
    lays = lays.subset(ok)
    assert len(lays) > 50
    der = E.evaluate_layouts(sc, lays, E.Options())
    sol = E.evaluate_layouts(sc, lays, E.Options(mode="sol"))
    for key in ("ttft_s", "tpot_s", "e2e_latency_s", "memory_per_gpu_bytes"):
        assert np.all(np.isfinite(der[key])) and np.all(der[key] > 0), key
    # derated never beats speed of light
    assert np.all(der["ttft_s"] >= sol["ttft_s"] * (1 - 1e-12))
    assert np.all(der["tpot_s"] >= sol["tpot_s"] * (1 - 1e-12))


@pytest.mark.parametrize("degree", ["tp", "ep"])
def test_more_tp_or_ep_never_raises_weight_memory(degree):
    sc = scenario(batch=64, prompt=512)
    base = {"tp": 1, "dp_attn": 1, "etp": 1, "ep": 1, "pp": 1, "dp": 1, "microbatches": 1,
            "redundant_experts": 0}
    prev = math.inf
    for x in (1, 2, 4):
        cols = dict(base)
        if degree == "tp":
            cols.update(tp=x, etp=x)
        else:
            cols.update(dp_attn=x, ep=x)
        l1 = _layouts(**{k: [v] for k, v in cols.items()})
        mem = E.memory_per_gpu_bytes(TOY_CHIP, TOY_MOE, sc.workload, 0.0, l1, E.Options())
        weights = mem["expert_weights"][0] + mem["non_expert_weights"][0]
        assert weights <= prev
        prev = weights


# ---------------------------------------------------------------- calibrated mode

def test_calibrated_mode_without_a_calibration_is_the_derated_estimate():
    sc = scenario()
    a = E.estimate(sc, Strategy.parse("tp=2"), E.Options(mode="derated"))
    b = E.estimate(sc, Strategy.parse("tp=2"), E.Options(mode="calibrated"))
    assert a.worst["ttft_s"] == b.worst["ttft_s"] and a.worst["tpot_s"] == b.worst["tpot_s"]


def test_calibrated_curves_by_hand():
    import dataclasses

    from analysis.inputs import Calibration

    # compute reaches 0.8 * T / (T + 100); memory 0.9 * B / (B + 1e6); 5 us per op per layer
    cal = Calibration(compute_max=0.8, compute_half_tokens=100, memory_max=0.9,
                      memory_half_bytes=1e6, op_overhead_s=5e-6, source="hand")
    chip = dataclasses.replace(TOY_CHIP, calibration=cal)
    opts = E.Options(mode="calibrated", imbalance="balanced")
    ops = E.stage_ops(chip, TOY_MOE, lay("tp=1"), opts, seqs_per_group=1,
                      query_tokens_per_seq=100, phase="prefill")
    proj = ops["attention_proj"]
    # 100 tokens: MFU 0.8 * 100 / 200 = 0.4; FLOPs 2 layers x 2 x 100 x 4,194,304
    assert proj.compute_s[0] == pytest.approx(2 * 2 * 100 * 4_194_304 / (1e14 * 0.4))
    # bytes per layer: weights 8,388,608 + activations 100 x (2048 + 3072) x 2 = 1,024,000
    per_layer = 8_388_608 + 1_024_000
    util = 0.9 * per_layer / (per_layer + 1e6)
    assert proj.memory_s[0] == pytest.approx(2 * per_layer / (1e12 * util))
    # two layers of this op: 2 x 5 us of fixed cost on top of the roofline time
    assert proj.time_s[0] == pytest.approx(max(proj.compute_s[0], proj.memory_s[0]) + 10e-6)


def test_calibrated_link_efficiency_grows_with_message_size():
    import dataclasses

    from analysis.inputs import Calibration

    cal = Calibration(compute_max=0.8, compute_half_tokens=0, memory_max=0.9,
                      memory_half_bytes=0, scaleup_max=0.9, scaleup_half_bytes=1e6,
                      scaleout_max=0.9, scaleout_half_bytes=1e6)
    chip = dataclasses.replace(TOY_CHIP, calibration=cal)
    opts = E.Options(mode="calibrated")
    small = E.link_efficiency(chip, True, 1e5, opts)
    large = E.link_efficiency(chip, True, 1e9, opts)
    assert float(small) == pytest.approx(0.9 * 1e5 / 1.1e6)
    assert float(large) == pytest.approx(0.9 * 1e9 / (1e9 + 1e6))


def test_imbalance_factor_needs_more_than_one_expert_rank():
    # one EP rank holds every expert: its load is the mean whatever the factor
    opts = E.Options(imbalance="factor", imbalance_factor=1.5)
    assert float(E.busiest_rank_load(100.0, 1, TOY_MOE, 0, opts)) == pytest.approx(100.0)
    assert float(E.busiest_rank_load(100.0, 4, TOY_MOE, 0, opts)) == pytest.approx(150.0)


def test_attention_core_runs_at_the_kv_cache_precision():
    import dataclasses

    # fp8 matmuls with a bf16 cache (DeepSeek-V3 style): attention math at the bf16 peak
    chip = dataclasses.replace(TOY_CHIP, peak_flops_per_s=(("bf16", 1e14), ("fp8", 2e14)))
    fp8 = dataclasses.replace(TOY_MOE, weight_precision="fp8", activation_precision="fp8",
                              kv_precision="bf16")
    ops = E.stage_ops(chip, fp8, lay("tp=1"), BALANCED, seqs_per_group=1,
                      query_tokens_per_seq=1000, phase="prefill")
    core, proj = ops["attention_core"], ops["attention_proj"]
    assert core.compute_s[0] == pytest.approx(core.flops[0] / (1e14 * 0.5))
    assert proj.compute_s[0] == pytest.approx(proj.flops[0] / (2e14 * 0.5))
    # an fp8 cache on a GPU with no fp8 peak falls back to the matmul precision's peak
    assert E.attention_peak_flops_per_s(TOY_CHIP, dataclasses.replace(
        TOY_MOE, kv_precision="fp8")) == 1e14


def test_layouts_described_in_words():
    assert Strategy.parse("tp=1,mb=2").describe() == "1 GPU; prefill in 2 micro-batches"
    assert Strategy.parse("tp=4,ep=16").describe() == (
        "64 GPUs: attention TP 4 x DP 16, experts EP 16 x TP 4")
    assert Strategy.parse("ep=8,pp=2,dp=2").describe() == (
        "32 GPUs: attention DP 8, experts EP 8, 2 pipeline stages, 2 replicas")


def test_time_by_resource_sums_to_the_totals():
    sc = scenario(batch=8, reserve=0.1)
    est = E.estimate(sc, Strategy.parse("tp=2,dp_attn=2,ep=4,pp=2,mb=2"))
    pre, dec = est.by_resource("prefill"), est.by_resource("decode")
    assert set(pre) == {"compute", "memory", "communication", "pipeline_bubble"}
    assert sum(pre.values()) == pytest.approx(est.worst["ttft_s"])
    assert sum(dec.values()) == pytest.approx(est.metrics[-1]["tpot_end_s"])
    # 2 stages with 2 micro-batches: one idle step in three
    assert pre["pipeline_bubble"] == pytest.approx(est.worst["ttft_s"] / 3)
    assert dec["memory"] > 0 and pre["communication"] > 0


def test_prefill_chunk_by_hand():
    # 4 prompts of 1000 tokens, chunk 8192: all of them at once (4000 tokens)
    seqs, q = E.memory.prefill_chunk(4.0, 1000, 8192)
    assert (float(seqs), q) == (4.0, 1000.0)
    # chunk 1000: one prompt per iteration
    seqs, q = E.memory.prefill_chunk(4.0, 1000, 1000)
    assert (float(seqs), q) == (1.0, 1000.0)
    # a prompt longer than the chunk: 2500 tokens of one prompt at a time
    seqs, q = E.memory.prefill_chunk(4.0, 10_000, 2500)
    assert (float(seqs), q) == (1.0, 2500.0)


def test_chunked_prefill_sizes_activations_by_tokens_per_iteration():
    # toy, tp=1, batch 4 x 1000 tokens. Per token: residual in + out 2 x 1024 x 2 B = 4096 B;
    # largest workspace: q,k,v width (8 + 2 x 8) x 128 = 3072 x 2 B = 6144 B (the top-1 expert's
    # input, output and intermediate (2 x 1024 + 1024) x 2 B = 6144 B ties). So 10,240 B/token.
    sc = scenario()
    whole = E.memory_per_gpu_bytes(TOY_CHIP, TOY_MOE, sc.workload, 0.0, lay("tp=1"), BALANCED)
    assert whole["activations"][0] == pytest.approx(4000 * 10_240)        # 4000 <= 8192 tokens
    chunked = E.memory_per_gpu_bytes(TOY_CHIP, TOY_MOE, sc.workload, 0.0, lay("tp=1"),
                                     E.Options(imbalance="balanced", prefill_chunk_tokens=1000))
    assert chunked["activations"][0] == pytest.approx(1000 * 10_240)
    assert chunked["kv_cache"][0] == whole["kv_cache"][0]                  # KV unchanged
    # decode only: the step's 4 tokens, 4 x 10,240 B (the 4 sequences' fp32 logits,
    # 4 x 1000 x 4 B = 16,000 B, stay below the 4 x 6144 B workspace)
    dec = E.memory_per_gpu_bytes(TOY_CHIP, TOY_MOE, sc.workload, 0.0, lay("tp=1"),
                                 E.Options(imbalance="balanced", decode_only=True))
    assert dec["activations"][0] == pytest.approx(4 * 10_240)


def test_deepseek_decode_layout_fits_in_80_gb():
    # DeepSeek's published decode deployment ("Day 6: One More Thing, DeepSeek-V3/R1 Inference
    # System Overview", github.com/deepseek-ai/open-infra-index, 2025): EP144 over 18 nodes of
    # 8 H800 (attention data parallel), 32 redundant experts, about 88 sequences per GPU at an
    # average context near 4.5k tokens (figures as issue 12 reads them). Before per-phase
    # memory it came out at 155 GB per GPU (57 GB of prefill activations and 40 GB of buffers
    # for the whole prompt batch).
    from analysis.inputs.read.scenario import load_scenario

    sc = load_scenario({"name": "deepseek-decode", "hardware": "H800", "model": "deepseek-v3",
                        "workload": {"batch_sequences": 144 * 88, "prompt_tokens": 4000,
                                     "output_tokens": 500}})
    s = Strategy.parse("dp_attn=144,ep=144,redundant_experts=32")
    for opts in (E.Options(), E.Options(decode_only=True)):
        mem = E.estimate(sc, s, opts).memory_bytes
        assert sum(mem.values()) <= 80e9
        assert mem["activations"] + mem["comm_buffers"] < 3e9


def test_ep_precision_defaults_fp8_dispatch_bf16_combine_for_fp8_models():
    fp8 = dataclasses.replace(TOY_MOE, weight_precision="fp8", activation_precision="fp8")
    assert E.ep_element_bytes(fp8, E.Options()) == (1.0, 2.0)       # DeepEP: FP8 out, BF16 back
    assert E.ep_element_bytes(TOY_MOE, E.Options()) == (2.0, 2.0)   # fp16 model: both 2 B
    stated = dataclasses.replace(fp8, combine_precision="fp8")
    assert E.ep_element_bytes(stated, E.Options()) == (1.0, 1.0)    # the model's own choice
    opts = E.Options(dispatch_bytes_per_element=2.0)
    assert E.ep_element_bytes(stated, opts) == (2.0, 1.0)           # options win


def test_ep_buffers_follow_the_combine_precision_by_hand():
    # toy in fp8 on ep=2 (dp_attn=2), 4 x 1000 tokens, micro-batch of 2 sequences per rank:
    # 2000 tokens per rank, one destination per token (top-1 of 4 experts on 2 ranks: exactly
    # 2 * (1 - C(2,1)/C(4,1)) = 1), D = 1024: 2000 x 1 x 1024 x (1 + 2) B = 6,144,000 B
    fp8 = dataclasses.replace(TOY_MOE, weight_precision="fp8", activation_precision="fp8")
    chip = dataclasses.replace(TOY_CHIP, peak_flops_per_s=(("bf16", 1e14), ("fp8", 2e14)))
    sc = scenario(model=fp8)
    mem = E.memory_per_gpu_bytes(chip, fp8, sc.workload, 0.0, lay("dp_attn=2,ep=2"), BALANCED)
    assert mem["comm_buffers"][0] == pytest.approx(2000 * 1024 * 3)


def test_fixed_cost_per_kernel_by_hand():
    # toy MoE decode, tp=1: per layer norms 2 + attention projections 2 + core 1 + router 1 +
    # routed experts 2 = 8 kernels (no shared experts, no dense FFN: zero work, no kernel), 2
    # layers, plus embedding 1 and head 1: 18 kernels x 3 us = 54 us more per token; tp=2 adds
    # 2 all-reduces per layer: 22 x 3 us = 66 us
    sc = scenario()
    for text, kernels in (("tp=1", 18), ("tp=2,etp=2", 22)):
        with_cost = E.estimate(sc, Strategy.parse(text), E.Options(imbalance="balanced",
                                                                   kernel_overhead_s=3e-6))
        without = E.estimate(sc, Strategy.parse(text), BALANCED)
        assert with_cost.worst["tpot_end_s"] - without.worst["tpot_end_s"] == pytest.approx(
            kernels * 3e-6)
    # speed of light has none
    sol = E.estimate(sc, Strategy.parse("tp=1"), E.Options(mode="sol"))
    sol0 = E.estimate(sc, Strategy.parse("tp=1"), E.Options(mode="sol", kernel_overhead_s=0))
    assert sol.worst["tpot_end_s"] == sol0.worst["tpot_end_s"]


def test_two_batch_overlap_pairs_micro_batches():
    # Under two-batch overlap a step runs as two half micro-batches; one's communication hides
    # under the other's GPU work: step = 2 max(gpu_half, comm_half), each half reading the
    # weights again (toy decode, batch 8, attention DP2 + EP2 in one node, context 1024)
    sc = scenario(batch=8)
    la = lay("dp_attn=2,ep=2")
    tbo = E.Options(imbalance="balanced", kernel_overhead_s=0.0, two_batch_overlap=True)
    half = E.stage_ops(TOY_CHIP, TOY_MOE, la, BALANCED, seqs_per_group=4.0,
                       query_tokens_per_seq=1, phase="decode", context_tokens=1024)
    gpu = sum(float(half[o].time_s[0]) for o in E.OPS if o not in E.COMM_OPS)
    comm = sum(float(half[o].time_s[0]) for o in E.COMM_OPS)
    t, _ = E.decode(TOY_CHIP, TOY_MOE, sc.workload, la, tbo, 1024)
    assert float(t[0]) == pytest.approx(2 * max(gpu, comm))
    # the weights are read twice: against one full micro-batch with its communication exposed
    full, _ = E.decode(TOY_CHIP, TOY_MOE, sc.workload, la, BALANCED, 1024)
    routed_half = float(half["routed_experts"].hbm_bytes[0])
    assert routed_half > 0.5 * float(E.stage_ops(
        TOY_CHIP, TOY_MOE, la, BALANCED, seqs_per_group=8.0, query_tokens_per_seq=1,
        phase="decode", context_tokens=1024)["routed_experts"].hbm_bytes[0])
    assert float(t[0]) != float(full[0])
    # one sequence per rank cannot be split: no change
    one = scenario(batch=2)
    a, _ = E.decode(TOY_CHIP, TOY_MOE, one.workload, la, tbo, 1024)
    b, _ = E.decode(TOY_CHIP, TOY_MOE, one.workload, la, BALANCED, 1024)
    assert float(a[0]) == float(b[0])
    # the breakdown still sums to the phase's time
    est = E.estimate(sc, Strategy.parse("dp_attn=2,ep=2"), tbo)
    assert sum(est.tpot_breakdown_s.values()) == pytest.approx(est.worst["tpot_end_s"])
    assert sum(est.ttft_breakdown_s.values()) == pytest.approx(est.worst["ttft_s"])


def test_expected_tokens_per_step_by_hand():
    # Leviathan et al. 2023 eq. 1: E = (1 - a^(d+1)) / (1 - a) = 1 + a + ... + a^d
    assert float(E.formulas.expected_tokens_per_step(0.8, 3)) == pytest.approx(
        1 + 0.8 + 0.64 + 0.512)                                      # 2.952
    assert float(E.formulas.expected_tokens_per_step(0.5, 1)) == pytest.approx(1.5)
    assert float(E.formulas.expected_tokens_per_step(1.0, 2)) == 3.0  # every draft accepted
    assert float(E.formulas.expected_tokens_per_step(0.0, 4)) == 1.0  # none accepted


def test_speculative_decoding_tpot_by_hand():
    # toy decode at tp=1, batch 2, context 1024, 1 draft token accepted half the time, each
    # draft costing 0.1 of a plain step: E = 1.5 tokens per step, and
    # TPOT = (T_verify(2 tokens per sequence) + 1 x 0.1 x T_plain) / 1.5
    sc = scenario(batch=2)
    la = lay("tp=1")
    spec = dataclasses.replace(BALANCED, draft_tokens=1, acceptance_rate=0.5,
                               draft_cost_fraction=0.1)
    verify = E.stage_ops(TOY_CHIP, TOY_MOE, la, BALANCED, seqs_per_group=2.0,
                         query_tokens_per_seq=2, phase="decode", context_tokens=1024)
    t_verify = sum(float(verify[o].time_s[0]) for o in E.OPS)
    t_plain = float(E.decode(TOY_CHIP, TOY_MOE, sc.workload, la, BALANCED, 1024)[0][0])
    t, _ = E.decode(TOY_CHIP, TOY_MOE, sc.workload, la, spec, 1024)
    assert float(t[0]) == pytest.approx((t_verify + 0.1 * t_plain) / 1.5)
    # the toy's decode reads its weights: verifying 2 tokens costs far less than 2 steps, so
    # speculation shortens TPOT
    assert float(t[0]) < t_plain
    # default draft cost: an MTP module of one layer of the toy's L = 2, f = 1/2
    mtp = dataclasses.replace(spec, draft_cost_fraction=None)
    t_mtp, _ = E.decode(TOY_CHIP, TOY_MOE, sc.workload, la, mtp, 1024)
    assert float(t_mtp[0]) == pytest.approx((t_verify + 0.5 * t_plain) / 1.5)
    # the breakdown gains a draft line and still sums to TPOT; the options say so
    est = E.estimate(sc, Strategy.parse("tp=1"), spec)
    assert sum(est.tpot_breakdown_s.values()) == pytest.approx(est.worst["tpot_end_s"])
    assert est.tpot_breakdown_s["speculative_draft"] > 0
    assert "1 draft token(s) accepted at 50%" in spec.describe()


def test_speculative_options_reject_bad_values():
    with pytest.raises(InputError, match="acceptance_rate"):
        E.Options(draft_tokens=1, acceptance_rate=1.5)
    with pytest.raises(InputError, match="draft_tokens"):
        E.Options(draft_tokens=-1)


def test_matmul_precision_fp4_needs_fp4_weights_and_activations():
    from analysis.inputs.precision import matmul_precision
    assert matmul_precision("fp4", "fp4") == "fp4"       # NVFP4 W4A4
    assert matmul_precision("mxfp4", "fp4") == "fp4"     # MXFP4 W4A4
    assert matmul_precision("fp8", "fp4") == "fp8"       # no W8A4 kernels: the weights' peak
    assert matmul_precision("fp4", "fp8") == "fp8"       # W4A8: dequantised to FP8
    assert matmul_precision("int4", "bf16") == "bf16"    # W4A16, as before
    assert matmul_precision("bf16", "fp8") == "fp8"      # unchanged: the activations'


def test_fp4_experts_with_fp8_rest_on_b200_by_hand():
    # B200 preset (dense): bf16 2250, fp8 4500, fp4 9000 TFLOP/s, MFU 0.5. The toy in FP8 with
    # its experts in NVFP4 and FP4 activations: the routed experts' FLOPs run at
    # 9000e12 x 0.5 = 4.5e15 FLOP/s, the attention projections (FP8 weights) at 4500e12 x 0.5;
    # with FP8 activations (W4A8) the experts fall back to the FP8 peak.
    from analysis.inputs.read.mapping import hardware_from_ref
    b200 = hardware_from_ref("B200")[0]
    mixed = dataclasses.replace(TOY_MOE, weight_precision="fp8", expert_weight_precision="fp4",
                                activation_precision="fp4", kv_precision="fp8")
    ops = E.stage_ops(b200, mixed, lay("tp=1"), E.Options(imbalance="balanced"),
                      seqs_per_group=4.0, query_tokens_per_seq=1000, phase="prefill")
    r, p = ops["routed_experts"], ops["attention_proj"]
    assert float(r.compute_s[0]) == pytest.approx(float(r.flops[0]) / (9000e12 * 0.5))
    assert float(p.compute_s[0]) == pytest.approx(float(p.flops[0]) / (4500e12 * 0.5))
    w4a8 = dataclasses.replace(mixed, activation_precision="fp8")
    r8 = E.stage_ops(b200, w4a8, lay("tp=1"), E.Options(imbalance="balanced"),
                     seqs_per_group=4.0, query_tokens_per_seq=1000,
                     phase="prefill")["routed_experts"]
    assert float(r8.compute_s[0]) == pytest.approx(float(r8.flops[0]) / (4500e12 * 0.5))
    # the expert weights are read at half a byte per parameter (NVFP4 elements)
    assert mixed.expert_weight_bytes_per_param == 0.5
