"""Ready models are found through the entry-point group ``hta_sim.models``; the command line starts light."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import exp_helpers as H
import pytest

import cohorts
from sim import ParameterTable
from sim.errors import HtaError
from sim.experiment import load, read_experiment
from sim.experiment.registry import GROUP, load_ready, ready_models

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numba", "scipy", "matplotlib", "dask", "distributed", "simpy", "pyarrow", "pandas")


# ---------------------------------------------------------------------------- registry
def test_pyproject_registers_the_ready_models_of_cohorts():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][GROUP]
    assert declared == cohorts.READY


def test_registry_finds_every_ready_model_in_a_stable_order():
    names = ready_models()
    assert names == sorted(names)
    assert set(cohorts.READY) <= set(names)
    for name in cohorts.READY:
        assert load_ready(name) is cohorts.load(name)


def test_unknown_ready_model_suggests_the_closest_name():
    with pytest.raises(HtaError, match=r"no ready model 'hiv_chancelor' \(did you mean 'hiv_chancellor'\?\); "
                                       r"ready models: .*thr_briggs"):
        load_ready("hiv_chancelor")


@pytest.mark.parametrize("name", sorted(cohorts.READY))
def test_ready_model_provides_its_table_and_data_files(name):
    mod = cohorts.load(name)
    table = mod.parameters()
    assert isinstance(table, ParameterTable)
    assert table.names == list(mod.parameter_table()["name"])
    files = mod.data_files()
    assert files and all(Path(f).is_file() and Path(f).parent == Path(mod.__file__).parent for f in files)
    assert Path(table.label) in files  # the table read is one of the hashed files
    mod.build(dict(table.base))


# ---------------------------------------------------------------------------- third-party models
THIRD_PARTY = '''\
from pathlib import Path

import cohorts
from sim import ParameterTable

TITLE = "HIV, as a third-party package"
EFFECT = "ly"


def build(parameters=None):
    return cohorts.load("hiv_chancellor").build(parameters)


def parameters():
    return ParameterTable.read(Path(__file__).with_name("table.csv"))


def data_files():
    return (Path(__file__).with_name("table.csv"), Path(__file__).with_name("notes.csv"))
'''


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """An installed distribution 'hiv-extra' that registers the ready model 'hiv_extra'."""
    site = tmp_path / "site"
    pkg = site / "hiv_extra"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(THIRD_PARTY)
    (pkg / "table.csv").write_bytes(H.HIV_TABLE.read_bytes())
    (pkg / "notes.csv").write_text("note\nnot read, hashed\n")
    (pkg / "ignored.csv").write_text("beside the module but not declared: not hashed\n")
    info = site / "hiv_extra-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hiv-extra\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nhiv_extra = hiv_extra\n")
    monkeypatch.syspath_prepend(str(site))
    yield pkg
    sys.modules.pop("hiv_extra", None)


def test_a_third_party_package_registers_a_ready_model(third_party, tmp_path):
    assert "hiv_extra" in ready_models()
    f = H.write(tmp_path / "exp", 'model = "hiv_extra"\nseed = 1\n\n[psa]\ndraws = 10\n')
    ld = load(read_experiment(f))
    assert ld.effect == "ly" and ld.table.label == str(third_party / "table.csv")
    names = [p.name for p in ld.sources]
    assert names == [f.name, "table.csv", "notes.csv", "__init__.py"]  # declared files only, no globbing


def test_ready_model_without_parameters_function_is_reported(third_party, tmp_path):
    (third_party / "__init__.py").write_text(THIRD_PARTY.replace("def parameters():", "def table():"))
    f = H.write(tmp_path / "exp", 'model = "hiv_extra"\nseed = 1\n')
    with pytest.raises(HtaError, match=r"exp.toml:1: ready model 'hiv_extra' \(module 'hiv_extra'\) has no function "
                                       r"parameters\(\)"):
        load(read_experiment(f))


# ---------------------------------------------------------------------------- a light command line
CLI_HELP = f"""
import sys
from sim.experiment import cli
try:
    cli.main(["--help"])
except SystemExit:
    pass
print(repr(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_cli_help_loads_no_heavy_module():
    out = subprocess.run([sys.executable, "-c", CLI_HELP], env=_env(), capture_output=True, text=True, check=True)
    assert "usage: hta-sim" in out.stdout
    assert eval(out.stdout.strip().splitlines()[-1]) == []


def test_python_m_sim_help_loads_no_heavy_module():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sim", "--help"], env=_env(),
                         capture_output=True, text=True, check=True)
    assert "usage: hta-sim" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.stderr.splitlines()
                if line.startswith("import time:")}
    assert "sim" in imported
    assert sorted(imported & set(HEAVY)) == []


def test_public_names_of_sim_experiment_are_not_shadowed_by_its_modules():
    """A submodule named like a public name would replace it on the package once imported."""
    import importlib
    import pkgutil
    import types

    import sim.experiment as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"sim.experiment.{info.name}")
    for name in pkg.__all__:
        assert not isinstance(getattr(pkg, name), types.ModuleType), name
    assert pkg.load.__module__ == "sim.experiment.loading"
