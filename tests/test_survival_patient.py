"""Fitted and published survival curves as patient-level times to event (``SurvivalTime``).

Every family of ``sim.survival`` (generalised gamma and Royston-Parmar splines on the three
scales included): the inverse cumulative hazard round-trips to 1e-10; sampled times follow the
curve (Kolmogorov-Smirnov), also given elapsed time and a hazard ratio; a fit with a treatment
arm drives a pathway whose mean life-years equal the curve's restricted mean.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from sim import HtaError
from sim.patient import Event, Pathway, SurvivalTime, run_pathway, uniforms
from sim.survival import SurvivalCurve, fit_survival

DATA = Path(__file__).parent / "data" / "survival"
N = 20_000
U = uniforms(11, 0, np.arange(N), 0)

CURVES = {
    "exp": SurvivalCurve("exp", {"rate": 0.3}),
    "weibull": SurvivalCurve("weibull", {"shape": 1.4, "scale": 5.0}),
    "weibullph": SurvivalCurve("weibullph", {"shape": 0.8, "scale": 0.2}),
    "gompertz": SurvivalCurve("gompertz", {"shape": 0.2, "rate": 0.05}),
    "gompertz_cured": SurvivalCurve("gompertz", {"shape": -0.3, "rate": 0.2}),
    "lnorm": SurvivalCurve("lnorm", {"meanlog": 1.0, "sdlog": 0.7}),
    "llogis": SurvivalCurve("llogis", {"shape": 2.5, "scale": 4.0}),
    "gengamma_q_pos": SurvivalCurve("gengamma", {"mu": 1.0, "sigma": 0.8, "Q": 0.7}),
    "gengamma_q_neg": SurvivalCurve("gengamma", {"mu": 1.0, "sigma": 0.8, "Q": -0.6}),
    "gengamma_q_0": SurvivalCurve("gengamma", {"mu": 1.0, "sigma": 0.8, "Q": 1e-7}),
    "spline_hazard": SurvivalCurve("spline", {"gamma0": -1.7, "gamma1": 3.4, "gamma2": 0.5, "gamma3": -0.3},
                                   knots=(-1.0, 0.5, 1.2, 2.0), scale="hazard"),
    "spline_odds": SurvivalCurve("spline", {"gamma0": -1.7, "gamma1": 2.0, "gamma2": 0.2},
                                 knots=(-1.0, 0.5, 2.0), scale="odds"),
    "spline_normal": SurvivalCurve("spline", {"gamma0": -1.0, "gamma1": 1.2, "gamma2": 0.1},
                                   knots=(-1.0, 0.5, 2.0), scale="normal"),
}


def _cdf(curve, hr=1.0, elapsed=0.0):
    def F(x):
        x = np.asarray(x, dtype=float)
        return -np.expm1(hr * (curve.cumhaz(elapsed) - curve.cumhaz(elapsed + x)))
    return F


@pytest.mark.parametrize("name", list(CURVES))
def test_inverse_cumulative_hazard_round_trips(name):
    curve = CURVES[name]
    st = SurvivalTime(curve)
    t = np.geomspace(1e-4, 200.0, 3000)
    cum = st.cumhaz(t)
    np.testing.assert_allclose(cum, curve.cumhaz(t), rtol=1e-14, atol=0)
    plateau = float(curve.cumhaz(1e6))  # a cured fraction: H is flat and t ill-determined near its limit
    cap = min(600.0, 0.99 * plateau)
    use = (cum > 1e-300) & (cum < cap)
    np.testing.assert_allclose(st.inv_cumhaz(cum[use]), t[use], rtol=1e-10)
    h = np.geomspace(1e-9, 50.0, 1000)
    back = st.inv_cumhaz(h)
    ok = np.isfinite(back)
    np.testing.assert_allclose(st.cumhaz(back[ok]), h[ok], rtol=1e-10)
    assert ok.all() or name == "gompertz_cured"
    if name == "gompertz_cured":  # S(inf) = exp(b/a): beyond H = -b/a the event never happens
        assert np.all(np.isinf(back[h > -0.2 / -0.3]))
    assert st.inv_cumhaz(0.0) == 0.0 and st.cumhaz(0.0) == 0.0


@pytest.mark.parametrize("name", list(CURVES))
def test_sampled_times_follow_the_curve(name):
    curve = CURVES[name]
    st = SurvivalTime(curve)
    x = st.sample(U)
    fin = np.isfinite(x)
    if name == "gompertz_cured":  # the share that never has the event is the cured fraction
        cured = math.exp(0.2 / -0.3)
        assert abs(np.mean(~fin) - cured) < 4 * math.sqrt(cured * (1 - cured) / N)
        F = _cdf(curve)  # the others: the curve's distribution given the event happens
        assert stats.kstest(x[fin], lambda v: F(v) / (1.0 - cured)).pvalue > 1e-3
    else:
        assert stats.kstest(x, _cdf(curve)).pvalue > 1e-3
    # inversion is exact: each time's survival is its uniform
    np.testing.assert_allclose(st.survival(x[fin][:500]), U[fin][:500], rtol=1e-9)


@pytest.mark.parametrize("name", ["weibull", "gengamma_q_neg", "spline_hazard", "spline_odds", "lnorm"])
def test_elapsed_time_and_hazard_ratio(name):
    curve = CURVES[name]
    x = SurvivalTime(curve).sample(U, elapsed=1.5, hr=0.6)
    assert stats.kstest(x, _cdf(curve, hr=0.6, elapsed=1.5)).pvalue > 1e-3


def test_time_unit_and_per_patient_parameters():
    months = SurvivalCurve("weibull", {"shape": 1.2, "scale": 30.0})
    st = SurvivalTime(months, time_unit="month")
    np.testing.assert_allclose(st.cumhaz(np.array([0.5, 2.0])), months.cumhaz(np.array([6.0, 24.0])), rtol=1e-14)
    np.testing.assert_allclose(st.inv_cumhaz(st.cumhaz(2.0)), 2.0, rtol=1e-12)
    # a curve of n parameter sets is one set per patient
    per = SurvivalTime(SurvivalCurve("exp", {"rate": np.array([0.1, 1.0, 10.0])}))
    np.testing.assert_allclose(per.sample(np.full(3, math.exp(-1.0))), [10.0, 1.0, 0.1], rtol=1e-14)
    spl = CURVES["spline_hazard"]
    two = SurvivalCurve("spline", {k: np.array([v[()], v[()] + (0.2 if k == "gamma0" else 0.0)])
                                   for k, v in spl.params.items()}, knots=spl.knots, scale="hazard")
    t = SurvivalTime(two).inv_cumhaz(np.array([0.7, 0.7]))
    np.testing.assert_allclose(SurvivalTime(spl).inv_cumhaz(0.7), t[0], rtol=1e-12)
    assert t[1] < t[0]  # a higher hazard reaches H = 0.7 sooner


def _gbsg2():
    df = pd.read_csv(DATA / "gbsg2.csv")
    return pd.DataFrame({"time": df["time"] / 365.25, "event": df["cens"], "arm": (df["horTh"] == "yes") * 1.0})


@pytest.fixture(scope="module")
def fits():
    data = _gbsg2()
    return data, {
        "weibull": fit_survival(data, "weibull", covariates=["arm"], engine="scipy"),
        "gengamma": fit_survival(data, "gengamma", covariates=["arm"]),
        "spline": fit_survival(data, "spline", k=1, scale="odds", covariates=["arm"]),
    }


def test_fitted_curves_with_an_arm_round_trip_and_sample(fits):
    _, fs = fits
    for fit in fs.values():
        for arm in (0, 1):
            st = SurvivalTime.from_fit(fit, arm=arm)
            h = np.geomspace(1e-6, 20.0, 300)
            np.testing.assert_allclose(st.cumhaz(st.inv_cumhaz(h)), h, rtol=1e-10)
            curve = fit.curve(arm=arm)
            x = st.sample(U[:5000])
            assert stats.kstest(x, _cdf(curve)).pvalue > 1e-3


def test_pathway_with_a_fitted_curve_by_arm(fits):
    """Alive -> Dead on the fitted spline (odds scale) by arm, no discounting, 10 years: each arm's mean
    life-years are the curve's restricted mean int_0^10 S(t) dt; the AFT Weibull enters the same way
    through a time function of the patient's arm."""
    _, fs = fits
    horizon = 10.0
    pop = pd.DataFrame({"arm": np.r_[np.zeros(N // 2), np.ones(N // 2)]})
    spline = fs["spline"]
    weib = fs["weibull"]
    by_arm = {name: {a: SurvivalTime.from_fit(fit, arm=a) for a in (0.0, 1.0)}
              for name, fit in (("spline", spline), ("weibull", weib))}  # one per arm, looked up per patient
    paths = {
        name: Pathway(states=("Alive", "Dead"), start="Alive", dead=("Dead",), horizon=horizon,
                      events={"Alive": [Event("Dead", lambda p, t=times: t[float(p["arm"])])]})
        for name, times in by_arm.items()
    }
    out = run_pathway(paths, seed=5, population=pop).outcomes
    for name, fit in (("spline", spline), ("weibull", weib)):
        for arm in (0, 1):
            ly = out.loc[(out["strategy"] == name) & (out["arm"] == arm), "ly"].to_numpy()
            curve = fit.curve(arm=arm)
            rmst = integrate.quad(lambda t, c=curve: float(c.survival(t)), 0.0, horizon, limit=200)[0]
            assert abs(ly.mean() - rmst) < 4 * ly.std(ddof=1) / math.sqrt(ly.size)


def test_a_hazard_ratio_on_a_published_curve_in_a_pathway():
    """A published Weibull PH curve with Event(hr=...) on an attribute: S(t)^exp(b x)."""
    curve = SurvivalCurve("weibullph", {"shape": 1.3, "scale": 0.05})
    pop = pd.DataFrame({"risk": np.r_[np.zeros(N // 2), np.ones(N // 2)]})
    p = Pathway(states=("Alive", "Dead"), start="Alive", dead=("Dead",), horizon=1e6,
                events={"Alive": [Event("Dead", SurvivalTime(curve), hr={"risk": math.log(2.0)})]})
    out = run_pathway({"x": p}, seed=9, population=pop).outcomes
    for risk, hr in ((0, 1.0), (1, 2.0)):
        ly = out.loc[out["risk"] == risk, "ly"].to_numpy()
        mean = integrate.quad(lambda t, hr=hr: float(curve.survival(t)) ** hr, 0.0, np.inf)[0]
        assert abs(ly.mean() - mean) < 4 * ly.std(ddof=1) / math.sqrt(ly.size)


def test_bad_inputs_are_refused():
    with pytest.raises(HtaError, match="SurvivalCurve"):
        SurvivalTime({"shape": 1.0})
    with pytest.raises(HtaError, match="time_unit"):
        SurvivalTime(CURVES["exp"], time_unit="fortnight")
    bad = SurvivalCurve("spline", {"gamma0": 0.0, "gamma1": -1.0}, knots=(0.0, 1.0), scale="hazard")
    with pytest.raises(HtaError, match="gamma1"):
        SurvivalTime(bad)
    with pytest.raises(HtaError, match="uniforms"):
        SurvivalTime(CURVES["exp"]).sample(np.array([0.0, 0.5]))
    with pytest.raises(HtaError, match="elapsed"):
        SurvivalTime(CURVES["exp"]).sample(np.array([0.5]), elapsed=-1.0)


SCIPY = {  # independent implementations of the same laws
    "exp": stats.expon(scale=1 / 0.3),
    "weibull": stats.weibull_min(1.4, scale=5.0),
    "weibullph": stats.weibull_min(0.8, scale=0.2 ** (-1 / 0.8)),
    "gompertz": stats.gompertz(0.05 / 0.2, scale=1 / 0.2),
    "lnorm": stats.lognorm(0.7, scale=math.e),
    "llogis": stats.fisk(2.5, scale=4.0),
    # Prentice's generalised gamma: T = e^mu (Y / g)^(sigma / Q), Y ~ Gamma(g = Q^-2)
    "gengamma_q_pos": stats.gengamma(1 / 0.7 ** 2, 0.7 / 0.8, scale=math.e * (1 / 0.7 ** 2) ** (-0.8 / 0.7)),
    "gengamma_q_neg": stats.gengamma(1 / 0.6 ** 2, -0.6 / 0.8, scale=math.e * (1 / 0.6 ** 2) ** (0.8 / 0.6)),
}


@pytest.mark.parametrize("name", list(CURVES))
def test_empirical_survival_against_an_independent_reference(name):
    """The empirical survival of the sampled times at fixed times equals, within Monte Carlo error, S(t)
    computed independently: SciPy's distributions, or exp(-int_0^t h) by quadrature of the hazard."""
    curve = CURVES[name]
    x = SurvivalTime(curve).sample(U)
    for t in (0.5, 2.0, 5.0, 12.0):
        if name in SCIPY:
            ref = float(SCIPY[name].sf(t))
            assert float(curve.survival(t)) == pytest.approx(ref, rel=1e-9, abs=1e-300)
        else:
            ref = math.exp(-integrate.quad(lambda s: float(curve.hazard(s)), 0.0, t, limit=200)[0])
        emp = float(np.mean(x > t))
        assert abs(emp - ref) < 4 * math.sqrt(ref * (1 - ref) / N) + 1e-12


@pytest.mark.parametrize("name", ["spline_hazard", "spline_odds", "spline_normal", "weibull", "gengamma_q_neg"])
def test_one_at_a_time_equals_the_vectorised_times(name):
    """The patient engine draws one time at a time (``sample_one``; plain Python for a spline): the same
    times as ``sample`` to rounding, with elapsed time and a hazard ratio, and the same H."""
    st = SurvivalTime(CURVES[name], time_unit="month")
    u = U[:300]
    for a, hr in ((0.0, 1.0), (0.7, 2.5), (3.0, 0.4)):
        vec = st.sample(u, elapsed=a, hr=hr)
        one = np.array([st.sample_one(float(x), a, hr) for x in u])
        np.testing.assert_allclose(one, vec, rtol=1e-12, atol=1e-14)
    t = np.geomspace(1e-3, 50.0, 50)
    np.testing.assert_allclose([st._H1(float(x)) for x in t], st.cumhaz(t), rtol=1e-13)
    assert st._Hinv1(0.0) == 0.0 and st._Hinv1(math.inf) == math.inf
