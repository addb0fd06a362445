"""A cohort model run patient by patient (discrete-time microsimulation).

Any :class:`~sim.model.Model` of the cohort engine runs here unchanged: each
patient starts in a state drawn from the start distribution and, cycle by cycle,
moves to a next state drawn from its row of transition probabilities. Rewards are
counted on the patient's own path with the model's within-cycle correction and
discounting, so the mean over patients converges to the cohort engine's result
(the expectation is the same weighted sum over the trace). Patients are simulated
in batches, vectorised over the batch; random numbers come from
:func:`sim.patient.streams.uniforms` (slot 0 for the start state, slot ``t + 1`` for
the transition of cycle ``t``), so patient ``j`` meets the same numbers in every
strategy and the results do not depend on the batch size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.model.arrays import build_arrays, coefficients, resolve_draws
from sim.model.conventions import model_conventions
from sim.model.memory import check_memory
from sim.model.spec import Model
from sim.patient.results import PatientResult
from sim.patient.streams import uniforms
from sim.results import make_settings, outcome_columns

__all__ = ["run_markov_patients", "PatientResult"]


def _pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index j with cum[j-1] < u <= cum[j] per row (inverse CDF over a row)."""
    j = (u[:, None] > cum).sum(axis=1)
    return np.minimum(j, cum.shape[1] - 1)


def run_markov_patients(model: Model, n_patients: int, seed: int, *, params: Any = None, draw: int = 0,
                        batch_size: int = 20_000, defaults: str | None = None) -> PatientResult:
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
        Patients simulated together; results do not depend on it.
    defaults : {None, "model"}
        As for :func:`sim.run_cohort`: whether per-draw ``params`` may lack parameters of
        the model (they keep its base case; listed in ``settings["defaulted_parameters"]``).
    """
    for name, v, lo in (("n_patients", n_patients, 1), ("batch_size", batch_size, 1), ("draw", draw, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HtaError(f"{name} {v!r} must be a whole number >= {lo}")
    check_memory(64 * n_patients * len(model.strategies), f"a run of {n_patients:,} patients")
    draws = resolve_draws(model, params, defaults, "run_markov_patients")
    if draw >= len(draws.ids):
        raise HtaError(f"draw {draw} is out of range: the parameters hold {len(draws.ids)} draw(s)")
    a = build_arrays(model, draws, draw, draw + 1)
    P, R, TR = a.dense()
    P, R, TR = P[0], R[0], TR[0]  # (K, T, S1, S), (K, T+1, S1, NR), (K, T, S1, S, NR)
    cumP = np.cumsum(P, axis=-1)
    start = a.start[0]  # (K, S1)
    c_own, c_prev, c_tr = coefficients(model, a.columns)
    K, T = len(model.strategies), model.n_cycles
    NR = len(a.columns)
    draw_key = int(draws.ids[draw])
    totals = np.zeros((n_patients, K, 2, NR))
    for lo in range(0, n_patients, batch_size):
        hi = min(n_patients, lo + batch_size)
        ids = np.arange(lo, hi)
        for k in range(K):
            acc = np.zeros((hi - lo, 2, NR))
            s = _pick(np.broadcast_to(np.cumsum(start[k]), (hi - lo, start.shape[1])),
                      uniforms(seed, draw_key, ids, 0))
            for t in range(T + 1):
                acc += c_own[None, :, :, t] * R[k, t][s][:, None, :]
                if t > 0:
                    acc += c_prev[None, :, :, t] * R[k, t - 1][s][:, None, :]
                if t == T:
                    break
                j = _pick(cumP[k, t][s], uniforms(seed, draw_key, ids, t + 1))
                acc += c_tr[None, :, :, t] * TR[k, t][s, j][:, None, :]
                s = a.dest[s, j]
            totals[lo:hi, k] = acc + a.initial[0, k][None, None, :]
    comps = a.columns[:-2]
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
                             method="discrete-time microsimulation of a cohort model", draw=draw_key,
                             n_patients=n_patients, **model_conventions(model))
    if draws.defaulted:
        settings["defaulted_parameters"] = list(draws.defaulted)
    patients.attrs["settings"] = settings
    return PatientResult(outcomes=patients, settings=settings)
