"""Figures of cost-effectiveness: the CE plane, acceptability curves, expected loss."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.plots._common import (
    check,
    colour_map,
    compact,
    money,
    money_axis,
    new_axes,
    threshold_marker,
    tidy,
    units,
    wtp_label,
    wtp_values,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["ce_plane", "ceac", "expected_loss"]


def ce_plane(plane: pd.DataFrame, *, wtp=None, ax: Axes | None = None) -> Axes:
    """Cost-effectiveness plane: incremental cost against incremental effect per draw.

    Parameters
    ----------
    plane : DataFrame
        Columns ``draw, strategy, inc_cost, inc_effect``, as returned by
        :func:`sim.decision.ce_plane`; ``plane.attrs["reference"]`` (set by it) names
        the reference strategy in the title.
    wtp : float or sequence of float, optional
        Willingness-to-pay threshold(s): each is drawn as the line
        ``inc_cost = wtp * inc_effect`` (dashed).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        One scatter of draws per strategy (small translucent markers), its mean as a
        large outlined marker, and the axes through the origin.
    """
    check(plane, ("draw", "strategy", "inc_cost", "inc_effect"), "ce_plane", "ce_plane",
          numeric=("inc_cost", "inc_effect"), finite=("inc_cost", "inc_effect"))
    lines = None if wtp is None else wtp_values(wtp, "ce_plane")
    ax = new_axes(ax, figsize=(6.4, 4.8))
    colours = colour_map(plane["strategy"])
    n = max(int(plane["draw"].nunique()), 1)
    size, alpha = float(np.clip(300 / np.sqrt(n), 6, 24)), float(np.clip(12 / np.sqrt(n), 0.25, 0.8))  # few draws: seen
    for s, colour in colours.items():
        part = plane[plane["strategy"] == s]
        x, y = part["inc_effect"].to_numpy(float), part["inc_cost"].to_numpy(float)
        ax.scatter(x, y, s=size, alpha=alpha, color=colour, linewidths=0)
        ax.scatter([x.mean()], [y.mean()], s=90, marker="o", color=colour, edgecolors="black",
                   linewidths=1.2, zorder=4, label=f"{s} (mean)")
    ax.axhline(0.0, color="0.3", lw=0.8, zorder=1)
    ax.axvline(0.0, color="0.3", lw=0.8, zorder=1)
    if lines is not None:
        ax.autoscale_view()
        xlim, ylim = ax.get_xlim(), ax.get_ylim()
        one, _, cur = units(plane)
        for i, w in enumerate(lines):
            ax.plot(xlim, [w * xlim[0], w * xlim[1]], color="0.15", lw=1.0, ls=("--", ":", "-.")[i % 3],
                    zorder=2, label=f"threshold {cur + ' ' if cur else ''}{compact(w)} per {one}")
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
    one, many, cur = units(plane)
    ax.set_xlabel(f"Incremental {many}" if many != "effect" else "Incremental effect")
    ax.set_ylabel(money("Incremental cost", cur))
    money_axis(ax.yaxis)
    tidy(ax)
    ref = plane.attrs.get("reference")
    ax.set_title("Cost-effectiveness plane" + (f" (vs {ref})" if ref is not None else ""))
    ax.legend(fontsize="small")
    return ax


def _by_strategy_lines(ax, table: pd.DataFrame, y: str, colours: dict, **kw) -> None:
    for s, colour in colours.items():
        part = table[table["strategy"] == s].sort_values("wtp")
        if len(part):
            ax.plot(part["wtp"].to_numpy(float), part[y].to_numpy(float), color=colour, label=str(s), **kw)


def ceac(curves: pd.DataFrame, *, frontier: pd.DataFrame | None = None, wtp=None, ax: Axes | None = None) -> Axes:
    """Cost-effectiveness acceptability curves, optionally with the frontier.

    Parameters
    ----------
    curves : DataFrame
        Columns ``wtp, strategy, probability``, as returned by :func:`sim.decision.ceac`.
    frontier : DataFrame, optional
        Columns ``wtp, strategy, probability``, as returned by :func:`sim.decision.ceaf`:
        drawn as a thick translucent band over the curve of the strategy with the
        highest expected net benefit, broken where that strategy changes.
    wtp : float or sequence of float, optional
        Willingness-to-pay threshold(s), each marked by a dotted vertical line.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        One line per strategy: probability of being cost-effective against
        willingness to pay.
    """
    cols = ("wtp", "strategy", "probability")
    check(curves, cols, "ceac", "ceac", numeric=("wtp", "probability"), finite=("wtp", "probability"))
    if frontier is not None:
        check(frontier, cols, "ceac", "ceaf", numeric=("wtp", "probability"), finite=("wtp", "probability"))
    ax = new_axes(ax)
    colours = colour_map(curves["strategy"], *(() if frontier is None else (frontier["strategy"],)))
    _by_strategy_lines(ax, curves, "probability", colours, lw=1.5)
    if frontier is not None:
        f = frontier.sort_values("wtp", kind="stable")
        run = (f["strategy"] != f["strategy"].shift()).cumsum()
        labelled = False
        for _, part in f.groupby(run, sort=False):
            s = part["strategy"].iloc[0]
            ax.plot(part["wtp"].to_numpy(float), part["probability"].to_numpy(float), color=colours[s],
                    lw=7, alpha=0.35, solid_capstyle="butt", marker="o" if len(part) == 1 else None,
                    ms=8, zorder=3, label=None if labelled else "frontier (CEAF)")
            labelled = True
    if wtp is not None:
        one, _, cur = units(curves)
        w = wtp_values(wtp, "ceac")
        threshold_marker(ax, w, f"threshold {cur + ' ' if cur else ''}{', '.join(map(compact, w))} per {one}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(wtp_label(curves))
    ax.set_ylabel("Probability cost-effective")
    money_axis(ax.xaxis)
    tidy(ax)
    ax.set_title("Cost-effectiveness acceptability curves")
    ax.legend(fontsize="small")
    return ax


def expected_loss(loss: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Expected loss curves with their lower envelope (the EVPI).

    Parameters
    ----------
    loss : DataFrame
        Columns ``wtp, strategy, expected_loss``, as returned by
        :func:`sim.decision.expected_loss`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        One line per strategy and, dashed, the smallest expected loss at each
        willingness to pay, which equals the per-person EVPI.
    """
    check(loss, ("wtp", "strategy", "expected_loss"), "expected_loss", "expected_loss",
          numeric=("wtp", "expected_loss"), finite=("wtp", "expected_loss"))
    ax = new_axes(ax)
    _by_strategy_lines(ax, loss, "expected_loss", colour_map(loss["strategy"]), lw=1.5)
    env = loss.groupby("wtp", sort=True)["expected_loss"].min()
    ax.plot(env.index.to_numpy(float), env.to_numpy(float), color="black", ls="--", lw=1.8,
            label="minimum (= EVPI)", zorder=3)
    _, _, cur = units(loss)
    ax.set_xlabel(wtp_label(loss))
    ax.set_ylabel(money("Expected loss per person", cur))
    money_axis(ax.xaxis)
    money_axis(ax.yaxis)
    tidy(ax)
    ax.set_ylim(bottom=0)
    ax.set_title("Expected loss")
    ax.legend(fontsize="small")
    return ax
