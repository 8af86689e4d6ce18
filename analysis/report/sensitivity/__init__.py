"""What-if (sensitivity) analysis: which inputs move the recommendation, and where it changes.

The planner (:func:`analysis.search.planner`) is re-run with one input changed at a time, every
other input held at the scenario's value:

* :func:`tornado` sets each input to a low and a high value (by default x0.5 and x2 of the
  scenario's value, clamped to what is valid) and reports a metric of the recommended layout at
  low, base and high, the swing, and the layout at each end. Sorted by swing: a tornado chart.
* :func:`thresholds` scans one input over a wider, log-spaced grid (by default x0.1 to x10) and
  finds every value at which the recommendation changes (its layout, or whether it meets every
  requirement), refined by bisection until the bracket is within ``tol`` (2%): below the value
  one layout is recommended, above it another, and ``why`` says which check made it change.
* :func:`analyse` runs both for the CLI and the notebook; :func:`takeaway` names the most
  influential input and the nearest threshold; :func:`reading_markdown` is the notebook's
  reading of the result, written from its numbers.

The declared inputs (:data:`INPUTS`) are the hardware efficiencies (MFU, HBM bandwidth
utilisation), the interconnect (scale-up and scale-out bandwidth and latency per message), the
workload (longest prompt S, batch B, output length O) and the MoE load imbalance (busiest EP rank
over the mean). Each says how to set it on a Scenario/Options and what values are valid:
fractions stay <= 1, token counts are whole numbers >= 1, the batch stays a multiple of
``gcd(B, 8)`` (an odd batch would change the layout for divisibility alone: no micro-batch or
replica split of it exists), an imbalance factor stays >= 1.

Cost: one plan is ~0.2 s for the seed. Outcomes are cached by (scenario, options, budget), so a
value visited twice is planned once (:func:`cache_info`, :func:`clear_cache`). The seed's full
analysis (tornado of the 10 inputs: 21 plans; thresholds of the 5 that move: ~25-55 plans each,
more where the micro-batch count steps up repeatedly) is ~190 plans, ~40 s on one core;
``python -m analysis sensitivity seed`` prints what it took. ``scan="top"`` (the notebook) scans
only the most influential input: ~45 plans, ~10 s.
"""


from analysis.report.sensitivity.inputs import (  # noqa: F401
    BY_NAME,
    INPUTS,
    Input,
    input_names,
    inputs_named,
)
from analysis.report.sensitivity.outcome import (  # noqa: F401
    METRICS,
    Outcome,
    Progress,
    cache_info,
    clear_cache,
    metric_label,
    outcome,
)
from analysis.report.sensitivity.reading import reading_markdown  # noqa: F401
from analysis.report.sensitivity.scans import most_influential, thresholds, tornado  # noqa: F401
from analysis.report.sensitivity.summary import (  # noqa: F401
    SCANS,
    Analysis,
    analyse,
    layout_text,
    readable_thresholds,
    readable_tornado,
    takeaway,
)

__all__ = [
    "INPUTS", "METRICS", "SCANS", "Analysis", "Input", "Outcome", "analyse", "cache_info",
    "clear_cache", "input_names", "metric_label", "most_influential", "outcome",
    "readable_thresholds", "readable_tornado", "reading_markdown", "takeaway", "thresholds",
    "tornado",
]
