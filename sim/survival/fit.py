"""Fitting parametric survival models to right-censored data: :func:`fit_survival`.

Covariates act on the family's location parameter, as flexsurv does by default
(``docs/survival.md``). Weibull (AFT), log-normal and log-logistic fits use
lifelines' AFT regression fitters (same parameterisation) when lifelines is installed (the ``survival`` extra), SciPy
otherwise; the exponential,
Weibull (PH), Gompertz, generalised gamma and Royston-Parmar splines are fitted
here with SciPy and analytic gradients (central differences for the generalised
gamma's incomplete gamma function).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest
from sim.survival import families as fam
from sim.survival import mle
from sim.survival import splines as spl
from sim.survival.curves import SurvivalCurve

__all__ = ["SurvivalFit", "fit_survival", "compare_fits", "survival_data"]

#: Monte Carlo coefficient draws come in blocks of this many (as parameter-table draws do).
BLOCK = 4096


def survival_data(data: pd.DataFrame, time: str, event: str,
                  covariates: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Times, events and the covariate design matrix, checked.

    Numeric and boolean covariates enter as they are; text or categorical columns
    become indicators of each level but the first (sorted, or the categories'
    order), named ``column[level]``.

    Returns
    -------
    t, d : ndarray, shape (n,)
    X : ndarray, shape (n, p)
    columns : list of str
        Names of the ``p`` columns of ``X``.
    """
    if not isinstance(data, pd.DataFrame):
        raise HtaError(f"survival data must be a pandas DataFrame, got {type(data).__name__}")
    for col in (time, event, *covariates):
        if col not in data.columns:
            raise HtaError(f"survival data has no column {col!r}{suggest(col, data.columns)}")
    t = pd.to_numeric(data[time], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(t) | (t <= 0))
    if bad.size:
        raise HtaError(f"survival data column {time!r}: times must be finite numbers > 0; "
                       f"row {bad[0]} has {data[time].iloc[bad[0]]!r} ({bad.size} such rows)")
    d = pd.to_numeric(data[event], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isin(d, (0.0, 1.0)))
    if bad.size:
        raise HtaError(f"survival data column {event!r}: events must be 1 (event) or 0 (censored); "
                       f"row {bad[0]} has {data[event].iloc[bad[0]]!r} ({bad.size} such rows)")
    if d.sum() == 0:
        raise HtaError(f"survival data column {event!r} has no events: nothing to fit")
    cols, names = [], []
    for c in covariates:
        s = data[c]
        if s.isna().any():
            raise HtaError(f"survival data covariate {c!r} has missing values in row {int(np.argmax(s.isna()))}")
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            cols.append(s.to_numpy(dtype=float))
            names.append(c)
        else:
            levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.unique())
            for lev in levels[1:]:
                cols.append((s == lev).to_numpy(dtype=float))
                names.append(f"{c}[{lev}]")
    X = np.column_stack(cols) if cols else np.empty((t.size, 0))
    return t, d, X, names


@dataclass(frozen=True, eq=False)
class SurvivalFit:
    """A maximum-likelihood fit of a parametric survival model (frozen).

    Attributes
    ----------
    family : str
        Family name (``"spline"`` for Royston-Parmar).
    label : str
        Readable model name (``"Weibull (AFT)"``, ``"Spline (odds, k=1)"``).
    names : tuple of str
        Coefficient names on the estimation scale: baseline parameters
        (``log(shape)``, ``mu``, ``gamma0`` ...) then covariate columns.
    estimates : ndarray, shape (k,)
        Maximum-likelihood estimates on the estimation (real-line) scale.
    covariance : ndarray, shape (k, k)
        Inverse observed information on the same scale.
    loglik : float
        Maximised log-likelihood (flexsurv's: ``sum d log f + (1 - d) log S``).
    n, events : int
        Observations and events.
    covariates : tuple of str
        Design-matrix columns (covariates on the location parameter).
    engine : str
        ``"lifelines"`` or ``"scipy"``.
    knots, scale : spline knots (log time, boundary knots included) and scale.
    converged : bool
        Whether the optimiser ended with a gradient near zero.
    data_columns : tuple of str
        The data's time and event columns, then the covariate columns given
        (for :meth:`bootstrap_draws`).
    """

    family: str
    label: str
    names: tuple[str, ...]
    estimates: np.ndarray
    covariance: np.ndarray
    loglik: float
    n: int
    events: int
    covariates: tuple[str, ...] = ()
    engine: str = "scipy"
    knots: tuple[float, ...] | None = None
    scale: str | None = None
    converged: bool = True
    data_columns: tuple[str, ...] = ()

    @property
    def n_parameters(self) -> int:
        """Number of estimated parameters."""
        return len(self.names)

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``-2 loglik + 2 k``."""
        return -2.0 * self.loglik + 2.0 * self.n_parameters

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``-2 loglik + k log n``."""
        return -2.0 * self.loglik + self.n_parameters * float(np.log(self.n))

    @property
    def n_base(self) -> int:
        """Number of baseline parameters."""
        return len(self.names) - len(self.covariates)

    @property
    def parameters(self) -> tuple[str, ...]:
        """Natural (baseline) parameter names."""
        if self.family == "spline":
            return self.names[:self.n_base]
        return fam.family(self.family).parameters

    def coefficients(self, level: float = 0.95) -> pd.DataFrame:
        """Estimates on the estimation scale with standard errors and Wald intervals.

        Returns
        -------
        DataFrame
            Index: coefficient names; columns ``est, se, lower, upper``.
        """
        from scipy.stats import norm

        se = np.sqrt(np.diag(self.covariance))
        z = norm.ppf(0.5 + level / 2.0)
        return pd.DataFrame({"est": self.estimates, "se": se, "lower": self.estimates - z * se,
                             "upper": self.estimates + z * se}, index=list(self.names))

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """The table flexsurv prints: baseline parameters on their natural scale.

        Covariate effects stay on the estimation scale (log time ratio or log hazard ratio).

        Returns
        -------
        DataFrame
            Index: parameter names; columns ``est, lower, upper, se`` (natural-scale
            standard errors by the delta method, as flexsurv prints).
        """
        c = self.coefficients(level)
        transforms = ("identity",) * self.n_base if self.family == "spline" else fam.family(self.family).transforms
        rows = {}
        for j, name in enumerate(self.parameters):
            r = c.iloc[j]
            if transforms[j] == "log":
                e = np.exp(r["est"])
                rows[name] = (e, np.exp(r["lower"]), np.exp(r["upper"]), e * r["se"])
            else:
                rows[name] = (r["est"], r["lower"], r["upper"], r["se"])
        for name in self.covariates:
            r = c.loc[name]
            rows[name] = (r["est"], r["lower"], r["upper"], r["se"])
        return pd.DataFrame.from_dict(rows, orient="index", columns=["est", "lower", "upper", "se"])

    def _x(self, covariates: Mapping[str, float] | None) -> np.ndarray:
        covariates = dict(covariates or {})
        unknown = [k for k in covariates if k not in self.covariates]
        if unknown:
            raise HtaError(f"{self.label} fit has no covariate {unknown[0]!r}{suggest(unknown[0], self.covariates)}; "
                           f"its covariates are {', '.join(self.covariates) or 'none'}")
        return np.array([float(covariates.get(c, 0.0)) for c in self.covariates])

    def _curve(self, theta: np.ndarray, x: np.ndarray, label: str) -> SurvivalCurve:
        base = theta[..., :self.n_base].copy()
        loc = 0 if self.family == "spline" else fam.family(self.family).parameters.index(
            fam.family(self.family).location)
        if x.size:
            base[..., loc] = base[..., loc] + theta[..., self.n_base:] @ x
        if self.family == "spline":
            params = {f"gamma{j}": base[..., j] for j in range(self.n_base)}
            return SurvivalCurve("spline", params, knots=self.knots, scale=self.scale, label=label)
        f = fam.family(self.family)
        nat = f.to_natural(base)
        return SurvivalCurve(f.name, dict(zip(f.parameters, nat, strict=True)), label=label)

    def curve(self, covariates: Mapping[str, float] | None = None, **values: float) -> SurvivalCurve:
        """The fitted curve at covariate values (default 0: the reference group).

        Parameters
        ----------
        covariates : mapping, optional
            Design-matrix column -> value (``{"arm": 1}``); keywords work too.
        """
        x = self._x({**(covariates or {}), **values})
        tag = ", ".join(f"{c}={v:g}" for c, v in zip(self.covariates, x, strict=True) if v)
        return self._curve(np.asarray(self.estimates), x, f"{self.label}" + (f" ({tag})" if tag else ""))

    def coefficient_draws(self, n: int, seed: int, lo: int = 0, stream: int = 0) -> np.ndarray:
        """Draws ``lo .. lo + n - 1`` of the coefficients from their multivariate normal.

        Same reproducibility rule as the parameter table's Monte Carlo draws: draw
        ``i`` is row ``i % BLOCK`` of block ``i // BLOCK``, whose standard normals
        come from ``SeedSequence(seed, spawn_key=(block, stream))``; so draw ``i``
        depends only on ``(seed, stream, i)``, never on chunking. Use a different
        ``stream`` for each fitted curve of a model.

        Returns
        -------
        ndarray, shape (n, k)
            ``estimates + L z`` with ``L`` the Cholesky factor of the covariance.
        """
        for what, v in (("seed", seed), ("stream", stream), ("lo", lo), ("n", n)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise HtaError(f"coefficient_draws: {what} {v!r} must be a whole number >= 0")
        k = self.n_parameters
        try:
            L = np.linalg.cholesky(self.covariance)
        except np.linalg.LinAlgError:
            raise HtaError(f"{self.label} fit: covariance matrix is not positive definite; "
                           f"cannot draw coefficients") from None
        hi = lo + n
        z = np.empty((n, k))
        for b in range(lo // BLOCK, -(-hi // BLOCK)):
            gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(b, stream))))
            block = gen.standard_normal((BLOCK, k))
            a, e = max(lo, b * BLOCK), min(hi, (b + 1) * BLOCK)
            z[a - lo:e - lo] = block[a - b * BLOCK:e - b * BLOCK]
        return np.asarray(self.estimates) + z @ L.T

    def bootstrap_draws(self, data: pd.DataFrame, n: int, seed: int, lo: int = 0, stream: int = 0) -> np.ndarray:
        """Draws ``lo .. lo + n - 1`` of the coefficients by the nonparametric bootstrap.

        Each draw refits the model to the patients of ``data`` resampled with
        replacement; draw ``i`` depends only on ``(seed, stream, i)``
        (:func:`sim.survival.bootstrap.bootstrap_coefficients`).

        Returns
        -------
        ndarray, shape (n, k)
            Refitted coefficients on the estimation scale, in :attr:`names` order.
        """
        from sim.survival.bootstrap import bootstrap_coefficients

        return bootstrap_coefficients(self, data, n, seed, lo=lo, stream=stream)

    def curve_draws(self, n: int, seed: int, covariates: Mapping[str, float] | None = None,
                    lo: int = 0, stream: int = 0) -> SurvivalCurve:
        """``n`` curves from :meth:`coefficient_draws` at covariate values (PSA)."""
        x = self._x(covariates)
        return self._curve(self.coefficient_draws(n, seed, lo=lo, stream=stream), x, self.label)

    def __repr__(self) -> str:
        head = (f"SurvivalFit({self.label}: n={self.n}, events={self.events}, loglik={self.loglik:.4f}, "
                f"AIC={self.aic:.2f}, BIC={self.bic:.2f}, engine={self.engine}"
                + ("" if self.converged else ", NOT CONVERGED") + ")")
        return head + "\n" + self.summary().to_string(float_format=lambda v: f"{v:.5g}")


def _label(family: str, scale: str | None, k: int | None) -> str:
    if family == "spline":
        return f"Spline ({scale}, k={k})"
    return fam.family(family).label


def starting_values(pb: mle.Problem, columns, t, d) -> list[np.ndarray]:
    """Starting values of a likelihood: simple moments, or the fit of a reduced family."""
    p = pb.X.shape[1]
    lt = np.log(t)
    rate = d.sum() / t.sum()
    m, s = float(np.mean(lt)), float(np.std(lt) + 0.1)
    zero = np.zeros(p)
    name = pb.family
    if name == "exp":
        return [np.r_[np.log(rate), zero]]
    if name in ("weibull", "llogis"):
        return [np.r_[0.0, -np.log(rate), zero], np.r_[np.log(1.0 / s), m, zero]]
    if name == "weibullph":
        return [np.r_[0.0, np.log(rate), zero]]
    if name == "gompertz":
        return [np.r_[0.0, np.log(rate), zero], np.r_[1.0 / t.max(), np.log(rate / 2), zero],
                np.r_[-1.0 / t.max(), np.log(rate * 2), zero]]
    if name == "lnorm":
        return [np.r_[m, np.log(s), zero]]
    if name == "gengamma":
        w = _fit(mle.Problem("weibull", t, d, pb.X), columns, "scipy")
        ln = _fit(mle.Problem("lnorm", t, d, pb.X), columns, "scipy")
        (lsh, lsc), bw = w[0][:2], w[0][2:]
        return [np.r_[lsc, -lsh, 1.0, bw], np.r_[ln[0][0], ln[0][1], 0.2, ln[0][2:]],
                np.r_[ln[0][0], ln[0][1], -0.2, ln[0][2:]]]
    # splines: from the k = 0 model of the same scale
    nb = pb.n_base
    if pb.scale == "hazard":
        th = _fit(mle.Problem("weibullph", t, d, pb.X), columns, "scipy")[0]
        g0, g1, beta = th[1], np.exp(th[0]), th[2:]
    elif pb.scale == "odds":
        th = _fit(mle.Problem("llogis", t, d, pb.X), columns, "scipy")[0]
        a = np.exp(th[0])
        g0, g1, beta = -a * th[1], a, -a * th[2:]
    else:
        th = _fit(mle.Problem("lnorm", t, d, pb.X), columns, "scipy")[0]
        sd = np.exp(th[1])
        g0, g1, beta = -th[0] / sd, 1.0 / sd, -th[2:] / sd
    return [np.r_[g0, g1, np.zeros(nb - 2), beta]]


def _inverse(H: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full_like(H, np.nan)


def _fit(pb: mle.Problem, columns, engine: str):
    """theta, covariance, loglik, converged, engine used."""
    if engine == "lifelines":
        theta, V, ll = mle.lifelines_fit(pb, columns)
        # lifelines stops at its own tolerance; a few quasi-Newton steps with the analytic
        # gradient take the estimate to full precision (and the covariance with it)
        polished, pll, ok = mle.maximise(pb, [theta])
        if pll - ll < 1e-9:
            return theta, V, ll, True, "lifelines"
        return polished, _inverse(mle.hessian(polished, pb)), pll, ok, "lifelines+scipy"
    theta, ll, ok = mle.maximise(pb, starting_values(pb, columns, pb.t, pb.d))
    V = _inverse(mle.hessian(theta, pb))
    if not np.all(np.isfinite(V)) or np.any(np.diag(V) <= 0):
        ok = False
    return theta, V, ll, ok, "scipy"


def fit_survival(data: pd.DataFrame, family: str, *, time: str = "time", event: str = "event",
                 covariates: Sequence[str] = (), k: int = 0, knots: Sequence[float] | None = None,
                 scale: str = "hazard", engine: str = "auto") -> SurvivalFit:
    """Fit a parametric survival model by maximum likelihood (right censoring).

    Parameters
    ----------
    data : DataFrame
        One row per patient.
    family : str
        ``"exp"``, ``"weibull"`` (AFT, flexsurv's ``weibull``), ``"weibullph"``,
        ``"gompertz"``, ``"lnorm"``, ``"llogis"``, ``"gengamma"`` or ``"spline"``.
    time, event : str
        Columns of times (> 0) and event indicators (1 event, 0 censored).
    covariates : sequence of str
        Columns acting on the location parameter (e.g. a treatment-arm indicator);
        text columns become level indicators ``column[level]``.
    k : int
        Splines: number of internal knots, at quantiles of the log event times.
    knots : sequence of float, optional
        Splines: internal knots on the log-time scale (boundary knots stay at the
        extreme log event times); overrides ``k``.
    scale : str
        Splines: ``"hazard"``, ``"odds"`` or ``"normal"``.
    engine : str
        ``"auto"`` (lifelines for Weibull AFT, log-normal, log-logistic when it is
        installed; SciPy otherwise), ``"lifelines"`` or ``"scipy"``.

    Returns
    -------
    SurvivalFit
    """
    t, d, X, columns = survival_data(data, time, event, covariates)
    kn = None
    if family == "spline":
        spl.check_scale(scale)
        kn = spl.default_knots(t, d, k)
        if knots is not None:
            inner = np.sort(np.asarray(knots, dtype=float))
            if inner.size and (inner.min() <= kn[0] or inner.max() >= kn[-1]):
                raise HtaError(f"spline knots {list(inner)} must lie strictly between the boundary knots "
                               f"{kn[0]:.6g} and {kn[-1]:.6g} (log event times)")
            kn = np.concatenate([[kn[0]], inner, [kn[-1]]])
        name = "spline"
    else:
        name = fam.family(family).name
    if engine not in ("auto", "lifelines", "scipy"):
        raise HtaError(f"engine {engine!r} must be 'auto', 'lifelines' or 'scipy'")
    if engine == "lifelines" and name not in mle.LIFELINES:
        raise HtaError(f"lifelines does not fit the {name!r} family in flexsurv's parameterisation; "
                       f"use engine='scipy' (lifelines fits: {', '.join(mle.LIFELINES)})")
    if engine == "lifelines" and not mle.has_lifelines():
        raise HtaError("engine='lifelines' needs the lifelines package: pip install 'hta-sim[survival]' "
                       "(or use engine='scipy')")
    use = ("lifelines" if engine == "lifelines" or (engine == "auto" and name in mle.LIFELINES
                                                    and mle.has_lifelines()) else "scipy")
    pb = mle.Problem(name, t, d, X, kn, scale if name == "spline" else None)
    theta, V, ll, ok, used = _fit(pb, columns, use)
    base = (tuple(f"gamma{j}" for j in range(len(kn))) if name == "spline" else fam.family(name).real_names())
    for a in (theta, V):
        a.flags.writeable = False
    return SurvivalFit(name, _label(name, pb.scale, None if kn is None else len(kn) - 2), base + tuple(columns),
                       theta, V, float(ll), int(t.size), int(d.sum()), tuple(columns), used,
                       None if kn is None else tuple(float(v) for v in kn), pb.scale, ok,
                       (time, event, *covariates))


def compare_fits(fits: Sequence[SurvivalFit] | Mapping[str, SurvivalFit]) -> pd.DataFrame:
    """A comparison table of fits to the same data.

    Returns
    -------
    DataFrame
        One row per fit, in the order given: ``model, family, parameters, loglik,
        aic, bic, delta_aic, delta_bic`` (differences from the smallest).
    """
    items = list(fits.items()) if isinstance(fits, Mapping) else [(f.label, f) for f in fits]
    if not items:
        raise HtaError("compare_fits needs at least one fit")
    sizes = {(f.n, f.events) for _, f in items}
    if len(sizes) > 1:
        raise HtaError(f"compare_fits: the fits are to different data (n, events): {sorted(sizes)}")
    df = pd.DataFrame({"model": [k for k, _ in items], "family": [f.family for _, f in items],
                       "parameters": [f.n_parameters for _, f in items], "loglik": [f.loglik for _, f in items],
                       "aic": [f.aic for _, f in items], "bic": [f.bic for _, f in items]})
    df["delta_aic"] = df["aic"] - df["aic"].min()
    df["delta_bic"] = df["bic"] - df["bic"].min()
    return df
