"""Numba kernel of the compiled patient-level path (private): a cohort model run patient by patient.

:func:`markov_patients_kernel` is :func:`sim.patient.markov.run_markov_patients`'s loop
over patients, compiled and run in parallel over patients. It draws every random
number from the same counter-based stream as :mod:`sim.patient.streams` (the
SplitMix64 finaliser applied to ``(seed, draw, patient, slot)``, reimplemented here
on ``uint64`` bit for bit) and does the same floating-point operations in the same
order as the numpy path (:func:`sim.patient.markov.numpy_patients`), so the two
return identical numbers; each patient is computed alone, so the results do not
depend on the thread count, the batch size or the order of patients.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from sim._config import CACHE, FASTMATH

__all__ = ["markov_patients_kernel", "patient_uniform"]

_G = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)
_SCALE = 2.0 ** -53


@njit(cache=CACHE, nogil=True)
def _mix(z):  # pragma: no cover - compiled
    """SplitMix64 finaliser on a uint64 (wraps modulo 2**64)."""
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@njit(cache=CACHE, nogil=True)
def _key(seed, draw, patient):  # pragma: no cover - compiled
    """The mixer's state after ``(seed, draw, patient)`` (:func:`sim.patient.streams.patient_key`)."""
    z = _mix(uint64(seed) * _G + _G)
    z = _mix(z ^ (uint64(draw) * _G + uint64(1)))
    return _mix(z ^ (uint64(patient) * _G + uint64(2)))


@njit(cache=CACHE, nogil=True)
def _uniform(key, slot):  # pragma: no cover - compiled
    """``uniforms(seed, draw, patient, slot)`` from the patient's key: 53 random bits, never 0 or 1."""
    z = _mix(key ^ (uint64(slot) * _G + uint64(3)))
    return (float(z >> uint64(11)) + 0.5) * _SCALE


@njit(cache=CACHE, nogil=True)
def patient_uniform(seed, draw, patient, slot):  # pragma: no cover - compiled
    """One number of the stream (for tests: equal to :func:`sim.patient.streams.uniforms` bit for bit)."""
    return _uniform(_key(seed, draw, patient), slot)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def markov_patients_kernel(seed, draw, pid, prof, start_cum, cum_p, dest, rw, trw, has_trw,
                           c_own, c_prev, c_tr, initial, out):  # pragma: no cover - compiled
    """Simulate patients through every strategy and accumulate their rewards.

    Shapes: M = patients here, U = profiles (distinct parameter sets), K = strategies,
    T = cycles, S1 = expanded states, S = states, NR = reward columns.

    Parameters
    ----------
    seed, draw : int
        Keys of the random stream.
    pid : (M,) int64
        Patient numbers (the stream's patient key).
    prof : (M,) int64
        Profile of each patient (index into the first axis of the value arrays).
    start_cum : (U, K, S1) float64
        Cumulative start distribution.
    cum_p : (U, K, T, S1, S) float64
        Cumulative transition probabilities of each row.
    dest : (S1, S) int64
        Expanded state reached from expanded state i when moving to state j.
    rw : (U, K, T + 1, S1, NR) float64
        State rewards of each cycle.
    trw : (U, K, T, S1, S, NR) float64
        Transition rewards (read only if ``has_trw``).
    has_trw : bool
        Whether the model has transition rewards.
    c_own, c_prev : (2, NR, T + 1) float64; c_tr : (2, NR, T) float64
        As for :func:`sim.cohort._kernels.cohort_kernel`.
    initial : (U, K, NR) float64
        One-off rewards at time 0 (already weighted by the start distribution).
    out : (M, K, 2, NR) float64
        Per-patient totals (written).
    """
    M = pid.shape[0]
    K = out.shape[1]
    NR = out.shape[3]
    S1 = start_cum.shape[2]
    S = cum_p.shape[4]
    T = c_tr.shape[2]
    # coefficients cycle-major, so one trace point's are contiguous
    co = np.empty((T + 1, 2, NR))
    cp = np.empty((T + 1, 2, NR))
    ct = np.empty((max(T, 1), 2, NR))
    for g in range(2):
        for r in range(NR):
            for t in range(T + 1):
                co[t, g, r] = c_own[g, r, t]
                cp[t, g, r] = c_prev[g, r, t]
            for t in range(T):
                ct[t, g, r] = c_tr[g, r, t]
    # no array views or allocations inside the loop over patients: a view's reference count is
    # shared by every thread (atomic updates of one cache line), which serialises the threads
    for i in prange(M):
        key = _key(seed, draw, pid[i])
        u_ = prof[i]
        u0 = _uniform(key, 0)
        for k in range(K):
            for g in range(2):
                for r in range(NR):
                    out[i, k, g, r] = 0.0
            s = 0
            while s < S1 - 1 and u0 > start_cum[u_, k, s]:
                s += 1
            for t in range(T + 1):
                for g in range(2):
                    for r in range(NR):
                        out[i, k, g, r] += co[t, g, r] * rw[u_, k, t, s, r]
                if t > 0:
                    for g in range(2):
                        for r in range(NR):
                            out[i, k, g, r] += cp[t, g, r] * rw[u_, k, t - 1, s, r]
                if t == T:
                    break
                u = _uniform(key, t + 1)
                j = 0
                while j < S - 1 and u > cum_p[u_, k, t, s, j]:
                    j += 1
                if has_trw:
                    for g in range(2):
                        for r in range(NR):
                            out[i, k, g, r] += ct[t, g, r] * trw[u_, k, t, s, j, r]
                s = dest[s, j]
            for g in range(2):
                for r in range(NR):
                    out[i, k, g, r] = out[i, k, g, r] + initial[u_, k, r]


#: Patients per task of :func:`markov_patients_occupancy_kernel` (its scratch is allocated once per task).
CHUNK = 64


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def markov_patients_occupancy_kernel(seed, draw, pid, prof, start_cum, cum_p, dest, rw0, w, col_w,
                                     initial, out):  # pragma: no cover - compiled
    """:func:`markov_patients_kernel` for rewards fixed over cycles and no transition rewards.

    Each patient accumulates its weighted time in each state, ``occ[u, i] = sum of w[u, t]
    over the points t spent in i``, one add per distinct weight vector ``u`` and point;
    the rewards are applied once at the end: ``total[g, r] = sum_i rw0[i, r] occ[col_w[g, r], i]``
    (then plus ``initial``).

    Parameters
    ----------
    seed, draw, pid, prof, start_cum, cum_p, dest, initial, out
        As for :func:`markov_patients_kernel`.
    rw0 : (U, K, S1, NR) float64
        State rewards (the same every cycle).
    w : (W, T + 1) float64
        Distinct weight vectors (weight x discount of each point, own- plus previous-cycle).
    col_w : (2, NR) int64
        Row of ``w`` of each (discounted / undiscounted, column).
    """
    M = pid.shape[0]
    K = out.shape[1]
    NR = out.shape[3]
    S1 = start_cum.shape[2]
    S = cum_p.shape[4]
    T = w.shape[1] - 1
    NW = w.shape[0]
    wt = np.empty((T + 1, NW))  # cycle-major
    for t in range(T + 1):
        for v in range(NW):
            wt[t, v] = w[v, t]
    n_chunks = (M + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        occ = np.empty((NW, S1))  # scratch of this task (no shared reference count in the loop)
        for i in range(c * CHUNK, min(M, (c + 1) * CHUNK)):
            key = _key(seed, draw, pid[i])
            u_ = prof[i]
            u0 = _uniform(key, 0)
            for k in range(K):
                for v in range(NW):
                    for s in range(S1):
                        occ[v, s] = 0.0
                s = 0
                while s < S1 - 1 and u0 > start_cum[u_, k, s]:
                    s += 1
                for t in range(T + 1):
                    for v in range(NW):
                        occ[v, s] += wt[t, v]
                    if t == T:
                        break
                    u = _uniform(key, t + 1)
                    j = 0
                    while j < S - 1 and u > cum_p[u_, k, t, s, j]:
                        j += 1
                    s = dest[s, j]
                for g in range(2):
                    for r in range(NR):
                        v = col_w[g, r]
                        tot = 0.0
                        for s in range(S1):
                            tot += rw0[u_, k, s, r] * occ[v, s]
                        out[i, k, g, r] = tot + initial[u_, k, r]
