"""Experiments: experiment files, the runner (serial or Dask), result files, the report, the command line.

Modules: :mod:`~sim.experiment.spec` (the schema and the frozen spec objects),
:mod:`~sim.experiment.read` (reading a file), :mod:`~sim.experiment.loading` (the model and
its table, names checked), :mod:`~sim.experiment.registry` (ready models, found through
entry points), :mod:`~sim.experiment.runner` (the analyses of a run),
:mod:`~sim.experiment.executor` (serial or Dask), :mod:`~sim.experiment.sweep`
(parameter sweeps), :mod:`~sim.experiment.outputs` (files and the manifest),
:mod:`~sim.experiment.report` (the HTML report) and :mod:`~sim.experiment.cli`.
"""

from __future__ import annotations

from sim._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "read_experiment": "sim.experiment.read:read_experiment", "load": "sim.experiment.loading:load",
    "Loaded": "sim.experiment.loading:Loaded", "Experiment": "sim.experiment.spec:Experiment",
    "SCHEMA": "sim.experiment.spec:SCHEMA", "SETTINGS": "sim.experiment.spec:SETTINGS",
    "ready_models": "sim.experiment.registry:ready_models", "load_ready": "sim.experiment.registry:load_ready",
    "run_experiment": "sim.experiment.runner:run_experiment", "repeat": "sim.experiment.record:repeat",
    "read_sweep": "sim.experiment.sweep:read_sweep", "Executor": "sim.experiment.executor:Executor",
    "main": "sim.experiment.cli:main",
})
