"""Threshold analysis and value-based price: where two strategies break even.

Solves ``INMB(value) = 0`` for one parameter of a model run (a
:class:`~sim.decision.run.ModelRun`, e.g. ``sim.CohortRun(model)``) with Brent's
method, one call of the run per iteration; imports no engine.  Formulas:
``docs/dsa.md`` (section *Threshold analysis and value-based price*).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

from sim.decision.run import (
    ModelRun,
    check_effect,
    check_parameter,
    check_run,
    check_wtp,
    pick_strategies,
    run_sets,
    wide,
)
from sim.errors import HtaError, finite_number

__all__ = ["threshold", "value_based_price"]


# ---------------------------------------------------------------------------- threshold
def _inmb_function(run: ModelRun, parameter: str, wtp: float, strategy: str, comparator: str,
                   effect: str, who: str) -> Callable[[np.ndarray], np.ndarray]:
    strategies = list(run.strategies)
    K = len(strategies)
    k, j = strategies.index(strategy), strategies.index(comparator)

    def inmb(values) -> np.ndarray:
        v = np.atleast_1d(np.asarray(values, dtype=float))
        labels = [f"{parameter} = {x:.10g}" for x in v]
        o = run_sets(run, {parameter: v}, labels, who)
        c, e = wide(o, "cost", v.size, K), wide(o, effect, v.size, K)
        return wtp * (e[:, k] - e[:, j]) - (c[:, k] - c[:, j])

    return inmb


def _threshold_setup(run, parameter, wtp, strategy, comparator, lower, upper, effect, who):
    check_run(run, who)
    check_parameter(run, parameter, who)
    w = check_wtp(wtp, who, "the threshold of INMB = 0")
    strategy, comparator = pick_strategies(run, strategy, comparator, who, True)
    effect = check_effect(run, effect, who)
    lo = finite_number(lower, f"{who}: lower")
    hi = finite_number(upper, f"{who}: upper")
    if not lo < hi:
        raise HtaError(
            f"{who}: the bracket [lower, upper] = [{lo:g}, {hi:g}] is empty or reversed; give lower < upper"
        )
    f = _inmb_function(run, parameter, w, strategy, comparator, effect, who)
    return w, strategy, comparator, effect, lo, hi, f


def _solve(f, lo: float, hi: float, f_ends: np.ndarray, tol: float, who: str, what: str) -> float:
    flo, fhi = float(f_ends[0]), float(f_ends[1])
    if flo == 0.0:
        return lo
    if fhi == 0.0:
        return hi
    if np.sign(flo) == np.sign(fhi):
        raise HtaError(
            f"{who}: {what} does not change sign on [{lo:.6g}, {hi:.6g}]: it is {flo:,.6g} at the lower end "
            f"and {fhi:,.6g} at the upper end, so there is no threshold in between (or an even number "
            f"of them); widen or move the bracket"
        )
    t = finite_number(tol, f"{who}: tol")
    if t <= 0:
        raise HtaError(f"{who}: tol {t!r} must be > 0")
    root, info = optimize.brentq(lambda v: float(f(v)[0]), lo, hi, xtol=t, rtol=4 * np.finfo(float).eps,
                                 maxiter=200, full_output=True)
    if not info.converged:  # pragma: no cover - brentq converges on a sign change
        raise HtaError(f"{who}: Brent's method did not converge ({info.flag}); try a narrower bracket")
    return float(root)


def threshold(run: ModelRun, parameter: str, *, wtp: float, strategy: str, comparator: str,
              lower: float, upper: float, effect: str = "qaly", tol: float = 1e-10) -> float:
    """The value of ``parameter`` at which ``strategy`` and ``comparator`` break even.

    Solves ``INMB(v) = wtp (E_s(v) - E_c(v)) - (C_s(v) - C_c(v)) = 0`` for ``v`` in
    ``[lower, upper]`` with Brent's method (:func:`scipy.optimize.brentq`), all other
    parameters at their base case.  At the threshold the ICER of ``strategy`` vs
    ``comparator`` equals ``wtp`` (when ``dE != 0``).

    Parameters
    ----------
    run : ModelRun
        The model run, e.g. ``sim.CohortRun(model)``.
    parameter : str
        The parameter to vary (one of ``run.parameters``).
    wtp : float
        Willingness to pay per unit of ``effect``.
    strategy, comparator : str
        The two strategies whose net benefits are compared.
    lower, upper : float
        The bracket; INMB must have opposite signs at its ends.
    effect : str
        ``"qaly"`` or ``"ly"``, ...
    tol : float
        Absolute tolerance on the value (``xtol`` of brentq; relative tolerance 4 eps).

    Returns
    -------
    float
        The threshold value of ``parameter``.

    Raises
    ------
    HtaError
        If INMB has the same sign at both ends (reporting both values).
    """
    who = "threshold"
    *_, lo, hi, f = _threshold_setup(run, parameter, wtp, strategy, comparator, lower, upper, effect, who)
    ends = f(np.array([lo, hi]))
    what = f"the INMB of {strategy} vs {comparator} as {parameter!r} varies"
    return _solve(f, lo, hi, ends, tol, who, what)


def value_based_price(run: ModelRun, price_parameter: str, *, wtp: float, strategy: str, comparator: str,
                      lower: float, upper: float, effect: str = "qaly", tol: float = 1e-10) -> float:
    """The highest price of ``strategy``'s technology at which it is cost-effective.

    The threshold (:func:`threshold`) of the price parameter: the price ``v*`` with
    ``INMB(v*) = 0`` at ``wtp``; below it ``strategy`` has the higher net benefit.
    INMB must fall as the price rises (positive at ``lower``, negative at
    ``upper``); otherwise ``price_parameter`` is not the price of ``strategy``'s
    technology (use :func:`threshold` for other parameters).

    Parameters
    ----------
    run : ModelRun
        The model run, e.g. ``sim.CohortRun(model)``.
    price_parameter : str
        The price of ``strategy``'s technology (one of ``run.parameters``).
    wtp, strategy, comparator, lower, upper, effect, tol
        As in :func:`threshold`.

    Returns
    -------
    float
        The value-based price.

    Raises
    ------
    HtaError
        If INMB rises with the price or has the same sign at both ends.
    """
    who = "value_based_price"
    *_, lo, hi, f = _threshold_setup(run, price_parameter, wtp, strategy, comparator, lower, upper,
                                     effect, who)
    ends = f(np.array([lo, hi]))
    if ends[0] < ends[1]:
        raise HtaError(
            f"{who}: the INMB of {strategy} vs {comparator} rises with {price_parameter!r} "
            f"({ends[0]:,.6g} at {lo:g}, {ends[1]:,.6g} at {hi:g}); a price of {strategy}'s technology "
            f"lowers it. Check the parameter and the strategies, or use threshold()"
        )
    what = f"the INMB of {strategy} vs {comparator} as {price_parameter!r} varies"
    return _solve(f, lo, hi, ends, tol, who, what)
