"""The estimate's names under their former module, for the rooms that still import
``analysis.estimate.model as E`` (report, course, validation, cli, explorer). New code imports
``analysis.estimate`` (the facade); the model itself lives in options, layouts, efficiency,
context, ops (and ops_*), memory and metrics."""

from analysis.estimate import formulas as f  # noqa: F401
from analysis.estimate.context import (  # noqa: F401
    attention_width,
    busiest_rank_load,
    ep_destinations,
    ep_element_bytes,
)
from analysis.estimate.efficiency import (  # noqa: F401
    OpCost,
    attention_peak_flops_per_s,
    link_efficiency,
    link_for_group,
)
from analysis.estimate.layouts import (  # noqa: F401
    Layouts,
    busiest_rank_sequences,
    check_strategy,
    idle_ranks,
    layout_rejections,
    lockstep_group_sequences,
    rejection_reasons,
    split_notes,
    stage_imbalance,
    stage_layer_counts,
    stage_layers,
    valid_mask,
    valid_reason,
)
from analysis.estimate.memory import (  # noqa: F401
    MEMORY_COMPONENTS,
    memory_per_gpu_bytes,
    phase_memory_bytes,
)
from analysis.estimate.metrics import (  # noqa: F401
    Estimate,
    decode,
    decode_step_time_s,
    estimate,
    evaluate_layouts,
    prefill,
    prefill_chunk_ops,
)
from analysis.estimate.ops import COMM_OPS, OPS, stage_ops, stage_time_s  # noqa: F401
from analysis.estimate.ops_attention import (  # noqa: F401
    kv_cache_bytes_per_token_per_layer_per_gpu,
    kv_heads_per_gpu,
)
from analysis.estimate.options import Imbalance, Mode, Options  # noqa: F401
