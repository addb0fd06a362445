"""Issue 10: hostile experiment files end in one located line (deep nesting, folders given as files)."""

from __future__ import annotations

import shutil

import pytest
from exp_helpers import HIV_TABLE

from sim.errors import HtaError
from sim.experiment.cli import main
from sim.experiment.read import MAX_DEPTH
from sim.params.table import ParameterTable

HEAD = 'model = "hiv_chancellor"\nparameters = "hiv.csv"\nseed = 1\noutput = "out"\n'


@pytest.mark.parametrize(("depth", "fragment"), [
    (5000, "nested"),          # tomllib itself recurses: RecursionError, reported in one line
    (MAX_DEPTH + 5, "nested"),  # readable, but deeper than any experiment file needs
])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_deep_nesting_is_one_line(tmp_path, capsys, depth, fragment, command):
    shutil.copy(HIV_TABLE, tmp_path / "hiv.csv")
    f = tmp_path / "e.toml"
    f.write_text(HEAD + "x = " + "[" * depth + "1" + "]" * depth + "\n")
    code = main([command, str(f)] + (["--quiet"] if command == "run" else []))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"hta-sim: error: {f}:") and fragment in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_folder_given_as_the_experiment_file(tmp_path, capsys):
    d = tmp_path / "e.toml"
    d.mkdir()
    assert main(["validate", str(d)]) == 2
    assert "is a folder, not an experiment file" in capsys.readouterr().err


def test_a_folder_given_as_the_parameter_table(tmp_path, capsys):
    (tmp_path / "hiv.csv").mkdir()
    f = tmp_path / "e.toml"
    f.write_text(HEAD)
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}:2:" in err and "is a folder" in err
    with pytest.raises(HtaError, match="is a folder"):
        ParameterTable.read(tmp_path / "hiv.csv")
