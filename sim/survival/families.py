"""Parametric survival families in flexsurv's parameterisations (``docs/survival.md``).

Every family is a set of vectorised functions of time ``t`` and its natural
parameters: the log hazard, the cumulative hazard ``H``, the quantile, and the
per-observation log-likelihood of right-censored data with its derivatives on the
estimation (real-line) scale. Survival is ``exp(-H)`` and the density
``exp(log h - H)``: both are computed from these in :mod:`sim.survival.curves`.

Parameters broadcast against each other and against ``t`` (see
:func:`sim.survival.curves.SurvivalCurve`). Royston-Parmar splines live in
:mod:`sim.survival.splines`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import HtaError, suggest

__all__ = ["Family", "FAMILIES", "family", "log_hazard", "cumhaz", "quantile", "loglik_terms"]

_LOG2PI = float(np.log(2.0 * np.pi))
#: |Q| below this: the generalised gamma is evaluated as its log-normal limit (Q -> 0).
GENGAMMA_Q0 = 1e-5


@dataclass(frozen=True)
class Family:
    """A parametric family: its parameters, in flexsurv's order, and their scales.

    Attributes
    ----------
    name : str
        The family's name (flexsurv's ``dist``): ``"exp"``, ``"weibull"``,
        ``"weibullph"``, ``"gompertz"``, ``"lnorm"``, ``"llogis"``,
        ``"gengamma"``, ``"spline"``.
    label : str
        A readable name for tables and figures.
    parameters : tuple of str
        Natural parameters in flexsurv's order.
    location : str
        The parameter that carries covariates (flexsurv's location parameter).
    transforms : tuple of str
        ``"log"`` or ``"identity"``: how each parameter maps to the real line,
        the scale of estimation, covariance and PSA draws.
    effect : str
        What a covariate coefficient means: ``"log time ratio"`` (accelerated
        failure time), ``"log hazard ratio"`` (proportional hazards), or, for
        other families, the scale it acts on.
    """

    name: str
    label: str
    parameters: tuple[str, ...]
    location: str
    transforms: tuple[str, ...]
    effect: str

    def real_names(self) -> tuple[str, ...]:
        """Names of the parameters on the estimation scale (``log(shape)``, ``mu``, ...)."""
        return tuple(f"log({p})" if tr == "log" else p for p, tr in zip(self.parameters, self.transforms, strict=True))

    def to_natural(self, real) -> list[np.ndarray]:
        """Real-line values (last axis, family order) -> natural parameter arrays."""
        real = np.asarray(real, dtype=float)
        return [np.exp(real[..., i]) if tr == "log" else real[..., i] for i, tr in enumerate(self.transforms)]

    def to_real(self, natural) -> np.ndarray:
        """Natural parameter values (family order) -> real-line values."""
        out = []
        for v, p, tr in zip(natural, self.parameters, self.transforms, strict=True):
            v = np.asarray(v, dtype=float)
            if tr == "log" and np.any(v <= 0):
                raise HtaError(f"{self.label}: parameter {p!r} must be > 0, got {v}")
            out.append(np.log(v) if tr == "log" else v)
        return np.stack(np.broadcast_arrays(*out), axis=-1)


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("exp", "Exponential", ("rate",), "rate", ("log",), "log hazard ratio"),
    Family("weibull", "Weibull (AFT)", ("shape", "scale"), "scale", ("log", "log"), "log time ratio"),
    Family("weibullph", "Weibull (PH)", ("shape", "scale"), "scale", ("log", "log"), "log hazard ratio"),
    Family("gompertz", "Gompertz", ("shape", "rate"), "rate", ("identity", "log"), "log hazard ratio"),
    Family("lnorm", "Log-normal", ("meanlog", "sdlog"), "meanlog", ("identity", "log"), "log time ratio"),
    Family("llogis", "Log-logistic", ("shape", "scale"), "scale", ("log", "log"), "log time ratio"),
    Family("gengamma", "Generalised gamma", ("mu", "sigma", "Q"), "mu", ("identity", "log", "identity"),
           "log time ratio"),
)}
_ALIASES = {"exponential": "exp", "lognormal": "lnorm", "loglogistic": "llogis", "weibull.aft": "weibull",
            "weibull_ph": "weibullph", "weibullPH": "weibullph", "gamma_generalised": "gengamma"}


def family(name: str) -> Family:
    """The family called ``name`` (flexsurv's names and a few aliases); splines are not here."""
    key = _ALIASES.get(name, name)
    if key not in FAMILIES:
        raise HtaError(f"unknown survival family {name!r}{suggest(name, list(FAMILIES) + ['spline'])}; "
                       f"choose one of {', '.join(list(FAMILIES) + ['spline'])}")
    return FAMILIES[key]


# ---------------------------------------------------------------------------- helpers
def _expm1_over(a, t):
    """``expm1(a t) / a``, continuous at ``a = 0`` (= t)."""
    at = a * t
    small = np.abs(at) < 1e-8
    safe = np.where(small, 1.0, a)
    return np.where(small, t * (1.0 + 0.5 * at), np.expm1(at) / safe)


def _d_expm1_over(a, t):
    """Derivative of ``expm1(a t)/a`` with respect to ``a``, continuous at ``a = 0``."""
    at = a * t
    small = np.abs(at) < 1e-4
    safe = np.where(small, 1.0, a)
    series = t * t * (0.5 + at / 3.0 + at * at / 8.0)
    exact = (at * np.exp(at) - np.expm1(at)) / (safe * safe)
    return np.where(small, series, exact)


def _softplus(z):
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    return np.exp(-_softplus(-z))


def _mills(z):
    """phi(z) / Phi(-z) (inverse Mills ratio), stable in both tails."""
    from scipy.special import log_ndtr

    return np.exp(-0.5 * z * z - 0.5 * _LOG2PI - log_ndtr(-z))


def _logt(t):
    with np.errstate(divide="ignore"):
        return np.log(t)


# ---------------------------------------------------------------------------- log hazard, H, quantile
def log_hazard(name: str, t, *p):
    """Log hazard at times ``t`` (natural parameters ``p`` in family order)."""
    lt = _logt(t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if name == "exp":
            (r,) = p
            return np.log(r) + 0.0 * lt
        if name == "weibull":
            a, b = p
            return np.log(a) - np.log(b) + (a - 1.0) * (lt - np.log(b))
        if name == "weibullph":
            a, m = p
            return np.log(m) + np.log(a) + (a - 1.0) * lt
        if name == "gompertz":
            a, b = p
            return np.log(b) + a * t
        if name == "lnorm":
            from scipy.special import log_ndtr

            mu, s = p
            z = (lt - mu) / s
            return -lt - np.log(s) - 0.5 * z * z - 0.5 * _LOG2PI - log_ndtr(-z)
        if name == "llogis":
            a, b = p
            z = a * (lt - np.log(b))
            return np.log(a) - lt - _softplus(-z)
        if name == "gengamma":
            return _gengamma_logf(t, *p) + _gengamma_H(t, *p)
    raise HtaError(f"unknown survival family {name!r}")


def cumhaz(name: str, t, *p):
    """Cumulative hazard ``H(t)`` (``0`` at ``t = 0``)."""
    t = np.asarray(t, dtype=float)
    lt = _logt(t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if name == "exp":
            (r,) = p
            return r * t
        if name == "weibull":
            a, b = p
            return np.exp(a * (lt - np.log(b)))
        if name == "weibullph":
            a, m = p
            return m * np.exp(a * lt)
        if name == "gompertz":
            a, b = p
            return b * _expm1_over(a, t)
        if name == "lnorm":
            from scipy.special import log_ndtr

            mu, s = p
            return -log_ndtr(-(lt - mu) / s)
        if name == "llogis":
            a, b = p
            return _softplus(a * (lt - np.log(b)))
        if name == "gengamma":
            return _gengamma_H(t, *p)
    raise HtaError(f"unknown survival family {name!r}")


def quantile(name: str, q, *p):
    """Time ``t`` with ``F(t) = q`` (``q`` in [0, 1); ``inf`` where the curve never reaches ``1 - q``)."""
    q = np.asarray(q, dtype=float)
    e = -np.log1p(-q)  # cumulative hazard at the quantile
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if name == "exp":
            (r,) = p
            return e / r
        if name == "weibull":
            a, b = p
            return b * e ** (1.0 / a)
        if name == "weibullph":
            a, m = p
            return (e / m) ** (1.0 / a)
        if name == "gompertz":
            a, b = p
            arg = a * e / b
            small = np.abs(arg) < 1e-10
            safe_a = np.where(small, 1.0, a)
            t = np.where(small, e / b * (1.0 - 0.5 * arg), np.log1p(np.maximum(arg, -1.0)) / safe_a)
            return np.where(arg <= -1.0, np.inf, t)
        if name == "lnorm":
            from scipy.special import ndtri

            mu, s = p
            return np.exp(mu + s * ndtri(q))
        if name == "llogis":
            a, b = p
            return b * np.exp((np.log(q) - np.log1p(-q)) / a)
        if name == "gengamma":
            return _gengamma_quantile(q, *p)
    raise HtaError(f"unknown survival family {name!r}")


# ---------------------------------------------------------------------------- generalised gamma (Prentice 1974)
def _gengamma_parts(t, mu, sigma, Q):
    lt = _logt(t)
    w = (lt - mu) / sigma
    zero = np.abs(Q) < GENGAMMA_Q0
    qs = np.where(zero, 1.0, Q)
    g = 1.0 / (qs * qs)
    return lt, w, zero, qs, g


def _gengamma_logf(t, mu, sigma, Q):
    from scipy.special import gammaln

    lt, w, zero, qs, g = _gengamma_parts(t, mu, sigma, Q)
    with np.errstate(over="ignore", invalid="ignore"):
        gg = np.log(np.abs(qs)) + g * np.log(g) - gammaln(g) - np.log(sigma) - lt + g * (qs * w - np.exp(qs * w))
    ln = -lt - np.log(sigma) - 0.5 * w * w - 0.5 * _LOG2PI
    return np.where(zero, ln, gg)


def _gengamma_H(t, mu, sigma, Q):
    from scipy.special import gammainc, gammaincc, log_ndtr

    lt, w, zero, qs, g = _gengamma_parts(t, mu, sigma, Q)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        u = g * np.exp(qs * w)
        s = np.where(qs > 0, gammaincc(g, u), gammainc(g, u))
        f = np.where(qs > 0, gammainc(g, u), gammaincc(g, u))  # 1 - S, exact where S is near 1
        gg = np.where(f < 0.5, -np.log1p(-f), -np.log(s))
    return np.where(zero, -log_ndtr(-w), gg)


def _gengamma_quantile(q, mu, sigma, Q):
    from scipy.special import gammaincinv, ndtri

    zero = np.abs(Q) < GENGAMMA_Q0
    qs = np.where(zero, 1.0, Q)
    g = 1.0 / (qs * qs)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u = gammaincinv(g, np.where(qs > 0, q, 1.0 - q))
        w = np.log(u / g) / qs
    return np.exp(mu + sigma * np.where(zero, ndtri(q), w))


# ---------------------------------------------------------------------------- log-likelihood and gradient
def loglik_terms(name: str, t, d, real):
    """Per-observation log-likelihood of right-censored data and its gradient.

    Parameters
    ----------
    name : str
        Family name (not ``"spline"``).
    t, d : ndarray, shape (n,)
        Times (> 0) and event indicators (1 event, 0 censored).
    real : list of ndarray
        The parameters on the real line (family order), each broadcastable to (n,).

    Returns
    -------
    ll : ndarray, shape (n,)
        ``d log h(t) - H(t)`` (= ``d log f + (1 - d) log S``, flexsurv's log-likelihood).
    grad : list of ndarray, shape (n,) each
        ``d ll / d real[k]``. The generalised gamma's are central differences of
        ``ll`` (the derivative of the incomplete gamma function in its shape has
        no closed form in SciPy); the others are analytic.
    """
    lt = np.log(t)
    if name == "gengamma":
        return _gengamma_terms(t, d, real)
    if name == "exp":
        (v,) = real
        r = np.exp(v)
        return d * v - r * t, [d - r * t]
    if name in ("weibull", "weibullph", "llogis"):
        u, v = real
        a = np.exp(u)
        if name == "weibullph":
            H = np.exp(v + a * lt)
            return d * (v + u + (a - 1.0) * lt) - H, [d * (1.0 + a * lt) - H * a * lt, d - H]
        z = a * (lt - v)
        if name == "weibull":
            H = np.exp(z)
            return d * (u + z - lt) - H, [d * (1.0 + z) - H * z, a * (H - d)]
        p = _sigmoid(z)
        ll = d * (u - lt + z - _softplus(z)) - _softplus(z)
        return ll, [d * (1.0 + z * (1.0 - p)) - z * p, -a * (d * (1.0 - p) - p)]
    if name == "gompertz":
        a, v = real
        b = np.exp(v)
        H = b * _expm1_over(a, t)
        return d * (v + a * t) - H, [d * t - b * _d_expm1_over(a, t), d - H]
    if name == "lnorm":
        from scipy.special import log_ndtr

        mu, ls = real
        s = np.exp(ls)
        z = (lt - mu) / s
        logf = -lt - ls - 0.5 * z * z - 0.5 * _LOG2PI
        logS = log_ndtr(-z)
        m = _mills(z)
        ll = d * logf + (1.0 - d) * logS
        return ll, [(d * z + (1.0 - d) * m) / s, d * (z * z - 1.0) + (1.0 - d) * m * z]
    raise HtaError(f"unknown survival family {name!r}")


def _gengamma_ll(t, d, mu, ls, Q):
    sigma = np.exp(ls)
    logf = _gengamma_logf(t, mu, sigma, Q)
    H = _gengamma_H(t, mu, sigma, Q)
    return d * (logf + H) - H


def _gengamma_terms(t, d, real):
    base = [np.broadcast_to(np.asarray(r, dtype=float), np.shape(t)) for r in real]
    ll = _gengamma_ll(t, d, *base)
    grads = []
    for k in range(3):
        h = 1e-6 * np.maximum(1.0, np.abs(base[k]))
        if k == 2:  # keep both sides of Q on the same branch of the Q -> 0 switch
            h = np.where(np.abs(base[k]) < GENGAMMA_Q0 + 2e-6, 1e-6, h)
        up = list(base)
        dn = list(base)
        up[k] = base[k] + h
        dn[k] = base[k] - h
        grads.append((_gengamma_ll(t, d, *up) - _gengamma_ll(t, d, *dn)) / (2.0 * h))
    return ll, grads
