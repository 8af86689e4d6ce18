"""Simulate how a serving engine runs one benchmark: an iteration-level scheduler over the
op-cost model. Entry point: :func:`analysis.simulate.run.simulate_run` (also
``analysis.simulate_run`` and ``python -m analysis simulate RUN.yaml``); format in
``docs/simulate.md``.

Modules: :mod:`.workload` (requests, arrivals), :mod:`.profiles` (engine profiles),
:mod:`.engine` (the scheduler and iteration loop), :mod:`.metrics`, :mod:`.cost` (the only
coupling to :mod:`analysis.estimate`), :mod:`.run` (parse, validate, run).
"""
