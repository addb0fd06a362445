"""The partitioned survival engine: curves at the trace points, state shares, rewards.

:func:`run_psm` evaluates every strategy's curves at the trace points ``t_k = k h``
(``k = 0..T``) for every draw, constrains crossing curves (an inner curve above an
outer one is lowered to it, and every crossing is reported in the result's
``settings["crossings"]`` and as a :class:`CurveCrossingWarning`), turns the curves
into state shares and counts the rewards with the within-cycle correction and
discounting coefficients of :mod:`sim.model.conventions` (through
:func:`sim.model.arrays.coefficients`, the cohort engine's own), so a partitioned
survival model whose curves come from a Markov chain gives that chain's cohort
results. Everything is numpy, vectorised over draws. Formulas: ``docs/psm.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.model.arrays import coefficients
from sim.model.conventions import CORRECTIONS, TRANSITION_REWARDS
from sim.model.draws import ResolvedDraws, resolve_draws
from sim.model.evaluate import Context, Params, Time, evaluate
from sim.params.sampling import Draws
from sim.psm.spec import PartitionedSurvival
from sim.results import Result, make_settings, outcome_data
from sim.survival import families as fam
from sim.survival.curves import SurvivalCurve
from sim.survival.values import SurvivalProbability, years_per_unit

__all__ = ["run_psm", "psm_totals", "psm_settings", "PSMResult", "CurveCrossingWarning", "merge_crossings",
           "CHUNK"]

#: Draws evaluated at once by :func:`run_psm` (results do not depend on it).
CHUNK = 4096
#: Rounding noise tolerated in a curve's range [0, 1] and its monotonicity.
TOL = 1e-12


class CurveCrossingWarning(UserWarning):
    """An inner curve lay above an outer one (e.g. PFS above OS) and was lowered to it."""


@dataclass(frozen=True)
class PSMResult(Result):
    """What :func:`run_psm` and :func:`sim.psm.run_psm_psa` return.

    Attributes
    ----------
    outcomes : DataFrame
        One row per (draw, strategy), the columns of :class:`sim.CohortResult.outcomes`:
        ``draw, strategy, cost, qaly, ly, cost_undisc, qaly_undisc, ly_undisc`` and
        ``cost_<component>[_undisc]`` per cost component.
    settings : dict
        Engine ``"psm"``, model, conventions, ``crossings`` (one record per strategy
        and pair of curves that crossed: ``strategy, inner, outer, from_year, draws,
        n_draws, max_excess``) and ``warnings`` (the same in words), seed, version.
    trace : DataFrame or None
        ``draw, strategy, cycle, state, share`` (only when asked for).
    draws : Draws or None
        The parameter draws of a PSA.
    """

    outcomes: pd.DataFrame
    settings: Mapping[str, Any]
    trace: pd.DataFrame | None = None
    draws: Draws | None = None


# ---------------------------------------------------------------------------- evaluation
class _Eval:
    """Parameters of draws ``lo:hi`` and the evaluation of values and curves on them."""

    def __init__(self, model: PartitionedSurvival, draws: ResolvedDraws, lo: int, hi: int):
        self.model, self.ids, self.n = model, draws.ids[lo:hi], hi - lo
        n = self.n if draws.arrays else 1
        arr = {k: v[lo:hi].reshape(-1, 1, 1) for k, v in draws.arrays.items()}
        arr.update({k: np.full((1, 1, 1), v) for k, v in draws.fixed.items()})
        self.params = Params(arr, n)
        self.flat = Params({k: v[:, :, 0] for k, v in arr.items()}, n)  # (n | 1, 1) for curve callables
        self.T = model.n_cycles
        self.t = np.arange(self.T + 1) * model.cycle_length

    def _label(self, d: int) -> str:
        return f", draw {int(self.ids[d])}" if self.params.n > 1 else ""

    def value(self, v: Any, strategy: str, n_cycles: int, where: str) -> np.ndarray:
        """``v`` on cycles ``0..n_cycles-1``: shape ``(n | 1, n_cycles)``, checked finite."""
        time = Time(cycle=np.arange(n_cycles).reshape(1, -1, 1), cycle_length=self.model.cycle_length,
                    start_age=None, sojourn=np.zeros((1, 1, 1), dtype=np.int64), strategy=strategy, where=where)
        a = evaluate(v, Context(self.params, time, where))
        a = np.broadcast_to(a, (a.shape[0], n_cycles, 1))[:, :, 0]
        bad = ~np.isfinite(a)
        if bad.any():
            d, j = np.argwhere(bad)[0]
            raise HtaError(f"{where}, cycle {int(j)}: value is {float(a[d, j])!r}{self._label(d)}; check the "
                           f"parameter values and the formula that produce it")
        return a

    def curve(self, strategy: str, name: str) -> np.ndarray:
        """Survival of one curve at the trace points: shape ``(n | 1, T + 1)``, checked."""
        cur = self.model.survival[strategy][name]
        where = f"strategy {strategy!r}, curve {name!r}"
        if isinstance(cur, SurvivalProbability):
            S = self._parametric(cur, strategy, where)
        elif isinstance(cur, SurvivalCurve):
            if cur.n_draws is not None and cur.n_draws != self.n:
                raise HtaError(f"{where}: the curve has {cur.n_draws} draws but the run has {self.n}; give "
                               f"one curve or one per draw")
            S = cur.survival(self.t / years_per_unit(self.model.time_unit))
        else:
            try:
                S = cur(self.t, self.flat)
            except HtaError:
                raise
            except Exception as exc:  # user code: say where it was called from
                raise HtaError(f"{where}: the curve function raised {type(exc).__name__}: {exc}") from exc
        S = np.asarray(S, dtype=float)
        given = S.shape
        if S.ndim == 1:
            S = S[None, :]
        if S.ndim != 2 or S.shape[1] != self.T + 1 or S.shape[0] not in (1, self.n):
            raise HtaError(f"{where}: survival has shape {given}; expected ({self.T + 1},) or "
                           f"({self.n}, {self.T + 1}) (draws x trace points 0..T)")
        self._check(S, where)
        return S

    def _parametric(self, v: SurvivalProbability, strategy: str, where: str) -> np.ndarray:
        coef = [self.value(c, strategy, 1, f"{where}, coefficient {i}")[:, 0] for i, c in enumerate(v.coefficients)]
        n_base = len(coef) - len(v.covariates)
        base = coef[:n_base]
        f = None if v.family == "spline" else fam.family(v.family)
        loc = 0 if f is None else f.parameters.index(f.location)
        for i, (b, x) in enumerate(zip(coef[n_base:], v.covariates, strict=True)):
            base[loc] = base[loc] + b * self.value(x, strategy, 1, f"{where}, covariate {i}")[:, 0]
        real = np.stack(np.broadcast_arrays(*base), axis=-1)  # (n | 1, n_base)
        if f is None:
            names = [f"gamma{j}" for j in range(n_base)]
            nat = [real[:, j] for j in range(n_base)]
        else:
            names, nat = list(f.parameters), f.to_natural(real)
        single = real.shape[0] == 1
        try:
            curve = SurvivalCurve(v.family, {k: (float(a[0]) if single else a) for k, a in zip(names, nat,
                                                                                             strict=True)},
                                  knots=v.knots, scale=v.scale)
        except HtaError as exc:
            raise HtaError(f"{where}: {exc}") from None
        with np.errstate(all="ignore"):
            return curve.survival(self.t / years_per_unit(v.time_unit))

    def _check(self, S: np.ndarray, where: str) -> None:
        bad = ~np.isfinite(S) | (S < -TOL) | (S > 1 + TOL)
        if bad.any():
            d, k = np.argwhere(bad)[0]
            raise HtaError(f"{where}, time {self.t[k]:g} years: survival {float(S[d, k])!r}{self._label(d)} is not "
                           f"a probability in [0, 1]; check the curve and its coefficients")
        rise = np.diff(S, axis=1) > TOL
        if rise.any():
            d, k = np.argwhere(rise)[0]
            raise HtaError(f"{where}: survival rises from {float(S[d, k]):.12g} at {self.t[k]:g} years to "
                           f"{float(S[d, k + 1]):.12g} at {self.t[k + 1]:g} years{self._label(d)}; a survival "
                           f"curve never increases")


def _constrain(S: np.ndarray, model: PartitionedSurvival, strategy: str, t: np.ndarray) -> list[dict]:
    """Lower every inner curve to the outer one where it lies above (in place), outermost pair first."""
    records = []
    for i in range(S.shape[1] - 2, -1, -1):
        over = S[:, i] > S[:, i + 1]
        if over.any():
            records.append({"strategy": strategy, "inner": model.curves[i], "outer": model.curves[i + 1],
                            "from_year": float(t[over.any(axis=0)].min()), "draws": int(over.any(axis=1).sum()),
                            "n_draws": int(S.shape[0]), "max_excess": float((S[:, i] - S[:, i + 1]).max())})
            np.minimum(S[:, i], S[:, i + 1], out=S[:, i])
    return records


def merge_crossings(records: list[dict]) -> list[dict]:
    """Crossing records of chunks of draws merged per (strategy, inner, outer) curve pair.

    Parameters
    ----------
    records : list of dict
        Records as in ``PSMResult.settings["crossings"]``.

    Returns
    -------
    list of dict
        One record per pair: earliest ``from_year``, summed ``draws`` and ``n_draws``, largest ``max_excess``.
    """
    out: dict = {}
    for r in records:
        key = (r["strategy"], r["inner"], r["outer"])
        if key not in out:
            out[key] = dict(r)
        else:
            m = out[key]
            m["from_year"] = min(m["from_year"], r["from_year"])
            m["draws"] += r["draws"]
            m["n_draws"] += r["n_draws"]
            m["max_excess"] = max(m["max_excess"], r["max_excess"])
    return list(out.values())


def crossing_messages(records: list[dict], n_draws: int) -> list[str]:
    """The crossing records in words (one sentence each)."""
    return [f"strategy {r['strategy']!r}: curve {r['inner']!r} lies above {r['outer']!r} from {r['from_year']:g} "
            f"years in {r['draws']} of {n_draws} draws (by up to {r['max_excess']:.3g}); constrained to "
            f"{r['inner']} = min({r['inner']}, {r['outer']})" for r in records]


# ---------------------------------------------------------------------------- totals
def psm_totals(model: PartitionedSurvival, draws: ResolvedDraws, lo: int, hi: int, *,
               trace: bool = False) -> tuple[np.ndarray, np.ndarray | None, tuple, list[dict]]:
    """Per-draw totals of draws ``lo:hi``.

    Parameters
    ----------
    model : PartitionedSurvival
        The model.
    draws : ResolvedDraws
        Parameter values (:func:`~sim.model.draws.resolve_draws`).
    lo, hi : int
        The draws computed.
    trace : bool
        Also return the state shares.

    Returns
    -------
    totals : ndarray, shape (hi - lo, K, 2, NR)
        Discounted (index 0) and undiscounted (1) totals per draw, strategy and reward column.
    shares : ndarray, shape (hi - lo, K, T + 1, S), or None
        State shares at the trace points (after constraining crossing curves).
    columns : tuple of str
        Reward columns: cost components, ``"qaly"``, ``"ly"``.
    crossings : list of dict
        Crossing records (see :class:`PSMResult`).
    """
    ev = _Eval(model, draws, lo, hi)
    n, T, h = hi - lo, model.n_cycles, model.cycle_length
    K, N, NS = len(model.strategies), len(model.curves), len(model.states)
    columns = tuple(model.cost_components) + ("qaly", "ly")
    NR = len(columns)
    c_own, c_prev, c_tr = coefficients(model, columns)
    totals = np.zeros((n, K, 2, NR))
    shares = np.empty((n, K, T + 1, NS)) if trace else None
    crossings: list[dict] = []
    cost_scale = h if model.cost_unit == "year" else 1.0
    for k, strat in enumerate(model.strategies):
        S = np.empty((n, N, T + 1))
        for i, name in enumerate(model.curves):
            S[:, i] = ev.curve(strat, name)
        crossings += _constrain(S, model, strat, ev.t)
        m = np.empty((n, T + 1, NS))
        m[:, :, 0] = S[:, 0]
        m[:, :, 1:N] = np.moveaxis(S[:, 1:] - S[:, :-1], 1, 2)
        m[:, :, N] = 1.0 - S[:, N - 1]
        if shares is not None:
            shares[:, k] = m
        state_rw = []  # (column, state index, per-cycle reward (n | 1, T + 1))
        for r, comp in enumerate(columns[:-2]):
            for s, v in model.costs.get(comp, {}).items():
                a = ev.value(v, strat, T + 1, f"strategy {strat!r}, cost {comp!r} of state {s!r}")
                state_rw.append((r, model.states.index(s), a * cost_scale))
        for s, v in model.utilities.items():
            a = ev.value(v, strat, T + 1, f"strategy {strat!r}, utility of state {s!r}")
            _utility_bound(a, model, ev, strat, s)
            state_rw.append((NR - 2, model.states.index(s), a * h))
        for j, s in enumerate(model.states):
            if s not in model.dead:
                state_rw.append((NR - 1, j, np.full((1, T + 1), h)))
        for r, j, R in state_rw:
            R = np.broadcast_to(R, (R.shape[0], T + 1))
            R_prev = np.concatenate([R[:, :1], R[:, :-1]], axis=1)
            for g in range(2):
                totals[:, k, g, r] += (m[:, :, j] * (c_own[g, r] * R + c_prev[g, r] * R_prev)).sum(axis=1)
        entry = [(columns.index(c), s, v) for c, tab in model.entry_costs.items() for s, v in tab.items()]
        entry += [(NR - 2, s, v) for s, v in model.entry_utilities.items()]
        for r, s, v in entry:
            j = model.states.index(s)
            flow = S[:, j - 1, :-1] - S[:, j - 1, 1:]  # across the boundary into state j, cycles 0..T-1
            a = ev.value(v, strat, T, f"strategy {strat!r}, entry {columns[r]} of state {s!r}")
            for g in range(2):
                totals[:, k, g, r] += (flow * a * c_tr[g, r]).sum(axis=1)
        start = [(columns.index(c), s, v) for c, tab in model.start_costs.items() for s, v in tab.items()]
        start += [(NR - 2, s, v) for s, v in model.start_utilities.items()]
        for r, s, v in start:
            a = ev.value(v, strat, 1, f"strategy {strat!r}, start {columns[r]} of state {s!r}")
            totals[:, k, :, r] += (m[:, 0, model.states.index(s)] * a[:, 0])[:, None]
    return totals, shares, columns, crossings


def _utility_bound(a: np.ndarray, model: PartitionedSurvival, ev: _Eval, strategy: str, state: str) -> None:
    if model.utility_max is None:
        return
    over = a > model.utility_max
    if over.any():
        d, j = np.argwhere(over)[0]
        raise HtaError(f"strategy {strategy!r}, utility of state {state!r}, cycle {int(j)}: {float(a[d, j])!r} is "
                       f"above {model.utility_max:g}{ev._label(d)}; utilities are per year on a 0-1 scale "
                       f"(give utility_max=None for another scale)")


def psm_settings(model: PartitionedSurvival, n: int, seed, crossings: list[dict]) -> dict:
    """The ``settings`` of a partitioned survival result.

    Returns
    -------
    dict
        :func:`~sim.results.make_settings` for engine ``"psm"`` with the states, curves,
        conventions, entry-reward weighting, ``crossings`` and ``warnings``.
    """
    return make_settings(
        "psm", model=model.name, strategies=model.strategies, n_draws=int(n), seed=seed,
        states=list(model.states), curves=list(model.curves), cycle_length=model.cycle_length,
        n_cycles=model.n_cycles, correction=model.correction, correction_formula=CORRECTIONS[model.correction],
        discount_costs=model.discount_costs.describe(), discount_outcomes=model.discount_outcomes.describe(),
        discount_timing=model.discount_timing, cost_unit=model.cost_unit,
        entry_rewards=TRANSITION_REWARDS[model.transition_rewards] + "; the flow across the curve bounding the "
        "states before the entered one",
        start_rewards="counted once at time 0 on the shares at time 0, not discounted",
        crossings=crossings, warnings=crossing_messages(crossings, int(n)))


def _trace_frame(model: PartitionedSurvival, ids: np.ndarray, shares: np.ndarray) -> pd.DataFrame:
    n, K, T1, S = shares.shape
    return pd.DataFrame({
        "draw": np.repeat(ids, K * T1 * S),
        "strategy": pd.Categorical.from_codes(np.tile(np.repeat(np.arange(K, dtype=np.int16), T1 * S), n),
                                              categories=list(model.strategies)),
        "cycle": np.tile(np.repeat(np.arange(T1), S), n * K),
        "state": pd.Categorical.from_codes(np.tile(np.arange(S, dtype=np.int16), n * K * T1),
                                           categories=list(model.states)),
        "share": shares.ravel(),
    })


def warn_crossings(settings: Mapping) -> None:
    """Issue one :class:`CurveCrossingWarning` per crossing recorded in ``settings``."""
    for msg in settings["warnings"]:
        warnings.warn(msg, CurveCrossingWarning, stacklevel=3)


def run_psm(model: PartitionedSurvival, params: Any = None, *, trace: bool = False,
            chunk_size: int = CHUNK, defaults: str | None = None) -> PSMResult:
    """Run a partitioned survival model for every strategy and every draw.

    Parameters
    ----------
    model : PartitionedSurvival
        The model.
    params : None, mapping, DataFrame or Draws
        Parameter draws, as for :func:`sim.run_cohort`; omitted parameters keep the
        model's base-case values.
    trace : bool
        Keep the state shares at every trace point.
    chunk_size : int
        Draws evaluated at once (results do not depend on it).
    defaults : {None, "model"}
        As for :func:`sim.run_cohort`: whether a Draws object or a parameter table may lack
        parameters of the model (they keep its base case; ``settings["defaulted_parameters"]``).

    Returns
    -------
    PSMResult
        ``outcomes`` (the cohort engine's columns), ``settings`` (with ``crossings`` and
        ``warnings``), ``trace`` (if asked: ``draw, strategy, cycle, state, share``).

    Warns
    -----
    CurveCrossingWarning
        Once per strategy and pair of curves that crossed (and were constrained).
    """
    if not isinstance(model, PartitionedSurvival):
        raise HtaError(f"run_psm needs a PartitionedSurvival model, got {type(model).__name__}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise HtaError(f"chunk_size {chunk_size!r} must be a whole number >= 1")
    draws = resolve_draws(model, params, defaults, "run_psm")
    n = len(draws.ids)
    parts = [psm_totals(model, draws, lo, min(n, lo + chunk_size), trace=trace) for lo in range(0, n, chunk_size)]
    totals = np.concatenate([p[0] for p in parts])
    columns = parts[0][2]
    settings = psm_settings(model, n, draws.seed, merge_crossings([r for p in parts for r in p[3]]))
    if draws.defaulted:
        settings["defaulted_parameters"] = list(draws.defaulted)
    outcomes = pd.DataFrame(outcome_data(model.strategies, draws.ids, totals, columns), copy=False)
    outcomes.attrs["settings"] = settings
    trace_df = None
    if trace:
        trace_df = _trace_frame(model, draws.ids, np.concatenate([p[1] for p in parts]))
        trace_df.attrs["settings"] = settings
    warn_crossings(settings)
    return PSMResult(outcomes=outcomes, settings=settings, trace=trace_df)
