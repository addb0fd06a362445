"""The cohort engine as a model run (:class:`sim.decision.run.ModelRun`) for DSA and thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from sim.cohort.engine import run_cohort
from sim.decision.run import SpecRun
from sim.model.spec import Model

__all__ = ["CohortRun"]


@dataclass(frozen=True)
class CohortRun(SpecRun):
    """A cohort model, run by :func:`sim.run_cohort` on sets of parameter values.

    All sets of one call run in one engine call, one draw per set.

    Parameters
    ----------
    model : Model
        The model; its ``parameters`` are the base case.
    """

    KIND: ClassVar[type] = Model
    KIND_NAME: ClassVar[str] = "sim.Model"

    def run(self, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Outcomes of the parameter sets ``values`` (see :class:`sim.decision.run.ModelRun`)."""
        # the sets vary some parameters; the others keep the base case by design
        return run_cohort(self.model, dict(values), defaults="model").outcomes
