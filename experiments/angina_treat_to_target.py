"""Stable angina with severe coronary disease: treat-to-target medical therapy vs CABG up front.

Two strategies, run patient by patient (:func:`sim.patient.run_managed`) with common
random numbers and one shared cardiac-surgery theatre per strategy:

* ``omt_t2t`` -- optimised medical therapy, treat-to-target. Visits every 3 months
  measure the Seattle Angina Questionnaire angina-frequency score (SAQ-AF, 0-100,
  higher is better; target >= 80, i.e. angina monthly or less). After an adequate trial
  an off-target patient is titrated or switched (beta-blocker -> calcium-channel blocker
  -> long-acting nitrate/ranolazine); the beta-blocker's exposure is checked first
  (resting heart rate as the pharmacodynamic "drug level": under-dosed -> raise the
  dose). Two optimised lines failed within 18 months = refractory angina -> elective
  CABG list. Red flags (unstable symptoms, or SAQ-AF < 30: daily angina) -> urgent
  re-evaluation, which sends some patients to urgent CABG (priority over elective).
* ``cabg_first`` -- every patient joins the elective CABG list on arrival, then medical
  therapy.

Patients arrive over two years (Poisson, 150 a year); the theatre does at most
``theatre_capacity / cabg_theatre_weeks`` (2 / week = 104 a year) CABGs. Numbers are
**illustrative** unless a source is given next to them; a sourced model is
``cohorts/omt_vs_cabg``. Everything is driven by the parameter dict :data:`PARAMS`
(pass a modified copy to :func:`build`), so a PSA can call ``build(values)``.

Run: ``python experiments/angina_treat_to_target.py [--patients N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from scipy import stats
from scipy.special import expit

from sim.patient import (
    TDM,
    Arrivals,
    Event,
    Exponential,
    Line,
    ManagedPathway,
    Marker,
    Pathway,
    Policy,
    Procedure,
    RedFlag,
    Refractory,
    Resource,
    generate_population,
    run_managed,
    truncated_normal,
)

STATES = ("OMT", "Reeval", "Wait_elective", "Wait_urgent", "PostCABG", "Dead")

PARAMS = {
    # --- population (illustrative, typical of stable-CAD trial cohorts: mean age mid-60s, ~80% men)
    "age_mean": 65.0, "age_sd": 9.0,
    "p_male": 0.8,
    # --- angina score: SAQ angina frequency 0-100; 100 no angina, 61-90 monthly, 31-60 weekly,
    # 0-30 daily (Spertus et al., J Am Coll Cardiol 1995;25:333-41; categories as used in ISCHEMIA)
    "saq_baseline": 66.0,  # illustrative: weekly angina despite first-line therapy
    "saq_target": 80.0,  # illustrative target: monthly angina or less
    "saq_patient_sd": 10.0,  # illustrative between-patient variation
    "saq_noise_sd": 4.0,  # illustrative visit-to-visit variation
    "saq_diabetes": -5.0,  # illustrative: diabetes lowers the score
    "saq_daily": 30.0,  # red flag threshold: daily angina (Spertus 1995 categories)
    # --- anti-anginal lines: effects on SAQ-AF per dose level, annual drug cost (illustrative)
    "bb_effect": (12.0, 20.0), "bb_cost": (40.0, 60.0),
    "bb_underdosed": 0.3,  # illustrative: share with resting heart rate above target on the first dose
    "hr_check_cost": 30.0,  # illustrative: visit with ECG / heart-rate check
    "ccb_effect": (10.0, 18.0), "ccb_cost": (50.0, 80.0),
    "third_effect": 15.0, "third_cost": 450.0,
    "trial_years": 0.25,  # adequate trial: 3 months per dose (illustrative)
    "visit_years": 0.25, "visit_cost": 120.0,  # every 3 months; cost illustrative
    "refractory_lines": 2, "refractory_years": 1.5,
    "p_unstable": 0.02,  # illustrative: unstable symptoms at a visit
    "off_target_disutility": 0.08,  # illustrative utility loss with weekly vs monthly angina
    # --- pathway (annual rates and costs; illustrative)
    "death_omt": 0.025, "death_wait": 0.04, "death_post": 0.02, "hr_age_decade": 0.4,
    "reeval_to_urgent": 12.0, "reeval_to_omt": 12.0, "death_reeval": 0.5, "reeval_cost": 3500.0,
    "omt_cost": 300.0, "post_cost": 400.0, "wait_cost": 600.0,
    "u_omt": 0.82, "u_reeval": 0.65, "u_wait": 0.72, "u_post": 0.86,
    # --- CABG: theatre and procedure (illustrative; operative mortality of isolated CABG is of
    # the order of 1-3% in registries)
    "theatre_capacity": 2, "cabg_theatre_weeks": 1.0, "cabg_cost": 15_000.0, "cabg_mortality": 0.02,
    # --- run
    "horizon": 10.0, "discount": 0.035, "arrivals_per_year": 150.0,
}


def population(n: int, seed: int, params: dict = PARAMS):
    """Patients: age (truncated normal 40-90), sex, diabetes (more likely with age)."""
    spec = {"age": truncated_normal(params["age_mean"], params["age_sd"], 40.0, 90.0),
            "male": stats.bernoulli(params["p_male"]),
            "diabetes": lambda a: stats.bernoulli(expit(-3.0 + 0.03 * a["age"]))}  # illustrative, ~25%
    pop = generate_population(spec, n, seed)
    return pop.assign(age_decade=(pop["age"] - 65.0) / 10.0).reset_index(drop=True)


def build(params: dict = PARAMS) -> dict[str, ManagedPathway]:
    """The two strategies from a parameter dict."""
    p = params
    hr = {"age_decade": p["hr_age_decade"]}
    events = {
        "OMT": [Event("Dead", Exponential(p["death_omt"]), hr=hr)],
        "Reeval": [Event("Wait_urgent", Exponential(p["reeval_to_urgent"])),
                   Event("OMT", Exponential(p["reeval_to_omt"])),
                   Event("Dead", Exponential(p["death_reeval"]), hr=hr)],
        "Wait_elective": [Event("Dead", Exponential(p["death_wait"]), hr=hr)],
        "Wait_urgent": [Event("Dead", Exponential(2 * p["death_wait"]), hr=hr)],
        "PostCABG": [Event("Dead", Exponential(p["death_post"]), hr=hr)],
    }
    costs = {"OMT": p["omt_cost"], "Reeval": p["reeval_cost"] * 24.0, "Wait_elective": p["wait_cost"],
             "Wait_urgent": p["wait_cost"], "PostCABG": p["post_cost"]}  # re-evaluation: ~2 weeks' cost a stay
    utilities = {"OMT": p["u_omt"], "Reeval": p["u_reeval"], "Wait_elective": p["u_wait"], "Wait_urgent": p["u_wait"],
                 "PostCABG": p["u_post"]}

    def pathway(start):
        return Pathway(states=STATES, start=start, dead=("Dead",), horizon=p["horizon"], events=events, costs=costs,
                       utilities=utilities, discount_costs=p["discount"], discount_outcomes=p["discount"])

    saq = Marker("saq_af", baseline=p["saq_baseline"], target=p["saq_target"], better="higher",
                 noise_sd=p["saq_noise_sd"], patient_sd=p["saq_patient_sd"], coef={"diabetes": p["saq_diabetes"]},
                 lower=0.0, upper=100.0)
    lines = [
        # heart-rate check before declaring beta-blocker failure (no anti-drug antibodies with anti-anginals)
        Line("beta_blocker", "BB", {"saq_af": p["bb_effect"]}, p["bb_cost"], p["trial_years"],
             tdm=TDM(p_low=p["bb_underdosed"], cost=p["hr_check_cost"])),
        Line("ccb", "CCB", {"saq_af": p["ccb_effect"]}, p["ccb_cost"], p["trial_years"]),
        Line("nitrate_ranolazine", "other", {"saq_af": p["third_effect"]}, p["third_cost"], p["trial_years"]),
    ]
    policy = Policy("saq_af", [saq], lines, interval=p["visit_years"],
                    refractory=Refractory(p["refractory_lines"], p["refractory_years"], "Wait_elective"),
                    red_flags=[RedFlag("Reeval", probability=p["p_unstable"]),
                               RedFlag("Reeval", marker="saq_af", threshold=p["saq_daily"])],
                    visit_cost=p["visit_cost"], off_target_disutility=p["off_target_disutility"])
    week = 1.0 / 52.0
    procedures = {
        "Wait_elective": Procedure("theatre", "PostCABG", "Dead", duration=p["cabg_theatre_weeks"] * week,
                                   cost=p["cabg_cost"], mortality=p["cabg_mortality"], priority=1),
        "Wait_urgent": Procedure("theatre", "PostCABG", "Dead", duration=p["cabg_theatre_weeks"] * week,
                                 cost=p["cabg_cost"], mortality=1.5 * p["cabg_mortality"], priority=0),
    }
    theatre = [Resource("theatre", p["theatre_capacity"])]
    return {"omt_t2t": ManagedPathway(pathway("OMT"), {"OMT": policy}, procedures, theatre),
            "cabg_first": ManagedPathway(pathway("Wait_elective"), {}, procedures, theatre)}


def run(n: int = 600, seed: int = 2026, params: dict = PARAMS):
    """Run both strategies; returns the :class:`~sim.patient.ManagedResult`."""
    return run_managed(build(params), seed=seed, population=population(n, seed, params),
                       arrivals=Arrivals(rate=params["arrivals_per_year"]))


def summary(result) -> pd.DataFrame:
    """Per strategy: mean cost, QALYs, share escalated / operated / died on the list, mean wait."""
    o = result.outcomes
    return o.groupby("strategy", observed=True).agg(
        cost=("cost", "mean"), qaly=("qaly", "mean"), escalated=("escalated", "mean"),
        red_flag=("red_flags", lambda x: (x > 0).mean()), lines=("lines_tried", "mean"),
        cabg=("reached_PostCABG", "mean"), waited_years=("waited", "mean"), died_on_list=("died_on_list", "mean"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=600)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    res = run(args.patients, args.seed)
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 3):
        print("Per strategy (means per patient):")
        print(summary(res).to_string())
        print("\nTheatre waiting list:")
        print(res.queues.to_string(index=False))
        print("\nICER table (QALYs):")
        print(res.icer().to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
