"""Hand-fused references of the speed benchmark (``bench_speed.py``), written for the benchmark.

One Numba kernel per model: it builds the model's transition probabilities in
registers from the draw's parameter values and runs the trace in parallel over
draws (``prange``), accumulating discounted costs, QALYs and life-years; no value
pool, no checks, nothing shared with hta-sim's engine. Beside each kernel, the same
model in plain numpy, vectorised over draws (or patients). Every reference is
checked against hta-sim (``check_*``: max relative difference, must be <= 1e-9):
the tests run the checks on a few draws (``tests/test_bench_references.py``).

Models:

* ``sick_sicker``: DARTH's Sick-Sicker model (Alarid-Escudero et al., Med Decis Making
  2023;43(1):3-20), 2 strategies (standard of care; treatments A and B together),
  75 annual cycles, half-cycle correction, 3 % discounting. Parameters as annual
  probabilities with illustrative PSA distributions (benchmark values, not a
  published analysis): the transition values are those of bench_psa.py.
* ``thr``: Briggs et al. Exercise 3.5 (``cohorts/thr_briggs``) with illustrative PSA
  distributions around the book's base case (benchmark values).
* ``flagship``: ``cohorts/omt_vs_cabg`` as specified at the time of writing (competing
  hazards per monthly cycle: CV death by period and, after CABG, an early hazard ratio
  and a fading effect; life-table background mortality; crossover by period; the
  operation month; hospitalisation costs and QALY losses per state; utilities by the
  age norms and the STICH trajectory; transition and start rewards). Parameter values
  are read from the draws (the table may change); the time profiles from the model's
  helpers. If the flagship's structure changes, :func:`flagship_fingerprint` no longer
  matches :data:`FLAGSHIP_FINGERPRINT` and the reference must be updated to the new
  specification (the script and the test say so).
* ``microsim``: the Sick-Sicker model above over 30 cycles run patient by patient as
  :func:`sim.run_markov_patients` does (the same counter-based random numbers, slot 0
  for the start state, slot ``t + 1`` for the transition of cycle ``t``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from sim import ByStrategy, C, HazardRatio, LifeTable, Model, Parameter, ParameterTable

SRC = "illustrative benchmark value (after DARTH Sick-Sicker; not verified against a publication)"
SS_STRATEGIES = ("SoC", "AB")


# ============================================================================ Sick-Sicker
def sick_sicker(horizon: int = 75) -> tuple[Model, ParameterTable]:
    """The 2-strategy Sick-Sicker model and its PSA table (no callables: every value declarative)."""
    table = ParameterTable([
        Parameter("p_HS1", 0.15, "beta", {"mean": 0.15, "se": 0.02}, source=SRC),
        Parameter("p_S1H", 0.5, "beta", {"mean": 0.5, "se": 0.05}, source=SRC),
        Parameter("p_S1S2", 0.105, "beta", {"mean": 0.105, "se": 0.015}, source=SRC),
        Parameter("p_HD", 0.005, "beta", {"mean": 0.005, "se": 0.001}, source=SRC),
        Parameter("hr_S1", 3.0, "lognormal", {"mean": 3.0, "se": 0.3}, source=SRC),
        Parameter("hr_S2", 10.0, "lognormal", {"mean": 10.0, "se": 1.0}, source=SRC),
        Parameter("hr_B", 0.6, "lognormal", {"ci_low": 0.45, "ci_high": 0.8}, source=SRC),
        Parameter("c_H", 2000, "gamma", {"mean": 2000, "se": 200}, source=SRC),
        Parameter("c_S1", 4000, "gamma", {"mean": 4000, "se": 400}, source=SRC),
        Parameter("c_S2", 15000, "gamma", {"mean": 15000, "se": 1500}, source=SRC),
        Parameter("c_A", 12000, "gamma", {"mean": 12000, "se": 1000}, source=SRC),
        Parameter("c_B", 13000, "gamma", {"mean": 13000, "se": 1000}, source=SRC),
        Parameter("u_S1", 0.75, "beta", {"mean": 0.75, "se": 0.03}, source=SRC),
        Parameter("u_S2", 0.5, "beta", {"mean": 0.5, "se": 0.05}, source=SRC),
        Parameter("u_trtA", 0.95, "beta", {"mean": 0.95, "se": 0.02}, source=SRC),
    ])
    drug_a = ByStrategy(SoC=0.0, AB="c_A")
    drug_b = ByStrategy(SoC=0.0, AB="c_B")
    model = Model(
        name="sick_sicker_2", states=["H", "S1", "S2", "D"], strategies=list(SS_STRATEGIES),
        start={"H": 1.0}, horizon=horizon, parameters=table.base,
        transitions={
            ("H", "H"): C, ("H", "S1"): "p_HS1", ("H", "D"): "p_HD",
            ("S1", "H"): "p_S1H", ("S1", "S2"): HazardRatio("p_S1S2", ByStrategy(SoC=1.0, AB="hr_B")),
            ("S1", "D"): HazardRatio("p_HD", "hr_S1"), ("S1", "S1"): C,
            ("S2", "D"): HazardRatio("p_HD", "hr_S2"), ("S2", "S2"): C,
        },
        costs={"state": {"H": "c_H", "S1": "c_S1", "S2": "c_S2"},
               "drug_a": {"S1": drug_a, "S2": drug_a}, "drug_b": {"S1": drug_b, "S2": drug_b}},
        utilities={"H": 1.0, "S1": ByStrategy(SoC="u_S1", AB="u_trtA"), "S2": "u_S2"},
        dead=["D"], correction="half-cycle", discount_costs=0.03, discount_outcomes=0.03,
    )
    return model, table


SS_PARAMS = ("p_HS1", "p_S1H", "p_S1S2", "p_HD", "hr_S1", "hr_S2", "hr_B", "c_H", "c_S1", "c_S2", "c_A", "c_B",
             "u_S1", "u_S2", "u_trtA")


def point_weights(T: int, cycle_length: float, rate: float, correction: str) -> np.ndarray:
    """Weight x discount factor of trace points 0..T (rewards constant over cycles)."""
    w = np.ones(T + 1)
    if correction == "half-cycle":
        w[0] = w[T] = 0.5
    elif correction == "end":
        w[0] = 0.0
    else:
        raise ValueError(correction)
    return w * (1.0 + rate) ** -(np.arange(T + 1) * cycle_length)


@njit(cache=True, inline="always")
def _hr(p, h):
    return -np.expm1(h * np.log1p(-p))


@njit(parallel=True, cache=True)
def sick_sicker_kernel(v, wc, we, out):  # pragma: no cover - compiled
    """Totals ``out (n, 2, 3)``: discounted cost, QALYs, life-years; ``v (15, n)`` in SS_PARAMS order."""
    n = v.shape[1]
    T = wc.shape[0] - 1
    for d in prange(n):
        p_HS1, p_S1H, p_S1S2, p_HD = v[0, d], v[1, d], v[2, d], v[3, d]
        hr_S1, hr_S2, hr_B = v[4, d], v[5, d], v[6, d]
        c_H, c_S1, c_S2, c_A, c_B = v[7, d], v[8, d], v[9, d], v[10, d], v[11, d]
        u_S1, u_S2, u_A = v[12, d], v[13, d], v[14, d]
        p_S1D = _hr(p_HD, hr_S1)
        p_S2D = _hr(p_HD, hr_S2)
        for k in range(2):
            p12 = p_S1S2 if k == 0 else _hr(p_S1S2, hr_B)
            drug = 0.0 if k == 0 else c_A + c_B
            u1 = u_S1 if k == 0 else u_A
            p00 = 1.0 - p_HS1 - p_HD
            p11 = 1.0 - p_S1H - p12 - p_S1D
            p22 = 1.0 - p_S2D
            r0c, r1c, r2c = c_H, c_S1 + drug, c_S2 + drug
            m0, m1, m2 = 1.0, 0.0, 0.0
            cost = qaly = ly = 0.0
            for t in range(T + 1):
                cost += wc[t] * (m0 * r0c + m1 * r1c + m2 * r2c)
                qaly += we[t] * (m0 + m1 * u1 + m2 * u_S2)
                ly += we[t] * (m0 + m1 + m2)
                n0 = m0 * p00 + m1 * p_S1H
                n1 = m0 * p_HS1 + m1 * p11
                n2 = m1 * p12 + m2 * p22
                m0, m1, m2 = n0, n1, n2
            out[d, k, 0] = cost
            out[d, k, 1] = qaly
            out[d, k, 2] = ly


def sick_sicker_fused(values: dict, T: int = 75) -> np.ndarray:
    """Run :func:`sick_sicker_kernel` on parameter arrays; returns ``(n, 2, 3)``."""
    v = np.stack([np.asarray(values[p], dtype=float) for p in SS_PARAMS])
    w = point_weights(T, 1.0, 0.03, "half-cycle")
    out = np.empty((v.shape[1], 2, 3))
    sick_sicker_kernel(v, w, w, out)
    return out


def sick_sicker_numpy(values: dict, T: int = 75) -> np.ndarray:
    """The same model in numpy, vectorised over draws (a matrix product per strategy and cycle)."""
    v = {p: np.asarray(values[p], dtype=float) for p in SS_PARAMS}
    n = len(v["p_HS1"])
    w = point_weights(T, 1.0, 0.03, "half-cycle")
    out = np.empty((n, 2, 3))
    for k in range(2):
        P = np.zeros((n, 4, 4))
        hrb = np.ones(n) if k == 0 else v["hr_B"]
        P[:, 0, 1], P[:, 0, 3] = v["p_HS1"], v["p_HD"]
        P[:, 0, 0] = 1 - v["p_HS1"] - v["p_HD"]
        P[:, 1, 0], P[:, 1, 2], P[:, 1, 3] = v["p_S1H"], -np.expm1(hrb * np.log1p(-v["p_S1S2"])), \
            -np.expm1(v["hr_S1"] * np.log1p(-v["p_HD"]))
        P[:, 1, 1] = 1 - P[:, 1, 0] - P[:, 1, 2] - P[:, 1, 3]
        P[:, 2, 3] = -np.expm1(v["hr_S2"] * np.log1p(-v["p_HD"]))
        P[:, 2, 2] = 1 - P[:, 2, 3]
        P[:, 3, 3] = 1.0
        drug = np.zeros(n) if k == 0 else v["c_A"] + v["c_B"]
        R = np.zeros((n, 4, 3))
        R[:, 0, 0], R[:, 1, 0], R[:, 2, 0] = v["c_H"], v["c_S1"] + drug, v["c_S2"] + drug
        R[:, 0, 1], R[:, 1, 1], R[:, 2, 1] = 1.0, (v["u_S1"] if k == 0 else v["u_trtA"]), v["u_S2"]
        R[:, :3, 2] = 1.0
        m = np.zeros((n, 1, 4))
        m[:, 0, 0] = 1.0
        acc = np.zeros((n, 3))
        for t in range(T + 1):
            acc += w[t] * np.matmul(m, R)[:, 0]
            if t < T:
                m = np.matmul(m, P)
        out[:, k] = acc
    return out


# ============================================================================ THR (Briggs Ex. 3.5)
THR_PARAMS = ("age_init", "male", "omrPTHR", "omrRTHR", "rrr", "cons", "ageC", "maleC", "lngamma", "lnrrNP1",
              "u_successP", "u_revisionTHR", "u_successR", "c_revisionTHR", "c_standard", "c_np1")
THR_SRC = "illustrative benchmark distribution around Briggs et al. 2006 Ex. 3.5's base case"


def thr() -> tuple[Model, ParameterTable]:
    """The THR model (``cohorts.thr_briggs``) and a PSA table around its base case."""
    from cohorts import thr_briggs

    base = thr_briggs.parameters().base
    dist = {
        "omrPTHR": ("beta", 0.005), "omrRTHR": ("beta", 0.005), "rrr": ("beta", 0.01),
        "u_successP": ("beta", 0.02), "u_revisionTHR": ("beta", 0.05), "u_successR": ("beta", 0.03),
        "c_revisionTHR": ("gamma", 500.0), "cons": ("normal", 0.2), "ageC": ("normal", 0.005),
        "maleC": ("normal", 0.1), "lngamma": ("normal", 0.03), "lnrrNP1": ("normal", 0.3),
    }
    rows = []
    for name, value in base.items():
        if name in dist:
            kind, se = dist[name]
            rows.append(Parameter(name, value, kind, {"mean": value, "se": se}, source=THR_SRC))
        else:
            rows.append(Parameter(name, value, source=THR_SRC))
    return thr_briggs.build(), ParameterTable(rows)


def thr_tables() -> tuple[np.ndarray, int]:
    """Annual probability of death by (sex 0 female / 1 male, age - min age) and the first age."""
    from cohorts import thr_briggs

    lt: LifeTable = thr_briggs.mortality_table()
    q = np.stack([np.asarray(lt.values["female"], dtype=float), np.asarray(lt.values["male"], dtype=float)])
    return q, int(lt.min_age)


@njit(parallel=True, cache=True)
def thr_kernel(v, q, min_age, wc, we, out):  # pragma: no cover - compiled
    """Totals ``out (n, 2, 3)``: discounted cost, QALYs, life-years; ``v (16, n)`` in THR_PARAMS order."""
    n = v.shape[1]
    T = wc.shape[0] - 1
    A = q.shape[1]
    for d in prange(n):
        age0, male = v[0, d], v[1, d]
        omrP, omrR, rrr = v[2, d], v[3, d], v[4, d]
        lam0 = np.exp(v[5, d] + v[6, d] * age0 + v[7, d] * male)
        g = np.exp(v[8, d])
        rr = np.exp(v[9, d])
        uP, uRev, uR = v[10, d], v[11, d], v[12, d]
        cRev = v[13, d]
        sex = 1 if male == 1 else 0
        for k in range(2):
            lam = lam0 if k == 0 else lam0 * rr
            m0, m1, m2, m3 = 1.0, 0.0, 0.0, 0.0  # PrimaryTHR, SuccessP, RevisionTHR, SuccessR
            cost = (v[14, d] if k == 0 else v[15, d])  # prosthesis at time 0
            qaly = ly = 0.0
            for t in range(T + 1):
                if t > 0:  # correction "end": the point t carries cycle t-1's rewards
                    cost += wc[t] * (m2 * cRev)
                    qaly += we[t] * (m1 * uP + m2 * uRev + m3 * uR)
                    ly += we[t] * (m0 + m1 + m2 + m3)
                if t == T:
                    break
                a = int(np.floor(age0 + t + 1.0 + 1e-9)) - min_age
                a = min(a, A - 1)
                bg = q[sex, a]
                j = float(t)
                prev = -np.expm1(lam * (j ** g - (j + 1.0) ** g))
                n1 = m0 * (1.0 - omrP) + m1 * (1.0 - prev - bg)
                n2 = m1 * prev + m3 * rrr
                n3 = m2 * (1.0 - (omrR + bg)) + m3 * (1.0 - rrr - bg)
                m0, m1, m2, m3 = 0.0, n1, n2, n3
            out[d, k, 0] = cost
            out[d, k, 1] = qaly
            out[d, k, 2] = ly


def thr_fused(values: dict, T: int = 60) -> np.ndarray:
    """Run :func:`thr_kernel` on parameter arrays; returns ``(n, 2, 3)``."""
    n = max(np.size(values[p]) for p in THR_PARAMS)
    v = np.stack([np.broadcast_to(np.asarray(values[p], dtype=float), (n,)) for p in THR_PARAMS])
    q, a0 = thr_tables()
    out = np.empty((n, 2, 3))
    thr_kernel(v, q, a0, point_weights(T, 1.0, 0.06, "end"), point_weights(T, 1.0, 0.015, "end"), out)
    return out


def thr_numpy(values: dict, T: int = 60) -> np.ndarray:
    """The THR model in numpy, vectorised over draws."""
    n = max(np.size(values[p]) for p in THR_PARAMS)
    v = {p: np.broadcast_to(np.asarray(values[p], dtype=float), (n,)) for p in THR_PARAMS}
    q, a0 = thr_tables()
    wc, we = point_weights(T, 1.0, 0.06, "end"), point_weights(T, 1.0, 0.015, "end")
    lam0 = np.exp(v["cons"] + v["ageC"] * v["age_init"] + v["maleC"] * v["male"])
    g = np.exp(v["lngamma"])
    sex = (v["male"] == 1).astype(np.int64)
    out = np.empty((n, 2, 3))
    for k in range(2):
        lam = lam0 if k == 0 else lam0 * np.exp(v["lnrrNP1"])
        m = np.zeros((n, 4))
        m[:, 0] = 1.0
        cost = (v["c_standard"] if k == 0 else v["c_np1"]).copy()
        qaly = np.zeros(n)
        ly = np.zeros(n)
        for t in range(T + 1):
            if t > 0:
                cost += wc[t] * m[:, 2] * v["c_revisionTHR"]
                qaly += we[t] * (m[:, 1] * v["u_successP"] + m[:, 2] * v["u_revisionTHR"] + m[:, 3] * v["u_successR"])
                ly += we[t] * m.sum(axis=1)
            if t == T:
                break
            a = np.minimum(np.floor(v["age_init"] + t + 1.0 + 1e-9).astype(np.int64) - a0, q.shape[1] - 1)
            bg = q[sex, a]
            prev = -np.expm1(lam * (t ** g - (t + 1.0) ** g))
            nm = np.empty_like(m)
            nm[:, 0] = 0.0
            nm[:, 1] = m[:, 0] * (1 - v["omrPTHR"]) + m[:, 1] * (1 - prev - bg)
            nm[:, 2] = m[:, 1] * prev + m[:, 3] * v["rrr"]
            nm[:, 3] = m[:, 2] * (1 - (v["omrRTHR"] + bg)) + m[:, 3] * (1 - v["rrr"] - bg)
            m = nm
        out[:, k] = np.stack([cost, qaly, ly], axis=1)
    return out


# ============================================================================ flagship (omt_vs_cabg)
#: The parameters a flagship draw may vary, in the kernel's order (read per draw).
FLAGSHIP_PARAMS = ("k_other", "h_cv_med_y0", "h_cv_med_y5", "h_cv_post_y2", "h_cv_post_y5", "hr_cv_post_early",
                   "p_op", "p_no_cabg", "r_cross_early", "r_cross_late", "r_hosp_med", "hr_hosp_cabg",
                   "r_hosp_noncv", "u_med", "du_cabg", "u_periop", "q_hosp_loss", "c_cabg", "c_hosp", "c_hosp_noncv",
                   "c_followup", "c_drugs")
#: Parameters that shape the time profiles (life table, age norms, CABG effect and utility trajectory):
#: the reference takes them from the first draw and requires them fixed across draws.
FLAGSHIP_FIXED = ("male_share", "age_start", "early_post_years", "effect_years", "wane_years", "du_profile",
                  "age_utility", "horizon_years")
#: The structure the flagship reference was written for (see :func:`flagship_fingerprint`).
FLAGSHIP_FINGERPRINT = (
    ("Med", "Surgery", "PostCABG", "DeadCV", "DeadOther"), ("OMT", "CABG"), 480, 1.0 / 12.0, "half-cycle",
    (("Med", "DeadCV"), ("Med", "DeadOther"), ("Med", "Med"), ("Med", "Surgery"), ("PostCABG", "DeadCV"),
     ("PostCABG", "DeadOther"), ("PostCABG", "PostCABG"), ("Surgery", "DeadCV"), ("Surgery", "PostCABG")),
    ("hospital", "medical", "procedure"),
    (("hospital", ("Med", "PostCABG")), ("medical", ("Med", "PostCABG", "Surgery"))),
    ("Med", "PostCABG", "Surgery"), (("Med", "Surgery"),), ("Surgery",), ("Surgery",),
    ("age_start", "age_utility", "c_cabg", "c_drugs", "c_followup", "c_hosp", "c_hosp_noncv", "du_cabg",
     "du_profile", "early_post_years", "effect_years", "h_cv_med_y0", "h_cv_med_y5", "h_cv_post_y2",
     "h_cv_post_y5", "horizon_years", "hr_cv_post_early", "hr_hosp_cabg", "k_other", "male_share", "p_no_cabg",
     "p_op", "q_hosp_loss", "r_cross_early", "r_cross_late", "r_hosp_med", "r_hosp_noncv", "u_med", "u_periop",
     "wane_years"),
)


def flagship_fingerprint(model: Model) -> tuple:
    """What the flagship reference depends on: states, strategies, cycles, correction, transitions, rewards, parameters.

    The parameter names are part of it: a model whose values change form (new
    hazards, utility trajectories) with the same states changes its parameters too.
    Parameter *values* are not: the reference reads them from the draws.
    """
    comps = tuple(sorted(set(model.costs) | set(model.transition_costs) | set(model.start_costs)))
    where = tuple((c, tuple(sorted(model.costs[c]))) for c in sorted(model.costs))
    return (tuple(model.states), tuple(model.strategies), model.n_cycles, model.cycle_length, model.correction,
            tuple(sorted(model.transitions)), comps, where, tuple(sorted(model.utilities)),
            tuple(sorted(model.transition_utilities)), tuple(sorted(model.start_costs.get("procedure", {}))),
            tuple(sorted(model.start_utilities)), tuple(sorted(model.parameters)))


def flagship() -> tuple[Model, ParameterTable]:
    """The flagship model and its parameter table."""
    from cohorts import omt_vs_cabg

    return omt_vs_cabg.build(), omt_vs_cabg.parameters()


def flagship_profiles(model: Model, values: dict) -> tuple[np.ndarray, ...]:
    """Per-cycle profiles ``(T + 1,)`` that depend on time and on fixed parameters only.

    Background hazard (life table, share-weighted by sex), the 5-year break, the early
    post-CABG period, the weight of the CABG effect, the age-norm utility ratio and the
    CABG utility trajectory, at ``t.year = j h``; from the model's published helpers
    (its definitions of the life-table hazard, the EQ-5D norms and the STICH trajectory).
    """
    from cohorts import omt_vs_cabg as F

    fixed = {}
    for k in FLAGSHIP_FIXED:
        a = np.ravel(np.asarray(values.get(k, model.parameters[k]), dtype=float))
        if np.any(a != a[0]):
            raise ValueError(f"flagship reference: {k} varies across draws; the reference needs it fixed")
        fixed[k] = float(a[0])
    T, h = model.n_cycles, model.cycle_length
    year = np.arange(T + 1) * h
    bg = F.background_hazard(fixed["male_share"], fixed["age_start"] + year)
    early = (year < F.CROSS_BREAK_YEARS - 1e-9).astype(float)
    epost = (year < fixed["early_post_years"] - 1e-9).astype(float)
    w = F.effect_weight({"effect_years": fixed["effect_years"], "wane_years": fixed["wane_years"]}, year)
    age = (F.age_utility_ratio(fixed["male_share"], fixed["age_start"], year) if fixed["age_utility"] > 0.5
           else np.ones(T + 1))
    du = F.du_profile(year * 12.0) if fixed["du_profile"] > 0.5 else np.ones(T + 1)
    return tuple(np.ascontiguousarray(x, dtype=float) for x in (bg, early, epost, w, age, du))


@njit(inline="always")
def _competing_frac(total, h):
    return -np.expm1(-total * h) / total if total > 0 else h


@njit(parallel=True, cache=True)
def flagship_kernel(v, bg, early, epost, wt, age, du, h, dc, de, dtc, dte, out):  # pragma: no cover - compiled
    """Totals ``out (n, 2, 3)``: discounted cost, QALYs, life-years; ``v (22, n)`` in FLAGSHIP_PARAMS order.

    ``bg, early, epost, wt, age, du (T + 1,)``: the per-cycle profiles of :func:`flagship_profiles`;
    ``dc, de (T + 1,)`` discount factors of the trace points, ``dtc, dte (T,)`` of the end of
    cycle j (transition rewards). Half-cycle correction: point k counts half of cycle k's
    rewards (k < T) and half of cycle k - 1's (k > 0). Both strategies run in one loop.
    """
    n = v.shape[1]
    T = bg.shape[0] - 1
    for d in prange(n):
        k_other, cv0, cv5, post2, post5, hr_early = v[0, d], v[1, d], v[2, d], v[3, d], v[4, d], v[5, d]
        p_op, p_no, r_e, r_l = v[6, d], v[7, d], v[8, d], v[9, d]
        r_hosp, hr_hosp, r_ncv = v[10, d], v[11, d], v[12, d]
        u_med, du_cabg, u_periop, q_loss = v[13, d], v[14, d], v[15, d], v[16, d]
        c_cabg, c_hosp, c_ncv, c_fu, c_drugs = v[17, d], v[18, d], v[19, d], v[20, d], v[21, d]
        # rewards constant over cycles
        med_cost = (c_fu + c_drugs) * h + (r_hosp * c_hosp + r_ncv * c_ncv) * h
        srg_cost = (c_fu + c_drugs) * h
        post_cost = (c_fu + c_drugs) * h + (r_hosp * hr_hosp * c_hosp + r_ncv * c_ncv) * h
        med_hl = (r_hosp + r_ncv) * q_loss
        post_hl = (r_hosp * hr_hosp + r_ncv) * q_loss
        srg_u = (u_med + du_cabg) * h
        loss = -(u_med + du_cabg - u_periop) / 12.0
        # trace: strategy a (OMT), b (CABG)
        a_med, a_srg, a_post = 1.0, 0.0, 0.0
        b_med, b_srg, b_post = p_no, 1.0 - p_no, 0.0
        a_c, a_q, a_l = 0.0, 0.0, 0.0
        b_c, b_q, b_l = b_srg * c_cabg, b_srg * loss, 0.0  # start rewards (not discounted)
        pc_a = pc_b = pq_a = pq_b = pl_a = pl_b = 0.0  # cycle k - 1's rewards on this point's trace
        for k in range(T + 1):
            # point k: half of the previous cycle's rewards, half of this cycle's
            if k > 0:
                med_u = (u_med * age[k - 1] - med_hl) * h
                post_u = ((u_med + du_cabg * du[k - 1]) * age[k - 1] - post_hl) * h
                pc_a = a_med * med_cost + a_srg * srg_cost + a_post * post_cost
                pc_b = b_med * med_cost + b_srg * srg_cost + b_post * post_cost
                pq_a = a_med * med_u + a_srg * srg_u + a_post * post_u
                pq_b = b_med * med_u + b_srg * srg_u + b_post * post_u
                pl_a = (a_med + a_srg + a_post) * h
                pl_b = (b_med + b_srg + b_post) * h
                a_c += 0.5 * dc[k] * pc_a
                b_c += 0.5 * dc[k] * pc_b
                a_q += 0.5 * de[k] * pq_a
                b_q += 0.5 * de[k] * pq_b
                a_l += 0.5 * de[k] * pl_a
                b_l += 0.5 * de[k] * pl_b
            if k == T:
                break
            med_u = (u_med * age[k] - med_hl) * h
            post_u = ((u_med + du_cabg * du[k]) * age[k] - post_hl) * h
            a_c += 0.5 * dc[k] * (a_med * med_cost + a_srg * srg_cost + a_post * post_cost)
            b_c += 0.5 * dc[k] * (b_med * med_cost + b_srg * srg_cost + b_post * post_cost)
            a_q += 0.5 * de[k] * (a_med * med_u + a_srg * srg_u + a_post * post_u)
            b_q += 0.5 * de[k] * (b_med * med_u + b_srg * srg_u + b_post * post_u)
            a_l += 0.5 * de[k] * (a_med + a_srg + a_post) * h
            b_l += 0.5 * de[k] * (b_med + b_srg + b_post) * h
            # cycle k's transition probabilities (exact competing risks)
            oth = k_other * bg[k]
            cv_med = cv0 if early[k] > 0 else cv5
            late = post2 if early[k] > 0 else post5
            post = hr_early * cv_med if epost[k] > 0 else late
            cv_post = cv_med * (post / cv_med) ** wt[k]
            cross = r_e if early[k] > 0 else r_l
            tot = cv_med + oth + cross
            f = _competing_frac(tot, h)
            p_cross = cross * f
            p_stay = 1.0 - (cv_med * f + oth * f + p_cross)
            f2 = _competing_frac(cv_post + oth, h)
            p_post_stay = 1.0 - (cv_post * f2 + oth * f2)
            a_mv = a_med * p_cross
            b_mv = b_med * p_cross
            a_c += dtc[k] * a_mv * c_cabg  # transition rewards in full, discounted at the cycle's end
            b_c += dtc[k] * b_mv * c_cabg
            a_q += dte[k] * a_mv * loss
            b_q += dte[k] * b_mv * loss
            a_med, a_srg, a_post = a_med * p_stay, a_mv, a_srg * (1.0 - p_op) + a_post * p_post_stay
            b_med, b_srg, b_post = b_med * p_stay, b_mv, b_srg * (1.0 - p_op) + b_post * p_post_stay
        out[d, 0, 0], out[d, 0, 1], out[d, 0, 2] = a_c, a_q, a_l
        out[d, 1, 0], out[d, 1, 1], out[d, 1, 2] = b_c, b_q, b_l


def _discounts(model: Model) -> tuple[np.ndarray, ...]:
    """Discount factors of the trace points and of the cycles' ends, costs and outcomes (constant annual rates)."""
    T, h = model.n_cycles, model.cycle_length
    out = []
    for r in (model.discount_costs, model.discount_outcomes):
        sched = getattr(r, "schedule", ((0.0, r),))
        if len(sched) != 1 or getattr(model, "discount_timing", "exact") != "exact":
            raise ValueError("flagship reference: constant annual discount rates, exact timing only")
        out.append((1.0 + float(sched[0][1])) ** -(np.arange(T + 1) * h))
    dc, de = out
    return dc, de, dc[1:].copy(), de[1:].copy()


def _flagship_inputs(model: Model, values: dict):
    n = max(np.size(values[p]) for p in FLAGSHIP_PARAMS)
    v = np.stack([np.broadcast_to(np.asarray(values[p], dtype=float), (n,)) for p in FLAGSHIP_PARAMS])
    return n, v, flagship_profiles(model, values), model.cycle_length, _discounts(model)


def flagship_fused(model: Model, values: dict) -> np.ndarray:
    """Run :func:`flagship_kernel`; returns ``(n, 2, 3)``: discounted cost, QALYs, life-years."""
    n, v, prof, h, disc = _flagship_inputs(model, values)
    out = np.empty((n, 2, 3))
    flagship_kernel(v, *prof, h, *disc, out)
    return out


def flagship_numpy(model: Model, values: dict) -> np.ndarray:
    """The flagship in numpy, vectorised over draws."""
    n, v, (bg, early, epost, wt, age, du), h, (dc, de, dtc, dte) = _flagship_inputs(model, values)
    P = dict(zip(FLAGSHIP_PARAMS, v, strict=True))
    T = model.n_cycles
    fu = (P["c_followup"] + P["c_drugs"]) * h
    cost_s = np.stack([fu + (P["r_hosp_med"] * P["c_hosp"] + P["r_hosp_noncv"] * P["c_hosp_noncv"]) * h, fu,
                       fu + (P["r_hosp_med"] * P["hr_hosp_cabg"] * P["c_hosp"]
                             + P["r_hosp_noncv"] * P["c_hosp_noncv"]) * h], axis=1)  # (n, 3)
    med_hl = (P["r_hosp_med"] + P["r_hosp_noncv"]) * P["q_hosp_loss"]
    post_hl = (P["r_hosp_med"] * P["hr_hosp_cabg"] + P["r_hosp_noncv"]) * P["q_hosp_loss"]
    loss = -(P["u_med"] + P["du_cabg"] - P["u_periop"]) / 12.0

    def util(j):  # (n, 3) QALYs per cycle j
        return np.stack([(P["u_med"] * age[j] - med_hl) * h, (P["u_med"] + P["du_cabg"]) * h,
                         ((P["u_med"] + P["du_cabg"] * du[j]) * age[j] - post_hl) * h], axis=1)

    out = np.empty((n, 2, 3))
    for s in range(2):
        m = np.zeros((n, 3))
        if s == 0:
            m[:, 0] = 1.0
        else:
            m[:, 0], m[:, 1] = P["p_no_cabg"], 1.0 - P["p_no_cabg"]
        cost, qaly, ly = m[:, 1] * P["c_cabg"], m[:, 1] * loss, np.zeros(n)
        for k in range(T + 1):
            for j, wgt in ((k - 1, k > 0), (k, k < T)):
                if wgt:
                    cost = cost + 0.5 * dc[k] * (m * cost_s).sum(axis=1)
                    qaly = qaly + 0.5 * de[k] * (m * util(j)).sum(axis=1)
                    ly = ly + 0.5 * de[k] * m.sum(axis=1) * h
            if k == T:
                break
            oth = P["k_other"] * bg[k]
            cv_med = P["h_cv_med_y0"] if early[k] else P["h_cv_med_y5"]
            post = P["hr_cv_post_early"] * cv_med if epost[k] else (P["h_cv_post_y2"] if early[k]
                                                                     else P["h_cv_post_y5"])
            cv_post = cv_med * (post / cv_med) ** wt[k]
            cross = P["r_cross_early"] if early[k] else P["r_cross_late"]
            tot = cv_med + oth + cross
            f = -np.expm1(-tot * h) / tot
            tot2 = cv_post + oth
            f2 = -np.expm1(-tot2 * h) / tot2
            moved = m[:, 0] * cross * f
            cost = cost + dtc[k] * moved * P["c_cabg"]
            qaly = qaly + dte[k] * moved * loss
            m = np.stack([m[:, 0] * (1.0 - (cv_med * f + oth * f + cross * f)), moved,
                          m[:, 1] * (1.0 - P["p_op"]) + m[:, 2] * (1.0 - (cv_post * f2 + oth * f2))], axis=1)
        out[:, s] = np.stack([cost, qaly, ly], axis=1)
    return out


# ============================================================================ microsimulation
_G = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)


@njit(inline="always")
def _mix(z):
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@njit(inline="always")
def _u(key, slot):
    z = _mix(key ^ (uint64(slot) * _G + uint64(3)))
    return (float(z >> uint64(11)) + 0.5) * 2.0 ** -53


@njit(parallel=True, cache=True)
def microsim_kernel(seed, draw, P, R, w, out):  # pragma: no cover - compiled
    """Per-patient totals ``out (N, K, NR)`` of a time-homogeneous model.

    ``P (K, S, S)`` transition probabilities, ``R (K, S, NR)`` rewards per cycle,
    ``w (2, NR, T + 1)``: weight x discount of point t (index 0 discounted, 1 not;
    only index 0 used). Start state: state 0 for everyone (slot 0 drawn and unused).
    """
    N, K, NR = out.shape
    S = P.shape[1]
    T = w.shape[2] - 1
    cum = np.empty((K, S, S))
    for k in range(K):
        for i in range(S):
            c = 0.0
            for j in range(S):
                c += P[k, i, j]
                cum[k, i, j] = c
    z = _mix(uint64(seed) * _G + _G)
    z = _mix(z ^ (uint64(draw) * _G + uint64(1)))
    for p in prange(N):
        key = _mix(z ^ (uint64(p) * _G + uint64(2)))
        for k in range(K):
            s = 0
            for r in range(NR):
                out[p, k, r] = 0.0
            for t in range(T + 1):
                for r in range(NR):
                    out[p, k, r] += w[0, r, t] * R[k, s, r]
                if t == T:
                    break
                u = _u(key, t + 1)
                j = 0
                while j < S - 1 and u > cum[k, s, j]:
                    j += 1
                s = j


def microsim_inputs(model: Model, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base-case ``P (K, S, S)``, rewards ``R (K, S, 3)`` (cost, QALY, LY) and weights of the Sick-Sicker model."""
    p = model.parameters
    P = np.zeros((2, 4, 4))
    R = np.zeros((2, 4, 3))
    for k in range(2):
        p12 = p["p_S1S2"] if k == 0 else -np.expm1(p["hr_B"] * np.log1p(-p["p_S1S2"]))
        p1d = -np.expm1(p["hr_S1"] * np.log1p(-p["p_HD"]))
        p2d = -np.expm1(p["hr_S2"] * np.log1p(-p["p_HD"]))
        P[k, 0] = [1 - p["p_HS1"] - p["p_HD"], p["p_HS1"], 0.0, p["p_HD"]]
        P[k, 1] = [p["p_S1H"], 1 - p["p_S1H"] - p12 - p1d, p12, p1d]
        P[k, 2] = [0.0, 0.0, 1 - p2d, p2d]
        P[k, 3, 3] = 1.0
        drug = 0.0 if k == 0 else p["c_A"] + p["c_B"]
        R[k, :3, 0] = [p["c_H"], p["c_S1"] + drug, p["c_S2"] + drug]
        R[k, :3, 1] = [1.0, p["u_S1"] if k == 0 else p["u_trtA"], p["u_S2"]]
        R[k, :3, 2] = 1.0
    w = point_weights(T, 1.0, 0.03, "half-cycle")
    return P, R, np.broadcast_to(w, (2, 3, T + 1)).copy()


def microsim_fused(model: Model, n_patients: int, seed: int) -> np.ndarray:
    """Per-patient totals ``(N, 2, 3)`` of the hand-fused loop over patients."""
    P, R, w = microsim_inputs(model, model.n_cycles)
    out = np.empty((n_patients, 2, 3))
    microsim_kernel(seed, 0, P, R, w, out)
    return out


def microsim_numpy(model: Model, n_patients: int, seed: int) -> np.ndarray:
    """The microsimulation in numpy, vectorised over patients (numpy's generator, not the engine's streams)."""
    P, R, w = microsim_inputs(model, model.n_cycles)
    cum = np.cumsum(P, axis=-1)
    T = model.n_cycles
    g = np.random.default_rng(seed)
    out = np.zeros((n_patients, 2, 3))
    u = g.random((T, n_patients))
    for k in range(2):
        s = np.zeros(n_patients, dtype=np.int64)
        for t in range(T + 1):
            out[:, k] += w[0, :, t] * R[k, s]
            if t == T:
                break
            s = np.minimum((u[t][:, None] > cum[k, s]).sum(axis=1), 3)
    return out


# ============================================================================ decision
@njit(cache=True)
def ceac_kernel(cost, qaly, wtp, out):  # pragma: no cover - compiled
    """Share of draws in which each strategy has the highest net benefit, per WTP: ``out (W, K)``."""
    n, K = cost.shape
    for w in range(wtp.shape[0]):
        lam = wtp[w]
        for k in range(K):
            out[w, k] = 0.0
        for d in range(n):
            best, bk = -np.inf, 0
            for k in range(K):
                nb = lam * qaly[d, k] - cost[d, k]
                if nb > best:
                    best, bk = nb, k
            out[w, bk] += 1.0
        for k in range(K):
            out[w, k] /= n


# ============================================================================ checks
def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Max relative difference (absolute below 1e-12 scale)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def engine_totals(outcomes) -> np.ndarray:
    """``(n, K, 3)`` discounted cost, QALYs, life-years from an outcomes table (draw- or patient-major)."""
    K = outcomes["strategy"].nunique()
    return outcomes[["cost", "qaly", "ly"]].to_numpy().reshape(-1, K, 3)
