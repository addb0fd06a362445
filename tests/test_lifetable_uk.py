"""The packaged ONS national life table, United Kingdom, 2010-2012 (sim/data/lifetables/SOURCES.md).

Its edition is pinned by the ONS bulletin "National life tables, UK: 2010 to 2012" (21 March 2014,
key points): period life expectancy at birth 78.7 (males) and 82.6 (females), at 65 18.2 and 20.7,
at 85 5.8 and 6.8 years. Computed here from the packaged qx alone.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import HtaError, LifeTable
from sim.model.lifetable import packaged_lifetables


@pytest.fixture(scope="module")
def uk():
    return LifeTable.packaged("uk_2010_2012_ons")


def _life_expectancy(q: np.ndarray) -> np.ndarray:
    """e_x from q_x: l_0 = 1, L_x = l_x (1 - q_x / 2), the last age closed at its constant hazard."""
    l = np.r_[1.0, np.cumprod(1.0 - q)[:-1]]
    L = l * (1.0 - q / 2.0)
    L[-1] = l[-1] / -np.log1p(-q[-1])
    return np.cumsum(L[::-1])[::-1] / l


@pytest.mark.parametrize(("sex", "printed"), [("male", (78.7, 18.2, 5.8)), ("female", (82.6, 20.7, 6.8))])
def test_life_expectancy_matches_the_ons_bulletin(uk, sex, printed):
    e = _life_expectancy(np.asarray(uk.values[sex], dtype=float))
    assert (round(e[0], 1), round(e[65], 1), round(e[85], 1)) == printed


def test_shape_source_and_values(uk):
    assert uk.kind == "qx" and uk.min_age == 0 and uk.max_age == 100 and not uk.open_ended
    assert uk.sexes == ["female", "male"]
    assert "Office for National Statistics" in uk.source and "United Kingdom" in uk.source
    assert "uk_2010_2012_ons" in packaged_lifetables()
    # a few printed values (SOURCES.md: copied unchanged)
    assert uk.annual_probability("male", [0, 65, 100]).tolist() == [0.004722, 0.012439, 0.36544]
    assert uk.annual_probability("female", [0, 65, 100]).tolist() == [0.003836, 0.008134, 0.325219]
    m, f = (np.asarray(uk.values[s]) for s in ("male", "female"))
    assert np.all(m[20:] > f[20:])  # men die more at every adult age
    assert np.all(np.diff(m[40:]) > 0) and np.all(np.diff(f[40:]) > 0)


def test_as_background_mortality_in_a_cohort(uk):
    model = sim.Model(states=("Alive", "Dead"), strategies=("only",),
                      transitions={("Alive", "Alive"): sim.C, ("Alive", "Dead"): uk.mortality("female")},
                      start={"Alive": 1.0}, horizon=10, start_age=60, dead=("Dead",), utilities={"Alive": 1.0})
    res = sim.run_cohort(model, trace=True)
    tr = res.trace
    alive = tr[tr["state"] == "Alive"].sort_values("cycle")["share"].to_numpy()
    np.testing.assert_allclose(alive, np.r_[1.0, np.cumprod(1 - np.asarray(uk.values["female"][60:70]))], rtol=1e-12)
    with pytest.raises(HtaError, match="ends at age 100"):
        sim.run_cohort(model.replace(start_age=95))
