"""Survival curves as model values: cohort transitions from the cumulative hazard,
by model time and by time in state, and PSA draws of a fit's coefficients through the
parameter table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim import ByStrategy, C, Model
from sim.errors import HtaError
from sim.params.table import ParameterTable
from sim.patient.streams import uniforms
from sim.survival import SurvivalCurve, SurvivalProbability, fit_survival, parameter_rows, probability
from sim.survival.families import family as fam

DATA = Path(__file__).parent / "data" / "survival"


def alive(result, strategy=None, draw=0):
    tr = result.trace
    sel = (tr["state"] == "Alive") & (tr["draw"] == draw)
    if strategy is not None:
        sel &= tr["strategy"] == strategy
    a = tr[sel].sort_values("cycle")
    return a["cycle"].to_numpy(), a["share"].to_numpy()


def two_state(p, strategies=("a",), tunnels=None, parameters=None, cycle_length=1 / 12, years=10):
    return Model(name="surv", states=["Alive", "Dead"], strategies=list(strategies), start={"Alive": 1.0},
                 cycle_length=cycle_length, horizon_years=years, parameters=parameters or {},
                 transitions={("Alive", "Alive"): C, ("Alive", "Dead"): p}, utilities={"Alive": 1.0},
                 dead=["Dead"], tunnels=tunnels or {})


@pytest.mark.parametrize(("family", "coef", "unit"), [
    ("weibull", (np.log(1.4), np.log(5.0)), "year"),
    ("gompertz", (0.02, np.log(0.01)), "month"),
    ("lnorm", (np.log(40.0), np.log(0.9)), "month"),
    ("spline", (-2.0, 1.2, 0.01), "year"),
])
def test_cohort_survival_equals_the_curve(family, coef, unit):
    kw = {"knots": (np.log(0.5), np.log(2.0), np.log(8.0)), "scale": "odds"} if family == "spline" else {}
    p = SurvivalProbability(family, coef, time_unit=unit, **kw)
    cycles, share = alive(sim.run_cohort(two_state(p), trace=True))
    names = ["gamma0", "gamma1", "gamma2"] if family == "spline" else list(fam(family).parameters)
    nat = coef if family == "spline" else fam(family).to_natural(np.array(coef))
    curve = SurvivalCurve(family, dict(zip(names, nat, strict=True)), **kw)
    per_unit = {"year": 1 / 12, "month": 1.0}[unit]
    np.testing.assert_allclose(share, curve.survival(cycles * per_unit), rtol=1e-11, atol=1e-14)


def test_a_fit_by_arm_drives_each_strategy():
    ov = pd.read_csv(DATA / "ovarian.csv").assign(arm=lambda d: (d["rx"] == 2).astype(float))
    fit = fit_survival(ov, "weibull", time="futime", event="fustat", covariates=["arm"])
    p = probability(fit, covariates={"arm": ByStrategy(control=0.0, active=1.0)}, time_unit="day")
    res = sim.run_cohort(two_state(p, strategies=("control", "active"), years=5), trace=True)
    for strategy, arm in (("control", 0), ("active", 1)):
        cycles, share = alive(res, strategy)
        np.testing.assert_allclose(share, fit.curve(arm=arm).survival(cycles * 365.25 / 12), rtol=1e-10)
    with pytest.raises(HtaError, match="no covariate 'ar'"):
        probability(fit, covariates={"ar": 1})


def test_time_in_state_clock_in_a_tunnel():
    """Everyone starts in the tunnel: time in state equals model time, so both clocks agree."""
    coef = (np.log(1.4), np.log(5.0))
    model_clock = sim.run_cohort(two_state(SurvivalProbability("weibull", coef)), trace=True)
    tunnel = two_state(SurvivalProbability("weibull", coef, clock="sojourn"), tunnels={"Alive": 121})
    sojourn_clock = sim.run_cohort(tunnel, trace=True)
    np.testing.assert_allclose(alive(sojourn_clock)[1], alive(model_clock)[1], rtol=1e-12)
    with pytest.raises(HtaError, match="needs a tunnel state"):
        sim.run_cohort(two_state(SurvivalProbability("weibull", coef, clock="sojourn")))


def test_psa_draws_of_the_coefficients_come_from_the_parameter_table(tmp_path):
    ov = pd.read_csv(DATA / "ovarian.csv")
    fit = fit_survival(ov, "weibull", time="futime", event="fustat")
    rows = parameter_rows(fit, "os", tmp_path / "os_cov.csv", source="R survival ovarian data")
    assert [r.name for r in rows] == ["os_log_shape", "os_log_scale"]
    table = ParameterTable(rows, base_dir=tmp_path)
    draws = table.sampler(2000, seed=3).arrays(0, 2000)
    d = np.column_stack([draws["os_log_shape"], draws["os_log_scale"]])
    sd = np.sqrt(np.diag(fit.covariance))
    assert np.all(np.abs(d.mean(axis=0) - fit.estimates) < 4 * sd / np.sqrt(2000))
    assert np.max(np.abs(np.cov(d.T) - fit.covariance) / np.outer(sd, sd)) < 0.1
    p = probability(fit, prefix="os", time_unit="day")
    model = two_state(p, parameters={r.name: r.value for r in rows}, years=3)
    few = {k: v[:5] for k, v in draws.items()}
    res = sim.run_cohort(model, few, trace=True)
    for i in range(5):
        cycles, share = alive(res, draw=i)
        curve = SurvivalCurve("weibull", {"shape": np.exp(few["os_log_shape"][i]),
                                          "scale": np.exp(few["os_log_scale"][i])})
        np.testing.assert_allclose(share, curve.survival(cycles * 365.25 / 12), rtol=1e-10)


def test_bad_definitions_are_refused():
    with pytest.raises(HtaError, match="expected 2 baseline ones"):
        SurvivalProbability("weibull", (0.1,))
    with pytest.raises(HtaError, match="clock"):
        SurvivalProbability("weibull", (0.1, 1.0), clock="calendar")
    with pytest.raises(HtaError, match="time_unit"):
        SurvivalProbability("weibull", (0.1, 1.0), time_unit="fortnight")


def test_patient_times_to_event_from_counter_based_streams():
    """Inversion of the patient engine's uniforms: the same patient meets the same time in
    every run and every batch; the times follow the curve (Kolmogorov-Smirnov)."""
    from scipy import stats

    curve = SurvivalCurve("llogis", {"shape": 1.8, "scale": 6.0})
    u = uniforms(11, 0, np.arange(4000), 0)
    t = curve.random(u)
    np.testing.assert_array_equal(t[1000:2000], curve.random(uniforms(11, 0, np.arange(1000, 2000), 0)))
    assert stats.kstest(t, lambda x: 1 - curve.survival(x)).pvalue > 0.001
