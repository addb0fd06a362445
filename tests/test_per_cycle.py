"""Per-cycle reward output: the rewards counted at each trace point sum to the totals."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import ANY, ByCycle, BySojourn, C, Model


def model(correction="half-cycle", **kw) -> Model:
    return Model(
        states=("Well", "Sick", "Dead"), strategies=("a", "b"),
        transitions={("Well", "Sick"): "p", ("Well", "Dead"): 0.02, ("Well", "Well"): C,
                     ("Sick", "Dead"): BySojourn([0.1, 0.2]), ("Sick", "Sick"): C},
        strategy_transitions={"b": {("Well", "Sick"): 0.05}},
        start={"Well": 0.9, "Sick": 0.1}, horizon=8, tunnels={"Sick": 2}, parameters={"p": 0.1},
        costs={"care": {"Well": ByCycle([100.0, 200.0], then=300.0), "Sick": 1000.0}},
        utilities={"Well": 0.95, "Sick": 0.6},
        transition_costs={"death": {(ANY, "Dead"): 5000.0}}, transition_utilities={("Well", "Sick"): -0.05},
        start_costs={"index": {"Sick": 250.0}},
        dead=("Dead",), correction=correction, discount_costs=0.035, discount_outcomes=0.015, **kw,
    )


@pytest.mark.parametrize("correction", ["half-cycle", "start", "end", "simpson-darth", "heemod-life-table"])
@pytest.mark.parametrize("transition_rewards", ["full", "corrected"])
def test_per_cycle_sums_to_totals(correction, transition_rewards):
    res = sim.run_cohort(model(correction, transition_rewards=transition_rewards),
                         {"p": np.array([0.05, 0.1, 0.2])}, per_cycle=True)
    pc = res.per_cycle
    assert list(pc.columns[:3]) == ["draw", "strategy", "cycle"]
    assert sorted(pc["cycle"].unique()) == list(range(9))
    sums = pc.groupby(["draw", "strategy"], observed=True).sum(numeric_only=True).drop(columns="cycle")
    out = res.outcomes.set_index(["draw", "strategy"])[sums.columns]
    np.testing.assert_allclose(sums.to_numpy(), out.to_numpy(), rtol=1e-12)


def test_per_cycle_by_hand():
    """Two states, no discounting, start correction: point k holds m_k (the Alive share) QALYs."""
    m = Model(states=("Alive", "Dead"), strategies=("only",),
              transitions={("Alive", "Alive"): C, ("Alive", "Dead"): 0.1}, start={"Alive": 1.0},
              horizon=4, utilities={"Alive": 1.0}, dead=("Dead",), correction="start",
              transition_costs={"death": {("Alive", "Dead"): 10.0}})
    pc = sim.run_cohort(m, per_cycle=True).per_cycle
    np.testing.assert_allclose(pc["qaly"], [1, 0.9, 0.81, 0.729, 0], rtol=1e-14)
    # deaths of the cycle ending at point k: 0.1 m_{k-1}, charged in full
    np.testing.assert_allclose(pc["cost"], [0, 1.0, 0.9, 0.81, 0.729], rtol=1e-14)
    assert sim.run_cohort(m).per_cycle is None
