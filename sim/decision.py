"""Decision analysis on arrays or outcomes tables (knows no engine).

Formulas and conventions: ``docs/icer.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import HtaError

__all__ = ["icer_table", "icers", "STATUS"]

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
        strategy (strong dominance) or the two frontier neighbours whose mix
        dominates (extended dominance).

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
    c = np.asarray(costs, dtype=float).ravel()
    e = np.asarray(effects, dtype=float).ravel()
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
            raise HtaError(f"icer_table: {what} of strategy {names[i]!r} is {arr[i]!r}; it must be finite")
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
        ic = [(c[b] - c[a]) / (e[b] - e[a]) for a, b in zip(front, front[1:])]
        drop = {front[k + 1] for k in range(len(ic) - 1) if ic[k] > ic[k + 1]}
        if not drop:
            break
        for k in range(1, len(front) - 1):
            if front[k] in drop:
                status[front[k]] = STATUS[2]
                by[front[k]] = f"{names[front[k - 1]]} & {names[front[k + 1]]}"
        front = [i for i in front if i not in drop]
    rows = []
    prev = None
    for i in order:
        row = {"strategy": names[i], "cost": c[i], effect_name: e[i], f"inc_cost": np.nan,
               f"inc_{effect_name}": np.nan, "icer": np.nan, "status": status[i], "dominated_by": by[i]}
        if status[i] == STATUS[0]:
            if prev is not None:
                dc, de = c[i] - c[prev], e[i] - e[prev]
                row.update({"inc_cost": dc, f"inc_{effect_name}": de, "icer": dc / de})
            prev = i
        rows.append(row)
    return pd.DataFrame(rows)


def icers(outcomes: pd.DataFrame, *, effect: str = "qaly", cost: str = "cost",
          strategy: str = "strategy") -> pd.DataFrame:
    """ICER table on the expected (mean over draws) cost and effect of an outcomes table.

    See :func:`icer_table` for the columns and rules.
    """
    for col in (effect, cost, strategy):
        if col not in outcomes.columns:
            raise HtaError(
                f"icers: the outcomes table has no column {col!r}; columns are "
                f"{', '.join(map(str, outcomes.columns))}"
            )
    means = outcomes.groupby(strategy, observed=True, sort=False)[[cost, effect]].mean()
    return icer_table(list(means.index), means[cost].to_numpy(), means[effect].to_numpy(), effect_name=effect)
