"""The compiled path of run_pathway (Numba loop over patients) against the SimPy engine and a slow reference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import _config
from sim.errors import HtaError
from sim.patient import (
    Event,
    Exponential,
    Gompertz,
    LogLogistic,
    LogNormal,
    Pathway,
    PiecewiseExponential,
    TimeToEvent,
    Weibull,
    background_mortality,
    run_pathway,
    uniforms,
)
from sim.patient.compiled import plan_pathways, run_compiled
from sim.patient.pathway import discounted_integral

TIMES = {"exp": Exponential(0.2), "weibull": Weibull(1.3, 4.0), "piecewise": PiecewiseExponential([0, 1, 3],
                                                                                                 [0.1, 0.0, 0.3]),
         "gompertz": Gompertz(0.1, 0.05), "gompertz_neg": Gompertz(-0.3, 0.2), "loglogistic": LogLogistic(1.5, 5.0),
         "lognormal": LogNormal(1.2, 0.8)}
EXACT = ("exp", "weibull", "piecewise")


def pathways(t, hr=True, rates=(0.035, 0.015)):
    """Two strategies, competing events with both clocks, one-off cost and QALYs, hazard ratios."""
    def one(b):
        h1 = {"x": b, "age": 0.01} if hr else {}
        h2 = {"age": 0.02} if hr else {}
        return Pathway(
            states=("H", "S", "D", "E"), start="H", horizon=30.0,
            events={"H": [Event("S", t, hr=h1), Event("D", Exponential(0.02), clock="markov", cost=500.0)],
                    "S": [Event("H", Weibull(0.8, 2.0), qaly=-0.1, hr=h2), Event("D", t, clock="markov"),
                          Event("E", Exponential(0.05), cost=1000.0)]},
            costs={"H": 100.0, "S": 2000.0, "E": 50.0}, utilities={"H": 0.9, "S": 0.6, "E": 0.3}, dead=("D",),
            discount_costs=rates[0], discount_outcomes=rates[1])
    return {"A": one(0.3), "B": one(-0.2)}


def population(n, seed=0):
    g = np.random.default_rng(seed)
    return pd.DataFrame({"x": g.normal(size=n), "age": g.integers(40, 80, n)})


def numbers(res):
    o = res.outcomes
    return o[[c for c in o.columns if c not in ("patient", "strategy", "x", "age")]].to_numpy(dtype=float)


@pytest.mark.parametrize("fam", EXACT)
@pytest.mark.parametrize("rates", [(0.035, 0.015), (0.03, 0.03), (0.0, 0.0)])
def test_exact_families_equal_simpy_to_the_bit(fam, rates):
    pop = population(300)
    p = pathways(TIMES[fam], rates=rates)
    a = run_pathway(p, seed=11, population=pop, engine="simpy")
    b = run_pathway(p, seed=11, population=pop, engine="compiled")
    np.testing.assert_array_equal(numbers(a), numbers(b))
    assert a.outcomes.columns.tolist() == b.outcomes.columns.tolist()
    assert b.settings["path"].startswith("compiled") and a.settings["path"].startswith("SimPy")
    auto = run_pathway(p, seed=11, population=pop)
    assert auto.settings["path"].startswith("compiled") and "path_reason" not in auto.settings
    np.testing.assert_array_equal(numbers(auto), numbers(b))


@pytest.mark.parametrize("fam", ["gompertz", "gompertz_neg", "loglogistic", "lognormal"])
def test_other_families_equal_simpy_to_rounding(fam):
    pop = population(300)
    p = pathways(TIMES[fam])
    a = numbers(run_pathway(p, seed=3, population=pop, engine="simpy"))
    b = numbers(run_pathway(p, seed=3, population=pop, engine="compiled"))
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    auto = run_pathway(p, seed=3, population=pop)
    assert auto.settings["path"].startswith("SimPy") and "bit" in auto.settings["path_reason"]


def test_background_mortality_of_a_fixed_age_is_exact():
    from sim import LifeTable

    lt = LifeTable.packaged("us_2017_nchs")
    p = {"A": Pathway(states=("Alive", "Dead"), start="Alive", horizon=60.0, costs={"Alive": 10.0},
                      utilities={"Alive": 0.8}, dead=("Dead",), discount_costs=0.03, discount_outcomes=0.03,
                      events={"Alive": [Event("Dead", background_mortality(lt, "male", 63.5), clock="markov"),
                                        Event("Dead", Exponential(0.01), cost=100.0)]})}
    a = run_pathway(p, 500, seed=1, engine="simpy")
    b = run_pathway(p, 500, seed=1)
    assert b.settings["path"].startswith("compiled")
    np.testing.assert_array_equal(numbers(a), numbers(b))


def test_same_numbers_whatever_threads_and_ranges(monkeypatch):
    pop = population(1000, 4)
    p = pathways(TIMES["weibull"])
    states = ["H", "S", "D", "E"]
    plan = plan_pathways(p, states)
    outs = []
    for n in (1, 2, 3, 7):
        monkeypatch.setattr(_config, "THREADS", n)
        outs.append(run_compiled(plan, 1000, 9, 2, pop, 4))
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    from sim.patient._kernels import pathway_kernel

    attrs = pop[plan.attributes].to_numpy(dtype=float)
    fk, fp, fw, b, H, r = plan.per_patient
    head = plan.arrays[:14] + (b, H, r) + plan.arrays[17:]
    piece = np.empty((1000, 2, 11))
    for lo, hi in ((500, 999), (0, 13), (999, 1000), (13, 500)):  # odd ranges, out of order
        pathway_kernel(np.uint64(9), np.uint64(2), lo, *head, fk[lo:hi], fp[lo:hi], fw[lo:hi], attrs[lo:hi],
                       piece[lo:hi])
    np.testing.assert_array_equal(piece, outs[0])


def slow_reference(path, n, seed, pop=None, draw=0):
    """The obvious patient loop: numpy's vectorised sample() on one uniform at a time."""
    out = np.zeros((n, 7))
    rc, ro = path.discount_costs, path.discount_outcomes
    for j in range(n):
        attrs = pop.iloc[j].to_dict() if pop is not None else {}
        s, t, entered, stay = path.start, 0.0, 0.0, 0
        while True:
            evs = path.events.get(s, [])
            times = []
            for m, e in enumerate(evs):
                u = uniforms(seed, draw, j, stay * path.max_events + m)
                hr = math.exp(sum(b * float(attrs[a]) for a, b in e.hr.items())) if e.hr else 1.0
                a = t if e.clock == "markov" else t - entered
                times.append(float(e.time.sample(u, elapsed=a, hr=hr)))
            k = int(np.argmin(times)) if times else None
            t_next = t + (times[k] if times else math.inf)
            t_end = min(t_next, path.horizon)
            c, q = path.costs.get(s, 0.0), path.utilities.get(s, 0.0)
            out[j, 0] += c * discounted_integral(rc, t, t_end)
            out[j, 1] += q * discounted_integral(ro, t, t_end)
            out[j, 3] += c * (t_end - t)
            out[j, 4] += q * (t_end - t)
            if s not in path.dead:
                out[j, 2] += discounted_integral(ro, t, t_end)
                out[j, 5] += t_end - t
            if t_next > path.horizon or not times or math.isinf(times[k]):
                break
            e = evs[k]
            out[j, 0] += e.cost * (1 + rc) ** -t_end
            out[j, 1] += e.qaly * (1 + ro) ** -t_end
            out[j, 3] += e.cost
            out[j, 4] += e.qaly
            s, t, entered, stay = e.to, t_end, t_end, stay + 1
        out[j, 6] = stay
    return out


@pytest.mark.parametrize("fam", list(TIMES))
def test_compiled_matches_slow_reference(fam):
    pop = population(60, 8)
    p = pathways(TIMES[fam])
    res = run_pathway(p, seed=21, population=pop, draw=3, engine="compiled").outcomes
    for s in p:
        got = res[res["strategy"] == s][["cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc",
                                         "events"]].to_numpy()
        np.testing.assert_allclose(got, slow_reference(p[s], 60, 21, pop, draw=3), rtol=1e-9, atol=1e-9)


def test_mean_life_years_within_monte_carlo_error():
    # one exponential death at rate 0.1 over 20 years, undiscounted: E[LY] = (1 - exp(-2)) / 0.1
    p = {"A": Pathway(states=("A", "D"), start="A", horizon=20.0, dead=("D",),
                      events={"A": [Event("D", Exponential(0.1))]})}
    ly = run_pathway(p, 40_000, seed=2).outcomes["ly_undisc"].to_numpy()
    se = ly.std() / math.sqrt(len(ly))
    assert abs(ly.mean() - (1 - math.exp(-2.0)) / 0.1) < 4 * se
    # and a Weibull time to the same death against its restricted mean, by quadrature
    w = Weibull(1.5, 12.0)
    p = {"A": Pathway(states=("A", "D"), start="A", horizon=20.0, dead=("D",), events={"A": [Event("D", w)]})}
    ly = run_pathway(p, 40_000, seed=2).outcomes["ly_undisc"].to_numpy()
    grid = np.linspace(0, 20, 20_001)
    rmst = np.trapezoid(np.exp(-(grid / 12.0) ** 1.5), grid)
    assert abs(ly.mean() - rmst) < 4 * ly.std() / math.sqrt(len(ly))


def test_time_functions_of_the_patient_are_exact():
    from sim import LifeTable

    lt = LifeTable.packaged("us_2017_nchs")
    calls = []

    def death(pt):
        calls.append(1)
        return background_mortality(lt, "male" if pt["male"] else "female", pt["age"])

    p = {s: Pathway(states=("Well", "Ill", "Dead"), start="Well", horizon=50.0, dead=("Dead",),
                    costs={"Well": 10.0, "Ill": 500.0}, utilities={"Well": 0.9, "Ill": 0.5},
                    discount_costs=0.035, discount_outcomes=0.035,
                    events={"Well": [Event("Ill", Weibull(1.2, 15.0), hr={"x": b}), Event("Dead", death,
                                                                                          clock="markov")],
                            "Ill": [Event("Dead", death, clock="markov"),
                                    Event("Dead", lambda pt: Exponential(0.05 + 0.01 * pt["male"]), cost=900.0)]})
         for s, b in (("A", 0.2), ("B", -0.4))}
    g = np.random.default_rng(5)
    pop = pd.DataFrame({"age": g.integers(45, 90, 400), "male": g.integers(0, 2, 400), "x": g.normal(size=400)})
    a = run_pathway(p, seed=8, population=pop, engine="simpy")
    calls.clear()
    b = run_pathway(p, seed=8, population=pop)
    assert b.settings["path"].startswith("compiled")
    assert len(calls) < 400  # evaluated once per distinct patient, not per patient
    np.testing.assert_array_equal(numbers(a), numbers(b))


class Doubled(TimeToEvent):
    """A family the compiled path does not know: H(t) = 2 t."""

    def cumhaz(self, t):
        return 2.0 * np.asarray(t, dtype=float)

    def inv_cumhaz(self, h):
        return np.asarray(h, dtype=float) / 2.0


def test_engine_choice_and_errors():
    fn = {"A": Pathway(states=("A", "D"), start="A", horizon=5.0, dead=("D",),
                       events={"A": [Event("D", lambda pt: Doubled() if pt["x"] > 1 else Exponential(0.3))]})}
    pop = population(20)
    res = run_pathway(fn, seed=1, population=pop)
    assert res.settings["path"].startswith("SimPy") and "returned a Doubled" in res.settings["path_reason"]
    with pytest.raises(HtaError, match="returned a Doubled.*engine='simpy'"):
        run_pathway(fn, seed=1, population=pop, engine="compiled")
    optional = {"A": Pathway(states=("A", "D"), start="A", horizon=5.0, dead=("D",),
                             events={"A": [Event("D", lambda pt: Exponential(pt.get("weight", 70) / 700
                                                                              + abs(pt["x"]) / 10))]})}
    np.testing.assert_array_equal(numbers(run_pathway(optional, seed=1, population=pop)),
                                  numbers(run_pathway(optional, seed=1, population=pop, engine="simpy")))
    lacks = {"A": Pathway(states=("A", "D"), start="A", horizon=5.0, dead=("D",),
                          events={"A": [Event("D", lambda pt: Exponential(pt["weight"] / 100))]})}
    with pytest.raises(HtaError, match="reads patient attribute 'weight', which the population lacks; its columns: x"):
        run_pathway(lacks, seed=1, population=pop)
    fixed = {"A": Pathway(states=("A", "D"), start="A", horizon=5.0, dead=("D",),
                          events={"A": [Event("D", Doubled())]})}
    with pytest.raises(HtaError, match="is a Doubled, which the compiled path does not draw"):
        run_pathway(fixed, 5, seed=1, engine="compiled")
    gomp = {"A": Pathway(states=("A", "D"), start="A", horizon=5.0, dead=("D",),
                         events={"A": [Event("D", lambda pt: Gompertz(0.1, 0.1) if pt["x"] > 0 else
                                             Exponential(0.3))]})}
    res = run_pathway(gomp, seed=1, population=pop)
    assert res.settings["path"].startswith("SimPy") and "bit" in res.settings["path_reason"]
    forced = run_pathway(gomp, seed=1, population=pop, engine="compiled")
    np.testing.assert_allclose(numbers(forced), numbers(res), rtol=1e-12)
    with pytest.raises(HtaError, match="engine 'fast' is not one of"):
        run_pathway(pathways(TIMES["exp"]), 5, seed=1, population=population(5), engine="fast")
    forced = run_pathway(pathways(TIMES["exp"]), seed=1, population=population(5), engine="simpy")
    assert forced.settings["path"].startswith("SimPy") and "path_reason" not in forced.settings


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(0.0, 3.0), shape=st.floats(0.3, 4.0), scale=st.floats(0.1, 50.0),
       horizon=st.floats(0.5, 80.0), rc=st.floats(0.0, 0.1), ro=st.floats(0.0, 0.1), seed=st.integers(0, 2**63))
def test_property_exact_against_simpy(rate, shape, scale, horizon, rc, ro, seed):
    p = {"X": Pathway(states=("A", "B", "D"), start="A", horizon=horizon, dead=("D",),
                      costs={"A": 1.0, "B": 3.0}, utilities={"A": 1.0, "B": 0.5},
                      discount_costs=rc, discount_outcomes=ro,
                      events={"A": [Event("B", Weibull(shape, scale)), Event("D", Exponential(rate), cost=2.0)],
                              "B": [Event("A", Exponential(rate), clock="markov", qaly=-0.2),
                                    Event("D", Weibull(shape, scale), clock="markov")]})}
    a = run_pathway(p, 40, seed=seed, engine="simpy")
    b = run_pathway(p, 40, seed=seed, engine="compiled")
    np.testing.assert_array_equal(numbers(a), numbers(b))
