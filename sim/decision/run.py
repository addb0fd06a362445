"""What analyses that rerun a model need of it: the model-run protocol.

Deterministic sensitivity analysis, thresholds and value-based price vary parameter
values and rerun the model. Decision analysis imports no engine, so these analyses
take a *model run*: any object with the attributes and the method below. Each engine
provides one (:class:`sim.cohort.CohortRun` for a cohort model,
:class:`sim.patient.PatientRun` for a patient-level one); an outside model (a
spreadsheet, another program) needs only the same few names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from sim.errors import HtaError

__all__ = ["ModelRun", "check_run"]


@runtime_checkable
class ModelRun(Protocol):
    """A model that can be run on sets of parameter values.

    Attributes
    ----------
    name : str
        The model's name (for labels and error messages).
    strategies : sequence of str
        Strategies, in the order of the outcome rows.
    parameters : mapping of str to float
        Base-case parameter values: the parameters that may be varied.
    outcome_columns : sequence of str
        Numeric columns of the outcomes table (``cost``, ``qaly``, ``ly``, ...).
    """

    name: str
    strategies: Sequence[str]
    parameters: Mapping[str, float]
    outcome_columns: Sequence[str]

    def run(self, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Outcomes of ``n`` parameter sets.

        Parameters
        ----------
        values : mapping of str to ndarray
            Each varied parameter's values, one array of length ``n`` (the same for
            all); every other parameter keeps its base-case value. An empty mapping
            runs the base case once (``n = 1``).

        Returns
        -------
        DataFrame
            One row per (set, strategy), set-major and strategies in order: ``draw``
            (the set, ``0..n-1``), ``strategy`` and the :attr:`outcome_columns`.
        """
        ...


def check_run(run: Any, who: str) -> ModelRun:
    """``run`` if it is a model run, else an :class:`HtaError` that says how to make one."""
    if isinstance(run, ModelRun):
        return run
    kind = type(run).__name__
    hint = (" wrap it: sim.cohort.CohortRun(model)" if kind == "Model" else
            " give sim.cohort.CohortRun(model), sim.patient.PatientRun(...) or an object with name, strategies, "
            "parameters, outcome_columns and run(values)")
    raise HtaError(f"{who} needs a model run as its first argument, got {kind};{hint}")
