"""The parts of the scenario-card reader; the entry point is :mod:`analysis.inputs.read.cards`."""
