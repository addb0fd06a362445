"""Value of information: EVPI (per person and for a population) and EVPPI.

Formulas and estimators: ``docs/voi.md``.  Works on arrays (or outcomes tables
pivoted with :func:`sim.decision.outcome_matrix`); knows no engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg as _la
from scipy import optimize as _opt
from scipy.interpolate import BSpline as _BSpline

from sim.decision.core import _ce_arrays, _wtp, net_benefit
from sim.errors import HtaError
from sim.errors import suggest as _suggest

__all__ = ["evpi_nb", "evpi", "population_factor", "population_evpi",
           "evppi", "evppi_nb", "evppi_psa", "EVPPI_METHODS"]


def evpi_nb(nb) -> float:
    """EVPI from net benefits of shape ``(n_draws, n_strategies)``:
    ``E[max_s NB_s] - max_s E[NB_s]``.
    """
    a = np.asarray(nb, dtype=float)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise HtaError(f"net benefits must have shape (n_draws, n_strategies), got {a.shape}")
    if not np.isfinite(a).all():
        raise HtaError("net benefits must be finite")
    # EVPI = min_s E[max_j NB_j - NB_s] (the smallest expected loss): never negative, and
    # exactly 0 when one strategy is optimal in every draw, whatever the rounding of means
    loss = (a.max(axis=1, keepdims=True) - a).mean(axis=0)
    return float(loss.min())


def evpi(costs, effects, wtp) -> pd.DataFrame:
    """Per-person EVPI at each willingness to pay.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0).

    Returns
    -------
    DataFrame
        Columns ``wtp, evpi``.
    """
    c, e, _ = _ce_arrays(costs, effects)
    w = _wtp(wtp)
    nb = net_benefit(c, e, w)
    return pd.DataFrame({"wtp": w, "evpi": [evpi_nb(nb[i]) for i in range(len(w))]})


def population_factor(incidence: float, years: float, discount: float = 0.0) -> float:
    """Discounted number of people affected by the decision.

    ``sum_{t=0}^{years-1} incidence / (1 + discount)^t``: ``incidence`` new
    patients a year, each cohort counted at the start of its year, over a decision
    horizon of ``years`` whole years.
    """
    if not (np.isfinite(incidence) and incidence >= 0):
        raise HtaError(f"incidence {incidence!r} must be a number >= 0 (patients a year)")
    if not (float(years) == int(years) and years >= 1):
        raise HtaError(f"decision horizon {years!r} must be a whole number of years >= 1")
    if not (np.isfinite(discount) and discount >= 0):
        raise HtaError(f"discount rate {discount!r} must be >= 0")
    t = np.arange(int(years))
    return float(np.sum(incidence / (1.0 + discount) ** t))


def population_evpi(costs, effects, wtp, *, incidence: float, years: float, discount: float = 0.0) -> pd.DataFrame:
    """Population EVPI: per-person EVPI times :func:`population_factor`.

    Returns
    -------
    DataFrame
        Columns ``wtp, evpi, population_evpi``.
    """
    out = evpi(costs, effects, wtp)
    out["population_evpi"] = out["evpi"] * population_factor(incidence, years, discount)
    return out


# ============================================================================ EVPPI
# Expected value of partial perfect information by the regression-metamodel method
# of Strong, Oakley & Brennan (2014): regress the incremental net benefit of each
# strategy (against a reference) on the parameters of interest, then
#     EVPPI = mean_draws max_s g_s - max_s mean_draws g_s      (g_ref = 0).
# Two smoothers, both written here on numpy/scipy: a penalised regression spline
# (GAM, smoothing parameters by REML) and a Gaussian process (ARD squared
# exponential kernel, linear mean, hyperparameters by restricted maximum
# likelihood).  Formulas and advice: docs/voi.md.

#: Estimators of :func:`evppi`.
EVPPI_METHODS = ("gam", "gp")
#: Fewest draws :func:`evppi` accepts.
EVPPI_MIN_DRAWS = 100
#: Default seed of the posterior samples behind the standard error (and of the GP subsample).
EVPPI_SEED = 20140311
#: Basis functions of the GAM: cubic B-splines per parameter (main effects) ...
GAM_K_MAIN = 12
#: ... and per margin of a pairwise tensor-product interaction, by group size.
GAM_K_INT = {2: 7, 3: 6, 4: 5}
_GAM_K_INT_LARGE = 4
_GP_HYPER_SUBSET = 500  # hyperparameters searched (with restarts) on this many points first
_SAMPLE_CHUNK = 100     # posterior samples evaluated at once ...
_SAMPLE_BUDGET = 10_000_000  # ... and at most this many fitted values at once (80 MB)


# ---------------------------------------------------------------------------- public API
def evppi_nb(nb, X, method: str = "gam", *, n_sim: int = 500, seed: int = EVPPI_SEED,
             n_max: int = 1500, k: int | None = None, restarts: int = 2) -> tuple[float, float]:
    """EVPPI of the inputs ``X`` from a net-benefit matrix, with its standard error.

    Parameters
    ----------
    nb : array_like, shape (n_draws, n_strategies)
        Net benefit of each strategy in each draw (one willingness to pay).
    X : array_like, shape (n_draws,) or (n_draws, p)
        Draws of the parameters of interest (one group), row ``i`` from the same
        draw as row ``i`` of ``nb``.
    method : {"gam", "gp"}
        ``"gam"``: penalised regression splines (main effects plus pairwise
        tensor-product interactions), smoothing parameters by REML.  ``"gp"``:
        Gaussian process with a squared-exponential ARD kernel, linear mean and
        noise, hyperparameters by restricted maximum likelihood, fitted on at most
        ``n_max`` draws.
    n_sim : int
        Samples from the approximate posterior of the fitted values behind the
        standard error (0: no standard error, ``se`` is NaN).
    seed : int
        Seed of those samples and of the GP's fitting subsample; the result is a
        deterministic function of the inputs and ``seed`` (no global seeding).
    n_max : int
        GP only: most draws used to fit (a random subsample fixed by ``seed``);
        the fitted mean is predicted for every draw.
    k : int, optional
        GAM only: cubic B-spline basis functions per parameter (default
        :data:`GAM_K_MAIN`); interactions use :data:`GAM_K_INT`.
    restarts : int
        GP only: random restarts of the hyperparameter search besides the default
        start.

    Returns
    -------
    (float, float)
        The per-person EVPPI (units of ``nb``) and its standard error (the
        regression part of the error: see ``docs/voi.md``).  Inputs that never
        vary carry no information: their EVPPI is 0 with standard error 0.
    """
    try:
        a = np.asarray(nb, dtype=float)
    except (TypeError, ValueError):
        raise HtaError("net benefits must be numbers, shape (n_draws, n_strategies)") from None
    if a.ndim != 2 or a.shape[1] < 1:
        raise HtaError(f"net benefits must have shape (n_draws, n_strategies), got {a.shape}")
    if not np.isfinite(a).all():
        d, s = np.argwhere(~np.isfinite(a))[0]
        raise HtaError(f"net benefit of strategy column {s} in draw {d} is {float(a[d, s])!r}; it must be finite")
    try:
        x = np.asarray(X.to_numpy(float) if isinstance(X, (pd.DataFrame, pd.Series)) else X, dtype=float)
    except (TypeError, ValueError):
        raise HtaError("inputs X must be numbers, shape (n_draws, n_parameters)") from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise HtaError(f"inputs X must have shape (n_draws, n_parameters), got {np.shape(X)}")
    if x.shape[0] != a.shape[0]:
        raise HtaError(
            f"inputs X have {x.shape[0]} rows but net benefits have {a.shape[0]} draws; "
            f"row i of X must be the parameter values of draw i"
        )
    if not np.isfinite(x).all():
        d, j = np.argwhere(~np.isfinite(x))[0]
        raise HtaError(f"input column {j} in draw {d} is {float(x[d, j])!r}; parameter draws must be finite")
    opts = _check_options(method, n_sim, seed, n_max, k, restarts)
    _check_draws(a.shape[0])
    varying = np.ptp(x, axis=0) > 0
    if not varying.any() or a.shape[1] < 2:
        return 0.0, 0.0
    return _evppi_core([a], x[:, varying], method, **opts)[0]


def evppi(costs, effects, wtp, params, groups, *, method: str = "gam", n_sim: int = 500,
          seed: int = EVPPI_SEED, n_max: int = 1500, k: int | None = None,
          restarts: int = 2) -> pd.DataFrame:
    """Per-person EVPPI of parameters and groups of parameters at each willingness to pay.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
        PSA outcomes (e.g. :meth:`sim.psa.PSAResult.matrices`).
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0).
    params : DataFrame or Draws
        Parameter draws, one row per draw in the order of the rows of ``costs``
        and ``effects``, one column per parameter (``PSAResult.draws.frame``).
    groups : str or list
        Each item is a parameter name (its EVPPI alone) or a list of names (the
        EVPPI of learning them all together).
    method, n_sim, seed, n_max, k, restarts
        See :func:`evppi_nb`.

    Returns
    -------
    DataFrame
        One row per (group, wtp), groups in the order given: ``parameters`` (the
        group's names joined with ", "), ``wtp``, ``evppi``, ``se`` (standard
        error from the regression fit), ``method``.  A group whose parameters are
        all constant in the draws has ``evppi = 0``, ``se = 0`` and method
        ``"constant"``; constant members of a group are left out of its
        regression (they change nothing).

    Examples
    --------
    >>> evppi(c, e, [20_000, 30_000], psa.draws.frame, ["p_sick", ["hr", "c_drug"]])  # doctest: +SKIP
    """
    c, e, _ = _ce_arrays(costs, effects)
    w = _wtp(wtp)
    n = c.shape[0]
    opts = _check_options(method, n_sim, seed, n_max, k, restarts)
    frame = _param_frame(params, n)
    group_list = _parse_groups(groups, frame)
    _check_draws(n)
    nbs = list(net_benefit(c, e, w))
    rows = []
    for names in group_list:
        x = _group_matrix(frame, names)
        label = ", ".join(names)
        varying = np.ptp(x, axis=0) > 0
        if not varying.any() or c.shape[1] < 2:
            rows += [(label, wi, 0.0, 0.0, "constant" if not varying.any() else method) for wi in w]
            continue
        res = _evppi_core(nbs, x[:, varying], method, **opts)
        rows += [(label, wi, v, s, method) for wi, (v, s) in zip(w, res)]
    out = pd.DataFrame(rows, columns=["parameters", "wtp", "evppi", "se", "method"])
    out.attrs["settings"] = {"method": method, "n_draws": n, "n_sim": n_sim, "seed": seed,
                             "n_max": n_max if method == "gp" else None,
                             "k": (k or GAM_K_MAIN) if method == "gam" else None}
    return out


def evppi_psa(psa_result, wtp, groups, effect: str = "qaly", method: str = "gam", **options) -> pd.DataFrame:
    """:func:`evppi` on a :class:`sim.psa.PSAResult`: its costs, ``effect`` and draws.

    ``options`` are passed on (``n_sim``, ``seed``, ``n_max``, ``k``, ``restarts``).
    """
    if not (hasattr(psa_result, "matrices") and hasattr(psa_result, "draws")
            and hasattr(psa_result, "outcomes")):
        raise HtaError(f"evppi_psa needs the PSAResult of run_psa, got {type(psa_result).__name__}; "
                       f"for arrays use evppi(costs, effects, wtp, params, groups)")
    c, e, _ = psa_result.matrices(effect)
    draws = psa_result.draws
    frame = draws.frame
    ids = np.asarray(draws.ids)
    out_ids = np.sort(pd.unique(psa_result.outcomes["draw"]))
    if len(ids) != len(frame) or len(ids) != len(out_ids) or not np.array_equal(np.sort(ids), out_ids):
        raise HtaError("evppi_psa: the PSA's draws and outcomes do not cover the same draw numbers; "
                       "rerun run_psa")
    frame = frame.iloc[np.argsort(ids, kind="stable")].reset_index(drop=True)  # outcome rows are by draw
    return evppi(c, e, wtp, frame, groups, method=method, **options)


# ---------------------------------------------------------------------------- checks
def _check_options(method, n_sim, seed, n_max, k, restarts) -> dict:
    if method not in EVPPI_METHODS:
        raise HtaError(f"EVPPI method {method!r}{_suggest(str(method), EVPPI_METHODS)}: use 'gam' "
                       f"(penalised regression splines) or 'gp' (Gaussian process)")

    def whole(v, name, lo):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HtaError(f"{name} {v!r} must be a whole number >= {lo}")

    whole(n_sim, "n_sim (posterior samples for the standard error)", 0)
    if n_sim == 1:
        raise HtaError("n_sim 1 gives no standard error; use 0 (none) or e.g. 500")
    whole(seed, "seed", 0)
    whole(n_max, "n_max (most draws the GP is fitted on)", 50)
    if k is not None:
        whole(k, "k (B-spline basis functions per parameter)", 5)
    whole(restarts, "restarts", 0)
    return {"n_sim": int(n_sim), "seed": int(seed), "n_max": int(n_max),
            "k": int(k) if k is not None else None, "restarts": int(restarts)}


def _check_draws(n: int) -> None:
    if n < EVPPI_MIN_DRAWS:
        raise HtaError(f"EVPPI from {n} draws: the regression needs at least {EVPPI_MIN_DRAWS} "
                       f"(1000 or more advised); run the PSA with more draws")


def _param_frame(params, n: int) -> pd.DataFrame:
    frame = getattr(params, "frame", params)  # Draws -> its frame
    if not isinstance(frame, pd.DataFrame):
        raise HtaError(f"params must be a DataFrame of parameter draws (one row per draw, one column per "
                       f"parameter), e.g. PSAResult.draws.frame; got {type(params).__name__}")
    if len(frame) != n:
        raise HtaError(f"params has {len(frame)} rows but costs and effects have {n} draws; give the "
                       f"parameter draws of the same PSA, row i = draw i (PSAResult.draws.frame)")
    return frame


def _parse_groups(groups, frame: pd.DataFrame) -> list[list[str]]:
    names = [str(c) for c in frame.columns]
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, (list, tuple)) or not groups:
        raise HtaError("groups must be a non-empty list of parameter names or of lists of names, "
                       "e.g. ['p_sick', ['hr', 'c_drug']]")
    out = []
    for item in groups:
        g = [item] if isinstance(item, str) else item
        if not isinstance(g, (list, tuple, set, frozenset)) or not g:
            raise HtaError(f"group {item!r} must be a parameter name or a non-empty list of names")
        g = list(g)
        for name in g:
            if not isinstance(name, str):
                raise HtaError(f"group {item!r}: {name!r} is not a parameter name")
            if name not in frame.columns:
                raise HtaError(f"unknown parameter {name!r}{_suggest(name, names)} in EVPPI group {item!r}; "
                               f"parameters are {', '.join(names[:30])}{' ...' if len(names) > 30 else ''}")
        dup = sorted({s for s in g if g.count(s) > 1})
        if dup:
            raise HtaError(f"EVPPI group {item!r} names {dup[0]!r} twice; list each parameter once")
        out.append(g)
    return out


def _group_matrix(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    cols = []
    for name in names:
        col = frame[name]
        if not pd.api.types.is_numeric_dtype(col):
            raise HtaError(f"parameter {name!r} has non-numeric draws ({col.dtype}); EVPPI needs numbers")
        v = col.to_numpy(dtype=float)
        if not np.isfinite(v).all():
            d = int(np.flatnonzero(~np.isfinite(v))[0])
            raise HtaError(f"parameter {name!r} is {float(v[d])!r} in draw {d}; parameter draws must be finite")
        cols.append(v)
    return np.column_stack(cols)


# ---------------------------------------------------------------------------- estimator
def _evppi_core(nbs, x, method, *, n_sim, seed, n_max, k, restarts) -> list[tuple[float, float]]:
    """EVPPI and SE for each net-benefit matrix in ``nbs`` on the varying inputs ``x``."""
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    if method == "gam":
        model = _Gam(z, k)
    else:
        model = _GP(z, n_max, seed, restarts)
    return [_evppi_fit(nb, model, n_sim, seed) for nb in nbs]


def _evppi_from_fitted(g: np.ndarray) -> np.ndarray:
    """EVPPI from fitted incremental net benefits ``g`` (n, K-1[, S]); ``g_ref = 0``."""
    best = np.maximum(g.max(axis=1), 0.0)
    return best.mean(axis=0) - np.maximum(g.mean(axis=0).max(axis=0), 0.0)


def _evppi_fit(nb: np.ndarray, model, n_sim: int, seed: int) -> tuple[float, float]:
    K = nb.shape[1]
    # Canonical strategy order (highest expected net benefit first, the reference):
    # the result does not depend on the column order of the strategies.
    means, sq = nb.mean(axis=0), (nb * nb).mean(axis=0)
    order = sorted(range(K), key=lambda j: (-means[j], -sq[j]))
    ref, others = order[0], order[1:]
    fits = [model.fit(nb[:, j] - nb[:, ref]) for j in others]
    g = np.column_stack([f.fitted for f in fits])
    # 0 <= EVPPI <= EVPI holds for the true conditional means; a smoother can overshoot the
    # EVPI of the same draws by its approximation error when the group explains almost all
    # of the uncertainty, so the estimate is capped there.
    value = float(min(max(_evppi_from_fitted(g), 0.0), evpi_nb(nb)))
    if n_sim == 0:
        return value, float("nan")
    rng = np.random.default_rng(seed)
    chunk = int(max(1, min(_SAMPLE_CHUNK, _SAMPLE_BUDGET // (fits[0].n_eval * (K - 1)))))
    vals = []
    for lo in range(0, n_sim, chunk):
        m = min(chunk, n_sim - lo)
        w = rng.standard_normal((fits[0].n_eval, m))
        samples = np.stack([f.sample(rng, m, w) for f in fits], axis=1)  # (n_eval, K-1, m)
        vals.append(_evppi_from_fitted(samples))
    return value, float(np.std(np.concatenate(vals), ddof=1))


class _Fit:
    """Fitted incremental net benefit: ``fitted`` at every draw, ``sample`` draws from
    the approximate posterior of the fitted values at the evaluation points.
    """

    def __init__(self, fitted: np.ndarray, n_eval: int, sampler=None, const: float = 0.0):
        self.fitted = fitted
        self.n_eval = n_eval
        self._sampler = sampler
        self._const = const

    def sample(self, rng, m: int, w: np.ndarray) -> np.ndarray:
        """``m`` posterior samples of the fitted values at the evaluation points, (n_eval, m);
        ``w`` (n_eval, m) are standard normal weights shared by all strategies.
        """
        if self._sampler is None:
            return np.full((self.n_eval, m), self._const)
        return self._sampler(rng, m, w)


def _standardise(y: np.ndarray):
    mu = float(y.mean())
    sd = float(y.std())
    if not sd > 1e-12 * max(abs(mu), 1e-300):
        return mu, 0.0
    return mu, sd


# ---------------------------------------------------------------------------- GAM
def _spline_margin(x: np.ndarray, k: int):
    """Centred basis (n, k'-1) and penalty of one input: cubic B-splines with knots at
    quantiles and the integrated squared second derivative penalty, or indicators of
    the levels (unpenalised) for an input with few distinct values.
    """
    levels = np.unique(x)
    if levels.size <= k:
        B = (x[:, None] == levels[None, :]).astype(float)
        S = None
    else:
        lo, hi = levels[0], levels[-1]
        inner = np.unique(np.quantile(x, np.linspace(0.0, 1.0, k - 2)[1:-1]))
        inner = inner[(inner > lo) & (inner < hi)]
        t = np.r_[[lo] * 4, inner, [hi] * 4]
        kk = len(t) - 4
        B = _BSpline.design_matrix(x, t, 3).toarray()
        # exact integral of B_i'' B_j'' (piecewise linear): 2-point Gauss-Legendre per knot interval
        br = np.unique(t)
        mid, half = (br[1:] + br[:-1]) / 2, (br[1:] - br[:-1]) / 2
        node = 1.0 / np.sqrt(3.0)
        xq = np.r_[mid - half * node, mid + half * node]
        wq = np.r_[half, half]
        d2 = _BSpline(t, np.eye(kk), 3).derivative(2)(xq)
        S = d2.T @ (wq[:, None] * d2)
    # sum-to-zero constraint over the draws: the constant lives in the intercept
    Q, _ = np.linalg.qr(B.sum(axis=0)[:, None], mode="complete")
    Z = Q[:, 1:]
    Bc = B @ Z
    if S is None:
        return Bc, None, np.zeros(Bc.shape[1])
    Sc = Z.T @ S @ Z
    e, U = np.linalg.eigh((Sc + Sc.T) / 2)
    e = np.where(e > 1e-9 * e.max(), e, 0.0)
    return Bc, (U * e) @ U.T, e


class _Gam:
    """Penalised regression-spline design for a group of standardised inputs.

    Intercept + a centred main effect per input (``k`` cubic B-splines) + for
    groups, a centred tensor-product interaction per pair (ANOVA decomposition as
    in mgcv's ``ti``).  For two inputs the span equals the full tensor product; it
    always contains each member's single-input model.  Penalties: one smoothing
    parameter per main effect, two per interaction (one per margin direction).
    """

    def __init__(self, z: np.ndarray, k: int | None):
        n, p = z.shape
        k_main = k or GAM_K_MAIN
        k_int = GAM_K_INT.get(p, _GAM_K_INT_LARGE)
        mains = [_spline_margin(z[:, d], k_main) for d in range(p)]
        ints = [_spline_margin(z[:, d], k_int) for d in range(p)] if p > 1 else []
        cols = [np.ones((n, 1))]
        self.pen = []      # (slice, block penalty matrix)
        self.blocks = []   # (penalty index a or None, eigenvalues a, index b or None, eigenvalues b)
        q = 1
        for B, S, e in mains:
            sl = slice(q, q + B.shape[1])
            cols.append(B)
            q = sl.stop
            if S is not None:
                s = np.linalg.norm(B.T @ B) / np.linalg.norm(S)
                self.pen.append((sl, S * s))
                self.blocks.append((len(self.pen) - 1, e * s, None, np.zeros(1)))
        for a in range(p):
            for b in range(a + 1, p):
                Ba, Sa, ea = ints[a]
                Bb, Sb, eb = ints[b]
                T = (Ba[:, :, None] * Bb[:, None, :]).reshape(n, -1)
                sl = slice(q, q + T.shape[1])
                cols.append(T)
                q = sl.stop
                nt = np.linalg.norm(T.T @ T)
                ja = jb = None
                if Sa is not None:
                    Pa = np.kron(Sa, np.eye(Bb.shape[1]))
                    sa = nt / np.linalg.norm(Pa)
                    self.pen.append((sl, Pa * sa))
                    ja, ea = len(self.pen) - 1, ea * sa
                if Sb is not None:
                    Pb = np.kron(np.eye(Ba.shape[1]), Sb)
                    sb = nt / np.linalg.norm(Pb)
                    self.pen.append((sl, Pb * sb))
                    jb, eb = len(self.pen) - 1, eb * sb
                if ja is not None or jb is not None:
                    self.blocks.append((ja, ea, jb, eb))
        self.q = q
        if n < max(EVPPI_MIN_DRAWS, 2 * q):
            raise HtaError(
                f"EVPPI (gam) of {p} parameters fits {q} basis coefficients and needs at least {2 * q} "
                f"draws, got {n}; run more draws, use smaller groups or method='gp'"
            )
        self.X = np.hstack(cols)
        self.XtX = self.X.T @ self.X
        self.n = n
        rank = 0
        for ja, ea, jb, eb in self.blocks:
            va = ea if ja is not None else np.zeros_like(ea)
            vb = eb if jb is not None else np.zeros_like(eb)
            rank += int(((va[:, None] > 0) | (vb[None, :] > 0)).sum())
        self.Mp = q - rank  # dimension of the unpenalised space

    def _logdet_S(self, lam: np.ndarray):
        """Log pseudo-determinant of the total penalty and its gradient in log lambda.

        Blocks are independent; an interaction's two penalties are a Kronecker sum
        whose eigenvalues are ``lam_a e_a,i + lam_b e_b,j``.
        """
        ld = 0.0
        grad = np.zeros(len(lam))
        for ja, ea, jb, eb in self.blocks:
            va = lam[ja] * ea if ja is not None else np.zeros_like(ea)
            vb = lam[jb] * eb if jb is not None else np.zeros_like(eb)
            v = va[:, None] + vb[None, :]
            pos = v > 0
            ld += float(np.log(v[pos]).sum())
            if ja is not None:
                grad[ja] += float((np.broadcast_to(va[:, None], v.shape)[pos] / v[pos]).sum())
            if jb is not None:
                grad[jb] += float((np.broadcast_to(vb[None, :], v.shape)[pos] / v[pos]).sum())
        return ld, grad

    def _penalty(self, lam):
        S = np.zeros((self.q, self.q))
        for j, (sl, P) in enumerate(self.pen):
            S[sl, sl] += lam[j] * P
        return S

    def _solve(self, lam, Xty, y):
        S = self._penalty(lam)
        H = self.XtX + S
        L = _chol(H)
        beta = _la.cho_solve((L, True), Xty)
        r = y - self.X @ beta
        return S, L, beta, float(r @ r), float(beta @ S @ beta)

    def fit(self, y: np.ndarray) -> _Fit:
        mu, sd = _standardise(y)
        n = self.n
        if sd == 0.0:
            return _Fit(np.full(n, mu), n, const=mu)
        ys = (y - mu) / sd
        Xty = self.X.T @ ys
        m = len(self.pen)
        dof = n - self.Mp

        def reml(rho):
            lam = np.exp(rho)
            S, L, beta, rss, pen = self._solve(lam, Xty, ys)
            D = max(rss + pen, 1e-300)
            Hinv = _chol_inv(L)
            ldS, dldS = self._logdet_S(lam)
            v = dof * np.log(D) + 2.0 * np.log(np.diag(L)).sum() - ldS
            g = np.empty(m)
            for j, (sl, P) in enumerate(self.pen):
                b = beta[sl]
                g[j] = lam[j] * (dof * (b @ P @ b) / D + np.sum(Hinv[sl, sl] * P))
            return v, g - dldS

        if m:
            res = _opt.minimize(reml, np.zeros(m), jac=True, method="L-BFGS-B",
                                bounds=[(-12.0, 20.0)] * m, options={"maxiter": 200})
            lam = np.exp(res.x)
        else:
            lam = np.zeros(0)
        S, L, beta, rss, _ = self._solve(lam, Xty, ys)
        Hinv = _chol_inv(L)
        edf = float(self.q - np.sum(Hinv * S))
        sigma = np.sqrt(rss / max(n - edf, 1.0))
        fitted = mu + sd * (self.X @ beta)

        # Posterior samples of the coefficients (docs/voi.md, "Standard error"):
        #   beta* = beta + H^-1 X'(w o r~) + sigma H^-1 S^1/2 z
        # covariance H^-1 (X' diag(r~^2) X + sigma^2 S) H^-1: the Bayesian sigma^2 H^-1
        # with the noise part in heteroscedasticity-robust (sandwich) form.  The
        # weights w are shared by all strategies (passed in), so that samples keep the
        # correlation of their incremental net benefits; z is this fit's own.
        r = ys - self.X @ beta
        lev = np.einsum("ij,ij->i", self.X @ Hinv, self.X)
        rt = r / np.sqrt(np.clip(1.0 - lev, 0.01, 1.0))  # leverage-corrected residuals
        e, U = np.linalg.eigh(S)
        Sroot = U * np.sqrt(np.clip(e, 0.0, None))
        HS = sigma * (Hinv @ Sroot)

        def sampler(rng, k, w):
            B = beta[:, None] + Hinv @ (self.X.T @ (w * rt[:, None])) + HS @ rng.standard_normal((self.q, k))
            return mu + sd * (self.X @ B)

        return _Fit(fitted, n, sampler)


def _chol(H: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, with a little jitter if rounding makes H indefinite."""
    jitter = 0.0
    scale = float(np.mean(np.diag(H))) or 1.0
    for _ in range(6):
        try:
            return _la.cholesky(H + jitter * np.eye(len(H)), lower=True)
        except np.linalg.LinAlgError:
            jitter = scale * (1e-12 if jitter == 0.0 else jitter / scale * 100)
    raise HtaError("EVPPI: the regression is numerically singular; check the parameter draws "
                   "(duplicated or perfectly collinear parameters in one group?)")


def _chol_inv(L: np.ndarray) -> np.ndarray:
    inv, info = _la.lapack.dpotri(L, lower=1)
    if info != 0:
        raise HtaError("EVPPI: could not invert the regression's normal matrix")
    return np.tril(inv) + np.tril(inv, -1).T


# ---------------------------------------------------------------------------- GP
class _GP:
    """Gaussian-process regression on standardised inputs.

    ``y = h(x)'b + f(x) + e``: linear mean ``h(x) = (1, x)`` with a flat prior on
    ``b``; ``f ~ GP(0, s2 exp(-sum_d (x_d - x'_d)^2 / (2 l_d^2)))``;
    ``e ~ N(0, s2 eta)``.  ``b`` and ``s2`` are integrated out / profiled; the
    length scales ``l_d`` and ``eta`` maximise the restricted likelihood.  Fitted
    on a fixed subsample of at most ``n_max`` draws (chosen with ``seed``).
    """

    def __init__(self, z: np.ndarray, n_max: int, seed: int, restarts: int):
        n, p = z.shape
        rng = np.random.default_rng([seed, 1])
        if n > n_max:
            idx = np.sort(rng.choice(n, n_max, replace=False))
        else:
            idx = np.arange(n)
        self.z, self.idx, self.n, self.p = z, idx, n, p
        self.Xm = z[idx]
        self.Hm = np.column_stack([np.ones(len(idx)), self.Xm])
        h = min(len(idx), _GP_HYPER_SUBSET)
        self.sub = np.sort(rng.choice(len(idx), h, replace=False)) if h < len(idx) else None
        starts = [np.r_[np.zeros(p), np.log(0.1)]]
        for _ in range(restarts):
            starts.append(np.r_[rng.uniform(np.log(0.3), np.log(5.0), p), rng.uniform(np.log(1e-3), 0.0)])
        self.starts = starts
        self.bounds = [(np.log(0.05), np.log(100.0))] * p + [(np.log(1e-6), np.log(1e3))]

    @staticmethod
    def _kernel(Xa, Xb, ell):
        A, B = Xa / ell, Xb / ell
        d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        return np.exp(-0.5 * np.maximum(d2, 0.0))

    def _nll(self, theta, X, H, y):
        """-2 restricted log likelihood (up to a constant) and its gradient."""
        m, p = X.shape
        r = H.shape[1]
        ell, eta = np.exp(theta[:p]), float(np.exp(theta[p]))
        C = self._kernel(X, X, ell)
        A = C + eta * np.eye(m)
        try:
            L = _la.cholesky(A, lower=True)
        except np.linalg.LinAlgError:
            return 1e300, np.zeros_like(theta)
        Ai = _chol_inv(L)
        AiH = Ai @ H
        G = H.T @ AiH
        Gl = _la.cholesky(G, lower=True)
        P = Ai - AiH @ _la.cho_solve((Gl, True), AiH.T)
        alpha = P @ y
        yPy = max(float(y @ alpha), 1e-300)
        f = (m - r) * np.log(yPy) + 2.0 * np.log(np.diag(L)).sum() + 2.0 * np.log(np.diag(Gl)).sum()
        N = P - ((m - r) / yPy) * np.outer(alpha, alpha)
        M = N * C
        rows = M.sum(axis=1)
        grad = np.empty(p + 1)
        for d in range(p):
            x = X[:, d]
            grad[d] = 2.0 * ((x * x) @ rows - x @ M @ x) / ell[d] ** 2
        grad[p] = eta * np.trace(N)
        return f, grad

    def _optimise(self, y):
        ysub = y if self.sub is None else y[self.sub]
        Xs = self.Xm if self.sub is None else self.Xm[self.sub]
        Hs = self.Hm if self.sub is None else self.Hm[self.sub]
        best = None
        for th0 in self.starts:
            res = _opt.minimize(self._nll, th0, args=(Xs, Hs, ysub), jac=True, method="L-BFGS-B",
                                bounds=self.bounds, options={"maxiter": 100})
            if best is None or res.fun < best.fun:
                best = res
        theta = best.x
        if self.sub is not None:  # polish on the whole fitting subsample
            res = _opt.minimize(self._nll, theta, args=(self.Xm, self.Hm, y), jac=True, method="L-BFGS-B",
                                bounds=self.bounds, options={"maxiter": 30})
            theta = res.x
        return theta

    def fit(self, y_all: np.ndarray) -> _Fit:
        mu, sd = _standardise(y_all)
        m = len(self.idx)
        if sd == 0.0:
            return _Fit(np.full(self.n, mu), m, const=mu)
        y = (y_all[self.idx] - mu) / sd
        theta = self._optimise(y)
        p = self.p
        ell, eta = np.exp(theta[:p]), float(np.exp(theta[p]))
        X, H = self.Xm, self.Hm
        r = H.shape[1]
        C = self._kernel(X, X, ell)
        lam, U = np.linalg.eigh(C)
        lam = np.maximum(lam, 0.0)
        Ut_y = U.T @ y
        Ut_H = U.T @ H
        winv = 1.0 / (lam + eta)                      # A^-1 = U diag(winv) U'
        G = Ut_H.T @ (winv[:, None] * Ut_H)           # H'A^-1 H
        Gl = _la.cholesky(G, lower=True)
        b = _la.cho_solve((Gl, True), Ut_H.T @ (winv * Ut_y))
        alpha = U @ (winv * (Ut_y - Ut_H @ b))         # A^-1 (y - H b)
        s2 = float(y @ alpha) / max(m - r, 1)
        fitted = np.empty(self.n)
        for lo in range(0, self.n, 2000):
            zc = self.z[lo:lo + 2000]
            Kc = self._kernel(zc, X, ell)
            fitted[lo:lo + 2000] = np.column_stack([np.ones(len(zc)), zc]) @ b + Kc @ alpha
        fitted = mu + sd * fitted
        mean_m = H @ b + C @ alpha
        # Posterior samples at the subsample (docs/voi.md, "Standard error"): the fitted
        # values are Sm y with the smoother Sm = I - eta P; their posterior covariance
        # s2 eta Sm = s2 eta Sm Sm' + s2 eta Sm (eta P) is sampled with the noise part
        # in heteroscedasticity-robust form, Sm diag(r~^2) Sm', weights shared by all
        # strategies, plus the smoothing part from the eigenvectors of eta P.
        AiH = U @ (winv[:, None] * Ut_H)
        P = (U * winv) @ U.T - AiH @ _la.cho_solve((Gl, True), AiH.T)
        P = (P + P.T) / 2
        pi, V = np.linalg.eigh(eta * P)
        pi = np.clip(pi, 0.0, 1.0)
        Sm = np.eye(m) - eta * P
        rt = eta * alpha / np.sqrt(np.clip(eta * np.diag(P), 0.01, 1.0))  # y - fitted, leverage-corrected
        root = V * (np.sqrt(max(s2 * eta, 0.0)) * np.sqrt(pi * (1.0 - pi)))
        Smr = Sm * rt[None, :]

        def sampler(rng, k, w):
            draws = mean_m[:, None] + Smr @ w + root @ rng.standard_normal((m, k))
            return mu + sd * draws

        return _Fit(fitted, m, sampler)
