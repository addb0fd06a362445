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

import math

import numpy as np
from numba import njit, prange, uint64

from sim._config import CACHE, FASTMATH

__all__ = ["markov_patients_kernel", "pathway_kernel", "patient_uniform"]

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


# ============================================================================ continuous-time pathways
#: How a compiled pathway event's time is drawn (:mod:`sim.patient.compiled`): the
#: distribution family, inverted as :meth:`sim.patient.events.TimeToEvent.sample_one` does.
EV_EXP, EV_WEIBULL, EV_GOMPERTZ, EV_LOGLOGISTIC, EV_PIECEWISE, EV_LOGNORMAL = 0, 1, 2, 3, 4, 5


@njit(cache=CACHE, nogil=True)
def _right(x, lo, n, v):  # pragma: no cover - compiled
    """``numpy.searchsorted(x[lo:lo + n], v, side="right") - 1`` clipped to ``0..n - 1``: the piece of ``v``."""
    a, b = 0, n  # first index with x > v, by bisection
    while a < b:
        m = (a + b) // 2
        if x[lo + m] <= v:
            a = m + 1
        else:
            b = m
    i = a - 1
    if i < 0:
        i = 0
    if i > n - 1:
        i = n - 1
    return i


@njit(cache=CACHE, nogil=True)
def _ndtri(p):  # pragma: no cover - compiled
    """Standard normal quantile (rational first guess, then Halley steps on ``erfc``)."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    q = p if p < 0.5 else 1.0 - p
    t = math.sqrt(-2.0 * math.log(q))
    # Abramowitz & Stegun 26.2.23 as a start (|error| < 4.5e-4)
    z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1.0 + 1.432788 * t + 0.189269 * t * t
                                                             + 0.001308 * t * t * t)
    z = -z  # the lower tail: Phi(z) = q
    for _ in range(3):  # Halley on Phi(z) - q, Phi from erfc (accurate in the tail)
        e = 0.5 * math.erfc(-z / math.sqrt(2.0)) - q
        d = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * z * z)
        z = z - d / (1.0 + 0.5 * z * d)
    return z if p < 0.5 else -z


@njit(cache=CACHE, nogil=True)
def _lognormal_cumhaz(t, mu, sd):  # pragma: no cover - compiled
    """``-log S(t)`` of a log-normal: ``-log Phi(-z)``, ``z = (log t - mu) / sd``."""
    if t <= 0.0:
        return 0.0
    z = (math.log(t) - mu) / sd
    if z < 8.0:
        return -math.log(0.5 * math.erfc(z / math.sqrt(2.0)))
    # far tail: Mills ratio series of log Phi(-z)
    z2 = z * z
    s = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2) + 105.0 / (z2 * z2 * z2 * z2)
    return 0.5 * z2 + math.log(z * math.sqrt(2.0 * math.pi)) - math.log(s)


@njit(cache=CACHE, nogil=True)
def _lognormal_inv(h, mu, sd):  # pragma: no cover - compiled
    """The time with ``-log S(t) = h``: ``z = -Phi^-1(exp(-h))``."""
    if math.isinf(h):
        return np.inf
    if h < 700.0:
        z = -_ndtri(math.exp(-h))
    else:  # exp(-h) underflows: invert the tail series by Newton steps on z
        z = math.sqrt(2.0 * h)
        for _ in range(6):
            z = z - (_lognormal_cumhaz(math.exp(mu + sd * z), mu, sd) - h) / z
    return math.exp(mu + sd * z)


@njit(cache=CACHE, nogil=True)
def _event_time(kind, p1, p2, p3, pw_b, pw_H, pw_r, off, npc, u, a, hr):  # pragma: no cover - compiled
    """``TimeToEvent.sample_one(u, a, hr)`` of one event: ``H^-1(H(a) - log(u) / hr) - a``, at least 0.

    Term for term the formulas of the distributions' scalar methods (and, where those
    evaluate numpy on 0-d arrays, numpy's formula with the C library's functions).
    """
    if kind == EV_EXP:
        Ha = p1 * a
    elif kind == EV_WEIBULL:
        Ha = (a / p2) ** p1
    elif kind == EV_GOMPERTZ:
        Ha = p2 * a if p1 == 0.0 else p2 * math.expm1(p1 * a) / p1
    elif kind == EV_LOGLOGISTIC:
        Ha = math.log1p((a / p2) ** p1)
    elif kind == EV_PIECEWISE:
        i = _right(pw_b, off, npc, a)
        Ha = pw_H[off + i] + pw_r[off + i] * (a - pw_b[off + i])
    else:
        Ha = _lognormal_cumhaz(a, p1, p2)
    h = Ha + (-math.log(u) / hr if hr > 0.0 else np.inf)
    if kind == EV_EXP:
        x = np.inf if (p1 == 0.0 or math.isinf(h)) else h / p1
    elif kind == EV_WEIBULL:
        x = p2 * h ** p3
    elif kind == EV_GOMPERTZ:
        if p1 == 0.0:
            x = h / p2
        else:
            g = p1 * h / p2
            x = np.inf if (p1 < 0.0 and 1.0 + g <= 0.0) else math.log1p(g) / p1
    elif kind == EV_LOGLOGISTIC:
        x = p2 * math.expm1(h) ** (1.0 / p1)
    elif kind == EV_PIECEWISE:
        i = _right(pw_H, off, npc, h)
        r = pw_r[off + i]
        if r > 0.0:
            x = pw_b[off + i] + (h - pw_H[off + i]) / r
        elif h <= pw_H[off + i]:
            x = pw_b[off + i]
        else:
            x = np.inf
    else:
        x = _lognormal_inv(h, p1, p2)
    x = x - a
    return 0.0 if x < 0.0 else x  # max(x, 0.0) as in sample_one (-0.0 and nan kept)


@njit(cache=CACHE, nogil=True)
def pathway_kernel(seed, draw, lo, start, horizon, rates, slots, n_ev, kind, par, markov, to, one_off, hr_n,
                   hr_j, hr_b, pw_idx, pw_b, pw_H, pw_r, rew, flags, fn_idx, fkind, fpar, fpw, attrs,
                   out):  # pragma: no cover - compiled
    """Patients ``lo .. lo + len(out) - 1`` through every strategy's pathway (continuous time).

    The loop of the SimPy engine's patient process (:func:`sim.patient.engine._patient_process`)
    for one patient at a time: in each state every event draws its time from slot
    ``stay * slots[k] + m`` of the patient's stream, the earliest wins, the state's
    rewards accrue exactly over the stay and the event's one-off cost and QALYs are
    paid at its time; the same operations in the same order.

    Shapes: K strategies, S states, E events per state (at most), A attributes.

    Parameters
    ----------
    seed, draw, lo : int
        Stream keys; the first patient's number.
    start : (K,) int64; horizon : (K,) float64
    rates : (K, 4) float64
        ``log(1 + r_costs)``, ``log(1 + r_outcomes)``, ``1 + r_costs``, ``1 + r_outcomes``.
    slots : (K,) int64
        Random numbers per stay (the pathway's ``max_events``).
    n_ev : (K, S) int64; kind : (K, S, E) int64; par : (K, S, E, 3) float64
    markov : (K, S, E) bool; to : (K, S, E) int64; one_off : (K, S, E, 2) float64 (cost, QALYs)
    hr_n : (K, S, E) int64; hr_j : (K, S, E, A) int64; hr_b : (K, S, E, A) float64
        Number of log hazard ratios of the event, their attributes (columns of
        ``attrs``) and coefficients, in the event's order.
    pw_idx : (K, S, E, 2) int64
        Offset and number of pieces of a piecewise-exponential event in ``pw_b, pw_H, pw_r``.
    rew : (K, S, 2) float64
        Annual cost and utility of the state.
    flags : (K, S, 2) bool
        Alive; accrues (cost, utility or alive).
    fn_idx : (K, S, E) int64
        ``f >= 0`` for an event whose time is a function of the patient: its
        distribution per patient is ``fkind[r, f], fpar[r, f], fpw[r, f]`` (as ``kind``,
        ``par``, ``pw_idx``); -1 otherwise.
    fkind : (N, F) int64; fpar : (N, F, 3) float64; fpw : (N, F, 2) int64
    attrs : (N, A) float64
        Patient attributes of patients ``lo ..``.
    out : (N, K, 7 + S) float64
        Written: cost, QALYs, LYs, their undiscounted twins, events, then 1 per state reached.
    """
    N, K = out.shape[0], out.shape[1]
    S = n_ev.shape[1]
    for r in range(N):
        key = _key(seed, draw, lo + r)
        for k in range(K):
            for c in range(7 + S):
                out[r, k, c] = 0.0
            lc, lo_, bc, bo = rates[k, 0], rates[k, 1], rates[k, 2], rates[k, 3]
            nlc = -lc
            same = lc == lo_
            hz = horizon[k]
            M = slots[k]
            s = start[k]
            out[r, k, 7 + s] = 1.0
            entered = 0.0
            stay = 0
            tc = tq = tl = uc = uq = ul = 0.0
            t_prev, f_prev = 0.0, 1.0
            t_now = 0.0
            while True:
                ne = n_ev[k, s]
                alive, accrues = flags[k, s, 0], flags[k, s, 1]
                if ne == 0 and not accrues:
                    break
                best, best_t = -1, np.inf
                for m in range(ne):
                    u = _uniform(key, stay * M + m)
                    a = t_now if markov[k, s, m] else t_now - entered
                    hr = 1.0
                    nh = hr_n[k, s, m]
                    if nh > 0:  # sum(b * patient[a] for a, b in event.hr.items()), in that order
                        lp = 0.0
                        for j in range(nh):
                            lp += hr_b[k, s, m, j] * attrs[r, hr_j[k, s, m, j]]
                        hr = math.exp(lp)
                    f = fn_idx[k, s, m]
                    if f < 0:
                        x = _event_time(kind[k, s, m], par[k, s, m, 0], par[k, s, m, 1], par[k, s, m, 2], pw_b,
                                        pw_H, pw_r, pw_idx[k, s, m, 0], pw_idx[k, s, m, 1], u, a, hr)
                    else:
                        x = _event_time(fkind[r, f], fpar[r, f, 0], fpar[r, f, 1], fpar[r, f, 2], pw_b, pw_H,
                                        pw_r, fpw[r, f, 0], fpw[r, f, 1], u, a, hr)
                    if x < best_t:
                        best, best_t = m, x
                t_next = t_now + best_t
                t_end = t_next if t_next < hz else hz
                span = t_end - t_now
                if accrues:
                    c, q = rew[k, s, 0], rew[k, s, 1]
                    if lc != 0.0:
                        f0 = f_prev if t_now == t_prev else math.exp(nlc * t_now)
                        f_prev = math.exp(nlc * t_end)
                        dcost = (f0 - f_prev) / lc
                        t_prev = t_end
                    else:
                        dcost = span
                    if same:
                        dout = dcost
                    elif lo_ != 0.0:
                        dout = (math.exp(-lo_ * t_now) - math.exp(-lo_ * t_end)) / lo_
                    else:
                        dout = t_end - t_now
                    tc += c * dcost
                    tq += q * dout
                    uc += c * span
                    uq += q * span
                    if alive:
                        tl += dout
                        ul += span
                if best < 0:
                    break
                if span > 0:
                    t_now += span
                if t_next > hz:
                    break
                ec, eq = one_off[k, s, best, 0], one_off[k, s, best, 1]
                s = to[k, s, best]
                if ec != 0.0:
                    tc += ec * bc ** -t_end
                    uc += ec
                if eq != 0.0:
                    tq += eq * bo ** -t_end
                    uq += eq
                entered = t_end
                stay += 1
                out[r, k, 7 + s] = 1.0
            out[r, k, 0], out[r, k, 1], out[r, k, 2] = tc, tq, tl
            out[r, k, 3], out[r, k, 4], out[r, k, 5] = uc, uq, ul
            out[r, k, 6] = stay
