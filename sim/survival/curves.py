"""A survival curve: a family with its parameter values, one set or one per draw.

``SurvivalCurve("weibull", {"shape": 1.3, "scale": 8.0})`` is a curve; with arrays of
``n`` values per parameter it is ``n`` curves (PSA draws), and every function returns
an array of shape ``(n,) + t.shape``. Everything is numpy, vectorised over times and
draws; survival is ``exp(-H)`` and the density ``exp(log h - H)`` so both stay
accurate far into the tail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sim.errors import HtaError
from sim.survival import families as fam
from sim.survival import splines as spl

__all__ = ["SurvivalCurve"]


def _freeze(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class SurvivalCurve:
    """A parametric survival curve (or one per draw), in flexsurv's parameterisation.

    Parameters
    ----------
    family : str
        A family of :data:`sim.survival.families.FAMILIES` or ``"spline"``.
    params : mapping of str to float or array
        Natural parameter values by name (``{"shape": 1.2, "scale": 10}``); for
        splines ``gamma0, gamma1, ...``. Arrays of one length ``n`` give ``n`` curves.
    knots : sequence of float, optional
        Spline knots on the log-time scale, boundary knots included (splines only).
    scale : str, optional
        Spline scale: ``"hazard"``, ``"odds"`` or ``"normal"`` (splines only).
    label : str, optional
        A name for tables and figures.

    Notes
    -----
    Times are in the units of the data the curve was fitted to. ``t = 0`` gives
    ``S = 1`` and ``H = 0``.
    """

    family: str
    params: Mapping[str, np.ndarray]
    knots: tuple[float, ...] | None = None
    scale: str | None = None
    label: str = ""
    _values: tuple = field(init=False, repr=False)

    def __post_init__(self):
        if self.family == "spline":
            if self.knots is None or self.scale is None:
                raise HtaError("a spline curve needs its knots and its scale ('hazard', 'odds' or 'normal')")
            spl.check_scale(self.scale)
            names = tuple(f"gamma{j}" for j in range(len(self.knots)))
        else:
            f = fam.family(self.family)
            object.__setattr__(self, "family", f.name)
            names = f.parameters
        missing = [n for n in names if n not in self.params]
        extra = [n for n in self.params if n not in names]
        if missing or extra:
            raise HtaError(f"{self.family} curve: parameters must be {', '.join(names)}"
                           + (f"; missing {', '.join(missing)}" if missing else "")
                           + (f"; unknown {', '.join(extra)}" if extra else ""))
        values = [_freeze(self.params[n]) for n in names]
        try:
            shape = np.broadcast_shapes(*(v.shape for v in values))
        except ValueError:
            raise HtaError(f"{self.family} curve: parameter arrays have different lengths "
                           f"{[v.shape for v in values]}") from None
        if len(shape) > 1:
            raise HtaError(f"{self.family} curve: parameters must be numbers or 1-d arrays (one per draw)")
        for n, v in zip(names, values, strict=True):
            if not np.all(np.isfinite(v)):
                raise HtaError(f"{self.family} curve: parameter {n!r} has non-finite values")
        if self.family != "spline":
            f = fam.family(self.family)
            for n, v, tr in zip(names, values, f.transforms, strict=True):
                if tr == "log" and np.any(v <= 0):
                    raise HtaError(f"{f.label} curve: parameter {n!r} must be > 0, got {v.min()}")
        object.__setattr__(self, "params", {n: v for n, v in zip(names, values, strict=True)})
        object.__setattr__(self, "_values", tuple(values))
        if self.knots is not None:
            object.__setattr__(self, "knots", tuple(float(k) for k in self.knots))

    # ---------------------------------------------------------------- shape handling
    @property
    def n_draws(self) -> int | None:
        """Number of curves (draws), or ``None`` for a single curve."""
        shape = np.broadcast_shapes(*(v.shape for v in self._values))
        return shape[0] if shape else None

    def _args(self, t):
        t = np.asarray(t, dtype=float)
        if np.any(np.isnan(t)) or np.any(t < 0):
            raise HtaError(f"{self.family} curve: times must be >= 0 (got min {np.nanmin(t) if t.size else t})")
        if self.n_draws is None:
            return t, list(self._values)
        extra = (1,) * t.ndim
        return t, [np.broadcast_to(v, (self.n_draws,)).reshape((self.n_draws,) + extra) for v in self._values]

    def _gammas(self, vals):
        return np.stack(np.broadcast_arrays(*vals), axis=-1)

    # ---------------------------------------------------------------- functions of time
    def cumhaz(self, t) -> np.ndarray:
        """Cumulative hazard ``H(t)``; shape ``t.shape`` or ``(n_draws,) + t.shape``."""
        t, vals = self._args(t)
        if self.family == "spline":
            H = spl.spline_cumhaz(t, self._gammas(vals), self.knots, self.scale)
        else:
            H = fam.cumhaz(self.family, t, *vals)
        return np.where(t > 0, H, 0.0)

    def survival(self, t) -> np.ndarray:
        """Survival ``S(t) = exp(-H(t))``."""
        return np.exp(-self.cumhaz(t))

    def log_hazard(self, t) -> np.ndarray:
        """Log hazard (``nan`` for a spline where its hazard is not defined)."""
        t, vals = self._args(t)
        if self.family == "spline":
            return spl.spline_log_hazard(t, self._gammas(vals), self.knots, self.scale)
        return fam.log_hazard(self.family, t, *vals)

    def hazard(self, t) -> np.ndarray:
        """Hazard ``h(t)``."""
        with np.errstate(over="ignore"):
            return np.exp(self.log_hazard(t))

    def density(self, t) -> np.ndarray:
        """Density ``f(t) = h(t) S(t)``, computed as ``exp(log h - H)``."""
        with np.errstate(over="ignore", invalid="ignore"):
            return np.exp(self.log_hazard(t) - self.cumhaz(t))

    def quantile(self, q) -> np.ndarray:
        """Time by which a share ``q`` has had the event: ``F(t) = q`` (``inf`` if never)."""
        q = np.asarray(q, dtype=float)
        if np.any(np.isnan(q)) or np.any((q < 0) | (q > 1)):
            raise HtaError(f"{self.family} curve: quantile levels must be in [0, 1]")
        _, vals = self._args(q)
        if self.family == "spline":
            return spl.spline_quantile(q, self._gammas(vals), self.knots, self.scale)
        out = fam.quantile(self.family, q, *vals)
        return np.where(q <= 0, 0.0, np.where(q >= 1, np.inf, out))

    def median(self) -> np.ndarray | float:
        """Median time to event."""
        m = self.quantile(0.5)
        return float(m) if np.ndim(m) == 0 else m

    def random(self, u) -> np.ndarray:
        """Times to event from uniforms ``u`` in (0, 1) by inversion: ``t = F^{-1}(u)``.

        Use the project's counter-based streams for ``u``
        (:func:`sim.patient.streams.uniforms`) so patients meet the same numbers in
        every strategy.
        """
        u = np.asarray(u, dtype=float)
        if np.any((u <= 0) | (u >= 1)):
            raise HtaError(f"{self.family} curve: uniforms must be strictly between 0 and 1")
        return self.quantile(u)

    def transition_probabilities(self, times) -> np.ndarray:
        """Per-interval event probabilities ``1 - exp(H(t_{k-1}) - H(t_k))``.

        Parameters
        ----------
        times : array of float, shape (K + 1,)
            Increasing interval bounds ``t_0 < t_1 < ... < t_K`` (e.g. cycle times).

        Returns
        -------
        ndarray, shape (K,) or (n_draws, K)
            Probability of the event in ``[t_{k-1}, t_k)`` given no event by ``t_{k-1}``.
        """
        times = np.asarray(times, dtype=float)
        if times.ndim != 1 or times.size < 2 or np.any(np.diff(times) <= 0):
            raise HtaError("transition_probabilities: times must be an increasing 1-d array of at least two values")
        H = self.cumhaz(times)
        return -np.expm1(H[..., :-1] - H[..., 1:])

    def __repr__(self) -> str:
        if self.n_draws is None:
            vals = ", ".join(f"{k}={float(v):.6g}" for k, v in self.params.items())
        else:
            vals = f"{self.n_draws} draws of " + ", ".join(self.params)
        extra = f", scale={self.scale!r}, knots={len(self.knots)}" if self.family == "spline" else ""
        lab = f" {self.label!r}" if self.label else ""
        return f"SurvivalCurve({self.family}{lab}: {vals}{extra})"
