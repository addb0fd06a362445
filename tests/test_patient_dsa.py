"""One-way DSA of a patient-level experiment file (issue 13, point 5): common random numbers, noise stated.

Every parameter set simulates the base case's patients with the base case's random
numbers; the base set is the base case itself; the sets run as executor tasks whose
chunking changes no number; a set's outcome matches a direct run of the model at that
set's values; the report warns about the Monte Carlo noise and draws its band.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from cohorts.omt_vs_cabg.managed import arrivals, managed, population, psa_table
from sim.experiment.runner import run_experiment
from sim.patient import run_managed

TOML = """\
title = "patient-level one-way"
model = "omt_vs_cabg_managed"
seed = 7
output = "out"

[patients]
n = {n}

[scenario]
theatre_slots_per_week = 3
arrivals_per_week = 4

[wtp]
values = [0, 100000]
threshold = 100000

[psa]
draws = 2
chunk = {chunk}

[one_way]
parameters = ["c_cabg", "p_op", "u_med"]
"""


def _run(tmp_path, n=30, chunk=2):
    tmp_path.mkdir(parents=True, exist_ok=True)
    f = tmp_path / "ow.toml"
    f.write_text(TOML.format(n=n, chunk=chunk))
    return run_experiment(f, command=["test"])


@pytest.fixture(scope="module")
def ow(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("ow"))


def test_base_set_is_the_base_case(ow):
    t = pd.read_csv(ow.folder / "one_way.csv")
    base = pd.read_csv(ow.folder / "base_case.csv").set_index("strategy")
    inmb = 100_000 * (base.loc["CABG", "qaly"] - base.loc["OMT", "qaly"]) - (base.loc["CABG", "cost"]
                                                                               - base.loc["OMT", "cost"])
    np.testing.assert_allclose(t["base"], inmb, rtol=1e-12)
    assert list(t["parameter"]) and set(t["parameter"]) == {"c_cabg", "p_op", "u_med"}


def test_a_set_matches_a_direct_run_at_its_values(ow):
    """The low value of c_cabg: the managed model run directly on the base case's patients (seed, draw 0)."""
    t = pd.read_csv(ow.folder / "one_way.csv").set_index("parameter")
    values = dict(psa_table().base)
    values["c_cabg"] = t.loc["c_cabg", "low"]
    direct = run_managed(managed(values, theatre_slots_per_week=3), None, seed=7, draw=0,
                         population=population(30, 7, values), arrivals=arrivals(4)).outcomes
    m = direct.groupby("strategy", observed=True)[["cost", "qaly"]].mean()
    inmb = 100_000 * (m.loc["CABG", "qaly"] - m.loc["OMT", "qaly"]) - (m.loc["CABG", "cost"] - m.loc["OMT", "cost"])
    np.testing.assert_allclose(t.loc["c_cabg", "outcome_low"], inmb, rtol=1e-12)
    # a cost changes nothing but costs: with common random numbers its effect is exact, no noise
    assert t.loc["c_cabg", "outcome_low"] > t.loc["c_cabg", "base"] > t.loc["c_cabg", "outcome_high"]


def test_chunking_changes_no_number(ow, tmp_path):
    other = _run(tmp_path, chunk=1)
    assert (ow.folder / "one_way.csv").read_bytes() == (other.folder / "one_way.csv").read_bytes()


def test_report_warns_about_monte_carlo_noise_and_shows_the_tornado(ow):
    html = (ow.folder / "report.html").read_text()
    dsa = re.search(r'<section id="dsa">.*?</section>', html, re.S).group(0)
    assert "Deterministic sensitivity analyses</h2>" in dsa and 'data-figure="tornado"' in dsa
    warning = re.search(r"<p class=\"warning\">(.*?)</p>", dsa, re.S).group(1)
    assert "common random numbers" in warning and "30 patients" in warning
    se = float(re.search(r"The base-case outcome itself has a Monte Carlo standard error of about USD ([\d,]+)",
                         warning).group(1).replace(",", ""))
    largest = pd.read_csv(ow.folder / "one_way.csv")[["mc_se_low", "mc_se_high"]].to_numpy().max()
    assert se > 0 and f"largest USD {largest:,.0f}" in warning
    assert "whiskers: two Monte Carlo standard errors" in dsa
    import openpyxl

    wb = openpyxl.load_workbook(ow.folder / "results.xlsx")
    assert "One-way" in wb.sheetnames and wb["One-way"]["B1"].value == "Description"


def test_per_patient_inmb_and_the_paired_error_of_a_change():
    from sim.experiment.patient_dsa import ExperimentPatientRun, patient_inmb

    out = pd.DataFrame({"patient": [2, 0, 1, 0, 1, 2], "strategy": ["A"] * 3 + ["B"] * 3,
                        "cost": [3.0, 1.0, 2.0, 2.0, 2.0, 6.0], "qaly": [1.0, 1.0, 1.0, 1.5, 1.0, 1.2]})
    d = 10 * np.array([0.5, 0.0, 0.2]) - np.array([1.0, 0.0, 3.0])
    np.testing.assert_allclose(patient_inmb(out, 10, "B", "A", "qaly"), d)  # in patient order, paired
    run = ExperimentPatientRun.__new__(ExperimentPatientRun)
    run.per_patient = np.vstack([d, d + np.array([1.0, 2.0, 6.0])])
    se = run.change_se()
    assert se[0] == 0 and se[1] == pytest.approx(np.std([1.0, 2.0, 6.0], ddof=1) / np.sqrt(3), rel=1e-12)


def test_whiskers_and_workbook_columns(ow):
    import openpyxl

    t = pd.read_csv(ow.folder / "one_way.csv").set_index("parameter")
    assert (t[["mc_se_low", "mc_se_high"]] > 0).all().all()
    ws = openpyxl.load_workbook(ow.folder / "results.xlsx")["One-way"]
    heads = [c.value for c in ws[1]]
    assert "Monte Carlo SE at low input (USD 2023)" in heads and "Monte Carlo SE at high input (USD 2023)" in heads


def test_validate_lists_the_one_way(tmp_path, capsys):
    from sim.experiment.cli import main

    f = tmp_path / "ow.toml"
    f.write_text(TOML.format(n=10, chunk=2))
    assert main(["validate", str(f)]) == 0
    assert "one-way DSA (base case's patients, common random numbers)" in capsys.readouterr().out
