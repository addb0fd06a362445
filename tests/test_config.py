"""Process tuning (sim.tune_process): an explicit call, never at import; opt-out; no effect on numbers."""

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

ROOT = Path(__file__).resolve().parents[1]
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

PSA = """
import json, sys
sys.path.insert(0, {bench!r})
import bench_psa, sim
from sim import run_psa
tuning = sim.tune_process() if {tune} else {{"malloc": False}}
model, table = bench_psa.build()
psa = run_psa(model, table, 300, 5)
out = {{"tuned": tuning["malloc"], "cost": psa.outcomes["cost"].tolist(), "qaly": psa.outcomes["qaly"].tolist()}}
print(json.dumps(out))
"""


def _run(env_extra: dict, tune: bool = True) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "HTA_SIM_MALLOC_TUNING")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = PSA.format(bench=str(ROOT / "benchmarks"), tune=tune)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="allocator tuning applies to glibc only")
def test_allocator_tuning_is_one_call_that_can_be_turned_off():
    off = _run({"HTA_SIM_MALLOC_TUNING": "0"})
    on = _run({})
    untuned = _run({}, tune=False)
    user = _run({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"})  # the user's own setting wins
    assert on["tuned"] is True and off["tuned"] is False and user["tuned"] is False
    # numbers never depend on it
    assert on["cost"] == off["cost"] == user["cost"] == untuned["cost"] and on["qaly"] == off["qaly"]
    here = sim.run_psa(*_bench_model(), 300, 5).outcomes
    np.testing.assert_array_equal(here["cost"].to_numpy(), np.array(on["cost"]))


def _bench_model():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_psa
    finally:
        sys.path.pop(0)
    return bench_psa.build()


IMPORT = """
import os, sys
HEAVY = ("numba", "scipy", "matplotlib", "dask", "distributed", "simpy", "pyarrow")
before = dict(os.environ)
import sim
heavy = sorted(m for m in HEAVY if m in sys.modules)
# resolving the model and decision names needs numpy and pandas (which may load pyarrow), nothing else
sim.__version__, sim.Model, sim.icers, sim.ceac
import sim.decision
later = sorted(m for m in HEAVY[:-1] if m in sys.modules)
after = dict(os.environ)
print(repr((before == after, heavy, later)))
"""


def test_import_sim_changes_no_environment_variable_and_loads_no_heavy_module():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", IMPORT], env=env, capture_output=True, text=True, check=True)
    same, heavy, later = eval(out.stdout.strip().splitlines()[-1])
    assert same, "import sim changed the environment"
    assert heavy == [], f"import sim loaded {heavy}"
    assert later == [], f"sim.Model, sim.icers, sim.ceac and sim.decision loaded {later}"


def test_tune_process_sets_the_openmp_wait_policy_unless_the_user_did():
    code = "import os, sim; t = sim.tune_process(); print(os.environ['OMP_WAIT_POLICY'], t['omp_wait_policy'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PASSIVE", "PASSIVE"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ACTIVE", "ACTIVE"]
