"""sim.run_cohort against a naive reference implementation (tests/naive.py) on
random models, plus invariants of the engine.

Random models are plain arrays (transition matrices, start distributions,
rewards); the sim.Model is built from them with callables ``f(p, t)`` that
index the arrays by strategy, draw (parameter ``draw_index``) and cycle.

``HTA_SIM_TEST_EXAMPLES`` sets the number of Hypothesis examples per property
test (default 60); tests/test_nojit.py lowers it for its run without JIT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import CORRECTIONS, run_naive

import sim
from sim import ANY, ByStrategy, C, Model

MAX_EXAMPLES = int(os.environ.get("HTA_SIM_TEST_EXAMPLES", "60"))
FEW_EXAMPLES = max(3, MAX_EXAMPLES // 3)
RTOL, ATOL = 1e-10, 1e-12
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------- random models
@dataclass
class Case:
    n: int
    K: int
    T: int
    S: int
    h: float
    correction: str
    discount_costs: object
    discount_outcomes: object
    timing: str
    P: np.ndarray  # (n, K, T, S, S)
    start: np.ndarray  # (n, K, S)
    costs: dict  # component -> (n, K, T+1, S), per cycle
    util: np.ndarray  # (n, K, T+1, S), per year
    dead: tuple  # state indices
    absorbing: tuple  # state indices
    tcosts: dict = field(default_factory=dict)  # component -> (n, K, T, S, S)
    tutil: np.ndarray | None = None  # (n, K, T, S, S)
    entry_cost: tuple | None = None  # (dest state j, (n, K, T) array): (ANY, j) transition cost
    # how the arrays are exposed to the model
    p_time: bool = True
    p_draw: bool = True
    r_time: bool = True
    r_draw: bool = True
    start_draw: bool = False
    start_by_strategy: bool = True
    use_complement: bool = False
    omit_absorbing: bool = False
    use_bystrategy: bool = False

    @property
    def states(self):
        return tuple(f"s{i}" for i in range(self.S))

    @property
    def strategies(self):
        return tuple(f"k{k}" for k in range(self.K))


def _rows(rng, shape, S, sparse):
    """Random row-stochastic matrices of ``shape + (S, S)``."""
    x = rng.dirichlet(np.full(S, 0.7), size=shape + (S,))
    if sparse:
        mask = rng.random(x.shape) < 0.3
        mask[..., 0] = False  # keep at least one entry per row
        x = np.where(mask, 0.0, x)
        x = x / x.sum(axis=-1, keepdims=True)
    return x


@st.composite
def cases(draw, *, min_draws=1, max_draws=4, corrections=CORRECTIONS, with_tr=None, nonneg=False):
    correction = draw(st.sampled_from(corrections))
    S = draw(st.integers(2, 5))
    K = draw(st.integers(1, 3))
    T = 2 * draw(st.integers(1, 12)) if correction == "simpson" else draw(st.integers(1, 25))
    n = draw(st.integers(min_draws, max_draws))
    h = draw(st.sampled_from([1.0, 0.5, 1 / 12]))
    rate = st.floats(0.0, 0.1, allow_nan=False)
    schedule = st.builds(
        lambda r0, b1, r1, more: [(0, r0), (b1, r1)] + ([(b1 + more[0], more[1])] if more else []),
        rate, st.sampled_from([0.25, 0.5, 1.0, 1.3, 2.0, 3.75]), rate,
        st.one_of(st.none(), st.tuples(st.sampled_from([0.5, 1.0, 2.25]), rate)),
    )
    disc = st.one_of(rate, rate, schedule)
    dc, do = draw(disc), draw(disc)
    timing = draw(st.sampled_from(["exact", "exact", "annual"]))
    p_time, p_draw, r_time, r_draw = (draw(st.booleans()) for _ in range(4))
    start_draw, start_by_strategy = draw(st.booleans()), draw(st.booleans())
    use_complement, omit_absorbing, use_bystrategy = (draw(st.booleans()) for _ in range(3))
    has_tr = draw(st.booleans()) if with_tr is None else with_tr
    n_absorbing = draw(st.integers(0, S - 1))
    seed = draw(st.integers(0, 2**32 - 1))

    rng = np.random.default_rng(seed)
    absorbing = tuple(sorted(rng.choice(S, size=n_absorbing, replace=False).tolist()))
    P = _rows(rng, (n if p_draw else 1, K, T if p_time else 1), S, sparse=bool(rng.random() < 0.5))
    P = np.broadcast_to(P, (n, K, T, S, S)).copy()
    for a in absorbing:
        P[..., a, :] = 0.0
        P[..., a, a] = 1.0
    st_shape = (n if start_draw else 1, 1 if not start_by_strategy else K, S)
    start = rng.dirichlet(np.full(S, 0.8), size=st_shape[:2])
    start = np.broadcast_to(start, (n, K, S)).copy()

    rshape = (n if r_draw else 1, K, T + 1 if r_time else 1, S)

    def reward(lo, hi):
        return np.broadcast_to(rng.uniform(lo, hi, size=rshape), (n, K, T + 1, S)).copy()

    n_comp = int(rng.integers(1, 3))
    costs = {f"c{c}": reward(0.0, 1000.0) for c in range(n_comp)}
    util = reward(0.0, 1.0)
    dead = tuple(sorted(rng.choice(S, size=int(rng.integers(0, S)), replace=False).tolist()))

    tcosts, tutil, entry_cost = {}, None, None
    if has_tr:
        tshape = (n if r_draw else 1, K, T if r_time else 1, S, S)

        def trew(lo, hi):
            x = rng.uniform(lo, hi, size=tshape) * (rng.random(tshape[-2:]) < 0.5)
            return np.broadcast_to(x, (n, K, T, S, S)).copy()

        comp = "c0" if rng.random() < 0.5 else "tc"  # shared with a state-cost component, or new
        tcosts[comp] = trew(0.0, 500.0)
        tutil = trew(0.0, 0.3) if nonneg else trew(-0.5, 0.0)
        if rng.random() < 0.5:
            j = int(rng.integers(0, S))
            entry_cost = (j, np.broadcast_to(rng.uniform(0, 100, size=tshape[:3]), (n, K, T)).copy())
    return Case(n=n, K=K, T=T, S=S, h=h, correction=correction, discount_costs=dc, discount_outcomes=do,
                timing=timing, P=P, start=start, costs=costs, util=util, dead=dead, absorbing=absorbing,
                tcosts=tcosts, tutil=tutil, entry_cost=entry_cost, p_time=p_time, p_draw=p_draw,
                r_time=r_time, r_draw=r_draw, start_draw=start_draw, start_by_strategy=start_by_strategy,
                use_complement=use_complement, omit_absorbing=omit_absorbing, use_bystrategy=use_bystrategy)


# ---------------------------------------------------------------------------- building the Model
def _indexer(arr, by_draw, by_time, tail, k=None):
    """Callable f(p, t) -> arr[draw, strategy, cycle, *tail] broadcastable to (draws, m, 1)."""

    def f(p, t):
        kk = int(t.strategy[1:]) if k is None else k
        d = p["draw_index"].astype(np.int64) if by_draw else np.zeros((1, 1, 1), dtype=np.int64)
        c = t.cycle if by_time else np.zeros((1, 1, 1), dtype=np.int64)
        return arr[(d, kk, c) + tail]

    return f


def _value(case, arr, by_draw, by_time, tail, scale=1.0):
    """A model value reading ``arr``: by t.strategy or through ByStrategy."""
    if scale != 1.0:
        arr = arr * scale
    if case.use_bystrategy:
        return ByStrategy({s: _indexer(arr, by_draw, by_time, tail, k=k)
                           for k, s in enumerate(case.strategies)})
    return _indexer(arr, by_draw, by_time, tail)


def build_model(case: Case, *, order=None, cost_scale=1.0, merge_costs=False) -> Model:
    states, strats = case.states, case.strategies
    order = strats if order is None else tuple(order)
    transitions = {}
    for i in range(case.S):
        if i in case.absorbing:
            if not case.omit_absorbing:
                transitions[(states[i], states[i])] = 1.0
            continue
        for j in range(case.S):
            if case.use_complement and j == i:
                transitions[(states[i], states[j])] = C
            else:
                transitions[(states[i], states[j])] = _value(case, case.P, case.p_draw, case.p_time, (i, j))
    start_arr = case.start[:, :, None, :]  # (n, K, 1, S): a time axis for the indexer
    if case.start_by_strategy:
        start = {s: {states[i]: _indexer(start_arr, case.start_draw, False, (i,), k=k) for i in range(case.S)}
                 for k, s in enumerate(strats)}
    else:
        start = {states[i]: _indexer(start_arr, case.start_draw, False, (i,)) for i in range(case.S)}
    if merge_costs:
        total = sum(case.costs.values())
        costs = {"all": {states[i]: _value(case, total, case.r_draw, case.r_time, (i,), cost_scale)
                         for i in range(case.S)}}
    else:
        costs = {c: {states[i]: _value(case, a, case.r_draw, case.r_time, (i,), cost_scale)
                     for i in range(case.S)}
                 for c, a in case.costs.items()}
    utilities = {states[i]: _value(case, case.util, case.r_draw, case.r_time, (i,)) for i in range(case.S)}
    tcosts = {}
    for comp, a in case.tcosts.items():
        comp = "all" if merge_costs and comp.startswith("c") else comp
        tcosts[comp] = {(states[i], states[j]): _value(case, a, case.r_draw, case.r_time, (i, j), cost_scale)
                        for i in range(case.S) for j in range(case.S) if a[..., i, j].any()}
    if case.entry_cost is not None:
        j, a = case.entry_cost
        tcosts["entry"] = {(ANY, states[j]): _value(case, a, case.r_draw, case.r_time, (), cost_scale)}
    tutil = {}
    if case.tutil is not None:
        tutil = {(states[i], states[j]): _value(case, case.tutil, case.r_draw, case.r_time, (i, j))
                 for i in range(case.S) for j in range(case.S) if case.tutil[..., i, j].any()}
    return Model(
        states=states, strategies=order, transitions=transitions, start=start, horizon=case.T,
        cycle_length=case.h, parameters={"draw_index": 0.0}, costs=costs, utilities=utilities,
        transition_costs=tcosts, transition_utilities=tutil, dead=tuple(states[i] for i in case.dead),
        correction=case.correction, discount_costs=case.discount_costs,
        discount_outcomes=case.discount_outcomes, discount_timing=case.timing, name="random",
    )


def params_of(case: Case) -> dict:
    return {"draw_index": np.arange(case.n)}


def run(case: Case, **kw):
    trace = kw.pop("trace", False)
    chunk_size = kw.pop("chunk_size", None)
    return sim.run_cohort(build_model(case, **kw), params_of(case), trace=trace, chunk_size=chunk_size)


def naive_of(case: Case, trace=False, transition_weighting="full"):
    rewards = dict(case.costs)
    rewards["qaly"] = case.util * case.h
    alive = np.array([0.0 if i in case.dead else case.h for i in range(case.S)])
    rewards["ly"] = np.broadcast_to(alive, case.util.shape)
    trs = {}
    for comp, a in case.tcosts.items():
        trs[comp] = a
    if case.entry_cost is not None:
        j, a = case.entry_cost
        tr = np.zeros(case.P.shape)
        for i in range(case.S):
            if i != j:
                tr[..., i, j] = a
        trs["entry"] = tr
    if case.tutil is not None:
        trs["qaly"] = case.tutil
    return run_naive(case.P, case.start, rewards, trs, correction=case.correction, cycle_length=case.h,
                     discount_costs=case.discount_costs, discount_outcomes=case.discount_outcomes,
                     timing=case.timing, trace=trace, transition_weighting=transition_weighting)


def column(res, name, case):
    return res.outcomes[name].to_numpy().reshape(case.n, case.K)


def trace_array(res, case):
    tr = res.trace
    assert list(tr.columns) == ["draw", "strategy", "cycle", "state", "share"]
    arr = tr["share"].to_numpy().reshape(case.n, case.K, case.T + 1, case.S)
    # the layout the reshape assumes
    assert np.array_equal(tr["cycle"].to_numpy().reshape(arr.shape), np.broadcast_to(
        np.arange(case.T + 1)[None, None, :, None], arr.shape))
    assert list(tr["state"].iloc[: case.S]) == list(case.states)
    return arr


def cost_components(case):
    comps = list(case.costs) + [c for c in case.tcosts if c not in case.costs]
    if case.entry_cost is not None:
        comps.append("entry")
    return comps


# ---------------------------------------------------------------------------- oracle
@pytest.mark.parametrize("correction", CORRECTIONS)
@settings(max_examples=MAX_EXAMPLES, **SETTINGS)
@given(data=st.data())
def test_engine_matches_naive(correction, data):
    case = data.draw(cases(corrections=(correction,)), label="case")
    res = run(case, trace=True)
    ref = naive_of(case, trace=True)
    comps = cost_components(case)
    for g, suffix in (("disc", ""), ("undisc", "_undisc")):
        for c in comps:
            np.testing.assert_allclose(column(res, f"cost_{c}{suffix}", case), ref[g][c],
                                       rtol=RTOL, atol=ATOL, err_msg=f"cost_{c}{suffix}")
        total = sum(ref[g][c] for c in comps)
        np.testing.assert_allclose(column(res, f"cost{suffix}", case), total, rtol=RTOL, atol=ATOL,
                                   err_msg=f"cost{suffix}")
        for col in ("qaly", "ly"):
            np.testing.assert_allclose(column(res, f"{col}{suffix}", case), ref[g][col], rtol=RTOL, atol=ATOL,
                                       err_msg=f"{col}{suffix}")
    np.testing.assert_allclose(trace_array(res, case), ref["trace"], rtol=RTOL, atol=ATOL)
    assert list(res.outcomes["draw"]) == list(np.repeat(np.arange(case.n), case.K))
    assert list(res.outcomes["strategy"]) == list(case.strategies) * case.n


@pytest.mark.parametrize("correction", CORRECTIONS)
def test_engine_matches_naive_fixed_case(correction):
    """Every correction on one fixed case: time- and draw-varying, step-down discounting,
    transition costs and utilities (a reproducible complement to the random cases)."""
    case = _fixed_case(correction)
    res = run(case)
    ref = naive_of(case)
    for col in ("qaly", "ly"):
        np.testing.assert_allclose(column(res, col, case), ref["disc"][col], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(column(res, col + "_undisc", case), ref["undisc"][col],
                                   rtol=RTOL, atol=ATOL)
    for c in cost_components(case):
        np.testing.assert_allclose(column(res, f"cost_{c}", case), ref["disc"][c], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("correction", CORRECTIONS)
def test_corrected_transition_rewards_match_naive(correction):
    """``transition_rewards="corrected"``: each cycle's transition rewards times the correction's
    weight of the point they end at (the DARTH tutorials' way), against the naive loops."""
    case = _fixed_case(correction)
    res = sim.run_cohort(build_model(case).replace(transition_rewards="corrected"), params_of(case))
    ref = naive_of(case, transition_weighting="corrected")
    for g, suffix in (("disc", ""), ("undisc", "_undisc")):
        np.testing.assert_allclose(column(res, "qaly" + suffix, case), ref[g]["qaly"], rtol=RTOL, atol=ATOL)
        for c in cost_components(case):
            np.testing.assert_allclose(column(res, f"cost_{c}{suffix}", case), ref[g][c], rtol=RTOL, atol=ATOL)


def _fixed_case(correction, seed=12345):
    """A time-varying, draw-varying 4-state case with transition rewards."""
    rng = np.random.default_rng(seed)
    n, K, T, S, h = 3, 2, 10, 4, 0.5
    P = _rows(rng, (n, K, T), S, sparse=False)
    P[..., 3, :] = 0.0
    P[..., 3, 3] = 1.0
    start = np.broadcast_to(rng.dirichlet(np.ones(S), size=(1, K)), (n, K, S)).copy()
    costs = {"c0": rng.uniform(0, 1000, (n, K, T + 1, S)), "c1": rng.uniform(0, 10, (n, K, T + 1, S))}
    util = rng.uniform(0, 1, (n, K, T + 1, S))
    tcosts = {"tc": rng.uniform(0, 500, (n, K, T, S, S))}
    tutil = -rng.uniform(0, 0.5, (n, K, T, S, S))
    return Case(n=n, K=K, T=T, S=S, h=h, correction=correction, discount_costs=[(0, 0.05), (1.75, 0.02)],
                discount_outcomes=0.03, timing="exact", P=P, start=start, costs=costs, util=util, dead=(3,),
                absorbing=(3,), tcosts=tcosts, tutil=tutil)


# ---------------------------------------------------------------------------- invariants
@settings(max_examples=MAX_EXAMPLES, **SETTINGS)
@given(cases(nonneg=True))
def test_trace_invariants_and_discounting(case):
    res = run(case, trace=True)
    tr = trace_array(res, case)
    # every trace point is a distribution
    np.testing.assert_allclose(tr.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    assert (tr >= 0).all()
    assert np.array_equal(tr[:, :, 0, :], case.start)
    # absorbing states never lose mass
    for a in case.absorbing:
        assert (np.diff(tr[..., a], axis=-1) >= 0).all(), f"absorbing state s{a} lost mass"
    # with non-negative rewards, discounting never increases a total
    for col in ["cost", "qaly", "ly"] + [f"cost_{c}" for c in cost_components(case)]:
        disc, und = column(res, col, case), column(res, col + "_undisc", case)
        assert (disc >= 0).all()
        assert (disc <= und * (1 + 1e-12) + 1e-300).all(), col


@settings(max_examples=FEW_EXAMPLES, **SETTINGS)
@given(cases(), st.floats(0.01, 100.0))
def test_costs_linear_in_unit_costs(case, a):
    base = run(case)
    scaled = run(case, cost_scale=a)
    for col in ["cost", "cost_undisc"] + [f"cost_{c}" for c in cost_components(case)]:
        np.testing.assert_allclose(column(scaled, col, case), a * column(base, col, case),
                                   rtol=1e-12, atol=1e-12, err_msg=col)
    # QALYs and LYs do not depend on costs
    for col in ("qaly", "ly", "qaly_undisc", "ly_undisc"):
        assert np.array_equal(column(scaled, col, case), column(base, col, case))
    # adding two cost components adds their totals
    merged = run(case, merge_costs=True)
    for suffix in ("", "_undisc"):
        np.testing.assert_allclose(column(merged, "cost" + suffix, case), column(base, "cost" + suffix, case),
                                   rtol=1e-12, atol=1e-12)
        parts = sum(column(base, f"cost_{c}{suffix}", case) for c in cost_components(case)
                    if c.startswith("c"))
        np.testing.assert_allclose(column(merged, "cost_all" + suffix, case), parts, rtol=1e-12, atol=1e-12)


def _numeric(res):
    out = res.outcomes
    return {c: out[c].to_numpy() for c in out.columns if c not in ("strategy",)}


@settings(max_examples=FEW_EXAMPLES, **SETTINGS)
@given(cases(min_draws=4, max_draws=7), st.randoms(use_true_random=False))
def test_bitwise_reproducible_chunks_order_repeats(case, rnd):
    ref = run(case, trace=True)
    ref_num, ref_tr = _numeric(ref), ref.trace["share"].to_numpy()
    # same inputs twice
    again = run(case, trace=True)
    for c, v in ref_num.items():
        assert np.array_equal(_numeric(again)[c], v), c
    assert np.array_equal(again.trace["share"].to_numpy(), ref_tr)
    # any chunk size
    for chunk in (1, 3, case.n):
        res = run(case, trace=True, chunk_size=chunk)
        got = _numeric(res)
        for c, v in ref_num.items():
            assert np.array_equal(got[c], v), (chunk, c)
        assert np.array_equal(res.trace["share"].to_numpy(), ref_tr), chunk
    # any order of strategies
    order = list(case.strategies)
    rnd.shuffle(order)
    order = order[::-1] if order == list(case.strategies) else order
    res = run(case, trace=True, order=order)
    assert list(res.outcomes["strategy"].cat.categories) == order
    for s in case.strategies:
        x = ref.outcomes[ref.outcomes["strategy"] == s].drop(columns="strategy").to_numpy()
        y = res.outcomes[res.outcomes["strategy"] == s].drop(columns="strategy").to_numpy()
        assert np.array_equal(x, y), s
        tx = ref.trace[ref.trace["strategy"] == s]["share"].to_numpy()
        ty = res.trace[res.trace["strategy"] == s]["share"].to_numpy()
        assert np.array_equal(tx, ty), s


def test_oracle_detects_a_wrong_correction():
    """Guard against a vacuous oracle: the naive reference tells corrections apart."""
    case = _fixed_case("half-cycle")
    res = run(case)
    for other in ("start", "end", "trapezoid", "simpson", "simpson-darth"):
        ref = naive_of(Case(**{**case.__dict__, "correction": other}))
        assert not np.allclose(column(res, "qaly", case), ref["disc"]["qaly"], rtol=1e-6), other
