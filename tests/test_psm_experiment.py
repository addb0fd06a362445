"""An experiment file runs a partitioned survival model: base case, PSA, one-way, threshold."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from sim.errors import HtaError
from sim.experiment import load, read_experiment, read_sweep
from sim.experiment.runner import run_experiment
from sim.psm import CurveCrossingWarning, run_psm_psa

BUILDER = '''
import math
import sim
from sim.psm import PartitionedSurvival
from sim.survival import SurvivalProbability


@sim.model_builder
def build(parameters):
    os_ = SurvivalProbability("weibull", ("os_shape", "os_scale", "os_arm"),
                              (sim.ByStrategy(standard=0.0, new_drug=1.0),), time_unit="month")
    pfs = SurvivalProbability("exp", ("pfs_rate", "pfs_arm"), (sim.ByStrategy(standard=0.0, new_drug=1.0),),
                              time_unit="month")
    return PartitionedSurvival(
        states=("pf", "progressed", "dead"), curves=("pfs", "os"), strategies=("standard", "new_drug"),
        survival={s: {"pfs": pfs, "os": os_} for s in ("standard", "new_drug")},
        horizon_years=10, cycle_length=1 / 12, time_unit="month", parameters=parameters,
        costs={"drug": {"pf": sim.ByStrategy(standard=500.0, new_drug="c_drug")}, "care": {"progressed": 900.0}},
        utilities={"pf": 0.78, "progressed": 0.6}, entry_costs={"care": {"progressed": 2000.0}},
        discount_costs=0.035, discount_outcomes=0.035, name="psm_example")
'''

TABLE = """name,value,distribution,args,source
os_shape,0.1,normal,mean=0.1; sd=0.05,test
os_scale,3.3,normal,mean=3.3; sd=0.1,test
os_arm,0.2,normal,mean=0.2; sd=0.08,test
pfs_rate,-2.5,normal,mean=-2.5; sd=0.1,test
pfs_arm,-0.5,normal,mean=-0.5; sd=0.1,test
c_drug,3000,gamma,mean=3000; se=300,test
"""

EXP = """title = "partitioned survival"
model = "psmbuilder:build"
parameters = "psm.csv"
seed = 3
output = "out"

[wtp]
min = 0
max = 100000
step = 25000
threshold = 50000

[psa]
draws = 40
chunk = 15

[one_way]
parameters = ["c_drug", "os_arm"]

[[threshold]]
parameter = "c_drug"
lower = 0
upper = 20000
"""


@pytest.fixture
def experiment(tmp_path, monkeypatch):
    (tmp_path / "psmbuilder.py").write_text(BUILDER)
    (tmp_path / "psm.csv").write_text(TABLE)
    path = tmp_path / "exp.toml"
    path.write_text(EXP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("psmbuilder", None)
    return path


def test_experiment_runs_a_partitioned_survival_model(experiment):
    with pytest.warns(CurveCrossingWarning, match="strategy 'new_drug': curve 'pfs' lies above 'os'"):
        res = run_experiment(experiment)  # some drawn curves cross: constrained and reported
    base = pd.read_csv(res.folder / "base_case.csv").set_index("strategy")
    assert base.loc["new_drug", "qaly"] > base.loc["standard", "qaly"]
    psa = pd.read_csv(res.folder / "psa_outcomes.csv")
    assert len(psa) == 80 and psa["cost"].nunique() == 80
    assert (res.folder / "one_way.csv").exists() and (res.folder / "thresholds.csv").exists()
    assert res.summary is not None and "cost_low" in res.summary.columns
    cross = pd.read_csv(res.folder / "psa_crossings.csv")
    assert list(cross["strategy"]) == ["new_drug"] and 0 < cross["draws"].iloc[0] < 40
    assert not (res.folder / "base_case_crossings.csv").exists()  # the base-case curves do not cross
    experiment.write_text(EXP.replace("chunk = 15", "chunk = 40"))
    with pytest.warns(CurveCrossingWarning):
        again = run_experiment(experiment, output=experiment.parent / "again")  # same seed, other chunking: same
    assert pd.read_csv(again.folder / "psa_outcomes.csv").equals(psa)


def test_sweep_of_a_partitioned_survival_model_runs_a_psa_per_scenario(experiment):
    experiment.write_text(EXP.split("[one_way]")[0].replace("[psa]", "[base_case]\nrun = false\n\n[psa]")
                          + '\n[sweep]\ndraws = 30\ngrid = {c_drug = [1000, 2000], discount_costs = [0.0, 0.035]}\n')
    with pytest.warns(CurveCrossingWarning):  # drawn curves that cross are constrained and reported
        res = run_experiment(experiment)
    data = read_sweep(res.folder)
    assert sorted(data["scenario"].unique()) == [0, 1, 2, 3] and len(data) == 4 * 30 * 2
    exp = read_experiment(experiment)
    ld = load(exp)
    for s in exp.sweep:  # oracle: run_psm_psa of the scenario's model with its parameter held fixed
        with pytest.warns(CurveCrossingWarning):
            ref = run_psm_psa(ld.model(s.values), ld.table, 30, exp.seed, chunk_size=15,
                              fixed={"c_drug": s.values["c_drug"]}).outcomes
        got = data[data["scenario"] == s.index].drop(columns="scenario").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, ref, check_exact=True, check_categorical=False)
    summary = pd.read_csv(res.folder / "sweep_summary.csv")
    new = summary[summary["strategy"] == "new_drug"].set_index("scenario")["cost"]
    assert new[0] > new[1] and new[2] > new[3] and new[0] < new[2]  # discounting lowers; dearer drug raises


def test_utility_max_is_refused_for_a_partitioned_survival_model(experiment):
    experiment.write_text(EXP.replace('output = "out"', 'output = "out"\nutility_max = 1.2'))
    with pytest.raises(HtaError, match=r"exp.toml:6: .*utility_max applies to a sim.Model"):
        run_experiment(experiment)
    assert not (experiment.parent / "out").exists()  # nothing that looks like a result
