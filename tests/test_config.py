"""Process settings made at import (sim/_config.py): allocator tuning, opt-out, no effect on numbers."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim import _config

ROOT = Path(__file__).resolve().parents[1]
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

PSA = """
import json, sys
sys.path.insert(0, {bench!r})
import bench_psa, sim._config as c
from sim import run_psa
model, table = bench_psa.build()
psa = run_psa(model, table, 300, 5)
print(json.dumps({{"tuned": c.MALLOC_TUNED, "cost": psa.outcomes["cost"].tolist(), "qaly": psa.outcomes["qaly"].tolist()}}))
"""


def _run(env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "HTA_SIM_MALLOC_TUNING")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = PSA.format(bench=str(ROOT / "benchmarks"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="allocator tuning applies to glibc only")
def test_allocator_tuning_is_on_by_default_and_can_be_turned_off():
    assert _config.MALLOC_TUNED or "GLIBC_TUNABLES" in os.environ or "HTA_SIM_MALLOC_TUNING" in os.environ
    off = _run({"HTA_SIM_MALLOC_TUNING": "0"})
    on = _run({})
    user = _run({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"})  # the user's own setting wins
    assert on["tuned"] is True and off["tuned"] is False and user["tuned"] is False
    # numbers never depend on it
    assert on["cost"] == off["cost"] == user["cost"] and on["qaly"] == off["qaly"]
    here = sim.run_psa(*_bench_model(), 300, 5).outcomes
    np.testing.assert_array_equal(here["cost"].to_numpy(), np.array(on["cost"]))


def _bench_model():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_psa
    finally:
        sys.path.pop(0)
    return bench_psa.build()
