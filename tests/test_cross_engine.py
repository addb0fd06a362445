"""Cross-engine validation: a cohort model with a tunnel state against its semi-Markov pathway.

The continuous-time pathway has a death hazard out of Sick that depends on the time
since falling sick (0.6/yr in the first year, 0.2/yr after: a semi-Markov clock). The
cohort version approximates it with monthly cycles and a 13-cycle tunnel on Sick
(``BySojourn``: 12 months at the first-year hazard, then the later one). The
cohort's error is the discretisation (O(h) in when the hazard changes for patients who
fall sick mid-cycle); with h = 1 month it is far below the patient-level Monte Carlo
error of 20,000 patients, so the means must agree within 3 Monte Carlo SE.
"""

import math

import numpy as np

import sim
from sim import BySojourn, C, Model
from sim.patient import Event, Pathway, run_pathway
from sim.patient.events import Exponential, PiecewiseExponential

RATE_SICK = {"a": 0.10, "b": 0.06}
RATE_DIE_WELL = 0.02
RATE_DIE_SICK = (0.6, 0.2)  # first year after falling sick, then
COST = {"Well": 500.0, "Sick": 8000.0}  # per year
UTILITY = {"Well": 0.9, "Sick": 0.6}
R, H, YEARS = 0.035, 1.0 / 12.0, 20


def _cohort() -> Model:
    def split(rate, total):  # competing exponential risks over one cycle
        return rate / total * -math.expm1(-total * H)

    well_sick = {}
    for s, lam in RATE_SICK.items():
        well_sick[s] = split(lam, lam + RATE_DIE_WELL)
    die_well = {s: split(RATE_DIE_WELL, lam + RATE_DIE_WELL) for s, lam in RATE_SICK.items()}
    sojourn = [-math.expm1(-RATE_DIE_SICK[0] * H)] * 12 + [-math.expm1(-RATE_DIE_SICK[1] * H)]
    return Model(
        states=["Well", "Sick", "Dead"], strategies=list(RATE_SICK), start={"Well": 1.0},
        cycle_length=H, horizon_years=YEARS,
        transitions={("Well", "Well"): C, ("Well", "Sick"): sim.ByStrategy(**well_sick),
                     ("Well", "Dead"): sim.ByStrategy(**die_well),
                     ("Sick", "Sick"): C, ("Sick", "Dead"): BySojourn(sojourn)},
        tunnels={"Sick": 13},
        costs={"care": {s: c * H for s, c in COST.items()}}, utilities=UTILITY,
        dead=["Dead"], correction="half-cycle", discount_costs=R, discount_outcomes=R,
    )


def _pathways() -> dict:
    out = {}
    for s, lam in RATE_SICK.items():
        out[s] = Pathway(
            states=("Well", "Sick", "Dead"), start="Well", horizon=float(YEARS), dead=("Dead",),
            events={"Well": [Event("Sick", Exponential(lam)), Event("Dead", Exponential(RATE_DIE_WELL))],
                    "Sick": [Event("Dead", PiecewiseExponential([0.0, 1.0], list(RATE_DIE_SICK)), clock="semi")]},
            costs=COST, utilities=UTILITY, discount_costs=R, discount_outcomes=R,
        )
    return out


def test_tunnel_cohort_matches_its_semi_markov_pathway():
    cohort = sim.run_cohort(_cohort()).summary()
    patients = run_pathway(_pathways(), 20_000, seed=3).outcomes
    g = patients.groupby("strategy", observed=True)
    for s in RATE_SICK:
        for c in ("cost", "qaly", "ly"):
            x = g.get_group(s)[c].to_numpy()
            se = x.std(ddof=1) / math.sqrt(len(x))
            diff = x.mean() - cohort.loc[s, c]
            assert abs(diff) <= 3 * se, (s, c, x.mean(), cohort.loc[s, c], se)
    # and the paired incremental QALY (common random numbers make it far more precise)
    wide = patients.pivot(index="patient", columns="strategy", values="qaly")
    d = (wide["b"] - wide["a"]).to_numpy()
    se = d.std(ddof=1) / math.sqrt(len(d))
    inc = cohort.loc["b", "qaly"] - cohort.loc["a", "qaly"]
    assert abs(d.mean() - inc) <= 3 * se, (d.mean(), inc, se)
    assert se < 0.5 * np.std(wide["a"].to_numpy()) / math.sqrt(len(d))


def test_the_tunnel_matters():
    """Without the sojourn-dependent hazard the cohort is clearly off: the test above can fail."""
    flat = _cohort().replace(transitions={**_cohort().transitions,
                                          ("Sick", "Dead"): -math.expm1(-RATE_DIE_SICK[1] * H)})
    tunnel = sim.run_cohort(_cohort()).summary()
    no_tunnel = sim.run_cohort(flat).summary()
    assert (no_tunnel["ly"] - tunnel["ly"]).min() > 0.2
