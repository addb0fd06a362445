"""Parameter sweeps: a partitioned Parquet dataset, resumable after an interruption (issue 5, point 5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import exp_helpers as H
import numpy as np
import pandas as pd
import pytest

from sim import ParameterTable, run_psa
from sim.experiment import load, read_experiment, read_sweep, sweep
from sim.experiment.runner import run_experiment


def _check_complete(folder, exp, n):
    data = read_sweep(folder)
    assert sorted(data["scenario"].unique()) == [s.index for s in exp.sweep]
    assert not data.duplicated(["scenario", "draw", "strategy"]).any()
    assert (data.groupby("scenario").size() == 2 * n).all()
    return data


def test_sweep_dataset_matches_run_psa_per_scenario(tmp_path):
    f = H.sweep(tmp_path, draws=300)
    res = run_experiment(f)
    exp = read_experiment(f)
    data = _check_complete(res.folder, exp, 300)
    parts = sorted(p.name for p in (res.folder / "sweep").iterdir())
    assert parts == [f"scenario={i:05d}" for i in range(6)]
    assert all((res.folder / "sweep" / p / "_SUCCESS").is_file() for p in parts)
    # the dataset reads as a hive-partitioned Parquet dataset too
    ds = pd.read_parquet(res.folder / "sweep")
    assert len(ds) == len(data)
    ld = load(exp)
    for s in (exp.sweep[0], exp.sweep[5]):
        # oracle: the parameter table with the scenario's value written into it
        frame = ld.table.to_frame()
        frame.loc[frame["name"] == "c_lamivudine", "value"] = s.values["c_lamivudine"]
        table = ParameterTable.from_frame(frame)
        ref = run_psa(ld.model(s.values), table, 300, exp.seed).outcomes
        got = data[data["scenario"] == s.index].drop(columns="scenario").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, ref, check_exact=True, check_categorical=False)
    summary = pd.read_csv(res.folder / "sweep_summary.csv")
    assert len(summary) == 12 and set(summary.columns) >= {"c_lamivudine", "discount_costs", "p_cost_effective"}
    assert np.allclose(summary.groupby("scenario")["p_cost_effective"].sum(), 1)
    listing = pd.read_csv(res.folder / "sweep_scenarios.csv")
    assert list(listing["discount_costs"]) == [0.035, 0.06] * 3
    # a higher lamivudine price costs more (same draws in every scenario: common random numbers)
    comb = summary[summary["strategy"] == "comb"].set_index("scenario")["cost"]
    assert comb[0] < comb[2] < comb[4]


def test_interrupted_sweep_resumes_without_loss_or_duplication(tmp_path, monkeypatch):
    f_ref = H.sweep(tmp_path / "ref", draws=200)
    ref = read_sweep(run_experiment(f_ref).folder)

    f = H.sweep(tmp_path / "run", draws=200)
    real = sweep.scenario_psa
    calls = []

    def failing(*args):
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the fourth scenario
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(sweep, "scenario_psa", failing)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(f)
    stage = tmp_path / "run" / ".out.partial"
    assert not (tmp_path / "run" / "out").exists()  # nothing that looks like a result
    assert len(list((stage / "sweep").glob("*/_SUCCESS"))) == 3
    monkeypatch.setattr(sweep, "scenario_psa", real)
    res = run_experiment(f)
    assert res.manifest is not None and not stage.exists()
    got = _check_complete(res.folder, read_experiment(f), 200)
    pd.testing.assert_frame_equal(got, ref, check_exact=True)


def test_partition_without_marker_is_recomputed(tmp_path, monkeypatch):
    f = H.sweep(tmp_path, draws=100)
    real = sweep.scenario_psa
    calls = []

    def failing(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(sweep, "scenario_psa", failing)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(f)
    stage = tmp_path / ".out.partial" / "sweep"
    # a half-finished partition: data file present, marker missing (killed between the two writes)
    (stage / "scenario=00001" / "_SUCCESS").unlink()
    monkeypatch.setattr(sweep, "scenario_psa", real)
    res = run_experiment(f)
    _check_complete(res.folder, read_experiment(f), 100)


@pytest.mark.slow
def test_killed_sweep_process_resumes_with_the_same_command(tmp_path):
    """Start ``hta-sim run sweep.toml`` in a subprocess, SIGKILL it once partitions land,
    rerun the same command, and compare with an uninterrupted run."""
    extra = "\n[sweep.grid]\nc_lamivudine = [1000, 1500, 2000, 2500, 3000, 3500]\ncomb_years = [1, 2, 3, 4]\n"
    text = H.SWEEP.format(draws=20_000).split("[sweep.grid]")[0] + extra
    f = H.write(tmp_path / "run", text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(H.ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "sim", "run", str(f), "--quiet"]
    stage = tmp_path / "run" / ".out.partial" / "sweep"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not list(stage.glob("*/_SUCCESS")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = len(list(stage.glob("*/_SUCCESS")))
    assert 1 <= done < 24, done  # killed part-way
    assert not (tmp_path / "run" / "out").exists()
    assert H.result_like(tmp_path / "run") == []
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    exp = read_experiment(f)
    got = _check_complete(tmp_path / "run" / "out", exp, 20_000)
    f_ref = H.write(tmp_path / "ref", text)
    ref = read_sweep(run_experiment(f_ref).folder)
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
