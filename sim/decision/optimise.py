"""Decision optimisation: the best value of a continuous decision variable under uncertainty.

A decision variable ``x`` (a dose, a treatment time, a screening interval, a
price) has a benefit ``B(x, theta)`` and a cost ``C(x, theta)`` that depend on
uncertain parameters ``theta``, given as draws.  :func:`optimise` maximises the
expected net benefit ``E_theta[B(x, theta) - C(x, theta)]`` over ``x`` in given
bounds, checks the first-order condition (marginal benefit = marginal cost at an
interior optimum) and reports the value of optimising ``x`` per draw.

Formulas: ``docs/dsa.md`` (section *Decision optimisation*).  Knows no engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize as _opt

from sim.errors import HtaError, finite_number

__all__ = ["optimise", "OptimisationResult", "CURVE_COLUMNS"]

#: Columns of :attr:`OptimisationResult.curve`, in order.
CURVE_COLUMNS = ("x", "expected_benefit", "expected_cost", "expected_net_benefit",
                 "marginal_benefit", "marginal_cost")


@dataclass(frozen=True)
class OptimisationResult:
    """What :func:`optimise` returns.

    Attributes
    ----------
    x : float
        The optimum ``x*`` of the expected net benefit.
    expected_net_benefit, expected_benefit, expected_cost : float
        ``E[NB(x*)]``, ``E[B(x*)]``, ``E[C(x*)]``.
    marginal_benefit, marginal_cost : float
        ``dE[B]/dx`` and ``dE[C]/dx`` at ``x*`` (five-point central differences,
        one-sided within two steps of a bound); equal at an interior optimum.
    at_bound : bool
        ``x*`` is one of the bounds (then MB = MC need not hold).
    curve : DataFrame
        Columns ``x, expected_benefit, expected_cost, expected_net_benefit,
        marginal_benefit, marginal_cost``: the grid plus ``x*``, sorted by ``x``.
    value_of_optimising : float
        ``E_theta[max_x NB(x, theta)] - max_x E_theta[NB(x, theta)]`` on the grid:
        the expected gain from choosing ``x`` knowing ``theta`` (the EVPI of the
        decision variable); 0 without uncertainty.
    bounds : (float, float)
    n_draws : int
        Number of draws (1 if the functions returned scalars).
    """

    x: float
    expected_net_benefit: float
    expected_benefit: float
    expected_cost: float
    marginal_benefit: float
    marginal_cost: float
    at_bound: bool
    curve: pd.DataFrame = field(repr=False)
    value_of_optimising: float
    bounds: tuple[float, float]
    n_draws: int

    def summary(self) -> str:
        """A few lines describing the optimum."""
        where = "at a bound" if self.at_bound else "interior"
        return (
            f"x* = {self.x:.6g} ({where}; bounds {self.bounds[0]:g} to {self.bounds[1]:g})\n"
            f"expected net benefit {self.expected_net_benefit:.6g} = benefit {self.expected_benefit:.6g} "
            f"- cost {self.expected_cost:.6g}\n"
            f"marginal benefit {self.marginal_benefit:.6g}, marginal cost {self.marginal_cost:.6g}\n"
            f"value of optimising per draw {self.value_of_optimising:.6g} ({self.n_draws} draws)"
        )


class _Evaluator:
    """Evaluates ``benefit`` and ``cost`` at ``x``, checks shapes, counts draws."""

    def __init__(self, benefit: Callable, cost: Callable, draws: Any):
        self.benefit, self.cost, self.draws = benefit, cost, draws
        self.n: int | None = None
        self.first: str = ""

    def _array(self, fn: Callable, what: str, x: float) -> np.ndarray:
        v = fn(x, self.draws)
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise HtaError(
                f"optimise: {what}(x={x:.6g}, draws) returned {type(v).__name__}; it must return a number "
                f"or a 1-D array with one value per draw"
            ) from None
        if a.ndim > 1:
            raise HtaError(
                f"optimise: {what}(x={x:.6g}, draws) returned shape {a.shape}; return a number or a 1-D "
                f"array with one value per draw"
            )
        if not np.isfinite(a).all():
            i = int(np.flatnonzero(~np.isfinite(np.atleast_1d(a)))[0])
            raise HtaError(
                f"optimise: {what}(x={x:.6g}, draws) is not finite (draw {i}: "
                f"{np.atleast_1d(a)[i]!r}); check the function and the bounds"
            )
        if a.ndim == 1:
            if self.n is None:
                self.n, self.first = a.size, what
            elif a.size != self.n:
                raise HtaError(
                    f"optimise: {what}(x={x:.6g}, draws) has {a.size} values but {self.first} had "
                    f"{self.n}; return one value per draw every time"
                )
        return a

    def __call__(self, x: float) -> tuple[np.ndarray, np.ndarray]:
        return self._array(self.benefit, "benefit", x), self._array(self.cost, "cost", x)

    def expected(self, x: float) -> tuple[float, float]:
        b, c = self(x)
        return float(np.mean(b)), float(np.mean(c))


def _derivative(ev: _Evaluator, x: float, h: float, lo: float, hi: float) -> tuple[float, float]:
    """dE[B]/dx and dE[C]/dx by finite differences of error O(h^4).

    Five-point central stencil ``(f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h``; within
    2h of a bound the one-sided five-point stencil, stepping inwards,
    ``(-25 f(x) + 48 f(x+h) - 36 f(x+2h) + 16 f(x+3h) - 3 f(x+4h)) / 12h``.
    """
    if x - 2 * h >= lo and x + 2 * h <= hi:
        m2, m1, p1, p2 = (ev.expected(x + k * h) for k in (-2, -1, 1, 2))
        return tuple((m2[i] - 8 * m1[i] + 8 * p1[i] - p2[i]) / (12 * h) for i in (0, 1))
    s = 1.0 if x - 2 * h < lo else -1.0  # step inwards
    f = [ev.expected(x + s * k * h) for k in range(5)]
    w = (-25.0, 48.0, -36.0, 16.0, -3.0)
    return tuple(s * sum(wk * fk[i] for wk, fk in zip(w, f, strict=True)) / (12 * h) for i in (0, 1))


def optimise(benefit: Callable[[float, Any], Any], cost: Callable[[float, Any], Any], bounds,
             *, draws: Any = None, grid: int = 201, xatol: float | None = None,
             step: float | None = None) -> OptimisationResult:
    """Maximise the expected net benefit ``E[B(x) - C(x)]`` over a scalar decision ``x``.

    Parameters
    ----------
    benefit, cost : callable
        ``benefit(x, draws)`` and ``cost(x, draws)`` for a scalar ``x``: a number,
        or an array with one value per draw (in the same units, e.g. money or
        QALYs).  ``draws`` is passed through unchanged (a dict of arrays, a
        DataFrame, a :class:`~sim.params.Draws`, ... or ``None``).
    bounds : (low, high)
        The range of ``x``; ``low < high``.
    draws : any, optional
        The parameter draws handed to ``benefit`` and ``cost``.
    grid : int
        Number of equally spaced grid points (>= 3, default 201).  The best grid
        point is refined with bounded Brent (:func:`scipy.optimize.minimize_scalar`)
        between its neighbours, so a local optimum elsewhere cannot trap the search
        unless the grid is too coarse to see the global one.
    xatol : float, optional
        Absolute tolerance of the refinement (default ``1e-10 (high - low)``; the
        attainable accuracy is about ``sqrt(machine eps) |x*|``).
    step : float, optional
        Step ``h`` of the numerical derivatives (default ``1e-4 (high - low)``); make it
        small against the scale on which the curves bend.

    Returns
    -------
    OptimisationResult
        The optimum, the expected values and marginals there, the curve table and
        the value of optimising.
    """
    if not callable(benefit) or not callable(cost):
        bad = "benefit" if not callable(benefit) else "cost"
        got = type(benefit if bad == "benefit" else cost).__name__
        raise HtaError(f"optimise: {bad} must be a function f(x, draws), got {got}")
    if isinstance(bounds, (str, bytes)) or not hasattr(bounds, "__len__") or len(bounds) != 2:
        raise HtaError(f"optimise: bounds must be a pair (low, high), got {bounds!r}")
    lo = finite_number(bounds[0], "optimise: the lower bound")
    hi = finite_number(bounds[1], "optimise: the upper bound")
    if lo > hi:
        raise HtaError(f"optimise: bounds ({lo:g}, {hi:g}) are reversed; give (low, high) = ({hi:g}, {lo:g})")
    if lo == hi:
        raise HtaError(f"optimise: bounds ({lo:g}, {hi:g}) are equal; give an interval low < high")
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 3:
        raise HtaError(f"optimise: grid {grid!r} must be a whole number of points >= 3")
    width = hi - lo
    tol = 1e-10 * width if xatol is None else finite_number(xatol, "optimise: xatol")
    h = 1e-4 * width if step is None else finite_number(step, "optimise: step")
    if tol <= 0 or h <= 0:
        raise HtaError("optimise: xatol and step must be > 0")
    if h > width / 8:
        raise HtaError(
            f"optimise: step {h:g} is too large for bounds of width {width:g}; use at most an eighth of it"
        )
    ev = _Evaluator(benefit, cost, draws)

    # 1. coarse grid: expected curves, and the best x of every draw (running max)
    xs = np.linspace(lo, hi, int(grid))
    eb, ec = np.empty(xs.size), np.empty(xs.size)
    best_per_draw = None
    for i, x in enumerate(xs):
        b, c = ev(float(x))
        nb = np.asarray(b - c, dtype=float)
        eb[i], ec[i] = float(np.mean(b)), float(np.mean(c))
        best_per_draw = nb if best_per_draw is None else np.maximum(best_per_draw, nb)
    enb = eb - ec
    i = int(np.argmax(enb))
    n = ev.n or 1
    value_opt = float(np.mean(np.broadcast_to(best_per_draw, (n,))) - enb[i])
    value_opt = max(value_opt, 0.0)  # >= 0 exactly; clears rounding noise only

    # 2. refine between the best grid point's neighbours
    a, z = xs[max(i - 1, 0)], xs[min(i + 1, xs.size - 1)]

    def neg(x: float) -> float:
        b_, c_ = ev.expected(float(x))
        return -(b_ - c_)

    res = _opt.minimize_scalar(neg, bounds=(a, z), method="bounded", options={"xatol": tol, "maxiter": 500})
    candidates = [(float(xs[i]), enb[i])]
    if res.success and np.isfinite(res.fun):
        candidates.append((float(res.x), -float(res.fun)))
    x_opt, f_opt = max(candidates, key=lambda t: t[1])
    # 2b. polish an interior optimum: root of MB - MC in the bracket (Brent on the derivative),
    #     which pins x* well below the sqrt(eps) accuracy of comparing function values
    if a < x_opt < z:
        def slope(x: float) -> float:
            mb_, mc_ = _derivative(ev, float(x), h, lo, hi)
            return mb_ - mc_

        sa, sz = slope(a), slope(z)
        if sa > 0 > sz:
            root = float(_opt.brentq(slope, a, z, xtol=tol, rtol=4 * np.finfo(float).eps))
            f_root = -neg(root)
            if f_root >= f_opt - 1e-10 * max(1.0, abs(f_opt)):
                x_opt = root
    b_opt, c_opt = ev.expected(x_opt)
    mb, mc = _derivative(ev, x_opt, h, lo, hi)

    # 3. the curve table: grid plus x*, marginals by central differences
    cx = np.unique(np.append(xs, x_opt))
    rows = []
    cache = {float(x): (eb[k], ec[k]) for k, x in enumerate(xs)}
    cache[x_opt] = (b_opt, c_opt)
    for x in cx:
        bx, cxv = cache[float(x)]
        mbx, mcx = (mb, mc) if x == x_opt else _derivative(ev, float(x), h, lo, hi)
        rows.append((x, bx, cxv, bx - cxv, mbx, mcx))
    curve = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    curve.attrs.update({"x_opt": x_opt, "step": h})
    return OptimisationResult(
        x=x_opt, expected_net_benefit=b_opt - c_opt, expected_benefit=b_opt, expected_cost=c_opt,
        marginal_benefit=mb, marginal_cost=mc, at_bound=x_opt in (lo, hi), curve=curve,
        value_of_optimising=value_opt, bounds=(lo, hi), n_draws=n,
    )
