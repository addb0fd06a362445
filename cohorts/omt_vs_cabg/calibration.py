"""Calibration of the OMT vs CABG model to the STICH / STICHES trial.

Five hazard parameters are not reported by the trial and are fitted so that the cohort model,
run by intention to treat exactly as the trial counted its events, reproduces five
published proportions (:data:`TARGETS`):

========================  ===========================================  =====================
parameter                 target                                       source
========================  ===========================================  =====================
``r_cross_early``         MED arm crossed over to CABG by 56 months    STICH 2011 (17 %)
``r_cross_late``          MED arm crossed over to CABG by 10 years     STICHES (about 20 %)
``h_cv_med``              MED arm CV death by 10 years                 STICHES 297/602
``h_cv_post``             CABG arm CV death by 10 years                STICHES 247/610
``k_other``               both arms, non-CV death by 10 years          STICHES 213/1212
========================  ===========================================  =====================

The published death proportions are crude proportions over a median follow-up of
9.8 years (98 % complete); they are taken as the cumulative incidences at 10 years
(120 monthly cycles).  All-cause death per arm (66.1 % MED, 58.9 % CABG), the
10-year restricted mean survival (2501 and 2714 days) and the economic results of
Chew et al. (2022) are *not* fitted: they validate the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from sim import run_cohort
from sim.model.spec import Model

__all__ = ["FITTED", "TARGETS", "calibrate", "survival_ci", "trial_outcomes"]

#: Calibration targets (proportions of patients randomised).
TARGETS = {
    "cross_56m_med": 0.17,
    "cross_120m_med": 0.20,
    "cv_death_med": 297 / 602,
    "cv_death_cabg": 247 / 610,
    "noncv_death_pooled": ((398 - 297) + (359 - 247)) / 1212,
}
#: Parameters fitted, in the order of :data:`TARGETS`.
FITTED = ("r_cross_early", "r_cross_late", "h_cv_med", "h_cv_post", "k_other")
#: Arm sizes of STICH hypothesis 1 (for pooling the two arms).
N_ARM = {"OMT": 602, "CABG": 610}
#: Published deaths from any cause by the end of STICHES follow-up (median 9.8 years).
DEATHS = {"OMT": 398, "CABG": 359}


def trial_outcomes(model: Model, months: int = 120) -> pd.DataFrame:
    """The model's trial-comparable outcomes at ``months`` (base case).

    Returns
    -------
    DataFrame
        Index ``OMT, CABG``; columns ``survival, cv_death, noncv_death`` (proportions at
        ``months``), ``crossed_56m, crossed`` (proportion ever entering surgery from
        medical therapy by 56 months and by ``months``) and ``rmst_days`` (restricted
        mean survival to ``months``, trapezoidal, in days).
    """
    res = run_cohort(model, trace=True)
    tr = res.trace.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    h = model.cycle_length
    rows = {}
    for s in model.strategies:
        x = tr.loc[s]
        alive = 1.0 - x["DeadCV"] - x["DeadOther"]
        surg = x["Surgery"].to_numpy()
        a = alive.to_numpy()[: months + 1]
        rows[s] = {
            "survival": float(alive.loc[months]),
            "cv_death": float(x["DeadCV"].loc[months]),
            "noncv_death": float(x["DeadOther"].loc[months]),
            "crossed_56m": float(surg[1:57].sum()),
            "crossed": float(surg[1: months + 1].sum()),
            "rmst_days": float((a[:-1] + a[1:]).sum() / 2 * h * 365.25),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _residuals(model: Model) -> np.ndarray:
    out = trial_outcomes(model)
    n = N_ARM["OMT"] + N_ARM["CABG"]
    got = {
        "cross_56m_med": out.loc["OMT", "crossed_56m"],
        "cross_120m_med": out.loc["OMT", "crossed"],
        "cv_death_med": out.loc["OMT", "cv_death"],
        "cv_death_cabg": out.loc["CABG", "cv_death"],
        "noncv_death_pooled": (N_ARM["OMT"] * out.loc["OMT", "noncv_death"]
                               + N_ARM["CABG"] * out.loc["CABG", "noncv_death"]) / n,
    }
    return np.array([got[k] - TARGETS[k] for k in TARGETS])


def calibrate(build, start: dict[str, float] | None = None, xtol: float = 1e-10) -> dict[str, float]:
    """Fit :data:`FITTED` so that the model reproduces :data:`TARGETS` (5 equations, 5 unknowns).

    Parameters
    ----------
    build : callable
        ``build(parameters) -> Model`` (e.g. :func:`cohorts.omt_vs_cabg.build`).
    start : dict, optional
        Starting values (default: the table's values).

    Returns
    -------
    dict
        Fitted value of each parameter of :data:`FITTED`.
    """
    base = build().parameters
    x0 = np.log([float((start or {}).get(k, base[k])) for k in FITTED])

    def f(logx):
        return _residuals(build(dict(zip(FITTED, np.exp(logx), strict=True))))

    sol = optimize.least_squares(f, x0, xtol=xtol, ftol=1e-12, gtol=1e-12, diff_step=1e-6)
    return dict(zip(FITTED, np.exp(sol.x).tolist(), strict=True))  # all fitted values are positive (log scale)


def survival_ci(arm: str, z: float = 1.959964) -> tuple[float, float, float]:
    """Published 10-year survival of an arm with its 95 % confidence interval.

    STICHES reports deaths from any cause as a proportion of the patients randomised
    (98 % follow-up, median 9.8 years): survival ``s = 1 - deaths / n``.  Without the
    Kaplan-Meier estimate, the interval is the Wald binomial interval
    ``s ± z sqrt(s (1 - s) / n)``.

    Returns
    -------
    tuple
        ``(estimate, low, high)``.
    """
    n = N_ARM[arm]
    s = 1.0 - DEATHS[arm] / n
    half = z * np.sqrt(s * (1.0 - s) / n)
    return s, s - half, s + half
