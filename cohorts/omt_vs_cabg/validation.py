"""Validation, scenarios and the reconciliation with Chew et al. (2022), computed from the model.

Every table of ``docs/omt_vs_cabg.md`` that shows model numbers is produced here
(:func:`markdown`); ``tests/test_omt_vs_cabg.py`` regenerates them and compares them with
the page, so the page cannot drift from the code.

* :func:`survival_by_year` — model survival per arm at years 0-10 against what STICH
  (2011, 56 months) and STICHES (2016, 10 years) print;
* :func:`scenario_results` — deterministic costs, QALYs and ICER of each scenario of
  :data:`SCENARIOS` (extrapolation, horizon, utilities, cost sources, crossover, age);
* :func:`reconciliation` — model vs the trial-based evaluation, each difference with the
  scenario that quantifies its driver.

Run ``python -m cohorts.omt_vs_cabg.validation`` to print all tables as Markdown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import sim

from . import build, parameter_table, psa_table, subgroups, trial_survival
from .calibration import DEATHS, FITTED, N_ARM, TARGETS, calibrate, survival_ci, trial_outcomes
from .doc_tables import doc_table
from .prices import conversion_factor

__all__ = ["CHEW", "DRIVERS", "PSA_DRAWS", "PSA_SEED", "SCENARIOS", "TRIAL_POINTS", "drivers", "markdown",
           "reconciliation", "report_sections", "scenario_overrides", "scenario_results", "survival_by_year"]

#: Chew DS et al. Cost-effectiveness of coronary artery bypass grafting versus medicine in ischemic
#: cardiomyopathy: the STICH randomized clinical trial. Circulation 2022;145(11):819-28, Abstract (Results):
#: lifetime, 3 % discounting, US health-care sector.  ``None``: not printed in the abstract (the full text
#: was not available to this work).
CHEW = {"cost_OMT": 74_894, "cost_CABG": 140_059, "qaly_OMT": 5.52, "qaly_CABG": 6.53, "ly_OMT": None, "ly_CABG": None,
        "icer": 63_989, "p_ce_50k": None, "p_ce_100k": 0.87, "p_ce_150k": None}
#: Draws and seed of the probabilistic analysis behind the reconciliation table.
PSA_DRAWS, PSA_SEED = 2000, 2026

#: Published survival points: (years, arm) -> (estimate, low, high, note).  Intervals: Wald binomial
#: intervals on the number randomised (no interval is printed for these proportions).
_S56 = {"OMT": 0.59, "CABG": 0.64}  # 41 % and 36 % died by the median follow-up of 56 months (STICH 2011, KM)


def _wald(s: float, n: int) -> tuple[float, float]:
    half = 1.959964 * np.sqrt(s * (1 - s) / n)
    return s - half, s + half


TRIAL_POINTS = {
    **{(56 / 12, arm): (s, *_wald(s, N_ARM[arm]), "STICH 2011 abstract: Kaplan-Meier death 41 % / 36 % at 56 months")
       for arm, s in _S56.items()},
    **{(10.0, arm): (*survival_ci(arm), f"STICHES abstract: {DEATHS[arm]}/{N_ARM[arm]} died (median 9.8 years)")
       for arm in N_ARM},
}


def _fitted_without_early() -> dict[str, float]:
    """Survival parameters recalibrated with no early post-CABG period (``early_post_years = 0``)."""
    return calibrate(lambda q=None: build({"early_post_years": 0.0, **(q or {})}))


def _fitted_crossover_65() -> dict[str, float]:
    """Survival parameters recalibrated to 65/602 crossovers by 56 months (13 % by 10 years, in proportion)."""
    import cohorts.omt_vs_cabg.calibration as cal

    saved = dict(cal.TARGETS)
    try:
        cal.TARGETS["cross_56m_med"] = 65 / 602
        cal.TARGETS["cross_120m_med"] = 0.20 * 65 / 100
        return calibrate(build)
    finally:
        cal.TARGETS.clear()
        cal.TARGETS.update(saved)


#: Scenarios: name -> (overrides, what it tests).  A callable value is evaluated (recalibration).
SCENARIOS: dict[str, tuple] = {
    "base case": ({}, "lifetime, constant CABG effect, STICH QoL trajectory"),
    "CABG effect on CV death stops at 10 years": ({"effect_years": 10.0}, "extrapolation (no effect beyond the trial)"),
    "CABG effect wanes linearly over years 10-20": ({"effect_years": 20.0, "wane_years": 10.0}, "extrapolation"),
    "10-year horizon (trial follow-up)": ({"horizon_years": 10.0}, "horizon"),
    "CABG QoL gain constant for life (no waning)": ({"du_profile": 0.0}, "utility waning"),
    "no age-related utility decline": ({"age_utility": 0.0}, "utility norms"),
    "no early post-CABG period (survival recalibrated)": (
        lambda: {"early_post_years": 0.0, **_fitted_without_early()}, "early hazard after CABG"),
    "CV admission cost: commercial heart-failure stay (Wang 2010)": (
        {"c_hosp": 17_654 * conversion_factor(2005, 2023)}, "cost source"),
    "CABG cost without the EF <= 35 % uplift (x1/1.3)": (
        lambda: {"c_cabg": build().parameters["c_cabg"] / 1.3}, "cost source"),
    "crossover 65/602 by 56 months (survival recalibrated)": (
        lambda: _fitted_crossover_65(), "crossover source"),
    "age 50 at treatment (life table and norms only)": ({"age_start": 50.0}, "subgroup: age"),
    "age 70 at treatment (life table and norms only)": ({"age_start": 70.0}, "subgroup: age"),
}


def scenario_overrides(name: str) -> dict[str, float]:
    """The parameter values of scenario ``name`` of :data:`SCENARIOS` (recalibrating where it says so)."""
    spec = SCENARIOS[name][0]
    return spec() if callable(spec) else dict(spec)


def _summary(overrides: dict[str, float]) -> dict[str, float]:
    s = sim.run_cohort(build(overrides)).summary()
    d = s.loc["CABG"] - s.loc["OMT"]
    return {"cost_OMT": s.loc["OMT", "cost"], "cost_CABG": s.loc["CABG", "cost"], "qaly_OMT": s.loc["OMT", "qaly"],
            "qaly_CABG": s.loc["CABG", "qaly"], "ly_OMT": s.loc["OMT", "ly"], "ly_CABG": s.loc["CABG", "ly"],
            "d_cost": d["cost"], "d_qaly": d["qaly"], "icer": d["cost"] / d["qaly"]}


def scenario_results(names=None) -> pd.DataFrame:
    """Deterministic results of the scenarios (all of :data:`SCENARIOS` by default).

    Returns
    -------
    DataFrame
        Index: scenario; columns ``cost_OMT, cost_CABG, qaly_OMT, qaly_CABG, ly_OMT, ly_CABG,
        d_cost, d_qaly, icer, tests``.  (Life-years are lifetime even with a 10-year horizon
        only when the horizon is 40; with ``horizon_years`` they stop at the horizon.)
    """
    rows = {}
    for name in names or SCENARIOS:
        rows[name] = {**_summary(scenario_overrides(name)), "tests": SCENARIOS[name][1]}
    return pd.DataFrame.from_dict(rows, orient="index")


def survival_by_year(overrides: dict[str, float] | None = None) -> pd.DataFrame:
    """Model survival per arm at years 0-10 (and 56 months) beside the trial's published points.

    Returns
    -------
    DataFrame
        One row per time (``years``); columns ``model_OMT, model_CABG`` and, where the
        trial printed a value, ``trial_OMT, low_OMT, high_OMT`` (and CABG) and ``source``.
    """
    model = build(overrides)
    tr = sim.run_cohort(model, trace=True).trace
    wide = tr.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    alive = 1.0 - wide["DeadCV"] - wide["DeadOther"]
    rows = []
    for years in [*range(0, 5), 56 / 12, *range(5, 11)]:
        c = int(round(years * 12))
        row = {"years": years, "model_OMT": alive.loc[("OMT", c)], "model_CABG": alive.loc[("CABG", c)]}
        for arm in N_ARM:
            if (years, arm) in TRIAL_POINTS:
                est, lo, hi, src = TRIAL_POINTS[(years, arm)]
                row.update({f"trial_{arm}": est, f"low_{arm}": lo, f"high_{arm}": hi, "source": src})
        rows.append(row)
    return pd.DataFrame(rows)


def reconciliation() -> pd.DataFrame:
    """Model vs Chew et al. (2022): per-arm results, increments, ICER, probability cost-effective.

    Returns
    -------
    DataFrame
        Index: quantity; columns ``model``, ``chew`` (NaN where the abstract prints none),
        ``difference`` (model - Chew) and ``relative`` (difference / Chew).
    """
    base = _summary({})
    psa = sim.run_psa(build(), psa_table(), n=PSA_DRAWS, seed=PSA_SEED)
    ceac = psa.ceac([50_000, 100_000, 150_000])
    cabg = ceac[ceac["strategy"] == "CABG"].set_index("wtp")["probability"]
    model = {**{k: base[k] for k in ("cost_OMT", "cost_CABG", "qaly_OMT", "qaly_CABG", "ly_OMT", "ly_CABG")},
             "d_cost": base["d_cost"], "d_qaly": base["d_qaly"], "icer": base["icer"],
             "p_ce_50k": cabg[50_000], "p_ce_100k": cabg[100_000], "p_ce_150k": cabg[150_000]}
    chew = {**CHEW, "d_cost": CHEW["cost_CABG"] - CHEW["cost_OMT"], "d_qaly": CHEW["qaly_CABG"] - CHEW["qaly_OMT"]}
    df = pd.DataFrame({"model": pd.Series(model), "chew": pd.Series({k: chew[k] for k in model}, dtype=float)})
    df["difference"] = df["model"] - df["chew"]
    df["relative"] = df["difference"] / df["chew"]
    return df


#: Structural choices that separate the model from Chew et al., applied one after another (cumulative).
DRIVERS = (
    ("CABG QoL gain constant for life (no waning)", "CABG QoL gain constant for life (no waning)"),
    ("+ no early post-CABG period (survival recalibrated)", "no early post-CABG period (survival recalibrated)"),
    ("+ CABG cost without the EF <= 35 % uplift", "CABG cost without the EF <= 35 % uplift (x1/1.3)"),
)


def drivers() -> pd.DataFrame:
    """The ICER as the structural choices of :data:`DRIVERS` are changed one after another.

    Returns
    -------
    DataFrame
        Index: step (``base case`` first); columns ``d_cost, d_qaly, icer, vs_chew`` (ICER / Chew - 1).
    """
    rows, acc = {"base case": _summary({})}, {}
    for label, scenario in DRIVERS:
        acc.update(scenario_overrides(scenario))
        rows[label] = _summary(acc)
    df = pd.DataFrame.from_dict(rows, orient="index")[["d_cost", "d_qaly", "icer"]]
    df["vs_chew"] = df["icer"] / CHEW["icer"] - 1.0
    return df


def _fmt(v, kind: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "not printed"
    return {"usd": f"{v:,.0f}", "q": f"{v:.3f}", "p": f"{v:.2f}", "pct": f"{v:+.0%}"}[kind]


def markdown() -> dict[str, str]:
    """The docs tables as Markdown, by name.

    Returns
    -------
    dict
        ``{"base", "costs", "yearly", "fits", "risk", "scenarios", "reconciliation", "drivers", "calibration"}``:
        Markdown tables (``yearly``, ``fits``, ``risk``: :func:`cohorts.omt_vs_cabg.trial_survival.markdown`;
        ``subgroup_effects``, ``subgroups``: :func:`cohorts.omt_vs_cabg.subgroups.markdown`).
    """
    out = {}
    s = sim.run_cohort(build()).summary()
    out["base"] = doc_table(
        ["strategy", "cost", "CABG admissions", "ambulatory care and drugs", "hospitalisations", "QALYs", "LYs",
         "LYs undiscounted"],
        ([arm, f"{r['cost']:,.0f}", f"{r['cost_procedure']:,.0f}", f"{r['cost_medical']:,.0f}",
          f"{r['cost_hospital']:,.0f}", f"{r['qaly']:.3f}", f"{r['ly']:.3f}", f"{r['ly_undisc']:.3f}"]
         for arm, r in s.iterrows()))
    table = parameter_table()
    costs = table[table["unit"].str.startswith("USD")]
    out["costs"] = doc_table(
        ["parameter", "source value", "price year", "factor", "2023 USD", "verified"],
        ([f"`{r['name']}`", f"{float(r['value_source']):,.0f}", str(r["price_year"]), f"{r['factor']:.4f}",
          f"{r['value']:,.0f}", str(r["verified"])] for _, r in costs.iterrows()))
    out.update(trial_survival.markdown())  # "yearly", "fits", "risk": survival against STICHES by year
    out.update(subgroups.markdown())  # "subgroup_effects", "subgroups"
    sc = scenario_results()
    out["scenarios"] = doc_table(
        ["scenario", "cost OMT", "cost CABG", "QALYs OMT", "QALYs CABG", "incr. cost", "incr. QALYs", "ICER"],
        ([name, _fmt(r["cost_OMT"], "usd"), _fmt(r["cost_CABG"], "usd"), _fmt(r["qaly_OMT"], "q"),
          _fmt(r["qaly_CABG"], "q"), _fmt(r["d_cost"], "usd"), _fmt(r["d_qaly"], "q"), _fmt(r["icer"], "usd")]
         for name, r in sc.iterrows()))
    rec = reconciliation()
    kinds = {"cost": "usd", "qaly": "q", "ly": "q", "d_cost": "usd", "d_qaly": "q", "icer": "usd", "p_ce": "p"}
    rows = []
    for q, r in rec.iterrows():
        kind = next(v for k, v in kinds.items() if q.startswith(k))
        rel = "" if np.isnan(r["relative"]) else f" ({_fmt(r['relative'], 'pct')})"
        diff = "–" if np.isnan(r["difference"]) else _fmt(r["difference"], kind) + rel
        rows.append([q, _fmt(r["model"], kind), _fmt(r["chew"], kind), diff])
    out["reconciliation"] = doc_table(["quantity", "model", "Chew et al. 2022", "difference"], rows)
    dr = drivers()
    out["drivers"] = doc_table(
        ["step (cumulative)", "incr. cost", "incr. QALYs", "ICER", "vs Chew"],
        ([name, _fmt(r["d_cost"], "usd"), _fmt(r["d_qaly"], "q"), _fmt(r["icer"], "usd"), _fmt(r["vs_chew"], "pct")]
         for name, r in dr.iterrows()))
    t = trial_outcomes(build())
    got = {"cross_56m_med": t.loc["OMT", "crossed_56m"], "cross_120m_med": t.loc["OMT", "crossed"],
           "cv_death_56m_med": t.loc["OMT", "cv_death_56m"], "cv_death_med": t.loc["OMT", "cv_death"],
           "cv_death_56m_cabg": t.loc["CABG", "cv_death_56m"], "cv_death_cabg": t.loc["CABG", "cv_death"]}
    p = build().parameters
    noncv = (602 * t.loc["OMT", "noncv_death"] + 610 * t.loc["CABG", "noncv_death"]) / 1212
    out["calibration"] = doc_table(
        ["parameter", "fitted value", "target", "model"],
        ([f"`{name}`", f"{p[name]:.4g}", f"{TARGETS[key]:.4f} ({key})", f"{got.get(key, noncv):.4f}"]
         for name, key in zip(FITTED, TARGETS, strict=True)))
    return out


if __name__ == "__main__":  # pragma: no cover
    for key, text in markdown().items():
        print(f"<!-- {key} -->\n{text}\n")


def report_sections(model=None) -> list:
    """Sections of the experiment report (hook of ``sim.experiment.registry.report_sections``): survival vs the trials.

    Parameters
    ----------
    model : Model, optional
        The run's model (default: the ready model's base case).

    Returns
    -------
    list of (title, text, [(caption, DataFrame)]) or (title, text, tables, [(name, caption, PNG bytes)])
    """
    model = build() if model is None else model
    tr = sim.run_cohort(model, trace=True).trace
    wide = tr.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    alive = 1.0 - wide[list(model.dead)].sum(axis=1)
    rows = []
    for (years, arm), (est, lo, hi, src) in sorted(TRIAL_POINTS.items()):
        c = int(round(years / model.cycle_length))
        rows.append({"Years": years, "Arm": arm, "Model survival": float(alive.loc[(arm, c)]),
                     "Trial survival": est, "Trial 95 % low": lo, "Trial 95 % high": hi,
                     "Within interval": "yes" if lo <= float(alive.loc[(arm, c)]) <= hi else "no", "Source": src})
    text = ("Survival of the model's base case (the run's parameters) beside the survival STICH (56 months) and "
            "STICHES (10 years) printed, with 95 % intervals; the calibration targets and method are in "
            "docs/omt_vs_cabg.md.")
    sections = [("Validation against the STICH/STICHES trials", text,
                 [("Overall survival by arm", pd.DataFrame(rows))])]
    yt = trial_survival.yearly_table(model=model)
    yearly = pd.DataFrame({"Years": yt["years"], "Arm": yt["arm"], "Model survival": yt["model"],
                           "Trial (reconstructed KM)": yt["trial"], "95 % low": yt["low"], "95 % high": yt["high"],
                           "Trial value rests on": yt["basis"], "Best fit by AIC": yt["best_family"],
                           "Best-fit survival": yt["best_fit"],
                           "Within interval": yt["inside"].map({True: "yes", False: "no"})})
    fits = trial_survival.fit_table().rename(columns={"arm": "Arm", "model": "Family", "parameters": "Parameters",
                                                       "loglik": "Log-likelihood", "aic": "AIC", "bic": "BIC",
                                                       "delta_aic": "ΔAIC", "delta_bic": "ΔBIC",
                                                       "converged": "Converged"})
    misses = "; ".join(f"{arm} at {t:g} years: {why}" for (t, arm), why in trial_survival.EXPLAINED_MISSES.items())
    text2 = ("Survival per arm at years 0-10 beside the Kaplan-Meier estimate of individual data reconstructed "
             "(Guyot et al. 2012) from what STICH and STICHES print: survival at 0, 56 months and 10 years "
             "(printed), 30-day operative mortality (derived) and constant hazards between them (interpolated: "
             "the yearly points of STICHES Figure 1A were not available to this work), with numbers at risk "
             "derived from the trial's enrolment and follow-up. Only the printed years validate the model. "
             f"Outside the interval: {misses or 'none'}. Sources and derivation: docs/omt_vs_cabg.md.")
    figure = [("omt_vs_cabg_survival", "Survival by arm: reconstructed Kaplan-Meier estimate (95 % interval), "
               "printed and derived points, the cohort model and the best parametric fit by AIC",
               trial_survival.figure())]
    sections.append(("Survival by year against the reconstructed STICHES curves", text2,
                     [("Model vs trial by year", yearly), ("Parametric fits per arm (reconstructed data)", fits)],
                     figure))
    return sections
