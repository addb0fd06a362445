"""Time in a tunnel that carries across states (``carry_sojourn``) equals the hand-expanded model."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import BySojourn, C, HtaError, Model

ONSET, DEATH_H = 0.1, 0.02
PROGRESS = [0.1, 0.2, 0.3]          # Sick -> Sicker by years since onset (0, 1, 2+)
DEATH_K = [0.0, 0.25, 0.4]          # Sicker -> Dead by years since onset (Sicker is entered at 1 or later)
COST_S = [1000.0, 700.0, 500.0]
COST_K = [0.0, 3000.0, 2000.0]


def carried(carry=(("Sick", "Sicker"),), **kw) -> Model:
    return Model(carry_sojourn=carry,
        states=("Healthy", "Sick", "Sicker", "Dead"), strategies=("soc",),
        transitions={("Healthy", "Sick"): ONSET, ("Healthy", "Dead"): DEATH_H, ("Healthy", "Healthy"): C,
                     ("Sick", "Sicker"): BySojourn(PROGRESS), ("Sick", "Dead"): DEATH_H, ("Sick", "Sick"): C,
                     ("Sicker", "Dead"): BySojourn(DEATH_K), ("Sicker", "Sicker"): C},
        start={"Healthy": 1.0}, horizon=10, tunnels={"Sick": 3, "Sicker": 3},
        costs={"care": {"Sick": BySojourn(COST_S), "Sicker": BySojourn(COST_K)}},
        utilities={"Healthy": 1.0, "Sick": 0.8, "Sicker": 0.5}, dead=("Dead",),
        correction="half-cycle", discount_costs=0.035, discount_outcomes=0.035, **kw,
    )


def expanded() -> Model:
    """The same model with the time since onset written into the states (S0, S1, S2, K1, K2)."""
    tr = {("Healthy", "S0"): ONSET, ("Healthy", "Dead"): DEATH_H, ("Healthy", "Healthy"): C}
    for d in range(3):
        nxt, k = f"S{min(d + 1, 2)}", f"K{min(d + 1, 2)}"
        tr[(f"S{d}", k)] = PROGRESS[d]
        tr[(f"S{d}", "Dead")] = DEATH_H
        tr[(f"S{d}", nxt)] = C
    for d in (1, 2):
        tr[(f"K{d}", "Dead")] = DEATH_K[d]
        tr[(f"K{d}", "K2")] = C
    return Model(
        states=("Healthy", "S0", "S1", "S2", "K1", "K2", "Dead"), strategies=("soc",), transitions=tr,
        start={"Healthy": 1.0}, horizon=10,
        costs={"care": {**{f"S{d}": COST_S[d] for d in range(3)}, "K1": COST_K[1], "K2": COST_K[2]}},
        utilities={"Healthy": 1.0, **{f"S{d}": 0.8 for d in range(3)}, "K1": 0.5, "K2": 0.5}, dead=("Dead",),
        correction="half-cycle", discount_costs=0.035, discount_outcomes=0.035,
    )


def test_carried_sojourn_equals_hand_expanded_states():
    a, b = sim.run_cohort(carried(), trace=True), sim.run_cohort(expanded(), trace=True)
    cols = ["cost", "qaly", "ly", "cost_undisc", "qaly_undisc"]
    np.testing.assert_allclose(a.outcomes[cols].to_numpy(), b.outcomes[cols].to_numpy(), rtol=1e-12)
    ta = a.trace.pivot(index="cycle", columns="state", values="share")
    tb = b.trace.pivot(index="cycle", columns="state", values="share")
    np.testing.assert_allclose(ta["Sicker"], tb["K1"] + tb["K2"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(ta["Sick"], tb[["S0", "S1", "S2"]].sum(axis=1), rtol=0, atol=1e-14)


def test_without_carry_the_time_restarts():
    """Control: without carry_sojourn, Sicker is entered at sojourn 0 (cost 0, death 0): a different result."""
    a = sim.run_cohort(carried())
    b = sim.run_cohort(carried().replace(carry_sojourn=()))
    assert abs(float(a.outcomes["cost"].iloc[0]) - float(b.outcomes["cost"].iloc[0])) > 50


def test_carry_sojourn_errors():
    with pytest.raises(HtaError, match="carry_sojourn.*both in tunnels"):
        carried(carry=[("Healthy", "Sick")])
    with pytest.raises(HtaError, match="carry_sojourn: unknown state 'Sickest'"):
        carried().replace(carry_sojourn=[("Sick", "Sickest")])
    with pytest.raises(HtaError, match="must be a list of \\(from_state, to_state\\) pairs"):
        carried().replace(carry_sojourn="Sick")
