"""The worked example experiments/angina_treat_to_target.py runs and behaves as described."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def angina():
    spec = importlib.util.spec_from_file_location("angina", ROOT / "experiments" / "angina_treat_to_target.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_angina_example(angina, capsys):
    res = angina.run(300, seed=5)
    s = angina.summary(res)
    omt, cabg = s.loc["omt_t2t"], s.loc["cabg_first"]
    assert 0.1 < omt.escalated < 0.95 and cabg.escalated == 0 and omt.lines >= 1
    assert cabg.cabg > omt.cabg  # everyone is listed up front
    q = res.queues.set_index("strategy")
    assert q.loc["cabg_first", "listed"] == 300 and q.loc["omt_t2t", "listed"] < 300
    assert q.loc["cabg_first", "wait_mean"] > q.loc["omt_t2t", "wait_mean"]
    assert (q.utilisation <= 1).all() and q.loc["cabg_first", "died_on_list"] > 0
    o = res.outcomes
    # escalated patients reached the elective list after at least two optimised failures
    esc = o[(o.strategy == "omt_t2t") & (o.escalated == 1)]
    assert (esc.reached_Wait_elective == 1).all() and (esc.optimised_failures >= 2).all()
    # red flags go to re-evaluation
    rf = o[(o.strategy == "omt_t2t") & (o.red_flags > 0)]
    assert len(rf) > 0 and (rf.reached_Reeval == 1).all()
    # the decision functions take the outcomes unchanged
    import sim

    by_diabetes = sim.subgroups(res, "diabetes", wtp=30_000, reference="cabg_first")  # the result or its outcomes
    assert set(by_diabetes.subgroup) == {0.0, 1.0} and by_diabetes.optimal.sum() == 2
    assert set(sim.icers(o).strategy) == {"omt_t2t", "cabg_first"}
    pd.testing.assert_frame_equal(res.icer(), sim.icers(o))
    assert angina.main(["--patients", "60", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "Theatre waiting list" in out and "ICER table" in out


def test_parameters_drive_the_model(angina):
    more = dict(angina.PARAMS, theatre_capacity=50)
    a = angina.summary(angina.run(200, seed=2, params=more))
    b = angina.summary(angina.run(200, seed=2))
    assert a.loc["cabg_first", "waited_years"] < b.loc["cabg_first", "waited_years"]
