"""Values evaluated at their true dependence (issue 14 point 1): a parameter whose draws are all equal
is stored once (zero draw stride), and a value whose evaluation never reads the strategy is evaluated
once for all strategies. The numbers must be the same as evaluating everything per draw and strategy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import C, Model
from sim.model.arrays import build_arrays, resolve_draws


def _model(calls: list, by_strategy_calls: list) -> Model:
    def background(p, t):  # depends on age and on a parameter, not on the strategy
        calls.append(t.cycle.shape)
        return 0.001 * p["age0"] / 40.0 * 1.07 ** (t.cycle + 0.0)

    def progress(p, t):  # reads the strategy: evaluated per strategy
        by_strategy_calls.append(1)
        return p["p_prog"] * (0.5 if t.strategy == "new" else 1.0) + 0.0 * t.cycle

    return Model(
        name="sharing", states=("Well", "Ill", "Dead"), strategies=("old", "new"),
        transitions={("Well", "Ill"): progress, ("Well", "Dead"): background, ("Well", "Well"): C,
                     ("Ill", "Dead"): lambda p, t: 2.0 * background(p, t), ("Ill", "Ill"): C},
        start={"Well": 1.0}, horizon=20, cycle_length=1.0,
        parameters={"age0": 40.0, "p_prog": 0.05, "c_ill": 1000.0},
        costs={"care": {"Ill": "c_ill"}}, utilities={"Well": 0.9, "Ill": 0.6}, dead=("Dead",),
    )


def _draws(n: int, rng) -> dict:
    return {"age0": np.full(n, 40.0), "p_prog": rng.uniform(0.01, 0.1, n), "c_ill": rng.gamma(10.0, 100.0, n)}


def test_strategy_free_callable_is_evaluated_once_and_strategy_reader_per_strategy():
    calls, by_strat = [], []
    m = _model(calls, by_strat)
    build_arrays(m, resolve_draws(m, _draws(7, np.random.default_rng(1))), 0, 7)
    # background: once for Well->Dead, once inside Ill->Dead (a different value object), not once per strategy
    assert len(calls) == 2
    assert len(by_strat) == 2  # progress reads t.strategy: one evaluation per strategy


def test_constant_parameter_is_stored_without_a_draw_axis():
    calls, by_strat = [], []
    m = _model(calls, by_strat)
    n = 50
    a = build_arrays(m, resolve_draws(m, _draws(n, np.random.default_rng(2))), 0, n)
    well = m.states.index("Well")
    # the Well -> Dead entry depends on age0 only, whose draws are all 40: zero draw stride, one value per cycle
    ent = a.tr_ent[a.tr_ptr[0, well]:a.tr_ptr[0, well + 1]]
    dead = ent[ent[:, 0] == m.states.index("Dead")][0]
    assert dead[2] == 0 and dead[3] == 1
    ill = ent[ent[:, 0] == m.states.index("Ill")][0]
    assert ill[2] == 1  # p_prog varies by draw
    # collapse=False (the engine's memory probe on two draws, which may be equal by chance) keeps the draw axis
    b = build_arrays(m, resolve_draws(m, _draws(n, np.random.default_rng(2))), 0, n, collapse=False)
    ent = b.tr_ent[b.tr_ptr[0, well]:b.tr_ptr[0, well + 1]]
    assert ent[ent[:, 0] == m.states.index("Dead")][0][2] == 1
    assert a.ev.size < b.ev.size


@pytest.mark.parametrize("chunk_size", [1, 3, None])
def test_same_numbers_as_one_value_per_draw_and_strategy(chunk_size):
    """Reference: the same model with every draw evaluated separately as a base case (no sharing)."""
    calls, by_strat = [], []
    m = _model(calls, by_strat)
    rng = np.random.default_rng(3)
    draws = _draws(9, rng)
    draws["age0"][4] = 41.0  # one draw differs: chunks with and without a draw axis for age0
    res = sim.run_cohort(m, draws, chunk_size=chunk_size).outcomes
    for i in range(9):
        one = sim.run_cohort(m, {k: float(v[i]) for k, v in draws.items()}).outcomes
        for col in ("cost", "qaly", "ly"):
            got = res.loc[res["draw"] == i, col].to_numpy()
            want = one[col].to_numpy()
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_sharing_does_not_hide_a_strategy_specific_fault():
    """A strategy-reading value that is bad only in the second strategy is still reported there."""
    def prog(p, t):
        return 0.1 + (1.5 if t.strategy == "new" else 0.0) + 0.0 * t.cycle

    m = Model(name="fault", states=("Well", "Dead"), strategies=("old", "new"),
              transitions={("Well", "Dead"): prog, ("Well", "Well"): C}, start={"Well": 1.0}, horizon=5,
              cycle_length=1.0, parameters={}, utilities={"Well": 1.0}, dead=("Dead",))
    with pytest.raises(sim.HtaError, match="strategy 'new'.*above 1"):
        sim.run_cohort(m)


def test_strategies_picking_the_same_by_strategy_branch_share_the_value():
    """ByStrategy(a=x, b=x, c=y) * callable: strategies a and b share one evaluation, c has its own."""
    calls = []

    def surv(p, t):
        calls.append(1)
        return 1.0 - 0.01 * (t.cycle + 1.0) + 0.0 * p["p_x"]

    value = sim.ByStrategy(a="p_x", b="p_x", c="p_y") * surv
    m = Model(name="branches", states=("Well", "Dead"), strategies=("a", "b", "c"),
              transitions={("Well", "Dead"): value, ("Well", "Well"): C}, start={"Well": 1.0}, horizon=6,
              cycle_length=1.0, parameters={"p_x": 0.1, "p_y": 0.2}, utilities={"Well": 1.0}, dead=("Dead",))
    n = 4
    rng = np.random.default_rng(5)
    draws = {"p_x": rng.uniform(0.05, 0.2, n), "p_y": rng.uniform(0.05, 0.2, n)}
    a = build_arrays(m, resolve_draws(m, draws), 0, n)
    assert len(calls) == 2  # once for the branch p_x (strategies a and b), once for p_y
    offsets = [a.tr_ent[a.tr_ptr[k, 0]:a.tr_ptr[k, 1]][:, 1].tolist() for k in range(3)]
    assert offsets[0] == offsets[1] != offsets[2]
    res = sim.run_cohort(m, draws).outcomes
    for s, branch in zip(m.strategies, ("p_x", "p_x", "p_y"), strict=True):  # each strategy on its own
        alone = m.replace(strategies=("only",), transitions={("Well", "Dead"): sim.P(branch) * surv,
                                                             ("Well", "Well"): C})
        want = sim.run_cohort(alone, draws).outcomes
        np.testing.assert_array_equal(res.loc[res["strategy"] == s, "qaly"].to_numpy(), want["qaly"].to_numpy())


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), constant=st.sets(st.sampled_from(["age0", "p_prog", "c_ill"])),
       seed=st.integers(0, 2**16), lo=st.integers(0, 11))
def test_collapsed_pool_reads_the_same_numbers(n, constant, seed, lo):
    """Property: with or without collapsing equal draws, every (draw, cycle) reads the same numbers, bit for bit."""
    rng = np.random.default_rng(seed)
    draws = _draws(n, rng)
    draws["age0"] = rng.uniform(35.0, 60.0, n)
    for name in constant:
        draws[name] = np.full(n, draws[name][0])
    m = _model([], [])
    d = resolve_draws(m, draws)
    lo = min(lo, n - 1)
    a = build_arrays(m, d, lo, n)
    b = build_arrays(m, d, lo, n, collapse=False)
    for x, y in zip(a.dense(), b.dense(), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(np.broadcast_to(a.start, b.start.shape), b.start)
    np.testing.assert_array_equal(np.broadcast_to(a.initial, b.initial.shape), b.initial)
