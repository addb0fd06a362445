"""``benchmarks/bench_compile.py``: a first run on an empty Numba cache compiles each kernel once.

Times are printed by the script, never asserted here; this checks what compiles:
every kernel the run needs, each with one signature (a read-only or non-contiguous
array passed to a kernel would be a second compilation of it).
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_first_run_compiles_each_kernel_once():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_compile
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        res = bench_compile.run_once("homogeneous", cache, out)
    names = Counter(r["name"] for r in res["records"] if r["name"].startswith("sim."))
    assert names, "nothing compiled on an empty cache: the workload did not run a kernel"
    assert "sim.cohort._kernels.occupancy_program_kernel" in names
    twice = {n: c for n, c in names.items() if c > 1}
    assert not twice, f"compiled more than once (another signature): {twice}"
