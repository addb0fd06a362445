"""The ready HIV model reproduces Briggs, Claxton & Sculpher (2006), Example 2.5."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import cohorts
import sim


@pytest.fixture(scope="module")
def hiv():
    return cohorts.load("hiv_chancellor")


@pytest.fixture(scope="module")
def result(hiv):
    return sim.run_cohort(hiv.build())


def _by_strategy(res, col):
    out = res.outcomes.set_index("strategy")[col]
    return float(out["mono"]), float(out["comb"])


def test_printed_results(result):
    cost_mono, cost_comb = _by_strategy(result, "cost")
    ly_mono, ly_comb = _by_strategy(result, "ly")
    assert round(cost_mono, 0) == 44663
    assert round(cost_comb, 0) == 50602
    assert round(ly_mono, 3) == 7.991
    assert round(ly_comb, 3) == 8.937
    table = result.icer(effect="ly").set_index("strategy")
    assert round(float(table.loc["comb", "icer"]), 0) == 6276
    assert table.loc["comb", "status"] == "non-dominated"
    assert pd.isna(table.loc["mono", "icer"])


def test_spreadsheet_values(result):
    cost_mono, cost_comb = _by_strategy(result, "cost")
    ly_mono, ly_comb = _by_strategy(result, "ly")
    assert cost_mono == pytest.approx(44663.4535637, rel=1e-8)
    assert cost_comb == pytest.approx(50601.6513312, rel=1e-8)
    assert ly_mono == pytest.approx(7.9912066, rel=1e-8)
    assert ly_comb == pytest.approx(8.9373889, rel=1e-8)
    icer = float(result.icer(effect="ly").set_index("strategy").loc["comb", "icer"])
    assert icer == pytest.approx(6275.95560, rel=1e-8)
    # life-years are not discounted in the book; costs are (6 %)
    assert _by_strategy(result, "ly_undisc") == pytest.approx((ly_mono, ly_comb), rel=1e-15)
    assert _by_strategy(result, "cost_undisc")[0] > cost_mono


def test_settings_of_the_published_analysis(hiv, result):
    model = hiv.build()
    assert model.correction == "end"
    assert model.n_cycles == 20 and model.cycle_length == 1.0
    assert result.settings["discount_costs"] == "0.06"
    assert result.settings["discount_outcomes"] == "0"
    assert hiv.EFFECT == "ly"


def test_half_cycle_correction(hiv):
    res = sim.run_cohort(hiv.build().replace(correction="half-cycle"))
    ly_mono, ly_comb = _by_strategy(res, "ly")
    assert round(ly_mono, 3) == 8.475
    assert round(ly_comb, 3) == 9.417
    assert res.settings["correction"] == "half-cycle"


def test_every_parameter_has_a_source(hiv):
    path = Path(cohorts.__file__).resolve().parent / "hiv_chancellor" / "parameters.csv"
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(raw) >= 16
    assert {"name", "value", "source"} <= set(raw.columns)
    empty = [n for n, s in zip(raw["name"], raw["source"], strict=True) if not s.strip()]
    assert empty == []
    # the model uses exactly the parameters of the table
    assert set(hiv.build().parameters) == set(raw["name"])
    assert set(hiv.parameter_table()["name"]) == set(raw["name"])
