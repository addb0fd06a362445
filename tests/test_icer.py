"""ICER table: hand-computed tables, invariants (Hypothesis) and bad input.

Rules under test (``docs/icer.md``): rows sorted by effect, then cost, then name;
strong dominance (``c_j <= c_i`` and ``e_j >= e_i``, one strict; exact ties: the
first by name stays; ``dominated_by`` is the cheapest dominator, then the most
effective, then by name); extended dominance when ``ICER_i > ICER_{i+1}`` (equal
ICERs are *not* extended dominance), repeated until ICERs increase, with
``dominated_by`` naming the two neighbours at the time of removal.
"""

from __future__ import annotations

import itertools
import os
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim import HtaError, icer_table, icers

ND, DOM, EXT = "non-dominated", "dominated", "extendedly dominated"
NAN = np.nan

# icer_table is cheap: three times the suite-wide example count (conftest.py)
EXAMPLES = 3 * int(os.environ.get("HTA_SIM_TEST_EXAMPLES", "60"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def table(rows, effect="effect") -> pd.DataFrame:
    """Expected table from rows (strategy, cost, effect, inc_cost, inc_effect, icer, status, dominated_by)."""
    cols = ["strategy", "cost", effect, "inc_cost", f"inc_{effect}", "icer", "status", "dominated_by"]
    df = pd.DataFrame([list(r) for r in rows], columns=cols)
    for c in cols[1:6]:
        df[c] = df[c].astype(float)
    return df


def run(spec: dict, effect="effect", order=None) -> pd.DataFrame:
    """icer_table on {name: (cost, effect)}, optionally in a given input order."""
    names = list(order or spec)
    return icer_table(names, [spec[n][0] for n in names], [spec[n][1] for n in names], effect_name=effect)


def assert_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_exact=False, rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- hand-computed tables
def test_one_strategy():
    assert_table(run({"A": (100.0, 1.0)}), table([("A", 100, 1, NAN, NAN, NAN, ND, "")]))


def test_two_strategies():
    got = run({"B": (100.0, 2.0), "A": (0.0, 0.0)}, effect="qaly")
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("B", 100, 2, 100, 2, 50, ND, ""),
    ], effect="qaly"))


def test_strongly_dominated():
    # C costs more than B and yields less
    got = run({"A": (0.0, 0.0), "B": (100.0, 1.0), "C": (150.0, 0.5)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("C", 150, 0.5, NAN, NAN, NAN, DOM, "B"),
        ("B", 100, 1, 100, 1, 100, ND, ""),
    ]))


def test_extendedly_dominated():
    # ICER A->B = 100 > ICER B->C = 50/2 = 25: B lies above the line A-C (A->C: 150/3 = 50)
    got = run({"A": (0.0, 0.0), "B": (100.0, 1.0), "C": (150.0, 3.0)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("B", 100, 1, NAN, NAN, NAN, EXT, "A & C"),
        ("C", 150, 3, 150, 3, 50, ND, ""),
    ]))


def test_not_extendedly_dominated_when_icers_increase():
    # A(0,0), B(100,1), C(150,1.2): ICERs 100 then 250, all on the frontier
    got = run({"A": (0.0, 0.0), "B": (100.0, 1.0), "C": (150.0, 1.2)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("B", 100, 1, 100, 1, 100, ND, ""),
        ("C", 150, 1.2, 50, 0.2, 250, ND, ""),
    ]))


def test_two_rounds_of_extended_dominance():
    # round 1: ICERs A->B 10, B->C 15, C->D 1: C removed (15 > 1), labelled by neighbours B & D
    # round 2: ICERs A->B 10, B->D 16/2 = 8: B removed (10 > 8), labelled A & D
    # frontier A, D: ICER 26 / 3
    got = run({"A": (0.0, 0.0), "B": (10.0, 1.0), "C": (25.0, 2.0), "D": (26.0, 3.0)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("B", 10, 1, NAN, NAN, NAN, EXT, "A & D"),
        ("C", 25, 2, NAN, NAN, NAN, EXT, "B & D"),
        ("D", 26, 3, 26, 3, 26 / 3, ND, ""),
    ]))


def test_two_extended_dominances_in_one_round():
    # ICERs A->B 10, B->C 8, C->D 1: B (10 > 8) and C (8 > 1) removed together,
    # each labelled by its neighbours in that round
    got = run({"A": (0.0, 0.0), "B": (10.0, 1.0), "C": (18.0, 2.0), "D": (19.0, 3.0)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("B", 10, 1, NAN, NAN, NAN, EXT, "A & C"),
        ("C", 18, 2, NAN, NAN, NAN, EXT, "B & D"),
        ("D", 19, 3, 19, 3, 19 / 3, ND, ""),
    ]))


def test_strong_then_extended_dominance():
    # E is strongly dominated by D (cheaper, more effective); then B is extendedly dominated
    got = run({"A": (0.0, 0.0), "B": (100.0, 1.0), "D": (150.0, 3.0), "E": (160.0, 2.5)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("B", 100, 1, NAN, NAN, NAN, EXT, "A & D"),
        ("E", 160, 2.5, NAN, NAN, NAN, DOM, "D"),
        ("D", 150, 3, 150, 3, 50, ND, ""),
    ]))


def test_everything_dominated_by_one_strategy():
    spec = {"X": (10.0, 5.0), "A": (20.0, 1.0), "B": (30.0, 4.0), "C": (10.0, 2.0), "D": (15.0, 5.0)}
    # sorted by effect, then cost: A(1), C(2), B(4), X(5, 10), D(5, 15)
    assert_table(run(spec), table([
        ("A", 20, 1, NAN, NAN, NAN, DOM, "X"),  # C also dominates A; X is cheapest-then-most-effective
        ("C", 10, 2, NAN, NAN, NAN, DOM, "X"),  # same cost, less effect
        ("B", 30, 4, NAN, NAN, NAN, DOM, "X"),
        ("X", 10, 5, NAN, NAN, NAN, ND, ""),
        ("D", 15, 5, NAN, NAN, NAN, DOM, "X"),  # same effect, more cost
    ]))


def test_dominated_by_names_the_cheapest_dominator():
    # A is dominated by both B (40, 1.5) and C (30, 1.2): C is the cheaper
    got = run({"A": (50.0, 1.0), "B": (40.0, 1.5), "C": (30.0, 1.2)})
    assert_table(got, table([
        ("A", 50, 1, NAN, NAN, NAN, DOM, "C"),
        ("C", 30, 1.2, NAN, NAN, NAN, ND, ""),
        ("B", 40, 1.5, 10, 0.3, 10 / 0.3, ND, ""),
    ]))


def test_tie_in_effect_higher_cost_is_dominated():
    got = run({"A": (0.0, 0.0), "C": (120.0, 1.0), "B": (100.0, 1.0)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("B", 100, 1, 100, 1, 100, ND, ""),
        ("C", 120, 1, NAN, NAN, NAN, DOM, "B"),
    ]))


def test_tie_in_cost_lower_effect_is_dominated():
    got = run({"A": (0.0, 0.0), "B": (100.0, 2.0), "C": (100.0, 1.0)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("C", 100, 1, NAN, NAN, NAN, DOM, "B"),
        ("B", 100, 2, 100, 2, 50, ND, ""),
    ]))


def test_exact_duplicates_first_by_name_stays():
    got = run({"Z": (100.0, 2.0), "A": (0.0, 0.0), "Y": (100.0, 2.0), "X": (100.0, 2.0)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("X", 100, 2, 100, 2, 50, ND, ""),
        ("Y", 100, 2, NAN, NAN, NAN, DOM, "X"),
        ("Z", 100, 2, NAN, NAN, NAN, DOM, "X"),
    ]))


def test_cheaper_and_more_effective_dominates():
    # B is cheaper and more effective than A (negative incremental cost): A is dominated and
    # C's increments are against B, not A
    got = run({"A": (100.0, 1.0), "B": (50.0, 2.0), "C": (200.0, 3.0)})
    assert_table(got, table([
        ("A", 100, 1, NAN, NAN, NAN, DOM, "B"),
        ("B", 50, 2, NAN, NAN, NAN, ND, ""),
        ("C", 200, 3, 150, 1, 150, ND, ""),
    ]))


def test_negative_costs_and_effects():
    # cost savings and health losses are ordinary numbers
    got = run({"A": (-50.0, -1.0), "B": (-20.0, 0.5), "C": (-60.0, -2.0)})
    assert_table(got, table([
        ("C", -60, -2, NAN, NAN, NAN, ND, ""),
        ("A", -50, -1, 10, 1, 10, ND, ""),
        ("B", -20, 0.5, 30, 1.5, 20, ND, ""),
    ]))


def test_equal_icers_are_not_extended_dominance():
    # B lies on the line A-C: ICERs 50 and 50; docs/icer.md: not extended dominance
    got = run({"A": (0.0, 0.0), "B": (50.0, 1.0), "C": (100.0, 2.0)})
    assert_table(got, table([
        ("A", 0, 0, NAN, NAN, NAN, ND, ""),
        ("B", 50, 1, 50, 1, 50, ND, ""),
        ("C", 100, 2, 50, 1, 50, ND, ""),
    ]))


def test_costs_differing_in_the_last_place_are_not_tied():
    c = 100.0
    got = run({"A": (np.nextafter(c, 200.0), 1.0), "B": (c, 1.0)})
    assert list(got["status"]) == [ND, DOM]
    assert list(got["strategy"]) == ["B", "A"]


def test_array_inputs_and_effect_name():
    got = icer_table(np.array(["A", "B"]), np.array([[0.0], [10.0]]), pd.Series([0.0, 0.5]), effect_name="ly")
    assert list(got.columns) == ["strategy", "cost", "ly", "inc_cost", "inc_ly", "icer", "status", "dominated_by"]
    assert got["icer"].iloc[1] == 20.0


# --------------------------------------------------------------------------- icers() on outcomes
def _outcomes() -> pd.DataFrame:
    # per strategy, three draws; means differ from medians, so means are what is tested
    data = {
        "A": ([10.0, 20.0, 60.0], [1.0, 1.0, 2.5]),    # mean cost 30, qaly 1.5
        "B": ([40.0, 60.0, 110.0], [2.0, 2.5, 3.0]),   # mean 70, 2.5
        "C": ([100.0, 200.0, 600.0], [2.0, 2.0, 2.6]),  # mean 300, 2.2 -> dominated by B
    }
    rows = []
    for d in range(3):
        for s, (cost, q) in data.items():
            rows.append({"draw": d, "strategy": s, "cost": cost[d], "qaly": q[d], "ly": q[d] + 1})
    df = pd.DataFrame(rows)
    df["strategy"] = pd.Categorical(df["strategy"], categories=["C", "B", "A", "unused"])
    return df


def test_icers_uses_means_over_draws():
    got = icers(_outcomes())
    assert_table(got, table([
        ("A", 30, 1.5, NAN, NAN, NAN, ND, ""),
        ("C", 300, 2.2, NAN, NAN, NAN, DOM, "B"),
        ("B", 70, 2.5, 40, 1.0, 40, ND, ""),
    ], effect="qaly"))


def test_icers_other_effect_column():
    got = icers(_outcomes(), effect="ly")
    assert list(got.columns)[2:5] == ["ly", "inc_cost", "inc_ly"]
    np.testing.assert_allclose(got.set_index("strategy").loc[["A", "B", "C"], "ly"], [2.5, 3.5, 3.2])


@pytest.mark.parametrize("kwargs, missing", [
    (dict(effect="life_years"), "life_years"),
    (dict(cost="total_cost"), "total_cost"),
    (dict(strategy="arm"), "arm"),
])
def test_icers_missing_column_names_it(kwargs, missing):
    with pytest.raises(HtaError) as ei:
        icers(_outcomes(), **kwargs)
    msg = str(ei.value)
    assert f"no column {missing!r}" in msg
    assert "draw, strategy, cost, qaly, ly" in msg  # lists what is there


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("names, costs, effects, fragments", [
    (["A", "B", "C"], [1.0, 2.0], [1.0, 2.0, 3.0], ["3 strategies", "2 costs", "3 effects"]),
    (["A", "B"], [1.0, 2.0], [1.0, 2.0, 3.0], ["2 strategies", "2 costs", "3 effects"]),
    (["A", "B"], [1.0, np.nan], [1.0, 2.0], ["cost of strategy 'B'", "nan", "finite"]),
    (["A", "B"], [np.inf, 1.0], [1.0, 2.0], ["cost of strategy 'A'", "inf", "finite"]),
    (["A", "B"], [1.0, 2.0], [np.nan, 2.0], ["effect of strategy 'A'", "finite"]),
    (["A", "B", "A"], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], ["duplicate strategy names ['A']"]),
    ([], [], [], ["at least one strategy"]),
])
def test_bad_input(names, costs, effects, fragments):
    with pytest.raises(HtaError) as ei:
        icer_table(names, costs, effects)
    missing = [f for f in fragments if f not in str(ei.value)]
    assert not missing, f"{missing} not in: {ei.value}"


def test_bad_effect_names_the_effect_column():
    with pytest.raises(HtaError, match=r"qaly of strategy 'B' is \S*nan"):
        icer_table(["A", "B"], [1.0, 2.0], [1.0, np.nan], effect_name="qaly")


def test_non_numeric_cost_is_an_hta_error():
    """Costs that are not numbers raise HtaError, not numpy's ValueError."""
    with pytest.raises(HtaError):
        icer_table(["A", "B"], ["cheap", 2.0], [1.0, 2.0])


# --------------------------------------------------------------------------- invariants
NAMES = st.text(alphabet="ABCDEFGH", min_size=1, max_size=2)


@st.composite
def int_strategies(draw, min_size=1, max_size=7):
    """Strategies with small integer costs and effects: ties, duplicates and collinear
    points are frequent, and every comparison can be checked exactly with Fractions."""
    n = draw(st.integers(min_size, max_size))
    names = draw(st.lists(NAMES, min_size=n, max_size=n, unique=True))
    costs = draw(st.lists(st.integers(-20, 60), min_size=n, max_size=n))
    effects = draw(st.lists(st.integers(-3, 8), min_size=n, max_size=n))
    return names, costs, effects


@st.composite
def float_strategies(draw, min_size=1, max_size=8):
    n = draw(st.integers(min_size, max_size))
    names = draw(st.lists(NAMES, min_size=n, max_size=n, unique=True))
    num = st.one_of(st.integers(-5, 5).map(float), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
    costs = draw(st.lists(num, min_size=n, max_size=n))
    effects = draw(st.lists(num, min_size=n, max_size=n))
    return names, costs, effects


def brute_force_frontier(names, costs, effects) -> set[str]:
    """Strategies that maximise net benefit ``lam * e - c`` for some ``lam > 0`` (ties count),
    less exact duplicates of a strategy earlier by name.

    Independent of the library: the set of maximisers is constant between consecutive
    pairwise break-even values ``lam_ij = (c_j - c_i) / (e_j - e_i)`` and grows at them, so
    checking every positive break-even value, a point inside every gap, one below the
    first and one above the last covers every ``lam > 0`` exactly (Fractions, no rounding).
    ``lam > 0`` (not >= 0) drops strategies that tie on cost with a more effective one.
    """
    n = len(names)
    c = [Fraction(x) for x in costs]
    e = [Fraction(x) for x in effects]
    breaks = sorted({(c[j] - c[i]) / (e[j] - e[i]) for i in range(n) for j in range(n) if e[i] != e[j]})
    breaks = [b for b in breaks if b > 0]
    edges = [Fraction(0)] + breaks
    lams = breaks + [(a + b) / 2 for a, b in itertools.pairwise(edges)] + [edges[-1] + 1]
    optimal = set()
    for lam in lams:
        nb = [lam * e[i] - c[i] for i in range(n)]
        best = max(nb)
        optimal |= {i for i in range(n) if nb[i] == best}
    return {
        names[i] for i in optimal
        if not any(c[j] == c[i] and e[j] == e[i] and names[j] < names[i] for j in range(n))
    }


def test_brute_force_frontier_itself():
    """The oracle on the hand-computed cases above."""
    assert brute_force_frontier(["A", "B", "C"], [0, 100, 150], [0, 1, 3]) == {"A", "C"}
    assert brute_force_frontier(["A", "B", "C", "D"], [0, 10, 25, 26], [0, 1, 2, 3]) == {"A", "D"}
    assert brute_force_frontier(["A", "B", "C"], [0, 50, 100], [0, 1, 2]) == {"A", "B", "C"}
    assert brute_force_frontier(["A", "X", "Y"], [0, 100, 100], [0, 2, 2]) == {"A", "X"}
    assert brute_force_frontier(["A", "B", "C"], [0, 100, 100], [0, 2, 1]) == {"A", "B"}
    assert brute_force_frontier(["A"], [5], [1]) == {"A"}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # ICER of a tiny effect gain
@PROPERTY
@given(data=float_strategies(), perm_seed=st.randoms(use_true_random=False))
def test_table_does_not_depend_on_input_order(data, perm_seed):
    names, costs, effects = data
    order = list(range(len(names)))
    perm_seed.shuffle(order)
    a = icer_table(names, costs, effects)
    b = icer_table([names[i] for i in order], [costs[i] for i in order], [effects[i] for i in order])
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@PROPERTY
@given(data=int_strategies())
@example(data=(["A", "B", "C", "D"], [0, 10, 25, 26], [0, 1, 2, 3]))  # two rounds
@example(data=(["A", "B", "C"], [0, 5, 10], [0, 1, 2]))  # collinear
@example(data=(["B", "A", "C"], [3, 3, 3], [1, 1, 1]))  # all identical
def test_frontier_is_the_lower_right_convex_hull(data):
    names, costs, effects = data
    got = icer_table(names, costs, effects)
    frontier = set(got.loc[got["status"] == ND, "strategy"])
    assert frontier == brute_force_frontier(names, costs, effects)


@PROPERTY
@given(data=int_strategies())
def test_each_frontier_strategy_is_optimal_between_its_icers(data):
    """docs/icer.md: a frontier strategy maximises net benefit for lambda between its ICER
    and the next one's (the first from 0, the last to infinity)."""
    names, costs, effects = data
    got = icer_table(names, costs, effects)
    ce = {n: (Fraction(c), Fraction(e)) for n, c, e in zip(names, costs, effects, strict=True)}
    front = list(got.loc[got["status"] == ND, "strategy"])
    bounds = [Fraction(0)]
    for a, b in itertools.pairwise(front):
        bounds.append((ce[b][0] - ce[a][0]) / (ce[b][1] - ce[a][1]))
    bounds.append(bounds[-1] + 10)
    for k, s in enumerate(front):
        for lam in {bounds[k], (bounds[k] + bounds[k + 1]) / 2, bounds[k + 1]}:
            nb = {n: lam * e - c for n, (c, e) in ce.items()}
            assert nb[s] == max(nb.values()), (s, lam)


@PROPERTY
@given(data=int_strategies())
def test_frontier_icers_increase(data):
    """ICERs along the frontier are positive and strictly increasing, except that three
    exactly collinear frontier strategies have equal ICERs (not extended dominance)."""
    names, costs, effects = data
    got = icer_table(names, costs, effects)
    nd = got[got["status"] == ND]
    icer = nd["icer"].to_numpy()
    assert np.isnan(icer[0])
    assert (icer[1:] > 0).all()
    c, e = nd["cost"].to_numpy(), nd["effect"].to_numpy()
    for k in range(1, len(icer) - 1):
        collinear = (c[k] - c[k - 1]) * (e[k + 1] - e[k]) == (c[k + 1] - c[k]) * (e[k] - e[k - 1])
        if collinear:
            assert icer[k + 1] == icer[k]
        else:
            assert icer[k + 1] > icer[k]


@PROPERTY
@given(data=int_strategies(max_size=6), extra=st.tuples(st.integers(-20, 60), st.integers(-3, 8)),
       extra_name=st.text(alphabet="ABCDEFGH", min_size=3, max_size=3))
def test_dominated_stays_dominated_when_a_strategy_is_added(data, extra, extra_name):
    names, costs, effects = data
    before = icer_table(names, costs, effects)
    after = icer_table(names + [extra_name], costs + [extra[0]], effects + [extra[1]])
    out_before = set(before.loc[before["status"] != ND, "strategy"])
    out_after = set(after.loc[after["status"] != ND, "strategy"])
    assert out_before <= out_after


@PROPERTY
@given(data=int_strategies())
def test_table_is_consistent(data):
    """Row order, increments and dominated_by agree with the rules, row by row."""
    names, costs, effects = data
    got = icer_table(names, costs, effects)
    ce = {n: (c, e) for n, c, e in zip(names, costs, effects, strict=True)}
    # one row per strategy, sorted by (effect, cost, name), values passed through
    assert sorted(got["strategy"]) == sorted(names)
    keys = [(ce[s][1], ce[s][0], s) for s in got["strategy"]]
    assert keys == sorted(keys)
    assert list(got["cost"]) == [ce[s][0] for s in got["strategy"]]
    assert set(got["status"]) <= {ND, DOM, EXT}
    prev = None
    for row in got.itertuples(index=False):
        c, e = ce[row.strategy]
        if row.status == ND:
            assert row.dominated_by == ""
            if prev is None:
                assert np.isnan(row.inc_cost) and np.isnan(row.inc_effect) and np.isnan(row.icer)
            else:
                pc, pe = ce[prev]
                assert row.inc_cost == c - pc and row.inc_effect == e - pe
                assert row.icer == (c - pc) / (e - pe)
            prev = row.strategy
            continue
        assert np.isnan(row.inc_cost) and np.isnan(row.inc_effect) and np.isnan(row.icer)
        if row.status == DOM:
            # dominated_by dominates, and is the cheapest, then most effective, then first by name
            doms = [s for s, (cs, es) in ce.items() if s != row.strategy and cs <= c and es >= e
                    and (cs < c or es > e or s < row.strategy)]
            assert doms
            assert row.dominated_by == min(doms, key=lambda s: (ce[s][0], -ce[s][1], s))
        else:
            # extended: two named strategies bracketing it, and it lies strictly above their chord
            lo, hi = row.dominated_by.split(" & ")
            (cl, el), (ch, eh) = ce[lo], ce[hi]
            assert el < e < eh
            assert (c - cl) * (eh - el) > (ch - cl) * (e - el)


def test_all_permutations_of_a_tricky_case():
    """Exhaustive order check on a case with a duplicate, a cost tie and extended dominance."""
    spec = {"A": (0.0, 0.0), "B": (10.0, 1.0), "C": (25.0, 2.0), "D": (26.0, 3.0), "E": (26.0, 3.0),
            "F": (26.0, 2.5)}
    ref = run(spec)
    assert list(ref["status"]) == [ND, EXT, EXT, DOM, ND, DOM]
    for order in itertools.permutations(spec):
        pd.testing.assert_frame_equal(run(spec, order=order), ref, check_exact=True)
