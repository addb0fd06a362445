"""Bayesian decisions (sim.bayes) on hand-made utility matrices and the worked example."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import HtaError
from sim.decision.acceptability import ceac
from sim.decision.bayes import TABLE_COLUMNS, decide, decide_utility
from sim.decision.voi import evpi_nb

ROOT = Path(__file__).resolve().parents[1]

# 4 draws x 3 strategies
U = np.array([
    [1.0, 2.0, 0.0],
    [3.0, 1.0, 0.0],
    [2.0, 2.5, 5.0],
    [0.0, 2.5, 1.0],
])
NAMES = ["a", "b", "c"]


def test_hand_made_matrix():
    d = decide_utility(U, NAMES)
    assert tuple(d.table.columns) == TABLE_COLUMNS
    assert list(d.table["strategy"]) == NAMES
    # expected utility: a (1+3+2+0)/4 = 1.5, b (2+1+2.5+2.5)/4 = 2.0, c (0+0+5+1)/4 = 1.5
    assert list(d.table["expected_net_benefit"]) == pytest.approx([1.5, 2.0, 1.5])
    # best per draw: b, a, c, b
    assert list(d.table["probability_optimal"]) == pytest.approx([0.25, 0.5, 0.25])
    assert list(d.table["optimal"]) == [False, True, False]
    assert d.table["optimal"].dtype == bool
    assert d.optimal == "b"
    # EVPI = E[max] - max E = (2 + 3 + 5 + 2.5)/4 - 2 = 1.125
    assert d.evpi == pytest.approx(1.125)
    assert d.evpi == pytest.approx(evpi_nb(U))
    # expected loss: a (1+0+3+2.5)/4, b (0+2+2.5+0)/4 = EVPI, c (2+3+0+1.5)/4
    assert d.expected_loss == pytest.approx({"a": 1.625, "b": 1.125, "c": 1.625})
    assert d.expected == pytest.approx({"a": 1.5, "b": 2.0, "c": 1.5})
    assert d.probability_optimal == pytest.approx({"a": 0.25, "b": 0.5, "c": 0.25})
    assert d.n_draws == 4 and d.wtp is None
    assert "choose 'b'" in d.summary()


def test_ties_share_the_draw_and_the_first_wins_in_expectation():
    u = np.array([[1.0, 1.0], [0.0, 2.0], [2.0, 0.0]])
    d = decide_utility(u, ["x", "y"])
    assert list(d.table["expected_net_benefit"]) == pytest.approx([1.0, 1.0])
    assert list(d.table["probability_optimal"]) == pytest.approx([0.5, 0.5])  # draw 0 split
    assert d.optimal == "x"  # expected tie: first given
    assert d.table["probability_optimal"].sum() == pytest.approx(1.0)


def test_expected_tie_goes_to_the_first_name_whatever_the_order():
    u = np.array([[1.0, 1.0], [0.0, 2.0], [2.0, 0.0]])
    for names in (["x", "y"], ["y", "x"]):
        d = decide_utility(u, names)
        assert d.optimal == "x"  # the rule of ceac (sim.decision.ties), not the order given
        assert d.table.set_index("strategy").loc["x", "optimal"]


def test_decide_from_costs_and_effects():
    rng = np.random.default_rng(1)
    c = rng.normal([1000, 3000, 4000], 300, size=(500, 3))
    e = rng.normal([1.0, 1.1, 1.12], 0.05, size=(500, 3))
    d = decide(c, e, 20_000, ["s1", "s2", "s3"])
    nb = 20_000 * e - c
    ref = decide_utility(nb, ["s1", "s2", "s3"])
    pd.testing.assert_frame_equal(d.table, ref.table)
    assert d.wtp == 20_000
    assert list(d.table["expected_net_benefit"]) == pytest.approx(list(nb.mean(axis=0)), rel=1e-12)
    assert d.evpi == pytest.approx(evpi_nb(nb), rel=1e-12)
    assert d.optimal == ["s1", "s2", "s3"][int(np.argmax(nb.mean(axis=0)))]
    # probabilities agree with the CEAC (continuous draws: no ties)
    cc = ceac(c, e, 20_000, ["s1", "s2", "s3"]).set_index("strategy")["probability"]
    assert list(d.table["probability_optimal"]) == pytest.approx([cc["s1"], cc["s2"], cc["s3"]])


def test_dataframe_columns_name_strategies():
    d = decide_utility(pd.DataFrame(U, columns=NAMES))
    assert list(d.table["strategy"]) == NAMES
    costs = pd.DataFrame({"old": [100.0, 200.0], "new": [300.0, 500.0]})
    effects = pd.DataFrame({"old": [1.0, 1.0], "new": [1.02, 1.04]})
    d = decide(costs, effects, 10_000)
    # NB old: 9900, 9800 -> 9850; new: 9900, 9900 -> 9900
    assert d.expected == pytest.approx({"old": 9850.0, "new": 9900.0})
    assert d.optimal == "new"
    assert d.probability_optimal == pytest.approx({"old": 0.25, "new": 0.75})  # draw 0 tied
    assert d.evpi == pytest.approx(0.0)


def test_weights():
    d = decide_utility(U, NAMES, weights=[1.0, 0.0, 0.0, 0.0])
    assert list(d.table["expected_net_benefit"]) == pytest.approx(list(U[0]))
    assert list(d.table["probability_optimal"]) == pytest.approx([0.0, 1.0, 0.0])
    assert d.evpi == pytest.approx(0.0)
    same = decide_utility(U, NAMES, weights=[2.0, 2.0, 2.0, 2.0])
    assert same.evpi == pytest.approx(1.125)


@pytest.mark.parametrize("call, pattern", [
    (lambda: decide_utility(U, ["a", "b"]), "2 strategy names for 3 columns"),
    (lambda: decide_utility(U, ["a", "a", "c"]), r"duplicate strategy names \['a'\]"),
    (lambda: decide_utility(U), "give strategies="),
    (lambda: decide_utility(U, "abc"), "not the single string"),
    (lambda: decide_utility(np.array([[1.0, np.nan]]), ["a", "b"]), "draw 0, column 1 is nan"),
    (lambda: decide_utility(np.ones((2, 2, 2)), ["a", "b"]), "shape"),
    (lambda: decide_utility(U, NAMES, weights=[1, 1]), "one value per draw"),
    (lambda: decide_utility(U, NAMES, weights=[-1, 1, 1, 1]), ">= 0"),
    (lambda: decide(np.ones((3, 2)), np.ones((2, 2)), 1.0, ["a", "b"]), "same shape"),
    (lambda: decide(np.ones((3, 2)), np.ones((3, 2)), -5, ["a", "b"]), ">= 0"),
    (lambda: decide(np.ones((3, 2)), np.ones((3, 2)), None, ["a", "b"]), "one number"),
    (lambda: decide(np.ones((3, 2)), np.ones((3, 2)), [1, 2], ["a", "b"]), "one number"),
])
def test_bad_inputs(call, pattern):
    with pytest.raises(HtaError, match=pattern):
        call()


def test_worked_example(capsys):
    spec = importlib.util.spec_from_file_location("bayesian_decision", ROOT / "experiments" / "bayesian_decision.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    draws = mod.posterior_draws(40_000, 7)
    assert draws["p_standard"].mean() == pytest.approx(13 / 42, abs=0.005)
    assert draws["p_new_drug"].mean() == pytest.approx(20 / 42, abs=0.005)
    c, e = mod.costs_effects(draws)
    d = decide(c, e, 30_000, mod.STRATEGIES)
    exact = mod.exact_expected_nb(30_000)
    assert list(d.table["expected_net_benefit"]) == pytest.approx(list(exact), rel=2e-3)
    assert d.optimal == "new_drug"
    assert 0.5 < d.probability_optimal["new_drug"] < 0.9
    assert d.evpi > 0
    assert mod.main(["--draws", "2000"]) == 0
    assert "choose 'new_drug'" in capsys.readouterr().out
