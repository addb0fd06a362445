"""Figures of cohort traces: state occupancy over cycles and survival."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.plots._common import PALETTE, check, colour_map, fmt, levels, new_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["trace", "survival"]

_TRACE = ("draw", "strategy", "cycle", "state", "share")


def trace(trace: pd.DataFrame, *, draw: int | None = None, strategy: str | None = None,
          ax: Axes | Sequence[Axes] | None = None) -> Axes | np.ndarray:
    """Markov trace: share of the cohort in each state over cycles.

    Parameters
    ----------
    trace : DataFrame
        Columns ``draw, strategy, cycle, state, share``, as in
        ``sim.run_cohort(model, trace=True).trace``.
    draw : int, optional
        Plot this draw; default: the mean share per cycle over all draws (the title
        says how many).
    strategy : str, optional
        Plot only this strategy on one Axes.  Default: every strategy, one subplot
        each (side by side, shared y-axis).
    ax : matplotlib Axes or sequence of Axes, optional
        With ``strategy``: one Axes.  Without: one Axes per strategy (or a single
        Axes when the trace has one strategy).  New figure when omitted.

    Returns
    -------
    matplotlib Axes or ndarray of Axes
        The Axes when ``strategy`` is given; otherwise a 1-D array of Axes, one per
        strategy in model order (``axes[0].figure`` is the Figure).
    """
    check(trace, _TRACE, "trace", "trace", numeric=("draw", "cycle", "share"),
          finite=("cycle", "share"))
    t = trace
    draws = levels(t["draw"])
    if draw is not None:
        if draw not in set(draws):
            raise HtaError(f"plots.trace: draw {draw!r} is not in the trace; it has draws "
                           f"{fmt(min(draws))} to {fmt(max(draws))} ({len(draws)} draws)")
        t = t[t["draw"] == draw]
        note = f" (draw {draw})"
    else:
        note = f" (mean of {len(draws)} draws)" if len(draws) > 1 else ""
    strategies = levels(t["strategy"])
    if strategy is not None:
        if strategy not in strategies:
            raise HtaError(f"plots.trace: strategy {strategy!r} is not in the trace; strategies are "
                           f"{', '.join(map(str, strategies))}")
        strategies = [strategy]
    states = levels(t["state"])
    colours = {s: PALETTE[k % len(PALETTE)] for k, s in enumerate(states)}
    if strategy is not None:
        axes = np.array([new_axes(ax)], dtype=object)
    elif ax is None:
        import matplotlib.pyplot as plt

        n = len(strategies)
        _, axes = plt.subplots(1, n, sharey=True, squeeze=False, figsize=(min(4.2 * n, 16), 4.2))
        axes = axes.ravel()
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        if len(axes) != len(strategies):
            raise HtaError(f"plots.trace: {len(axes)} Axes for {len(strategies)} strategies; give one Axes "
                           f"per strategy, or strategy= to plot one")
    mean = (t[t["strategy"].isin(strategies)]
            .groupby(["strategy", "cycle", "state"], observed=True, sort=True)["share"].mean())
    top = 1.0
    for a, s in zip(axes, strategies, strict=True):
        part = mean.xs(s, level="strategy").unstack("state")
        for st in states:
            if st in part.columns:
                a.plot(part.index.to_numpy(float), part[st].to_numpy(float), color=colours[st], lw=1.6,
                       label=str(st))
        top = max(top, float(np.nanmax(part.to_numpy(float))))
        a.set_title(f"{s}{note}", fontsize="medium")
        a.set_xlabel("Cycle")
        a.set_ylim(0, top * 1.02)
    axes[0].set_ylabel("Share of cohort")
    axes[-1].legend(title="State", fontsize="small")
    return axes[0] if strategy is not None else axes


def survival(trace: pd.DataFrame, *, dead_states, cycle_length: float | None = None,
             ax: Axes | None = None) -> Axes:
    """Proportion of the cohort alive over time, per strategy.

    Parameters
    ----------
    trace : DataFrame
        Columns ``draw, strategy, cycle, state, share``, as in
        ``sim.run_cohort(model, trace=True).trace``.
    dead_states : str or sequence of str
        The dead (absorbing death) states, e.g. ``model.dead``; survival is
        ``1 - sum of their shares``, averaged over draws.
    cycle_length : float, optional
        Cycle length in years (``trace.attrs["settings"]["cycle_length"]`` for a trace
        from :func:`sim.run_cohort`): the x-axis then shows years
        (``cycle * cycle_length``) instead of cycles.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        One line per strategy.
    """
    check(trace, _TRACE, "survival", "trace", numeric=("draw", "cycle", "share"),
          finite=("cycle", "share"))
    dead = [dead_states] if isinstance(dead_states, str) else list(dead_states)
    states = levels(trace["state"])
    if not dead:
        raise HtaError("plots.survival: dead_states is empty; name the dead state(s), e.g. model.dead")
    for d in dead:
        if d not in states:
            raise HtaError(f"plots.survival: dead state {d!r} is not in the trace; states are "
                           f"{', '.join(map(str, states))}")
    if cycle_length is not None:
        cl = float(cycle_length)
        if not (np.isfinite(cl) and cl > 0):
            raise HtaError(f"plots.survival: cycle_length {cycle_length!r} must be a number of years > 0")
    share_dead = trace["share"].where(trace["state"].isin(dead), 0.0)
    per_draw = (trace.assign(_dead=share_dead)
                .groupby(["strategy", "draw", "cycle"], observed=True, sort=True)["_dead"].sum())
    alive = (1.0 - per_draw).groupby(level=["strategy", "cycle"], observed=True, sort=True).mean()
    ax = new_axes(ax)
    n_draws = trace["draw"].nunique()
    for s, colour in colour_map(trace["strategy"]).items():
        part = alive.xs(s, level="strategy")
        x = part.index.to_numpy(float) * (cl if cycle_length is not None else 1.0)
        ax.plot(x, part.to_numpy(float), color=colour, lw=1.8, label=str(s))
    ax.set_xlabel("Years" if cycle_length is not None else "Cycle")
    ax.set_ylabel("Proportion alive")
    ax.set_ylim(0, 1.02)
    ax.set_title("Survival" + (f" (mean of {n_draws} draws)" if n_draws > 1 else ""))
    ax.legend(fontsize="small")
    return ax
