"""Results by subgroup of patients: conditional average treatment effects and a personalised rule.

Works on any per-patient outcomes table (one row per (patient, strategy), as the
patient-level engine returns), or on a result object that has one as ``.outcomes``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from sim.errors import HtaError, suggest

__all__ = ["subgroups"]


def subgroups(outcomes: Any, by: str, *, wtp: float, reference: str, bins=None,
              effect: str = "qaly") -> pd.DataFrame:
    """Results by subgroup: the conditional average treatment effect and a personalised rule.

    Patients are grouped by the attribute ``by`` (cut into ``bins`` if given). Within a
    subgroup, each strategy's incremental net monetary benefit against ``reference`` is
    the mean of the per-patient paired difference ``wtp * (e_s - e_ref) - (c_s - c_ref)``
    (common random numbers make it precise), with its Monte Carlo standard error.

    Parameters
    ----------
    outcomes : DataFrame or result
        Per-patient outcomes with columns ``patient, strategy, cost``, ``effect`` and
        ``by`` (e.g. :func:`sim.patient.run_pathway`'s result or its ``outcomes``).
    by : str
        The patient attribute that defines the subgroups.
    wtp : float
        Willingness to pay per unit of effect (>= 0).
    reference : str
        The strategy the others are compared with.
    bins : int or sequence of float, optional
        Cut ``by`` into these bins (as :func:`pandas.cut`); by default each value is a subgroup.
    effect : str
        The effect column.

    Returns
    -------
    DataFrame
        ``subgroup, strategy, n, cost, <effect>, inmb, inmb_se, optimal`` where ``optimal``
        marks the strategy with the highest mean net benefit in the subgroup.
    """
    if not isinstance(outcomes, pd.DataFrame):
        table = getattr(outcomes, "outcomes", None)
        if not isinstance(table, pd.DataFrame):
            raise HtaError(f"subgroups: give an outcomes DataFrame or a result with .outcomes, "
                           f"got {type(outcomes).__name__}")
        outcomes = table
    for col in (by, "patient", "strategy", "cost", effect):
        if col not in outcomes.columns:
            raise HtaError(f"subgroups: the outcomes have no column {col!r}{suggest(col, outcomes.columns)}")
    if not (isinstance(wtp, (int, float)) and wtp >= 0):
        raise HtaError(f"subgroups: willingness to pay {wtp!r} must be a number >= 0")
    strategies = [str(s) for s in pd.unique(outcomes["strategy"])]
    if reference not in strategies:
        raise HtaError(f"subgroups: unknown reference strategy {reference!r}; strategies are {', '.join(strategies)}")
    key = pd.cut(outcomes[by], bins) if bins is not None else outcomes[by]
    nmb = wtp * outcomes[effect] - outcomes["cost"]
    frame = outcomes.assign(_group=key, _nmb=nmb)
    wide = frame.pivot(index="patient", columns="strategy", values="_nmb")
    group = frame.drop_duplicates("patient").set_index("patient")["_group"].reindex(wide.index)
    rows = []
    for g, idx in group.groupby(group, observed=True).groups.items():
        w = wide.loc[idx]
        sub = frame[frame["patient"].isin(idx)]
        means = sub.groupby("strategy", observed=True)[["cost", effect]].mean()
        diff = w.sub(w[reference], axis=0)
        best = w.mean().idxmax()
        for s in strategies:
            rows.append({"subgroup": g, "strategy": s, "n": len(idx), "cost": means.loc[s, "cost"],
                         effect: means.loc[s, effect], "inmb": diff[s].mean(),
                         "inmb_se": diff[s].std(ddof=1) / math.sqrt(len(idx)) if len(idx) > 1 else float("nan"),
                         "optimal": s == best})
    return pd.DataFrame(rows)
