"""The README's Python examples run as written (documentation that cannot rot)."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples():
    assert len(_blocks()) >= 4


def test_readme_examples_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write figures to out/
    import pandas as pd

    ns: dict = {"np": np, "pd": pd}
    for code in _blocks():
        exec(compile(code, str(README), "exec"), ns)
    assert set(ns["by_sex"]["subgroup"]) == {0, 1}
    q = ns["managed"].queues.set_index("strategy")
    assert q.loc["cabg_first", "wait_mean"] > q.loc["omt_t2t", "wait_mean"] and q.loc["cabg_no_limit", "wait_max"] == 0
    assert 0 < ns["managed"].outcomes.query("strategy == 'omt_t2t'")["escalated"].mean() < 1
    base = ns["base"]
    assert ns["psa"].settings["sampling"] == "sobol"
    assert ns["nnt"]["text"].startswith("NNT 5.0")
    assert set(ns["partial"]["parameters"]) == {"hr_new", "u_healthy, u_sick"}
    assert set(base.outcomes["strategy"]) == {"standard", "new_drug"}
    table = base.icer()
    assert list(table["status"]) == ["non-dominated", "non-dominated"]
    assert len(ns["psa"].outcomes) == 2 * 4096
    assert ns["onset"].parameters() == ["r_onset"]
    assert ns["darth_like"].transition_rewards == "corrected"
    fits = ns["fits"]
    assert len(ns["table"]) == 7 and fits["weibull"].loglik > fits["exp"].loglik
    assert fits["weibull"].estimates[2] > 0  # the active arm lives longer (time ratio e^0.4 simulated)
    assert (ns["compare_risk_table"](ns["ipd"], ns["risk"]).eval("n_risk == n_risk_reconstructed")).all()
    assert ns["psa_curves"].n_draws == 1000 and ns["p_year"].shape == (20,)
    assert ns["boot"].shape == (100, 3) and np.all(np.isfinite(ns["boot"]))
    from scipy import integrate

    ly = ns["surv_patients"]["ly"].to_numpy()
    rmst = integrate.quad(lambda t: float(ns["death"].survival(t)), 0.0, 20.0, limit=200)[0]
    assert abs(ly.mean() - rmst) < 4 * ly.std(ddof=1) / np.sqrt(ly.size)
    onc = ns["onc_result"].outcomes.set_index("strategy")
    assert onc.loc["new_drug", "qaly"] > onc.loc["standard", "qaly"] and ns["onc_result"].settings["crossings"] == []
    hiv = ns["result"].icer(effect="ly")
    assert round(float(hiv["icer"].iloc[1])) == 6276


def test_quickstart_has_two_commands():
    text = README.read_text()
    block = text.split("## Quickstart", 1)[1].split("```", 2)[1]
    lines = [ln for ln in block.strip().splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 2
    ci = (README.parent / ".ci" / "run").read_text()
    assert lines[1].strip() in ci
