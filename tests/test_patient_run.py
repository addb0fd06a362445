"""PatientRun: the patient-level engine as a model run (sim.decision.run.ModelRun) for DSA and thresholds."""

import numpy as np
import pandas as pd
import pytest

import sim
from sim.decision.run import ModelRun, check_run
from sim.patient import Event, Exponential, ManagedPathway, Pathway, PatientRun, Weibull, run_pathway
from sim.patient.psa import MEAN_COLUMNS

BASE = {"hr": 0.6, "c_drug": 300.0, "u_sick": 0.6}


def build(p):
    def path(hr, drug):
        return Pathway(states=("Healthy", "Sick", "Dead"), start="Healthy", dead=("Dead",), horizon=20.0,
                       events={"Healthy": [Event("Sick", Exponential(0.08 * hr)), Event("Dead", Exponential(0.01))],
                               "Sick": [Event("Dead", Weibull(1.5, 8.0))]},
                       costs={"Healthy": drug, "Sick": 4000.0 + drug}, utilities={"Healthy": 0.9, "Sick": p["u_sick"]},
                       discount_costs=0.035, discount_outcomes=0.035)

    return {"usual": path(1.0, 0.0), "drug": path(p["hr"], p["c_drug"])}


def _run(**kw):
    return PatientRun(build, BASE, 400, seed=11, name="toy", **kw)


def _means(params, n=400, seed=11):
    out = run_pathway(build(params), n, seed=seed).outcomes
    return out.groupby("strategy", observed=True, sort=False)[list(MEAN_COLUMNS)].mean()


def test_is_a_model_run():
    run = _run()
    assert isinstance(run, ModelRun) and check_run(run, "test") is run
    assert run.name == "toy" and run.strategies == ("usual", "drug") and dict(run.parameters) == BASE
    assert tuple(run.outcome_columns) == MEAN_COLUMNS
    assert sim.PatientRun is PatientRun


def test_columns_shape_and_base_case():
    run = _run()
    base = run.run({})
    assert list(base.columns) == ["draw", "strategy", *MEAN_COLUMNS] and len(base) == 2
    assert base["draw"].tolist() == [0, 0] and list(base["strategy"].cat.categories) == ["usual", "drug"]
    np.testing.assert_array_equal(base[list(MEAN_COLUMNS)].to_numpy(), _means(BASE).to_numpy())
    # a set equal to the base case gives the base-case means
    same = run.run({"hr": np.array([BASE["hr"]])})
    pd.testing.assert_frame_equal(same, base, check_exact=True)


def test_sets_equal_separate_base_case_runs():
    run = _run()
    values = {"hr": np.array([0.4, 0.9]), "c_drug": np.array([100.0, 900.0])}
    out = run.run(values)
    assert len(out) == 4 and out["draw"].tolist() == [0, 0, 1, 1]
    assert out["strategy"].astype(str).tolist() == ["usual", "drug"] * 2
    for i in range(2):
        params = {**BASE, "hr": values["hr"][i], "c_drug": values["c_drug"][i]}
        alone = PatientRun(build, params, 400, seed=11).run({})
        got = out[out["draw"] == i].reset_index(drop=True)
        pd.testing.assert_frame_equal(got.drop(columns="draw"), alone.drop(columns="draw"), check_exact=True)
    # common random numbers: the usual-care arm does not depend on the drug's parameters
    usual = out[out["strategy"] == "usual"][list(MEAN_COLUMNS)].to_numpy()
    np.testing.assert_array_equal(usual[0], usual[1])


def test_population_and_managed_strategies():
    pop = pd.DataFrame({"age": np.linspace(50, 80, 30)})
    run = PatientRun(lambda p: {s: ManagedPathway(v) for s, v in build(p).items()}, BASE, None, seed=3,
                     population=pop)
    out = run.run({"u_sick": np.array([0.5, 0.7])})
    plain = PatientRun(build, BASE, 30, seed=3).run({"u_sick": np.array([0.5, 0.7])})
    pd.testing.assert_frame_equal(out, plain, check_exact=True)  # managed without policies = plain


@pytest.mark.parametrize("values, match", [
    ({"c_drgu": [0.5]}, "unknown parameter 'c_drgu' \\(did you mean 'c_drug'\\?\\)"),
    ({"hr": [0.5, 0.6], "c_drug": [1.0]}, "same number of values"),
    ({"hr": []}, "non-empty 1-D array"),
])
def test_bad_values(values, match):
    with pytest.raises(sim.HtaError, match=match):
        _run().run(values)


def test_bad_construction():
    with pytest.raises(sim.HtaError, match="build must be a function"):
        PatientRun(None, BASE, 10, seed=1)
    with pytest.raises(sim.HtaError, match="seed -1"):
        PatientRun(build, BASE, 10, seed=-1)
    with pytest.raises(sim.HtaError, match="parameter 'hr' is nan"):
        PatientRun(build, {"hr": float("nan")}, 10, seed=1)
    with pytest.raises(sim.HtaError, match="n_patients 0"):
        PatientRun(build, BASE, 0, seed=1)
    with pytest.raises(TypeError):
        PatientRun(build, BASE, 10)  # the seed is required
