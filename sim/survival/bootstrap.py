"""Nonparametric bootstrap of a fit's coefficients, and their parameter-table rows.

An alternative to the multivariate normal of the estimates (``SurvivalFit.coefficient_draws``,
``parameter_rows``): draw ``i`` resamples the patients of the fitted data with replacement
and refits the same model (the same family, covariates, spline knots and scale) by maximum
likelihood, starting from the original estimates. Its random numbers come from
``SeedSequence(seed, spawn_key=(BOOTSTRAP_KEY, stream, i))``, so draw ``i`` depends only on
``(seed, stream, i)``: the same whatever the chunking, the number of workers or the order in
which draws are made. :func:`bootstrap_rows` writes ``n`` replicates to a CSV file and returns
the parameter-table rows (``empirical``, one group) that let the table draw them jointly with
every other parameter, by its own seed rules. Formulas: ``docs/survival.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.params.table import Parameter
from sim.survival import mle
from sim.survival.fit import SurvivalFit, starting_values, survival_data

__all__ = ["BOOTSTRAP_KEY", "bootstrap_coefficients", "bootstrap_rows"]

#: First entry of every bootstrap stream's spawn key: keeps them apart from the parameter
#: table's ``(block,)`` and the coefficient draws' ``(block, stream)`` streams.
BOOTSTRAP_KEY = 0xB0075


def _whole(what: str, v, lo: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise HtaError(f"bootstrap: {what} {v!r} must be a whole number >= {lo}")
    return int(v)


def _design(fit: SurvivalFit, data: pd.DataFrame):
    if not fit.data_columns:
        raise HtaError(f"{fit.label} fit does not record its data columns; bootstrap a fit made by "
                       f"sim.survival.fit_survival")
    time, event, *covariates = fit.data_columns
    t, d, X, columns = survival_data(data, time, event, covariates)
    if t.size != fit.n or int(d.sum()) != fit.events or tuple(columns) != tuple(fit.covariates):
        raise HtaError(f"bootstrap: the data ({t.size} rows, {int(d.sum())} events, covariates "
                       f"{', '.join(columns) or 'none'}) are not those of the {fit.label} fit ({fit.n} rows, "
                       f"{fit.events} events, covariates {', '.join(fit.covariates) or 'none'}); give the data "
                       f"the fit was made from")
    return t, d, X, columns


def bootstrap_coefficients(fit: SurvivalFit, data: pd.DataFrame, n: int, seed: int, *, lo: int = 0,
                           stream: int = 0) -> np.ndarray:
    """Bootstrap draws ``lo .. lo + n - 1`` of a fit's coefficients.

    Parameters
    ----------
    fit : SurvivalFit
        A fit made by :func:`sim.survival.fit_survival`.
    data : DataFrame
        The data it was fitted to (checked: rows, events and covariate columns).
    n, seed : int
        Number of draws and the seed.
    lo : int
        First draw (draws ``lo .. lo + n - 1`` are the same numbers in any chunking).
    stream : int
        A different stream per fitted curve of a model.

    Returns
    -------
    ndarray, shape (n, k)
        The refitted coefficients on the estimation scale, in ``fit.names`` order. A
        resample without events, or whose refit does not converge, is an error naming
        the draw.
    """
    n, seed, lo, stream = (_whole("n", n), _whole("seed", seed), _whole("lo", lo), _whole("stream", stream))
    t, d, X, columns = _design(fit, data)
    knots = None if fit.knots is None else np.asarray(fit.knots, dtype=float)
    est = np.asarray(fit.estimates, dtype=float)
    out = np.empty((n, est.size))
    m = t.size
    for j, i in enumerate(range(lo, lo + n)):
        gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(BOOTSTRAP_KEY, stream, i))))
        idx = gen.integers(0, m, size=m)
        if d[idx].sum() == 0:
            raise HtaError(f"bootstrap draw {i} of the {fit.label} fit resampled no event; the data have too "
                           f"few events for a bootstrap (use coefficient_draws, the multivariate normal)")
        pb = mle.Problem(fit.family, t[idx], d[idx], X[idx], knots, fit.scale)
        theta, _, ok = mle.maximise(pb, [est])
        if not ok:
            theta, _, ok = mle.maximise(pb, [est, *starting_values(pb, columns, pb.t, pb.d)])
        if not ok:
            raise HtaError(f"bootstrap draw {i} of the {fit.label} fit: the refit did not converge "
                           f"(seed {seed}, stream {stream}); the model may be too flexible for these data: "
                           f"use coefficient_draws (the multivariate normal) or a simpler family")
        out[j] = theta
    return out


def bootstrap_rows(fit: SurvivalFit, data: pd.DataFrame, prefix: str, draws_file: str | Path, *, n: int,
                   seed: int, source: str, stream: int = 0) -> list[Parameter]:
    """Parameter-table rows drawing a fit's coefficients from ``n`` bootstrap replicates.

    Writes the replicates of :func:`bootstrap_coefficients` to ``draws_file`` (CSV, one
    column per coefficient named ``<prefix>_<coefficient>``, one row per replicate) and
    returns one ``empirical`` row per coefficient reading it, in one group: the table
    draws a replicate (a row of the file, with replacement) jointly for all
    coefficients, with its own seed rules and sampling methods, beside every other
    parameter. Base values are the maximum-likelihood estimates. The same names as
    :func:`sim.survival.parameter_rows`, so :func:`sim.survival.probability` with
    ``prefix`` uses either.

    Parameters
    ----------
    fit : SurvivalFit
    data : DataFrame
        The data of the fit.
    prefix : str
        Start of the parameter names and the group name.
    draws_file : path
        Where to write the replicates; give the table a ``base_dir`` where its name resolves.
    n, seed, stream : int
        Number of replicates, seed and stream of :func:`bootstrap_coefficients`.
    source : str
        Where the data of the fit come from (cited in every row).
    """
    from sim.survival.values import parameter_names

    names = parameter_names(fit, prefix)
    reps = bootstrap_coefficients(fit, data, n, seed, stream=stream)
    path = Path(draws_file)
    pd.DataFrame(reps, columns=names).to_csv(path, index=False, float_format="%.17g")
    what = f"{fit.label} coefficient, {n} bootstrap replicates (seed {seed}, stream {stream})"
    return [Parameter(name=nm, value=float(v), distribution="empirical", args={"file": path.name}, group=prefix,
                      source=f"{source}; {fit.label} maximum-likelihood estimate and nonparametric bootstrap",
                      description=f"{what}: {orig}")
            for nm, v, orig in zip(names, fit.estimates, fit.names, strict=True)]
