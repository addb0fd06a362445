"""The conventions table of docs/conventions.md: each toolkit's formula, computed by hand, equals
``run_cohort`` with the settings the table maps it to.

One small model serves every row: Well -> Ill -> Dead with a cost that changes with the cycle (so
that cycle numbering matters), a utility, and a one-off cost on death. Each test writes the
toolkit's own formula (its trace, its counting and its discounting) in plain numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim import ANY, C, Model

T = 6
P = np.array([[0.80, 0.15, 0.05],
              [0.00, 0.70, 0.30],
              [0.00, 0.00, 1.00]])
UTIL = np.array([0.9, 0.6, 0.0])
DEATH_COST = 500.0


def well_cost_of(model_time):
    """Cost of Well as a function of the toolkit's 1-based cycle number (heemod's model_time)."""
    return 100.0 * model_time


def model(**settings) -> Model:
    return Model(
        states=("Well", "Ill", "Dead"), strategies=("only",),
        transitions={("Well", "Ill"): 0.15, ("Well", "Dead"): 0.05, ("Well", "Well"): C,
                     ("Ill", "Dead"): 0.30, ("Ill", "Ill"): C},
        start={"Well": 1.0}, horizon=T, dead=("Dead",),
        costs={"care": {"Well": lambda p, t: well_cost_of(t.model_time), "Ill": 1000.0}},
        utilities={"Well": 0.9, "Ill": 0.6},
        transition_costs={"death": {(ANY, "Dead"): DEATH_COST}},
        **settings,
    )


def trace(n=T):
    m = np.zeros((n + 1, 3))
    m[0, 0] = 1.0
    for k in range(n):
        m[k + 1] = m[k] @ P
    return m


def cost_vector(model_time):
    return np.array([well_cost_of(model_time), 1000.0, 0.0])


def deaths(m, k):
    """Flow into Dead during the cycle from point k to k + 1 (from Well and Ill)."""
    return m[k, 0] * P[0, 2] + m[k, 1] * P[1, 2]


def totals(res):
    row = res.outcomes.iloc[0]
    return float(row["cost"]), float(row["qaly"])


def test_heemod_life_table():
    """heemod ``method = "life-table"`` with ``discount(x, r)``: cycle t (1..T) counts (m_{t-1} + m_t) / 2,
    values at model_time t, discounted by (1 + r)^-(t - 1). Transition costs: none in heemod's states."""
    r = 0.06
    m = trace()
    cost = qaly = 0.0
    for t in range(1, T + 1):
        counts = (m[t - 1] + m[t]) / 2
        d = (1 + r) ** -(t - 1)
        cost += counts @ cost_vector(t) * d
        qaly += counts @ UTIL * d
    res = sim.run_cohort(model(correction="heemod-life-table", discount_costs=r, discount_outcomes=r)
                         .replace(transition_costs={}))
    assert totals(res) == pytest.approx((cost, qaly), rel=1e-12)
    # not what "life-table" (= half-cycle: each half discounted at its own point) gives
    other = sim.run_cohort(model(correction="life-table", discount_costs=r, discount_outcomes=r)
                           .replace(transition_costs={}))
    assert abs(totals(other)[0] - cost) > 1e-3 * cost


def test_heemod_beginning_and_end():
    """heemod's ``correct_counts`` (R/correct_counts.R): "end" counts n_{t-1} (transitions at the end of the
    cycle), with discount(x, r) = x (1 + r)^-(t - 1): "start"; "beginning" counts n_t, with
    discount(x, r, first = TRUE) = x (1 + r)^-t (heemod's DMHEE reproduction vignette): "end"."""
    r = 0.06
    m = trace()
    heemod_end = sum(m[t - 1] @ cost_vector(t) * (1 + r) ** -(t - 1) for t in range(1, T + 1))
    heemod_beginning = sum(m[t] @ cost_vector(t) * (1 + r) ** -t for t in range(1, T + 1))
    base = model(discount_costs=r).replace(transition_costs={})
    assert totals(sim.run_cohort(base.replace(correction="start")))[0] == pytest.approx(heemod_end, rel=1e-12)
    assert totals(sim.run_cohort(base.replace(correction="end")))[0] == pytest.approx(heemod_beginning, rel=1e-12)


def test_hesim_trapezoid_continuous_discounting():
    """hesim (``sim_costs``/``sim_qalys``, ``method = "trapz"``): trapezoid rule on the point values,
    discounted continuously at exp(-dr t): our "trapezoid" with the annual rate exp(dr) - 1.
    hesim's state values do not change with the cycle here (a fixed Ill cost, utilities)."""
    dr = 0.03
    m = trace()
    times = np.arange(T + 1.0)
    f_q = np.array([m[k] @ UTIL * math.exp(-dr * times[k]) for k in range(T + 1)])
    qaly = float(np.sum((f_q[1:] + f_q[:-1]) / 2 * np.diff(times)))
    res = sim.run_cohort(model(correction="trapezoid", discount_outcomes=math.exp(dr) - 1))
    assert totals(res)[1] == pytest.approx(qaly, rel=1e-12)


def _darth(weights, r=0.03):
    """DARTH: y_t = sum(A_t * R_t) over points t = 0..T (A_0 = diag(m_0); A_t the flows of the cycle
    ending at t, R_t state rewards of the destination plus transition rewards), times wcc_t (1 + r)^-t.
    The state reward of point t is the cost of cycle t (model cycle t, heemod's model_time t + 1)."""
    m = trace()
    cost = qaly = 0.0
    for t in range(T + 1):
        y_c = m[t] @ cost_vector(t + 1) + (deaths(m, t - 1) * DEATH_COST if t > 0 else 0.0)
        y_q = m[t] @ UTIL
        cost += y_c * weights[t] * (1 + r) ** -t
        qaly += y_q * weights[t] * (1 + r) ** -t
    return cost, qaly


def test_darth_simpson_with_transition_rewards():
    w = np.array([(1 / 3) * (4 if t % 2 == 0 else 2) for t in range(T + 1)])  # gen_wcc("Simpson1/3")
    w[0] = w[-1] = 1 / 3
    res = sim.run_cohort(model(correction="simpson-darth", transition_rewards="corrected",
                               discount_costs=0.03, discount_outcomes=0.03))
    assert totals(res) == pytest.approx(_darth(w), rel=1e-12)


def test_darth_and_krijkamp_without_correction():
    """Weight 1 at every point 0..T (DARTH's gen_wcc "none" is not used: v_wcc = 1; Krijkamp 2018 sums
    the rewards of cycles 0..n_t)."""
    res = sim.run_cohort(model(correction="all-points", transition_rewards="corrected",
                               discount_costs=0.03, discount_outcomes=0.03))
    assert totals(res) == pytest.approx(_darth(np.ones(T + 1)), rel=1e-12)


def test_briggs_spreadsheet():
    """Briggs, Claxton & Sculpher (2006) workbooks: rows 1..T of the trace (after each transition),
    the cost of the cycle that ends there, discounted by 1 / (1 + r)^k; transition costs in full."""
    r = 0.06
    m = trace()
    cost = sum((m[k] @ cost_vector(k) + deaths(m, k - 1) * DEATH_COST) * (1 + r) ** -k for k in range(1, T + 1))
    res = sim.run_cohort(model(correction="end", discount_costs=r))
    assert totals(res)[0] == pytest.approx(cost, rel=1e-12)


def test_treeage_half_cycle():
    """TreeAge Pro's half-cycle correction (half the reward at stage 0 and at the final stage): the
    trapezoid rule on point rewards, here with state rewards that do not change by stage."""
    r = 0.035
    m = trace()
    w = np.ones(T + 1)
    w[0] = w[-1] = 0.5
    qaly = sum(w[k] * (m[k] @ UTIL) * (1 + r) ** -k for k in range(T + 1))
    res = sim.run_cohort(model(correction="trapezoid", discount_outcomes=r))
    assert totals(res)[1] == pytest.approx(qaly, rel=1e-12)


def test_excel_monthly_cycles_annual_discounting():
    """Excel-style monthly model: rewards of each month counted at its start, every month of year y
    discounted by 1 / (1 + r)^y (``discount_timing="annual"``)."""
    r = 0.035
    h = 1 / 12
    m = trace()
    qaly = sum((m[k] @ UTIL) * h * (1 + r) ** -math.floor(k * h + 1e-9) for k in range(T))
    res = sim.run_cohort(model(correction="start", discount_outcomes=r, discount_timing="annual",
                               cycle_length=h))
    assert totals(res)[1] == pytest.approx(qaly, rel=1e-12)


# ------------------------------------------------------------------ the worked example of docs/conventions.md
def alive_dead(correction, **kw):
    return Model(states=("Alive", "Dead"), strategies=("only",),
                 transitions={("Alive", "Alive"): C, ("Alive", "Dead"): 0.1}, start={"Alive": 1.0},
                 horizon=4, utilities={"Alive": 1.0}, dead=("Dead",), correction=correction, **kw)


def test_worked_example_new_corrections():
    m = [1, 0.9, 0.81, 0.729, 0.6561]
    q = lambda res: float(res.outcomes["qaly"].iloc[0])  # noqa: E731
    assert q(sim.run_cohort(alive_dead("all-points"))) == pytest.approx(sum(m), rel=1e-12)
    assert q(sim.run_cohort(alive_dead("heemod-life-table"))) == pytest.approx(3.26705, rel=1e-12)
    lt = sum((m[j] + m[j + 1]) / 2 * 1.05 ** -j for j in range(4))
    assert q(sim.run_cohort(alive_dead("heemod-life-table", discount_outcomes=0.05))) == pytest.approx(lt, rel=1e-12)
    res = sim.run_cohort(alive_dead("all-points"))
    assert res.settings["correction_formula"] == sim.CORRECTIONS["all-points"]


@pytest.mark.parametrize(("correction", "weights"), [
    ("half-cycle", [1, 1, 1, 0.5]), ("start", [1, 1, 1, 0]), ("end", [1, 1, 1, 1]),
    ("simpson-darth", [2 / 3, 4 / 3, 2 / 3, 1 / 3]), ("all-points", [1, 1, 1, 1]),
])
def test_corrected_transition_rewards(correction, weights):
    """The flow of cycle t (0.1 m_t) gets the weight own + prev of point t + 1 and d(t + 1)."""
    m = [1, 0.9, 0.81, 0.729]
    model = alive_dead(correction, transition_costs={"death": {("Alive", "Dead"): 1000.0}},
                       discount_costs=0.05, transition_rewards="corrected")
    res = sim.run_cohort(model)
    expected = sum(1000 * 0.1 * m[t] * weights[t] * 1.05 ** -(t + 1) for t in range(4))
    assert float(res.outcomes["cost_death"].iloc[0]) == pytest.approx(expected, rel=1e-12)
    assert res.settings["transition_rewards"] == sim.model.conventions.TRANSITION_REWARDS["corrected"]


def test_unknown_transition_rewards_setting():
    with pytest.raises(sim.HtaError, match="transition_rewards 'corected'.*did you mean 'corrected'"):
        alive_dead("half-cycle", transition_rewards="corected")
