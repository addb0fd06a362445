"""Patient-level PSA: outer draws x inner patients, serial and on a 2-worker Dask cluster."""

import sys

import numpy as np
import pandas as pd
import pytest

import sim
from sim import HtaError
from sim.patient import Event, Exponential, Pathway, Weibull
from sim.patient.psa import run_patient_psa


def build(values):
    """Two strategies; the drug lowers the hazard of falling sick by hr."""
    def path(hr, drug_cost):
        return Pathway(states=("Healthy", "Sick", "Dead"), start="Healthy", dead=("Dead",), horizon=30.0,
                       events={"Healthy": [Event("Sick", Exponential(values["rate_sick"] * hr)),
                                           Event("Dead", Exponential(0.01))],
                               "Sick": [Event("Dead", Weibull(1.5, values["scale_death"]))]},
                       costs={"Healthy": drug_cost, "Sick": 4000.0 + drug_cost},
                       utilities={"Healthy": 0.9, "Sick": 0.6}, discount_costs=0.035, discount_outcomes=0.035)
    return {"usual": path(1.0, 0.0), "drug": path(values["hr"], 500.0)}


def _draws(n=6):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"rate_sick": rng.uniform(0.04, 0.08, n), "scale_death": rng.uniform(6, 10, n),
                         "hr": rng.uniform(0.5, 0.9, n)})


def test_serial_result_is_a_decision_ready_outcomes_table():
    out = run_patient_psa(build, _draws(), 500, seed=3).outcomes
    assert list(out.columns[:3]) == ["draw", "strategy", "cost"]
    assert len(out) == 12 and (out["qaly_se"] > 0).all()
    table = sim.icers(out)  # the decision analysis takes it as it takes the cohort engine's
    assert set(table["strategy"]) == {"usual", "drug"}
    # a draw depends only on (seed, draw): rerunning a subset reproduces it
    again = run_patient_psa(build, _draws().iloc[:2], 500, seed=3).outcomes
    pd.testing.assert_frame_equal(again, out[out.draw < 2].reset_index(drop=True))


def test_local_cluster_gives_identical_numbers():
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the test module
    serial = run_patient_psa(build, _draws(), 300, seed=4).outcomes
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        parallel = run_patient_psa(build, _draws(), 300, seed=4, client=client).outcomes
    pd.testing.assert_frame_equal(serial, parallel)


def test_bad_input():
    with pytest.raises(HtaError, match="build must be a function"):
        run_patient_psa(None, _draws(), 10, 1)
    with pytest.raises(HtaError, match="non-empty DataFrame"):
        run_patient_psa(build, pd.DataFrame(), 10, 1)
