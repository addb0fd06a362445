"""A patient-level run's report and workbook are the cohort run's, with its own sections (issue 13, point 4).

One report builder (sim.experiment.report) and one workbook writer: the patient-level
run gives them its tables, sections and figures.
"""

from __future__ import annotations

import re

import openpyxl
import pandas as pd
import pytest
import report_helpers as R

from sim.experiment.runner import run_experiment


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    folder = tmp_path_factory.mktemp("patient_report")
    res = run_experiment(R.patient_file(folder), command=["test"])
    return res, (res.folder / "report.html").read_text()


def _section(html: str, sid: str) -> str:
    return re.search(rf'<section id="{sid}">.*?</section>', html, re.S).group(0)


def test_sections_in_order_and_in_the_contents(patient):
    _, html = patient
    ids = R.section_ids(html)
    assert ids == list(R.PATIENT_SECTIONS), ids
    assert R.toc_targets(html) == ids[1:]
    dsa = _section(html, "dsa")
    assert "Deterministic sensitivity analyses</h2>" in dsa and "<h3>Sweep</h3>" in dsa
    assert 'class="warning"' in dsa and "common random numbers" in dsa  # the one-way's Monte Carlo noise


def test_the_patient_report_is_the_appraisal_template(patient):
    """Same template as a cohort report: table of contents, image check script, no network, figures numbered."""
    _, html = patient
    assert '<nav id="contents"' in html and "data-images-total" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert re.findall(r"<b>Figure (\d+)\.</b>", html) == [str(i) for i in range(1, len(R.PATIENT_FIGURES) + 1)]


def test_every_figure_is_embedded_and_not_blank(patient):
    _, html = patient
    figs = R.figures(html)
    assert sorted(figs) == sorted(R.PATIENT_FIGURES)
    for name, png in figs.items():
        assert R.blank(png) is None, (name, R.blank(png))


def test_decision_up_front_from_the_run_tables(patient):
    res, html = patient
    decision = _section(html, "decision")
    base = pd.read_csv(res.folder / "base_case.csv").set_index("strategy")
    nmb = 100_000 * base["qaly"] - base["cost"]
    best, other = nmb.idxmax(), nmb.idxmin()
    assert f"At USD 100,000 per QALY, <b>{best}</b> is cost-effective" in decision
    assert f"incremental net monetary benefit USD {nmb[best] - nmb[other]:,.0f} per person" in decision
    assert "40 simulated patients at the parameters" in decision
    assert "probability cost-effective" in decision and "expected value of perfect information" in decision


def test_patient_sections_show_their_tables_with_units(patient):
    res, html = patient
    queues = _section(html, "queues")
    q = pd.read_csv(res.folder / "patient_queues.csv").set_index("strategy")
    for head in ("Capacity (per week)", "Patients listed", "Mean wait (weeks)", "Utilisation"):
        assert f">{head}<" in queues, head
    assert f">{q.loc['CABG', 'listed']:.4g}<" in queues
    assert 'data-figure="waits"' in queues
    deaths = _section(html, "deaths-on-list")
    assert ">Died on the list<" in deaths and "Share who died on a waiting list over the PSA" in deaths
    assert re.search(r"<td[^>]*>\d+\.\d %</td>", deaths)  # shares as percentages
    sub = _section(html, "subgroups")
    assert "Incremental net monetary benefit (USD 2023)" in sub and "ccs_class" in sub
    nnt = _section(html, "nnt")
    assert ">In words<" in nnt and re.search(r"NN[TH] \d", nnt)
    assert "Monte Carlo SE (inner patients)" in _section(html, "monte-carlo-error")
    assert 'data-figure="sweep_waits"' in _section(html, "dsa")
    settings = _section(html, "settings")
    assert "patients per draw" in settings and "theatre slots per week 3" in settings


def test_disaggregated_results_leave_the_monte_carlo_errors_out_of_the_cost_components(patient):
    _, html = patient
    part = _section(html, "base-case")
    assert "undiscounted" in part and "Monte Carlo standard error" not in part


def test_reproducibility_lists_every_result_file(patient):
    import json

    res, html = patient
    m = json.loads((res.folder / "manifest.json").read_text())
    part = _section(html, "reproducibility")
    for name, digest in m["outputs"].items():
        if name != "report.html":
            assert f">{name}<" in part and digest in part, name


def test_workbook_has_every_table_formatted_as_the_cohort_workbook(patient):
    res, _ = patient
    wb = openpyxl.load_workbook(res.folder / "results.xlsx")
    assert wb.sheetnames == ["Base case", "ICER table", "PSA summary", "PSA ICER table", "PSA outcomes", "CEAC",
                             "EVPI", "One-way", "Sweep summary", "Queues", "Patient outcomes", "Subgroups",
                             "NNT and NNH", "PSA waits and deaths", "Monte Carlo error", "Parameters", "Settings"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert all(c.font.b for c in ws[1] if c.value is not None), ws.title
        for row in ws.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, str):
                    assert c.data_type == "s" and c.number_format == "@", (ws.title, c.coordinate)
    out = wb["Patient outcomes"]
    heads = [c.value for c in out[1]]
    assert heads[:3] == ["Strategy", "Patients", "Cost (USD 2023)"]
    assert out.cell(2, heads.index("Died on a waiting list") + 1).number_format == "0.0%"
    sweep = [c.value for c in wb["Sweep summary"][1]]
    assert "Mean time on waiting lists (weeks)" in sweep and "Probability cost-effective" in sweep
