"""Decision optimisation (sim.optimise) and the bisulfite worked example."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from sim import HtaError
from sim.decision.optimise import CURVE_COLUMNS, optimise

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bisulfite():
    return _load("bisulfite_optimisation")


THETA = np.array([1.0, 2.0, 3.0])


def log_benefit(x, theta):
    return theta * np.log1p(x)


def linear_cost(x, theta):
    return 0.5 * x


def test_concave_known_optimum():
    # E[NB] = E[theta] log(1 + x) - x / 2 is maximal where E[theta] / (1 + x) = 1/2: x* = 2 E[theta] - 1 = 3
    r = optimise(log_benefit, linear_cost, (0.0, 10.0), draws=THETA)
    assert r.x == pytest.approx(3.0, abs=1e-6)
    assert not r.at_bound
    assert r.expected_net_benefit == pytest.approx(2 * math.log(4) - 1.5, rel=1e-12)
    assert r.expected_benefit == pytest.approx(2 * math.log(4), rel=1e-9)
    assert r.expected_cost == pytest.approx(1.5, rel=1e-9)
    # first-order condition: MB = MC = 1/2 at x*
    assert r.marginal_benefit == pytest.approx(0.5, rel=1e-6)
    assert r.marginal_cost == pytest.approx(0.5, rel=1e-6)
    assert r.marginal_benefit == pytest.approx(r.marginal_cost, rel=1e-6)
    assert r.n_draws == 3


def test_curve_table():
    r = optimise(log_benefit, linear_cost, (0.0, 10.0), draws=THETA, grid=101)
    cur = r.curve
    assert tuple(cur.columns) == CURVE_COLUMNS
    assert len(cur) in (101, 102)  # the grid plus x* (unless x* is a grid point)
    assert (np.diff(cur["x"]) > 0).all() and cur["x"].iloc[0] == 0.0 and cur["x"].iloc[-1] == 10.0
    assert r.x in set(cur["x"])
    x = cur["x"].to_numpy()
    assert np.allclose(cur["expected_benefit"], 2 * np.log1p(x), rtol=1e-12)
    assert np.allclose(cur["expected_cost"], 0.5 * x, rtol=1e-12)
    assert np.allclose(cur["expected_net_benefit"], cur["expected_benefit"] - cur["expected_cost"], rtol=1e-12)
    assert np.allclose(cur["marginal_benefit"], 2 / (1 + x), rtol=1e-7)
    assert np.allclose(cur["marginal_cost"], 0.5, rtol=1e-7)
    gap = (cur["marginal_benefit"] - cur["marginal_cost"]).to_numpy()
    assert (gap[x < r.x - 1e-6] > 0).all() and (gap[x > r.x + 1e-6] < 0).all()  # MB - MC crosses at x*
    at = cur[cur["x"] == r.x].iloc[0]
    assert at["marginal_benefit"] == pytest.approx(at["marginal_cost"], rel=1e-6)


def test_value_of_optimising_by_hand():
    # NB(x, theta) = -(x - theta)^2: the best x per draw is theta (NB 0), the best single x is
    # E[theta] with E[NB] = -Var(theta); so the value of optimising is Var(theta) = 0.05
    theta = np.array([0.2, 0.4, 0.6, 0.8])
    r = optimise(lambda x, t: -(x - t) ** 2, lambda x, t: 0.0, (0.0, 1.0), draws=theta)
    assert r.x == pytest.approx(0.5, abs=1e-6)
    assert r.expected_net_benefit == pytest.approx(-0.05, rel=1e-10)
    assert r.value_of_optimising == pytest.approx(0.05, abs=1e-12)


def test_deterministic_has_no_value_of_optimising():
    r = optimise(lambda x, d: 4 * x - x ** 2, lambda x, d: x, (0.0, 5.0))
    assert r.x == pytest.approx(1.5, abs=1e-8)
    assert r.value_of_optimising == 0.0 and r.n_draws == 1


def test_optimum_at_a_bound():
    r = optimise(lambda x, d: 2 * x, lambda x, d: x, (1.0, 4.0))
    assert r.x == 4.0 and r.at_bound
    assert r.marginal_benefit == pytest.approx(2.0) and r.marginal_cost == pytest.approx(1.0)
    r = optimise(lambda x, d: x, lambda x, d: 3 * x, (1.0, 4.0))
    assert r.x == 1.0 and r.at_bound


def test_grid_avoids_local_optimum():
    # a broad local peak at 1 and a narrow, higher global one at 4
    def b(x, d):
        return np.exp(-(x - 1) ** 2) + 1.5 * np.exp(-((x - 4) / 0.1) ** 2)

    r = optimise(b, lambda x, d: 0.0, (0.0, 5.0))
    assert r.x == pytest.approx(4.0, abs=1e-4)
    assert r.expected_net_benefit > 1.49


def test_draws_are_passed_through():
    seen = []
    draws = {"a": np.array([1.0, 3.0])}

    def b(x, d):
        seen.append(d)
        return d["a"] * x - x ** 2

    r = optimise(b, lambda x, d: 0.0, (0.0, 4.0), draws=draws)
    assert all(d is draws for d in seen)
    assert r.x == pytest.approx(1.0, abs=1e-6)  # E[a] / 2


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(bounds=(5.0, 1.0)), r"bounds \(5, 1\) are reversed; give \(low, high\) = \(1, 5\)"),
    (dict(bounds=(1.0, 1.0)), "are equal"),
    (dict(bounds=(0.0,)), "pair"),
    (dict(bounds=(0.0, float("inf"))), "finite"),
    (dict(benefit=3.0), "benefit must be a function"),
    (dict(cost="c"), "cost must be a function"),
    (dict(benefit=lambda x, d: np.array([1.0, np.nan])), r"benefit\(x=.*\) is not finite \(draw 1"),
    (dict(benefit=lambda x, d: np.ones((2, 2))), "shape"),
    (dict(benefit=lambda x, d: np.ones(3), cost=lambda x, d: np.ones(4)), "has 4 values but benefit had 3"),
    (dict(benefit=lambda x, d: np.ones(int(x) + 2)), "one value per draw every time"),
    (dict(grid=2), "grid 2 must be a whole number of points >= 3"),
])
def test_bad_inputs(kwargs, pattern):
    args = dict(benefit=lambda x, d: x, cost=lambda x, d: x * x, bounds=(0.0, 2.0))
    args.update(kwargs)
    with pytest.raises(HtaError, match=pattern):
        optimise(args.pop("benefit"), args.pop("cost"), args.pop("bounds"), **args)


# ---------------------------------------------------------------------------- bisulfite
@pytest.mark.parametrize("k, d, alpha", [(0.06, 0.004, 0.5), (0.1, 0.01, 2.0), (0.02, 0.001, 1.0)])
def test_bisulfite_closed_form(bisulfite, k, d, alpha):
    p = {"k": np.float64(k), "d": np.float64(d), "alpha": np.float64(alpha)}
    r = optimise(bisulfite.benefit, bisulfite.cost, (0.0, 1000.0), draws=p)
    t_star = math.log(k / (alpha * d)) / (k - d)
    assert bisulfite.analytic_optimum(k, d, alpha) == pytest.approx(t_star, rel=1e-15)
    assert r.x == pytest.approx(t_star, rel=1e-7)
    # MB = MC at t*: k exp(-k t) = alpha d exp(-d t)
    assert r.marginal_benefit == pytest.approx(k * math.exp(-k * t_star), rel=1e-6)
    assert r.marginal_cost == pytest.approx(alpha * d * math.exp(-d * t_star), rel=1e-6)


def test_bisulfite_no_interior_optimum(bisulfite):
    with pytest.raises(ValueError, match="no interior optimum"):
        bisulfite.analytic_optimum(0.01, 0.02, 0.5)


def test_bisulfite_script(bisulfite, tmp_path, capsys):
    assert bisulfite.main(["--out", str(tmp_path / "out"), "--draws", "1000"]) == 0
    text = capsys.readouterr().out
    assert "agree to 1e-6: True" in text
    png = tmp_path / "out" / "bisulfite_mb_mc.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = bisulfite.run(tmp_path, n=1000, plot=False)
    assert r["t_det"] == pytest.approx(r["t_closed"], rel=1e-7)
    assert r["mb"] == pytest.approx(r["mc"], rel=1e-5)
    assert r["value_of_optimising"] > 0
    assert 30 < r["t_expected"] < 120  # minutes
