"""Every efficiency in one place: how work becomes time on a GPU and on a link, in each mode.

* "sol" (speed of light): all efficiencies 1, no communication time;
* "derated": the GPU's stated MFU, HBM bandwidth utilisation and link efficiencies;
* "calibrated": the GPU's fitted size-dependent curves (:class:`~analysis.inputs.Calibration`,
  saturating in GEMM rows, bytes per layer and message size, plus a fixed cost per op per layer),
  falling back to "derated" for a GPU that has none.

An op's time on a GPU is ``max(FLOPs / (peak * MFU), bytes / (HBM bandwidth * util))``;
a communication op's is ``bytes / (link bandwidth * efficiency) + latency``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.estimate import formulas as f
from analysis.estimate.options import Options
from analysis.inputs.errors import InputError
from analysis.inputs.precision import matmul_precision
from analysis.inputs.types import Hardware, Model, saturating_efficiency


@dataclass
class OpCost:
    """One op on one GPU for one stage step: work, bytes, and the time each resource needs."""

    flops: np.ndarray
    hbm_bytes: np.ndarray
    comm_bytes: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray
    comm_s: np.ndarray
    overhead_s: np.ndarray | float = 0.0    # fixed launch cost (calibrated mode only)

    @property
    def time_s(self) -> np.ndarray:
        return np.maximum(np.maximum(self.compute_s, self.memory_s), self.comm_s) + self.overhead_s

    @property
    def bound(self) -> np.ndarray:
        """"compute", "memory" or "communication", whichever sets the op's time."""
        return np.select([self.comm_s >= np.maximum(self.compute_s, self.memory_s),
                          self.compute_s >= self.memory_s],
                         ["communication", "compute"], "memory")


@dataclass
class Rates:
    """The rates in force for N layouts: matmul peak, MFU and achieved HBM bandwidth, and the
    GPU's calibration when calibrated mode is asked for and it has one."""

    hw: Hardware
    n: int
    opts: Options
    peak: float
    mfu: float
    bw: float

    @property
    def calibration(self):
        return self.hw.calibration if self.opts.mode == "calibrated" else None

    @property
    def kernel_s(self) -> float:
        """Fixed cost per kernel: ``opts.kernel_overhead_s`` when the GPU's stated factors are
        in force (derated, or calibrated without a calibration); 0 at speed of light; the
        calibration's own ``op_overhead_s`` replaces it when calibrated."""
        if self.opts.mode == "sol" or self.calibration is not None:
            return 0.0
        return self.opts.kernel_overhead_s

    def gpu_op(self, flops, hbm_bytes, rows=None, layers=0.0, peak=None, kernels=1) -> OpCost:
        """An op on one GPU: ``flops`` over ``rows`` GEMM rows (tokens), ``hbm_bytes`` moved,
        repeated over ``layers`` layers of ``kernels`` kernels each (for the fixed cost per
        kernel, or the calibrated fixed cost per op per layer), at ``peak`` FLOP/s (default: the
        matmul precision's)."""
        z = np.zeros(self.n)
        flops = z + flops
        hbm_bytes = z + hbm_bytes
        peak = peak or self.peak
        cal = self.calibration
        if cal is None:
            busy = (flops > 0) | (hbm_bytes > 0)
            return OpCost(flops, hbm_bytes, z, f.compute_time_s(flops, peak, self.mfu),
                          f.memory_time_s(hbm_bytes, self.bw), z,
                          np.where(busy, self.kernel_s * kernels * (z + layers), 0.0))
        per_layer = np.maximum(z + layers, 1.0)
        mfu = saturating_efficiency(z + (rows if rows is not None else 1e12),
                                    cal.compute_max, cal.compute_half_tokens)
        util = saturating_efficiency(hbm_bytes / per_layer, cal.memory_max, cal.memory_half_bytes)
        compute_s = np.where(flops > 0, f.compute_time_s(flops, peak, mfu), 0.0)
        memory_s = np.where(hbm_bytes > 0, hbm_bytes / (self.hw.hbm_bandwidth_bytes_per_s * util),
                            0.0)
        overhead = np.where((flops > 0) | (hbm_bytes > 0), cal.op_overhead_s * (z + layers), 0.0)
        return OpCost(flops, hbm_bytes, z, compute_s, memory_s, z, overhead)

    def comm_op(self, comm_bytes, seconds, kernels=0) -> OpCost:
        """A communication op: ``comm_bytes`` sent per GPU in ``seconds`` (none at speed of
        light) by ``kernels`` collective kernels (each with the fixed cost per kernel)."""
        z = np.zeros(self.n)
        if self.opts.mode == "sol":
            return OpCost(z, z, z + comm_bytes, z, z, z)
        comm_bytes = z + comm_bytes
        return OpCost(z, z, comm_bytes, z, z, z + seconds,
                      np.where(comm_bytes > 0, self.kernel_s * (z + kernels), 0.0))


def rates_for(hw: Hardware, model: Model, n: int, opts: Options) -> Rates:
    """The rates of ``n`` layouts of ``model`` on ``hw`` in ``opts.mode``."""
    peak = hw.peak_flops_for(matmul_precision(model.weight_precision,
                                              model.activation_precision))
    sol = opts.mode == "sol"
    return Rates(hw, n, opts, peak, 1.0 if sol else hw.mfu,
                 hw.hbm_bandwidth_bytes_per_s * (1.0 if sol else hw.bandwidth_utilization))


def expert_peak_flops_per_s(hw: Hardware, model: Model) -> float:
    """Peak FLOP/s of the routed experts' matmuls: their weights' precision against the
    activations' (:func:`analysis.inputs.precision.matmul_precision`; experts in NVFP4 with
    FP4 activations use the FP4 peak while the rest runs in FP8)."""
    return hw.peak_flops_for(matmul_precision(
        model.expert_weight_precision or model.weight_precision, model.activation_precision))


def attention_peak_flops_per_s(hw: Hardware, model: Model) -> float:
    """Peak FLOP/s of the attention core (scores and value mixing): it computes in the KV
    cache's precision (FlashAttention, FlashMLA: a BF16 cache means BF16 math even when the
    projections run in FP8); the matmul precision's peak if the GPU has none for the cache's."""
    try:
        return hw.peak_flops_for(model.kv_precision)
    except InputError:
        return hw.peak_flops_for(model.activation_precision)


def link_efficiency(hw: Hardware, inside_node, message_bytes, opts: Options):
    """Achieved fraction of a link's bandwidth: 1 at speed of light, the GPU's constant in
    derated mode, the fitted curve of message size in calibrated mode."""
    if opts.mode == "sol":
        return np.ones_like(np.asarray(message_bytes, dtype=float))
    cal = hw.calibration if opts.mode == "calibrated" else None
    if cal is None:
        return np.where(inside_node, hw.scaleup_efficiency, hw.scaleout_efficiency)
    return np.where(inside_node,
                    saturating_efficiency(message_bytes, cal.scaleup_max, cal.scaleup_half_bytes),
                    saturating_efficiency(message_bytes, cal.scaleout_max,
                                          cal.scaleout_half_bytes))


def link_for_group(hw: Hardware, group_gpus, opts: Options, message_bytes=1e12
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(achieved bandwidth, latency) of a collective over ``group_gpus`` adjacent GPUs: NVLink
    inside a node, the scale-out network past it; efficiency per :func:`link_efficiency`."""
    inside = np.asarray(group_gpus) <= hw.gpus_per_node
    eff = link_efficiency(hw, inside, message_bytes, opts)
    bw = np.where(inside, hw.scaleup_bandwidth_bytes_per_s, hw.scaleout_bandwidth_bytes_per_s) * eff
    lat = np.where(inside, hw.scaleup_latency_s, hw.scaleout_latency_s)
    return bw, lat
