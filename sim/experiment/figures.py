"""Figures of the report drawn from a run, and the one way every report figure is saved.

The model diagram, the Markov trace, EVPPI over willingness to pay, a patient-level
run's waiting times; each returns a matplotlib Figure in the style of :mod:`sim.plots`
(Okabe-Ito palette, compact money ticks). :func:`save_figure` writes every figure of a
run (PNG and SVG under ``figures/``) after :func:`sim.plots.style_figure` has given its
type the common sizes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd

from sim.plots._common import PALETTE, compact, compact_formatter, tidy

__all__ = ["DPI", "curve_points", "evppi_curves", "model_diagram", "png_size", "save_figure",
           "sweep_figure", "tornado_figure", "trace_figure", "waiting_figure"]

#: Resolution of every report figure (PNG), dots per inch.
DPI = 150


def save_figure(ax, folder: Path, name: str) -> list[Path]:
    """Style a figure (:func:`sim.plots.style_figure`), write ``figures/<name>.png`` and ``.svg``, close it.

    Parameters
    ----------
    ax : matplotlib Axes, array of Axes or Figure
        What a function of :mod:`sim.plots` returned, or the figure.
    folder : Path
        The run's folder.
    name : str
        The figure's name (file stem).

    Returns
    -------
    list of Path
        The PNG and SVG files.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    from sim import plots

    fig = _figure(ax)
    plots.style_figure(fig)
    with matplotlib.rc_context({"svg.hashsalt": "hta-sim", "svg.fonttype": "path"}):
        files = plots.save(fig, Path(folder) / "figures" / name, "png", dpi=DPI, metadata={"Software": None})
        files += plots.save(fig, Path(folder) / "figures" / name, "svg", metadata={"Date": None})
    plt.close(fig)
    return files


def _figure(ax):
    a = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()[0] if isinstance(ax, np.ndarray) else ax
    return a.figure if hasattr(a, "figure") and a.figure is not None else a


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels of PNG bytes (from the image header).

    Parameters
    ----------
    data : bytes

    Returns
    -------
    (int, int)
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return 0, 0
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def curve_points(wtp, threshold: float, evpi: pd.DataFrame | None = None, n: int = 9,
                 dense: int = 12) -> np.ndarray:
    """Willingness-to-pay values at which to compute EVPPI curves (each costs one regression per group).

    EVPPI, like the EVPI, is large only where the decision is uncertain and changes
    fastest near the EVPI's peak, so the points are ``n`` spread evenly over the grid, the
    threshold, and ``dense`` grid values placed by the EVPI itself: at its quantiles when
    the EVPI curve is read as a density (many points where it is high, none where it is
    zero).

    Parameters
    ----------
    wtp : array_like
        The experiment's willingness-to-pay grid.
    threshold : float
        The decision threshold (always included).
    evpi : DataFrame, optional
        The EVPI curve (``wtp``, ``evpi``) on the grid.
    n : int
        Points spread evenly over the grid.
    dense : int
        Points placed by the EVPI.

    Returns
    -------
    ndarray
        Sorted, distinct values.
    """
    grid = np.asarray(wtp, dtype=float)
    pts = [grid[np.linspace(0, len(grid) - 1, n).round().astype(int)], [float(threshold)]]
    if evpi is not None and len(evpi):
        w = evpi["wtp"].to_numpy(float)
        mass = np.clip(evpi["evpi"].to_numpy(float), 0.0, None)
        if mass.sum() > 0:
            cum = np.cumsum(mass) / mass.sum()
            at = np.searchsorted(cum, (np.arange(dense) + 0.5) / dense)
            pts.append(w[np.clip(at, 0, len(w) - 1)])
    return np.unique(np.concatenate(pts))


def _edges(model) -> list[tuple[str, str]]:
    """Every transition ``(from, to)`` of any strategy, self-loops left out, in model order."""
    pairs = list(model.transitions)
    for per in model.strategy_transitions.values():
        pairs += [p for p in per if p not in pairs]
    return [(a, b) for a, b in dict.fromkeys(pairs) if a != b]


def _shrink(label: str, tunnel: bool, dx: float, dy: float) -> float:
    """Points between a state's centre and the edge of its box in the direction ``(dx, dy)``."""
    half_w = 3.3 * max(len(label), 14 if tunnel else 0) + 8.0  # 10-point type
    half_h = 12.0 + (8.0 if tunnel else 0.0)
    norm = float(np.hypot(dx, dy)) or 1.0
    c, s = abs(dx) / norm, abs(dy) / norm
    return min(half_w / c if c > 1e-9 else np.inf, half_h / s if s > 1e-9 else np.inf) + 3.0


def model_diagram(model):
    """States and transitions of a cohort model, laid out on a circle.

    Dead (absorbing) states are filled dark, tunnel states are dashed and say how many
    cycles they last; an arrow for every transition of any strategy (staying in a state
    is not drawn).

    Parameters
    ----------
    model : Model

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    states = list(model.states)
    n = len(states)
    angle = np.pi / 2 - 2 * np.pi * np.arange(n) / max(n, 1)
    pos = {s: (np.cos(a), np.sin(a)) if n > 1 else (0.0, 0.0) for s, a in zip(states, angle, strict=True)}
    fig, ax = plt.subplots(figsize=(min(3.6 + 0.45 * n, 8.5), min(3.2 + 0.4 * n, 7.0)))
    ax.set_xlim(-1.45, 1.45)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    dead, tunnels = set(model.dead), dict(model.tunnels)
    boxes = {}
    for s in states:
        x, y = pos[s]
        label = str(s) + (f"\n(tunnel, {tunnels[s]} cycles)" if s in tunnels else "")
        face = "#333333" if s in dead else "#ffffff"
        edge = PALETTE[3] if s in dead else PALETTE[0]
        t = ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=3, gid="label",
                    color="white" if s in dead else "#222222",
                    bbox={"boxstyle": "round,pad=0.45", "fc": face, "ec": edge, "lw": 1.4,
                          "ls": "--" if s in tunnels else "-"})
        boxes[s] = t
    for a, b in _edges(model):
        two_way = (b, a) in _edges(model)
        arrow = FancyArrowPatch(pos[a], pos[b], arrowstyle="-|>", mutation_scale=12, lw=1.0,
                                color="#555555", connectionstyle=f"arc3,rad={0.18 if two_way else 0.06}",
                                shrinkA=_shrink(str(a), a in tunnels, *np.subtract(pos[b], pos[a])),
                                shrinkB=_shrink(str(b), b in tunnels, *np.subtract(pos[b], pos[a])),
                                zorder=4)
        ax.add_patch(arrow)
    handles = [FancyBboxPatch((0, 0), 1, 1, fc="#ffffff", ec=PALETTE[0], label="state")]
    if dead:
        handles.append(FancyBboxPatch((0, 0), 1, 1, fc="#333333", ec=PALETTE[3], label="dead (absorbing)"))
    if tunnels:
        handles.append(FancyBboxPatch((0, 0), 1, 1, fc="#ffffff", ec=PALETTE[0], ls="--", label="tunnel state"))
    ax.legend(handles=handles, loc="lower left", frameon=False, bbox_to_anchor=(-0.02, -0.06))
    return fig


def trace_figure(trace: pd.DataFrame, model):
    """Markov trace of the base case, one panel per strategy, time in years.

    Parameters
    ----------
    trace : DataFrame
        ``run_cohort(model, trace=True).trace``.
    model : Model
        The model run (its cycle length).

    Returns
    -------
    matplotlib Figure
    """
    from sim import plots

    t = trace.copy()
    years = float(model.cycle_length)
    t["cycle"] = t["cycle"].astype(float) * years
    axes = plots.trace(t)
    for a in np.atleast_1d(axes):
        a.set_xlabel("Years" if years != 1.0 else "Years (cycles of 1 year)")
    fig = np.atleast_1d(axes)[0].figure
    fig.tight_layout()
    return fig


def evppi_curves(curve: pd.DataFrame, *, threshold: float, currency: str | None, effect_one: str,
                 labels: dict[str, str] | None = None):
    """Per-person EVPPI of each parameter group over willingness to pay (bands: +/- one standard error, cut at 0).

    Parameters
    ----------
    curve : DataFrame
        :func:`sim.voi.evppi` at several willingness-to-pay values.
    threshold : float
        The decision threshold (a dotted line).
    currency : str or None
        Money label, e.g. ``"USD 2023"``.
    effect_one : str
        The effect's unit in the singular, e.g. ``"QALY"``.
    labels : dict, optional
        ``{parameters: label}``: the legend's name of each group (e.g. its description;
        :func:`sim.experiment.workbook.group_label`); default: the parameter names.

    Returns
    -------
    matplotlib Figure
    """
    import textwrap

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = ("-", "--", "-.", ":")
    for k, (name, g) in enumerate(curve.groupby("parameters", sort=False)):
        g = g.sort_values("wtp")
        w, v, se = (g[c].to_numpy(float) for c in ("wtp", "evppi", "se"))
        colour = PALETTE[k % len(PALETTE)]
        label = textwrap.fill(str((labels or {}).get(name, name)), 30)
        ax.plot(w, v, marker="o", ms=3.5, color=colour, ls=styles[(k // len(PALETTE)) % 4], label=label)
        ax.fill_between(w, np.maximum(v - se, 0.0), v + se, color=colour, alpha=0.15, lw=0)
    ax.axvline(threshold, color="0.35", ls=":", lw=1.1, label=f"threshold {compact(threshold)}")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"Willingness to pay ({currency + ' ' if currency else ''}per {effect_one})")
    ax.set_ylabel(f"EVPPI per person ({currency})" if currency else "EVPPI per person")
    ax.set_title("EVPPI over willingness to pay")
    ax.xaxis.set_major_formatter(compact_formatter())
    ax.yaxis.set_major_formatter(compact_formatter())
    tidy(ax)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def waiting_figure(out: pd.DataFrame, weeks: float = 52.0):
    """Waiting times of the patients who waited for a resource (base case), one step histogram per strategy.

    Parameters
    ----------
    out : DataFrame
        Per-patient outcomes of a managed run (``strategy``, ``waited`` in years).
    weeks : float
        Weeks in a year (the x-axis is in weeks).

    Returns
    -------
    matplotlib Figure or None
        None when nobody waited.
    """
    import matplotlib.pyplot as plt

    w = out["waited"].to_numpy(float) * weeks
    strategy = out["strategy"].astype(str).to_numpy()
    waited = w > 0
    if not waited.any():
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    bins = np.histogram_bin_edges(w[waited], bins=min(30, max(5, int(np.sqrt(waited.sum())))))
    for k, s in enumerate(dict.fromkeys(strategy)):
        x = w[waited & (strategy == s)]
        if len(x):
            ax.hist(x, bins=bins, histtype="step", lw=1.8, color=PALETTE[k % len(PALETTE)],
                    label=f"{s}: {len(x):,} patients, mean {x.mean():.1f} weeks")
    ax.set_xlabel("Time on the waiting list (weeks)")
    ax.set_ylabel("Patients")
    ax.set_title("Waiting times of the patients who waited (base case)")
    tidy(ax)
    ax.legend(frameon=False)
    return fig


def sweep_figure(summary: pd.DataFrame, key: str):
    """Mean waiting time and share who died on the list against a swept setting, per strategy.

    Parameters
    ----------
    summary : DataFrame
        A patient-level sweep's summary (``strategy``, ``key``, ``waited_weeks``, ``died_on_list``).
    key : str
        The swept setting (its values on the x-axis, evenly spaced).

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    values = list(dict.fromkeys(summary[key].tolist()))
    pos = {v: i for i, v in enumerate(values)}
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6))
    for ax, col, label in ((axes[0], "waited_weeks", "Mean time on waiting lists (weeks)"),
                           (axes[1], "died_on_list", "Share who died on a waiting list")):
        for k, (s, g) in enumerate(summary.groupby(summary["strategy"].astype(str), sort=False)):
            ax.plot([pos[v] for v in g[key]], g[col].to_numpy(float), marker="o", lw=1.6,
                    color=PALETTE[k % len(PALETTE)], label=s)
        ax.set_xticks(range(len(values)), [compact(float(v)) for v in values])
        ax.set_xlabel(key.replace("_", " "))
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        tidy(ax)
    axes[1].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    axes[0].set_title("Waiting time")
    axes[1].set_title("Deaths on the list")
    axes[1].legend(frameon=False)
    return fig


def tornado_figure(table: pd.DataFrame, parameters, base_values):
    """The tornado of a one-way table: parameters that move the outcome, labelled by description, base and range.

    Parameters
    ----------
    table : DataFrame
        :func:`sim.dsa.one_way` (``attrs["outcome"]`` labels the x-axis); with ``mc_se_low`` and
        ``mc_se_high`` (a patient-level run's), whiskers of two Monte Carlo standard errors.
    parameters : ParameterTable
        The run's table (descriptions).
    base_values : mapping of str to float
        The base value of each parameter as run.

    Returns
    -------
    (matplotlib Axes or None, list of str)
        The tornado (None when no parameter moves the outcome) and the parameters left out.
    """
    from sim import plots
    from sim.experiment.workbook import parameter_label

    flat = (table["outcome_low"].eq(table["base"]) & table["outcome_high"].eq(table["base"])).to_numpy()
    shown, dropped = table[~flat], list(table["parameter"][flat])
    if not len(shown):
        return None, dropped
    labels = {p: parameter_label(parameters, p, lo, hi, base_values.get(p))
              for p, lo, hi in zip(shown["parameter"], shown["low"], shown["high"], strict=True)}
    errors = None
    if {"mc_se_low", "mc_se_high"} <= set(shown.columns):
        errors = dict(zip(shown["parameter"], zip(shown["mc_se_low"], shown["mc_se_high"], strict=True), strict=True))
    return plots.tornado(shown, labels=labels, errors=errors), dropped
