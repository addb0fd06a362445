"""The flagship's subgroup scenarios (issue 12, point 7): published effects, their parameter values, the
experiment file that runs them, and the direction of their ICERs."""

import tomllib
from pathlib import Path

import pandas as pd
import pytest

import sim
from cohorts.omt_vs_cabg import build, subgroups
from cohorts.omt_vs_cabg.calibration import trial_outcomes
from sim.experiment.cli import main

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "experiments" / "omt_vs_cabg_subgroups.toml"


def test_published_effects_as_printed_in_the_abstracts():
    sg = subgroups.SUBGROUPS
    assert sg["EF < 27 % / ESVI > 79 / 3-vessel disease: 2-3 of them"]["hr"] == (0.71, 0.56, 0.89)
    assert sg["EF < 27 % / ESVI > 79 / 3-vessel disease: 0-1 of them"]["hr"] == (1.08, 0.81, 1.44)
    assert sg["angina at baseline"]["hr"] == (0.89, 0.71, 1.13)
    assert sg["no angina at baseline"]["hr"] == (0.68, 0.50, 0.94)
    assert sg["viability substudy (viability assessed)"]["hr"] == (0.73, 0.60, 0.90)
    assert sg["age <= 54 (quartile 1; start age 50)"]["cv"] == (0.49, 0.35)
    assert sg["age > 67 (quartile 4; start age 72)"]["all"] == (0.79, 0.68)
    for name, s in sg.items():
        assert s["verified"] in ("yes", "partly") and len(s["source"]) > 60 and s["note"], name
        if "hr" in s:
            assert s["hr"][1] < s["hr"][0] < s["hr"][2] and s["hr_all"] in (0.86, 0.84)


def test_effect_modifiers_scale_only_the_late_cv_hazards_after_cabg():
    base = build().parameters
    o = subgroups.overrides("no angina at baseline")
    assert set(o) == {"h_cv_post_y2", "h_cv_post_y5"}
    for k, v in o.items():
        assert v == pytest.approx(base[k] * 0.68 / 0.86)


@pytest.mark.parametrize("name", ["age <= 54 (quartile 1; start age 50)", "age > 67 (quartile 4; start age 72)"])
def test_age_subgroups_reproduce_the_quartile_s_ten_year_deaths(name):
    s = subgroups.SUBGROUPS[name]
    o = subgroups.overrides(name)
    assert o["age_start"] == s["age"]
    out = trial_outcomes(build(o))
    assert out.loc["OMT", "cv_death"] == pytest.approx(s["cv"][0], abs=1e-6)
    assert out.loc["CABG", "cv_death"] == pytest.approx(s["cv"][1], abs=1e-6)
    noncv = ((s["all"][0] - s["cv"][0]) + (s["all"][1] - s["cv"][1])) / 2
    assert out["noncv_death"].mean() == pytest.approx(noncv, abs=1e-6)


def test_subgroup_icers_move_with_the_published_effects():
    r = subgroups.results()
    icer = r["icer"]
    assert icer["no angina at baseline"] < icer["base case"] < icer["angina at baseline"]
    assert (icer["EF < 27 % / ESVI > 79 / 3-vessel disease: 2-3 of them"] < icer["base case"]
            < icer["EF < 27 % / ESVI > 79 / 3-vessel disease: 0-1 of them"])
    assert icer["viability substudy (viability assessed)"] < icer["base case"]
    assert icer["age <= 54 (quartile 1; start age 50)"] < icer["base case"]
    # flagship numbers of this session (issue 12): base 83,575; the subgroups' deterministic ICERs
    assert icer["base case"] == pytest.approx(83_575, abs=1)
    assert icer["no angina at baseline"] == pytest.approx(68_056, abs=1)
    assert icer["EF < 27 % / ESVI > 79 / 3-vessel disease: 0-1 of them"] == pytest.approx(117_092, abs=1)


def test_experiment_file_holds_the_code_s_values_and_runs(tmp_path):
    spec = tomllib.loads(FILE.read_text())
    scen = {s["name"]: s for s in spec["sweep"]["scenarios"]}
    assert list(scen) == ["base case", *subgroups.SUBGROUPS]
    for name in subgroups.SUBGROUPS:
        o = subgroups.overrides(name)
        got = {k: v for k, v in scen[name].items() if k != "name"}
        assert set(got) == set(o), name
        for k, v in o.items():
            assert got[k] == pytest.approx(v, rel=1e-5), (name, k)
    # the file's values give the code's deterministic results
    r = subgroups.results()
    for name in subgroups.SUBGROUPS:
        vals = {k: v for k, v in scen[name].items() if k != "name"}
        s = sim.run_cohort(build(vals)).summary()
        d = s.loc["CABG"] - s.loc["OMT"]
        assert d["cost"] / d["qaly"] == pytest.approx(r.loc[name, "icer"], rel=1e-4), name
    # and the experiment runs: one PSA per subgroup
    assert main(["run", str(FILE), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    summ = pd.read_csv(tmp_path / "out" / "sweep_summary.csv")
    assert len(summ) == 2 * len(scen)
    p = summ[summ["strategy"] == "CABG"].set_index("name")["p_cost_effective"]
    assert p["no angina at baseline"] > p["angina at baseline"]
    assert (p["EF < 27 % / ESVI > 79 / 3-vessel disease: 2-3 of them"]
            > p["EF < 27 % / ESVI > 79 / 3-vessel disease: 0-1 of them"])
