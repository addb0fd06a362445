"""Benchmark: a probabilistic sensitivity analysis end to end, hta-sim vs plain numpy.

The pipeline timed on both sides: sample 10,000 draws of 15 random parameters,
run a 4-state (Healthy, Sick, Sicker, Dead), 4-strategy (SoC, A, B, A+B), 75-cycle
Markov model with half-cycle correction and 3 % discounting for every draw, then
the ICER table on expected values and the CEAC over 100 willingness-to-pay values.

* **hta-sim**: ``run_psa(model, table, n, seed)``, ``psa.icer()``, ``psa.ceac(wtp)``.
* **numpy reference**: the same model written directly in numpy, vectorised over
  draws: numpy's samplers, transition matrices built per draw with array
  arithmetic, one batched matrix product ``m (n, S) x P (n, S, S)`` per strategy and
  cycle (``einsum``), rewards accumulated per draw, ICER table from the means, CEAC
  by ``argmax`` over the net benefit of every (wtp, draw, strategy).

Accuracy beside speed: the numpy model run on hta-sim's own draws must reproduce
``run_psa``'s outcomes to 1e-9 relative (asserted). Timings are best and median of
``--repeat`` runs after a warm-up call (which loads the compiled kernels from Numba's
on-disk cache, or compiles them: its time is printed separately). Nothing here is
asserted about wall-clock time.

    python benchmarks/bench_psa.py --draws 10000 --repeat 7
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numba
import numpy as np

import sim
from sim import ByStrategy, C, HazardRatio, Model, Parameter, ParameterTable, run_psa

STRATEGIES = ("SoC", "A", "B", "AB")
SRC = "illustrative benchmark values"


def build() -> tuple[Model, ParameterTable]:
    table = ParameterTable([
        Parameter("p_HS1", 0.15, "beta", {"mean": 0.15, "se": 0.02}, source=SRC),
        Parameter("p_S1H", 0.5, "beta", {"mean": 0.5, "se": 0.05}, source=SRC),
        Parameter("p_S1S2", 0.105, "beta", {"mean": 0.105, "se": 0.015}, source=SRC),
        Parameter("p_HD", 0.005, "beta", {"mean": 0.005, "se": 0.001}, source=SRC),
        Parameter("hr_S1", 3.0, "lognormal", {"mean": 3.0, "se": 0.3}, source=SRC),
        Parameter("hr_S2", 10.0, "lognormal", {"mean": 10.0, "se": 1.0}, source=SRC),
        Parameter("hr_A", 0.8, "lognormal", {"ci_low": 0.65, "ci_high": 0.98}, source=SRC),
        Parameter("hr_B", 0.6, "lognormal", {"ci_low": 0.45, "ci_high": 0.8}, source=SRC),
        Parameter("c_H", 2000, "gamma", {"mean": 2000, "se": 200}, source=SRC),
        Parameter("c_S1", 4000, "gamma", {"mean": 4000, "se": 400}, source=SRC),
        Parameter("c_S2", 15000, "gamma", {"mean": 15000, "se": 1500}, source=SRC),
        Parameter("c_A", 12000, "gamma", {"mean": 12000, "se": 1000}, source=SRC),
        Parameter("c_B", 13000, "gamma", {"mean": 13000, "se": 1000}, source=SRC),
        Parameter("u_S1", 0.75, "beta", {"mean": 0.75, "se": 0.03}, source=SRC),
        Parameter("u_S2", 0.5, "beta", {"mean": 0.5, "se": 0.05}, source=SRC),
    ])
    hr = ByStrategy(SoC=1.0, A="hr_A", B="hr_B", AB=lambda p, t: p["hr_A"] * p["hr_B"])
    drug = ByStrategy(SoC=0.0, A="c_A", B="c_B", AB=lambda p, t: p["c_A"] + p["c_B"])
    model = Model(
        name="sick_sicker_psa", states=["H", "S1", "S2", "D"], strategies=list(STRATEGIES),
        start={"H": 1.0}, horizon=75, parameters=table.base,
        transitions={
            ("H", "H"): C, ("H", "S1"): "p_HS1", ("H", "D"): "p_HD",
            ("S1", "H"): "p_S1H", ("S1", "S2"): HazardRatio("p_S1S2", hr),
            ("S1", "D"): HazardRatio("p_HD", "hr_S1"), ("S1", "S1"): C,
            ("S2", "D"): HazardRatio("p_HD", "hr_S2"), ("S2", "S2"): C,
        },
        costs={"state": {"H": "c_H", "S1": "c_S1", "S2": "c_S2"}, "drug": {s: drug for s in ("H", "S1", "S2")}},
        utilities={"H": 1.0, "S1": "u_S1", "S2": "u_S2"},
        dead=["D"], correction="half-cycle", discount_costs=0.03, discount_outcomes=0.03,
    )
    return model, table


# ---------------------------------------------------------------------------- numpy reference
def numpy_sample(table: ParameterTable, n: int, seed: int) -> dict[str, np.ndarray]:
    """numpy's samplers, with the parameters of the table's fitted distributions."""
    g = np.random.default_rng(seed)
    out = {}
    for p in table.parameters:
        d = table._by_name[p.name]
        dist = next(dd for pp, dd in table.marginals if pp.name == p.name)
        shapes, loc, scale = dist.dist._parse_args(*dist.args, **dist.kwds)
        if dist.dist.name == "beta":
            out[p.name] = g.beta(shapes[0], shapes[1], n)
        elif dist.dist.name == "gamma":
            out[p.name] = g.gamma(shapes[0], scale, n)
        else:  # lognormal
            out[p.name] = g.lognormal(np.log(scale), shapes[0], n)
        del d
    return out


def numpy_model(v: dict[str, np.ndarray], T: int = 75, r: float = 0.03) -> np.ndarray:
    """Totals (n, K, 4): cost_state, cost_drug, qaly, ly (discounted), half-cycle."""
    n = len(v["p_HS1"])

    def hr(p, h):
        return -np.expm1(h * np.log1p(-p))

    w = np.ones(T + 1)
    w[0] = w[T] = 0.5
    disc = w / (1.0 + r) ** np.arange(T + 1)
    hrs = {"SoC": np.ones(n), "A": v["hr_A"], "B": v["hr_B"], "AB": v["hr_A"] * v["hr_B"]}
    drugs = {"SoC": np.zeros(n), "A": v["c_A"], "B": v["c_B"], "AB": v["c_A"] + v["c_B"]}
    out = np.empty((n, len(STRATEGIES), 4))
    for k, s in enumerate(STRATEGIES):
        P = np.zeros((n, 4, 4))
        P[:, 0, 1], P[:, 0, 3] = v["p_HS1"], v["p_HD"]
        P[:, 0, 0] = 1 - P[:, 0, 1] - P[:, 0, 3]
        P[:, 1, 0], P[:, 1, 2], P[:, 1, 3] = v["p_S1H"], hr(v["p_S1S2"], hrs[s]), hr(v["p_HD"], v["hr_S1"])
        P[:, 1, 1] = 1 - P[:, 1, 0] - P[:, 1, 2] - P[:, 1, 3]
        P[:, 2, 3] = hr(v["p_HD"], v["hr_S2"])
        P[:, 2, 2] = 1 - P[:, 2, 3]
        P[:, 3, 3] = 1.0
        R = np.zeros((n, 4, 4))  # state x reward
        R[:, 0, 0], R[:, 1, 0], R[:, 2, 0] = v["c_H"], v["c_S1"], v["c_S2"]
        R[:, :3, 1] = drugs[s][:, None]
        R[:, 0, 2], R[:, 1, 2], R[:, 2, 2] = 1.0, v["u_S1"], v["u_S2"]
        R[:, :3, 3] = 1.0
        m = np.zeros((n, 4))
        m[:, 0] = 1.0
        acc = np.zeros((n, 4))
        for t in range(T + 1):
            acc += disc[t] * np.einsum("ns,nsr->nr", m, R)
            if t < T:
                m = np.einsum("ns,nst->nt", m, P)
        out[:, k] = acc
    return out


def numpy_pipeline(table: ParameterTable, n: int, seed: int, wtp: np.ndarray):
    v = numpy_sample(table, n, seed)
    tot = numpy_model(v)
    cost = tot[..., 0] + tot[..., 1]
    qaly = tot[..., 2]
    icer = sim.icer_table(list(STRATEGIES), cost.mean(axis=0), qaly.mean(axis=0), effect_name="qaly")
    nb = wtp[:, None, None] * qaly[None] - cost[None]
    best = np.argmax(nb, axis=-1)
    ceac = np.stack([(best == k).mean(axis=1) for k in range(len(STRATEGIES))], axis=1)
    return icer, ceac


def hta_pipeline(model, table, n, seed, wtp):
    psa = run_psa(model, table, n, seed)
    return psa, psa.icer(), psa.ceac(wtp)


# ---------------------------------------------------------------------------- timing
def breakdown(model, table, n: int, seed: int, wtp, repeat: int) -> dict[str, float]:
    """Median time (s) of each step of hta-sim's pipeline, timed by hand on one chunk."""
    from sim.cohort import _kernels
    from sim.cohort.engine import _occupancy_weights
    from sim.model.arrays import build_arrays, coefficients, resolve_draws
    from sim.results import outcome_data

    sampler = table.sampler(n, seed)
    values = sampler.arrays(0, n)
    draws = resolve_draws(model, values)
    a = build_arrays(model, draws, 0, n)
    c_own, c_prev, _ = coefficients(model, a.columns)
    w, col_w = _occupancy_weights(c_own, c_prev)
    out = np.empty((n, len(model.strategies), 2, len(a.columns)))
    psa = run_psa(model, table, n, seed)
    steps = {
        "sampling (Sampler.arrays)": lambda: sampler.arrays(0, n),
        "evaluation and checks (build_arrays)": lambda: build_arrays(model, resolve_draws(model, values), 0, n),
        "kernel (occupancy_kernel)": lambda: _kernels.occupancy_kernel(
            a.ev, a.tr_ptr, a.tr_ent, a.dest, a.start, a.rw_ptr, a.rw_ent, w, col_w, out, np.empty((1, 1, 1, 1)),
            False),
        "outcome columns (outcome_data)": lambda: outcome_data(model.strategies, np.arange(n), out, a.columns),
        "ICER table (psa.icer)": psa.icer,
        "CEAC (psa.ceac)": lambda: psa.ceac(wtp),
    }
    return {name: statistics.median(timed(fn, repeat)) for name, fn in steps.items()}


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--breakdown", action="store_true", help="also time each step of hta-sim's pipeline")
    args = ap.parse_args(argv)
    sim.tune_process()  # as the command line does: sleeping OpenMP workers, freed memory kept
    n, wtp = args.draws, np.linspace(0, 200_000, 100)
    model, table = build()

    t0 = time.perf_counter()
    hta_pipeline(model, table, 64, args.seed, wtp)  # loads or compiles the kernels
    first = time.perf_counter() - t0

    psa, _, _ = hta_pipeline(model, table, n, args.seed, wtp)
    ref = numpy_model({c: psa.draws.frame[c].to_numpy() for c in psa.draws.frame.columns})
    got = psa.outcomes[["cost_state", "cost_drug", "qaly", "ly"]].to_numpy().reshape(n, len(STRATEGIES), 4)
    err = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)))
    assert err < 1e-9, f"numpy reference and run_psa disagree: max relative difference {err:.3g}"

    t_hta = timed(lambda: hta_pipeline(model, table, n, args.seed, wtp), args.repeat)
    t_np = timed(lambda: numpy_pipeline(table, n, args.seed, wtp), args.repeat)
    res = {
        "draws": n, "hta_best": min(t_hta), "hta_median": statistics.median(t_hta),
        "numpy_best": min(t_np), "numpy_median": statistics.median(t_np), "first_call": first,
        "max_rel_diff": err,
    }
    res["ratio_best"] = res["numpy_best"] / res["hta_best"]
    res["ratio_median"] = res["numpy_median"] / res["hta_median"]
    print(f"hta-sim {sim.__version__} | numba {numba.__version__} | numpy {np.__version__} | "
          f"python {platform.python_version()} | cpus {os.cpu_count()} | numba threads {numba.get_num_threads()} "
          f"| threading layer {numba.threading_layer()}")
    print(f"PSA end to end: {n} draws, 15 random parameters, 4 states, 4 strategies, 75 cycles, "
          f"ICER table, CEAC over {len(wtp)} wtp values")
    print(f"first call (kernels loaded from cache or compiled): {first:.3f} s")
    print(f"accuracy: numpy model on hta-sim's draws vs run_psa: max relative difference {err:.1e}")
    print(f"{'':24s}{'best s':>10s}{'median s':>10s}{'draws/s':>12s}")
    print(f"{'hta-sim':24s}{res['hta_best']:10.4f}{res['hta_median']:10.4f}{n / res['hta_median']:12,.0f}")
    print(f"{'numpy reference':24s}{res['numpy_best']:10.4f}{res['numpy_median']:10.4f}"
          f"{n / res['numpy_median']:12,.0f}")
    print(f"speed-up (numpy / hta-sim): {res['ratio_best']:.1f}x best, {res['ratio_median']:.1f}x median "
          f"(target >= 10x)")
    if args.breakdown:
        steps = breakdown(model, table, n, args.seed, wtp, args.repeat)
        res["breakdown"] = steps
        print("hta-sim steps (median s, each timed alone on all draws in one chunk):")
        for name, t in steps.items():
            print(f"  {name:40s}{t:10.4f}")
        print(f"  {'sum':40s}{sum(steps.values()):10.4f}")
    return res


if __name__ == "__main__":
    main()
