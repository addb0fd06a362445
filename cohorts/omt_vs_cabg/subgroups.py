"""Subgroup scenarios of the OMT vs CABG model from STICH's published subgroup analyses (issue 12, point 7).

Every subgroup is a set of parameter values of the cohort model (no change to its structure),
so it runs as a scenario of an experiment file (``experiments/omt_vs_cabg_subgroups.toml``).

* **Effect modifiers** (ejection fraction and extent of disease, baseline angina, the viability
  substudy): the subgroup's hazard ratio of death from any cause, CABG vs medical therapy,
  divided by the whole trial's hazard ratio in the same analysis, multiplies the CV hazards after
  CABG beyond the early period (``h_cv_post_y2``, ``h_cv_post_y5``). An assumption: the
  published ratio acts on the late CV hazard only (the operation's risk and the early period
  are as in the whole trial), and the subgroup's risk on medical therapy is the trial's (the
  angina analysis found it the same with and without angina; the others print none).
* **Age** (Petrie et al. 2016 prints each age quartile's 10-year death proportions per arm): the
  cohort starts at a representative age of the quartile, and the two CV hazards on medical
  therapy, the two after CABG and ``k_other`` are rescaled (three factors) so that the model
  reproduces the quartile's CV deaths per arm and its non-CV deaths (both arms pooled) by 10
  years.

:data:`SUBGROUPS` holds each subgroup's published numbers, source and whether they were seen in
the cited text; :func:`overrides` gives its parameter values, :func:`results` its costs, QALYs
and ICER.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from scipy import optimize

from . import build
from .calibration import trial_outcomes
from .doc_tables import doc_table

__all__ = ["SUBGROUPS", "markdown", "overrides", "results"]

_JOLICOEUR = ("Jolicoeur EM et al. Importance of angina in patients with coronary disease, heart failure, and left "
              "ventricular systolic dysfunction: insights from STICH. J Am Coll Cardiol 2015;66(19):2092-2100, "
              "Abstract (Results; PubMed 26541919)")
_PANZA14 = ("Panza JA et al. Extent of coronary and myocardial disease and benefit from surgical revascularization in "
            "ischemic LV dysfunction. J Am Coll Cardiol 2014;64(6):553-61, Abstract (Results)")
_PANZA19 = ("Panza JA et al. Myocardial viability and long-term outcomes in ischemic cardiomyopathy. N Engl J Med "
            "2019;381(8):739-48, Abstract (Results)")
_PETRIE = ("Petrie MC et al. Ten-year outcomes after coronary artery bypass grafting according to age in patients with "
           "heart failure and left ventricular systolic dysfunction (STICH). Circulation 2016;134(18):1314-24, "
           "Abstract (Results; PMC5089908)")
_STICH11 = "whole trial at 56 months: HR 0.86 (0.72-1.04), Velazquez EJ et al. N Engl J Med 2011;364:1607-16"
_STICHES = "whole trial at 10 years: HR 0.84 (0.73-0.97), Velazquez EJ et al. N Engl J Med 2016;374:1511-20"

#: name -> published effect.  ``hr`` (low, high): the subgroup's all-cause HR, CABG vs medical therapy; ``hr_all``:
#: the whole trial's in the same analysis; or, for age, ``age`` (representative start age, an assumption) and the
#: quartile's 10-year proportions ``cv`` (MED, CABG) and ``all`` (MED, CABG) of death.
SUBGROUPS: dict[str, dict] = {
    "EF < 27 % / ESVI > 79 / 3-vessel disease: 2-3 of them": {
        "hr": (0.71, 0.56, 0.89), "hr_all": 0.86, "n": 636, "source": _PANZA14, "reference": _STICH11,
        "verified": "yes", "note": "HR seen in the abstract (p interaction 0.022); the whole trial's HR of the same "
                                   "follow-up (56 months) assumed as the reference"},
    "EF < 27 % / ESVI > 79 / 3-vessel disease: 0-1 of them": {
        "hr": (1.08, 0.81, 1.44), "hr_all": 0.86, "n": 576, "source": _PANZA14, "reference": _STICH11,
        "verified": "yes", "note": "HR seen in the abstract; reference as above"},
    "angina at baseline": {
        "hr": (0.89, 0.71, 1.13), "hr_all": 0.86, "n": 770, "source": _JOLICOEUR, "reference": _STICH11,
        "verified": "yes", "note": "HR seen in the abstract (p interaction 0.14); the analysis' follow-up taken as "
                                   "STICH 2011's (assumption)"},
    "no angina at baseline": {
        "hr": (0.68, 0.50, 0.94), "hr_all": 0.86, "n": 442, "source": _JOLICOEUR, "reference": _STICH11,
        "verified": "yes", "note": "HR seen in the abstract; reference as above"},
    "viability substudy (viability assessed)": {
        "hr": (0.73, 0.60, 0.90), "hr_all": 0.84, "n": 601, "source": _PANZA19, "reference": _STICHES,
        "verified": "partly", "note": "adjusted HR of the 601 patients with viability testing (182/298 vs 209/303 "
                                      "deaths, median 10.4 years) seen in the abstract, against the whole trial's "
                                      "unadjusted 0.84; no interaction with viability (p = 0.34; Bonow 2011: "
                                      "p = 0.53), and no HR per viability group printed, so no scenario by viability"},
    "age <= 54 (quartile 1; start age 50)": {
        "age": 50, "cv": (0.49, 0.35), "all": (0.60, 0.48), "source": _PETRIE, "verified": "yes",
        "note": "proportions seen in the abstract (all-cause p interaction 0.062, CV 0.307); start age 50 assumed"},
    "age > 67 (quartile 4; start age 72)": {
        "age": 72, "cv": (0.53, 0.39), "all": (0.79, 0.68), "source": _PETRIE, "verified": "yes",
        "note": "proportions seen in the abstract; start age 72 assumed"},
}
_SCALED = {"med": ("h_cv_med_y0", "h_cv_med_y5"), "post": ("h_cv_post_y2", "h_cv_post_y5")}


def _age_fit(age: int, cv: tuple, all_: tuple) -> dict[str, float]:
    base = build().parameters
    noncv = ((all_[0] - cv[0]) + (all_[1] - cv[1])) / 2.0

    def values(x):
        a, b, k = np.exp(x)
        return {"age_start": float(age), **{n: float(base[n] * a) for n in _SCALED["med"]},
                **{n: float(base[n] * b) for n in _SCALED["post"]}, "k_other": float(base["k_other"] * k)}

    def f(x):
        out = trial_outcomes(build(values(x)))
        return [out.loc["OMT", "cv_death"] - cv[0], out.loc["CABG", "cv_death"] - cv[1],
                (out.loc["OMT", "noncv_death"] + out.loc["CABG", "noncv_death"]) / 2.0 - noncv]

    sol = optimize.least_squares(f, np.zeros(3), xtol=1e-12, ftol=1e-12, gtol=1e-12, diff_step=1e-6)
    return values(sol.x)


@cache
def _overrides(name: str) -> tuple:
    sg = SUBGROUPS[name]
    if "age" in sg:
        return tuple(_age_fit(sg["age"], sg["cv"], sg["all"]).items())
    base = build().parameters
    m = sg["hr"][0] / sg["hr_all"]
    return tuple((n, float(base[n] * m)) for n in _SCALED["post"])


def overrides(name: str) -> dict[str, float]:
    """The parameter values of subgroup ``name`` of :data:`SUBGROUPS` (see the module text)."""
    return dict(_overrides(name))


def results(names=None) -> pd.DataFrame:
    """Deterministic results per subgroup (base case first).

    Returns
    -------
    DataFrame
        Index: subgroup; columns ``cost_OMT, cost_CABG, qaly_OMT, qaly_CABG, d_cost, d_qaly, icer``.
    """
    import sim

    rows = {}
    for name in ["base case", *(names or SUBGROUPS)]:
        s = sim.run_cohort(build(overrides(name) if name != "base case" else {})).summary()
        d = s.loc["CABG"] - s.loc["OMT"]
        rows[name] = {"cost_OMT": s.loc["OMT", "cost"], "cost_CABG": s.loc["CABG", "cost"],
                      "qaly_OMT": s.loc["OMT", "qaly"], "qaly_CABG": s.loc["CABG", "qaly"],
                      "d_cost": d["cost"], "d_qaly": d["qaly"], "icer": d["cost"] / d["qaly"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def markdown() -> dict[str, str]:
    """The docs tables: ``{"subgroup_effects": published effects, "subgroups": results}``."""
    rows = []
    for name, sg in SUBGROUPS.items():
        if "age" in sg:
            pub = (f"10-year death MED / CABG: CV {sg['cv'][0]:.0%} / {sg['cv'][1]:.0%}, all causes "
                   f"{sg['all'][0]:.0%} / {sg['all'][1]:.0%}")
            o = overrides(name)
            base = build().parameters
            used = (f"start age {sg['age']}; CV hazards x{o['h_cv_med_y0'] / base['h_cv_med_y0']:.3f} (medical), "
                    f"x{o['h_cv_post_y2'] / base['h_cv_post_y2']:.3f} (after CABG); k_other "
                    f"{o['k_other']:.3f}")
        else:
            hr, lo, hi = sg["hr"]
            pub = f"HR {hr:.2f} ({lo:.2f}-{hi:.2f}), n = {sg['n']}; whole trial {sg['hr_all']:.2f}"
            used = f"late CV hazards after CABG x{hr / sg['hr_all']:.3f}"
        rows.append([name, pub, used, sg["verified"]])
    out = {"subgroup_effects": doc_table(["subgroup", "published", "used as", "verified"], rows)}
    out["subgroups"] = doc_table(
        ["subgroup", "cost OMT", "cost CABG", "QALYs OMT", "QALYs CABG", "incr. cost", "incr. QALYs", "ICER"],
        ([name, f"{x['cost_OMT']:,.0f}", f"{x['cost_CABG']:,.0f}", f"{x['qaly_OMT']:.3f}", f"{x['qaly_CABG']:.3f}",
          f"{x['d_cost']:,.0f}", f"{x['d_qaly']:.3f}", f"{x['icer']:,.0f}"] for name, x in results().iterrows()))
    return out


if __name__ == "__main__":  # pragma: no cover
    for key, text in markdown().items():
        print(f"<!-- {key} -->\n{text}\n")
    for name in SUBGROUPS:
        print(name, {k: float(f"{v:.6g}") for k, v in overrides(name).items()})
