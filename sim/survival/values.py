"""A survival curve as a model value: cycle transition probabilities from its cumulative hazard.

:class:`SurvivalProbability` is an expression of the model language
(:mod:`sim.model.values`), evaluated through the ``@expression`` hook of
:mod:`sim.model.evaluate`: for the cycle from ``t0`` to ``t1``,
``p = 1 - exp(H(t0) - H(t1))``, with time either the model's (``clock="model"``) or the
time spent in the current tunnel state (``clock="sojourn"``). Its coefficients are
values too: numbers (a published curve) or parameter names, so PSA draws of a fit's
coefficients come from the parameter table (:meth:`SurvivalFit.parameter_rows
<sim.survival.fit.SurvivalFit>` writes the multivariate normal rows and covariance
file) with the table's seed rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.model.evaluate import Context, evaluate, expression
from sim.model.values import Expr
from sim.params.table import Parameter
from sim.survival import families as fam
from sim.survival import splines as spl

__all__ = ["SurvivalProbability", "TIME_UNITS", "parameter_names", "parameter_rows", "probability"]

#: Years per time unit of a curve.
TIME_UNITS = {"year": 1.0, "month": 1.0 / 12.0, "week": 7.0 / 365.25, "day": 1.0 / 365.25}


@dataclass(frozen=True)
class SurvivalProbability(Expr):
    """Probability of the event within a cycle, from a parametric curve.

    ``p = 1 - exp(H(t0) - H(t1))`` for the cycle ``[t0, t1)``: exact for any hazard
    shape, given no event by ``t0``.

    Parameters
    ----------
    family : str
        A family of :mod:`sim.survival.families` or ``"spline"``.
    coefficients : sequence of values
        The curve's coefficients on the estimation scale (``SurvivalFit.names``:
        baseline parameters in family order, then covariate coefficients), each a
        number or a parameter name (or any model value).
    covariates : sequence of values
        One value per covariate coefficient (e.g. ``ByStrategy(control=0, active=1)``
        for a treatment-arm indicator).
    knots, scale : spline knots (log time) and scale, for splines.
    clock : str
        ``"model"``: time since the model start; ``"sojourn"``: time in the current
        state (tunnel states only; after the tunnel's last cycle its probability holds).
    time_unit : str or float
        The curve's time unit: ``"year"``, ``"month"``, ``"week"``, ``"day"`` or
        years per unit.
    """

    family: str
    coefficients: tuple
    covariates: tuple = ()
    knots: tuple | None = None
    scale: str | None = None
    clock: str = "model"
    time_unit: Any = "year"

    def __post_init__(self):
        object.__setattr__(self, "coefficients", tuple(self.coefficients))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        if self.family == "spline":
            if self.knots is None or self.scale is None:
                raise HtaError("SurvivalProbability: a spline needs its knots and its scale")
            spl.check_scale(self.scale)
            object.__setattr__(self, "knots", tuple(float(k) for k in self.knots))
            n_base = len(self.knots)
        else:
            object.__setattr__(self, "family", fam.family(self.family).name)
            n_base = len(fam.family(self.family).parameters)
        if len(self.coefficients) != n_base + len(self.covariates):
            raise HtaError(f"SurvivalProbability({self.family}): {len(self.coefficients)} coefficients given; "
                           f"expected {n_base} baseline ones plus one per covariate ({len(self.covariates)})")
        if self.clock not in ("model", "sojourn"):
            raise HtaError(f"SurvivalProbability: clock={self.clock!r} must be 'model' or 'sojourn'")
        years_per_unit(self.time_unit)

    def children(self) -> tuple[Any, ...]:
        """The coefficients, then the covariate values."""
        return self.coefficients + self.covariates


def years_per_unit(unit) -> float:
    """Years in one time unit of a curve."""
    if isinstance(unit, str):
        if unit not in TIME_UNITS:
            raise HtaError(f"time_unit {unit!r} must be one of {', '.join(TIME_UNITS)} or years per unit")
        return TIME_UNITS[unit]
    u = float(unit)
    if not (np.isfinite(u) and u > 0):
        raise HtaError(f"time_unit {unit!r} must be > 0 (years per unit)")
    return u


def _cumhaz(value: SurvivalProbability, base: list[np.ndarray], t: np.ndarray) -> np.ndarray:
    if value.family == "spline":
        gam = np.stack(np.broadcast_arrays(*base), axis=-1)
        return spl.spline_cumhaz(t, gam, value.knots, value.scale)
    nat = fam.family(value.family).to_natural(np.stack(np.broadcast_arrays(*base), axis=-1))
    with np.errstate(all="ignore"):
        return np.where(t > 0, fam.cumhaz(value.family, t, *nat), 0.0)


@expression(SurvivalProbability)
def _survival_probability(value: SurvivalProbability, ctx: Context) -> np.ndarray:
    coef = [evaluate(c, ctx) for c in value.coefficients]
    n_base = len(coef) - len(value.covariates)
    base = coef[:n_base]
    loc = 0 if value.family == "spline" else fam.family(value.family).parameters.index(
        fam.family(value.family).location)
    for b, x in zip(coef[n_base:], value.covariates, strict=True):
        base[loc] = base[loc] + b * evaluate(x, ctx)
    h = ctx.time.cycle_length / years_per_unit(value.time_unit)
    if value.clock == "model":
        k = ctx.time.cycle
    else:
        k = ctx.time.sojourn
        if k.size == 1:
            raise HtaError(f"{ctx.where}: SurvivalProbability(clock='sojourn') needs a tunnel state "
                           f"(Model(tunnels={{state: cycles}})) to count the time in state")
    t0, t1 = k * h, (k + 1) * h
    H0, H1 = _cumhaz(value, base, t0.astype(float)), _cumhaz(value, base, t1.astype(float))
    if not (np.all(np.isfinite(H0)) and np.all(np.isfinite(H1))):
        raise HtaError(f"{ctx.where}: the {value.family} curve's cumulative hazard is not finite "
                       f"(check its coefficients)")
    return -np.expm1(H0 - H1)


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")


def parameter_names(fit, prefix: str) -> list[str]:
    """Parameter names of a fit's coefficients: ``<prefix>_<coefficient>`` (``os_log_shape``)."""
    return [f"{prefix}_{_safe(n)}" for n in fit.names]


def parameter_rows(fit, prefix: str, cov_file: str | Path, *, source: str) -> list[Parameter]:
    """Parameter-table rows for a fit's coefficients: one multivariate normal group.

    Writes the covariance matrix to ``cov_file`` (CSV, parameter names as first
    column and header, as the parameter table reads it) and returns one
    ``mvnormal`` row per coefficient, named ``<prefix>_<coefficient>`` (e.g.
    ``os_log_shape``), base value and mean the estimate, ``cov`` the file's name.

    Parameters
    ----------
    fit : SurvivalFit
    prefix : str
        Start of the parameter names and the group name.
    cov_file : path
        Where to write the covariance CSV; give the table a ``base_dir`` where its
        name resolves.
    source : str
        Where the data of the fit come from (cited in every row).
    """
    names = parameter_names(fit, prefix)
    path = Path(cov_file)
    pd.DataFrame(np.asarray(fit.covariance), index=names, columns=names).to_csv(path)
    return [Parameter(name=n, value=float(v), distribution="mvnormal", args={"mean": float(v), "cov": path.name},
                      group=prefix, source=f"{source}; {fit.label} maximum-likelihood estimate ({fit.engine})",
                      description=f"{fit.label} coefficient {orig}")
            for n, v, orig in zip(names, fit.estimates, fit.names, strict=True)]


def probability(fit, *, prefix: str | None = None, covariates: Mapping[str, Any] | None = None,
                clock: str = "model", time_unit: Any = "year") -> SurvivalProbability:
    """The model value of a fit: its estimates as numbers, or its parameters by name.

    Parameters
    ----------
    fit : SurvivalFit
    prefix : str, optional
        Use the parameters of :func:`parameter_rows` with this prefix (so PSA draws
        them); default: the point estimates as numbers.
    covariates : mapping, optional
        Value of each covariate column (``{"arm": ByStrategy(control=0, active=1)}``);
        missing ones are 0.
    clock, time_unit : see :class:`SurvivalProbability`.
    """
    covariates = dict(covariates or {})
    unknown = [c for c in covariates if c not in fit.covariates]
    if unknown:
        raise HtaError(f"{fit.label} fit has no covariate {unknown[0]!r}; its covariates are "
                       f"{', '.join(fit.covariates) or 'none'}")
    coefs: Sequence = (parameter_names(fit, prefix) if prefix
                       else [float(v) for v in fit.estimates])
    return SurvivalProbability(fit.family, tuple(coefs), tuple(covariates.get(c, 0.0) for c in fit.covariates),
                               knots=fit.knots, scale=fit.scale, clock=clock, time_unit=time_unit)
