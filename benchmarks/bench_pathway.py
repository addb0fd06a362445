"""Benchmark: continuous-time pathways on the compiled path against the SimPy engine (issue 14, point 3).

Workloads (two strategies each, 40-year horizon, 3.5 % discounting):

* ``simple``: bench_patient.py's pathway: Healthy -> Sick (exponential 0.05/y),
  Healthy -> Dead (exponential 0.01/y), Sick -> Dead (Weibull shape 1.5, scale 8 y,
  semi-Markov clock); the second strategy halves the Sick hazard.
* ``aged``: Well -> Ill (Weibull, log hazard ratios on two patient attributes),
  Ill -> Well (exponential, with a one-off QALY loss), background mortality from the
  US 2017 life table at the patient's age and sex (a time function of the patient,
  Markov clock) out of both, Ill -> Dead (exponential, with a one-off
  cost); a population of ages 40-85 and both sexes.

Timed: ``run_pathway(engine="simpy")`` and ``run_pathway(engine="compiled")`` end to
end (outcome table included) on the same patients, interleaved rounds after
``gc.collect()``, best and median; the compiled path's first call (compile or load
from Numba's cache) is reported apart. Patients/s counts patients x strategies.
Accuracy (asserted): the two engines' outcome tables are identical to the bit on the
SimPy run's patients.

    python benchmarks/bench_pathway.py --patients 20000 200000 --simpy-patients 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_speed as B  # noqa: E402  (timing options, the clock and the interleaved rounds)

import sim  # noqa: E402
from sim import LifeTable  # noqa: E402
from sim.patient import Event, Exponential, Pathway, Weibull, background_mortality, run_pathway  # noqa: E402


def simple() -> tuple[dict, None]:
    """bench_patient.py's pathway, two strategies."""
    def one(rate):
        return Pathway(states=("Healthy", "Sick", "Dead"), start="Healthy", horizon=40.0, dead=("Dead",),
                       events={"Healthy": [Event("Sick", Exponential(rate)), Event("Dead", Exponential(0.01))],
                               "Sick": [Event("Dead", Weibull(1.5, 8.0))]},
                       costs={"Healthy": 100.0, "Sick": 5000.0}, utilities={"Healthy": 0.95, "Sick": 0.6},
                       discount_costs=0.035, discount_outcomes=0.035)
    return {"usual": one(0.05), "new": one(0.025)}, None


def aged(n: int) -> tuple[dict, pd.DataFrame]:
    """A pathway with background mortality at each patient's age and sex, and covariates."""
    lt = LifeTable.packaged("us_2017_nchs")

    def death(pt):
        return background_mortality(lt, "male" if pt["male"] else "female", pt["age"])

    def one(lhr):
        return Pathway(
            states=("Well", "Ill", "Dead"), start="Well", horizon=40.0, dead=("Dead",),
            events={"Well": [Event("Ill", Weibull(1.3, 12.0), hr={"risk": 0.4, "male": lhr}),
                             Event("Dead", death, clock="markov")],
                    "Ill": [Event("Well", Exponential(0.3), qaly=-0.05), Event("Dead", death, clock="markov"),
                            Event("Dead", Exponential(0.08), cost=8000.0)]},
            costs={"Well": 200.0, "Ill": 6000.0}, utilities={"Well": 0.9, "Ill": 0.55},
            discount_costs=0.035, discount_outcomes=0.035)
    g = np.random.default_rng(1)
    pop = pd.DataFrame({"age": g.integers(40, 86, n), "male": g.integers(0, 2, n), "risk": g.normal(size=n)})
    return {"usual": one(0.2), "new": one(-0.1)}, pop


def workload(name: str, n: int):
    """(pathways, population) of ``n`` patients."""
    if name == "simple":
        return simple()
    return aged(n)


def run(name: str, n: int, n_simpy: int, repeat: int, seed: int = 2026) -> dict:
    """Time one workload; returns times, patients/s and the exactness check."""
    paths, pop = workload(name, n)
    _, pop_s = workload(name, n_simpy)
    t = time.perf_counter()
    run_pathway(paths, n if pop is None else None, seed=seed, population=pop, engine="compiled")
    first = time.perf_counter() - t
    a = run_pathway(paths, n_simpy if pop_s is None else None, seed=seed, population=pop_s, engine="simpy").outcomes
    b = run_pathway(paths, n_simpy if pop_s is None else None, seed=seed, population=pop_s,
                    engine="compiled").outcomes
    identical = all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in a.columns if c != "strategy")
    if not identical:
        raise AssertionError(f"{name}: the compiled path differs from the SimPy engine")
    cands = {
        "simpy": lambda: run_pathway(paths, n_simpy if pop_s is None else None, seed=seed, population=pop_s,
                                     engine="simpy"),
        "compiled": lambda: run_pathway(paths, n if pop is None else None, seed=seed, population=pop,
                                        engine="compiled"),
    }
    sizes = {"simpy": n_simpy, "compiled": n}
    times = B.rounds(cands, repeat)  # interleaved, the order rotated (reversed) every round
    out = {"workload": name, "first_compiled_call_s": first, "identical": identical, "engines": {}}
    for c, ts in times.items():
        k = 2 * sizes[c]
        out["engines"][c] = {"patients": sizes[c], "best_s": min(ts), "median_s": statistics.median(ts),
                             "patients_per_s_best": k / min(ts), "patients_per_s_median": k / statistics.median(ts)}
    e = out["engines"]
    out["speedup_best"] = e["compiled"]["patients_per_s_best"] / e["simpy"]["patients_per_s_best"]
    out["speedup_median"] = e["compiled"]["patients_per_s_median"] / e["simpy"]["patients_per_s_median"]
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, nargs="+", default=[100_000], help="patients of the compiled runs")
    ap.add_argument("--simpy-patients", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workloads", nargs="+", default=["simple", "aged"], choices=["simple", "aged"])
    ap.add_argument("--json", help="write every timing to this file")
    B.timing_options(ap)
    args = ap.parse_args(argv)
    B.configure(args.threads, args.clock)
    print(f"hta-sim {sim.__version__} | numba {numba.__version__} | python {platform.python_version()} | "
          f"cpus {os.cpu_count()} | numba threads {numba.get_num_threads()} | load {os.getloadavg()[0]:.2f} | "
          f"clock {args.clock}")
    res = []
    for w in args.workloads:
        for n in args.patients:
            r = run(w, n, args.simpy_patients, args.repeat)
            res.append(r)
            e = r["engines"]
            print(f"{w:7s} compiled {n:>9,} patients: best {e['compiled']['best_s']:.3f} s "
                  f"({e['compiled']['patients_per_s_best']:.3g}/s); SimPy {e['simpy']['patients']:,}: best "
                  f"{e['simpy']['best_s']:.3f} s ({e['simpy']['patients_per_s_best']:.3g}/s); compiled / SimPy "
                  f"patients/s {r['speedup_best']:.0f}x best, {r['speedup_median']:.0f}x median; identical "
                  f"{r['identical']}; first compiled call {r['first_compiled_call_s']:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return {"results": res}


if __name__ == "__main__":
    main()
