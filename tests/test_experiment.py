"""Experiment files: parsing, line numbers, and every kind of bad input (issue 5, points 2 and 7)."""

from __future__ import annotations

import re
from pathlib import Path

import exp_helpers as H
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohorts
from sim.errors import HtaError
from sim.experiment import SCHEMA, load, read_experiment
from sim.experiment.cli import main as cli_main
from sim.experiment.tomlcheck import Locator

ROOT = H.ROOT


# ---------------------------------------------------------------------------- the examples
def test_example_experiment_parses_and_loads():
    exp = read_experiment(ROOT / "experiments" / "hiv_chancellor.toml")
    assert exp.model == "hiv_chancellor" and exp.seed == 2006 and exp.effect == "ly"
    assert exp.psa.draws == 10_000 and exp.psa.method == "mc"
    assert exp.evpi and exp.evppi.groups[0] == ("rr",) and len(exp.evppi.groups[1]) == 3
    assert exp.wtp[0] == 0 and exp.wtp[-1] == 20_000 and exp.wtp_threshold == 10_000
    assert exp.thresholds[0].parameter == "c_lamivudine"
    assert exp.output == (ROOT / "results" / "hiv_chancellor")
    ld = load(exp)
    assert "p_AA" in ld.table.names and ld.effect == "ly"
    assert ld.model().parameters["p_AA"] == pytest.approx(1251 / 1734)


def test_example_sweep_is_a_grid_in_order():
    exp = read_experiment(ROOT / "experiments" / "hiv_sweep.toml")
    assert len(exp.sweep) == 4 * 2 * 2 and exp.sweep_draws == 2000 and exp.psa is None
    assert [s.index for s in exp.sweep] == list(range(16))
    # the last axis varies fastest
    assert exp.sweep[0].values == {"c_lamivudine": 1000.0, "discount_costs": 0.035, "comb_years": 2.0}
    assert exp.sweep[1].values["comb_years"] == 5.0
    load(exp)


def test_defaults(tmp_path):
    f = H.write(tmp_path, 'model = "hiv_chancellor"\nseed = 1\n')
    exp = read_experiment(f)
    assert exp.title == "exp" and exp.base_case and exp.psa is None and not exp.evpi
    assert exp.output == tmp_path / "results" / "exp"
    assert exp.execution.mode == "serial" and exp.wtp_threshold == 20_000
    ld = load(exp)
    assert ld.effect == "ly"  # the ready model's published effect measure
    assert ld.table.label.endswith("parameters.csv") and "hiv_chancellor" in ld.table.label
    assert ld.table.names == list(cohorts.load("hiv_chancellor").parameter_table()["name"])


def test_sweep_list_and_settings_change_the_model(tmp_path):
    f = H.write(tmp_path, H.SWEEP.format(draws=10).split("[sweep.grid]")[0]
                + '[[sweep.scenarios]]\nname = "cheap"\nc_lamivudine = 1000\n'
                + '[[sweep.scenarios]]\ndiscount_costs = 0.0\n')
    exp = read_experiment(f)
    assert [s.name for s in exp.sweep] == ["cheap", "scenario-2"]
    ld = load(exp)
    m = ld.model(exp.sweep[1].values)
    assert m.discount_costs.schedule == ((0.0, 0.0),) and ld.model().discount_costs.schedule == ((0.0, 0.06),)
    assert ld.model(exp.sweep[0].values).parameters["c_lamivudine"] == 1000


def test_execution_forms(tmp_path):
    base = 'model = "hiv_chancellor"\nseed = 1\n'
    assert read_experiment(H.write(tmp_path, base + 'execution = "local"\nworkers = 3\n')).execution.workers == 3
    e = read_experiment(H.write(tmp_path, base + 'execution = {scheduler = "tcp://10.0.0.1:8786"}\n')).execution
    assert e.mode == "scheduler" and e.address == "tcp://10.0.0.1:8786"


# ---------------------------------------------------------------------------- line numbers
def test_locator_tables_keys_arrays_and_dotted():
    text = """\
a = 1
# comment
[psa]
draws = 5

[[threshold]]
parameter = 'x'
[[threshold]]
lower = [
  1,
]
upper = 3
[sweep.grid]
'quoted key' = [1, 2]
b.c = 2
[two_way]
x = "a [ b # c"  # [ not an array
y = 'd'
"""
    loc = Locator(text)
    assert loc.line(("a",)) == 1 and loc.line(("psa",)) == 3 and loc.line(("psa", "draws")) == 4
    assert loc.line(("threshold", 0, "parameter")) == 7 and loc.line(("threshold", 1)) == 8
    assert loc.line(("threshold", 1, "lower")) == 9 and loc.line(("threshold", 1, "upper")) == 12
    assert loc.line(("sweep", "grid", "quoted key")) == 14 and loc.line(("sweep", "grid", "b", "c")) == 15
    assert loc.line(("two_way", "y")) == 18  # brackets and '#' in strings and comments do not count
    assert loc.line(("psa", "missing")) == 3  # the nearest located parent
    assert loc.line(("nowhere",)) == 1


_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_names, st.lists(_names, min_size=1, max_size=4, unique=True),
                          st.integers(0, 2)), min_size=1, max_size=5, unique_by=lambda t: t[0]))
def test_locator_finds_every_key_of_generated_documents(tables):
    """Property: in a generated document (tables, keys, blank lines, comments, multi-line
    arrays), every key's line is the line on which it is written."""
    lines, expected = [], {}
    for name, keys, blanks in tables:
        lines += [""] * blanks + [f"[{name}]  # table"]
        expected[(name,)] = len(lines)
        for i, k in enumerate(keys):
            if i % 2:
                lines += [f"{k} = [", "  1, 2,", "]"]
                expected[(name, k)] = len(lines) - 2
            else:
                lines.append(f"{k} = {i}  # value")
                expected[(name, k)] = len(lines)
    text = "\n".join(lines)
    import tomllib

    tomllib.loads(text)  # a valid document
    loc = Locator(text)
    for path, line in expected.items():
        assert loc.line(path) == line, (path, text)


# ---------------------------------------------------------------------------- bad input
def _error(tmp_path, text: str) -> str:
    f = H.write(tmp_path, text)
    with pytest.raises(HtaError) as ei:
        load(read_experiment(f))
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def _at(msg: str, line: int, tmp_path) -> None:
    assert msg.startswith(f"{tmp_path / 'exp.toml'}:{line}: "), msg


GOOD = 'model = "hiv_chancellor"\nparameters = "hiv.csv"\nseed = 1\n'


def test_malformed_toml_names_the_line(tmp_path):
    msg = _error(tmp_path, GOOD + "[psa]\ndraws = = 3\n")
    _at(msg, 5, tmp_path)
    assert "malformed TOML" in msg


def test_unknown_top_level_key_suggests(tmp_path):
    msg = _error(tmp_path, GOOD + "\nsed = 3\n")
    _at(msg, 5, tmp_path)
    assert "unknown key 'sed'" in msg and "did you mean 'seed'" in msg


def test_unknown_key_in_table_suggests(tmp_path):
    msg = _error(tmp_path, GOOD + "[psa]\ndraws = 100\nmethd = 'lhs'\n")
    _at(msg, 6, tmp_path)
    assert "psa.methd" in msg and "did you mean 'method'" in msg


def test_unknown_table_suggests(tmp_path):
    msg = _error(tmp_path, GOOD + "[pas]\ndraws = 100\n")
    _at(msg, 4, tmp_path)
    assert "did you mean 'psa'" in msg


@pytest.mark.parametrize("text, line, words", [
    ('seed = "seven"\n', 4, ["seed must be a whole number, got text 'seven'"]),
    ("[psa]\ndraws = 1.5\n", 5, ["psa.draws must be a whole number, got number 1.5"]),
    ("[psa]\ndraws = 1\n", 5, ["psa.draws", ">= 2"]),
    ("[wtp]\nthreshold = true\n", 5, ["wtp.threshold must be a finite number", "true/false value"]),
    ("[two_way]\nx = 'rr'\nx_values = [1, 'a']\ny = 'c_lamivudine'\ny_values = [1]\n", 6,
     ["x_values", "item 2", "must be a finite number, got text 'a'"]),
    ("execution = 3\n", 4, ["execution", "got whole number 3"]),
    ('execution = "locl"\n', 4, ["did you mean 'local'"]),
    ("[psa]\ndraws = 10\nmethod = 'sobl'\n", 6, ["did you mean 'sobol'"]),
])
def test_wrong_types_name_expected_and_got(tmp_path, text, line, words):
    body = GOOD.replace("seed = 1\n", "") if text.startswith("seed") else GOOD
    msg = _error(tmp_path, body + text)
    _at(msg, line if not text.startswith("seed") else 3, tmp_path)
    for w in words:
        assert w in msg, msg


def test_missing_required_key(tmp_path):
    msg = _error(tmp_path, 'model = "hiv_chancellor"\n')
    assert "missing key 'seed' (a whole number >= 0); add e.g. seed = 100" in msg


@pytest.mark.parametrize("text, line, words", [
    ("[psa]\ndraw = 100\n", 5, "unknown key 'draw' in [psa]; did you mean 'draws'?"),
    ("sed = 1\n", 3, "unknown key 'sed'"),
])
def test_a_misspelt_required_key_is_named_with_the_right_one(tmp_path, text, line, words):
    body = GOOD.replace("seed = 1\n", "") if text.startswith("sed") else GOOD
    msg = _error(tmp_path, body + text)
    _at(msg, line, tmp_path)
    assert words in msg and "did you mean" in msg, msg


def test_error_messages_carry_no_internal_type_tags(tmp_path):
    """Plain words, never the reader's kind names such as '(int2)' or 'nums'."""
    import re

    for text in ("[psa]\nchunk = 5\n", "[psa]\ndraws = 'abc'\n", "[two_way]\nx = 'rr'\n",
                 "[evppi]\nmethod = 'gam'\n[psa]\ndraws = 10\n"):
        msg = _error(tmp_path, GOOD + text)
        assert not re.search(r"\((int\d?|str|strs|num\+?|nums|bool)\)", msg), msg
        assert "string" not in msg and "integer" not in msg, msg


def test_missing_parameter_table_names_the_key_line(tmp_path):
    msg = _error(tmp_path, GOOD.replace("hiv.csv", "nothere.csv"))
    _at(msg, 2, tmp_path)
    assert "nothere.csv" in msg and "not found" in msg


def test_missing_experiment_file(tmp_path):
    with pytest.raises(HtaError, match=r"nope\.toml:1: experiment file not found"):
        read_experiment(tmp_path / "nope.toml")


def test_unknown_model_suggests_a_ready_one(tmp_path):
    msg = _error(tmp_path, GOOD.replace("hiv_chancellor", "hiv_chancelor"))
    _at(msg, 1, tmp_path)
    assert "did you mean 'hiv_chancellor'" in msg


def test_model_reference_is_never_executed(tmp_path):
    msg = _error(tmp_path, GOOD.replace('"hiv_chancellor"', '"__import__(\'os\').system(\'x\')"'))
    assert "must be a ready model's name" in msg


def test_unimportable_module(tmp_path):
    msg = _error(tmp_path, GOOD.replace('"hiv_chancellor"', '"no_such_pkg.models:build"'))
    _at(msg, 1, tmp_path)
    assert "cannot import module 'no_such_pkg.models'" in msg


@pytest.mark.parametrize("text, line, words", [
    ("[scenario]\nrr = 0.5\nc_lamivudin = 3\n", 6, ["'c_lamivudin'", "did you mean 'c_lamivudine'"]),
    ("[scenario]\np_AB = 0.1\n", 5, ["group 'row_A'", "cannot be set alone"]),
    ("[sweep]\ndraws = 5\n[sweep.grid]\ndiscount_cost = [0.1]\n", 7, ["did you mean 'discount_costs'"]),
    ("[one_way]\nparameters = ['rr', 'c_zidovudine']\n", 5, ["'c_zidovudine' is fixed", "one_way.ranges"]),
    ("[one_way]\nstrategy = 'combo'\n", 5, ["'combo' is not a strategy", "did you mean 'comb'"]),
    ("[[threshold]]\nparameter = 'rrr'\nlower = 0\nupper = 1\n", 5, ["'rrr'", "did you mean 'rr'"]),
    ("[evppi]\ngroups = ['rr']\n", 4, ["EVPPI needs a PSA"]),
])
def test_names_checked_against_model_and_table(tmp_path, text, line, words):
    msg = _error(tmp_path, GOOD + text)
    _at(msg, line, tmp_path)
    for w in words:
        assert w in msg, msg


def test_schema_keys_are_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Experiment files", 1)[1].split("\n## ", 1)[0]
    for table, keys in SCHEMA.items():
        if table:
            assert f"[{table}]" in section or f"[[{table}]]" in section, table
        for key in keys:
            if not key.startswith("<"):
                assert f"`{key}`" in section, (table, key)


# ---------------------------------------------------------------------------- the command line
def _cli_error(capsys, argv) -> str:
    assert cli_main(argv) == 2
    _out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hta-sim: error: ")
    return lines[0]


@pytest.mark.parametrize("text, line", [
    (GOOD + "[psa\n", 4),                              # malformed TOML
    (GOOD + "[psa]\ndraws = 10\nchunks = 5\n", 6),     # unknown key
    (GOOD.replace("seed = 1", 'seed = "x"'), 3),       # wrong type
    (GOOD + 'seed = 2\n', 4),                          # duplicate key: malformed
    (GOOD.replace("hiv.csv", "missing.csv"), 2),       # missing file
])
def test_cli_bad_input_exits_2_with_file_line_and_writes_nothing(tmp_path, capsys, text, line):
    f = H.write(tmp_path, text)
    for command in (["run", str(f)], ["validate", str(f)]):
        msg = _cli_error(capsys, command)
        assert re.search(rf"error: {re.escape(str(f))}:{line}: ", msg), msg
    assert H.result_like(tmp_path) == []
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_cli_validate_ok(capsys):
    assert cli_main(["validate", str(ROOT / "experiments" / "hiv_chancellor.toml")]) == 0
    out = capsys.readouterr().out
    assert "ok: model hiv_chancellor" in out and "PSA" in out and "thresholds" in out
    assert cli_main(["validate", str(H.HIV_TABLE)]) == 0
    assert "19 parameters, 16 random" in capsys.readouterr().out


def test_cli_validate_bad_parameter_table(tmp_path, capsys):
    bad = tmp_path / "t.csv"
    bad.write_text("name,value,source\na,1,s\nb,x,s\n")
    msg = _cli_error(capsys, ["validate", str(bad)])
    assert "line 3" in msg and "'x'" in msg


def test_cli_list_shows_models_and_experiments(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "hiv_chancellor" in out and "thr_briggs" in out
    assert str(Path("experiments") / "hiv_chancellor.toml") in out and "hiv_sweep.toml" in out
