"""MoEPlan: plan MoE inference layouts on GPUs. Submodules are imported on demand, so
``import analysis`` stays light."""


def __getattr__(name: str):
    """``analysis.simulate_run``: :func:`analysis.simulate.run.simulate_run`;
    ``analysis.serving_plan``: :func:`analysis.search.serving_plan.serving_plan`; imported
    lazily."""
    if name == "simulate_run":
        from analysis.simulate.run import simulate_run

        return simulate_run
    if name == "serving_plan":
        from analysis.search.serving_plan import serving_plan

        return serving_plan
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
