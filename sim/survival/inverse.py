"""A curve's cumulative hazard and its inverse, elementwise: times to event for patient-level models.

:class:`sim.patient.events.SurvivalTime` draws a patient's time from ``H^-1(H(a) + E / hr)``
(``E`` a standard exponential): it needs ``H`` and its inverse with the curve's parameters
broadcast **elementwise** against the times (one parameter set per patient, or one for all),
not the ``(n_draws,) + t.shape`` grid of :class:`sim.survival.curves.SurvivalCurve`.

Closed forms invert every parametric family (``docs/survival.md``, *Curves as patient-level
times*): the generalised gamma through the inverse regularised incomplete gamma function
(the lower or upper one, whichever keeps its argument away from 1), then two Newton steps on
``log t``. A Royston-Parmar spline is linear in ``log t`` outside its boundary knots (inverted
there in closed form) and monotone inside where its hazard is valid: Newton's method on ``log t``
safeguarded by bisection (a step that leaves the bracket is replaced by the bracket's midpoint),
to machine precision.
"""

from __future__ import annotations

import numpy as np

from sim.errors import HtaError
from sim.survival import families as fam
from sim.survival import splines as spl

__all__ = ["curve_parts", "cumhaz", "inv_cumhaz", "spline_scalar"]

#: At most this many safeguarded Newton steps inside a spline's boundary knots (bisection alone would
#: shrink the bracket by 2**-100).
SPLINE_STEPS = 100


def curve_parts(curve) -> tuple[str, tuple[np.ndarray, ...], tuple[float, ...] | None, str | None]:
    """``(family, natural parameters in family order, knots, scale)`` of a :class:`SurvivalCurve`, checked.

    A spline whose ``gamma1`` is not positive has no valid hazard near ``t = 0`` (its
    cumulative hazard does not start at 0): an error.
    """
    params = tuple(np.asarray(v, dtype=float) for v in curve.params.values())
    if curve.family == "spline":
        g1 = params[1]
        if np.any(g1 <= 0):
            raise HtaError(f"spline curve {curve.label or ''}: gamma1 = {float(np.min(g1)):g} must be > 0 for "
                           f"the cumulative hazard to rise from 0 (an invalid spline fit)")
    return curve.family, params, curve.knots, curve.scale


def _gammas(params) -> np.ndarray:
    return np.stack(np.broadcast_arrays(*params), axis=-1)


def cumhaz(family: str, params, t, knots=None, scale=None) -> np.ndarray:
    """``H(t)``, parameters broadcast elementwise against ``t`` (``0`` at ``t = 0``)."""
    t = np.asarray(t, dtype=float)
    if family == "spline":
        return spl.spline_cumhaz(t, _gammas(params), knots, scale)
    with np.errstate(all="ignore"):
        H = fam.cumhaz(family, t, *params)
    return np.where(t > 0, H, 0.0)


def _link_inverse(scale: str, h):
    """The spline value ``s`` with ``H(s) = h`` for the scale's link (``h > 0``)."""
    from scipy.special import ndtri_exp

    with np.errstate(divide="ignore"):
        if scale == "hazard":
            return np.log(h)
        if scale == "odds":  # H = log(1 + e^s)  =>  s = h + log(1 - e^-h), stable for every h > 0
            return h + np.log(-np.expm1(-h))
        return -ndtri_exp(-h)  # normal: H = -log Phi(-s)


def _spline_inverse(gammas, knots, scale, h):
    knots = np.asarray(knots, dtype=float)
    kmin, kmax = knots[0], knots[-1]
    shape = np.broadcast_shapes(h.shape, gammas.shape[:-1])
    h = np.broadcast_to(h, shape)
    g = np.broadcast_to(gammas, shape + gammas.shape[-1:])
    target = _link_inverse(scale, np.where(h > 0, h, 1.0))

    def s_ds(x):
        b, db = spl.basis(knots, x)
        return np.sum(b * g, axis=-1), np.sum(db * g, axis=-1)

    s_lo, _ = s_ds(np.full(shape, kmin))
    s_hi, slope_hi = s_ds(np.full(shape, kmax))
    slope_lo = g[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(target <= s_lo, kmin + (target - s_lo) / slope_lo,
                     np.where(slope_hi > 0, kmax + (target - s_hi) / slope_hi, np.inf))
    inside = (target > s_lo) & (target < s_hi)
    if np.any(inside):  # safeguarded Newton on log t: a Newton step inside the bracket, else bisection
        lo, hi = np.full(shape, kmin), np.full(shape, kmax)
        xi = np.full(shape, 0.5 * (kmin + kmax))
        for _ in range(SPLINE_STEPS):
            s, ds = s_ds(xi)
            below = s < target
            lo, hi = np.where(below, xi, lo), np.where(below, hi, xi)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = xi - (s - target) / ds
            ok = (ds > 0) & (newton >= lo) & (newton <= hi)
            nxt = np.where(ok, newton, 0.5 * (lo + hi))
            done = ~inside | (np.abs(nxt - xi) <= 1e-15 * np.maximum(1.0, np.abs(xi))) | (hi - lo <= 0)
            xi = nxt
            if np.all(done):
                break
        x = np.where(inside, xi, x)
    with np.errstate(over="ignore"):
        t = np.exp(x)
    return np.where(h > 0, t, 0.0)


def _gengamma_inverse(h, mu, sigma, Q):
    from scipy.special import gammainccinv, gammaincinv, ndtri_exp

    zero = np.abs(Q) < fam.GENGAMMA_Q0
    qs = np.where(zero, 1.0, Q)
    g = 1.0 / (qs * qs)
    S, F = np.exp(-h), -np.expm1(-h)
    with np.errstate(all="ignore"):
        # Q > 0: S = Q(g, u) (upper); Q < 0: S = P(g, u) (lower); invert the one away from 1
        lower_from_F = np.where(F < 0.5, gammaincinv(g, F), gammainccinv(g, S))   # u with P(g, u) = F
        upper_from_F = np.where(F < 0.5, gammainccinv(g, F), gammaincinv(g, S))   # u with Q(g, u) = F
        u = np.where(qs > 0, lower_from_F, upper_from_F)
        w = np.where(zero, -ndtri_exp(-h), np.log(u / g) / qs)
        return np.exp(mu + sigma * w)


def inv_cumhaz(family: str, params, h, knots=None, scale=None) -> np.ndarray:
    """The time ``t`` with ``H(t) = h`` (``0`` at ``h = 0``, ``inf`` where the curve never gets there).

    Parameters broadcast elementwise against ``h``.
    """
    h = np.asarray(h, dtype=float)
    if np.any(np.isnan(h)) or np.any(h < 0):
        raise HtaError("inverse cumulative hazard: values must be >= 0")
    if family == "spline":
        return _spline_inverse(_gammas(params), knots, scale, h)
    with np.errstate(all="ignore"):
        if family == "exp":
            (r,) = params
            t = h / r
        elif family == "weibull":
            a, b = params
            t = b * h ** (1.0 / a)
        elif family == "weibullph":
            a, m = params
            t = (h / m) ** (1.0 / a)
        elif family == "gompertz":  # H = b (e^{a t} - 1) / a
            a, b = params
            arg = a * h / b
            small = np.abs(arg) < 1e-8
            ratio = np.where(small, 1.0 - 0.5 * arg, np.log1p(np.maximum(arg, -1.0)) / np.where(small, 1.0, arg))
            t = np.where(arg <= -1.0, np.inf, h / b * ratio)
        elif family == "llogis":  # H = log(1 + (t/b)^a)
            a, b = params
            t = b * np.expm1(h) ** (1.0 / a)
        elif family == "lnorm":  # S = Phi(-(log t - mu)/s)
            from scipy.special import ndtri_exp

            mu, s = params
            t = np.exp(mu + s * -ndtri_exp(-h))
        elif family == "gengamma":
            t = _gengamma_inverse(h, *params)
            for _ in range(2):  # Newton on log t: d H / d log t = t h(t)
                ok = np.isfinite(t) & (t > 0)
                tt = np.where(ok, t, 1.0)
                slope = np.exp(np.log(tt) + fam.log_hazard(family, tt, *params))
                step = (h - fam.cumhaz(family, tt, *params)) / slope
                t = np.where(ok & np.isfinite(step), tt * np.exp(np.clip(step, -1.0, 1.0)), t)
        else:
            raise HtaError(f"unknown survival family {family!r}")
    return np.where(h > 0, t, 0.0)


# ---------------------------------------------------------------- one spline, one value (the patient engine)
def spline_scalar(curve_parts_: tuple):
    """``(H, H^-1)`` of a spline with one set of coefficients, for Python floats.

    The patient engine draws one time at a time (``TimeToEvent.sample_one``); numpy's
    per-call overhead would dominate there. The same formulas as :func:`cumhaz` and
    :func:`inv_cumhaz` (agreeing to rounding, tested), in plain Python.
    """
    import math

    from scipy.special import log_ndtr, ndtri_exp

    _, params, knots, scale = curve_parts_
    g = [float(v) for v in params]
    kn = [float(k) for k in knots]
    kmin, kmax = kn[0], kn[-1]
    inner = [(kj, (kmax - kj) / (kmax - kmin), g[j + 2]) for j, kj in enumerate(kn[1:-1])]

    def s_ds(x):
        s, ds = g[0] + g[1] * x, g[1]
        pmin, pmax = max(x - kmin, 0.0), max(x - kmax, 0.0)
        for kj, lam, gj in inner:
            pj = max(x - kj, 0.0)
            s += gj * (pj ** 3 - lam * pmin ** 3 - (1.0 - lam) * pmax ** 3)
            ds += gj * 3.0 * (pj ** 2 - lam * pmin ** 2 - (1.0 - lam) * pmax ** 2)
        return s, ds

    def link(s):
        if scale == "hazard":
            return math.exp(s) if s < 709.0 else math.inf
        if scale == "odds":
            return s + math.log1p(math.exp(-s)) if s > 0 else math.log1p(math.exp(s))
        return -float(log_ndtr(-s))

    def link_inverse(h):
        if scale == "hazard":
            return math.log(h)
        if scale == "odds":
            return h + math.log(-math.expm1(-h))
        return -float(ndtri_exp(-h))

    def H(t: float) -> float:
        return link(s_ds(math.log(t))[0]) if t > 0 else 0.0

    def H_inverse(h: float) -> float:
        if h <= 0.0:
            return 0.0
        if math.isinf(h):
            return math.inf
        target = link_inverse(h)
        s_lo, _ = s_ds(kmin)
        s_hi, slope_hi = s_ds(kmax)
        if target <= s_lo:
            x = kmin + (target - s_lo) / g[1]
        elif target >= s_hi:
            if slope_hi <= 0:
                return math.inf
            x = kmax + (target - s_hi) / slope_hi
        else:
            lo, hi, x = kmin, kmax, 0.5 * (kmin + kmax)
            for _ in range(SPLINE_STEPS):
                s, ds = s_ds(x)
                if s < target:
                    lo = x
                else:
                    hi = x
                newton = x - (s - target) / ds if ds > 0 else math.nan
                nxt = newton if lo <= newton <= hi else 0.5 * (lo + hi)
                done = abs(nxt - x) <= 1e-15 * max(1.0, abs(x)) or hi - lo <= 0
                x = nxt
                if done:
                    break
        return math.exp(x) if x < 709.0 else math.inf

    return H, H_inverse
