"""Benchmark of the patient-level engine: linear scaling and overhead against plain SimPy.

Pathway: Healthy -> Sick (exponential, 0.05/y), Healthy -> Dead (exponential, 0.01/y),
Sick -> Dead (Weibull shape 1.5, scale 8 y, semi-Markov clock), 40-year horizon, state
costs and utilities with 3.5 % continuous discounting.

* Scaling: ``run_pathway`` for 10^3, 10^4 and 10^5 patients; the exponent is the
  slope of log(best time) on log(patients) (1 = linear).
* Overhead: the same pathway hand-written as a minimal SimPy model (one generator per
  patient, Python's ``random`` module, no checks, no common random numbers, QALYs
  only), same patients, in the same run, in two variants: all patients in one
  environment (one event queue), and in batches of the engine's batch size (a fresh
  environment per batch, as the engine runs them). Ratio = engine / hand-written
  (target <= 1.5).
* Timing: ``--repeat`` rounds; each round times every candidate once per size, in
  rotating order, after ``gc.collect()``; best and median per candidate, in wall-clock
  time and in CPU time of the process (everything here is single-threaded; on a shared
  machine a run is often descheduled, which wall-clock time counts and CPU time does not).
* Accuracy: mean discounted QALYs of each model (with its Monte Carlo standard error)
  against the exact expectation by numerical integration.

    python benchmarks/bench_patient.py --repeat 7
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import random
import statistics
import time

import numpy as np
import simpy
from scipy import integrate

from sim.patient import Event, Exponential, Pathway, Weibull, run_pathway
from sim.patient.engine import BATCH_SIZE

R = 0.035
HORIZON = 40.0
L_SICK, L_DEAD, SHAPE, SCALE = 0.05, 0.01, 1.5, 8.0
U_HEALTHY, U_SICK = 0.9, 0.6


def pathway() -> Pathway:
    return Pathway(states=("Healthy", "Sick", "Dead"), start="Healthy", dead=("Dead",), horizon=HORIZON,
                   events={"Healthy": [Event("Sick", Exponential(L_SICK)), Event("Dead", Exponential(L_DEAD))],
                           "Sick": [Event("Dead", Weibull(SHAPE, SCALE))]},
                   costs={"Healthy": 500.0, "Sick": 5000.0}, utilities={"Healthy": U_HEALTHY, "Sick": U_SICK},
                   discount_costs=R, discount_outcomes=R)


def hand_written(n: int, seed: int, batch: int | None = None) -> np.ndarray:
    """Minimal SimPy model of the same pathway; returns each patient's discounted QALYs.

    ``batch=None``: every patient in one environment; else a fresh environment per
    ``batch`` patients.
    """
    rng = random.Random(seed)
    d = math.log1p(R)
    qalys = []

    def disc(t0, t1):
        return (math.exp(-d * t0) - math.exp(-d * t1)) / d

    def patient(env):
        t_sick = rng.expovariate(L_SICK)
        t_dead = rng.expovariate(L_DEAD)
        if t_sick < t_dead and t_sick < HORIZON:
            yield env.timeout(t_sick)
            q = U_HEALTHY * disc(0.0, t_sick)
            x = SCALE * (-math.log(rng.random())) ** (1 / SHAPE)
            end = min(t_sick + x, HORIZON)
            yield env.timeout(end - t_sick)
            qalys.append(q + U_SICK * disc(t_sick, end))
        else:
            end = min(t_dead, HORIZON)
            yield env.timeout(end)
            qalys.append(U_HEALTHY * disc(0.0, end))

    step = batch or n
    for lo in range(0, n, step):
        env = simpy.Environment()
        for _ in range(min(step, n - lo)):
            env.process(patient(env))
        env.run()
    return np.array(qalys)


def exact_qalys() -> float:
    """Expected discounted QALYs by numerical integration (density of the time to Sick
    times the discounted time in Sick, plus the discounted time in Healthy)."""
    d = math.log1p(R)
    lh = L_SICK + L_DEAD

    def s_weib(t):
        return math.exp(-((t / SCALE) ** SHAPE))

    healthy = U_HEALTHY * (1 - math.exp(-(lh + d) * HORIZON)) / (lh + d)

    def sick_from(s):  # entered Sick at s: discounted time alive in Sick up to the horizon
        return integrate.quad(lambda t: math.exp(-d * t) * s_weib(t - s), s, HORIZON, epsabs=1e-12)[0]

    sick = U_SICK * integrate.quad(lambda s: L_SICK * math.exp(-lh * s) * sick_from(s), 0.0, HORIZON,
                                   epsabs=1e-12, limit=200)[0]
    return healthy + sick


def _timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU time of one call (after a full garbage collection)."""
    gc.collect()
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


CLOCKS = ("wall", "cpu")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=7, help="rounds (best and median of this many timings)")
    ap.add_argument("--accuracy-patients", type=int, default=100_000)
    ap.add_argument("--json", help="write every timing and the environment to this file")
    args = ap.parse_args(argv)
    p = {"x": pathway()}
    run_pathway(p, 100, seed=1, engine="simpy")  # warm-up
    hand_written(100, 1)
    candidates = {
        "engine": lambda n: run_pathway(p, n, seed=1, engine="simpy").outcomes,
        "hand, one queue": lambda n: hand_written(n, 1),
        f"hand, batches of {BATCH_SIZE:,}": lambda n: hand_written(n, 1, BATCH_SIZE),
    }
    names = list(candidates)
    times = {(clock, c, n): [] for clock in CLOCKS for c in names for n in args.sizes}
    for k in range(args.repeat):
        for n in args.sizes:
            for i in range(len(names)):
                c = names[(i + k) % len(names)]
                for clock, t in zip(CLOCKS, _timed(lambda c=c, n=n: candidates[c](n)), strict=True):
                    times[clock, c, n].append(t)
    best = {key: min(v) for key, v in times.items()}
    med = {key: statistics.median(v) for key, v in times.items()}

    exponents = {}
    for clock in CLOCKS:
        print(f"{clock} time, best of {args.repeat} (median):")
        print(f"{'patients':>10s}" + "".join(f" {c + ' s':>26s}" for c in names)
              + "".join(f" {'ratio vs ' + c.split(', ')[1]:>24s}" for c in names[1:]))
        for n in args.sizes:
            cells = "".join(f" {best[clock, c, n]:12.4f} (med {med[clock, c, n]:.4f})" for c in names)
            ratios = "".join(f" {best[clock, 'engine', n] / best[clock, c, n]:24.2f}" for c in names[1:])
            print(f"{n:10,d}{cells}{ratios}")
        if len(args.sizes) > 1:
            ns = np.log(np.array(args.sizes, float))
            exponents[clock] = {c: float(np.polyfit(ns, np.log([best[clock, c, n] for n in args.sizes]), 1)[0])
                                for c in names}
            print("scaling exponent (slope of log best time on log patients): "
                  + ", ".join(f"{c} {e:.3f}" for c, e in exponents[clock].items())
                  + " (target for the engine <= 1.05)")

    na = args.accuracy_patients
    exact = exact_qalys()
    q_e = run_pathway(p, na, seed=2, engine="simpy").outcomes["qaly"].to_numpy()
    q_h = hand_written(na, 2)
    acc = {"exact": exact}
    for name, q in (("engine", q_e), ("hand-written", q_h)):
        se = float(q.std(ddof=1) / math.sqrt(len(q)))
        acc[name] = {"mean": float(q.mean()), "se": se, "z": float((q.mean() - exact) / se)}
        print(f"accuracy: {name:12s} mean discounted QALYs {q.mean():.4f} (SE {se:.4f}) vs exact {exact:.4f}: "
              f"{acc[name]['z']:+.2f} SE ({na:,} patients)")
    result = {
        "sizes": args.sizes, "repeat": args.repeat, "batch_size": BATCH_SIZE,
        "times": {f"{clock}|{c}|{n}": v for (clock, c, n), v in times.items()},
        "best": {f"{clock}|{c}|{n}": v for (clock, c, n), v in best.items()},
        "ratios": {f"{clock}|{c}|{n}": best[clock, "engine", n] / best[clock, c, n]
                   for clock in CLOCKS for c in names[1:] for n in args.sizes},
        "exponents": exponents, "accuracy": acc,
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "simpy": simpy.__version__, "machine": platform.machine()},
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
