"""Survival families: invariants (Hypothesis), closed forms against slow references.

References: scipy.stats distributions (independent implementations of the same
laws), numerical integration of the hazard, and the reductions of the generalised
gamma and of the Royston-Parmar splines to simpler families (flexsurv's
documentation of ``dgengamma`` and ``flexsurvspline``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.integrate import quad

from sim.errors import HtaError
from sim.survival import SurvivalCurve

CURVES = {
    "exp": lambda a, b, c: {"rate": b},
    "weibull": lambda a, b, c: {"shape": a, "scale": 1 / b},
    "weibullph": lambda a, b, c: {"shape": a, "scale": b},
    "gompertz": lambda a, b, c: {"shape": c, "rate": b},
    "lnorm": lambda a, b, c: {"meanlog": c, "sdlog": a},
    "llogis": lambda a, b, c: {"shape": a, "scale": 1 / b},
    "gengamma": lambda a, b, c: {"mu": c, "sigma": a, "Q": c - 0.2},
}
KNOTS = (np.log(0.2), np.log(1.0), np.log(3.0), np.log(10.0))


def spline(scale, g=(-1.0, 1.3, 0.02, -0.03)):
    return SurvivalCurve("spline", {f"gamma{j}": v for j, v in enumerate(g)}, knots=KNOTS, scale=scale)


def curves(a, b, c):
    out = [SurvivalCurve(name, make(a, b, c)) for name, make in CURVES.items()]
    return out + [spline(s) for s in ("hazard", "odds", "normal")]


shape = st.floats(0.4, 3.0)
rate = st.floats(0.05, 2.0)
loc = st.floats(-1.0, 1.0)
times = st.lists(st.floats(1e-3, 30.0), min_size=2, max_size=12)


@settings(max_examples=40, deadline=None)
@given(shape, rate, loc, times)
def test_survival_invariants(a, b, c, ts):
    t = np.sort(np.asarray(ts))
    for cv in curves(a, b, c):
        S, H = cv.survival(t), cv.cumhaz(t)
        assert cv.survival(0.0) == 1.0 and cv.cumhaz(0.0) == 0.0, cv
        assert np.all(np.diff(S) <= 1e-12), cv                 # S non-increasing
        assert np.all((S >= 0) & (S <= 1)), cv
        ok = S > 1e-250
        np.testing.assert_allclose(H[ok], -np.log(S[ok]), rtol=1e-9, atol=1e-15, err_msg=repr(cv))
        f, h = cv.density(t), cv.hazard(t)
        np.testing.assert_allclose(f, h * S, rtol=1e-9, atol=1e-300, err_msg=repr(cv))


@settings(max_examples=40, deadline=None)
@given(shape, rate, loc, st.floats(0.01, 0.95))
def test_quantile_inverts_survival(a, b, c, q):
    for cv in curves(a, b, c):
        t = cv.quantile(q)
        if np.isfinite(t) and t > 0:
            np.testing.assert_allclose(1.0 - cv.survival(t), q, rtol=1e-7, err_msg=repr(cv))


@pytest.mark.parametrize("cv", curves(1.4, 0.3, 0.4) + curves(0.7, 0.8, -0.3), ids=repr)
def test_cumulative_hazard_is_the_integral_of_the_hazard(cv):
    """Slow obvious reference: quad of the hazard against the closed form H."""
    for t in (0.3, 2.0, 7.5):
        ref, err = quad(lambda x: float(cv.hazard(x)), 0.0, t, limit=200)
        np.testing.assert_allclose(cv.cumhaz(t), ref, rtol=1e-6, err_msg=repr(cv))


def test_against_scipy_stats():
    t = np.array([0.1, 0.5, 1.0, 3.0, 12.0])
    pairs = [
        (SurvivalCurve("exp", {"rate": 0.3}), stats.expon(scale=1 / 0.3)),
        (SurvivalCurve("weibull", {"shape": 1.7, "scale": 2.5}), stats.weibull_min(1.7, scale=2.5)),
        (SurvivalCurve("weibullph", {"shape": 1.7, "scale": 2.5 ** -1.7}), stats.weibull_min(1.7, scale=2.5)),
        (SurvivalCurve("lnorm", {"meanlog": 0.4, "sdlog": 0.9}), stats.lognorm(0.9, scale=np.exp(0.4))),
        (SurvivalCurve("llogis", {"shape": 2.2, "scale": 1.5}), stats.fisk(2.2, scale=1.5)),
        # Gompertz: S = exp(-(b/a)(e^{at} - 1)); scipy's gompertz(c, scale=1/a) has S = exp(-c(e^{at} - 1))
        (SurvivalCurve("gompertz", {"shape": 0.4, "rate": 0.1}), stats.gompertz(0.1 / 0.4, scale=1 / 0.4)),
        # generalised gamma with sigma = Q is the gamma (flexsurv ?GenGamma): shape 1/Q^2, rate exp(-mu)/Q^2
        (SurvivalCurve("gengamma", {"mu": 0.5, "sigma": 0.6, "Q": 0.6}),
         stats.gamma(1 / 0.36, scale=np.exp(0.5) * 0.36)),
    ]
    for cv, ref in pairs:
        np.testing.assert_allclose(cv.survival(t), ref.sf(t), rtol=1e-10, err_msg=repr(cv))
        np.testing.assert_allclose(cv.density(t), ref.pdf(t), rtol=1e-9, err_msg=repr(cv))
        np.testing.assert_allclose(cv.quantile([0.1, 0.5, 0.9]), ref.ppf([0.1, 0.5, 0.9]), rtol=1e-8)


def test_gengamma_limits():
    t = np.array([0.2, 1.0, 4.0])
    ln = SurvivalCurve("lnorm", {"meanlog": 0.3, "sdlog": 0.8})
    for q in (0.0, 1e-6, -1e-6):  # exactly 0 and inside the switch: the log-normal itself
        gg = SurvivalCurve("gengamma", {"mu": 0.3, "sigma": 0.8, "Q": q})
        np.testing.assert_allclose(gg.survival(t), ln.survival(t), rtol=1e-12)
    for q in (3e-5, -3e-5, 1e-3):  # just outside it: continuous with the limit
        gg = SurvivalCurve("gengamma", {"mu": 0.3, "sigma": 0.8, "Q": q})
        np.testing.assert_allclose(gg.survival(t), ln.survival(t), rtol=2e-3)
        np.testing.assert_allclose(gg.density(t), ln.density(t), rtol=3e-3)
    wb = SurvivalCurve("weibull", {"shape": 1 / 0.8, "scale": np.exp(0.3)})
    gg = SurvivalCurve("gengamma", {"mu": 0.3, "sigma": 0.8, "Q": 1.0})
    np.testing.assert_allclose(gg.hazard(t), wb.hazard(t), rtol=1e-10)


def test_splines_with_no_internal_knot_are_weibull_loglogistic_lognormal():
    """flexsurv test_spline.R: k = 0 reduces to the Weibull (PH), log-logistic and log-normal."""
    kn = (np.log(0.1), np.log(20.0))
    t = np.array([0.3, 1.0, 5.0, 40.0])
    a, b = 1.3, 0.2
    pairs = [("hazard", SurvivalCurve("weibullph", {"shape": a, "scale": b}), (np.log(b), a)),
             ("odds", SurvivalCurve("llogis", {"shape": a, "scale": 2.0}), (-a * np.log(2.0), a)),
             ("normal", SurvivalCurve("lnorm", {"meanlog": 0.5, "sdlog": 0.7}), (-0.5 / 0.7, 1 / 0.7))]
    for scale, ref, (g0, g1) in pairs:
        cv = SurvivalCurve("spline", {"gamma0": g0, "gamma1": g1}, knots=kn, scale=scale)
        np.testing.assert_allclose(cv.survival(t), ref.survival(t), rtol=1e-12)
        np.testing.assert_allclose(cv.hazard(t), ref.hazard(t), rtol=1e-10)


def test_vectorised_over_draws_equals_one_by_one():
    t = np.array([0.5, 1.0, 2.0])
    shapes, scales = np.array([0.8, 1.2, 2.0]), np.array([1.0, 3.0, 0.5])
    many = SurvivalCurve("weibull", {"shape": shapes, "scale": scales})
    assert many.n_draws == 3 and many.survival(t).shape == (3, 3)
    for i in range(3):
        one = SurvivalCurve("weibull", {"shape": shapes[i], "scale": scales[i]})
        np.testing.assert_array_equal(many.survival(t)[i], one.survival(t))
        np.testing.assert_array_equal(many.hazard(t)[i], one.hazard(t))
    g = np.array([[-1.0, 1.3, 0.02, -0.03], [-0.5, 1.1, 0.0, 0.01]])
    sp = SurvivalCurve("spline", {f"gamma{j}": g[:, j] for j in range(4)}, knots=KNOTS, scale="odds")
    for i in range(2):
        np.testing.assert_array_equal(sp.cumhaz(t)[i], spline("odds", g[i]).cumhaz(t))


def test_transition_probabilities_and_inversion():
    cv = SurvivalCurve("weibull", {"shape": 1.5, "scale": 4.0})
    grid = np.arange(0.0, 6.0)
    p = cv.transition_probabilities(grid)
    S = cv.survival(grid)
    np.testing.assert_allclose(p, 1 - S[1:] / S[:-1], rtol=1e-12)
    np.testing.assert_allclose(np.prod(1 - p), S[-1], rtol=1e-12)
    u = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(cv.survival(cv.random(u)), 1 - u, rtol=1e-12)


def test_bad_curves_are_refused_with_a_reason():
    with pytest.raises(HtaError, match="did you mean 'weibull'"):
        SurvivalCurve("weibul", {"shape": 1.0, "scale": 1.0})
    with pytest.raises(HtaError, match="missing scale"):
        SurvivalCurve("weibull", {"shape": 1.0})
    with pytest.raises(HtaError, match="'shape' must be > 0"):
        SurvivalCurve("weibull", {"shape": -1.0, "scale": 1.0})
    with pytest.raises(HtaError, match="knots and its scale"):
        SurvivalCurve("spline", {"gamma0": 0.0, "gamma1": 1.0})
    with pytest.raises(HtaError, match="times must be >= 0"):
        SurvivalCurve("exp", {"rate": 1.0}).survival([-1.0])
