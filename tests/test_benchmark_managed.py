"""Smoke run of benchmarks/bench_managed.py (``pytest -m benchmark``); times are printed, never asserted."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_managed.py"


@pytest.mark.benchmark
def test_managed_benchmark_smoke():
    spec = importlib.util.spec_from_file_location("bench_managed", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    r = module.main(["--sizes", "100", "200", "--overhead-patients", "500", "--repeat", "1"])
    assert r["identical"] and len(r["sizes"]) == 2
