"""Every patient-level entry point returns a frozen Result with outcomes, settings and the three views."""

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import sim
from sim.patient import (
    Event,
    Exponential,
    ManagedPathway,
    ManagedResult,
    Pathway,
    PathwayResult,
    PatientPSAResult,
    PatientResult,
    run_managed,
    run_markov_patients,
    run_pathway,
    run_patient_psa,
)
from sim.results import Result


def _pathway(rate: float, cost: float) -> Pathway:
    return Pathway(states=("Alive", "Dead"), start="Alive", dead=("Dead",), horizon=10.0,
                   events={"Alive": [Event("Dead", Exponential(rate))]}, costs={"Alive": cost},
                   utilities={"Alive": 0.8}, discount_costs=0.035, discount_outcomes=0.015)


def _pathways(values=None) -> dict:
    v = {"hr": 0.6, "c_drug": 300.0, **(values or {})}
    return {"usual": _pathway(0.1, 100.0), "drug": _pathway(0.1 * v["hr"], 100.0 + v["c_drug"])}


def _check(res, cls, id_column, n_rows):
    assert isinstance(res, cls) and isinstance(res, Result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.outcomes = None
    out = res.outcomes
    assert list(out.columns[:2]) == [id_column, "strategy"] and len(out) == n_rows
    s = res.settings
    assert s["engine"] == "patient" and s["strategies"] == ["usual", "drug"] and s["version"] == sim.__version__
    assert isinstance(s["seed"], int)
    icer = res.icer()
    pd.testing.assert_frame_equal(icer, sim.icers(out))
    c, e, names = res.matrices()
    assert names == ["usual", "drug"] and c.shape == e.shape == (n_rows // 2, 2)
    means = out.groupby("strategy", observed=True)[["cost", "qaly"]].mean()
    np.testing.assert_allclose(c.mean(axis=0), means["cost"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(e.mean(axis=0), means["qaly"].to_numpy(), rtol=1e-12)
    return s


def test_run_pathway_result():
    res = run_pathway(_pathways(), 300, seed=4)
    s = _check(res, PathwayResult, "patient", 600)
    assert s["seed"] == 4 and s["draw"] == 0 and s["n_patients"] == 300 and s["n_draws"] is None
    assert s["horizon"] == 10.0 and s["discount_costs"] == 0.035 and s["discount_outcomes"] == 0.015
    summ = res.summary()
    assert list(summ.index) == ["usual", "drug"] and summ.attrs["settings"]["seed"] == 4
    assert summ.loc["drug", "qaly"] == pytest.approx(res.outcomes.query("strategy == 'drug'")["qaly"].mean())


def test_settings_give_per_strategy_conventions_when_they_differ():
    p = _pathways()
    p["drug"] = dataclasses.replace(p["drug"], horizon=5.0)
    s = run_pathway(p, 10, seed=1).settings
    assert s["horizon"] == {"usual": 10.0, "drug": 5.0} and s["discount_costs"] == 0.035


def test_run_managed_result():
    res = run_managed({s: ManagedPathway(p) for s, p in _pathways().items()}, 200, seed=5)
    s = _check(res, ManagedResult, "patient", 400)
    assert s["seed"] == 5 and s["n_patients"] == 200 and s["arrivals"] is None
    assert res.log is None and res.queue_trace is None and len(res.queues) == 0
    # a managed pathway without policies is run_pathway bit for bit
    plain = run_pathway(_pathways(), 200, seed=5).outcomes
    pd.testing.assert_frame_equal(res.outcomes[plain.columns], plain, check_exact=True)


def test_run_patient_psa_result():
    draws = pd.DataFrame({"hr": [0.5, 0.7, 0.9], "c_drug": [200.0, 300.0, 400.0]})
    res = run_patient_psa(_pathways, draws, 100, seed=3)
    s = _check(res, PatientPSAResult, "draw", 6)
    assert s["n_draws"] == 3 and s["n_patients"] == 100 and s["model"].endswith("_pathways")
    assert "cost_se" in res.summary().columns


def test_run_markov_patients_result():
    from cohorts.omt_vs_cabg import build

    model = build()
    res = run_markov_patients(model, 200, 7)
    assert isinstance(res, PatientResult) and isinstance(res, Result)
    assert res.patients is res.outcomes and res.settings["n_patients"] == 200
    assert res.settings["model"] == model.name and res.settings["correction"] == model.correction
    c, e, names = res.matrices()
    assert c.shape == (200, len(model.strategies)) and names == list(model.strategies)
    assert list(res.summary().columns) == ["cost", "cost_se", "qaly", "qaly_se", "ly", "ly_se"]
    assert set(res.icer().strategy) == set(model.strategies)


@pytest.mark.parametrize("call", [
    lambda: run_pathway(_pathways(), 10),
    lambda: run_managed({"x": ManagedPathway(_pathway(0.1, 1.0))}, 10),
    lambda: run_pathway(_pathways(), 10, 1),  # seed is keyword only
])
def test_seed_is_required(call):
    with pytest.raises(TypeError, match="seed|positional"):
        call()


def test_subgroups_take_a_result_or_its_outcomes():
    from sim.decision.subgroup import subgroups

    pop = pd.DataFrame({"male": np.arange(400) % 2})
    p = {"usual": _pathway(0.1, 100.0),
         "drug": dataclasses.replace(_pathway(0.1, 400.0),
                                     events={"Alive": [Event("Dead", Exponential(0.1), hr={"male": math.log(0.5)})]})}
    res = run_pathway(p, seed=2, population=pop)
    a = subgroups(res, "male", wtp=20_000, reference="usual")
    b = sim.subgroups(res.outcomes, "male", wtp=20_000, reference="usual")
    pd.testing.assert_frame_equal(a, b)
    assert sim.subgroups is subgroups
    # the package name gives the function on first use (importing the module sim.decision.subgroup
    # before that binds the module to the name, as Python does for every submodule)
    code = "from sim.decision import subgroups; import types; assert isinstance(subgroups, types.FunctionType)"
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(sim.HtaError, match="outcomes DataFrame or a result"):
        subgroups([1, 2], "male", wtp=1.0, reference="usual")
    assert not hasattr(sim.patient, "subgroups")


def test_import_sim_patient_is_lazy():
    code = ("import sys, sim.patient; assert 'simpy' not in sys.modules and 'scipy' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('simpy', 'scipy')); "
            "sim.patient.Pathway; assert 'simpy' not in sys.modules; "
            "sim.patient.run_pathway; assert 'simpy' in sys.modules; "
            "assert sorted(sim.patient.__all__) == sorted(set(sim.patient.__all__))")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_name_resolves():
    import sim.patient as P

    for name in P.__all__:
        assert getattr(P, name) is not None
    for name in ("TimeToEvent", "Exponential", "Weibull", "Gompertz", "LogLogistic", "LogNormal",
                 "PiecewiseExponential", "background_mortality", "uniforms", "run_markov_patients", "PatientResult",
                 "Event", "Pathway", "run_pathway", "run_patient_psa", "Marker", "TDM", "Line", "Refractory",
                 "RedFlag", "Policy", "Resource", "Procedure", "Arrivals", "read_population", "generate_population",
                 "truncated_normal", "check_population", "ManagedPathway", "ManagedResult", "run_managed"):
        assert name in P.__all__
