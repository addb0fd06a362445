"""Benchmark of the patient-level engine: linear scaling and overhead against plain SimPy.

Pathway: Healthy -> Sick (exponential, 0.05/y), Healthy -> Dead (exponential, 0.01/y),
Sick -> Dead (Weibull shape 1.5, scale 8 y, semi-Markov clock), 40-year horizon, state
costs and utilities with 3.5 % continuous discounting.

* Scaling: ``run_pathway`` for 10^3, 10^4 and 10^5 patients; the exponent is the
  slope of log(time) on log(patients) (1 = linear).
* Overhead: the same pathway hand-written as a minimal SimPy model (one generator per
  patient, Python's ``random`` module, no checks, no common random numbers), same
  patients, in the same run; ratio = engine / hand-written (target <= 1.5).

    python benchmarks/bench_patient.py
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

import numpy as np
import simpy

from sim.patient import Event, Exponential, Pathway, Weibull, run_pathway

R = 0.035


def pathway() -> Pathway:
    return Pathway(states=("Healthy", "Sick", "Dead"), start="Healthy", dead=("Dead",), horizon=40.0,
                   events={"Healthy": [Event("Sick", Exponential(0.05)), Event("Dead", Exponential(0.01))],
                           "Sick": [Event("Dead", Weibull(1.5, 8.0))]},
                   costs={"Healthy": 500.0, "Sick": 5000.0}, utilities={"Healthy": 0.9, "Sick": 0.6},
                   discount_costs=R, discount_outcomes=R)


def hand_written(n: int, seed: int) -> float:
    """Minimal SimPy model of the same pathway; returns mean discounted QALYs."""
    rng = random.Random(seed)
    d = math.log1p(R)
    total = [0.0]

    def disc(t0, t1):
        return (math.exp(-d * t0) - math.exp(-d * t1)) / d

    def patient(env):
        t_sick = rng.expovariate(0.05)
        t_dead = rng.expovariate(0.01)
        if t_sick < t_dead and t_sick < 40.0:
            yield env.timeout(t_sick)
            total[0] += 0.9 * disc(0.0, t_sick)
            x = 8.0 * (-math.log(rng.random())) ** (1 / 1.5)
            end = min(t_sick + x, 40.0)
            yield env.timeout(end - t_sick)
            total[0] += 0.6 * disc(t_sick, end)
        else:
            end = min(t_dead, 40.0)
            yield env.timeout(end)
            total[0] += 0.9 * disc(0.0, end)

    env = simpy.Environment()
    for _ in range(n):
        env.process(patient(env))
    env.run()
    return total[0] / n


def timed(fn, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts), statistics.median(ts)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    p = {"x": pathway()}
    run_pathway(p, 100, seed=1)  # warm-up
    rows = []
    for n in args.sizes:
        rep = args.repeat if n <= 10_000 else 1
        eng = timed(lambda: run_pathway(p, n, seed=1), rep)
        hand = timed(lambda: hand_written(n, 1), rep)
        rows.append((n, eng, hand))
    ns = np.array([r[0] for r in rows], float)
    te = np.array([r[1][0] for r in rows])
    slope = float(np.polyfit(np.log(ns), np.log(te), 1)[0]) if len(rows) > 1 else float("nan")
    q_engine = run_pathway(p, 20_000, seed=2)["qaly"].mean()
    q_hand = hand_written(20_000, 2)
    print(f"{'patients':>10s} {'engine s':>10s} {'hand-written s':>15s} {'ratio':>7s}")
    for n, eng, hand in rows:
        print(f"{n:10,d} {eng[0]:10.3f} {hand[0]:15.3f} {eng[0] / hand[0]:7.2f}")
    print(f"scaling exponent (engine, best times): {slope:.3f} (target <= 1.05)")
    print(f"accuracy: mean discounted QALYs, engine {q_engine:.4f} vs hand-written {q_hand:.4f} (20,000 patients each)")
    return {"rows": rows, "exponent": slope, "ratio_largest": rows[-1][1][0] / rows[-1][2][0]}


if __name__ == "__main__":
    main()
