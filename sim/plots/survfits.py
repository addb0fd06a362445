"""Figures of fitted survival curves over the Kaplan-Meier estimate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.plots._common import new_axes
from sim.survival.fit import SurvivalFit
from sim.survival.km import kaplan_meier

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["survival_fits"]


def survival_fits(fits: Sequence[SurvivalFit] | Mapping[str, SurvivalFit] | SurvivalFit, data: pd.DataFrame, *,
                  time: str = "time", event: str = "event", group: str | None = None, horizon: float | None = None,
                  kind: str = "survival", ax: Axes | None = None) -> Axes:
    """Fitted and extrapolated curves over the Kaplan-Meier estimate of the data.

    Parameters
    ----------
    fits : SurvivalFit, sequence or mapping of them
        Fits to ``data`` (:func:`sim.survival.fit_survival`); a mapping's keys label the lines.
    data : DataFrame
        The data fitted: one row per patient.
    time, event : str
        Its time and event columns.
    group : str, optional
        A covariate of the fits (a 0/1 column of ``data``, e.g. the treatment arm):
        one Kaplan-Meier curve and one fitted curve per fit for each of its values.
    horizon : float, optional
        Extrapolate to this time (default: 1.5 times the longest follow-up); the
        end of follow-up is marked with a dotted vertical line.
    kind : str
        ``"survival"`` or ``"hazard"`` (fitted hazards only) or ``"cumhaz"``.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib Axes
    """
    if isinstance(fits, SurvivalFit):
        fits = [fits]
    items = list(fits.items()) if isinstance(fits, Mapping) else [(f.label, f) for f in fits]
    if not items:
        raise HtaError("plots.survival_fits: no fits to plot")
    if kind not in ("survival", "hazard", "cumhaz"):
        raise HtaError(f"plots.survival_fits: kind {kind!r} must be 'survival', 'hazard' or 'cumhaz'")
    for col in (time, event) + ((group,) if group else ()):
        if col not in data.columns:
            raise HtaError(f"plots.survival_fits: the data have no column {col!r}")
    end = float(data[time].max())
    horizon = 1.5 * end if horizon is None else float(horizon)
    if not (np.isfinite(horizon) and horizon > 0):
        raise HtaError(f"plots.survival_fits: horizon {horizon!r} must be a time > 0")
    grid = np.linspace(0.0, horizon, 400)
    groups = [(None, data)] if group is None else [(v, data[data[group] == v]) for v in sorted(data[group].unique())]
    ax = new_axes(ax)
    for gi, (value, sub) in enumerate(groups):
        tag = "" if value is None else f" ({group}={value:g})"
        if kind != "hazard":
            km = kaplan_meier(sub[time], sub[event])
            sf = km["survival"].to_numpy()
            y = sf if kind == "survival" else -np.log(np.clip(sf, 1e-300, None))
            ax.step(km["time"].to_numpy(), y, where="post", color="black", lw=1.2,
                    ls="-" if gi == 0 else "--", label=f"Kaplan-Meier{tag}")
        for j, (name, fit) in enumerate(items):
            if group is not None and group not in fit.covariates:
                raise HtaError(f"plots.survival_fits: fit {name!r} has no covariate {group!r}")
            curve = fit.curve({group: value} if group is not None else None)
            y = {"survival": curve.survival, "hazard": curve.hazard, "cumhaz": curve.cumhaz}[kind](grid[1:])
            ax.plot(grid[1:], y, color=f"C{j}", lw=1.5, ls="-" if gi == 0 else "--",
                    label=f"{name}{tag}" if group is not None else name)
    ax.axvline(end, color="grey", ls=":", lw=1)
    ax.set_xlim(0, horizon)
    ax.set_xlabel(f"time ({time})")
    ax.set_ylabel({"survival": "survival", "hazard": "hazard", "cumhaz": "cumulative hazard"}[kind])
    if kind == "survival":
        ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small")
    return ax
