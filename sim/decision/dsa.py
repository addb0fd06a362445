"""Deterministic sensitivity analysis: one-way (tornado), two-way, scenarios.

An *analysis driver*: it varies base-case parameter values of a model run (a
:class:`~sim.decision.run.ModelRun`, e.g. ``sim.CohortRun(model)``) and runs it;
it imports no engine.  Every analysis that evaluates a fixed set of parameter
values runs them all in **one** call of the run, one "draw" per parameter set.
Threshold analysis and value-based price live in :mod:`sim.decision.thresholds`
(also reachable here as :func:`threshold` and :func:`value_based_price`).

Formulas, how ranges are chosen and the conventions: ``docs/dsa.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sim.decision.icer import icer_table
from sim.decision.run import (
    ModelRun,
    check_effect,
    check_parameter,
    check_run,
    check_wtp,
    pick_strategies,
    run_sets,
    wide,
)
from sim.decision.thresholds import threshold, value_based_price
from sim.decision.ties import optimal_index
from sim.errors import HtaError, finite_number, suggest
from sim.params.table import ParameterTable

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
# threshold and value_based_price are defined in sim.decision.thresholds and offered here too,
# so that ``from sim import dsa`` gives every deterministic analysis

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


# ---------------------------------------------------------------------------- labels
def _money(w: float) -> str:
    return f"{w:,.0f}" if float(w).is_integer() else f"{w:,.2f}"


def _per(effect: str) -> str:
    return _EFFECT_LABEL.get(effect, effect)


# ---------------------------------------------------------------------------- outcomes
class _Outcome:
    """A resolved outcome specification: a label and a function of the wide results."""

    def __init__(self, run: ModelRun, outcome: Any, *, wtp, strategy, comparator, effect: str, who: str):
        self.run = run
        self.effect = check_effect(run, effect, who)
        self.callable = callable(outcome)
        self.kind = outcome if isinstance(outcome, str) else None
        if self.callable:
            self.strategy, self.comparator = None, None
            self.wtp = None if wtp is None else check_wtp(wtp, who, "")
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
        cols = list(run.outcome_columns)
        if outcome not in OUTCOMES and outcome not in cols:
            raise HtaError(
                f"{who}: unknown outcome {outcome!r}{suggest(outcome, list(OUTCOMES) + cols)}; use "
                f"'inmb', 'icer', 'nmb', one of the outcome columns ({', '.join(cols)}) or a callable"
            )
        incremental = outcome in ("inmb", "icer")
        self.strategy, self.comparator = pick_strategies(run, strategy, comparator, who, incremental)
        self.wtp = None
        if outcome in ("inmb", "nmb"):
            self.wtp = check_wtp(wtp, who, f"outcome {outcome!r}")
        elif wtp is not None:
            self.wtp = check_wtp(wtp, who, "")
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
        K = len(self.run.strategies)
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
        strategies = list(self.run.strategies)
        k = strategies.index(self.strategy)
        if self.kind in OUTCOMES:
            cost = wide(outcomes, "cost", n, K)
            eff = wide(outcomes, self.effect, n, K)
            if self.kind == "nmb":
                return self.wtp * eff[:, k] - cost[:, k]
            j = strategies.index(self.comparator)
            dc, de = cost[:, k] - cost[:, j], eff[:, k] - eff[:, j]
            if self.kind == "inmb":
                return self.wtp * de - dc
            with np.errstate(divide="ignore", invalid="ignore"):
                return dc / de
        return wide(outcomes, self.kind, n, K)[:, k]


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
    return table.intervals(lv)


def _resolve_ranges(run: ModelRun, ranges: Any, who: str) -> dict[str, tuple[float, float]]:
    if isinstance(ranges, ParameterTable):
        unknown = [n for n in ranges.names if n not in run.parameters]
        if unknown:
            raise HtaError(
                f"{who}: {ranges.label}: parameter {unknown[0]!r}{suggest(unknown[0], run.parameters)} "
                f"is not a parameter of model {run.name!r}"
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
        check_parameter(run, name, f"{who}, ranges")
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
def one_way(run: ModelRun, ranges, *, outcome: Any = "inmb", wtp: float | None = None,
            strategy: str | None = None, comparator: str | None = None,
            effect: str = "qaly") -> pd.DataFrame:
    """One-way sensitivity analysis: the data of a tornado diagram.

    Each parameter in ``ranges`` is set to its low and then its high value, all
    others at the base case (``run.parameters``).  The base case and all ``2 P``
    variants run in one call of ``run`` (one draw per parameter set).

    Parameters
    ----------
    run : ModelRun
        The model run, e.g. ``sim.CohortRun(model)``.
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
    check_run(run, who)
    spec = _Outcome(run, outcome, wtp=wtp, strategy=strategy, comparator=comparator, effect=effect, who=who)
    rng = _resolve_ranges(run, ranges, who)
    names = list(rng)
    P = len(names)
    n = 1 + 2 * P
    arrays = {}
    labels = ["the base case"]
    for i, name in enumerate(names):
        a = np.full(n, float(run.parameters[name]))
        lo, hi = rng[name]
        a[1 + 2 * i], a[2 + 2 * i] = lo, hi
        arrays[name] = a
        labels += [f"{name} = {lo:.6g} (low)", f"{name} = {hi:.6g} (high)"]
    out = spec.evaluate(run_sets(run, arrays, labels, who), n)
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
                        "comparator": spec.comparator, "effect": spec.effect, "model": run.name})
    return table


# ---------------------------------------------------------------------------- two-way
def _grid_values(run: ModelRun, pair: Any, who: str, axis: str) -> tuple[str, np.ndarray]:
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
        raise HtaError(f"{who}: {axis} must be a pair (parameter name, values), got {pair!r}")
    name, values = pair
    check_parameter(run, name, f"{who}, {axis}")
    try:
        v = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise HtaError(f"{who}: values of {axis} parameter {name!r} must be numbers") from None
    if v.ndim != 1 or v.size == 0:
        raise HtaError(f"{who}: values of {axis} parameter {name!r} must be a non-empty 1-D list of numbers")
    if not np.isfinite(v).all():
        raise HtaError(f"{who}: values of {axis} parameter {name!r} must be finite")
    return name, v


def two_way(run: ModelRun, x, y, *, outcome: Any = "inmb", wtp: float | None = None,
            strategy: str | None = None, comparator: str | None = None,
            effect: str = "qaly") -> pd.DataFrame:
    """Two-way sensitivity analysis on a grid of two parameters.

    Parameters
    ----------
    run : ModelRun
        The model run, e.g. ``sim.CohortRun(model)``.
    x, y : (name, values)
        The two parameters and their values; the grid is every (x, y) pair, run in
        one call of ``run``.
    outcome, strategy, comparator, effect
        As in :func:`one_way`.
    wtp : float
        Willingness to pay (required: it decides the optimal strategy).

    Returns
    -------
    DataFrame
        Columns ``x, y, outcome, optimal``, one row per grid point (``x`` varies
        slowest).  ``optimal`` is the strategy with the highest net monetary benefit
        ``wtp E - C`` at that point (ties: the first by name, see
        :mod:`sim.decision.ties`).  ``attrs``:
        ``x_name``, ``y_name``, ``outcome`` (label), ``wtp``.
    """
    who = "two_way"
    check_run(run, who)
    w = check_wtp(wtp, who, "the optimal strategy")
    spec = _Outcome(run, outcome, wtp=w, strategy=strategy, comparator=comparator, effect=effect, who=who)
    xn, xv = _grid_values(run, x, who, "x")
    yn, yv = _grid_values(run, y, who, "y")
    if xn == yn:
        raise HtaError(f"{who}: x and y are both {xn!r}; vary two different parameters")
    X, Y = np.meshgrid(xv, yv, indexing="ij")
    X, Y = X.ravel(), Y.ravel()
    n = X.size
    labels = [f"{xn} = {a:.6g}, {yn} = {b:.6g}" for a, b in zip(X, Y, strict=True)]
    outcomes = run_sets(run, {xn: X, yn: Y}, labels, who)
    values = spec.evaluate(outcomes, n)
    strategies = list(run.strategies)
    K = len(strategies)
    nmb = w * wide(outcomes, spec.effect, n, K) - wide(outcomes, "cost", n, K)
    best = optimal_index(nmb, strategies, axis=1)
    table = pd.DataFrame({"x": X, "y": Y, "outcome": values,
                          "optimal": np.asarray(strategies, dtype=object)[best]})
    table.attrs.update({"x_name": xn, "y_name": yn, "outcome": spec.label, "wtp": w,
                        "strategy": spec.strategy, "comparator": spec.comparator, "effect": spec.effect,
                        "model": run.name})
    return table


# ---------------------------------------------------------------------------- scenarios
def scenarios(run: ModelRun, scenarios: Mapping[str, Any], *, effect: str = "qaly") -> pd.DataFrame:
    """Scenario analysis: the ICER table of the base case and of each scenario.

    Parameters
    ----------
    run : ModelRun
        The model run, e.g. ``sim.CohortRun(model)``.
    scenarios : mapping of name to scenario
        A scenario is a mapping ``{parameter: value}`` of base-case overrides (all
        such scenarios run in one call of ``run``), or a variant model run with the
        same strategies (e.g. ``sim.CohortRun(model.replace(discount_costs=0.0))``),
        run on its own.
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
    check_run(run, who)
    effect = check_effect(run, effect, who)
    overrides, variants = _parse_scenarios(run, scenarios, effect, who)
    # the base case and all parameter scenarios in one run
    param_sets = {BASE_CASE: {}, **overrides}
    names = list(param_sets)
    strategies = list(run.strategies)
    n, K = len(names), len(strategies)
    touched = sorted({p for vals in param_sets.values() for p in vals}, key=list(run.parameters).index)
    if touched:
        arrays = {p: np.array([param_sets[s].get(p, float(run.parameters[p])) for s in names])
                  for p in touched}
        labels = [f"scenario {s!r} ({_set_label(param_sets[s])})" for s in names]
        outcomes = run_sets(run, arrays, labels, who)
    else:  # no parameter overrides at all: every parameter set is the base case
        one = run.run({})
        outcomes = pd.concat([one] * n, ignore_index=True)
    cost = wide(outcomes, "cost", n, K)
    eff = wide(outcomes, effect, n, K)
    results = {s: (cost[i], eff[i]) for i, s in enumerate(names)}
    for name, variant in variants.items():
        try:
            o = variant.run({})
        except HtaError as exc:
            raise HtaError(f"{who}: the model fails in scenario {name!r}: {exc}") from None
        results[name] = (wide(o, "cost", 1, K)[0], wide(o, effect, 1, K)[0])
    parts = []
    for name in [BASE_CASE, *scenarios]:
        c, e = results[name]
        t = icer_table(strategies, c, e, effect_name=effect)
        t.insert(0, "scenario", name)
        parts.append(t)
    table = pd.concat(parts, ignore_index=True)
    table.attrs.update({"effect": effect, "model": run.name})
    return table


def _parse_scenarios(run: ModelRun, scenarios: Any, effect: str,
                     who: str) -> tuple[dict[str, dict[str, float]], dict[str, ModelRun]]:
    """Checked parameter overrides and variant runs of :func:`scenarios`, by name."""
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
    variants: dict[str, ModelRun] = {}
    for name, sc in scenarios.items():
        if not isinstance(name, str) or not name.strip():
            raise HtaError(f"{who}: scenario name {name!r} must be a non-empty string")
        if isinstance(sc, ModelRun):
            if tuple(sc.strategies) != tuple(run.strategies):
                raise HtaError(
                    f"{who}: scenario {name!r} is a model run with strategies {list(sc.strategies)}, but the "
                    f"base model has {list(run.strategies)}; a scenario must compare the same strategies"
                )
            check_effect(sc, effect, f"{who}, scenario {name!r}")
            variants[name] = sc
            continue
        if not isinstance(sc, Mapping):
            hint = "; wrap it: sim.cohort.CohortRun(model)" if type(sc).__name__ == "Model" else ""
            raise HtaError(f"{who}: scenario {name!r} must be a mapping {{parameter: value}} or a model run, "
                           f"got {type(sc).__name__}{hint}")
        vals = {}
        for p, v in sc.items():
            check_parameter(run, p, f"{who}, scenario {name!r}")
            vals[p] = finite_number(v, f"{who}: scenario {name!r}, value of {p!r}")
        overrides[name] = vals
    return overrides, variants
