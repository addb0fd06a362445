"""A cohort model run patient by patient (discrete-time microsimulation).

Any :class:`~sim.model.Model` of the cohort engine runs here unchanged: each
patient starts in a state drawn from the start distribution and, cycle by cycle,
moves to a next state drawn from its row of transition probabilities. Rewards are
counted on the patient's own path with the model's within-cycle correction and
discounting, so the mean over patients converges to the cohort engine's result
(the expectation is the same weighted sum over the trace). Random numbers come
from :func:`sim.patient.streams.uniforms` (slot 0 for the start state, slot ``t + 1``
for the transition of cycle ``t``), so patient ``j`` meets the same numbers in every
strategy and the results do not depend on the batch size.

A *population* gives patients their own parameter values: each column named like a
model parameter sets that parameter per patient (attributes such as age or sex
used by the model's values, or per-patient modifiers such as a frailty hazard
ratio). The model is evaluated once per distinct profile (row of those columns).

Two paths compute the same numbers bit for bit: a Numba loop over patients
(``sim/patient/_kernels.py``, parallel over patients; the default) and numpy,
vectorised over a batch of patients (``engine="numpy"``; also used when JIT
compilation is disabled).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from sim._config import run_split
from sim.errors import HtaError, suggest
from sim.model.arrays import DEFAULT_MEMORY, build_arrays, coefficients, resolve_draws
from sim.model.conventions import model_conventions
from sim.model.memory import check_memory
from sim.model.spec import Model
from sim.patient.population import check_population
from sim.patient.results import PatientResult
from sim.patient.streams import uniforms
from sim.results import make_settings, outcome_columns

__all__ = ["ENGINES", "run_markov_patients", "PatientResult"]

#: Paths of :func:`run_markov_patients`.
ENGINES = ("auto", "compiled", "numpy")
#: What each path is, for the result's settings.
_PATHS = {"compiled": "compiled (Numba loop over patients, one call per thread)",
          "numpy": "numpy (vectorised over a batch of patients)"}


def _pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index j with cum[j-1] < u <= cum[j] per row (inverse CDF over a row)."""
    j = (u[:, None] > cum).sum(axis=1)
    return np.minimum(j, cum.shape[1] - 1)


def _profiles(model: Model, population, n_patients: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Parameter columns of the population, its distinct rows ``(U, A)`` and each patient's row index."""
    if population is None:
        return [], np.zeros((1, 0)), np.zeros(n_patients, dtype=np.int64)
    if not isinstance(population, pd.DataFrame):
        raise HtaError(f"population must be a DataFrame (one row per patient), got {type(population).__name__}")
    if len(population) != n_patients:
        raise HtaError(f"population has {len(population):,} rows but n_patients is {n_patients:,}; "
                       f"give one row per patient (or n_patients=len(population))")
    cols = [str(c) for c in population.columns]
    for c in cols:
        if c not in model.parameters:
            raise HtaError(f"population column {c!r} is not a parameter of model {model.name!r}"
                           f"{suggest(c, list(model.parameters))}; a population's columns set model "
                           f"parameters per patient (drop the column or add the parameter to the model)")
    check_population(population, cols)
    values = population[cols].to_numpy(dtype=float)
    if not cols:
        return [], np.zeros((1, 0)), np.zeros(n_patients, dtype=np.int64)
    rows, prof = np.unique(values, axis=0, return_inverse=True)
    return cols, rows, prof.reshape(-1).astype(np.int64)


def _use_compiled(engine: str) -> bool:
    if engine not in ENGINES:
        raise HtaError(f"engine {engine!r} is not one of {', '.join(map(repr, ENGINES))}")
    if engine == "auto":
        return os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")
    return engine == "compiled"


def numpy_patients(seed: int, draw: int, pid: np.ndarray, prof: np.ndarray, start_cum, cum_p, dest, rw, trw,
                   c_own, c_prev, c_tr, initial, out: np.ndarray, batch_size: int) -> None:
    """The numpy path: :func:`sim.patient._kernels.markov_patients_kernel`'s arithmetic, vectorised over batches.

    Parameters
    ----------
    seed, draw, pid, prof, start_cum, cum_p, dest, rw, trw, c_own, c_prev, c_tr, initial, out
        As for the kernel (``trw`` may be None: no transition rewards).
    batch_size : int
        Patients computed together; results do not depend on it.
    """
    K, T = out.shape[1], c_tr.shape[2]
    for lo in range(0, len(pid), batch_size):
        hi = min(len(pid), lo + batch_size)
        ids, pr = pid[lo:hi], prof[lo:hi]
        for k in range(K):
            acc = np.zeros((hi - lo, 2, out.shape[3]))
            s = _pick(start_cum[pr, k], uniforms(seed, draw, ids, 0))
            for t in range(T + 1):
                acc += c_own[None, :, :, t] * rw[pr, k, t, s][:, None, :]
                if t > 0:
                    acc += c_prev[None, :, :, t] * rw[pr, k, t - 1, s][:, None, :]
                if t == T:
                    break
                j = _pick(cum_p[pr, k, t, s], uniforms(seed, draw, ids, t + 1))
                if trw is not None:
                    acc += c_tr[None, :, :, t] * trw[pr, k, t, s, j][:, None, :]
                s = dest[s, j]
            out[lo:hi, k] = acc + initial[pr, k][:, None, :]


def _weights(c_own: np.ndarray, c_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct weight vectors ``c_own + c_prev`` ``(W, T + 1)`` and the row each (g, column) uses ``(2, NR)``."""
    w = c_own + c_prev
    rows, col_w = np.unique(w.reshape(-1, w.shape[-1]), axis=0, return_inverse=True)
    return np.ascontiguousarray(rows), col_w.reshape(w.shape[:2]).astype(np.int64)


def numpy_occupancy(seed: int, draw: int, pid, prof, start_cum, cum_p, dest, rw0, w, col_w, initial,
                    out: np.ndarray, batch_size: int) -> None:
    """The numpy path of :func:`sim.patient._kernels.markov_patients_occupancy_kernel` (same arithmetic)."""
    K, T, S1 = out.shape[1], w.shape[1] - 1, start_cum.shape[2]
    for lo in range(0, len(pid), batch_size):
        hi = min(len(pid), lo + batch_size)
        ids, pr, b = pid[lo:hi], prof[lo:hi], np.arange(hi - lo)
        for k in range(K):
            occ = np.zeros((hi - lo, w.shape[0], S1))
            s = _pick(start_cum[pr, k], uniforms(seed, draw, ids, 0))
            for t in range(T + 1):
                occ[b, :, s] += w[:, t]
                if t == T:
                    break
                j = _pick(cum_p[pr, k, t, s], uniforms(seed, draw, ids, t + 1))
                s = dest[s, j]
            tot = np.zeros((hi - lo, 2, out.shape[3]))
            for i in range(S1):
                tot += rw0[pr, k, i][:, None, :] * occ[:, col_w, i]
            out[lo:hi, k] = tot + initial[pr, k][:, None, :]


def _compiled(kernel, seed: int, draw: int, pid: np.ndarray, prof: np.ndarray, args: tuple, out: np.ndarray) -> None:
    """Run a patient kernel, one call per thread on a range of patients (each patient is computed alone)."""
    from sim.patient._kernels import CHUNK

    run_split(lambda lo, hi: kernel(seed, draw, pid[lo:hi], prof[lo:hi], *args, out[lo:hi]), len(pid), CHUNK)


def _simulate(model, draws, draw: int, seed: int, cols, rows, prof, compiled: bool, batch_size: int,
              columns_out: list) -> np.ndarray:
    """Per-patient totals ``(N, K, 2, NR)``, profiles evaluated in groups that fit the memory budget."""
    K, T, S1, S = len(model.strategies), model.n_cycles, len(model.layout), len(model.states)
    NR = len(model.cost_components) + 2
    has_tr = bool(model.transition_costs or model.transition_utilities)
    per_profile = 8 * K * (T * S1 * S + (T + 1) * S1 * NR + (T * S1 * S * NR if has_tr else 0)) * 2
    group = max(1, int(DEFAULT_MEMORY // max(per_profile, 1)))
    draw_key = int(draws.ids[draw])
    base = {name: float(np.ravel(v)[draw]) for name, v in draws.arrays.items()}
    N = len(prof)
    totals = np.empty((N, K, 2, NR))
    order = np.argsort(prof, kind="stable")
    bounds = np.searchsorted(prof[order], np.arange(0, len(rows) + group, group))
    c_own = c_prev = c_tr = w = col_w = None
    for gi, g0 in enumerate(range(0, len(rows), group)):
        g1 = min(len(rows), g0 + group)
        values: dict = dict(draws.fixed)
        values.update(base)
        for a_, c in enumerate(cols):
            values[c] = rows[g0:g1, a_]
        a = build_arrays(model, resolve_draws(model, values), 0, g1 - g0 if cols else 1)
        if c_own is None:
            c_own, c_prev, c_tr = coefficients(model, a.columns)
            columns_out[:] = list(a.columns)
        P, R, TR = a.dense()
        U = P.shape[0]
        cum_p = np.cumsum(P, axis=-1)
        start_cum = np.cumsum(np.broadcast_to(a.start, (U,) + a.start.shape[1:]), axis=-1)
        initial = np.ascontiguousarray(np.broadcast_to(a.initial, (U,) + a.initial.shape[1:]))
        idx = order[bounds[gi]:bounds[gi + 1]]
        pid = idx.astype(np.int64)
        pr = prof[idx] - g0
        out = np.empty((len(idx), K, 2, NR))
        if not has_tr and (R[:, :, :1] == R).all():  # rewards fixed over cycles: occupancy first
            if w is None:
                w, col_w = _weights(c_own, c_prev)
            rw0 = np.ascontiguousarray(R[:, :, 0])
            if compiled:
                from sim.patient import _kernels

                _compiled(_kernels.markov_patients_occupancy_kernel, seed, draw_key, pid, pr,
                          (start_cum, cum_p, a.dest, rw0, w, col_w, initial), out)
            else:
                numpy_occupancy(seed, draw_key, pid, pr, start_cum, cum_p, a.dest, rw0, w, col_w, initial, out,
                                batch_size)
        elif compiled:
            from sim.patient import _kernels

            trw = TR if has_tr else np.zeros((1, 1, 1, 1, 1, 1))
            _compiled(_kernels.markov_patients_kernel, seed, draw_key, pid, pr,
                      (start_cum, cum_p, a.dest, R, trw, has_tr, c_own, c_prev, c_tr, initial), out)
        else:
            numpy_patients(seed, draw_key, pid, pr, start_cum, cum_p, a.dest, R, TR if has_tr else None,
                           c_own, c_prev, c_tr, initial, out, batch_size)
        totals[idx] = out
    return totals


def run_markov_patients(model: Model, n_patients: int, seed: int, *, params: Any = None, draw: int = 0,
                        batch_size: int = 20_000, population: pd.DataFrame | None = None,
                        engine: str = "auto", defaults: str | None = None) -> PatientResult:
    """Simulate ``n_patients`` through a cohort model, every strategy, one parameter draw.

    Parameters
    ----------
    model : Model
    n_patients : int
    seed : int
        Seed of the patients' random numbers.
    params : None, mapping, DataFrame or Draws
        As for :func:`sim.run_cohort`; the draw at position ``draw`` is used.
    draw : int
        Which parameter draw (also a key of the random numbers).
    batch_size : int
        Patients simulated together by the numpy path; results do not depend on it.
    population : DataFrame, optional
        One row per patient (``len(population) == n_patients``); each column names a
        model parameter and sets it for that patient (attributes, per-patient
        modifiers), overriding ``params``. Patient ``j`` is row ``j``.
    engine : {"auto", "compiled", "numpy"}
        ``"compiled"``: a Numba loop over patients, parallel; ``"numpy"``: vectorised
        over batches of patients. Both give the same numbers bit for bit; ``"auto"``
        (default) takes the compiled path unless JIT compilation is disabled
        (``NUMBA_DISABLE_JIT=1``). The path taken is ``settings["path"]``.
    defaults : {None, "model"}
        As for :func:`sim.run_cohort`: whether per-draw ``params`` may lack parameters of
        the model (they keep its base case; listed in ``settings["defaulted_parameters"]``).

    Returns
    -------
    PatientResult
        ``outcomes``: one row per (patient, strategy), columns as for
        :func:`sim.run_cohort` with ``patient`` in place of ``draw``.
    """
    for name, v, lo in (("n_patients", n_patients, 1), ("batch_size", batch_size, 1), ("draw", draw, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HtaError(f"{name} {v!r} must be a whole number >= {lo}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise HtaError(f"seed {seed!r} must be a whole number >= 0")
    if not isinstance(model, Model):
        raise HtaError(f"run_markov_patients needs a Model, got {type(model).__name__}")
    compiled = _use_compiled(engine)
    check_memory(64 * n_patients * len(model.strategies), f"a run of {n_patients:,} patients")
    draws = resolve_draws(model, params, defaults, "run_markov_patients")
    if draw >= len(draws.ids):
        raise HtaError(f"draw {draw} is out of range: the parameters hold {len(draws.ids)} draw(s)")
    cols, rows, prof = _profiles(model, population, n_patients)
    columns: list = []
    totals = _simulate(model, draws, draw, int(seed), cols, rows, prof, compiled, batch_size, columns)
    K = len(model.strategies)
    comps = columns[:-2]
    disc, und = totals[:, :, 0, :], totals[:, :, 1, :]
    data = {
        "patient": np.repeat(np.arange(n_patients), K),
        "strategy": pd.Categorical.from_codes(np.tile(np.arange(K, dtype=np.int16), n_patients),
                                              categories=list(model.strategies)),
        "cost": disc[..., :len(comps)].sum(axis=-1).ravel(),
        "qaly": disc[..., -2].ravel(),
        "ly": disc[..., -1].ravel(),
        "cost_undisc": und[..., :len(comps)].sum(axis=-1).ravel(),
        "qaly_undisc": und[..., -2].ravel(),
        "ly_undisc": und[..., -1].ravel(),
    }
    for r, c in enumerate(comps):
        data[f"cost_{c}"] = disc[..., r].ravel()
        data[f"cost_{c}_undisc"] = und[..., r].ravel()
    patients = pd.DataFrame(data, copy=False)
    assert list(patients.columns)[2:] == outcome_columns(comps)[2:]
    settings = make_settings("patient", model=model.name, strategies=model.strategies, n_draws=None, seed=seed,
                             method="discrete-time microsimulation of a cohort model", draw=int(draws.ids[draw]),
                             n_patients=n_patients, path=_PATHS["compiled" if compiled else "numpy"],
                             population=list(cols) if population is not None else None,
                             **model_conventions(model))
    if draws.defaulted:
        settings["defaulted_parameters"] = list(draws.defaulted)
    patients.attrs["settings"] = settings
    return PatientResult(outcomes=patients, settings=settings)
