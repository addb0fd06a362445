"""Benchmark of Dask scale-out: a patient-level PSA on a 2-worker LocalCluster against serial.

Model: Healthy -> Sick (exponential, rate ``rate_sick`` x ``hr`` under the drug),
Healthy -> Dead (exponential, 0.01/y), Sick -> Dead (Weibull shape 1.5, scale
``scale_death``, semi-Markov clock); 30-year horizon; 3.5 % discounting; two
strategies (usual care, drug at 500 a year). Outer draws of ``rate_sick``,
``scale_death`` and ``hr`` (uniform), ``--patients`` inner patients per draw.

Timed (``time.perf_counter``, best of ``--repeat``): ``run_patient_psa`` serially and
with a ``Client`` on ``LocalCluster(n_workers=2, threads_per_worker=1,
processes=True)``, started and warmed up before timing (cluster start-up is
reported separately). Speed-up = serial / cluster wall-clock time (target >= 1.7).
Because wall-clock ratios mean little on a machine shared with other work, the script
also reports CPU time (``time.process_time``): the serial process's, and the busiest
worker's during the cluster run (``client.run``); their ratio is the speed-up the
cluster reaches when it has the cores to itself (it includes the workers' task
overhead, not the client's or the network's). Accuracy: the two outcome tables must
be identical, or the script fails.

    python benchmarks/bench_dask.py [--draws 20] [--patients 20000] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import pandas as pd

from sim.patient import Event, Exponential, Pathway, Weibull
from sim.patient.psa import run_patient_psa


def build(values):
    """``{strategy: Pathway}`` for one outer draw (module-level: workers import it)."""
    def path(hr, drug_cost):
        return Pathway(states=("Healthy", "Sick", "Dead"), start="Healthy", dead=("Dead",), horizon=30.0,
                       events={"Healthy": [Event("Sick", Exponential(values["rate_sick"] * hr)),
                                           Event("Dead", Exponential(0.01))],
                               "Sick": [Event("Dead", Weibull(1.5, values["scale_death"]))]},
                       costs={"Healthy": drug_cost, "Sick": 4000.0 + drug_cost},
                       utilities={"Healthy": 0.9, "Sick": 0.6}, discount_costs=0.035, discount_outcomes=0.035)
    return {"usual": path(1.0, 0.0), "drug": path(values["hr"], 500.0)}


def draws(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"rate_sick": rng.uniform(0.04, 0.08, n), "scale_death": rng.uniform(6, 10, n),
                         "hr": rng.uniform(0.5, 0.9, n)})


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    from dask.distributed import Client, LocalCluster

    d = draws(args.draws)
    run_patient_psa(build, d.iloc[:2], 200, seed=1)  # warm-up (imports, caches)
    serial_t, serial_cpu, serial = [], [], None
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        serial = run_patient_psa(build, d, args.patients, seed=1).outcomes
        serial_t.append(time.perf_counter() - t)
        serial_cpu.append(time.process_time() - c)
    t = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(args.workers)
        if __name__ != "__main__":  # imported (the smoke test): workers import this file by its name
            client.upload_file(os.path.abspath(__file__))
        startup = time.perf_counter() - t
        run_patient_psa(build, d.iloc[:args.workers], 200, seed=1, client=client)  # warm the workers
        par_t, busiest, total, par = [], [], [], None
        for _ in range(args.repeat):
            before = client.run(time.process_time)
            t = time.perf_counter()
            par = run_patient_psa(build, d, args.patients, seed=1, client=client).outcomes
            par_t.append(time.perf_counter() - t)
            after = client.run(time.process_time)
            busiest.append(max(after[w] - before[w] for w in before))  # CPU seconds of the busiest worker
            total.append(sum(after[w] - before[w] for w in before))
    pd.testing.assert_frame_equal(serial, par, check_exact=True)  # identical numbers, or fail
    s, p = min(serial_t), min(par_t)
    out = {"draws": args.draws, "patients": args.patients, "workers": args.workers, "serial_s": serial_t,
           "cluster_s": par_t, "cluster_startup_s": startup, "speedup_best": s / p,
           "speedup_median": float(np.median(serial_t) / np.median(par_t)), "identical": True,
           "serial_cpu_s": serial_cpu, "busiest_worker_cpu_s": busiest, "workers_total_cpu_s": total,
           "speedup_cpu": float(np.median(serial_cpu) / np.median(busiest)),
           "cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version()}
    print(f"patient-level PSA: {args.draws} outer draws x {args.patients:,} patients x 2 strategies")
    print(f"serial            best {s:7.2f} s   median {np.median(serial_t):7.2f} s")
    print(f"{args.workers}-worker cluster  best {p:7.2f} s   median {np.median(par_t):7.2f} s   "
          f"(cluster start-up {startup:.2f} s, not timed)")
    print(f"speed-up: {s / p:.2f}x best, {out['speedup_median']:.2f}x median (target >= 1.7); results identical")
    print(f"CPU time: serial {np.median(serial_cpu):.2f} s; workers {np.median(total):.2f} s in all, busiest "
          f"{np.median(busiest):.2f} s (medians): "
          f"speed-up bound on an idle machine {out['speedup_cpu']:.2f}x (independent of other load)")
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
