"""The engine's fast paths against the general kernel and the naive references.

* :func:`sim.cohort._kernels.occupancy_kernel` (state rewards fixed over cycles, no
  transition rewards) against :func:`~sim.cohort._kernels.cohort_kernel` and
  ``tests/naive.py`` on random models, bit-for-bit reproducible across chunk sizes
  and strategy orders;
* :func:`sim._decision_kernels.best_counts` (the CEAC) against ``best_counts_naive``;
* the lazily built outcomes table of :class:`sim.PSAResult` against ``run_cohort``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from naive import best_counts_naive
from test_engine_oracle import (
    ATOL,
    FEW_EXAMPLES,
    MAX_EXAMPLES,
    RTOL,
    SETTINGS,
    build_model,
    cases,
    column,
    cost_components,
    naive_of,
    params_of,
    run,
    trace_array,
)

import sim
from sim import _config
from sim.cohort import engine
from sim.cohort.engine import _occupancy_applies, cohort_totals
from sim.decision._kernels import COUNT_BLOCK, best_counts
from sim.model.arrays import build_arrays, resolve_draws


def _untimed(case):
    """The case with every state reward fixed over cycles (its cycle-0 values) and no
    transition rewards: the occupancy kernel's domain."""
    def flat(a):
        return np.broadcast_to(a[:, :, :1], a.shape).copy()

    return dataclasses.replace(case, costs={k: flat(v) for k, v in case.costs.items()}, util=flat(case.util),
                               r_time=False, tcosts={}, tutil=None, entry_cost=None)


def _both(case, **kw):
    """Totals of the default dispatch and of the general kernel forced."""
    model = build_model(case)
    draws = resolve_draws(model, params_of(case))
    fast = cohort_totals(model, draws, memory_limit=engine.DEFAULT_MEMORY, **kw)
    slow = cohort_totals(model, draws, memory_limit=engine.DEFAULT_MEMORY, kernel="general", **kw)
    return model, draws, fast, slow


@settings(max_examples=MAX_EXAMPLES, **SETTINGS)
@given(data=st.data())
def test_occupancy_kernel_matches_general_kernel_and_naive(data):
    case = _untimed(data.draw(cases(with_tr=False), label="case"))
    model, draws, fast, slow = _both(case, trace=True, chunk_size=None)
    assert _occupancy_applies(build_arrays(model, draws, 0, case.n))  # the fast path is taken
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-12, atol=1e-12)
    assert np.array_equal(fast[1], slow[1])  # same trace: same transition arithmetic
    res, ref = run(case, trace=True), naive_of(case, trace=True)
    for g, suffix in (("disc", ""), ("undisc", "_undisc")):
        for c in cost_components(case):
            np.testing.assert_allclose(column(res, f"cost_{c}{suffix}", case), ref[g][c], rtol=RTOL, atol=ATOL)
        for col in ("qaly", "ly"):
            np.testing.assert_allclose(column(res, f"{col}{suffix}", case), ref[g][col], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(trace_array(res, case), ref["trace"], rtol=RTOL, atol=ATOL)


@settings(max_examples=FEW_EXAMPLES, **SETTINGS)
@given(cases(min_draws=4, max_draws=7), st.randoms(use_true_random=False))
def test_occupancy_kernel_bitwise_reproducible(case, rnd):
    case = _untimed(case)
    ref = run(case)
    cols = [c for c in ref.outcomes.columns if c != "strategy"]
    for chunk in (1, 3):
        got = run(case, chunk_size=chunk)
        for c in cols:
            assert np.array_equal(got.outcomes[c].to_numpy(), ref.outcomes[c].to_numpy()), (chunk, c)
    order = list(case.strategies)
    rnd.shuffle(order)
    res = run(case, order=order[::-1])
    for s in case.strategies:
        x = ref.outcomes[ref.outcomes["strategy"] == s].drop(columns="strategy").to_numpy()
        y = res.outcomes[res.outcomes["strategy"] == s].drop(columns="strategy").to_numpy()
        assert np.array_equal(x, y), s


def test_general_kernel_kept_where_rewards_vary_by_cycle_or_on_transitions():
    """Cycle-varying state rewards or transition rewards: the occupancy kernel does not apply."""
    from test_engine_oracle import _fixed_case

    case = _fixed_case("half-cycle")  # rewards vary by cycle, transition costs and utilities
    model = build_model(case)
    a = build_arrays(model, resolve_draws(model, params_of(case)), 0, case.n)
    assert not _occupancy_applies(a)
    flat = dataclasses.replace(_untimed(case), tcosts=case.tcosts)  # fixed rewards, transition costs
    model = build_model(flat)
    assert not _occupancy_applies(build_arrays(model, resolve_draws(model, params_of(flat)), 0, flat.n))


def test_occupancy_weights_group_columns_discounted_alike():
    c_own = np.array([[[0.5, 1.0], [0.5, 1.0], [0.5, 0.9]], [[0.5, 1.0]] * 3])
    c_prev = np.zeros_like(c_own)
    w, col_w = engine._occupancy_weights(c_own, c_prev)
    assert w.shape == (2, 2)  # [0.5, 1.0] and [0.5, 0.9]
    for g in range(2):
        for r in range(3):
            assert np.array_equal(w[col_w[g, r]], c_own[g, r] + c_prev[g, r])
    assert col_w[0, 0] == col_w[0, 1] == col_w[1, 2] and col_w[0, 2] != col_w[0, 0]


# ---------------------------------------------------------------------------- CEAC counts
@settings(max_examples=MAX_EXAMPLES, **SETTINGS)
@given(
    data=st.data(),
    n=st.integers(1, 3 * COUNT_BLOCK + 5),
    k=st.integers(1, 5),
    wtp=hnp.arrays(np.float64, st.integers(1, 12), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e3, 3e4])),
)
def test_best_counts_matches_naive(data, n, k, wtp):
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if data.draw(st.booleans(), label="ties"):  # small integers: many exact ties
        c = rng.integers(0, 4, (n, k)).astype(float)
        e = rng.integers(0, 3, (n, k)).astype(float)
    else:
        c = rng.normal(1e4, 3e3, (n, k))
        e = rng.normal(5.0, 1.0, (n, k))
    out = np.full((-(-n // COUNT_BLOCK), k, len(wtp)), -1, dtype=np.int64)
    best_counts(c, e, wtp, out)
    got = out.sum(axis=0)
    assert np.array_equal(got, best_counts_naive(c, e, wtp))
    assert (got.sum(axis=0) == n).all()


def test_ceac_probabilities_from_counts():
    c = np.array([[1.0, 2.0], [3.0, 1.0], [2.0, 2.0]])
    e = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    got = sim.ceac(c, e, [0.0, 10.0], ["a", "b"])
    # wtp 0: a, b, a (tie -> a); wtp 10: a (tie in e, lower cost), b, a (tie)
    assert got["probability"].tolist() == pytest.approx([2 / 3, 1 / 3, 2 / 3, 1 / 3])


# ---------------------------------------------------------------------------- lazy outcomes
@pytest.fixture(scope="module")
def small_psa():
    from test_psa import four_model, four_table

    table = four_table()
    model = four_model(table)
    return model, table, sim.run_psa(model, table, 700, 11, chunk_size=300)


def test_psa_outcomes_built_lazily_equal_run_cohort(small_psa):
    model, _table, psa = small_psa
    c, e, names = psa.matrices("qaly")  # from the arrays, before any table exists
    icer = psa.icer()
    assert psa._outcomes is None
    ref = sim.run_cohort(model, psa.draws).outcomes
    out = psa.outcomes
    pd.testing.assert_frame_equal(out, ref, check_exact=True)
    assert np.array_equal(out["draw"].to_numpy(), np.repeat(np.arange(700), len(model.strategies)))
    assert out.attrs["settings"] is psa.settings and psa.outcomes is out
    assert names == list(model.strategies)
    assert np.array_equal(c, out["cost"].to_numpy().reshape(-1, len(names)))
    assert np.array_equal(e, out["qaly"].to_numpy().reshape(-1, len(names)))
    eager = sim.icers(out)
    pd.testing.assert_frame_equal(icer, eager, check_exact=False, rtol=1e-12)


def test_psa_result_from_a_table_and_unknown_effect(small_psa):
    _, _, psa = small_psa
    plain = sim.PSAResult(psa.draws, psa.outcomes, psa.settings)  # public constructor: a table
    pd.testing.assert_frame_equal(plain.icer(effect="ly"), psa.icer(effect="ly"), check_exact=False, rtol=1e-12)
    for res in (psa, plain):
        with pytest.raises(sim.HtaError, match="no column 'nope'"):
            res.matrices("nope")
        with pytest.raises(sim.HtaError, match="no column 'nope'"):
            res.icer("nope")
    assert "PSAResult" in repr(psa)


# ---------------------------------------------------------------------------- threaded sampling
@pytest.mark.parametrize("lo, hi", [(0, 3 * 4096 + 17), (1000, 9000), (4096, 8192)])
def test_sampling_threads_give_the_serial_numbers(monkeypatch, lo, hi):
    """Monte Carlo blocks drawn on several threads: bit-for-bit the serial draws."""
    from test_psa import four_table

    from sim.params import sampling as P

    table = four_table()
    monkeypatch.setattr(P, "_threads", lambda: 1)
    serial = table.sampler(20_000, 5).arrays(lo, hi)
    monkeypatch.setattr(P, "_threads", lambda: 3)
    monkeypatch.setattr(P, "_POOL", {})
    threaded = table.sampler(20_000, 5).arrays(lo, hi)
    assert list(serial) == list(threaded) == table.names
    for name in table.names:
        assert np.array_equal(serial[name], threaded[name]), name
    # and a chunk of the sample equals the same rows of the whole
    whole = table.sampler(20_000, 5).arrays(0, 20_000)
    for name in table.names:
        assert np.array_equal(whole[name][lo:hi], threaded[name]), name


def test_sampling_threads_setting(monkeypatch):
    from sim import _config
    from sim.params import sampling as P

    monkeypatch.setenv("HTA_SIM_SAMPLING_THREADS", "3")
    assert P._threads() == (3 if _config.PARALLEL else 1)
    monkeypatch.setattr(_config, "PARALLEL", False)
    assert P._threads() == 1
    monkeypatch.setattr(_config, "PARALLEL", True)
    monkeypatch.setenv("HTA_SIM_SAMPLING_THREADS", "1")
    assert P._threads() == 1


# ---------------------------------------------------------------------------- chunk sizing
def test_first_chunk_sized_by_a_probe_not_the_worst_case(monkeypatch):
    """A model storing far less than the worst case runs in one chunk when it fits,
    with the numbers of any other chunking."""
    from test_psa import four_model, four_table

    table = four_table()
    model = four_model(table)
    n = 3000
    draws = resolve_draws(model, table.draw(n, 3))
    worst = engine._bytes_per_draw(model, False)
    probe = engine._probe_bytes_per_draw(model, draws, False)
    actual = build_arrays(model, draws, 0, n)
    assert (actual.ev.nbytes + actual.start.nbytes) / n <= probe < worst  # never an under-estimate
    calls = []
    kernel = engine._kernels.occupancy_program_kernel

    def counting(*args):
        calls.append(args[9].shape[0])  # draws of the chunk (out)
        return kernel(*args)

    monkeypatch.setattr(engine._kernels, "occupancy_program_kernel", counting)
    monkeypatch.setattr(_config, "THREADS", 1)  # one kernel call per chunk (not one per thread)
    limit = int(worst * n / 4)  # the worst case would need 4 chunks; the probe says 1
    one, _, _ = cohort_totals(model, draws, trace=False, chunk_size=None, memory_limit=limit)
    assert calls == [n]
    calls.clear()
    many, _, _ = cohort_totals(model, draws, trace=False, chunk_size=None, memory_limit=int(probe * n / 3))
    assert len(calls) >= 2 and calls[0] == n // 3 and sum(calls) == n  # then sized from the chunk
    assert np.array_equal(one, many)


def test_psa_result_is_immutable(small_psa):
    _, _, psa = small_psa
    for name in ("draws", "settings"):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(psa, name, None)
