"""Individual patient data reconstructed from Kaplan-Meier curves (Guyot et al. 2012).

1. Guyot's worked example (head and neck cancer; Bonner et al. 2006, N Engl J Med
   354:567-78, locoregional control, radiotherapy with or without cetuximab): the
   digitised curves are those shipped with Wei & Royston's Stata command ``ipdfc``
   (files ``Head_and_neck_arm0.txt``/``arm1.txt``, r-stata/tssc ssc/ipdfc/h/),
   in ``tests/data/survival/head_and_neck_curve.csv`` (survival in percent). Those
   files pair each curve with the other arm's risk table (infeasible: 143 at risk at
   10 months under a curve at 61 % of 211 patients); here each curve has its own
   arm's published numbers at risk (radiotherapy 213, 122, 80, 51, 30, 10;
   cetuximab 211, 143, 101, 66, 35, 9 at 0, 10, ..., 50 months), which also gives
   Bonner's arm sizes (213 and 211). Published: median locoregional control 14.9
   (radiotherapy) and 24.4 months (cetuximab), hazard ratio 0.68 (95 % CI
   0.52-0.89; Bonner 2006, abstract).
2. A self-check on simulated data: digitise the Kaplan-Meier steps of known data,
   reconstruct, compare.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import HtaError
from sim.survival import compare_risk_table, numbers_at_risk, read_curve, read_risk_table, reconstruct_ipd
from sim.survival import km_median as sim_km_median
from sim.survival.km import kaplan_meier
from sim.survival.reconstruct import isotonic_decreasing

DATA = Path(__file__).parent / "data" / "survival"


def km_median(g):
    return sim_km_median(g["time"], g["event"])


def hazard_ratio(ipd, treated):
    """Cox model with one binary covariate (Breslow ties), by Newton steps on the partial
    likelihood: the hazard ratio and its 95 % Wald interval."""
    t = ipd["time"].to_numpy(float)
    d = ipd["event"].to_numpy(float)
    x = (ipd["arm"] == treated).to_numpy(float)
    b = 0.0
    for _ in range(50):
        w = np.exp(b * x)
        u, info = 0.0, 0.0
        for ti in np.unique(t[d == 1]):
            risk = t >= ti
            s0, s1 = w[risk].sum(), (w * x)[risk].sum()
            dead = (t == ti) & (d == 1)
            u += x[dead].sum() - dead.sum() * s1 / s0
            info += dead.sum() * (s1 / s0 - (s1 / s0) ** 2)
        b += u / info
        if abs(u / info) < 1e-12:
            break
    se = 1 / np.sqrt(info)
    return float(np.exp(b)), np.exp([b - 1.96 * se, b + 1.96 * se])


def test_guyot_head_and_neck_example():
    curve = read_curve(DATA / "head_and_neck_curve.csv")
    risk = read_risk_table(DATA / "head_and_neck_risk.csv")
    with pytest.raises(HtaError, match="not monotone at row"):  # the digitisation goes up in places
        reconstruct_ipd(curve, risk, percent=True)
    ipd = reconstruct_ipd(curve, risk, percent=True, monotone="isotonic")
    sizes = ipd.groupby("arm").size()
    assert sizes["radiotherapy"] == 213 and sizes["cetuximab"] == 211
    table = compare_risk_table(ipd, risk)
    assert (table["n_risk"] == table["n_risk_reconstructed"]).all(), table      # every number at risk
    med = {a: km_median(g) for a, g in ipd.groupby("arm")}
    # the digitised curves cross 50 % between 14.9 and 16.1 months (radiotherapy) and between
    # 24.2 and 25.2 months (cetuximab); the medians are the first step below 50 %
    assert med["radiotherapy"] == pytest.approx(14.9, abs=1.5)
    assert med["cetuximab"] == pytest.approx(24.4, abs=1.0)
    hr, ci = hazard_ratio(ipd, "cetuximab")
    assert hr == pytest.approx(0.68, abs=0.05)          # measured 0.72 (0.56-0.93)
    assert ci[0] < 0.68 < ci[1] and ci[1] < 1.0


def simulate(seed, n, shape, scale, follow_up):
    rng = np.random.default_rng(seed)
    t = scale * rng.weibull(shape, n)
    c = rng.uniform(0.3 * follow_up, follow_up, n)
    return np.round(np.minimum(t, c), 3), (t <= c).astype(int)


def digitise(time, event, every, noise=0.0, rng=None):
    """Points at every Kaplan-Meier step (time, survival after the step), and the risk table."""
    km = kaplan_meier(time, event)
    steps = km[km["events"] > 0]
    t, s = steps["time"].to_numpy(float), steps["survival"].to_numpy(float)
    if noise:
        t = np.clip(t + rng.normal(0, noise * 10, t.size), 0, None)
        s = np.clip(s + rng.normal(0, noise, s.size), 0, 1)
    end = time.max()
    grid = np.arange(0, end, every)
    curve = pd.DataFrame({"time": np.r_[0.0, t, end], "survival": np.r_[1.0, s, s[-1] if s.size else 1.0]})
    risk = pd.DataFrame({"time": grid, "n_risk": numbers_at_risk(pd.DataFrame({"time": time}), grid)})
    return curve, risk


@pytest.fixture(scope="module")
def trial():
    t0, e0 = simulate(1, 180, 1.3, 12.0, 36.0)
    t1, e1 = simulate(2, 170, 1.3, 18.0, 36.0)
    return {"control": (t0, e0), "active": (t1, e1)}


@pytest.mark.parametrize("noise", [0.0, 0.003])
def test_self_check_on_simulated_trial(trial, noise):
    rng = np.random.default_rng(9)
    parts, risks, truth = [], [], []
    for arm, (t, e) in trial.items():
        curve, risk = digitise(t, e, 6.0, noise, rng)
        parts.append(curve.assign(arm=arm))
        risks.append(risk.assign(arm=arm))
        truth.append(pd.DataFrame({"time": t, "event": e, "arm": arm}))
    curve, risk, truth = pd.concat(parts), pd.concat(risks), pd.concat(truth, ignore_index=True)
    ipd = reconstruct_ipd(curve, risk, monotone="isotonic" if noise else "error")
    assert ipd.groupby("arm").size().to_dict() == truth.groupby("arm").size().to_dict()
    table = compare_risk_table(ipd, risk)
    assert (table["n_risk"] == table["n_risk_reconstructed"]).all(), table
    for arm in trial:
        a, b = ipd[ipd["arm"] == arm], truth[truth["arm"] == arm]
        assert km_median(a) == pytest.approx(km_median(b), abs=0.8 if noise else 0.3)
        assert abs(int(a["event"].sum()) - int(b["event"].sum())) <= (6 if noise else 3)
    hr_true, _ = hazard_ratio(truth, "active")
    hr_rec, _ = hazard_ratio(ipd, "active")
    assert hr_rec == pytest.approx(hr_true, abs=0.06 if noise else 0.03)


def test_without_censoring_the_event_times_come_back_exactly():
    rng = np.random.default_rng(3)
    t = np.round(rng.exponential(10.0, 60), 2)
    curve, risk = digitise(t, np.ones_like(t, dtype=int), 5.0)
    ipd = reconstruct_ipd(curve, risk, arm="x")
    np.testing.assert_array_equal(np.sort(ipd.loc[ipd["event"] == 1, "time"].to_numpy()), np.sort(t))


def test_total_events_sets_the_last_interval(trial):
    t, e = trial["control"]
    curve, risk = digitise(t, e, 12.0)
    ipd = reconstruct_ipd(curve, risk, total_events=int(e.sum()))
    assert int(ipd["event"].sum()) == int(e.sum())


def test_csv_formats_and_errors(tmp_path):
    (tmp_path / "curve.csv").write_text("time,survival\n0,1\n1,0.9\n2,0.8\n3,0.85\n4,0.6\n")
    (tmp_path / "risk.csv").write_text("time,n_risk\n0,20\n2,15\n")
    curve, risk = read_curve(tmp_path / "curve.csv"), read_risk_table(tmp_path / "risk.csv")
    with pytest.raises(HtaError, match="not monotone at row 4 .time 3, survival 0.85"):
        reconstruct_ipd(curve, risk)
    ok = reconstruct_ipd(curve, risk, monotone="isotonic")
    assert len(ok) == 20 and set(ok.columns) == {"time", "event", "arm"}
    with pytest.raises(HtaError, match="percent=True"):
        reconstruct_ipd(curve.assign(survival=curve["survival"] * 100), risk)
    with pytest.raises(HtaError, match="start at 0"):
        reconstruct_ipd(curve, risk.assign(time=[1, 2]), monotone="isotonic")
    with pytest.raises(HtaError, match="must not increase"):
        reconstruct_ipd(curve, risk.assign(n_risk=[20, 25]), monotone="isotonic")
    (tmp_path / "bad.csv").write_text("t,s\n0,1\n")
    with pytest.raises(HtaError, match="missing column.*time, survival"):
        read_curve(tmp_path / "bad.csv")
    with pytest.raises(HtaError, match="does not exist"):
        read_risk_table(tmp_path / "none.csv")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_isotonic_is_non_increasing_and_keeps_the_mean(y):
    z = isotonic_decreasing(y)
    assert z.shape == (len(y),)
    assert np.all(np.diff(z) <= 1e-12)
    assert z.mean() == pytest.approx(np.mean(y), abs=1e-12)
    if np.all(np.diff(y) <= 0):
        np.testing.assert_allclose(z, y)


def test_kaplan_meier_by_hand():
    """Slow obvious reference: the product-limit estimate of a small sample, by hand."""
    km = kaplan_meier([1, 2, 2, 3, 4, 4, 5], [1, 1, 0, 1, 0, 1, 0])
    # at risk 7, 6, 4, 3, 1 with 1, 1, 1, 1, 0 events: S = 6/7, x 5/6, x 3/4, x 2/3, x 1
    np.testing.assert_allclose(km["survival"], [1, 6 / 7, 5 / 7, 15 / 28, 5 / 14, 5 / 14])
    assert list(km["n_risk"]) == [7, 7, 6, 4, 3, 1]
    assert sim_km_median([1, 2, 2, 3, 4, 4, 5], [1, 1, 0, 1, 0, 1, 0]) == 4.0
