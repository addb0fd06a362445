"""The report's structure without a browser: sections, table of contents, decision, figures not blank (issue 13)."""

from __future__ import annotations

import io
import re

import exp_helpers as H
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import report_helpers as R  # noqa: E402

from sim.experiment.runner import run_experiment  # noqa: E402

FIGURES = {"model_diagram", "trace", "ce_plane", "ceac", "evpi", "evppi", "evppi_curve", "tornado", "two_way"}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report_html")
    res = run_experiment(H.small(folder, draws=300, extra=H.FULL_EXTRA), command=["test"])
    return res, (res.folder / "report.html").read_text()


def test_every_section_is_present_in_order_and_in_the_contents(full):
    _, html = full
    ids = R.section_ids(html)
    assert ids == [i for i in R.FULL_SECTIONS if i in ids] and set(R.FULL_SECTIONS) <= set(ids), ids
    assert R.toc_targets(html) == ids[1:]  # every section linked, in order
    assert len(set(ids)) == len(ids)


def test_every_figure_is_embedded_decodes_and_is_not_blank(full):
    res, html = full
    figs = R.figures(html)
    assert set(figs) == FIGURES
    assert html.count("<img ") == len(FIGURES)
    for name, png in figs.items():
        assert R.blank(png) is None, (name, R.blank(png))
    assert "http://" not in html and "https://" not in html and "<link" not in html


def test_the_blank_check_can_fail():
    fig, ax = plt.subplots()
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    assert "blank" in R.blank(buf.getvalue())
    assert "does not decode" in R.blank(b"\x89PNG\r\n\x1a\nnot really")


def test_the_decision_is_stated_up_front_in_words(full):
    res, html = full
    decision = re.search(r'<section id="decision">.*?</section>', html, re.S).group(0)
    base = pd.read_csv(res.folder / "base_case.csv").set_index("strategy")
    lam = 10_000
    nmb = lam * base["ly"] - base["cost"]
    best, other = nmb.idxmax(), nmb.idxmin()
    assert f"At GBP 10,000 per life-year, <b>{best}</b> is cost-effective" in decision
    icer = pd.read_csv(res.folder / "icer.csv").set_index("strategy").loc[best, "icer"]
    assert f"ICER GBP {icer:,.0f} per life-year" in decision
    assert f"incremental net monetary benefit GBP {nmb[best] - nmb[other]:,.0f} per person" in decision
    po = pd.read_csv(res.folder / "psa_outcomes.csv")
    wide = lam * po.pivot(index="draw", columns="strategy", values="ly") - \
        po.pivot(index="draw", columns="strategy", values="cost")
    assert f"probability cost-effective {(wide.idxmax(axis=1) == best).mean() * 100:.1f} %" in decision


def test_disaggregated_results_and_evppi_curve(full):
    res, html = full
    part = re.search(r'<section id="base-case">.*?</section>', html, re.S).group(0)
    for words in ("Cost components", "undiscounted", "Cost: drug (GBP 1995)", "Life-years"):
        assert words.lower() in part.lower(), words
    curve = pd.read_csv(res.folder / "evppi_curve.csv")
    assert {10_000.0} <= set(curve["wtp"]) and curve["wtp"].nunique() >= 3
    voi = re.search(r'<section id="voi">.*?</section>', html, re.S).group(0)
    assert "per person" in voi and "cut at zero" in voi
    table = voi.split("EVPPI at the threshold")[1].split("</table>")[0]
    assert "95 % low" in table and not re.search(r"<td[^>]*>-\d", table)  # no negative EVPPI or bound


def test_reproducibility_lists_input_and_output_hashes(full):
    res, html = full
    import json

    m = json.loads((res.folder / "manifest.json").read_text())
    part = re.search(r'<section id="reproducibility">.*?</section>', html, re.S).group(0)
    for name, digest in m["outputs"].items():
        if name not in ("report.html",):
            assert f">{name}<" in part and digest in part, name
    assert all(r["sha256"] in part for r in m["inputs"])


def test_extra_sections_plug_in_without_the_template(tmp_path, monkeypatch):
    """A run's Section (e.g. patient-level tables) is rendered and listed in the contents."""
    from sim.experiment import runner
    from sim.experiment.report import Section

    real = runner._Run.run_all

    def run_all(self):
        real(self)
        self.report_sections.append(Section("Queue statistics", "Waiting times by arm.",
                                            [("Waiting", pd.DataFrame({"Arm": ["A"], "Days": [12.5]}))]))

    monkeypatch.setattr(runner._Run, "run_all", run_all)
    res = run_experiment(H.small(tmp_path, draws=50), command=["test"])
    html = (res.folder / "report.html").read_text()
    assert '<section id="queue-statistics">' in html and 'href="#queue-statistics"' in html
    assert "Waiting times by arm." in html and "12.5" in html


def test_ready_model_hook_gives_report_sections():
    import types

    from sim.experiment.registry import report_sections

    mod = types.ModuleType("fake_model")
    assert report_sections(mod, None) == [] and report_sections(None, None) == []
    mod.report_sections = lambda model: [("Validation", "vs trial", [("t", pd.DataFrame({"a": [1]}))])]
    (title, text, tables), = report_sections(mod, object())
    assert title == "Validation" and tables[0][1]["a"].tolist() == [1]


def test_flagship_validation_hook_compares_with_the_trials():
    """Through the ready model's module object (never importing the catalogue by name)."""
    from sim.experiment.loading import load
    from sim.experiment.present import module_of
    from sim.experiment.read import read_experiment
    from sim.experiment.registry import report_sections

    ld = load(read_experiment(H.ROOT / "experiments" / "omt_vs_cabg.toml"))
    (title, _text, [(_cap, df)]), (title2, _t2, [(_c1, yearly), (_c2, fits)], [(name, _c3, fig)]) = report_sections(
        module_of("omt_vs_cabg"), ld.model())
    assert "STICH" in title and "STICHES" in title2
    assert {"Model survival", "Trial survival", "Trial 95 % low", "Trial 95 % high"} <= set(df.columns)
    assert ((df["Model survival"] > 0) & (df["Model survival"] < 1)).all()
    assert set(df["Arm"]) == set(ld.model().strategies) == set(yearly["Arm"])
    assert len(yearly) == 24 and {"AIC", "BIC"} <= set(fits.columns)  # years 0-10 and 56 months, per arm
    assert name == "omt_vs_cabg_survival" and len(fig.axes) == 2  # a Figure: the report styles and saves it


def test_population_evpi_from_the_experiment_file(tmp_path):
    from sim.decision.voi import population_factor

    res = run_experiment(H.small(tmp_path, draws=120, extra="[evpi]\nincidence = 1000\nyears = 10\ndiscount = 0.035\n"
                                 "[evppi]\ngroups = ['rr']\n"), command=["test"])
    html = (res.folder / "report.html").read_text()
    voi = re.search(r'<section id="voi">.*?</section>', html, re.S).group(0)
    ev = pd.read_csv(res.folder / "evpi.csv").set_index("wtp").loc[10_000, "evpi"]
    factor = population_factor(1000, 10, 0.035)
    assert f"Population EVPI: <b>GBP {factor * ev:,.0f}</b>" in voi
    assert "Population EVPPI (GBP 1995)" in voi


@pytest.mark.parametrize(("extra", "words"), [
    ("[evpi]\nyears = 10\n", "years needs incidence"),
    ("[evpi]\nincidence = 100\n", "years"),
    ("[evpi]\nincidence = 100\nyears = 5\ndiscount = 1.5\n", "must be a yearly rate in [0, 1)"),
])
def test_population_keys_are_checked(tmp_path, extra, words):
    from sim.errors import HtaError
    from sim.experiment.read import read_experiment

    with pytest.raises(HtaError, match=re.escape(words)):
        read_experiment(H.small(tmp_path, draws=60, extra=extra))


def test_decision_when_the_cheaper_strategy_is_cost_effective(tmp_path):
    f = H.small(tmp_path, draws=50)
    f.write_text(f.read_text().replace("threshold = 10000", "threshold = 5000"))
    res = run_experiment(f, command=["test"])
    html = (res.folder / "report.html").read_text()
    decision = re.search(r'<section id="decision">.*?</section>', html, re.S).group(0)
    icer = pd.read_csv(res.folder / "icer.csv").set_index("strategy").loc["comb", "icer"]
    assert "At GBP 5,000 per life-year, <b>mono</b> is cost-effective" in decision
    assert f"(the more effective comb costs more per life-year than the threshold: ICER GBP {icer:,.0f})" in decision


def test_evppi_curve_points_gather_where_the_evpi_is():
    """Points: evenly over the grid, the threshold, and more where the EVPI is high (none where it is 0)."""
    from sim.experiment.figures import curve_points

    grid = np.arange(0, 200_001, 2_000.0)
    ev = pd.DataFrame({"wtp": grid, "evpi": np.exp(-(((grid - 84_000) / 8_000) ** 2))})
    ev.loc[ev["evpi"] < 1e-3, "evpi"] = 0.0
    pts = curve_points(grid, 100_000.0, ev)
    even = grid[np.linspace(0, len(grid) - 1, 9).round().astype(int)]
    assert set(even) <= set(pts) and 100_000.0 in pts and 84_000.0 in pts
    near = pts[(pts > 60_000) & (pts < 108_000)]
    assert len(near) >= 10  # dense around the peak
    assert all(p in even or p == 100_000.0 or ev.set_index("wtp").loc[p, "evpi"] > 0 for p in pts)
    assert np.array_equal(curve_points(grid, 100_000.0), np.unique(np.r_[even, 100_000.0]))
