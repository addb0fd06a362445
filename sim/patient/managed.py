"""Managed pathways run: policies, procedures and scarce resources on SimPy.

:func:`run_managed` runs every strategy's :class:`~sim.patient.managed_pathway.ManagedPathway`
in its own SimPy environment (all its patients share its resources; a strategy
without resources runs in batches), each patient a
:class:`~sim.patient.managed_process.ManagedPatient` process, and assembles the
per-patient outcomes, policy columns, queue statistics and the optional event log
into a :class:`~sim.patient.results.ManagedResult`. Semantics: ``docs/patient.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import simpy

from sim.errors import HtaError
from sim.patient.engine import check_run
from sim.patient.managed_pathway import ManagedPathway
from sim.patient.managed_process import POLICY_COLUMNS, ManagedPatient, arrive
from sim.patient.population import check_population
from sim.patient.resources import Arrivals, Ward
from sim.patient.results import ManagedResult, pathway_conventions
from sim.results import make_settings

__all__ = ["ManagedPathway", "ManagedResult", "run_managed"]

_TOTALS = ["cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc", "events"]
_QUEUE_COLUMNS = ["strategy", "resource", "capacity", "listed", "admitted", "died_on_list", "left_list",
                  "wait_mean", "wait_p50", "wait_p90", "wait_max", "queue_mean", "queue_max", "utilisation", "period"]


def _run_strategy(k: int, s: str, mp: ManagedPathway, out: np.ndarray, index: Mapping[str, int], arrivals,
                  run: tuple, queue_rows: list, events: list | None, traces: list | None) -> None:
    """All patients of strategy ``s`` (column ``k`` of ``out``), one environment per batch.

    ``run = (n_patients, seed, draw, records, batch_size)``. Each patient's row of ``out``
    is written when its process ends; the resources' statistics are appended to
    ``queue_rows``, the event log to ``events`` and the queue trace to ``traces``.
    """
    n_patients, seed, draw, records, batch_size = run
    n_states = len(index)
    pidx = {st: i for i, st in enumerate(mp.policies)}
    step = n_patients if mp.resources else batch_size
    for lo in range(0, n_patients, step):
        hi = min(n_patients, lo + step)
        env = simpy.Environment()
        trace = [] if traces is not None else None
        wards = {r.name: Ward(env, r, trace) for r in mp.resources}

        def sink(p):  # the patient's row, written when its process ends
            row = out[p.j, k]
            row[:7] = p.tot
            for st in p.visited:
                row[7 + index[st]] = 1.0
            row[7 + n_states] = arrivals[p.j]
            row[8 + n_states:] = [p.pol[c] for c in POLICY_COLUMNS[1:]]

        def make(j, env=env, wards=wards, sink=sink):
            return ManagedPatient(env, j, mp, seed, draw, records[j] if records is not None else {}, wards, s,
                                  events, pidx, sink)

        env.process(arrive(env, make, arrivals, lo, hi))
        env.run()
        for r in mp.resources:
            queue_rows.append({"strategy": s, **wards[r.name].stats()})
        if traces is not None:
            traces.extend((s, *row) for row in trace)


def _outcomes(out: np.ndarray, names: list, states: list, population: pd.DataFrame | None) -> pd.DataFrame:
    """The outcomes table from ``out`` (patients x strategies x columns) and the population."""
    n_patients = out.shape[0]
    cols = _TOTALS + [f"reached_{st}" for st in states] + POLICY_COLUMNS
    data = {"patient": np.repeat(np.arange(n_patients), len(names)),
            "strategy": pd.Categorical.from_codes(np.tile(np.arange(len(names), dtype=np.int16), n_patients),
                                                  categories=names)}
    for i, c in enumerate(cols):
        data[c] = out[:, :, i].ravel()
    if population is not None:
        for c in population.columns:
            data[c] = np.repeat(population[c].to_numpy(), len(names))
    return pd.DataFrame(data, copy=False)


def _event_log(events: list, names: list) -> pd.DataFrame:
    """The event log, by strategy (in order), patient and time."""
    log_df = pd.DataFrame(events, columns=["patient", "strategy", "time", "event", "detail"])
    order = {s: i for i, s in enumerate(names)}
    return log_df.assign(_k=log_df["strategy"].map(order)).sort_values(
        ["_k", "patient", "time"], kind="stable").drop(columns="_k").reset_index(drop=True)


def run_managed(strategies: Mapping[str, ManagedPathway], n_patients: int | None = None, *, seed: int,
                population: pd.DataFrame | None = None, draw: int = 0, arrivals: Arrivals | None = None,
                batch_size: int = 10_000, log: bool = False) -> ManagedResult:
    """Simulate patients through each strategy's managed pathway.

    Parameters
    ----------
    strategies : mapping of strategy name to ManagedPathway
        One managed pathway per strategy, in the order of the result.
    n_patients : int, optional
        Number of patients (or ``len(population)``).
    seed : int
        Seed of the patients' random numbers, common to all strategies (required,
        keyword only).
    population : DataFrame, optional
        One row per patient; the columns the model uses must be numeric, without NaN.
    draw : int
        Outer draw: the other key of the patients' random numbers.
    arrivals : Arrivals, optional
        Patients' entry over calendar time; by default all arrive at time 0.
    batch_size : int
        Patients per SimPy environment for a strategy without resources (results do
        not depend on it); a strategy with resources runs all its patients in one
        environment, since they compete for them.
    log : bool
        Keep the event log.

    Returns
    -------
    ManagedResult
        ``outcomes`` (one row per patient and strategy), ``settings``, ``queues`` (one
        row per strategy and resource), ``log``, ``queue_trace``; columns in
        :class:`~sim.patient.results.ManagedResult`.
    """
    if not strategies:
        raise HtaError("run_managed needs at least one strategy's ManagedPathway")
    n_patients, seed, draw = check_run(n_patients, population, seed, draw, batch_size)
    if arrivals is not None and not isinstance(arrivals, Arrivals):
        raise HtaError(f"arrivals must be an Arrivals or None, got {type(arrivals).__name__}")
    names = list(strategies)
    needed = set()
    for s, mp in strategies.items():
        if not isinstance(mp, ManagedPathway):
            raise HtaError(f"strategy {s!r}: {type(mp).__name__} is not a ManagedPathway (wrap a Pathway in one)")
        needed |= mp.attributes()
    check_population(population, needed)
    records = population.to_dict("records") if population is not None else None
    arrive_at = arrivals.times(n_patients, seed, draw) if arrivals is not None else np.zeros(n_patients)
    states = list(dict.fromkeys(st for mp in strategies.values() for st in mp.pathway.states))
    index = {st: i for i, st in enumerate(states)}
    out = np.zeros((n_patients, len(names), 7 + len(states) + len(POLICY_COLUMNS)))
    queue_rows, events, traces = [], ([] if log else None), ([] if log else None)
    for k, s in enumerate(names):
        _run_strategy(k, s, strategies[s], out, index, arrive_at, (n_patients, seed, draw, records, batch_size),
                      queue_rows, events, traces)
    settings = make_settings(
        "patient", model="managed pathway", strategies=names, n_draws=None, seed=seed,
        method="managed pathways (SimPy: policies, procedures, resources)", draw=draw,
        n_patients=n_patients, arrivals=None if arrivals is None else (arrivals.rate, arrivals.every), states=states,
        **pathway_conventions({s: mp.pathway for s, mp in strategies.items()}))
    return ManagedResult(
        outcomes=_outcomes(out, names, states, population), settings=settings,
        queues=pd.DataFrame(queue_rows, columns=_QUEUE_COLUMNS),
        log=_event_log(events, names) if log else None,
        queue_trace=pd.DataFrame(traces, columns=["strategy", "resource", "time", "waiting", "busy"]) if log else None)
