"""heemod's HIV model (Chancellor 1997) reproduced to heemod's printed digits with settings alone.

Two printed runs of R heemod's vignettes, ported through the public API as a user would:

* **life-table** -- vignette "Simple Markov Models (Homogeneous)" (``vignettes/c-homogeneous.Rmd``,
  section *Result interpretation*, the output of ``summary(res_mod, threshold = ...)``), as rendered
  in heemod's pkgdown site ``docs/articles/c_homogeneous.html`` (pierucci/heemod, commit
  46e6bdffbb9816e39e1c23d0997c0adb3796599e). ``run_model(mono, comb, cycles = 50, cost = cost_total,
  effect = life_year)`` with heemod's default ``method = "life-table"``, 1000 persons starting in A;
  every cost ``discount(x, .06)``; life-years not discounted; the combination's relative risk 0.509
  and lamivudine for all 50 cycles. Printed::

       cost_health cost_drugs cost_total life_year
  mono    33891136   14870957   48762093  8585.843
  comb    48739757   44245091   92984848 17256.937
       Cost Diff. Effect Diff.    ICER
  comb   44222.75     8.671094 5100.02

* **beginning** -- vignette "Reproducing results from DMHEE" (``vignettes/i-reproduction.Rmd``,
  section *HIV model*), rendered in ``docs/articles/i_reproduction.html`` (pierucci/heemod, commit
  0fa23770dbe9af9a07cfe79f36aa6234b2c7e02b): ``method = "beginning"``, ``discount(x, .06, first = T)``,
  20 cycles, one person, transition counts as fractions, ``rr`` and lamivudine while
  ``markov_cycle <= 2``. Printed::

       cost_health cost_drugs cost_total life_year
  mono    45541.24   18203.97   44663.45  7.991207
  comb    48082.83   24492.28   50601.65  8.937389
       Cost Diff. Effect Diff.     ICER
  comb   5938.198    0.9461822 6275.956

heemod's ``correct_counts`` (``R/correct_counts.R``) counts, for model_time ``t = 1..T``,
``(n_{t-1} + n_t) / 2`` ("life-table"), ``n_t`` ("beginning": transitions at the start of the cycle)
or ``n_{t-1}`` ("end"); ``discount(x, r)`` is ``x / (1 + r)^(t - 1)`` and ``first = TRUE`` makes it
``(1 + r)^t``. The settings: ``correction="heemod-life-table"``; ``"beginning"`` with ``first = TRUE``
is ``correction="end"``; heemod's ``ifelse(markov_cycle <= 2, a, b)`` is ``ByCycle([a, a], then=b)``
(heemod's ``markov_cycle`` is hta-sim's cycle + 1).
"""

from __future__ import annotations

import pytest

import sim
from sim import ByCycle, ByStrategy, C, Model

ALIVE = ("A", "B", "C")


def _ly_icer(res):
    o = res.outcomes.set_index("strategy")
    d_cost = float(o.loc["comb", "cost"] - o.loc["mono", "cost"])
    d_ly = float(o.loc["comb", "ly"] - o.loc["mono", "ly"])
    return d_cost, d_ly, d_cost / d_ly


# ------------------------------------------------------------------ method = "life-table" (c-homogeneous)
def homogeneous_model() -> Model:
    rr = ByStrategy(mono=1.0, comb=0.509)
    drug = ByStrategy(mono=2278.0, comb=2278.0 + 2086.0)
    return Model(
        states=("A", "B", "C", "D"), strategies=("mono", "comb"),
        transitions={("A", "A"): C, ("A", "B"): 0.202 * rr, ("A", "C"): 0.067 * rr, ("A", "D"): 0.010 * rr,
                     ("B", "B"): C, ("B", "C"): 0.407 * rr, ("B", "D"): 0.012 * rr,
                     ("C", "C"): C, ("C", "D"): 0.250 * rr},
        start={"A": 1.0}, horizon=50, dead=("D",),
        costs={"health": {"A": 2756.0, "B": 3052.0, "C": 9007.0}, "drugs": {s: drug for s in ALIVE}},
        correction="heemod-life-table", discount_costs=0.06, discount_outcomes=0.0,
    )


def test_heemod_life_table_hiv_printed_totals():
    res = sim.run_cohort(homogeneous_model())
    o = res.outcomes.set_index("strategy")
    n = 1000  # heemod runs 1000 persons by default; hta-sim's totals are per person
    printed = {"mono": (33891136, 14870957, 48762093, 8585.843), "comb": (48739757, 44245091, 92984848, 17256.937)}
    for s, (health, drugs, total, ly) in printed.items():
        assert round(n * float(o.loc[s, "cost_health"])) == health
        assert round(n * float(o.loc[s, "cost_drugs"])) == drugs
        assert round(n * float(o.loc[s, "cost"])) == total
        assert round(n * float(o.loc[s, "ly"]), 3) == ly
    d_cost, d_ly, icer = _ly_icer(res)
    assert round(d_cost, 2) == 44222.75
    assert round(d_ly, 6) == 8.671094
    assert round(icer, 2) == 5100.02
    assert res.icer(effect="ly").set_index("strategy").loc["comb", "icer"] == pytest.approx(icer, rel=1e-12)


def test_other_corrections_miss_the_printed_totals():
    """The setting matters: hta-sim's "half-cycle" (alias "life-table") discounts each half at its own
    point and misses heemod's printed cost; the life-years (undiscounted) agree."""
    res = sim.run_cohort(homogeneous_model().replace(correction="life-table"))
    o = res.outcomes.set_index("strategy")
    assert round(1000 * float(o.loc["mono", "cost"])) != 48762093
    assert abs(1000 * float(o.loc["mono", "cost"]) - 48762093) > 0.01 * 48762093
    assert round(1000 * float(o.loc["mono", "ly"]), 3) == 8585.843


# ------------------------------------------------------------------ method = "beginning" (i-reproduction)
def dmhee_model() -> Model:
    first_two = ByCycle([1.0, 1.0], then=0.0)  # markov_cycle <= 2, i.e. model cycles 0 and 1
    rr = ByStrategy(mono=1.0, comb=1.0 - first_two * (1.0 - 0.509))
    drug = ByStrategy(mono=2278.0, comb=2278.0 + 2086.5 * first_two)
    return Model(
        states=("A", "B", "C", "D"), strategies=("mono", "comb"),
        transitions={("A", "A"): C, ("A", "B"): 350 / 1734 * rr, ("A", "C"): 116 / 1734 * rr,
                     ("A", "D"): 17 / 1734 * rr,
                     ("B", "B"): C, ("B", "C"): 512 / 1258 * rr, ("B", "D"): 15 / 1258 * rr,
                     ("C", "C"): C, ("C", "D"): 437 / 1749 * rr},
        start={"A": 1.0}, horizon=20, dead=("D",),
        costs={"health": {"A": 2756.0, "B": 3052.0, "C": 9007.0}, "drugs": {s: drug for s in ALIVE}},
        correction="end", discount_costs=0.06, discount_outcomes=0.0,
    )


def test_heemod_beginning_dmhee_printed_totals():
    res = sim.run_cohort(dmhee_model())
    o = res.outcomes.set_index("strategy")
    printed = {"mono": (45541.24, 18203.97, 44663.45, 7.991207), "comb": (48082.83, 24492.28, 50601.65, 8.937389)}
    for s, (health, drugs, total, ly) in printed.items():
        # heemod's cost_health and cost_drugs are not discounted in this vignette; cost_total is
        assert round(float(o.loc[s, "cost_health_undisc"]), 2) == health
        assert round(float(o.loc[s, "cost_drugs_undisc"]), 2) == drugs
        assert round(float(o.loc[s, "cost"]), 2) == total
        assert round(float(o.loc[s, "ly"]), 6) == ly
    d_cost, d_ly, icer = _ly_icer(res)
    assert round(d_cost, 3) == 5938.198
    assert round(d_ly, 7) == 0.9461822
    assert round(icer, 3) == 6275.956
