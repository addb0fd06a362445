"""Smoke run of benchmarks/bench_dask.py: it runs on a 2-worker cluster and the results are
identical to serial. Deselected by default; ``pytest -m benchmark``. Times are printed, never asserted."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dask.py"


@pytest.mark.benchmark
def test_dask_benchmark_smoke():
    import cloudpickle

    spec = importlib.util.spec_from_file_location("bench_dask", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_dask"] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)  # workers cannot import the script by name
    out = module.main(["--draws", "4", "--patients", "300", "--repeat", "1"])
    assert out["identical"] and out["workers"] == 2 and len(out["serial_s"]) == 1
