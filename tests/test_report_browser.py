"""The HTML report opens in a headless browser with no network and every figure loads (issue 5, point 4).

Needs Chromium (CI installs it from the system's packages: see ``.ci/run``). Skipped
when it is absent, unless ``HTA_SIM_REQUIRE_CHROMIUM=1`` (as in CI), which makes it fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import exp_helpers as H
import pytest
import report_helpers as R

from sim.experiment.runner import run_experiment

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("HTA_SIM_REQUIRE_CHROMIUM") == "1":
        pytest.fail("HTA_SIM_REQUIRE_CHROMIUM=1 but no Chromium found (apt-get install -y chromium)")
    pytest.skip("Chromium is not installed (apt-get install -y chromium); CI installs it and runs this test")


def _render(browser: str, html_file, tmp_path) -> dict[str, str]:
    """Open ``html_file`` headless with no network; the attributes of ``<body>`` in the dumped DOM."""
    profile = tmp_path / "profile"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", html_file.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r"<body([^>]*)>", proc.stdout)
    assert m, proc.stdout[:2000]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    f = H.small(folder, draws=300, extra=H.FULL_EXTRA)
    return run_experiment(f).folder / "report.html"


def test_report_renders_offline_with_every_figure_loaded(report, tmp_path):
    browser = _browser()
    body = _render(browser, report, tmp_path)
    n_img = report.read_text().count("<img ")
    assert n_img == 9  # diagram, trace, CE plane, CEAC, EVPI, EVPPI (bars, curves), tornado, two-way
    assert body.get("data-images") == "ok", body
    assert body["data-images-loaded"] == body["data-images-total"] == str(n_img)
    assert body["data-images-failed"] == "0"


def test_a_broken_figure_is_detected(report, tmp_path):
    """The check itself can fail: corrupt one image's data and the page says so."""
    browser = _browser()
    text = report.read_text()
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r"(data:image/png;base64,)[A-Za-z0-9+/=]{40}", r"\1AAAAnotapng", text, count=1))
    body = _render(browser, broken, tmp_path)
    assert body.get("data-images") == "broken", body
    assert int(body["data-images-loaded"]) == int(body["data-images-total"]) - 1


def _screenshot(browser: str, html_file, tmp_path, height: int = 9000):
    """A headless screenshot of the page (1280 px wide), as an RGB array."""
    import matplotlib.image as mpimg

    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           "--disable-background-networking", "--proxy-server=127.0.0.1:9", f"--user-data-dir={tmp_path / 'p2'}",
           f"--window-size=1280,{height}", f"--screenshot={shot}", html_file.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    return mpimg.imread(shot)[..., :3]


def test_every_section_and_figure_is_in_the_rendered_dom(report, tmp_path):
    browser = _browser()
    profile = tmp_path / "profile"
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--proxy-server=127.0.0.1:9", f"--user-data-dir={profile}", "--dump-dom",
                           report.as_uri()], capture_output=True, text=True, timeout=180, check=False)
    dom = proc.stdout
    ids = R.section_ids(dom)
    assert set(R.FULL_SECTIONS) <= set(ids), ids
    assert R.toc_targets(dom) == ids[1:]
    names = re.findall(r'data-figure="([^"]+)"', dom)
    assert sorted(names) == sorted(["model_diagram", "trace", "ce_plane", "ceac", "evpi", "evppi", "evppi_curve",
                                    "tornado", "two_way"])


def test_screenshot_shows_the_report_not_a_blank_page(report, tmp_path):
    """The page as drawn: its first screen has text, and the figures' area is not a uniform canvas."""
    browser = _browser()
    img = _screenshot(browser, report, tmp_path)
    top = img[:1000]
    assert top.std() > 0.05  # title, contents and decision drawn
    rows = (img.std(axis=(1, 2)) > 0.02).mean()  # share of pixel rows with something on them
    assert rows > 0.3, rows
    for name, png in R.figures(report.read_text()).items():
        assert R.blank(png) is None, (name, R.blank(png))


def test_screenshot_check_catches_a_blank_page(report, tmp_path):
    """The screenshot check can fail: a report whose figures and text are hidden is caught."""
    browser = _browser()
    hidden = tmp_path / "hidden.html"
    hidden.write_text(report.read_text().replace("<style>", "<style>body *{visibility:hidden}", 1))
    img = _screenshot(browser, hidden, tmp_path)
    assert img[:1000].std() < 0.05


# ---------------------------------------------------------------------------- the patient-level report
@pytest.fixture(scope="module")
def patient_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("patient_browser")
    return run_experiment(R.patient_file(folder), command=["test"]).folder / "report.html"


def test_patient_report_renders_offline_with_every_section_and_figure(patient_report, tmp_path):
    browser = _browser()
    body = _render(browser, patient_report, tmp_path)
    n_img = len(R.PATIENT_FIGURES)
    assert patient_report.read_text().count("<img ") == n_img
    assert body.get("data-images") == "ok", body
    assert body["data-images-loaded"] == body["data-images-total"] == str(n_img)
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--proxy-server=127.0.0.1:9", f"--user-data-dir={tmp_path / 'p3'}", "--dump-dom",
                           patient_report.as_uri()], capture_output=True, text=True, timeout=180, check=False)
    assert R.section_ids(proc.stdout) == list(R.PATIENT_SECTIONS)
    assert sorted(re.findall(r'data-figure="([^"]+)"', proc.stdout)) == sorted(R.PATIENT_FIGURES)


def test_patient_report_screenshot_and_figures_are_not_blank(patient_report, tmp_path):
    browser = _browser()
    img = _screenshot(browser, patient_report, tmp_path)
    assert img[:1000].std() > 0.05
    assert (img.std(axis=(1, 2)) > 0.02).mean() > 0.3
    for name, png in R.figures(patient_report.read_text()).items():
        assert R.blank(png) is None, (name, R.blank(png))


def test_patient_report_screenshot_check_catches_a_blank_figure(patient_report, tmp_path):
    """A patient report whose waiting-time figure is an empty canvas is caught, and a corrupt one is broken."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    text = patient_report.read_text()
    good = R.figures(text)["waits"]
    blanked = text.replace(base64.b64encode(good).decode(), base64.b64encode(buf.getvalue()).decode())
    assert "blank" in R.blank(R.figures(blanked)["waits"])
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace(base64.b64encode(good).decode()[:60], "AAAAnotapng", 1))
    body = _render(_browser(), broken, tmp_path)
    assert body.get("data-images") == "broken", body
