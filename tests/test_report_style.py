"""One style for every figure a report writes (issue 13, points 2 and 3).

Every figure saved by a cohort run (all analyses) and by a patient-level run is caught
as it is written; its texts must have the type size of their role (sim.plots.FONT_SIZES),
its data colours must be the Okabe-Ito palette or greys (colour maps excepted), it must
fit the report's page at the one display scale, and parameters are named by their
descriptions, never by their code names alone.
"""

from __future__ import annotations

from pathlib import Path

import exp_helpers as H
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import report_helpers as R  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.markers import MarkerStyle  # noqa: E402

from sim import plots  # noqa: E402
from sim.experiment.figures import DPI  # noqa: E402
from sim.experiment.report import SCALE  # noqa: E402
from sim.experiment.runner import run_experiment  # noqa: E402

#: Widest figure (inches) shown at SCALE without the page (72em at 16 px, less padding) shrinking it.
MAX_INCHES = 1100 / (DPI * SCALE)
#: Code names of the HIV model's parameters that must not label a figure alone.
CODE_NAMES = ("c_dm_A", "c_dm_B", "c_dm_C", "c_lamivudine")


def _colours(fig) -> list[tuple[str, tuple]]:
    """``(where, rgb)`` of every data colour of ``fig`` (lines, markers, bars, fills; colour-mapped meshes left out)."""
    out = []
    for ax in fig.axes:
        for ln in ax.lines:
            if ln.get_linestyle() not in ("None", "", " "):
                out.append((f"line {ln.get_label()}", to_rgb(ln.get_color())))
            if ln.get_marker() not in ("None", "", " ", None):  # markers drawn in their own colours
                filled = MarkerStyle(ln.get_marker()).is_filled()  # an unfilled marker ("|") has no face
                for c in (ln.get_markeredgecolor(), *((ln.get_markerfacecolor(),) if filled else ())):
                    if str(c) != "none":
                        out.append((f"marker of {ln.get_label()}", to_rgb(c)))
        for col in ax.collections:
            if isinstance(col, QuadMesh) or col.get_array() is not None:
                continue  # a colour map (viridis: colour-blind safe)
            for rgba in (*np.atleast_2d(col.get_facecolor()), *np.atleast_2d(col.get_edgecolor())):
                if len(rgba) and rgba[3] > 0:
                    out.append((f"collection {type(col).__name__}", tuple(rgba[:3])))
        for p in ax.patches:
            fc, ec = p.get_facecolor(), p.get_edgecolor()
            out.append((f"patch {type(p).__name__}", tuple(fc[:3] if fc[3] > 0 else ec[:3])))
    return out


def _allowed(rgb) -> bool:
    palette = [to_rgb(c) for c in plots.PALETTE]
    grey = max(rgb) - min(rgb) < 2 / 255
    return grey or any(np.allclose(rgb, p, atol=1.5 / 255) for p in palette)


def violations(fig) -> list[str]:
    """What in ``fig`` breaks the report style (empty: nothing)."""
    fig.canvas.draw()
    bad = []
    for role, t in plots.text_role(fig):
        if not np.isclose(t.get_fontsize(), plots.FONT_SIZES[role]):
            bad.append(f"{role} {t.get_text()!r} at {t.get_fontsize():g} pt, not {plots.FONT_SIZES[role]:g}")
    bad += [f"{where} in colour {rgb}" for where, rgb in _colours(fig) if not _allowed(rgb)]
    width = fig.get_tightbbox(fig.canvas.get_renderer()).width
    if width > MAX_INCHES:
        bad.append(f"{width:.1f} inches wide (at most {MAX_INCHES:.1f})")
    return bad


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """``{report: {figure name: (violations, every text)}}`` of the figures the two runs write."""
    caught: dict[str, dict] = {"cohort": {}, "patient": {}}
    current = {"run": "cohort"}
    real = Figure.savefig

    def spy(self, fname, *args, **kw):
        if str(fname).endswith(".png"):
            texts = [t.get_text() for _, t in plots.text_role(self)]
            caught[current["run"]][Path(str(fname)).stem] = (violations(self), texts)
        return real(self, fname, *args, **kw)

    folder = tmp_path_factory.mktemp("style")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Figure, "savefig", spy)
        cohort = run_experiment(H.small(folder / "cohort", draws=300, extra=H.FULL_EXTRA), command=["test"])
        current["run"] = "patient"
        patient = run_experiment(R.patient_file(folder / "patient"), command=["test"])
    return caught, cohort.folder, patient.folder


def test_every_report_figure_is_caught(written):
    caught, cohort, patient = written
    assert set(caught["cohort"]) == set(R.figures((cohort / "report.html").read_text()))
    assert set(caught["patient"]) == set(R.PATIENT_FIGURES)
    assert len(caught["cohort"]) == 9


@pytest.mark.parametrize("run", ["cohort", "patient"])
def test_type_sizes_palette_and_width_are_the_one_style(written, run):
    caught = written[0][run]
    problems = {name: bad for name, (bad, _) in caught.items() if bad}
    assert not problems, problems


def test_figures_name_parameters_by_their_descriptions(written):
    caught = written[0]["cohort"]
    for name in ("evppi", "evppi_curve", "tornado", "two_way"):
        texts = caught[name][1]
        for code in CODE_NAMES:
            assert code not in texts, (name, code)  # a code name alone is never a label
    for name in ("evppi", "evppi_curve"):  # the HIV table's descriptions; a group by what its members share
        texts = " ".join(caught[name][1]).replace("\n", " ")
        assert "Relative risk of disease progression" in texts, texts
        assert "Direct medical cost in state (3 parameters)" in texts, texts
    assert any(t.startswith("Relative risk") for t in caught["tornado"][1])


def test_every_figure_is_shown_at_the_one_scale(written):
    """Each image's displayed width is its pixel width times SCALE: one type size on the page."""
    import re

    from sim.experiment.figures import png_size

    for folder in written[1:]:
        html = (folder / "report.html").read_text()
        for m in re.finditer(r'<img [^>]*data-figure="([^"]+)" width="(\d+)"', html):
            png = (folder / "figures" / f"{m.group(1)}.png").read_bytes()
            assert int(m.group(2)) == round(png_size(png)[0] * SCALE), m.group(1)


def test_the_style_check_can_fail():
    """A figure drawn without the style (big type, a red line, too wide) is caught on each count."""
    fig, ax = plt.subplots(figsize=(14, 3))
    ax.plot([0, 1], [0, 1], color="#ff0000")
    ax.set_title("Title", fontsize=16)
    bad = violations(fig)
    assert any("title 'Title' at 16 pt" in b for b in bad)
    assert any("colour" in b for b in bad) and any("inches wide" in b for b in bad)
    plots.style_figure(fig)
    assert not any("pt" in b for b in violations(fig))
    plt.close(fig)
