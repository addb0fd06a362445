"""The partitioned survival engine (sim.psm).

* A partitioned survival model whose curves are a Markov chain's state shares
  (PFS = P(progression-free), OS = P(not dead), from the cohort engine's trace) equals
  that chain run by the cohort engine, to 1e-10, for corrections, discounting, timing,
  entry-reward weighting, cycle lengths and time-varying rewards.
* A slow obvious reference (plain Python loops over draws, strategies, cycles).
* Hypothesis properties: shares in [0, 1] summing to 1; more OS area -> more life-years.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import discount_factor, discount_time

import sim
from sim.cohort.engine import run_cohort
from sim.decision.dsa import one_way
from sim.decision.run import ModelRun
from sim.errors import HtaError
from sim.model.spec import ANY, Model
from sim.model.values import ByStrategy, C, P
from sim.psm import CurveCrossingWarning, PartitionedSurvival, PSMRun, run_psm, run_psm_psa
from sim.survival import SurvivalCurve, SurvivalProbability

STATES = ("PF", "P", "D")
PARAMS = {"p_prog": 0.15, "p_d1": 0.03, "p_d2": 0.2, "hr": 0.7, "c_pf": 1200.0, "c_p": 800.0, "c_prog": 3000.0,
          "c_death": 5000.0, "u_pf": 0.8, "u_p": 0.6, "c_start": 400.0}


def _cost_pf(p, t):  # varies by cycle and strategy: a callable value, as the cohort Model takes it
    return p["c_pf"] * (1.0 + 0.02 * t.cycle) * (1.3 if t.strategy == "new" else 1.0)


def markov(correction="half-cycle", dc=0.0, do=0.0, timing="exact", tr="full", h=1.0, T=20):
    """The 3-state chain PF -> P -> D (and PF -> D) whose shares the partitioned model takes as curves."""
    return Model(
        states=STATES, strategies=("soc", "new"),
        transitions={("PF", "P"): ByStrategy(soc="p_prog", new=P("p_prog") * "hr"),
                     ("PF", "D"): "p_d1", ("PF", "PF"): C, ("P", "D"): "p_d2", ("P", "P"): C},
        start={"PF": 1.0}, horizon=T, cycle_length=h, parameters=PARAMS,
        costs={"care": {"PF": _cost_pf, "P": "c_p"}},
        utilities={"PF": "u_pf", "P": "u_p"},
        transition_costs={"event": {("PF", "P"): "c_prog", ("PF", "D"): "c_prog"}, "death": {(ANY, "D"): "c_death"}},
        transition_utilities={("PF", "P"): -0.05, ("PF", "D"): -0.05},
        start_costs={"care": {"PF": "c_start"}}, start_utilities={"PF": -0.01},
        dead=("D",), correction=correction, discount_costs=dc, discount_outcomes=do, discount_timing=timing,
        transition_rewards=tr, name="chain")


def partitioned(model: Model, shares: np.ndarray, **changes) -> PartitionedSurvival:
    """The partitioned model of ``model`` with curves looked up in the chain's shares (n, K, T + 1, 3)."""
    def curve(k, outer):
        return lambda t, p: shares[:, k, :, 0] + (shares[:, k, :, 1] if outer else 0.0)

    fields = dict(
        states=STATES, curves=("pfs", "os"), strategies=model.strategies,
        survival={s: {"pfs": curve(k, False), "os": curve(k, True)} for k, s in enumerate(model.strategies)},
        horizon=model.n_cycles, cycle_length=model.cycle_length, parameters=model.parameters,
        costs=model.costs, utilities=model.utilities,
        entry_costs={"event": {"P": "c_prog"}, "death": {"D": "c_death"}}, entry_utilities={"P": -0.05},
        start_costs=model.start_costs, start_utilities=model.start_utilities,
        correction=model.correction, discount_costs=model.discount_costs, discount_outcomes=model.discount_outcomes,
        discount_timing=model.discount_timing, transition_rewards=model.transition_rewards, name="psm")
    fields.update(changes)
    return PartitionedSurvival(**fields)


def draws(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return {"p_prog": rng.uniform(0.05, 0.3, n), "p_d2": rng.uniform(0.1, 0.4, n), "c_p": rng.uniform(500, 1500, n),
            "u_pf": rng.uniform(0.6, 0.9, n), "c_prog": rng.uniform(1000, 5000, n)}


def chain_shares(model, params):
    res = run_cohort(model, params, trace=True)
    tr = res.trace
    n, K, T1 = len(res.outcomes) // len(model.strategies), len(model.strategies), model.n_cycles + 1
    return res, tr["share"].to_numpy().reshape(n, K, T1, len(model.states))


CASES = [dict(), dict(correction="start"), dict(correction="end"), dict(correction="trapezoid"),
         dict(correction="simpson"), dict(correction="simpson-darth"), dict(correction="all-points"),
         dict(correction="heemod-life-table", dc=0.035, do=0.035),
         dict(dc=0.035, do=0.015), dict(dc=sim.Discount([(0, 0.035), (5, 0.03)]), do=0.035),
         dict(dc=0.035, do=0.035, timing="annual", h=0.25, T=40), dict(tr="corrected", dc=0.035, do=0.035),
         dict(correction="end", tr="corrected", h=1 / 12, T=60, dc=0.05, do=0.05)]


@pytest.mark.parametrize("case", CASES, ids=[",".join(f"{k}={v}" for k, v in c.items()) or "default" for c in CASES])
def test_equals_markov_chain(case):
    model = markov(**case)
    params = draws()
    cohort, shares = chain_shares(model, params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CurveCrossingWarning)  # the chain's curves never cross
        psm = run_psm(partitioned(model, shares), params)
    a, b = cohort.outcomes, psm.outcomes
    assert list(a.columns) == list(b.columns)
    assert (a["strategy"] == b["strategy"]).all() and (a["draw"] == b["draw"]).all()
    num = [c for c in a.columns if c not in ("draw", "strategy")]
    err = np.abs(a[num].to_numpy() - b[num].to_numpy()).max()
    assert err < 1e-10, err
    assert psm.settings["crossings"] == [] and psm.settings["engine"] == "psm"
    # the rewards differ between strategies and draws, so the comparison is not vacuous
    assert a["cost"].nunique() == len(a)


def test_equivalence_detects_a_changed_convention():
    model = markov(dc=0.035, do=0.035)
    params = draws()
    cohort, shares = chain_shares(model, params)
    other = run_psm(partitioned(model, shares, correction="trapezoid"), params)
    assert np.abs(cohort.outcomes["cost"] - other.outcomes["cost"]).max() > 1e-3


# ---------------------------------------------------------------------------- slow obvious reference
def naive_psm(curves, T, h, cost, util, entry_cost, correction, rate):
    """Plain loops: one draw, curves as functions of time in years; state costs per cycle ``cost[s](j)``."""
    times = [k * h for k in range(T + 1)]
    S = [[float(c(t)) for t in times] for c in curves]
    for i in range(len(S) - 2, -1, -1):
        S[i] = [min(x, y) for x, y in zip(S[i], S[i + 1], strict=True)]
    shares = []
    for k in range(T + 1):
        row = [S[0][k]] + [S[i][k] - S[i - 1][k] for i in range(1, len(S))] + [1.0 - S[-1][k]]
        shares.append(row)
    d = [discount_factor(rate, discount_time(k, h, "exact")) for k in range(T + 1)]
    out = {"cost": 0.0, "qaly": 0.0, "ly": 0.0}
    per_cycle = {"cost": lambda s, j: cost.get(s, lambda j: 0.0)(j),
                 "qaly": lambda s, j: util.get(s, 0.0) * h,
                 "ly": lambda s, j: h if s < len(shares[0]) - 1 else 0.0}
    for col, r in per_cycle.items():
        for s in range(len(shares[0])):
            for j in range(T):  # cycle j runs from point j to point j + 1
                a, b = shares[j][s], shares[j + 1][s]
                if correction == "half-cycle":
                    out[col] += r(s, j) * (a * d[j] + b * d[j + 1]) / 2
                elif correction == "start":
                    out[col] += r(s, j) * a * d[j]
                elif correction == "end":
                    out[col] += r(s, j) * b * d[j + 1]
                elif correction == "heemod-life-table":
                    out[col] += r(s, j) * (a + b) / 2 * d[j]
            if correction == "trapezoid":
                for k in range(T + 1):
                    w = 0.5 if k in (0, T) else 1.0
                    out[col] += w * r(s, k) * shares[k][s] * d[k]
    for s, v in entry_cost.items():
        for j in range(T):
            out["cost"] += (S[s - 1][j] - S[s - 1][j + 1]) * v * d[j + 1]
    return out


@pytest.mark.parametrize("correction", ["half-cycle", "start", "end", "heemod-life-table", "trapezoid"])
def test_slow_reference(correction):
    # three curves (four states), crossing in one draw; parametric curves with draws
    n, T, h, rate = 3, 15, 0.5, 0.035
    shapes = np.array([0.8, 1.2, 1.5])
    c1 = SurvivalCurve("weibull", {"shape": shapes, "scale": np.array([1.5, 2.0, 9.0])})
    c2 = SurvivalCurve("gompertz", {"shape": 0.1, "rate": 0.2})
    c3 = SurvivalCurve("lnorm", {"meanlog": 1.5, "sdlog": np.array([0.8, 1.0, 1.2])})
    states = ("s0", "s1", "s2", "dead")
    model = PartitionedSurvival(
        states=states, curves=("a", "b", "c"), strategies=("x",), survival={"x": {"a": c1, "b": c2, "c": c3}},
        horizon=T, cycle_length=h, parameters={"c0": 100.0},
        costs={"care": {"s0": lambda p, t: p["c0"] * (1 + 0.1 * t.cycle), "s2": 50.0}},
        utilities={"s0": 0.9, "s1": 0.7, "s2": 0.5}, entry_costs={"event": {"s2": 1000.0}},
        correction=correction, discount_costs=rate, discount_outcomes=rate)
    with pytest.warns(CurveCrossingWarning):
        res = run_psm(model, {"c0": np.full(n, 100.0)})
    assert res.settings["crossings"]
    for d in range(n):
        curves = [lambda t, c=c, d=d: c.survival(np.array([t]))[d, 0] if c.n_draws else c.survival(t)
                  for c in (c1, c2, c3)]
        ref = naive_psm(curves, T, h, {0: lambda j: 100.0 * (1 + 0.1 * j), 2: lambda j: 50.0},
                        {0: 0.9, 1: 0.7, 2: 0.5}, {2: 1000.0}, correction, rate)
        row = res.outcomes.iloc[d]
        for col in ("cost", "qaly", "ly"):
            assert math.isclose(row[col], ref[col], rel_tol=1e-12, abs_tol=1e-12), (col, row[col], ref[col])


# ---------------------------------------------------------------------------- crossing curves
def _two_curve_model(pfs, os_, **kw):
    fields = dict(states=("pf", "prog", "dead"), curves=("pfs", "os"), strategies=("a", "b"),
                  survival={"a": {"pfs": pfs, "os": os_}, "b": {"pfs": os_, "os": os_}}, horizon=20,
                  utilities={"pf": 0.8, "prog": 0.6}, costs={"drug": {"pf": 100.0}})
    fields.update(kw)
    return PartitionedSurvival(**fields)


def test_crossing_is_constrained_and_reported():
    os_ = SurvivalCurve("exponential", {"rate": 0.3})
    pfs = SurvivalCurve("weibull", {"shape": 3.0, "scale": np.array([0.8, 8.0, 9.0])})  # above OS in 2 draws
    model = _two_curve_model(pfs, os_)
    with pytest.warns(CurveCrossingWarning, match="strategy 'a': curve 'pfs' lies above 'os'"):
        res = run_psm(model.replace(parameters={"x": 0.0}), {"x": np.zeros(3)}, trace=True)
    (rec,) = res.settings["crossings"]
    assert rec["strategy"] == "a" and rec["inner"] == "pfs" and rec["outer"] == "os"
    assert rec["draws"] == 2 and rec["n_draws"] == 3
    t = np.arange(21.0)
    first = min(t[pfs.survival(t)[d] > os_.survival(t)].min() for d in (1, 2))
    assert rec["from_year"] == first and rec["max_excess"] > 0
    assert "in 2 of 3 draws" in res.settings["warnings"][0]
    # the result equals a model given min(PFS, OS) explicitly
    lowered = _two_curve_model(lambda t, p: np.minimum(pfs.survival(t), os_.survival(t)), os_)
    ref = run_psm(lowered.replace(parameters={"x": 0.0}), {"x": np.zeros(3)})
    assert np.allclose(res.outcomes["cost"], ref.outcomes["cost"], rtol=0, atol=1e-12)
    share = res.trace.pivot_table(index=["draw", "strategy", "cycle"], columns="state", values="share",
                                  observed=True)
    assert (share["prog"] >= 0).all()


# ---------------------------------------------------------------------------- properties
weibull = st.tuples(st.floats(0.3, 3.0), st.floats(0.2, 20.0))


@settings(max_examples=40, deadline=None)
@given(st.lists(weibull, min_size=1, max_size=4), st.sampled_from(["half-cycle", "start", "trapezoid", "end"]),
       st.sampled_from([1.0, 0.25]))
def test_shares_are_probabilities_summing_to_one(params, correction, h):
    curves = tuple(f"c{i}" for i in range(len(params)))
    states = tuple(f"s{i}" for i in range(len(params) + 1))
    surv = {c: SurvivalCurve("weibull", {"shape": a, "scale": b}) for c, (a, b) in zip(curves, params, strict=True)}
    model = PartitionedSurvival(states=states, curves=curves, strategies=("x",), survival={"x": surv},
                                horizon=12, cycle_length=h, correction=correction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveCrossingWarning)  # random curves cross: constrained
        res = run_psm(model, trace=True)
    share = res.trace["share"].to_numpy().reshape(-1, len(states))
    assert (share >= 0).all() and (share <= 1).all()
    assert np.allclose(share.sum(axis=1), 1.0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(weibull, weibull, st.floats(1.0, 3.0), st.sampled_from(["half-cycle", "start", "end", "simpson-darth",
                                                                 "heemod-life-table", "all-points"]),
       st.floats(0.0, 0.08))
def test_more_overall_survival_gives_more_life_years(pfs, os_, stretch, correction, rate):
    p = SurvivalCurve("weibull", {"shape": pfs[0], "scale": pfs[1]})
    short = SurvivalCurve("weibull", {"shape": os_[0], "scale": os_[1]})
    long = SurvivalCurve("weibull", {"shape": os_[0], "scale": os_[1] * stretch})  # S_long(t) >= S_short(t)
    model = PartitionedSurvival(states=("pf", "prog", "dead"), curves=("pfs", "os"), strategies=("short", "long"),
                                survival={"short": {"pfs": p, "os": short}, "long": {"pfs": p, "os": long}},
                                horizon=10, correction=correction, discount_outcomes=rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveCrossingWarning)
        ly = run_psm(model).outcomes.set_index("strategy")["ly"]
    assert ly["long"] >= ly["short"] - 1e-12
    if stretch > 1.01 and short.survival(1.0) > 1e-6:  # the curves differ where a trace point counts
        assert ly["long"] > ly["short"]


# ---------------------------------------------------------------------------- curves from parameters
def test_parametric_curve_from_parameters_and_covariates():
    # log shape, log scale (Weibull AFT, estimation scale) and a treatment coefficient on the location (log scale)
    curve = SurvivalProbability("weibull", ("os_shape", "os_scale", "os_arm"), (ByStrategy(soc=0.0, new=1.0),),
                                time_unit="month")
    pfs = SurvivalCurve("exponential", {"rate": 0.1})
    model = PartitionedSurvival(
        states=("pf", "prog", "dead"), curves=("pfs", "os"), strategies=("soc", "new"),
        survival={"soc": {"pfs": pfs, "os": curve}, "new": {"pfs": pfs, "os": curve}}, horizon=24,
        cycle_length=1 / 12, parameters={"os_shape": math.log(1.3), "os_scale": math.log(20.0), "os_arm": 0.4},
        time_unit="month", utilities={"pf": 0.8, "prog": 0.6})
    vals = {"os_scale": np.log([15.0, 20.0, 30.0])}
    res = run_psm(model, vals, trace=True)
    t = np.arange(25.0)
    for strategy, arm in [("soc", 0.0), ("new", 1.0)]:
        os_ref = SurvivalCurve("weibull", {"shape": 1.3, "scale": np.array([15.0, 20.0, 30.0]) * math.exp(0.4 * arm)})
        tr = res.trace[res.trace["strategy"] == strategy]
        dead = tr[tr["state"] == "dead"]["share"].to_numpy().reshape(3, 25)
        assert np.allclose(1 - dead, os_ref.survival(t), rtol=0, atol=1e-14)


def test_psa_reproducible_and_equal_to_run_psm():
    rows = [sim.Parameter("os_scale", math.log(20.0), "normal", {"mean": math.log(20.0), "sd": 0.1}, source="test"),
            sim.Parameter("c_prog", 800.0, "gamma", {"mean": 800.0, "sd": 100.0}, source="test")]
    table = sim.ParameterTable(rows)
    curve = SurvivalProbability("weibull", ("os_shape", "os_scale"), time_unit="month")
    pfs = SurvivalCurve("exponential", {"rate": 0.1})
    model = PartitionedSurvival(
        states=("pf", "prog", "dead"), curves=("pfs", "os"), strategies=("soc", "new"),
        survival={"soc": {"pfs": pfs, "os": curve}, "new": {"pfs": SurvivalCurve("exponential", {"rate": 0.07}),
                                                            "os": curve}},
        horizon=24, cycle_length=1 / 12, time_unit="month",
        parameters={"os_shape": 0.2, "os_scale": math.log(20.0), "c_prog": 800.0},
        costs={"care": {"prog": "c_prog"}, "drug": {"pf": ByStrategy(soc=100.0, new=900.0)}},
        utilities={"pf": 0.8, "prog": 0.6}, discount_costs=0.035, discount_outcomes=0.035)
    with pytest.raises(sim.HtaError, match="os_shape"):  # every parameter accounted for, as in run_psa
        run_psm_psa(model, table, 50, seed=7)
    a = run_psm_psa(model, table, 50, seed=7, defaults="model")
    b = run_psm_psa(model, table, 50, seed=7, chunk_size=7, defaults="model")
    assert a.outcomes.equals(b.outcomes) and a.settings["defaulted_parameters"] == ["os_shape"]
    assert list(a.draws.frame.columns) == ["os_scale", "c_prog"] and a.settings["seed"] == 7
    with pytest.raises(sim.HtaError, match="os_shape"):
        run_psm(model, a.draws)
    direct = run_psm(model, a.draws, defaults="model")
    assert np.array_equal(direct.outcomes["cost"].to_numpy(), a.outcomes["cost"].to_numpy())
    assert a.outcomes["qaly"].nunique() > 2
    c, e, names = a.matrices()
    assert c.shape == (50, 2) and names == ["soc", "new"]
    assert len(a.ceac([0, 50_000])) and len(a.icer()) == 2


def test_model_run_for_dsa():
    run = PSMRun(markov_psm := _two_curve_model(SurvivalCurve("exponential", {"rate": 0.2}),
                                                SurvivalCurve("exponential", {"rate": 0.1}),
                                                parameters={"c_pf": 100.0},
                                                costs={"drug": {"pf": ByStrategy(a="c_pf", b=50.0)}}))
    assert isinstance(run, ModelRun) and run.strategies == ("a", "b")
    tornado = one_way(run, {"c_pf": (50.0, 200.0)}, wtp=20_000.0)
    assert len(tornado) == 1
    out = run.run({"c_pf": np.array([50.0, 200.0])})
    assert list(out["draw"]) == [0, 0, 1, 1] and out.loc[2, "cost"] > out.loc[0, "cost"]
    assert markov_psm.n_cycles == 20


# ---------------------------------------------------------------------------- errors
def test_errors_name_what_and_where():
    good = SurvivalCurve("exponential", {"rate": 0.1})
    with pytest.raises(HtaError, match="curve 'os' is missing"):
        PartitionedSurvival(states=("pf", "prog", "dead"), curves=("pfs", "os"), strategies=("a",),
                            survival={"a": {"pfs": good}}, horizon=5)
    with pytest.raises(HtaError, match="needs 2 curves"):
        PartitionedSurvival(states=("pf", "prog", "dead"), curves=("os",), strategies=("a",),
                            survival={"a": {"os": good}}, horizon=5)
    with pytest.raises(HtaError, match="unknown state 'prog2'"):
        _two_curve_model(good, good, utilities={"prog2": 0.5})
    with pytest.raises(HtaError, match="unknown parameter 'c_x'"):
        _two_curve_model(good, good, costs={"drug": {"pf": "c_x"}})
    with pytest.raises(HtaError, match="nothing enters the first state"):
        _two_curve_model(good, good, entry_costs={"e": {"pf": 1.0}})
    with pytest.raises(HtaError, match="clock='model'"):
        _two_curve_model(SurvivalProbability("exponential", (0.1,), clock="sojourn"), good)
    rising = _two_curve_model(lambda t, p: np.minimum(1.0, 0.5 + 0.01 * t), good)
    with pytest.raises(HtaError, match=r"strategy 'a', curve 'pfs': survival rises .* never increases"):
        run_psm(rising)
    with pytest.raises(HtaError, match=r"curve 'pfs', time 0 years: survival 1.5"):
        run_psm(_two_curve_model(lambda t, p: 1.5 * np.exp(-t), good))
    with pytest.raises(HtaError, match=r"survival has shape \(3,\)"):
        run_psm(_two_curve_model(lambda t, p: np.ones(3), good))
    with pytest.raises(HtaError, match="the curve has 2 draws but the run has 1"):
        run_psm(_two_curve_model(SurvivalCurve("exponential", {"rate": np.array([0.1, 0.2])}), good))
    with pytest.raises(HtaError, match="the curve function raised ZeroDivisionError"):
        run_psm(_two_curve_model(lambda t, p: 1 / 0, good))
    with pytest.raises(HtaError, match=r"utility of state 'pf', cycle 0: 80.0 is above 1"):
        run_psm(_two_curve_model(good, good, utilities={"pf": 80.0}))


def test_units_of_costs_and_curve_times():
    months = SurvivalCurve("weibull", {"shape": 1.3, "scale": 24.0})
    years = SurvivalCurve("weibull", {"shape": 1.3, "scale": 2.0})  # the same curve, time in years
    os_m = SurvivalCurve("weibull", {"shape": 1.1, "scale": 60.0})
    os_y = SurvivalCurve("weibull", {"shape": 1.1, "scale": 5.0})
    common = dict(horizon=30, cycle_length=0.25, utilities={"pf": 0.8, "prog": 0.5})
    a = run_psm(_two_curve_model(months, os_m, time_unit="month", costs={"drug": {"pf": 300.0}}, **common))
    b = run_psm(_two_curve_model(years, os_y, costs={"drug": {"pf": 300.0}}, **common))
    c = run_psm(_two_curve_model(years, os_y, cost_unit="year", costs={"drug": {"pf": 1200.0}}, **common))
    for col in ("cost", "qaly", "ly"):
        assert np.allclose(a.outcomes[col], b.outcomes[col], rtol=1e-12)
        assert np.allclose(b.outcomes[col], c.outcomes[col], rtol=1e-12)
    assert c.settings["cost_unit"] == "year" and a.outcomes["cost"].iloc[0] > 0
