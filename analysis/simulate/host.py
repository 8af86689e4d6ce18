"""The host's share of an engine iteration: what the CPU does around the GPU's work.

* a fixed part and a part per sequence, added to every iteration (:func:`iteration_host_s`);
* for an engine that launches a prompt iteration's kernels one by one (no CUDA graph), the
  launch time, which the GPU's work hides only while it is the longer
  (:func:`eager_forward_host_s`, :func:`launch_bound_s`).

The values come from the engine profiles (:mod:`analysis.simulate.profiles`), each with its
basis: measured, fitted on the calibration split, or assumed.
"""

from __future__ import annotations


def eager_forward_host_s(host_s_per_layer: float, layers: float) -> float:
    """Host time to launch one forward's kernels one by one (no CUDA graph), seconds:
    ``t_host = layers * t_layer``, with ``t_layer`` the engine's host time per layer (Python
    dispatch and launch of that layer's kernels; the engine profile's
    ``eager_prefill_host_s_per_layer`` and its source)."""
    return host_s_per_layer * layers


def iteration_host_s(overhead_s: float, sequence_overhead_s: float, sequences: float) -> float:
    """Host time an iteration adds to the GPU's, seconds: ``t = t_o + t_seq * n``, a fixed part
    ``t_o`` (scheduling, launches outside CUDA graphs) and a part per sequence in the iteration
    ``t_seq`` (its input metadata, sampling, detokenisation and streaming: work an engine does
    for each running request every step). Attention-DP ranks schedule in parallel, so ``n`` is
    the busiest rank's sequences."""
    return overhead_s + sequence_overhead_s * sequences


def launch_bound_s(gpu_s: float, host_s: float) -> float:
    """Time of a forward whose kernels the host launches one at a time:
    ``t = max(t_gpu, t_host)``. Launches are asynchronous, so the GPU's work hides the host's
    while the GPU is the slower; when the host is, the GPU idles between kernels and the forward
    takes the host's time (CUDA programming guide, "Asynchronous Concurrent Execution"; the
    reason engines capture decode in CUDA graphs)."""
    return max(gpu_s, host_s)
