"""The compiled patient-level path of run_markov_patients: same random numbers, same numbers as numpy and a
slow per-patient loop, independent of threads and batch size; populations."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohorts
import sim
from sim import BySojourn, C, HtaError, Model, _config
from sim.model.arrays import build_arrays, coefficients, resolve_draws
from sim.patient import run_markov_patients
from sim.patient import streams as S
from sim.patient._kernels import patient_uniform

OUT = ["cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc"]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**62), st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**45))
def test_compiled_stream_is_the_stream_bit_for_bit(seed, draw, patient, slot):
    assert patient_uniform(seed, draw, patient, slot) == S.uniforms(seed, draw, patient, slot)[()]


def _tunnel_model() -> Model:
    return Model(
        states=["Well", "Sick", "Dead"], strategies=["a", "b"], start={"Well": 0.8, "Sick": 0.2}, horizon=25,
        transitions={("Well", "Well"): C, ("Well", "Sick"): sim.ByStrategy(a=0.10, b=0.06), ("Well", "Dead"): 0.01,
                     ("Sick", "Sick"): C, ("Sick", "Dead"): BySojourn([0.30, 0.15, 0.05])},
        costs={"care": {"Sick": BySojourn([5000.0, 1000.0]), "Well": 100.0}},
        utilities={"Well": 0.9, "Sick": 0.6}, transition_costs={"event": {(sim.ANY, "Dead"): 3000.0}},
        tunnels={"Sick": 3}, dead=["Dead"], correction="half-cycle", discount_costs=0.035, discount_outcomes=0.015,
    )


def _fixed_model() -> Model:
    """Rewards fixed over cycles, no transition rewards: the occupancy kernel."""
    return Model(
        states=["H", "S", "D"], strategies=["x", "y"], start={"H": 1.0}, horizon=20, parameters={"p": 0.1, "hr": 1.0},
        transitions={("H", "H"): C, ("H", "S"): sim.HazardRatio("p", "hr"), ("H", "D"): 0.02,
                     ("S", "S"): C, ("S", "D"): sim.ByStrategy(x=0.2, y=0.1)},
        costs={"drug": {"S": sim.ByStrategy(x=100.0, y=900.0)}, "care": {"H": 50.0, "S": 2000.0}},
        utilities={"H": 0.95, "S": 0.5}, start_costs={"drug": {"H": 10.0}},
        dead=["D"], correction="half-cycle", discount_costs=0.03, discount_outcomes=0.03,
    )


MODELS = {"tunnel": _tunnel_model, "fixed": _fixed_model, "thr": lambda: cohorts.load("thr_briggs").build(),
          "hiv": lambda: cohorts.load("hiv_chancellor").build()}


def _naive(model: Model, n: int, seed: int) -> np.ndarray:
    """Slow obvious per-patient loop (Python floats, the stream one number at a time): (n, K, 2 * NR)."""
    a = build_arrays(model, resolve_draws(model, None), 0, 1)
    P, R, TR = (x[0] for x in a.dense())
    c_own, c_prev, c_tr = coefficients(model, a.columns)
    K, T, NR = len(model.strategies), model.n_cycles, len(a.columns)
    out = np.zeros((n, K, 2, NR))
    for j in range(n):
        for k in range(K):
            u = S.uniform_one(seed, 0, j, 0)
            s = min(int(np.searchsorted(np.cumsum(a.start[0, k]), u, side="left")), P.shape[2] - 1)
            for t in range(T + 1):
                out[j, k] += c_own[:, :, t] * R[k, t, s] + (c_prev[:, :, t] * R[k, t - 1, s] if t else 0.0)
                if t == T:
                    break
                u = S.uniform_one(seed, 0, j, t + 1)
                nxt = min(int(np.searchsorted(np.cumsum(P[k, t, s]), u, side="left")), P.shape[3] - 1)
                out[j, k] += c_tr[:, :, t] * TR[k, t, s, nxt]
                s = a.dest[s, nxt]
            out[j, k] += a.initial[0, k]
    return out.reshape(n, K, 2 * NR)


def _totals(res) -> np.ndarray:
    return res.outcomes[OUT].to_numpy()


@pytest.mark.parametrize("name", list(MODELS))
def test_compiled_equals_numpy_bit_for_bit_and_the_slow_loop(name):
    model = MODELS[name]()
    comp = run_markov_patients(model, 400, 3, engine="compiled")
    nump = run_markov_patients(model, 400, 3, engine="numpy", batch_size=37)
    np.testing.assert_array_equal(_totals(comp), _totals(nump))
    assert comp.settings["path"].startswith("compiled") and nump.settings["path"].startswith("numpy")
    slow = _naive(model, 60, 3)
    cols = list(comp.outcomes.columns[2:])
    got = comp.outcomes[cols].to_numpy()[:60 * len(model.strategies)]
    comps = [c[5:] for c in cols if c.startswith("cost_") and not c.endswith("undisc") and c != "cost_undisc"]
    NR = len(comps) + 2
    ref = slow.reshape(60 * len(model.strategies), 2, NR)
    want = {"cost": ref[:, 0, :NR - 2].sum(axis=1), "qaly": ref[:, 0, NR - 2], "ly": ref[:, 0, NR - 1],
            "cost_undisc": ref[:, 1, :NR - 2].sum(axis=1), "qaly_undisc": ref[:, 1, NR - 2],
            "ly_undisc": ref[:, 1, NR - 1]}
    for r, c in enumerate(comps):
        want[f"cost_{c}"], want[f"cost_{c}_undisc"] = ref[:, 0, r], ref[:, 1, r]
    for i, c in enumerate(cols):
        np.testing.assert_allclose(got[:, i], want[c], rtol=1e-12, atol=1e-9, err_msg=c)


def test_same_numbers_whatever_the_threads_or_batch():
    model = _tunnel_model()
    ref = _totals(run_markov_patients(model, 1_000, 8))
    for n_threads in (1, 3, 7):
        _config.THREADS = n_threads
        try:
            other = _totals(run_markov_patients(model, 1_000, 8))
        finally:
            _config.THREADS = None
        np.testing.assert_array_equal(ref, other)
    np.testing.assert_array_equal(ref, _totals(run_markov_patients(model, 1_000, 8, batch_size=3)))
    # patient j is patient j: the first 300 of 1,000 are the 300 of a smaller run
    np.testing.assert_array_equal(ref[:600], _totals(run_markov_patients(model, 300, 8)))


def test_population_sets_parameters_per_patient():
    model = _fixed_model()
    n = 2_000
    hr = np.where(np.arange(n) % 3 == 0, 2.5, 1.0)
    pop = pd.DataFrame({"hr": hr})
    mixed = run_markov_patients(model, n, 4, population=pop)
    assert mixed.settings["population"] == ["hr"]
    hi = run_markov_patients(model, n, 4, params={"hr": 2.5})
    lo = run_markov_patients(model, n, 4)
    rows = np.repeat(hr == 2.5, 2)  # one row per (patient, strategy)
    np.testing.assert_array_equal(_totals(mixed)[rows], _totals(hi)[rows])
    np.testing.assert_array_equal(_totals(mixed)[~rows], _totals(lo)[~rows])
    # the numpy path agrees bit for bit
    np.testing.assert_array_equal(_totals(mixed), _totals(run_markov_patients(model, n, 4, population=pop,
                                                                             engine="numpy", batch_size=333)))
    # a population of one profile is the run without population
    same = run_markov_patients(model, n, 4, population=pd.DataFrame({"hr": np.ones(n)}))
    np.testing.assert_array_equal(_totals(same), _totals(lo))


def test_population_mean_converges_to_the_cohort_mixture():
    """Patients with their own age and sex (THR): the mean equals the cohort engine's share-weighted mean."""
    model = cohorts.load("thr_briggs").build()
    n = 20_000
    rng = np.random.default_rng(0)
    pop = pd.DataFrame({"male": (rng.random(n) < 0.4).astype(float), "age_init": rng.choice([55.0, 70.0], n)})
    res = run_markov_patients(model, n, 12, population=pop).outcomes
    for s in model.strategies:
        got = res.loc[res.strategy == s, "qaly"]
        want = 0.0
        for (male, age), share in pop.value_counts(normalize=True).items():
            out = sim.run_cohort(model, {"male": male, "age_init": age}).outcomes
            want += share * float(out.loc[out.strategy == s, "qaly"].iloc[0])
        assert abs(got.mean() - want) <= 4 * got.std() / np.sqrt(n), (s, got.mean(), want)


def test_bad_input_is_named():
    model = _fixed_model()
    with pytest.raises(HtaError, match="population column 'hrr' is not a parameter.*did you mean 'hr'"):
        run_markov_patients(model, 3, 1, population=pd.DataFrame({"hrr": [1.0, 1.0, 1.0]}))
    with pytest.raises(HtaError, match="population has 2 rows but n_patients is 3"):
        run_markov_patients(model, 3, 1, population=pd.DataFrame({"hr": [1.0, 1.0]}))
    with pytest.raises(HtaError, match="row 1: column 'hr' is missing"):
        run_markov_patients(model, 2, 1, population=pd.DataFrame({"hr": [1.0, np.nan]}))
    with pytest.raises(HtaError, match="engine 'simpy' is not one of"):
        run_markov_patients(model, 2, 1, engine="simpy")
