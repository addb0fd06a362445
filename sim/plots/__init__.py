"""Figures of decision analysis and model traces (matplotlib).

Every function takes a plain table with documented columns (the tables of
:mod:`sim.decision`, :mod:`sim.voi` and :attr:`sim.CohortResult.trace`), checks the
columns it needs, draws on the Axes given as ``ax`` (or on a new figure) and
returns the Axes.  Nothing here knows an engine, calls ``plt.show``, forces a
backend or changes global style settings; matplotlib is imported only when a
figure is drawn.

Units in axis labels come from the table's ``attrs`` when present:
``attrs["effect"]`` (e.g. ``"qaly"``, ``"ly"``) and ``attrs["currency"]``
(e.g. ``"GBP"``); otherwise the labels say "per unit of effect" and leave the
currency out.

Colours: strategies take the colours ``C0, C1, ...`` of matplotlib's colour cycle in
the order they appear in the table (categories order for a categorical column).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.errors import HtaError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["ce_plane", "ceac", "evpi", "evppi", "expected_loss", "save", "survival", "tornado", "trace",
           "two_way"]

#: What produces each table: named in error messages.
PRODUCERS = {
    "ce_plane": "sim.decision.ce_plane",
    "ceac": "sim.decision.ceac",
    "ceaf": "sim.decision.ceaf",
    "expected_loss": "sim.decision.expected_loss",
    "evpi": "sim.voi.evpi",
    "population_evpi": "sim.voi.population_evpi",
    "evppi": "sim.voi.evppi",
    "tornado": "sim.dsa.one_way",
    "two_way": "sim.dsa.two_way",
    "trace": "sim.run_cohort(model, trace=True).trace",
}

_EFFECT_UNITS = {"qaly": ("QALY", "QALYs"), "ly": ("life-year", "life-years"),
                 "daly": ("DALY", "DALYs"), "lyg": ("life-year gained", "life-years gained")}


# ---------------------------------------------------------------------------- helpers
def _check(table, columns: Sequence[str], func: str, producer: str, *, numeric: Sequence[str] = (),
           finite: Sequence[str] = ()) -> pd.DataFrame:
    """Check that ``table`` is a non-empty DataFrame with ``columns``; numeric/finite columns."""
    source = PRODUCERS[producer]
    if not isinstance(table, pd.DataFrame):
        raise HtaError(f"plots.{func}: expected a DataFrame (from {source}), got {type(table).__name__}")
    for col in columns:
        if col not in table.columns:
            have = ", ".join(map(str, table.columns)) or "none"
            raise HtaError(
                f"plots.{func}: the table has no column {col!r} (its columns: {have}); it needs columns "
                f"{', '.join(columns)}, as in the table from {source}"
            )
    if table.empty:
        raise HtaError(f"plots.{func}: the table is empty; nothing to plot (expected the table from "
                       f"{source})")
    for col in numeric:
        if not pd.api.types.is_numeric_dtype(table[col]) or pd.api.types.is_bool_dtype(table[col]):
            raise HtaError(f"plots.{func}: column {col!r} must be numeric, got dtype {table[col].dtype}")
    for col in finite:
        v = table[col].to_numpy(dtype=float)
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise HtaError(f"plots.{func}: column {col!r} has the non-finite value {float(v[i])!r} in row "
                           f"{table.index[i]!r}; "
                           f"every value must be finite")
    return table


def _new_axes(ax, **subplots_kw):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(**subplots_kw)
    return ax


def _levels(col: pd.Series) -> list:
    """Distinct values in categories order (categorical) or order of appearance."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().unique())
        return [c for c in col.cat.categories if c in present]
    return list(pd.unique(col.dropna()))


def _colours(*cols: pd.Series) -> dict:
    out: dict = {}
    for col in cols:
        for s in _levels(col):
            out.setdefault(s, f"C{len(out)}")
    return out


def _fmt(v: float) -> str:
    """A number for labels: thousands separators for large values, 3-4 digits otherwise."""
    v = float(v)
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.4g}"
    return f"{v:.3g}"


def _tick_formatter():
    import matplotlib as mpl
    from matplotlib.ticker import FuncFormatter

    def fmt(x, pos):
        s = f"{x:,.0f}" if abs(x) >= 1000 else f"{x:g}"
        return s.replace("-", "\N{MINUS SIGN}") if mpl.rcParams["axes.unicode_minus"] else s

    return FuncFormatter(fmt)


def _units(table: pd.DataFrame) -> tuple[str, str, str | None]:
    """(singular, plural) effect unit and currency from ``attrs``."""
    effect = table.attrs.get("effect")
    currency = table.attrs.get("currency")
    if effect:
        one, many = _EFFECT_UNITS.get(str(effect).lower(), (str(effect), str(effect)))
    else:
        one, many = "unit of effect", "effect"
    return one, many, (str(currency) if currency else None)


def _money(label: str, currency: str | None) -> str:
    return f"{label} ({currency})" if currency else label


def _wtp_label(table: pd.DataFrame) -> str:
    one, _, cur = _units(table)
    return _money(f"Willingness to pay per {one}", cur)


def _wtp_values(wtp, func: str) -> np.ndarray:
    w = np.atleast_1d(np.asarray(wtp, dtype=float))
    if w.ndim != 1 or w.size == 0 or not np.isfinite(w).all() or (w < 0).any():
        raise HtaError(f"plots.{func}: willingness to pay {wtp!r} must be a number >= 0 or a list of them")
    return w


# ---------------------------------------------------------------------------- decision analysis
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
    _check(plane, ("draw", "strategy", "inc_cost", "inc_effect"), "ce_plane", "ce_plane",
           numeric=("inc_cost", "inc_effect"), finite=("inc_cost", "inc_effect"))
    lines = None if wtp is None else _wtp_values(wtp, "ce_plane")
    ax = _new_axes(ax, figsize=(6.4, 4.8))
    colours = _colours(plane["strategy"])
    for s, colour in colours.items():
        part = plane[plane["strategy"] == s]
        x, y = part["inc_effect"].to_numpy(float), part["inc_cost"].to_numpy(float)
        ax.scatter(x, y, s=6, alpha=0.25, color=colour, linewidths=0)
        ax.scatter([x.mean()], [y.mean()], s=90, marker="o", color=colour, edgecolors="black",
                   linewidths=1.2, zorder=4, label=f"{s} (mean)")
    ax.axhline(0.0, color="0.3", lw=0.8, zorder=1)
    ax.axvline(0.0, color="0.3", lw=0.8, zorder=1)
    if lines is not None:
        ax.autoscale_view()
        xlim, ylim = ax.get_xlim(), ax.get_ylim()
        one, _, cur = _units(plane)
        for i, w in enumerate(lines):
            ax.plot(xlim, [w * xlim[0], w * xlim[1]], color="0.15", lw=1.0, ls=("--", ":", "-.")[i % 3],
                    zorder=2, label=f"WTP {_fmt(w)}{' ' + cur if cur else ''} per {one}")
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
    one, many, cur = _units(plane)
    ax.set_xlabel(f"Incremental {many}" if many != "effect" else "Incremental effect")
    ax.set_ylabel(_money("Incremental cost", cur))
    ax.yaxis.set_major_formatter(_tick_formatter())
    ref = plane.attrs.get("reference")
    ax.set_title("Cost-effectiveness plane" + (f" (vs {ref})" if ref is not None else ""))
    ax.legend(fontsize="small")
    return ax


def _by_strategy_lines(ax, table: pd.DataFrame, y: str, colours: dict, **kw) -> None:
    for s, colour in colours.items():
        part = table[table["strategy"] == s].sort_values("wtp")
        if len(part):
            ax.plot(part["wtp"].to_numpy(float), part[y].to_numpy(float), color=colour, label=str(s), **kw)


def ceac(curves: pd.DataFrame, *, frontier: pd.DataFrame | None = None, ax: Axes | None = None) -> Axes:
    """Cost-effectiveness acceptability curves, optionally with the frontier.

    Parameters
    ----------
    curves : DataFrame
        Columns ``wtp, strategy, probability``, as returned by :func:`sim.decision.ceac`.
    frontier : DataFrame, optional
        Columns ``wtp, strategy, probability``, as returned by :func:`sim.decision.ceaf`:
        drawn as a thick translucent band over the curve of the strategy with the
        highest expected net benefit, broken where that strategy changes.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        One line per strategy: probability of being cost-effective against
        willingness to pay.
    """
    cols = ("wtp", "strategy", "probability")
    _check(curves, cols, "ceac", "ceac", numeric=("wtp", "probability"), finite=("wtp", "probability"))
    if frontier is not None:
        _check(frontier, cols, "ceac", "ceaf", numeric=("wtp", "probability"), finite=("wtp", "probability"))
    ax = _new_axes(ax)
    colours = _colours(curves["strategy"], *(() if frontier is None else (frontier["strategy"],)))
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
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(_wtp_label(curves))
    ax.set_ylabel("Probability cost-effective")
    ax.xaxis.set_major_formatter(_tick_formatter())
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
    _check(loss, ("wtp", "strategy", "expected_loss"), "expected_loss", "expected_loss",
           numeric=("wtp", "expected_loss"), finite=("wtp", "expected_loss"))
    ax = _new_axes(ax)
    _by_strategy_lines(ax, loss, "expected_loss", _colours(loss["strategy"]), lw=1.5)
    env = loss.groupby("wtp", sort=True)["expected_loss"].min()
    ax.plot(env.index.to_numpy(float), env.to_numpy(float), color="black", ls="--", lw=1.8,
            label="minimum (= EVPI)", zorder=3)
    _, _, cur = _units(loss)
    ax.set_xlabel(_wtp_label(loss))
    ax.set_ylabel(_money("Expected loss per person", cur))
    ax.xaxis.set_major_formatter(_tick_formatter())
    ax.yaxis.set_major_formatter(_tick_formatter())
    ax.set_ylim(bottom=0)
    ax.set_title("Expected loss")
    ax.legend(fontsize="small")
    return ax


def evpi(curve: pd.DataFrame, *, population: bool = False, ax: Axes | None = None) -> Axes:
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
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
    """
    cols = ("wtp", "evpi", "population_evpi") if population else ("wtp", "evpi")
    _check(curve, cols, "evpi", "population_evpi" if population else "evpi", numeric=cols, finite=cols)
    ax = _new_axes(ax)
    c = curve.sort_values("wtp", kind="stable")
    w = c["wtp"].to_numpy(float)
    _, _, cur = _units(curve)
    if population:
        pop, per = c["population_evpi"].to_numpy(float), c["evpi"].to_numpy(float)
        ax.plot(w, pop, color="C0", lw=1.8)
        ax.set_ylabel(_money("Population EVPI", cur))
        pos = per > 0
        if pos.any():
            ratio = pop[pos] / per[pos]
            k = float(ratio[0])
            if k > 0 and np.allclose(ratio, k, rtol=1e-9) and np.allclose(pop[~pos], 0.0):
                right = ax.secondary_yaxis("right", functions=(lambda y: y / k, lambda y: y * k))
                right.set_ylabel(_money("EVPI per person", cur))
                right.yaxis.set_major_formatter(_tick_formatter())
        ax.set_title("Population expected value of perfect information")
    else:
        ax.plot(w, c["evpi"].to_numpy(float), color="C0", lw=1.8)
        ax.set_ylabel(_money("EVPI per person", cur))
        ax.set_title("Expected value of perfect information")
    ax.set_xlabel(_wtp_label(curve))
    ax.xaxis.set_major_formatter(_tick_formatter())
    ax.yaxis.set_major_formatter(_tick_formatter())
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
        Bars sorted by EVPPI, largest on top.
    """
    _check(table, ("parameters", "wtp", "evppi", "se"), "evppi", "evppi",
           numeric=("wtp", "evppi", "se"), finite=("wtp", "evppi"))
    values = list(pd.unique(table["wtp"].to_numpy(float)))
    if wtp is None:
        chosen = values[0]
        note = (f"\nat WTP {_fmt(chosen)} (first of {len(values)} values; choose with wtp=)"
                if len(values) > 1 else f"\nat WTP {_fmt(chosen)}")
    else:
        match = [v for v in values if np.isclose(v, float(wtp), rtol=1e-12, atol=0.0)]
        if not match:
            raise HtaError(f"plots.evppi: willingness to pay {wtp!r} is not in the table; it has "
                           f"{', '.join(_fmt(v) for v in values)}")
        chosen = match[0]
        note = f"\nat WTP {_fmt(chosen)}"
    rows = table[table["wtp"].to_numpy(float) == chosen].copy()
    labels = [", ".join(map(str, p)) if isinstance(p, (list, tuple)) else str(p) for p in rows["parameters"]]
    rows["label"] = labels
    dup = rows["label"][rows["label"].duplicated()]
    if len(dup):
        raise HtaError(f"plots.evppi: parameters {dup.iloc[0]!r} appear twice at WTP {_fmt(chosen)}; "
                       f"give one row per parameter group and willingness to pay")
    se = rows["se"].to_numpy(float)
    if (se[np.isfinite(se)] < 0).any():
        raise HtaError("plots.evppi: column 'se' has a negative standard error")
    rows = rows.sort_values("evppi", kind="stable")
    y = np.arange(len(rows))
    ax = _new_axes(ax, figsize=(6.4, max(2.5, 0.45 * len(rows) + 1.5)))
    err = rows["se"].to_numpy(float)
    ax.barh(y, rows["evppi"].to_numpy(float), height=0.6, color="C0",
            xerr=np.where(np.isfinite(err), err, 0.0), error_kw={"ecolor": "black", "capsize": 3, "lw": 1})
    ax.set_yticks(y, rows["label"].tolist())
    _, _, cur = _units(table)
    ax.set_xlabel(_money("EVPPI per person", cur))
    ax.xaxis.set_major_formatter(_tick_formatter())
    ax.set_title("Expected value of partial perfect information" + note, fontsize="medium")
    return ax


def tornado(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Tornado diagram of a one-way sensitivity analysis.

    Parameters
    ----------
    table : DataFrame
        Columns ``parameter, low, high, outcome_low, outcome_high, base``: each
        parameter's low and high input values, the outcome at each, and the base-case
        outcome, as returned by :func:`sim.dsa.one_way`.  ``table.attrs["outcome"]``,
        if present, labels the x-axis.  A non-finite outcome (e.g. an ICER with no
        difference in effect) gets no bar; its label gives the input and the value.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
        One row per parameter, largest outcome range on top; bars run from the base
        case to the outcome at the low input (colour C0) and at the high input (C1),
        each labelled with its input value.
    """
    num = ("low", "high", "outcome_low", "outcome_high", "base")
    _check(table, ("parameter",) + num, "tornado", "tornado", numeric=num, finite=("low", "high", "base"))
    swing = (table["outcome_high"] - table["outcome_low"]).abs()
    t = table.assign(_swing=swing.where(np.isfinite(swing)))
    # barh draws bottom-up: largest swing on top, undefined swings at the bottom
    t = t.sort_values("_swing", kind="stable", na_position="first")
    n = len(t)
    ax = _new_axes(ax, figsize=(6.4, max(2.5, 0.45 * n + 1.5)))
    y = np.arange(n)
    base = t["base"].to_numpy(float)
    for key, inp, colour, name in (("outcome_low", "low", "C0", "low input"),
                                   ("outcome_high", "high", "C1", "high input")):
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
        for yi, o, ob, b, v, same in zip(y, out, other, base, t[inp].to_numpy(float), same_side):
            if np.isfinite(o):
                right = o > b or (o == b and key == "outcome_high")
                text, at = _fmt(v), o
            else:  # no bar: say so next to the base case, away from the other bar
                right = ob < b if np.isfinite(ob) and ob != b else key == "outcome_high"
                text, at = f"{_fmt(v)}: {o:g}", b
            ax.annotate(text, (at, yi + (shift if same else 0.0)), xytext=(3 if right else -3, 0),
                        textcoords="offset points", ha="left" if right else "right", va="center",
                        fontsize="x-small" if same else "small", zorder=5)
    if np.allclose(base, base[0]):
        ax.axvline(base[0], color="black", lw=1, zorder=4)
    else:
        ax.scatter(base, y, marker="|", s=300, color="black", zorder=4)
    ax.set_yticks(y, [str(p) for p in t["parameter"]])
    ax.set_ylim(-0.7, n - 0.3)
    ax.margins(x=0.15)
    ax.set_xlabel(str(table.attrs.get("outcome", "Outcome")))
    ax.xaxis.set_major_formatter(_tick_formatter())
    ax.set_title("One-way sensitivity analysis")
    handles, labels = ax.get_legend_handles_labels()
    keep = dict(zip(labels, handles))  # one entry each, though drawn in up to two calls
    ax.legend(keep.values(), keep.keys(), fontsize="small", loc="best")
    return ax


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
    _check(grid, ("x", "y", "outcome"), "two_way", "two_way", numeric=("x", "y", "outcome"),
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
    ax = _new_axes(ax)
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(z), cmap="viridis", shading="flat")
    outcome = str(grid.attrs.get("outcome", "Outcome"))
    bar = ax.figure.colorbar(mesh, ax=ax, label=outcome)
    bar.ax.yaxis.set_major_formatter(_tick_formatter())
    title = "Two-way sensitivity analysis"
    if "optimal" in grid.columns:
        from matplotlib.collections import LineCollection

        names = _levels(grid["optimal"])
        code = {s: k for k, s in enumerate(names)}
        opt = np.full(z.shape, -1)
        opt[i, j] = [code.get(s, -1) for s in grid["optimal"]]
        segs = []
        a, b = opt[:, :-1], opt[:, 1:]  # neighbours along x: vertical edge at xe[c + 1]
        for r, c in zip(*np.nonzero((a != b) & (a >= 0) & (b >= 0))):
            segs.append([(xe[c + 1], ye[r]), (xe[c + 1], ye[r + 1])])
        a, b = opt[:-1, :], opt[1:, :]  # neighbours along y: horizontal edge at ye[r + 1]
        for r, c in zip(*np.nonzero((a != b) & (a >= 0) & (b >= 0))):
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
    ax.set_title(title, fontsize="medium")
    return ax


# ---------------------------------------------------------------------------- traces
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
    _check(trace, _TRACE, "trace", "trace", numeric=("draw", "cycle", "share"),
           finite=("cycle", "share"))
    t = trace
    draws = _levels(t["draw"])
    if draw is not None:
        if draw not in set(draws):
            raise HtaError(f"plots.trace: draw {draw!r} is not in the trace; it has draws "
                           f"{_fmt(min(draws))} to {_fmt(max(draws))} ({len(draws)} draws)")
        t = t[t["draw"] == draw]
        note = f" (draw {draw})"
    else:
        note = f" (mean of {len(draws)} draws)" if len(draws) > 1 else ""
    strategies = _levels(t["strategy"])
    if strategy is not None:
        if strategy not in strategies:
            raise HtaError(f"plots.trace: strategy {strategy!r} is not in the trace; strategies are "
                           f"{', '.join(map(str, strategies))}")
        strategies = [strategy]
    states = _levels(t["state"])
    colours = {s: f"C{k}" for k, s in enumerate(states)}
    if strategy is not None:
        axes = np.array([_new_axes(ax)], dtype=object)
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
    for a, s in zip(axes, strategies):
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
    _check(trace, _TRACE, "survival", "trace", numeric=("draw", "cycle", "share"),
           finite=("cycle", "share"))
    dead = [dead_states] if isinstance(dead_states, str) else list(dead_states)
    states = _levels(trace["state"])
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
    ax = _new_axes(ax)
    n_draws = trace["draw"].nunique()
    for s, colour in _colours(trace["strategy"]).items():
        part = alive.xs(s, level="strategy")
        x = part.index.to_numpy(float) * (cl if cycle_length is not None else 1.0)
        ax.plot(x, part.to_numpy(float), color=colour, lw=1.8, label=str(s))
    ax.set_xlabel("Years" if cycle_length is not None else "Cycle")
    ax.set_ylabel("Proportion alive")
    ax.set_ylim(0, 1.02)
    ax.set_title("Survival" + (f" (mean of {n_draws} draws)" if n_draws > 1 else ""))
    ax.legend(fontsize="small")
    return ax


# ---------------------------------------------------------------------------- files
def save(fig_or_ax, path: str | os.PathLike, formats: Sequence[str] | str = ("png", "svg"),
         **savefig_kw: Any) -> list[Path]:
    """Write a figure in one or more formats.

    Parameters
    ----------
    fig_or_ax : Figure, Axes or array of Axes
        What a function of this module returned, or its Figure.
    path : str or path-like
        File name without extension (an extension that is a matplotlib format, such
        as ``.png``, is replaced); missing parent folders are created.
    formats : str or sequence of str
        Formats, one file each, e.g. ``("png", "svg")`` or ``"pdf"``.
    **savefig_kw
        Passed to ``Figure.savefig`` (default ``bbox_inches="tight"``, ``dpi=150``).

    Returns
    -------
    list of Path
        The files written, in the order of ``formats``.
    """
    from matplotlib.figure import Figure

    fig = fig_or_ax
    if isinstance(fig, np.ndarray) and fig.size:
        fig = fig.ravel()[0]
    for _ in range(3):  # Axes -> (SubFigure ->) Figure
        if isinstance(fig, Figure) or getattr(fig, "figure", None) is None:
            break
        fig = fig.figure
    if not isinstance(fig, Figure):
        raise HtaError(f"plots.save: expected a matplotlib Figure, Axes or array of Axes, got "
                       f"{type(fig_or_ax).__name__}")
    fmts = [formats] if isinstance(formats, str) else list(formats)
    supported = fig.canvas.get_supported_filetypes()
    if not fmts:
        raise HtaError("plots.save: no formats given; e.g. formats=('png', 'svg')")
    for f in fmts:
        if str(f).lower().lstrip(".") not in supported:
            raise HtaError(f"plots.save: unknown format {f!r}; supported: {', '.join(sorted(supported))}")
    p = Path(path)
    if p.suffix.lower().lstrip(".") in supported:
        p = p.with_suffix("")
    p.parent.mkdir(parents=True, exist_ok=True)
    kw = {"bbox_inches": "tight", "dpi": 150, **savefig_kw}
    out = []
    for f in fmts:
        f = str(f).lower().lstrip(".")
        target = p.with_name(f"{p.name}.{f}")
        fig.savefig(target, format=f, **kw)
        out.append(target)
    return out
