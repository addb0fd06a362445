"""Numba kernels of the cohort engine (private).

Kernels take only arrays and scalars and write into arrays the caller
allocated; all checking, coercion and allocation is done in
:mod:`sim.cohort.engine`.  An array whose first axis (draws) or time axis has
length 1 is broadcast over that axis, so values that do not vary by draw or by
cycle are stored once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import CACHE, FASTMATH, PARALLEL

__all__ = ["cohort_kernel"]


@njit(parallel=PARALLEL, cache=CACHE, fastmath=FASTMATH, nogil=True)
def cohort_kernel(P, dest, start, R, TR, has_tr, c_own, c_prev, c_tr, out, trace, keep_trace):  # pragma: no cover - compiled
    """Run every (draw, strategy) cohort and accumulate rewards.

    Parameters (n = draws, K = strategies, T = cycles, S1 = expanded states,
    S = states, NR = reward columns)
    ----------
    P : (n|1, K, T|1, S1, S) float64
        Probability of moving from expanded state i to state j in cycle t.
    dest : (S1, S) int64
        Expanded index reached from i when moving to state j.
    start : (n|1, K, S1) float64
        Start distribution.
    R : (n|1, K, T+1|1, S1, NR) float64
        State reward per cycle, for cycles 0..T.
    TR : (n|1, K, T|1, S1, S, NR) float64
        One-off transition rewards (read only if ``has_tr``).
    c_own, c_prev : (2, NR, T+1) float64
        Weight x discount of a point's own-cycle and previous-cycle reward;
        index 0 discounted, 1 undiscounted.
    c_tr : (2, NR, T) float64
        Discount of transition rewards of cycle t.
    out : (n, K, 2, NR) float64
        Totals, written (not added to).
    trace : (n, K, T+1, S1) float64
        Markov trace, written only if ``keep_trace``.
    """
    n = out.shape[0]
    K = out.shape[1]
    NR = out.shape[3]
    S1 = P.shape[3]
    S = P.shape[4]
    T = c_tr.shape[2]
    p_draws = P.shape[0] > 1
    p_time = P.shape[2] > 1
    r_draws = R.shape[0] > 1
    r_time = R.shape[2] > 1
    t_draws = TR.shape[0] > 1
    t_time = TR.shape[2] > 1
    s_draws = start.shape[0] > 1
    zero = np.int64(0)
    for d0 in prange(n):
        d = np.int64(d0)  # prange indices may be unsigned; keep index arithmetic in int64
        dp = d if p_draws else zero
        dr = d if r_draws else zero
        dt = d if t_draws else zero
        ds = d if s_draws else zero
        m = np.empty(S1)
        nxt = np.empty(S1)
        v_own = np.empty(NR)
        v_prev = np.empty(NR)
        acc = np.zeros((2, NR))
        for k in range(K):
            for i in range(S1):
                m[i] = start[ds, k, i]
            acc[:, :] = 0.0
            for t in range(T + 1):
                # rewards counted at trace point t
                ro = t if r_time else 0
                for r in range(NR):
                    v_own[r] = 0.0
                    v_prev[r] = 0.0
                for i in range(S1):
                    mi = m[i]
                    if mi != 0.0:
                        for r in range(NR):
                            v_own[r] += mi * R[dr, k, ro, i, r]
                if t > 0:
                    if r_time:
                        for i in range(S1):
                            mi = m[i]
                            if mi != 0.0:
                                for r in range(NR):
                                    v_prev[r] += mi * R[dr, k, t - 1, i, r]
                    else:
                        for r in range(NR):
                            v_prev[r] = v_own[r]
                for r in range(NR):
                    for g in range(2):
                        acc[g, r] += c_own[g, r, t] * v_own[r] + c_prev[g, r, t] * v_prev[r]
                if keep_trace:
                    for i in range(S1):
                        trace[d, k, t, i] = m[i]
                if t == T:
                    break
                # one transition: m_t -> m_{t+1}
                tp = t if p_time else 0
                tt = t if t_time else 0
                for i in range(S1):
                    nxt[i] = 0.0
                for i in range(S1):
                    mi = m[i]
                    if mi == 0.0:
                        continue
                    for j in range(S):
                        f = mi * P[dp, k, tp, i, j]
                        nxt[dest[i, j]] += f
                        if has_tr and f != 0.0:
                            for r in range(NR):
                                x = TR[dt, k, tt, i, j, r]
                                if x != 0.0:
                                    acc[0, r] += f * x * c_tr[0, r, t]
                                    acc[1, r] += f * x * c_tr[1, r, t]
                for i in range(S1):
                    m[i] = nxt[i]
            for g in range(2):
                for r in range(NR):
                    out[d, k, g, r] = acc[g, r]
