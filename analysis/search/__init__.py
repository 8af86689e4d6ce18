"""The planner: enumerate layouts, check them against the requirements, recommend."""

from analysis.search.checks import (  # noqa: F401
    THROUGHPUT_COLUMNS,
    THROUGHPUT_MEANING,
    Check,
    add_checks,
    checks_for,
    evaluate_all,
    throughput_reading,
)
from analysis.search.planner import (  # noqa: F401
    Plan,
    binding_constraint,
    pareto_front,
    plan,
    raise_no_layout,
    run_search,
    throughput_ceilings,
)
from analysis.search.serving_plan import (  # noqa: F401
    ServingPlan,
    ServingPlanOptions,
    compare_hardware,
    serving_plan,
)
from analysis.search.space import POW2, candidate_layouts  # noqa: F401
