"""The compiled path of :func:`sim.patient.run_pathway`: a Numba loop over patients.

A pathway without time functions runs here instead of on SimPy: its events become
arrays (:func:`plan_pathways`) and :func:`sim.patient._kernels.pathway_kernel` runs
every patient through every strategy with the SimPy engine's operations in the
same order and the same counter-based random numbers (``sim/patient/streams.py``:
event ``m`` of the patient's ``k``-th stay uses slot ``k * M + m``), one range of
patients per thread. Each patient is computed alone, so the numbers do not depend
on the thread count or the batch size.

Exactness against the SimPy engine (tested): exponential, Weibull and piecewise
exponential times (background mortality included), with or without hazard ratios,
are the same to the bit, so are the totals. Gompertz and log-logistic times are
computed with the C library's ``expm1``, ``log1p`` and ``pow`` where the SimPy engine
uses numpy's (which differ in the last bit now and then), log-normal ones with this
module's normal quantile (about 1e-15 relative from scipy's): equal in distribution,
and per patient to rounding. So ``engine="auto"`` takes the compiled path only for
the exact families; ``engine="compiled"`` takes it for all six.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sim._config import run_split
from sim.errors import HtaError
from sim.patient.events import (
    Exponential,
    Gompertz,
    LogLogistic,
    LogNormal,
    PiecewiseExponential,
    TimeToEvent,
    Weibull,
)
from sim.patient.pathway import Pathway

__all__ = ["ENGINES", "PATHS", "PathwayPlan", "choose", "plan_pathways", "run_compiled"]

#: Engines of :func:`sim.patient.run_pathway`.
ENGINES = ("auto", "compiled", "simpy")
#: What each path is, for the result's settings.
PATHS = {"compiled": "compiled (Numba loop over patients, one call per thread)",
         "simpy": "SimPy (one process per patient, batches of patients per environment)"}

# family -> kernel code; whether auto takes it (the SimPy engine's numbers to the bit)
_FAMILIES = {Exponential: (0, True), Weibull: (1, True), Gompertz: (2, False), LogLogistic: (3, False),
             PiecewiseExponential: (4, True), LogNormal: (5, False)}


class PathwayPlan:
    """The pathways of one run as the compiled kernel's arrays (see :func:`plan_pathways`).

    Attributes
    ----------
    arrays : tuple of ndarray
        The kernel's plan arguments, in its order.
    attributes : list of str
        Population columns the hazard ratios read (columns of the attribute matrix).
    exact : bool
        Whether every event's family gives the SimPy engine's numbers to the bit.
    """

    __slots__ = ("arrays", "attributes", "exact")

    def __init__(self, arrays: tuple, attributes: list, exact: bool):
        self.arrays, self.attributes, self.exact = arrays, attributes, exact


def _params(t: TimeToEvent) -> tuple | None:
    """``(kind, (p1, p2, p3), pieces or None)`` of a distribution the kernel draws, else None."""
    fam = _FAMILIES.get(type(t))
    if fam is None:
        return None
    kind = fam[0]
    if kind == 4:
        if np.ndim(t.rates) != 1:
            return None
        return kind, (0.0, 0.0, 0.0), (np.asarray(t.breaks, float), np.asarray(t._H, float), np.asarray(t.rates, float))
    vals = {0: ("rate",), 1: ("shape", "scale"), 2: ("shape", "rate"), 3: ("shape", "scale"),
            5: ("meanlog", "sdlog")}[kind]
    if any(np.ndim(getattr(t, v)) for v in vals):
        return None
    p = [float(getattr(t, v)) for v in vals] + [0.0] * (3 - len(vals))
    if kind == 1:
        p[2] = 1.0 / p[0]  # 1 / shape, as the SimPy engine computes it
    return kind, tuple(p), None


def plan_pathways(pathways: Mapping[str, Pathway], states: Sequence[str]) -> PathwayPlan | str:
    """The pathways as the compiled kernel's arrays, or why they cannot run compiled.

    Parameters
    ----------
    pathways : mapping of strategy name to Pathway
    states : sequence of str
        Every strategy's states, in the result's order.

    Returns
    -------
    PathwayPlan or str
        The plan; or a sentence naming the event the kernel cannot draw (a time
        function of the patient, a distribution with per-patient parameters or of
        another family).
    """
    index = {st: i for i, st in enumerate(states)}
    K, S = len(pathways), len(states)
    E = max([len(evs) for p in pathways.values() for evs in p.events.values()] + [1])
    attributes = list(dict.fromkeys(a for p in pathways.values() for evs in p.events.values() for e in evs
                                    for a in e.hr))
    col = {a: j for j, a in enumerate(attributes)}
    A = max(1, len(attributes))
    start, horizon, slots = np.zeros(K, np.int64), np.zeros(K), np.zeros(K, np.int64)
    rates = np.zeros((K, 4))
    n_ev, kind, to = np.zeros((K, S), np.int64), np.zeros((K, S, E), np.int64), np.zeros((K, S, E), np.int64)
    par, markov, one_off = np.zeros((K, S, E, 3)), np.zeros((K, S, E), np.bool_), np.zeros((K, S, E, 2))
    hr_n, hr_j, hr_b = np.zeros((K, S, E), np.int64), np.zeros((K, S, E, A), np.int64), np.zeros((K, S, E, A))
    pw_idx = np.zeros((K, S, E, 2), np.int64)
    rew, flags = np.zeros((K, S, 2)), np.zeros((K, S, 2), np.bool_)
    pw_b, pw_H, pw_r = [], [], []
    n_pw = 0
    exact = True
    for k, (name, path) in enumerate(pathways.items()):
        start[k], horizon[k], slots[k] = index[path.start], float(path.horizon), path.max_events
        dc, do = float(path.discount_costs), float(path.discount_outcomes)
        rates[k] = math.log1p(dc), math.log1p(do), 1.0 + dc, 1.0 + do
        for st in path.states:
            s = index[st]
            c, q = float(path.costs.get(st, 0.0)), float(path.utilities.get(st, 0.0))
            alive = st not in path.dead
            rew[k, s] = c, q
            flags[k, s] = alive, bool(c or q or alive)
            evs = path.events.get(st, ())
            n_ev[k, s] = len(evs)
            for m, e in enumerate(evs):
                t = e.time
                got = _params(t) if isinstance(t, TimeToEvent) else None
                if got is None:
                    what = ("a function of the patient" if not isinstance(t, TimeToEvent)
                            else f"a {type(t).__name__} with per-patient parameters"
                            if type(t) in _FAMILIES else f"a {type(t).__name__}")
                    return (f"strategy {name!r}: the time of the event {st!r} -> {e.to!r} is {what}, which the "
                            f"compiled path does not draw")
                kind[k, s, m], par[k, s, m] = got[0], got[1]
                exact = exact and _FAMILIES[type(t)][1]
                if got[2] is not None:
                    b, H, r = got[2]
                    pw_idx[k, s, m] = n_pw, len(b)
                    pw_b.append(b)
                    pw_H.append(H)
                    pw_r.append(r)
                    n_pw += len(b)
                markov[k, s, m] = e.clock == "markov"
                to[k, s, m] = index[e.to]
                one_off[k, s, m] = float(e.cost), float(e.qaly)
                hr_n[k, s, m] = len(e.hr)
                for j, (a, b) in enumerate(e.hr.items()):
                    hr_j[k, s, m, j], hr_b[k, s, m, j] = col[a], float(b)
    cat = (lambda xs: np.concatenate(xs)) if pw_b else (lambda xs: np.zeros(1))
    arrays = (start, horizon, rates, slots, n_ev, kind, par, markov, to, one_off, hr_n, hr_j, hr_b, pw_idx,
              cat(pw_b), cat(pw_H), cat(pw_r), rew, flags)
    return PathwayPlan(arrays, attributes, exact)


def choose(engine: str, plan: PathwayPlan | str) -> tuple[bool, str | None]:
    """Whether to run compiled, and why not when ``engine="auto"`` chose SimPy.

    Parameters
    ----------
    engine : {"auto", "compiled", "simpy"}
    plan : PathwayPlan or str
        What :func:`plan_pathways` returned.

    Returns
    -------
    (bool, str or None)
        Compiled or not; the reason SimPy was taken (None when compiled or asked for).
    """
    if engine not in ENGINES:
        raise HtaError(f"engine {engine!r} is not one of {', '.join(map(repr, ENGINES))}")
    if engine == "simpy":
        return False, None
    if isinstance(plan, str):
        if engine == "compiled":
            raise HtaError(f"engine='compiled': {plan}; use engine='simpy' (or 'auto')")
        return False, plan
    if engine == "compiled":
        return True, None
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return False, "JIT compilation is disabled (NUMBA_DISABLE_JIT)"
    if not plan.exact:
        return False, ("a Gompertz, log-logistic or log-normal time: the compiled path equals the SimPy engine in "
                       "distribution but not to the bit (engine='compiled' takes it)")
    return True, None


def run_compiled(plan: PathwayPlan, n_patients: int, seed: int, draw: int, population: pd.DataFrame | None,
                 n_states: int) -> np.ndarray:
    """Every patient through every strategy on the compiled kernel.

    Parameters
    ----------
    plan : PathwayPlan
    n_patients, seed, draw : int
    population : DataFrame or None
        Patient attributes (the hazard ratios' columns are read).
    n_states : int

    Returns
    -------
    ndarray, shape (n_patients, n_strategies, 7 + n_states)
        The SimPy engine's per-patient totals (see :func:`sim.patient.engine.run_pathway`).
    """
    from sim.patient._kernels import CHUNK, pathway_kernel

    K = plan.arrays[0].shape[0]
    if plan.attributes:
        try:
            attrs = np.ascontiguousarray(population[plan.attributes].to_numpy(dtype=float))
        except (TypeError, ValueError) as err:
            raise HtaError(f"population: the hazard ratios' attributes {', '.join(plan.attributes)} must be "
                           f"numbers ({err})") from None
    else:
        attrs = np.zeros((n_patients, 1))
    out = np.empty((n_patients, K, 7 + n_states))
    sd, dr = np.uint64(seed), np.uint64(draw)  # one signature for every key below 2**64
    run_split(lambda lo, hi: pathway_kernel(sd, dr, lo, *plan.arrays, attrs[lo:hi], out[lo:hi]), n_patients, CHUNK)
    return out
