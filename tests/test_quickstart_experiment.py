"""The README's main job: the OMT-vs-CABG assessment `experiments/omt_vs_cabg.toml`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.experiment import read_experiment
from sim.experiment.cli import main as cli_main
from sim.experiment.runner import run_experiment

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "experiments" / "omt_vs_cabg.toml"


def test_quickstart_runs_the_flagship_experiment():
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quickstart", 1)[1].split("```", 2)[1]
    assert "hta-sim run experiments/omt_vs_cabg.toml" in block.strip().splitlines()[0]


def test_flagship_experiment_is_valid_and_asks_for_the_issue_s_analyses(capsys):
    assert cli_main(["validate", str(EXPERIMENT)]) == 0
    exp = read_experiment(EXPERIMENT)
    assert exp.model == "omt_vs_cabg" and exp.psa is not None and exp.psa.draws == 10_000
    assert exp.one_way is not None and exp.evppi is not None


@pytest.mark.slow
def test_flagship_experiment_end_to_end(tmp_path):
    """The whole assessment: base case as the cohort model, 10,000 draws, figures, report."""
    res = run_experiment(EXPERIMENT, output=tmp_path / "out", progress=False, command=["test"])
    out = res.folder
    icer = pd.read_csv(out / "icer.csv")
    assert list(icer["strategy"]) == ["OMT", "CABG"]
    assert icer["icer"].iloc[1] == pytest.approx(83_574.93, abs=0.01)  # README and docs/omt_vs_cabg.md, base case
    psa = pd.read_parquet(out / "psa_outcomes.parquet")
    assert len(psa) == 20_000
    for fig in ("ce_plane", "ceac", "evpi", "tornado"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    html = (out / "report.html").read_text()
    assert "STICH" in html and "Parameters and sources" in html and "http://" not in html
    assert '<section id="validation">' in html and "Within interval" in html  # the model's report_sections hook
    assert "<th class='text'>Verified</th>" in html  # the parameter table's verification status
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 2016
