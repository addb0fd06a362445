"""The compiled path of :func:`sim.patient.run_pathway`: a Numba loop over patients.

A pathway (without policies or shared resources: those are managed pathways) runs
here instead of on SimPy: its events become arrays (:func:`plan_pathways`), the
distributions of events whose time is a function of the patient (background
mortality at the patient's age and sex) are evaluated once per distinct patient
(:func:`evaluate_functions`), and :func:`sim.patient._kernels.pathway_kernel` runs
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

__all__ = ["ENGINES", "PATHS", "PathwayPlan", "choose", "evaluate_functions", "plan_pathways", "run_compiled"]

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
    functions : list of Event
        The events whose time is a function of the patient (evaluated per patient by
        :func:`evaluate_functions`).
    """

    __slots__ = ("arrays", "attributes", "exact", "functions", "per_patient")

    def __init__(self, arrays: tuple, attributes: list, exact: bool, functions: list):
        self.arrays, self.attributes, self.exact, self.functions = arrays, attributes, exact, functions
        self.per_patient = None  # (fkind, fpar, fpw, pw_b, pw_H, pw_r) once the functions are evaluated


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
    fn_idx = np.full((K, S, E), -1, np.int64)
    functions: list = []
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
                markov[k, s, m] = e.clock == "markov"
                to[k, s, m] = index[e.to]
                one_off[k, s, m] = float(e.cost), float(e.qaly)
                hr_n[k, s, m] = len(e.hr)
                for j, (a, b) in enumerate(e.hr.items()):
                    hr_j[k, s, m, j], hr_b[k, s, m, j] = col[a], float(b)
                if not isinstance(t, TimeToEvent):  # a function of the patient: drawn per patient
                    fn_idx[k, s, m] = len(functions)
                    functions.append(e)
                    continue
                got = _params(t)
                if got is None:
                    what = (f"a {type(t).__name__} with per-patient parameters" if type(t) in _FAMILIES
                            else f"a {type(t).__name__}")
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
    cat = (lambda xs: np.concatenate(xs)) if pw_b else (lambda xs: np.zeros(1))
    arrays = (start, horizon, rates, slots, n_ev, kind, par, markov, to, one_off, hr_n, hr_j, hr_b, pw_idx,
              cat(pw_b), cat(pw_H), cat(pw_r), rew, flags, fn_idx)
    return PathwayPlan(arrays, attributes, exact, functions)


def evaluate_functions(plan: PathwayPlan, n_patients: int, population: pd.DataFrame | None) -> str | None:
    """Each patient's distribution of every event whose time is a function of the patient.

    The function is called with a patient's attributes (a row of the population, or
    an empty mapping) as the SimPy engine calls it, once per group of patients with
    equal values of the attributes it reads (:func:`_function_params`). Stores the
    per-patient arrays in ``plan.per_patient``.

    Returns
    -------
    str or None
        Why the compiled path cannot draw them (a distribution it does not draw), else None.
    """
    F = len(plan.functions)
    fkind, fpar, fpw = np.zeros((n_patients, max(F, 1)), np.int64), np.zeros((n_patients, max(F, 1), 3)), \
        np.zeros((n_patients, max(F, 1), 2), np.int64)
    pw_b, pw_H, pw_r = [plan.arrays[14]], [plan.arrays[15]], [plan.arrays[16]]
    n_pw = len(pw_b[0])
    done: dict = {}  # a function used by several events is evaluated once
    for f, e in enumerate(plan.functions):
        got = done.get(id(e.time))
        if got is None:
            got = done[id(e.time)] = _function_params(e, population, n_patients)
        if isinstance(got, str):
            return f"the time function of the event to {e.to!r} returned {got}, which the compiled path does not draw"
        codes, groups = got
        kinds, pars, pws = np.zeros(len(groups), np.int64), np.zeros((len(groups), 3)), np.zeros((len(groups), 2),
                                                                                                    np.int64)
        for g, (kd, pr, pieces, ex) in enumerate(groups):
            plan.exact = plan.exact and ex
            kinds[g], pars[g] = kd, pr
            if pieces is not None:
                if pieces[3] is None:  # first use of these pieces: append them once
                    pieces[3] = n_pw
                    for lst, x in zip((pw_b, pw_H, pw_r), pieces[:3], strict=True):
                        lst.append(x)
                    n_pw += len(pieces[0])
                pws[g] = pieces[3], len(pieces[0])
        fkind[:, f], fpar[:, f], fpw[:, f] = kinds[codes], pars[codes], pws[codes]
    plan.per_patient = (fkind, fpar, fpw, np.concatenate(pw_b), np.concatenate(pw_H), np.concatenate(pw_r))
    return None


class _Reading(Mapping):
    """A patient's attributes that note which ones a time function reads."""

    def __init__(self, attrs: Mapping, seen: set):
        self._attrs, self._seen = attrs, seen

    def __getitem__(self, key):
        value = self._attrs[key]  # a missing attribute is missing for every patient: nothing to note
        self._seen.add(key)
        return value

    def __iter__(self):
        self._seen.update(self._attrs)
        return iter(self._attrs)

    def __len__(self):
        return len(self._attrs)


def _groups(population: pd.DataFrame | None, n: int, keys: tuple) -> tuple[np.ndarray, list]:
    """Each patient's group of equal values in the columns ``keys``, and one patient of each group."""
    if population is None or not keys:
        return np.zeros(n, np.int64), [0]
    codes = population.groupby(list(keys), sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)
    first = np.full(int(codes.max()) + 1, -1, np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)  # the first patient of each group
    return codes, first.tolist()


def _function_params(e, population: pd.DataFrame | None, n: int) -> tuple[np.ndarray, list] | str:
    """Each patient's group and the ``(kind, params, pieces, exact)`` of each group, or what the function returned.

    The time function is called for one patient of each group of patients with equal
    values of the attributes it reads, with that patient's attributes (a row of the
    population as the SimPy engine passes it, or an empty mapping); the attributes it
    reads are noted on every call, and the patients regrouped when it reads one more.
    So a deterministic function of the patient gives every patient its own distribution.
    ``pieces`` is a list ``[breaks, H, rates, offset or None]``.
    """
    keys: tuple = ()
    called: dict = {}  # patient -> (distribution, attributes read): each patient's call made once
    while True:
        codes, reps = _groups(population, n, keys)
        rows = population.iloc[reps].to_dict("records") if population is not None else [{}] * len(reps)
        out, grew = [], False
        for rep, attrs in zip(reps, rows, strict=True):
            hit = called.get(rep)
            if hit is None:
                seen: set = set()
                try:
                    d = e.distribution(_Reading(attrs, seen))
                except KeyError as err:
                    cols = (", ".join(map(str, population.columns)) if population is not None
                            else "none (no population)")
                    raise HtaError(f"the time function of the event to {e.to!r} reads patient attribute {err}, "
                                   f"which the population lacks; its columns: {cols}") from None
                hit = called[rep] = (d, seen)
            d, seen = hit
            p = _params(d)
            if p is None:
                return f"a {type(d).__name__}{' with per-patient parameters' if type(d) in _FAMILIES else ''}"
            if not seen <= set(keys):
                keys, grew = tuple(dict.fromkeys(keys + tuple(sorted(seen, key=str)))), True
                break
            out.append((p[0], p[1], list(p[2]) + [None] if p[2] is not None else None, _FAMILIES[type(d)][1]))
        if not grew:
            return codes, out


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
    if plan.per_patient is None:
        evaluate_functions(plan, n_patients, population)
    fkind, fpar, fpw, pw_b, pw_H, pw_r = plan.per_patient
    head = plan.arrays[:14] + (pw_b, pw_H, pw_r) + plan.arrays[17:]
    out = np.empty((n_patients, K, 7 + n_states))
    sd, dr = np.uint64(seed), np.uint64(draw)  # one signature for every key below 2**64

    def part(lo: int, hi: int) -> None:
        pathway_kernel(sd, dr, lo, *head, fkind[lo:hi], fpar[lo:hi], fpw[lo:hi], attrs[lo:hi], out[lo:hi])

    run_split(part, n_patients, CHUNK)
    return out
