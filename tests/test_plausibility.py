"""Issue 10, point 8 and parts of 6 and 7: absurd values are located errors with the fix.

Discount rates outside [0, 1) (with a "did you mean 0.035?" hint), state utilities above
1, Dirichlet base values not summing to 1, formula cells in an xlsx parameter table,
and result arrays larger than the memory limit, each an :class:`HtaError` naming the
place, before anything runs or is allocated.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.cohort.engine import run_cohort
from sim.cohort.psa import run_psa
from sim.decision.voi import population_factor
from sim.errors import HtaError
from sim.model.conventions import Discount, check_rate
from sim.model.memory import ENV_VAR, check_memory, format_bytes, memory_limit, parse_bytes
from sim.model.spec import Model
from sim.model.values import ByCycle, C
from sim.params.table import Parameter, ParameterTable
from sim.patient.engine import run_pathway
from sim.patient.events import Exponential
from sim.patient.markov import run_markov_patients
from sim.patient.pathway import Event, Pathway


def model(**kw) -> Model:
    spec = dict(
        states=("Well", "Sick", "Dead"),
        strategies=("a", "b"),
        transitions={("Well", "Well"): C, ("Well", "Sick"): "p_sick", ("Well", "Dead"): 0.02,
                     ("Sick", "Sick"): C, ("Sick", "Dead"): 0.2},
        start={"Well": 1.0},
        horizon=10,
        parameters={"p_sick": 0.1, "c_drug": 500.0},
        costs={"drug": {"Well": "c_drug", "Sick": 2000.0}},
        utilities={"Well": 0.9, "Sick": 0.6},
        dead=("Dead",),
    )
    spec.update(kw)
    return Model(**spec)


def pathway(**kw) -> Pathway:
    spec = dict(states=("Well", "Dead"), start="Well", events={"Well": [Event("Dead", Exponential(0.1))]},
                horizon=20.0, costs={"Well": 100.0}, utilities={"Well": 0.8}, dead=("Dead",))
    spec.update(kw)
    return Pathway(**spec)


def message(fn, *args, **kw) -> str:
    with pytest.raises(HtaError) as err:
        fn(*args, **kw)
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


# ---------------------------------------------------------------------------- 1. discount rates
@pytest.mark.parametrize(("rate", "fragments"), [
    (3.5, ["3.5", ">= 0 and < 1", "did you mean 0.035?"]),
    (1.0, ["did you mean 0.01?"]),
    (35, ["did you mean 0.35?"]),
    (1e308, ["1e+308", ">= 0 and < 1"]),
    (-0.01, ["-0.01", ">= 0 and < 1"]),
    (math.nan, ["nan", ">= 0 and < 1"]),
    (math.inf, ["inf", ">= 0 and < 1"]),
])
@pytest.mark.parametrize("field", ["discount_costs", "discount_outcomes"])
def test_model_discount_rate_outside_0_1_is_an_error_with_a_hint(field, rate, fragments):
    msg = message(model, **{field: rate})
    assert msg.startswith(f"{field}: "), msg
    for f in fragments:
        assert f in msg, msg
    if rate > 100 or rate < 1:
        assert "did you mean" not in msg, msg


def test_a_step_down_schedule_names_the_year_of_the_bad_rate():
    msg = message(model, discount_costs=[(0, 0.035), (30, 3.0)])
    assert "discount_costs: discount rate from year 30 3.0" in msg and "did you mean 0.03?" in msg, msg
    msg = message(Discount, [(0, 0.035), (30, 1.5)])
    assert "from year 30" in msg and "did you mean 0.015?" in msg


@pytest.mark.parametrize("rate", [0.0, 0.015, 0.035, 0.999])
def test_valid_rates_pass_and_keep_their_value(rate):
    m = model(discount_costs=rate, discount_outcomes=Discount([(0, rate), (30, rate / 2)]))
    assert m.discount_costs.schedule == ((0.0, rate),)
    assert check_rate(rate) == rate


def test_valid_discounting_gives_the_same_numbers_as_before():
    """The check changes no number: a 3.5 % run equals its hand-computed factors."""
    m = model(discount_costs=0.035, discount_outcomes=0.035, horizon=4, correction="start")
    res = run_cohort(m)
    undisc = run_cohort(model(horizon=4, correction="start"))
    assert res.outcomes["cost"].lt(undisc.outcomes["cost"]).all()


@pytest.mark.parametrize("field", ["discount_costs", "discount_outcomes"])
def test_patient_pathway_discount_rates_are_checked(field):
    msg = message(pathway, **{field: 3.5})
    assert msg.startswith(f"{field} 3.5") and "did you mean 0.035?" in msg, msg
    assert pathway(**{field: 0.035}).discount_costs >= 0


def test_population_evpi_discount_is_checked():
    msg = message(population_factor, 1000, 10, discount=3.5)
    assert "population EVPI discount rate 3.5" in msg and "did you mean 0.035?" in msg, msg
    assert population_factor(1000, 2, discount=0.035) == pytest.approx(1000 + 1000 / 1.035)


# ---------------------------------------------------------------------------- 2. utilities
def test_state_utility_above_one_names_strategy_state_and_cycle():
    msg = message(run_cohort, model(utilities={"Well": 1.5, "Sick": 0.6}))
    assert "strategy 'a', utility of state 'Well', cycle 0: 1.5 is above 1" in msg, msg
    assert "utility_max=None" in msg and "0.85, not 85" in msg, msg


def test_utility_above_one_in_a_later_cycle_and_a_draw_is_located():
    m = model(utilities={"Well": 0.9, "Sick": ByCycle([0.6] * 5 + [60.0] * 6)})
    msg = message(run_cohort, m)
    assert "utility of state 'Sick', cycle 5: 60 is above 1" in msg, msg
    params = pd.DataFrame({"u_well": [0.9, 0.95, 1.2]})
    m = model(parameters={"p_sick": 0.1, "c_drug": 500.0, "u_well": 0.9}, utilities={"Well": "u_well", "Sick": 0.6})
    msg = message(run_cohort, m, params)
    assert "utility of state 'Well'" in msg and "in draw 2" in msg and "1.2 is above 1" in msg, msg


def test_utility_max_none_allows_any_utility_and_keeps_the_numbers():
    res = run_cohort(model(utilities={"Well": 1.5, "Sick": 0.6}, utility_max=None))
    ref = run_cohort(model(utilities={"Well": 0.75, "Sick": 0.3}))
    np.testing.assert_allclose(res.outcomes["qaly"].to_numpy(), 2 * ref.outcomes["qaly"].to_numpy())
    assert run_cohort(model(utilities={"Well": 1.5, "Sick": 0.6}, utility_max=2.0)) is not None


def test_utility_of_exactly_one_and_negative_utilities_are_allowed():
    run_cohort(model(utilities={"Well": 1.0, "Sick": -0.2}))


def test_one_off_utilities_are_qaly_changes_and_not_bounded():
    run_cohort(model(transition_utilities={("Well", "Sick"): -2.0}, start_utilities={"Well": 1.5}))


def test_a_bad_utility_max_is_an_error():
    assert "utility_max 'one'" in message(model, utility_max="one")


def test_run_markov_patients_checks_utilities_too():
    msg = message(run_markov_patients, model(utilities={"Well": 2.0}), 10, 1)
    assert "utility of state 'Well'" in msg and "above 1" in msg, msg


@pytest.mark.parametrize("name", ["omt_vs_cabg", "hiv_chancellor", "thr_briggs"])
def test_ready_models_pass_the_checks_with_their_packaged_tables(name):
    import importlib

    mod = importlib.import_module(f"cohorts.{name}")
    m = mod.build()
    assert m.utility_max == 1.0
    run_cohort(m)
    mod.parameters()  # the packaged tables' Dirichlet groups sum to 1


# ---------------------------------------------------------------------------- 3. Dirichlet base values
COLS = ["name", "value", "distribution", "args", "group", "source"]


def _csv(tmp_path, rows):
    path = tmp_path / "params.csv"
    pd.DataFrame(rows, columns=COLS).to_csv(path, index=False)
    return path


def test_dirichlet_base_values_must_sum_to_one(tmp_path):
    path = _csv(tmp_path, [("pA", 0.9, "dirichlet", "count=70", "rowA", "s"),
                           ("pB", 0.6, "dirichlet", "count=30", "rowA", "s")])
    msg = message(ParameterTable.read, path)
    assert "params.csv" in msg and "group 'rowA'" in msg and "sum to 1.5, not 1" in msg, msg
    assert "pA (line 2) = 0.9" in msg and "pB (line 3) = 0.6" in msg and "(0.7, 0.3)" in msg, msg


def test_dirichlet_base_values_that_sum_to_one_within_rounding_pass(tmp_path):
    path = _csv(tmp_path, [(f"p{i}", 0.333 + (i == 2) * 0.001, "dirichlet", "count=10", "g", "s") for i in range(3)])
    t = ParameterTable.read(path)
    assert t.base == {"p0": 0.333, "p1": 0.333, "p2": 0.334}
    path = _csv(tmp_path, [(f"p{i}", 0.333, "dirichlet", "count=10", "g", "s") for i in range(3)])
    ParameterTable.read(path)  # 0.999: rounding


def test_dirichlet_base_values_in_a_dataframe_are_checked():
    df = pd.DataFrame([("pA", 0.5, "dirichlet", "count=1", "g", "s"), ("pB", 0.2, "dirichlet", "count=1", "g", "s")],
                      columns=COLS)
    msg = message(ParameterTable.from_frame, df)
    assert "group 'g'" in msg and "sum to 0.7" in msg, msg


def test_dirichlet_rows_built_in_python_keep_placeholder_base_values():
    rows = [Parameter(n, 0.5, "dirichlet", {"count": "3"}, group="g", source="s") for n in ("a", "b", "c")]
    assert len(ParameterTable(rows)) == 3


# ---------------------------------------------------------------------------- 4. formula cells
def _workbook(tmp_path, formula_cell="B3", sheet="parameters", correlations=False):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["name", "value", "distribution", "args", "group", "source"])
    ws.append(["p_sick", 0.1, "beta", "mean=0.1; se=0.02", "", "trial"])
    ws.append(["c_drug", 500, "", "", "", "price list"])
    if formula_cell:
        ws[formula_cell] = "=B2*2"
    if correlations:
        wc = wb.create_sheet("correlations")
        wc.append(["param_a", "param_b", "rho"])
        wc.append(["p_sick", "c_drug", "=0.5"])
    path = tmp_path / "params.xlsx"
    wb.save(path)
    return path


def test_formula_cell_in_an_xlsx_table_is_an_error_naming_sheet_and_cell(tmp_path):
    msg = message(ParameterTable.read, _workbook(tmp_path))
    assert "params.xlsx, sheet 'parameters', cell B3: holds the formula '=B2*2'" in msg, msg
    assert "paste special" in msg, msg


def test_formula_in_a_text_column_and_in_the_first_unnamed_sheet(tmp_path):
    msg = message(ParameterTable.read, _workbook(tmp_path, formula_cell="F2", sheet="Sheet1"))
    assert "sheet 'Sheet1', cell F2" in msg, msg


def test_formula_in_the_correlations_sheet(tmp_path):
    msg = message(ParameterTable.read, _workbook(tmp_path, formula_cell=None, correlations=True))
    assert "sheet 'correlations', cell C2" in msg, msg


def test_workbook_without_formulas_reads_as_before(tmp_path):
    t = ParameterTable.read(_workbook(tmp_path, formula_cell=None))
    assert t.base == {"p_sick": 0.1, "c_drug": 500.0}


# ---------------------------------------------------------------------------- 5. memory bound
def test_a_huge_psa_is_refused_before_anything_is_allocated():
    table = ParameterTable([Parameter("p_sick", 0.1, "beta", {"mean": "0.1", "se": "0.02"}, source="s")])
    msg = message(run_psa, model(), table, 10**15, 1, defaults="model")
    assert "a PSA of 1,000,000,000,000,000 draws x 2 strategies needs about" in msg, msg
    assert "above the memory limit of" in msg and ENV_VAR in msg and "memory_limit=" in msg, msg


def test_the_memory_limit_can_be_raised_or_lowered(monkeypatch):
    table = ParameterTable([Parameter("p_sick", 0.1, "beta", {"mean": "0.1", "se": "0.02"}, source="s")])
    msg = message(run_psa, model(), table, 1000, 1, memory_limit="10KB", defaults="model")
    assert "9.77 KiB" in msg, msg
    assert len(run_psa(model(), table, 50, 1, memory_limit="1MiB", defaults="model").outcomes) == 100
    monkeypatch.setenv(ENV_VAR, "10KB")
    assert "above the memory limit of 9.77 KiB" in message(run_psa, model(), table, 1000, 1, defaults="model")
    monkeypatch.setenv(ENV_VAR, "lots")
    assert f"{ENV_VAR} = 'lots' is not a size in bytes" in message(run_psa, model(), table, 10, 1, defaults="model")


def test_huge_patient_runs_are_refused():
    msg = message(run_pathway, {"a": pathway()}, 10**15, seed=1)
    assert "a run of 1,000,000,000,000,000 patients needs about" in msg, msg
    msg = message(run_markov_patients, model(), 10**15, 1)
    assert "patients needs about" in msg and "memory limit" in msg, msg


def test_memory_helpers():
    assert parse_bytes("16GiB") == 16 * 2**30 and parse_bytes("500 MB") == 5 * 10**8 and parse_bytes(2e10) == 2 * 10**10
    assert format_bytes(3 * 2**30) == "3 GiB" and format_bytes(12) == "12 bytes"
    assert memory_limit("1GiB") == 2**30 and memory_limit() > 0
    check_memory(10, "tiny")
    assert "memory_limit = '-1'" in message(memory_limit, "-1")


def test_check_psa_size_is_the_check_a_runner_calls_before_mapping_chunks():
    from sim.cohort.psa import check_psa_size, psa_bytes

    table = ParameterTable([Parameter("p_sick", 0.1, "beta", {"mean": "0.1", "se": "0.02"}, source="s")])
    assert psa_bytes(model(), table, 10) == 10 * psa_bytes(model(), table, 1)
    check_psa_size(model(), table, 1000)
    assert "a PSA of 1,000 draws" in message(check_psa_size, model(), table, 1000, "1KB")
