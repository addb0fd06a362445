"""The runner: outputs, reproducibility, the manifest, the output folder's safety (issue 5, points 4 and 7)."""

from __future__ import annotations

import itertools
import json
import re

import exp_helpers as H
import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import run_psa
from sim.cohort.psa import assemble, psa_chunk
from sim.errors import HtaError
from sim.experiment import load, read_experiment
from sim.experiment.cli import main as cli_main
from sim.experiment.runner import repeat, run_experiment

NUMERIC = ("base_case.csv", "base_case.parquet", "psa_outcomes.csv", "psa_outcomes.parquet", "psa_draws.csv",
           "psa_draws.parquet", "icer.csv", "ceac.csv", "evpi.csv", "evppi.csv", "one_way.csv", "two_way.csv",
           "thresholds.csv", "psa_summary.csv")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    f = H.small(folder, draws=300, chunk=64, extra=H.FULL_EXTRA)
    res = run_experiment(f, command=["test"])
    return f, res


def test_output_folder_contents(full_run):
    f, res = full_run
    out = res.folder
    assert out == f.parent / "out"
    for name in NUMERIC + ("icer.md", "results.xlsx", "report.html", "manifest.json", "psa_summary.md"):
        assert (out / name).is_file(), name
    for fig in ("ce_plane", "ceac", "evpi", "evppi", "tornado", "two_way"):
        for ext in ("png", "svg"):
            assert (out / "figures" / f"{fig}.{ext}").stat().st_size > 1000, (fig, ext)
    assert not (f.parent / ".out.partial").exists()
    psa = pd.read_parquet(out / "psa_outcomes.parquet")
    assert len(psa) == 600 and list(psa["draw"].unique()) == list(range(300))
    pd.testing.assert_frame_equal(psa, pd.read_csv(out / "psa_outcomes.csv"), check_categorical=False,
                                  check_dtype=False, rtol=0, atol=0)


def test_psa_equals_run_psa_bit_for_bit(full_run):
    """The runner's chunked tasks give exactly sim.run_psa's numbers (chunking does not matter)."""
    f, res = full_run
    ld = load(read_experiment(f))
    ref = run_psa(ld.model(), ld.table, 300, 11)
    got = pd.read_parquet(res.folder / "psa_outcomes.parquet")
    pd.testing.assert_frame_equal(got, ref.outcomes, check_exact=True, check_categorical=False)
    draws = pd.read_parquet(res.folder / "psa_draws.parquet")
    pd.testing.assert_frame_equal(draws.drop(columns="draw"), ref.draws.frame, check_exact=True)


def test_icer_table_formats(full_run):
    _, res = full_run
    icer = pd.read_csv(res.folder / "icer.csv")
    assert list(icer["strategy"]) == ["mono", "comb"]
    assert icer.loc[1, "icer"] == pytest.approx(6275.956, abs=1e-3)  # Briggs et al. 2006, Ex. 2.5
    md = (res.folder / "icer.md").read_text().splitlines()
    assert md[0].startswith("| Strategy | Cost (GBP 1995) | Life-years |") and md[1].startswith("| --- |")
    assert "| 6,276 |" in md[3] and "ICER (GBP 1995 per life-year)" in md[0]  # Briggs Ex. 2.5: GBP 6,276
    wb = openpyxl.load_workbook(res.folder / "results.xlsx")
    assert {"ICER table", "Parameters", "Settings"} <= set(wb.sheetnames)
    params = pd.read_excel(res.folder / "results.xlsx", sheet_name="Parameters")
    assert list(params["name"])[:2] == ["p_AA", "p_AB"] and params["source"].str.len().min() > 20


def test_threshold_and_analyses_consistent(full_run):
    _, res = full_run
    t = pd.read_csv(res.folder / "thresholds.csv").iloc[0]
    # at the threshold price the ICER equals the WTP: check with the base-case model
    ld = load(read_experiment(res.folder.parent / "exp.toml"))
    from sim import run_cohort

    o = run_cohort(ld.model({"c_lamivudine": t["threshold"]})).outcomes.set_index("strategy")
    icer = (o.loc["comb", "cost"] - o.loc["mono", "cost"]) / (o.loc["comb", "ly"] - o.loc["mono", "ly"])
    assert icer == pytest.approx(10_000, rel=1e-8)
    ceac = pd.read_csv(res.folder / "ceac.csv")
    assert np.allclose(ceac.groupby("wtp")["probability"].sum(), 1)
    tornado = pd.read_csv(res.folder / "one_way.csv")
    assert set(tornado["parameter"]) == {"rr", "c_dm_C"}


def test_manifest(full_run):
    f, res = full_run
    m = json.loads((res.folder / "manifest.json").read_text())
    assert m["seed"] == 11 and m["command"] == ["test"] and m["execution"] == {"mode": "serial"}
    names = {r["name"] for r in m["inputs"]}
    assert {"exp.toml", "hiv.csv", "__init__.py", "parameters.csv"} <= names
    from sim.experiment.outputs import sha256

    assert [r["sha256"] for r in m["inputs"] if r["name"] == "exp.toml"] == [sha256(f)]
    assert set(m["versions"]) >= {"python", "hta-sim", "numpy", "numba", "scipy", "pandas"}
    assert m["outputs"]["psa_outcomes.parquet"] == sha256(res.folder / "psa_outcomes.parquet")
    assert (res.folder / m["experiment"]).resolve() == f.resolve()


def test_report_is_self_contained(full_run):
    _, res = full_run
    html = (res.folder / "report.html").read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html
    srcs = re.findall(r"<img[^>]*src=[\"']([^\"']*)[\"']", html)
    assert len(srcs) == 9 and all(s.startswith("data:image/png;base64,") for s in srcs)
    for words in ("Seed 11", "numpy", "Parameters and sources", "Chancellor JV", "ICER table", "6,276",
                  "ICER (GBP 1995 per life-year)", "Cost (GBP 1995)", "Life-years"):
        assert words in html, words
    assert str(res.folder.parent.resolve()) not in html  # no absolute path of the machine


def test_report_shows_parameter_files_without_machine_paths(tmp_path):
    from sim.experiment.present import shown_path as _shown_path

    assert _shown_path(str(tmp_path / "site" / "cohorts" / "omt_vs_cabg" / "parameters.csv"), tmp_path) == \
        "cohorts/omt_vs_cabg/parameters.csv"
    assert _shown_path(str(tmp_path / "exp" / "params.csv"), tmp_path / "exp") == "params.csv"
    assert _shown_path("parameter table", tmp_path) == "parameter table"


def test_repeat_gives_identical_files(full_run, tmp_path):
    _f, res = full_run
    # hta-sim run --repeat MANIFEST into another folder: checks the inputs, reruns and compares
    res2, differ = repeat(res.folder / "manifest.json", output=tmp_path / "repeated")
    assert differ == []
    for name in NUMERIC:
        assert (res2.folder / name).read_bytes() == (res.folder / name).read_bytes(), name


def test_chunk_size_does_not_change_the_numbers(full_run, tmp_path):
    _, res = full_run
    f = H.small(tmp_path, draws=300, chunk=7)
    other = run_experiment(f)
    for name in ("psa_outcomes.parquet", "psa_draws.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(other.folder / name), pd.read_parquet(res.folder / name),
                                      check_exact=True)


def test_repeat_refuses_changed_inputs(tmp_path):
    f = H.small(tmp_path, draws=20)
    res = run_experiment(f)
    f.write_text(f.read_text().replace("seed = 11", "seed = 12"))
    with pytest.raises(HtaError, match="changed since the run"):
        repeat(res.folder / "manifest.json", output=tmp_path / "x")


def test_cli_repeat(tmp_path, capsys):
    f = H.small(tmp_path, draws=20)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    assert cli_main(["run", "--repeat", str(tmp_path / "out" / "manifest.json"), "--output",
                     str(tmp_path / "rep"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "every result file identical" in out


def test_scenario_overrides_keep_other_draws(tmp_path):
    """[scenario] fixes a random parameter after sampling: the others' draws do not change."""
    f = H.small(tmp_path / "a", draws=50, extra="[scenario]\nrr = 0.6\ndiscount_costs = 0.035\n")
    exp = read_experiment(f)
    ld = load(exp)
    model = ld.model()
    assert model.parameters["rr"] == 0.6 and model.discount_costs.schedule == ((0.0, 0.035),)
    values = psa_chunk(model, ld.table, 50, 11, "mc", 0, 50, {"rr": 0.6}).values
    free = ld.table.sampler(50, 11).arrays(0, 50)
    assert np.all(values["rr"] == 0.6)
    for k in ld.table.names:
        if k != "rr":
            assert np.array_equal(values[k], free[k]), k
    res = run_experiment(f)
    draws = pd.read_parquet(res.folder / "psa_draws.parquet")
    assert (draws["rr"] == 0.6).all()


def test_ready_model_default_table_and_module_function_model(tmp_path, monkeypatch):
    # a model given as package.module:function, importable from the path
    mod = tmp_path / "mymodels.py"
    mod.write_text("import cohorts\nimport sim\n\n@sim.model_builder\ndef hiv(parameters):\n"
                   "    return cohorts.load('hiv_chancellor').build(parameters)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    f = H.write(tmp_path, H.SMALL.format(draws=30, chunk=10).replace('"hiv_chancellor"', '"mymodels:hiv"'))
    res = run_experiment(f)
    assert "mymodels.py" in {r["name"] for r in res.manifest["inputs"]}
    assert pd.read_csv(res.folder / "icer.csv").loc[1, "icer"] == pytest.approx(6275.956, abs=1e-3)
    # a ready model with its own (fixed) table: base case only
    g = H.write(tmp_path / "b", 'model = "thr_briggs"\nseed = 0\noutput = "o"\n')
    r2 = run_experiment(g)
    assert (r2.folder / "icer.csv").is_file() and not (r2.folder / "psa_outcomes.csv").exists()


# ---------------------------------------------------------------------------- output folder safety
def test_folder_with_another_run_is_refused(tmp_path, capsys):
    f = H.small(tmp_path, draws=20)
    assert cli_main(["run", str(f), "--quiet"]) == 0
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    # the same experiment again: allowed (same inputs), same numbers
    assert cli_main(["run", str(f), "--quiet"]) == 0
    for name in NUMERIC[:9]:
        assert (tmp_path / "out" / name).read_bytes() == before[tmp_path / "out" / name], name
    f.write_text(f.read_text().replace("seed = 11", "seed = 99"))
    capsys.readouterr()
    assert cli_main(["run", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(rf"error: {re.escape(str(f))}:5: output folder .* holds another run", err[0])
    after = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert before.keys() == after.keys()
    assert before[tmp_path / "out" / "psa_outcomes.csv"] == after[tmp_path / "out" / "psa_outcomes.csv"]
    assert cli_main(["run", str(f), "--quiet", "--overwrite"]) == 0
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["seed"] == 99


def test_folder_with_other_files_is_refused(tmp_path, capsys):
    f = H.small(tmp_path, draws=20)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    assert cli_main(["run", str(f), "--quiet"]) == 2
    assert "not an hta-sim run" in capsys.readouterr().err
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["notes.txt"]


def test_failure_mid_run_leaves_nothing_result_like(tmp_path, capsys):
    # the threshold bracket has no sign change: the error comes after the PSA has been written
    f = H.small(tmp_path, draws=20, extra="[[threshold]]\nparameter = 'c_lamivudine'\nlower = 0\nupper = 10\n")
    assert cli_main(["run", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{f}:17: " in err[0], err
    assert H.result_like(tmp_path) == []
    assert not (tmp_path / ".out.partial").exists()


def test_cli_run_ready_model_still_prints_base_case(capsys):
    assert cli_main(["run", "hiv_chancellor"]) == 0
    out = capsys.readouterr().out
    # Briggs et al. (2006), Ex. 2.5: GBP 44,663 and 50,602; 7.991 and 8.937 life-years; GBP 6,276 per life-year
    for words in ("44,663", "50,602", "7.991", "8.937", "6,276", "ICER (GBP 1995 per life-year)",
                  "Cost (GBP 1995)", "costs discounted at 6 % a year, outcomes not discounted"):
        assert words in out, (words, out)
    assert "44,663.454" not in out  # whole currency units


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 59), max_size=6, unique=True), fixed=st.booleans())
def test_any_split_into_tasks_gives_the_same_draws_and_outcomes(hiv_loaded, cuts, fixed):
    """Property: cutting the 60 draws into tasks anywhere gives bit-identical results."""
    model, table = hiv_loaded
    over = {"rr": 0.55} if fixed else {}
    whole = psa_chunk(model, table, 60, 3, "mc", 0, 60, over)
    edges = [0, *sorted(cuts), 60]
    parts = [psa_chunk(model, table, 60, 3, "mc", a, b, over) for a, b in itertools.pairwise(edges)]
    assert np.array_equal(np.concatenate([p.totals for p in parts]), whole.totals)
    for k in table.names:
        assert np.array_equal(np.concatenate([p.values[k] for p in parts]), whole.values[k]), k
    got = assemble(model, table, 60, 3, "mc", parts[::-1])  # in any order
    pd.testing.assert_frame_equal(got.outcomes, assemble(model, table, 60, 3, "mc", [whole]).outcomes,
                                  check_exact=True)


@pytest.fixture(scope="module")
def hiv_loaded(tmp_path_factory):
    ld = load(read_experiment(H.small(tmp_path_factory.mktemp("prop"), draws=60)))
    return ld.model(), ld.table


def test_identity_ignores_keys_that_cannot_change_a_number(tmp_path, capsys):
    f = H.small(tmp_path, draws=20)
    first = run_experiment(f)
    text = f.read_text().replace('title = "small HIV experiment"', 'title = "renamed"')
    f.write_text(text.replace('effect = "ly"\n', 'effect = "ly"\nexecution = "serial"\nworkers = 3\n'))
    again = run_experiment(f)  # same output folder: not "another run"
    assert again.manifest["inputs_hash"] == first.manifest["inputs_hash"]
    assert again.manifest["title"] == "renamed"
    f.write_text(f.read_text().replace("draws = 20", "draws = 21"))
    assert cli_main(["run", str(f), "--quiet"]) == 2
    assert "holds another run" in capsys.readouterr().err
