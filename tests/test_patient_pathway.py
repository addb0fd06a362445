"""Continuous-time pathways on SimPy: exact accrual, competing risks, clocks."""

import math

import numpy as np
import pytest
from scipy import integrate

from sim import HtaError
from sim.patient import Event, Exponential, Pathway, Weibull, run_pathway
from sim.patient.pathway import discounted_integral

N = 20_000


def _se(x):
    return np.std(x, ddof=1) / math.sqrt(len(x))


def test_exponential_survival_discounted_life_years():
    lam, r, H = 0.1, 0.035, 30.0
    p = Pathway(states=("Alive", "Dead"), start="Alive", dead=("Dead",), horizon=H,
                events={"Alive": [Event("Dead", Exponential(lam))]}, costs={"Alive": 1000.0},
                utilities={"Alive": 0.8}, discount_costs=r, discount_outcomes=r)
    out = run_pathway({"only": p}, N, seed=1).outcomes
    d = math.log1p(r)
    expected_ly = (1 - math.exp(-(lam + d) * H)) / (lam + d)  # int_0^H e^{-lam t} e^{-d t} dt
    ly = out["ly"].to_numpy()
    assert abs(ly.mean() - expected_ly) < 3 * _se(ly)
    np.testing.assert_allclose(out["cost"], 1000.0 * out["ly"])  # cost accrues with the same discounting
    np.testing.assert_allclose(out["qaly"], 0.8 * out["ly"])
    undisc = (1 - math.exp(-lam * H)) / lam
    assert abs(out["ly_undisc"].mean() - undisc) < 3 * _se(out["ly_undisc"].to_numpy())


def test_competing_risks_split_by_hazard():
    p = Pathway(states=("A", "B", "C"), start="A", horizon=1e6,
                events={"A": [Event("B", Exponential(0.2), cost=100.0), Event("C", Exponential(0.6))]})
    out = run_pathway({"x": p}, N, seed=2).outcomes
    to_b = out["cost_undisc"].to_numpy() == 100.0
    assert abs(to_b.mean() - 0.25) < 3 * math.sqrt(0.25 * 0.75 / N)
    assert (out["events"] == 1).all()


@pytest.mark.parametrize("clock", ["semi", "markov"])
def test_clocks(clock):
    """A -> B after Exp(1); B -> D after a Weibull(2, 1) on the semi-Markov clock (time in B)
    or the Markov clock (time since start). P(dead by t = 2) by numerical integration."""
    H = 2.0
    w = Weibull(2.0, 1.0)
    p = Pathway(states=("A", "B", "D"), start="A", horizon=H,
                events={"A": [Event("B", Exponential(1.0))], "B": [Event("D", w, clock=clock)]})
    dead = (run_pathway({"x": p}, N, seed=3).outcomes["events"] == 2).to_numpy()

    def integrand(s):  # enter B at s, dead by H
        sb = w.survival(H - s) if clock == "semi" else w.survival(H) / w.survival(s)
        return math.exp(-s) * (1.0 - float(sb))

    expected = integrate.quad(integrand, 0.0, H)[0]
    assert abs(dead.mean() - expected) < 3 * math.sqrt(expected * (1 - expected) / N)


def test_common_random_numbers_batches_and_order():
    def path(rate):
        return Pathway(states=("Alive", "Dead"), start="Alive", dead=("Dead",), horizon=20.0,
                       events={"Alive": [Event("Dead", Exponential(rate))]})

    a = run_pathway({"slow": path(0.05), "fast": path(0.1)}, 2_000, seed=4, batch_size=2_000).outcomes
    b = run_pathway({"fast": path(0.1), "slow": path(0.05)}, 2_000, seed=4, batch_size=77).outcomes
    for s in ("slow", "fast"):
        np.testing.assert_array_equal(a.loc[a.strategy == s, "ly"].to_numpy(), b.loc[b.strategy == s, "ly"].to_numpy())
    # same uniform in both arms: halving the hazard doubles each patient's time to death
    slow = a.loc[a.strategy == "slow", "ly"].to_numpy()
    fast = a.loc[a.strategy == "fast", "ly"].to_numpy()
    inside = slow < 20.0
    np.testing.assert_allclose(slow[inside], 2 * fast[inside])


def test_discounted_integral():
    assert discounted_integral(0.0, 1.0, 3.0) == 2.0
    r = 0.05
    assert discounted_integral(r, 0.0, 2.0) == pytest.approx(integrate.quad(lambda t: 1.05 ** -t, 0, 2)[0])


@pytest.mark.parametrize("kw, match", [
    (dict(start="Nowhere"), "start: unknown state 'Nowhere'"),
    (dict(events={"Alive": [Event("Daed", Exponential(0.1))]}), "unknown state 'Daed' \\(did you mean 'Dead'\\?\\)"),
    (dict(horizon=0.0), "horizon 0.0 must be a positive number"),
    (dict(discount_costs=-0.1), "discount_costs -0.1"),
    (dict(costs={"Alive": float("nan")}), "costs of 'Alive'"),
])
def test_bad_pathway(kw, match):
    base = dict(states=("Alive", "Dead"), start="Alive", horizon=10.0,
                events={"Alive": [Event("Dead", Exponential(0.1))]})
    base.update(kw)
    with pytest.raises(HtaError, match=match):
        Pathway(**base)


def test_bad_event_and_run():
    with pytest.raises(HtaError, match="clock 'semi-markov'"):
        Event("Dead", Exponential(0.1), clock="semi-markov")
    with pytest.raises(HtaError, match="must be a TimeToEvent"):
        Event("Dead", 0.1)
    with pytest.raises(HtaError, match="n_patients 0"):
        run_pathway({"x": Pathway(states=("A",), start="A", horizon=1.0, events={})}, 0, seed=1)


def _population(n, seed=0):
    rng = np.random.default_rng(seed)
    import pandas as pd

    return pd.DataFrame({"male": rng.integers(0, 2, n), "age": rng.integers(60, 80, n).astype(float)})


def test_covariates_scale_the_hazard():
    pop = _population(N)
    p = Pathway(states=("Alive", "Dead"), start="Alive", dead=("Dead",), horizon=1e9,
                events={"Alive": [Event("Dead", Exponential(0.1), hr={"male": math.log(2.0)})]})
    out = run_pathway({"x": p}, seed=5, population=pop).outcomes
    for male, mean in ((0, 10.0), (1, 5.0)):
        ly = out.loc[out.male == male, "ly_undisc"].to_numpy()
        assert abs(ly.mean() - mean) < 3 * _se(ly)
    assert list(out.columns[-2:]) == ["male", "age"]


def test_background_mortality_from_the_life_table_per_patient():
    import pandas as pd

    import sim
    from sim.patient import background_mortality

    table = sim.LifeTable.packaged("us_2017_nchs")
    pop = pd.DataFrame({"sex": ["male"] * N, "age": [70.0] * N})
    p = Pathway(states=("Alive", "Dead"), start="Alive", dead=("Dead",), horizon=5.0,
                events={"Alive": [Event("Dead", lambda pt: background_mortality(table, pt["sex"], pt["age"]))]})
    out = run_pathway({"x": p}, seed=6, population=pop).outcomes
    q = pd.read_csv("sim/data/lifetables/us_2017_nchs.csv").query("sex == 'male'").set_index("age")["qx"]
    expected = float(np.prod([1 - q[a] for a in range(70, 75)]))
    alive = (out["events"] == 0).mean()
    assert abs(alive - expected) < 3 * math.sqrt(expected * (1 - expected) / N)


def test_subgroups_give_a_personalised_rule():
    from sim.decision.subgroup import subgroups

    pop = _population(N, seed=1)
    base = dict(states=("Alive", "Dead"), start="Alive", dead=("Dead",), horizon=20.0, costs={"Alive": 0.0},
                utilities={"Alive": 1.0}, discount_outcomes=0.035)
    usual = Pathway(events={"Alive": [Event("Dead", Exponential(0.1))]}, **base)
    # the drug costs 300 a year and halves the hazard of death in men only
    drug = Pathway(events={"Alive": [Event("Dead", Exponential(0.1), hr={"male": math.log(0.5)})]},
                   **{**base, "costs": {"Alive": 300.0}})
    out = run_pathway({"usual": usual, "drug": drug}, seed=7, population=pop).outcomes
    table = subgroups(out, "male", wtp=20_000, reference="usual")
    men = table[(table.subgroup == 1) & (table.strategy == "drug")].iloc[0]
    women = table[(table.subgroup == 0) & (table.strategy == "drug")].iloc[0]
    assert men.inmb > 3 * men.inmb_se and men.optimal
    assert women.inmb < 0 and not women.optimal  # pays the drug cost for no effect
    assert set(table.columns) == {"subgroup", "strategy", "n", "cost", "qaly", "inmb", "inmb_se", "optimal"}


def test_missing_population_column_is_named():
    p = Pathway(states=("Alive", "Dead"), start="Alive", horizon=10.0,
                events={"Alive": [Event("Dead", Exponential(0.1), hr={"smoker": 0.5})]})
    with pytest.raises(HtaError, match="attribute 'smoker'.*population table lacks"):
        run_pathway({"x": p}, seed=1, population=_population(10))
    with pytest.raises(HtaError, match="attribute 'smoker'.*not given"):
        run_pathway({"x": p}, 10, seed=1)


def test_reached_states_give_event_counts_and_nnt():
    import sim

    def path(p_response):  # response vs no response, as competing exponentials over one year
        rate = 1.0
        return Pathway(states=("Start", "Response", "NoResponse"), start="Start", horizon=1e6,
                       events={"Start": [Event("Response", Exponential(rate * p_response)),
                                         Event("NoResponse", Exponential(rate * (1 - p_response)))]})

    out = run_pathway({"control": path(0.4), "treat": path(0.6)}, N, seed=8).outcomes
    assert (out["reached_Start"] == 1).all()
    treat = out.loc[out.strategy == "treat", "reached_Response"]
    control = out.loc[out.strategy == "control", "reached_Response"]
    assert abs(treat.mean() - 0.6) < 3 * math.sqrt(0.24 / N)
    res = sim.nnt(events_treatment=int(treat.sum()), n_treatment=N, events_control=int(control.sum()), n_control=N)
    assert res["label"] == "NNT" and 4.0 < res["nnt"] < 6.0  # 1 / (0.6 - 0.4) = 5
