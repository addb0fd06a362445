"""EVPPI by regression metamodels (sim.voi.evppi, evppi_nb, evppi_psa).

Accuracy is checked against closed forms (linear-Gaussian net benefit), against
one-dimensional quadrature (a nonlinear three-strategy model) and against the
"sample oracle": the EVPPI computed with the *true* conditional expectation on
the same draws, which differs from the estimate only by the regression error
that the reported standard error describes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from sim import ByStrategy, C, HtaError, Model
from sim.cohort.psa import run_psa
from sim.decision.voi import evpi_nb, evppi, evppi_nb, evppi_psa
from sim.params.sampling import Draws
from sim.params.table import Parameter, ParameterTable


# --------------------------------------------------------------------------- helpers
def mean_of_max(mu: float, sigma: float) -> float:
    """E[max(0, Y)] - max(0, E Y) for Y ~ N(mu, sigma^2)."""
    if sigma == 0:
        return 0.0
    return sigma * stats.norm.pdf(mu / sigma) + mu * stats.norm.cdf(mu / sigma) - max(mu, 0.0)


def oracle(g: np.ndarray) -> float:
    """EVPPI on the draws from the true conditional means ``g`` (n, K) (the sample oracle)."""
    return evpi_nb(g)


# linear-Gaussian: INB = a + b X1 + c X2, X1 ~ N(m1, s1), X2 ~ N(m2, s2), no other noise
A, B, CC = 0.2, 1.0, 1.0
M1, S1, M2, S2 = 0.0, 1.0, 0.0, 1.0
MU = A + B * M1 + CC * M2
CLOSED_X1 = mean_of_max(MU, abs(B) * S1)
CLOSED_X2 = mean_of_max(MU, abs(CC) * S2)
CLOSED_ALL = mean_of_max(MU, np.hypot(B * S1, CC * S2))


def linear_case(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(M1, S1, n)
    x2 = rng.normal(M2, S2, n)
    x3 = rng.normal(0.0, 1.0, n)  # does not enter the net benefit
    nb = np.column_stack([np.zeros(n), A + B * x1 + CC * x2])
    params = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3})
    return nb, params


def nonlinear_case(n: int, seed: int):
    """Three strategies; the net benefit is a smooth nonlinear function of x1, x2, x3."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0.0, 1.0, n)
    x2 = rng.gamma(4.0, 0.25, n)
    x3 = rng.beta(2.0, 2.0, n)
    nb = 1000 * np.column_stack([
        np.zeros(n),
        np.exp(0.5 * x1) * x2 - 1.2 + 0.3 * x3,
        0.5 * x1 ** 2 + x3 - 0.9 + 0.2 * x2,
    ])
    return nb, pd.DataFrame({"x1": x1, "x2": x2, "x3": x3})


def nonlinear_exact_x1() -> float:
    """EVPPI(x1) of :func:`nonlinear_case` by quadrature (E x2 = 1, E x3 = 1/2)."""
    def g(x):
        return 1000 * np.array([0.0, np.exp(0.5 * x) - 1.2 + 0.15, 0.5 * x ** 2 + 0.5 - 0.9 + 0.2])
    eg = integrate.quad_vec(lambda x: g(x) * stats.norm.pdf(x), -12, 12)[0]
    emax = integrate.quad(lambda x: g(x).max() * stats.norm.pdf(x), -12, 12, limit=200)[0]
    return emax - eg.max()


# --------------------------------------------------------------------------- linear-Gaussian closed form
@pytest.mark.parametrize("method, n, n_max, rel", [("gam", 4000, 1500, 0.12), ("gp", 1500, 600, 0.25)])
def test_linear_gaussian_matches_closed_form(method, n, n_max, rel):
    """The GP is fitted on 600 draws only (speed), hence its wider sanity bound."""
    nb, P = linear_case(n, seed=11)
    x1 = P["x1"].to_numpy()
    v, se = evppi_nb(nb, x1, method, n_max=n_max)
    g_true = np.column_stack([np.zeros(n), MU + B * (x1 - M1)])
    orc = oracle(g_true)
    assert se > 0
    # regression error: within a few SEs of the sample oracle
    assert abs(v - orc) <= 4 * se, (v, orc, se)
    # total error (regression + Monte Carlo error of the draws): close to the closed form
    mc = np.maximum(g_true.max(axis=1), 0).std() / np.sqrt(n)
    assert abs(v - CLOSED_X1) <= 4 * np.hypot(se, mc), (v, CLOSED_X1, se, mc)
    assert abs(v - CLOSED_X1) <= rel * CLOSED_X1

    # both parameters: EVPPI = EVPI (the net benefit is a function of them)
    v12, se12 = evppi_nb(nb, P[["x1", "x2"]], method, n_max=n_max)
    evpi = evpi_nb(nb)
    assert abs(v12 - evpi) <= max(4 * se12, 0.005 * evpi), (v12, evpi, se12)
    mc_all = np.maximum(nb.max(axis=1), 0).std() / np.sqrt(n)
    assert abs(v12 - CLOSED_ALL) <= 4 * np.hypot(se12, mc_all), (v12, CLOSED_ALL, se12, mc_all)
    assert abs(v12 - CLOSED_ALL) <= 0.15 * CLOSED_ALL


def test_linear_gaussian_through_costs_effects_and_wtp():
    """INB(w) = w d - c with d, c independent normals: closed form at every wtp."""
    n = 3000
    rng = np.random.default_rng(3)
    md, sd, mc_, sc = 1.0e-4, 1.0e-4, 2.0, 1.0
    d = rng.normal(md, sd, n)
    c = rng.normal(mc_, sc, n)
    costs = np.column_stack([np.zeros(n), c])
    effects = np.column_stack([np.zeros(n), d])
    wtp = [10_000, 20_000, 40_000]
    P = pd.DataFrame({"d": d, "c": c})
    out = evppi(costs, effects, wtp, P, ["d", "c", ["d", "c"]])
    assert list(out.columns) == ["parameters", "wtp", "evppi", "se", "method"]
    assert list(out["parameters"]) == ["d"] * 3 + ["c"] * 3 + ["d, c"] * 3
    assert (out["method"] == "gam").all()
    for w in wtp:
        m = w * md - mc_
        row = out.set_index(["parameters", "wtp"]).loc
        for name, sig in (("d", w * sd), ("c", sc), ("d, c", np.hypot(w * sd, sc))):
            est, se = row[(name, float(w))]["evppi"], row[(name, float(w))]["se"]
            closed = mean_of_max(m, sig)
            assert abs(est - closed) <= max(0.12 * closed, 0.02), (w, name, est, closed, se)


def test_irrelevant_parameter_has_zero_evppi():
    nb, P = linear_case(2000, seed=5)
    evpi = evpi_nb(nb)
    for method in ("gam", "gp"):
        v, se = evppi_nb(nb, P["x3"], method, n_max=400)
        assert 0.0 <= v <= max(3 * se, 0.01 * evpi), (method, v, se)


# --------------------------------------------------------------------------- nonlinear model, groups
@pytest.fixture(scope="module")
def nonlinear_gam():
    nb, P = nonlinear_case(3000, seed=5)
    groups = ["x1", "x2", "x3", ["x1", "x2"], ["x1", "x3"], ["x2", "x3"], ["x1", "x2", "x3"]]
    rows = {", ".join([g] if isinstance(g, str) else g): evppi_nb(nb, P[[g] if isinstance(g, str) else g])
            for g in groups}
    return nb, P, rows


def test_nonlinear_single_parameter_matches_quadrature(nonlinear_gam):
    nb, P, rows = nonlinear_gam
    v, se = rows["x1"]
    x1 = P["x1"].to_numpy()
    g_true = 1000 * np.column_stack([np.zeros(len(x1)), np.exp(0.5 * x1) - 1.05, 0.5 * x1 ** 2 - 0.2])
    assert abs(v - oracle(g_true)) <= 4 * se, (v, oracle(g_true), se)
    exact = nonlinear_exact_x1()
    best = np.maximum(g_true.max(axis=1), 0)
    mc = best.std() / np.sqrt(len(x1))
    assert abs(v - exact) <= 4 * np.hypot(se, mc), (v, exact, se, mc)
    assert abs(v - exact) <= 0.15 * exact


def test_group_is_at_least_each_member(nonlinear_gam):
    _, _, rows = nonlinear_gam
    for group, (v, se) in rows.items():
        members = group.split(", ")
        if len(members) == 1:
            continue
        for sub, (vs, ses) in rows.items():
            if set(sub.split(", ")) < set(members):
                assert v >= vs - 3 * np.hypot(se, ses), (group, v, sub, vs)


def test_all_parameters_give_evpi_and_nothing_exceeds_it(nonlinear_gam):
    nb, _, rows = nonlinear_gam
    evpi = evpi_nb(nb)
    v, se = rows["x1, x2, x3"]
    assert abs(v - evpi) <= max(4 * se, 0.005 * evpi), (v, evpi, se)
    for group, (v, se) in rows.items():
        assert v <= evpi + 3 * se, (group, v, evpi)


def test_gp_group_monotone_and_evpi():
    nb, P = nonlinear_case(1000, seed=8)
    evpi = evpi_nb(nb)
    v1, s1 = evppi_nb(nb, P["x1"], "gp", n_max=500)
    v2, s2 = evppi_nb(nb, P["x2"], "gp", n_max=500)
    v12, s12 = evppi_nb(nb, P[["x1", "x2"]], "gp", n_max=500)
    assert v12 >= v1 - 3 * np.hypot(s1, s12)
    assert v12 >= v2 - 3 * np.hypot(s2, s12)
    for v, s in ((v1, s1), (v2, s2), (v12, s12)):
        assert v <= evpi + 3 * s


@pytest.mark.slow
def test_gp_all_parameters_give_evpi():
    nb, P = nonlinear_case(2000, seed=8)
    evpi = evpi_nb(nb)
    v, se = evppi_nb(nb, P[["x1", "x2", "x3"]], "gp")
    assert abs(v - evpi) <= max(4 * se, 0.005 * evpi), (v, evpi, se)
    v1, se1 = evppi_nb(nb, P["x1"], "gp")
    assert abs(v1 - nonlinear_exact_x1()) <= 0.12 * nonlinear_exact_x1()


# --------------------------------------------------------------------------- standard error
@pytest.mark.parametrize("method, small, large", [("gam", 500, 4000), ("gp", 250, 1000)])
def test_se_positive_and_shrinks_with_draws(method, small, large):
    ses = []
    for n in (small, large):
        nb, P = linear_case(n, seed=21)
        v, se = evppi_nb(nb, P["x1"], method, n_max=large)
        assert se > 0 and np.isfinite(se)
        ses.append(se)
    assert ses[1] < ses[0] / 1.4, ses  # ~ 1/sqrt(n): factor sqrt(8) (gam) and 2 (gp) expected


def test_seed_reproducible_and_no_global_state():
    nb, P = linear_case(1000, seed=2)
    np.random.seed(0)  # noqa: NPY002  (the global state must not matter: that is the test)
    a = evppi_nb(nb, P["x1"], seed=7)
    np.random.seed(1)  # noqa: NPY002
    b = evppi_nb(nb, P["x1"], seed=7)
    c = evppi_nb(nb, P["x1"], seed=8)
    assert a == b
    assert c[0] == a[0] and c[1] != a[1] and abs(c[1] - a[1]) < 0.3 * a[1]
    v, se = evppi_nb(nb, P["x1"], n_sim=0)
    assert v == a[0] and np.isnan(se)


# --------------------------------------------------------------------------- strategies
@pytest.mark.parametrize("method", ["gam", "gp"])
def test_three_strategies_independent_of_column_order(method):
    nb, P = nonlinear_case(600, seed=13)
    groups = ["x1", ["x1", "x3"]]
    e = nb / 1000.0 + 1.0
    c = np.zeros_like(nb)  # NB at wtp 1000 = 1000 e - c = nb + 1000
    base = evppi(c, e, 1000, P, groups, method=method, n_max=300)
    for perm in ([2, 0, 1], [1, 2, 0]):
        other = evppi(c[:, perm], e[:, perm], 1000, P, groups, method=method, n_max=300)
        np.testing.assert_allclose(other[["evppi", "se"]].to_numpy(), base[["evppi", "se"]].to_numpy(),
                                   rtol=1e-9, atol=1e-12)
    assert (base["evppi"] > 0).all() and (base["se"] > 0).all()
    assert (base["evppi"] <= evpi_nb(nb) + 3 * base["se"]).all()


def test_single_strategy_has_no_value():
    nb, P = linear_case(200, seed=1)
    assert evppi_nb(nb[:, :1], P["x1"]) == (0.0, 0.0)


# --------------------------------------------------------------------------- constant and discrete parameters
def test_constant_parameter_is_zero_and_labelled():
    nb, P = linear_case(500, seed=4)
    P = P.assign(k=3.5)
    costs, effects = -nb, np.zeros_like(nb)  # NB = -costs = nb at any wtp
    out = evppi(costs, effects, [0, 1], P, ["k", ["k", "x1"], "x1"])
    k = out[out["parameters"] == "k"]
    assert (k["evppi"] == 0).all() and (k["se"] == 0).all() and (k["method"] == "constant").all()
    # a constant member changes nothing
    kx = out[out["parameters"] == "k, x1"][["evppi", "se"]].to_numpy()
    x = out[out["parameters"] == "x1"][["evppi", "se"]].to_numpy()
    np.testing.assert_array_equal(kx, x)
    assert evppi_nb(nb, np.ones(500)) == (0.0, 0.0)


def test_binary_parameter_exact():
    """A two-valued parameter: the regression is saturated, EVPPI is exact up to noise."""
    n = 2000
    rng = np.random.default_rng(9)
    z = rng.integers(0, 2, n).astype(float)
    noise = rng.normal(0, 1, n)
    inb = np.where(z == 1, 1.0, -0.5) + noise
    nb = np.column_stack([np.zeros(n), inb])
    v, se = evppi_nb(nb, z)
    p1 = z.mean()
    g = np.column_stack([np.zeros(n), np.where(z == 1, 1.0, -0.5)])
    assert abs(v - oracle(g)) <= 4 * se
    expected = p1 * 1.0 - max(0.0, p1 * 1.0 - (1 - p1) * 0.5)
    assert abs(v - expected) <= 4 * se + 0.02


# --------------------------------------------------------------------------- PSAResult
@pytest.fixture(scope="module")
def psa():
    model = Model(
        states=("Healthy", "Sick", "Dead"),
        strategies=("usual", "drug"),
        transitions={("Healthy", "Healthy"): C,
                     ("Healthy", "Sick"): ByStrategy(usual="p_sick", drug="p_sick_drug"),
                     ("Healthy", "Dead"): 0.01, ("Sick", "Sick"): C, ("Sick", "Dead"): 0.2},
        start={"Healthy": 1.0}, horizon=10,
        parameters={"p_sick": 0.1, "p_sick_drug": 0.07, "c_sick": 1000.0, "c_drug": 300.0, "u_sick": 0.6},
        costs={"care": {"Sick": "c_sick"}, "drug": {"Healthy": ByStrategy(usual=0.0, drug="c_drug")}},
        utilities={"Healthy": 1.0, "Sick": "u_sick"}, dead=("Dead",),
    )
    table = ParameterTable([
        Parameter("p_sick", 0.1, "beta", {"mean": 0.1, "se": 0.02}, source="test"),
        Parameter("p_sick_drug", 0.07, "beta", {"mean": 0.07, "se": 0.02}, source="test"),
        Parameter("c_sick", 1000.0, "gamma", {"mean": 1000, "se": 200}, source="test"),
        Parameter("c_drug", 300.0, "fixed", {}, source="test"),
        Parameter("u_sick", 0.6, "beta", {"mean": 0.6, "se": 0.05}, source="test"),
    ])
    return run_psa(model, table, 600, seed=3)


def test_evppi_psa_matches_arrays(psa):
    groups = ["p_sick_drug", "c_drug", ["p_sick", "p_sick_drug"]]
    out = evppi_psa(psa, [5_000, 20_000], groups)
    c, e, _ = psa.matrices("qaly")
    ref = evppi(c, e, [5_000, 20_000], psa.draws.frame, groups)
    pd.testing.assert_frame_equal(out, ref)
    assert (out.loc[out["parameters"] == "c_drug", "method"] == "constant").all()
    evpi = psa.evpi([5_000, 20_000])["evpi"].to_numpy()
    for _, rows in out.groupby("parameters"):
        assert (rows["evppi"].to_numpy() <= evpi + 3 * rows["se"].to_numpy() + 1e-9).all()
    # also accepts the Draws object itself
    pd.testing.assert_frame_equal(evppi(c, e, [5_000, 20_000], psa.draws, groups), ref)


# --------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small():
    nb, P = linear_case(300, seed=1)
    return -nb, np.zeros_like(nb), P


def test_error_unknown_parameter_suggests(small):
    c, e, P = small
    with pytest.raises(HtaError, match=r"unknown parameter 'x_1'.*did you mean 'x1'"):
        evppi(c, e, 1, P, ["x_1"])
    with pytest.raises(HtaError, match=r"unknown parameter 'zz'"):
        evppi(c, e, 1, P, [["x1", "zz"]])


def test_error_rows_mismatch(small):
    c, e, P = small
    with pytest.raises(HtaError, match=r"params has 299 rows but costs and effects have 300 draws"):
        evppi(c, e, 1, P.iloc[:-1], ["x1"])
    with pytest.raises(HtaError, match=r"X have 299 rows but net benefits have 300"):
        evppi_nb(-c, P["x1"].to_numpy()[:-1])


def test_error_too_few_draws(small):
    c, e, P = small
    with pytest.raises(HtaError, match=r"from 50 draws.*at least 100"):
        evppi(c[:50], e[:50], 1, P.iloc[:50], ["x1"])
    with pytest.raises(HtaError, match=r"basis coefficients and needs at least"):
        evppi(c[:150], e[:150], 1, P.iloc[:150], [["x1", "x2", "x3"]])  # 3-parameter GAM: 109 coefficients


def test_error_negative_wtp_and_shapes(small):
    c, e, P = small
    with pytest.raises(HtaError, match=r"willingness to pay -1 is negative"):
        evppi(c, e, [1, -1], P, ["x1"])
    with pytest.raises(HtaError, match=r"must have the same shape"):
        evppi(c, e[:, :1], 1, P, ["x1"])


def test_error_bad_groups_method_and_params(small):
    c, e, P = small
    with pytest.raises(HtaError, match=r"method 'gpp'.*did you mean 'gp'"):
        evppi(c, e, 1, P, ["x1"], method="gpp")
    with pytest.raises(HtaError, match=r"non-empty list"):
        evppi(c, e, 1, P, [])
    with pytest.raises(HtaError, match=r"non-empty list of names"):
        evppi(c, e, 1, P, [[]])
    with pytest.raises(HtaError, match=r"names 'x1' twice"):
        evppi(c, e, 1, P, [["x1", "x1"]])
    with pytest.raises(HtaError, match=r"must be a DataFrame"):
        evppi(c, e, 1, P.to_numpy(), ["x1"])
    with pytest.raises(HtaError, match=r"non-numeric"):
        evppi(c, e, 1, P.assign(x1="a"), ["x1"])
    with pytest.raises(HtaError, match=r"'x2' is nan in draw 3"):
        evppi(c, e, 1, P.assign(x2=np.where(np.arange(300) == 3, np.nan, P["x2"])), ["x2"])
    with pytest.raises(HtaError, match=r"n_sim"):
        evppi(c, e, 1, P, ["x1"], n_sim=-1)
    with pytest.raises(HtaError, match=r"PSAResult"):
        evppi_psa(P, 1, ["x1"])


def test_single_name_string_is_one_group(small):
    c, e, P = small
    a = evppi(c, e, 1, P, "x1")
    b = evppi(c, e, 1, P, ["x1"])
    pd.testing.assert_frame_equal(a, b)
    assert isinstance(Draws.from_frame(P).frame, pd.DataFrame)
