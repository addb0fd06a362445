"""Probabilistic sensitivity analysis of patient-level models: outer draws x inner patients.

Each outer draw ``d`` builds the strategies' pathways from its parameter values and
simulates the same ``n_patients`` patients (random numbers keyed by ``(seed, d,
patient, slot)``), so a draw's result depends only on ``(seed, d)``: the serial
run, a local cluster of processes and a remote Dask cluster give identical numbers.
The result's outcomes are a long table ``draw, strategy, cost, qaly, ly, ...`` (means
over the draw's patients, with Monte Carlo standard errors), which the decision
analysis functions take as they take the cohort engine's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest
from sim.patient.engine import BATCH_SIZE, run_pathway
from sim.patient.managed import run_managed
from sim.patient.managed_pathway import ManagedPathway
from sim.patient.pathway import Pathway
from sim.patient.resources import Arrivals
from sim.patient.results import PatientPSAResult
from sim.results import make_settings

__all__ = ["MEAN_COLUMNS", "build_pathways", "run_patient_psa", "simulate", "strategy_means"]

#: Outcome columns averaged over a draw's patients, in order.
MEAN_COLUMNS = ("cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc")


def simulate(pathways: Mapping, n_patients: int | None, seed: int, population, draw: int, batch_size: int,
             arrivals: Arrivals | None, who: str = "run_patient_psa") -> pd.DataFrame:
    """Per-patient outcomes of one parameter set: ``run_pathway``, or ``run_managed`` when a strategy is managed.

    Parameters
    ----------
    pathways : mapping of strategy name to Pathway or ManagedPathway
        What ``build`` returned (plain pathways mixed with managed ones are wrapped).
    n_patients : int or None
        Number of patients (None: ``len(population)``).
    seed, draw : int
        Keys of the patients' random numbers.
    population : DataFrame or None
        Patient attributes.
    batch_size : int
        Patients per SimPy environment (results do not depend on it).
    arrivals : Arrivals or None
        Patients' entry over calendar time (managed strategies only).
    who : str
        The caller, for error messages.

    Returns
    -------
    DataFrame
        The outcomes table of :func:`~sim.patient.run_pathway` or
        :func:`~sim.patient.run_managed`.
    """
    if not isinstance(pathways, Mapping) or not pathways:
        raise HtaError(f"{who}: build must return a non-empty dict of strategy -> Pathway or "
                       f"ManagedPathway, got {type(pathways).__name__}")
    if any(isinstance(v, ManagedPathway) for v in pathways.values()):
        strategies = {s: v if isinstance(v, ManagedPathway) else ManagedPathway(v) if isinstance(v, Pathway) else v
                      for s, v in pathways.items()}
        return run_managed(strategies, n_patients, seed=seed, population=population, draw=draw, arrivals=arrivals,
                           batch_size=batch_size).outcomes
    if arrivals is not None:
        raise HtaError(f"{who}: arrivals apply to managed strategies only (build returns plain Pathways, "
                       "in which every patient starts at time 0); drop arrivals or wrap them in ManagedPathway")
    return run_pathway(pathways, n_patients, seed=seed, population=population, draw=draw,
                       batch_size=batch_size).outcomes


def strategy_means(outcomes: pd.DataFrame, draw: int) -> pd.DataFrame:
    """Means over patients per strategy, with Monte Carlo standard errors.

    Parameters
    ----------
    outcomes : DataFrame
        Per-patient outcomes (one row per (patient, strategy)).
    draw : int
        The value of the ``draw`` column.

    Returns
    -------
    DataFrame
        One row per strategy, in order: ``draw, strategy``, :data:`MEAN_COLUMNS` (means)
        and ``cost_se, qaly_se, ly_se``.
    """
    g = outcomes.groupby("strategy", observed=True, sort=False)
    res = g[list(MEAN_COLUMNS)].mean()
    se = g[list(MEAN_COLUMNS[:3])].std(ddof=1) / np.sqrt(g.size().to_numpy()[:, None])
    res[[f"{c}_se" for c in MEAN_COLUMNS[:3]]] = se.to_numpy()
    res = res.reset_index()
    res.insert(0, "draw", draw)
    return res


def build_pathways(build: Callable[[dict], Mapping], values: dict, who: str, where: str) -> Mapping:
    """``build(values)``; a parameter it looks up that ``values`` lacks is an HtaError naming it.

    Parameters
    ----------
    build : callable
        ``build(values) -> {strategy: Pathway or ManagedPathway}``.
    values : dict
        One parameter set.
    who, where : str
        The caller and the set (``"draw 3"``), for the message.

    Returns
    -------
    mapping
        What ``build`` returned.
    """
    try:
        return build(values)
    except KeyError as exc:
        key = exc.args[0] if exc.args else None
        if not isinstance(key, str) or key in values:
            raise
        raise HtaError(f"{who}: build needs parameter {key!r}, which {where} lacks{suggest(key, values)}; "
                       f"give it a value (a column of the draws)") from None


def _one_draw(build: Callable[[dict], Mapping], values: dict, draw: int, n_patients: int, seed: int,
              population: pd.DataFrame | None, batch_size: int, arrivals: Arrivals | None = None) -> pd.DataFrame:
    """Means and Monte Carlo SEs of one outer draw (runs on a worker)."""
    pathways = build_pathways(build, values, "run_patient_psa", f"draw {draw}")
    out = simulate(pathways, n_patients if population is None else None, seed, population, draw,
                   batch_size, arrivals)
    return strategy_means(out, draw)


def _name_of(build: Callable) -> str:
    """``module.name`` of the build function (its type's name for another callable)."""
    name = getattr(build, "__qualname__", type(build).__qualname__)
    module = getattr(build, "__module__", None)
    return f"{module}.{name}" if module else name


def run_patient_psa(build: Callable[[dict], Mapping], draws: pd.DataFrame, n_patients: int, seed: int, *,
                    population: pd.DataFrame | None = None, batch_size: int = BATCH_SIZE,
                    client: Any = None, arrivals: Arrivals | None = None,
                    parameters: Mapping[str, float] | None = None, defaults: str | None = None) -> PatientPSAResult:
    """Run every outer draw of a patient-level model, serially or on a Dask cluster.

    Parameters
    ----------
    build : callable
        ``build(values) -> {strategy: Pathway}`` for one draw's parameter values (a dict),
        or ``{strategy: ManagedPathway}`` (policies, resources): then each draw runs
        :func:`~sim.patient.run_managed` (plain pathways mixed in are wrapped). Must be
        picklable (a module-level function) to run on a cluster.
    draws : DataFrame
        One row per outer draw, one column per parameter (e.g. ``ParameterTable.draw(...).frame``).
    n_patients : int
        Inner patients per draw.
    seed : int
        Seed of the patients' random numbers.
    population : DataFrame, optional
        Patient attributes (then ``n_patients`` must equal its length).
    batch_size : int
        Patients per SimPy environment (results do not depend on it).
    client : dask.distributed.Client, optional
        Run the draws on this cluster (``Client(LocalCluster(...))`` or
        ``Client("tcp://scheduler:8786")``); default serial. Results are identical.
    arrivals : Arrivals, optional
        Patients' entry over calendar time, for managed strategies (same arrival
        times in every strategy of a draw; keyed by ``(seed, draw)``).
    parameters : mapping of str to float, optional
        The model's parameters and their base-case values. Given, every column of
        ``draws`` must be one of them (a misspelt name is an error) and every one of
        them a column of ``draws``, unless ``defaults="model"``. Without it, a
        parameter ``build`` looks up and the draws lack is an error naming it.
    defaults : {None, "model"}
        ``"model"``: parameters the draws lack take their value in ``parameters``
        (listed in ``settings["defaulted_parameters"]``).

    Returns
    -------
    PatientPSAResult
        ``outcomes``: ``draw, strategy, cost, qaly, ly, cost_undisc, qaly_undisc,
        ly_undisc, cost_se, qaly_se, ly_se``, sorted by draw; ``settings``.
    """
    if not callable(build):
        raise HtaError("run_patient_psa: build must be a function values -> {strategy: Pathway or ManagedPathway}")
    if not isinstance(draws, pd.DataFrame) or len(draws) == 0:
        raise HtaError("run_patient_psa: draws must be a non-empty DataFrame (one row per outer draw)")
    if population is not None and n_patients != len(population):
        raise HtaError(f"run_patient_psa: n_patients {n_patients} differs from the population's {len(population)} rows")
    if arrivals is not None and not isinstance(arrivals, Arrivals):
        raise HtaError(f"run_patient_psa: arrivals must be an Arrivals or None, got {type(arrivals).__name__}")
    defaulted = _account(draws, parameters, defaults)
    if defaulted:
        draws = draws.assign(**{k: float(parameters[k]) for k in defaulted})
    rows = [dict(r) for r in draws.to_dict("records")]
    args = (n_patients, seed, population, batch_size, arrivals)
    if client is None:
        parts = [_one_draw(build, v, d, *args) for d, v in enumerate(rows)]
    else:
        futures = client.map(_one_draw, [build] * len(rows), rows, list(range(len(rows))),
                             *[[a] * len(rows) for a in args], pure=False)
        parts = client.gather(futures)
    out = pd.concat(parts, ignore_index=True)
    names = list(dict.fromkeys(out["strategy"].astype(str)))
    out["strategy"] = pd.Categorical(out["strategy"].astype(str), categories=names)
    out = out.sort_values(["draw", "strategy"], kind="stable").reset_index(drop=True)
    settings = make_settings("patient", model=_name_of(build), strategies=names,
                             n_draws=len(rows), seed=seed, method="outer draws x inner patients",
                             n_patients=n_patients,
                             arrivals=None if arrivals is None else (arrivals.rate, arrivals.every))
    if defaulted:
        settings["defaulted_parameters"] = list(defaulted)
    return PatientPSAResult(out, settings)


def _account(draws: pd.DataFrame, parameters: Mapping[str, float] | None, defaults: str | None) -> tuple[str, ...]:
    """Check the draws' columns against the declared ``parameters``; the names taken from them."""
    if defaults not in (None, "model"):
        raise HtaError(f"run_patient_psa: defaults={defaults!r}; the only choice is defaults=\"model\" (parameters "
                       f"the draws lack take their base-case value in parameters=), or None")
    if parameters is None:
        if defaults is not None:
            raise HtaError("run_patient_psa: defaults=\"model\" needs parameters= (the base-case values to take)")
        return ()
    if not isinstance(parameters, Mapping):
        raise HtaError(f"run_patient_psa: parameters must be a mapping name -> base-case value, "
                       f"got {type(parameters).__name__}")
    names = [str(k) for k in parameters]
    unknown = [str(c) for c in draws.columns if c not in parameters]
    if unknown:
        raise HtaError(f"run_patient_psa: draws column {unknown[0]!r}{suggest(unknown[0], names)} is not one of the "
                       f"model's parameters ({', '.join(names) or 'none'}); remove or rename it")
    missing = tuple(k for k in names if k not in draws.columns)
    if missing and defaults is None:
        raise HtaError(f"run_patient_psa: the draws lack {len(missing)} parameter(s): {', '.join(missing)}; give "
                       f"them, or pass defaults=\"model\" to take their values in parameters=")
    return missing
