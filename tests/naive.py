"""A slow, obviously correct reference implementation of the Markov cohort engine.

Written from the conventions spec only (it imports nothing from ``sim``), for
oracle tests of :func:`sim.run_cohort`.  Everything is plain loops over draws,
strategies and cycles with dense matrix-vector products.

Conventions implemented
-----------------------
* ``T`` cycles, trace points ``m_0 .. m_T``; ``m_{k+1} = m_k @ P_k``;
  point ``k`` is at time ``tau_k = k * h`` years.
* State rewards are per cycle, given for cycles ``0 .. T`` (``r_j``).
* Corrections (``d_k`` = discount factor of point ``k``)::

    start          sum_{k=0}^{T-1} d_k <m_k, r_k>
    end            sum_{k=1}^{T}   d_k <m_k, r_{k-1}>
    half-cycle     (start + end) / 2
    trapezoid      sum_k w_k d_k <m_k, r_k>,  w = 1/2, 1, ..., 1, 1/2
    simpson        sum_k w_k d_k <m_k, r_k>,  w = 1/3, 4/3, 2/3, 4/3, ..., 4/3, 1/3 (T even)
    simpson-darth  sum_k w_k d_k <m_k, r_k>,  w = 1/3, 2/3, 4/3, 2/3, ..., 1/3

* Transition rewards of cycle ``t``: ``sum_ij m_t[i] P_t[i, j] TR_t[i, j]``,
  discounted at ``d(tau_{t+1})``.
* ``d(tau) = (1 + r) ** -tau``; a schedule ``[(0, r0), (b1, r1), ...]``
  compounds each rate over the part of ``[0, tau)`` it covers; with
  ``timing="annual"`` the factor of time ``tau`` is that of ``floor(tau)``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["discount_factor", "discount_time", "run_naive", "best_counts_naive", "CORRECTIONS"]

CORRECTIONS = ("start", "end", "half-cycle", "life-table", "trapezoid", "simpson", "simpson-darth")


def discount_factor(rate, tau: float) -> float:
    """Discount factor at ``tau`` years for a constant rate or a step-down schedule."""
    if isinstance(rate, (int, float)):
        return (1.0 + rate) ** (-tau)
    schedule = [(float(b), float(r)) for b, r in rate]
    assert schedule[0][0] == 0.0
    factor = 1.0
    for idx, (begin, r) in enumerate(schedule):
        end = schedule[idx + 1][0] if idx + 1 < len(schedule) else math.inf
        years_in_band = max(0.0, min(tau, end) - begin)
        factor *= (1.0 + r) ** (-years_in_band)
    return factor


def discount_time(k: int, cycle_length: float, timing: str) -> float:
    """Time (years) at which trace point ``k`` is discounted."""
    if timing == "exact":
        return k * cycle_length
    if timing == "annual":
        per_year = 1.0 / cycle_length
        if abs(per_year - round(per_year)) < 1e-12:  # whole number of cycles a year: exact
            return float(k // int(round(per_year)))
        return float(math.floor(k * cycle_length + 1e-9))
    raise ValueError(f"unknown timing {timing!r}")


def _state_total(m, r, d, correction: str) -> float:
    """Total of one state-reward column for one cohort.

    m : (T+1, S) trace; r : (T+1, S) reward per cycle; d : (T+1,) discount factors.
    """
    T = m.shape[0] - 1
    if correction == "start":
        total = 0.0
        for k in range(0, T):
            total += d[k] * (m[k] @ r[k])
        return total
    if correction == "end":
        total = 0.0
        for k in range(1, T + 1):
            total += d[k] * (m[k] @ r[k - 1])
        return total
    if correction in ("half-cycle", "life-table"):
        start = 0.0
        for k in range(0, T):
            start += d[k] * (m[k] @ r[k])
        end = 0.0
        for k in range(1, T + 1):
            end += d[k] * (m[k] @ r[k - 1])
        return 0.5 * (start + end)
    if correction == "trapezoid":
        total = 0.0
        for k in range(T + 1):
            w = 0.5 if k in (0, T) else 1.0
            total += w * d[k] * (m[k] @ r[k])
        return total
    if correction == "simpson":
        assert T % 2 == 0 and T >= 2, "textbook Simpson needs an even number of cycles"
        total = 0.0
        for k in range(T + 1):
            if k in (0, T):
                w = 1.0 / 3.0
            elif k % 2 == 1:
                w = 4.0 / 3.0
            else:
                w = 2.0 / 3.0
            total += w * d[k] * (m[k] @ r[k])
        return total
    if correction == "simpson-darth":
        total = 0.0
        for k in range(T + 1):
            if k in (0, T):
                w = 1.0 / 3.0
            elif k % 2 == 1:
                w = 2.0 / 3.0
            else:
                w = 4.0 / 3.0
            total += w * d[k] * (m[k] @ r[k])
        return total
    raise ValueError(f"unknown correction {correction!r}")


def run_naive(
    P,
    start,
    rewards,
    transition_rewards=None,
    *,
    correction: str,
    cycle_length: float = 1.0,
    discount_costs=0.0,
    discount_outcomes=0.0,
    timing: str = "exact",
    outcome_columns=("qaly", "ly"),
    trace: bool = False,
):
    """Run every (draw, strategy) cohort.

    Parameters
    ----------
    P : (n, K, T, S, S) array
        Transition matrices per draw, strategy and cycle.
    start : (n, K, S) array
        Start distributions.
    rewards : dict of column -> (n, K, T+1, S) array
        State rewards per cycle (utilities must already be multiplied by the
        cycle length).
    transition_rewards : dict of column -> (n, K, T, S, S) array, optional
        One-off rewards of a transition i -> j in cycle t.
    correction : str
        One of :data:`CORRECTIONS`.
    discount_costs, discount_outcomes : float or list of (year, rate)
        Outcome columns (``outcome_columns``) use ``discount_outcomes``, every
        other column ``discount_costs``.
    trace : bool
        Also return the trace, shape (n, K, T+1, S).

    Returns
    -------
    dict with keys ``"disc"`` and ``"undisc"`` (each column -> (n, K) array) and,
    if asked, ``"trace"``.
    """
    P = np.asarray(P, dtype=float)
    start = np.asarray(start, dtype=float)
    n, K, T, S, _ = P.shape
    transition_rewards = dict(transition_rewards or {})
    columns = list(dict.fromkeys(list(rewards) + list(transition_rewards)))

    times = [discount_time(k, cycle_length, timing) for k in range(T + 1)]
    factors = {}
    for col in columns:
        rate = discount_outcomes if col in outcome_columns else discount_costs
        factors[col] = np.array([discount_factor(rate, tau) for tau in times])
    ones = np.ones(T + 1)

    disc = {col: np.zeros((n, K)) for col in columns}
    undisc = {col: np.zeros((n, K)) for col in columns}
    traces = np.zeros((n, K, T + 1, S))
    for d in range(n):
        for k in range(K):
            m = np.zeros((T + 1, S))
            m[0] = start[d, k]
            for t in range(T):
                m[t + 1] = m[t] @ P[d, k, t]
            traces[d, k] = m
            for col in columns:
                if col in rewards:
                    r = np.asarray(rewards[col], dtype=float)[d, k]
                    disc[col][d, k] += _state_total(m, r, factors[col], correction)
                    undisc[col][d, k] += _state_total(m, r, ones, correction)
                if col in transition_rewards:
                    tr = np.asarray(transition_rewards[col], dtype=float)[d, k]
                    for t in range(T):
                        flow = m[t][:, None] * P[d, k, t]  # (S, S): share moving i -> j
                        amount = float(np.sum(flow * tr[t]))
                        disc[col][d, k] += factors[col][t + 1] * amount
                        undisc[col][d, k] += amount
    out = {"disc": disc, "undisc": undisc}
    if trace:
        out["trace"] = traces
    return out


def best_counts_naive(c, e, w):
    """How often each strategy has the highest net monetary benefit ``w * e - c``.

    c, e : (n, K); w : (n_wtp,). Returns counts of shape (K, n_wtp); ties go to the
    lowest strategy index (``numpy.argmax``).
    """
    c, e, w = (np.asarray(x, dtype=float) for x in (c, e, w))
    counts = np.zeros((c.shape[1], len(w)), dtype=np.int64)
    for iw, x in enumerate(w):
        for d in range(c.shape[0]):
            nmb = [x * e[d, s] - c[d, s] for s in range(c.shape[1])]
            counts[int(np.argmax(nmb)), iw] += 1
    return counts
