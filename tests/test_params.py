"""Parameter tables: distributions, correlation, sampling and reading (docs/parameters.md).

Expected moments are computed here from the textbook formulas (not from scipy),
and compared with 200,000 Monte Carlo draws (and Latin hypercube / Sobol draws)
within about 5 standard errors for means and 2 % for standard deviations.
Tests marked "library bug" in their docstring fail on purpose until the library
is fixed.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.errors import HtaError
from sim.params.sampling import BLOCK, Draws
from sim.params.table import Parameter, ParameterTable

EXAMPLES = max(10, int(os.environ.get("HTA_SIM_TEST_EXAMPLES", "60")) // 2)
PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

N = 200_000
Z975 = 1.959963984540054


def P(name, dist="fixed", value=0.5, group="", **args):
    """A parameter row built in Python (args given as text, as in a file)."""
    return Parameter(name, value, dist, {k: str(v) for k, v in args.items()}, group=group,
                     source="test source, p. 1")


def _phi(x):
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def _Phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def truncnorm_moments(m, s, lo, hi):
    a, b = (lo - m) / s, (hi - m) / s
    Z = _Phi(b) - _Phi(a)
    ta = a * _phi(a) if math.isfinite(a) else 0.0
    tb = b * _phi(b) if math.isfinite(b) else 0.0
    mean = m + s * (_phi(a) - _phi(b)) / Z
    var = s * s * (1 + (ta - tb) / Z - ((_phi(a) - _phi(b)) / Z) ** 2)
    return mean, math.sqrt(var)


def beta_moments(a, b, lo=0.0, hi=1.0):
    mean = a / (a + b)
    var = a * b / ((a + b) ** 2 * (a + b + 1))
    return lo + (hi - lo) * mean, (hi - lo) * math.sqrt(var)


def lognormal_moments(mu, s):
    return math.exp(mu + s * s / 2), math.sqrt((math.exp(s * s) - 1) * math.exp(2 * mu + s * s))


def pert_moments(lo, mode, hi, lam=4.0):
    a = 1 + lam * (mode - lo) / (hi - lo)
    b = 1 + lam * (hi - mode) / (hi - lo)
    return beta_moments(a, b, lo, hi)


def triangular_moments(lo, mode, hi):
    var = (lo * lo + mode * mode + hi * hi - lo * mode - lo * hi - mode * hi) / 18
    return (lo + mode + hi) / 3, math.sqrt(var)


_ci_sdlog = (math.log(0.710) - math.log(0.365)) / (2 * Z975)

# name -> (row, expected mean, expected sd)
UNIVARIATE_CASES = {
    "normal_mean_sd": (P("normal_mean_sd", "normal", mean=3, sd=2), 3.0, 2.0),
    "normal_mean_se": (P("normal_mean_se", "normal", mean=-1, se=0.5), -1.0, 0.5),
    "normal_ci": (P("normal_ci", "normal", ci_low=1, ci_high=5), 3.0, 4 / (2 * Z975)),
    "truncnormal_both": (P("truncnormal_both", "truncnormal", mean=0, sd=1, low=-0.5, high=2),
                         *truncnorm_moments(0, 1, -0.5, 2)),
    "truncnormal_se_both": (P("truncnormal_se_both", "truncnormal", mean=10, se=3, low=8, high=20),
                            *truncnorm_moments(10, 3, 8, 20)),
    "truncnormal_low": (P("truncnormal_low", "truncnormal", mean=1, sd=2, low=0),
                        *truncnorm_moments(1, 2, 0, math.inf)),
    "truncnormal_se_low": (P("truncnormal_se_low", "truncnormal", mean=1, se=2, low=0.5),
                           *truncnorm_moments(1, 2, 0.5, math.inf)),
    "truncnormal_high": (P("truncnormal_high", "truncnormal", mean=5, sd=1, high=5.5),
                         *truncnorm_moments(5, 1, -math.inf, 5.5)),
    "truncnormal_se_high": (P("truncnormal_se_high", "truncnormal", mean=0.2, se=0.1, high=0.25),
                            *truncnorm_moments(0.2, 0.1, -math.inf, 0.25)),
    "lognormal_meanlog": (P("lognormal_meanlog", "lognormal", meanlog=0.1, sdlog=0.3),
                          *lognormal_moments(0.1, 0.3)),
    "lognormal_mean_se": (P("lognormal_mean_se", "lognormal", mean=2, se=0.5), 2.0, 0.5),
    "lognormal_mean_sd": (P("lognormal_mean_sd", "lognormal", mean=150, sd=60), 150.0, 60.0),
    "lognormal_ci": (P("lognormal_ci", "lognormal", ci_low=0.365, ci_high=0.710),
                     *lognormal_moments((math.log(0.365) + math.log(0.710)) / 2, _ci_sdlog)),
    "beta_alpha_beta": (P("beta_alpha_beta", "beta", alpha=2, beta=5), *beta_moments(2, 5)),
    "beta_mean_se": (P("beta_mean_se", "beta", mean=0.3, se=0.1), 0.3, 0.1),
    "beta_mean_sd": (P("beta_mean_sd", "beta", mean=0.85, sd=0.05), 0.85, 0.05),
    "beta_events_n": (P("beta_events_n", "beta", events=30, n=100), *beta_moments(30, 70)),
    "gamma_shape_scale": (P("gamma_shape_scale", "gamma", shape=2, scale=3), 6.0, math.sqrt(2) * 3),
    "gamma_shape_rate": (P("gamma_shape_rate", "gamma", shape=2, rate=3), 2 / 3, math.sqrt(2) / 3),
    "gamma_mean_se": (P("gamma_mean_se", "gamma", mean=1000, se=200), 1000.0, 200.0),
    "gamma_mean_sd": (P("gamma_mean_sd", "gamma", mean=0.5, sd=0.4), 0.5, 0.4),
    "uniform": (P("uniform", "uniform", low=1, high=3), 2.0, 2 / math.sqrt(12)),
    "triangular": (P("triangular", "triangular", low=0, mode=1, high=4), *triangular_moments(0, 1, 4)),
    "triangular_at_low": (P("triangular_at_low", "triangular", low=2, mode=2, high=5),
                          *triangular_moments(2, 2, 5)),
    "pert": (P("pert", "pert", low=0, mode=1, high=4), *pert_moments(0, 1, 4)),
    "pert_lambda": (P("pert_lambda", "pert", low=10, mode=12, high=20, **{"lambda": 2}),
                    *pert_moments(10, 12, 20, 2.0)),
}
FIXED = P("fixed_value", "fixed", value=7.25)
BOUNDS = {"truncnormal_both": (-0.5, 2), "truncnormal_se_both": (8, 20), "truncnormal_low": (0, math.inf),
          "truncnormal_se_low": (0.5, math.inf), "truncnormal_high": (-math.inf, 5.5),
          "truncnormal_se_high": (-math.inf, 0.25)}


@pytest.fixture(scope="module")
def univariate_table():
    return ParameterTable([row for row, _, _ in UNIVARIATE_CASES.values()] + [FIXED])


@pytest.fixture(scope="module")
def univariate_draws(univariate_table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "mc": univariate_table.draw(N, 2026, "mc").frame,
            "lhs": univariate_table.draw(N, 2026, "lhs").frame,
            "sobol": univariate_table.draw(2 ** 17, 2026, "sobol").frame,
        }


# ---------------------------------------------------------------------------- 1. distributions
def test_hand_formulas_of_this_file_agree_with_the_spec():
    """Sanity check of the expected values used below (PERT/triangular closed forms)."""
    assert pert_moments(0, 1, 4)[0] == pytest.approx((0 + 4 * 1 + 4) / 6, rel=1e-14)
    assert pert_moments(10, 12, 20, 2.0)[0] == pytest.approx((10 + 2 * 12 + 20) / 4, rel=1e-14)
    assert triangular_moments(0, 1, 4)[0] == pytest.approx(5 / 3, rel=1e-14)


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
@pytest.mark.parametrize("case", list(UNIVARIATE_CASES))
def test_sample_mean_and_sd_match_the_distribution(univariate_draws, method, case):
    _, mean, sd = UNIVARIATE_CASES[case]
    x = univariate_draws[method][case].to_numpy()
    assert np.isfinite(x).all()
    se_mean = sd / math.sqrt(len(x))
    assert abs(x.mean() - mean) < 5 * se_mean, (x.mean(), mean)
    assert x.std(ddof=1) == pytest.approx(sd, rel=0.02)


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
def test_fixed_parameter_is_always_its_value(univariate_draws, method):
    assert (univariate_draws[method]["fixed_value"] == 7.25).all()


@pytest.mark.parametrize("case", list(BOUNDS))
@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
def test_truncnormal_stays_inside_its_bounds(univariate_draws, method, case):
    lo, hi = BOUNDS[case]
    x = univariate_draws[method][case].to_numpy()
    assert (x >= lo).all() and (x <= hi).all()


@pytest.mark.parametrize("method", ["mc", "lhs"])
@pytest.mark.parametrize("case,dist", [("normal_ci", "normal"), ("lognormal_ci", "lognormal")])
def test_ci_form_puts_2_5_and_97_5_percent_at_the_interval_ends(univariate_draws, method, case, dist):
    row = UNIVARIATE_CASES[case][0]
    lo, hi = float(row.args["ci_low"]), float(row.args["ci_high"])
    x = univariate_draws[method][case].to_numpy()
    tol = 5 * math.sqrt(0.025 * 0.975 / len(x))
    assert np.mean(x < lo) == pytest.approx(0.025, abs=tol)
    assert np.mean(x > hi) == pytest.approx(0.025, abs=tol)
    assert np.quantile(x, 0.025) == pytest.approx(lo, rel=0.01)
    assert np.quantile(x, 0.975) == pytest.approx(hi, rel=0.01)


def test_ci_forms_exact_parameters():
    """The fitted distributions themselves: the interval ends are exact quantiles."""
    t = ParameterTable([UNIVARIATE_CASES["normal_ci"][0], UNIVARIATE_CASES["lognormal_ci"][0]])
    u = np.array([[0.025, 0.025], [0.975, 0.975], [0.5, 0.5]])
    v = t.transform(u)
    assert v["normal_ci"].tolist() == pytest.approx([1, 5, 3], rel=1e-9)
    assert v["lognormal_ci"].tolist() == pytest.approx([0.365, 0.710, math.sqrt(0.365 * 0.710)], rel=1e-9)


@pytest.mark.parametrize("dist,mean,se", [("beta", 0.3, 0.1), ("beta", 0.02, 0.01), ("beta", 0.9, 0.05),
                                          ("gamma", 1000, 200), ("gamma", 0.3, 0.6),
                                          ("lognormal", 2, 0.5), ("lognormal", 0.5, 1.0)])
def test_method_of_moments_fits_reproduce_mean_and_se(dist, mean, se):
    t = ParameterTable([P("x", dist, mean=mean, se=se)])
    # the fitted distribution exactly ...
    dist_obj = t._uni[0][1]
    assert dist_obj.mean() == pytest.approx(mean, rel=1e-10)
    assert dist_obj.std() == pytest.approx(se, rel=1e-10)
    # ... and its draws
    x = t.draw(N, 11).frame["x"].to_numpy()
    assert abs(x.mean() - mean) < 5 * se / math.sqrt(N)
    # the sample SD's relative standard error is about sqrt((kurtosis - 1) / (4 N)): allow 5 of them
    kurtosis = float(dist_obj.stats(moments="k")) + 3
    assert x.std() == pytest.approx(se, rel=max(0.03, 5 * math.sqrt((kurtosis - 1) / (4 * N))))


def test_beta_and_gamma_fit_formulas():
    """The documented fits: k = m(1-m)/se^2 - 1, alpha = m k; shape = m^2/se^2, scale = se^2/m."""
    t = ParameterTable([P("b", "beta", mean=0.3, se=0.1), P("g", "gamma", mean=1000, se=200),
                        P("l", "lognormal", mean=2, se=0.5)])
    d = {p.name: dist for p, dist in t._uni}
    k = 0.3 * 0.7 / 0.01 - 1
    assert d["b"].args == pytest.approx((0.3 * k, 0.7 * k))
    assert d["g"].args[0] == pytest.approx(1000 ** 2 / 200 ** 2)
    assert d["g"].kwds["scale"] == pytest.approx(200 ** 2 / 1000)
    s2 = math.log(1 + 0.25 ** 2)
    assert d["l"].args[0] == pytest.approx(math.sqrt(s2))
    assert math.log(d["l"].kwds["scale"]) == pytest.approx(math.log(2) - s2 / 2)


# ---------------------------------------------------------------------------- multivariate
DIRICHLET_COUNTS = {"pAA": 1251, "pAB": 350, "pAC": 116, "pAD": 17}  # Briggs et al. 2006, Ex. 4.7 (row A)
SMALL_COUNTS = {"q1": 2, "q2": 3, "q3": 5}


@pytest.fixture(scope="module")
def dirichlet_table():
    rows = [P(n, "dirichlet", group="A", count=c) for n, c in DIRICHLET_COUNTS.items()]
    rows += [P(n, "dirichlet", group="small", count=c) for n, c in SMALL_COUNTS.items()]
    return ParameterTable(rows)


@pytest.mark.parametrize("method", ["mc", "lhs"])
def test_dirichlet_rows_sum_to_one_with_means_count_over_sum(dirichlet_table, method):
    d = dirichlet_table.draw(N, 5, method).frame
    for counts in (DIRICHLET_COUNTS, SMALL_COUNTS):
        names = list(counts)
        total = sum(counts.values())
        assert np.abs(d[names].sum(axis=1) - 1).max() < 1e-12
        assert (d[names] > 0).all().all()
        for n, c in counts.items():
            a = c / total
            sd = math.sqrt(a * (1 - a) / (total + 1))
            assert abs(d[n].mean() - a) < 5 * sd / math.sqrt(N), n
            assert d[n].std() == pytest.approx(sd, rel=0.03), n


def _write_cov(tmp_path, names, cov, fname="cov.csv"):
    pd.DataFrame(cov, index=names, columns=names).to_csv(tmp_path / fname)
    return fname


@pytest.mark.parametrize("method", ["mc", "lhs"])
def test_mvnormal_reproduces_means_and_covariance(tmp_path, method):
    names = ["b0", "b1", "b2"]
    cov = np.array([[1.0, 0.6, -0.3], [0.6, 2.0, 0.4], [-0.3, 0.4, 0.5]])
    f = _write_cov(tmp_path, names, cov)
    means = [1.5, -2.0, 0.25]
    rows = [P(n, "mvnormal", group="reg", mean=m, cov=f) for n, m in zip(names, means, strict=True)]
    t = ParameterTable(rows, base_dir=tmp_path)
    d = t.draw(N, 3, method).frame[names].to_numpy()
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(d.mean(axis=0) - means) < 5 * sd / math.sqrt(N))
    S = np.cov(d, rowvar=False)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / N)
    assert np.all(np.abs(S - cov) < 5 * se), S


def test_mvnormal_cov_file_rows_reordered_by_name(tmp_path):
    """The covariance file is read by parameter name, not by position."""
    cov = pd.DataFrame([[4.0, 0.0], [0.0, 0.01]], index=["y", "x"], columns=["y", "x"])
    cov.to_csv(tmp_path / "c.csv")
    t = ParameterTable([P("x", "mvnormal", group="g", mean=0, cov="c.csv"),
                        P("y", "mvnormal", group="g", mean=0, cov="c.csv")], base_dir=tmp_path)
    d = t.draw(50_000, 1).frame
    assert d["x"].std() == pytest.approx(0.1, rel=0.03)
    assert d["y"].std() == pytest.approx(2.0, rel=0.03)


@pytest.fixture
def empirical_file(tmp_path):
    rng = np.random.default_rng(0)
    x = np.arange(10.0)
    frame = pd.DataFrame({"alpha": x, "beta_post": 100 + x ** 2, "other": rng.normal(size=10)})
    frame.to_csv(tmp_path / "posterior.csv", index=False)
    return tmp_path, frame


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
@pytest.mark.filterwarnings("ignore:Sobol")
def test_empirical_draws_keep_the_joint_distribution(empirical_file, method):
    tmp_path, frame = empirical_file
    t = ParameterTable([P("alpha", "empirical", file="posterior.csv"),
                        P("b", "empirical", file="posterior.csv", column="beta_post"),
                        P("g", "gamma", mean=1, se=0.1)], base_dir=tmp_path)
    n = 50_000
    d = t.draw(n, 9, method).frame
    # every draw is one row of the file: the pairing of the two columns is kept
    assert (d["b"] == 100 + d["alpha"] ** 2).all()
    assert set(d["alpha"]) <= set(frame["alpha"])
    # rows resampled uniformly with replacement
    counts = d["alpha"].value_counts().reindex(frame["alpha"], fill_value=0).to_numpy()
    p = 1 / len(frame)
    assert np.all(np.abs(counts / n - p) < 5 * math.sqrt(p * (1 - p) / n))


def test_empirical_rows_shared_within_an_explicit_group(empirical_file):
    tmp_path, _ = empirical_file
    t = ParameterTable([P("alpha", "empirical", group="post", file="posterior.csv"),
                        P("beta_post", "empirical", group="post", file="posterior.csv")], base_dir=tmp_path)
    d = t.draw(5000, 2).frame
    assert (d["beta_post"] == 100 + d["alpha"] ** 2).all()


def test_empirical_missing_column_names_column_and_file(empirical_file):
    tmp_path, _ = empirical_file
    with pytest.raises(HtaError) as err:
        ParameterTable([P("alpha", "empirical", file="posterior.csv"),
                        P("gamma", "empirical", file="posterior.csv", column="betta_post")], base_dir=tmp_path)
    msg = str(err.value)
    assert "'betta_post'" in msg and "posterior.csv" in msg
    assert "beta_post" in msg  # the suggestion / the list of columns


def test_empirical_missing_default_column_named_after_parameter(empirical_file):
    tmp_path, _ = empirical_file
    with pytest.raises(HtaError, match=r"posterior\.csv.*'theta'|'theta'.*posterior\.csv"):
        ParameterTable([P("theta", "empirical", file="posterior.csv")], base_dir=tmp_path)


# ---------------------------------------------------------------------------- 2. sampling
def _mixed_table(tmp, correlations=True):
    """Every kind of parameter: univariate (fast path and inversion), copula, groups, fixed."""
    pd.DataFrame({"x": np.arange(7.0), "y": np.arange(7.0) * 3}).to_csv(tmp / "emp.csv", index=False)
    pd.DataFrame([[1.0, 0.3], [0.3, 0.5]], index=["m1", "m2"], columns=["m1", "m2"]).to_csv(tmp / "cov.csv")
    rows = [
        P("a", "gamma", mean=2, se=1), P("b", "beta", mean=0.3, se=0.1), P("c", "lognormal", mean=1, se=0.2),
        P("t", "truncnormal", mean=0, sd=1, low=0), P("pe", "pert", low=0, mode=1, high=3),
        P("tri", "triangular", low=0, mode=1, high=3), P("un", "uniform", low=-1, high=1),
        P("no", "normal", mean=0, sd=1), P("fx", "fixed", value=3.0),
        P("d1", "dirichlet", group="g", count=3), P("d2", "dirichlet", group="g", count=5),
        P("d3", "dirichlet", group="g", count=1.5),
        P("m1", "mvnormal", group="mv", mean=1, cov="cov.csv"), P("m2", "mvnormal", group="mv", mean=2, cov="cov.csv"),
        P("x", "empirical", file="emp.csv"), P("y", "empirical", file="emp.csv"),
    ]
    corr = {("a", "b"): -0.6, ("c", "b"): 0.4, ("t", "no"): 0.3} if correlations else None
    return ParameterTable(rows, correlations=corr, base_dir=tmp)


@pytest.fixture(scope="module")
def mixed_table(tmp_path_factory):
    return _mixed_table(tmp_path_factory.mktemp("mixed"))


@pytest.fixture(scope="module")
def mixed_table_uncorrelated(tmp_path_factory):
    return _mixed_table(tmp_path_factory.mktemp("mixed_uncorrelated"), correlations=False)


CHUNKINGS = [[0, 3172], [0, 1, 2, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 3000, 3171, 3172],
             [0, 1500, 3172], list(range(0, 3172, 777)) + [3172], [0, 2048, 3172]]


def _check_chunkings(table, method, n, seed=12345):
    full = table.draw(n, seed, method).frame.to_numpy()
    s = table.sampler(n, seed, method)
    for cuts in CHUNKINGS:
        cuts = sorted({min(c, n) for c in cuts} | {0, n})
        joined = np.vstack([s.draws(lo, hi).frame.to_numpy() for lo, hi in itertools.pairwise(cuts)])
        np.testing.assert_array_equal(joined, full, err_msg=f"chunk boundaries {cuts}")


@pytest.mark.filterwarnings("ignore:Sobol")
@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
def test_draws_identical_for_given_chunkings(mixed_table_uncorrelated, method):
    """For lhs this also finds the mvnormal rounding bug (see
    test_mvnormal_draws_identical_drawn_one_by_one)."""
    _check_chunkings(mixed_table_uncorrelated, method, 3172)


def test_correlated_mc_draws_identical_for_given_chunkings(mixed_table):
    _check_chunkings(mixed_table, "mc", 3172)


@pytest.mark.filterwarnings("ignore:Sobol")
@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
@settings(PROPERTY, derandomize=True)
@given(data=st.data())
def test_draws_identical_whatever_the_chunking(mixed_table, method, data):
    """For lhs and sobol this finds the copula rounding bug described in
    test_correlated_draws_identical_drawn_one_by_one (a last-bit difference)."""
    n = data.draw(st.integers(1, 3 * BLOCK + 100) if method != "sobol"
                  else st.sampled_from([1, 7, 1024, 2048, 3000, 4096]), label="n")
    seed = data.draw(st.integers(0, 2 ** 32), label="seed")
    cuts = sorted(set(data.draw(st.lists(st.integers(0, n), max_size=6), label="cuts")) | {0, n})
    s = mixed_table.sampler(n, seed, method)
    full = mixed_table.draw(n, seed, method)
    parts = [s.draws(lo, hi) for lo, hi in itertools.pairwise(cuts)]
    joined = pd.concat([p.frame for p in parts], ignore_index=True)
    assert list(joined.columns) == mixed_table.names
    np.testing.assert_array_equal(joined.to_numpy(), full.frame.to_numpy())
    np.testing.assert_array_equal(np.concatenate([p.ids for p in parts]), np.arange(n))
    assert full.seed == seed and full.method == method


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
@pytest.mark.filterwarnings("ignore:Sobol")
def test_correlated_draws_identical_drawn_one_by_one(method):
    """Library bug (lhs, sobol): with a copula, draws made one at a time differ from
    the same draws made together in the last bit (e.g. 0.40920613497729386 vs
    0.409206134977294): ``_values`` computes ``src.normals(k) @ L.T`` on the whole
    chunk, and BLAS rounds a 1-row product differently from an n-row one.  Monte
    Carlo is unaffected because it always works on full blocks of 1,024 draws.
    docs/parameters.md promises identical draws whatever the chunk size."""
    rows = [P("a", "gamma", mean=2, se=1), P("b", "beta", mean=0.3, se=0.1), P("c", "lognormal", mean=1, se=0.2)]
    t = ParameterTable(rows, correlations={("a", "b"): -0.6, ("c", "b"): 0.4})
    n = 256
    full = t.draw(n, 3, method).frame.to_numpy()
    s = t.sampler(n, 3, method)
    one_by_one = np.vstack([s.draws(i, i + 1).frame.to_numpy() for i in range(n)])
    np.testing.assert_array_equal(one_by_one, full)


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
@pytest.mark.filterwarnings("ignore:Sobol")
def test_mvnormal_draws_identical_drawn_one_by_one(tmp_path, method):
    """Library bug (lhs, sobol): the same rounding problem as the copula in the
    multivariate normal, ``means + src.normals(k) @ chol.T`` in ``_values``."""
    names = ["b0", "b1", "b2"]
    f = _write_cov(tmp_path, names, np.array([[1.0, 0.6, -0.3], [0.6, 2.0, 0.4], [-0.3, 0.4, 0.5]]))
    rows = [P(n, "mvnormal", group="reg", mean=m, cov=f) for n, m in zip(names, [1.5, -2.0, 0.25], strict=True)]
    t = ParameterTable(rows, base_dir=tmp_path)
    n = 256
    full = t.draw(n, 3, method).frame.to_numpy()
    s = t.sampler(n, 3, method)
    one_by_one = np.vstack([s.draws(i, i + 1).frame.to_numpy() for i in range(n)])
    np.testing.assert_array_equal(one_by_one, full)


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
@pytest.mark.filterwarnings("ignore:Sobol")
def test_uncorrelated_draws_identical_drawn_one_by_one(method):
    rows = [P("a", "gamma", mean=2, se=1), P("b", "beta", mean=0.3, se=0.1), P("c", "lognormal", mean=1, se=0.2),
            P("t", "truncnormal", mean=0, sd=1, low=0), P("d1", "dirichlet", group="g", count=2),
            P("d2", "dirichlet", group="g", count=3)]
    t = ParameterTable(rows)
    n = 256
    full = t.draw(n, 3, method).frame.to_numpy()
    s = t.sampler(n, 3, method)
    one_by_one = np.vstack([s.draws(i, i + 1).frame.to_numpy() for i in range(n)])
    np.testing.assert_array_equal(one_by_one, full)


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
@pytest.mark.filterwarnings("ignore:Sobol")
def test_different_seeds_give_different_draws(mixed_table, method):
    a = mixed_table.draw(256, 1, method).frame
    b = mixed_table.draw(256, 2, method).frame
    c = mixed_table.draw(256, 1, method).frame
    random = [n for n in mixed_table.random_names]
    assert not np.any(a[random].to_numpy() == b[random].to_numpy(), axis=0).all()
    for name in ["a", "b", "t", "d1", "m1"]:
        assert not np.array_equal(a[name], b[name]), name
    pd.testing.assert_frame_equal(a, c)


@pytest.mark.parametrize("method", ["mc", "sobol"])
@pytest.mark.parametrize("n,big", [(1, 10), (1000, 5000), (1024, 4096), (3000, 8192)])
@pytest.mark.filterwarnings("ignore:Sobol")
def test_prefix_property(mixed_table, method, n, big):
    """Draw i of an n-draw sample equals draw i of a larger sample with the same seed."""
    small = mixed_table.draw(n, 42, method).frame.to_numpy()
    large = mixed_table.draw(big, 42, method).frame.to_numpy()
    np.testing.assert_array_equal(small, large[:n])


def test_lhs_is_stratified_in_every_margin(mixed_table):
    """Latin hypercube: with n draws, exactly one draw of a uniform lies in each 1/n slice."""
    t = ParameterTable([P("u", "uniform", low=0, high=1), P("v", "uniform", low=0, high=1)])
    n = 500
    d = t.draw(n, 3, "lhs").frame
    for col in "uv":
        assert sorted(np.floor(d[col] * n).astype(int)) == list(range(n))


CORR_TARGETS = [0.3, 0.7, -0.5, -0.8, 0.05]


@pytest.mark.parametrize("method", ["mc", "lhs"])
@pytest.mark.parametrize("rho", CORR_TARGETS)
def test_rank_correlation_achieved_and_marginals_unchanged(rho, method):
    rows = [P("cost", "gamma", mean=1000, se=300), P("util", "beta", mean=0.7, se=0.1),
            P("other", "gamma", shape=2, scale=1)]
    t = ParameterTable(rows, correlations={("cost", "util"): rho})
    n = 50_000
    d = t.draw(n, 17, method).frame
    assert stats.spearmanr(d["cost"], d["util"])[0] == pytest.approx(rho, abs=0.02)
    assert stats.spearmanr(d["cost"], d["other"])[0] == pytest.approx(0, abs=0.02)
    assert abs(d["cost"].mean() - 1000) < 5 * 300 / math.sqrt(n)
    assert abs(d["util"].mean() - 0.7) < 5 * 0.1 / math.sqrt(n)
    assert d["cost"].std() == pytest.approx(300, rel=0.03)
    assert d["util"].std() == pytest.approx(0.1, rel=0.03)


@pytest.mark.parametrize("rho", [0.5, -0.8])
def test_rank_correlation_is_spearman_not_pearson_of_normal_scores(rho):
    """Tighter check with 200,000 draws: imposing rho as the normal-score (Pearson)
    correlation instead of 2 sin(pi rho / 6) would be off by about 0.015."""
    t = ParameterTable([P("x", "gamma", mean=1000, se=300), P("y", "beta", mean=0.7, se=0.1)],
                       correlations={("x", "y"): rho})
    d = t.draw(N, 31).frame
    assert stats.spearmanr(d["x"], d["y"])[0] == pytest.approx(rho, abs=0.006)


def test_several_rank_correlations_at_once():
    rows = [P("a", "gamma", mean=5, se=2), P("b", "beta", mean=0.2, se=0.05), P("c", "gamma", mean=1, se=0.5),
            P("d", "beta", alpha=3, beta=3)]
    target = {("a", "b"): 0.6, ("b", "c"): -0.4, ("a", "d"): -0.4, ("c", "d"): 0.2}
    t = ParameterTable(rows, correlations=target)
    d = t.draw(50_000, 23).frame
    for (x, y), rho in target.items():
        assert stats.spearmanr(d[x], d[y])[0] == pytest.approx(rho, abs=0.02), (x, y)
    for (x, y), m in {("a", "c"): 0.0}.items():  # pairs not given stay (nearly) independent
        assert stats.spearmanr(d[x], d[y])[0] == pytest.approx(m, abs=0.05)
    assert abs(d["a"].mean() - 5) < 5 * 2 / math.sqrt(50_000)
    assert abs(d["b"].mean() - 0.2) < 5 * 0.05 / math.sqrt(50_000)


def test_correlations_are_symmetric_in_the_pair_order():
    rows = [P("a", "gamma", mean=5, se=2), P("b", "beta", mean=0.2, se=0.05)]
    d1 = ParameterTable(rows, correlations={("a", "b"): 0.5}).draw(2000, 1).frame
    d2 = ParameterTable(rows, correlations={("b", "a"): 0.5}).draw(2000, 1).frame
    pd.testing.assert_frame_equal(d1, d2)


def test_non_positive_definite_correlations_name_the_parameters():
    rows = [P("alpha_p", "gamma", mean=1, se=0.2), P("beta_p", "gamma", mean=1, se=0.2),
            P("gamma_p", "gamma", mean=1, se=0.2), P("delta_p", "gamma", mean=1, se=0.2)]
    with pytest.raises(HtaError, match="positive definite") as err:
        ParameterTable(rows, correlations={("alpha_p", "beta_p"): 0.9, ("beta_p", "gamma_p"): 0.9,
                                           ("alpha_p", "gamma_p"): -0.9})
    msg = str(err.value)
    for name in ("alpha_p", "beta_p", "gamma_p"):
        assert name in msg
    assert "delta_p" not in msg


@pytest.mark.parametrize("n,seed,method", [(0, 1, "mc"), (-3, 1, "mc"), (2.5, 1, "mc"), (10, -1, "mc"),
                                           (10, 1, "latin"), (10, 1.5, "lhs")])
def test_bad_sampling_settings(mixed_table, n, seed, method):
    with pytest.raises(HtaError):
        mixed_table.draw(n, seed, method)


def test_draw_range_outside_the_sample(mixed_table):
    s = mixed_table.sampler(100, 1)
    with pytest.raises(HtaError, match="outside"):
        s.draws(50, 101)


def test_sobol_warns_when_n_is_not_a_power_of_two(mixed_table):
    with pytest.warns(UserWarning, match="power of 2"):
        mixed_table.sampler(1000, 1, "sobol")


def test_draws_from_frame_wraps_external_draws():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=[5, 6, 7])
    d = Draws.from_frame(df)
    assert len(d) == 3 and d.method == "given"
    assert d.ids.tolist() == [0, 1, 2]
    assert d.frame.index.tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------- 3. reading tables
TABLE_ROWS = [
    # name, value, distribution, args, group, source
    ("c_drug", 1200, "gamma", "mean=1200; se=150", "", "BNF 2024"),
    ("u_well", 0.85, "beta", "mean=0.85; se=0.04", "", "EQ-5D study, Table 3"),
    ("rr", 0.509, "lognormal", "ci_low=0.365; ci_high=0.710", "", "Chancellor 1997"),
    ("age", 50, "", "", "", "trial baseline, p. 4"),
    ("pA", 0.7, "dirichlet", "count=70", "rowA", "cohort counts"),
    ("pB", 0.3, "dirichlet", "count=30", "rowA", "cohort counts"),
    ("hr", 0.8, "normal", "mean=0.8, sd=0.1", "", "meta-analysis"),
]
CORR_ROWS = [("c_drug", "u_well", -0.4), ("rr", "hr", 0.3)]
COLS = ["name", "value", "distribution", "args", "group", "source"]


def _csv(tmp_path, rows=TABLE_ROWS, name="params.csv", columns=COLS):
    pd.DataFrame(rows, columns=columns).to_csv(tmp_path / name, index=False)
    return tmp_path / name


def test_read_csv_table_with_args_column(tmp_path):
    t = ParameterTable.read(_csv(tmp_path))
    assert t.names == [r[0] for r in TABLE_ROWS]
    assert t.random_names == ["c_drug", "u_well", "rr", "pA", "pB", "hr"]
    assert t["c_drug"].distribution == "gamma" and t["c_drug"].args == {"mean": "1200", "se": "150"}
    assert t["hr"].args == {"mean": "0.8", "sd": "0.1"}  # ',' separates arguments too
    assert t["age"].distribution == "fixed"
    assert t.base["u_well"] == 0.85
    assert t["pA"].line == 6
    d = t.draw(20_000, 1).frame
    assert (d["age"] == 50).all()
    assert abs(d["c_drug"].mean() - 1200) < 5 * 150 / math.sqrt(20_000)


def test_excel_workbook_with_parameters_and_correlations_sheets_matches_csv(tmp_path):
    pd.DataFrame(CORR_ROWS, columns=["param_a", "param_b", "rho"]).to_csv(tmp_path / "corr.csv", index=False)
    csv = ParameterTable.read(_csv(tmp_path), correlations=tmp_path / "corr.csv")
    xlsx = tmp_path / "params.xlsx"
    with pd.ExcelWriter(xlsx, engine="openpyxl") as w:
        pd.DataFrame({"about": ["a readme sheet before the table"]}).to_excel(w, sheet_name="readme", index=False)
        pd.DataFrame(TABLE_ROWS, columns=COLS).to_excel(w, sheet_name="parameters", index=False)
        pd.DataFrame(CORR_ROWS, columns=["param_a", "param_b", "rho"]).to_excel(w, sheet_name="correlations",
                                                                             index=False)
    xl = ParameterTable.read(xlsx)
    assert xl.correlations == csv.correlations == {("c_drug", "u_well"): -0.4, ("hr", "rr"): 0.3}
    assert xl.names == csv.names
    for method in ("mc", "lhs"):
        pd.testing.assert_frame_equal(xl.draw(3000, 8, method).frame, csv.draw(3000, 8, method).frame)
    d = xl.draw(20_000, 3).frame
    assert stats.spearmanr(d["c_drug"], d["u_well"])[0] == pytest.approx(-0.4, abs=0.03)


def test_correlations_as_mapping_equal_correlations_file(tmp_path):
    pd.DataFrame(CORR_ROWS, columns=["param_a", "param_b", "rho"]).to_csv(tmp_path / "corr.csv", index=False)
    a = ParameterTable.read(_csv(tmp_path), correlations=tmp_path / "corr.csv")
    b = ParameterTable.read(_csv(tmp_path), correlations={(x, y): r for x, y, r in CORR_ROWS})
    pd.testing.assert_frame_equal(a.draw(500, 1).frame, b.draw(500, 1).frame)


def _table_error(tmp_path, rows, columns=COLS, **kw) -> str:
    path = _csv(tmp_path, rows, columns=columns)
    with pytest.raises(HtaError) as err:
        ParameterTable.read(path, **kw)
    msg = str(err.value)
    assert "params.csv" in msg, msg
    return msg


def test_error_unknown_distribution_suggests_the_closest(tmp_path):
    msg = _table_error(tmp_path, [("a", 1, "gama", "mean=1; se=0.1", "", "s")])
    assert "'gama'" in msg and "did you mean 'gamma'" in msg and "line 2" in msg


def test_error_impossible_beta_moments_shows_both_numbers(tmp_path):
    msg = _table_error(tmp_path, [("ok", 1, "", "", "", "s"), ("p", 0.5, "beta", "mean=0.5; se=0.6", "", "s")])
    assert "line 3" in msg and "beta" in msg
    assert "0.36" in msg and "0.25" in msg  # se^2 and mean(1 - mean)


@pytest.mark.parametrize("dist,args", [("gamma", "mean=0; se=1"), ("gamma", "mean=-2; se=1"),
                                       ("lognormal", "mean=0; se=1"), ("lognormal", "mean=-1; sd=1"),
                                       ("beta", "mean=1.2; se=0.1"), ("beta", "events=12; n=10")])
def test_error_impossible_moments(tmp_path, dist, args):
    msg = _table_error(tmp_path, [("p", 0.5, dist, args, "", "s")])
    assert "line 2" in msg and dist in msg


def test_error_unknown_argument_key_with_suggestion(tmp_path):
    msg = _table_error(tmp_path, [("a", 1, "gamma", "meen=1; se=0.1", "", "s")])
    assert "'meen'" in msg and "did you mean 'mean'" in msg and "line 2" in msg


def test_error_missing_argument(tmp_path):
    msg = _table_error(tmp_path, [("a", 1, "gamma", "mean=1", "", "s")])
    assert "line 2" in msg and "gamma" in msg and "se" in msg


def test_error_duplicate_parameter_names_names_both_lines(tmp_path):
    msg = _table_error(tmp_path, [("a", 1, "", "", "", "s"), ("b", 2, "", "", "", "s"), ("a", 3, "", "", "", "s")])
    assert "'a'" in msg and "line 4" in msg and "line 2" in msg


@pytest.mark.parametrize("value", ["x1", "1,5", "", "NaN"])
def test_error_non_numeric_value_names_the_line(tmp_path, value):
    rows = [("a", 1, "", "", "", "s"), ("b", value, "", "", "", "s")]
    msg = _table_error(tmp_path, rows)
    assert "line 3" in msg and "'b'" in msg


def test_error_non_numeric_argument_names_line_and_argument(tmp_path):
    msg = _table_error(tmp_path, [("a", 1, "gamma", "mean=abc; se=0.1", "", "s")])
    assert "line 2" in msg and "mean" in msg and "abc" in msg


def test_error_non_numeric_dirichlet_count_names_the_line(tmp_path):
    """Library bug: a non-numeric Dirichlet count escapes as a raw ValueError
    ("could not convert string to float") from ``float(p.args["count"])`` in
    ``ParameterTable._build`` instead of an HtaError naming file, line and argument."""
    msg = _table_error(tmp_path, [("pA", 0.5, "dirichlet", "count=many", "g", "s"),
                                  ("pB", 0.5, "dirichlet", "count=3", "g", "s")])
    assert "line 2" in msg and "count" in msg


def test_error_non_numeric_mvnormal_mean_names_the_line(tmp_path):
    """Library bug: ``float(p.args["mean"])`` of an mvnormal row raises a raw ValueError."""
    pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], index=["m1", "m2"], columns=["m1", "m2"]).to_csv(tmp_path / "cov.csv")
    msg = _table_error(tmp_path, [("m1", 0.5, "mvnormal", "mean=zero; cov=cov.csv", "g", "s"),
                                  ("m2", 0.5, "mvnormal", "mean=1; cov=cov.csv", "g", "s")])
    assert "line 2" in msg and "mean" in msg


def test_error_missing_source(tmp_path):
    msg = _table_error(tmp_path, [("a", 1, "", "", "", "s"), ("b", 1, "gamma", "mean=1; se=0.1", "", "")])
    assert "line 3" in msg and "'b'" in msg and "source" in msg


def test_error_missing_required_column(tmp_path):
    msg = _table_error(tmp_path, [("a", 1)], columns=["name", "value"])
    assert "source" in msg


def test_error_unknown_column_with_suggestion(tmp_path):
    msg = _table_error(tmp_path, [("a", 1, "normal", "mean=1; sd=1", "s")],
                       columns=["name", "value", "distribtion", "args", "source"])
    assert "'distribtion'" in msg and "did you mean 'distribution'" in msg


def test_error_correlation_names_an_unknown_parameter(tmp_path):
    msg = _table_error(tmp_path, TABLE_ROWS, correlations={("c_drug", "u_wel"): 0.3})
    assert "'u_wel'" in msg and "did you mean 'u_well'" in msg


@pytest.mark.parametrize("other", ["age", "pA"])
def test_error_correlation_with_a_fixed_or_grouped_parameter(tmp_path, other):
    msg = _table_error(tmp_path, TABLE_ROWS, correlations={("c_drug", other): 0.3})
    assert f"'{other}'" in msg


@pytest.mark.parametrize("rho", [1.0, -1.0, 1.5, -1.2])
def test_error_rho_outside_minus_one_one(tmp_path, rho):
    msg = _table_error(tmp_path, TABLE_ROWS, correlations={("c_drug", "u_well"): rho})
    assert "'c_drug'" in msg and "'u_well'" in msg and str(rho) in msg


def test_error_correlation_file_with_bad_rho_names_its_line(tmp_path):
    pd.DataFrame([("c_drug", "u_well", "0.3"), ("rr", "hr", "strong")],
                 columns=["param_a", "param_b", "rho"]).to_csv(tmp_path / "corr.csv", index=False)
    with pytest.raises(HtaError, match=r"corr\.csv, line 3"):
        ParameterTable.read(_csv(tmp_path), correlations=tmp_path / "corr.csv")


def test_error_dirichlet_row_without_group(tmp_path):
    msg = _table_error(tmp_path, [("pA", 0.5, "dirichlet", "count=5", "", "s"),
                                  ("pB", 0.5, "dirichlet", "count=5", "", "s")])
    assert "line 2" in msg and "group" in msg


def test_error_dirichlet_group_of_one_row(tmp_path):
    msg = _table_error(tmp_path, [("pA", 0.5, "dirichlet", "count=5", "g", "s")])
    assert "'g'" in msg and "2 rows" in msg


@pytest.mark.parametrize("dist,args", [("empirical", "file=draws_missing.csv"),
                                       ("mvnormal", "mean=0; cov=draws_missing.csv")])
def test_error_missing_file_for_empirical_and_mvnormal(tmp_path, dist, args):
    msg = _table_error(tmp_path, [("k", 1, "", "", "", "s"), ("a", 1, dist, args, "g", "s")])
    assert "draws_missing.csv" in msg and "not found" in msg
    assert str(tmp_path) in msg  # where it looked: relative to the table's folder


@pytest.mark.parametrize("dist,args", [("empirical", "file=draws_missing.csv"),
                                       ("mvnormal", "mean=0; cov=draws_missing.csv")])
def test_error_missing_file_names_the_line(tmp_path, dist, args):
    """docs/parameters.md: "Errors name the file, the line and the argument."  The
    missing-file error of an empirical / mvnormal group names the group, not the
    line of the row that reads the file (minor library bug)."""
    msg = _table_error(tmp_path, [("k", 1, "", "", "", "s"), ("a", 1, dist, args, "g", "s")])
    assert "line 3" in msg


def test_error_missing_table_and_correlation_file(tmp_path):
    with pytest.raises(HtaError, match="not found"):
        ParameterTable.read(tmp_path / "nope.csv")
    with pytest.raises(HtaError, match="corr_nope.csv"):
        ParameterTable.read(_csv(tmp_path), correlations=tmp_path / "corr_nope.csv")


def test_file_names_in_args_resolved_against_the_table_folder(tmp_path, monkeypatch):
    sub = tmp_path / "model"
    sub.mkdir()
    pd.DataFrame({"k": [1.0, 2.0]}).to_csv(sub / "post.csv", index=False)
    _csv(sub, [("k", 1, "empirical", "file=post.csv", "", "s")])
    monkeypatch.chdir(tmp_path)  # not the table's folder
    t = ParameterTable.read(sub / "params.csv")
    assert set(t.draw(200, 1).frame["k"]) == {1.0, 2.0}
