"""Decision analysis on PSA output: net benefit, CEAC, CEAF, expected loss, EVPI, NNT
(docs/decision.md).

The tiny cases are worked by hand below: costs are whole numbers and effects
multiples of 1/8, so every net benefit is exact in floating point.  Tests marked
"library bug" in their docstring fail on purpose until the library is fixed.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.decision.acceptability import (
    ce_plane,
    ceac,
    ceaf,
    expected_loss,
    net_benefit,
    prob_cost_effective,
)
from sim.decision.icer import outcome_matrix
from sim.decision.number_needed import nnt
from sim.decision.ties import name_order, optimal_index
from sim.decision.voi import evpi, evpi_nb, population_evpi, population_factor
from sim.errors import HtaError

EXAMPLES = int(os.environ.get("HTA_SIM_TEST_EXAMPLES", "60"))
PROPERTY = settings(max_examples=2 * EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------- the worked example
NAMES = ["A", "B", "C"]
COSTS = np.array([[100.0, 300.0, 700.0],
                  [200.0, 250.0, 600.0],
                  [150.0, 500.0, 400.0],
                  [100.0, 200.0, 900.0]])
EFFECTS = np.array([[1.0, 1.125, 1.25],
                    [0.875, 1.0, 1.25],
                    [1.0, 1.0, 1.25],
                    [1.0, 1.125, 1.125]])
WTP = [0.0, 1000.0, 2000.0, 4000.0]

# Net monetary benefit 1000 e - c per draw (rows) and strategy (A, B, C):
#   d0: 900 825 550 -> A     d1: 675 750 650 -> B
#   d2: 850 500 850 -> A (tie with C: first by name)   d3: 900 925 225 -> B
# At 2000: d0 1900 1950 1800 -> B; d1 1550 1750 1900 -> C; d2 1850 1500 2100 -> C; d3 1900 2050 1350 -> B
# At 4000: d0 3900 4200 4300 -> C; d1 3300 3750 4400 -> C; d2 3850 3500 4600 -> C; d3 3900 4300 3600 -> B
# At 0: A is cheapest in every draw.
HAND_CEAC = {0.0: [1.0, 0.0, 0.0], 1000.0: [0.5, 0.5, 0.0], 2000.0: [0.0, 0.5, 0.5], 4000.0: [0.0, 0.25, 0.75]}
# expected NMB: 0: -137.5 -312.5 -650; 1000: 831.25 750 568.75; 2000: 1800 1812.5 1787.5;
# 4000: 3737.5 3937.5 4225
HAND_CEAF = {0.0: ("A", 1.0, -137.5), 1000.0: ("A", 0.5, 831.25), 2000.0: ("B", 0.5, 1812.5),
             4000.0: ("C", 0.75, 4225.0)}
# mean of the per-draw maximum: 0: -137.5; 1000: 856.25; 2000: 2000; 4000: 4400
HAND_EVPI = {0.0: 0.0, 1000.0: 25.0, 2000.0: 187.5, 4000.0: 175.0}
HAND_LOSS = {0.0: [0.0, 175.0, 512.5], 1000.0: [25.0, 106.25, 287.5], 2000.0: [200.0, 187.5, 212.5],
             4000.0: [662.5, 462.5, 175.0]}


def test_net_benefit_monetary_by_hand():
    nb = net_benefit(COSTS, EFFECTS, [1000, 2000])
    assert nb.shape == (2, 4, 3)
    np.testing.assert_array_equal(nb[0], [[900, 825, 550], [675, 750, 650], [850, 500, 850], [900, 925, 225]])
    np.testing.assert_array_equal(nb[1, 1], [1550, 1750, 1900])
    nb0 = net_benefit(COSTS, EFFECTS, 0)
    np.testing.assert_array_equal(nb0[0], -COSTS)


def test_net_benefit_health_by_hand():
    nhb = net_benefit(COSTS, EFFECTS, [1000, 4000], kind="health")
    assert nhb.shape == (2, 4, 3)
    assert nhb[0, 0].tolist() == pytest.approx([1.0 - 0.1, 1.125 - 0.3, 1.25 - 0.7])
    assert nhb[1, 2].tolist() == pytest.approx([1.0 - 150 / 4000, 1.0 - 500 / 4000, 1.25 - 400 / 4000])
    np.testing.assert_allclose(nhb * np.array([1000, 4000])[:, None, None],
                               net_benefit(COSTS, EFFECTS, [1000, 4000]), rtol=1e-14)


def test_net_benefit_single_draw_and_bad_kind():
    assert net_benefit([10.0, 20.0], [1.0, 2.0], 100).shape == (1, 1, 2)
    with pytest.raises(HtaError, match="kind"):
        net_benefit(COSTS, EFFECTS, 1000, kind="qaly")
    with pytest.raises(HtaError, match="> 0"):
        net_benefit(COSTS, EFFECTS, [0, 1000], kind="health")


def test_ceac_by_hand():
    t = ceac(COSTS, EFFECTS, WTP, NAMES)
    assert list(t.columns) == ["wtp", "strategy", "probability"]
    assert len(t) == len(WTP) * 3
    for w, probs in HAND_CEAC.items():
        sub = t[t["wtp"] == w]
        assert sub["strategy"].tolist() == NAMES
        assert sub["probability"].tolist() == probs, w
    assert t.groupby("wtp")["probability"].sum().tolist() == [1.0] * len(WTP)


def test_ceac_single_wtp_number():
    t = ceac(COSTS, EFFECTS, 1000, NAMES)
    assert t["probability"].tolist() == [0.5, 0.5, 0.0]


def test_ceaf_by_hand():
    t = ceaf(COSTS, EFFECTS, WTP, NAMES)
    assert list(t.columns) == ["wtp", "strategy", "probability", "expected_nmb"]
    assert t["wtp"].tolist() == WTP
    for w, (s, p, enb) in HAND_CEAF.items():
        row = t.set_index("wtp").loc[w]
        assert (row["strategy"], row["probability"], row["expected_nmb"]) == (s, p, pytest.approx(enb)), w


def test_expected_loss_by_hand_and_its_minimum_is_the_evpi():
    t = expected_loss(COSTS, EFFECTS, WTP, NAMES)
    assert list(t.columns) == ["wtp", "strategy", "expected_loss"]
    for w, losses in HAND_LOSS.items():
        sub = t[t["wtp"] == w]
        assert sub["strategy"].tolist() == NAMES
        assert sub["expected_loss"].tolist() == pytest.approx(losses), w
    mins = t.groupby("wtp")["expected_loss"].min()
    ev = evpi(COSTS, EFFECTS, WTP).set_index("wtp")["evpi"]
    for w in WTP:
        assert mins[w] == pytest.approx(HAND_EVPI[w]) and ev[w] == pytest.approx(HAND_EVPI[w]), w


def test_evpi_by_hand():
    t = evpi(COSTS, EFFECTS, WTP)
    assert list(t.columns) == ["wtp", "evpi"]
    assert t["wtp"].tolist() == WTP
    assert t["evpi"].tolist() == pytest.approx([HAND_EVPI[w] for w in WTP])
    nb = net_benefit(COSTS, EFFECTS, 1000)[0]
    assert evpi_nb(nb) == pytest.approx(25.0)


def test_prob_cost_effective_is_one_ceac():
    np.testing.assert_array_equal(prob_cost_effective(COSTS, EFFECTS, WTP, "B", NAMES), [0.0, 0.5, 0.5, 0.25])
    np.testing.assert_array_equal(prob_cost_effective(COSTS, EFFECTS, WTP, "C", NAMES), [0.0, 0.0, 0.5, 0.75])
    with pytest.raises(HtaError, match="'D'") as err:
        prob_cost_effective(COSTS, EFFECTS, WTP, "D", NAMES)
    assert "A" in str(err.value)


def test_ce_plane_by_hand():
    t = ce_plane(COSTS, EFFECTS, NAMES)
    assert list(t.columns) == ["draw", "strategy", "inc_cost", "inc_effect"]
    assert t.attrs["reference"] == "A"
    assert t["strategy"].tolist() == ["B"] * 4 + ["C"] * 4
    assert t["draw"].tolist() == [0, 1, 2, 3] * 2
    assert t["inc_cost"].tolist() == [200, 50, 350, 100, 600, 400, 250, 800]
    assert t["inc_effect"].tolist() == [0.125, 0.125, 0.0, 0.125, 0.25, 0.375, 0.25, 0.125]
    r = ce_plane(COSTS, EFFECTS, NAMES, reference="C")
    assert r.attrs["reference"] == "C" and r["strategy"].tolist() == ["A"] * 4 + ["B"] * 4
    assert r["inc_cost"].tolist() == [-600, -400, -250, -800, -400, -350, 100, -700]
    with pytest.raises(HtaError, match="'Z'"):
        ce_plane(COSTS, EFFECTS, NAMES, reference="Z")


def test_population_factor_and_evpi_by_hand():
    f = population_factor(1000, 3, 0.05)
    assert f == pytest.approx(1000 + 1000 / 1.05 + 1000 / 1.05 ** 2, rel=1e-14)
    assert f == pytest.approx(2859.410430839, rel=1e-10)
    assert population_factor(500, 10) == pytest.approx(5000.0)
    assert population_factor(200, 1, 0.035) == pytest.approx(200.0)
    t = population_evpi(COSTS, EFFECTS, [1000, 2000], incidence=1000, years=3, discount=0.05)
    assert list(t.columns) == ["wtp", "evpi", "population_evpi"]
    assert t["population_evpi"].tolist() == pytest.approx([25.0 * f, 187.5 * f])


@pytest.mark.parametrize("kw", [dict(incidence=-1, years=3), dict(incidence=100, years=2.5),
                                dict(incidence=100, years=0), dict(incidence=100, years=3, discount=-0.01),
                                dict(incidence=float("nan"), years=3)])
def test_population_factor_bad_input(kw):
    with pytest.raises(HtaError):
        population_factor(**kw)


# ---------------------------------------------------------------------------- ties and order
@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]])
def test_order_of_strategies_does_not_matter_by_hand(order):
    c, e, names = COSTS[:, order], EFFECTS[:, order], [NAMES[i] for i in order]
    pd.testing.assert_frame_equal(ceac(c, e, WTP, names), ceac(COSTS, EFFECTS, WTP, NAMES))
    pd.testing.assert_frame_equal(ceaf(c, e, WTP, names), ceaf(COSTS, EFFECTS, WTP, NAMES))
    pd.testing.assert_frame_equal(expected_loss(c, e, WTP, names), expected_loss(COSTS, EFFECTS, WTP, NAMES))
    pd.testing.assert_frame_equal(evpi(c, e, WTP), evpi(COSTS, EFFECTS, WTP))


def test_ties_go_to_the_first_strategy_by_name():
    c = np.array([[10.0, 10.0], [10.0, 10.0]])
    e = np.array([[1.0, 1.0], [1.0, 1.0]])
    for names in (["zeta", "alpha"], ["alpha", "zeta"]):
        t = ceac(c, e, [0, 100], names).set_index(["wtp", "strategy"])["probability"]
        assert t[(0.0, "alpha")] == 1.0 and t[(0.0, "zeta")] == 0.0
        assert ceaf(c, e, [0, 100], names)["strategy"].tolist() == ["alpha", "alpha"]


def test_one_tie_rule():
    names = ["zeta", "alpha", "mid"]
    assert list(name_order(names)) == [1, 2, 0]
    assert optimal_index([3.0, 3.0, 1.0], names) == 1  # zeta and alpha tie: alpha
    assert optimal_index([1.0, 2.0, 3.0], names) == 2
    v = np.array([[5.0, 5.0, 5.0], [0.0, 1.0, 1.0], [2.0, 0.0, 1.0]])
    assert list(optimal_index(v, names, axis=1)) == [1, 1, 0]
    assert list(optimal_index(v.T, names, axis=0)) == [1, 1, 0]
    # the CEAC counts a tied draw for the same strategy
    c, e = np.zeros((3, 3)), v / 100.0
    p = {s: prob_cost_effective(c, e, 100.0, s, names)[0] for s in names}
    assert p == pytest.approx({"alpha": 2 / 3, "zeta": 1 / 3, "mid": 0.0})


@st.composite
def ce_data(draw, ints=False):
    n = draw(st.integers(1, 12))
    k = draw(st.integers(2, 4))
    if ints:  # few distinct values: many ties
        c = draw(hnp.arrays(float, (n, k), elements=st.integers(0, 3).map(lambda x: 100.0 * x)))
        e = draw(hnp.arrays(float, (n, k), elements=st.integers(0, 3).map(lambda x: 0.25 * x)))
    else:
        c = draw(hnp.arrays(float, (n, k), elements=st.floats(0, 1e5, allow_nan=False, allow_subnormal=False)))
        e = draw(hnp.arrays(float, (n, k), elements=st.floats(0, 20, allow_nan=False, allow_subnormal=False)))
    wtp = draw(st.lists(st.sampled_from([0.0, 100.0, 400.0, 1000.0, 20_000.0, 50_000.0]), min_size=1,
                        max_size=4, unique=True))
    perm = draw(st.permutations(range(k)))
    return c, e, wtp, list(perm)


@PROPERTY
@given(ce_data(ints=True))
def test_order_independence_with_ties(data):
    c, e, wtp, perm = data
    names = [f"s{i}" for i in range(c.shape[1])]
    pnames = [names[i] for i in perm]
    pd.testing.assert_frame_equal(ceac(c[:, perm], e[:, perm], wtp, pnames), ceac(c, e, wtp, names))
    pd.testing.assert_frame_equal(ceaf(c[:, perm], e[:, perm], wtp, pnames), ceaf(c, e, wtp, names))
    pd.testing.assert_frame_equal(expected_loss(c[:, perm], e[:, perm], wtp, pnames),
                                  expected_loss(c, e, wtp, names))
    pd.testing.assert_frame_equal(evpi(c[:, perm], e[:, perm], wtp), evpi(c, e, wtp))


@PROPERTY
@given(ce_data())
def test_order_independence_random(data):
    c, e, wtp, perm = data
    names = [f"strategy_{i}" for i in range(c.shape[1])]
    pnames = [names[i] for i in perm]
    pd.testing.assert_frame_equal(ceac(c[:, perm], e[:, perm], wtp, pnames), ceac(c, e, wtp, names))
    pd.testing.assert_frame_equal(ceaf(c[:, perm], e[:, perm], wtp, pnames), ceaf(c, e, wtp, names))
    pd.testing.assert_frame_equal(expected_loss(c[:, perm], e[:, perm], wtp, pnames),
                                  expected_loss(c, e, wtp, names), rtol=1e-12)
    pd.testing.assert_frame_equal(evpi(c[:, perm], e[:, perm], wtp), evpi(c, e, wtp), rtol=1e-12)


@PROPERTY
@given(st.one_of(ce_data(), ce_data(ints=True)))
def test_evpi_nonnegative_ceac_sums_to_one_and_min_loss_equals_evpi(data):
    c, e, wtp, _ = data
    n, k = c.shape
    names = [f"s{i}" for i in range(k)]
    ev = evpi(c, e, wtp)["evpi"].to_numpy()
    assert (ev >= 0).all()
    t = ceac(c, e, wtp, names)
    sums = t.groupby("wtp", sort=False)["probability"].sum().to_numpy()
    np.testing.assert_allclose(sums, 1.0, rtol=0, atol=1e-12)
    counts = t["probability"].to_numpy() * n
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)  # multiples of 1/n
    loss = expected_loss(c, e, wtp, names).groupby("wtp", sort=False)["expected_loss"].min().to_numpy()
    scale = np.abs(net_benefit(c, e, wtp)).max() + 1
    np.testing.assert_allclose(loss, ev, rtol=1e-9, atol=1e-12 * scale)
    # by definition, from the net benefits
    nb = net_benefit(c, e, wtp)
    direct = nb.max(axis=-1).mean(axis=-1) - nb.mean(axis=1).max(axis=-1)
    np.testing.assert_allclose(ev, np.maximum(direct, 0), rtol=1e-9, atol=1e-12 * scale)
    # the CEAF strategy has the highest expected net benefit
    f = ceaf(c, e, wtp, names)
    np.testing.assert_allclose(f["expected_nmb"].to_numpy(), nb.mean(axis=1).max(axis=-1), rtol=1e-12)


def test_evpi_zero_when_one_strategy_wins_every_draw_simple():
    c = np.array([[10.0, 20.0], [30.0, 50.0], [5.0, 6.0]])
    e = np.array([[1.0, 1.0], [2.0, 1.5], [1.0, 0.5]])
    assert evpi(c, e, [0, 10, 1000])["evpi"].tolist() == [0.0, 0.0, 0.0]


def test_evpi_exactly_zero_when_one_strategy_is_optimal_in_every_draw():
    """Library bug: docs/decision.md says "EVPI is 0 exactly when one strategy is
    optimal in every draw", but ``evpi_nb`` computes ``a.max(axis=1).mean() -
    a.mean(axis=0).max()``: the two means of the very same numbers are summed in
    different orders (pairwise 1-D sum vs. row-by-row 2-D reduction), so the
    difference is a rounding residue such as 1.1e-16, not 0."""
    x = np.array([0.1, 0.7, 0.5, 0.3, 0.5, 0.9, 0.9, 0.4])
    effects = np.column_stack([x, x / 2])  # same cost, strategy 0 better in every draw
    costs = np.zeros_like(effects)
    assert ceac(costs, effects, 1.0)["probability"].tolist() == [1.0, 0.0]
    assert ceaf(costs, effects, 1.0)["probability"].tolist() == [1.0]
    assert expected_loss(costs, effects, 1.0)["expected_loss"].tolist()[0] == 0.0
    assert evpi(costs, effects, 1.0)["evpi"].tolist() == [0.0]  # got [1.1102230246251565e-16]


@PROPERTY
@given(nb=hnp.arrays(float, st.tuples(st.integers(1, 40), st.integers(1, 4)),
                     elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)),
       best=st.integers(0, 3), gap=st.floats(0, 100, allow_nan=False))
@example(nb=np.array([[0.1, 0.05], [0.7, 0.35], [0.5, 0.25], [0.3, 0.15], [0.5, 0.25], [0.9, 0.45],
                     [0.9, 0.45], [0.4, 0.2]]), best=0, gap=0.0)
def test_evpi_exactly_zero_when_one_strategy_dominates_property(nb, best, gap):
    """Library bug (see above): exact 0 is promised."""
    best = best % nb.shape[1]
    nb = nb.copy()
    nb[:, best] = nb.max(axis=1) + gap
    assert evpi_nb(nb) == 0.0


# ---------------------------------------------------------------------------- outcome_matrix
def _long_table():
    rows = []
    for i in (3, 0, 2, 1):  # shuffled draws
        for j in (2, 0, 1):
            rows.append({"draw": 10 + i, "strategy": NAMES[j], "cost": COSTS[i, j], "qaly": EFFECTS[i, j]})
    return pd.DataFrame(rows)


def test_outcome_matrix_from_a_long_table():
    long = _long_table()
    c, names = outcome_matrix(long, "cost")
    e, names_e = outcome_matrix(long, "qaly")
    assert names == names_e == NAMES
    np.testing.assert_array_equal(c, COSTS)  # rows sorted by draw
    np.testing.assert_array_equal(e, EFFECTS)
    pd.testing.assert_frame_equal(ceac(c, e, WTP, names), ceac(COSTS, EFFECTS, WTP, NAMES))


def test_outcome_matrix_missing_pair_is_an_error():
    long = _long_table()
    long = long[~((long["draw"] == 12) & (long["strategy"] == "B"))]
    with pytest.raises(HtaError, match="'cost'"):
        outcome_matrix(long, "cost")


def test_outcome_matrix_unknown_column():
    with pytest.raises(HtaError, match="'lys'"):
        outcome_matrix(_long_table(), "lys")


def test_outcome_matrix_duplicate_pair_is_an_hta_error():
    """Library bug (minor): a duplicated (draw, strategy) row escapes as pandas'
    raw ``ValueError: Index contains duplicate entries, cannot reshape`` from
    ``outcomes.pivot`` instead of an HtaError naming the draw and strategy."""
    long = pd.concat([_long_table(), _long_table().iloc[[0]]], ignore_index=True)
    with pytest.raises(HtaError):
        outcome_matrix(long, "cost")


# ---------------------------------------------------------------------------- bad input
ALL = {
    "ceac": lambda c, e, w, s=None: ceac(c, e, w, s),
    "ceaf": lambda c, e, w, s=None: ceaf(c, e, w, s),
    "expected_loss": lambda c, e, w, s=None: expected_loss(c, e, w, s),
    "evpi": lambda c, e, w, s=None: evpi(c, e, w),
    "net_benefit": lambda c, e, w, s=None: net_benefit(c, e, w),
    "prob_cost_effective": lambda c, e, w, s=None: prob_cost_effective(c, e, w, "s0" if s is None else s[0], s),
}


@pytest.mark.parametrize("fn", list(ALL))
@pytest.mark.parametrize("shape_c,shape_e", [((4, 3), (4, 2)), ((4, 3), (3, 3)), ((4, 3), (12,)),
                                             ((2, 2, 2), (2, 2, 2))])
def test_costs_and_effects_of_different_shapes(fn, shape_c, shape_e):
    with pytest.raises(HtaError, match="shape"):
        ALL[fn](np.ones(shape_c), np.ones(shape_e), [1000])


@pytest.mark.parametrize("fn", list(ALL))
@pytest.mark.parametrize("wtp", [-1.0, [0, 1000, -5], float("nan"), [], [[1, 2]]])
def test_bad_willingness_to_pay(fn, wtp):
    with pytest.raises(HtaError, match="willingness to pay"):
        ALL[fn](COSTS, EFFECTS, wtp)


def test_negative_wtp_message_shows_the_value():
    with pytest.raises(HtaError, match="-5"):
        ceac(COSTS, EFFECTS, [0, 1000, -5], NAMES)


@pytest.mark.parametrize("fn", [f for f in ALL if f != "prob_cost_effective"])
@pytest.mark.parametrize("what,bad", [("costs", np.nan), ("effects", np.inf), ("costs", -np.inf)])
def test_non_finite_value_names_strategy_and_draw(fn, what, bad):
    c, e = COSTS.copy(), EFFECTS.copy()
    (c if what == "costs" else e)[2, 1] = bad
    with pytest.raises(HtaError) as err:
        ALL[fn](c, e, [1000], NAMES if fn not in ("evpi", "net_benefit") else None)
    msg = str(err.value)
    assert what in msg and "draw 2" in msg
    assert ("'B'" in msg) if fn not in ("evpi", "net_benefit") else ("'s1'" in msg)


@pytest.mark.parametrize("fn", ["ceac", "ceaf", "expected_loss", "prob_cost_effective"])
def test_duplicate_strategy_names(fn):
    with pytest.raises(HtaError, match="duplicate") as err:
        ALL[fn](COSTS, EFFECTS, [1000], ["A", "B", "A"])
    assert "'A'" in str(err.value)


@pytest.mark.parametrize("fn", ["ceac", "ceaf", "expected_loss"])
def test_wrong_number_of_strategy_names(fn):
    with pytest.raises(HtaError, match="2 strategy names for 3"):
        ALL[fn](COSTS, EFFECTS, [1000], ["A", "B"])


def test_ce_plane_bad_input():
    with pytest.raises(HtaError, match="shape"):
        ce_plane(COSTS, EFFECTS[:, :2], NAMES)
    c = COSTS.copy()
    c[1, 0] = np.nan
    with pytest.raises(HtaError, match="'A'.*draw 1"):
        ce_plane(c, EFFECTS, NAMES)


# ---------------------------------------------------------------------------- NNT
def wilson(e, n, z=1.959963984540054):
    """Wilson score interval, written as in Newcombe (1998), eq. for method 3."""
    p = e / n
    root = z * math.sqrt(z * z + 4 * n * p * (1 - p))
    return (2 * n * p + z * z - root) / (2 * (n + z * z)), (2 * n * p + z * z + root) / (2 * (n + z * z))


def newcombe10(e1, n1, e2, n2):
    p1, p2 = e1 / n1, e2 / n2
    l1, u1 = wilson(e1, n1)
    l2, u2 = wilson(e2, n2)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


# Newcombe RG. Stat Med 1998;17:873-90, Table II, method 10 (score, no continuity
# correction); the same values are reproduced by DescTools::BinomDiffCI(method="score").
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.2000, 0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.6000, 0.1705, 0.8090)),
    ((10, 10, 0, 20), (1.0000, 0.6791, 1.0000)),
    ((84, 101, 89, 105), (-0.0159, -0.1177, 0.0851)),
]


@pytest.mark.parametrize("counts,published", NEWCOMBE_TABLE_II)
def test_nnt_from_counts_newcombe_published_examples(counts, published):
    et, nt, ec, nc = counts
    r = nnt(events_treatment=et, n_treatment=nt, events_control=ec, n_control=nc)
    assert (r["ard"], r["ard_low"], r["ard_high"]) == pytest.approx(published, abs=6e-5)
    # and the hand arithmetic, to full precision
    assert (r["ard"], r["ard_low"], r["ard_high"]) == pytest.approx(newcombe10(*counts), rel=1e-12, abs=1e-15)


def test_nnt_from_counts_interval_excluding_zero():
    r = nnt(events_treatment=56, n_treatment=70, events_control=48, n_control=80)
    assert r["nnt"] == pytest.approx(5.0)
    d, lo, hi = newcombe10(56, 70, 48, 80)
    assert r["nnt_low"] == pytest.approx(1 / hi) and r["nnt_high"] == pytest.approx(1 / lo)
    assert r["label"] == "NNT"
    assert r["text"] == "NNT 5.0 (95% interval 3.0 to 19.1)"
    assert set(r) == {"ard", "ard_low", "ard_high", "nnt", "nnt_low", "nnt_high", "label", "text"}


def test_nnt_interval_through_infinity_newcombe_example():
    """84/101 vs 89/105: ARD -0.0159 (-0.1177 to 0.0851); Altman (1998): NNTB 11.8 to inf to NNTH 8.5."""
    r = nnt(events_treatment=84, n_treatment=101, events_control=89, n_control=105)
    assert r["label"] == "NNH"
    assert r["nnt"] == pytest.approx(1 / (84 / 101 - 89 / 105))
    assert r["text"] == "NNH 62.8 (95% interval NNT 11.8 to inf to NNH 8.5)"
    # reciprocals of the ARD interval: the NNT(B) end from the upper ARD, the NNH end from the lower
    assert r["nnt_low"] == pytest.approx(1 / r["ard_high"]) and r["nnt_high"] == pytest.approx(1 / r["ard_low"])
    assert r["nnt_low"] == pytest.approx(11.7548, abs=1e-4) and r["nnt_high"] == pytest.approx(-8.4926, abs=1e-4)
    h = nnt(events_treatment=84, n_treatment=101, events_control=89, n_control=105, outcome="harm")
    assert h["label"] == "NNT"  # fewer adverse events on treatment
    assert h["text"] == "NNT 62.8 (95% interval NNH 11.8 to inf to NNT 8.5)"


def test_nnt_text_of_the_docs_example_from_draws():
    """docs/decision.md: NNT 20.0 (95% interval NNT 5.5 to inf to NNH 11.7)."""
    # 41 draws: the 2.5th and 97.5th percentiles are exactly the 2nd smallest and largest
    d = np.r_[-0.2, -0.0855, np.full(37, (41 * 0.05 - (-0.2 - 0.0855 + 0.1818 + 0.3)) / 37), 0.1818, 0.3]
    r = nnt(0.5 + d, np.full(41, 0.5))
    assert r["ard"] == pytest.approx(0.05, abs=1e-12)
    assert (r["ard_low"], r["ard_high"]) == pytest.approx((-0.0855, 0.1818), abs=1e-12)
    assert r["text"] == "NNT 20.0 (95% interval NNT 5.5 to inf to NNH 11.7)"


def test_nnt_from_draws_percentile_interval_by_hand():
    pt = np.array([0.3, 0.4, 0.5, 0.6, 0.7])
    pc = np.full(5, 0.2)
    r = nnt(pt, pc)
    # differences 0.1 .. 0.5; linear interpolation: 2.5 % at 0.1 + 0.1 * 0.1, 97.5 % at 0.4 + 0.9 * 0.1
    assert r["ard"] == pytest.approx(0.3)
    assert r["ard_low"] == pytest.approx(0.11) and r["ard_high"] == pytest.approx(0.49)
    assert r["nnt"] == pytest.approx(1 / 0.3)
    assert r["nnt_low"] == pytest.approx(1 / 0.49) and r["nnt_high"] == pytest.approx(1 / 0.11)
    assert r["text"] == "NNT 3.3 (95% interval 2.0 to 9.1)"
    r80 = nnt(pt, pc, level=0.8)  # 10 % at 0.14, 90 % at 0.46
    assert (r80["ard_low"], r80["ard_high"]) == pytest.approx((0.14, 0.46))
    assert r80["text"].startswith("NNT 3.3 (80% interval")


def test_nnt_from_many_draws_matches_numpy_quantiles():
    rng = np.random.default_rng(4)
    pt, pc = rng.beta(30, 70, 10_000), rng.beta(20, 80, 10_000)
    r = nnt(pt, pc)
    diff = pt - pc
    assert r["ard"] == pytest.approx(diff.mean())
    assert r["ard_low"] == pytest.approx(np.quantile(diff, 0.025))
    assert r["ard_high"] == pytest.approx(np.quantile(diff, 0.975))


@pytest.mark.parametrize("outcome,pt,pc,label", [
    ("benefit", 0.5, 0.3, "NNT"),   # more responders on treatment
    ("benefit", 0.3, 0.5, "NNH"),   # fewer responders
    ("harm", 0.3, 0.1, "NNH"),      # more adverse events on treatment
    ("harm", 0.1, 0.3, "NNT"),      # fewer adverse events
])
def test_nnt_labels_for_benefit_and_harm_outcomes(outcome, pt, pc, label):
    r = nnt(np.full(3, pt), np.full(3, pc), outcome=outcome)
    assert r["label"] == label
    assert r["text"].startswith(f"{label} 5.0 ")
    assert abs(r["nnt"]) == pytest.approx(5.0)


def test_nnt_harm_from_counts():
    r = nnt(events_treatment=30, n_treatment=100, events_control=10, n_control=100, outcome="harm")
    assert r["label"] == "NNH" and r["nnt"] == pytest.approx(5.0)
    assert r["text"].startswith("NNH 5.0 (95% interval ")


@pytest.mark.parametrize("kw", [
    dict(p_treatment=[0.3], p_control=[0.2], events_treatment=3, n_treatment=10, events_control=2, n_control=10),
    dict(p_treatment=[0.3], p_control=[0.2], n_treatment=10),
])
def test_nnt_with_both_probabilities_and_counts(kw):
    with pytest.raises(HtaError, match="not both"):
        nnt(**kw)


@pytest.mark.parametrize("kw", [
    dict(events_treatment=3, n_treatment=10, events_control=2),            # one count missing
    dict(events_treatment=12, n_treatment=10, events_control=2, n_control=10),  # events > n
    dict(events_treatment=1, n_treatment=0, events_control=0, n_control=10),
    dict(events_treatment=-1, n_treatment=10, events_control=2, n_control=10),
    dict(p_treatment=[0.3, 0.4], p_control=[0.2]),
    dict(p_treatment=[1.3], p_control=[0.2]),
    dict(p_treatment=[np.nan], p_control=[0.2]),
    dict(p_treatment=[0.3], p_control=[0.2], outcome="good"),
    dict(p_treatment=[0.3], p_control=[0.2], level=95),
])
def test_nnt_bad_input(kw):
    with pytest.raises(HtaError):
        nnt(**kw)
