"""Royston-Parmar spline models (Royston & Parmar 2002; flexsurv's ``flexsurvspline``).

A natural cubic spline ``s(x)`` in ``x = log t`` models a transformation of
survival:

* ``scale="hazard"``: ``log H(t) = s(x)`` (proportional hazards; ``k = 0`` is the Weibull),
* ``scale="odds"``: ``log((1 - S)/S) = s(x)`` (proportional odds; ``k = 0`` is the log-logistic),
* ``scale="normal"``: ``-Phi^{-1}(S) = s(x)`` (probit; ``k = 0`` is the log-normal).

``s(x) = gamma_0 + gamma_1 x + sum_j gamma_{j+1} v_j(x)`` with the basis of
flexsurv's ``basis()``: ``v_j(x) = (x - k_j)^3_+ - lambda_j (x - k_min)^3_+ -
(1 - lambda_j)(x - k_max)^3_+``, ``lambda_j = (k_max - k_j)/(k_max - k_min)``, for the
internal knots ``k_j``; ``s`` is linear outside the boundary knots.
"""

from __future__ import annotations

import numpy as np

from sim.errors import HtaError

__all__ = ["SCALES", "basis", "default_knots", "spline_log_hazard", "spline_cumhaz", "spline_quantile",
           "spline_loglik_terms"]

SCALES = ("hazard", "odds", "normal")
_LOG2PI = float(np.log(2.0 * np.pi))


def check_scale(scale: str) -> str:
    """The scale if it is one of :data:`SCALES`, else a clear error."""
    if scale not in SCALES:
        raise HtaError(f"spline scale {scale!r} is not one of {', '.join(SCALES)}")
    return scale


def default_knots(times, events, k: int) -> np.ndarray:
    """The default knots of flexsurv: boundary and ``k`` internal knots.

    Boundary knots at the extreme log event times, internal knots at the
    ``j/(k+1)`` quantiles of the log event times.

    Returns
    -------
    ndarray, shape (k + 2,)
        ``[k_min, internal..., k_max]`` on the log-time scale.
    """
    if int(k) != k or k < 0:
        raise HtaError(f"number of internal spline knots k={k!r} must be a whole number >= 0")
    lt = np.log(np.asarray(times, dtype=float)[np.asarray(events) == 1])
    if lt.size < 2 or lt.min() == lt.max():
        raise HtaError("a spline model needs at least two distinct event times to place its boundary knots")
    # R's quantile type 7 (numpy's default "linear"), as flexsurv uses
    inner = np.quantile(lt, np.arange(1, k + 1) / (k + 1)) if k else np.empty(0)
    return np.concatenate([[lt.min()], inner, [lt.max()]])


def basis(knots, x):
    """Spline basis and its derivative at ``x`` (log time).

    Returns
    -------
    b, db : ndarray, shape x.shape + (len(knots),)
        ``b[..., j]`` is the ``j``-th basis function (1, x, v_1, ...), ``db`` its
        derivative in ``x``.
    """
    knots = np.asarray(knots, dtype=float)
    x = np.asarray(x, dtype=float)
    kmin, kmax = knots[0], knots[-1]
    cols = [np.ones_like(x), x]
    dcols = [np.zeros_like(x), np.ones_like(x)]
    with np.errstate(invalid="ignore"):
        pmin = np.clip(x - kmin, 0.0, None)
        pmax = np.clip(x - kmax, 0.0, None)
        for kj in knots[1:-1]:
            lam = (kmax - kj) / (kmax - kmin)
            pj = np.clip(x - kj, 0.0, None)
            cols.append(pj ** 3 - lam * pmin ** 3 - (1.0 - lam) * pmax ** 3)
            dcols.append(3.0 * (pj ** 2 - lam * pmin ** 2 - (1.0 - lam) * pmax ** 2))
    return np.stack(cols, axis=-1), np.stack(dcols, axis=-1)


def _link(scale, s):
    """H(s), log H'(s) and d/ds log H'(s) for the scale's link."""
    from scipy.special import log_ndtr

    if scale == "hazard":
        H = np.exp(s)
        return H, s, np.ones_like(s)
    if scale == "odds":
        H = np.logaddexp(0.0, s)
        return H, -np.logaddexp(0.0, -s), np.exp(-np.logaddexp(0.0, s))  # 1 - sigmoid(s)
    lm = -0.5 * s * s - 0.5 * _LOG2PI - log_ndtr(-s)  # log of the inverse Mills ratio
    return -log_ndtr(-s), lm, np.exp(lm) - s


def _s(gammas, knots, t):
    """s(log t) and ds/dx; gammas broadcast with the last axis as the coefficients."""
    gammas = np.asarray(gammas, dtype=float)
    with np.errstate(divide="ignore"):
        x = np.log(np.asarray(t, dtype=float))
    b, db = basis(knots, x)
    return np.sum(b * gammas, axis=-1), np.sum(db * gammas, axis=-1)


def spline_cumhaz(t, gammas, knots, scale):
    """Cumulative hazard at ``t`` (``0`` at ``t = 0``)."""
    t = np.asarray(t, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        s, _ = _s(gammas, knots, np.where(t > 0, t, 1.0))
        H, _, _ = _link(scale, s)
    return np.where(t > 0, H, 0.0)


def spline_log_hazard(t, gammas, knots, scale):
    """Log hazard at ``t`` (``nan`` where ds/dx <= 0: no valid hazard there)."""
    t = np.asarray(t, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        s, ds = _s(gammas, knots, t)
        _, logdH, _ = _link(scale, s)
        return np.where(ds > 0, np.log(np.where(ds > 0, ds, 1.0)), np.nan) - np.log(t) + logdH


def spline_quantile(q, gammas, knots, scale, iterations: int = 200):
    """Time with ``F(t) = q``, by bisection on ``log t`` (the spline is monotone where valid)."""
    q = np.asarray(q, dtype=float)
    target = -np.log1p(-q)
    gammas = np.asarray(gammas, dtype=float)
    shape = np.broadcast_shapes(q.shape, gammas.shape[:-1])
    lo = np.full(shape, -50.0)
    hi = np.full(shape, 50.0)
    target = np.broadcast_to(target, shape)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = spline_cumhaz(np.exp(mid), gammas, knots, scale) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    out = np.exp(0.5 * (lo + hi))
    return np.where(q <= 0, 0.0, np.where(q >= 1, np.inf, out))


def spline_loglik_terms(t, d, gammas, knots, scale):
    """Per-observation log-likelihood and its gradient in the spline coefficients.

    Parameters
    ----------
    t, d : ndarray, shape (n,)
        Times and event indicators.
    gammas : ndarray, shape (n, m) or (m,)
        Coefficients per observation (covariates shift ``gamma_0``).

    Returns
    -------
    ll : ndarray, shape (n,)
        ``d (log s' - log t + log H'(s)) - H(s)``; ``-inf`` where an event falls
        where ``s' <= 0``.
    grad : ndarray, shape (n, m)
        Analytic ``d ll / d gamma_j``.
    """
    x = np.log(t)
    b, db = basis(knots, x)
    s = np.sum(b * gammas, axis=-1)
    ds = np.sum(db * gammas, axis=-1)
    H, logdH, dlogdH = _link(scale, s)
    ok = ds > 0
    safe = np.where(ok, ds, 1.0)
    ll = d * (np.log(safe) - x + logdH) - H
    ll = np.where(ok | (d == 0), ll, -np.inf)
    dH = np.exp(logdH)
    grad = (d / safe)[:, None] * db + (d * dlogdH - dH)[:, None] * b
    return ll, grad
