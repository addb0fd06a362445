"""Appraisal-grade outputs (issue 13): units everywhere, settings in words, the workbook, the command line.

A run of a small HIV experiment (GBP 1995, life-years) is opened as an analyst would:
the workbook with openpyxl (sheets, bold frozen headers, number formats, widths, text
kept as text), the report's headers, the manifest's units; the command line's
``--version``, stages, ``info`` in 80 columns and ``validate`` without machine paths.
"""

from __future__ import annotations

import json
import re

import exp_helpers as H
import openpyxl
import pandas as pd
import pytest

import cohorts
from sim import HtaError, Model, ParameterTable
from sim.experiment import read_experiment, run_experiment
from sim.experiment.cli import main as cli_main
from sim.experiment.present import (
    Units,
    labelled,
    resolve_units,
    settings_words,
    terminal_table,
)
from sim.experiment.workbook import FORMATS, WORKBOOK, parameter_label

UNITS = "\n[units]\ncurrency = \"EUR\"\nprice_year = 2021\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("units")
    f = H.small(folder, draws=300, chunk=150, extra=H.FULL_EXTRA)
    return f, run_experiment(f, command=["test"])


# ---------------------------------------------------------------------------- units
def test_ready_models_declare_their_units():
    hiv = cohorts.load("hiv_chancellor")
    m = hiv.build()
    assert (m.currency, m.price_year, m.effect_unit) == ("GBP", 1995, "life-years")
    assert "1995 GBP" in hiv.parameters()["c_dm_A"].source  # the price year is the source's
    thr = cohorts.load("thr_briggs").build()
    assert thr.currency == "GBP" and thr.effect_unit == "QALYs"
    omt = cohorts.load("omt_vs_cabg").build()
    assert omt.currency == "USD" and omt.effect_unit == "QALYs"


@pytest.mark.parametrize("field, value, words", [
    ("currency", "usd", "ISO 4217"), ("currency", "DOLLARS", "ISO 4217"), ("price_year", 23, "between 1900"),
    ("price_year", 2023.0, "between 1900"), ("effect_unit", "", "short name"),
])
def test_model_units_are_checked(field, value, words):
    m = cohorts.load("hiv_chancellor").build()
    with pytest.raises(HtaError, match=words):
        m.replace(**{field: value})


def test_unit_labels():
    u = Units("qaly", "QALYs", "USD", 2023)
    assert u.money == "USD 2023" and u.cost() == "Cost (USD 2023)"
    assert u.per_effect() == "ICER (USD 2023 per QALY)" and u.wtp(100_000) == "USD 100,000 per QALY"
    ly = Units("ly", "life-years", "GBP", None)
    assert ly.per_effect() == "ICER (GBP per life-year)" and ly.cost("Incremental cost") == "Incremental cost (GBP)"
    assert Units().per_effect() == "ICER (per QALY)" and Units().cost() == "Cost"


def test_resolve_units_prefers_the_experiment_then_the_model_then_the_module():
    m = cohorts.load("hiv_chancellor").build()
    assert resolve_units(m, "ly") == Units("ly", "life-years", "GBP", 1995)
    assert resolve_units(m, "qaly").effect_unit == "QALYs"  # the model's unit names another measure
    over = resolve_units(m, "ly", override={"currency": "EUR", "price_year": 2021})
    assert (over.currency, over.price_year) == ("EUR", 2021)

    class Module:
        CURRENCY, PRICE_YEAR, EFFECT_UNIT = "CHF", 2020, "QALYs (EQ-5D-5L)"

    bare = m.replace(currency=None, price_year=None, effect_unit=None)
    assert resolve_units(bare, "qaly", Module) == Units("qaly", "QALYs (EQ-5D-5L)", "CHF", 2020)


def test_labelled_headers_name_their_units():
    u = Units("qaly", "QALYs", "USD", 2023)
    icer = pd.DataFrame({"strategy": ["a", "b"], "cost": [1.0, 2.0], "qaly": [1.0, 2.0], "inc_cost": [None, 1.0],
                         "inc_qaly": [None, 1.0], "icer": [None, 1.0], "status": ["x", "y"]})
    lab, kinds = labelled(icer, u)
    assert list(lab.columns) == ["Strategy", "Cost (USD 2023)", "QALYs", "Incremental cost (USD 2023)",
                                 "Incremental QALYs", "ICER (USD 2023 per QALY)", "Status"]
    assert kinds["Cost (USD 2023)"] == "money" and kinds["QALYs"] == "effect" and kinds["Strategy"] == "text"


def test_terminal_tables_print_whole_currency_units_and_effects_to_three_decimals():
    u = Units("qaly", "QALYs", "USD", 2023)
    df = pd.DataFrame({"strategy": ["OMT"], "cost": [63350.873406], "cost_low": [42529.8], "cost_high": [91212.3],
                       "qaly": [5.2465359], "qaly_low": [4.857], "qaly_high": [5.665]})
    text = terminal_table(df, u)
    assert "63,351 (42,530 to 91,212)" in text and "5.247 (4.857 to 5.665)" in text
    assert "Cost with 95 % interval (USD 2023)" in text and "63,350.873" not in text


@pytest.mark.parametrize("model, words", [
    ("omt_vs_cabg", "discounted at 3 % a year for costs and outcomes, half-cycle correction, monthly cycles, "
                    "40-year horizon"),
    ("hiv_chancellor", "costs discounted at 6 % a year, outcomes not discounted, rewards counted at the end of "
                       "each cycle, annual cycles, 20-year horizon"),
    ("thr_briggs", "costs discounted at 6 % a year, outcomes at 1.5 % a year"),
])
def test_settings_in_words(model, words):
    text = settings_words(cohorts.load(model).build())
    assert words in text and "Discount(" not in text, text


def test_experiment_units_override_is_read_and_checked(tmp_path):
    f = H.small(tmp_path, draws=20, extra=UNITS)
    assert read_experiment(f).units == {"currency": "EUR", "price_year": 2021}
    for bad, words in (('currency = "euro"', "ISO 4217"), ("price_year = 21", "between 1900 and 2100"),
                       ("price_year = \"2021\"", "must be a whole number, got text '2021'"),
                       ("curency = \"EUR\"", "did you mean 'currency'")):
        g = H.small(tmp_path / bad.split()[0], draws=20, extra=f"\n[units]\n{bad}\n")
        with pytest.raises(HtaError, match=re.escape(words)) as ei:
            read_experiment(g)
        line = g.read_text().splitlines().index(bad) + 1
        assert f"exp.toml:{line}: " in str(ei.value), ei.value  # the key's line


def test_units_reach_the_manifest_report_and_figures(run):
    _f, res = run
    m = json.loads((res.folder / "manifest.json").read_text())
    assert m["units"] == {"currency": "GBP", "price_year": 1995, "effect": "ly", "effect_unit": "life-years"}
    assert "costs discounted at 6 % a year" in m["model_settings"]
    html = (res.folder / "report.html").read_text()
    for words in ("Cost (GBP 1995)", "ICER (GBP 1995 per life-year)", "Incremental life-years",
                  "costs discounted at 6 % a year, outcomes not discounted", "GBP 10,000 per life-year"):
        assert words in html, words
    assert "Discount(" not in html and "per unit of effect" not in html and "'end'" not in html
    svg = (res.folder / "figures" / "ceac.svg").read_text()
    assert "Discount" not in svg


# ---------------------------------------------------------------------------- the workbook
def test_workbook_has_every_result_table_formatted(run):
    _f, res = run
    wb = openpyxl.load_workbook(res.folder / WORKBOOK)
    assert wb.sheetnames == ["Base case", "ICER table", "PSA summary", "PSA ICER table", "PSA outcomes", "CEAC",
                             "EVPI", "EVPPI", "One-way", "Two-way", "Thresholds", "Parameters", "Settings"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        header = next(ws.iter_rows(min_row=1, max_row=1))
        assert all(c.font.b for c in header), ws.title
        for col, cell in enumerate(header, start=1):
            width = ws.column_dimensions[openpyxl.utils.get_column_letter(col)].width
            assert 8 <= width <= 60, (ws.title, cell.value, width)
    icer = wb["ICER table"]
    head = [c.value for c in icer[1]]
    assert head[:3] == ["Strategy", "Cost (GBP 1995)", "Life-years"] and "ICER (GBP 1995 per life-year)" in head
    row = {h: c for h, c in zip(head, icer[3], strict=False)}
    assert row["Cost (GBP 1995)"].number_format == FORMATS["money"] == "#,##0"
    assert row["Life-years"].number_format == "#,##0.000"
    assert row["ICER (GBP 1995 per life-year)"].value == pytest.approx(6275.956, abs=1e-3)  # Briggs Ex. 2.5
    ceac = wb["CEAC"]
    assert ceac["A1"].value == "Willingness to pay (GBP 1995 per life-year)"
    assert ceac["B2"].number_format == "0.0%" and 0 <= ceac["B2"].value <= 1
    assert wb["PSA outcomes"].max_row == 601  # 300 draws x 2 strategies and the header
    settings = {r[0].value: r[1].value for r in wb["Settings"].iter_rows(min_row=2)}
    assert settings["currency"] == "GBP, 1995 prices" and "annual cycles" in settings["model settings"]
    assert all(c.data_type == "s" for r in wb["Settings"].iter_rows() for c in r if c.value is not None)
    # the parameter sheet keeps the parameter table's own columns (it reads back as a table)
    assert [c.value for c in wb["Parameters"][1]][:3] == ["name", "value", "distribution"]


def test_workbook_of_a_sweep_has_its_summary(tmp_path):
    f = H.write(tmp_path, H.SWEEP.format(draws=20))
    res = run_experiment(f)
    wb = openpyxl.load_workbook(res.folder / WORKBOOK)
    assert "Sweep summary" in wb.sheetnames and "ICER table" not in wb.sheetnames
    head = [c.value for c in wb["Sweep summary"][1]]
    assert head[:4] == ["Scenario", "Name", "c_lamivudine", "discount_costs"]  # parameters keep their names
    assert "Cost (GBP 1995)" in head and "Life-years" in head and "EVPI per person (GBP 1995)" in head
    p = head.index("Probability cost-effective") + 1
    assert wb["Sweep summary"].cell(row=2, column=p).number_format == "0.0%"


def test_parameter_label_has_description_base_and_range():
    table = cohorts.load("omt_vs_cabg").parameters()
    # the table's own description and base value (the flagship's numbers are its own business)
    desc, base = table["c_cabg"].description, table.base["c_cabg"]
    assert desc
    label = parameter_label(table, "c_cabg", 24_340.0, 53_723.0)
    first, second = label.split("\n")
    assert second == f"c_cabg = {base:,.0f} (24,340 to 53,723)"
    # the description, capitalised, shortened with an ellipsis when long
    head = first.rstrip("\u2026")
    assert head and (desc[0].upper() + desc[1:]).startswith(head)
    assert parameter_label(table, "c_cabg", short=True).endswith(" (c_cabg)")
    assert parameter_label(table, "not_there", 1.0, 2.0, base=1.5) == "not_there = 1.5 (1 to 2)"


# ---------------------------------------------------------------------------- the command line
def test_version(capsys):
    with pytest.raises(SystemExit) as ei:
        cli_main(["--version"])
    assert ei.value.code == 0
    from sim._version import __version__

    assert capsys.readouterr().out.strip() == f"hta-sim {__version__}"


@pytest.mark.parametrize("model", ["omt_vs_cabg", "hiv_chancellor", "thr_briggs"])
def test_info_fits_an_80_column_terminal(capsys, model):
    assert cli_main(["info", model]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) > 20
    too_long = [ln for ln in lines if len(ln) > 80]
    assert not too_long, too_long[:3]
    assert "Discount(" not in out and "settings: " in out


def test_run_names_every_stage(tmp_path, capsys):
    f = H.small(tmp_path, draws=300, chunk=150, extra=H.FULL_EXTRA)
    assert cli_main(["run", str(f)]) == 0
    out, err = capsys.readouterr()
    assert "Settings: costs discounted at 6 % a year, outcomes not discounted" in out
    assert "ICER (GBP 1995 per life-year)" in out and "Cost with 95 % interval (GBP 1995)" in out
    stages = re.findall(r"hta-sim: \[(\d+)/(\d+)\] (.+?)(?:  \(previous stage|$)", err, flags=re.M)
    names = [s[2] for s in stages]
    for words in ("base case", "PSA: sampling", "EVPI", "EVPPI", "one-way", "two-way", "threshold", "workbook",
                  "report.html"):
        assert any(n.startswith(words) for n in names), (words, names)
    assert [int(s[0]) for s in stages] == list(range(1, len(stages) + 1))
    assert {int(s[1]) for s in stages} == {len(stages)} and "hta-sim: done:" in err


def test_quiet_run_prints_no_stage(tmp_path, capsys):
    f = H.small(tmp_path, draws=20)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    assert "hta-sim: [" not in capsys.readouterr().err


def test_validate_shows_no_absolute_path_of_the_installation(capsys):
    assert cli_main(["validate", str(H.ROOT / "experiments" / "omt_vs_cabg.toml")]) == 0
    body = capsys.readouterr().out.split(": ok: ", 1)[1]  # after the file name as the user gave it
    assert "model omt_vs_cabg, cohorts/omt_vs_cabg/parameters.csv (" in body
    assert str(H.ROOT) not in body and "site-packages" not in body
    assert "output ../results/omt_vs_cabg (relative to the experiment file)" in body


def test_model_with_bad_units_in_python_is_an_error_at_build():
    with pytest.raises(HtaError, match="currency"):
        Model(states=("a", "b"), strategies=("x",), transitions={("a", "b"): 0.1, ("a", "a"): 0.9, ("b", "b"): 1.0},
              start={"a": 1.0}, horizon=2, currency="$")


def test_parameter_sheet_keeps_the_files_verification_record_and_reads_back(tmp_path):
    """price_year/verified/note of the table's CSV reach the workbook (and the report); the sheet is still a table."""
    f = H.small(tmp_path, draws=20)
    table = pd.read_csv(tmp_path / "hiv.csv", dtype=str, keep_default_na=False)
    table["verified"] = ["yes" if i % 2 else "no" for i in range(len(table))]
    table["note"] = [f"note {i}" for i in range(len(table))]
    table.to_csv(tmp_path / "hiv.csv", index=False)
    res = run_experiment(f)
    wb = openpyxl.load_workbook(res.folder / WORKBOOK)
    head = [c.value for c in wb["Parameters"][1]]
    assert "verified" in head and "note" in head
    rows = {r[0]: r for r in wb["Parameters"].iter_rows(min_row=2, values_only=True)}
    v, n = head.index("verified"), head.index("note")
    for name, verified, note in zip(table["name"], table["verified"], table["note"], strict=True):
        assert rows[name][v] == verified and rows[name][n] == note
    sheet = pd.read_excel(res.folder / WORKBOOK, sheet_name="Parameters", dtype=object)
    back = ParameterTable.from_frame(sheet)  # the workbook's parameter sheet reads back as a table
    assert back.names == list(table["name"])
    html = (res.folder / "report.html").read_text()
    assert ">Verified<" in html and "note 3" in html
