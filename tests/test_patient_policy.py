"""Treat-to-target policies: hand-checkable escalation, drug monitoring, refractory rule, red flags."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim import HtaError
from sim.patient import Event, Exponential, Pathway
from sim.patient.managed import ManagedPathway, run_managed
from sim.patient.policy import TDM, Line, Marker, Policy, RedFlag, Refractory

STATES = ("OMT", "Wait", "Reeval", "Dead")
NEVER = Marker("score", baseline=50.0, target=80.0)  # no line reaches the target


def _run(policy, n=None, horizon=3.0, events=None, costs=None, utilities=None, seed=1, log=True, **kw):
    p = Pathway(states=STATES, start="OMT", dead=("Dead",), horizon=horizon, events=events or {},
                costs=costs or {}, utilities=utilities or {})
    if n is None and "population" not in kw:
        n = 1
    return run_managed({"omt": ManagedPathway(p, policies={"OMT": policy})}, n, seed=seed, log=log, **kw)


def _times(log, event):
    return log.loc[log.event == event, "time"].tolist()


def test_escalation_after_exactly_the_adequate_trial_of_each_line():
    lines = [Line("L1", "a", {"score": (5.0, 10.0)}, (100.0, 200.0), trial=0.5),
             Line("L2", "b", {"score": 10.0}, 300.0, trial=0.25)]
    r = _run(Policy("score", [NEVER], lines, interval=0.25, visit_cost=10.0))
    row = r.outcomes.iloc[0]
    # titration of L1 at 0.5, L1 fails at 1.0 at its highest dose, L2 fails at 1.25, no line left
    assert _times(r.log, "dose_up") == [0.5]
    assert _times(r.log, "line_failed") == [1.0, 1.25]
    assert r.log.loc[r.log.event == "line", "time"].tolist() == [0.0, 1.0]
    assert (row.lines_tried, row.dose_raises, row.optimised_failures, row.escalated) == (2, 1, 2, 0)
    assert row.visits == 12  # 0, 0.25, ..., 2.75
    # drug costs by dose over time, plus visits: 100 * 0.5 + 200 * 0.5 + 300 * 2 + 12 * 10
    assert row.cost_undisc == pytest.approx(50.0 + 100.0 + 600.0 + 120.0)


def test_no_escalation_on_target():
    m = Marker("score", baseline=50.0, target=60.0)
    lines = [Line("L1", "a", {"score": 20.0}, 100.0, trial=0.5), Line("L2", "b", {"score": 30.0}, 300.0, 0.5)]
    row = _run(Policy("score", [m], lines, interval=0.25)).outcomes.iloc[0]
    assert (row.lines_tried, row.optimised_failures) == (1, 0)


@pytest.mark.parametrize("p_low, raised, failed", [(1.0, [0.5], [1.0]), (0.0, [], [0.5])])
def test_tdm_low_level_raises_the_dose_before_failure(p_low, raised, failed):
    line = Line("L1", "a", {"score": (5.0, 10.0)}, (100.0, 200.0), trial=0.5, tdm=TDM(p_low=p_low, cost=50.0))
    r = _run(Policy("score", [NEVER], [line], interval=0.25), horizon=2.0)
    assert _times(r.log, "dose_up") == raised
    assert _times(r.log, "line_failed") == failed  # adequate exposure: failure declared without titration
    assert r.outcomes.iloc[0].cost_undisc == pytest.approx(
        (100.0 * 0.5 + 200.0 * 1.5 if p_low else 100.0 * 2.0) + 50.0 * len(raised + failed))


def test_low_exposure_lowers_the_effect_and_the_raised_dose_reaches_target():
    m = Marker("score", baseline=50.0, target=60.0)
    # at the first dose a patient with low exposure has no effect; at the second, the first dose's effect
    line = Line("L1", "a", {"score": (10.0, 20.0)}, (100.0, 200.0), trial=0.5, tdm=TDM(p_low=1.0))
    r = _run(Policy("score", [m], [line], interval=0.25, off_target_disutility=0.2), horizon=2.0,
             utilities={"OMT": 1.0})
    assert _times(r.log, "dose_up") == [0.5] and _times(r.log, "line_failed") == []
    assert r.outcomes.iloc[0].qaly_undisc == pytest.approx(2.0 - 0.2 * 0.75)  # off target 0 .. 0.75


def test_antibodies_switch_class_and_do_not_count_as_optimised_failure():
    lines = [Line("A1", "anti-TNF", {"score": 5.0}, 100.0, 0.5, tdm=TDM(p_antibodies=1.0)),
             Line("A2", "anti-TNF", {"score": 5.0}, 100.0, 0.5),
             Line("B1", "integrin", {"score": 5.0}, 100.0, 0.5)]
    r = _run(Policy("score", [NEVER], lines, interval=0.25, refractory=Refractory(1, 10.0, "Wait")))
    row = r.outcomes.iloc[0]
    assert r.log.loc[r.log.event == "line", "detail"].tolist() == ["A1", "B1"]
    assert _times(r.log, "antibodies") == [0.5]
    assert row.class_switches == 1 and row.escalated == 1 and row.time_to_escalation == 1.0
    # unmonitored, the same antibodies go unnoticed: A1 fails as if optimised -> refractory at 0.5
    lines[0] = Line("A1", "anti-TNF", {"score": 5.0}, 100.0, 0.5, tdm=TDM(p_antibodies=1.0, monitored=False))
    row = _run(Policy("score", [NEVER], lines, interval=0.25, refractory=Refractory(1, 10.0, "Wait"))).outcomes.iloc[0]
    assert row.class_switches == 0 and row.time_to_escalation == 0.5


@pytest.mark.parametrize("n_lines, within, expected", [(2, 1.0, 1.0), (3, 2.0, 1.5), (3, 0.9, math.nan)])
def test_refractory_only_after_n_optimised_lines_within_the_window(n_lines, within, expected):
    lines = [Line(f"L{i}", f"c{i}", {"score": 1.0}, 0.0, 0.5) for i in range(4)]
    r = _run(Policy("score", [NEVER], lines, interval=0.25, refractory=Refractory(n_lines, within, "Wait")))
    row = r.outcomes.iloc[0]
    assert row.time_to_escalation == expected or (math.isnan(expected) and math.isnan(row.time_to_escalation))
    if math.isnan(expected):  # failures at 0.5, 1.0, 1.5, 2.0 are never 3 within 0.9 years
        assert row.optimised_failures == 4 and row.reached_Wait == 0
    else:
        assert row.optimised_failures == n_lines and row.reached_Wait == 1 and row.escalated == 1


def test_red_flag_routes_to_re_evaluation_instead_of_escalation():
    lines = [Line("L1", "a", {"score": 1.0}, 0.0, 0.5), Line("L2", "b", {"score": 1.0}, 0.0, 0.5)]
    flag = RedFlag("Reeval", marker="score", threshold=52.0)  # score 51 is worse than 52 from the start
    r = _run(Policy("score", [NEVER], lines, interval=0.25, red_flags=[flag], refractory=Refractory(1, 5, "Wait")))
    row = r.outcomes.iloc[0]
    assert row.red_flags == 1 and row.reached_Reeval == 1 and row.reached_Wait == 0 and row.escalated == 0
    assert _times(r.log, "red_flag") == [0.0]


def test_red_flag_probability_per_visit():
    n, p = 4000, 0.2
    lines = [Line("L1", "a", {"score": 1.0}, 0.0, 100.0)]
    out = _run(Policy("score", [NEVER], lines, interval=0.25, red_flags=[RedFlag("Reeval", probability=p)]),
               n=n, horizon=1.0, log=False).outcomes
    # visits at 0, 0.25, 0.5, 0.75: P(red flag) = 1 - (1 - p)^4; visits until the flag are geometric
    expected = 1 - (1 - p) ** 4
    assert abs(out.reached_Reeval.mean() - expected) < 3 * math.sqrt(expected * (1 - expected) / n)
    assert set(out.visits.unique()) <= {1, 2, 3, 4}


def test_noisy_marker_on_target_probability_sets_the_utility():
    n, dis = 4000, 0.3
    m = Marker("score", baseline=70.0, target=80.0, noise_sd=10.0, lower=0.0, upper=100.0)
    pol = Policy("score", [m], [Line("L1", "a", {"score": 0.0}, 0.0, 100.0)], interval=0.5,
                 off_target_disutility=dis)
    out = _run(pol, n=n, horizon=5.0, utilities={"OMT": 1.0}, log=False).outcomes
    expected = 5.0 - dis * 5.0 * stats.norm.cdf(1.0)  # off target when 70 + 10 z < 80
    q = out.qaly_undisc.to_numpy()
    assert abs(q.mean() - expected) < 3 * q.std(ddof=1) / math.sqrt(n)


def test_marker_depends_on_patient_attributes():
    m = Marker("score", baseline=50.0, target=60.0, coef={"diabetes": -20.0})
    pol = Policy("score", [m], [Line("L1", "a", {"score": 15.0}, 0.0, 0.5)], interval=0.25,
                 refractory=Refractory(1, 5.0, "Wait"))
    pop = pd.DataFrame({"diabetes": [0.0, 1.0]})
    out = _run(pol, population=pop, log=False).outcomes
    assert out.escalated.tolist() == [0.0, 1.0]
    with pytest.raises(HtaError, match="lacks column 'diabetes'"):
        _run(pol, population=pd.DataFrame({"age": [60.0]}))
    with pytest.raises(HtaError, match="row 1: column 'diabetes' is missing"):
        _run(pol, population=pd.DataFrame({"diabetes": [0.0, np.nan]}))
    with pytest.raises(HtaError, match="'diabetes' holds 'yes', which is not a number"):
        _run(pol, population=pd.DataFrame({"diabetes": ["no", "yes"]}).iloc[1:])
    with pytest.raises(HtaError, match="attribute 'diabetes', but no population"):
        _run(pol)


def test_competing_events_keep_running_between_visits():
    n, rate = 4000, 0.3
    pol = Policy("score", [NEVER], [Line("L1", "a", {"score": 0.0}, 0.0, 100.0)], interval=0.25)
    out = _run(pol, n=n, horizon=4.0, events={"OMT": [Event("Dead", Exponential(rate))]}, log=False).outcomes
    ly = out.ly_undisc.to_numpy()
    expected = (1 - math.exp(-rate * 4.0)) / rate
    assert abs(ly.mean() - expected) < 3 * ly.std(ddof=1) / math.sqrt(n)
    # a visit only happens while alive: visits = 1 + floor(time alive / 0.25) (ly < 4) or 16
    assert np.array_equal(out.visits, np.minimum(np.floor(ly / 0.25 - 1e-12) + 1, 16))


def _policy_strategies():
    m = Marker("score", baseline=40.0, target=75.0, noise_sd=12.0, lower=0.0, upper=100.0, coef={"age": 0.2})
    lines = [Line("bb", "bb", {"score": (10.0, 18.0)}, (80.0, 120.0), 0.25, tdm=TDM(0.2, 0.1, 30.0)),
             Line("ccb", "ccb", {"score": 15.0}, 150.0, 0.25), Line("nit", "nit", {"score": 20.0}, 250.0, 0.5)]
    events = {"OMT": [Event("Dead", Exponential(0.05)), Event("Reeval", Exponential(0.1))],
              "Reeval": [Event("OMT", Exponential(4.0)), Event("Dead", Exponential(0.5))]}
    p = Pathway(states=STATES, start="OMT", dead=("Dead",), horizon=5.0, events=events,
                costs={"OMT": 500.0, "Reeval": 4000.0}, utilities={"OMT": 0.8, "Reeval": 0.6},
                discount_costs=0.035, discount_outcomes=0.035)

    def strat(target):
        mm = Marker("score", baseline=40.0, target=target, noise_sd=12.0, lower=0.0, upper=100.0, coef={"age": 0.2})
        assert mm != m or target == 75.0
        return ManagedPathway(p, policies={"OMT": Policy("score", [mm], lines, 0.25, Refractory(2, 1.5, "Wait"),
                                                          [RedFlag("Reeval", 0.02)], 40.0, 0.1)})

    return {"t75": strat(75.0), "t60": strat(60.0), "t90": strat(90.0)}


def _pop(n):
    return pd.DataFrame({"age": np.linspace(50, 80, n)})


def test_bit_identical_reruns_order_and_batches():
    s = _policy_strategies()
    pop = _pop(300)
    a = run_managed(s, seed=11, population=pop, log=True)
    b = run_managed(dict(reversed(list(s.items()))), seed=11, population=pop, batch_size=7, log=True)
    for name in s:
        x = a.outcomes[a.outcomes.strategy == name].drop(columns="strategy").reset_index(drop=True)
        y = b.outcomes[b.outcomes.strategy == name].drop(columns="strategy").reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y, check_exact=True)
        lx = a.log[a.log.strategy == name].reset_index(drop=True)
        ly = b.log[b.log.strategy == name].reset_index(drop=True)
        pd.testing.assert_frame_equal(lx, ly, check_exact=True)
    c = run_managed(s, seed=11, population=pop)
    pd.testing.assert_frame_equal(a.outcomes, c.outcomes, check_exact=True)
    assert a.outcomes.escalated.sum() > 0 and a.outcomes.red_flags.sum() > 0 and a.outcomes.dose_raises.sum() > 0


def test_common_random_numbers_across_strategies():
    """The first stay's event times do not depend on the policy: patients who die before any
    policy-driven move die at the same time in every strategy."""
    s = _policy_strategies()
    out = run_managed(s, seed=3, population=_pop(400)).outcomes
    w = out.pivot(index="patient", columns="strategy", values="ly_undisc")
    ev = out.pivot(index="patient", columns="strategy", values="events")
    dead = out.pivot(index="patient", columns="strategy", values="reached_Dead")
    one = (ev == 1).all(axis=1) & (dead == 1).all(axis=1)
    assert one.sum() >= 5
    assert (w.loc[one, "t75"] == w.loc[one, "t60"]).all() and (w.loc[one, "t75"] == w.loc[one, "t90"]).all()
    # a stricter target escalates more patients
    esc = out.groupby("strategy", observed=True)["escalated"].mean()
    assert esc["t60"] < esc["t75"] < esc["t90"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.1, 1.0), st.integers(1, 3))
def test_policy_counters_are_consistent(seed, interval, n_lines):
    m = Marker("score", baseline=50.0, target=65.0, noise_sd=10.0)
    lines = [Line(f"L{i}", "c" if i % 2 else "d", {"score": (5.0, 10.0)}, (1.0, 2.0), 0.5,
                  tdm=TDM(0.3, 0.3)) for i in range(n_lines)]
    pol = Policy("score", [m], lines, interval, Refractory(2, 1.0, "Wait"), [RedFlag("Reeval", 0.05)])
    out = _run(pol, n=30, horizon=3.0, seed=seed, log=False,
               events={"OMT": [Event("Dead", Exponential(0.2))]}).outcomes
    assert (out.lines_tried <= n_lines).all() and (out.lines_tried >= 1).all()
    assert (out.optimised_failures + out.class_switches <= out.lines_tried).all()
    assert (out.escalated == out.reached_Wait).all()
    assert (out.red_flags == out.reached_Reeval).all()
    assert (out.visits <= np.floor(3.0 / interval + 1e-9) + 1).all()
    esc = out[out.escalated == 1]
    assert (esc.optimised_failures >= 2).all() and (esc.time_to_escalation >= 0.5).all()


@pytest.mark.parametrize("build, match", [
    (lambda: Policy("scor", [NEVER], [Line("L", "a", {}, 1.0, 1.0)], 0.25),
     "policy target marker: unknown marker 'scor' \\(did you mean 'score'\\?\\)"),
    (lambda: Policy("score", [NEVER], [Line("L", "a", {"ldl": 1.0}, 1.0, 1.0)], 0.25),
     "line 'L' effects: unknown marker 'ldl'"),
    (lambda: Policy("score", [NEVER], [Line("L", "a", {}, 1.0, 1.0)], 0.25, red_flags=[RedFlag("R", 0, "x", 1.0)]),
     "red flag to 'R': unknown marker 'x'"),
    (lambda: Policy("score", [NEVER], [], 0.25), "between 1 and 1024 treatment Lines, got 0"),
    (lambda: Policy("score", [NEVER], [Line("L", "a", {}, 1.0, 1.0)], 0.0), "visit interval .* must be > 0"),
    (lambda: Line("L", "a", {"score": (1.0, 2.0)}, 1.0, 1.0), "2 effects but the line has 1 dose levels"),
    (lambda: Line("L", "a", {}, 1.0, -1.0), "line 'L': adequate trial duration .* -1.0"),
    (lambda: Line("L", "a", {}, float("nan"), 1.0), "line 'L': cost of dose level 0 is nan"),
    (lambda: Marker("m", 1.0, 2.0, better="up"), "better 'up'"),
    (lambda: Marker("m", float("nan"), 2.0), "marker 'm': baseline is nan"),
    (lambda: TDM(0.7, 0.6), "exceed 1"),
    (lambda: Refractory(0, 1.0, "Wait"), "lines 0 must be a whole number >= 1"),
    (lambda: RedFlag("R", 1.5), "probability is 1.5"),
])
def test_bad_policy_definitions(build, match):
    with pytest.raises(HtaError, match=match):
        build()


def test_policy_naming_an_unknown_state():
    p = Pathway(states=STATES, start="OMT", horizon=1.0, events={})
    pol = Policy("score", [NEVER], [Line("L", "a", {}, 1.0, 1.0)], 0.25, refractory=Refractory(1, 1.0, "CABG"))
    with pytest.raises(HtaError, match="policy of state 'OMT', refractory rule: unknown state 'CABG'"):
        ManagedPathway(p, policies={"OMT": pol})
    with pytest.raises(HtaError, match="policies: unknown state 'OTM'"):
        ManagedPathway(p, policies={"OTM": Policy("score", [NEVER], [Line("L", "a", {}, 1.0, 1.0)], 0.25)})


def test_without_policies_it_is_run_pathway_bit_for_bit():
    from sim.patient import run_pathway

    p = Pathway(states=("A", "B", "D"), start="A", dead=("D",), horizon=20.0,
                events={"A": [Event("B", Exponential(0.2), cost=10.0, hr={"age": 0.01}), Event("D", Exponential(0.05))],
                        "B": [Event("D", Exponential(0.3)), Event("A", Exponential(0.4), clock="markov")]},
                costs={"A": 100.0, "B": 500.0}, utilities={"A": 0.9, "B": 0.5}, discount_costs=0.035,
                discount_outcomes=0.015)
    pop = _pop(500)
    a = run_pathway({"x": p}, seed=3, population=pop).outcomes
    b = run_managed({"x": ManagedPathway(p)}, seed=3, population=pop).outcomes
    pd.testing.assert_frame_equal(a, b[a.columns], check_exact=True)


def test_patient_level_marker_deviation_is_persistent():
    n = 4000
    m = Marker("score", baseline=70.0, target=80.0, patient_sd=10.0)
    pol = Policy("score", [m], [Line("L1", "a", {"score": 0.0}, 0.0, 0.5)], interval=0.25,
                 refractory=Refractory(1, 5.0, "Wait"), off_target_disutility=1.0)
    out = _run(pol, n=n, horizon=2.0, utilities={"OMT": 1.0, "Wait": 1.0}, log=False).outcomes
    p = stats.norm.cdf(1.0)  # off target when 70 + 10 b < 80, at every visit
    assert abs(out.escalated.mean() - p) < 3 * math.sqrt(p * (1 - p) / n)
    # off-target patients are off target at every visit (0, 0.25) and escalate at 0.5
    esc = out[out.escalated == 1]
    assert (esc.time_to_escalation == 0.5).all()
    np.testing.assert_allclose(esc.qaly_undisc, 2.0 - 0.5)
    np.testing.assert_allclose(out[out.escalated == 0].qaly_undisc, 2.0)


def test_bad_values_at_run_time_name_strategy_patient_and_visit():
    # a time function giving patient 1 a negative hazard
    p = Pathway(states=STATES, start="OMT", dead=("Dead",), horizon=2.0,
                events={"OMT": [Event("Dead", lambda pt: Exponential(0.1 - 0.2 * pt["risk"]))]})
    mp = ManagedPathway(p)
    with pytest.raises(HtaError, match="strategy 'omt', patient 1: Exponential rate is -0.1"):
        run_managed({"omt": mp}, seed=0, population=pd.DataFrame({"risk": [0.0, 1.0]}))
    m = Marker("score", baseline=50.0, target=60.0, coef={"x": 1e308})
    pol = Policy("score", [m], [Line("L1", "a", {"score": 1e308}, 0.0, 0.5)], interval=0.25)
    with pytest.raises(HtaError, match="patient 0: visit 0 at 0 years: marker 'score' is inf"):
        _run(pol, population=pd.DataFrame({"x": [1.0]}))
    with pytest.raises(HtaError, match="row 0: column 'x' is inf"):
        _run(pol, population=pd.DataFrame({"x": [np.inf]}))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 60), st.permutations(["t75", "t60", "t90"]))
def test_batch_size_and_strategy_order_never_matter(seed, batch, order):
    s = _policy_strategies()
    pop = _pop(60)
    a = run_managed(s, seed=seed, population=pop).outcomes
    b = run_managed({k: s[k] for k in order}, seed=seed, population=pop, batch_size=batch).outcomes
    for name in s:
        x = a[a.strategy == name].drop(columns="strategy").reset_index(drop=True)
        y = b[b.strategy == name].drop(columns="strategy").reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y, check_exact=True)


def test_line_eligibility_skips_lines_for_patients_outside_requires():
    """A line whose ``requires`` excludes the patient is skipped (no trial, no failure, no cost); the
    same policy gives the other patient that line; the first line must suit the patient."""
    lines = [Line("L1", "a", {"score": 0.0}, 10.0, trial=0.5),
             Line("only_fast", "b", {"score": 0.0}, 1000.0, trial=0.5, requires={"hr": (70.0, math.inf)}),
             Line("L3", "c", {"score": 0.0}, 100.0, trial=0.5)]
    pop = pd.DataFrame({"hr": [65.0, 80.0]})
    r = _run(Policy("score", [NEVER], lines, interval=0.25), horizon=1.75, population=pop)
    started = r.log[r.log.event == "line"].groupby("patient")["detail"].apply(list)
    assert started[0] == ["L1", "L3"] and started[1] == ["L1", "only_fast", "L3"]
    assert r.log.loc[(r.log.event == "line_skipped") & (r.log.patient == 0), "time"].tolist() == [0.5]
    out = r.outcomes.set_index("patient")
    assert out.loc[0, "lines_tried"] == 2 and out.loc[1, "lines_tried"] == 3
    # patient 0: L1 for 0.5 years then L3 for 1.25 years; patient 1: L1, only_fast, L3 for 0.5 each + 0.25
    assert out.loc[0, "cost_undisc"] == pytest.approx(10 * 0.5 + 100 * 1.25)
    assert out.loc[1, "cost_undisc"] == pytest.approx(10 * 0.5 + 1000 * 0.5 + 100 * 0.75)
    with pytest.raises(HtaError, match="no line of the policy of state 'OMT' is eligible"):
        _run(Policy("score", [NEVER], lines[1:2], interval=0.25), population=pop)
    with pytest.raises(HtaError, match="uses patient attribute 'hr'"):
        _run(Policy("score", [NEVER], lines, interval=0.25))


@pytest.mark.parametrize("requires, message", [({"hr": 70.0}, "pair"), ({"hr": (80.0, 70.0)}, "above high"),
                                               ({"hr": (math.nan, 1.0)}, "low"), ({"": (0.0, 1.0)}, "pair")])
def test_line_requires_is_checked_at_definition(requires, message):
    with pytest.raises(HtaError, match=message):
        Line("L", "a", {"score": 0.0}, 1.0, trial=0.5, requires=requires)
