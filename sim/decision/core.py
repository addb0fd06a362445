"""Decision analysis on arrays or outcomes tables (knows no engine).

Formulas and conventions: ``docs/icer.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.errors import HtaError

__all__ = [
    "icer_table", "icers", "STATUS", "outcome_matrix", "net_benefit", "ceac", "ceaf",
    "expected_loss", "prob_cost_effective", "ce_plane", "nnt",
]

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
        row = {"strategy": names[i], "cost": c[i], effect_name: e[i], "inc_cost": np.nan,
               f"inc_{effect_name}": np.nan, "icer": np.nan, "status": status[i], "dominated_by": by[i]}
        if status[i] == STATUS[0]:
            if prev is not None:
                dc, de = c[i] - c[prev], e[i] - e[prev]
                with np.errstate(over="ignore"):  # a tiny effect gain can give an infinite ICER
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


# ---------------------------------------------------------------------------- PSA inputs
def outcome_matrix(outcomes: pd.DataFrame, column: str, *, strategy: str = "strategy",
                   draw: str = "draw") -> tuple[np.ndarray, list[str]]:
    """Pivot a long outcomes table to an array ``(n_draws, n_strategies)``.

    Returns the array (rows sorted by draw) and the strategy names (columns).
    """
    for col in (column, strategy, draw):
        if col not in outcomes.columns:
            raise HtaError(f"the outcomes table has no column {col!r}; columns are {', '.join(map(str, outcomes.columns))}")
    fast = _regular_layout(outcomes, strategy, draw)
    if fast is not None:  # engine output: draws in order, strategies in category order
        return outcomes[column].to_numpy(float).reshape(-1, len(fast)), fast
    dup = outcomes.duplicated([draw, strategy])
    if dup.any():
        row = outcomes.loc[dup].iloc[0]
        raise HtaError(f"outcomes table: draw {row[draw]!r} has more than one row for strategy {str(row[strategy])!r}")
    wide = outcomes.pivot(index=draw, columns=strategy, values=column)
    if wide.isna().any().any():
        raise HtaError(f"outcomes table: some (draw, strategy) pairs have no {column!r}; every draw needs every strategy")
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


def _ce_arrays(costs, effects, strategies=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
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


def _wtp(wtp) -> np.ndarray:
    w = np.atleast_1d(np.asarray(wtp, dtype=float))
    if w.ndim != 1 or w.size == 0:
        raise HtaError("willingness to pay must be a number or a 1-D list of numbers")
    if not np.isfinite(w).all():
        raise HtaError("willingness to pay must be finite")
    if (w < 0).any():
        raise HtaError(f"willingness to pay {w[w < 0][0]:g} is negative; use values >= 0 (per unit of effect)")
    return w


def net_benefit(costs, effects, wtp, *, kind: str = "monetary") -> np.ndarray:
    """Net benefit per willingness to pay, draw and strategy.

    ``kind="monetary"``: ``NMB = wtp * e - c``; ``kind="health"``: ``NHB = e - c / wtp``
    (``wtp > 0``).

    Returns
    -------
    ndarray, shape (n_wtp, n_draws, n_strategies)
    """
    c, e, _ = _ce_arrays(costs, effects)
    w = _wtp(wtp)
    if kind == "monetary":
        return w[:, None, None] * e[None] - c[None]
    if kind == "health":
        if (w <= 0).any():
            raise HtaError("net health benefit needs willingness to pay > 0")
        return e[None] - c[None] / w[:, None, None]
    raise HtaError(f"net_benefit kind {kind!r}: use 'monetary' or 'health'")


def _best_per_draw(c: np.ndarray, e: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Index of the strategy with the highest NMB per (draw, wtp); ties to the lowest column."""
    from sim.decision._kernels import best_strategy

    out = np.empty((c.shape[0], len(w)), dtype=np.int64)
    best_strategy(np.ascontiguousarray(c), np.ascontiguousarray(e), np.ascontiguousarray(w, dtype=float), out)
    return out


def _best_counts(c: np.ndarray, e: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Number of draws in which each strategy has the highest NMB, shape (k, n_wtp)."""
    from sim.decision._kernels import COUNT_BLOCK, best_counts

    out = np.empty((-(-c.shape[0] // COUNT_BLOCK), c.shape[1], len(w)), dtype=np.int64)
    best_counts(np.ascontiguousarray(c), np.ascontiguousarray(e), np.ascontiguousarray(w, dtype=float), out)
    return out.sum(axis=0)


def _sorted(c, e, names):
    order = np.argsort(names, kind="stable")  # ties are broken by strategy name
    return c[:, order], e[:, order], [names[i] for i in order]


def ceac(costs, effects, wtp, strategies=None) -> pd.DataFrame:
    """Cost-effectiveness acceptability curves.

    Probability that each strategy has the highest net monetary benefit, per
    willingness to pay: ``P_s(wtp) = mean_draws 1[argmax_j NMB_j = s]`` (ties to
    the first strategy by name).

    Returns
    -------
    DataFrame
        Columns ``wtp, strategy, probability``; one row per (wtp, strategy).
    """
    c, e, names = _sorted(*_ce_arrays(costs, effects, strategies))
    w = _wtp(wtp)
    prob = _best_counts(c, e, w).T / c.shape[0]  # (n_wtp, k), compiled: no per-draw array
    return _by_wtp_and_strategy(w, names, "probability", prob)


def ceaf(costs, effects, wtp, strategies=None) -> pd.DataFrame:
    """Cost-effectiveness acceptability frontier.

    At each willingness to pay, the strategy with the highest *expected* net
    monetary benefit and its probability of being optimal.

    Returns
    -------
    DataFrame
        Columns ``wtp, strategy, probability, expected_nmb``; one row per wtp.
    """
    c, e, names = _sorted(*_ce_arrays(costs, effects, strategies))
    w = _wtp(wtp)
    # expected NMB per (wtp, strategy): the mean over draws of the per-draw NMB
    enb = np.stack([(w[:, None] * e[None, :, s] - c[None, :, s]).mean(axis=1) for s in range(len(names))], axis=1)
    best_exp = np.argmax(enb, axis=-1)
    prob = (_best_per_draw(c, e, w) == best_exp[None, :]).mean(axis=0)
    return pd.DataFrame({
        "wtp": w,
        "strategy": [names[i] for i in best_exp],
        "probability": prob,
        "expected_nmb": enb[np.arange(len(w)), best_exp],
    })


def expected_loss(costs, effects, wtp, strategies=None) -> pd.DataFrame:
    """Expected loss of choosing each strategy: ``E[max_j NMB_j - NMB_s]``.

    The smallest expected loss at a willingness to pay equals the EVPI there.

    Returns
    -------
    DataFrame
        Columns ``wtp, strategy, expected_loss``; one row per (wtp, strategy).
    """
    c, e, names = _sorted(*_ce_arrays(costs, effects, strategies))
    w = _wtp(wtp)
    nb = net_benefit(c, e, w)
    loss = (nb.max(axis=-1, keepdims=True) - nb).mean(axis=1)
    return _by_wtp_and_strategy(w, names, "expected_loss", loss)


def _by_wtp_and_strategy(w: np.ndarray, names, column: str, values: np.ndarray) -> pd.DataFrame:
    """Long table ``wtp, strategy, <column>`` from ``values`` of shape (n_wtp, n_strategies)."""
    return pd.DataFrame({"wtp": np.repeat(w, len(names)), "strategy": np.tile(names, len(w)),
                         column: np.asarray(values).ravel()})


def prob_cost_effective(costs, effects, wtp, strategy: str, strategies=None) -> np.ndarray:
    """Probability that ``strategy`` is optimal at each willingness to pay (one CEAC)."""
    table = ceac(costs, effects, wtp, strategies)
    names = list(dict.fromkeys(table["strategy"]))
    if strategy not in names:
        raise HtaError(f"unknown strategy {strategy!r}; strategies are {', '.join(names)}")
    return table.loc[table["strategy"] == strategy, "probability"].to_numpy()


def ce_plane(costs, effects, strategies=None, *, reference: str | None = None) -> pd.DataFrame:
    """Incremental costs and effects per draw against a reference strategy.

    Returns
    -------
    DataFrame
        Columns ``draw, strategy, inc_cost, inc_effect`` for every non-reference
        strategy (reference: the first strategy unless given).
    """
    c, e, names = _ce_arrays(costs, effects, strategies)
    ref = names[0] if reference is None else reference
    if ref not in names:
        raise HtaError(f"unknown reference strategy {ref!r}; strategies are {', '.join(names)}")
    r = names.index(ref)
    rows = []
    n = c.shape[0]
    for s, name in enumerate(names):
        if s == r:
            continue
        rows.append(pd.DataFrame({"draw": np.arange(n), "strategy": name,
                                  "inc_cost": c[:, s] - c[:, r], "inc_effect": e[:, s] - e[:, r]}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["draw", "strategy", "inc_cost", "inc_effect"])
    out.attrs["reference"] = ref
    return out


# ---------------------------------------------------------------------------- NNT / NNH
def _newcombe(e1: float, n1: float, e2: float, n2: float, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10, Newcombe 1998)."""
    def wilson(e, n):
        p = e / n
        centre = p + z * z / (2 * n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        den = 1 + z * z / n
        return (centre - half) / den, (centre + half) / den
    p1, p2 = e1 / n1, e2 / n2
    l1, u1 = wilson(e1, n1)
    l2, u2 = wilson(e2, n2)
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(lo), float(hi)


def nnt(p_treatment=None, p_control=None, *, outcome: str = "benefit", level: float = 0.95,
        events_treatment: float | None = None, n_treatment: float | None = None,
        events_control: float | None = None, n_control: float | None = None) -> dict:
    """Number needed to treat (benefit) or to harm, with an interval.

    Give either event probabilities as arrays of draws (PSA or posterior samples:
    percentile interval of the risk difference) or event counts (Newcombe's hybrid
    score interval of the risk difference).  The NNT is ``1 / ARD`` with
    ``ARD = p_treatment - p_control`` for a good outcome (``outcome="benefit"``,
    e.g. response) or the same difference read as harm (``outcome="harm"``, e.g. a
    serious adverse event: the number needed to harm).  The interval is the
    reciprocal of the ARD's interval; when that includes 0 the NNT interval runs
    through infinity (Altman 1998): e.g. "NNTB 12 to inf to NNTH 40".

    Returns
    -------
    dict
        ``ard, ard_low, ard_high, nnt, nnt_low, nnt_high, label, text``: ``nnt`` is
        ``1/ard`` (inf when ``ard == 0``); ``label`` is "NNT"/"NNH" (or "NNTB"/"NNTH"
        for a benefit outcome with a harmful direction); ``text`` a sentence.
    """
    if outcome not in ("benefit", "harm"):
        raise HtaError(f"outcome {outcome!r}: use 'benefit' (e.g. response) or 'harm' (e.g. adverse event)")
    if not 0 < level < 1:
        raise HtaError(f"level {level!r} must lie in (0, 1), e.g. 0.95")
    counts = (events_treatment, n_treatment, events_control, n_control)
    if p_treatment is not None or p_control is not None:
        if any(c is not None for c in counts):
            raise HtaError("nnt: give either probabilities (draws) or event counts, not both")
        pt = np.atleast_1d(np.asarray(p_treatment, dtype=float))
        pc = np.atleast_1d(np.asarray(p_control, dtype=float))
        if pt.shape != pc.shape:
            raise HtaError(f"nnt: p_treatment has {pt.size} draws and p_control {pc.size}; give the same number")
        if not (np.isfinite(pt).all() and np.isfinite(pc).all()) or (pt < 0).any() or (pt > 1).any() \
                or (pc < 0).any() or (pc > 1).any():
            raise HtaError("nnt: event probabilities must lie in [0, 1]")
        diff = pt - pc
        ard = float(diff.mean())
        a = (1 - level) / 2
        lo, hi = (float(np.quantile(diff, a)), float(np.quantile(diff, 1 - a))) if diff.size > 1 else (ard, ard)
    else:
        if any(c is None for c in counts):
            raise HtaError("nnt: give p_treatment and p_control, or all four of events_treatment, "
                           "n_treatment, events_control, n_control")
        et, nt_, ec, nc = (float(x) for x in counts)
        if not (0 <= et <= nt_ and 0 <= ec <= nc and nt_ > 0 and nc > 0):
            raise HtaError("nnt: event counts must satisfy 0 <= events <= n and n > 0")
        from scipy.stats import norm

        ard = et / nt_ - ec / nc
        lo, hi = _newcombe(et, nt_, ec, nc, float(norm.ppf(0.5 + level / 2)))
    label_pos, label_neg = ("NNT", "NNH") if outcome == "benefit" else ("NNH", "NNT")

    def inv(x):
        return float("inf") if x == 0 else 1.0 / x

    value = inv(ard)
    if lo > 0 or hi < 0:  # interval excludes no effect
        n_lo, n_hi = sorted((abs(inv(lo)), abs(inv(hi))))
        label = label_pos if ard >= 0 else label_neg
        text = f"{label} {abs(value):.1f} ({level:.0%} interval {n_lo:.1f} to {n_hi:.1f})"
    else:
        n_lo, n_hi = inv(hi), inv(lo)  # NNTB side from the upper ARD, NNTH side from the lower
        label = label_pos if ard >= 0 else label_neg
        text = (f"{label} {abs(value):.1f} ({level:.0%} interval {label_pos} "
                f"{abs(inv(hi)) if hi else float('inf'):.1f} to inf to {label_neg} "
                f"{abs(inv(lo)) if lo else float('inf'):.1f})")
    return {"ard": ard, "ard_low": lo, "ard_high": hi, "nnt": value, "nnt_low": n_lo, "nnt_high": n_hi,
            "label": label, "text": text}
