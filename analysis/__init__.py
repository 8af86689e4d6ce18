"""MoEPlan: plan MoE inference layouts on GPUs. Submodules are imported on demand, so
``import analysis`` stays light."""


def __getattr__(name: str):
    """``analysis.simulate_run``: :func:`analysis.simulate.run.simulate_run`, imported lazily."""
    if name == "simulate_run":
        from analysis.simulate.run import simulate_run

        return simulate_run
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
