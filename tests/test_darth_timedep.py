"""The DARTH time-dependent Sick-Sicker model, ported with settings alone.

Alarid-Escudero F, Krijkamp E, Enns EA, et al. A tutorial on time-dependent cohort
state-transition models in R using a cost-effectiveness analysis example. Med Decis Making
2023;43(1):21-41.  Table "Cost-effectiveness analysis results for the simulation-time-dependent
Sick-Sicker model" (manuscript/cSTM_Tutorial_TimeDep.tex of github.com/DARTH-git/
cohort-modeling-tutorial-timedep): SoC 116,374 and 18.879 QALYs; A 218,789 and 19.636;
B 202,536 and 20.199 (ICER 65,288); AB 296,300 and 21.097 (ICER 104,461); A dominated.

Inputs as in the tutorial's analysis/cSTM_time_dep_simulation.R: age 25, 75 annual cycles,
US 2015 central death rates (``tests/data/darth_lifetable_usa_mx_2015.csv``), rates
r_HS1 0.15, r_S1H 0.5, r_S1S2 0.105, hazard ratios of death 3 (Sick) and 10 (Sicker),
treatment B hazard ratio 0.6 on Sick -> Sicker; costs 2000 / 4000 / 15000 a year, treatment A
12000 and B 13000; utilities 1 / 0.75 / 0.5, 0.95 on A in Sick; transition rewards: -0.01 QALY
and 1000 on Healthy -> Sick, 2000 on every death; 3 % discounting; the DARTH Simpson 1/3
weights applied to state and transition rewards alike (``transition_rewards="corrected"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim
from sim import ANY, ByStrategy, C, HazardRatio, LifeTable, Model, P, Rate

DATA = Path(__file__).parent / "data" / "darth_lifetable_usa_mx_2015.csv"
STRATEGIES = ("SoC", "A", "B", "AB")
PUBLISHED = {  # strategy: (cost, QALYs)
    "SoC": (116_374, 18.879),
    "A": (218_789, 19.636),
    "B": (202_536, 20.199),
    "AB": (296_300, 21.097),
}
PARAMETERS = dict(r_HS1=0.15, r_S1H=0.5, r_S1S2=0.105, hr_S1=3.0, hr_S2=10.0, hr_S1S2_trtB=0.6,
                  c_H=2000.0, c_S1=4000.0, c_S2=15000.0, c_trtA=12000.0, c_trtB=13000.0,
                  u_H=1.0, u_S1=0.75, u_S2=0.5, u_trtA=0.95, du_HS1=0.01, ic_HS1=1000.0, ic_D=2000.0)


@pytest.fixture(scope="module")
def table():
    return LifeTable.from_csv(DATA, name="usa_2015_mx")


def build_with_callables(table, **settings) -> Model:
    """The model written with callables for the products of probabilities (the escape hatch)."""
    def q(t):  # background probability of death in cycle t: 1 - exp(-mx(age))
        return table.annual_probability("total", t.age)

    def surv(hr):
        return lambda p, t: (1.0 - q(t)) ** p[hr] if hr else 1.0 - q(t)

    def prog(p, t):
        r = p["r_S1S2"] * (p["hr_S1S2_trtB"] if t.strategy in ("B", "AB") else 1.0)
        return -np.expm1(-r)

    def times(a, b):
        return lambda p, t: a(p, t) * b(p, t)

    def rate(name):
        return lambda p, t: -np.expm1(-p[name])

    def sick_cost(base):
        def f(p, t):
            extra = {"SoC": 0.0, "A": p["c_trtA"], "B": p["c_trtB"], "AB": p["c_trtA"] + p["c_trtB"]}[t.strategy]
            return p[base] + extra
        return f

    mort = table.mortality("total")
    return Model(
        name="sick_sicker_timedep", states=("H", "S1", "S2", "D"), strategies=STRATEGIES,
        transitions={
            ("H", "S1"): times(surv(None), rate("r_HS1")), ("H", "D"): mort, ("H", "H"): C,
            ("S1", "H"): times(surv("hr_S1"), rate("r_S1H")), ("S1", "S2"): times(surv("hr_S1"), prog),
            ("S1", "D"): HazardRatio(mort, "hr_S1"), ("S1", "S1"): C,
            ("S2", "D"): HazardRatio(mort, "hr_S2"), ("S2", "S2"): C,
        },
        start={"H": 1.0}, horizon=75, start_age=25, parameters=PARAMETERS,
        costs={"care": {"H": "c_H", "S1": sick_cost("c_S1"), "S2": sick_cost("c_S2")}},
        utilities={"H": "u_H", "S1": ByStrategy(SoC="u_S1", B="u_S1", A="u_trtA", AB="u_trtA"), "S2": "u_S2"},
        transition_costs={"event": {("H", "S1"): "ic_HS1", (ANY, "D"): "ic_D"}},
        transition_utilities={("H", "S1"): lambda p, t: -p["du_HS1"]},
        dead=("D",), discount_costs=0.03, discount_outcomes=0.03, **settings,
    )


def build_with_expressions(table, **settings) -> Model:
    """The same model in the expression language: no callable."""
    q = table.mortality("total")  # 1 - exp(-mx(age))
    q_S1, q_S2 = HazardRatio(q, "hr_S1"), HazardRatio(q, "hr_S2")  # 1 - exp(-hr mx)
    on_b = ByStrategy(SoC=1.0, A=1.0, B="hr_S1S2_trtB", AB="hr_S1S2_trtB")
    trt = ByStrategy(SoC=0.0, A="c_trtA", B="c_trtB", AB=P("c_trtA") + "c_trtB")
    return Model(
        name="sick_sicker_timedep", states=("H", "S1", "S2", "D"), strategies=STRATEGIES,
        transitions={
            ("H", "S1"): (1 - q) * Rate("r_HS1"), ("H", "D"): q, ("H", "H"): C,
            ("S1", "H"): (1 - q_S1) * Rate("r_S1H"), ("S1", "S2"): (1 - q_S1) * Rate(P("r_S1S2") * on_b),
            ("S1", "D"): q_S1, ("S1", "S1"): C,
            ("S2", "D"): q_S2, ("S2", "S2"): C,
        },
        start={"H": 1.0}, horizon=75, start_age=25, parameters=PARAMETERS,
        costs={"care": {"H": "c_H", "S1": P("c_S1") + trt, "S2": P("c_S2") + trt}},
        utilities={"H": "u_H", "S1": ByStrategy(SoC="u_S1", B="u_S1", A="u_trtA", AB="u_trtA"), "S2": "u_S2"},
        transition_costs={"event": {("H", "S1"): "ic_HS1", (ANY, "D"): "ic_D"}},
        transition_utilities={("H", "S1"): -P("du_HS1")},
        dead=("D",), discount_costs=0.03, discount_outcomes=0.03, **settings,
    )


def _costs_qalys(res):
    out = res.outcomes.set_index("strategy")
    return {s: (float(out.loc[s, "cost"]), float(out.loc[s, "qaly"])) for s in STRATEGIES}


@pytest.fixture(scope="module")
def darth(table):
    return sim.run_cohort(build_with_callables(table, correction="simpson-darth", transition_rewards="corrected"))


def test_published_costs_and_qalys(darth):
    got = _costs_qalys(darth)
    for s, (cost, qaly) in PUBLISHED.items():
        assert round(got[s][0]) == cost, s
        assert round(got[s][1], 3) == qaly, s


def test_published_icers(darth):
    table = darth.icer().set_index("strategy")
    assert round(float(table.loc["B", "icer"])) == 65_288
    assert round(float(table.loc["AB", "icer"])) == 104_461
    assert table.loc["A", "status"] != "non-dominated"


def test_transition_rewards_in_full_miss_the_published_costs(table):
    """Without the correction on transition rewards every published cost is missed (by about $26)."""
    res = sim.run_cohort(build_with_callables(table, correction="simpson-darth"))
    got = _costs_qalys(res)
    for s, (cost, _) in PUBLISHED.items():
        assert 10 < abs(got[s][0] - cost) < 60, s
    assert res.settings["transition_rewards"].startswith("counted in full")


def test_expressions_reproduce_the_callables_and_the_published_table(table, darth):
    res = sim.run_cohort(build_with_expressions(table, correction="simpson-darth", transition_rewards="corrected"))
    got, ref = _costs_qalys(res), _costs_qalys(darth)
    for s in STRATEGIES:
        assert got[s] == pytest.approx(ref[s], rel=1e-12), s
        assert round(got[s][0]) == PUBLISHED[s][0] and round(got[s][1], 3) == PUBLISHED[s][1], s
