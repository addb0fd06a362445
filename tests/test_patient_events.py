"""Times to event and counter-based streams of the patient-level engine."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sim
from sim import HtaError
from sim.patient import (
    Exponential,
    Gompertz,
    LogLogistic,
    LogNormal,
    PiecewiseExponential,
    Weibull,
    background_mortality,
    uniforms,
)

N = 100_000
U = uniforms(7, 0, np.arange(N), 0)

CASES = [
    (Exponential(0.5), stats.expon(scale=2.0)),
    (Weibull(1.5, 3.0), stats.weibull_min(1.5, scale=3.0)),
    (Gompertz(0.1, 0.02), stats.gompertz(0.02 / 0.1, scale=1 / 0.1)),
    (LogLogistic(2.0, 5.0), stats.fisk(2.0, scale=5.0)),
    (LogNormal(1.0, 0.5), stats.lognorm(0.5, scale=np.e)),
]


@pytest.mark.parametrize("dist, ref", CASES, ids=[type(d).__name__ for d, _ in CASES])
def test_survival_and_samples_match_scipy(dist, ref):
    t = np.array([0.1, 0.5, 2.0, 7.0, 20.0])
    np.testing.assert_allclose(dist.survival(t), ref.sf(t), rtol=1e-10, atol=1e-300)
    x = dist.sample(U)
    assert stats.kstest(x, ref.cdf).pvalue > 1e-3
    # inversion is exact: the sampled time's survival equals the uniform
    np.testing.assert_allclose(dist.survival(x[:1000]), U[:1000], rtol=1e-8)


@pytest.mark.parametrize("dist, ref", CASES, ids=[type(d).__name__ for d, _ in CASES])
def test_conditional_on_elapsed_time(dist, ref):
    a = 1.5
    x = dist.sample(U, elapsed=a)
    # P(X > s | survived a) = S(a + s) / S(a)
    for s in (0.5, 2.0):
        expected = ref.sf(a + s) / ref.sf(a)
        assert abs(np.mean(x > s) - expected) < 5 * np.sqrt(expected * (1 - expected) / N) + 1e-9


def test_hazard_ratio_scales_the_cumulative_hazard():
    d = Weibull(1.3, 4.0)
    x = d.sample(U, hr=2.5)
    # S_hr(t) = S(t) ** hr
    for t in (1.0, 3.0, 6.0):
        expected = d.survival(t) ** 2.5
        assert abs(np.mean(x > t) - expected) < 5 * np.sqrt(expected * (1 - expected) / N)
    assert np.all(np.isinf(d.sample(U[:10], hr=0.0)))  # no hazard: never happens


def test_per_patient_parameters_broadcast():
    rates = np.array([0.1, 1.0, 10.0])
    x = Exponential(rates).sample(np.full(3, np.exp(-1.0)))  # -log u = 1
    np.testing.assert_allclose(x, 1.0 / rates)


def test_piecewise_exponential_by_hand():
    pw = PiecewiseExponential([0.0, 1.0, 3.0], [0.1, 0.5, 0.2])
    # H(2) = 0.1 * 1 + 0.5 * 1 = 0.6 ; H(4) = 0.1 + 0.5 * 2 + 0.2 * 1 = 1.3
    np.testing.assert_allclose(pw.cumhaz(np.array([0.5, 2.0, 4.0])), [0.05, 0.6, 1.3])
    np.testing.assert_allclose(pw.inv_cumhaz(np.array([0.05, 0.6, 1.3])), [0.5, 2.0, 4.0])
    x = pw.sample(U)
    assert abs(np.mean(x > 2.0) - np.exp(-0.6)) < 0.005
    # a piece without hazard is skipped; per-patient rates
    zero = PiecewiseExponential([0.0, 1.0], [[0.0, 1.0], [2.0, 1.0]])
    np.testing.assert_allclose(zero.inv_cumhaz(np.array([0.5, 0.5])), [1.5, 0.25])


def test_gompertz_with_negative_shape_can_never_happen():
    g = Gompertz(-0.5, 0.1)  # total hazard 0.2: P(never) = exp(-0.2)
    x = g.sample(U)
    assert abs(np.mean(np.isinf(x)) - np.exp(-0.2)) < 0.005


def test_background_mortality_matches_life_table():
    table = sim.LifeTable.packaged("us_2017_nchs")
    q = pd.read_csv("sim/data/lifetables/us_2017_nchs.csv").query("sex == 'male'").set_index("age")["qx"]
    d = background_mortality(table, "male", 70)
    # survival over the next 3 years: (1 - q70)(1 - q71)(1 - q72)
    np.testing.assert_allclose(d.survival(3.0), (1 - q[70]) * (1 - q[71]) * (1 - q[72]), rtol=1e-12)
    # a fractional age: half of age 70's hazard, then a whole year of 71
    d2 = background_mortality(table, "male", 70.5)
    np.testing.assert_allclose(d2.survival(1.5), (1 - q[70]) ** 0.5 * (1 - q[71]), rtol=1e-12)
    # a batch of ages
    d3 = background_mortality(table, "male", np.array([60.0, 80.0]))
    np.testing.assert_allclose(d3.cumhaz(np.array([1.0, 1.0])), [-np.log1p(-q[60]), -np.log1p(-q[80])])
    x = background_mortality(table, "male", 99).sample(U[:1000])
    assert np.all(x <= 1.0 + 1e-6)  # q = 1 from age 100 on


def test_streams_are_uniform_independent_and_batch_free():
    assert stats.kstest(U, "uniform").pvalue > 1e-3
    assert U.min() > 0 and U.max() < 1
    other_slot = uniforms(7, 0, np.arange(N), 1)
    assert abs(np.corrcoef(U, other_slot)[0, 1]) < 0.02
    assert abs(np.corrcoef(U, uniforms(8, 0, np.arange(N), 0))[0, 1]) < 0.02
    assert abs(np.corrcoef(U, uniforms(7, 1, np.arange(N), 0))[0, 1]) < 0.02
    # a uniform depends only on its keys: any batch, any order
    idx = np.random.default_rng(0).permutation(N)[:500]
    np.testing.assert_array_equal(uniforms(7, 0, idx, 0), U[idx])
    np.testing.assert_array_equal(uniforms(7, 0, 123, 0), U[123])


@pytest.mark.parametrize("build, match", [
    (lambda: Exponential(-1.0), "Exponential rate is -1.0"),
    (lambda: Exponential(float("nan")), "Exponential rate is nan"),
    (lambda: Weibull(0.0, 1.0), "Weibull shape is 0.0"),
    (lambda: LogNormal(0.0, -1.0), "LogNormal sdlog"),
    (lambda: PiecewiseExponential([1.0, 2.0], [0.1, 0.2]), "must start at 0"),
    (lambda: PiecewiseExponential([0.0, 2.0], [0.1]), "2 breaks but 1 rates"),
    (lambda: Exponential(0.1).sample(U[:3], elapsed=-1.0), "elapsed time is -1.0"),
    (lambda: Exponential(0.1).sample(U[:3], hr=float("nan")), "hazard ratio is nan"),
    (lambda: Exponential(0.1).sample([0.0, 0.5]), "strictly between 0 and 1"),
    (lambda: uniforms(-1, 0, 0, 0), "seed -1"),
    (lambda: uniforms(1, 0, 1.5, 0), "whole numbers"),
])
def test_bad_input(build, match):
    with pytest.raises(HtaError, match=match):
        build()
