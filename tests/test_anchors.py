"""Published anchors (reference/README.md, "Published anchors") checked against the package.

Every assertion names its source on its own line. Efficiency factors are chosen once per test,
with the reason written down, and are never tuned per number.

DeepSeek's production figures (open-infra-index, day 6) are aggregate over a day of mixed,
cache-hitting traffic; section 4 reproduces them from their stated layout and conditions and
records, as a strict xfail, that the model does not land within 20% (and by how much).
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from analysis import anatomy as A
from analysis import estimate as E
from analysis.estimate import formulas as f
from analysis.inputs import Attention, Model, Scenario, Strategy, Workload
from analysis.inputs.read.mapping import hardware_from_ref
from analysis.inputs.read.scenario import load_model

# --------------------------------------------------------------------------------------------
# 1. KV cache bytes per token (BF16)
# --------------------------------------------------------------------------------------------

# Qwen/Qwen2.5-72B config.json: 80 layers, hidden 8192, 64 heads, 8 KV heads (head 8192/64 = 128),
# intermediate 29568, vocab 152064, q/k/v biases, untied head.
QWEN25_72B = Model("Qwen2.5-72B", 80, 8192, Attention("gqa", 64, 8, 128, qkv_bias=True),
                   vocab_size=152064, num_dense_layers=80, dense_intermediate_size=29568,
                   source="Qwen/Qwen2.5-72B config.json")
# meta-llama/Llama-3.1-405B config.json: 126 layers, hidden 16384, 128 heads, 8 KV heads
# (head 128), intermediate 53248, vocab 128256, untied head.
LLAMA31_405B = Model("Llama-3.1-405B", 126, 16384, Attention("gqa", 128, 8, 128),
                     vocab_size=128256, num_dense_layers=126, dense_intermediate_size=53248,
                     source="meta-llama/Llama-3.1-405B config.json")


def test_kv_cache_per_token_deepseek_v3():
    model, _, _ = load_model("deepseek-v3")
    assert A.kv_cache_bytes_per_token(model) == 70_272  # (512 + 64) x 61 x 2 B: DeepSeek-V3 report; arXiv 2505.09343 Table 1


def test_kv_cache_per_token_qwen25_72b():
    assert A.total_params(QWEN25_72B) == pytest.approx(72.7e9, rel=0.005)  # config transcribed right: Qwen2.5-72B model card, 72.7B parameters
    assert A.kv_cache_bytes_per_token(QWEN25_72B) == 327_680  # 2 x 80 x 8 x 128 x 2 B: arXiv 2505.09343 Table 1


def test_kv_cache_per_token_llama31_405b():
    assert A.total_params(LLAMA31_405B) == pytest.approx(405e9, rel=0.01)  # config transcribed right: Llama 3.1 model card, 405B parameters
    assert A.kv_cache_bytes_per_token(LLAMA31_405B) == 516_096  # 2 x 126 x 8 x 128 x 2 B: arXiv 2505.09343 Table 1


# --------------------------------------------------------------------------------------------
# 2. FasterTransformer dense anchor: 13B GPT on A100-40GB, 512-token prompt, batch 1
# --------------------------------------------------------------------------------------------

# The 13B model of kipp.ly's "Transformer inference arithmetic" (its FasterTransformer
# comparison), as cli99/llm-analysis transcribes it (llm_analysis/model_configs/test-13b.json,
# examples/fastertransformer/): 40 layers, d_model 5120, 40 heads (MHA, head 128), MLP 4x = 20480
# (plain GELU MLP, 2 matrices), vocab 50272; GPT/OPT style: LayerNorm with bias, biased
# projections, head tied to the embedding (the estimate reads the head's weights either way).
# Learned position embeddings (2048 x 5120 = 10M) are not modelled: < 0.1% of 12.8B.
GPT_13B = Model("GPT-13B (FasterTransformer benchmark)", 40, 5120,
                Attention("gqa", 40, 40, 128, qkv_bias=True, o_bias=True), vocab_size=50272,
                ffn_gated=False, ffn_bias=True, num_dense_layers=40,
                dense_intermediate_size=20480, norm="layernorm", tie_word_embeddings=True,
                source="kipp.ly Transformer inference arithmetic; cli99/llm-analysis test-13b.json")

# Efficiency factors, fixed for all four numbers:
# - MFU 0.65: kipp.ly profiled FasterTransformer's batch-1, 512-token prefill GEMMs at 0.72 of
#   peak for the MLP and 0.54 for the attention projections (as cited by cli99/llm-analysis,
#   examples/fastertransformer/README.md). The MLP does 8d^2 and the projections 4d^2 FLOPs per
#   token, so the time-weighted mean is 12 / (8/0.72 + 4/0.54) = 0.648 -> 0.65.
# - HBM utilisation 0.8: kipp.ly's best observed is ~0.9 (0.87 at TP2), an upper bound for the
#   biggest kernels; 0.8 is the package's default for all GPUs and typical of the whole decode step.
# - NVLink: the A100 preset's 300 GB/s per direction at efficiency 0.8 and 2 us latency, unchanged.
FT_MFU = 0.65
FT_BW_UTIL = 0.8
A100_40GB = replace(hardware_from_ref("A100-80GB")[0], name="A100-SXM4-40GB",
                    hbm_capacity_bytes=40e9, hbm_bandwidth_bytes_per_s=1.555e12,
                    mfu=FT_MFU, bandwidth_utilization=FT_BW_UTIL)
# 512-token prompt, batch 1, 10 generated tokens (FT's benchmark: total = prefill + 10 x decode)
FT_SCENARIO = Scenario("ft-13b", A100_40GB, GPT_13B, Workload(1, (512,), 10))

# (tp, quantity, measured seconds, tolerance as a relative error)
# Tolerances: decode 15% (bandwidth-bound: weight bytes / HBM bandwidth is a tight model at batch
# 1, the rest is kernel launch and small-kernel overhead); prefill 25% (FT's batch-1, 512-token
# GEMMs are far from large-GEMM efficiency and the per-op spread, 0.54 to 0.72, is +-15% around
# the single MFU we use; TP adds un-overlapped all-reduces of 5 MB).
FT_CASES = [
    (1, "ttft_s", 63.17e-3, 0.25),   # kipp.ly "Transformer inference arithmetic" (FasterTransformer), TP1 prefill
    (1, "tpot_s", 22.0e-3, 0.15),    # kipp.ly "Transformer inference arithmetic" (FasterTransformer), TP1 decode/token
    (2, "ttft_s", 45.45e-3, 0.25),   # kipp.ly "Transformer inference arithmetic" (FasterTransformer), TP2 prefill
    # was a strict xfail at -19.8% (10.82 ms: decode scaled 1.94x with TP against FT's 1.63x)
    # until the fixed cost per kernel (analysis.estimate.options.KERNEL_OVERHEAD_S), which does
    # not shrink with TP: 282 kernels + 80 all-reduces x 3 us -> 11.91 ms
    (2, "tpot_s", 13.5e-3, 0.15),    # kipp.ly "Transformer inference arithmetic" (FasterTransformer), TP2 decode/token
]


def _ft_error(tp: int, metric: str, measured: float) -> float:
    est = E.estimate(FT_SCENARIO, Strategy(tp=tp, etp=tp), E.Options())
    return est.worst[metric] / measured - 1


@pytest.mark.parametrize("tp,metric,measured,tol", FT_CASES)
def test_fastertransformer_13b_a100(tp, metric, measured, tol):
    """13B GPT on A100-40GB (312 TFLOPS bf16 dense, 1.555 TB/s, 40 GB; NVLink 300 GB/s per
    direction), 512-token prompt, batch 1, derated at MFU 0.65 and HBM utilisation 0.8 (reasons
    above FT_MFU) plus 3 us per kernel. Errors at these settings: TP1 prefill +5.0%, TP1 decode
    -0.7%, TP2 prefill -20.3%, TP2 decode -11.8%."""
    err = _ft_error(tp, metric, measured)
    assert abs(err) <= tol, f"tp={tp} {metric}: {err:+.1%}"  # kipp.ly "Transformer inference arithmetic" (FasterTransformer benchmark)


# --------------------------------------------------------------------------------------------
# 3. DeepSeek-V3 EP-bound decode, through the full estimate
# --------------------------------------------------------------------------------------------

# H800-like GPU with every expert-parallel peer in another node (one GPU per node), 50 GB/s
# scale-out per direction (400 Gb/s InfiniBand), zero latency, every efficiency 1.
H800_ONE_PER_NODE = replace(hardware_from_ref("H800")[0], name="H800 (1 GPU per node)",
                            gpus_per_node=1, scaleout_bandwidth_bytes_per_s=50e9,
                            scaleup_latency_s=0.0, scaleout_latency_s=0.0, mfu=1.0,
                            bandwidth_utilization=1.0, scaleup_efficiency=1.0,
                            scaleout_efficiency=1.0)
# the fixed cost per kernel is left out: this anchor isolates the bytes on the wire
FP8_DISPATCH_BF16_COMBINE = E.Options(dispatch_bytes_per_element=1, combine_bytes_per_element=2,
                                      kernel_overhead_s=0.0)
TOKENS_PER_GPU = 32


def test_paper_formula_ep_decode_step():
    # 1 B + 2 B per element x 32 tokens x 9 experts x 7000 hidden / 50 GB/s per layer
    assert f.ep_all_to_all_time_s(32, 9, 7000, 1, 2, 50e9) == pytest.approx(120.96e-6)  # arXiv 2505.09343 sec. 4.3
    assert 2 * 61 * 120.96e-6 == pytest.approx(14.76e-3, rel=1e-3)  # two micro-batches x 61 layers: arXiv 2505.09343 sec. 4.3


@pytest.mark.parametrize("ep", [16, 64, 256])
def test_deepseek_v3_ep_dispatch_combine_in_full_estimate(ep):
    model, _, _ = load_model("deepseek-v3")
    scenario = Scenario("dsv3-ep-decode", H800_ONE_PER_NODE, model,
                        Workload(TOKENS_PER_GPU * ep, (1024,), 1))
    strategy = Strategy(tp=1, dp_attn=ep, etp=1, ep=ep)   # attention DP + EP, 32 tokens per GPU
    est = E.estimate(scenario, strategy, FP8_DISPATCH_BF16_COMBINE)
    row = next(r for r in est.decode_ops if r["op"] == "ep_dispatch_combine")
    n_moe = model.num_moe_layers
    assert n_moe == 58  # 61 layers, first_k_dense_replace = 3: DeepSeek-V3 config.json

    # Our destination count (formulas.units_touched_per_token): group-limited routing
    # (config.json n_group 8, topk_group 4) sends a token's 8 routed experts into 4 of the 8
    # groups of 32, 2 experts in each; an EP rank of 256/N experts inside one group is touched
    # w.p. (4/8)(1 - C(32 - 256/N, 2) / C(32, 2)), and (N-1)/N of the ranks are not the sender;
    # with one GPU per node each is its own node (sent once per node, as DeepEP does). The
    # shared expert is computed where the token is (attention-side weights), never dispatched.
    # The paper instead takes 9 destinations (8 routed + 1 shared), all remote, and hidden 7000
    # (rounded from 7168): an upper bound. E.g. at EP64 we get 7.49 destinations, so our
    # per-layer time is 103.1 us against the paper's 120.96 us.
    n = float(ep)
    per_rank = 256 / n
    miss = math.prod((32 - per_rank - i) / (32 - i) for i in range(2))
    n_dest = n * 4 / 8 * (1 - miss) * (n - 1) / n
    per_layer = TOKENS_PER_GPU * n_dest * 7168 * (1 + 2) / 50e9
    assert row["comm_s"] / n_moe == pytest.approx(per_layer, rel=1e-9)  # T x n_dest x 7168 x (1 + 2) B / 50 GB/s: arXiv 2505.09343 sec. 4.3 (our n_dest)
    assert row["comm_bytes"] / n_moe == pytest.approx(per_layer * 50e9, rel=1e-9)  # same volume in bytes: arXiv 2505.09343 sec. 4.3
    assert est.tpot_breakdown_s["ep_dispatch_combine"] == pytest.approx(n_moe * per_layer, rel=1e-9)  # enters TPOT unhidden (no overlap option): arXiv 2505.09343 sec. 4.3


def test_deepseek_v3_cross_node_dispatch_once_per_node():
    # EP64 over 8 nodes of 8 GPUs, 32 tokens per GPU, FP8 dispatch + BF16 combine, 50 GB/s per
    # direction between nodes, NVLink fast enough not to bind. Group-limited routing reaches
    # exactly 4 of the 8 nodes (formulas.units_touched_per_token), 4 x 7/8 = 3.5 of them other
    # nodes, and DeepEP sends each token once per node: 32 x 3.5 x 7168 x 3 B / 50 GB/s = 48.2 us
    # per layer, against 32 x 7.61 x 56/64 x 7168 x 3 B / 50 GB/s = 105 us sending once per GPU.
    model, _, _ = load_model("deepseek-v3")
    hw = replace(H800_ONE_PER_NODE, gpus_per_node=8, scaleup_bandwidth_bytes_per_s=1e12)
    scenario = Scenario("dsv3-ep64", hw, model, Workload(TOKENS_PER_GPU * 64, (1024,), 1))
    strategy = Strategy(tp=1, dp_attn=64, etp=1, ep=64)
    per_layer = {}
    for dedup in (True, False):
        est = E.estimate(scenario, strategy, replace(FP8_DISPATCH_BF16_COMBINE, node_dedup=dedup))
        row = next(r for r in est.decode_ops if r["op"] == "ep_dispatch_combine")
        per_layer[dedup] = row["comm_s"] / model.num_moe_layers
    assert per_layer[True] == pytest.approx(32 * 3.5 * 7168 * 3 / 50e9, rel=1e-9)  # DeepEP internode: one RDMA send per node
    dests = 64 * 4 / 8 * (1 - math.prod((28 - i) / (32 - i) for i in range(2)))
    assert per_layer[False] == pytest.approx(32 * dests * 56 / 64 * 7168 * 3 / 50e9, rel=1e-9)



# --------------------------------------------------------------------------------------------
# 4. DeepEP low-latency kernels (deepseek-ai/DeepEP README), through the full estimate
# --------------------------------------------------------------------------------------------

# DeepEP README, low-latency kernels on H800 (RDMA 400 Gb/s), 128 tokens per GPU, hidden 7168,
# top-8, FP8 dispatch and BF16 combine: (dispatch us, combine us) per EP size.
DEEPEP_LOW_LATENCY_US = {8: (77, 114), 16: (118, 195), 32: (155, 273), 64: (173, 314),
                         128: (192, 369), 256: (194, 360)}


def _deepep_ll_model_us(ep: int) -> float:
    """Our dispatch + combine time of one MoE layer for DeepEP's low-latency benchmark: the H800
    preset (derated), DeepSeek-V3, attention DP + EP over ep GPUs, 128 tokens per GPU, sent to
    every destination GPU (no per-node dedup: the low-latency kernels send pure RDMA per GPU)."""
    model, _, _ = load_model("deepseek-v3")
    hw = hardware_from_ref("H800")[0]
    sc = Scenario("deepep-ll", hw, model, Workload(128 * ep, (1024,), 1))
    est = E.estimate(sc, Strategy(tp=1, dp_attn=ep, etp=1, ep=ep),
                     E.Options(decode_only=True, dispatch_bytes_per_element=1,
                               combine_bytes_per_element=2))
    row = next(r for r in est.decode_ops if r["op"] == "ep_dispatch_combine")
    return row["comm_s"] / model.num_moe_layers * 1e6


@pytest.mark.parametrize("ep", [32, 64, 128, 256])
def test_deepep_low_latency_dispatch_combine(ep):
    # model / published (dispatch + combine): EP32 -12%, EP64 -4%, EP128 -8%, EP256 -2%
    d_us, c_us = DEEPEP_LOW_LATENCY_US[ep]
    assert _deepep_ll_model_us(ep) == pytest.approx(d_us + c_us, rel=0.15)  # deepseek-ai/DeepEP README, low-latency kernels, H800, 128 tokens, FP8 dispatch + BF16 combine


@pytest.mark.xfail(strict=True, reason=(
    "Where it does not apply: the low-latency kernels send over RDMA even between GPUs of one "
    "node, while the model sends those over NVLink at 160 GB/s: EP8 64 us against 191 us "
    "(-66%), EP16 219 us against 313 us (-30%)"))
@pytest.mark.parametrize("ep", [8, 16])
def test_deepep_low_latency_inside_few_nodes(ep):
    d_us, c_us = DEEPEP_LOW_LATENCY_US[ep]
    assert _deepep_ll_model_us(ep) == pytest.approx(d_us + c_us, rel=0.15)  # deepseek-ai/DeepEP README, low-latency kernels, H800


def test_deepep_normal_intranode_bandwidth():
    # the H800 preset's usable NVLink, 0.8 x 200 GB/s = 160 GB/s, against DeepEP's normal
    # intranode kernels at EP8 (4096 tokens): about 153 GB/s dispatch. The normal internode
    # figures (EP16/32/64: 43/58/51 GB/s RDMA) are not used: they count bytes before the per-node
    # deduplication and forwarding, so they exceed the 50 GB/s line rate at EP32 and are not a
    # physical link bandwidth the model could take.
    hw = hardware_from_ref("H800")[0]
    nvlink = hw.scaleup_bandwidth_bytes_per_s * hw.scaleup_efficiency
    assert nvlink == pytest.approx(153e9, rel=0.10)  # deepseek-ai/DeepEP README, normal kernels, intranode EP8, ~153 GB/s


# --------------------------------------------------------------------------------------------
# 5. DeepSeek's inference system (open-infra-index, 202502OpenSourceWeek day 6)
# --------------------------------------------------------------------------------------------

# Stated: H800 nodes of 8 GPUs; prefill EP32 (DP32 attention) over 4 nodes, decode EP144 over
# 18 nodes, 32 redundant experts; two-batch overlap in both phases; 73.7k input tokens/s per
# node during prefill including on-disk KV-cache hits (56.3% of input tokens), 14.8k output
# tokens/s per node during decode at an average KV length of 4,989 tokens per output token,
# at 20-22 output tokens/s per user. MTP is not stated in the post, so it is not applied.
# Our reading: decode holds 14.8k / 8 / 21 = 88 sequences per GPU (the stated speed); prefill
# computes the 43.7% uncached tokens of a 4,989-token prompt (2,180 tokens, attending to the
# 2,809 cached ones before them) in chunks of 16,384 tokens per GPU (8 prompts per GPU), with
# DeepEP's normal kernels sending each token once per destination node (stated in DeepEP's
# README), and per-node input throughput counts the cached tokens too (/ 0.437). Derated mode,
# the H800 preset, no tuning.
DAY6_DECODE_TOKENS_PER_S_PER_NODE = 14.8e3
DAY6_PREFILL_TOKENS_PER_S_PER_NODE = 73.7e3


def _day6_per_node() -> tuple[float, float]:
    """(prefill input tokens/s per node, decode output tokens/s per node) of the model for
    DeepSeek's stated layouts and conditions (the reading above)."""
    hw = hardware_from_ref("H800")[0]
    model, _, _ = load_model("deepseek-v3")
    per_gpu = 88
    dec = Scenario("day6-decode", hw, model, Workload(per_gpu * 144, (4989,), 1))
    lay = E.Layouts.from_strategies([Strategy(tp=1, dp_attn=144, etp=1, ep=144,
                                              redundant_experts=32, two_batch_overlap=True)])
    tpot, _ = E.decode(hw, model, dec.workload, lay, E.Options(decode_only=True), 4989)
    prompt, cached, prompts = 2180, 2809, 8 * 32
    pre = Scenario("day6-prefill", hw, model, Workload(prompts, (prompt,), 1))
    lay = E.Layouts.from_strategies([Strategy(tp=1, dp_attn=32, etp=1, ep=32,
                                              redundant_experts=32, two_batch_overlap=True)])
    ttft, _ = E.prefill(hw, model, pre.workload, lay,
                        E.Options(prefill_chunk_tokens=16384, node_dedup=True), prompt, cached)
    return (prompts * prompt / float(ttft[0]) / 4 / 0.437, 8 * per_gpu / float(tpot[0]))


def test_deepseek_day6_gap_is_what_it_was():
    # the gap the model honestly reaches (measured: prefill 162.3k, +120%; decode 20.0k, +35%);
    # a guard so that a change moving it is seen, not a claim of accuracy
    prefill, decode = _day6_per_node()
    assert prefill == pytest.approx(2.20 * DAY6_PREFILL_TOKENS_PER_S_PER_NODE, rel=0.05)  # deepseek-ai/open-infra-index 202502OpenSourceWeek day 6: 73.7k input tokens/s per node
    assert decode == pytest.approx(1.35 * DAY6_DECODE_TOKENS_PER_S_PER_NODE, rel=0.05)  # deepseek-ai/open-infra-index 202502OpenSourceWeek day 6: 14.8k output tokens/s per node


@pytest.mark.xfail(strict=True, reason=(
    "the model is optimistic with DeepSeek's layout and stated conditions: prefill 162.3k "
    "input tokens/s per node (+120%), decode 20.0k output tokens/s per node (+35%). The "
    "published figures are the day's token totals over the node-time of each role (608B input "
    "and 168B output tokens over 226.75 nodes average: 31.0k + 8.6k tokens/s per node, which "
    "the two per-role figures reproduce with 42% of nodes prefilling), so they carry the day's "
    "load: nodes sized for peak and not always full. The post states no utilisation, and the "
    "model has no load factor to fit without one; also missing: mixed prompt lengths, loading "
    "cached KV from disk, attention-DP imbalance between ranks. Calibrated mode (H100's fit, "
    "transferred) misses too, on both sides: prefill 96.9k (+31%), decode 7.9k (-46%)"))
def test_deepseek_day6_within_20_percent():
    prefill, decode = _day6_per_node()
    assert prefill == pytest.approx(DAY6_PREFILL_TOKENS_PER_S_PER_NODE, rel=0.20)  # deepseek-ai/open-infra-index 202502OpenSourceWeek day 6
    assert decode == pytest.approx(DAY6_DECODE_TOKENS_PER_S_PER_NODE, rel=0.20)  # deepseek-ai/open-infra-index 202502OpenSourceWeek day 6
