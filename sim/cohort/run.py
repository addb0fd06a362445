"""The cohort engine as a model run (:class:`sim.decision.run.ModelRun`) for DSA and thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.cohort.engine import run_cohort
from sim.errors import HtaError
from sim.model.spec import Model
from sim.results import outcome_columns

__all__ = ["CohortRun"]


@dataclass(frozen=True)
class CohortRun:
    """A cohort model, run by :func:`sim.run_cohort` on sets of parameter values.

    All sets of one call run in one engine call, one draw per set.

    Parameters
    ----------
    model : Model
        The model; its ``parameters`` are the base case.
    """

    model: Model

    def __post_init__(self):
        if not isinstance(self.model, Model):
            raise HtaError(f"CohortRun needs a sim.Model, got {type(self.model).__name__}")

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def strategies(self) -> tuple[str, ...]:
        """The model's strategies, in order."""
        return tuple(self.model.strategies)

    @property
    def parameters(self) -> Mapping[str, float]:
        """Base-case parameter values."""
        return self.model.parameters

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        """``cost, qaly, ly``, their undiscounted versions and the cost components."""
        return tuple(outcome_columns(self.model.cost_components)[2:])

    def run(self, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Outcomes of the parameter sets ``values`` (see :class:`sim.decision.run.ModelRun`)."""
        # the sets vary some parameters; the others keep the base case by design
        return run_cohort(self.model, dict(values), defaults="model").outcomes
