"""Deterministic sensitivity analysis (sim.dsa, sim.decision.thresholds) against hand-computed values.

Every analysis takes a model run; here the cohort adaptor ``CohortRun(model)``.

The toy model keeps the cohort in Well (dying with probability p_die a cycle) for
3 cycles, counting cycles 0, 1, 2 ("start" correction), undiscounted: every
per-cycle reward r totals ``r S`` with ``S = 1 + (1 - p) + (1 - p)^2``
(2.71 at p = 0.1).  Costs and utilities differ by strategy only, so

    INMB(new vs old) = S (wtp (u_new - u_old) - (c_new - c_old)),

linear in every cost and utility: one-way values and thresholds are analytic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cohorts
import sim
from sim import ByStrategy, C, CohortRun, HtaError, Model, dsa
from sim.params.table import Parameter, ParameterTable

BASE = {"p_die": 0.1, "c_old": 100.0, "c_new": 600.0, "u_old": 0.6, "u_new": 0.65}
WTP = 20_000.0


def S(p=0.1, T=3):
    return sum((1 - p) ** t for t in range(T))


def inmb(c_new=600.0, c_old=100.0, u_new=0.65, u_old=0.6, p=0.1, wtp=WTP, T=3):
    return S(p, T) * (wtp * (u_new - u_old) - (c_new - c_old))


def toy_model(**changes) -> Model:
    spec = dict(
        name="toy", states=["Well", "Dead"], strategies=["old", "new"],
        transitions={("Well", "Well"): C, ("Well", "Dead"): "p_die"},
        start={"Well": 1.0}, horizon=3, parameters=BASE,
        costs={"drug": {"Well": ByStrategy(old="c_old", new="c_new")}},
        utilities={"Well": ByStrategy(old="u_old", new="u_new")},
        dead=["Dead"], correction="start",
    )
    spec.update(changes)
    return Model(**spec)


@pytest.fixture(scope="module")
def toy():
    return toy_model()


@pytest.fixture(scope="module")
def hiv():
    return cohorts.load("hiv_chancellor").build()


class CountingRun:
    """A model run that wraps another and records the parameter sets of each call."""

    def __init__(self, inner, draws=None):
        self.inner = inner
        self.name, self.strategies = inner.name, inner.strategies
        self.parameters, self.outcome_columns = inner.parameters, inner.outcome_columns
        self.draws = [] if draws is None else draws  # parameter sets per call, one entry per call

    def run(self, values):
        out = self.inner.run(values)
        self.draws.append(out["draw"].nunique())
        return out


# ---------------------------------------------------------------------------- one-way
RANGES = {"c_new": (400.0, 800.0), "u_new": (0.62, 0.70), "c_old": (50.0, 150.0), "p_die": (0.05, 0.2)}


def test_one_way_inmb_values_and_tornado_order(toy):
    counter = CountingRun(CohortRun(toy))
    t = dsa.one_way(counter, RANGES, wtp=WTP)
    assert counter.draws == [1 + 2 * len(RANGES)]  # one vectorised call
    assert list(t.columns) == ["parameter", "low", "high", "outcome_low", "outcome_high", "base"]
    # swings: u_new 4336, c_new 1084, c_old 271, p_die 206.25
    assert list(t["parameter"]) == ["u_new", "c_new", "c_old", "p_die"]
    row = t.set_index("parameter")
    assert row.loc["c_new", "outcome_low"] == pytest.approx(inmb(c_new=400), rel=1e-12)
    assert row.loc["c_new", "outcome_high"] == pytest.approx(inmb(c_new=800), rel=1e-12)
    assert row.loc["u_new", "outcome_low"] == pytest.approx(inmb(u_new=0.62), rel=1e-10)
    assert row.loc["u_new", "outcome_high"] == pytest.approx(inmb(u_new=0.70), rel=1e-12)
    assert row.loc["c_old", "outcome_low"] == pytest.approx(inmb(c_old=50), rel=1e-12)
    assert row.loc["p_die", "outcome_low"] == pytest.approx(inmb(p=0.05), rel=1e-12)
    assert row.loc["p_die", "outcome_high"] == pytest.approx(inmb(p=0.2), rel=1e-12)
    assert np.allclose(t["base"], inmb(), rtol=1e-12, atol=0)
    assert inmb() == pytest.approx(2.71 * 500)
    assert list(row.loc["c_new", ["low", "high"]]) == [400.0, 800.0]
    swing = (t["outcome_high"] - t["outcome_low"]).abs().to_numpy()
    assert (np.diff(swing) <= 0).all()
    assert t.attrs["outcome"] == "INMB of new vs old at 20,000 per QALY"


def test_one_way_other_outcomes(toy):
    r = {"c_new": (400.0, 800.0), "u_new": (0.62, 0.70)}
    icer = dsa.one_way(CohortRun(toy), r, outcome="icer").set_index("parameter")
    assert icer.loc["c_new", "outcome_low"] == pytest.approx(300 / 0.05, rel=1e-10)
    assert icer.loc["u_new", "outcome_high"] == pytest.approx(500 / 0.10, rel=1e-10)
    assert icer["base"].iloc[0] == pytest.approx(10_000, rel=1e-10)
    nmb = dsa.one_way(CohortRun(toy), r, outcome="nmb", wtp=WTP).set_index("parameter")
    assert nmb.loc["c_new", "outcome_low"] == pytest.approx(S() * (WTP * 0.65 - 400), rel=1e-12)
    assert nmb.attrs["outcome"] == "NMB of new at 20,000 per QALY"
    cost = dsa.one_way(CohortRun(toy), r, outcome="cost", strategy="old")
    assert cost.attrs["outcome"] == "cost of old"
    assert np.allclose(cost["outcome_low"], S() * 100, rtol=1e-12, atol=0)  # old's cost does not move
    assert (cost["outcome_high"] - cost["outcome_low"] == 0).all()


def test_one_way_callable_outcome_matches_column(toy):
    def new_cost(df: pd.DataFrame) -> float:
        assert len(df) == 2 and set(df["strategy"]) == {"old", "new"}
        return float(df.loc[df["strategy"] == "new", "cost"].iloc[0])

    a = dsa.one_way(CohortRun(toy), RANGES, outcome=new_cost)
    b = dsa.one_way(CohortRun(toy), RANGES, outcome="cost", strategy="new")
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["outcome"] == "new_cost"


def test_one_way_from_parameter_table(toy):
    table = ParameterTable([
        Parameter("c_new", 600, "gamma", {"mean": "600", "se": "100"}, source="test"),
        Parameter("u_new", 0.65, "beta", {"mean": "0.65", "se": "0.05"}, source="test"),
        Parameter("p_die", 0.1, source="test"),  # fixed: not varied
    ])
    t = dsa.one_way(CohortRun(toy), table, wtp=WTP).set_index("parameter")
    assert set(t.index) == {"c_new", "u_new"}
    g = stats.gamma(36, scale=100 ** 2 / 600)
    k = 0.65 * 0.35 / 0.05 ** 2 - 1
    b = stats.beta(0.65 * k, 0.35 * k)
    assert t.loc["c_new", "low"] == pytest.approx(g.ppf(0.025), rel=1e-12)
    assert t.loc["c_new", "high"] == pytest.approx(g.ppf(0.975), rel=1e-12)
    assert t.loc["u_new", "low"] == pytest.approx(b.ppf(0.025), rel=1e-12)
    assert t.loc["c_new", "outcome_high"] == pytest.approx(inmb(c_new=g.ppf(0.975)), rel=1e-10)


def test_table_ranges_multivariate_rows(tmp_path):
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0]}).to_csv(tmp_path / "emp.csv", index=False)
    pd.DataFrame([[4.0, 1.0], [1.0, 9.0]], index=["m1", "m2"], columns=["m1", "m2"]).to_csv(tmp_path / "cov.csv")
    frame = pd.DataFrame([
        ["d1", 0.3, "dirichlet", "count=3", "g", "t"],
        ["d2", 0.7, "dirichlet", "count=7", "g", "t"],
        ["m1", 1.0, "mvnormal", "mean=1; cov=cov.csv", "mv", "t"],
        ["m2", 2.0, "mvnormal", "mean=2; cov=cov.csv", "mv", "t"],
        ["x", 3.0, "empirical", "file=emp.csv", "", "t"],
        ["f", 1.0, "fixed", "", "", "t"],
    ], columns=["name", "value", "distribution", "args", "group", "source"])
    table = ParameterTable.from_frame(frame, base_dir=tmp_path)
    r = dsa.table_ranges(table)
    assert list(r) == ["m1", "m2", "x"]  # Dirichlet and fixed rows skipped
    assert r["m1"] == pytest.approx((stats.norm(1, 2).ppf(0.025), stats.norm(1, 2).ppf(0.975)), rel=1e-12)
    assert r["m2"] == pytest.approx((stats.norm(2, 3).ppf(0.025), stats.norm(2, 3).ppf(0.975)), rel=1e-12)
    assert r["x"] == pytest.approx((1.1, 4.9))  # numpy linear-interpolated percentiles
    r50 = dsa.table_ranges(table, level=0.5)
    assert r50["x"] == pytest.approx((2.0, 4.0))


def test_one_way_hiv(hiv):
    t = dsa.one_way(CohortRun(hiv), {"rr": (0.365, 0.710), "c_lamivudine": (1500.0, 2500.0)}, outcome="icer",
                    effect="ly")
    assert list(t["parameter"]) == ["rr", "c_lamivudine"]
    assert t["base"].iloc[0] == pytest.approx(6275.95560, rel=1e-8)  # Briggs et al. 2006, Ex. 2.5
    assert t.attrs["outcome"] == "ICER of comb vs mono (cost per life-year gained)"
    # the ICER is linear in the lamivudine price: the base (2,086.5) lies on the line through low and high
    row = t.set_index("parameter").loc["c_lamivudine"]
    slope = (row["outcome_high"] - row["outcome_low"]) / 1000.0
    assert row["outcome_low"] + slope * (2086.5 - 1500.0) == pytest.approx(row["base"], rel=1e-10)


# ---------------------------------------------------------------------------- two-way
def test_two_way_grid_and_optimal(toy):
    counter = CountingRun(CohortRun(toy))
    xs, ys = [400.0, 1000.0, 1500.0], [0.6, 0.64, 0.7, 0.8]
    t = dsa.two_way(counter, ("c_new", xs), ("u_new", ys), wtp=WTP)
    assert counter.draws == [12]
    assert list(t.columns) == ["x", "y", "outcome", "optimal"]
    assert t.shape == (12, 4)
    assert list(t["x"]) == [x for x in xs for _ in ys]  # x varies slowest
    assert list(t["y"]) == ys * 3
    for _, r in t.iterrows():
        v = inmb(c_new=r["x"], u_new=r["y"])
        assert r["outcome"] == pytest.approx(v, rel=1e-9, abs=1e-9)
        assert r["optimal"] == ("new" if v > 0 else "old")
    assert set(t["optimal"]) == {"old", "new"}
    assert t.attrs["x_name"] == "c_new" and t.attrs["y_name"] == "u_new"
    assert t.attrs["outcome"] == "INMB of new vs old at 20,000 per QALY"


def test_two_way_icer_outcome_still_labels_optimal(toy):
    t = dsa.two_way(CohortRun(toy), ("c_new", [200.0, 2000.0]), ("c_old", [100.0]), outcome="icer", wtp=WTP)
    assert list(t["outcome"]) == pytest.approx([100 / 0.05, 1900 / 0.05])
    assert list(t["optimal"]) == ["new", "old"]


# ---------------------------------------------------------------------------- scenarios
def test_scenarios_table(toy):
    counter = CountingRun(CohortRun(toy))
    variant = CountingRun(CohortRun(toy.replace(horizon=1)), counter.draws)  # its calls in the same list
    t = dsa.scenarios(counter, {"cheap drug": {"c_new": 200.0}, "better old": {"u_old": 0.66, "c_old": 50.0},
                                "one cycle": variant})
    assert counter.draws == [3, 1]  # base case + parameter scenarios in one call; the model variant alone
    assert list(t.columns) == ["scenario", "strategy", "cost", "qaly", "inc_cost", "inc_qaly", "icer", "status",
                               "dominated_by"]
    assert list(dict.fromkeys(t["scenario"])) == ["base case", "cheap drug", "better old", "one cycle"]
    assert len(t) == 8
    by = t.set_index(["scenario", "strategy"])
    assert by.loc[("base case", "new"), "icer"] == pytest.approx(10_000, rel=1e-10)
    assert by.loc[("cheap drug", "new"), "cost"] == pytest.approx(200 * S(), rel=1e-12)
    assert by.loc[("cheap drug", "new"), "icer"] == pytest.approx(100 / 0.05, rel=1e-10)
    assert by.loc[("better old", "new"), "status"] == "dominated"  # old: more QALYs for less
    assert by.loc[("better old", "new"), "dominated_by"] == "old"
    assert by.loc[("one cycle", "new"), "cost"] == pytest.approx(600.0)
    assert by.loc[("one cycle", "new"), "icer"] == pytest.approx(10_000, rel=1e-10)


def test_scenarios_life_years_hiv(hiv):
    t = dsa.scenarios(CohortRun(hiv), {"cheap lamivudine": {"c_lamivudine": 1000.0}}, effect="ly")
    base = t[(t["scenario"] == "base case") & (t["strategy"] == "comb")]
    assert float(base["icer"].iloc[0]) == pytest.approx(6275.95560, rel=1e-8)
    assert "inc_ly" in t.columns


# ---------------------------------------------------------------------------- thresholds
def test_threshold_analytic(toy):
    v = dsa.threshold(CohortRun(toy), "c_new", wtp=WTP, strategy="new", comparator="old", lower=0, upper=5000)
    assert v == pytest.approx(100 + WTP * 0.05, rel=1e-12)  # 1,100
    u = dsa.threshold(CohortRun(toy), "u_new", wtp=WTP, strategy="new", comparator="old", lower=0.6, upper=1.0)
    assert u == pytest.approx(0.6 + 500 / WTP, rel=1e-10)  # 0.625
    c_old = dsa.threshold(CohortRun(toy), "c_old", wtp=WTP, strategy="new", comparator="old", lower=-2000, upper=0)
    assert c_old == pytest.approx(-400, rel=1e-10)
    vbp = dsa.value_based_price(CohortRun(toy), "c_new", wtp=WTP, strategy="new", comparator="old", lower=0, upper=5000)
    assert vbp == pytest.approx(1100, rel=1e-12)
    # the same threshold from the other strategy's point of view
    w = dsa.threshold(CohortRun(toy), "c_new", wtp=WTP, strategy="old", comparator="new", lower=0, upper=5000)
    assert w == pytest.approx(1100, rel=1e-12)


@pytest.mark.parametrize("wtp", [5_000.0, 10_000.0])
def test_value_based_price_hiv(hiv, wtp):
    price = dsa.value_based_price(CohortRun(hiv), "c_lamivudine", wtp=wtp, strategy="comb", comparator="mono",
                                  lower=0.0, upper=20_000.0, effect="ly")
    table = sim.run_cohort(hiv.with_parameters(c_lamivudine=price)).icer(effect="ly").set_index("strategy")
    assert float(table.loc["comb", "icer"]) == pytest.approx(wtp, rel=1e-6)
    assert (price < 2086.5) == (wtp < 6275.9556)  # book's price 2,086.5 gives ICER 6,276
    same = dsa.threshold(CohortRun(hiv), "c_lamivudine", wtp=wtp, strategy="comb", comparator="mono",
                         lower=0.0, upper=20_000.0, effect="ly")
    assert same == price


def test_threshold_no_sign_change_reports_both_ends(toy):
    with pytest.raises(HtaError, match=r"does not change sign on \[0, 1000\].*2,981 at the lower end and 271 "
                                        r"at the upper end.*widen"):
        dsa.threshold(CohortRun(toy), "c_new", wtp=WTP, strategy="new", comparator="old", lower=0, upper=1000)


def test_value_based_price_wrong_direction(toy):
    with pytest.raises(HtaError, match="rises with 'c_old'.*use threshold"):
        dsa.value_based_price(CohortRun(toy), "c_old", wtp=WTP, strategy="new", comparator="old", lower=-2000, upper=0)


# ---------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("call, pattern", [
    (lambda m: dsa.one_way(m, {"c_nwe": (1, 2)}, wtp=WTP), r"unknown parameter 'c_nwe' \(did you mean 'c_new'\?\)"),
    (lambda m: dsa.one_way(m, {"c_new": (800, 400)}, wtp=WTP), r"low 800 > high 400.*\(400, 800\)"),
    (lambda m: dsa.one_way(m, {"c_new": (1, 2, 3)}, wtp=WTP), r"give a pair \(low, high\)"),
    (lambda m: dsa.one_way(m, {"c_new": (1, float("nan"))}, wtp=WTP), "finite"),
    (lambda m: dsa.one_way(m, {}, wtp=WTP), "ranges is empty"),
    (lambda m: dsa.one_way(m, [("c_new", 1, 2)], wtp=WTP), "must be a mapping"),
    (lambda m: dsa.one_way(m, RANGES, wtp=WTP, strategy="neww"),
     r"unknown strategy 'neww' \(did you mean 'new'\?\)"),
    (lambda m: dsa.one_way(m, RANGES, wtp=WTP, comparator="odl"), r"unknown comparator 'odl'.*'old'"),
    (lambda m: dsa.one_way(m, RANGES, wtp=WTP, strategy="new", comparator="new"), "both 'new'"),
    (lambda m: dsa.one_way(m, RANGES), r"outcome 'inmb' needs a willingness to pay; give wtp="),
    (lambda m: dsa.one_way(m, RANGES, outcome="nmb"), "needs a willingness to pay"),
    (lambda m: dsa.one_way(m, RANGES, wtp=-1.0), "negative"),
    (lambda m: dsa.one_way(m, RANGES, outcome="qualy"), r"unknown outcome 'qualy' \(did you mean 'qaly'\?\)"),
    (lambda m: dsa.one_way(m, RANGES, wtp=WTP, effect="qualy"), r"effect 'qualy' \(did you mean 'qaly'\?\)"),
    (lambda m: dsa.one_way(m, RANGES, outcome=lambda df: "x"), "must return one number"),
    (lambda m: dsa.one_way("model", RANGES, wtp=WTP), "needs a model run as its first argument, got str"),
    (lambda m: dsa.one_way(m.model, RANGES, wtp=WTP), r"got Model; wrap it: sim.cohort.CohortRun\(model\)"),
    (lambda m: dsa.threshold(m.model, "c_new", wtp=WTP, strategy="new", comparator="old", lower=0, upper=1),
     r"threshold needs a model run.*CohortRun\(model\)"),
    (lambda m: dsa.one_way(m, {"p_die": (0.05, 1.5)}, wtp=WTP), r"fails at p_die = 1.5 \(high\)"),
    (lambda m: dsa.two_way(m, ("c_new", [1, 2]), ("u_new", [0.6])), "two_way: the optimal strategy needs a "
                                                                      "willingness to pay"),
    (lambda m: dsa.two_way(m, ("c_new", [1, 2]), ("c_new", [3]), wtp=WTP), "two different parameters"),
    (lambda m: dsa.two_way(m, ("c_new", []), ("u_new", [0.6]), wtp=WTP), "non-empty"),
    (lambda m: dsa.two_way(m, ("cnew", [1]), ("u_new", [0.6]), wtp=WTP), "did you mean 'c_new'"),
    (lambda m: dsa.scenarios(m, {}), "no scenarios"),
    (lambda m: dsa.scenarios(m, {"base case": {"c_new": 1}}), "reserved"),
    (lambda m: dsa.scenarios(m, {"a": {"c_nwe": 1}}), r"scenario 'a'.*did you mean 'c_new'"),
    (lambda m: dsa.scenarios(m, {"a": {"c_new": "cheap"}}), "must be a number"),
    (lambda m: dsa.scenarios(m, {"a": CohortRun(m.model.replace(strategies=["old", "new", "x"],
                                                          costs={}, utilities={}))}), "same strategies"),
    (lambda m: dsa.scenarios(m, {"a": m.model.replace(horizon=1)}),
     r"scenario 'a' must be a mapping \{parameter: value\} or a model run, got Model; wrap it"),
    (lambda m: dsa.threshold(m, "c_new", wtp=WTP, strategy="new", comparator="old", lower=5, upper=1),
     r"\[5, 1\] is empty or reversed"),
    (lambda m: dsa.threshold(m, "c_new", wtp=None, strategy="new", comparator="old", lower=0, upper=1),
     "needs a willingness to pay"),
    (lambda m: dsa.threshold(m, "cnew", wtp=WTP, strategy="new", comparator="old", lower=0, upper=1),
     "did you mean 'c_new'"),
    (lambda m: dsa.threshold(m, "c_new", wtp=WTP, strategy="nw", comparator="old", lower=0, upper=1),
     "did you mean 'new'"),
])
def test_bad_inputs(toy, call, pattern):
    with pytest.raises(HtaError, match=pattern):
        call(CohortRun(toy))


def test_defaults_need_two_strategies(toy):
    three = toy.replace(strategies=["old", "new", "newer"],
                        costs={"drug": {"Well": ByStrategy(old="c_old", new="c_new", newer=900.0)}},
                        utilities={"Well": ByStrategy(old="u_old", new="u_new", newer=0.7)})
    with pytest.raises(HtaError, match="has 3 strategies; say which one with strategy="):
        dsa.one_way(CohortRun(three), RANGES, wtp=WTP)
    t = dsa.one_way(CohortRun(three), {"c_new": (400.0, 800.0)}, wtp=WTP, strategy="newer")  # vs the first
    assert t.attrs["outcome"] == "INMB of newer vs old at 20,000 per QALY"
    assert t["base"].iloc[0] == pytest.approx(S() * (WTP * 0.1 - 800), rel=1e-12)


# ---------------------------------------------------------------------------- any model run
class LinearRun:
    """An outside model (no engine): the toy's closed form, INMB linear in c_new and u_new."""

    name = "closed form"
    strategies = ("old", "new")
    parameters = {"c_new": 600.0, "u_new": 0.65}
    outcome_columns = ("cost", "qaly")

    def run(self, values):
        n = len(next(iter(values.values()))) if values else 1
        c_new = np.broadcast_to(np.asarray(values.get("c_new", self.parameters["c_new"]), float), (n,))
        u_new = np.broadcast_to(np.asarray(values.get("u_new", self.parameters["u_new"]), float), (n,))
        cost = np.column_stack([np.full(n, 100.0 * S()), c_new * S()]).ravel()
        qaly = np.column_stack([np.full(n, 0.6 * S()), u_new * S()]).ravel()
        return pd.DataFrame({"draw": np.repeat(np.arange(n), 2), "strategy": ["old", "new"] * n,
                             "cost": cost, "qaly": qaly})


def test_an_outside_model_run_gives_the_cohort_numbers(toy):
    run = LinearRun()
    ranges = {"c_new": (400.0, 800.0), "u_new": (0.62, 0.70)}
    a = dsa.one_way(run, ranges, wtp=WTP)
    b = dsa.one_way(CohortRun(toy), ranges, wtp=WTP)
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    v = dsa.threshold(run, "c_new", wtp=WTP, strategy="new", comparator="old", lower=0, upper=5000)
    assert v == pytest.approx(1100, rel=1e-12)
    t = dsa.scenarios(run, {"cheap": {"c_new": 200.0}}).set_index(["scenario", "strategy"])
    assert t.loc[("cheap", "new"), "icer"] == pytest.approx(100 / 0.05, rel=1e-10)


def test_two_way_ties_go_to_the_first_name():
    # with new's cost and utility equal to old's, the two have exactly the same net benefit
    t = dsa.two_way(LinearRun(), ("c_new", [100.0, 50.0]), ("u_new", [0.6]), wtp=WTP)
    assert list(t["outcome"]) == [0.0, pytest.approx(50 * S())]
    assert list(t["optimal"]) == ["new", "new"]  # the tie goes to "new" < "old" (model order would say "old")
