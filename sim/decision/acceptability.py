"""Net benefit and acceptability: NMB/NHB, CEAC, CEAF, expected loss, the CE plane.

Works on arrays of shape ``(n_draws, n_strategies)`` (or outcomes tables pivoted with
:func:`sim.decision.outcome_matrix`); knows no engine.  Formulas: ``docs/decision.md``.
Ties go to the strategy whose name sorts first (:mod:`sim.decision.ties`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim._config import run_split
from sim.decision.icer import ce_arrays, str_array, wtp_grid
from sim.decision.ties import name_order, optimal_index
from sim.errors import HtaError

__all__ = ["net_benefit", "ceac", "ceaf", "expected_loss", "prob_cost_effective", "ce_plane", "eib"]


def net_benefit(costs, effects, wtp, *, kind: str = "monetary") -> np.ndarray:
    """Net benefit per willingness to pay, draw and strategy.

    ``kind="monetary"``: ``NMB = wtp * e - c``; ``kind="health"``: ``NHB = e - c / wtp``
    (``wtp > 0``).

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
        Cost and effect of each strategy in each draw.
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0; > 0 for ``kind="health"``).
    kind : {"monetary", "health"}
        Net monetary or net health benefit.

    Returns
    -------
    ndarray, shape (n_wtp, n_draws, n_strategies)
    """
    c, e, _ = ce_arrays(costs, effects)
    w = wtp_grid(wtp)
    if kind == "monetary":
        return w[:, None, None] * e[None] - c[None]
    if kind == "health":
        if (w <= 0).any():
            raise HtaError("net health benefit needs willingness to pay > 0")
        return e[None] - c[None] / w[:, None, None]
    raise HtaError(f"net_benefit kind {kind!r}: use 'monetary' or 'health'")


def _best_counts(c: np.ndarray, e: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Number of draws in which each strategy has the highest NMB, shape (k, n_wtp); ties to the lowest column."""
    from sim.decision._kernels import COUNT_BLOCK, best_counts

    out = np.empty((-(-c.shape[0] // COUNT_BLOCK), c.shape[1], len(w)), dtype=np.int64)
    c, e, w = np.ascontiguousarray(c), np.ascontiguousarray(e), np.ascontiguousarray(w, dtype=float)

    def part(lo: int, hi: int) -> None:  # whole blocks of draws: block b of the part is block lo // B + b
        best_counts(c[lo:hi], e[lo:hi], w, out[lo // COUNT_BLOCK:-(-hi // COUNT_BLOCK)])

    # a thread of its own only for at least ~4e5 (draw, wtp, strategy) comparisons: waking one
    # costs about 0.1 ms, which a 1,000-draw CEAC over 100 WTP values (60 us of work) does not repay
    run_split(part, c.shape[0], COUNT_BLOCK, min_items=max(1, 400_000 // max(1, len(w) * c.shape[1])))
    return out.sum(axis=0)


def _by_name(c: np.ndarray, e: np.ndarray, names: list[str]):
    """Columns in the tie order (:func:`~sim.decision.ties.name_order`): the lowest column wins a tie."""
    order = name_order(names)
    return c[:, order], e[:, order], [names[i] for i in order]


def ceac(costs, effects, wtp, strategies=None) -> pd.DataFrame:
    """Cost-effectiveness acceptability curves.

    Probability that each strategy has the highest net monetary benefit, per
    willingness to pay: ``P_s(wtp) = mean_draws 1[argmax_j NMB_j = s]`` (ties to
    the first strategy by name).

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
        Cost and effect of each strategy in each draw.
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0).
    strategies : sequence of str, optional
        One name per column; default ``s0, s1, ...``.

    Returns
    -------
    DataFrame
        Columns ``wtp, strategy, probability``; one row per (wtp, strategy),
        strategies sorted by name.
    """
    c, e, names = _by_name(*ce_arrays(costs, effects, strategies))
    w = wtp_grid(wtp)
    prob = _best_counts(c, e, w).T / c.shape[0]  # (n_wtp, k), compiled: no per-draw array
    return _by_wtp_and_strategy(w, names, "probability", prob)


def ceaf(costs, effects, wtp, strategies=None) -> pd.DataFrame:
    """Cost-effectiveness acceptability frontier.

    At each willingness to pay, the strategy with the highest *expected* net
    monetary benefit (ties to the first by name) and its probability of being
    optimal.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
        Cost and effect of each strategy in each draw.
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0).
    strategies : sequence of str, optional
        One name per column; default ``s0, s1, ...``.

    Returns
    -------
    DataFrame
        Columns ``wtp, strategy, probability, expected_nmb``; one row per wtp.
    """
    c, e, names = _by_name(*ce_arrays(costs, effects, strategies))
    w = wtp_grid(wtp)
    # expected NMB per (wtp, strategy): the mean over draws of the per-draw NMB
    enb = np.stack([(w[:, None] * e[None, :, s] - c[None, :, s]).mean(axis=1) for s in range(len(names))], axis=1)
    best_exp = optimal_index(enb, names)
    # share of the draws in which that strategy has the highest NMB: its count over the draws
    # (the CEAC's kernel; one compiled kernel fewer on a first run)
    prob = _best_counts(c, e, w)[best_exp, np.arange(len(w))] / c.shape[0]
    return pd.DataFrame({
        "wtp": w,
        "strategy": [names[i] for i in best_exp],
        "probability": prob,
        "expected_nmb": enb[np.arange(len(w)), best_exp],
    })


def expected_loss(costs, effects, wtp, strategies=None) -> pd.DataFrame:
    """Expected loss of choosing each strategy: ``E[max_j NMB_j - NMB_s]``.

    The smallest expected loss at a willingness to pay equals the EVPI there.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
        Cost and effect of each strategy in each draw.
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0).
    strategies : sequence of str, optional
        One name per column; default ``s0, s1, ...``.

    Returns
    -------
    DataFrame
        Columns ``wtp, strategy, expected_loss``; one row per (wtp, strategy),
        strategies sorted by name.
    """
    c, e, names = _by_name(*ce_arrays(costs, effects, strategies))
    w = wtp_grid(wtp)
    nb = net_benefit(c, e, w)
    loss = (nb.max(axis=-1, keepdims=True) - nb).mean(axis=1)
    return _by_wtp_and_strategy(w, names, "expected_loss", loss)


def _by_wtp_and_strategy(w: np.ndarray, names, column: str, values: np.ndarray) -> pd.DataFrame:
    """Long table ``wtp, strategy, <column>`` from ``values`` of shape (n_wtp, n_strategies)."""
    return pd.DataFrame({"wtp": np.repeat(w, len(names)), "strategy": str_array(list(names) * len(w)),
                         column: np.asarray(values, dtype=float).ravel()}, copy=False)


def prob_cost_effective(costs, effects, wtp, strategy: str, strategies=None) -> np.ndarray:
    """Probability that ``strategy`` is optimal at each willingness to pay (one CEAC).

    A draw in which strategies tie for the highest net monetary benefit counts
    for the one whose name sorts first, as in :func:`ceac`.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
        Cost and effect of each strategy in each draw.
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0).
    strategy : str
        The strategy.
    strategies : sequence of str, optional
        One name per column; default ``s0, s1, ...``.

    Returns
    -------
    ndarray, shape (n_wtp,)
        The probability at each willingness to pay, in the order given.
    """
    table = ceac(costs, effects, wtp, strategies)
    names = list(dict.fromkeys(table["strategy"]))
    if strategy not in names:
        raise HtaError(f"unknown strategy {strategy!r}; strategies are {', '.join(names)}")
    return table.loc[table["strategy"] == strategy, "probability"].to_numpy()


def ce_plane(costs, effects, strategies=None, *, reference: str | None = None) -> pd.DataFrame:
    """Incremental costs and effects per draw against a reference strategy.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
        Cost and effect of each strategy in each draw.
    strategies : sequence of str, optional
        One name per column; default ``s0, s1, ...``.
    reference : str, optional
        The reference strategy; default the first.

    Returns
    -------
    DataFrame
        Columns ``draw, strategy, inc_cost, inc_effect`` for every non-reference
        strategy; ``attrs["reference"]`` names the reference.
    """
    c, e, names = ce_arrays(costs, effects, strategies)
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
    empty = pd.DataFrame(columns=["draw", "strategy", "inc_cost", "inc_effect"])
    out = pd.concat(rows, ignore_index=True) if rows else empty
    out.attrs["reference"] = ref
    return out


def eib(costs, effects, wtp, strategies=None, *, reference: str | None = None) -> pd.DataFrame:
    """Expected incremental benefit of the reference strategy against each other one (BCEA's ``eib``).

    With ``Δe = e_ref - e_s`` and ``Δc = c_ref - c_s`` in each draw,
    ``EIB_s(k) = mean_draws (k Δe - Δc)``: the mean incremental net monetary benefit of the
    reference (BCEA's ``ref``, the intervention of interest) over comparator ``s`` at
    willingness to pay ``k``. Positive: the reference is preferred on expected net benefit.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
        Cost and effect of each strategy in each draw.
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0).
    strategies : sequence of str, optional
        One name per column; default ``s0, s1, ...``.
    reference : str, optional
        The intervention of interest; default the first strategy.

    Returns
    -------
    DataFrame
        Columns ``wtp, strategy, eib``: one row per (wtp, comparator); ``attrs["reference"]``
        names the reference.
    """
    c, e, names = ce_arrays(costs, effects, strategies)
    ref = names[0] if reference is None else reference
    if ref not in names:
        raise HtaError(f"unknown reference strategy {ref!r}; strategies are {', '.join(names)}")
    r = names.index(ref)
    w = wtp_grid(wtp)
    others = [s for s in range(len(names)) if s != r]
    if not others:
        raise HtaError(f"EIB compares the reference {ref!r} with other strategies, and there is none")
    de = (e[:, r, None] - e[:, others]).mean(axis=0)  # mean is linear: E[k de - dc] = k E[de] - E[dc]
    dc = (c[:, r, None] - c[:, others]).mean(axis=0)
    values = w[:, None] * de[None, :] - dc[None, :]
    out = pd.DataFrame({"wtp": np.repeat(w, len(others)),
                        "strategy": [names[s] for s in others] * len(w),
                        "eib": values.ravel()})
    out.attrs["reference"] = ref
    return out
