"""The flagship's survival against STICHES by year (issue 12, point 3): anchors, derived numbers at risk,
Guyot reconstruction, parametric fits, the yearly table and its explained misses."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohorts.omt_vs_cabg import trial_survival as ts
from sim.errors import HtaError
from sim.survival import compare_risk_table, kaplan_meier

ROOT = Path(__file__).resolve().parents[1]


def test_anchors_are_the_printed_counts_and_say_what_they_rest_on():
    a = ts.anchors()
    assert set(a["kind"]) <= {"printed", "derived"} and set(a["verified"]) <= {"yes", "partly"}
    assert a["source"].str.len().gt(60).all()
    got = {(r.arm, round(r.time, 3)): r.survival for r in a.itertuples()}
    # printed counts: STICH 2011 (56 months) and STICHES (end of follow-up)
    assert got[("OMT", 4.667)] == pytest.approx(1 - 244 / 602, abs=1e-6)
    assert got[("CABG", 4.667)] == pytest.approx(1 - 218 / 610, abs=1e-6)
    assert got[("OMT", 10.0)] == pytest.approx(1 - 398 / 602, abs=1e-6)
    assert got[("CABG", 10.0)] == pytest.approx(1 - 359 / 610, abs=1e-6)
    # derived: 30-day mortality of the operated (74/1460) times the share operated (555/610)
    assert got[("CABG", 0.083)] == pytest.approx(1 - 555 / 610 * 74 / 1460, abs=1e-6)
    assert (a.loc[a["kind"] == "derived", "verified"] == "partly").all()


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace("OMT,10,0.338870", "OMT,10,0.7"), r"line 4: arm OMT's points must go forward"),
    (lambda t: t.replace("printed,yes", "read,yes", 1), r"line 2: kind 'read'"),
    (lambda t: t.replace("OMT,0,1,", "MED,0,1,", 1), r"line 2: arm 'MED'"),
])
def test_a_bad_anchor_file_names_its_line(tmp_path, edit, match):
    bad = tmp_path / "s.csv"
    bad.write_text(edit(ts.DATA.read_text()))
    with pytest.raises(HtaError, match=match):
        ts.anchors(bad)


def test_trial_curve_passes_through_the_anchors_at_constant_hazard_between_them():
    c = ts.trial_curve("OMT")
    assert c["time"].iloc[0] == 0 and c["time"].iloc[-1] == pytest.approx(10.0)
    at = c.set_index(c["time"].round(4))
    assert at.loc[4.6667, "survival"] == pytest.approx(1 - 244 / 602, abs=1e-6) and at.loc[4.6667, "basis"] == "printed"
    assert at.loc[2.0, "basis"] == "interpolated"
    # constant hazard from 0 to 56 months: log S linear in t
    h = -np.log(0.594684) / 4.666667  # the file's digits
    assert at.loc[2.0, "survival"] == pytest.approx(np.exp(-2 * h), rel=1e-9)
    assert np.all(np.diff(c["survival"]) <= 0)


def test_numbers_at_risk_derivation():
    # follow-up complete until the last patient enrolled has been followed close - enrolment years
    close = ts.MEDIAN_FOLLOW_UP + ts.ENROL_YEARS / 2
    assert ts.censoring([0.0, close - ts.ENROL_YEARS - 1e-9]) == pytest.approx([1.0, 1 - 0.02 * 0.7375], abs=2e-3)
    assert ts.censoring(close) == 0.0
    # median potential follow-up: half are still followed at 9.8 years (apart from the 2 % lost)
    assert ts.censoring(ts.MEDIAN_FOLLOW_UP) == pytest.approx(0.5 * (1 - 0.02 * 0.98))
    r = ts.risk_table("CABG")
    assert list(r["time"]) == list(range(11)) and r["n_risk"].iloc[0] == 610
    assert np.all(np.diff(r["n_risk"]) < 0)


def test_reconstruction_reproduces_the_risk_tables_and_the_printed_points():
    ipd = ts.reconstructed()
    assert ipd.groupby("arm").size().to_dict() == {"OMT": 602, "CABG": 610}
    for arm in ts.ARMS:
        cmp = compare_risk_table(ipd[ipd["arm"] == arm], ts.risk_table(arm))
        assert (cmp["n_risk"] == cmp["n_risk_reconstructed"]).all(), arm
    km = ts.km_by_year()
    for (arm, t), s in {("OMT", 56 / 12): 1 - 244 / 602, ("CABG", 56 / 12): 1 - 218 / 610,
                        ("OMT", 10.0): 1 - 398 / 602, ("CABG", 10.0): 1 - 359 / 610}.items():
        assert km.loc[t, arm] == pytest.approx(s, abs=0.004), (arm, t)
        assert km.loc[t, f"low_{arm}"] < s < km.loc[t, f"high_{arm}"]


def test_greenwood_log_log_interval_against_a_direct_computation():
    d = ts.reconstructed()
    d = d[d["arm"] == "OMT"]
    km = kaplan_meier(d["time"].to_numpy(), d["event"].to_numpy())
    upto = km[km["time"] <= 3.0 + 1e-9]
    s = float(upto["survival"].iloc[-1])
    v = sum(e / (n * (n - e)) for n, e in zip(upto["n_risk"], upto["events"], strict=True) if e)
    se = np.sqrt(v) / abs(np.log(s))
    row = ts.km_by_year(times=(3.0,)).loc[3.0]
    assert row["OMT"] == pytest.approx(s)
    assert (row["low_OMT"], row["high_OMT"]) == pytest.approx((s ** np.exp(1.959964 * se), s ** np.exp(-1.959964 * se)))


def test_fit_table_compares_six_families_per_arm():
    t = ts.fit_table()
    assert len(t) == 12 and t["converged"].all()
    for arm, g in t.groupby("arm"):
        assert set(g["model"]) == set(ts.FAMILIES)
        assert g["delta_aic"].min() == 0 and g["aic"].is_monotonic_increasing
        assert np.allclose(g["aic"], -2 * g["loglik"] + 2 * g["parameters"])
        assert np.allclose(g["bic"], -2 * g["loglik"] + np.log(ts.ARMS[arm]) * g["parameters"])
    best = t.groupby("arm")["model"].first().to_dict()
    # the medical arm's hazard through the printed points is nearly constant; the CABG arm's falls after month 1
    assert best["OMT"] == "exp" and best["CABG"] in ("gengamma", "weibull")


def test_yearly_table_within_the_intervals_or_each_miss_is_explained():
    yt = ts.yearly_table()
    assert len(yt) == 2 * len(ts.TIMES) and set(yt["arm"]) == {"OMT", "CABG"}
    misses = {(float(r.years), r.arm) for r in yt.itertuples() if not r.inside}
    assert misses == set(ts.EXPLAINED_MISSES), misses
    # every printed year (0, 56 months, 10) of both arms is inside: a miss may only be at an interpolated year
    assert (yt.loc[~yt["inside"], "basis"] == "interpolated").all()
    assert yt[yt["basis"] == "printed"]["inside"].all() and (yt["basis"] == "printed").sum() == 6
    # the explanation holds: at 2 years the CABG arm's model survival is below the medical arm's
    m = yt.set_index(["years", "arm"])["model"]
    assert m[(2.0, "CABG")] < m[(2.0, "OMT")] and m[(3.0, "CABG")] > m[(3.0, "OMT")]
    text = (ROOT / "docs" / "omt_vs_cabg.md").read_text()
    for (t, arm) in ts.EXPLAINED_MISSES:
        assert f"at {t:g} years the {arm} arm" in text


def test_a_model_far_from_the_trial_misses_printed_years():
    """The check can fail: doubling the CV hazards on medical therapy puts 56 months and 10 years outside."""
    yt = ts.yearly_table({"h_cv_med_y0": 0.19, "h_cv_med_y5": 0.15})
    bad = yt[(yt["arm"] == "OMT") & (yt["basis"] == "printed") & ~yt["inside"]]
    assert set(bad["years"].round(3)) == {4.667, 10.0}


def test_figure_file_in_the_docs_is_a_png(tmp_path):
    fig = ts.figure(tmp_path / "f.png")
    assert len(fig.axes) == 2 and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert (ROOT / "docs" / "figures" / "omt_vs_cabg_survival.png").read_bytes()[:4] == b"\x89PNG"
    assert ts.figure_png()[:4] == b"\x89PNG"
    assert isinstance(ts.markdown()["yearly"], str)
    assert pd.read_csv(ts.DATA).shape[0] == 7
