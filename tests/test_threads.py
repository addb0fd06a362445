"""Kernels run one call per thread on ranges of draws (sim._config.run_split): the numbers never depend
on the thread count, and run_split covers every item once."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import _config
from sim.decision.acceptability import _best_counts, ceaf


@pytest.fixture
def threads(monkeypatch):
    from sim.cohort import engine

    monkeypatch.setattr(engine, "_MIN_WORK", 1)  # split even small runs

    def use(n):
        _config.THREADS = n

    yield use
    _config.THREADS = None


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 600), st.integers(1, 9), st.integers(1, 2000))
def test_run_split_covers_every_item_once_on_aligned_ranges(n, align, k, min_items):
    _config.THREADS = k
    try:
        seen = []
        _config.run_split(lambda lo, hi: seen.append((lo, hi)), n, align, min_items)
    finally:
        _config.THREADS = None
    seen.sort()
    assert seen[0][0] == 0 and seen[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(seen, seen[1:], strict=False))
    assert all(lo % align == 0 for lo, _ in seen) and len(seen) <= max(1, k)
    assert len(seen) <= max(1, n // min_items)  # no thread for fewer than min_items items


def test_run_split_raises_the_error_of_any_range(threads):
    threads(3)

    def fail(lo, hi):
        if lo > 0:
            raise ValueError(f"range {lo}")

    with pytest.raises(ValueError, match="range"):
        _config.run_split(fail, 900, 100)


def test_cohort_psa_and_ceac_identical_whatever_the_threads(threads):
    from test_psa import four_model, four_table

    table = four_table()
    model = four_model(table)
    wtp = np.linspace(0, 100_000, 21)
    runs = []
    for k in (1, 2, 3, 8):
        threads(k)
        psa = sim.run_psa(model, table, 1_300, 5)  # 11 blocks of 128 draws: uneven ranges
        c, e, _ = psa.matrices()
        runs.append((psa.outcomes.drop(columns=["draw", "strategy"]).to_numpy(), psa.ceac(wtp).to_numpy(),
                     ceaf(c, e, wtp).to_numpy(), _best_counts(c, e, wtp)))
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_trace_identical_whatever_the_threads(threads):
    from test_psa import four_model, four_table

    table = four_table()
    model = four_model(table)
    draws = table.draw(300, 2)
    threads(1)
    one = sim.run_cohort(model, draws, trace=True)
    threads(4)
    four = sim.run_cohort(model, draws, trace=True)
    np.testing.assert_array_equal(one.trace["share"].to_numpy(), four.trace["share"].to_numpy())
    np.testing.assert_array_equal(one.outcomes["cost"].to_numpy(), four.outcomes["cost"].to_numpy())
