"""Value of information: EVPI (per person and for a population) and EVPPI.

Formulas and estimators: ``docs/voi.md``.  Works on arrays (or outcomes tables
pivoted with :func:`sim.decision.outcome_matrix`); knows no engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .decision import _ce_arrays, _wtp, net_benefit
from .errors import HtaError

__all__ = ["evpi_nb", "evpi", "population_factor", "population_evpi"]


def evpi_nb(nb) -> float:
    """EVPI from net benefits of shape ``(n_draws, n_strategies)``:
    ``E[max_s NB_s] - max_s E[NB_s]``."""
    a = np.asarray(nb, dtype=float)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise HtaError(f"net benefits must have shape (n_draws, n_strategies), got {a.shape}")
    if not np.isfinite(a).all():
        raise HtaError("net benefits must be finite")
    value = a.max(axis=1).mean() - a.mean(axis=0).max()
    return float(max(value, 0.0))  # >= 0 mathematically; clears rounding noise only


def evpi(costs, effects, wtp) -> pd.DataFrame:
    """Per-person EVPI at each willingness to pay.

    Parameters
    ----------
    costs, effects : array_like, shape (n_draws, n_strategies)
    wtp : float or array_like
        Willingness to pay per unit of effect (>= 0).

    Returns
    -------
    DataFrame
        Columns ``wtp, evpi``.
    """
    c, e, _ = _ce_arrays(costs, effects)
    w = _wtp(wtp)
    nb = net_benefit(c, e, w)
    return pd.DataFrame({"wtp": w, "evpi": [evpi_nb(nb[i]) for i in range(len(w))]})


def population_factor(incidence: float, years: float, discount: float = 0.0) -> float:
    """Discounted number of people affected by the decision.

    ``sum_{t=0}^{years-1} incidence / (1 + discount)^t``: ``incidence`` new
    patients a year, each cohort counted at the start of its year, over a decision
    horizon of ``years`` whole years.
    """
    if not (np.isfinite(incidence) and incidence >= 0):
        raise HtaError(f"incidence {incidence!r} must be a number >= 0 (patients a year)")
    if not (float(years) == int(years) and years >= 1):
        raise HtaError(f"decision horizon {years!r} must be a whole number of years >= 1")
    if not (np.isfinite(discount) and discount >= 0):
        raise HtaError(f"discount rate {discount!r} must be >= 0")
    t = np.arange(int(years))
    return float(np.sum(incidence / (1.0 + discount) ** t))


def population_evpi(costs, effects, wtp, *, incidence: float, years: float, discount: float = 0.0) -> pd.DataFrame:
    """Population EVPI: per-person EVPI times :func:`population_factor`.

    Returns
    -------
    DataFrame
        Columns ``wtp, evpi, population_evpi``.
    """
    out = evpi(costs, effects, wtp)
    out["population_evpi"] = out["evpi"] * population_factor(incidence, years, discount)
    return out
