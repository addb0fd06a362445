"""The figure of fitted and extrapolated curves over the Kaplan-Meier estimate."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from sim.errors import HtaError
from sim.plots import survival_fits
from sim.survival import fit_survival

DATA = Path(__file__).parent / "data" / "survival"


@pytest.fixture(scope="module")
def ovarian():
    ov = pd.read_csv(DATA / "ovarian.csv")
    return ov.assign(arm=(ov["rx"] == 2).astype(float))


def test_fitted_curves_over_kaplan_meier(ovarian, tmp_path):
    fits = {f: fit_survival(ovarian, f, time="futime", event="fustat", covariates=["arm"]) for f in ("exp", "weibull")}
    fig, ax = plt.subplots()
    out = survival_fits(fits, ovarian, time="futime", event="fustat", group="arm", horizon=3000, ax=ax)
    assert out is ax
    lines = ax.get_lines()
    labels = [ln.get_label() for ln in lines]
    assert "Kaplan-Meier (arm=0)" in labels and "weibull (arm=1)" in labels
    wb = next(ln for ln in lines if ln.get_label() == "weibull (arm=1)")
    x, y = wb.get_data()
    np.testing.assert_allclose(y, fits["weibull"].curve(arm=1).survival(x))   # the right numbers
    assert x.max() == pytest.approx(3000)                                     # extrapolated
    fig.savefig(tmp_path / "fits.png")
    assert (tmp_path / "fits.png").stat().st_size > 5000
    plt.close(fig)


def test_hazard_and_errors(ovarian):
    fit = fit_survival(ovarian, "weibull", time="futime", event="fustat")
    ax = survival_fits(fit, ovarian, time="futime", event="fustat", kind="hazard")
    assert ax.get_ylabel() == "hazard"
    with pytest.raises(HtaError, match="no covariate 'arm'"):
        survival_fits(fit, ovarian, time="futime", event="fustat", group="arm")
    with pytest.raises(HtaError, match="kind"):
        survival_fits(fit, ovarian, time="futime", event="fustat", kind="density")
    plt.close("all")
