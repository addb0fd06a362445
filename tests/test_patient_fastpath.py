"""The patient engine's fast paths against the slow reference (tests/naive.py).

``run_pathway`` samples exponential and Weibull times inline, makes random numbers
for a whole batch ahead, reuses discount factors between stays, skips zero accruals
and ends a patient's process in a state where no event can happen. Each of these
must leave the results those of the obvious loop in ``naive.run_pathway_naive``.
"""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import run_pathway_naive

import sim
from sim import HtaError
from sim.patient import (
    Event,
    Exponential,
    Gompertz,
    LogLogistic,
    LogNormal,
    Pathway,
    Weibull,
    background_mortality,
    run_pathway,
    uniforms,
)
from sim.patient import engine as engine_module
from sim.patient.streams import batch_uniforms, patient_key, uniform_at, uniform_one

TOTALS = ["cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc"]


def _check_against_naive(pathway, n, seed, population=None, draw=0, batch_size=None):
    kw = {} if batch_size is None else {"batch_size": batch_size}
    out = run_pathway({"x": pathway}, None if population is not None else n, seed=seed, population=population,
                      draw=draw, **kw).outcomes
    records = population.to_dict("records") if population is not None else None
    ref = run_pathway_naive(pathway, len(out), lambda j, slot: uniform_one(seed, draw, j, slot), records)
    np.testing.assert_array_equal(out["events"].to_numpy(), ref["events"])
    for s in pathway.states:
        np.testing.assert_array_equal(out[f"reached_{s}"].to_numpy(), ref[f"reached_{s}"], err_msg=s)
    for c in TOTALS:
        np.testing.assert_allclose(out[c].to_numpy(), ref[c], rtol=1e-11, atol=1e-11, err_msg=c)
    return out


def _cycling():
    """Back-and-forth pathway: many stays (beyond the numbers made ahead), both clocks,
    every kind of distribution, one-off costs and QALYs, an alive absorbing state,
    a dead state with a cost, an event that never happens, different discount rates."""
    g = Gompertz(0.08, 0.002)
    return Pathway(
        states=("A", "B", "C", "Cured", "Dead"), start="A", dead=("Dead",), horizon=60.0,
        events={"A": [Event("B", Exponential(0.8), cost=10.0, qaly=-0.01), Event("Dead", g, clock="markov"),
                      Event("Cured", Exponential(0.0))],
                "B": [Event("A", Weibull(0.7, 0.5), cost=3.0), Event("C", LogNormal(0.5, 1.0)),
                      Event("Dead", g, clock="markov")],
                "C": [Event("A", LogLogistic(1.5, 2.0), clock="markov"), Event("Cured", Exponential(0.05)),
                      Event("Dead", Weibull(2.0, 30.0), clock="markov")]},
        costs={"A": 100.0, "B": 2000.0, "C": 50.0, "Dead": 7.0}, utilities={"A": 0.95, "B": 0.5, "C": 0.7,
                                                                            "Cured": 1.0},
        discount_costs=0.03, discount_outcomes=0.015)


def test_cycling_pathway_matches_the_naive_loop():
    out = _check_against_naive(_cycling(), 1_500, seed=3, batch_size=400)
    assert out["events"].max() > 2 * engine_module._PRE_STAYS  # slots made one at a time were used
    assert out["reached_Cured"].mean() > 0.01  # the alive absorbing state accrues to the horizon


@pytest.mark.parametrize("rates", [(0.0, 0.0), (0.04, 0.04), (0.0, 0.05)])
def test_discount_rates_match_the_naive_loop(rates):
    import dataclasses

    p = dataclasses.replace(_cycling(), discount_costs=rates[0], discount_outcomes=rates[1])
    _check_against_naive(p, 500, seed=11)


def test_covariates_and_time_functions_match_the_naive_loop():
    rng = np.random.default_rng(0)
    n = 600
    pop = pd.DataFrame({"male": rng.integers(0, 2, n), "age": rng.integers(60, 80, n).astype(float),
                        "bmi": rng.normal(27, 4, n)})
    pop["sex"] = np.where(pop.male == 1, "male", "female")
    table = sim.LifeTable.packaged("us_2017_nchs")

    def mortality(p):
        return background_mortality(table, p["sex"], p["age"])

    p = Pathway(states=("Well", "Ill", "Dead"), start="Well", dead=("Dead",), horizon=30.0,
                events={"Well": [Event("Ill", Exponential(0.1), hr={"male": math.log(1.5), "bmi": 0.03}),
                                 Event("Dead", mortality, clock="markov")],
                        "Ill": [Event("Dead", Weibull(1.2, 6.0), hr={"male": 0.2}),
                                Event("Well", lambda a: Exponential(0.2 if a["age"] < 70 else 0.1)),
                                Event("Dead", mortality, clock="markov")]},
                costs={"Well": 10.0, "Ill": 900.0}, utilities={"Well": 0.85, "Ill": 0.55},
                discount_costs=0.035, discount_outcomes=0.035)
    _check_against_naive(p, n, seed=9, population=pop, draw=4, batch_size=250)


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(1e-3, 5.0), shape=st.floats(0.3, 4.0), scale=st.floats(0.1, 50.0),
       beta=st.floats(-2.0, 2.0), clock=st.sampled_from(["semi", "markov"]), horizon=st.floats(0.5, 100.0),
       r=st.sampled_from([0.0, 0.035]), seed=st.integers(0, 2**32))
def test_inline_exponential_and_weibull_are_the_distributions_own(rate, shape, scale, beta, clock, horizon, r,
                                                                  seed):
    """The engine's inline formulas draw the same times as ``sample_one`` (events and
    visited states equal, totals to rounding), with and without a hazard ratio, on
    either clock, and with elapsed time on the clock (second stay)."""
    pop = pd.DataFrame({"x": np.linspace(-1.0, 1.0, 40)})
    p = Pathway(states=("A", "B", "D"), start="A", dead=("D",), horizon=horizon, utilities={"A": 1.0, "B": 0.5},
                costs={"B": 100.0}, discount_costs=r, discount_outcomes=r,
                events={"A": [Event("B", Exponential(rate), hr={"x": beta}), Event("D", Weibull(shape, scale))],
                        "B": [Event("D", Weibull(shape, scale), clock=clock, hr={"x": beta}),
                              Event("A", Exponential(rate), clock=clock)]})
    _check_against_naive(p, 40, seed=seed, population=pop)


def test_results_do_not_depend_on_the_numbers_made_ahead(monkeypatch):
    """Slots beyond those made for the whole batch come from uniform_one: the same numbers."""
    a = run_pathway({"x": _cycling()}, 800, seed=5).outcomes
    monkeypatch.setattr(engine_module, "_PRE_STAYS", 1)
    b = run_pathway({"x": _cycling()}, 800, seed=5, batch_size=123).outcomes
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**63), draw=st.integers(0, 2**63), patient=st.integers(0, 2**63),
       slot=st.integers(0, 2**63))
def test_uniform_one_is_uniforms_bit_for_bit(seed, draw, patient, slot):
    u = float(uniforms(seed, draw, patient, slot))
    assert uniform_one(seed, draw, patient, slot) == u
    assert uniform_at(patient_key(seed, draw, patient), slot) == u


def test_uniforms_broadcast_keys_as_before():
    """Keys mixed at their own shapes give the full broadcast, element by element."""
    d, p, s = np.arange(3)[:, None, None], np.arange(4)[None, :, None], np.arange(5)
    u = uniforms(7, d, p, s)
    assert u.shape == (3, 4, 5)
    for i, j, k in [(0, 0, 0), (2, 3, 4), (1, 2, 3)]:
        assert u[i, j, k] == uniform_one(7, i, j, k)
    assert uniforms(7, 1, 2, 3).shape == ()


@pytest.mark.parametrize("seed, draw, lo, hi, slots", [(1, 0, 0, 200, 4), (2**63, 2**62 + 5, 10**9, 10**9 + 37, 7),
                                                       (0, 0, 5, 6, 1)])
def test_batch_uniforms_are_uniforms(seed, draw, lo, hi, slots):
    expected = uniforms(seed, draw, np.arange(lo, hi)[:, None], np.arange(slots)[None, :]).ravel().tolist()
    assert batch_uniforms(seed, draw, lo, hi, slots) == expected


@pytest.mark.parametrize("engine", ["simpy", "compiled"])
def test_time_function_is_called_once_per_patient_and_event(engine):
    calls = []

    def time(attrs):
        calls.append(attrs["id"])
        return Exponential(2.0)

    p = Pathway(states=("A", "B"), start="A", horizon=50.0,
                events={"A": [Event("B", time)], "B": [Event("A", Exponential(2.0))]})
    out = run_pathway({"x": p}, seed=1, population=pd.DataFrame({"id": range(30)}), engine=engine).outcomes
    assert out["events"].min() > 10  # many stays in A per patient
    assert sorted(calls) == list(range(30))


def test_time_function_returning_something_else_is_named():
    p = Pathway(states=("A", "B"), start="A", horizon=5.0, events={"A": [Event("B", lambda a: 0.5)]})
    with pytest.raises(HtaError, match="event to 'B': the time function returned float"):
        run_pathway({"x": p}, 3, seed=1)


def test_many_states_reached_flags():
    """More states than fit a 64-bit mask: the flags are still right."""
    states = tuple(f"S{i}" for i in range(70))
    p = Pathway(states=states, start="S0", horizon=1e6,
                events={f"S{i}": [Event(f"S{i + 1}", Exponential(1.0))] for i in range(69)})
    out = run_pathway({"x": p}, 5, seed=2).outcomes
    assert (out["events"] == 69).all()
    assert (out[[f"reached_{s}" for s in states]].to_numpy() == 1.0).all()


def test_no_event_possible_ends_the_process_with_exact_accrual():
    """A hazard ratio of 0 makes the only event impossible: the patient stays to the horizon."""
    p = Pathway(states=("A", "B"), start="A", horizon=10.0, utilities={"A": 0.5}, discount_outcomes=0.03,
                events={"A": [Event("B", Exponential(1.0), hr={"immune": -800.0})]})
    out = run_pathway({"x": p}, seed=1, population=pd.DataFrame({"immune": [1.0, 1.0]})).outcomes
    d = math.log1p(0.03)
    np.testing.assert_allclose(out["qaly"], 0.5 * (1 - math.exp(-d * 10.0)) / d, rtol=1e-13)
    assert (out["events"] == 0).all()


@pytest.mark.parametrize("kw, match", [
    ({"seed": -1}, "seed -1 must be a whole number >= 0"),
    ({"seed": 1.5}, "seed 1.5 must be a whole number"),
    ({"seed": 2**64}, "seed 18446744073709551616 is too large"),
    ({"seed": 1, "draw": 2**70}, "draw 1180591620717411303424 is too large"),
])
def test_bad_stream_keys_are_named(kw, match):
    p = Pathway(states=("A", "B"), start="A", horizon=5.0, events={"A": [Event("B", Exponential(1.0))]})
    with pytest.raises(HtaError, match=match):
        run_pathway({"x": p}, 3, **kw)


def test_numpy_integer_keys_give_the_same_numbers():
    p = _cycling()
    a = run_pathway({"x": p}, 50, seed=2**63 + 7, draw=3).outcomes
    b = run_pathway({"x": p}, 50, seed=np.uint64(2**63 + 7), draw=np.int64(3)).outcomes
    pd.testing.assert_frame_equal(a, b, check_exact=True)
