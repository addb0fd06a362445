"""Cohort models run patient by patient converge to the cohort engine (cross-engine validation)."""

import numpy as np
import pytest

import cohorts
import sim
from sim import BySojourn, C, HtaError, Model
from sim.patient import run_markov_patients


def _within_3_se(model, n=20_000, seed=11, columns=("cost", "ly", "qaly")):
    cohort = sim.run_cohort(model).summary()
    patients = run_markov_patients(model, n, seed).summary(columns)
    for s in model.strategies:
        for c in columns:
            se = patients.loc[s, f"{c}_se"]
            diff = patients.loc[s, c] - cohort.loc[s, c]
            assert abs(diff) <= 3 * se + 1e-9 * abs(cohort.loc[s, c]), (s, c, diff, se)


def test_hiv_model_converges_to_the_cohort_engine():
    _within_3_se(cohorts.load("hiv_chancellor").build())


def test_age_and_time_dependent_model_converges():
    _within_3_se(cohorts.load("thr_briggs").build())


def _sick_model(tunnel: bool) -> Model:
    """A tunnel (semi-Markov) state: death risk falls with time since falling sick."""
    return Model(
        states=["Well", "Sick", "Dead"], strategies=["a", "b"], start={"Well": 1.0}, horizon=30,
        transitions={("Well", "Well"): C, ("Well", "Sick"): sim.ByStrategy(a=0.10, b=0.06), ("Well", "Dead"): 0.01,
                     ("Sick", "Sick"): C, ("Sick", "Dead"): BySojourn([0.30, 0.15, 0.05]) if tunnel else 0.12},
        costs={"care": {"Sick": BySojourn([5000.0, 1000.0]) if tunnel else 2000.0, "Well": 100.0}},
        utilities={"Well": 0.9, "Sick": 0.6}, transition_costs={"event": {(sim.ANY, "Dead"): 3000.0}},
        tunnels={"Sick": 3} if tunnel else {}, dead=["Dead"], correction="simpson",
        discount_costs=0.035, discount_outcomes=0.035,
    )


@pytest.mark.parametrize("tunnel", [True, False])
def test_tunnel_model_converges(tunnel):
    _within_3_se(_sick_model(tunnel))


def test_results_do_not_depend_on_batch_size_or_strategy_order():
    m = _sick_model(True)
    a = run_markov_patients(m, 3_000, 5, batch_size=3_000).patients
    b = run_markov_patients(m, 3_000, 5, batch_size=257).patients
    np.testing.assert_array_equal(a["cost"].to_numpy(), b["cost"].to_numpy())
    flipped = run_markov_patients(m.replace(strategies=["b", "a"]), 3_000, 5).patients
    for s in ("a", "b"):
        np.testing.assert_array_equal(a.loc[a.strategy == s, "qaly"].to_numpy(),
                                      flipped.loc[flipped.strategy == s, "qaly"].to_numpy())


def test_common_random_numbers_make_paired_differences_precise():
    """Same uniforms in both strategies: the incremental QALY per patient varies far less
    than when the second arm uses independent numbers."""
    m = _sick_model(False)
    p = run_markov_patients(m, 5_000, 9).patients
    other = run_markov_patients(m, 5_000, 10).patients  # independent numbers
    qa = p.loc[p.strategy == "a", "qaly"].to_numpy()
    qb = p.loc[p.strategy == "b", "qaly"].to_numpy()
    qb_indep = other.loc[other.strategy == "b", "qaly"].to_numpy()
    assert np.std(qb - qa) < 0.7 * np.std(qb_indep - qa)


def test_bad_input():
    m = _sick_model(False)
    with pytest.raises(HtaError, match="n_patients 0 must be a whole number >= 1"):
        run_markov_patients(m, 0, 1)
    with pytest.raises(HtaError, match="seed -2"):
        run_markov_patients(m, 10, -2)
    with pytest.raises(HtaError, match="draw 3 is out of range"):
        run_markov_patients(m, 10, 1, draw=3)
