"""The planner: enumerate layouts, check them against the requirements, recommend."""

from analysis.search.planner import (  # noqa: F401
    POW2,
    THROUGHPUT_COLUMNS,
    THROUGHPUT_MEANING,
    Check,
    Plan,
    add_checks,
    binding_constraint,
    candidate_layouts,
    checks_for,
    evaluate_all,
    pareto_front,
    plan,
    raise_no_layout,
    run_search,
    throughput_ceilings,
    throughput_reading,
)
from analysis.search.serving_plan import (  # noqa: F401
    ServingPlan,
    ServingPlanOptions,
    compare_hardware,
    serving_plan,
)
