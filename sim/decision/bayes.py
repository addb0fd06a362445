"""Bayesian decisions from posterior (or probabilistic) draws.

Given draws of the net benefit (utility) of each strategy, the Bayes decision is
the strategy with the highest *expected* utility.  :func:`decide` and
:func:`decide_utility` report it together with each strategy's expected net
benefit, the posterior probability that each strategy is best, the expected
loss of each choice and the expected value of perfect information (EVPI).

Formulas: ``docs/dsa.md`` (section *Bayesian decision*).  Works on arrays; knows
no engine.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.decision.ties import optimal_index
from sim.errors import HtaError

__all__ = ["decide", "decide_utility", "BayesDecision", "TABLE_COLUMNS"]

#: Columns of :attr:`BayesDecision.table`, in order.
TABLE_COLUMNS = ("strategy", "expected_net_benefit", "probability_optimal", "optimal")


@dataclass(frozen=True)
class BayesDecision:
    """What :func:`decide` and :func:`decide_utility` return.

    Attributes
    ----------
    optimal : str
        The strategy with the highest expected net benefit (ties: the first by
        name, :mod:`sim.decision.ties`).
    table : DataFrame
        Columns ``strategy, expected_net_benefit, probability_optimal, optimal``
        (bool), one row per strategy in the order given.
    evpi : float
        ``E[max_s U_s] - max_s E[U_s]``.
    expected_loss : dict
        Strategy -> ``E[max_j U_j - U_s]``; the optimal strategy's loss is the EVPI.
    strategies : list of str
    n_draws : int
    wtp : float or None
        The willingness to pay (``None`` for :func:`decide_utility`).
    """

    optimal: str
    table: pd.DataFrame = field(repr=False)
    evpi: float
    expected_loss: dict
    strategies: list
    n_draws: int
    wtp: float | None = None

    @property
    def expected(self) -> dict:
        """Strategy -> expected net benefit."""
        return dict(zip(self.table["strategy"], self.table["expected_net_benefit"], strict=True))

    @property
    def probability_optimal(self) -> dict:
        """Strategy -> probability of having the highest net benefit."""
        return dict(zip(self.table["strategy"], self.table["probability_optimal"], strict=True))

    def summary(self) -> str:
        """A few lines: the decision, its probability of being right, the EVPI."""
        at = f" at willingness to pay {self.wtp:,.10g}" if self.wtp is not None else ""
        p = self.probability_optimal[self.optimal]
        return (f"choose {self.optimal!r}{at}: highest expected net benefit "
                f"{self.expected[self.optimal]:,.6g}; probability it is best {p:.3f}; "
                f"EVPI {self.evpi:,.6g} per person ({self.n_draws} draws)")


def _names(strategies: Any, k: int, columns: Any, who: str) -> list[str]:
    if strategies is None:
        if columns is not None:
            names = [str(c) for c in columns]
        else:
            raise HtaError(f"{who}: give strategies= (one name per column)")
    elif isinstance(strategies, str):
        raise HtaError(f"{who}: strategies must be a list of names, not the single string {strategies!r}")
    else:
        names = [str(s) for s in strategies]
    if len(names) != k:
        raise HtaError(
            f"{who}: {len(names)} strategy names for {k} columns; give one name per column (strategy)"
        )
    dup = sorted({s for s in names if names.count(s) > 1})
    if dup:
        raise HtaError(f"{who}: duplicate strategy names {dup}")
    return names


def _matrix(x: Any, what: str, who: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise HtaError(f"{who}: {what} must be numbers (an array of shape (n_draws, n_strategies))") from None
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise HtaError(f"{who}: {what} must have shape (n_draws, n_strategies), got {a.shape}")
    if not np.isfinite(a).all():
        d, s = np.argwhere(~np.isfinite(a))[0]
        raise HtaError(
            f"{who}: {what} in draw {d}, column {s} is {float(a[d, s])!r}; every value must be finite"
        )
    return a


def _weights(weights: Any, n: int, who: str) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise HtaError(f"{who}: weights must have one value per draw ({n}), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise HtaError(f"{who}: weights must be finite, >= 0 and not all 0")
    return w / w.sum()


def decide_utility(u, strategies: Sequence[str] | None = None, *, weights=None) -> BayesDecision:
    """The Bayes decision from draws of each strategy's utility (net benefit).

    Parameters
    ----------
    u : array_like or DataFrame, shape (n_draws, n_strategies)
        Utility (e.g. net monetary benefit) of each strategy in each posterior draw.
    strategies : sequence of str, optional
        Column names; default: the DataFrame's columns.
    weights : array_like, optional
        Draw weights (e.g. importance weights); default equal weights ``1/n``.

    Returns
    -------
    BayesDecision

    Notes
    -----
    With draw weights ``w_i`` (summing to 1): expected utility
    ``EU_s = sum_i w_i U_is``; decision ``s* = argmax_s EU_s`` (ties: the
    strategy whose name sorts first, :mod:`sim.decision.ties`); probability
    optimal ``P_s = sum_i w_i 1[U_is = max_j U_ij] / m_i``,
    where ``m_i`` is the number of strategies tied for the maximum in draw ``i``
    (a tie shares the draw, so the probabilities sum to 1 whatever the order);
    ``EVPI = sum_i w_i max_s U_is - max_s EU_s``; expected loss
    ``L_s = sum_i w_i (max_j U_ij - U_is)``, with ``L_{s*} = EVPI``.
    """
    who = "decide_utility"
    columns = u.columns if isinstance(u, pd.DataFrame) else None
    a = _matrix(u, "utilities", who)
    names = _names(strategies, a.shape[1], columns, who)
    return _decide(a, names, _weights(weights, a.shape[0], who), None)


def decide(costs, effects, wtp: float, strategies: Sequence[str] | None = None, *,
           weights=None) -> BayesDecision:
    """The Bayes decision from draws of costs and effects at a willingness to pay.

    The utility of strategy ``s`` in draw ``i`` is its net monetary benefit
    ``U_is = wtp E_is - C_is``; see :func:`decide_utility` for the rest.

    Parameters
    ----------
    costs, effects : array_like or DataFrame, shape (n_draws, n_strategies)
    wtp : float
        Willingness to pay per unit of effect (>= 0).
    strategies : sequence of str, optional
        Column names; default: the DataFrame columns of ``costs``.
    weights : array_like, optional
        Draw weights; default equal.

    Returns
    -------
    BayesDecision
    """
    who = "decide"
    columns = costs.columns if isinstance(costs, pd.DataFrame) else None
    c = _matrix(costs, "costs", who)
    e = _matrix(effects, "effects", who)
    if c.shape != e.shape:
        raise HtaError(
            f"{who}: costs {c.shape} and effects {e.shape} must have the same shape (n_draws, n_strategies)"
        )
    if wtp is None or isinstance(wtp, bool) or not isinstance(wtp, (numbers.Real, np.floating, np.integer)):
        raise HtaError(
            f"{who}: willingness to pay must be one number (money per unit of effect), got {wtp!r}"
        )
    w = float(wtp)
    if not math.isfinite(w) or w < 0:
        raise HtaError(f"{who}: willingness to pay {w!r} must be finite and >= 0")
    names = _names(strategies, c.shape[1], columns, who)
    return _decide(w * e - c, names, _weights(weights, c.shape[0], who), w)


def _decide(u: np.ndarray, names: list[str], w: np.ndarray, wtp: float | None) -> BayesDecision:
    n = u.shape[0]
    expected = w @ u
    best = int(optimal_index(expected, names))
    top = u.max(axis=1, keepdims=True)
    is_max = u == top
    share = is_max / is_max.sum(axis=1, keepdims=True)
    prob = w @ share
    e_max = float(w @ top[:, 0])
    loss = w @ (top - u)
    evpi = max(e_max - float(expected[best]), 0.0)  # >= 0 exactly; clears rounding only
    table = pd.DataFrame({
        "strategy": names,
        "expected_net_benefit": expected,
        "probability_optimal": prob,
        "optimal": [i == best for i in range(len(names))],
    })
    return BayesDecision(optimal=names[best], table=table, evpi=evpi,
                         expected_loss=dict(zip(names, map(float, loss), strict=True)), strategies=list(names),
                         n_draws=n, wtp=wtp)
