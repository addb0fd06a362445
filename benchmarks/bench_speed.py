"""Benchmark: hta-sim end to end against hand-fused Numba references and plain numpy (issue 14).

Workloads (models in ``references.py``):

* ``sick_sicker``: DARTH Sick-Sicker, 2 strategies, 75 cycles;
* ``thr``: Briggs Ex. 3.5 total hip replacement (Weibull revision by model time,
  life table by age), 60 cycles;
* ``flagship``: ``cohorts/omt_vs_cabg``, 480 monthly cycles;
* ``microsim``: the Sick-Sicker model over 30 cycles run patient by patient,
  10^5 patients x 2 strategies (``sim.patient.run_markov_patients``).

End to end for the cohort workloads = sampling + model + ICER table + CEAC over 100
willingness-to-pay values: hta-sim runs ``run_psa`` + ``psa.icer()`` + ``psa.ceac(wtp)``;
the references sample with numpy's generator, run their kernel and compute the ICER
table and the CEAC from the per-draw totals with numpy. The microsimulation times
``run_markov_patients`` (outcome table included) against the hand-fused loop over
patients (per-patient totals only) and a numpy version vectorised over patients.

Timing: the first call of every candidate (compile or load from Numba's on-disk
cache) is timed separately; then ``--repeat`` interleaved rounds (each round runs
every candidate once, in rotating order, after ``gc.collect()``); best and median.
Accuracy: every reference run on hta-sim's own draws (or patients' random numbers)
must match hta-sim to 1e-9 relative, or the script fails. ``--cold`` measures the
compile time of a first run in a fresh process on an empty Numba cache.

    python benchmarks/bench_speed.py --draws 1000 10000 --repeat 15
    python benchmarks/bench_speed.py --threads 1 --clock cpu   # on a loaded machine
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import references as R  # noqa: E402

import sim  # noqa: E402
from sim.patient import run_markov_patients  # noqa: E402

RTOL = 1e-9
WTP = np.linspace(0, 200_000, 100)
COHORT = ("sick_sicker", "thr", "flagship")
WORKLOADS = COHORT + ("microsim",)


def numpy_sample(table, n: int, seed: int) -> dict[str, np.ndarray]:
    """Independent draws with numpy's generator from the table's fitted marginals (fixed rows: base value)."""
    g = np.random.default_rng(seed)
    out = {}
    for p, dist in table.marginals:
        if dist is None:
            out[p.name] = np.full(n, float(table.base[p.name]))
            continue
        shapes, loc, scale = dist.dist._parse_args(*dist.args, **dist.kwds)
        name = dist.dist.name
        if name == "beta":
            x = g.beta(shapes[0], shapes[1], n)
        elif name == "gamma":
            x = g.gamma(shapes[0], 1.0, n)
        elif name == "lognorm":
            x = np.exp(g.normal(0.0, shapes[0], n))
        elif name == "norm":
            x = g.standard_normal(n)
        else:
            raise ValueError(f"numpy_sample: distribution {name!r} of {p.name!r} not covered")
        out[p.name] = loc + scale * x
    for name, v in table.base.items():
        out.setdefault(name, np.full(n, float(v)))
    return out


def decide(tot: np.ndarray, names, fused: bool = False) -> tuple:
    """ICER table on the means and CEAC over :data:`WTP` from per-draw totals ``(n, K, 3)``.

    ``fused``: the CEAC by :func:`references.ceac_kernel` (one compiled pass per WTP),
    else by numpy's ``argmax`` over the net benefits of every (WTP, draw, strategy).
    """
    cost, qaly = tot[..., 0], tot[..., 1]
    icer = sim.icer_table(list(names), cost.mean(axis=0), qaly.mean(axis=0), effect_name="qaly")
    if fused:
        ceac = np.empty((len(WTP), len(names)))
        R.ceac_kernel(np.ascontiguousarray(cost), np.ascontiguousarray(qaly), WTP, ceac)
    else:
        best = np.argmax(WTP[:, None, None] * qaly[None] - cost[None], axis=-1)
        ceac = np.stack([(best == k).mean(axis=1) for k in range(len(names))], axis=1)
    return icer, ceac


def cohort_setup(name: str):
    """(model, table, fused(values), numpy(values)) of a cohort workload."""
    if name == "sick_sicker":
        model, table = R.sick_sicker()
        return model, table, R.sick_sicker_fused, R.sick_sicker_numpy
    if name == "thr":
        model, table = R.thr()
        return model, table, R.thr_fused, R.thr_numpy
    model, table = R.flagship()
    if R.flagship_fingerprint(model) != R.FLAGSHIP_FINGERPRINT:
        raise SystemExit("the flagship's structure changed: update the flagship reference in references.py")
    return model, table, (lambda v: R.flagship_fused(model, v)), (lambda v: R.flagship_numpy(model, v))


def cohort_candidates(name: str, n: int, seed: int) -> tuple[dict, float]:
    """Timed candidates of a cohort workload and the accuracy of the references on hta-sim's draws."""
    model, table, fused, plain = cohort_setup(name)
    names = model.strategies

    def hta():
        psa = sim.run_psa(model, table, n, seed)
        return psa, psa.icer(), psa.ceac(WTP)

    def ref(kernel, compiled):
        return lambda: decide(kernel(numpy_sample(table, n, seed)), names, compiled)

    cands = {"hta-sim": hta, "hand-fused": ref(fused, True), "numpy": ref(plain, False)}
    first = {}
    for c, fn in cands.items():
        t = time.perf_counter()
        fn()
        first[c] = time.perf_counter() - t
    psa = sim.run_psa(model, table, min(n, 2000), seed)
    vals = {c: psa.draws.frame[c].to_numpy() for c in psa.draws.frame.columns}
    for k, v in model.parameters.items():
        vals.setdefault(k, np.full(len(psa.draws.frame), float(v)))
    eng = R.engine_totals(psa.outcomes)
    acc = {"hand-fused": R.rel_diff(fused(vals), eng), "numpy": R.rel_diff(plain(vals), eng)}
    return cands, first, acc


def microsim_candidates(n_patients: int, seed: int) -> tuple[dict, float]:
    """Timed candidates of the microsimulation and the hand-fused loop's accuracy (same random numbers)."""
    model, _ = R.sick_sicker(30)
    cands = {"hta-sim": lambda: run_markov_patients(model, n_patients, seed),
             "hand-fused": lambda: R.microsim_fused(model, n_patients, seed),
             "numpy": lambda: R.microsim_numpy(model, n_patients, seed)}
    first = {}
    for c, fn in cands.items():
        t = time.perf_counter()
        fn()
        first[c] = time.perf_counter() - t
    eng = R.engine_totals(run_markov_patients(model, n_patients, seed).outcomes)
    acc = {"hand-fused": R.rel_diff(R.microsim_fused(model, n_patients, seed), eng)}
    return cands, first, acc


#: The clock of the rounds: wall-clock time, or the process's CPU time (``--clock cpu``: with one
#: thread, the time the work took whatever the machine's load, which wall-clock time is not).
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def timing_options(ap: argparse.ArgumentParser) -> None:
    """``--threads`` and ``--clock``, the options every speed benchmark shares."""
    ap.add_argument("--threads", type=int, help="threads of every kernel and of the sampler (default: all)")
    ap.add_argument("--clock", choices=list(CLOCK), default="wall",
                    help="cpu: the process's CPU time (use with --threads 1 on a loaded machine)")


def configure(threads: int | None, clock: str) -> None:
    """Tune the process, pick the clock of :func:`rounds`, and fix the threads when ``threads`` is given."""
    sim.tune_process()
    global _clock
    _clock = CLOCK[clock]
    if threads:
        from sim import _config

        numba.set_num_threads(threads)
        _config.THREADS = threads
        os.environ["HTA_SIM_SAMPLING_THREADS"] = str(threads)


def rounds(cands: dict, repeat: int) -> dict[str, list[float]]:
    """``repeat`` interleaved rounds, rotating the order; every candidate's times."""
    names = list(cands)
    times = {c: [] for c in names}
    for i in range(repeat):
        order = names[i % len(names):] + names[:i % len(names)]
        for c in order:
            gc.collect()
            t = _clock()
            cands[c]()
            times[c].append(_clock() - t)
    return times


def cold_compile(workload: str) -> dict:
    """Seconds of a first run in a fresh process on an empty Numba cache (and again on the warm cache)."""
    code = ("import sys, time; t0 = time.perf_counter(); sys.path.insert(0, {here!r}); import bench_speed as b; "
            "t1 = time.perf_counter(); b.run_workload({w!r}, 200, 1, 1); print(t1 - t0, time.perf_counter() - t1)")
    out = {}
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        for label in ("empty cache", "warm cache"):
            r = subprocess.run([sys.executable, "-c", code.format(here=str(HERE), w=workload)], env=env,
                               capture_output=True, text=True, check=True)
            imp, run = map(float, r.stdout.split()[-2:])
            out[label] = {"import_s": imp, "first_run_s": run}
    return out


def run_workload(name: str, n: int, seed: int, repeat: int) -> dict:
    """Time one workload; returns times, ratios and accuracy."""
    if name == "microsim":
        cands, first, acc = microsim_candidates(n, seed)
    else:
        cands, first, acc = cohort_candidates(name, n, seed)
    bad = {k: v for k, v in acc.items() if not v <= RTOL}
    if bad:
        raise AssertionError(f"{name}: references disagree with hta-sim: {bad}")
    times = rounds(cands, repeat)
    res = {"workload": name, "n": n, "accuracy": acc, "first_call_s": first, "times": {}}
    for c, ts in times.items():
        res["times"][c] = {"best": min(ts), "median": statistics.median(ts), "all": ts}
    h = res["times"]["hta-sim"]
    res["ratio"] = {c: {"best": h["best"] / t["best"], "median": h["median"] / t["median"]}
                    for c, t in res["times"].items() if c != "hta-sim"}
    return res


def report(res: dict) -> None:
    """Print one workload's results."""
    unit = "patients" if res["workload"] == "microsim" else "draws"
    print(f"\n== {res['workload']}, {res['n']:,} {unit}; accuracy (max rel. diff. vs hta-sim): "
          + ", ".join(f"{k} {v:.1e}" for k, v in res["accuracy"].items()))
    print(f"{'':14s}{'best ms':>10s}{'median ms':>11s}{'first call s':>14s}{'hta-sim / this':>18s}")
    for c, t in res["times"].items():
        ratio = "" if c == "hta-sim" else f"{res['ratio'][c]['best']:.2f}x / {res['ratio'][c]['median']:.2f}x"
        print(f"{c:14s}{1e3 * t['best']:10.2f}{1e3 * t['median']:11.2f}{res['first_call_s'][c]:14.3f}{ratio:>18s}")
    if res["workload"] == "microsim":
        pc = res["n"] * 30 * 2
        print("patient-cycles/s (best): " + ", ".join(f"{c} {pc / t['best']:.2e}" for c, t in res["times"].items()))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, nargs="+", default=[1000, 10_000])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    ap.add_argument("--cold", action="store_true", help="also time a first run on an empty Numba cache")
    ap.add_argument("--json", help="write every timing to this file")
    timing_options(ap)
    args = ap.parse_args(argv)
    configure(args.threads, args.clock)
    print(f"hta-sim {sim.__version__} | numba {numba.__version__} | numpy {np.__version__} | "
          f"python {platform.python_version()} | cpus {os.cpu_count()} | numba threads {numba.get_num_threads()} "
          f"| load {os.getloadavg()[0]:.2f} | clock {args.clock}")
    out = {"results": [], "cold": {}}
    for w in args.workloads:
        sizes = [args.patients] if w == "microsim" else args.draws
        for n in sizes:
            res = run_workload(w, n, args.seed, args.repeat)
            report(res)
            out["results"].append(res)
        if args.cold:
            out["cold"][w] = cold_compile(w)
            print(f"cold start ({w}): " + ", ".join(f"{k}: import {v['import_s']:.2f} s + first run "
                                                     f"{v['first_run_s']:.2f} s" for k, v in out["cold"][w].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
