"""The strategy report, its figures and tables, the plan audit and the what-if analysis."""

from analysis.report.strategy import (  # noqa: F401
    METRIC_HEADER,
    Report,
    build,
    checklist_table,
    make_figures,
    md_table,
    optimisations,
    out_dir_name,
    performance_table,
    placement,
    render,
    scalability,
    slug,
    strategies_table,
    verdict,
    write_report,
)
