"""ICER table and frontier, and the checked inputs of decision analysis.

:func:`icer_table` and :func:`icers` (formulas and dominance rules: ``docs/icer.md``);
:func:`outcome_matrix` pivots a long outcomes table to ``(n_draws, n_strategies)``;
:func:`ce_arrays` and :func:`wtp_grid` check cost/effect arrays and
willingness-to-pay values for the other analyses.  Knows no engine.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.errors import HtaError

__all__ = ["STATUS", "icer_table", "icers", "outcome_matrix", "ce_arrays", "str_array", "wtp_grid"]

#: Status labels of the ICER table.
STATUS = ("non-dominated", "dominated", "extendedly dominated")


def icer_table(strategies: Sequence[str], costs, effects, *, effect_name: str = "effect") -> pd.DataFrame:
    """Incremental cost-effectiveness table with strong and extended dominance.

    Parameters
    ----------
    strategies : sequence of str
        Strategy names (unique).
    costs, effects : array_like, shape (n_strategies,)
        Expected cost and effect of each strategy.
    effect_name : str
        Name of the effect column (e.g. ``"qaly"``).

    Returns
    -------
    DataFrame
        One row per strategy, sorted by effect (then cost, then name), with columns
        ``strategy, cost, <effect>, inc_cost, inc_<effect>, icer, status, dominated_by``.
        ``status`` is one of :data:`STATUS`.  Increments and ICER are against the
        previous non-dominated strategy; they are NaN for the first non-dominated
        strategy and for dominated ones.  ``dominated_by`` names the dominating
        strategy (strong dominance) or the two neighbours, at the time of removal,
        whose mix dominates it (extended dominance; a neighbour may itself be
        removed in a later round).

    Notes
    -----
    Strong dominance: ``j`` dominates ``i`` if ``c_j <= c_i`` and ``e_j >= e_i`` with
    at least one strict.  Strategies with identical cost and effect are tied: the
    first by name stays, the others are marked dominated by it.  Extended
    dominance: among the rest, sorted by effect, ``i`` is extendedly dominated if
    ``ICER_i > ICER_{i+1}``; such strategies are removed and ICERs recomputed until
    they increase.  The result does not depend on the input order.
    """
    names = [str(s) for s in strategies]
    try:
        c = np.asarray(costs, dtype=float).ravel()
        e = np.asarray(effects, dtype=float).ravel()
    except (TypeError, ValueError):
        raise HtaError("icer_table: costs and effects must be numbers") from None
    if not names:
        raise HtaError("icer_table needs at least one strategy")
    if len(set(names)) != len(names):
        dup = sorted({s for s in names if names.count(s) > 1})
        raise HtaError(f"icer_table: duplicate strategy names {dup}")
    if not (len(c) == len(e) == len(names)):
        raise HtaError(
            f"icer_table: {len(names)} strategies, {len(c)} costs and {len(e)} effects; give one "
            f"cost and one effect per strategy"
        )
    for arr, what in ((c, "cost"), (e, effect_name)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise HtaError(f"icer_table: {what} of strategy {names[i]!r} is {float(arr[i])!r}; it must be finite")
    order = sorted(range(len(names)), key=lambda i: (e[i], c[i], names[i]))
    status = {i: STATUS[0] for i in order}
    by: dict[int, str] = {i: "" for i in order}
    for i in order:
        doms = [
            j for j in order
            if j != i and c[j] <= c[i] and e[j] >= e[i]
            and (c[j] < c[i] or e[j] > e[i] or names[j] < names[i])
        ]
        if doms:
            status[i] = STATUS[1]
            j = min(doms, key=lambda j: (c[j], -e[j], names[j]))
            by[i] = names[j]
    front = [i for i in order if status[i] == STATUS[0]]
    while len(front) > 2:
        ic = [(c[b] - c[a]) / (e[b] - e[a]) for a, b in zip(front[:-1], front[1:], strict=True)]
        drop = {front[k + 1] for k in range(len(ic) - 1) if ic[k] > ic[k + 1]}
        if not drop:
            break
        for k in range(1, len(front) - 1):
            if front[k] in drop:
                status[front[k]] = STATUS[2]
                by[front[k]] = f"{names[front[k - 1]]} & {names[front[k + 1]]}"
        front = [i for i in front if i not in drop]
    n = len(order)
    inc_c, inc_e, icer = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    prev = None
    for r, i in enumerate(order):
        if status[i] == STATUS[0]:
            if prev is not None:
                dc, de = c[i] - c[prev], e[i] - e[prev]
                inc_c[r], inc_e[r] = dc, de
                with np.errstate(over="ignore", divide="ignore"):  # a tiny effect gain can give an infinite ICER
                    icer[r] = np.float64(dc) / np.float64(de)
            prev = i
    # built column by column, the strings as ready-made arrays: pandas' inference from rows of
    # dicts took most of the time of a small table (0.14 of 0.19 ms for two strategies)
    return pd.DataFrame({
        "strategy": str_array([names[i] for i in order]), "cost": c[order], effect_name: e[order],
        "inc_cost": inc_c, f"inc_{effect_name}": inc_e, "icer": icer,
        "status": str_array([status[i] for i in order]), "dominated_by": str_array([by[i] for i in order]),
    }, copy=False)


@functools.lru_cache(maxsize=1)
def _str_dtype():
    """The dtype pandas gives a column of Python strings (``str`` in pandas 3, object before)."""
    return pd.Series(["a"]).dtype


def str_array(values: Sequence[str]):
    """A pandas array of strings with the dtype pandas would infer for them (but faster).

    Parameters
    ----------
    values : sequence of str

    Returns
    -------
    ExtensionArray or ndarray
        What ``pd.Series(list(values)).array`` holds.
    """
    return pd.array(list(values), dtype=_str_dtype())


def icers(outcomes: pd.DataFrame, *, effect: str = "qaly", cost: str = "cost",
          strategy: str = "strategy") -> pd.DataFrame:
    """ICER table on the expected (mean over draws) cost and effect of an outcomes table.

    Parameters
    ----------
    outcomes : DataFrame
        Long outcomes table: one row per (draw, strategy).
    effect, cost, strategy : str
        Names of the effect, cost and strategy columns.

    Returns
    -------
    DataFrame
        The table of :func:`icer_table` (see there for the columns and rules).
    """
    for col in (effect, cost, strategy):
        if col not in outcomes.columns:
            raise HtaError(
                f"icers: the outcomes table has no column {col!r}; columns are "
                f"{', '.join(map(str, outcomes.columns))}"
            )
    means = outcomes.groupby(strategy, observed=True, sort=False)[[cost, effect]].mean()
    return icer_table(list(means.index), means[cost].to_numpy(), means[effect].to_numpy(), effect_name=effect)


# ---------------------------------------------------------------------------- PSA inputs
def outcome_matrix(outcomes: pd.DataFrame, column: str, *, strategy: str = "strategy",
                   draw: str = "draw") -> tuple[np.ndarray, list[str]]:
    """Pivot a long outcomes table to an array ``(n_draws, n_strategies)``.

    Parameters
    ----------
    outcomes : DataFrame
        Long outcomes table: one row per (draw, strategy).
    column : str
        The outcome column to pivot (``"cost"``, ``"qaly"``, ...).
    strategy, draw : str
        Names of the strategy and draw columns.

    Returns
    -------
    (ndarray, list of str)
        The array, shape (n_draws, n_strategies) with rows sorted by draw, and the
        strategy names (its columns).
    """
    for col in (column, strategy, draw):
        if col not in outcomes.columns:
            raise HtaError(f"the outcomes table has no column {col!r}; columns are "
                           f"{', '.join(map(str, outcomes.columns))}")
    fast = _regular_layout(outcomes, strategy, draw)
    if fast is not None:  # engine output: draws in order, strategies in category order
        return outcomes[column].to_numpy(float).reshape(-1, len(fast)), fast
    dup = outcomes.duplicated([draw, strategy])
    if dup.any():
        row = outcomes.loc[dup].iloc[0]
        raise HtaError(f"outcomes table: draw {row[draw]!r} has more than one row for strategy {str(row[strategy])!r}")
    wide = outcomes.pivot(index=draw, columns=strategy, values=column)
    if wide.isna().any().any():
        raise HtaError(f"outcomes table: some (draw, strategy) pairs have no {column!r}; "
                       f"every draw needs every strategy")
    return wide.to_numpy(float), [str(s) for s in wide.columns]


def _regular_layout(outcomes: pd.DataFrame, strategy: str, draw: str) -> list[str] | None:
    """Strategy names if rows are (draw, strategy) in order with every strategy once per draw."""
    col = outcomes[strategy]
    if not isinstance(col.dtype, pd.CategoricalDtype) or len(outcomes) == 0:
        return None
    K = len(col.cat.categories)
    if len(outcomes) % K:
        return None
    codes = col.cat.codes.to_numpy().reshape(-1, K)
    draws = outcomes[draw].to_numpy().reshape(-1, K)
    if not ((codes == np.arange(K)).all() and (draws == draws[:, :1]).all() and np.all(np.diff(draws[:, 0]) > 0)):
        return None
    return [str(s) for s in col.cat.categories]


def ce_arrays(costs, effects, strategies=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Checked cost and effect arrays of a PSA, and the strategy names.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies) or (n_strategies,)
        Cost and effect of each strategy in each draw; one row (1-D) is one draw.
    strategies : sequence of str, optional
        One unique name per column; default ``s0, s1, ...``.

    Returns
    -------
    (ndarray, ndarray, list of str)
        Costs and effects as float arrays of shape (n_draws, n_strategies), and
        the strategy names.

    Raises
    ------
    HtaError
        If the shapes differ, a name is missing or repeated, or a value is not finite.
    """
    try:
        c = np.asarray(costs, dtype=float)
        e = np.asarray(effects, dtype=float)
    except (TypeError, ValueError):
        raise HtaError("costs and effects must be numbers (arrays of shape (n_draws, n_strategies))") from None
    if c.ndim == 1:
        c = c[None, :]
    if e.ndim == 1:
        e = e[None, :]
    if c.shape != e.shape or c.ndim != 2:
        raise HtaError(
            f"costs {np.shape(costs)} and effects {np.shape(effects)} must have the same shape "
            f"(n_draws, n_strategies)"
        )
    k = c.shape[1]
    names = [f"s{i}" for i in range(k)] if strategies is None else [str(s) for s in strategies]
    if len(names) != k:
        raise HtaError(f"{len(names)} strategy names for {k} columns of costs and effects")
    if len(set(names)) != k:
        raise HtaError(f"duplicate strategy names {sorted({s for s in names if names.count(s) > 1})}")
    for arr, what in ((c, "costs"), (e, "effects")):
        if not np.isfinite(arr).all():
            d, s = np.argwhere(~np.isfinite(arr))[0]
            raise HtaError(f"{what} of strategy {names[s]!r} in draw {d} is {float(arr[d, s])!r}; must be finite")
    return c, e, names


def wtp_grid(wtp) -> np.ndarray:
    """Checked willingness-to-pay values.

    Parameters
    ----------
    wtp : float or array_like
        One willingness to pay per unit of effect, or a 1-D list of them (>= 0).

    Returns
    -------
    ndarray, shape (n_wtp,)
        The values as floats.

    Raises
    ------
    HtaError
        If the list is empty or not 1-D, or a value is negative or not finite.
    """
    w = np.atleast_1d(np.asarray(wtp, dtype=float))
    if w.ndim != 1 or w.size == 0:
        raise HtaError("willingness to pay must be a number or a 1-D list of numbers")
    if not np.isfinite(w).all():
        raise HtaError("willingness to pay must be finite")
    if (w < 0).any():
        raise HtaError(f"willingness to pay {w[w < 0][0]:g} is negative; use values >= 0 (per unit of effect)")
    return w
