"""Experiment files of patient-level models (issue 13, point 4): validate, run, chunking, Dask, sweeps, errors."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from cohorts.omt_vs_cabg.managed import arrivals, managed, population, psa_table
from sim.errors import HtaError
from sim.experiment import patient_run
from sim.experiment.cli import main
from sim.experiment.read import read_experiment
from sim.experiment.runner import run_experiment
from sim.experiment.sweep import read_sweep
from sim.patient import run_managed

TOML = """\
title = "tiny patient-level run"
model = "omt_vs_cabg_managed"
seed = 11
output = "out"

[patients]
n = {n}

[scenario]
theatre_slots_per_week = 3
arrivals_per_week = 4

[wtp]
values = [0, 50000, 100000]
threshold = 100000

[psa]
draws = {draws}
chunk = {chunk}
{extra}"""

SWEEP = """
[sweep]
draws = 3

[sweep.grid]
theatre_slots_per_week = [2, 4, 100]
"""


def _file(tmp_path, n=12, draws=4, chunk=2, extra="", name="exp.toml"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    f = tmp_path / name
    f.write_text(TOML.format(n=n, draws=draws, chunk=chunk, extra=extra))
    return f


CSVS = ("base_case.csv", "icer.csv", "psa_outcomes.csv", "psa_summary.csv", "psa_icer.csv", "ceac.csv", "evpi.csv",
        "patient_queues.csv", "patient_outcomes.csv", "patient_subgroups.csv", "patient_nnt.csv",
        "patient_mc_error.csv", "patient_psa_queues.csv")


def test_validate_and_run_a_patient_level_experiment(tmp_path, capsys):
    f = _file(tmp_path)
    assert main(["validate", str(f)]) == 0
    assert "patient-level model omt_vs_cabg_managed" in capsys.readouterr().out
    res = run_experiment(f)
    for name in CSVS:
        assert (res.folder / name).is_file(), name
    out = pd.read_csv(res.folder / "psa_outcomes.csv")
    assert list(out["draw"]) == [0, 0, 1, 1, 2, 2, 3, 3] and list(out["strategy"][:2]) == ["OMT", "CABG"]
    assert {"cost_se", "qaly_se", "waited", "died_on_list", "inc_cost_se", "inc_qaly_se"} <= set(out.columns)
    titles = [t for t, _ in res.extra_tables]
    assert any(t.startswith("Queues") for t in titles) and any("subgroup" in t for t in titles)
    assert any("needed" in t for t in titles) and any("Monte Carlo" in t for t in titles)
    assert all(isinstance(df, pd.DataFrame) and len(df) for _, df in res.extra_tables)
    wb = openpyxl.load_workbook(res.folder / "results.xlsx")
    assert {"Base case", "ICER table", "PSA summary", "PSA outcomes", "CEAC", "EVPI", "Queues", "Patient outcomes",
            "Subgroups", "NNT and NNH", "Monte Carlo error", "Parameters", "Settings"} <= set(wb.sheetnames)
    ws = wb["Queues"]  # the cohort workbook's rules: bold frozen headers with units, number formats, text as text
    heads = [c.value for c in ws[1]]
    assert heads[:3] == ["Strategy", "Resource", "Capacity (per week)"] and "Mean wait (weeks)" in heads
    assert ws.freeze_panes == "A2" and all(c.font.b for c in ws[1])
    assert ws.cell(2, heads.index("Utilisation") + 1).number_format == "0.0%"
    base = wb["Base case"]
    assert [c.value for c in base[1]][:3] == ["Strategy", "Cost (USD 2023)", "QALYs"]
    assert base.cell(2, 2).number_format == "#,##0" and base.cell(2, 3).number_format == "#,##0.000"
    assert all(ws.column_dimensions[c].width >= 8 for c in "ABC")
    assert res.manifest["patients_per_draw"] == 12 and "report.html" in res.manifest["outputs"]
    q = pd.read_csv(res.folder / "patient_queues.csv").set_index("strategy")
    assert q.loc["CABG", "capacity"] == 3 and q.loc["CABG", "listed"] >= q.loc["CABG", "admitted"]


def test_base_case_matches_the_managed_model_run_directly(tmp_path):
    res = run_experiment(_file(tmp_path, n=30))
    values = dict(psa_table().base)
    direct = run_managed(managed(values, theatre_slots_per_week=3), None, seed=11,
                         population=population(30, 11, values), arrivals=arrivals(4)).outcomes
    want = direct.groupby("strategy", observed=True, sort=False)[["cost", "qaly", "ly"]].mean()
    got = pd.read_csv(res.folder / "base_case.csv").set_index("strategy")[["cost", "qaly", "ly"]]
    np.testing.assert_allclose(got.to_numpy(), want.loc[got.index].to_numpy(), rtol=1e-12)
    queues = pd.read_csv(res.folder / "patient_queues.csv").set_index("strategy")
    assert queues.loc["CABG", "died_on_list"] == direct[direct["strategy"] == "CABG"]["died_on_list"].sum()


def test_psa_draw_matches_a_direct_run_with_that_draws_values(tmp_path):
    res = run_experiment(_file(tmp_path, n=10, draws=3))
    draws = pd.read_csv(res.folder / "psa_draws.csv")
    row = draws[draws["draw"] == 2].drop(columns="draw").iloc[0].to_dict()
    direct = run_managed(managed(row, theatre_slots_per_week=3), None, seed=11, draw=2,
                         population=population(10, 11, row), arrivals=arrivals(4)).outcomes
    want = direct.groupby("strategy", observed=True, sort=False)["cost"].mean()
    out = pd.read_csv(res.folder / "psa_outcomes.csv")
    got = out[out["draw"] == 2].set_index("strategy")["cost"]
    np.testing.assert_allclose(got.to_numpy(), want.loc[got.index].to_numpy(), rtol=1e-12)


def test_numbers_do_not_depend_on_the_chunk_size(tmp_path):
    a = run_experiment(_file(tmp_path / "a", chunk=1, draws=5)).folder
    b = run_experiment(_file(tmp_path / "b", chunk=4, draws=5)).folder
    for name in CSVS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.slow
def test_serial_and_two_dask_workers_write_identical_csvs(tmp_path):
    a = run_experiment(_file(tmp_path / "a", draws=4, extra=SWEEP)).folder
    b = run_experiment(_file(tmp_path / "b", draws=4, extra=SWEEP), workers=2).folder
    for name in (*CSVS, "sweep_summary.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pd.testing.assert_frame_equal(read_sweep(a), read_sweep(b), check_exact=True)


def test_interrupted_sweep_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    ref = read_sweep(run_experiment(_file(tmp_path / "ref", extra=SWEEP)).folder)
    f = _file(tmp_path / "run", extra=SWEEP)
    real, calls = patient_run.scenario_task, []

    def failing(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if Ctrl-C during the third scenario
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(patient_run, "scenario_task", failing)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(f)
    stage = tmp_path / "run" / ".out.partial"
    assert len(list((stage / "sweep").glob("*/_SUCCESS"))) == 2
    monkeypatch.setattr(patient_run, "scenario_task", real)
    resumed = []
    monkeypatch.setattr(patient_run, "scenario_task", lambda *a: resumed.append(1) or real(*a))
    res = run_experiment(f)
    assert len(resumed) == 1 and not stage.exists()
    pd.testing.assert_frame_equal(read_sweep(res.folder), ref, check_exact=True)
    summary = pd.read_csv(res.folder / "sweep_summary.csv")
    assert len(summary) == 6 and {"waited_weeks", "died_on_list", "p_cost_effective"} <= set(summary.columns)
    waits = summary[summary["strategy"] == "CABG"].set_index("theatre_slots_per_week")["waited_weeks"]
    assert waits[2] > waits[4] >= waits[100]  # fewer slots, longer waits
    html = (res.folder / "report.html").read_text()  # a sweep alone: the report's section says so
    assert re.search(r"<h2>\d+\. Sweep</h2>", html) and 'data-figure="sweep_waits"' in html


def _line(text: str, needle: str) -> int:
    return next(i for i, s in enumerate(text.splitlines(), 1) if needle in s)


@pytest.mark.parametrize(("extra", "needle", "message"), [
    ("\n[two_way]\nx = \"c_cabg\"\nx_values = [1, 2]\ny = \"p_op\"\ny_values = [0.1]\n", "[two_way]",
     r"'two_way' does not apply to a patient-level model.*run a \[sweep\]"),
    ("\n[[threshold]]\nparameter = \"c_cabg\"\nlower = 0\nupper = 1e6\n", "[[threshold]]",
     r"'threshold' does not apply to a patient-level model.*bisection.*Monte Carlo noise"),
    ("\n[one_way]\nparameters = [\"c_cabbg\"]\n", "parameters = [", r"'c_cabbg' is not a parameter.*'c_cabg'"),
    ("\n[one_way]\nranges = {c_cabbg = [1, 2]}\n", "ranges =", r"'c_cabbg' is not a parameter.*'c_cabg'"),
    ("\n[sweep]\ndraws = 2\n[sweep.grid]\ntheatre_slots_per_wek = [2, 3]\n", "theatre_slots_per_wek",
     r"did you mean 'theatre_slots_per_week'"),
])
def test_bad_keys_are_located(tmp_path, extra, needle, message):
    f = _file(tmp_path, extra=extra)
    with pytest.raises(HtaError, match=message) as info:
        run_experiment(f)
    assert str(info.value).startswith(f"{f}:{_line(f.read_text(), needle)}: ")


@pytest.mark.parametrize(("old", "new", "needle", "message"), [
    ("n = 12", "nn = 12", "nn = 12", r"did you mean 'n'"),
    ("n = 12", "n = 0", "n = 0", r">= 1"),
    ('model = "omt_vs_cabg_managed"', 'model = "omt_vs_cabg"', "model =", r"no ready patient-level model"),
    ("arrivals_per_week = 4", "arrivals_per_wek = 4", "arrivals_per_wek", r"did you mean 'arrivals_per_week'"),
    ("theatre_slots_per_week = 3", "theatre_slots_per_week = -3", "theatre_slots_per_week", r"theatre"),
])
def test_bad_values_are_located(tmp_path, old, new, needle, message):
    f = _file(tmp_path)
    f.write_text(f.read_text().replace(old, new))
    with pytest.raises(HtaError, match=message) as info:
        read_and_load(f)
    assert str(info.value).startswith(f"{f}:{_line(f.read_text(), needle)}: ")


def read_and_load(f):
    from sim.experiment.patient_load import load_patient

    return load_patient(read_experiment(f))
