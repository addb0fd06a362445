"""Result objects of the engines: tidy tables that carry their settings.

Every engine returns a frozen result with the same shape (:class:`Result`):
``outcomes`` (a long table, one row per (draw or patient, strategy)), ``settings``
(engine, model, conventions, seed, version: built by :func:`make_settings`),
``summary()``, ``icer()`` and ``matrices()``. This module also turns an engine's
per-draw totals into the outcome columns (:func:`outcome_data`), so both engines
name and order their columns alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "OUTCOME_COLUMNS",
    "CohortResult",
    "Result",
    "make_settings",
    "outcome_column",
    "outcome_columns",
    "outcome_data",
]

#: Columns every outcomes table has, in order (cost components follow).
OUTCOME_COLUMNS = ("draw", "strategy", "cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc")


def outcome_columns(components: Sequence[str]) -> list[str]:
    """All outcome columns for the given cost components, in order."""
    cols = list(OUTCOME_COLUMNS)
    for c in components:
        cols += [f"cost_{c}", f"cost_{c}_undisc"]
    return cols


def make_settings(engine: str, *, model: str, strategies: Sequence[str], n_draws: int | None, seed: Any,
                  **conventions: Any) -> dict:
    """The ``settings`` of a result: who computed it, on what, with which conventions.

    Parameters
    ----------
    engine : str
        The engine (``"cohort"``, ``"patient"``, ...).
    model : str
        The model's name.
    strategies : sequence of str
        Strategies, in the model's order.
    n_draws : int or None
        Number of parameter draws (None where the result is not per draw).
    seed : int or None
        The seed of every random number (None for a deterministic run).
    **conventions
        The engine's settings (correction, discounting, cycles, patients, ...), in the
        order they should be shown.

    Returns
    -------
    dict
        ``engine, model, strategies, n_draws, seed``, the conventions, then ``version``.
    """
    from sim._version import __version__

    out = {"engine": engine, "model": model, "strategies": list(strategies), "n_draws": n_draws, "seed": seed}
    out.update(conventions)
    out["version"] = __version__
    return out


def outcome_column(totals: np.ndarray, columns: Sequence[str], name: str) -> np.ndarray:
    """One numeric outcome column (length ``n * K``) from totals ``(n, K, 2, NR)``.

    ``columns`` names the reward columns of ``totals`` (cost components, then
    ``"qaly"`` and ``"ly"``); index 0 of the third axis is discounted, 1 undiscounted.
    Raises ``KeyError`` if there is no such column.
    """
    comps = tuple(columns[:-2])
    where = {"cost": (0, None), "qaly": (0, -2), "ly": (0, -1),
             "cost_undisc": (1, None), "qaly_undisc": (1, -2), "ly_undisc": (1, -1)}
    for r, c in enumerate(comps):
        where[f"cost_{c}"] = (0, r)
        where[f"cost_{c}_undisc"] = (1, r)
    g, r = where[name]
    if r is None:
        return totals[:, :, g, : len(comps)].sum(axis=-1).ravel()
    return totals[:, :, g, r].ravel()


def outcome_data(strategies: Sequence[str], ids: np.ndarray, totals: np.ndarray, columns: Sequence[str], *,
                 id_column: str = "draw") -> dict[str, np.ndarray]:
    """The columns of an outcomes table from totals ``(n, K, 2, NR)``, each of length ``n * K``.

    Returns
    -------
    dict
        ``id_column`` (``draw`` or ``patient``), ``strategy`` (categorical in the given
        order), then :func:`outcome_columns` of the cost components.
    """
    n, K = totals.shape[:2]
    comps = tuple(columns[:-2])
    data = {
        id_column: np.repeat(ids, K),
        "strategy": pd.Categorical.from_codes(np.tile(np.arange(K, dtype=np.int16), n),
                                              categories=list(strategies)),
    }
    for name in outcome_columns(comps)[2:]:
        data[name] = outcome_column(totals, columns, name)
    return data


class Result:
    """The shape every engine's result shares: ``outcomes``, ``settings`` and three views.

    Subclasses are frozen dataclasses (or immutable classes) with at least the
    attributes ``outcomes`` (DataFrame with ``strategy``, ``cost`` and effect columns)
    and ``settings`` (mapping, see :func:`make_settings`).
    """

    outcomes: pd.DataFrame
    settings: Mapping[str, Any]

    def summary(self) -> pd.DataFrame:
        """Mean of every numeric outcome column per strategy, in model order."""
        frame = self.outcomes
        cols = [c for c in frame.columns if c not in ("draw", "patient", "strategy")
                and pd.api.types.is_numeric_dtype(frame[c])]
        out = frame.groupby("strategy", observed=True, sort=True)[cols].mean()
        out.attrs["settings"] = dict(self.settings)
        return out

    def icer(self, effect: str = "qaly", cost: str = "cost") -> pd.DataFrame:
        """ICER table on expected values (see :func:`sim.decision.icers`)."""
        from sim.decision.icer import icers

        return icers(self.outcomes, effect=effect, cost=cost)

    def matrices(self, effect: str = "qaly") -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``(costs, effects, strategies)``, arrays of shape (n_draws or n_patients, n_strategies)."""
        from sim.decision.icer import outcome_matrix

        key = "patient" if "patient" in self.outcomes.columns and "draw" not in self.outcomes.columns else "draw"
        c, names = outcome_matrix(self.outcomes, "cost", draw=key)
        e, _ = outcome_matrix(self.outcomes, effect, draw=key)
        return c, e, names

    def ceac(self, wtp, effect: str = "qaly") -> pd.DataFrame:
        """Cost-effectiveness acceptability curves (see :func:`sim.ceac`)."""
        from sim.decision.acceptability import ceac

        c, e, names = self.matrices(effect)
        return ceac(c, e, wtp, names)

    def evpi(self, wtp, effect: str = "qaly") -> pd.DataFrame:
        """Expected value of perfect information (see :func:`sim.evpi`)."""
        from sim.decision.voi import evpi

        c, e, _ = self.matrices(effect)
        return evpi(c, e, wtp)


@dataclass(frozen=True)
class CohortResult(Result):
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
    per_cycle : DataFrame or None
        ``draw, strategy, cycle`` and the outcome columns, the rewards counted at each
        trace point (only when asked for, ``run_cohort(per_cycle=True)``); they sum to
        ``outcomes``.
    """

    outcomes: pd.DataFrame
    settings: Mapping[str, Any]
    trace: pd.DataFrame | None = None
    per_cycle: pd.DataFrame | None = None
