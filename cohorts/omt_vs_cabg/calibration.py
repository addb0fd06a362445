"""Calibration of the OMT vs CABG model to the STICH / STICHES trial.

Seven hazard parameters are not reported by the trial and are fitted (least squares on
their logarithms, 7 equations and 7 unknowns) so that the cohort model, run by intention
to treat exactly as the trial counted its events, reproduces seven published
proportions (:data:`TARGETS`):

========================  ===========================================  =====================
parameter                 target                                       source
========================  ===========================================  =====================
``r_cross_early``         MED arm crossed over to CABG by 56 months    STICH 2011 (17 %)
``r_cross_late``          MED arm crossed over to CABG by 10 years     STICHES (about 20 %)
``h_cv_med_y0``              MED arm CV death by 56 months                STICH 2011 (33 %)
``h_cv_med_y5``         MED arm CV death by 10 years                 STICHES 297/602
``h_cv_post_y2``             CABG arm CV death by 56 months               STICH 2011 (28 %)
``h_cv_post_y5``        CABG arm CV death by 10 years                STICHES 247/610
``k_other``               both arms, non-CV death by 10 years          STICHES 213/1212
========================  ===========================================  =====================

The 10-year proportions are crude proportions over a median follow-up of 9.8 years
(98 % complete), taken as the cumulative incidences at 10 years (120 monthly cycles);
the 56-month ones are Kaplan-Meier estimates at the median follow-up of STICH 2011.

Then the hospitalisation rates are solved, given the fitted survival, so that the model's
expected admissions over 10 years equal the trial's counts (Howlett et al. 2019):
``r_hosp_med`` and ``hr_hosp_cabg`` from the CV admissions per arm (968 MED, 744 CABG; two
linear equations in the rates on medical therapy and after CABG), ``r_hosp_noncv`` from the
non-CV admissions of both arms (all-cause 1350 + 1199 minus CV 968 + 744 = 837).

All-cause death per arm, non-CV death per arm, all-cause death at 56 months, the 10-year
restricted mean survival and the economic results of Chew et al. (2022) are *not*
fitted: they validate the model (:mod:`cohorts.omt_vs_cabg.validation`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from sim import run_cohort
from sim.model.spec import Model

__all__ = ["ADMISSIONS", "DEATHS", "FITTED", "N_ARM", "TARGETS", "admissions", "calibrate", "calibrate_admissions",
           "patient_equivalent", "survival_ci", "trial_outcomes"]

#: Calibration targets (proportions of patients randomised).
TARGETS = {
    "cross_56m_med": 0.17,
    "cross_120m_med": 0.20,
    "cv_death_56m_med": 0.33,
    "cv_death_med": 297 / 602,
    "cv_death_56m_cabg": 0.28,
    "cv_death_cabg": 247 / 610,
    "noncv_death_pooled": ((398 - 297) + (359 - 247)) / 1212,
}
#: Parameters fitted, in the order of :data:`TARGETS`.
FITTED = ("r_cross_early", "r_cross_late", "h_cv_med_y0", "h_cv_med_y5", "h_cv_post_y2", "h_cv_post_y5", "k_other")
#: Arm sizes of STICH hypothesis 1 (for pooling the two arms).
N_ARM = {"OMT": 602, "CABG": 610}
#: Published deaths from any cause by the end of STICHES follow-up (median 9.8 years).
DEATHS = {"OMT": 398, "CABG": 359}
#: Hospitalisations over the follow-up (Howlett et al., JACC Heart Fail 2019;7:878-87, Abstract).
ADMISSIONS = {"cv": {"OMT": 968, "CABG": 744}, "all": {"OMT": 1350, "CABG": 1199}}
#: Months of the trial window for admissions and deaths.
MONTHS = 120


def trial_outcomes(model: Model, months: int = MONTHS) -> pd.DataFrame:
    """The model's trial-comparable outcomes at ``months`` (base case).

    Returns
    -------
    DataFrame
        Index ``OMT, CABG``; columns ``survival, cv_death, noncv_death`` (proportions at
        ``months``), ``cv_death_56m, death_56m``, ``crossed_56m, crossed`` (proportion ever
        entering surgery from medical therapy by 56 months and by ``months``),
        ``rmst_days`` (restricted mean survival to ``months``, trapezoidal, in days) and
        ``py_med, py_post`` (person-years per patient in ``Med`` and ``PostCABG`` by ``months``).
    """
    res = run_cohort(model, trace=True)
    tr = res.trace.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    h = model.cycle_length
    rows = {}
    for s in model.strategies:
        x = tr.loc[s]
        alive = (1.0 - x["DeadCV"] - x["DeadOther"]).to_numpy()
        surg = x["Surgery"].to_numpy()
        a = alive[: months + 1]

        def trap(col, x=x, n=months):
            v = x[col].to_numpy()[: n + 1]
            return float((v[:-1] + v[1:]).sum() / 2 * h)

        rows[s] = {
            "survival": float(alive[months]),
            "cv_death": float(x["DeadCV"].iloc[months]),
            "noncv_death": float(x["DeadOther"].iloc[months]),
            "cv_death_56m": float(x["DeadCV"].iloc[56]),
            "death_56m": float(1.0 - alive[56]),
            "crossed_56m": float(surg[1:57].sum()),
            "crossed": float(surg[1: months + 1].sum()),
            "rmst_days": float((a[:-1] + a[1:]).sum() / 2 * h * 365.25),
            "py_med": trap("Med"),
            "py_post": trap("PostCABG"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _got(out: pd.DataFrame) -> dict[str, float]:
    n = N_ARM["OMT"] + N_ARM["CABG"]
    return {
        "cross_56m_med": out.loc["OMT", "crossed_56m"],
        "cross_120m_med": out.loc["OMT", "crossed"],
        "cv_death_56m_med": out.loc["OMT", "cv_death_56m"],
        "cv_death_med": out.loc["OMT", "cv_death"],
        "cv_death_56m_cabg": out.loc["CABG", "cv_death_56m"],
        "cv_death_cabg": out.loc["CABG", "cv_death"],
        "noncv_death_pooled": (N_ARM["OMT"] * out.loc["OMT", "noncv_death"]
                               + N_ARM["CABG"] * out.loc["CABG", "noncv_death"]) / n,
    }


def calibrate(build, start: dict[str, float] | None = None, xtol: float = 1e-10) -> dict[str, float]:
    """Fit :data:`FITTED` so that the model reproduces :data:`TARGETS` (7 equations, 7 unknowns).

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
        got = _got(trial_outcomes(build(dict(zip(FITTED, np.exp(logx), strict=True)))))
        return np.array([got[k] - TARGETS[k] for k in TARGETS])

    sol = optimize.least_squares(f, x0, xtol=xtol, ftol=1e-12, gtol=1e-12, diff_step=1e-6)
    return dict(zip(FITTED, np.exp(sol.x).tolist(), strict=True))  # all fitted values are positive (log scale)


def admissions(model: Model, out: pd.DataFrame | None = None) -> pd.DataFrame:
    """Expected admissions over 10 years per arm, in the trial's numbers of patients.

    Returns
    -------
    DataFrame
        Index ``OMT, CABG``; columns ``cv, noncv`` (model) and ``cv_trial, noncv_trial``.
    """
    out = trial_outcomes(model) if out is None else out
    p = model.parameters
    rows = {}
    for s, n in N_ARM.items():
        py_med, py_post = out.loc[s, "py_med"], out.loc[s, "py_post"]
        rows[s] = {
            "cv": n * p["r_hosp_med"] * (py_med + p["hr_hosp_cabg"] * py_post),
            "noncv": n * p["r_hosp_noncv"] * (py_med + py_post),
            "cv_trial": ADMISSIONS["cv"][s],
            "noncv_trial": ADMISSIONS["all"][s] - ADMISSIONS["cv"][s],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def calibrate_admissions(model: Model) -> dict[str, float]:
    """``r_hosp_med``, ``hr_hosp_cabg`` and ``r_hosp_noncv`` reproducing the trial's admissions exactly.

    The person-years per patient in ``Med`` and ``PostCABG`` by 10 years (:func:`trial_outcomes`)
    make the expected counts linear in the rates: ``n_arm (r_med PY_med + r_post PY_post)`` for CV
    admissions in each arm (two equations, two rates), and one pooled rate for non-CV admissions.
    """
    out = trial_outcomes(model)
    a = np.array([[N_ARM[s] * out.loc[s, "py_med"], N_ARM[s] * out.loc[s, "py_post"]] for s in N_ARM])
    r_med, r_post = np.linalg.solve(a, [ADMISSIONS["cv"][s] for s in N_ARM])
    py = sum(N_ARM[s] * (out.loc[s, "py_med"] + out.loc[s, "py_post"]) for s in N_ARM)
    noncv = sum(ADMISSIONS["all"][s] - ADMISSIONS["cv"][s] for s in N_ARM)
    return {"r_hosp_med": float(r_med), "hr_hosp_cabg": float(r_post / r_med), "r_hosp_noncv": float(noncv / py)}


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


def patient_equivalent(values: dict[str, float] | None = None) -> dict[str, float]:
    """Overrides that make the cohort model the structure of the patient-level version with one utility per state.

    ``cohorts.omt_vs_cabg.patient.pathways(utility="constant")`` and the managed version have the
    cohort model's hazards month by month, its admissions and costs, but constant utilities in
    a state: no decline with age and a constant CABG utility gain. With these overrides the
    cohort model is its exact monthly discretisation (tested; ``pathways()`` with its default
    split states is the base case's). ``values`` is accepted for compatibility and not read.
    """
    return {"du_profile": 0.0, "age_utility": 0.0}
