"""Checks of a rendered report shared by the HTML and browser tests: sections, figures decoded and not blank."""

from __future__ import annotations

import base64
import io
import re

import numpy as np

#: Section ids every full run's report has (decision to reproducibility).
FULL_SECTIONS = ("contents", "decision", "model", "base-case", "trace", "psa", "voi", "dsa", "parameters",
                 "settings", "reproducibility")


def figures(html: str) -> dict[str, bytes]:
    """``{data-figure name: PNG bytes}`` of every embedded figure."""
    out = {}
    for m in re.finditer(r'<img [^>]*data-figure="([^"]+)"[^>]*src="data:image/png;base64,([^"]+)"', html):
        out[m.group(1)] = base64.b64decode(m.group(2))
    return out


def blank(png: bytes) -> str | None:
    """Why an image is blank or broken (None when it shows something).

    Blank: it does not decode, has no pixels, or fewer than 0.5 % of its pixels differ
    from its most common colour (an empty canvas, a lone frame).
    """
    import matplotlib.image as mpimg

    try:
        img = mpimg.imread(io.BytesIO(png), format="png")
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the finding
        return f"does not decode ({exc})"
    if img.size == 0 or img.shape[0] < 10 or img.shape[1] < 10:
        return f"has no pixels ({img.shape})"
    rgb = np.round(np.asarray(img)[..., :3] * 255).astype(np.int64)
    flat = rgb.reshape(-1, 3) @ np.array([65536, 256, 1])
    values, counts = np.unique(flat, return_counts=True)
    share = 1.0 - counts.max() / flat.size
    if share < 0.005:
        return f"is blank ({share:.2%} of pixels differ from the background)"
    return None


def section_ids(html: str) -> list[str]:
    """Ids of the ``<section>`` and ``<nav>`` elements, in order."""
    return re.findall(r'<(?:section|nav) id="([^"]+)"', html)


def toc_targets(html: str) -> list[str]:
    """The ids the table of contents links to."""
    nav = re.search(r"<nav .*?</nav>", html, re.S)
    return re.findall(r'href="#([^"]+)"', nav.group(0)) if nav else []


#: Section ids of a patient-level run's report with a base case, PSA (EVPI), a one-way DSA and a sweep.
PATIENT_SECTIONS = ("contents", "decision", "model", "base-case", "queues", "deaths-on-list", "patient-outcomes",
                    "subgroups", "nnt", "psa", "voi", "dsa", "monte-carlo-error", "parameters", "settings",
                    "reproducibility")
#: Figures of that report.
PATIENT_FIGURES = ("waits", "ce_plane", "ceac", "evpi", "tornado", "sweep_waits")

PATIENT = """\
title = "small patient-level run"
model = "omt_vs_cabg_managed"
seed = 11
output = "out"

[patients]
n = {n}

[scenario]
theatre_slots_per_week = 3
arrivals_per_week = 4

[wtp]
values = [0, 50000, 100000, 150000]
threshold = 100000

[psa]
draws = {draws}
chunk = 3

[one_way]
parameters = ["c_cabg", "p_op", "u_med"]

[sweep]
draws = 3

[sweep.grid]
theatre_slots_per_week = [2, 4, 100]
"""


def patient_file(folder, n: int = 40, draws: int = 6):
    """A small experiment file of the managed OMT-vs-CABG patient-level model (base case, PSA, one-way, sweep)."""
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "patient.toml"
    f.write_text(PATIENT.format(n=n, draws=draws))
    return f
