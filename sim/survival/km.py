"""The Kaplan-Meier estimate (product limit), for figures, medians and checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.errors import HtaError

__all__ = ["kaplan_meier", "km_median"]


def kaplan_meier(time, event) -> pd.DataFrame:
    """The Kaplan-Meier estimate of right-censored data.

    Censored at ``t`` counts as at risk at ``t`` (events before censorings at tied times).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Times (>= 0) and event indicators (1 event, 0 censored).

    Returns
    -------
    DataFrame
        One row per distinct time, the first at 0: ``time, n_risk, events,
        censored, survival`` (survival just after ``time``).
    """
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    if t.shape != d.shape or t.ndim != 1 or t.size == 0:
        raise HtaError("kaplan_meier: time and event must be 1-d arrays of the same length")
    if np.any(~np.isfinite(t)) or np.any(t < 0) or np.any(~np.isin(d, (0.0, 1.0))):
        raise HtaError("kaplan_meier: times must be finite and >= 0, events 0 or 1")
    times, inverse = np.unique(t, return_inverse=True)
    events = np.bincount(inverse, weights=d, minlength=times.size)
    total = np.bincount(inverse, minlength=times.size).astype(float)
    at_risk = t.size - np.r_[0.0, np.cumsum(total)[:-1]]
    surv = np.cumprod(1.0 - events / at_risk)
    out = pd.DataFrame({"time": times, "n_risk": at_risk.astype(int), "events": events.astype(int),
                        "censored": (total - events).astype(int), "survival": surv})
    if times[0] > 0:
        out = pd.concat([pd.DataFrame({"time": [0.0], "n_risk": [t.size], "events": [0], "censored": [0],
                                       "survival": [1.0]}), out], ignore_index=True)
    return out


def km_median(time, event) -> float:
    """Median of the Kaplan-Meier estimate: the first time survival is <= 0.5 (``inf`` if never)."""
    km = kaplan_meier(time, event)
    below = km.loc[km["survival"] <= 0.5, "time"]
    return float(below.iloc[0]) if len(below) else float("inf")
