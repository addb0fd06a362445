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
    f = H.small(folder, draws=300, extra="[one_way]\nparameters = ['rr', 'c_dm_C']\n")
    return run_experiment(f).folder / "report.html"


def test_report_renders_offline_with_every_figure_loaded(report, tmp_path):
    browser = _browser()
    body = _render(browser, report, tmp_path)
    n_img = report.read_text().count("<img ")
    assert n_img == 4  # CE plane, CEAC, EVPI, tornado
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
