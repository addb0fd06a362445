"""The tie rule of "the optimal strategy": ties go to the strategy whose name sorts first.

Every analysis that names an optimal strategy or counts how often a strategy is
optimal (:func:`~sim.decision.ceac`, :func:`~sim.decision.ceaf`,
:func:`~sim.decision.expected_loss`, :func:`~sim.decision.prob_cost_effective`, the
``optimal`` column of :func:`sim.decision.dsa.two_way`, :func:`sim.decision.bayes.decide`)
breaks ties with this rule, so no result depends on the order in which the
strategies are given.  Names compare as Python strings (by code point:
``"B" < "a"``).  Documented in ``docs/decision.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["name_order", "optimal_index"]


def name_order(strategies: Sequence[str]) -> np.ndarray:
    """The tie order: positions of the strategies sorted by name.

    Parameters
    ----------
    strategies : sequence of str
        Strategy names (unique).

    Returns
    -------
    ndarray of int, shape (n_strategies,)
        ``order`` such that ``[strategies[i] for i in order]`` is sorted.  Columns
        taken in this order and searched for the *first* maximum (``numpy.argmax``,
        the compiled CEAC kernels) give ties to the first name.
    """
    return np.argsort([str(s) for s in strategies], kind="stable")


def optimal_index(values, strategies: Sequence[str], axis: int = -1):
    """Position of the optimal strategy: the highest value, ties to the first name.

    Parameters
    ----------
    values : array_like
        A value to maximise (net benefit, expected net benefit, utility) per
        strategy along ``axis``.
    strategies : sequence of str
        Strategy names, one per position along ``axis``.
    axis : int
        The strategy axis.

    Returns
    -------
    int or ndarray of int
        Index into ``strategies`` of the optimal strategy, with ``axis`` removed
        (a NumPy integer for 1-D ``values``).
    """
    order = name_order(strategies)
    best = np.argmax(np.take(np.asarray(values), order, axis=axis), axis=axis)
    return order[best]
