"""Compile time on an empty Numba cache, kernel by kernel.

Runs a workload in a fresh Python process whose ``NUMBA_CACHE_DIR`` is a new empty
directory and records every Numba compilation (``numba:compile`` events): for each
compiled function its wall time including the functions it compiled inside it
(*inclusive*) and without them (*own*), and the CPU time of the compiling thread
during the outermost compilations (the compile part of the run; the thread's own CPU
time, since idle kernel threads of the process may spin meanwhile). Then, optionally, the same
workload again on the now filled cache (what a second run pays)::

    python benchmarks/bench_compile.py                     # the Quickstart (hta-sim run experiments/omt_vs_cabg.toml)
    python benchmarks/bench_compile.py --workload psa      # first run_psa of cohorts.omt_vs_cabg, 200 draws
    python benchmarks/bench_compile.py --workload cohort   # first run_cohort of cohorts.hiv_chancellor (README)
    python benchmarks/bench_compile.py --workload homogeneous  # first run_cohort, bench_cohort.py's homogeneous model
    python benchmarks/bench_compile.py --warm              # also the second run on the filled cache

Numbers are printed, never asserted (wall-clock times depend on the machine's load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs inside the child process: installs the listener, runs the workload, prints JSON.
CHILD = r'''
import json, os, sys, time, threading
t_start = time.perf_counter(); c_start = time.process_time()
from numba.core import event

records = []
stack = threading.local()

class L(event.Listener):
    def on_start(self, ev):
        st = getattr(stack, "s", None)
        if st is None:
            st = stack.s = []
        st.append([time.perf_counter(), time.thread_time(), 0.0])

    def on_end(self, ev):
        st = stack.s
        t0, c0, child = st.pop()
        dt = time.perf_counter() - t0
        disp = ev.data["dispatcher"]
        name = getattr(disp, "py_func", disp).__qualname__
        mod = getattr(getattr(disp, "py_func", disp), "__module__", "")
        records.append({"name": f"{mod}.{name}", "incl": dt, "own": dt - child, "depth": len(st),
                        "cpu": time.thread_time() - c0})
        if st:
            st[-1][2] += dt

event.register("numba:compile", L())
workload = sys.argv[1]
root = sys.argv[2]
sys.path.insert(0, root)
if workload == "quickstart":
    from sim.experiment.cli import main
    try:
        main(["run", os.path.join(root, "experiments", "omt_vs_cabg.toml"), "--output", sys.argv[3]])
    except SystemExit as e:
        if e.code not in (0, None):
            raise
elif workload == "psa":
    import sim
    from cohorts import omt_vs_cabg as m
    sim.run_psa(m.build(), m.psa_table(), n=200, seed=1)
elif workload == "cohort":
    import cohorts
    import sim
    sim.run_cohort(cohorts.load("hiv_chancellor").build())
elif workload == "homogeneous":
    sys.path.insert(0, os.path.join(root, "benchmarks"))
    import bench_cohort
    import sim
    sim.run_cohort(bench_cohort.build_model("homogeneous"), bench_cohort.draw_params(2, seed=0))
print("@@" + json.dumps({"records": records, "wall": time.perf_counter() - t_start,
                          "cpu": time.process_time() - c_start}))
'''


def run_once(workload: str, cache_dir: str, output: str) -> dict:
    """Run the workload in a fresh process with ``NUMBA_CACHE_DIR=cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, workload, str(ROOT), output], env=env,
                       capture_output=True, text=True, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-5000:])
        raise SystemExit(f"workload {workload!r} failed (exit {p.returncode})")
    line = [x for x in p.stdout.splitlines() if x.startswith("@@")][-1]
    res = json.loads(line[2:])
    res["process_wall"] = wall
    return res


def summarise(res: dict, label: str) -> dict:
    """Print the compilations of one run, outermost first, and return the totals."""
    recs = res["records"]
    top = [r for r in recs if r["depth"] == 0]
    total_wall = sum(r["incl"] for r in top)
    total_cpu = sum(r["cpu"] for r in top)
    print(f"\n{label}: process wall {res['process_wall']:.2f} s (in-process {res['wall']:.2f} s, "
          f"CPU {res['cpu']:.2f} s); compiling: wall {total_wall:.2f} s, CPU {total_cpu:.2f} s, "
          f"{len(recs)} compilations ({len(top)} outermost)")
    if recs:
        print(f"  {'function':<60} {'incl s':>8} {'own s':>8} {'depth':>5}")
        for r in sorted(recs, key=lambda r: -r["incl"]):
            print(f"  {r['name']:<60} {r['incl']:8.2f} {r['own']:8.2f} {r['depth']:5d}")
    return {"compile_wall": total_wall, "compile_cpu": total_cpu, "process_wall": res["process_wall"],
            "cpu": res["cpu"], "records": recs}


def main(argv=None) -> None:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=["quickstart", "psa", "cohort", "homogeneous"], default="quickstart")
    ap.add_argument("--warm", action="store_true", help="run again on the filled cache")
    ap.add_argument("--json", help="write the measurements to this file")
    args = ap.parse_args(argv)
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        with tempfile.TemporaryDirectory() as output:
            out["cold"] = summarise(run_once(args.workload, cache, output), "empty cache")
        if args.warm:
            with tempfile.TemporaryDirectory() as output:
                out["warm"] = summarise(run_once(args.workload, cache, output), "filled cache")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
