"""Result objects of the engines: tidy tables that carry their settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["CohortResult", "outcome_columns", "OUTCOME_COLUMNS"]

#: Columns every outcomes table has, in order (cost components follow).
OUTCOME_COLUMNS = ("draw", "strategy", "cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc")


def outcome_columns(components) -> list[str]:
    """All outcome columns for the given cost components."""
    cols = list(OUTCOME_COLUMNS)
    for c in components:
        cols += [f"cost_{c}", f"cost_{c}_undisc"]
    return cols


@dataclass(frozen=True)
class CohortResult:
    """What :func:`sim.run_cohort` returns.

    Attributes
    ----------
    outcomes : DataFrame
        One row per (draw, strategy): ``draw, strategy, cost, qaly, ly`` (discounted),
        ``cost_undisc, qaly_undisc, ly_undisc``, and ``cost_<component>`` /
        ``cost_<component>_undisc`` per cost component.  ``strategy`` is categorical
        in the model's order.
    settings : dict
        Engine, model, correction and its formula, discount rates and timing,
        cycle length, number of cycles and draws, seed, package version.
    trace : DataFrame or None
        ``draw, strategy, cycle, state, share`` (only when asked for).
    """

    outcomes: pd.DataFrame
    settings: Mapping[str, Any]
    trace: pd.DataFrame | None = None

    def summary(self) -> pd.DataFrame:
        """Mean of every outcome column per strategy (over draws), in model order."""
        cols = [c for c in self.outcomes.columns if c not in ("draw", "strategy")]
        out = self.outcomes.groupby("strategy", observed=True, sort=True)[cols].mean()
        out.attrs["settings"] = dict(self.settings)
        return out

    def icer(self, effect: str = "qaly", cost: str = "cost") -> pd.DataFrame:
        """ICER table on expected values (see :func:`sim.decision.icers`)."""
        from sim.decision.core import icers

        return icers(self.outcomes, effect=effect, cost=cost)
