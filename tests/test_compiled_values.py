"""Values compiled into the cohort kernel (``sim/model/compile.py``, ``run_programs``).

* the interpreter against the numpy evaluation (:func:`sim.model.evaluate.evaluate`, through
  ``build_arrays`` without programs) on random expression trees (Hypothesis): same values, and a
  check flags exactly where the numpy path raises;
* models through ``run_cohort``: compiled and numpy paths give the same totals; located errors of
  the compiled path are the numpy path's messages; chunks, threads and strategy order change no bit;
* the flagship ``omt_vs_cabg`` written with expressions equals its callable version to 1e-10;
* the function nodes (``Exp``, ``Log``, ``Min``, ``Max``, comparisons, ``Where``, ``Competing``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import (
    C,
    Competing,
    Cycle,
    Exp,
    HazardRatio,
    HtaError,
    LifeTable,
    Log,
    Max,
    Min,
    Model,
    ModelTime,
    P,
    Rate,
    RelativeRisk,
    Where,
    Year,
    _config,
    competing,
)
from sim.cohort import _kernels
from sim.model.arrays import build_arrays, resolve_draws
from sim.model.functions import Compare
from sim.model.values import AnyOf, Arith

N = 150  # two blocks of the kernel: 128 + 22 draws
RNG = np.random.default_rng(5)
DRAWS = {"a": RNG.uniform(0.05, 0.9, N), "b": RNG.uniform(0.5, 3.0, N), "c": np.full(N, 0.3)}
TABLE = LifeTable.packaged("us_2017_nchs")


def _f_time(p, t):
    return np.sqrt(t.cycle + 1.0)


def _f_both(p, t):
    return p["a"] * (t.cycle + 1.0)


def cost_model(value, horizon: int = 7, cycle_length: float = 0.5) -> Model:
    """Two states; ``value`` is the cost of state A (a reward: checked to be finite)."""
    return Model(states=("A", "B"), strategies=("s",), transitions={("A", "B"): 0.1, ("A", "A"): C},
                 start={"A": 1.0}, horizon=horizon, cycle_length=cycle_length, start_age=60.0,
                 parameters={"a": 0.5, "b": 1.0, "c": 0.3}, costs={"x": {"A": value}}, dead=())


def interpret(a) -> tuple[np.ndarray, bool]:
    """Every slot's value at every (draw, cycle), running ``run_programs`` block by block, cycle by cycle."""
    prog, n, T = a.prog, a.n, a.n_cycles
    B = _kernels.BLOCK
    cur, prv = np.zeros((len(prog), B)), np.zeros((len(prog), B))
    stk = np.zeros((max(1, int(prog.slots[:, 3].max())), B))
    err = np.zeros(1, dtype=np.int64)
    vals = np.full((len(prog), n, T + 1), np.nan)
    for d0 in range(0, n, B):
        nb = min(B, n - d0)
        for t in range(T + 1):
            _kernels.run_programs(prog.code, prog.consts, prog.loads, prog.slots, prog.dirty, a.ev, d0, nb, t, T,
                                  cur, prv, stk, err)
            vals[:, d0:d0 + nb, t] = cur[:, :nb]
    return vals, bool(err[0])


def _leaves():
    return st.sampled_from(["a", "b", P("c"), 0.5, 2.0, Year(), Cycle(), ModelTime(), TABLE.mortality("male"),
                            _f_time, _f_both])


def _trees():
    def grow(kids):
        pair = st.tuples(kids, kids)
        return st.one_of(
            st.tuples(st.sampled_from(["+", "-", "*", "/", "**"]), kids, kids).map(lambda x: Arith(*x)),
            kids.map(lambda x: Arith("neg", x)),
            kids.map(Exp), kids.map(Log), kids.map(Rate),
            pair.map(lambda x: Min(*x)), pair.map(lambda x: Max(*x)),
            pair.map(lambda x: Compare("<", *x)), pair.map(lambda x: Compare(">=", *x)),
            st.tuples(kids, kids, kids).map(lambda x: Where(*x)),
            pair.map(lambda x: RelativeRisk(*x)), pair.map(lambda x: HazardRatio(*x)),
            pair.map(lambda x: AnyOf(*x)),
            st.tuples(kids, kids, kids, st.integers(0, 2)).map(lambda x: Competing(x[:3], x[3])),
        )

    return st.recursive(_leaves(), grow, max_leaves=7)


def _numpy_and_compiled(value):
    model = cost_model(value)
    draws = resolve_draws(model, DRAWS)
    try:
        ref = build_arrays(model, draws, 0, N)
    except HtaError as e:
        ref = e
    try:
        a = build_arrays(model, draws, 0, N, programs=True)
    except HtaError as e:
        return ref, e, None
    return ref, a, a.rw_ent[(a.rw_ent[:, 0] == 0) & (a.rw_ent[:, 2] == -1)]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(_trees())
def test_interpreter_matches_numpy_on_random_trees(value):
    ref, a, ent = _numpy_and_compiled(value)
    if isinstance(a, HtaError):  # the compiler left it to numpy, which raised
        assert isinstance(ref, HtaError) and str(a) == str(ref)
        return
    if not len(ent):  # not compiled (does not vary by draw and cycle, or a leaf): the numpy path's arrays
        if isinstance(ref, HtaError):
            pytest.fail(f"numpy raised {ref} but the pooled path did not")
        assert np.array_equal(a.dense()[1], ref.dense()[1], equal_nan=True)
        return
    vals, err = interpret(a)
    assert err == isinstance(ref, HtaError), f"check flag {err}, numpy: {ref if err is False else 'ok'}"
    if not err:
        got = vals[ent[0, 1]]
        want = ref.dense()[1][:, 0, :, 0, 0]  # (draws, cycles) of state A's cost
        assert np.allclose(got, want, rtol=1e-9, atol=1e-12), np.max(np.abs(got - want))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.recursive(st.sampled_from(["a", "b", P("c"), 0.5, 2.0, Year(), Cycle(), _f_both]),
                    lambda k: st.one_of(
                        st.tuples(st.sampled_from(["+", "-", "*", "/"]), k, k).map(lambda x: Arith(*x)),
                        k.map(lambda x: Arith("neg", x)), st.tuples(k, k).map(lambda x: Min(*x)),
                        st.tuples(k, k, k).map(lambda x: Where(Compare("<", x[0], x[1]), x[1], x[2]))),
                    max_leaves=7))
def test_interpreter_is_bitwise_numpy_on_arithmetic(value):
    """Arithmetic, comparisons and selections are the same IEEE operations as numpy's: the same bits."""
    ref, a, ent = _numpy_and_compiled(value)
    if isinstance(a, HtaError) or isinstance(ref, HtaError) or not len(ent):
        return
    vals, err = interpret(a)
    assert not err
    assert np.array_equal(vals[ent[0, 1]], ref.dense()[1][:, 0, :, 0, 0])


def test_the_random_trees_compile():
    """The comparison above is not vacuous: a typical tree is compiled into slots."""
    value = HazardRatio(TABLE.mortality("male"), "b") * Exp(P("a") * Year())
    ref, a, ent = _numpy_and_compiled(value)
    assert len(ent) == 1 and len(a.prog) >= 2
    vals, err = interpret(a)
    assert not err
    np.testing.assert_allclose(vals[ent[0, 1]], ref.dense()[1][:, 0, :, 0, 0], rtol=1e-13)


# ------------------------------------------------------------------ models through the engine
def lifetable_model(hr="hr", rr=1.0, utility="u", utility_max=1.0, hs=None) -> Model:
    """Sick-Sicker-like with background mortality by age times per-draw hazard ratios (compiled values)."""
    bg = TABLE.mortality("total")
    return Model(
        states=("H", "S", "D"), strategies=("soc", "new"),
        transitions={("H", "S"): RelativeRisk(P("p_hs") * (1 - bg), rr) if hs is None else hs, ("H", "D"): bg,
                     ("H", "H"): C,
                     ("S", "D"): HazardRatio(bg, sim.ByStrategy(soc=hr, new=P(hr) * "hr_trt")), ("S", "S"): C},
        start={"H": 1.0}, horizon=40, cycle_length=1.0, start_age=55.0,
        parameters={"p_hs": 0.1, "hr": 2.0, "hr_trt": 0.7, "u": 0.8, "c": 1000.0, "rr_big": 1.0},
        costs={"care": {"S": P("c") * (1 + Year() / 10)}},
        utilities={"H": P(utility) * (1 - Year() / 200), "S": 0.6}, dead=("D",), utility_max=utility_max,
    )


def lifetable_draws(n=300, seed=3):
    g = np.random.default_rng(seed)
    return {"p_hs": g.uniform(0.05, 0.2, n), "hr": g.uniform(1.5, 3.0, n), "hr_trt": g.uniform(0.5, 0.9, n),
            "u": g.uniform(0.7, 0.9, n), "c": g.uniform(500, 1500, n)}


def test_lifetable_model_is_compiled_and_equals_the_numpy_path():
    model, params = lifetable_model(), lifetable_draws()
    a = build_arrays(model, resolve_draws(model, params), 0, 300, programs=True)
    assert len(a.prog) > 0 and (a.tr_ent[:, 2] == -1).any() and (a.rw_ent[:, 2] == -1).any()
    compiled = sim.run_cohort(model, params).outcomes
    numpy = sim.run_cohort(model, params, per_cycle=True).outcomes  # per-cycle output: the numpy path
    for col in ("cost", "qaly", "ly", "cost_undisc", "qaly_undisc"):
        np.testing.assert_allclose(compiled[col], numpy[col], rtol=1e-13)


def test_compiled_results_do_not_depend_on_chunks_threads_or_strategy_order(monkeypatch):
    model, params = lifetable_model(), lifetable_draws(n=700)
    base = sim.run_cohort(model, params).outcomes
    for chunk in (1, 100, 333):
        assert base.equals(sim.run_cohort(model, params, chunk_size=chunk).outcomes)
    monkeypatch.setattr(_config, "THREADS", 1)
    assert base.equals(sim.run_cohort(model, params).outcomes)
    monkeypatch.setattr(_config, "THREADS", 3)
    assert base.equals(sim.run_cohort(model, params, chunk_size=650).outcomes)
    swapped = sim.run_cohort(model.replace(strategies=("new", "soc")), params).outcomes
    for s in ("soc", "new"):
        x = base[base["strategy"] == s].reset_index(drop=True)
        y = swapped[swapped["strategy"] == s].reset_index(drop=True)
        assert np.array_equal(x["cost"], y["cost"]) and np.array_equal(x["qaly"], y["qaly"])


def _numpy_message(model, params) -> str:
    with pytest.raises(HtaError) as e:
        build_arrays(model, resolve_draws(model, params), 0, len(next(iter(params.values()))))
    return str(e.value)


@pytest.mark.parametrize("case", ["negative hr", "probability above 1", "complement", "utility", "inf"])
def test_located_errors_of_the_compiled_path_are_the_numpy_messages(case):
    params = lifetable_draws(n=300)
    model = lifetable_model()
    if case == "negative hr":
        params["hr"][211] = -0.5
    elif case == "probability above 1":
        model = lifetable_model(rr="rr_big")
        params["rr_big"] = np.ones(300)
        params["rr_big"][177] = 40.0  # p_hs (1 - q) 40 > 1 in draw 177
    elif case == "complement":
        model = lifetable_model(hs=P("p_hs") * Year() / 40)
        params["p_hs"][5] = 0.9999  # H -> S plus H -> D above 1 at old ages
    elif case == "utility":
        params["u"][250] = 1.2
    else:
        params["c"][140] = 1e308  # times (1 + year / 10): inf
    want = _numpy_message(model, params)
    assert "strategy" in want and ("draw" in want or case == "negative hr")
    with pytest.raises(HtaError) as e:
        sim.run_cohort(model, params)
    assert str(e.value) == want
    with pytest.raises(HtaError) as e:  # and in a chunk that starts elsewhere
        sim.run_cohort(model, params, chunk_size=128)
    assert str(e.value) == want


# ------------------------------------------------------------------ the flagship
def test_flagship_expressions_equal_the_callable_version():
    from cohorts import omt_vs_cabg

    model, callables = omt_vs_cabg.build(), omt_vs_cabg._build_callables()
    table = omt_vs_cabg.psa_table()
    draws = resolve_draws(model, table.sampler(300, 11).arrays(0, 300))
    a = build_arrays(model, draws, 0, 300, programs=True)
    assert len(a.prog) > 10  # compiled: the competing hazards and utilities run in the kernel
    x = sim.run_psa(model, table, 300, 11).outcomes
    y = sim.run_psa(callables, table, 300, 11).outcomes
    assert list(x.columns) == list(y.columns)
    for col in x.columns[2:]:
        np.testing.assert_allclose(x[col], y[col], rtol=1e-10, atol=0)
    for scenario in ({}, {"wane_years": 5.0, "effect_years": 15.0, "du_profile": 0, "age_start": 70}):
        b0 = sim.run_cohort(omt_vs_cabg.build(scenario)).outcomes
        b1 = sim.run_cohort(omt_vs_cabg._build_callables(scenario)).outcomes
        for col in b0.columns[2:]:
            np.testing.assert_allclose(b0[col], b1[col], rtol=1e-10, atol=0)


# ------------------------------------------------------------------ the function nodes
def test_function_nodes_evaluate_as_numpy():
    model = cost_model(0.0)
    draws = resolve_draws(model, DRAWS)
    from sim.model.evaluate import Context, Params, Time, evaluate

    arr = {k: v.reshape(-1, 1, 1) for k, v in DRAWS.items()}
    time = Time(cycle=np.arange(7).reshape(1, 7, 1), cycle_length=0.5, start_age=60.0,
                sojourn=np.zeros((1, 1, 1), dtype=int), strategy="s", where="v")
    ctx = Context(Params(arr, N), time, "v")
    a, b, y = arr["a"], arr["b"], np.arange(7).reshape(1, 7, 1) * 0.5
    assert np.array_equal(evaluate(Exp("a"), ctx), np.exp(a))
    assert np.array_equal(evaluate(Log("b"), ctx), np.log(b))
    assert np.array_equal(evaluate(Min("a", Year()), ctx), np.minimum(a, y))
    assert np.array_equal(evaluate(Max("a", Year()), ctx), np.maximum(a, y))
    assert np.array_equal(evaluate(Where(Year() < 1.2, "a", "b"), ctx), np.where(y < 1.2, a, b))
    assert np.array_equal(evaluate(Year() >= P("a"), ctx), (y >= a).astype(float))
    p = competing({"x": "a", "y": P("b") * Year()})
    tot = evaluate(p["x"], ctx) + evaluate(p["y"], ctx)
    np.testing.assert_allclose(tot, -np.expm1(-(a + b * y) * 0.5), rtol=1e-14)
    np.testing.assert_allclose(evaluate(p["y"], ctx)[:, 0], 0.0)  # no hazard at year 0
    inf = evaluate(Competing((np.inf, 1.0, np.inf), 0), ctx)
    assert np.all(inf == 0.5)
    assert draws.ids.size == N
    with pytest.raises(HtaError, match="v: Log of the negative number"):
        evaluate(Log(P("a") - 1), ctx)
    with pytest.raises(HtaError, match="negative hazard"):
        evaluate(Competing(("a", P("a") - 1), 0), ctx)
    with pytest.raises(HtaError, match="index 2 must pick one of the 2 hazards"):
        Competing(("a", "b"), 2)
    with pytest.raises(HtaError, match="Where cond"):
        Where([1], "a", "b")
    assert repr(Year() < 5) == "(Year() < 5.0)"
