"""Briggs et al. (2006) Example 3.5, total hip replacement: time- and age-dependent transitions.

Reference values are those of the book's spreadsheet (trace to 8 decimals, totals
to 9 significant digits).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cohorts
import sim

# Markov trace of the standard prosthesis, cycles 1-8: SuccessP, RevisionTHR, SuccessR, Death
STANDARD_TRACE = [
    [0.98000000, 0.0000000, 0.0000000, 0.0200000],
    [0.97265720, 0.0007768, 0.0000000, 0.02656600],
    [0.96516548, 0.00097491, 0.00075606, 0.03310354],
    [0.95757109, 0.00115802, 0.00166964, 0.03960125],
    [0.93783561, 0.00132115, 0.00268314, 0.05816010],
    [0.91838963, 0.00145307, 0.00379326, 0.07636404],
    [0.89924305, 0.00157339, 0.00496429, 0.09421927],
    [0.88040225, 0.00168398, 0.00618146, 0.11173231],
]
NP1_TRACE = [
    [0.98000000, 0.00000000, 0.00000000, 0.02000000],
    [0.97323145, 0.00020255, 0.00000000, 0.02656600],
    [0.96645641, 0.00025438, 0.00019715, 0.03309206],
    [0.95968665, 0.00030239, 0.00043553, 0.03957543],
    [0.94083683, 0.00034529, 0.00070021, 0.05811767],
    [0.92232657, 0.00038012, 0.00099040, 0.07630291],
    [0.90415327, 0.00041201, 0.00129686, 0.09413786],
    [0.88631355, 0.00044144, 0.00161577, 0.11162924],
]


@pytest.fixture(scope="module")
def result():
    return sim.run_cohort(cohorts.load("thr_briggs").build(), trace=True)


@pytest.mark.parametrize("strategy, expected", [("standard", STANDARD_TRACE), ("np1", NP1_TRACE)])
def test_trace_matches_spreadsheet(result, strategy, expected):
    tr = result.trace[result.trace["strategy"] == strategy].pivot(index="cycle", columns="state", values="share")
    got = tr.loc[1:8, ["SuccessP", "RevisionTHR", "SuccessR", "Death"]].to_numpy()
    np.testing.assert_array_equal(np.round(got, 8), np.round(np.array(expected), 8))


def test_totals_match_spreadsheet(result):
    s = result.summary()
    assert s.loc["standard", "cost"] == pytest.approx(512.434658, rel=1e-8)
    assert s.loc["standard", "qaly"] == pytest.approx(14.6531896, rel=1e-8)
    assert s.loc["np1", "cost"] == pytest.approx(610.311818, rel=1e-8)
    assert s.loc["np1", "qaly"] == pytest.approx(14.69770986, rel=1e-8)
    table = result.icer()
    assert table["icer"].iloc[1] == pytest.approx(2198.486665, rel=1e-8)
    assert round(table["icer"].iloc[1]) == 2198


def test_prosthesis_cost_is_paid_once_at_time_zero(result):
    s = result.summary()
    assert s.loc["standard", "cost_prosthesis"] == 394.0
    assert s.loc["np1", "cost_prosthesis_undisc"] == 579.0


def test_male_cohort_revises_more():
    mod = cohorts.load("thr_briggs")
    women = sim.run_cohort(mod.build()).summary()
    men = sim.run_cohort(mod.build({"male": 1})).summary()
    assert men.loc["standard", "cost_revision"] > women.loc["standard", "cost_revision"]
    assert men.loc["standard", "ly"] < women.loc["standard", "ly"]


def test_parameters_cite_sources():
    table = cohorts.load("thr_briggs").parameter_table()
    assert (table["source"].str.len() > 20).all()
    csv = Path(cohorts.load("thr_briggs").__file__).with_name("mortality.csv")
    lines = pd.Series(csv.read_text().splitlines())
    assert lines[1].startswith("# Source:")
