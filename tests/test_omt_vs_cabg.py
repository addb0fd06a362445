"""The flagship model cohorts/omt_vs_cabg (STICH / STICHES): build, sources, calibration,
10-year survival against the trial, economics against Chew et al. (2022), PSA, and the
patient-level version against the cohort version."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohorts
import sim
from cohorts.omt_vs_cabg import _competing, background_hazard, build, operative_hazard, psa_table
from cohorts.omt_vs_cabg.calibration import FITTED, TARGETS, calibrate, survival_ci, trial_outcomes
from cohorts.omt_vs_cabg.patient import pathways
from sim.errors import HtaError
from sim.experiment.cli import main
from sim.patient import run_pathway

# Chew DS et al. Circulation 2022;145(11):819-28, Abstract: lifetime, 3 % discounting, US sector
CHEW = {"OMT": (74_894, 5.52), "CABG": (140_059, 6.53), "icer": 63_989}


@pytest.fixture(scope="module")
def base():
    return sim.run_cohort(build(), trace=True)


@pytest.fixture(scope="module")
def trial():
    return trial_outcomes(build())


def test_registered_and_builds():
    mod = cohorts.load("omt_vs_cabg")
    assert mod.EFFECT == "qaly" and "STICH" in mod.TITLE
    model = mod.build()
    assert model.strategies == ("OMT", "CABG")
    assert model.n_cycles == 480 and model.cycle_length == pytest.approx(1 / 12)
    assert model.correction == "half-cycle" and model.start_age == 60


def test_every_parameter_has_a_distribution_and_a_source():
    table = cohorts.load("omt_vs_cabg").parameter_table()
    assert len(table) >= 15
    assert table["source"].str.strip().str.len().gt(20).all()
    assert table["distribution"].str.strip().ne("").all()
    random = table[table["distribution"] != "fixed"]
    # only the cohort's age/sex and a scenario input are fixed
    assert set(table.loc[table["distribution"] == "fixed", "name"]) == {"age_start", "male_share",
                                                                        "theatre_slots_per_week"}
    assert {"p_op", "h_cv_med", "h_cv_post", "k_other", "c_cabg", "u_med"} <= set(random["name"])
    psa = psa_table()
    assert set(psa.names) == set(table["name"])


def test_base_case_reproduces_the_calibration_targets(trial):
    got = {
        "cross_56m_med": trial.loc["OMT", "crossed_56m"],
        "cross_120m_med": trial.loc["OMT", "crossed"],
        "cv_death_med": trial.loc["OMT", "cv_death"],
        "cv_death_cabg": trial.loc["CABG", "cv_death"],
        "noncv_death_pooled": (602 * trial.loc["OMT", "noncv_death"] + 610 * trial.loc["CABG", "noncv_death"]) / 1212,
    }
    for k, target in TARGETS.items():
        assert got[k] == pytest.approx(target, abs=1e-4), k


def test_calibration_refits_the_stored_values():
    """Starting 30 % away, the fit returns to the table's values (stored to 6 digits)."""
    stored = build().parameters
    fit = calibrate(build, start={k: 1.3 * stored[k] for k in FITTED})
    for k in FITTED:
        assert fit[k] == pytest.approx(stored[k], rel=2e-4), k


@pytest.mark.parametrize("arm", ["OMT", "CABG"])
def test_ten_year_survival_inside_the_trial_confidence_interval(trial, arm):
    est, lo, hi = survival_ci(arm)
    assert est == pytest.approx({"OMT": 1 - 0.661, "CABG": 1 - 0.589}[arm], abs=6e-4)  # 66.1 % and 58.9 % died
    assert lo < trial.loc[arm, "survival"] < hi


def test_survival_ci_derivation():
    est, lo, hi = survival_ci("OMT")
    half = 1.959964 * np.sqrt(est * (1 - est) / 602)
    assert (lo, hi) == pytest.approx((est - half, est + half))
    assert 0.30 < lo < est < hi < 0.38


def test_cabg_costs_more_upfront_dies_earlier_then_lives_longer(base):
    out = base.summary()
    assert out.loc["CABG", "cost_procedure"] > 4 * out.loc["OMT", "cost_procedure"]
    tr = base.trace.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    alive = 1 - tr["DeadCV"] - tr["DeadOther"]
    # early: operative deaths make CABG worse at 1 and 3 months ...
    assert alive.loc[("CABG", 1)] < alive.loc[("OMT", 1)] - 0.03
    assert alive.loc[("CABG", 3)] < alive.loc[("OMT", 3)]
    # ... the curves cross within three years, and CABG is better from then on
    diff = (alive.loc["CABG"] - alive.loc["OMT"]).to_numpy()
    cross = int(np.argmax(diff > 0))
    assert 6 < cross < 36 and np.all(diff[cross:-1] > 0)
    assert out.loc["CABG", "ly"] > out.loc["OMT", "ly"] + 0.5
    # and fewer CV hospitalisations per year alive after CABG
    assert out.loc["CABG", "cost_hospital"] < out.loc["OMT", "cost_hospital"]


def test_icer_finite_and_plausible_against_chew_2022(base):
    table = base.icer()
    row = table[table["strategy"] == "CABG"].iloc[0]
    assert np.isfinite(row["icer"]) and row["status"] == "non-dominated"
    # same order of magnitude as the trial-based $63,989/QALY, below the US $100,000 benchmark
    assert 0.4 * CHEW["icer"] < row["icer"] < 100_000
    out = base.summary()
    for arm, (cost, qaly) in (("OMT", CHEW["OMT"]), ("CABG", CHEW["CABG"])):
        assert out.loc[arm, "qaly"] == pytest.approx(qaly, rel=0.15)
        assert out.loc[arm, "cost"] == pytest.approx(cost, rel=0.4)


def test_background_hazard_mixes_the_sexes():
    table = sim.LifeTable.packaged("us_2017_nchs")
    m = -np.log1p(-table.annual_probability("male", 65))
    f = -np.log1p(-table.annual_probability("female", 65))
    assert background_hazard(0.88, 65) == pytest.approx(0.88 * m + 0.12 * f)
    assert background_hazard(1.0, 65.7) == pytest.approx(m)
    with pytest.raises(HtaError, match="male_share"):
        background_hazard(1.2, 65)


def test_operative_hazard_gives_p_op_within_a_month():
    h = operative_hazard(0.0507)
    assert -np.expm1(-h / 12) == pytest.approx(0.0507)


def test_competing_probabilities_match_hand_computation():
    """One month on medical therapy at age 60: P_i = h_i / H (1 - exp(-H/12))."""
    model = build()
    p = model.parameters
    res = sim.run_cohort(model, trace=True).trace
    first = res[(res["strategy"] == "OMT") & (res["cycle"] == 1)].set_index("state")["share"]
    h = {"cv": p["h_cv_med"], "other": p["k_other"] * background_hazard(p["male_share"], 60),
         "cross": p["r_cross_early"]}
    H = sum(h.values())
    assert first["DeadCV"] == pytest.approx(h["cv"] / H * -np.expm1(-H / 12), rel=1e-12)
    assert first["DeadOther"] == pytest.approx(h["other"] / H * -np.expm1(-H / 12), rel=1e-12)
    assert first["Surgery"] == pytest.approx(h["cross"] / H * -np.expm1(-H / 12), rel=1e-12)


def test_build_rejects_unknown_parameter_and_fractional_age():
    with pytest.raises(HtaError, match="unknown parameter 'h_cv'"):
        build({"h_cv": 0.1})
    with pytest.raises(HtaError, match="whole number"):
        build({"age_start": 60.5})


def test_psa_1000_draws_runs():
    psa = sim.run_psa(build(), psa_table(), n=1000, seed=11)
    out = psa.outcomes
    assert len(out) == 2000 and np.isfinite(out[["cost", "qaly", "ly"]].to_numpy()).all()
    means = out.groupby("strategy", observed=True)[["cost", "qaly"]].mean()
    det = sim.run_cohort(build()).summary()
    assert means.loc["CABG", "qaly"] == pytest.approx(det.loc["CABG", "qaly"], rel=0.05)
    ceac = psa.ceac([50_000, 100_000])
    assert ceac.shape[0] >= 2
    # same seed, different chunking: identical numbers
    again = sim.run_psa(build(), psa_table(), n=1000, seed=11, chunk_size=300)
    pd.testing.assert_frame_equal(out, again.outcomes)


def test_cli_info_and_run(capsys):
    assert main(["info", "omt_vs_cabg"]) == 0
    assert "p_op" in capsys.readouterr().out
    assert main(["run", "omt_vs_cabg"]) == 0
    text = capsys.readouterr().out
    assert "CABG" in text and "ICER" in text


# ------------------------------------------------------------------ patient-level version
def test_pathways_structure_and_errors():
    paths = pathways()
    assert set(paths) == {"OMT", "CABG"}
    assert paths["CABG"].start == "Assigned" and paths["OMT"].start == "Med"
    with pytest.raises(HtaError, match="unknown parameter 'p_opp'"):
        pathways({"p_opp": 0.1})
    with pytest.raises(HtaError, match="p_op"):
        pathways({"p_op": 1.0})


def test_patient_level_cabg_start_split_and_operative_deaths():
    n = 3000
    quiet = {"h_cv_post": 1e-9, "k_other": 1e-9, "h_cv_med": 1e-9, "r_hosp_med": 1e-9}
    out = run_pathway(pathways(quiet), n, seed=3).outcomes
    cabg = out[out["strategy"] == "CABG"]
    # the never-operated share p_no_cabg starts on medical therapy, and crosses over within
    # the 40 years with probability 1 - exp(-(5 r_early + 35 r_late)) when nobody dies
    p = build().parameters
    cross = -np.expm1(-(5 * p["r_cross_early"] + 35 * p["r_cross_late"]))
    operated = cabg["reached_Surgery"].mean()
    assert operated == pytest.approx(1 - p["p_no_cabg"] + p["p_no_cabg"] * cross, abs=0.012)
    omt = out[out["strategy"] == "OMT"]
    assert omt["reached_Surgery"].mean() == pytest.approx(cross, abs=0.03)
    died_cv = cabg["reached_DeadCV"].mean()
    assert died_cv == pytest.approx(operated * p["p_op"], abs=0.015)


def test_patient_level_agrees_with_cohort_within_3_se():
    n = 6000
    out = run_pathway(pathways(), n, seed=2026).outcomes
    cohort = sim.run_cohort(build()).summary()
    g = out.groupby("strategy", observed=True)
    cols = ["cost", "qaly", "ly", "ly_undisc"]
    mean, se = g[cols].mean(), g[cols].std(ddof=1) / np.sqrt(n)
    z = (mean - cohort[cols]) / se
    assert (z.abs() < 3).all().all(), z


# ------------------------------------------------------------------ properties
rates = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(a=rates, b=rates, c=rates, h=st.sampled_from([1 / 12, 0.25, 1.0]))
def test_competing_probabilities_are_a_distribution(a, b, c, h):
    """Leaving probabilities are >= 0, proportional to the hazards and sum to 1 - exp(-H h)."""
    p = _competing({"a": np.array(a), "b": np.array(b), "c": np.array(c)}, h)
    total = p["a"] + p["b"] + p["c"]
    assert min(p.values()) >= 0
    assert total == pytest.approx(-np.expm1(-(a + b + c) * h), abs=1e-12)
    if a + b + c > 0:
        assert p["a"] * (a + b + c) == pytest.approx(a * total, abs=1e-12)


@settings(max_examples=10, deadline=None)
@given(h_med=st.floats(0.01, 0.2), h_post=st.floats(0.01, 0.2), p_op=st.floats(0.0, 0.2))
def test_trace_conserves_mass_and_deaths_accumulate(h_med, h_post, p_op):
    tr = sim.run_cohort(build({"h_cv_med": h_med, "h_cv_post": h_post, "p_op": p_op}), trace=True).trace
    wide = tr.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    np.testing.assert_allclose(wide.sum(axis=1), 1.0, atol=1e-12)
    for s in ("OMT", "CABG"):
        dead = (wide.loc[s, "DeadCV"] + wide.loc[s, "DeadOther"]).to_numpy()
        assert np.all(np.diff(dead) >= -1e-15)


# ------------------------------------------------------------------ a slow, obvious oracle
def _naive(p: dict, strategy: str) -> dict:
    """The cohort model written out cycle by cycle with plain loops (docs/omt_vs_cabg.md)."""
    table = sim.LifeTable.packaged("us_2017_nchs")
    h, T, r = 1 / 12, 480, 0.03
    med, surg, post, dcv, doth = range(5)
    m = np.zeros(5)
    if strategy == "OMT":
        m[med] = 1.0
    else:
        m[surg], m[med] = 1 - p["p_no_cabg"], p["p_no_cabg"]
    u_post = p["u_med"] + p["du_cabg"]
    loss = (u_post - p["u_periop"]) / 12
    r_post = p["r_hosp_med"] * p["hr_hosp_cabg"]
    cost = m[surg] * p["c_cabg"]  # index operation, time 0, not discounted
    qaly = -m[surg] * loss
    ly = 0.0
    for j in range(T):
        age = int(np.floor(p["age_start"] + j * h + 1e-9))
        bg = (p["male_share"] * -np.log(1 - table.annual_probability("male", age))
              + (1 - p["male_share"]) * -np.log(1 - table.annual_probability("female", age)))
        other = p["k_other"] * bg
        cross = p["r_cross_early"] if j * h < 5 - 1e-9 else p["r_cross_late"]
        P = np.zeros((5, 5))
        H = p["h_cv_med"] + other + cross
        leave = 1 - np.exp(-H * h)
        P[med, dcv], P[med, doth], P[med, surg] = (p["h_cv_med"] / H * leave, other / H * leave,
                                                   cross / H * leave)
        P[med, med] = 1 - P[med].sum()
        P[surg, dcv], P[surg, post] = p["p_op"], 1 - p["p_op"]
        H = p["h_cv_post"] + other
        leave = 1 - np.exp(-H * h)
        P[post, dcv], P[post, doth] = p["h_cv_post"] / H * leave, other / H * leave
        P[post, post] = 1 - P[post].sum()
        P[dcv, dcv] = P[doth, doth] = 1.0
        nxt = m @ P
        c_state = np.array([p["c_followup"] * h + p["r_hosp_med"] * p["c_hosp"] * h, p["c_followup"] * h,
                            p["c_followup"] * h + r_post * p["c_hosp"] * h, 0, 0])
        u_state = np.array([p["u_med"] - p["r_hosp_med"] * p["q_hosp_loss"], u_post,
                            u_post - r_post * p["q_hosp_loss"], 0, 0]) * h
        alive = np.array([h, h, h, 0, 0])
        d0, d1 = (1 + r) ** -(j * h), (1 + r) ** -((j + 1) * h)
        cost += (m @ c_state * d0 + nxt @ c_state * d1) / 2
        qaly += (m @ u_state * d0 + nxt @ u_state * d1) / 2
        ly += (m @ alive * d0 + nxt @ alive * d1) / 2
        flow = m[med] * P[med, surg]  # crossovers: operation paid, QALY lost, at the cycle's end
        cost += flow * p["c_cabg"] * d1
        qaly -= flow * loss * d1
        m = nxt
    return {"cost": cost, "qaly": qaly, "ly": ly}


@pytest.mark.parametrize("overrides", [{}, {"h_cv_med": 0.12, "p_op": 0.1, "c_cabg": 50_000, "du_cabg": 0.0}])
def test_cohort_engine_matches_the_hand_written_model(overrides):
    model = build(overrides)
    got = sim.run_cohort(model).summary()
    for s in model.strategies:
        want = _naive(dict(model.parameters), s)
        for k, v in want.items():
            assert got.loc[s, k] == pytest.approx(v, rel=1e-10), (s, k)


def test_patient_level_psa_takes_the_parameter_table_draws():
    from sim.patient import run_patient_psa

    draws = psa_table().draw(3, seed=5).frame
    out = run_patient_psa(pathways, draws, n_patients=300, seed=1).outcomes
    assert len(out) == 6 and list(out["strategy"].cat.categories) == ["OMT", "CABG"]
    assert np.isfinite(out[["cost", "qaly", "ly", "cost_se"]].to_numpy()).all()
    assert out.loc[out["strategy"] == "CABG", "cost"].nunique() == 3  # each draw its own parameters


def test_older_cohort_dies_at_the_life_table_end_without_nan():
    """At 70 the 40-year horizon passes age 100, where the life table's q = 1: everyone left
    dies then (an infinite hazard in the competing-risk split), no NaN."""
    older = sim.run_cohort(build({"age_start": 70})).summary()
    base = sim.run_cohort(build()).summary()
    assert np.isfinite(older[["cost", "qaly", "ly"]].to_numpy()).all()
    assert (older["ly"] < base["ly"]).all()
    assert (older["ly_undisc"] <= 30.0 + 1e-9).all()  # nobody lives past 100


def test_sweep_experiment_is_valid():
    root = Path(__file__).resolve().parents[1]
    assert main(["validate", str(root / "experiments" / "omt_vs_cabg_sweep.toml")]) == 0
