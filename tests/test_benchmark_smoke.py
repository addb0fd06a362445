"""Smoke run of benchmarks/bench_cohort.py: it runs, and its numpy reference agrees
with the engine.  Deselected by default (pyproject addopts); run with
``pytest -m benchmark``.  Wall-clock times are printed, never asserted.
"""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cohort.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_cohort", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.benchmark
def test_benchmark_smoke():
    bench = _load_bench()
    results = bench.main(["--draws", "500", "--repeat", "1"])
    assert set(results["variants"]) == set(bench.VARIANTS)
    for name, r in results["variants"].items():
        assert r["n_draws"] == 500
        assert r["accuracy_ok"], (name, r["accuracy"])
        for ref, acc in r["accuracy"].items():
            assert acc["vs_run_cohort"] <= bench.RTOL, (name, ref, acc)
            assert acc["vs_kernel"] <= bench.RTOL, (name, ref, acc)
        # every timing was taken (values themselves are not checked)
        assert all(len(t["all"]) == 1 for t in r["times"].values())


@pytest.mark.benchmark
def test_psa_benchmark_smoke():
    spec = importlib.util.spec_from_file_location("bench_psa", BENCH.parent / "bench_psa.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    res = module.main(["--draws", "512", "--repeat", "1"])
    assert res["draws"] == 512
    assert res["max_rel_diff"] < 1e-9


@pytest.mark.benchmark
def test_patient_benchmark_smoke():
    """bench_patient.py runs; both models agree with the exact expected QALYs (4 SE)."""
    spec = importlib.util.spec_from_file_location("bench_patient", BENCH.parent / "bench_patient.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    res = module.main(["--sizes", "300", "3000", "--repeat", "1", "--accuracy-patients", "20000"])
    assert set(res["exponents"]["cpu"]) == {"engine", "hand, one queue", f"hand, batches of {res['batch_size']:,}"}
    for name in ("engine", "hand-written"):
        assert abs(res["accuracy"][name]["z"]) < 4, res["accuracy"]


@pytest.mark.benchmark
def test_pathway_benchmark_smoke():
    """bench_pathway.py runs; the compiled path equals the SimPy engine to the bit (asserted by the script)."""
    spec = importlib.util.spec_from_file_location("bench_pathway", BENCH.parent / "bench_pathway.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    res = module.main(["--patients", "3000", "--simpy-patients", "300", "--repeat", "1"])
    assert [r["identical"] for r in res["results"]] == [True, True]
