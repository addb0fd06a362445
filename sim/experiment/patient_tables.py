"""The patient-level tables of a patient-level experiment run (``docs/experiments.md``, *Patient-level models*).

Queues (waiting lists, waits in weeks, deaths on the list, utilisation), patient
outcomes per strategy, net benefit by subgroup (:func:`sim.decision.subgroups`),
numbers needed to treat or harm (:func:`sim.decision.number_needed.nnt`), the Monte
Carlo error of the inner patients against the between-draw variance, and the PSA and
sweep summaries.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sim.errors import HtaError

__all__ = ["mc_error_table", "number_needed", "outcome_table", "per_draw_table", "psa_summary", "queue_table",
           "subgroup_table"]

WEEKS = 52.0


def queue_table(queues: pd.DataFrame) -> pd.DataFrame:
    """A managed run's queue statistics, waits in weeks.

    Parameters
    ----------
    queues : DataFrame
        :attr:`sim.patient.ManagedResult.queues`.

    Returns
    -------
    DataFrame
        ``strategy, resource, capacity_per_week, listed, admitted, died_on_list, left_list,
        wait_mean_weeks, wait_p50_weeks, wait_p90_weeks, wait_max_weeks, queue_mean, queue_max, utilisation``.
    """
    q = queues.copy()
    q["strategy"] = q["strategy"].astype(str)
    for c in ("wait_mean", "wait_p50", "wait_p90", "wait_max"):
        q[f"{c}_weeks"] = q.pop(c) * WEEKS
    cols = ["strategy", "resource", "capacity", "listed", "admitted", "died_on_list", "left_list",
            "wait_mean_weeks", "wait_p50_weeks", "wait_p90_weeks", "wait_max_weeks", "queue_mean", "queue_max",
            "utilisation"]
    return q[[c for c in cols if c in q.columns]].reset_index(drop=True)


def outcome_table(out: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: patients, mean cost and effects, and the managed model's per-patient outcomes.

    Parameters
    ----------
    out : DataFrame
        Per-patient outcomes.

    Returns
    -------
    DataFrame
        ``strategy, patients, cost, qaly, ly`` and, where reported, ``waited_weeks`` (mean time on
        waiting lists), ``died_on_list, escalated`` (shares) and ``procedures`` (mean per patient).
    """
    g = out.groupby(out["strategy"].astype(str), sort=False)
    t = pd.DataFrame({"patients": g.size()})
    for c in ("cost", "qaly", "ly"):
        t[c] = g[c].mean()
    if "waited" in out.columns:
        t["waited_weeks"] = g["waited"].mean() * WEEKS
    for c in ("died_on_list", "escalated", "procedures"):
        if c in out.columns:
            t[c] = g[c].mean()
    return t.rename_axis("strategy").reset_index()


def subgroup_table(out: pd.DataFrame, subgroups: Mapping, wtp: float, reference: str,
                   effect: str) -> pd.DataFrame | None:
    """Net benefit by subgroup for each patient attribute of ``subgroups`` present in the outcomes.

    Parameters
    ----------
    out : DataFrame
        Per-patient outcomes with the population's columns.
    subgroups : mapping of str to bins or None
        Attribute -> bins for :func:`sim.decision.subgroups` (None: each value a subgroup).
    wtp : float
        Willingness to pay per unit of effect.
    reference : str
        The comparator.
    effect : str
        Effect column.

    Returns
    -------
    DataFrame or None
        ``attribute`` then the columns of :func:`sim.decision.subgroups`; None when no attribute applies.
    """
    from sim.decision import subgroups as by_subgroup

    parts = []
    for attr, bins in dict(subgroups).items():
        if attr in out.columns:
            t = by_subgroup(out, attr, wtp=wtp, reference=reference, bins=bins, effect=effect)
            t.insert(0, "attribute", attr)
            t["subgroup"] = t["subgroup"].astype(str)
            parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else None


def number_needed(out: pd.DataFrame, events: Mapping, reference: str) -> pd.DataFrame | None:
    """Numbers needed to treat (or harm) for each event column of ``events``, each strategy vs ``reference``.

    Parameters
    ----------
    out : DataFrame
        Per-patient outcomes.
    events : mapping of str to (str, str)
        Label -> (outcome column, ``"benefit"`` or ``"harm"``); a patient had the event when the column is > 0.
    reference : str
        The comparator (control).

    Returns
    -------
    DataFrame or None
        ``event, strategy, comparator, events, patients, events_comparator, patients_comparator, ard,
        ard_low, ard_high, nnt, nnt_low, nnt_high, label, text`` (Newcombe's interval of the risk
        difference); None when no column applies.
    """
    from sim.decision.number_needed import nnt

    rows = []
    s = out["strategy"].astype(str)
    names = list(dict.fromkeys(s))
    for label, (col, kind) in dict(events).items():
        if col not in out.columns:
            continue
        hit = out[col].fillna(0).to_numpy() > 0
        e_c, n_c = float(hit[(s == reference).to_numpy()].sum()), float((s == reference).sum())
        for name in names:
            if name == reference:
                continue
            m = (s == name).to_numpy()
            e_t, n_t = float(hit[m].sum()), float(m.sum())
            try:
                r = nnt(events_treatment=e_t, n_treatment=n_t, events_control=e_c, n_control=n_c, outcome=kind)
            except HtaError:
                continue
            rows.append({"event": label, "strategy": name, "comparator": reference, "events": e_t, "patients": n_t,
                         "events_comparator": e_c, "patients_comparator": n_c, **r})
    return pd.DataFrame(rows) if rows else None


def psa_summary(out: pd.DataFrame, effect: str, level: float = 0.95) -> pd.DataFrame:
    """Mean and percentile interval over the draws of cost, QALYs and life-years per strategy.

    Parameters
    ----------
    out : DataFrame
        The PSA's outcomes (one row per draw and strategy).
    effect : str
        The effect measure (listed second).
    level : float
        Interval level.

    Returns
    -------
    DataFrame
        ``strategy, cost, cost_low, cost_high, qaly, ...`` (as a cohort run's ``psa_summary``).
    """
    a = (1 - level) / 2
    g = out.groupby("strategy", observed=True, sort=False)
    parts = {}
    for col in ("cost", "qaly", "ly"):
        parts[col] = g[col].mean()
        parts[f"{col}_low"] = g[col].quantile(a)
        parts[f"{col}_high"] = g[col].quantile(1 - a)
    return pd.DataFrame(parts).reset_index()


def mc_error_table(out: pd.DataFrame) -> pd.DataFrame:
    """Inner (Monte Carlo) variance of each strategy's increments against the between-draw variance.

    For each strategy but the first and for cost and QALYs: ``between_sd``, the standard
    deviation over draws of the increment's estimate (the PSA's spread, inner noise
    included); ``mc_se``, the root mean square of the draws' Monte Carlo standard errors
    of the paired increment; ``mc_share``, ``mc_se**2 / between_sd**2``, the part of the
    PSA's variance that is inner-patient noise (it shrinks as ``1 / n``).

    Parameters
    ----------
    out : DataFrame
        The PSA's outcomes with ``inc_cost_se, inc_qaly_se``.

    Returns
    -------
    DataFrame
        ``strategy, outcome, between_sd, mc_se, mc_share``.
    """
    names = list(out["strategy"].cat.categories if hasattr(out["strategy"], "cat") else dict.fromkeys(out["strategy"]))
    rows = []
    for c in ("cost", "qaly"):
        wide = out.pivot(index="draw", columns="strategy", values=c)
        se = out.pivot(index="draw", columns="strategy", values=f"inc_{c}_se")
        for s in names[1:]:
            inc = (wide[s] - wide[names[0]]).to_numpy(dtype=float)
            between = float(np.std(inc, ddof=1)) if len(inc) > 1 else float("nan")
            mc = float(np.sqrt(np.mean(se[s].to_numpy(dtype=float) ** 2)))
            rows.append({"strategy": str(s), "outcome": f"incremental {c} vs {names[0]}", "between_sd": between,
                         "mc_se": mc, "mc_share": mc ** 2 / between ** 2 if between > 0 else float("nan")})
    return pd.DataFrame(rows)


def per_draw_table(out: pd.DataFrame, level: float = 0.95) -> pd.DataFrame | None:
    """Mean and interval over the draws of waits (weeks), deaths on the list, escalation and procedures.

    Parameters
    ----------
    out : DataFrame
        The PSA's outcomes.
    level : float
        Interval level.

    Returns
    -------
    DataFrame or None
        ``strategy, outcome, mean, low, high``; None for a model that reports none of them.
    """
    a = (1 - level) / 2
    rows = []
    for col, scale, label in (("waited", 52.0, "weeks on waiting lists (mean per patient)"),
                              ("died_on_list", 1.0, "share who died on a waiting list"),
                              ("escalated", 1.0, "share escalated by the policy"),
                              ("procedures", 1.0, "procedures per patient")):
        if col not in out.columns:
            continue
        for s, x in out.groupby("strategy", observed=True, sort=False)[col]:
            v = x.to_numpy(dtype=float) * scale
            rows.append({"strategy": str(s), "outcome": label, "mean": v.mean(), "low": np.quantile(v, a),
                         "high": np.quantile(v, 1 - a)})
    return pd.DataFrame(rows) if rows else None
