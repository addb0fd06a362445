"""Bootstrap draws of a fit's coefficients: reproducible, chunk-independent, joined to the parameter table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim import HtaError, ParameterTable
from sim.params.table import Parameter
from sim.survival import SurvivalCurve, bootstrap_coefficients, bootstrap_rows, fit_survival, probability

DATA = Path(__file__).parent / "data" / "survival"


@pytest.fixture(scope="module")
def ovarian():
    ov = pd.read_csv(DATA / "ovarian.csv")
    ov["arm"] = (ov["rx"] == 2) * 1.0
    return ov, fit_survival(ov, "weibull", time="futime", event="fustat", covariates=["arm"], engine="scipy")


def test_same_seed_same_draws_whatever_the_chunks(ovarian):
    ov, fit = ovarian
    a = fit.bootstrap_draws(ov, 8, seed=4)
    assert a.shape == (8, 3)
    np.testing.assert_array_equal(a, fit.bootstrap_draws(ov, 8, seed=4))
    np.testing.assert_array_equal(a[3:7], bootstrap_coefficients(fit, ov, 4, 4, lo=3))
    np.testing.assert_array_equal(a[5:], np.vstack([fit.bootstrap_draws(ov, 1, seed=4, lo=i) for i in (5, 6, 7)]))
    assert not np.array_equal(a, fit.bootstrap_draws(ov, 8, seed=5))
    assert not np.array_equal(a, fit.bootstrap_draws(ov, 8, seed=4, stream=1))
    assert np.all(np.isfinite(a)) and len({tuple(r) for r in a}) == 8


def test_each_draw_is_the_fit_of_a_resample(ovarian):
    """Draw i refits the patients picked by its own stream: the same estimate as fit_survival on them."""
    ov, fit = ovarian
    from sim.survival.bootstrap import BOOTSTRAP_KEY

    i, seed = 2, 9
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(BOOTSTRAP_KEY, 0, i))))
    idx = gen.integers(0, len(ov), size=len(ov))
    refit = fit_survival(ov.iloc[idx].reset_index(drop=True), "weibull", time="futime", event="fustat",
                         covariates=["arm"], engine="scipy")
    np.testing.assert_allclose(fit.bootstrap_draws(ov, 1, seed=seed, lo=i)[0], refit.estimates, rtol=1e-5,
                               atol=1e-6)


def test_bootstrap_covariance_is_close_to_the_mle_covariance_on_a_large_sample():
    """1,500 simulated patients (Weibull, shape 1.3, time ratio exp(0.4) for the arm, uniform censoring):
    600 bootstrap replicates have the mean and covariance of the maximum-likelihood estimate's normal
    approximation (inverse observed information) within their Monte Carlo error."""
    rng = np.random.default_rng(1)
    n = 1500
    arm = rng.integers(0, 2, n)
    t = 5.0 * rng.weibull(1.3, n) * np.exp(0.4 * arm)
    c = rng.uniform(0.0, 10.0, n)
    df = pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c) * 1, "arm": arm})
    fit = fit_survival(df, "weibull", covariates=["arm"], engine="scipy")
    b = fit.bootstrap_draws(df, 600, seed=11)
    sd = np.sqrt(np.diag(fit.covariance))
    assert np.all(np.abs(b.mean(axis=0) - fit.estimates) < 0.2 * sd)
    np.testing.assert_allclose(b.std(axis=0, ddof=1) / sd, 1.0, atol=0.1)
    assert np.max(np.abs(np.cov(b.T) - fit.covariance) / np.outer(sd, sd)) < 0.2


def test_bootstrap_rows_join_the_parameter_table_draws(tmp_path, ovarian):
    ov, fit = ovarian
    rows = bootstrap_rows(fit, ov, "os", tmp_path / "os_boot.csv", n=40, seed=3, source="R survival ovarian data")
    assert [r.name for r in rows] == ["os_log_shape", "os_log_scale", "os_arm"]
    assert all(r.distribution == "empirical" and r.group == "os" for r in rows)
    np.testing.assert_allclose([r.value for r in rows], fit.estimates)
    reps = pd.read_csv(tmp_path / "os_boot.csv")
    np.testing.assert_array_equal(reps.to_numpy(), fit.bootstrap_draws(ov, 40, seed=3))  # written in full
    other = Parameter(name="c_year", value=1000.0, distribution="normal", args={"mean": 1000.0, "sd": 100.0},
                      source="illustration")
    table = ParameterTable([*rows, other], base_dir=tmp_path)
    draws = table.sampler(300, seed=8).arrays(0, 300)
    joint = np.column_stack([draws[r.name] for r in rows])
    as_rows = {tuple(r) for r in reps.to_numpy()}
    assert all(tuple(r) in as_rows for r in joint)  # a whole replicate per draw: the joint distribution is kept
    assert len({tuple(r) for r in joint}) > 25
    again = table.sampler(300, seed=8).arrays(120, 180)  # same seed, another chunk: the same numbers
    for name in table.names:
        np.testing.assert_array_equal(again[name], draws[name][120:180])
    # the coefficients drive a cohort model per draw, as with the multivariate normal rows
    p = probability(fit, prefix="os", covariates={"arm": sim.ByStrategy(control=0.0, active=1.0)}, time_unit="day")
    model = sim.Model(states=("Alive", "Dead"), strategies=("control", "active"),
                      transitions={("Alive", "Alive"): sim.C, ("Alive", "Dead"): p}, start={"Alive": 1.0},
                      horizon=24, cycle_length=1 / 12, utilities={"Alive": 1.0}, dead=("Dead",),
                      parameters={r.name: r.value for r in rows})
    few = {k: v[:4] for k, v in draws.items() if k.startswith("os_")}
    res = sim.run_cohort(model, few, trace=True)
    tr = res.trace
    for i in range(4):
        curve = SurvivalCurve("weibull", {"shape": np.exp(few["os_log_shape"][i]),
                                          "scale": np.exp(few["os_log_scale"][i] + few["os_arm"][i])})
        alive = tr[(tr["draw"] == i) & (tr["strategy"] == "active") & (tr["state"] == "Alive")]
        np.testing.assert_allclose(alive["share"].to_numpy(), curve.survival(alive["cycle"].to_numpy() * 365.25 / 12),
                                   rtol=1e-10)


def test_splines_keep_their_knots():
    gb = pd.read_csv(DATA / "gbsg2.csv")
    df = pd.DataFrame({"time": gb["time"] / 365.0, "event": gb["cens"]})
    fit = fit_survival(df, "spline", k=1, scale="hazard")
    b = fit.bootstrap_draws(df, 5, seed=2)
    assert b.shape == (5, 3) and np.all(np.isfinite(b))
    sd = np.sqrt(np.diag(fit.covariance))
    assert np.all(np.abs(b - fit.estimates) < 6 * sd)


def test_bad_inputs_are_refused(ovarian):
    ov, fit = ovarian
    with pytest.raises(HtaError, match="not those of"):
        fit.bootstrap_draws(ov.iloc[:20], 2, seed=1)
    with pytest.raises(HtaError, match="does not record"):
        dataclasses.replace(fit, data_columns=()).bootstrap_draws(ov, 2, seed=1)
    with pytest.raises(HtaError, match="seed"):
        fit.bootstrap_draws(ov, 2, seed=-1)
    with pytest.raises(HtaError, match="n "):
        fit.bootstrap_draws(ov, 2.5, seed=1)
