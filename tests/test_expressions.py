"""The expression language: arithmetic on values, parameter names and expressions in ByCycle /
BySojourn, ByStrategy anywhere, inspection (repr, parameters) and located errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import ANY, Age, ByCycle, BySojourn, ByStrategy, C, Cycle, HtaError, Model, ModelTime, P, Rate, Year
from sim.model.evaluate import Context, Params, Time, evaluate
from sim.model.values import Arith, referenced_params, strategy_dependent

N, T, L = 5, 4, 3
RNG = np.random.default_rng(11)
ARRAYS = {name: RNG.uniform(0.05, 0.9, N).reshape(N, 1, 1) for name in ("a", "b", "c")}


def ctx(strategy="s1", sojourn=1, where="test value"):
    time = Time(cycle=np.arange(T).reshape(1, T, 1), cycle_length=0.5, start_age=40.0,
                sojourn=np.arange(sojourn).reshape(1, 1, sojourn), strategy=strategy, where=where)
    return Context(Params(ARRAYS, N), time, where)


def ev(value, **kw):
    return np.broadcast_to(evaluate(value, ctx(**kw)), (N, T, kw.get("sojourn", 1)))


# ------------------------------------------------------------------ building and inspecting
def test_readable_tree_and_parameters():
    e = (1 - Rate("r_HD")) * "p_HS1"
    assert isinstance(e, Arith) and e.op == "*"
    assert repr(e) == "(1 - Rate(rate='r_HD', per='year')) * 'p_HS1'"
    assert e.parameters() == ["p_HS1", "r_HD"]
    assert repr(P("a") - (P("b") - 1)) == "P('a') - (P('b') - 1)"
    assert repr(-(P("a") + 2) / P("b") ** 2) == "-(P('a') + 2) / P('b') ** 2"
    assert referenced_params(ByCycle(["rr", P("x") * 2], then="y")) == {"rr", "x", "y"}
    assert strategy_dependent(P("a") * ByStrategy(s1=1, s2=2))
    assert not strategy_dependent(P("a") * 2)
    assert np.float64(2) * P("a") == Arith("*", 2.0, P("a"))  # numpy scalars defer to the expression


def test_bad_operands_and_entries_are_errors():
    with pytest.raises(HtaError, match=r"cannot compute Rate\(.*\) \* \[1\] \(list\)"):
        Rate("x") * [1]  # noqa: B018
    with pytest.raises(HtaError, match="cannot compute .* True"):
        P("x") + True  # noqa: B018
    with pytest.raises(HtaError, match="BySojourn: entry 1 is None"):
        BySojourn(["ic_D", None])
    with pytest.raises(HtaError, match="ByCycle needs a list"):
        ByCycle("rr")
    with pytest.raises(HtaError, match="non-empty string"):
        P("")


# ------------------------------------------------------------------ evaluation
def test_arithmetic_matches_numpy():
    a, b, c = (ARRAYS[k] for k in "abc")
    np.testing.assert_array_equal(ev((1 - P("a")) * "b"), np.broadcast_to((1 - a) * b, (N, T, 1)))
    np.testing.assert_array_equal(ev(P("a") / P("b") - P("c") ** 2), np.broadcast_to(a / b - c**2, (N, T, 1)))
    np.testing.assert_array_equal(ev(-P("a")), np.broadcast_to(-a, (N, T, 1)))
    cyc = np.arange(T).reshape(1, T, 1)
    np.testing.assert_array_equal(ev(Cycle() * "a"), np.broadcast_to(cyc * a, (N, T, 1)))
    np.testing.assert_array_equal(ev(ModelTime() + 0), np.broadcast_to(cyc + 1.0, (N, T, 1)))
    np.testing.assert_array_equal(ev(Year() + 0), np.broadcast_to(cyc * 0.5, (N, T, 1)))
    np.testing.assert_array_equal(ev(Age() + 0), np.broadcast_to(40 + cyc * 0.5, (N, T, 1)))


def test_by_strategy_anywhere():
    e = P("a") * ByStrategy(s1=2.0, s2="b")
    np.testing.assert_array_equal(ev(e, strategy="s1"), np.broadcast_to(ARRAYS["a"] * 2.0, (N, T, 1)))
    np.testing.assert_array_equal(ev(e, strategy="s2"), np.broadcast_to(ARRAYS["a"] * ARRAYS["b"], (N, T, 1)))
    inner = ByCycle([ByStrategy(s1="a", s2=0.0), 1.0], then=ByStrategy(s1=3.0, s2="c"))
    got = ev(inner, strategy="s2")
    assert np.all(got[:, 0] == 0.0) and np.all(got[:, 1] == 1.0)
    np.testing.assert_array_equal(got[:, 2:], np.broadcast_to(ARRAYS["c"], (N, 2, 1)))


def test_by_cycle_and_by_sojourn_with_names():
    got = ev(ByCycle(["a", P("b") * 2], then=0.5))
    np.testing.assert_array_equal(got[:, 0, 0], ARRAYS["a"][:, 0, 0])
    np.testing.assert_array_equal(got[:, 1, 0], 2 * ARRAYS["b"][:, 0, 0])
    assert np.all(got[:, 2:] == 0.5)
    soj = ev(BySojourn(["a", 0]), sojourn=L)
    np.testing.assert_array_equal(soj[:, :, 0], np.broadcast_to(ARRAYS["a"][:, :, 0], (N, T)))
    assert np.all(soj[:, :, 1:] == 0.0)
    # numbers only: the same lookup as before
    np.testing.assert_array_equal(ev(BySojourn([0.1, 0.2]), sojourn=L)[0, 0], [0.1, 0.2, 0.2])


def test_evaluation_errors_are_located():
    with pytest.raises(HtaError, match=r"test value: unknown parameter 'bb' \(did you mean 'b'\?\)"):
        ev((1 - P("a")) * "bb")
    with pytest.raises(HtaError, match="test value, ByCycle entry 1: unknown parameter 'zz'"):
        ev(ByCycle([1.0, "zz"], then=0))
    with pytest.raises(HtaError, match="negative number .* fractional power"):
        ev((P("a") - 2) ** 0.5)
    with pytest.raises(HtaError, match=r"the callable .* gave an array of shape \(7,\)"):
        ev(P("a") * (lambda p, t: np.ones(7)))


# Hypothesis: arithmetic on expressions equals arithmetic on their evaluated arrays
LEAVES = st.one_of(st.floats(-3, 3, allow_nan=False).filter(lambda x: abs(x) > 1e-3), st.sampled_from(["a", "b", "c"]),
                   st.just(Cycle()), st.just(ModelTime()))
OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _expr(leaf):
    return P(leaf) if isinstance(leaf, str) else leaf


trees = st.recursive(LEAVES.map(_expr), lambda kids: st.tuples(st.sampled_from(sorted(OPS)), kids, kids), max_leaves=6)


def _build(tree):
    if isinstance(tree, tuple):
        op, left, right = tree
        lhs, rhs = _build(left), _build(right)
        if not isinstance(lhs, sim.model.values.Expr) and not isinstance(rhs, sim.model.values.Expr):
            lhs = P("a") * 0 + lhs  # keep it an expression
        return {"+": lambda: lhs + rhs, "-": lambda: lhs - rhs, "*": lambda: lhs * rhs, "/": lambda: lhs / rhs}[op]()
    return tree


@settings(max_examples=60, deadline=None)
@given(left=trees, right=trees, op=st.sampled_from(sorted(OPS)))
def test_property_arithmetic_equals_arithmetic_on_arrays(left, right, op):
    lhs, rhs = _build(left), _build(right)
    if not isinstance(lhs, sim.model.values.Expr):
        lhs = P("a") * 0 + lhs
    combined = {"+": lambda: lhs + rhs, "-": lambda: lhs - rhs, "*": lambda: lhs * rhs, "/": lambda: lhs / rhs}[op]()
    with np.errstate(all="ignore"):
        expected = OPS[op](evaluate(lhs, ctx()), evaluate(rhs, ctx()))
        got = evaluate(combined, ctx())
    np.testing.assert_array_equal(got, expected)
    assert set(combined.parameters()) == referenced_params(lhs) | referenced_params(rhs)


# ------------------------------------------------------------------ in a model: identical to callables
def _sick_model(**values) -> Model:
    return Model(
        states=("Healthy", "Sick", "Dead"), strategies=("soc", "new"),
        transitions={("Healthy", "Sick"): values["onset"], ("Healthy", "Dead"): "p_HD", ("Healthy", "Healthy"): C,
                     ("Sick", "Dead"): values["sick_death"], ("Sick", "Sick"): C},
        start={"Healthy": 1.0}, horizon=12, start_age=50, tunnels={"Sick": 3},
        parameters=dict(p_HD=0.01, p_HS1=0.1, hr=2.5, ic_D=3000.0, rr_new=0.7, c_S=900.0),
        costs={"care": {"Sick": values["sick_cost"]}}, utilities={"Healthy": 1.0, "Sick": 0.7},
        transition_costs={"death": {(ANY, "Dead"): values["death_cost"]}},
        dead=("Dead",), correction="half-cycle", discount_costs=0.035, discount_outcomes=0.035,
    )


def test_model_with_expressions_equals_model_with_callables():
    rr = ByStrategy(soc=1.0, new="rr_new")
    expr = _sick_model(
        onset=(1 - P("p_HD")) * "p_HS1" * rr,
        sick_death=1 - (1 - P("p_HD")) ** P("hr") * ByCycle([1.0], then=1.0),
        sick_cost=BySojourn(["c_S", P("c_S") / 2, 0]),
        death_cost="ic_D",
    )

    def onset(p, t):
        return (1 - p["p_HD"]) * p["p_HS1"] * (p["rr_new"] if t.strategy == "new" else 1.0)

    def sick_cost(p, t):
        return np.where(t.sojourn == 0, p["c_S"], np.where(t.sojourn == 1, p["c_S"] / 2, 0.0))

    calls = _sick_model(onset=onset, sick_death=lambda p, t: 1 - (1 - p["p_HD"]) ** p["hr"] * 1.0,
                        sick_cost=sick_cost, death_cost="ic_D")
    draws = {"p_HS1": np.linspace(0.05, 0.2, 7), "hr": np.linspace(1.5, 3.0, 7)}
    a, b = sim.run_cohort(expr, draws), sim.run_cohort(calls, draws)
    cols = ["cost", "qaly", "ly", "cost_undisc"]
    np.testing.assert_array_equal(a.outcomes[cols].to_numpy(), b.outcomes[cols].to_numpy())


def test_by_sojourn_with_a_parameter_in_a_tunnel():
    """``BySojourn(["ic_D", 0])``: the death cost only in the first cycle of Sick."""
    base = dict(onset="p_HS1", sick_death=0.2, sick_cost=0.0)
    m1 = _sick_model(**base, death_cost=0.0).replace(
        transition_costs={"death": {("Sick", "Dead"): BySojourn(["ic_D", 0])}})
    m2 = _sick_model(**base, death_cost=0.0).replace(
        transition_costs={"death": {("Sick", "Dead"): lambda p, t: np.where(t.sojourn == 0, p["ic_D"], 0.0)}})
    np.testing.assert_array_equal(sim.run_cohort(m1).outcomes["cost"], sim.run_cohort(m2).outcomes["cost"])
    assert float(sim.run_cohort(m1).outcomes["cost"].iloc[0]) > 0


def test_model_errors_name_strategy_and_transition():
    with pytest.raises(HtaError, match=r"transitions 'Healthy' -> 'Sick': unknown parameter 'p_HS'.*'p_HS1'"):
        _sick_model(onset=(1 - P("p_HD")) * "p_HS", sick_death=0.2, sick_cost=0.0, death_cost=0.0)
    over = _sick_model(onset=P("p_HS1") * 20, sick_death=0.2, sick_cost=0.0, death_cost=0.0)
    with pytest.raises(HtaError, match=r"strategy 'soc', cycle 0, from 'Healthy' to 'Sick': transition probability 2"):
        sim.run_cohort(over)
    zero = _sick_model(onset="p_HS1", sick_death=0.2, sick_cost=P("c_S") / (P("hr") - 2.5), death_cost=0.0)
    with pytest.raises(HtaError, match=r"strategy 'soc', cost 'care' of state 'Sick', cycle 0.*inf"):
        sim.run_cohort(zero)


def test_expressions_pickle_and_life_table_repr():
    import pickle

    table = sim.LifeTable.packaged("us_2017_nchs")
    e = (1 - table.mortality("male")) * Rate(P("r") * ByStrategy(s1=1.0, s2="hr")) + BySojourn(["a", 0])
    back = pickle.loads(pickle.dumps(e))
    assert repr(back) == repr(e) and back.parameters() == ["a", "hr", "r"]
    text = repr(table)
    assert text.startswith("LifeTable('us_2017_nchs': qx by single year of age 0-100+, sexes female, male, total")
    assert "Arias" in text
