"""Capacity-limited procedures: waiting lists, deaths on the list, queue statistics."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import fifo_waits

from sim import HtaError
from sim.patient import Event, Exponential, Pathway, PiecewiseExponential
from sim.patient.managed import ManagedPathway, run_managed
from sim.patient.resources import Arrivals, Procedure, Resource

STATES = ("Wait", "Post", "Dead")


def _strategy(capacity=1, duration=0.5, events=None, horizon=10.0, utilities=None, mortality=0.0, cost=0.0,
              priority=None, resource="theatre"):
    p = Pathway(states=STATES, start="Wait", dead=("Dead",), horizon=horizon,
                events=events or {"Post": [Event("Dead", Exponential(0.0))]},
                utilities=utilities or {"Wait": 0.5, "Post": 0.8}, costs={"Wait": 100.0})
    proc = Procedure(resource, "Post", "Dead", duration=duration, cost=cost, mortality=mortality)
    return ManagedPathway(p, procedures={"Wait": proc}, resources=[Resource("theatre", capacity)])


def test_capacity_one_three_patients_at_once():
    r = run_managed({"cabg": _strategy()}, 3, seed=1)
    out, q = r.outcomes, r.queues.iloc[0]
    assert out.waited.tolist() == [0.0, 0.5, 1.0]
    assert out.time_to_procedure.tolist() == [0.0, 0.5, 1.0]
    assert (q.listed, q.admitted, q.died_on_list, q.queue_max) == (3, 3, 0, 2)
    assert q.wait_mean == pytest.approx(0.5) and q.wait_max == 1.0
    # the theatre's last procedure ends at 1.5: 2 waiting for 0.5, then 1 for 0.5; always busy
    assert q.period == 1.5 and q.queue_mean == pytest.approx(1.5 / 1.5) and q.utilisation == pytest.approx(1.0)
    # the costs and QALYs reflect the wait: utility 0.5 while waiting and operated, 0.8 after
    expected = [0.5 * (w + 0.5) + 0.8 * (10.0 - w - 0.5) for w in (0.0, 0.5, 1.0)]
    np.testing.assert_allclose(out.qaly_undisc, expected)
    np.testing.assert_allclose(out.cost_undisc, [100.0 * (w + 0.5) for w in (0.0, 0.5, 1.0)])


def test_deaths_on_the_list():
    # death exactly 0.75 years after joining the list: the third patient (wait 1.0) dies waiting
    death = PiecewiseExponential([0.0, 0.75], [0.0, 1e12])
    s = _strategy(events={"Wait": [Event("Dead", death)], "Post": []})
    r = run_managed({"cabg": s}, 3, seed=1, log=True)
    out, q = r.outcomes, r.queues.iloc[0]
    assert out.died_on_list.tolist() == [0, 0, 1]
    assert out.procedures.tolist() == [1, 1, 0] and out.reached_Post.tolist() == [1, 1, 0]
    assert out.waited.iloc[2] == pytest.approx(0.75) and out.ly_undisc.iloc[2] == pytest.approx(0.75)
    assert (q.listed, q.admitted, q.died_on_list) == (3, 2, 1)
    assert "died_on_list" in r.log.event.tolist()


def test_infinite_capacity_means_no_waiting():
    a = run_managed({"x": _strategy(capacity=math.inf)}, 50, seed=2).outcomes
    b = run_managed({"x": _strategy(resource=None)}, 50, seed=2).outcomes
    assert (a.waited == 0).all()
    pd.testing.assert_frame_equal(a, b)


def test_multi_server_fifo_matches_the_naive_queue():
    arr = Arrivals(rate=20.0)
    n, cap, dur = 300, 2, 0.09
    out = run_managed({"x": _strategy(capacity=cap, duration=dur, horizon=50.0)}, n, seed=5, arrivals=arr).outcomes
    times = arr.times(n, 5, 0)
    np.testing.assert_allclose(out.arrival, times)
    np.testing.assert_allclose(out.waited, fifo_waits(times, cap, dur), atol=1e-9)
    assert out.waited.max() > 0.2  # the queue was busy


def test_priority_serves_urgent_patients_first():
    p = Pathway(states=("Start", "Urgent", "Elective", "Post", "Dead"), start="Start", horizon=10.0,
                events={"Start": [Event("Urgent", Exponential(1.0)), Event("Elective", Exponential(1.0))]})
    procs = {"Urgent": Procedure("theatre", "Post", "Dead", duration=0.01, priority=0),
             "Elective": Procedure("theatre", "Post", "Dead", duration=0.01, priority=1)}
    out = run_managed({"x": ManagedPathway(p, procedures=procs, resources=[Resource("theatre", 1)])},
                      200, seed=3).outcomes
    urgent = out.reached_Urgent == 1
    assert out.waited[urgent].mean() < 0.5 * out.waited[~urgent].mean()


def test_peri_procedural_mortality():
    n = 4000
    out = run_managed({"x": _strategy(capacity=math.inf, mortality=0.1)}, n, seed=4).outcomes
    died = out.reached_Dead.mean()
    assert abs(died - 0.1) < 3 * math.sqrt(0.09 / n)


def _busy(capacity, n, rate, dur, seed, death=0.5):
    events = {"Wait": [Event("Dead", Exponential(death))], "Post": [Event("Dead", Exponential(0.1))]}
    return run_managed({"x": _strategy(capacity=capacity, duration=dur, events=events, horizon=3.0)}, n, seed=seed,
                       arrivals=Arrivals(rate=rate))


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 60), st.floats(1.0, 200.0), st.floats(0.001, 0.2), st.integers(0, 2**31))
def test_queue_statistics_invariants(capacity, n, rate, dur, seed):
    r = _busy(capacity, n, rate, dur, seed)
    q, out = r.queues.iloc[0], r.outcomes
    assert 0.0 <= q.utilisation <= 1.0 + 1e-12
    assert 0 <= q.queue_mean <= q.queue_max <= n
    assert q.listed == n == q.admitted + q.died_on_list + q.left_list
    # Little's law, exactly: time-weighted queue length x period = total time spent on the list
    assert q.queue_mean * q.period == pytest.approx(out.waited.sum(), rel=1e-9, abs=1e-12)
    assert out.died_on_list.sum() == q.died_on_list


def test_waiting_lowers_net_benefit_and_reruns_are_identical():
    a = _busy(1, 300, 100.0, 0.02, seed=8)
    b = _busy(math.inf, 300, 100.0, 0.02, seed=8)
    qa, qb = a.queues.iloc[0], b.queues.iloc[0]
    assert qa.died_on_list > qb.died_on_list == 0 and math.isnan(qb.utilisation)
    assert a.outcomes.qaly.mean() < b.outcomes.qaly.mean()
    again = _busy(1, 300, 100.0, 0.02, seed=8)
    pd.testing.assert_frame_equal(a.outcomes, again.outcomes, check_exact=True)
    pd.testing.assert_frame_equal(a.queues, again.queues, check_exact=True)


def test_strategies_have_their_own_theatres_and_order_does_not_matter():
    s = {"one": _strategy(capacity=1, duration=0.02), "two": _strategy(capacity=2, duration=0.02)}
    kw = {"seed": 9, "arrivals": Arrivals(rate=80.0), "log": True}
    a = run_managed(s, 200, **kw)
    b = run_managed(dict(reversed(list(s.items()))), 200, **kw)
    for name in s:
        x = a.outcomes[a.outcomes.strategy == name].drop(columns="strategy").reset_index(drop=True)
        y = b.outcomes[b.outcomes.strategy == name].drop(columns="strategy").reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y, check_exact=True)
    qa = a.queues.set_index("strategy").sort_index()
    qb = b.queues.set_index("strategy").sort_index()
    pd.testing.assert_frame_equal(qa, qb, check_exact=True)
    assert qa.loc["one", "wait_mean"] > qa.loc["two", "wait_mean"]


def test_arrivals():
    t = Arrivals(rate=52.0).times(20_000, 1, 0)
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert abs(gaps.mean() - 1 / 52) < 3 * (1 / 52) / math.sqrt(20_000)
    np.testing.assert_array_equal(Arrivals(rate=52.0).times(100, 1, 0), t[:100])
    np.testing.assert_allclose(Arrivals(every=0.5).times(3, 1, 0), [0.0, 0.5, 1.0])


@pytest.mark.parametrize("build, match", [
    (lambda: Resource("theatre", 0), "resource 'theatre': capacity 0 must be a whole number >= 1"),
    (lambda: Resource("theatre", -2), "capacity -2"),
    (lambda: Resource("theatre", 1.5), "capacity 1.5"),
    (lambda: Resource("theatre", float("nan")), "capacity nan"),
    (lambda: Procedure("t", "Post", "Dead", duration=-1.0), "duration \\(years\\) is -1.0"),
    (lambda: Procedure("t", "Post", "Dead", duration=float("nan")), "duration \\(years\\) is nan"),
    (lambda: Procedure("t", "Post", "Dead", mortality=1.2), "mortality is 1.2"),
    (lambda: Arrivals(rate=0.0), "rate .* must be > 0"),
    (lambda: Arrivals(), "give either rate"),
    (lambda: Exponential(float("nan")), "Exponential rate is nan"),
    (lambda: Exponential(-0.1), "Exponential rate is -0.1"),
    (lambda: _strategy(resource="theater"), "unknown resource 'theater' \\(did you mean 'theatre'\\?\\)"),
])
def test_bad_resources(build, match):
    with pytest.raises(HtaError, match=match):
        build()


def test_bad_procedure_states_and_run_settings():
    p = Pathway(states=STATES, start="Wait", horizon=1.0, events={})
    with pytest.raises(HtaError, match="procedure of state 'Wait', to: unknown state 'Psot'"):
        ManagedPathway(p, procedures={"Wait": Procedure(None, "Psot", "Dead")})
    with pytest.raises(HtaError, match="procedures: unknown state 'Queue'"):
        ManagedPathway(p, procedures={"Queue": Procedure(None, "Post", "Dead")})
    with pytest.raises(HtaError, match="strategy 'x': Pathway is not a ManagedPathway"):
        run_managed({"x": p}, 1, seed=1)
    with pytest.raises(HtaError, match="n_patients 0"):
        run_managed({"x": ManagedPathway(p)}, 0, seed=1)


def test_queue_trace_over_time():
    r = _busy(2, 80, 60.0, 0.05, seed=12)
    r2 = run_managed({"x": _strategy(capacity=2, duration=0.05, horizon=3.0,
                                     events={"Wait": [Event("Dead", Exponential(0.5))],
                                             "Post": [Event("Dead", Exponential(0.1))]})},
                     80, seed=12, arrivals=Arrivals(rate=60.0), log=True)
    pd.testing.assert_frame_equal(r.outcomes, r2.outcomes, check_exact=True)
    tr, q = r2.queue_trace, r2.queues.iloc[0]
    assert list(tr.columns) == ["strategy", "resource", "time", "waiting", "busy"]
    assert tr.time.is_monotonic_increasing and (tr.busy <= 2).all() and tr.waiting.max() == q.queue_max
    # the step function's integral is the time-weighted mean queue length
    t = np.append(tr.time.to_numpy(), q.period)
    area = float(np.sum(tr.waiting.to_numpy() * np.diff(t)))
    assert area / q.period == pytest.approx(q.queue_mean, rel=1e-12)
    busy = float(np.sum(tr.busy.to_numpy() * np.diff(t)))
    assert busy / (2 * q.period) == pytest.approx(q.utilisation, rel=1e-12)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31), st.permutations(["one", "two", "inf"]))
def test_strategy_order_never_matters_with_resources(seed, order):
    events = {"Wait": [Event("Dead", Exponential(0.5))], "Post": [Event("Dead", Exponential(0.1))]}
    s = {"one": _strategy(1, 0.02, events), "two": _strategy(2, 0.02, events), "inf": _strategy(math.inf, 0.02, events)}
    a = run_managed(s, 60, seed=seed, arrivals=Arrivals(rate=80.0))
    b = run_managed({k: s[k] for k in order}, 60, seed=seed, arrivals=Arrivals(rate=80.0))
    for name in s:
        x = a.outcomes[a.outcomes.strategy == name].drop(columns="strategy").reset_index(drop=True)
        y = b.outcomes[b.outcomes.strategy == name].drop(columns="strategy").reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y, check_exact=True)
    pd.testing.assert_frame_equal(a.queues.set_index("strategy").loc[list(s)],
                                  b.queues.set_index("strategy").loc[list(s)], check_exact=True)


def test_horizon_on_the_list_and_during_the_procedure():
    r = run_managed({"x": _strategy(capacity=1, duration=5.0, horizon=2.0)}, 2, seed=1, log=True)
    out, q = r.outcomes, r.queues.iloc[0]
    # patient 0 is operated from 0 to 5 (past its horizon of 2); patient 1 is still waiting at 2
    assert out.procedures.tolist() == [1, 0] and out.waited.tolist() == [0.0, 2.0]
    assert out.died_on_list.tolist() == [0, 0] and (q.left_list, q.died_on_list) == (1, 0)
    np.testing.assert_allclose(out.qaly_undisc, [1.0, 1.0])  # utility 0.5 for the 2 years of each
    assert out.reached_Post.tolist() == [0, 0]
    assert q.period == 5.0 and q.utilisation == 1.0 and q.queue_mean == pytest.approx(2.0 / 5.0)
