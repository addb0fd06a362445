"""Value of information: EVPI (per person and for a population) and EVPPI.

Formulas and estimators: ``docs/voi.md``.  Works on arrays (or outcomes tables
pivoted with :func:`sim.decision.outcome_matrix`); knows no engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.decision.acceptability import net_benefit
from sim.decision.icer import ce_arrays, wtp_grid
from sim.decision.voi_regression import EVPPI_MIN_DRAWS, GAM_K_MAIN, Gam, GaussianProcess
from sim.errors import HtaError
from sim.errors import suggest as _suggest
from sim.model.conventions import check_rate

__all__ = ["evpi_nb", "evpi", "population_factor", "population_evpi",
           "evppi", "evppi_nb", "evppi_psa", "EVPPI_METHODS"]


def evpi_nb(nb) -> float:
    """EVPI from net benefits: ``E[max_s NB_s] - max_s E[NB_s]``.

    Parameters
    ----------
    nb : array_like, shape (n_draws, n_strategies)
        Net benefit of each strategy in each draw.

    Returns
    -------
    float
        The EVPI (>= 0), in the units of ``nb``.
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
    c, e, _ = ce_arrays(costs, effects)
    w = wtp_grid(wtp)
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
    discount = check_rate(discount, "population EVPI discount rate")
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
# of Strong, Oakley & Brennan (2014), with the estimators of
# sim.decision.voi_regression (GAM and Gaussian process).  Formulas and advice:
# docs/voi.md.

#: Estimators of :func:`evppi`.
EVPPI_METHODS = ("gam", "gp")
#: Default seed of the posterior samples behind the standard error (and of the GP subsample).
EVPPI_SEED = 20140311
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
        :data:`~sim.decision.voi_regression.GAM_K_MAIN`); interactions use
        :data:`~sim.decision.voi_regression.GAM_K_INT`.
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
    c, e, _ = ce_arrays(costs, effects)
    w = wtp_grid(wtp)
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
        rows += [(label, wi, v, s, method) for wi, (v, s) in zip(w, res, strict=True)]
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
    """EVPPI and SE for each net-benefit matrix in ``nbs`` on the varying inputs ``x``.

    The regressions run with BLAS on one thread (``threadpoolctl``): their matrices are
    small (a few hundred columns), and a multi-threaded BLAS on busy cores spends most
    of its time waiting for its own threads (measured: 50 factorisations and inverses of
    a 400 x 400 matrix took 38 s with 2 OpenBLAS threads on a loaded 2-core machine,
    0.4 s with one). One thread also makes the estimate independent of the machine's
    BLAS thread count.
    """
    from threadpoolctl import threadpool_limits

    z = (x - x.mean(axis=0)) / x.std(axis=0)
    with threadpool_limits(limits=1, user_api="blas"):
        model = Gam(z, k) if method == "gam" else GaussianProcess(z, n_max, seed, restarts)
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
