"""Benchmark: the flagship model's probabilistic sensitivity analysis.

Times ``run_psa(omt_vs_cabg.build(), omt_vs_cabg.psa_table(), n, seed)`` (2 strategies,
5 states, 480 monthly cycles, 16 random parameters) after a warm-up call (which loads
or compiles the Numba kernels; printed separately), then the CEAC and EVPI on the
result. Accuracy beside speed: three draws of the PSA are re-run one by one through
``run_cohort`` with their parameter values and must agree to 1e-12 relative (asserted).
Nothing is asserted about wall-clock time.

    python benchmarks/bench_omt.py --draws 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import sim
from cohorts import omt_vs_cabg


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    sim.tune_process()  # as the command line does: sleeping OpenMP workers, freed memory kept
    model, table = omt_vs_cabg.build(), omt_vs_cabg.psa_table()
    t0 = time.perf_counter()
    sim.run_psa(model, table, n=100, seed=args.seed)
    warm = time.perf_counter() - t0
    times, psa = [], None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        psa = sim.run_psa(model, table, n=args.draws, seed=args.seed)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    psa.ceac(np.linspace(0, 150_000, 101))
    psa.evpi(np.linspace(0, 150_000, 101))
    decision = time.perf_counter() - t0
    worst = 0.0
    for i in (0, args.draws // 2, args.draws - 1):
        values = psa.draws.frame.iloc[i].to_dict()
        one = sim.run_cohort(model, values).outcomes.set_index("strategy")
        got = psa.outcomes[psa.outcomes["draw"] == i].set_index("strategy")
        for col in ("cost", "qaly", "ly"):
            worst = max(worst, float(np.max(np.abs(got[col] / one[col] - 1))))
    assert worst <= 1e-12, f"PSA draw differs from run_cohort by {worst:.3g} relative"
    out = {"draws": args.draws, "warmup_s": warm, "best_s": min(times), "median_s": statistics.median(times),
           "ceac_evpi_s": decision, "accuracy_vs_run_cohort": worst}
    print(f"omt_vs_cabg PSA, {args.draws} draws: best {out['best_s']:.2f} s, median {out['median_s']:.2f} s "
          f"({args.repeat} runs; warm-up {warm:.2f} s); CEAC + EVPI over 101 WTP values {decision:.2f} s; "
          f"largest relative difference from run_cohort {worst:.1e}")
    return out


if __name__ == "__main__":
    main()
