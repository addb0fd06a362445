"""Scale-out on Dask: identical numbers serially, on a local cluster and at a scheduler address;
a worker killed mid-run loses and duplicates nothing (issue 5, point 6)."""

from __future__ import annotations

import os
import signal
import threading
import time

import exp_helpers as H
import pandas as pd
import pytest

from sim.experiment import read_experiment, read_sweep
from sim.experiment.runner import run_experiment

pytestmark = pytest.mark.slow

EXTRA = "\n[sweep]\ndraws = 4000\n\n[sweep.grid]\nc_lamivudine = [1000, 2000, 3000, 4000]\ncomb_years = [1, 2, 3]\n"
FILES = ("psa_outcomes.parquet", "psa_draws.parquet", "psa_outcomes.csv", "base_case.csv", "icer.csv",
         "ceac.csv", "evpi.csv", "sweep_summary.csv")


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serial")
    f = H.small(folder, draws=3000, chunk=250, extra=EXTRA)
    return run_experiment(f).folder


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _same(a, b):
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pd.testing.assert_frame_equal(read_sweep(a), read_sweep(b), check_exact=True)


def test_local_cluster_gives_identical_numbers(serial, tmp_path):
    f = H.small(tmp_path, draws=3000, chunk=250, extra=EXTRA)
    res = run_experiment(f, workers=2)  # hta-sim run FILE --workers 2: a LocalCluster of 2 processes
    assert res.manifest["execution"]["mode"] == "local" and res.manifest["execution"]["workers"] == 2
    _same(res.folder, serial)


def test_scheduler_address_gives_identical_numbers(serial, cluster, tmp_path):
    f = H.small(tmp_path, draws=3000, chunk=250, extra=EXTRA)
    res = run_experiment(f, scheduler=cluster.scheduler_address)  # hta-sim run FILE --scheduler ADDRESS
    assert res.manifest["execution"]["mode"] == "scheduler"
    _same(res.folder, serial)


def test_killed_worker_loses_and_duplicates_nothing(serial, cluster, tmp_path):
    from dask.distributed import Client

    f = H.small(tmp_path, draws=3000, chunk=250, extra=EXTRA)
    stage = tmp_path / ".out.partial" / "sweep"
    killed = []

    with Client(cluster) as client:
        pids = client.run(os.getpid)  # {worker address: pid}
        victim = min(pids)

        def kill_when_the_sweep_is_under_way():
            deadline = time.monotonic() + 300
            while not list(stage.glob("*/_SUCCESS")) and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(len(list(stage.glob("*/_SUCCESS"))))

        t = threading.Thread(target=kill_when_the_sweep_is_under_way, daemon=True)
        t.start()
        res = run_experiment(f, client=client)
        t.join(5)
    assert killed and killed[0] < len(read_experiment(f).sweep), killed  # killed mid-sweep
    _same(res.folder, serial)
    data = read_sweep(res.folder)
    assert not data.duplicated(["scenario", "draw", "strategy"]).any()
    assert (data.groupby("scenario").size() == 2 * 4000).all()


def test_unreachable_scheduler_is_a_located_error(tmp_path, capsys):
    from sim.experiment.cli import main as cli_main

    f = H.small(tmp_path, draws=20, extra="")
    f.write_text(f.read_text().replace('effect = "ly"\n', 'effect = "ly"\nexecution = {scheduler = "tcp://127.0.0.1:9"}\n'))
    assert cli_main(["run", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{f}:7: cannot connect to the Dask scheduler" in err[0], err
    assert H.result_like(tmp_path) == []
    assert not (tmp_path / ".out.partial").exists()
