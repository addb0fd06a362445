"""Issue 10, defects 1-3: what an experiment file may run, every parameter accounted for, settings that apply."""

from __future__ import annotations

import subprocess
import sys

import exp_helpers as H
import pandas as pd
import pytest

import sim
from sim.errors import HtaError
from sim.experiment.cli import main as cli_main
from sim.experiment.loading import load
from sim.experiment.read import read_experiment
from sim.model.builder import is_model_builder

HIV_TABLE = H.HIV_TABLE


def _exp(folder, text, name="exp.toml"):
    return H.write(folder, text, name)


def _cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------- 1. nothing runs that is not a builder
OWNED = """\
name,value,distribution,args,unit,description,source
sh,1,fixed,,-,-,attack
-c,2,fixed,,-,-,attack
"id > OWNED.txt",3,fixed,,-,-,attack
"""


def test_subprocess_run_is_never_called_by_validate_or_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.csv").write_text(OWNED)
    f = tmp_path / "e.toml"
    f.write_text('model = "subprocess:run"\nparameters = "evil.csv"\nseed = 1\noutput = "out"\n')
    for cmd in ("validate", "run"):
        code, out, err = _cli(capsys, cmd, str(f), *(["--quiet"] if cmd == "run" else []))
        assert code == 2, (cmd, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and f"{f}:1:" in lines[0] and "@sim.model_builder" in lines[0], lines
        assert "Traceback" not in err
        assert not (tmp_path / "OWNED.txt").exists(), cmd
    assert not (tmp_path / "out").exists()


def test_this_is_not_even_imported(tmp_path):
    f = tmp_path / "e.toml"
    f.write_text('model = "this:x"\nseed = 1\n')
    code = ("import sys\nfrom sim.experiment.cli import main\nrc = main(['validate', sys.argv[1]])\n"
            "print('this imported' if 'this' in sys.modules else 'not imported')\n")
    p = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, timeout=120)
    assert "Zen of Python" not in p.stdout + p.stderr and "Beautiful is better" not in p.stdout
    assert "not imported" in p.stdout
    assert p.stderr.count("\n") == 1 and f"{f}:1:" in p.stderr and "standard library" in p.stderr


def test_os_system_is_one_line(tmp_path, capsys):
    f = tmp_path / "e.toml"
    f.write_text('title = "t"\nmodel = "os:system"\nseed = 1\n')
    code, _, err = _cli(capsys, "validate", str(f))
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"{f}:2:" in err and "Traceback" not in err


def _module(tmp_path, monkeypatch, name, decorated: bool, extra: str = "") -> None:
    deco = "@sim.model_builder\n" if decorated else ""
    (tmp_path / f"{name}.py").write_text(
        "import pathlib\nimport cohorts\nimport sim\n\nCALLS = []\n\n"
        f"{deco}def build(parameters):\n    CALLS.append(dict(parameters))\n"
        "    return cohorts.load('hiv_chancellor').build(parameters)\n" + extra)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)


def test_undecorated_builder_is_refused_before_it_is_called(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "plainmodels", decorated=False)
    f = _exp(tmp_path, H.SMALL.format(draws=20, chunk=10).replace('"hiv_chancellor"', '"plainmodels:build"'))
    with pytest.raises(HtaError, match=r"exp.toml:2: 'plainmodels:build' is not declared a model builder, so it "
                                       r"is not called: decorate the function with @sim.model_builder"):
        load(read_experiment(f))
    assert sys.modules["plainmodels"].CALLS == []


def test_decorated_builder_runs(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "goodmodels", decorated=True)
    f = _exp(tmp_path, H.SMALL.format(draws=20, chunk=10).replace('"hiv_chancellor"', '"goodmodels:build"'))
    ld = load(read_experiment(f))
    assert ld.model().name == "hiv_chancellor" and sys.modules["goodmodels"].CALLS


def test_registered_builder_runs(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "regmodels", decorated=False)
    info = tmp_path / "regmodels-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: regmodels\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hta_sim.builders]\nhiv = regmodels:build\n")
    f = _exp(tmp_path, H.SMALL.format(draws=20, chunk=10).replace('"hiv_chancellor"', '"regmodels:build"'))
    assert load(read_experiment(f)).model().name == "hiv_chancellor"


def test_model_builder_decorator():
    def f(p):
        return p

    assert not is_model_builder(f) and sim.model_builder(f) is f and is_model_builder(f)
    assert not is_model_builder(len) and not is_model_builder(object())
    with pytest.raises(HtaError, match="is not a function"):
        sim.model_builder(3)


# ---------------------------------------------------------------------------- 2. every parameter accounted for
def _table_variant(folder, edit) -> None:
    df = pd.read_csv(HIV_TABLE, dtype=str, keep_default_na=False)
    edit(df).to_csv(folder / "hiv.csv", index=False)


def _hiv_exp(tmp_path, edit, extra_top: str = ""):
    f = _exp(tmp_path, H.SMALL.format(draws=20, chunk=10).replace('seed = 11', f'seed = 11\n{extra_top}'))
    _table_variant(tmp_path, edit)
    return f


def _rename(old, new):
    def edit(df):
        df.loc[df["name"] == old, "name"] = new
        return df
    return edit


def _drop(*names):
    return lambda df: df[~df["name"].isin(names)]


@pytest.mark.parametrize("cmd", ["validate", "run"])
def test_misspelt_parameter_is_an_error_with_suggestion(tmp_path, capsys, cmd):
    f = _hiv_exp(tmp_path, _rename("c_lamivudine", "c_lamivudne"))
    code, _, err = _cli(capsys, cmd, str(f), *(["--quiet"] if cmd == "run" else []))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{f}:3:" in err and "'c_lamivudne' is not a parameter of model 'hiv_chancellor'" in err
    assert "did you mean 'c_lamivudine'" in err.lower() or "'c_lamivudine'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cmd", ["validate", "run"])
def test_misspelt_random_parameter_keeps_no_silent_default(tmp_path, capsys, cmd):
    f = _hiv_exp(tmp_path, _rename("rr", "r_r"))
    code, _, err = _cli(capsys, cmd, str(f), *(["--quiet"] if cmd == "run" else []))
    assert code == 2 and "'r_r' is not a parameter" in err and "'rr'" in err


@pytest.mark.parametrize("cmd", ["validate", "run"])
def test_missing_parameters_are_listed(tmp_path, capsys, cmd):
    f = _hiv_exp(tmp_path, _drop("c_lamivudine", "comb_years"))
    code, _, err = _cli(capsys, cmd, str(f), *(["--quiet"] if cmd == "run" else []))
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"{f}:3:" in err
    assert "lacks 2 parameter(s) of model 'hiv_chancellor': c_lamivudine, comb_years" in err
    assert 'defaults = "model"' in err


def test_defaults_model_opt_in_is_visible(tmp_path, capsys):
    f = _hiv_exp(tmp_path, _drop("c_lamivudine"), extra_top='defaults = "model"')
    code, out, _ = _cli(capsys, "validate", str(f))
    assert code == 0 and 'defaults = "model": 1 parameter(s)' in out and "c_lamivudine" in out
    ld = load(read_experiment(f))
    assert ld.defaulted == ("c_lamivudine",) and ld.table["c_lamivudine"].value == 2086.5


def test_defaults_key_takes_only_model(tmp_path):
    f = _hiv_exp(tmp_path, lambda df: df, extra_top='defaults = "yes"')
    with pytest.raises(HtaError, match=r"exp.toml:5: defaults 'yes': the only choice is defaults = \"model\""):
        read_experiment(f)


def test_names_are_checked_before_the_ready_model_is_built(tmp_path, monkeypatch):
    import cohorts.hiv_chancellor as hiv

    calls = []
    monkeypatch.setattr(hiv, "build", lambda p=None: calls.append(p))
    f = _hiv_exp(tmp_path, _rename("c_lamivudine", "c_lamivudne"))
    with pytest.raises(HtaError, match="c_lamivudne"):
        load(read_experiment(f))
    g = _exp(tmp_path / "b", H.SMALL.format(draws=20, chunk=10) + "\n[scenario]\nc_lamivudne = 3\n")
    with pytest.raises(HtaError, match=r"exp.toml:\d+: parameter 'c_lamivudne' is not a parameter"):
        load(read_experiment(g))
    assert calls == []


# ---------------------------------------------------------------------------- 3. settings that apply
def _icer(tmp_path, model: str, scenario: str, name: str) -> pd.DataFrame:
    folder = tmp_path / name
    folder.mkdir()
    f = folder / "e.toml"
    f.write_text(f'model = "{model}"\nseed = 1\noutput = "out"\n\n[scenario]\n{scenario}\n' if scenario
                 else f'model = "{model}"\nseed = 1\noutput = "out"\n')
    ld = load(read_experiment(f))
    res = sim.run_cohort(ld.model())
    return res.icer(effect=ld.effect)  # the base-case ICER table


SETTING_CASES = [
    ("hiv_chancellor", "discount_costs = 0.0"), ("hiv_chancellor", "discount_outcomes = 0.035"),
    ("omt_vs_cabg", "discount_costs = 0.0"), ("omt_vs_cabg", "discount_outcomes = 0.0"),
    ("omt_vs_cabg", "start_age = 80"),
    ("thr_briggs", "discount_costs = 0.0"), ("thr_briggs", "discount_outcomes = 0.035"),
    ("thr_briggs", "start_age = 80"),
]


@pytest.mark.parametrize(("model", "setting"), SETTING_CASES)
def test_every_setting_changes_the_base_case_icer(tmp_path, model, setting):
    base = _icer(tmp_path, model, "", "base")
    changed = _icer(tmp_path, model, setting, "changed")
    assert not changed.equals(base), (model, setting, base, changed)
    assert not changed["cost"].equals(base["cost"]) or not changed.iloc[:, 2].equals(base.iloc[:, 2])


def test_start_age_is_the_age_parameter_of_omt_vs_cabg(tmp_path):
    a, b = _icer(tmp_path, "omt_vs_cabg", "start_age = 80", "a"), _icer(tmp_path, "omt_vs_cabg", "age_start = 80", "b")
    assert a.equals(b) and not a.equals(_icer(tmp_path, "omt_vs_cabg", "", "c"))


def test_start_age_mapped_to_a_parameter_is_held_fixed_in_the_psa(tmp_path):
    from sim.experiment.spec import fixed_parameters

    f = tmp_path / "e.toml"
    f.write_text('model = "thr_briggs"\nseed = 1\noutput = "out"\n\n[scenario]\nstart_age = 75\n')
    ld = load(read_experiment(f))
    assert dict(ld.experiment.scenario) == {"age_init": 75}
    assert fixed_parameters(ld.experiment.scenario) == {"age_init": 75.0}


@pytest.mark.parametrize("cmd", ["validate", "run"])
def test_start_age_is_rejected_where_the_model_has_no_age(tmp_path, capsys, cmd):
    f = tmp_path / "e.toml"
    f.write_text('model = "hiv_chancellor"\nseed = 1\noutput = "out"\n\n[scenario]\nstart_age = 80\n')
    code, _, err = _cli(capsys, cmd, str(f), *(["--quiet"] if cmd == "run" else []))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{f}:6: setting 'start_age' does not apply to model 'hiv_chancellor'" in err
    assert not (tmp_path / "out").exists()


def test_start_age_in_a_sweep_is_rejected_at_its_line(tmp_path):
    f = _exp(tmp_path, H.SWEEP.format(draws=20).replace("discount_costs = [0.035, 0.06]", "start_age = [50, 70]"))
    with pytest.raises(HtaError, match=r"exp.toml:16: setting 'start_age' does not apply"):
        load(read_experiment(f))


def test_start_age_in_a_sweep_reaches_the_model(tmp_path):
    f = tmp_path / "e.toml"
    f.write_text('model = "omt_vs_cabg"\nseed = 1\noutput = "out"\n\n[sweep]\ndraws = 4\n\n[sweep.grid]\n'
                 'start_age = [50, 80]\n')
    ld = load(read_experiment(f))
    ages = [ld.model(s.values).start_age for s in ld.experiment.sweep]
    assert ages == [50.0, 80.0]
    assert [dict(s.values) for s in ld.experiment.sweep] == [{"age_start": 50}, {"age_start": 80}]
