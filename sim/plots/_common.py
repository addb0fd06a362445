"""Shared parts of the figures: input checks, the style (colours, grid), number formats, units, new Axes.

Private to :mod:`sim.plots`; matplotlib is imported only inside the functions
that draw. One style for every figure: the colour-blind-safe Okabe-Ito palette
(:data:`PALETTE`), a light grid behind the data, no top and right frame lines
(:func:`tidy`), compact tick labels on money axes ("100k", "1.5M";
:func:`compact_formatter`) and at most :data:`MAX_TICKS` ticks on them, the
willingness-to-pay threshold as a dotted vertical line (:func:`threshold_marker`), and
one set of type sizes (:data:`FONT_SIZES`, applied to a finished figure by
:func:`style_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.errors import HtaError

__all__ = ["MAX_TICKS", "PALETTE", "PRODUCERS", "check", "wtp_values", "new_axes", "levels", "colour_map", "fmt",
           "compact", "compact_formatter", "money_axis", "threshold_marker", "tick_formatter", "tidy", "units",
           "money", "wtp_label", "FONT_SIZES", "style_figure", "text_role"]

#: Okabe & Ito (2008) colour-blind-safe palette: blue, orange, bluish green, vermillion, reddish purple,
#: sky blue, yellow, black.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: Most major ticks on a money axis (long labels such as "200k" stay apart).
MAX_TICKS = 6
#: Type sizes in points of every figure, by the role of the text (:func:`text_role`): titles, axis and
#: colour-bar labels, tick labels, legends (entries and title), and text drawn inside the plot (values
#: beside tornado bars, region names, a diagram's states).
FONT_SIZES = {"title": 11.0, "label": 10.0, "tick": 9.0, "legend": 9.0, "annotation": 8.5}

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


# ---------------------------------------------------------------------------- input
def check(table, columns: Sequence[str], func: str, producer: str, *, numeric: Sequence[str] = (),
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


def wtp_values(wtp, func: str) -> np.ndarray:
    """Willingness-to-pay value(s) as a 1-D array, each a finite number >= 0."""
    w = np.atleast_1d(np.asarray(wtp, dtype=float))
    if w.ndim != 1 or w.size == 0 or not np.isfinite(w).all() or (w < 0).any():
        raise HtaError(f"plots.{func}: willingness to pay {wtp!r} must be a number >= 0 or a list of them")
    return w


# ---------------------------------------------------------------------------- axes and colours
def new_axes(ax, **subplots_kw):
    """``ax``, or the Axes of a new figure (``plt.subplots(**subplots_kw)``) when it is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(**subplots_kw)
    return ax


def levels(col: pd.Series) -> list:
    """Distinct values in categories order (categorical) or order of appearance."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().unique())
        return [c for c in col.cat.categories if c in present]
    return list(pd.unique(col.dropna()))


def colour_map(*cols: pd.Series) -> dict:
    """``{value: colour}``: the :data:`PALETTE` colours in the order of :func:`levels` (cycled)."""
    out: dict = {}
    for col in cols:
        for s in levels(col):
            out.setdefault(s, PALETTE[len(out) % len(PALETTE)])
    return out


def tidy(ax) -> None:
    """The common style of an Axes: a light grid behind the data, no top and right frame lines."""
    ax.set_axisbelow(True)
    ax.grid(True, color="0.9", lw=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def threshold_marker(ax, wtp, label: str) -> None:
    """A dotted vertical line at the willingness-to-pay threshold(s) ``wtp``, labelled in the legend."""
    for i, w in enumerate(np.atleast_1d(np.asarray(wtp, dtype=float))):
        ax.axvline(float(w), color="0.35", lw=1.1, ls=":", zorder=1.5, label=label if i == 0 else None,
                   gid="threshold")


# ---------------------------------------------------------------------------- numbers and units
def fmt(v: float) -> str:
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


def tick_formatter():
    """A tick formatter: thousands separators from 1000 on, a typographic minus sign."""
    import matplotlib as mpl
    from matplotlib.ticker import FuncFormatter

    def tick(x, pos):
        s = f"{x:,.0f}" if abs(x) >= 1000 else f"{x:g}"
        return s.replace("-", "\N{MINUS SIGN}") if mpl.rcParams["axes.unicode_minus"] else s

    return FuncFormatter(tick)


def compact(x: float) -> str:
    """A compact number for tick labels: ``"250"``, ``"2.5k"``, ``"100k"``, ``"1.5M"``, ``"2B"``."""
    a = abs(x)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}" if a else "0"


def compact_formatter():
    """A tick formatter of :func:`compact` numbers with a typographic minus sign."""
    import matplotlib as mpl
    from matplotlib.ticker import FuncFormatter

    def tick(x, pos):
        s = compact(x)
        return s.replace("-", "\N{MINUS SIGN}") if mpl.rcParams["axes.unicode_minus"] else s

    return FuncFormatter(tick)


def money_axis(axis) -> None:
    """Compact labels and at most :data:`MAX_TICKS` round ticks on a money axis (``ax.xaxis``, ``ax.yaxis``)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=MAX_TICKS, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(compact_formatter())


def units(table: pd.DataFrame) -> tuple[str, str, str | None]:
    """(singular, plural) effect unit and currency from ``attrs``.

    ``attrs["effect_unit"]`` (plural, e.g. ``"QALYs"``) names the unit when given; else
    ``attrs["effect"]`` (``"qaly"``, ``"ly"``, ...). ``attrs["currency"]`` may carry the
    price year (``"USD 2023"``).
    """
    effect = table.attrs.get("effect")
    currency = table.attrs.get("currency")
    unit = table.attrs.get("effect_unit")
    if unit:
        many = str(unit)
        one = many[:-1] if many.endswith("s") and not many.endswith("ss") else many
    elif effect:
        one, many = _EFFECT_UNITS.get(str(effect).lower(), (str(effect), str(effect)))
    else:
        one, many = "unit of effect", "effect"
    return one, many, (str(currency) if currency else None)


def money(label: str, currency: str | None) -> str:
    """``label`` with the currency in brackets, when there is one."""
    return f"{label} ({currency})" if currency else label


def wtp_label(table: pd.DataFrame) -> str:
    """Axis label of willingness to pay, with the table's units."""
    one, _, cur = units(table)
    return money(f"Willingness to pay per {one}", cur)


# ---------------------------------------------------------------------------- one style for every figure
def _axes_of(fig) -> list:
    """Every Axes of ``fig``, with their child Axes (secondary axes, insets)."""
    out, todo = [], list(fig.axes)
    while todo:
        ax = todo.pop(0)
        if ax not in out:
            out.append(ax)
            todo += list(getattr(ax, "child_axes", []))
    return out


def text_role(fig) -> list[tuple[str, object]]:
    """``[(role, Text), ...]``: every visible, non-empty text of ``fig`` with its role in :data:`FONT_SIZES`.

    Parameters
    ----------
    fig : matplotlib Figure

    Returns
    -------
    list of (str, Text)
        Roles ``title`` (Axes titles), ``label`` (axis labels), ``tick`` (tick labels),
        ``legend`` (legend entries and titles) and ``annotation`` (texts drawn on an Axes;
        ``label`` for one whose gid is ``"label"``, such as a diagram's state names).
    """
    out: list = []
    for ax in _axes_of(fig):
        out += [("title", t) for t in (ax.title,)]
        out += [("label", t) for t in (ax.xaxis.label, ax.yaxis.label)]
        for axis in (ax.xaxis, ax.yaxis):
            out += [("tick", t) for t in axis.get_ticklabels(which="both")]
        leg = ax.get_legend()
        if leg is not None:
            out += [("legend", t) for t in (*leg.get_texts(), leg.get_title())]
        out += [("label" if t.get_gid() == "label" else "annotation", t) for t in ax.texts]
    for leg in fig.legends:
        out += [("legend", t) for t in (*leg.get_texts(), leg.get_title())]
    return [(r, t) for r, t in out if t.get_visible() and t.get_text()]


def style_figure(fig):
    """Give every text of a finished figure the type size of its role (:data:`FONT_SIZES`), then lay it out.

    The figures of a report are drawn by several functions; this makes their type one
    size for one role whatever each function chose. A figure without a layout engine
    is laid out again (``tight_layout``) so that the new sizes do not overlap.

    Parameters
    ----------
    fig : matplotlib Figure

    Returns
    -------
    matplotlib Figure
        The same figure.
    """
    import warnings

    for ax in _axes_of(fig):
        ax.tick_params(axis="both", which="both", labelsize=FONT_SIZES["tick"])
    for role, t in text_role(fig):
        t.set_fontsize(FONT_SIZES[role])
    for ax in _axes_of(fig):  # texts hidden or empty now keep the sizes of their role too
        ax.title.set_fontsize(FONT_SIZES["title"])
        for lab in (ax.xaxis.label, ax.yaxis.label):
            lab.set_fontsize(FONT_SIZES["label"])
    if fig.get_layout_engine() is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "tight_layout not applied": the figure keeps its layout
            fig.tight_layout()
    return fig
