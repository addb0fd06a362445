"""Figures of value of information: EVPI curves and EVPPI bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.plots._common import (
    PALETTE,
    check,
    compact,
    fmt,
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

__all__ = ["evpi", "evppi"]


def evpi(curve: pd.DataFrame, *, population: bool = False, wtp=None, ax: Axes | None = None) -> Axes:
    """Expected value of perfect information against willingness to pay.

    Parameters
    ----------
    curve : DataFrame
        Columns ``wtp, evpi`` (:func:`sim.voi.evpi`), and ``population_evpi`` when
        ``population`` is true (:func:`sim.voi.population_evpi`).
    population : bool
        Plot the population EVPI; when it is a constant multiple of the per-person
        EVPI (as from :func:`sim.voi.population_evpi`), a right-hand axis shows the
        per-person scale.
    wtp : float or sequence of float, optional
        Willingness-to-pay threshold(s), each marked by a dotted vertical line.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
    """
    cols = ("wtp", "evpi", "population_evpi") if population else ("wtp", "evpi")
    check(curve, cols, "evpi", "population_evpi" if population else "evpi", numeric=cols, finite=cols)
    ax = new_axes(ax)
    c = curve.sort_values("wtp", kind="stable")
    w = c["wtp"].to_numpy(float)
    _, _, cur = units(curve)
    if population:
        pop, per = c["population_evpi"].to_numpy(float), c["evpi"].to_numpy(float)
        ax.plot(w, pop, color=PALETTE[0], lw=1.8)
        ax.set_ylabel(money("Population EVPI", cur))
        pos = per > 0
        if pos.any():
            ratio = pop[pos] / per[pos]
            k = float(ratio[0])
            if k > 0 and np.allclose(ratio, k, rtol=1e-9) and np.allclose(pop[~pos], 0.0):
                right = ax.secondary_yaxis("right", functions=(lambda y: y / k, lambda y: y * k))
                right.set_ylabel(money("EVPI per person", cur))
                money_axis(right.yaxis)
        ax.set_title("Population expected value of perfect information")
    else:
        ax.plot(w, c["evpi"].to_numpy(float), color=PALETTE[0], lw=1.8)
        ax.set_ylabel(money("EVPI per person", cur))
        ax.set_title("Expected value of perfect information")
    if wtp is not None:
        one, _, _ = units(curve)
        t = wtp_values(wtp, "evpi")
        threshold_marker(ax, t, f"threshold {cur + ' ' if cur else ''}{', '.join(map(compact, t))} per {one}")
        ax.legend(fontsize="small")
    ax.set_xlabel(wtp_label(curve))
    money_axis(ax.xaxis)
    money_axis(ax.yaxis)
    tidy(ax)
    ax.set_ylim(bottom=0)
    return ax


def evppi(table: pd.DataFrame, *, wtp: float | None = None, ax: Axes | None = None) -> Axes:
    """EVPPI per parameter (group) as horizontal bars with standard-error bars.

    Parameters
    ----------
    table : DataFrame
        Columns ``parameters`` (a label, or a list/tuple of parameter names),
        ``wtp``, ``evppi`` and ``se`` (standard error of the estimate; NaN: no error
        bar), one row per parameter group and willingness to pay, as returned by
        :func:`sim.voi.evppi`.
    wtp : float, optional
        Willingness to pay to show when the table has several; default: the first
        value in the table, which the title then says.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        Bars sorted by EVPPI, largest on top; error bars of one standard error, cut at zero.
    """
    check(table, ("parameters", "wtp", "evppi", "se"), "evppi", "evppi",
          numeric=("wtp", "evppi", "se"), finite=("wtp", "evppi"))
    values = list(pd.unique(table["wtp"].to_numpy(float)))
    one, _, cur = units(table)
    at = lambda w: f"\nat {cur + ' ' if cur else ''}{compact(w)} per {one}"  # noqa: E731
    if wtp is None:
        chosen = values[0]
        note = (f"{at(chosen)} (first of {len(values)} values; choose with wtp=)" if len(values) > 1 else at(chosen))
    else:
        match = [v for v in values if np.isclose(v, float(wtp), rtol=1e-12, atol=0.0)]
        if not match:
            raise HtaError(f"plots.evppi: willingness to pay {wtp!r} is not in the table; it has "
                           f"{', '.join(fmt(v) for v in values)}")
        chosen = match[0]
        note = at(chosen)
    rows = table[table["wtp"].to_numpy(float) == chosen].copy()
    labels = [", ".join(map(str, p)) if isinstance(p, (list, tuple)) else str(p) for p in rows["parameters"]]
    rows["label"] = labels
    dup = rows["label"][rows["label"].duplicated()]
    if len(dup):
        raise HtaError(f"plots.evppi: parameters {dup.iloc[0]!r} appear twice at WTP {fmt(chosen)}; "
                       f"give one row per parameter group and willingness to pay")
    se = rows["se"].to_numpy(float)
    if (se[np.isfinite(se)] < 0).any():
        raise HtaError("plots.evppi: column 'se' has a negative standard error")
    rows = rows.sort_values("evppi", kind="stable")
    y = np.arange(len(rows))
    ax = new_axes(ax, figsize=(6.4, max(2.5, 0.45 * len(rows) + 1.5)))
    err = rows["se"].to_numpy(float)
    err = np.where(np.isfinite(err), err, 0.0)
    val = rows["evppi"].to_numpy(float)
    # an EVPPI is never negative: the error bar stops at zero
    ax.barh(y, val, height=0.6, color=PALETTE[0], xerr=np.vstack([np.minimum(err, np.maximum(val, 0.0)), err]),
            error_kw={"ecolor": "black", "capsize": 3, "lw": 1})
    ax.set_yticks(y, rows["label"].tolist())
    _, _, cur = units(table)
    ax.set_xlabel(money("EVPPI per person", cur))
    money_axis(ax.xaxis)
    tidy(ax)
    ax.set_title("Expected value of partial perfect information" + note, fontsize="medium")
    return ax
