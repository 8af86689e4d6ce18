"""The toy chip and models the hand-worked tests share: round numbers a person can check.

Toy chip: 100 TFLOP/s, 1 TB/s HBM, 100 GB, MFU 0.5, bandwidth utilisation 0.5, 4 GPUs per node,
100 GB/s NVLink and 10 GB/s scale-out per direction, 1 us / 10 us latency, links at 100%.
Toy MoE: L = 2, D = 1024, MHA with H = H_kv = 8 heads of d_h = 128, E = 4 experts of F = 1024,
top-1, plain (2-matrix) FFN, V = 1000, fp16 everywhere (2 bytes). Toy dense: the same with a
dense FFN of width 1024 on both layers.
"""

from analysis import estimate as E
from analysis.inputs import Attention, Hardware, Model

TOY_CHIP = Hardware("toy", (("bf16", 1e14),), 100e9, 1e12, gpus_per_node=4,
                    scaleup_bandwidth_bytes_per_s=100e9, scaleout_bandwidth_bytes_per_s=10e9,
                    scaleup_latency_s=1e-6, scaleout_latency_s=10e-6, mfu=0.5,
                    bandwidth_utilization=0.5, scaleup_efficiency=1.0, scaleout_efficiency=1.0)
TOY_MOE = Model("toy-moe", 2, 1024, Attention("gqa", 8, 8, 128), vocab_size=1000, ffn_gated=False,
                num_experts=4, top_k=1, expert_intermediate_size=1024, weight_precision="fp16",
                kv_precision="fp16", activation_precision="fp16")
TOY_DENSE = Model("toy-dense", 2, 1024, Attention("gqa", 8, 8, 128), vocab_size=1000,
                  ffn_gated=False, num_dense_layers=2, dense_intermediate_size=1024,
                  weight_precision="fp16", kv_precision="fp16", activation_precision="fp16")
# hand-worked oracles leave out the fixed cost per kernel (tested on its own in test_estimate)
BALANCED = E.Options(imbalance="balanced", kernel_overhead_s=0.0)
