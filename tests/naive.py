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
    all-points     sum_{k=0}^{T} d_k <m_k, r_k>
    heemod-life-table  sum_{j=0}^{T-1} d_j <(m_j + m_{j+1}) / 2, r_j>  (discounted at the cycle start)

* Transition rewards of cycle ``t``: ``sum_ij m_t[i] P_t[i, j] TR_t[i, j]``,
  discounted at ``d(tau_{t+1})``; with ``transition_weighting="corrected"`` also multiplied
  by the weight the correction gives point ``t + 1`` (:func:`point_weight`).
* ``d(tau) = (1 + r) ** -tau``; a schedule ``[(0, r0), (b1, r1), ...]``
  compounds each rate over the part of ``[0, tau)`` it covers; with
  ``timing="annual"`` the factor of time ``tau`` is that of ``floor(tau)``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["discount_factor", "discount_time", "run_naive", "best_counts_naive", "fifo_waits", "run_pathway_naive",
           "CORRECTIONS"]

CORRECTIONS = ("start", "end", "half-cycle", "life-table", "trapezoid", "simpson", "simpson-darth", "all-points",
               "heemod-life-table")


def point_weight(correction: str, T: int, k: int) -> float:
    """The total weight a correction gives trace point ``k`` (what a constant reward there counts)."""
    first, last = k == 0, k == T
    if correction == "start":
        return 0.0 if last else 1.0
    if correction == "end":
        return 0.0 if first else 1.0
    if correction in ("half-cycle", "life-table", "heemod-life-table", "trapezoid"):
        return 0.5 if (first or last) else 1.0
    if correction == "simpson":
        return 1 / 3 if (first or last) else (4 / 3 if k % 2 else 2 / 3)
    if correction == "simpson-darth":
        return 1 / 3 if (first or last) else (2 / 3 if k % 2 else 4 / 3)
    if correction == "all-points":
        return 1.0
    raise ValueError(f"unknown correction {correction!r}")


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
    if correction == "all-points":
        total = 0.0
        for k in range(T + 1):
            total += d[k] * (m[k] @ r[k])
        return total
    if correction == "heemod-life-table":
        total = 0.0
        for j in range(T):
            total += d[j] * (0.5 * (m[j] + m[j + 1]) @ r[j])
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
    transition_weighting: str = "full",
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
    transition_weighting : {"full", "corrected"}
        Transition rewards in full, or times the correction's weight of the point they end at.

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
                        if transition_weighting == "corrected":
                            amount *= point_weight(correction, T, t + 1)
                        disc[col][d, k] += factors[col][t + 1] * amount
                        undisc[col][d, k] += amount
    out = {"disc": disc, "undisc": undisc}
    if trace:
        out["trace"] = traces
    return out


def fifo_waits(arrivals, capacity: int, duration: float) -> list[float]:
    """Waits in a first-come, first-served queue with ``capacity`` servers, each busy
    ``duration`` per patient, nobody leaving the queue: each patient in arrival order takes
    the server that frees first."""
    free = [0.0] * capacity
    waits = []
    for a in arrivals:
        k = min(range(capacity), key=lambda i: free[i])
        start = max(a, free[k])
        waits.append(start - a)
        free[k] = start + duration
    return waits


def run_pathway_naive(path, n_patients: int, uniform, population=None) -> dict:
    """Slow reference of the patient engine's pathway (``sim.patient.run_pathway``), without SimPy.

    ``path`` is read through its attributes (states, start, events, costs, utilities,
    dead, horizon, discount rates); ``uniform(j, slot)`` gives patient ``j``'s random
    number of a slot; ``population`` is a list of attribute mappings. Per patient and
    stay: every event of the state draws its time with its distribution's
    ``sample_one(u, elapsed, hr)`` (event ``m`` of the ``k``-th stay uses slot
    ``k * M + m``; ``hr = exp(sum_a b_a x_a)``; the time function, if any, is called
    with the patient's attributes), the earliest wins; cost and utility accrue as
    ``c * ((1 + r)^-t0 - (1 + r)^-t1) / ln(1 + r)`` (``c * (t1 - t0)`` at ``r = 0``),
    the event's one-off cost and QALY at ``(1 + r)^-t1``; the clock then advances by
    the stay's length, as SimPy's does.

    Returns
    -------
    dict
        Arrays of length ``n_patients``: ``cost, qaly, ly, cost_undisc, qaly_undisc,
        ly_undisc, events`` and ``reached_<state>`` (0/1) for every state of ``path``.
    """
    M = max([len(v) for v in path.events.values()] + [1])
    cols = ["cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc", "events"]
    out = {c: np.zeros(n_patients) for c in cols + [f"reached_{s}" for s in path.states]}

    def integral(r, t0, t1):
        if r == 0:
            return t1 - t0
        return (math.pow(1.0 + r, -t0) - math.pow(1.0 + r, -t1)) / math.log(1.0 + r)

    for j in range(n_patients):
        attrs = population[j] if population is not None else {}
        state, now, entered, stay = path.start, 0.0, 0.0, 0
        visited = [state]
        tot = dict.fromkeys(cols, 0.0)
        while True:
            best, best_t = None, math.inf
            for m, e in enumerate(path.events.get(state, ())):
                dist = e.time if hasattr(e.time, "sample_one") else e.time(attrs)
                hr = math.exp(sum(b * float(attrs[a]) for a, b in e.hr.items()))
                elapsed = now if e.clock == "markov" else now - entered
                x = dist.sample_one(uniform(j, stay * M + m), elapsed, hr)
                if x < best_t:
                    best, best_t = e, x
            end = min(now + best_t, path.horizon)
            c, q = path.costs.get(state, 0.0), path.utilities.get(state, 0.0)
            tot["cost"] += c * integral(path.discount_costs, now, end)
            tot["qaly"] += q * integral(path.discount_outcomes, now, end)
            tot["cost_undisc"] += c * (end - now)
            tot["qaly_undisc"] += q * (end - now)
            if state not in path.dead:
                tot["ly"] += integral(path.discount_outcomes, now, end)
                tot["ly_undisc"] += end - now
            if best is None or now + best_t > path.horizon:
                break
            tot["cost"] += best.cost * (1.0 + path.discount_costs) ** -end
            tot["qaly"] += best.qaly * (1.0 + path.discount_outcomes) ** -end
            tot["cost_undisc"] += best.cost
            tot["qaly_undisc"] += best.qaly
            tot["events"] += 1
            state, entered, now, stay = best.to, end, now + (end - now), stay + 1
            visited.append(state)
        for c in cols:
            out[c][j] = tot[c]
        for s in visited:
            out[f"reached_{s}"][j] = 1.0
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
