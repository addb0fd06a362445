"""Result objects of the patient-level engine's entry points.

Each is a frozen :class:`sim.results.Result`: ``outcomes`` (a long table),
``settings`` (built by :func:`sim.results.make_settings`), ``summary()``, ``icer()``
and ``matrices()``; per-patient results have a ``patient`` column where the cohort
engine has ``draw``, so ``matrices()`` gives arrays of shape (n_patients,
n_strategies). Extra tables (queues, event log) are extra attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.results import Result

__all__ = ["ManagedResult", "PathwayResult", "PatientPSAResult", "PatientResult", "pathway_conventions"]


def pathway_conventions(pathways: Mapping[str, Any]) -> dict:
    """The pathways' horizon and discount rates, for a result's ``settings``.

    Parameters
    ----------
    pathways : mapping of strategy name to Pathway

    Returns
    -------
    dict
        ``horizon, discount_costs, discount_outcomes`` (each a number when every
        strategy has the same, else a dict by strategy) and ``discounting`` (the formula).
    """
    out = {}
    for what in ("horizon", "discount_costs", "discount_outcomes"):
        by = {s: float(getattr(p, what)) for s, p in pathways.items()}
        out[what] = next(iter(by.values())) if len(set(by.values())) == 1 else by
    out["discounting"] = "continuous: (1 + r) ** -t, state rewards integrated exactly over each stay"
    return out


@dataclass(frozen=True)
class PathwayResult(Result):
    """What :func:`sim.patient.run_pathway` returns.

    Attributes
    ----------
    outcomes : DataFrame
        One row per (patient, strategy): ``patient, strategy, cost, qaly, ly,
        cost_undisc, qaly_undisc, ly_undisc, events``, ``reached_<state>`` (1 if the
        patient was ever in the state, for event counts and NNT/NNH) and the
        population's columns. ``strategy`` is categorical in the order given.
    settings : dict
        Engine, model, strategies, seed, draw, number of patients, horizon, discount
        rates and formula, package version (:func:`sim.results.make_settings`).
    """

    outcomes: pd.DataFrame
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class ManagedResult(Result):
    """What :func:`sim.patient.run_managed` returns.

    Attributes
    ----------
    outcomes : DataFrame
        One row per (patient, strategy): the columns of :func:`run_pathway` (``patient,
        strategy, cost, qaly, ly, cost_undisc, qaly_undisc, ly_undisc, events,
        reached_<state>``), then ``arrival`` (calendar years), ``visits, lines_tried,
        dose_raises, class_switches, optimised_failures, escalated`` (1 if the
        refractory rule fired), ``time_to_escalation`` (years since arrival, NaN if
        never), ``red_flags, waited`` (years on waiting lists), ``died_on_list,
        procedures, time_to_procedure`` (NaN if none), and the population's columns.
    settings : dict
        Engine, model, strategies, seed, draw, number of patients, arrivals, horizon,
        discount rates and formula, package version.
    queues : DataFrame
        One row per (strategy, resource): ``strategy, resource, capacity, listed,
        admitted, died_on_list, left_list, wait_mean, wait_p50, wait_p90, wait_max``
        (years, admitted patients), ``queue_mean`` (time-weighted over ``[0, period]``),
        ``queue_max, utilisation`` (busy server-time / (capacity * period); NaN for an
        unlimited resource), ``period`` (calendar years from 0 to the resource's last
        activity: the end of the last procedure or the last departure from the list).
    log : DataFrame or None
        ``patient, strategy, time`` (years since the patient's arrival), ``event, detail``.
    queue_trace : DataFrame or None
        With ``log=True``: ``strategy, resource, time`` (calendar years), ``waiting, busy``
        after each change (queue length and busy servers over time, a step function).
    """

    outcomes: pd.DataFrame
    settings: Mapping[str, Any]
    queues: pd.DataFrame
    log: pd.DataFrame | None = None
    queue_trace: pd.DataFrame | None = None


@dataclass(frozen=True)
class PatientResult(Result):
    """What :func:`sim.patient.run_markov_patients` returns.

    Attributes
    ----------
    outcomes : DataFrame
        One row per (patient, strategy): ``patient, strategy`` and the outcome columns
        of the cohort engine (``cost, qaly, ly``, undiscounted twins, cost components).
    settings : dict
        Engine, model, strategies, seed, draw, number of patients, the model's
        conventions (correction, discounting, cycles), package version.
    """

    outcomes: pd.DataFrame
    settings: Mapping[str, Any]

    @property
    def patients(self) -> pd.DataFrame:
        """The per-patient outcomes (the same table as :attr:`outcomes`)."""
        return self.outcomes

    def summary(self, columns: Sequence[str] = ("cost", "qaly", "ly")) -> pd.DataFrame:
        """Mean and Monte Carlo standard error per strategy.

        Parameters
        ----------
        columns : sequence of str
            Outcome columns to summarise.

        Returns
        -------
        DataFrame
            One row per strategy (index), columns ``<c>`` (mean) and ``<c>_se``
            (``sd / sqrt(n)``) for each of ``columns``.
        """
        g = self.outcomes.groupby("strategy", observed=True, sort=False)
        n = g.size()
        out = {}
        for c in columns:
            out[c] = g[c].mean()
            out[f"{c}_se"] = g[c].std(ddof=1) / np.sqrt(n)
        return pd.DataFrame(out)


@dataclass(frozen=True)
class PatientPSAResult(Result):
    """What :func:`sim.patient.run_patient_psa` returns.

    Attributes
    ----------
    outcomes : DataFrame
        One row per (draw, strategy), sorted by draw: ``draw, strategy, cost, qaly, ly,
        cost_undisc, qaly_undisc, ly_undisc`` (means over the draw's patients) and
        ``cost_se, qaly_se, ly_se`` (their Monte Carlo standard errors).
    settings : dict
        Engine, model (the build function), strategies, number of draws and patients,
        seed, arrivals, package version.
    """

    outcomes: pd.DataFrame
    settings: Mapping[str, Any]
