"""The strategy report, its figures and tables, the plan audit and the what-if analysis.

The report's public names (``analysis.report.write_report`` and the rest, below) come from
:mod:`analysis.report.strategy`, imported on first use, so that reading the sensitivity inputs or
the audit does not load matplotlib (the command line starts in a fraction of the time).
"""

#: Names served from :mod:`analysis.report.strategy`.
STRATEGY_NAMES = (
    "METRIC_HEADER",
    "Report",
    "build",
    "checklist_table",
    "make_figures",
    "md_table",
    "optimisations",
    "out_dir_name",
    "performance_table",
    "placement",
    "render",
    "scalability",
    "slug",
    "strategies_table",
    "verdict",
    "write_report",
)
__all__ = list(STRATEGY_NAMES)


def __getattr__(name: str):
    """``analysis.report.<name>`` for the names of :data:`STRATEGY_NAMES`, imported lazily."""
    if name in STRATEGY_NAMES:
        from analysis.report import strategy

        return getattr(strategy, name)
    raise AttributeError(f"module 'analysis.report' has no attribute {name!r}")
