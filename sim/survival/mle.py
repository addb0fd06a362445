"""Maximum likelihood for right-censored data: SciPy with analytic gradients, or lifelines.

The parameter vector ``theta`` is the family's parameters on the real line (family
order; the location parameter's entry is the intercept) followed by one
coefficient per covariate column. The covariance is the inverse of the observed
information: the Hessian of the negative log-likelihood at the estimate, by central
differences of the analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import HtaError
from sim.survival import families as fam
from sim.survival import splines as spl

__all__ = ["Problem", "negloglik", "hessian", "maximise", "lifelines_fit", "has_lifelines", "LIFELINES"]

#: Families fitted with lifelines' AFT regression fitters by default (same parameterisation as flexsurv).
LIFELINES = {"weibull": ("WeibullAFTFitter", "lambda_", "rho_"),
             "lnorm": ("LogNormalAFTFitter", "mu_", "sigma_"),
             "llogis": ("LogLogisticAFTFitter", "alpha_", "beta_")}


def has_lifelines() -> bool:
    """Whether lifelines can be imported (the optional ``survival`` extra)."""
    import importlib.util

    return importlib.util.find_spec("lifelines") is not None


@dataclass(frozen=True, eq=False)
class Problem:
    """One likelihood: data, design matrix, family (and spline knots and scale)."""

    family: str
    t: np.ndarray
    d: np.ndarray
    X: np.ndarray            # (n, p) covariates, no intercept
    knots: np.ndarray | None = None
    scale: str | None = None

    @property
    def n_base(self) -> int:
        """Number of baseline parameters."""
        return len(self.knots) if self.family == "spline" else len(fam.family(self.family).parameters)

    @property
    def loc(self) -> int:
        """Index of the location parameter among the baseline parameters."""
        if self.family == "spline":
            return 0
        f = fam.family(self.family)
        return f.parameters.index(f.location)


def negloglik(theta, pb: Problem, with_grad: bool = True):
    """Negative log-likelihood (and its gradient) at ``theta``."""
    theta = np.asarray(theta, dtype=float)
    nb = pb.n_base
    base, beta = theta[:nb], theta[nb:]
    lp = pb.X @ beta if beta.size else np.zeros_like(pb.t)
    if pb.family == "spline":
        gam = np.tile(base, (pb.t.size, 1))
        gam[:, 0] += lp
        with np.errstate(all="ignore"):
            ll, g = spl.spline_loglik_terms(pb.t, pb.d, gam, pb.knots, pb.scale)
        g_base, g_loc = g.sum(axis=0), g[:, 0]
    else:
        reals = [base[j] + lp if j == pb.loc else np.full_like(pb.t, base[j]) for j in range(nb)]
        with np.errstate(all="ignore"):
            ll, gs = fam.loglik_terms(pb.family, pb.t, pb.d, reals)
        g_base = np.array([np.sum(g) for g in gs])
        g_loc = gs[pb.loc]
    total = float(np.sum(ll))
    if not np.isfinite(total):
        return (np.inf, np.zeros_like(theta)) if with_grad else np.inf
    if not with_grad:
        return -total
    grad = np.concatenate([g_base, pb.X.T @ g_loc]) if beta.size else g_base
    if not np.all(np.isfinite(grad)):
        return np.inf, np.zeros_like(theta)
    return -total, -grad


def hessian(theta, pb: Problem) -> np.ndarray:
    """Hessian of the negative log-likelihood: central differences of the gradient, symmetrised."""
    theta = np.asarray(theta, dtype=float)
    k = theta.size
    H = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(theta[j]))
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        H[:, j] = (negloglik(up, pb)[1] - negloglik(dn, pb)[1]) / (2.0 * h)
    return 0.5 * (H + H.T)


def maximise(pb: Problem, starts: list[np.ndarray]) -> tuple[np.ndarray, float, bool]:
    """Best optimum over the starting values: ``(theta, loglik, converged)``."""
    from scipy.optimize import minimize

    best = None
    for x0 in starts:
        x0 = np.asarray(x0, dtype=float)
        if not np.isfinite(negloglik(x0, pb, with_grad=False)):
            continue
        res = minimize(negloglik, x0, args=(pb,), jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
        x = res.x
        for _ in range(3):  # polish: BFGS can stop on a line-search warning close to the optimum
            g = negloglik(x, pb)[1]
            if np.max(np.abs(g)) < 1e-5:
                break
            res = minimize(negloglik, x, args=(pb,), jac=True, method="L-BFGS-B",
                           options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
            x = res.x
        val = negloglik(x, pb, with_grad=False)
        if np.isfinite(val) and (best is None or val < best[1]):
            best = (x, val)
    if best is None:
        raise HtaError(f"{pb.family} fit: the log-likelihood is not finite at any starting value; "
                       f"check the times (> 0) and events (0/1)")
    x, val = best
    converged = bool(np.max(np.abs(negloglik(x, pb)[1])) < 1e-3)
    return x, -val, converged


def lifelines_fit(pb: Problem, columns: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit a Weibull, log-normal or log-logistic AFT model with lifelines.

    Returns
    -------
    theta, covariance, loglik
        In this package's order (baseline parameters on the real line, then the
        covariate coefficients), lifelines' estimates, its inverse observed
        information and its log-likelihood.
    """
    import warnings

    import lifelines
    import pandas as pd

    cls_name, loc_name, anc_name = LIFELINES[pb.family]
    df = pd.DataFrame(pb.X, columns=columns)
    df["_t"], df["_d"] = pb.t, pb.d
    fitter = getattr(lifelines, cls_name)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter.fit(df, duration_col="_t", event_col="_d")
    f = fam.family(pb.family)
    keys = []
    for p in f.parameters:
        keys.append((loc_name if p == f.location else anc_name, "Intercept"))
    keys += [(loc_name, c) for c in columns]
    theta = np.array([fitter.params_[k] for k in keys], dtype=float)
    V = fitter.variance_matrix_.loc[keys, keys].to_numpy(dtype=float)
    return theta, V, float(fitter.log_likelihood_)
