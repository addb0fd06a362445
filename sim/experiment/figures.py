"""Figures of the report drawn from a run: the model diagram, the Markov trace, EVPPI over willingness to pay.

Each function returns a matplotlib Figure in the style of :mod:`sim.plots` (Okabe–Ito
palette, compact money ticks); :func:`png` turns one into PNG bytes for embedding.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

__all__ = ["curve_points", "evppi_curves", "model_diagram", "png", "trace_figure"]

#: The Okabe & Ito (2008) colour-blind-safe palette of :mod:`sim.plots`.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def _compact(x: float, _pos=None) -> str:
    """Compact tick label: 100000 -> "100k", 1500000 -> "1.5M"."""
    a = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def curve_points(wtp, threshold: float, evpi: pd.DataFrame | None = None, n: int = 5) -> np.ndarray:
    """Willingness-to-pay values at which to compute EVPPI curves (each costs one regression per group).

    Parameters
    ----------
    wtp : array_like
        The experiment's willingness-to-pay grid.
    threshold : float
        The decision threshold (always included).
    evpi : DataFrame, optional
        The EVPI curve (``wtp``, ``evpi``): where it peaks is included.
    n : int
        Points spread evenly over the grid.

    Returns
    -------
    ndarray
        Sorted, distinct values.
    """
    grid = np.asarray(wtp, dtype=float)
    pts = [grid[np.linspace(0, len(grid) - 1, n).round().astype(int)], [float(threshold)]]
    if evpi is not None and len(evpi):
        pts.append([float(evpi["wtp"].iloc[int(np.argmax(evpi["evpi"].to_numpy(float)))])])
    return np.unique(np.concatenate(pts))


def png(fig) -> bytes:
    """The figure as PNG bytes (and closed).

    Parameters
    ----------
    fig : matplotlib Figure

    Returns
    -------
    bytes
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _edges(model) -> list[tuple[str, str]]:
    """Every transition ``(from, to)`` of any strategy, self-loops left out, in model order."""
    pairs = list(model.transitions)
    for per in model.strategy_transitions.values():
        pairs += [p for p in per if p not in pairs]
    return [(a, b) for a, b in dict.fromkeys(pairs) if a != b]


def _shrink(label: str, tunnel: bool, dx: float, dy: float) -> float:
    """Points between a state's centre and the edge of its box in the direction ``(dx, dy)``."""
    half_w = 3.6 * max(len(label), 14 if tunnel else 0) + 9.0
    half_h = 13.0 + (8.0 if tunnel else 0.0)
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
        t = ax.text(x, y, label, ha="center", va="center", fontsize=11 if n < 9 else 9, zorder=3,
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
    ax.legend(handles=handles, loc="lower left", fontsize="small", frameon=False, bbox_to_anchor=(-0.02, -0.06))
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


def evppi_curves(curve: pd.DataFrame, *, threshold: float, currency: str | None, effect_one: str):
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

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    styles = ("-", "--", "-.", ":")
    for k, (name, g) in enumerate(curve.groupby("parameters", sort=False)):
        g = g.sort_values("wtp")
        w, v, se = (g[c].to_numpy(float) for c in ("wtp", "evppi", "se"))
        colour = PALETTE[k % len(PALETTE)]
        label = name if len(name) <= 40 else name[:37] + "..."
        ax.plot(w, v, marker="o", ms=3.5, color=colour, ls=styles[(k // len(PALETTE)) % 4], label=label)
        ax.fill_between(w, np.maximum(v - se, 0.0), v + se, color=colour, alpha=0.15, lw=0)
    ax.axvline(threshold, color="#444444", ls=":", lw=1.2)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"Willingness to pay ({currency + ' ' if currency else ''}per {effect_one})")
    ax.set_ylabel(f"EVPPI per person ({currency})" if currency else "EVPPI per person")
    ax.xaxis.set_major_formatter(FuncFormatter(_compact))
    ax.yaxis.set_major_formatter(FuncFormatter(_compact))
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
