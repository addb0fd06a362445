"""Benchmark of the Markov cohort engine against a vectorised numpy reference.

Model: a Sick-Sicker PSA model (Healthy, Sick, Sicker, Dead), 4 strategies
(standard of care, A, B, A+B), 75 annual cycles, half-cycle correction, 3 %
discounting of costs and outcomes, every transition probability, cost and
utility drawn per PSA draw.  Two variants:

* ``homogeneous``: time-homogeneous transitions (background mortality is a
  per-draw parameter ``p_HD``);
* ``lifetable``: age-dependent background mortality from the packaged US 2017
  life table, start age 40 (the transition array then has a cycle axis).

Measured per variant (``time.perf_counter``, best and median of ``--repeat``
rounds; each round runs every candidate once, in rotating order):

(a)  ``sim.run_cohort(model, params)`` end to end (draws -> outcomes DataFrame);
(b)  the Numba kernel run_cohort uses (``occupancy_kernel`` here: rewards fixed over cycles;
     ``cohort_kernel`` otherwise) alone on prebuilt arrays (all draws, one call);
(c)  numpy reference as specified: for each strategy and cycle,
     ``m (n,1,S) @ P (n,S,S)`` over all draws, rewards accumulated cycle by cycle;
(c') numpy reference batched over strategies, rewards of the whole trace at once;
(d)  ``build_arrays`` alone: evaluate and check every value over all draws;
(d2) conversion of the engine's pooled values to the dense ``P``, ``R`` numpy needs
     (reported only; it is an artefact of the engine's storage, so no ratio counts it).

Ratios: end to end = ((a) - (b) + (c)) / (a), i.e. run_cohort with its kernel replaced
by the numpy reference (same evaluation, checks, chunking and DataFrame; the dense
conversion (d2) is left out, which favours numpy); kernel only = (c) / (b).
(``build_arrays`` over all draws in one chunk, (d), can be much slower than the
chunked calls inside run_cohort when the value pool is large -- 0.47 s against
0.24 s in the life-table variant -- so (d) is reported but not used in a ratio.)
Both numpy references must agree with ``run_cohort`` (and with the kernel's totals)
to 1e-9 relative; the script asserts it.  Before timing, one ``run_cohort`` on 2
draws loads (or compiles) the kernel; ``--cold-compile`` also times a first call
in a fresh process with an empty Numba cache.  A cProfile run splits
``run_cohort`` into resolve_draws / build_arrays / kernel / DataFrame.  Wall-clock
numbers are printed, never asserted.

Usage::

    python benchmarks/bench_cohort.py --draws 10000 --repeat 5
    python benchmarks/bench_cohort.py --draws 10000 --repeat 5 --cold-compile --json out.json
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import pandas as pd

import sim
from sim import ByStrategy, C, HazardRatio, LifeTable, Model, RelativeRisk
from sim.cohort import _kernels
from sim.model.arrays import ModelArrays, build_arrays, coefficients, resolve_draws
from sim.results import outcome_columns

STATES = ("Healthy", "Sick", "Sicker", "Dead")
STRATEGIES = ("SoC", "A", "B", "AB")
N_CYCLES = 75
START_AGE = 40
RTOL = 1e-9
VARIANTS = ("homogeneous", "lifetable")


# ----------------------------------------------------------------------------- model and draws
def draw_params(n: int, seed: int = 20240601, variant: str = "homogeneous") -> dict[str, np.ndarray]:
    """One array of ``n`` PSA draws per parameter (beta / gamma / lognormal)."""
    rng = np.random.default_rng(seed)

    def beta_ms(mean, n_eff):  # beta with given mean and "sample size" a + b
        return rng.beta(mean * n_eff, (1 - mean) * n_eff, n)

    def gamma_ms(mean, cv):  # gamma with given mean and coefficient of variation
        shape = 1.0 / cv**2
        return rng.gamma(shape, mean / shape, n)

    def lognormal_ms(median, sd_log):
        return rng.lognormal(np.log(median), sd_log, n)

    p = {
        # transition probabilities per annual cycle
        "p_HS1": beta_ms(0.15, 200),  # Healthy -> Sick (among survivors)
        "p_S1H": beta_ms(0.50, 120),  # Sick -> Healthy
        "p_S1S2": beta_ms(0.105, 800),  # Sick -> Sicker
        "hr_S1": lognormal_ms(3.0, 0.15),  # death hazard ratio, Sick vs background
        "hr_S2": lognormal_ms(10.0, 0.15),  # death hazard ratio, Sicker vs background
        "hr_trtB": lognormal_ms(0.6, 0.10),  # treatment B on Sick -> Sicker
        # costs per cycle
        "c_H": gamma_ms(2000, 0.10),
        "c_S1": gamma_ms(4000, 0.08),
        "c_S2": gamma_ms(15000, 0.07),
        "c_trtA": gamma_ms(12000, 0.05),
        "c_trtB": gamma_ms(13000, 0.05),
        # utilities per year
        "u_H": beta_ms(0.99, 500),
        "u_S1": beta_ms(0.75, 170),
        "u_S2": beta_ms(0.50, 100),
        "u_trtA": beta_ms(0.95, 200),
    }
    if variant == "homogeneous":
        p["p_HD"] = beta_ms(0.002, 10000)  # background mortality, constant
    return p


def build_model(variant: str = "homogeneous") -> Model:
    """The Sick-Sicker model; ``variant`` picks constant or life-table background mortality.

    Death is a competing risk taken first: from Sick, death has probability
    ``1 - (1 - q) ** hr_S1`` (``HazardRatio(q, "hr_S1")``) and the other moves
    happen among the survivors, so rows stay valid when ``q`` reaches 1 (age 100
    in the life table).
    """
    if variant == "homogeneous":
        bg = "p_HD"

        def q(p, t):
            return p["p_HD"]
    elif variant == "lifetable":
        table = LifeTable.packaged("us_2017_nchs")
        bg = table.mortality("total")

        def q(p, t):
            return table.annual_probability("total", t.age)
    else:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")

    def surv_healthy(p, t):  # survive background mortality
        return 1.0 - q(p, t)

    def surv_sick(p, t):  # survive the Sick death hazard
        return (1.0 - q(p, t)) ** p["hr_S1"]

    on_b = HazardRatio("p_S1S2", "hr_trtB")
    progression = ByStrategy(SoC="p_S1S2", A="p_S1S2", B=on_b, AB=on_b)
    transitions = {
        ("Healthy", "Sick"): RelativeRisk("p_HS1", surv_healthy),
        ("Healthy", "Dead"): bg,
        ("Healthy", "Healthy"): C,
        ("Sick", "Healthy"): RelativeRisk("p_S1H", surv_sick),
        ("Sick", "Sicker"): RelativeRisk(progression, surv_sick),
        ("Sick", "Dead"): HazardRatio(bg, "hr_S1"),
        ("Sick", "Sick"): C,
        ("Sicker", "Dead"): HazardRatio(bg, "hr_S2"),
        ("Sicker", "Sicker"): C,
    }
    drug = ByStrategy(SoC=0.0, A="c_trtA", B="c_trtB", AB=lambda p, t: p["c_trtA"] + p["c_trtB"])
    base = {k: float(np.mean(v)) for k, v in draw_params(1000, seed=1, variant=variant).items()}
    return Model(
        name=f"sick_sicker_{variant}",
        states=STATES,
        strategies=STRATEGIES,
        transitions=transitions,
        start={"Healthy": 1.0},
        horizon=N_CYCLES,
        cycle_length=1.0,
        start_age=START_AGE,
        parameters=base,
        costs={
            "care": {"Healthy": "c_H", "Sick": "c_S1", "Sicker": "c_S2"},
            "drug": {"Sick": drug, "Sicker": drug},
        },
        utilities={
            "Healthy": "u_H",
            "Sick": ByStrategy(SoC="u_S1", A="u_trtA", B="u_S1", AB="u_trtA"),
            "Sicker": "u_S2",
        },
        dead=("Dead",),
        correction="half-cycle",
        discount_costs=0.03,
        discount_outcomes=0.03,
    )


# ----------------------------------------------------------------------------- engine interface
# Everything this script assumes about the engine's private arrays is in this section:
# sim.model.arrays.ModelArrays (values stored once in a flat pool ``ev``, rows as CSR
# entries) and the argument list of sim.cohort._kernels.cohort_kernel (engine v2,
# commit beb0739).  If the engine's internals change, adapt these functions.

_NO_TRACE = np.empty((1, 1, 1, 1))


def run_kernel(a: ModelArrays, c_own, c_prev, c_tr, out) -> None:
    """The compiled kernel alone, as run_cohort calls it for one chunk (no trace): the
    occupancy kernel where it applies (rewards fixed over cycles, no transition rewards),
    else the general one."""
    from sim.cohort.engine import _occupancy_applies, _occupancy_weights

    if _occupancy_applies(a):
        w, col_w = _occupancy_weights(c_own, c_prev)
        _kernels.occupancy_kernel(a.ev, a.tr_ptr, a.tr_ent, a.dest, a.start, a.rw_ptr, a.rw_ent,
                                  w, col_w, out, _NO_TRACE, False)
        return
    _kernels.cohort_kernel(a.ev, a.tr_ptr, a.tr_ent, a.dest, a.start, a.rw_ptr, a.rw_ent,
                           a.trw_ptr, a.trw_ent, c_own, c_prev, c_tr, out, _NO_TRACE, False)


def _pool_view(ev: np.ndarray, off: int, sd: int, st: int, nd: int, mt: int) -> np.ndarray:
    """Read-only (draws, cycles) view of one pooled value: ``ev[off + d * sd + t * st]``."""
    step = ev.itemsize
    return np.lib.stride_tricks.as_strided(ev[off:], shape=(nd, mt), strides=(sd * step, st * step),
                                           writeable=False)


def dense_arrays(a: ModelArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense ``P (n|1, K, T|1, S1, S)`` and ``R (n|1, K, T+1|1, S1, NR)`` from the engine's
    pool, with a length-1 draw or cycle axis where no value varies along it, plus
    ``dest`` and ``start``: the input of a plain numpy engine.  (Complements and
    absorbing rows are entries of the pool, computed and checked by the wrapper.)"""
    if len(a.trw_ent):
        raise NotImplementedError("the numpy reference does not implement one-off transition rewards")
    K = a.tr_ptr.shape[0]
    S1, S = a.dest.shape
    NR, T = len(a.columns), a.n_cycles

    def dims(ent, n_times):
        nd = a.n if len(ent) and ent[:, 2].any() else 1
        mt = n_times if len(ent) and ent[:, 3].any() else 1
        return nd, mt

    nd, mt = dims(a.tr_ent, T)
    P = np.zeros((nd, K, mt, S1, S))
    for k in range(K):
        for i in range(S1):
            for j, off, sd, st in a.tr_ent[a.tr_ptr[k, i]:a.tr_ptr[k, i + 1]]:
                P[:, k, :, i, j] = _pool_view(a.ev, off, sd, st, nd, mt)
    ndr, mtr = dims(a.rw_ent, T + 1)
    R = np.zeros((ndr, K, mtr, S1, NR))
    for k in range(K):
        for i in range(S1):
            for r, off, sd, st in a.rw_ent[a.rw_ptr[k, i]:a.rw_ptr[k, i + 1]]:
                R[:, k, :, i, r] += _pool_view(a.ev, off, sd, st, ndr, mtr)
    return P, a.dest, a.start, R


# ----------------------------------------------------------------------------- numpy reference
# Both references compute the kernel's totals from the kernel's input arrays:
# trace m_0 = start, m_{t+1} = m_t P_t; at point t, with v_own = m_t R_t and
# v_prev = m_t R_{t-1} (= v_own when rewards do not vary by cycle; 0 at t = 0),
# total[g, r] += c_own[g, r, t] v_own[r] + c_prev[g, r, t] v_prev[r].


def _square(P: np.ndarray, dest: np.ndarray) -> np.ndarray:
    """Fold the kernel's (from, to) -> expanded-destination map into square matrices."""
    S1, S = P.shape[3], P.shape[4]
    if S1 == S and np.array_equal(dest, np.tile(np.arange(S), (S1, 1))):
        return P  # no tunnel states: dest is the identity
    Q = np.zeros(P.shape[:4] + (S1,))
    for i in range(S1):
        for j in range(S):
            Q[..., i, dest[i, j]] += P[..., i, j]
    return Q


def numpy_loop(P, dest, start, R, c_own, c_prev) -> np.ndarray:
    """Reference as specified: for each strategy and cycle, ``m (n, 1, S) @ P (n, S, S)``
    with ``np.matmul`` over all draws at once, accumulating the rewards per draw
    cycle by cycle.  Returns totals ``(n, K, 2, NR)``."""
    P = _square(P, dest)
    n = max(P.shape[0], R.shape[0], start.shape[0])
    K, NR, T = P.shape[1], R.shape[4], c_own.shape[2] - 1
    p_time, r_time = P.shape[2] > 1, R.shape[2] > 1
    out = np.empty((n, K, 2, NR))
    for k in range(K):
        m = np.array(np.broadcast_to(start[:, k, None, :], (n, 1, start.shape[2])))  # (n, 1, S1)
        acc = np.zeros((n, 2, NR))
        for t in range(T + 1):
            v_own = np.matmul(m, R[:, k, t if r_time else 0])[:, 0, :]  # (n|1, NR)
            acc += c_own[None, :, :, t] * v_own[:, None, :]
            if t > 0:
                v_prev = np.matmul(m, R[:, k, t - 1])[:, 0, :] if r_time else v_own
                acc += c_prev[None, :, :, t] * v_prev[:, None, :]
            if t < T:
                m = np.matmul(m, P[:, k, t if p_time else 0])
        out[:, k] = acc
    return out


def numpy_batched(P, dest, start, R, c_own, c_prev) -> np.ndarray:
    """Faster reference: one ``np.matmul`` per cycle for all draws *and* strategies
    (trace stored time-major), then the rewards of the whole trace in two batched
    products and one ``einsum`` over cycles.  Returns totals ``(n, K, 2, NR)``."""
    P = _square(P, dest)
    n = max(P.shape[0], R.shape[0], start.shape[0])
    K, S1, T1 = P.shape[1], P.shape[3], c_own.shape[2]
    M = np.empty((T1, n, K, 1, S1))  # trace; every cycle's slice is contiguous
    M[0, :, :, 0, :] = start
    p_time = P.shape[2] > 1
    for t in range(T1 - 1):
        np.matmul(M[t], P[:, :, t if p_time else 0], out=M[t + 1])
    Rt = np.moveaxis(R, 2, 0)  # (T+1|1, n|1, K, S1, NR)
    V_own = np.matmul(M, Rt)[..., 0, :]  # (T+1, n, K, NR)
    c_prev = c_prev.copy()
    c_prev[:, :, 0] = 0.0  # v_prev = 0 at t = 0 (c_prev[..., 0] is 0 for every correction anyway)
    if R.shape[2] == 1:  # v_prev = v_own: fold the weights
        return np.einsum("tnkr,grt->nkgr", V_own, c_own + c_prev)
    V_prev = np.zeros_like(V_own)
    V_prev[1:] = np.matmul(M[1:], Rt[:-1])[..., 0, :]
    return np.einsum("tnkr,grt->nkgr", V_own, c_own) + np.einsum("tnkr,grt->nkgr", V_prev, c_prev)


def numpy_einsum(P, dest, start, R, c_own, c_prev) -> np.ndarray:
    """Like :func:`numpy_loop` (per strategy and cycle, all draws at once) but with
    ``einsum`` for the batched matrix-vector products, which numpy runs faster than
    ``matmul`` on stacks of tiny matrices.  Returns totals ``(n, K, 2, NR)``."""
    P = _square(P, dest)
    n = max(P.shape[0], R.shape[0], start.shape[0])
    K, NR, T = P.shape[1], R.shape[4], c_own.shape[2] - 1
    p_time, r_time = P.shape[2] > 1, R.shape[2] > 1
    sp = "ns,nst->nt" if P.shape[0] > 1 else "ns,st->nt"
    sr = "ns,nsr->nr" if R.shape[0] > 1 else "ns,sr->nr"
    out = np.empty((n, K, 2, NR))
    for k in range(K):
        m = np.array(np.broadcast_to(start[:, k, :], (n, start.shape[2])))
        acc = np.zeros((n, 2, NR))
        for t in range(T + 1):
            Rk = R[:, k, t if r_time else 0] if R.shape[0] > 1 else R[0, k, t if r_time else 0]
            v_own = np.einsum(sr, m, Rk)
            acc += c_own[None, :, :, t] * v_own[:, None, :]
            if t > 0:
                if r_time:
                    Rp = R[:, k, t - 1] if R.shape[0] > 1 else R[0, k, t - 1]
                    v_prev = np.einsum(sr, m, Rp)
                else:
                    v_prev = v_own
                acc += c_prev[None, :, :, t] * v_prev[:, None, :]
            if t < T:
                Pk = P[:, k, t if p_time else 0] if P.shape[0] > 1 else P[0, k, t if p_time else 0]
                m = np.einsum(sp, m, Pk)
        out[:, k] = acc
    return out


REFERENCES = {"loop": numpy_loop, "batched": numpy_batched, "einsum": numpy_einsum}


def outcome_table(totals: np.ndarray, components: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``run_cohort``'s outcome columns (one row per draw x strategy) from totals."""
    disc, und = totals[:, :, 0, :], totals[:, :, 1, :]
    nc = len(components)
    out = {
        "cost": disc[..., :nc].sum(axis=-1), "qaly": disc[..., -2], "ly": disc[..., -1],
        "cost_undisc": und[..., :nc].sum(axis=-1), "qaly_undisc": und[..., -2], "ly_undisc": und[..., -1],
    }
    for r, c in enumerate(components):
        out[f"cost_{c}"] = disc[..., r]
        out[f"cost_{c}_undisc"] = und[..., r]
    return {k: v.ravel() for k, v in out.items()}


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a|, |b|) over elements (0 where both are 0)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    den = np.maximum(np.abs(a), np.abs(b))
    diff = np.abs(a - b)
    rel = np.divide(diff, den, out=np.zeros_like(diff), where=den > 0)
    return float(rel.max(initial=0.0))


# ----------------------------------------------------------------------------- timing helpers
def timed_rounds(fns: dict, repeat: int) -> dict[str, list[float]]:
    """Time every function once per round, ``repeat`` rounds, rotating the order.

    Interleaving spreads the machine's background load over all candidates
    instead of letting it hit whichever ran during a busy spell.
    """
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    for i in range(repeat):
        for name in names[i % len(names):] + names[:i % len(names)]:
            gc.collect()
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def summarise(times: list[float]) -> dict:
    return {"best": min(times), "median": statistics.median(times), "all": times}


def first_call() -> dict:
    """Time the first run_cohort call of this process on a tiny input (JIT compile or cache load)."""
    model = build_model("homogeneous")
    params = draw_params(2, seed=0)
    k = _kernels.occupancy_kernel  # the kernel run_cohort uses for this model
    if not hasattr(k, "stats"):  # NUMBA_DISABLE_JIT=1: a plain Python function
        t0 = time.perf_counter()
        sim.run_cohort(model, params)
        return {"seconds": time.perf_counter() - t0, "source": "JIT disabled", "cache_path": None}
    hits0, miss0 = sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())
    n_sig0 = len(k.signatures)
    t0 = time.perf_counter()
    sim.run_cohort(model, params)
    dt = time.perf_counter() - t0
    hits = sum(k.stats.cache_hits.values()) - hits0
    miss = sum(k.stats.cache_misses.values()) - miss0
    if len(k.signatures) == n_sig0:
        source = "already loaded in this process"
    else:
        source = "loaded from the Numba cache" if hits else "compiled (cache miss)" if miss else "compiled"
    return {"seconds": dt, "source": source, "cache_path": k.stats.cache_path}


def cold_compile() -> dict:
    """First call in a fresh process with an empty Numba cache: the true JIT compile time."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_first-call"], env=env,
                              capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_wall_seconds"] = wall
    return res


_PHASES = {"resolve_draws": "resolve_draws", "build_arrays": "build_arrays", "cohort_kernel": "kernel",
           "occupancy_kernel": "kernel", "program_kernel": "kernel", "occupancy_program_kernel": "kernel",
           "_result": "result (DataFrame)", "run_cohort": "total"}


def engine_breakdown(model: Model, params: dict, repeat: int) -> dict:
    """Where run_cohort spends its time: cProfile cumulative time per phase, median over runs."""
    runs: dict[str, list[float]] = {v: [] for v in _PHASES.values()}
    chunks = 0
    for _ in range(repeat):
        gc.collect()
        prof = cProfile.Profile()
        prof.enable()
        sim.run_cohort(model, params)
        prof.disable()
        for (file, _, name), (_, ncalls, _, cum, _) in pstats.Stats(prof).stats.items():
            if name in _PHASES and os.sep + "sim" + os.sep in file:
                runs[_PHASES[name]].append(cum)
                if name == "build_arrays":
                    chunks = ncalls
    out = {k: statistics.median(v) for k, v in runs.items() if v}
    out["other"] = out["total"] - sum(v for k, v in out.items() if k != "total")
    out["chunks"] = chunks
    return out


# ----------------------------------------------------------------------------- one variant
def bench_variant(variant: str, n: int, repeat: int, seed: int, profile: bool) -> dict:
    model = build_model(variant)
    params = draw_params(n, seed=seed, variant=variant)
    d = resolve_draws(model, params)
    a = build_arrays(model, d, 0, n)  # all draws in one chunk, for (b), (c) and (c')
    c_own, c_prev, c_tr = coefficients(model, a.columns)
    K, NR = len(model.strategies), len(a.columns)
    out = np.empty((n, K, 2, NR))
    dense = dense_arrays(a)
    arrays = dense + (c_own, c_prev)

    def kernel():
        run_kernel(a, c_own, c_prev, c_tr, out)

    # ---- accuracy: each numpy reference vs run_cohort's outcome table and vs the kernel's totals
    res = sim.run_cohort(model, params)
    kernel()
    initial = a.initial[:, :, None, :]  # one-off rewards at time 0, added by run_cohort after the kernel
    accuracy = {}
    for name, ref in REFERENCES.items():
        tot = ref(*arrays) + initial
        diffs = {col: max_rel_diff(v, res.outcomes[col].to_numpy())
                 for col, v in outcome_table(tot, model.cost_components).items()}
        assert set(diffs) | {"draw", "strategy"} == set(outcome_columns(model.cost_components))
        worst = max(diffs, key=diffs.get)
        accuracy[name] = {"vs_run_cohort": diffs[worst], "worst_column": worst,
                          "vs_kernel": max_rel_diff(tot, out + initial)}
    ok = all(v["vs_run_cohort"] <= RTOL and v["vs_kernel"] <= RTOL for v in accuracy.values())
    if not ok:
        raise AssertionError(f"[{variant}] a numpy reference disagrees with the engine beyond {RTOL:g} "
                             f"relative: {accuracy}")
    summary = res.outcomes.groupby("strategy", observed=True)[["cost", "qaly", "ly"]].mean()

    # ---- timings
    t = timed_rounds({
        "run_cohort": lambda: sim.run_cohort(model, params),
        "kernel": kernel,
        "numpy_loop": lambda: numpy_loop(*arrays),
        "numpy_batched": lambda: numpy_batched(*arrays),
        "numpy_einsum": lambda: numpy_einsum(*arrays),
        "build_arrays": lambda: build_arrays(model, d, 0, n),
        "dense_arrays": lambda: dense_arrays(a),
    }, repeat)
    t = {k: summarise(v) for k, v in t.items()}
    ratios = {}
    for ref in REFERENCES:
        for stat in ("best", "median"):
            # numpy end to end = run_cohort with its kernel swapped for the numpy reference:
            # (a) - (b) + (c); the dense conversion (d2) is left out, which favours numpy
            t_numpy = t["run_cohort"][stat] - t["kernel"][stat] + t[f"numpy_{ref}"][stat]
            ratios[f"e2e_{ref}_{stat}"] = t_numpy / t["run_cohort"][stat]
            ratios[f"kernel_{ref}_{stat}"] = t[f"numpy_{ref}"][stat] / t["kernel"][stat]
    return {
        "variant": variant,
        "n_draws": n,
        "engine_arrays": {"pool_values": int(a.ev.size), "pool_MB": a.ev.nbytes / 2**20,
                          "transition_entries": len(a.tr_ent), "reward_entries": len(a.rw_ent)},
        "dense_shapes": {"P": dense[0].shape, "R": dense[3].shape},
        "accuracy": accuracy,
        "max_rel_diff": max(max(v["vs_run_cohort"], v["vs_kernel"]) for v in accuracy.values()),
        "accuracy_ok": ok,
        "summary": summary.round(3).to_dict(orient="index"),
        "times": t,
        "ratios": ratios,
        "breakdown": engine_breakdown(model, params, repeat) if profile else None,
    }


# ----------------------------------------------------------------------------- reporting
def _threading_layer() -> str:
    try:
        return numba.threading_layer()  # valid once a parallel kernel has run
    except ValueError:
        return "none (no parallel region ran)"


def _git(*args: str) -> str | None:
    root = Path(sim.__file__).resolve().parents[1]
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def environment() -> dict:
    modified = _git("status", "--porcelain", "--", "sim")
    return {
        "library_commit": _git("rev-parse", "--short", "HEAD"),
        "library_modified": modified.splitlines() if modified else [],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "os_cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "hta_sim": sim.__version__,
        "threading_layer": _threading_layer(),
        "numba_threads": numba.get_num_threads(),
        "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS,
    }


_LABELS = {
    "run_cohort": "(a) run_cohort end to end",
    "kernel": "(b) kernel alone",
    "numpy_loop": "(c) numpy, loop per strategy+cycle",
    "numpy_batched": "(c') numpy, batched",
    "numpy_einsum": "(c'') numpy, einsum per strategy+cycle",
    "build_arrays": "(d) build_arrays alone",
    "dense_arrays": "(d2) dense P, R for numpy (no ratio)",
}


def print_variant(r: dict) -> None:
    n = r["n_draws"]
    e = r["engine_arrays"]
    print(f"\n== variant {r['variant']}: {n} draws; engine pool {e['pool_values']:,} values "
          f"({e['pool_MB']:.1f} MB), {e['transition_entries']} transition + {e['reward_entries']} reward entries; "
          f"numpy dense P {r['dense_shapes']['P']}, "
          f"R {r['dense_shapes']['R']}")
    for name, acc in r["accuracy"].items():
        print(f"   accuracy numpy {name:8s}: max relative difference vs run_cohort {acc['vs_run_cohort']:.1e} "
              f"({acc['worst_column']}), vs kernel {acc['vs_kernel']:.1e}  (tolerance {RTOL:g})")
    print("   mean per strategy: " + "; ".join(
        f"{s} cost {v['cost']:,.0f} QALY {v['qaly']:.3f}" for s, v in r["summary"].items()))
    print(f"   {'':38s} {'best s':>8s} {'median s':>9s} {'draws/s':>10s}")
    for key, label in _LABELS.items():
        s = r["times"][key]
        print(f"   {label:38s} {s['best']:8.4f} {s['median']:9.4f} {n / s['best']:10,.0f}")
    q = r["ratios"]
    for ref in REFERENCES:
        print(f"   numpy ({ref}) / engine: end to end (a-b+c)/(a) {q[f'e2e_{ref}_best']:.2f}x best, "
              f"{q[f'e2e_{ref}_median']:.2f}x median; kernel only (c)/(b) {q[f'kernel_{ref}_best']:.2f}x best, "
              f"{q[f'kernel_{ref}_median']:.2f}x median")
    worst = min(q[f"e2e_{ref}_median"] for ref in REFERENCES)
    print(f"   target engine >= 10x numpy end to end: {'met' if worst >= 10 else 'MISSED'} "
          f"(worst median ratio {worst:.2f}x)")
    b = r.get("breakdown")
    if b:
        tot = b["total"]
        parts = ", ".join(f"{k} {b[k]:.4f} s ({100 * b[k] / tot:.0f} %)"
                          for k in ("resolve_draws", "build_arrays", "kernel", "result (DataFrame)", "other")
                          if k in b)
        print(f"   run_cohort under cProfile (median, {b['chunks']} chunk(s)): total {tot:.4f} s = {parts}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--variant", choices=VARIANTS + ("both",), default="both")
    ap.add_argument("--cold-compile", action="store_true",
                    help="also time the first call in a fresh process with an empty Numba cache")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile breakdown of run_cohort")
    ap.add_argument("--json", type=Path, help="write all results to this JSON file")
    ap.add_argument("--_first-call", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sim.tune_process()  # as the command line does: sleeping OpenMP workers, freed memory kept
    if args._first_call:
        print(json.dumps(first_call()))
        return {}

    first = first_call()  # warm-up: compile or load the kernel before anything is timed
    results = {"environment": environment(), "first_call": first,
               "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    env = results["environment"]
    dirty = f" + uncommitted changes to {', '.join(x.split()[-1] for x in env['library_modified'])}" \
        if env["library_modified"] else ""
    print(f"library at commit {env['library_commit']}{dirty}")
    print(f"hta-sim {env['hta_sim']} | numba {env['numba']} | numpy {env['numpy']} | pandas {env['pandas']} "
          f"| python {env['python']} | {env['machine']}")
    print(f"cpus {env['os_cpu_count']} (affinity {env['affinity']}, load avg {env['loadavg_1min']:.2f}) | "
          f"numba threading layer {env['threading_layer']} | numba threads {env['numba_threads']}")
    print(f"first run_cohort call (2 draws): {first['seconds']:.3f} s, {first['source']}")
    if args.cold_compile:
        cold = cold_compile()
        results["cold_compile"] = cold
        print(f"first call in a fresh process with an empty Numba cache: {cold['seconds']:.3f} s "
              f"({cold['source']}; process wall time incl. imports {cold['process_wall_seconds']:.2f} s)")
    results["variants"] = {}
    for v in VARIANTS if args.variant == "both" else (args.variant,):
        with warnings.catch_warnings():
            # sim.values.HazardRatio evaluates log1p(-p); at p = 1 (life-table qx = 1 from age 100)
            # numpy warns "divide by zero" although the result, 1.0, is right.  Silenced here only.
            warnings.filterwarnings("ignore", "divide by zero encountered in log1p", RuntimeWarning)
            r = bench_variant(v, args.draws, args.repeat, args.seed, profile=not args.no_profile)
        results["variants"][v] = r
        print_variant(r)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
