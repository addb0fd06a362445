"""The ready partitioned survival model cohorts/trastuzumab_psm: its source's printed results, its cited
table, its experiment files (PSA, CEAC, report; a sweep, serial and on 2 workers, resumable)."""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohorts import trastuzumab_psm as tz
from cohorts.trastuzumab_psm import validation
from sim.experiment import load, read_experiment, read_sweep, sweep
from sim.experiment.registry import ready_models
from sim.experiment.runner import run_experiment
from sim.psm import PartitionedSurvival, run_psm, run_psm_psa

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def comparison():
    return validation.comparison()


def test_base_case_reproduces_every_printed_result(comparison):
    assert len(comparison) == 36
    bad = comparison[~comparison["match"]]
    assert bad.empty, bad.to_string()
    out = run_psm(tz.build()).outcomes.set_index("strategy")
    # the headline numbers, as printed (Session 8, Results Summary and ICER tables)
    assert round(out.loc["chemo", "cost"]) == 729_011 and round(out.loc["trastuzumab", "cost"]) == 895_213
    assert round(out.loc["chemo", "qaly"], 3) == 6.577 and round(out.loc["trastuzumab", "qaly"], 3) == 8.061
    assert round(out.loc["chemo", "ly_undisc"], 2) == 11.28 and round(out.loc["trastuzumab", "ly_undisc"], 2) == 13.17
    icer = run_psm(tz.build()).icer().set_index("strategy").loc["trastuzumab", "icer"]
    assert round(icer) == 112_006


def test_comparison_fails_when_an_input_changes():
    """The comparison can fail: a 1 % dearer progressed state moves the printed costs."""
    changed = validation.comparison(tz.build({"c_pd": 181_800.0}))
    assert not changed.loc[changed["quantity"] == "discounted cost (INR)", "match"].any()
    assert changed.loc[changed["quantity"] == "discounted QALYs", "match"].all()


def test_docs_page_holds_the_generated_table():
    text = (ROOT / "docs" / "trastuzumab_psm.md").read_text()
    assert validation.markdown() in text, "docs/trastuzumab_psm.md: the table differs from validation.markdown()"
    assert "(docs/trastuzumab_psm.md)" in (ROOT / "README.md").read_text()


def test_curves_are_the_printed_weibulls_and_hazard_ratios():
    model = tz.build()
    res = run_psm(model, trace=True)
    tr = res.trace
    t = np.arange(21.0)
    for strategy, hr_os, hr_pfs in (("chemo", 1.0, 1.0), ("trastuzumab", 0.70, 0.50)):
        os_ = np.exp(-0.045 * hr_os * t ** 1.15)
        pfs = np.exp(-0.12 * hr_pfs * t ** 1.05)
        sel = tr[tr["strategy"].astype(str) == strategy]
        pf = sel[sel["state"].astype(str) == "progression_free"].sort_values("cycle")["share"].to_numpy()
        dead = sel[sel["state"].astype(str) == "dead"].sort_values("cycle")["share"].to_numpy()
        np.testing.assert_allclose(pf, pfs, rtol=1e-12)
        np.testing.assert_allclose(dead, 1 - os_, rtol=1e-12, atol=1e-15)
    assert res.settings["crossings"] == []  # PFS stays below OS over the 20 years


def test_parameter_table_cites_every_value():
    df = tz.parameter_table()
    assert set(df.columns) >= {"name", "value", "distribution", "source", "price_year", "verified", "note"}
    assert (df["source"].str.len() > 40).all()
    assert df["verified"].isin(["yes", "partly", "no"]).all()
    assert (df["note"].str.len() > 0).all()
    table = tz.parameters()
    assert set(table.names) == set(tz.build().parameters)
    assert set(table.random_names) == {"os_log_hr", "pfs_log_hr", "c_pf_trast_y1", "c_pd", "u_pf", "u_pd"}
    base = dict(zip(df["name"], df["value"], strict=True))
    assert math.isclose(math.exp(base["os_log_hr"]), 0.70) and math.isclose(math.exp(base["pfs_log_scale"]), 0.12)


def test_registered_and_built_as_a_partitioned_survival_model():
    assert "trastuzumab_psm" in ready_models()
    assert isinstance(tz.build(), PartitionedSurvival)
    assert tz.data_files() == (Path(tz.__file__).parent / "parameters.csv",)
    assert tz.CURRENCY == "INR" and tz.EFFECT == "qaly"


def _copy(name: str, folder: Path, **replace: str) -> Path:
    text = (ROOT / "experiments" / name).read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_experiment_file_runs_psa_icer_ceac_and_report(tmp_path):
    f = _copy("trastuzumab_psm.toml", tmp_path, **{"draws = 5000": "draws = 400", "chunk = 1000": "chunk = 150",
                                                   'output = "../results/trastuzumab_psm"': 'output = "out"'})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few drawn curves cross (reported in psa_crossings.csv)
        res = run_experiment(f)
    icer = pd.read_csv(res.folder / "icer.csv").set_index("strategy")
    assert round(icer.loc["trastuzumab", "icer"]) == 112_006
    for name in ("psa_outcomes.csv", "ceac.csv", "evpi.csv", "one_way.csv", "thresholds.csv", "report.html"):
        assert (res.folder / name).is_file(), name
    ceac = pd.read_csv(res.folder / "ceac.csv")
    assert np.allclose(ceac.groupby("wtp")["probability"].sum(), 1)
    psa = pd.read_csv(res.folder / "psa_outcomes.csv")
    ref = run_psm_psa(tz.build(), tz.parameters(), 400, 2026).outcomes
    np.testing.assert_array_equal(psa["cost"].to_numpy(), ref["cost"].to_numpy())
    threshold = pd.read_csv(res.folder / "thresholds.csv")["threshold"].iloc[0]
    assert 420_000 < threshold < 2_000_000  # at INR 170,000/QALY the drug could cost more in year one
    report = (res.folder / "report.html").read_text()
    assert "INR" in report and "The model against its source" in report and "36 of the 36" in report


def _sweep_file(folder: Path, draws: int = 60) -> Path:
    return _copy("trastuzumab_psm_sweep.toml", folder, **{"draws = 2000": f"draws = {draws}",
                                                          'output = "../results/trastuzumab_psm_sweep"':
                                                          'output = "out"'})


def test_sweep_of_the_partitioned_survival_model_matches_its_psa_per_scenario(tmp_path):
    f = _sweep_file(tmp_path)
    res = run_experiment(f)
    exp = read_experiment(f)
    data = read_sweep(res.folder)
    assert sorted(data["scenario"].unique()) == list(range(12))
    assert not data.duplicated(["scenario", "draw", "strategy"]).any()
    ld = load(exp)
    for s in (exp.sweep[0], exp.sweep[11]):
        model = ld.model(s.values)
        assert model.discount_costs.schedule == ((0.0, s.values["discount_costs"]),)
        ref = run_psm_psa(model, ld.table, 60, exp.seed, fixed={"c_pf_trast_y1": s.values["c_pf_trast_y1"]}).outcomes
        got = data[data["scenario"] == s.index].drop(columns="scenario").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, ref, check_exact=True, check_categorical=False)
    summary = pd.read_csv(res.folder / "sweep_summary.csv")
    assert len(summary) == 24 and np.allclose(summary.groupby("scenario")["p_cost_effective"].sum(), 1)
    trast = summary[summary["strategy"] == "trastuzumab"].set_index("scenario")["cost"]
    assert trast[0] < trast[4] < trast[8]  # a dearer first year costs more (common random numbers)


def test_psm_sweep_resumes_and_gives_the_same_numbers_on_two_workers(tmp_path, monkeypatch):
    ref = read_sweep(run_experiment(_sweep_file(tmp_path / "ref", draws=40)).folder)
    f = _sweep_file(tmp_path / "run", draws=40)
    real, calls = sweep.scenario_psa, []

    def failing(*args):
        if len(calls) == 5:
            raise KeyboardInterrupt  # as if interrupted during the sixth scenario
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(sweep, "scenario_psa", failing)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(f)
    assert len(list((tmp_path / "run" / ".out.partial" / "sweep").glob("*/_SUCCESS"))) == 5
    monkeypatch.setattr(sweep, "scenario_psa", real)
    resumed = run_experiment(f)
    assert resumed.manifest is not None
    pd.testing.assert_frame_equal(read_sweep(resumed.folder), ref, check_exact=True)
    parallel = run_experiment(_sweep_file(tmp_path / "par", draws=40), workers=2)
    pd.testing.assert_frame_equal(read_sweep(parallel.folder), ref, check_exact=True)
    a, b = (tmp_path / "ref" / "out" / "sweep_summary.csv"), (tmp_path / "par" / "out" / "sweep_summary.csv")
    assert a.read_bytes() == b.read_bytes()
    shutil.rmtree(tmp_path / "par")


def test_command_line_runs_and_describes_the_ready_partitioned_survival_model(capsys):
    from sim.experiment.cli import main

    assert main(["run", "trastuzumab_psm"]) == 0
    out = capsys.readouterr().out
    assert "729,011" in out and "895,213" in out and "112,006" in out and "INR" in out
    assert main(["info", "trastuzumab_psm"]) == 0
    out = capsys.readouterr().out
    assert "curves (inner to outer): pfs, os" in out and "os_log_hr" in out
