"""Benchmark of managed pathways (policies and resources) in the patient-level engine.

* Overhead: ``run_managed`` on a plain pathway (no policy, no resource) against
  ``run_pathway`` on the same patients; the outcomes must be identical bit for bit
  (accuracy), the ratio is managed / plain time.
* Scaling: the worked example ``experiments/angina_treat_to_target.py`` (two strategies,
  treat-to-target visits every 3 months, one theatre per strategy shared by all its
  patients in one SimPy environment) for increasing numbers of patients; the exponent
  is the slope of log(time) on log(patients) (1 = linear).

    python benchmarks/bench_managed.py [--sizes 1000 4000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from pathlib import Path

import numpy as np

from sim.patient import Event, Exponential, ManagedPathway, Pathway, Weibull, run_managed, run_pathway

ROOT = Path(__file__).resolve().parents[1]


def pathway() -> Pathway:
    return Pathway(states=("Healthy", "Sick", "Dead"), start="Healthy", dead=("Dead",), horizon=40.0,
                   events={"Healthy": [Event("Sick", Exponential(0.05)), Event("Dead", Exponential(0.01))],
                           "Sick": [Event("Dead", Weibull(1.5, 8.0))]},
                   costs={"Healthy": 500.0, "Sick": 5000.0}, utilities={"Healthy": 0.9, "Sick": 0.6},
                   discount_costs=0.035, discount_outcomes=0.035)


def _best(f, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--overhead-patients", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    p, n = pathway(), args.overhead_patients
    run_pathway({"x": p}, 100, seed=1, engine="simpy")  # warm up
    t_plain, a = _best(lambda: run_pathway({"x": p}, n, seed=1, engine="simpy").outcomes, args.repeat)
    t_man, b = _best(lambda: run_managed({"x": ManagedPathway(p)}, n, seed=1).outcomes, args.repeat)
    identical = all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in a.columns if c != "strategy")
    print(f"overhead, {n} patients: run_pathway {t_plain:.2f} s, run_managed {t_man:.2f} s, "
          f"ratio {t_man / t_plain:.2f}; outcomes identical: {identical}")

    spec = importlib.util.spec_from_file_location("angina", ROOT / "experiments" / "angina_treat_to_target.py")
    angina = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(angina)
    angina.run(100, seed=1)
    rows = []
    for size in args.sizes:
        t, res = _best(lambda size=size: angina.run(size, seed=1), args.repeat)
        visits = float(res.outcomes.visits.sum())
        rows.append((size, t, visits))
        print(f"angina example, {size} patients x 2 strategies: {t:.2f} s, {2 * size / t:,.0f} patient-strategies/s, "
              f"{visits / t:,.0f} visits/s")
    exponent = math.nan
    if len(rows) > 1:
        x, y = np.log([r[0] for r in rows]), np.log([r[1] for r in rows])
        exponent = float(np.polyfit(x, y, 1)[0])
        print(f"scaling exponent (1 = linear): {exponent:.2f}")
    return {"identical": identical, "ratio": t_man / t_plain, "sizes": rows, "exponent": exponent}


if __name__ == "__main__":
    main()
