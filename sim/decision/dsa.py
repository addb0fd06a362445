"""Deterministic sensitivity analysis: one-way (tornado), two-way, scenarios, thresholds.

An *analysis driver*: it varies base-case parameter values of a :class:`~sim.Model`
and runs the cohort engine.  Every analysis that evaluates a fixed set of
parameter values (one-way, two-way, scenarios) runs them all in **one**
:func:`sim.run_cohort` call, one "draw" per parameter set.  Threshold analysis
solves ``INMB(value) = 0`` with Brent's method, one engine call per iteration.

Formulas, how ranges are chosen and the conventions: ``docs/dsa.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sim.cohort import run_cohort
from sim.decision.core import icer_table
from sim.errors import HtaError, finite_number, suggest
from sim.model.spec import Model
from sim.params.table import ParameterTable
from sim.results import outcome_columns

__all__ = [
    "one_way",
    "two_way",
    "scenarios",
    "threshold",
    "value_based_price",
    "table_ranges",
    "OUTCOMES",
    "BASE_CASE",
]

#: Named outcomes of :func:`one_way` and :func:`two_way` (besides outcome columns and callables).
OUTCOMES = {
    "inmb": "incremental net monetary benefit of strategy vs comparator: wtp * dE - dC (needs wtp)",
    "icer": "incremental cost-effectiveness ratio of strategy vs comparator: dC / dE",
    "nmb": "net monetary benefit of strategy: wtp * E - C (needs wtp)",
}
#: Name of the scenario that :func:`scenarios` adds first.
BASE_CASE = "base case"

_EFFECT_LABEL = {"qaly": "QALY", "ly": "life-year", "qaly_undisc": "undiscounted QALY",
                 "ly_undisc": "undiscounted life-year"}


# ---------------------------------------------------------------------------- checks
def _check_model(model: Any, who: str) -> None:
    if not isinstance(model, Model):
        raise HtaError(f"{who} needs a sim.Model as its first argument, got {type(model).__name__}")


def _check_parameter(model: Model, name: Any, where: str) -> str:
    if not isinstance(name, str) or name not in model.parameters:
        raise HtaError(
            f"{where}: unknown parameter {name!r}{suggest(name, model.parameters)}; model "
            f"{model.name!r} declares {', '.join(map(repr, model.parameters))}"
        )
    return name


def _check_wtp(wtp: Any, who: str, why: str) -> float:
    if wtp is None:
        raise HtaError(
            f"{who}: {why} needs a willingness to pay; give wtp= (money per unit of effect, e.g. 20000)"
        )
    w = finite_number(wtp, f"{who}: willingness to pay wtp")
    if w < 0:
        raise HtaError(
            f"{who}: willingness to pay {w:g} is negative; give wtp >= 0 (money per unit of effect)"
        )
    return w


def _check_strategy(model: Model, s: Any, who: str, role: str) -> str:
    if s not in model.strategies:
        raise HtaError(
            f"{who}: unknown {role} {s!r}{suggest(s, model.strategies)}; strategies of model "
            f"{model.name!r} are {', '.join(map(repr, model.strategies))}"
        )
    return s


def _pick_strategies(model: Model, strategy: Any, comparator: Any, who: str,
                     need_comparator: bool) -> tuple[str, str | None]:
    """Resolve ``strategy`` and ``comparator``; defaults only for two-strategy models."""
    K = len(model.strategies)
    if strategy is None:
        if K == 2:
            strategy = model.strategies[1]
        elif K == 1 and not need_comparator:
            strategy = model.strategies[0]
        else:
            raise HtaError(
                f"{who}: model {model.name!r} has {K} strategies; say which one with strategy= "
                f"(one of {', '.join(map(repr, model.strategies))})"
            )
    _check_strategy(model, strategy, who, "strategy")
    if not need_comparator:
        return strategy, None
    if K < 2:
        raise HtaError(f"{who}: an incremental outcome needs two strategies; model {model.name!r} has one")
    if comparator is None:
        others = [s for s in model.strategies if s != strategy]
        if K == 2 or strategy != model.strategies[0]:
            comparator = others[0] if K == 2 else model.strategies[0]
        else:
            raise HtaError(
                f"{who}: say which strategy {strategy!r} is compared with: comparator= (one of "
                f"{', '.join(map(repr, others))})"
            )
    _check_strategy(model, comparator, who, "comparator")
    if comparator == strategy:
        raise HtaError(
            f"{who}: strategy and comparator are both {strategy!r}; compare two different strategies"
        )
    return strategy, comparator


def _effect_columns(model: Model) -> list[str]:
    return [c for c in outcome_columns(model.cost_components) if c not in ("draw", "strategy")]


def _check_effect(model: Model, effect: Any, who: str) -> str:
    cols = _effect_columns(model)
    if effect not in cols:
        raise HtaError(
            f"{who}: effect {effect!r}{suggest(effect, cols)} is not an outcome column; use 'qaly', "
            f"'ly' or another of {', '.join(cols)}"
        )
    return effect


def _money(w: float) -> str:
    return f"{w:,.0f}" if float(w).is_integer() else f"{w:,.2f}"


def _per(effect: str) -> str:
    return _EFFECT_LABEL.get(effect, effect)


# ---------------------------------------------------------------------------- outcomes
class _Outcome:
    """A resolved outcome specification: a label and a function of the wide results."""

    def __init__(self, model: Model, outcome: Any, *, wtp, strategy, comparator, effect: str, who: str):
        self.model = model
        self.effect = _check_effect(model, effect, who)
        self.callable = callable(outcome)
        self.kind = outcome if isinstance(outcome, str) else None
        if self.callable:
            self.strategy, self.comparator = None, None
            self.wtp = None if wtp is None else _check_wtp(wtp, who, "")
            self.label = getattr(outcome, "__name__", None) or "custom outcome"
            if self.label == "<lambda>":
                self.label = "custom outcome"
            self.fn = outcome
            return
        if not isinstance(outcome, str):
            raise HtaError(
                f"{who}: outcome {outcome!r} must be 'inmb', 'icer', 'nmb', an outcome column "
                f"name or a callable taking one parameter set's outcomes table"
            )
        cols = _effect_columns(model)
        if outcome not in OUTCOMES and outcome not in cols:
            raise HtaError(
                f"{who}: unknown outcome {outcome!r}{suggest(outcome, list(OUTCOMES) + cols)}; use "
                f"'inmb', 'icer', 'nmb', one of the outcome columns ({', '.join(cols)}) or a callable"
            )
        incremental = outcome in ("inmb", "icer")
        self.strategy, self.comparator = _pick_strategies(model, strategy, comparator, who, incremental)
        self.wtp = None
        if outcome in ("inmb", "nmb"):
            self.wtp = _check_wtp(wtp, who, f"outcome {outcome!r}")
        elif wtp is not None:
            self.wtp = _check_wtp(wtp, who, "")
        s, c = self.strategy, self.comparator
        if outcome == "inmb":
            self.label = f"INMB of {s} vs {c} at {_money(self.wtp)} per {_per(effect)}"
        elif outcome == "icer":
            self.label = f"ICER of {s} vs {c} (cost per {_per(effect)} gained)"
        elif outcome == "nmb":
            self.label = f"NMB of {s} at {_money(self.wtp)} per {_per(effect)}"
        else:
            self.label = f"{outcome} of {s}"

    def evaluate(self, outcomes: pd.DataFrame, n: int) -> np.ndarray:
        """The outcome of each of the ``n`` parameter sets (draws) of ``outcomes``."""
        K = len(self.model.strategies)
        if self.callable:
            out = np.empty(n)
            for i in range(n):
                part = outcomes.iloc[i * K:(i + 1) * K].reset_index(drop=True)
                v = self.fn(part)
                try:
                    out[i] = float(v)
                except (TypeError, ValueError):
                    raise HtaError(
                        f"outcome function {self.label!r} returned {v!r}; it must return one number "
                        f"for the outcomes table of one parameter set"
                    ) from None
            return out
        strategies = list(self.model.strategies)
        k = strategies.index(self.strategy)
        if self.kind in OUTCOMES:
            cost = _wide(outcomes, "cost", n, K)
            eff = _wide(outcomes, self.effect, n, K)
            if self.kind == "nmb":
                return self.wtp * eff[:, k] - cost[:, k]
            j = strategies.index(self.comparator)
            dc, de = cost[:, k] - cost[:, j], eff[:, k] - eff[:, j]
            if self.kind == "inmb":
                return self.wtp * de - dc
            with np.errstate(divide="ignore", invalid="ignore"):
                return dc / de
        return _wide(outcomes, self.kind, n, K)[:, k]


def _wide(outcomes: pd.DataFrame, column: str, n: int, K: int) -> np.ndarray:
    """Column of an outcomes table as ``(n_draws, n_strategies)`` (engine order: draw-major)."""
    return outcomes[column].to_numpy(float).reshape(n, K)


def _run_sets(model: Model, arrays: Mapping[str, np.ndarray], labels: list[str], who: str) -> pd.DataFrame:
    """Run all parameter sets in one engine call; on failure, name the set that fails."""
    n = len(labels)
    try:
        return run_cohort(model, dict(arrays)).outcomes
    except HtaError as exc:
        for i, lab in enumerate(labels):  # rerun one by one (error path only) to name the culprit
            try:
                run_cohort(model, {k: np.asarray(v)[i:i + 1] for k, v in arrays.items()})
            except HtaError as one:
                raise HtaError(f"{who}: the model fails at {lab}: {one}") from None
        raise HtaError(f"{who}: running the {n} parameter sets failed: {exc}") from None


def _set_label(values: Mapping[str, float]) -> str:
    if not values:
        return "the base case"
    return ", ".join(f"{k} = {v:.6g}" for k, v in values.items())


# ---------------------------------------------------------------------------- ranges
def table_ranges(table: ParameterTable, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Low and high values of each random parameter of a parameter table.

    The central ``level`` interval of each parameter's (marginal) distribution:
    percentiles ``(1 - level) / 2`` and ``(1 + level) / 2`` (2.5th and 97.5th by
    default).

    * univariate rows (normal, lognormal, beta, gamma, ...): the frozen scipy
      distribution's ``ppf``;
    * multivariate normal rows: the marginal normal ``N(mean_i, cov_ii)``;
    * empirical rows: empirical percentiles (``numpy.quantile``, linear
      interpolation) of the row's column of draws;
    * Dirichlet rows are **skipped**: one share cannot move alone, since the shares
      must sum to 1 (vary them together in :func:`scenarios`);
    * fixed rows are skipped (no uncertainty).

    Returns
    -------
    dict
        ``{name: (low, high)}`` in table order.
    """
    if not isinstance(table, ParameterTable):
        raise HtaError(f"table_ranges needs a ParameterTable, got {type(table).__name__}")
    lv = finite_number(level, "table_ranges: level")
    if not 0 < lv < 1:
        raise HtaError(f"table_ranges: level {lv!r} must lie in (0, 1), e.g. 0.95")
    qlo, qhi = (1 - lv) / 2, (1 + lv) / 2
    found: dict[str, tuple[float, float]] = {}
    for p, dist in table._uni:
        found[p.name] = (float(dist.ppf(qlo)), float(dist.ppf(qhi)))
    for kind, members, data in table._multi:
        if kind == "mvnormal":
            means, chol = data
            sd = np.sqrt(np.einsum("ij,ij->i", chol, chol))  # diag(L L^T)
            for i, p in enumerate(members):
                d = stats.norm(means[i], sd[i])
                found[p.name] = (float(d.ppf(qlo)), float(d.ppf(qhi)))
        elif kind == "empirical":
            for i, p in enumerate(members):
                col = data[:, i]
                found[p.name] = (float(np.quantile(col, qlo)), float(np.quantile(col, qhi)))
        # dirichlet: skipped (see docstring)
    return {name: found[name] for name in table.names if name in found}


def _resolve_ranges(model: Model, ranges: Any, who: str) -> dict[str, tuple[float, float]]:
    if isinstance(ranges, ParameterTable):
        unknown = [n for n in ranges.names if n not in model.parameters]
        if unknown:
            raise HtaError(
                f"{who}: {ranges.label}: parameter {unknown[0]!r}{suggest(unknown[0], model.parameters)} "
                f"is not a parameter of model {model.name!r}"
            )
        out = table_ranges(ranges)
        if not out:
            raise HtaError(f"{who}: {ranges.label} has no random parameter to vary (all fixed or Dirichlet); "
                           f"give ranges as {{name: (low, high)}}")
        return out
    if not isinstance(ranges, Mapping):
        raise HtaError(
            f"{who}: ranges must be a mapping {{parameter: (low, high)}} or a ParameterTable, "
            f"got {type(ranges).__name__}"
        )
    if not ranges:
        raise HtaError(f"{who}: ranges is empty; give at least one {{parameter: (low, high)}}")
    out = {}
    for name, pair in ranges.items():
        _check_parameter(model, name, f"{who}, ranges")
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise HtaError(f"{who}: range of {name!r} is {pair!r}; give a pair (low, high)")
        lo = finite_number(pair[0], f"{who}: low value of {name!r}")
        hi = finite_number(pair[1], f"{who}: high value of {name!r}")
        if lo > hi:
            raise HtaError(
                f"{who}: range of {name!r} has low {lo:g} > high {hi:g}; give (low, high) with low <= high, "
                f"i.e. ({hi:g}, {lo:g})"
            )
        out[name] = (lo, hi)
    return out


# ---------------------------------------------------------------------------- one-way
def one_way(model: Model, ranges, *, outcome: Any = "inmb", wtp: float | None = None,
            strategy: str | None = None, comparator: str | None = None,
            effect: str = "qaly") -> pd.DataFrame:
    """One-way sensitivity analysis: the data of a tornado diagram.

    Each parameter in ``ranges`` is set to its low and then its high value, all
    others at the model's base case.  The base case and all ``2 P`` variants run
    in one :func:`sim.run_cohort` call (one draw per parameter set).

    Parameters
    ----------
    model : Model
    ranges : mapping or ParameterTable
        ``{name: (low, high)}``; or a parameter table, whose random parameters are
        varied over the central 95 % interval of their distributions (see
        :func:`table_ranges`; Dirichlet and fixed rows are skipped).
    outcome : str or callable
        ``"inmb"`` (default): ``wtp dE - dC`` of ``strategy`` vs ``comparator``;
        ``"icer"``: ``dC / dE`` (NaN or inf when ``dE = 0``); ``"nmb"``:
        ``wtp E - C`` of ``strategy``; an outcomes column (``"cost"``, ``"qaly"``,
        ``"ly"``, ``"cost_drug"``, ...) of ``strategy``; or a callable ``f(df) ->
        float`` given the outcomes table of one parameter set (one row per strategy).
    wtp : float
        Willingness to pay per unit of ``effect``; needed for ``"inmb"`` and ``"nmb"``.
    strategy, comparator : str
        Default (two-strategy models only): the second strategy vs the first.
    effect : str
        Effect column of INMB, NMB and ICER (``"qaly"``; ``"ly"`` for life-years).

    Returns
    -------
    DataFrame
        Columns ``parameter, low, high, outcome_low, outcome_high, base``, sorted by
        ``|outcome_high - outcome_low|`` descending (ties and NaN swings keep input
        order, NaN last).  ``attrs["outcome"]`` is a label such as
        ``"INMB of comb vs mono at 20,000 per QALY"``.
    """
    who = "one_way"
    _check_model(model, who)
    spec = _Outcome(model, outcome, wtp=wtp, strategy=strategy, comparator=comparator, effect=effect, who=who)
    rng = _resolve_ranges(model, ranges, who)
    names = list(rng)
    P = len(names)
    n = 1 + 2 * P
    arrays = {}
    labels = ["the base case"]
    for i, name in enumerate(names):
        a = np.full(n, float(model.parameters[name]))
        lo, hi = rng[name]
        a[1 + 2 * i], a[2 + 2 * i] = lo, hi
        arrays[name] = a
        labels += [f"{name} = {lo:.6g} (low)", f"{name} = {hi:.6g} (high)"]
    out = spec.evaluate(_run_sets(model, arrays, labels, who), n)
    table = pd.DataFrame({
        "parameter": names,
        "low": [rng[k][0] for k in names],
        "high": [rng[k][1] for k in names],
        "outcome_low": out[1::2],
        "outcome_high": out[2::2],
        "base": np.full(P, out[0]),
    })
    swing = np.abs(table["outcome_high"].to_numpy() - table["outcome_low"].to_numpy())
    swing = np.where(np.isnan(swing), -np.inf, swing)
    table = table.iloc[np.argsort(-swing, kind="stable")].reset_index(drop=True)
    table.attrs.update({"outcome": spec.label, "wtp": spec.wtp, "strategy": spec.strategy,
                        "comparator": spec.comparator, "effect": spec.effect, "model": model.name})
    return table


# ---------------------------------------------------------------------------- two-way
def _grid_values(model: Model, pair: Any, who: str, axis: str) -> tuple[str, np.ndarray]:
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
        raise HtaError(f"{who}: {axis} must be a pair (parameter name, values), got {pair!r}")
    name, values = pair
    _check_parameter(model, name, f"{who}, {axis}")
    try:
        v = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise HtaError(f"{who}: values of {axis} parameter {name!r} must be numbers") from None
    if v.ndim != 1 or v.size == 0:
        raise HtaError(f"{who}: values of {axis} parameter {name!r} must be a non-empty 1-D list of numbers")
    if not np.isfinite(v).all():
        raise HtaError(f"{who}: values of {axis} parameter {name!r} must be finite")
    return name, v


def two_way(model: Model, x, y, *, outcome: Any = "inmb", wtp: float | None = None,
            strategy: str | None = None, comparator: str | None = None,
            effect: str = "qaly") -> pd.DataFrame:
    """Two-way sensitivity analysis on a grid of two parameters.

    Parameters
    ----------
    model : Model
    x, y : (name, values)
        The two parameters and their values; the grid is every (x, y) pair, run in
        one :func:`sim.run_cohort` call.
    outcome, strategy, comparator, effect
        As in :func:`one_way`.
    wtp : float
        Willingness to pay (required: it decides the optimal strategy).

    Returns
    -------
    DataFrame
        Columns ``x, y, outcome, optimal``, one row per grid point (``x`` varies
        slowest).  ``optimal`` is the strategy with the highest net monetary benefit
        ``wtp E - C`` at that point (ties: the first in model order).  ``attrs``:
        ``x_name``, ``y_name``, ``outcome`` (label), ``wtp``.
    """
    who = "two_way"
    _check_model(model, who)
    w = _check_wtp(wtp, who, "the optimal strategy")
    spec = _Outcome(model, outcome, wtp=w, strategy=strategy, comparator=comparator, effect=effect, who=who)
    xn, xv = _grid_values(model, x, who, "x")
    yn, yv = _grid_values(model, y, who, "y")
    if xn == yn:
        raise HtaError(f"{who}: x and y are both {xn!r}; vary two different parameters")
    X, Y = np.meshgrid(xv, yv, indexing="ij")
    X, Y = X.ravel(), Y.ravel()
    n = X.size
    labels = [f"{xn} = {a:.6g}, {yn} = {b:.6g}" for a, b in zip(X, Y)]
    outcomes = _run_sets(model, {xn: X, yn: Y}, labels, who)
    values = spec.evaluate(outcomes, n)
    K = len(model.strategies)
    nmb = w * _wide(outcomes, spec.effect, n, K) - _wide(outcomes, "cost", n, K)
    best = np.argmax(nmb, axis=1)
    table = pd.DataFrame({"x": X, "y": Y, "outcome": values,
                          "optimal": np.asarray(model.strategies, dtype=object)[best]})
    table.attrs.update({"x_name": xn, "y_name": yn, "outcome": spec.label, "wtp": w,
                        "strategy": spec.strategy, "comparator": spec.comparator, "effect": spec.effect,
                        "model": model.name})
    return table


# ---------------------------------------------------------------------------- scenarios
def scenarios(model: Model, scenarios: Mapping[str, Any], *, effect: str = "qaly") -> pd.DataFrame:
    """Scenario analysis: the ICER table of the base case and of each scenario.

    Parameters
    ----------
    model : Model
    scenarios : mapping of name to scenario
        A scenario is a mapping ``{parameter: value}`` of base-case overrides (all
        such scenarios run in one :func:`sim.run_cohort` call), or a variant
        :class:`~sim.Model` with the same strategies (e.g.
        ``model.replace(discount_costs=0.0)``), run on its own.
    effect : str
        Effect of the ICER tables (``"qaly"`` or ``"ly"``, ...).

    Returns
    -------
    DataFrame
        A long table: column ``scenario`` then the columns of
        :func:`sim.icer_table` (``strategy, cost, <effect>, inc_cost, inc_<effect>,
        icer, status, dominated_by``), the scenario ``"base case"`` first, then the
        scenarios in the order given.
    """
    who = "scenarios"
    _check_model(model, who)
    effect = _check_effect(model, effect, who)
    if not isinstance(scenarios, Mapping):
        raise HtaError(f"{who}: scenarios must be a mapping {{name: {{parameter: value}}}}, "
                       f"got {type(scenarios).__name__}")
    if not scenarios:
        raise HtaError(f"{who}: no scenarios; give at least one {{name: {{parameter: value}}}}")
    if BASE_CASE in scenarios:
        raise HtaError(
            f"{who}: the scenario name {BASE_CASE!r} is reserved (it is added first); rename yours"
        )
    overrides: dict[str, dict[str, float]] = {}
    variants: dict[str, Model] = {}
    for name, sc in scenarios.items():
        if not isinstance(name, str) or not name.strip():
            raise HtaError(f"{who}: scenario name {name!r} must be a non-empty string")
        if isinstance(sc, Model):
            if tuple(sc.strategies) != tuple(model.strategies):
                raise HtaError(
                    f"{who}: scenario {name!r} is a model with strategies {list(sc.strategies)}, but the "
                    f"base model has {list(model.strategies)}; a scenario must compare the same strategies"
                )
            variants[name] = sc
            continue
        if not isinstance(sc, Mapping):
            raise HtaError(f"{who}: scenario {name!r} must be a mapping {{parameter: value}} or a Model, "
                           f"got {type(sc).__name__}")
        vals = {}
        for p, v in sc.items():
            _check_parameter(model, p, f"{who}, scenario {name!r}")
            vals[p] = finite_number(v, f"{who}: scenario {name!r}, value of {p!r}")
        overrides[name] = vals
    # the base case and all parameter scenarios in one run
    param_sets = {BASE_CASE: {}, **overrides}
    names = list(param_sets)
    n, K = len(names), len(model.strategies)
    touched = sorted({p for vals in param_sets.values() for p in vals}, key=list(model.parameters).index)
    if touched:
        arrays = {p: np.array([param_sets[s].get(p, float(model.parameters[p])) for s in names])
                  for p in touched}
        labels = [f"scenario {s!r} ({_set_label(param_sets[s])})" for s in names]
        outcomes = _run_sets(model, arrays, labels, who)
    else:  # no parameter overrides at all: every parameter set is the base case
        one = run_cohort(model).outcomes
        outcomes = pd.concat([one] * n, ignore_index=True)
    cost = _wide(outcomes, "cost", n, K)
    eff = _wide(outcomes, effect, n, K)
    results = {s: (cost[i], eff[i]) for i, s in enumerate(names)}
    for name, variant in variants.items():
        try:
            o = run_cohort(variant).outcomes
        except HtaError as exc:
            raise HtaError(f"{who}: the model fails in scenario {name!r}: {exc}") from None
        results[name] = (_wide(o, "cost", 1, K)[0], _wide(o, effect, 1, K)[0])
    parts = []
    for name in [BASE_CASE, *scenarios]:
        c, e = results[name]
        t = icer_table(list(model.strategies), c, e, effect_name=effect)
        t.insert(0, "scenario", name)
        parts.append(t)
    table = pd.concat(parts, ignore_index=True)
    table.attrs.update({"effect": effect, "model": model.name})
    return table


# ---------------------------------------------------------------------------- threshold
def _inmb_function(model: Model, parameter: str, wtp: float, strategy: str, comparator: str,
                   effect: str, who: str) -> Callable[[np.ndarray], np.ndarray]:
    K = len(model.strategies)
    k, j = model.strategies.index(strategy), model.strategies.index(comparator)

    def inmb(values) -> np.ndarray:
        v = np.atleast_1d(np.asarray(values, dtype=float))
        labels = [f"{parameter} = {x:.10g}" for x in v]
        o = _run_sets(model, {parameter: v}, labels, who)
        c, e = _wide(o, "cost", v.size, K), _wide(o, effect, v.size, K)
        return wtp * (e[:, k] - e[:, j]) - (c[:, k] - c[:, j])

    return inmb


def _threshold_setup(model, parameter, wtp, strategy, comparator, lower, upper, effect, who):
    _check_model(model, who)
    _check_parameter(model, parameter, who)
    w = _check_wtp(wtp, who, "the threshold of INMB = 0")
    strategy, comparator = _pick_strategies(model, strategy, comparator, who, True)
    effect = _check_effect(model, effect, who)
    lo = finite_number(lower, f"{who}: lower")
    hi = finite_number(upper, f"{who}: upper")
    if not lo < hi:
        raise HtaError(
            f"{who}: the bracket [lower, upper] = [{lo:g}, {hi:g}] is empty or reversed; give lower < upper"
        )
    f = _inmb_function(model, parameter, w, strategy, comparator, effect, who)
    return w, strategy, comparator, effect, lo, hi, f


def _solve(f, lo: float, hi: float, f_ends: np.ndarray, tol: float, who: str, what: str) -> float:
    flo, fhi = float(f_ends[0]), float(f_ends[1])
    if flo == 0.0:
        return lo
    if fhi == 0.0:
        return hi
    if np.sign(flo) == np.sign(fhi):
        raise HtaError(
            f"{who}: {what} does not change sign on [{lo:.6g}, {hi:.6g}]: it is {flo:,.6g} at the lower end "
            f"and {fhi:,.6g} at the upper end, so there is no threshold in between (or an even number "
            f"of them); widen or move the bracket"
        )
    t = finite_number(tol, f"{who}: tol")
    if t <= 0:
        raise HtaError(f"{who}: tol {t!r} must be > 0")
    root, info = optimize.brentq(lambda v: float(f(v)[0]), lo, hi, xtol=t, rtol=4 * np.finfo(float).eps,
                                 maxiter=200, full_output=True)
    if not info.converged:  # pragma: no cover - brentq converges on a sign change
        raise HtaError(f"{who}: Brent's method did not converge ({info.flag}); try a narrower bracket")
    return float(root)


def threshold(model: Model, parameter: str, *, wtp: float, strategy: str, comparator: str,
              lower: float, upper: float, effect: str = "qaly", tol: float = 1e-10) -> float:
    """The value of ``parameter`` at which ``strategy`` and ``comparator`` break even.

    Solves ``INMB(v) = wtp (E_s(v) - E_c(v)) - (C_s(v) - C_c(v)) = 0`` for ``v`` in
    ``[lower, upper]`` with Brent's method (:func:`scipy.optimize.brentq`), all other
    parameters at their base case.  At the threshold the ICER of ``strategy`` vs
    ``comparator`` equals ``wtp`` (when ``dE != 0``).

    Parameters
    ----------
    model : Model
    parameter : str
    wtp : float
        Willingness to pay per unit of ``effect``.
    strategy, comparator : str
    lower, upper : float
        The bracket; INMB must have opposite signs at its ends.
    effect : str
        ``"qaly"`` or ``"ly"``, ...
    tol : float
        Absolute tolerance on the value (``xtol`` of brentq; relative tolerance 4 eps).

    Raises
    ------
    HtaError
        If INMB has the same sign at both ends (reporting both values).
    """
    who = "threshold"
    *_, lo, hi, f = _threshold_setup(model, parameter, wtp, strategy, comparator, lower, upper, effect, who)
    ends = f(np.array([lo, hi]))
    what = f"the INMB of {strategy} vs {comparator} as {parameter!r} varies"
    return _solve(f, lo, hi, ends, tol, who, what)


def value_based_price(model: Model, price_parameter: str, *, wtp: float, strategy: str, comparator: str,
                      lower: float, upper: float, effect: str = "qaly", tol: float = 1e-10) -> float:
    """The highest price of ``strategy``'s technology at which it is cost-effective.

    The threshold (:func:`threshold`) of the price parameter: the price ``v*`` with
    ``INMB(v*) = 0`` at ``wtp``; below it ``strategy`` has the higher net benefit.
    INMB must fall as the price rises (positive at ``lower``, negative at
    ``upper``); otherwise ``price_parameter`` is not the price of ``strategy``'s
    technology (use :func:`threshold` for other parameters).
    """
    who = "value_based_price"
    *_, lo, hi, f = _threshold_setup(model, price_parameter, wtp, strategy, comparator, lower, upper,
                                     effect, who)
    ends = f(np.array([lo, hi]))
    if ends[0] < ends[1]:
        raise HtaError(
            f"{who}: the INMB of {strategy} vs {comparator} rises with {price_parameter!r} "
            f"({ends[0]:,.6g} at {lo:g}, {ends[1]:,.6g} at {hi:g}); a price of {strategy}'s technology "
            f"lowers it. Check the parameter and the strategies, or use threshold()"
        )
    what = f"the INMB of {strategy} vs {comparator} as {price_parameter!r} varies"
    return _solve(f, lo, hi, ends, tol, who, what)
