"""The flagship model cohorts/omt_vs_cabg (STICH / STICHES): build, sources and price years,
calibration, survival and admissions against the trial, scenarios, the reconciliation with
Chew et al. (2022), PSA, and the plain patient-level version against the cohort version."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohorts
import sim
from cohorts.omt_vs_cabg import (
    _competing,
    age_utility_ratio,
    background_hazard,
    build,
    du_profile,
    effect_weight,
    operative_hazard,
    psa_table,
)
from cohorts.omt_vs_cabg.calibration import (
    FITTED,
    TARGETS,
    admissions,
    calibrate,
    calibrate_admissions,
    patient_equivalent,
    survival_ci,
    trial_outcomes,
)
from cohorts.omt_vs_cabg.patient import pathways
from cohorts.omt_vs_cabg.prices import conversion_factor, price_index
from cohorts.omt_vs_cabg.validation import drivers, markdown, reconciliation, scenario_results, survival_by_year
from sim.errors import HtaError
from sim.experiment.cli import main
from sim.patient import run_pathway


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


def test_every_parameter_has_a_distribution_a_source_and_says_if_verified():
    table = cohorts.load("omt_vs_cabg").parameter_table()
    assert len(table) >= 30
    assert table["source"].str.strip().str.len().gt(20).all()
    assert table["distribution"].str.strip().ne("").all()
    assert set(table["verified"]) <= {"yes", "no", "partly"} and table["note"].str.len().gt(10).all()
    # only the cohort's age/sex, structural switches and scenario inputs are fixed
    assert set(table.loc[table["distribution"] == "fixed", "name"]) == {
        "age_start", "male_share", "early_post_years", "du_profile", "age_utility",
        "effect_years", "wane_years", "horizon_years"}
    random = table[table["distribution"] != "fixed"]
    assert {"p_op", "h_cv_med_y0", "h_cv_post_y5", "k_other", "c_cabg", "u_med"} <= set(random["name"])
    assert set(psa_table().names) == set(table["name"])


def test_the_table_holds_only_what_the_cohort_and_plain_patient_models_read():
    """Every row of parameters.csv is read by the cohort model (build, calibration) or its patient-level version."""
    import inspect
    import re

    import cohorts.omt_vs_cabg as mod
    from cohorts.omt_vs_cabg import calibration as calibration_module
    from cohorts.omt_vs_cabg import patient as patient_mod

    source = "".join(inspect.getsource(m) for m in (mod, patient_mod, calibration_module))
    names = cohorts.load("omt_vs_cabg").parameter_table()["name"]
    unread = [n for n in names if not re.search(rf"\b{n}\b", source)]
    assert not unread, f"rows of parameters.csv no model reads: {unread}"
    managed = set(pd.read_csv(Path(mod.__file__).parent / "managed_parameters.csv")["name"])
    assert not managed & set(names), "a name in both tables"


def test_units_of_the_results():
    mod = cohorts.load("omt_vs_cabg")
    assert (mod.CURRENCY, mod.PRICE_YEAR, mod.EFFECT_UNIT) == ("USD", 2023, "QALYs")


def test_every_cost_has_a_price_year_and_is_converted_by_the_index():
    table = cohorts.load("omt_vs_cabg").parameter_table()
    index = price_index()
    costs = table[table["unit"].str.startswith("USD")]
    assert set(costs["name"]) == {"c_cabg", "c_hosp", "c_hosp_noncv", "c_followup", "c_drugs"}
    assert costs["price_year"].str.match(r"^\d{4}$").all()
    assert (table.loc[~table["unit"].str.startswith("USD"), "price_year"] == "").all()
    psa = psa_table()
    for _, row in costs.iterrows():
        f = index[2023] / index[int(row["price_year"])]
        assert row["value"] == pytest.approx(float(row["value_source"]) * f, rel=1e-5), row["name"]
        assert psa[row["name"]].value == pytest.approx(row["value"])
        assert float(psa[row["name"]].args["mean"]) == pytest.approx(row["value"], rel=1e-5)
    # the CABG admission (2010 USD) and a CV stay (2010) really are inflated: CPI-U medical care 2010 -> 2023
    assert conversion_factor(2010, 2023) == pytest.approx(549.084 / 388.436)
    assert build().parameters["c_cabg"] == pytest.approx(51_966 * 549.084 / 388.436, rel=1e-5)
    with pytest.raises(HtaError, match="no value for 1999"):
        conversion_factor(1999, 2023)


def test_price_year_column_is_checked(tmp_path):
    from cohorts.omt_vs_cabg.prices import annotated_table

    text = (Path(cohorts.omt_vs_cabg.__file__).parent / "parameters.csv").read_text()
    bad = tmp_path / "p.csv"
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("c_cabg,"))
    lines[i] = lines[i].replace(",2010,", ",,", 1)
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(HtaError, match="c_cabg.*needs a price_year"):
        annotated_table(bad, 2023)


def test_base_case_reproduces_the_calibration_targets(trial):
    got = {
        "cross_56m_med": trial.loc["OMT", "crossed_56m"],
        "cross_120m_med": trial.loc["OMT", "crossed"],
        "cv_death_56m_med": trial.loc["OMT", "cv_death_56m"],
        "cv_death_med": trial.loc["OMT", "cv_death"],
        "cv_death_56m_cabg": trial.loc["CABG", "cv_death_56m"],
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


def test_yearly_validation_table_inside_every_published_interval():
    """Years 0-10 against STICH (56 months, not fitted for all-cause death) and STICHES (10 years)."""
    table = survival_by_year()
    assert len(table) == 12 and table["years"].iloc[0] == 0
    checked = 0
    for arm in ("OMT", "CABG"):
        rows = table[table[f"trial_{arm}"].notna()]
        for _, r in rows.iterrows():
            assert r[f"low_{arm}"] < r[f"model_{arm}"] < r[f"high_{arm}"], (arm, r["years"])
            checked += 1
    assert checked == 4
    # all-cause death at 56 months (41 % and 36 %, not fitted) within 1.5 points
    row = table[np.isclose(table["years"], 56 / 12)].iloc[0]
    assert 1 - row["model_OMT"] == pytest.approx(0.41, abs=0.015)
    assert 1 - row["model_CABG"] == pytest.approx(0.36, abs=0.015)


def test_admissions_reproduce_the_trial_counts_within_5_percent(trial):
    adm = admissions(build(), trial)
    for arm in ("OMT", "CABG"):
        assert adm.loc[arm, "cv"] == pytest.approx(adm.loc[arm, "cv_trial"], rel=0.05), arm
    assert adm["noncv"].sum() == pytest.approx(adm["noncv_trial"].sum(), rel=0.05)
    assert (adm.loc["OMT", "cv_trial"], adm.loc["CABG", "cv_trial"]) == (968, 744)
    # the solved ratio lies inside the published adjusted HR's interval 0.55-0.81
    assert 0.55 < build().parameters["hr_hosp_cabg"] < 0.81
    solved = calibrate_admissions(build())
    for k, v in solved.items():
        assert v == pytest.approx(build().parameters[k], rel=2e-4), k


def test_cabg_costs_more_upfront_dies_earlier_then_lives_longer(base):
    out = base.summary()
    assert out.loc["CABG", "cost_procedure"] > 4 * out.loc["OMT", "cost_procedure"]
    tr = base.trace.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    alive = 1 - tr["DeadCV"] - tr["DeadOther"]
    # early: operative deaths make CABG worse at 1 and 3 months ...
    assert alive.loc[("CABG", 1)] < alive.loc[("OMT", 1)] - 0.03
    assert alive.loc[("CABG", 3)] < alive.loc[("OMT", 3)]
    # ... no early benefit: still behind at 2 years; the curves cross in the third year, then CABG is better
    diff = (alive.loc["CABG"] - alive.loc["OMT"]).to_numpy()
    cross = int(np.argmax(diff > 0))
    assert 24 < cross < 36 and np.all(diff[cross:-1] > 0)
    assert out.loc["CABG", "ly"] > out.loc["OMT", "ly"] + 0.5
    # median survival gain: "nearly 18 months" (STICHES presentation, as reported by Healio); model 19 months
    median = {s: int(np.argmax(alive.loc[s].to_numpy() < 0.5)) for s in ("OMT", "CABG")}
    assert (median["OMT"], median["CABG"]) == (74, 93)
    # and fewer CV hospitalisations per year alive after CABG
    assert out.loc["CABG", "cost_hospital"] < out.loc["OMT", "cost_hospital"]


def test_scenarios_move_the_icer_the_expected_way():
    sc = scenario_results(["base case", "CABG effect on CV death stops at 10 years",
                           "CABG effect wanes linearly over years 10-20", "10-year horizon (trial follow-up)",
                           "CABG QoL gain constant for life (no waning)"])
    icer = sc["icer"]
    assert icer["base case"] < icer["CABG effect wanes linearly over years 10-20"] \
        < icer["CABG effect on CV death stops at 10 years"] < icer["10-year horizon (trial follow-up)"]
    assert icer["CABG QoL gain constant for life (no waning)"] < icer["base case"]
    assert sc.loc["10-year horizon (trial follow-up)", "ly_OMT"] < 10


def test_effect_weight_constant_waning_stopping():
    p = {"effect_years": np.array(20.0), "wane_years": np.array(10.0)}
    assert effect_weight(p, np.array([5.0, 10.0, 15.0, 20.0, 25.0])) == pytest.approx([1, 1, 0.5, 0, 0])
    p = {"effect_years": np.array(10.0), "wane_years": np.array(0.0)}
    assert effect_weight(p, np.array([9.9, 10.0, 12.0])) == pytest.approx([1, 0, 0])


def test_utility_age_norms_and_qol_trajectory():
    assert age_utility_ratio(1.0, 60, 0) == 1.0
    assert age_utility_ratio(1.0, 60, 10) == pytest.approx(0.87 / 0.86)  # Fryback 2007 Table 3, men
    assert age_utility_ratio(0.88, 60, 20) == pytest.approx((0.88 * 0.85 + 0.12 * 0.82) / (0.88 * 0.86 + 0.12 * 0.84))
    assert du_profile([0, 4, 12, 24, 36, 42, 48, 60]) == pytest.approx(
        [4.4 / 5.8, 4.4 / 5.8, 1.0, 4.1 / 5.8, 3.2 / 5.8, 1.6 / 5.8, 0.0, 0.0])
    # u_med: Gohler 2009 NYHA II 0.84 and III 0.74 weighted 52 : 34
    assert build().parameters["u_med"] == pytest.approx((0.52 * 0.84 + 0.34 * 0.74) / 0.86, abs=1e-4)


def test_docs_tables_are_the_code_s_numbers():
    """docs/omt_vs_cabg.md holds the tables markdown() produces, to the printed digit."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "omt_vs_cabg.md").read_text()
    for key, table in markdown().items():
        assert table in text, f"docs/omt_vs_cabg.md: the {key} table differs from validation.markdown()"


def test_reconciliation_numbers_and_the_drivers():
    rec = reconciliation()
    assert rec.loc["icer", "chew"] == 63_989 and rec.loc["cost_CABG", "chew"] == 140_059
    assert rec.loc["icer", "model"] == pytest.approx(rec.loc["d_cost", "model"] / rec.loc["d_qaly", "model"])
    assert 0 < rec.loc["p_ce_50k", "model"] <= rec.loc["p_ce_100k", "model"] <= rec.loc["p_ce_150k", "model"] <= 1
    dr = drivers()
    # the ICER difference is above 20 %, so every named structural choice is a scenario that closes part of it
    assert dr.loc["base case", "vs_chew"] > 0.2
    assert (np.diff(dr["icer"].to_numpy()) < 0).all()
    assert abs(dr["vs_chew"].iloc[1]) < 0.2


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
    h = {"cv": p["h_cv_med_y0"], "other": p["k_other"] * background_hazard(p["male_share"], 60),
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
    quiet = {"h_cv_post_y2": 1e-9, "h_cv_post_y5": 1e-9, "k_other": 1e-9, "h_cv_med_y0": 1e-9, "h_cv_med_y5": 1e-9,
             "r_hosp_med": 1e-9}
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
    """The patient-level version is the cohort model in continuous time: its time-varying CV hazards, early
    post-CABG period, non-CV admissions, drug costs and (split states) age-declining utilities and the CABG
    gain's trajectory; with one utility per state it is the cohort model with ``patient_equivalent()``."""
    cols = ["cost", "qaly", "ly", "ly_undisc"]
    for n, kw, overrides in ((6000, {}, {}), (3000, {"utility": "constant"}, patient_equivalent())):
        out = run_pathway(pathways(**kw), n, seed=2026).outcomes
        cohort = sim.run_cohort(build(overrides)).summary()
        g = out.groupby("strategy", observed=True)
        mean, se = g[cols].mean(), g[cols].std(ddof=1) / np.sqrt(n)
        z = (mean - cohort[cols]) / se
        assert (z.abs() < 3).all().all(), (kw, z)


def test_patient_level_utility_segments_are_the_cohort_s_utilities():
    from cohorts.omt_vs_cabg.patient import utility_segments

    p = build().parameters
    segs = utility_segments(p)
    med, post = dict(segs["Med"]), dict(segs["PostCABG"])
    assert list(med) == [0.0, 5.0, 15.0]  # age 60: the norm bands change at 65 and 75
    for t, u in med.items():
        assert u == pytest.approx(p["u_med"] * age_utility_ratio(0.88, 60, t))
    assert post[0.0] == pytest.approx(p["u_med"] + p["du_cabg"] * 4.4 / 5.8)  # held to 4 months
    assert post[4.0] == pytest.approx(p["u_med"])  # the gain has waned by 48 months
    assert len(post) == 47  # monthly steps of the trajectory from 4 to 48 months, then the age bands
    paths = pathways()
    assert paths["CABG"].utilities["PostCABG:1"] == pytest.approx(segs["PostCABG"][1][1])
    assert segs["PostCABG"][1][0] == pytest.approx(5 / 12)
    assert paths["OMT"].start == "Med" and "Med:2" in paths["OMT"].states
    # admissions loop back to their own segment; each segment moves on to the next at the Markov time
    ev = paths["OMT"].events["Med:1"]
    assert [e.to for e in ev].count("Med:1") == 2 and ev[-1].to == "Med:2" and ev[-1].clock == "markov"
    const = pathways(utility="constant")
    assert "Med:1" not in const["OMT"].states and const["CABG"].utilities["PostCABG"] == pytest.approx(
        p["u_med"] + p["du_cabg"])
    with pytest.raises(HtaError, match="utility 'age'"):
        pathways(utility="age")


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
    tr = sim.run_cohort(build({"h_cv_med_y0": h_med, "h_cv_med_y5": h_med, "h_cv_post_y2": h_post,
                               "h_cv_post_y5": h_post, "p_op": p_op}), trace=True).trace
    wide = tr.pivot_table(index=["strategy", "cycle"], columns="state", values="share", observed=True)
    np.testing.assert_allclose(wide.sum(axis=1), 1.0, atol=1e-12)
    for s in ("OMT", "CABG"):
        dead = (wide.loc[s, "DeadCV"] + wide.loc[s, "DeadOther"]).to_numpy()
        assert np.all(np.diff(dead) >= -1e-15)


# ------------------------------------------------------------------ a slow, obvious oracle
def _naive(p: dict, strategy: str) -> dict:
    """The cohort model written out cycle by cycle with plain loops (docs/omt_vs_cabg.md)."""
    table = sim.LifeTable.packaged("us_2017_nchs")
    norms = {(35, 44): (0.89, 0.89), (45, 54): (0.88, 0.87), (55, 64): (0.86, 0.84), (65, 74): (0.87, 0.84),
             (75, 200): (0.85, 0.82)}  # Fryback 2007 Table 3 (men, women); 75-89 beyond 89

    def norm(age):
        m, f = next(v for (lo, hi), v in norms.items() if lo <= age <= hi)
        return p["male_share"] * m + (1 - p["male_share"]) * f

    h, r = 1 / 12, 0.03
    T = int(round(p["horizon_years"] * 12))
    med, surg, post, dcv, doth = range(5)
    m = np.zeros(5)
    if strategy == "OMT":
        m[med] = 1.0
    else:
        m[surg], m[med] = 1 - p["p_no_cabg"], p["p_no_cabg"]
    loss = (p["u_med"] + p["du_cabg"] - p["u_periop"]) / 12
    r_post = p["r_hosp_med"] * p["hr_hosp_cabg"]
    cost = m[surg] * p["c_cabg"]  # index operation, time 0, not discounted
    qaly = -m[surg] * loss
    ly = 0.0
    for j in range(T):
        year = j * h
        age = int(np.floor(p["age_start"] + year + 1e-9))
        bg = (p["male_share"] * -np.log(1 - table.annual_probability("male", age))
              + (1 - p["male_share"]) * -np.log(1 - table.annual_probability("female", age)))
        other = p["k_other"] * bg
        late = year >= 5 - 1e-9
        cross = p["r_cross_late"] if late else p["r_cross_early"]
        cv_med = p["h_cv_med_y5"] if late else p["h_cv_med_y0"]
        cv_post = p["h_cv_post_y5"] if late else p["h_cv_post_y2"]
        if year < p["early_post_years"] - 1e-9:
            cv_post = p["hr_cv_post_early"] * cv_med
        if p["wane_years"] > 0:
            w = min(max((p["effect_years"] - year) / p["wane_years"], 0.0), 1.0)
        else:
            w = 1.0 if year < p["effect_years"] - 1e-9 else 0.0
        cv_post = cv_med * (cv_post / cv_med) ** w
        P = np.zeros((5, 5))
        H = cv_med + other + cross
        leave = 1 - np.exp(-H * h)
        P[med, dcv], P[med, doth], P[med, surg] = cv_med / H * leave, other / H * leave, cross / H * leave
        P[med, med] = 1 - P[med].sum()
        P[surg, dcv], P[surg, post] = p["p_op"], 1 - p["p_op"]
        H = cv_post + other
        leave = 1 - np.exp(-H * h)
        P[post, dcv], P[post, doth] = cv_post / H * leave, other / H * leave
        P[post, post] = 1 - P[post].sum()
        P[dcv, dcv] = P[doth, doth] = 1.0
        nxt = m @ P
        care = (p["c_followup"] + p["c_drugs"]) * h
        noncv = p["r_hosp_noncv"] * p["c_hosp_noncv"] * h
        c_state = np.array([care + p["r_hosp_med"] * p["c_hosp"] * h + noncv, care,
                            care + r_post * p["c_hosp"] * h + noncv, 0, 0])
        months = year * 12
        shape = np.interp(months, [0, 4, 12, 24, 36, 48], [4.4 / 5.8, 4.4 / 5.8, 1, 4.1 / 5.8, 3.2 / 5.8, 0])
        du = p["du_cabg"] * (shape if p["du_profile"] else 1.0)
        a = norm(np.floor(p["age_start"] + year + 1e-9)) / norm(p["age_start"]) if p["age_utility"] else 1.0
        hl_med = (p["r_hosp_med"] + p["r_hosp_noncv"]) * p["q_hosp_loss"]
        hl_post = (r_post + p["r_hosp_noncv"]) * p["q_hosp_loss"]
        u_state = np.array([p["u_med"] * a - hl_med, p["u_med"] + p["du_cabg"],
                            (p["u_med"] + du) * a - hl_post, 0, 0]) * h
        alive = np.array([h, h, h, 0, 0])
        d0, d1 = (1 + r) ** -(j * h), (1 + r) ** -((j + 1) * h)
        # half-cycle: a trace point's rewards take the values of the cycle that starts there
        cost += (m @ c_state * d0 + nxt @ c_state * d1) / 2
        qaly += (m @ u_state * d0 + nxt @ u_state * d1) / 2
        ly += (m @ alive * d0 + nxt @ alive * d1) / 2
        flow = m[med] * P[med, surg]  # crossovers: operation paid, QALY lost, at the cycle's end
        cost += flow * p["c_cabg"] * d1
        qaly -= flow * loss * d1
        m = nxt
    return {"cost": cost, "qaly": qaly, "ly": ly}


@pytest.mark.parametrize("overrides", [
    {},
    {"du_profile": 0, "age_utility": 0},
    {"h_cv_med_y0": 0.12, "p_op": 0.1, "c_cabg": 50_000, "du_profile": 0, "age_utility": 0, "early_post_years": 0},
    {"effect_years": 20, "wane_years": 10, "du_profile": 0, "age_utility": 0},
])
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


def test_scenarios_experiment_is_valid_and_holds_the_recalibrated_values():
    import tomllib

    from cohorts.omt_vs_cabg import validation

    path = Path(__file__).resolve().parents[1] / "experiments" / "omt_vs_cabg_scenarios.toml"
    assert main(["validate", str(path)]) == 0
    scenarios = {s["name"]: s for s in tomllib.loads(path.read_text())["sweep"]["scenarios"]}
    for file_name, code_name in (("no early post-CABG period (recalibrated)",
                                  "no early post-CABG period (survival recalibrated)"),
                                 ("crossover 65/602 by 56 months (recalibrated)",
                                  "crossover 65/602 by 56 months (survival recalibrated)"),
                                 ("CABG cost without the EF <= 35 % uplift",
                                  "CABG cost without the EF <= 35 % uplift (x1/1.3)"),
                                 ("CV admission cost: commercial HF stay (Wang 2010, 17,654 USD 2005)",
                                  "CV admission cost: commercial heart-failure stay (Wang 2010)")):
        want = validation.scenario_overrides(code_name)
        for k, v in want.items():
            assert scenarios[file_name][k] == pytest.approx(v, rel=1e-4), (file_name, k)
