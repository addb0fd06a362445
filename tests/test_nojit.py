"""The oracle and conventions tests again with NUMBA_DISABLE_JIT=1, so the Numba
kernels run (and are covered) as plain Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def test_property_and_convention_tests_pass_without_jit():
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":  # already inside the no-JIT run
        return
    env = dict(os.environ)
    env["NUMBA_DISABLE_JIT"] = "1"
    env["HTA_SIM_TEST_EXAMPLES"] = "10"
    code = "from sim.cohort import _kernels; print(type(_kernels.cohort_kernel).__name__)"
    probe = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert probe.stdout.strip() == "function", probe.stdout + probe.stderr  # a plain Python function
    cmd = [
        sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
        str(TESTS / "test_engine_oracle.py"), str(TESTS / "test_conventions.py"),
        str(TESTS / "test_fast_paths.py"), "-k", "not probe",  # the probe test: 3,000 draws
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=420)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"no-JIT run failed (exit {proc.returncode}):\n{tail}"
    assert " passed" in proc.stdout and "no tests ran" not in proc.stdout, tail
