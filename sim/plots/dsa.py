"""Figures of deterministic sensitivity analysis: tornado diagram and two-way heat map."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.plots._common import FONT_SIZES, PALETTE, check, compact_formatter, fmt, levels, money_axis, new_axes, tidy

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["tornado", "two_way"]


def tornado(table: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
            errors: Mapping[str, tuple[float, float]] | None = None, ax: Axes | None = None) -> Axes:
    """Tornado diagram of a one-way sensitivity analysis.

    Parameters
    ----------
    table : DataFrame
        Columns ``parameter, low, high, outcome_low, outcome_high, base``: each
        parameter's low and high input values, the outcome at each, and the base-case
        outcome, as returned by :func:`sim.dsa.one_way`.  ``table.attrs["outcome"]``,
        if present, labels the x-axis.  A non-finite outcome (e.g. an ICER with no
        difference in effect) gets no bar; its label gives the input and the value.
    labels : mapping of str to str, optional
        The label of each parameter's row (e.g. its description, base value and range);
        default: the parameter's name.
    errors : mapping of str to (float, float), optional
        Standard errors of the outcome at the low and at the high input (e.g. the Monte
        Carlo error of a patient-level model): whiskers of two standard errors either
        side of each bar's end.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        One row per parameter, largest outcome range on top; bars run from the base
        case to the outcome at the low input (colour C0) and at the high input (C1),
        each labelled with its input value (colours: the first two of the Okabe-Ito palette).
    """
    num = ("low", "high", "outcome_low", "outcome_high", "base")
    check(table, ("parameter",) + num, "tornado", "tornado", numeric=num, finite=("low", "high", "base"))
    swing = (table["outcome_high"] - table["outcome_low"]).abs()
    t = table.assign(_swing=swing.where(np.isfinite(swing)))
    # barh draws bottom-up: largest swing on top, undefined swings at the bottom
    t = t.sort_values("_swing", kind="stable", na_position="first")
    n = len(t)
    ax = new_axes(ax, figsize=(8.0, max(2.5, 0.45 * n + 1.5)))  # wide: long labels and values beside the bars
    y = np.arange(n)
    base = t["base"].to_numpy(float)
    notes: list = []
    for key, inp, colour, name in (("outcome_low", "low", PALETTE[0], "low input"),
                                   ("outcome_high", "high", PALETTE[1], "high input")):
        out = t[key].to_numpy(float)
        other = t["outcome_high" if key == "outcome_low" else "outcome_low"].to_numpy(float)
        ok = np.isfinite(out)
        both = ok & np.isfinite(other)
        with np.errstate(invalid="ignore"):
            # the longer bar underneath, so that both stay visible on the same side
            shorter = both & (np.abs(out - base) <= np.abs(other - base))
            same_side = both & (np.sign(out - base) == np.sign(other - base))
        for zo, sel in ((2, ok & ~shorter), (3, shorter)):
            if sel.any():
                ax.barh(y[sel], (out - base)[sel], left=base[sel], height=0.6, color=colour, zorder=zo,
                        label=name)
        # both outcomes on one side of the base case: low-input label above, high-input below
        shift = 0.16 if key == "outcome_low" else -0.16
        # a bar's whisker (two standard errors) pushes its value label out
        reach = [2 * float((errors or {}).get(p, (0.0, 0.0))[key == "outcome_high"]) for p in t["parameter"]]
        reach = np.where(np.isfinite(reach), reach, 0.0)
        for yi, o, ob, b, v, same, r in zip(y, out, other, base, t[inp].to_numpy(float), same_side, reach,
                                            strict=True):
            if np.isfinite(o):
                right = o > b or (o == b and key == "outcome_high")
                text, at = fmt(v), o + (r if right else -r)
            else:  # no bar: say so next to the base case, away from the other bar
                right = ob < b if np.isfinite(ob) and ob != b else key == "outcome_high"
                text, at = f"{fmt(v)}: {o:g}", b
            notes.append(ax.annotate(text, (at, yi + (shift if same else 0.0)), xytext=(3 if right else -3, 0),
                                     textcoords="offset points", ha="left" if right else "right", va="center",
                                     fontsize=FONT_SIZES["annotation"], zorder=5))
    for yi, p, lo_out, hi_out in zip(y, t["parameter"], t["outcome_low"], t["outcome_high"], strict=True):
        se = (errors or {}).get(p)
        if se is not None:
            for x, e in ((lo_out, se[0]), (hi_out, se[1])):
                if np.isfinite(x) and np.isfinite(e) and e > 0:
                    ax.errorbar([x], [yi], xerr=[2 * e], fmt="none", ecolor="black", elinewidth=1, capsize=3,
                                zorder=6)
    if np.allclose(base, base[0]):
        ax.axvline(base[0], color="black", lw=1, zorder=4)
    else:
        ax.scatter(base, y, marker="|", s=300, color="black", zorder=4)
    names = labels or {}
    ax.set_yticks(y, [str(names.get(p, p)) for p in t["parameter"]])
    ax.set_ylim(-0.7, n - 0.3)
    ax.margins(x=0.05)
    ax.set_xlabel(str(table.attrs.get("outcome", "Outcome")))
    money_axis(ax.xaxis)
    tidy(ax)
    ax.grid(False, axis="y")
    ax.set_title("One-way sensitivity analysis", pad=22)
    handles, labels = ax.get_legend_handles_labels()
    keep = dict(zip(labels, handles, strict=True))  # one entry each, though drawn in up to two calls
    # above the bars, under the title, where it covers no bar and no value
    ax.legend(keep.values(), keep.keys(), fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2,
              frameon=False)
    _fit_texts(ax, notes)
    return ax


def _fit_texts(ax, texts) -> None:
    """Widen the x-axis so that ``texts`` (the input values beside the bars) stay inside the Axes.

    The figure is laid out first (``tight_layout``) so that the Axes has about its final
    width; widening changes the data scale, so it is repeated a few times.
    """
    import warnings

    if not texts:
        return
    fig = ax.figure
    if fig.get_layout_engine() is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    for _ in range(4):
        lo, hi = ax.get_xlim()
        inv = ax.transData.inverted()
        xs = [inv.transform((x, 0.0))[0] for t in texts for x in t.get_window_extent(renderer).intervalx]
        pad = 0.02 * (hi - lo)
        new = (min(lo, min(xs) - pad), max(hi, max(xs) + pad))
        if new == (lo, hi):
            break
        ax.set_xlim(*new)


def _edges(v: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres ``v`` (midpoints; half a step beyond the ends)."""
    if len(v) == 1:
        h = 0.5 * (abs(v[0]) if v[0] != 0 else 1.0)
        return np.array([v[0] - h, v[0] + h])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def two_way(grid: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Heat map of a two-way sensitivity analysis.

    Parameters
    ----------
    grid : DataFrame
        Columns ``x, y, outcome`` (one row per grid point; a NaN outcome leaves its
        cell blank) and optionally ``optimal`` (the optimal strategy at each point),
        as returned by :func:`sim.dsa.two_way`.
        ``grid.attrs["x_name"]``, ``["y_name"]`` and ``["outcome"]`` label the axes
        and the colour bar.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        A ``pcolormesh`` of the outcome (cells centred on the grid points) with a
        colour bar; with ``optimal``, lines along the cell edges where the optimal
        strategy changes and each strategy's name inside its region.
    """
    check(grid, ("x", "y", "outcome"), "two_way", "two_way", numeric=("x", "y", "outcome"),
          finite=("x", "y"))
    dup = grid.duplicated(["x", "y"])
    if dup.any():
        r = grid[dup].iloc[0]
        raise HtaError(f"plots.two_way: the grid point x={r['x']!r}, y={r['y']!r} appears more than once; "
                       f"give one row per point")
    xs = np.unique(grid["x"].to_numpy(float))
    ys = np.unique(grid["y"].to_numpy(float))
    j = np.searchsorted(xs, grid["x"].to_numpy(float))
    i = np.searchsorted(ys, grid["y"].to_numpy(float))
    z = np.full((len(ys), len(xs)), np.nan)
    z[i, j] = grid["outcome"].to_numpy(float)
    xe, ye = _edges(xs), _edges(ys)
    ax = new_axes(ax, layout="constrained") if ax is None else ax
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(z), cmap="viridis", shading="flat")
    outcome = str(grid.attrs.get("outcome", "Outcome"))
    # a long label wraps rather than running past the colour bar's height
    bar = ax.figure.colorbar(mesh, ax=ax, label=textwrap.fill(outcome, 32))
    money_axis(bar.ax.yaxis)
    title = "Two-way sensitivity analysis"
    if "optimal" in grid.columns:
        from matplotlib.collections import LineCollection

        names = levels(grid["optimal"])
        code = {s: k for k, s in enumerate(names)}
        opt = np.full(z.shape, -1)
        opt[i, j] = [code.get(s, -1) for s in grid["optimal"]]
        segs = []
        a, b = opt[:, :-1], opt[:, 1:]  # neighbours along x: vertical edge at xe[c + 1]
        for r, c in zip(*np.nonzero((a != b) & (a >= 0) & (b >= 0)), strict=True):
            segs.append([(xe[c + 1], ye[r]), (xe[c + 1], ye[r + 1])])
        a, b = opt[:-1, :], opt[1:, :]  # neighbours along y: horizontal edge at ye[r + 1]
        for r, c in zip(*np.nonzero((a != b) & (a >= 0) & (b >= 0)), strict=True):
            segs.append([(xe[c], ye[r + 1]), (xe[c + 1], ye[r + 1])])
        if segs:
            ax.add_collection(LineCollection(segs, colors="white", linewidths=3, zorder=3))
            ax.add_collection(LineCollection(segs, colors="black", linewidths=1.2, zorder=4))
        for s, k in code.items():
            rr, cc = np.nonzero(opt == k)
            if len(rr) == 0:
                continue
            # label a cell of the region near the region's centre
            m = np.argmin((rr - rr.mean()) ** 2 + (cc - cc.mean()) ** 2)
            ax.text(xs[cc[m]], ys[rr[m]], str(s), ha="center", va="center", fontsize="small", zorder=5,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.7, "lw": 0})
        title += "\nlines: change of optimal strategy"
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    ax.set_xlabel(str(grid.attrs.get("x_name", "x")))
    ax.set_ylabel(str(grid.attrs.get("y_name", "y")))
    ax.xaxis.set_major_formatter(compact_formatter())
    ax.yaxis.set_major_formatter(compact_formatter())
    ax.set_title(title, fontsize="medium")
    return ax
