"""Issue 10, in the experiment layer: library plausibility checks reported at the file's own key,
the PSA's memory estimate checked before any chunk runs, defaulted parameters recorded."""

from __future__ import annotations

import json
import shutil

import pytest
from exp_helpers import HIV_TABLE

from sim.experiment.cli import main

HEAD = """\
model = "hiv_chancellor"
parameters = "hiv.csv"
seed = 1
output = "out"
"""


def _run(tmp_path, body: str, capsys) -> tuple[int, str]:
    shutil.copy(HIV_TABLE, tmp_path / "hiv.csv")
    f = tmp_path / "e.toml"
    f.write_text(HEAD + body)
    code = main(["run", str(f), "--quiet"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("body", "line", "fragment"), [
    ("\n[scenario]\ndiscount_costs = 3.5\n\n[psa]\ndraws = 10\n", 7, "did you mean 0.035?"),
    ("\n[scenario]\ndiscount_outcomes = 1e308\n", 7, "must be an annual rate >= 0 and < 1"),
    ("\n[psa]\ndraws = 20\n\n[sweep.grid]\ndiscount_outcomes = [0.03, 2.0]\n", 10, "did you mean 0.02?"),
    ("\n[psa]\ndraws = 1000000000000000\n", 7, "above the memory limit"),
])
def test_bad_values_are_reported_at_their_key_and_leave_nothing(tmp_path, capsys, body, line, fragment):
    code, err = _run(tmp_path, body, capsys)
    assert code == 2
    assert err.startswith(f"hta-sim: error: {tmp_path / 'e.toml'}:{line}: "), err
    assert err.count("e.toml:") == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_defaulted_parameters_are_recorded_in_the_manifest(tmp_path, capsys):
    shutil.copy(HIV_TABLE, tmp_path / "full.csv")
    lines = (tmp_path / "full.csv").read_text().splitlines()
    dropped = [ln for ln in lines[1:] if ln.startswith("c_lamivudine,")]
    assert len(dropped) == 1
    (tmp_path / "hiv.csv").write_text("\n".join(ln for ln in lines if ln not in dropped) + "\n")
    f = tmp_path / "e.toml"
    f.write_text(HEAD + 'defaults = "model"\n')
    assert main(["run", str(f), "--quiet"]) == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["defaulted_parameters"] == ["c_lamivudine"]
