"""Conventions checked by hand: corrections, discounting, cycle length, transition
rewards, settings, tunnel states and life-table mortality.

Most cases are a 2-state model (Alive -> Dead with probability p = 0.1 a
cycle, start in Alive) whose trace is 1, 0.9, 0.81, 0.729, 0.6561, ... so
every expected total is written out as arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim import ANY, AnyOf, ByCycle, BySojourn, ByStrategy, C, Discount, HtaError, LifeTable, Model

REL = 1e-12
LIFETABLE_CSV = Path(sim.__file__).resolve().parent / "data" / "lifetables" / "us_2017_nchs.csv"


def alive_dead(correction="half-cycle", *, T=4, p=0.1, h=1.0, utility=1.0, costs=None,
               transition_costs=None, transition_utilities=None, **kw) -> Model:
    return Model(
        states=("Alive", "Dead"),
        strategies=("only",),
        transitions={("Alive", "Alive"): C, ("Alive", "Dead"): p},
        start={"Alive": 1.0},
        horizon=T,
        cycle_length=h,
        utilities={"Alive": utility},
        costs=costs or {},
        transition_costs=transition_costs or {},
        transition_utilities=transition_utilities or {},
        dead=("Dead",),
        correction=correction,
        **kw,
    )


def one(res, col):
    assert len(res.outcomes) == 1
    return float(res.outcomes[col].iloc[0])


# ------------------------------------------------------------------ corrections, undiscounted
# 1 QALY (and 1 LY) per year in Alive, annual cycles, 4 cycles, no discounting
UNDISCOUNTED = {
    "start": 1 + 0.9 + 0.81 + 0.729,
    "end": 0.9 + 0.81 + 0.729 + 0.6561,
    "half-cycle": 0.5 * 1 + 0.9 + 0.81 + 0.729 + 0.5 * 0.6561,
    "life-table": 0.5 * 1 + 0.9 + 0.81 + 0.729 + 0.5 * 0.6561,
    "trapezoid": 0.5 * 1 + 0.9 + 0.81 + 0.729 + 0.5 * 0.6561,
    "simpson": (1 + 4 * 0.9 + 2 * 0.81 + 4 * 0.729 + 0.6561) / 3,
    "simpson-darth": (1 + 2 * 0.9 + 4 * 0.81 + 2 * 0.729 + 0.6561) / 3,
}


@pytest.mark.parametrize("correction", list(UNDISCOUNTED))
def test_corrections_undiscounted(correction):
    res = sim.run_cohort(alive_dead(correction))
    for col in ("qaly", "ly", "qaly_undisc", "ly_undisc"):
        assert one(res, col) == pytest.approx(UNDISCOUNTED[correction], rel=REL), col


# 5 % a year on outcomes: d(tau_k) = 1.05 ** -k
DISCOUNTED = {
    "start": 1 + 0.9 / 1.05 + 0.81 / 1.05**2 + 0.729 / 1.05**3,
    "end": 0.9 / 1.05 + 0.81 / 1.05**2 + 0.729 / 1.05**3 + 0.6561 / 1.05**4,
    "half-cycle": 0.5 * 1 + 0.9 / 1.05 + 0.81 / 1.05**2 + 0.729 / 1.05**3 + 0.5 * 0.6561 / 1.05**4,
    "life-table": 0.5 * 1 + 0.9 / 1.05 + 0.81 / 1.05**2 + 0.729 / 1.05**3 + 0.5 * 0.6561 / 1.05**4,
    "trapezoid": 0.5 * 1 + 0.9 / 1.05 + 0.81 / 1.05**2 + 0.729 / 1.05**3 + 0.5 * 0.6561 / 1.05**4,
    "simpson": (1 + 4 * 0.9 / 1.05 + 2 * 0.81 / 1.05**2 + 4 * 0.729 / 1.05**3 + 0.6561 / 1.05**4) / 3,
    "simpson-darth": (1 + 2 * 0.9 / 1.05 + 4 * 0.81 / 1.05**2 + 2 * 0.729 / 1.05**3 + 0.6561 / 1.05**4) / 3,
}


@pytest.mark.parametrize("correction", list(DISCOUNTED))
def test_corrections_discounted(correction):
    res = sim.run_cohort(alive_dead(correction, discount_outcomes=0.05, discount_costs=0.5))
    for col in ("qaly", "ly"):
        assert one(res, col) == pytest.approx(DISCOUNTED[correction], rel=REL), col
    for col in ("qaly_undisc", "ly_undisc"):
        assert one(res, col) == pytest.approx(UNDISCOUNTED[correction], rel=REL), col


# A cost per cycle that changes every cycle (10, 20, 30, 40, then 50 in cycle 4)
# tells apart which cycle's reward each trace point carries; costs at 3 % a year.
TIME_VARYING = {
    "start": 10 * 1 + 20 * 0.9 / 1.03 + 30 * 0.81 / 1.03**2 + 40 * 0.729 / 1.03**3,
    "end": 10 * 0.9 / 1.03 + 20 * 0.81 / 1.03**2 + 30 * 0.729 / 1.03**3 + 40 * 0.6561 / 1.03**4,
    "half-cycle": 0.5 * (10 * 1 + 20 * 0.9 / 1.03 + 30 * 0.81 / 1.03**2 + 40 * 0.729 / 1.03**3)
    + 0.5 * (10 * 0.9 / 1.03 + 20 * 0.81 / 1.03**2 + 30 * 0.729 / 1.03**3 + 40 * 0.6561 / 1.03**4),
    "trapezoid": 0.5 * 10 * 1 + 20 * 0.9 / 1.03 + 30 * 0.81 / 1.03**2 + 40 * 0.729 / 1.03**3
    + 0.5 * 50 * 0.6561 / 1.03**4,
    "simpson": (10 * 1 + 4 * 20 * 0.9 / 1.03 + 2 * 30 * 0.81 / 1.03**2 + 4 * 40 * 0.729 / 1.03**3
                + 50 * 0.6561 / 1.03**4) / 3,
    "simpson-darth": (10 * 1 + 2 * 20 * 0.9 / 1.03 + 4 * 30 * 0.81 / 1.03**2 + 2 * 40 * 0.729 / 1.03**3
                      + 50 * 0.6561 / 1.03**4) / 3,
}
TIME_VARYING_UNDISC = {
    "start": 10 * 1 + 20 * 0.9 + 30 * 0.81 + 40 * 0.729,
    "end": 10 * 0.9 + 20 * 0.81 + 30 * 0.729 + 40 * 0.6561,
    "half-cycle": 0.5 * (10 * 1 + 20 * 0.9 + 30 * 0.81 + 40 * 0.729)
    + 0.5 * (10 * 0.9 + 20 * 0.81 + 30 * 0.729 + 40 * 0.6561),
    "trapezoid": 0.5 * 10 * 1 + 20 * 0.9 + 30 * 0.81 + 40 * 0.729 + 0.5 * 50 * 0.6561,
    "simpson": (10 * 1 + 4 * 20 * 0.9 + 2 * 30 * 0.81 + 4 * 40 * 0.729 + 50 * 0.6561) / 3,
    "simpson-darth": (10 * 1 + 2 * 20 * 0.9 + 4 * 30 * 0.81 + 2 * 40 * 0.729 + 50 * 0.6561) / 3,
}


@pytest.mark.parametrize("correction", list(TIME_VARYING))
def test_time_varying_reward_per_correction(correction):
    model = alive_dead(correction, costs={"care": {"Alive": ByCycle([10, 20, 30, 40, 50])}},
                       discount_costs=0.03)
    res = sim.run_cohort(model)
    assert one(res, "cost_care") == pytest.approx(TIME_VARYING[correction], rel=REL)
    assert one(res, "cost") == pytest.approx(TIME_VARYING[correction], rel=REL)
    assert one(res, "cost_undisc") == pytest.approx(TIME_VARYING_UNDISC[correction], rel=REL)
    # the same reward as a callable of t.cycle
    model2 = model.replace(costs={"care": {"Alive": lambda p, t: 10.0 * (t.cycle + 1)}})
    assert one(sim.run_cohort(model2), "cost") == pytest.approx(TIME_VARYING[correction], rel=REL)


def test_three_cycles():
    """T = 3 (odd): every correction but textbook Simpson."""
    expected = {
        "start": 1 + 0.9 + 0.81,
        "end": 0.9 + 0.81 + 0.729,
        "half-cycle": 0.5 * 1 + 0.9 + 0.81 + 0.5 * 0.729,
        "trapezoid": 0.5 * 1 + 0.9 + 0.81 + 0.5 * 0.729,
        "simpson-darth": (1 + 2 * 0.9 + 4 * 0.81 + 0.729) / 3,
    }
    for correction, value in expected.items():
        res = sim.run_cohort(alive_dead(correction, T=3))
        assert one(res, "ly") == pytest.approx(value, rel=REL), correction
    with pytest.raises(HtaError, match="even number of cycles"):
        alive_dead("simpson", T=3)


# ------------------------------------------------------------------ discounting
def test_constant_rate_costs_and_outcomes_separately():
    model = alive_dead("start", costs={"care": {"Alive": 100.0}}, discount_costs=0.03, discount_outcomes=0.05)
    res = sim.run_cohort(model)
    assert one(res, "cost") == pytest.approx(
        100 * (1 + 0.9 / 1.03 + 0.81 / 1.03**2 + 0.729 / 1.03**3), rel=REL)
    assert one(res, "cost_undisc") == pytest.approx(100 * (1 + 0.9 + 0.81 + 0.729), rel=REL)
    assert one(res, "qaly") == pytest.approx(1 + 0.9 / 1.05 + 0.81 / 1.05**2 + 0.729 / 1.05**3, rel=REL)
    assert one(res, "ly") == pytest.approx(1 + 0.9 / 1.05 + 0.81 / 1.05**2 + 0.729 / 1.05**3, rel=REL)


def test_step_down_schedule_factor_by_hand():
    d = Discount([(0, 0.05), (1.25, 0.01)])
    taus = [0.0, 0.5, 1.0, 1.25, 1.5, 2.0, 2.5]
    by_hand = [
        1.0,
        1.05**-0.5,
        1.05**-1.0,
        1.05**-1.25,
        1.05**-1.25 * 1.01**-0.25,
        1.05**-1.25 * 1.01**-0.75,
        1.05**-1.25 * 1.01**-1.25,
    ]
    np.testing.assert_allclose(d.factor(np.array(taus)), by_hand, rtol=REL)
    three = Discount([(0, 0.035), (30, 0.03), (75, 0.025)])
    np.testing.assert_allclose(three.factor(np.array([80.0])), [1.035**-30 * 1.03**-45 * 1.025**-5], rtol=REL)


def test_step_down_schedule_in_a_model():
    """Half-year cycles, 5 % up to year 1.25 then 1 %: the break falls inside cycle 2."""
    sched = [(0, 0.05), (1.25, 0.01)]
    model = alive_dead("start", T=6, h=0.5, discount_outcomes=sched, discount_costs=0.0,
                       costs={"care": {"Alive": 100.0}})
    res = sim.run_cohort(model)
    d = [1.0, 1.05**-0.5, 1.05**-1.0, 1.05**-1.25 * 1.01**-0.25, 1.05**-1.25 * 1.01**-0.75,
         1.05**-1.25 * 1.01**-1.25]
    m = [1.0, 0.9, 0.81, 0.729, 0.6561, 0.59049]
    expected_ly = 0.5 * (m[0] * d[0] + m[1] * d[1] + m[2] * d[2] + m[3] * d[3] + m[4] * d[4] + m[5] * d[5])
    assert one(res, "ly") == pytest.approx(expected_ly, rel=REL)
    assert one(res, "qaly") == pytest.approx(expected_ly, rel=REL)  # utility 1 a year
    assert one(res, "ly_undisc") == pytest.approx(0.5 * (1 + 0.9 + 0.81 + 0.729 + 0.6561 + 0.59049), rel=REL)
    assert one(res, "cost") == pytest.approx(100 * (1 + 0.9 + 0.81 + 0.729 + 0.6561 + 0.59049), rel=REL)


def test_annual_timing_half_year_cycles():
    """discount_timing='annual': points at 0 and 0.5 years share d(0), 1 and 1.5 share d(1), ..."""
    model = alive_dead("start", T=6, h=0.5, discount_outcomes=0.05, discount_timing="annual")
    res = sim.run_cohort(model)
    expected = 0.5 * (1 + 0.9 + (0.81 + 0.729) / 1.05 + (0.6561 + 0.59049) / 1.05**2)
    assert one(res, "ly") == pytest.approx(expected, rel=REL)
    exact = sim.run_cohort(model.replace(discount_timing="exact"))
    expected_exact = 0.5 * (1 + 0.9 / 1.05**0.5 + 0.81 / 1.05 + 0.729 / 1.05**1.5 + 0.6561 / 1.05**2
                            + 0.59049 / 1.05**2.5)
    assert one(exact, "ly") == pytest.approx(expected_exact, rel=REL)
    # annual timing, end correction: points 1..6 at years 0, 1, 1, 2, 2, 3
    end = sim.run_cohort(model.replace(correction="end"))
    expected_end = 0.5 * (0.9 + (0.81 + 0.729) / 1.05 + (0.6561 + 0.59049) / 1.05**2 + 0.531441 / 1.05**3)
    assert one(end, "ly") == pytest.approx(expected_end, rel=REL)


@pytest.mark.parametrize("h", [1.0, 0.5, 1 / 12])
def test_cycle_length_scales_utilities_and_life_years_not_costs(h):
    model = alive_dead("start", h=h, utility=0.8, costs={"care": {"Alive": 100.0}})
    res = sim.run_cohort(model)
    alive = 1 + 0.9 + 0.81 + 0.729
    assert one(res, "qaly") == pytest.approx(0.8 * h * alive, rel=REL)
    assert one(res, "ly") == pytest.approx(h * alive, rel=REL)
    assert one(res, "cost") == pytest.approx(100 * alive, rel=REL)  # costs are per cycle
    assert one(res, "qaly_undisc") == pytest.approx(0.8 * h * alive, rel=REL)


def test_dead_states_give_no_life_years_but_keep_their_costs():
    model = alive_dead("end", costs={"care": {"Dead": 10.0}}, utility=0.5)
    res = sim.run_cohort(model)
    assert one(res, "ly") == pytest.approx(0.9 + 0.81 + 0.729 + 0.6561, rel=REL)
    assert one(res, "qaly") == pytest.approx(0.5 * (0.9 + 0.81 + 0.729 + 0.6561), rel=REL)
    assert one(res, "cost") == pytest.approx(10 * (0.1 + 0.19 + 0.271 + 0.3439), rel=REL)


# ------------------------------------------------------------------ transition rewards
@pytest.mark.parametrize("correction",
                         ["start", "end", "half-cycle", "trapezoid", "simpson", "simpson-darth"])
def test_transition_rewards_counted_in_full_at_end_of_cycle(correction):
    model = alive_dead(
        correction, utility=0.0,
        transition_costs={"death": {("Alive", "Dead"): 1000.0}},
        transition_utilities={("Alive", "Dead"): -0.5},
        discount_costs=0.05, discount_outcomes=0.03,
    )
    res = sim.run_cohort(model)
    # flow into Dead in cycle t is 0.1 * m_t, charged at the end of the cycle, d(t + 1)
    assert one(res, "cost_death") == pytest.approx(
        1000 * 0.1 * (1 / 1.05 + 0.9 / 1.05**2 + 0.81 / 1.05**3 + 0.729 / 1.05**4), rel=REL)
    assert one(res, "cost_death_undisc") == pytest.approx(1000 * 0.1 * (1 + 0.9 + 0.81 + 0.729), rel=REL)
    assert one(res, "qaly") == pytest.approx(
        -0.5 * 0.1 * (1 / 1.03 + 0.9 / 1.03**2 + 0.81 / 1.03**3 + 0.729 / 1.03**4), rel=REL)
    # the one-off QALY loss is not scaled by the cycle length, but discounted at the end time
    half = sim.run_cohort(model.replace(cycle_length=0.5))
    assert one(half, "qaly") == pytest.approx(
        -0.5 * 0.1 * (1 / 1.03**0.5 + 0.9 / 1.03 + 0.81 / 1.03**1.5 + 0.729 / 1.03**2), rel=REL)
    # from ANY other state: the same here
    anym = model.replace(transition_costs={"death": {(ANY, "Dead"): 1000.0}})
    assert one(sim.run_cohort(anym), "cost_death") == pytest.approx(one(res, "cost_death"), rel=REL)


def test_transition_reward_annual_timing():
    model = alive_dead("half-cycle", T=4, h=0.5, utility=0.0,
                       transition_costs={"death": {("Alive", "Dead"): 1000.0}},
                       discount_costs=0.05, discount_timing="annual")
    res = sim.run_cohort(model)
    # transitions of cycles 0..3 end at years 0.5, 1, 1.5, 2 -> floor: 0, 1, 1, 2
    expected = 1000 * 0.1 * (1 + 0.9 / 1.05 + 0.81 / 1.05 + 0.729 / 1.05**2)
    assert one(res, "cost") == pytest.approx(expected, rel=REL)


# ------------------------------------------------------------------ settings
def test_settings_name_correction_and_discounting():
    res = sim.run_cohort(alive_dead("life-table", discount_costs=0.035, discount_outcomes=0.015), trace=True)
    s = res.settings
    assert s["correction"] == "half-cycle"
    assert s["correction_formula"] == sim.CORRECTIONS["half-cycle"]
    assert s["discount_costs"] == "0.035"
    assert s["discount_outcomes"] == "0.015"
    assert s["discount_timing"] == "exact"
    assert s["cycle_length"] == 1.0 and s["n_cycles"] == 4
    assert res.outcomes.attrs["settings"]["correction"] == "half-cycle"
    assert res.trace.attrs["settings"]["discount_costs"] == "0.035"
    res2 = sim.run_cohort(alive_dead("simpson-darth", discount_costs=[(0, 0.035), (30, 0.03)],
                                     discount_timing="annual"))
    assert res2.settings["correction"] == "simpson-darth"
    assert res2.settings["discount_costs"] == "0.035 from year 0, 0.03 from year 30"
    assert res2.settings["discount_outcomes"] == "0"
    assert res2.settings["discount_timing"] == "annual"


# ------------------------------------------------------------------ tunnel states
SICK_DEATH = [0.3, 0.2, 0.1]
SICK_RECOVER = [0.1, 0.15, 0.2]
SICK_COST = [5000.0, 2000.0, 1000.0]
SICK_UTILITY = [0.5, 0.6, 0.7]
SICK_DEATH_COST = [100.0, 200.0, 300.0]


def tunnel_model(correction, **kw) -> Model:
    return Model(
        states=("Healthy", "Sick", "Dead"),
        strategies=("a", "b"),
        transitions={
            ("Healthy", "Healthy"): C,
            ("Healthy", "Sick"): ByStrategy(a=0.2, b=0.1),
            ("Healthy", "Dead"): 0.05,
            ("Sick", "Sick"): C,
            ("Sick", "Dead"): BySojourn(SICK_DEATH),
            ("Sick", "Healthy"): BySojourn(SICK_RECOVER),
        },
        start={"Healthy": 0.7, "Sick": 0.3},
        horizon=12,
        cycle_length=0.5,
        costs={"care": {"Healthy": 100.0, "Sick": BySojourn(SICK_COST)}},
        utilities={"Healthy": 0.9, "Sick": BySojourn(SICK_UTILITY)},
        transition_costs={"event": {("Sick", "Dead"): BySojourn(SICK_DEATH_COST), (ANY, "Sick"): 50.0}},
        transition_utilities={("Healthy", "Sick"): -0.05},
        tunnels={"Sick": 3},
        dead=("Dead",),
        correction=correction,
        **kw,
    )


def expanded_model(correction, **kw) -> Model:
    tr = {
        ("Healthy", "Healthy"): C,
        ("Healthy", "Sick1"): ByStrategy(a=0.2, b=0.1),
        ("Healthy", "Dead"): 0.05,
    }
    sick = ("Sick1", "Sick2", "Sick3")
    for d, s in enumerate(sick):
        nxt = sick[min(d + 1, 2)]
        tr[(s, nxt)] = C
        tr[(s, "Dead")] = SICK_DEATH[d]
        tr[(s, "Healthy")] = SICK_RECOVER[d]
    return Model(
        states=("Healthy",) + sick + ("Dead",),
        strategies=("a", "b"),
        transitions=tr,
        start={"Healthy": 0.7, "Sick1": 0.3},
        horizon=12,
        cycle_length=0.5,
        costs={"care": {"Healthy": 100.0, **{s: SICK_COST[d] for d, s in enumerate(sick)}}},
        utilities={"Healthy": 0.9, **{s: SICK_UTILITY[d] for d, s in enumerate(sick)}},
        transition_costs={"event": {**{(s, "Dead"): SICK_DEATH_COST[d] for d, s in enumerate(sick)},
                                    ("Healthy", "Sick1"): 50.0}},
        transition_utilities={("Healthy", "Sick1"): -0.05},
        dead=("Dead",),
        correction=correction,
        **kw,
    )


@pytest.mark.parametrize("correction", ["half-cycle", "start", "simpson"])
@pytest.mark.parametrize("disc", [0.0, 0.04])
def test_tunnel_equals_hand_expanded_states(correction, disc):
    kw = dict(discount_costs=disc, discount_outcomes=disc / 2)
    tun = sim.run_cohort(tunnel_model(correction, **kw), trace=True)
    exp = sim.run_cohort(expanded_model(correction, **kw), trace=True)
    cols = [c for c in tun.outcomes.columns if c not in ("draw", "strategy")]
    assert cols == [c for c in exp.outcomes.columns if c not in ("draw", "strategy")]
    for c in cols:
        np.testing.assert_allclose(tun.outcomes[c].to_numpy(), exp.outcomes[c].to_numpy(), rtol=1e-12,
                                   atol=1e-12, err_msg=c)
    t1 = tun.trace.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    t2 = exp.trace.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    assert len(t1) == len(t2) == 2 * 13
    np.testing.assert_allclose(t1["Sick"], t2[["Sick1", "Sick2", "Sick3"]].sum(axis=1), rtol=0, atol=1e-12)
    for s in ("Healthy", "Dead"):
        np.testing.assert_allclose(t1[s], t2[s], rtol=0, atol=1e-12)
    # the tunnel matters: a model without sojourn dependence gives different totals
    flat = tunnel_model(correction, **kw).replace(
        transitions={**tunnel_model(correction).transitions, ("Sick", "Dead"): 0.3, ("Sick", "Healthy"): 0.1},
    )
    assert not np.allclose(sim.run_cohort(flat).outcomes["ly"], tun.outcomes["ly"], rtol=1e-6)


# ------------------------------------------------------------------ life-table mortality
def qx_table(sex):
    df = pd.read_csv(LIFETABLE_CSV, comment="#")
    df = df[df["sex"] == sex]
    return dict(zip(df["age"].astype(int), df["qx"].astype(float), strict=True))


def hand_trace(start_age, per_year, T, sex, disease=0.0):
    """Alive shares m_0..m_T with per-cycle death probability from qx at floor(age).

    Ages are exact fractions (start_age + k / per_year); ages past the table's
    last row (100, "and over") use that row.
    """
    qx = qx_table(sex)
    h = 1.0 / per_year
    alive = [1.0]
    for k in range(T):
        age = math.floor(Fraction(start_age) + Fraction(k, per_year))
        q_bg = 1 - (1 - qx[min(age, 100)]) ** h
        q = 1 - (1 - q_bg) * (1 - disease)
        alive.append(alive[-1] * (1 - q))
    return np.array(alive)


@pytest.mark.parametrize("per_year", [1, 2, 12])
@pytest.mark.parametrize("sex", ["female", "male"])
def test_background_mortality_from_life_table(per_year, sex):
    h = 1.0 / per_year
    years = 25
    T = years * per_year
    mort = LifeTable.packaged("us_2017_nchs").mortality(sex)
    model = Model(
        states=("Alive", "Dead"), strategies=("bg", "disease"),
        transitions={("Alive", "Alive"): C,
                     ("Alive", "Dead"): ByStrategy(bg=mort, disease=AnyOf(mort, 0.02))},
        start={"Alive": 1.0}, horizon_years=years, cycle_length=h, start_age=70,
        utilities={"Alive": 1.0}, dead=("Dead",), correction="end",
    )
    res = sim.run_cohort(model, trace=True)
    for strat, disease in (("bg", 0.0), ("disease", 0.02)):
        alive = hand_trace(70, per_year, T, sex, disease)
        got = res.trace[(res.trace["strategy"] == strat) & (res.trace["state"] == "Alive")]
        np.testing.assert_allclose(got["share"].to_numpy(), alive, rtol=1e-12, atol=0)
        row = res.outcomes[res.outcomes["strategy"] == strat]
        assert float(row["ly"].iloc[0]) == pytest.approx(h * alive[1:].sum(), rel=REL)
    # sanity of the hand computation itself: a 70-year-old woman's qx is about 1.5 %
    assert 0.005 < qx_table("female")[70] < 0.03


def test_life_table_mortality_uses_age_not_model_time():
    """Starting older gives higher mortality: start_age 80 vs 70."""
    mort = LifeTable.packaged("us_2017_nchs").mortality("female")
    base = dict(states=("Alive", "Dead"), strategies=("x",),
                transitions={("Alive", "Alive"): C, ("Alive", "Dead"): mort}, start={"Alive": 1.0},
                horizon=10, dead=("Dead",), correction="end")
    res70 = sim.run_cohort(Model(start_age=70, **base))
    res80 = sim.run_cohort(Model(start_age=80, **base))
    ly70, ly80 = float(res70.outcomes["ly"].iloc[0]), float(res80.outcomes["ly"].iloc[0])
    assert ly70 == pytest.approx(hand_trace(70, 1, 10, "female")[1:].sum(), rel=REL)
    assert ly80 == pytest.approx(hand_trace(80, 1, 10, "female")[1:].sum(), rel=REL)
    assert ly80 < ly70


@pytest.mark.parametrize("start_age, per_year, years", [(65.5, 2, 10), (95, 1, 10), (97.25, 4, 5)])
def test_life_table_fractional_start_age_and_open_end(start_age, per_year, years):
    mort = LifeTable.packaged("us_2017_nchs").mortality("total")
    model = Model(states=("Alive", "Dead"), strategies=("x",),
                  transitions={("Alive", "Alive"): C, ("Alive", "Dead"): mort}, start={"Alive": 1.0},
                  horizon_years=years, cycle_length=1 / per_year, start_age=start_age, dead=("Dead",),
                  correction="start")
    res = sim.run_cohort(model, trace=True)
    alive = hand_trace(start_age, per_year, years * per_year, "total")
    got = res.trace[res.trace["state"] == "Alive"]["share"].to_numpy()
    np.testing.assert_allclose(got, alive, rtol=1e-12, atol=1e-300)
    assert float(res.outcomes["ly"].iloc[0]) == pytest.approx(alive[:-1].sum() / per_year, rel=REL)
