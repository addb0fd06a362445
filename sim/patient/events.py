"""Times to event for patient-level simulation, sampled by inverting the cumulative hazard.

Every distribution is defined by its cumulative hazard ``H(t)`` (``S(t) = exp(-H(t))``)
and its inverse. A time to event is drawn from a uniform ``u`` as::

    x = H^-1( H(a) + (-ln u) / hr ) - a

which is the time from now until the event for a patient who has already spent
``a`` time units on this clock without the event (``a = 0`` for a fresh clock; use the
time since the start of the model for a Markov clock, the time since entering the
state for a semi-Markov one) and whose hazard is multiplied by ``hr``
(proportional hazards: covariate effects, treatment effects). Everything is
vectorised over patients: ``u``, ``a`` and ``hr`` broadcast against each other and
against array parameters. An event that can never happen (a hazard of 0, or a
Gompertz hazard that dies away) gives ``inf``.

Formulas: ``docs/patient.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from sim.errors import HtaError
from sim.model.lifetable import LifeTable

__all__ = [
    "TimeToEvent",
    "Exponential",
    "Weibull",
    "Gompertz",
    "LogLogistic",
    "LogNormal",
    "PiecewiseExponential",
    "SurvivalTime",
    "background_mortality",
]


def _positive(x, what: str, allow_zero: bool = False) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    bad = ~np.isfinite(a) | ((a < 0) if allow_zero else (a <= 0))
    if bad.any():
        v = float(a[bad].flat[0])
        need = ">= 0" if allow_zero else "> 0"
        raise HtaError(f"{what} is {v!r}; it must be a finite number {need}")
    return a


class TimeToEvent:
    """Base class: a distribution given by its cumulative hazard and its inverse."""

    def cumhaz(self, t) -> np.ndarray:  # pragma: no cover - abstract
        """Cumulative hazard ``H(t)`` at times ``t`` (array)."""
        raise NotImplementedError

    def inv_cumhaz(self, h) -> np.ndarray:  # pragma: no cover - abstract
        """Inverse cumulative hazard: the time ``t`` with ``H(t) = h`` (array; ``inf`` if never)."""
        raise NotImplementedError

    def survival(self, t) -> np.ndarray:
        """``S(t) = exp(-H(t))``."""
        return np.exp(-self.cumhaz(_positive(t, f"{type(self).__name__}: time", allow_zero=True)))

    def sample(self, u, *, elapsed=0.0, hr=1.0) -> np.ndarray:
        """Time until the event from uniforms ``u`` in (0, 1).

        Parameters
        ----------
        u : array_like
            Uniforms (e.g. from :func:`sim.patient.streams.uniforms`).
        elapsed : array_like
            Time already spent on this clock without the event (>= 0).
        hr : array_like
            Hazard ratio multiplying the hazard (>= 0; 0 means the event never happens).

        Returns
        -------
        ndarray
            Times from now until the event (``inf`` if it never happens), broadcast
            over ``u``, ``elapsed``, ``hr`` and the parameters.
        """
        name = type(self).__name__
        u = np.asarray(u, dtype=float)
        if not np.all((u > 0) & (u < 1)):
            raise HtaError(f"{name}.sample: uniforms must lie strictly between 0 and 1")
        a = _positive(elapsed, f"{name}.sample: elapsed time", allow_zero=True)
        r = _positive(hr, f"{name}.sample: hazard ratio", allow_zero=True)
        with np.errstate(divide="ignore"):
            target = self.cumhaz(a) + (-np.log(u)) / r
        return np.maximum(self.inv_cumhaz(target) - a, 0.0)

    def sample_one(self, u: float, elapsed: float = 0.0, hr: float = 1.0) -> float:
        """One time to event for scalar ``u``, ``elapsed`` and ``hr`` (the patient engine's hot path).

        Inputs are trusted (the engine makes them); the formula is that of :meth:`sample`.
        """
        h = self._H1(elapsed) + (-math.log(u) / hr if hr > 0 else math.inf)
        return max(self._Hinv1(h) - elapsed, 0.0)

    # scalar cumulative hazard and inverse; subclasses with scalar parameters override these
    def _H1(self, t: float) -> float:
        return float(self.cumhaz(np.float64(t)))

    def _Hinv1(self, h: float) -> float:
        return float(self.inv_cumhaz(np.float64(h)))


@dataclass(frozen=True)
class Exponential(TimeToEvent):
    """Constant hazard ``rate``: ``H(t) = rate t``."""

    rate: object

    def __post_init__(self):
        _positive(self.rate, "Exponential rate", allow_zero=True)
        object.__setattr__(self, "_r", float(self.rate) if np.ndim(self.rate) == 0 else None)

    def cumhaz(self, t):
        """Cumulative hazard ``H(t)`` at times ``t`` (array)."""
        return np.asarray(self.rate, dtype=float) * t

    def inv_cumhaz(self, h):
        """Inverse cumulative hazard: the time ``t`` with ``H(t) = h`` (array; ``inf`` if never)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.isinf(h), np.inf, h / np.asarray(self.rate, dtype=float))

    def _H1(self, t):
        return self._r * t if self._r is not None else super()._H1(t)

    def _Hinv1(self, h):
        if self._r is None or self._r == 0 or math.isinf(h):
            return super()._Hinv1(h)
        return h / self._r


@dataclass(frozen=True)
class Weibull(TimeToEvent):
    """``H(t) = (t / scale) ** shape``."""

    shape: object
    scale: object

    def __post_init__(self):
        _positive(self.shape, "Weibull shape")
        _positive(self.scale, "Weibull scale")
        scalar = np.ndim(self.shape) == 0 and np.ndim(self.scale) == 0
        object.__setattr__(self, "_ks", (float(self.shape), float(self.scale)) if scalar else None)

    def cumhaz(self, t):
        """Cumulative hazard ``H(t)`` at times ``t`` (array)."""
        return (np.asarray(t, dtype=float) / np.asarray(self.scale, dtype=float)) ** np.asarray(self.shape, dtype=float)

    def inv_cumhaz(self, h):
        """Inverse cumulative hazard: the time ``t`` with ``H(t) = h`` (array; ``inf`` if never)."""
        shape = np.asarray(self.shape, dtype=float)
        return np.asarray(self.scale, dtype=float) * np.asarray(h, dtype=float) ** (1.0 / shape)

    def _H1(self, t):
        if self._ks is None:
            return super()._H1(t)
        k, lam = self._ks
        return (t / lam) ** k

    def _Hinv1(self, h):
        if self._ks is None or math.isinf(h):
            return super()._Hinv1(h)
        k, lam = self._ks
        return lam * h ** (1.0 / k)


@dataclass(frozen=True)
class Gompertz(TimeToEvent):
    """Hazard ``rate * exp(shape t)``: ``H(t) = rate / shape (exp(shape t) - 1)``.

    ``H(t) = rate t`` when ``shape = 0``. With ``shape < 0`` the total hazard is bounded
    by ``-rate / shape`` and the event may never happen (``inf``).
    """

    shape: object
    rate: object

    def __post_init__(self):
        a = np.asarray(self.shape, dtype=float)
        if not np.isfinite(a).all():
            raise HtaError(f"Gompertz shape {self.shape!r} must be finite")
        _positive(self.rate, "Gompertz rate")

    def cumhaz(self, t):
        """Cumulative hazard ``H(t)`` at times ``t`` (array)."""
        a, b = np.asarray(self.shape, dtype=float), np.asarray(self.rate, dtype=float)
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a == 0, b * t, b * np.expm1(a * t) / np.where(a == 0, 1.0, a))

    def inv_cumhaz(self, h):
        """Inverse cumulative hazard: the time ``t`` with ``H(t) = h`` (array; ``inf`` if never)."""
        a, b = np.asarray(self.shape, dtype=float), np.asarray(self.rate, dtype=float)
        h = np.asarray(h, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = 1.0 + a * h / b
            t = np.where(a == 0, h / b, np.log1p(a * h / b) / np.where(a == 0, 1.0, a))
            return np.where((a < 0) & (x <= 0), np.inf, t)


@dataclass(frozen=True)
class LogLogistic(TimeToEvent):
    """``S(t) = 1 / (1 + (t / scale) ** shape)``: ``H(t) = log(1 + (t / scale) ** shape)``."""

    shape: object
    scale: object

    def __post_init__(self):
        _positive(self.shape, "LogLogistic shape")
        _positive(self.scale, "LogLogistic scale")

    def cumhaz(self, t):
        """Cumulative hazard ``H(t)`` at times ``t`` (array)."""
        return np.log1p((np.asarray(t, dtype=float) / np.asarray(self.scale, dtype=float))
                        ** np.asarray(self.shape, dtype=float))

    def inv_cumhaz(self, h):
        """Inverse cumulative hazard: the time ``t`` with ``H(t) = h`` (array; ``inf`` if never)."""
        with np.errstate(over="ignore"):
            return np.asarray(self.scale, dtype=float) * np.expm1(np.asarray(h, dtype=float)) ** (
                1.0 / np.asarray(self.shape, dtype=float))


@dataclass(frozen=True)
class LogNormal(TimeToEvent):
    """``S(t) = 1 - Phi((log t - meanlog) / sdlog)``."""

    meanlog: object
    sdlog: object

    def __post_init__(self):
        if not np.isfinite(np.asarray(self.meanlog, dtype=float)).all():
            raise HtaError(f"LogNormal meanlog {self.meanlog!r} must be finite")
        _positive(self.sdlog, "LogNormal sdlog")

    def cumhaz(self, t):
        """Cumulative hazard ``H(t)`` at times ``t`` (array)."""
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore"):
            z = (np.log(t) - np.asarray(self.meanlog, dtype=float)) / np.asarray(self.sdlog, dtype=float)
        return -special.log_ndtr(-z)  # -log S(t), accurate far in the tail

    def inv_cumhaz(self, h):
        """Inverse cumulative hazard: the time ``t`` with ``H(t) = h`` (array; ``inf`` if never)."""
        # S = exp(-h) = Phi(-z)  =>  z = -Phi^-1(exp(-h))
        z = -special.ndtri_exp(-np.asarray(h, dtype=float))
        return np.exp(np.asarray(self.meanlog, dtype=float) + np.asarray(self.sdlog, dtype=float) * z)


@dataclass(frozen=True, eq=False)
class PiecewiseExponential(TimeToEvent):
    """Hazard ``rates[i]`` on ``[breaks[i], breaks[i+1])``, the last rate holding forever.

    ``breaks`` start at 0 and increase. Rates may differ per patient: give ``rates``
    with shape ``(n_pieces,)`` or ``(n_patients, n_pieces)``.
    """

    breaks: np.ndarray
    rates: np.ndarray

    def __post_init__(self):
        b = np.asarray(self.breaks, dtype=float)
        r = np.asarray(self.rates, dtype=float)
        if b.ndim != 1 or b.size == 0 or b[0] != 0 or np.any(np.diff(b) <= 0) or not np.isfinite(b).all():
            raise HtaError(f"PiecewiseExponential breaks {self.breaks!r} must start at 0 and increase")
        if r.shape[-1] != b.size:
            raise HtaError(f"PiecewiseExponential: {b.size} breaks but {r.shape[-1]} rates; give one rate per piece")
        _positive(r, "PiecewiseExponential rate", allow_zero=True)
        object.__setattr__(self, "breaks", b)
        object.__setattr__(self, "rates", r)
        widths = np.diff(b)
        H = np.concatenate([np.zeros(r.shape[:-1] + (1,)), np.cumsum(r[..., :-1] * widths, axis=-1)], axis=-1)
        object.__setattr__(self, "_H", H)  # cumulative hazard at each break

    def cumhaz(self, t):
        """Cumulative hazard ``H(t)`` at times ``t`` (array)."""
        t = np.asarray(t, dtype=float)
        i = np.clip(np.searchsorted(self.breaks, t, side="right") - 1, 0, self.breaks.size - 1)
        H, r = np.broadcast_arrays(self._H, self.rates)
        if H.ndim == 1:
            return H[i] + r[i] * (t - self.breaks[i])
        rows = np.arange(H.shape[0]).reshape((-1,) + (1,) * (t.ndim - 1)) if t.ndim else np.arange(H.shape[0])
        return H[rows, i] + r[rows, i] * (t - self.breaks[i])

    def inv_cumhaz(self, h):
        """Inverse cumulative hazard: the time ``t`` with ``H(t) = h`` (array; ``inf`` if never)."""
        h = np.asarray(h, dtype=float)
        if self._H.ndim == 1:
            i = np.clip(np.searchsorted(self._H, h, side="right") - 1, 0, self.breaks.size - 1)
            # a zero rate in a piece makes H flat there: move on to the next piece with a hazard
            with np.errstate(divide="ignore", invalid="ignore"):
                t = self.breaks[i] + (h - self._H[i]) / self.rates[i]
            return np.where(self.rates[i] > 0, t, np.where(h <= self._H[i], self.breaks[i], np.inf))
        H, r = self._H, self.rates  # (n_patients, n_pieces)
        hh = np.broadcast_to(h, H.shape[:1])
        rows = np.arange(H.shape[0])
        i = np.clip((hh[:, None] >= H).sum(axis=1) - 1, 0, self.breaks.size - 1)
        Hi, ri, bi = H[rows, i], r[rows, i], self.breaks[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = bi + (hh - Hi) / ri
        return np.where(ri > 0, t, np.where(hh <= Hi, bi, np.inf))


def background_mortality(table: LifeTable, sex: str, age) -> PiecewiseExponential:
    """Time to death from a life table for patients of age ``age`` (years, array).

    The hazard is constant within each year of age: ``-log(1 - q_x)`` (or ``m_x``).
    Time is measured in years from ``age``. Beyond the table's last age the last
    hazard holds if the table is open-ended; otherwise a patient reaching it is an
    error at table level (give an open-ended table).
    """
    if sex not in table.values:
        raise HtaError(f"life table {table.name!r} has no sex {sex!r}; it has {', '.join(table.values)}")
    age = np.atleast_1d(_positive(age, "background_mortality: age", allow_zero=True))
    if not table.open_ended:
        raise HtaError(
            f"life table {table.name!r} is not open-ended: a patient may outlive it; load it with "
            f"open_ended=True if its last row means '{table.max_age} and over'"
        )
    v = np.asarray(table.values[sex], dtype=float)
    with np.errstate(divide="ignore"):
        haz = -np.log1p(-v) if table.kind == "qx" else v
    haz = np.where(np.isinf(haz), 1e12, haz)  # q = 1: death on reaching that age
    ages = table.ages.astype(float)
    if np.any(age < ages[0]):
        raise HtaError(f"background_mortality: age {float(age.min()):g} is below the table's first age {int(ages[0])}")
    # per patient: pieces start at the patient's age, then at each following whole age
    whole = np.floor(age + 1e-9)
    n_pieces = int(ages[-1] - whole.min()) + 1
    k = np.arange(n_pieces)
    starts = np.where(k == 0, 0.0, whole[:, None] + k[None, :] - age[:, None])
    idx = np.minimum(whole[:, None] + k[None, :], ages[-1]).astype(int) - int(ages[0])
    rates = haz[idx]
    if age.size == 1:
        return PiecewiseExponential(starts[0], rates[0])
    # a common break grid is needed: use each patient's own offsets via per-patient rates on a shared
    # grid only when all ages share the same fractional part
    frac = age - whole
    if not np.allclose(frac, frac[0]):
        raise HtaError("background_mortality: ages of a batch must share the same fractional part "
                       "(e.g. all whole years); split the batch")
    return PiecewiseExponential(starts[0], rates)


@dataclass(frozen=True, eq=False)
class SurvivalTime(TimeToEvent):
    """A survival curve of :mod:`sim.survival` (fitted or published) as a time to event.

    Any family of :data:`sim.survival.families.FAMILIES` or a Royston-Parmar spline, with
    its coefficients, covariates included (``fit.curve(arm=1)``). ``H`` and its inverse
    come from :mod:`sim.survival.inverse`: closed forms for the parametric families, a
    monotone numeric inversion for splines. Elapsed time (a Markov or semi-Markov clock)
    and hazard ratios work as for every :class:`TimeToEvent` (``Event(hr=...)``);
    accelerated-failure-time covariates go into the curve: build one ``SurvivalTime`` per
    covariate value and look it up in the event's time function (``times = {a:
    SurvivalTime.from_fit(fit, arm=a) for a in (0, 1)}``, ``Event("Dead", lambda p:
    times[p["arm"]])``).

    Parameters
    ----------
    curve : SurvivalCurve
        The curve. A curve of ``n`` parameter sets is one set per patient (elementwise
        with the uniforms), not ``n`` draws of one patient.
    time_unit : str or float
        Unit of the curve's time: ``"year"`` (the patient engine's unit), ``"month"``,
        ``"week"``, ``"day"`` or years per unit.
    """

    curve: object
    time_unit: object = "year"

    def __post_init__(self):
        from sim.survival.curves import SurvivalCurve
        from sim.survival.inverse import curve_parts, spline_scalar
        from sim.survival.values import years_per_unit

        if not isinstance(self.curve, SurvivalCurve):
            raise HtaError(f"SurvivalTime: curve must be a sim.survival.SurvivalCurve (e.g. fit.curve(arm=1)), "
                           f"got {type(self.curve).__name__}")
        object.__setattr__(self, "_u", years_per_unit(self.time_unit))
        object.__setattr__(self, "_parts", curve_parts(self.curve))
        scalar = self.curve.family == "spline" and self.curve.n_draws is None
        object.__setattr__(self, "_spline1", spline_scalar(self._parts) if scalar else None)

    @classmethod
    def from_fit(cls, fit, covariates=None, *, time_unit="year", **values) -> SurvivalTime:
        """The fitted curve at covariate values (``from_fit(fit, arm=1, time_unit="month")``)."""
        return cls(fit.curve(covariates, **values), time_unit)

    def cumhaz(self, t):
        """Cumulative hazard ``H(t)`` at times ``t`` in years (array)."""
        from sim.survival.inverse import cumhaz

        family, params, knots, scale = self._parts
        return cumhaz(family, params, np.asarray(t, dtype=float) / self._u, knots, scale)

    def inv_cumhaz(self, h):
        """Inverse cumulative hazard: the time in years with ``H(t) = h`` (array; ``inf`` if never)."""
        from sim.survival.inverse import inv_cumhaz

        family, params, knots, scale = self._parts
        return self._u * inv_cumhaz(family, params, h, knots, scale)

    # one spline curve, one value at a time: plain Python (the patient engine's hot path)
    def _H1(self, t):
        if self._spline1 is None:
            return super()._H1(t)
        return self._spline1[0](t / self._u)

    def _Hinv1(self, h):
        if self._spline1 is None:
            return super()._Hinv1(h)
        return self._u * self._spline1[1](h)

    def __repr__(self) -> str:
        return f"SurvivalTime({self.curve!r}, time_unit={self.time_unit!r})"
