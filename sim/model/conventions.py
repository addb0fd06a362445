"""Within-cycle corrections and discounting: the exact formulas.

See ``docs/conventions.md`` for the derivations.  With ``T`` cycles the trace has
points ``m_0 .. m_T`` (``m_k`` = state shares after ``k`` transitions, at time
``tau_k = k * h`` years).  A state reward ``r_j`` (per cycle, evaluated for cycle
``j``) is counted as::

    total = sum_k  own[k] * d(tau_k) * <m_k, r_k>  +  prev[k] * d(tau_k) * <m_k, r_{k-1}>

so ``own`` applies a point's own-cycle reward and ``prev`` the reward of the cycle
that ends at that point (``"heemod-life-table"`` discounts the ``prev`` term at the
cycle's start, ``d(tau_{k-1})``, as heemod does).  One-off transition rewards of cycle
``t`` (between ``m_t`` and ``m_{t+1}``) are discounted at the end of the cycle,
``d(tau_{t+1})``, and counted in full (``transition_rewards="full"``) or with the
correction weight of the point ``t + 1`` (``"corrected"``, the DARTH tutorials' way).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from sim.errors import HtaError

__all__ = [
    "CORRECTIONS",
    "correction_weights",
    "correction_coefficients",
    "transition_coefficients",
    "TRANSITION_REWARDS",
    "Discount",
    "as_discount",
    "check_rate",
    "DISCOUNT_TIMINGS",
    "model_conventions",
]

#: Within-cycle corrections, each with a one-line summary of its weights.
CORRECTIONS = {
    "start": "count at cycle start: own weight 1 at points 0..T-1 (cycle 0 counted, last point not)",
    "end": "count at cycle end: prev weight 1 at points 1..T (cycle 0 not counted)",
    "half-cycle": "half-cycle / life-table: cycle j's reward on (m_j + m_{j+1}) / 2, i.e. the mean of start and end",
    "trapezoid": "trapezoid rule on point rewards: 1/2, 1, ..., 1, 1/2 at points 0..T",
    "simpson": "Simpson 1/3 (textbook): 1/3, 4/3, 2/3, 4/3, ..., 4/3, 1/3 at points 0..T (T even)",
    "simpson-darth": "Simpson 1/3 as in the DARTH tutorials: 1/3, 2/3, 4/3, 2/3, ..., 1/3 at points 0..T",
    "all-points": "weight 1 at every point 0..T (T + 1 points: DARTH and Krijkamp without correction)",
    "heemod-life-table": "heemod's 'life-table': cycle j's reward on (m_j + m_{j+1}) / 2, discounted at the cycle's "
                         "start d(tau_j)",
}
_ALIASES = {"life-table": "half-cycle", "beginning": "start", "none-start": "start", "none-end": "end",
            "none-all": "all-points"}

#: How one-off transition rewards are weighted (``Model(transition_rewards=...)``).
TRANSITION_REWARDS = {
    "full": "counted in full, discounted at the end of the cycle of the transition",
    "corrected": "weighted like the trace point at the end of the cycle of the transition (its correction weight "
                 "own + prev at that point), discounted there: the DARTH tutorials' transition rewards",
}

DISCOUNT_TIMINGS = {
    "exact": "d(tau) with tau = k * h years: discounting follows model time exactly",
    "annual": "d(floor(tau)): every point within a year shares that year's factor",
}


def canonical_correction(name: str) -> str:
    key = _ALIASES.get(name, name)
    if key not in CORRECTIONS:
        import difflib

        close = difflib.get_close_matches(str(name), list(CORRECTIONS) + list(_ALIASES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise HtaError(
            f"unknown within-cycle correction {name!r}{hint}; choose one of {', '.join(CORRECTIONS)}"
        )
    return key


def correction_weights(correction: str, n_cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(own, prev)``, each of shape ``(n_cycles + 1,)``, for the trace points.

    Parameters
    ----------
    correction : str
        A key of :data:`CORRECTIONS` (or the alias ``"life-table"``).
    n_cycles : int
        Number of cycles ``T``.
    """
    c = canonical_correction(correction)
    T = int(n_cycles)
    own = np.zeros(T + 1)
    prev = np.zeros(T + 1)
    if c == "start":
        own[:T] = 1.0
    elif c == "end":
        prev[1:] = 1.0
    elif c == "half-cycle":
        own[:T] = 0.5
        prev[1:] = 0.5
    elif c == "trapezoid":
        own[:] = 1.0
        own[0] = own[T] = 0.5
    elif c == "simpson":
        if T < 2 or T % 2:
            raise HtaError(
                f"textbook Simpson's rule needs an even number of cycles, and the horizon has {T}; "
                f"change the horizon by one cycle or use correction='simpson-darth' or 'trapezoid'"
            )
        k = np.arange(T + 1)
        own[:] = np.where(k % 2 == 1, 4.0 / 3.0, 2.0 / 3.0)
        own[0] = own[T] = 1.0 / 3.0
    elif c == "simpson-darth":
        k = np.arange(T + 1)
        own[:] = np.where(k % 2 == 1, 2.0 / 3.0, 4.0 / 3.0)
        own[0] = own[T] = 1.0 / 3.0
    elif c == "all-points":
        own[:] = 1.0
    elif c == "heemod-life-table":
        own[:T] = 0.5
        prev[1:] = 0.5
    return own, prev


def correction_coefficients(correction: str, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weight x discount of every trace point's own- and previous-cycle reward.

    Parameters
    ----------
    correction : str
        A key of :data:`CORRECTIONS` (or an alias).
    factors : ndarray, shape (T + 1,)
        Discount factors ``d(tau_k)`` of the trace points.

    Returns
    -------
    own, prev : ndarray, shape (T + 1,)
        ``own[k] d(tau_k)`` and ``prev[k] d(tau_k)``; for ``"heemod-life-table"``
        ``prev[k] d(tau_{k-1})`` (the averaged cycle is discounted at its start).
    """
    f = np.asarray(factors, dtype=float)
    own, prev = correction_weights(correction, len(f) - 1)
    if canonical_correction(correction) == "heemod-life-table":
        shifted = np.empty_like(f)
        shifted[0] = f[0]
        shifted[1:] = f[:-1]
        return own * f, prev * shifted
    return own * f, prev * f


def check_transition_rewards(name: str) -> str:
    """``name`` if it is a key of :data:`TRANSITION_REWARDS`, else an error listing them."""
    if name not in TRANSITION_REWARDS:
        import difflib

        close = difflib.get_close_matches(str(name), list(TRANSITION_REWARDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise HtaError(f"transition_rewards {name!r}{hint}: choose one of {', '.join(TRANSITION_REWARDS)}")
    return name


def transition_coefficients(correction: str, transition_rewards: str, factors: np.ndarray) -> np.ndarray:
    """Weight x discount of the transition rewards of cycles ``0 .. T-1``.

    Parameters
    ----------
    correction : str
        The within-cycle correction.
    transition_rewards : {"full", "corrected"}
        ``"full"``: weight 1; ``"corrected"``: the weight ``own + prev`` of point ``t + 1``.
    factors : ndarray, shape (T + 1,)
        Discount factors of the trace points (1 when undiscounted).

    Returns
    -------
    ndarray, shape (T,)
        The coefficient of cycle ``t``'s transition rewards, discounted at ``d(tau_{t+1})``.
    """
    f = np.asarray(factors, dtype=float)
    if check_transition_rewards(transition_rewards) == "full":
        return f[1:].copy()
    own, prev = correction_weights(correction, len(f) - 1)
    return (own + prev)[1:] * f[1:]


@dataclass(frozen=True)
class Discount:
    """An annual discount rate, constant or stepping down over time.

    ``Discount(0.035)`` is constant; ``Discount([(0, 0.035), (30, 0.03), (75, 0.025)])``
    applies 3.5 % for years 0-30, 3 % for years 30-75 and 2.5 % after (the UK
    Treasury Green Book schedule).  The factor at time ``tau`` years is::

        d(tau) = prod_j (1 + r_j) ** -len([0, tau) & [b_j, b_{j+1}))
    """

    schedule: tuple[tuple[float, float], ...]

    def __init__(self, rate: float | Sequence[tuple[float, float]]):
        if isinstance(rate, numbers.Real) and not isinstance(rate, bool):
            sched = ((0.0, float(rate)),)
        else:
            try:
                sched = tuple((float(b), float(r)) for b, r in rate)  # type: ignore[union-attr]
            except (TypeError, ValueError):
                raise HtaError(
                    f"discount {rate!r}: give an annual rate (0.035) or a schedule "
                    f"[(from_year, rate), ...]"
                ) from None
        if not sched or sched[0][0] != 0.0:
            raise HtaError(f"discount schedule {rate!r} must start at year 0")
        for (b0, _), (b1, _) in pairwise(sched):
            if not b1 > b0:
                raise HtaError(f"discount schedule {rate!r}: start years must increase")
        for b, r in sched:
            check_rate(r, "discount rate" if len(sched) == 1 else f"discount rate from year {b:g}")
        object.__setattr__(self, "schedule", sched)

    def factor(self, tau: np.ndarray) -> np.ndarray:
        """Discount factors ``d(tau)`` for times ``tau`` in years."""
        tau = np.asarray(tau, dtype=float)
        log_d = np.zeros_like(tau)
        bounds = [b for b, _ in self.schedule] + [math.inf]
        for (b0, r), b1 in zip(self.schedule, bounds[1:], strict=True):
            span = np.clip(tau, b0, b1) - b0
            log_d -= span * math.log1p(r)
        return np.exp(log_d)

    def describe(self) -> str:
        """The rate or schedule in words, for a result's ``settings`` (``"0.035"``, ``"0.035 from year 0, ..."``)."""
        if len(self.schedule) == 1:
            return f"{self.schedule[0][1]:g}"
        return ", ".join(f"{r:g} from year {b:g}" for b, r in self.schedule)


def check_rate(rate, what: str = "discount rate") -> float:
    """``rate`` as a float, checked to be an annual rate in ``[0, 1)``.

    A percentage given by mistake (``3.5``) is an error with a hint (``did you mean 0.035?``).

    Parameters
    ----------
    rate : float
        An annual discount rate.
    what : str
        What the rate is, for the message (e.g. ``"discount_costs"``).

    Returns
    -------
    float
        The rate.
    """
    try:
        r = float(rate) if not isinstance(rate, bool) else math.nan
    except (TypeError, ValueError):
        r = math.nan
    if math.isfinite(r) and 0.0 <= r < 1.0:
        return r
    hint = f" (did you mean {r / 100:g}?)" if math.isfinite(r) and 1.0 <= r <= 100.0 else ""
    raise HtaError(
        f"{what} {rate!r} must be an annual rate >= 0 and < 1{hint}; give e.g. 0.035 for 3.5 % a year"
    )


def as_discount(x) -> Discount:
    """``x`` as a :class:`Discount` (a rate or schedule is converted, a Discount kept).

    Parameters
    ----------
    x : float, sequence of (year, rate) or Discount
        A discount rate, a step-down schedule or a Discount.

    Returns
    -------
    Discount
    """
    return x if isinstance(x, Discount) else Discount(x)


def point_times(n_cycles: int, cycle_length: float, timing: str) -> np.ndarray:
    """Times (years) at which the trace points 0..T are discounted."""
    if timing not in DISCOUNT_TIMINGS:
        raise HtaError(
            f"unknown discount timing {timing!r}; choose one of {', '.join(DISCOUNT_TIMINGS)}"
        )
    tau = np.arange(n_cycles + 1) * cycle_length
    if timing == "annual":
        tau = np.floor(tau + 1e-9)
    return tau


def model_conventions(model) -> dict:
    """The conventions of a :class:`~sim.model.Model`, in words, for a result's ``settings``.

    Returns
    -------
    dict
        ``states, cycle_length, n_cycles, start_age, correction, correction_formula,
        discount_costs, discount_outcomes, discount_timing, transition_rewards``.
    """
    return {
        "states": list(model.states),
        "cycle_length": model.cycle_length,
        "n_cycles": model.n_cycles,
        "start_age": model.start_age,
        "correction": model.correction,
        "correction_formula": CORRECTIONS[model.correction],
        "discount_costs": model.discount_costs.describe(),
        "discount_outcomes": model.discount_outcomes.describe(),
        "discount_timing": model.discount_timing,
        "transition_rewards": TRANSITION_REWARDS[model.transition_rewards],
    }
