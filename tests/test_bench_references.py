"""The hand-fused references of benchmarks/bench_speed.py agree with hta-sim to 1e-9 (accuracy only: the
benchmark's timings are never asserted)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.patient import run_markov_patients

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
RTOL = 1e-9


@pytest.fixture(scope="module")
def refs():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("references", BENCH / "references.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        spec = importlib.util.spec_from_file_location("bench_speed", BENCH / "bench_speed.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(BENCH))
    return module, bench


@pytest.mark.parametrize("workload", ["sick_sicker", "thr", "flagship"])
def test_cohort_references_match_run_psa(refs, workload):
    R, bench = refs
    if workload == "flagship":
        model, _ = R.flagship()
        if R.flagship_fingerprint(model) != R.FLAGSHIP_FINGERPRINT:
            pytest.skip("the flagship's structure changed: update benchmarks/references.py's flagship reference")
    model, table, fused, plain = bench.cohort_setup(workload)
    psa = sim.run_psa(model, table, 150, 5)
    vals = {c: psa.draws.frame[c].to_numpy() for c in psa.draws.frame.columns}
    for k, v in model.parameters.items():
        vals.setdefault(k, np.full(150, float(v)))
    eng = R.engine_totals(psa.outcomes)
    assert R.rel_diff(fused(vals), eng) <= RTOL
    assert R.rel_diff(plain(vals), eng) <= RTOL
    # the numpy sampler draws from the same distributions (a loose check of its parameterisation)
    s = bench.numpy_sample(table, 4000, 1)
    for p, dist in table.marginals:
        assert abs(s[p.name].mean() - dist.mean()) <= 5 * dist.std() / np.sqrt(4000) + 1e-12, p.name


@pytest.mark.parametrize("over", [{"effect_years": 10.0, "wane_years": 5.0}, {"du_profile": 0, "age_utility": 0},
                                  {"early_post_years": 0.5, "effect_years": 7.0}, {"horizon_years": 10}])
def test_flagship_reference_follows_the_scenario_switches(refs, over):
    R, _ = refs
    from cohorts import omt_vs_cabg

    model, table = R.flagship()
    if R.flagship_fingerprint(model) != R.FLAGSHIP_FINGERPRINT:
        pytest.skip("the flagship's structure changed: update benchmarks/references.py's flagship reference")
    model = omt_vs_cabg.build(over)
    psa = sim.run_psa(model, table, 24, 3, fixed=over)
    vals = {c: psa.draws.frame[c].to_numpy() for c in psa.draws.frame.columns}
    eng = R.engine_totals(psa.outcomes)
    assert R.rel_diff(R.flagship_fused(model, vals), eng) <= RTOL
    assert R.rel_diff(R.flagship_numpy(model, vals), eng) <= RTOL
    with pytest.raises(ValueError, match="varies across draws"):
        R.flagship_fused(model, {**vals, "male_share": np.linspace(0.5, 0.9, 24)})


def test_microsimulation_reference_matches_run_markov_patients(refs):
    R, _ = refs
    model, _ = R.sick_sicker(30)
    eng = R.engine_totals(run_markov_patients(model, 3000, 7).outcomes)
    assert R.rel_diff(R.microsim_fused(model, 3000, 7), eng) <= RTOL
    plain = R.microsim_numpy(model, 20_000, 7)  # other random numbers: equal in distribution
    for k in range(2):
        a, b = plain[:, k, 1], eng[:, k, 1]
        assert abs(a.mean() - b.mean()) <= 4 * np.hypot(a.std() / np.sqrt(len(a)), b.std() / np.sqrt(len(b)))


def test_ceac_kernel_matches_numpy(refs):
    R, _ = refs
    rng = np.random.default_rng(3)
    cost, qaly = rng.normal(1000, 300, (500, 3)), rng.normal(5, 1, (500, 3))
    wtp = np.linspace(0, 1000, 11)
    out = np.empty((11, 3))
    R.ceac_kernel(cost, qaly, wtp, out)
    best = np.argmax(wtp[:, None, None] * qaly[None] - cost[None], axis=-1)
    np.testing.assert_array_equal(out, np.stack([(best == k).mean(axis=1) for k in range(3)], axis=1))
