"""Experiments: experiment files (reading and checking), the runner (serial or Dask),
result files and the manifest, the HTML report and the command line.
"""

from __future__ import annotations

from sim._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "read_experiment": "sim.experiment.files:read_experiment", "load": "sim.experiment.files:load",
    "Experiment": "sim.experiment.files:Experiment", "SCHEMA": "sim.experiment.files:SCHEMA",
    "run_experiment": "sim.experiment.runner:run_experiment", "repeat": "sim.experiment.runner:repeat",
    "read_sweep": "sim.experiment.runner:read_sweep", "main": "sim.experiment.cli:main",
})
