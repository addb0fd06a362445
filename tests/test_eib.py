"""Expected incremental benefit (BCEA's ``eib``) against a hand calculation."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import HtaError


def test_eib_by_hand():
    # three draws, strategies "new" (reference, BCEA's intervention) and "old"
    costs = np.array([[1000.0, 400.0], [1200.0, 500.0], [900.0, 450.0]])
    effects = np.array([[2.0, 1.9], [2.2, 2.0], [1.8, 1.75]])
    table = sim.eib(costs, effects, [0, 5000, 20000], strategies=["new", "old"])
    # mean delta e = (0.1 + 0.2 + 0.05) / 3 = 0.35 / 3; mean delta c = (600 + 700 + 450) / 3 = 1750 / 3
    expected = [k * 0.35 / 3 - 1750 / 3 for k in (0, 5000, 20000)]
    assert list(table.columns) == ["wtp", "strategy", "eib"]
    assert list(table["strategy"]) == ["old"] * 3
    np.testing.assert_allclose(table["eib"], expected, rtol=1e-12, atol=1e-9)
    assert table.attrs["reference"] == "new"
    # break-even at k = 1750 / 0.35 = 5000: EIB is zero there
    assert table["eib"].iloc[1] == pytest.approx(0.0, abs=1e-9)
    # the other way round: the sign flips
    flipped = sim.eib(costs, effects, [0, 5000, 20000], strategies=["new", "old"], reference="old")
    np.testing.assert_allclose(flipped["eib"], -np.array(expected), rtol=1e-12, atol=1e-9)


def test_eib_three_strategies_and_errors():
    rng = np.random.default_rng(3)
    c, e = rng.normal(1000, 100, (50, 3)), rng.normal(2, 0.2, (50, 3))
    t = sim.eib(c, e, 10000.0, strategies=["a", "b", "c"], reference="b")
    assert list(t["strategy"]) == ["a", "c"]
    for s, j in (("a", 0), ("c", 2)):
        want = np.mean(10000 * (e[:, 1] - e[:, j]) - (c[:, 1] - c[:, j]))
        assert float(t.loc[t["strategy"] == s, "eib"].iloc[0]) == pytest.approx(want, rel=1e-12)
    with pytest.raises(HtaError, match="unknown reference strategy 'z'"):
        sim.eib(c, e, 1.0, strategies=["a", "b", "c"], reference="z")
    with pytest.raises(HtaError, match="there is none"):
        sim.eib(c[:, :1], e[:, :1], 1.0)
