"""The toy chip and toy MoE of the course's hand-worked tests: round numbers a person can check."""

from analysis.inputs import Attention, Hardware, Model

# A toy chip with round numbers: 100 TFLOP/s bf16, 1 TB/s HBM -> ridge 100 FLOP/B (speed of
# light); MFU 0.5, utilisation 0.5 -> derated ridge 100 too. NVLink 100 GB/s, 4 GPUs per node,
# scale-out 10 GB/s, latencies 1 us / 10 us, link efficiency 1.
TOY_HW = Hardware("toy", (("bf16", 100e12),), 80e9, 1e12, gpus_per_node=4,
                  scaleup_bandwidth_bytes_per_s=100e9, scaleout_bandwidth_bytes_per_s=10e9,
                  scaleup_latency_s=1e-6, scaleout_latency_s=10e-6, mfu=0.5,
                  bandwidth_utilization=0.5, scaleup_efficiency=1.0, scaleout_efficiency=1.0)
# A toy MoE: D = 100, F = 200, plain MLP (P = 2 * 100 * 200 = 40,000 per expert), E = 8, k = 2,
# MHA 4 heads of 25, bf16.
TOY = Model("toy-moe", 2, 100, Attention("gqa", 4, 4, 25), vocab_size=1000, ffn_gated=False,
            num_experts=8, top_k=2, expert_intermediate_size=200)

