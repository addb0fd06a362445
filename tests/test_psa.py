"""Probabilistic sensitivity analysis (sim.psa.run_psa) on parameter tables.

Two models: the ready HIV model (Briggs et al. 2006, Ex. 2.5) with a small
probabilistic table in the spirit of their Exercise 4.7 (Dirichlet transition
rows from the cohort counts, lognormal relative risk from its 95 % CI, gamma
costs), and a 4-state model written here in which every transition row is a
Dirichlet group.  Results must be bit-identical whatever the chunk size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cohorts
from sim import ByStrategy, C, HtaError, Model, RelativeRisk, run_cohort
from sim.cohort.psa import PSAResult, run_psa, summarise
from sim.decision.acceptability import ceac as ceac_fn
from sim.decision.icer import outcome_matrix
from sim.decision.voi import evpi as evpi_fn
from sim.params.table import Parameter, ParameterTable

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def P(name, value, dist="fixed", group="", **args):
    return Parameter(name, value, dist, {k: str(v) for k, v in args.items()}, group=group,
                     source="test table, see module docstring")


# ---------------------------------------------------------------------------- HIV
# Chelsea & Westminster transition counts (Briggs et al. 2006, Table 2.2 / Ex. 4.7)
HIV_COUNTS = {
    "A": {"p_AA": 1251, "p_AB": 350, "p_AC": 116, "p_AD": 17},
    "B": {"p_BB": 731, "p_BC": 512, "p_BD": 15},
    "C": {"p_CC": 1312, "p_CD": 437},
}


def hiv_table() -> ParameterTable:
    rows = [P(n, c / sum(row.values()), "dirichlet", group=f"row_{g}", count=c)
            for g, row in HIV_COUNTS.items() for n, c in row.items()]
    rows += [
        P("rr", 0.509, "lognormal", ci_low=0.365, ci_high=0.710),
        P("c_dm_A", 1701, "gamma", mean=1701, se=170), P("c_dm_B", 1774, "gamma", mean=1774, se=177),
        P("c_dm_C", 6948, "gamma", mean=6948, se=695), P("c_cc_A", 1055, "gamma", mean=1055, se=105),
        P("c_cc_B", 1278, "gamma", mean=1278, se=128), P("c_cc_C", 2059, "gamma", mean=2059, se=206),
    ]
    return ParameterTable(rows, label="hiv psa table")


@pytest.fixture(scope="module")
def hiv():
    # the self-transitions are C (the complement) in the model; adding them as
    # (unused) model parameters lets the Dirichlet rows carry the full counts
    model = cohorts.load("hiv_chancellor").build({"p_AA": 0.0, "p_BB": 0.0, "p_CC": 0.0})
    return model, hiv_table()


@pytest.fixture(scope="module")
def hiv_psa(hiv):
    model, table = hiv
    return run_psa(model, table, 2000, 2006, defaults="model")  # the table varies the uncertain rows only


def test_hiv_psa_runs_and_is_plausible(hiv, hiv_psa):
    model, table = hiv
    res = hiv_psa
    assert isinstance(res, PSAResult)
    assert len(res.outcomes) == 2000 * 2
    d = res.draws.frame
    assert len(d) == 2000 and list(d.columns) == table.names
    for row in HIV_COUNTS.values():
        total = sum(row.values())
        assert np.abs(d[list(row)].sum(axis=1) - 1).max() < 1e-12
        for n, c in row.items():
            a = c / total
            assert abs(d[n].mean() - a) < 5 * np.sqrt(a * (1 - a) / (total + 1) / 2000), n
    s = res.summary()
    base = run_cohort(model).outcomes.set_index("strategy")
    # mean cost within 10 % of the base case; combination costs more and gives more life-years
    assert s.loc["mono", "cost"] == pytest.approx(base.loc["mono", "cost"], rel=0.1)
    assert s.loc["comb", "cost"] > s.loc["mono", "cost"]
    assert s.loc["comb", "ly"] > s.loc["mono", "ly"]


@pytest.mark.parametrize("chunk", [1000, 777, 1])
def test_hiv_psa_identical_for_any_chunk_size(hiv, hiv_psa, chunk):
    model, table = hiv
    n = 2000 if chunk != 1 else 50
    ref = hiv_psa if chunk != 1 else run_psa(model, table, n, 2006, chunk_size=n, defaults="model")
    res = run_psa(model, table, n, 2006, chunk_size=chunk, defaults="model")
    pd.testing.assert_frame_equal(res.outcomes, ref.outcomes, check_exact=True)
    pd.testing.assert_frame_equal(res.draws.frame, ref.draws.frame, check_exact=True)


# ---------------------------------------------------------------------------- 4-state model
STATES = ("A", "B", "C", "D")
ROWS = {
    "A": {"pAA": 70, "pAB": 20, "pAC": 7, "pAD": 3},
    "B": {"pBB": 60, "pBC": 30, "pBD": 10},
    "C": {"pCC": 75, "pCD": 25},
}


def four_table() -> ParameterTable:
    """13 random parameters: 3 Dirichlet rows (9), a lognormal RR, two gamma costs, a beta utility."""
    rows = [P(n, c / sum(r.values()), "dirichlet", group=f"row{g}", count=c) for g, r in ROWS.items()
            for n, c in r.items()]
    rows += [
        P("rr", 0.51, "lognormal", ci_low=0.365, ci_high=0.710),
        P("c_A", 1000, "gamma", mean=1000, se=100), P("c_B", 3000, "gamma", mean=3000, se=400),
        P("c_C", 8000), P("c_drug", 2000),
        P("u_A", 0.85), P("u_B", 0.6, "beta", mean=0.6, se=0.08), P("u_C", 0.4),
    ]
    return ParameterTable(rows, label="four-state table")


def four_model(table: ParameterTable, strategies=("soc", "new")) -> Model:
    """Strategies after the first lower A -> B by ``rr`` (1/k of the effect for the k-th)
    and pay ``c_drug`` (times k) in state A."""
    st, drug = {}, {strategies[0]: 0.0}
    for k, s in enumerate(strategies[1:], start=1):
        rr = "rr" if k == 1 else (lambda p, t, k=k: p["rr"] ** (1.0 / k))
        st[s] = {("A", "A"): C, ("A", "B"): RelativeRisk("pAB", rr)}
        drug[s] = (lambda p, t, k=k: p["c_drug"] * k) if k > 1 else "c_drug"
    transitions = {(a, b): n for a, r in ROWS.items() for n in r for b in [n[2]]}
    transitions[("D", "D")] = 1.0
    return Model(
        name="four_state", states=STATES, strategies=tuple(strategies), transitions=transitions,
        strategy_transitions=st, start={"A": 1.0}, horizon=20, parameters=table.base,
        costs={"care": {"A": "c_A", "B": "c_B", "C": "c_C"}, "drug": {"A": ByStrategy(**drug)}},
        utilities={"A": "u_A", "B": "u_B", "C": "u_C"}, dead=("D",),
        discount_costs=0.035, discount_outcomes=0.035,
    )


N = 3000
SEED = 77


@pytest.fixture(scope="module")
def four():
    t = four_table()
    return four_model(t), t


@pytest.fixture(scope="module")
def four_psa(four):
    model, table = four
    return run_psa(model, table, N, SEED, chunk_size=N)


@pytest.mark.parametrize("chunk", [1000, 777, N, 10_000, 1024, 1])
def test_results_bitwise_identical_for_any_chunk_size(four, four_psa, chunk):
    model, table = four
    n = N if chunk != 1 else 40
    ref = four_psa if chunk != 1 else run_psa(model, table, n, SEED, chunk_size=n)
    res = run_psa(model, table, n, SEED, chunk_size=chunk)
    pd.testing.assert_frame_equal(res.outcomes, ref.outcomes, check_exact=True)
    pd.testing.assert_frame_equal(res.draws.frame, ref.draws.frame, check_exact=True)
    assert res.settings == ref.settings


@pytest.mark.parametrize("method,n", [("lhs", 1500), ("sobol", 1024)])
def test_qmc_psa_identical_for_any_chunk_size(four, method, n):
    model, table = four
    a = run_psa(model, table, n, 5, method=method, chunk_size=n)
    b = run_psa(model, table, n, 5, method=method, chunk_size=333)
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes, check_exact=True)
    assert a.settings["sampling"] == method


@pytest.mark.parametrize("method,n", [("mc", 128), ("lhs", 128), ("sobol", 128)])
def test_psa_with_correlated_parameters_identical_for_any_chunk_size(four, method, n):
    """Library bug (lhs, sobol): with rank correlations the copula product
    ``normals @ L.T`` is computed per chunk, and its rounding depends on the chunk's
    number of rows, so LHS/Sobol PSA results differ in the last bits between chunk
    sizes (docs/parameters.md promises bit-identical results).  See
    tests/test_params.py::test_correlated_draws_identical_drawn_one_by_one."""
    model, table = four
    corr = ParameterTable(table.parameters, correlations={("c_A", "c_B"): 0.5, ("u_B", "c_B"): -0.3},
                          label=table.label)
    a = run_psa(model, corr, n, 5, method=method, chunk_size=n)
    b = run_psa(model, corr, n, 5, method=method, chunk_size=1)
    pd.testing.assert_frame_equal(a.draws.frame, b.draws.frame, check_exact=True)
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes, check_exact=True)


def test_same_seed_twice_identical_and_other_seed_different(four, four_psa):
    model, table = four
    again = run_psa(model, table, N, SEED, chunk_size=N)
    pd.testing.assert_frame_equal(again.outcomes, four_psa.outcomes, check_exact=True)
    other = run_psa(model, table, N, SEED + 1, chunk_size=N)
    assert not np.array_equal(other.outcomes["cost"].to_numpy(), four_psa.outcomes["cost"].to_numpy())


def test_psa_equals_the_engine_on_the_table_draws(four, four_psa):
    """run_psa is run_cohort on table.draw(n, seed): draw ids and values agree row by row."""
    model, table = four
    draws = table.draw(N, SEED)
    pd.testing.assert_frame_equal(four_psa.draws.frame, draws.frame, check_exact=True)
    direct = run_cohort(model, draws).outcomes
    pd.testing.assert_frame_equal(four_psa.outcomes, direct, check_exact=True)


def test_outcomes_table_shape_and_ids(four, four_psa):
    model, _ = four
    out = four_psa.outcomes
    K = len(model.strategies)
    assert len(out) == N * K
    assert out["draw"].tolist() == list(np.repeat(np.arange(N), K))
    assert out["strategy"].tolist() == list(model.strategies) * N
    for col in ("cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc", "cost_care", "cost_drug"):
        assert col in out.columns and np.isfinite(out[col]).all(), col
    assert (out.loc[out["strategy"] == "soc", "cost_drug"] == 0).all()
    assert out["cost"].nunique() > N  # every draw differs
    np.testing.assert_array_equal(four_psa.draws.ids, np.arange(N))
    assert four_psa.draws.seed == SEED and four_psa.draws.method == "mc"


def test_settings(four_psa):
    s = four_psa.settings
    assert s["n_draws"] == N and s["seed"] == SEED and s["sampling"] == "mc"
    assert s["engine"] == "cohort" and s["model"] == "four_state"
    assert s["parameter_table"] == "four-state table"
    assert four_psa.outcomes.attrs["settings"]["n_draws"] == N


def test_summary_columns_and_order(four, four_psa):
    model, _ = four
    s = four_psa.summary()
    expected = [f"{c}{suf}" for c in ("cost", "qaly", "ly") for suf in ("", "_low", "_high")]
    assert list(s.columns) == expected
    assert list(s.index) == list(model.strategies)
    for c in ("cost", "qaly", "ly"):
        assert (s[f"{c}_low"] <= s[c]).all() and (s[c] <= s[f"{c}_high"]).all()
        assert (s[f"{c}_low"] < s[f"{c}_high"]).all()
    out = four_psa.outcomes
    soc = out[out["strategy"] == "soc"]
    assert s.loc["soc", "cost"] == pytest.approx(soc["cost"].mean(), rel=1e-12)
    assert s.loc["soc", "qaly_low"] == pytest.approx(np.quantile(soc["qaly"], 0.025), rel=1e-12)
    assert s.loc["soc", "qaly_high"] == pytest.approx(np.quantile(soc["qaly"], 0.975), rel=1e-12)
    s90 = four_psa.summary(level=0.9)
    assert s90.loc["soc", "cost_low"] == pytest.approx(np.quantile(soc["cost"], 0.05), rel=1e-12)


def test_summarise_by_hand():
    out = pd.DataFrame({"draw": [0, 0, 1, 1, 2, 2], "strategy": ["x", "y"] * 3,
                        "cost": [1.0, 10.0, 2.0, 20.0, 3.0, 30.0]})
    s = summarise(out, columns=("cost",), level=0.5)
    assert s.loc["x", "cost"] == 2.0 and s.loc["y", "cost"] == 20.0
    assert s.loc["x", "cost_low"] == 1.5 and s.loc["x", "cost_high"] == 2.5


@pytest.mark.parametrize("effect", ["qaly", "ly"])
def test_convenience_methods_match_the_decision_functions(four_psa, effect):
    c, names = outcome_matrix(four_psa.outcomes, "cost")
    e, names_e = outcome_matrix(four_psa.outcomes, effect)
    assert names == names_e and sorted(names) == ["new", "soc"]
    assert c.shape == (N, 2)
    mc, me, mn = four_psa.matrices(effect)
    np.testing.assert_array_equal(mc, c)
    np.testing.assert_array_equal(me, e)
    # column j of the matrices is strategy names[j], row i is draw i
    out = four_psa.outcomes
    for j, s in enumerate(names):
        np.testing.assert_array_equal(c[:, j], out.loc[out["strategy"] == s, "cost"].to_numpy())
    wtp = [0, 5_000, 20_000, 50_000, 1e6]
    pd.testing.assert_frame_equal(four_psa.ceac(wtp, effect=effect), ceac_fn(c, e, wtp, names))
    pd.testing.assert_frame_equal(four_psa.evpi(wtp, effect=effect), evpi_fn(c, e, wtp))
    # the probabilities move with wtp: soc wins at 0, new at a very high wtp
    cc = four_psa.ceac(wtp, effect=effect).set_index(["wtp", "strategy"])["probability"]
    assert cc[(0.0, "soc")] == 1.0 and cc[(1e6, "new")] > 0.9


def test_icer_method(four_psa):
    t = four_psa.icer()
    assert set(t["strategy"]) == {"soc", "new"}
    means = four_psa.outcomes.groupby("strategy", observed=True)[["cost", "qaly"]].mean()
    row = t.set_index("strategy").loc["new"]
    assert row["inc_cost"] == pytest.approx(means.loc["new", "cost"] - means.loc["soc", "cost"], rel=1e-12)


def test_run_psa_bad_input(four):
    model, table = four
    with pytest.raises(HtaError, match="ParameterTable"):
        run_psa(model, table.draw(10, 1).frame, 10, 1)
    with pytest.raises(HtaError, match="chunk_size"):
        run_psa(model, table, 10, 1, chunk_size=0)
    extra = ParameterTable(list(table.parameters) + [P("not_in_model", 1.0, "gamma", mean=1, se=0.1)])
    with pytest.raises(HtaError, match="not_in_model"):
        run_psa(model, extra, 10, 1)
    with pytest.raises(HtaError):
        run_psa(model, table, 0, 1)


def test_progress_bar_does_not_change_results(four, four_psa, capsys):
    model, table = four
    res = run_psa(model, table, N, SEED, chunk_size=1000, progress=True)
    pd.testing.assert_frame_equal(res.outcomes, four_psa.outcomes, check_exact=True)


# ---------------------------------------------------------------------------- memory
MEMORY_N = 1_000_000
MEMORY_LIMIT_KIB = 1024 * 1024  # 1 GiB

_WORKER = """
import json, resource, sys, time
sys.path.insert(0, {tests!r})
import test_psa as T
from sim.cohort.psa import run_psa
table = T.four_table()
model = T.four_model(table, ("soc", "new", "newer", "newest"))
t0 = time.perf_counter()
res = run_psa(model, table, {n}, 2024)
elapsed = time.perf_counter() - t0
assert len(res.outcomes) == {n} * 4, len(res.outcomes)
print(json.dumps({{"seconds": elapsed, "rows": len(res.outcomes),
                  "random": len(table.random_names),
                  "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""

# the wrapper has no other children, so RUSAGE_CHILDREN is the worker's peak alone
_WRAPPER = """
import json, resource, subprocess, sys
proc = subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True, text=True)
out = {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-3000:],
       "children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
print(json.dumps(out))
"""


def measure_psa_memory(n: int = MEMORY_N) -> dict:
    worker = _WORKER.format(tests=str(TESTS), n=n)
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, worker], cwd=ROOT, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["returncode"] == 0, out["stderr"]
    out.update(json.loads(out["stdout"]))
    return out


@pytest.mark.slow
def test_million_draw_psa_stays_under_1_gib_peak_rss():
    """10^6 draws of a 4-state, 4-strategy model with 13 random parameters."""
    out = measure_psa_memory()
    assert out["rows"] == 4 * MEMORY_N and out["random"] == 13
    peak = out["children_maxrss_kib"]
    assert peak < MEMORY_LIMIT_KIB, (
        f"peak RSS {peak / 1024:.0f} MiB for {MEMORY_N:,} draws (limit {MEMORY_LIMIT_KIB / 1024:.0f} MiB); "
        f"run took {out['seconds']:.1f} s"
    )


if __name__ == "__main__":  # python tests/test_psa.py [n]: print the measurement
    print(measure_psa_memory(int(sys.argv[1]) if len(sys.argv) > 1 else MEMORY_N))
