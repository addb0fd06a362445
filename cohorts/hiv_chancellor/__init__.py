"""HIV: zidovudine monotherapy vs zidovudine + lamivudine (Chancellor et al. 1997).

Example 2.5 of Briggs A, Claxton K, Sculpher M. *Decision Modelling for Health
Economic Evaluation*. Oxford University Press, 2006.

Structure and settings (sources):

* four states A (CD4 200-499), B (CD4 < 200), C (AIDS), D (death); the cohort
  starts in A; no return to a less severe state (Chancellor et al. 1997);
* annual cycles, 20-year horizon, costs discounted at 6 % a year and
  life-years not discounted (Chancellor et al. 1997; Briggs et al. 2006, Ex. 2.5);
* combination therapy lasts 2 years: its relative risk multiplies every
  transition probability out of a state and lamivudine is paid for, then
  patients continue on monotherapy (Briggs et al. 2006, Ex. 2.5);
* rewards are counted at the end of each cycle (cycle 0 not counted) and
  discounted by ``1.06 ** -k`` for the k-th year, as in the book's spreadsheet;
* parameter values with their sources: ``parameters.csv`` beside this file.

The book reports (Briggs et al. 2006, Ex. 2.5, and its spreadsheet): monotherapy
cost GBP 44,663 and 7.991 life-years; combination GBP 50,602 and 8.937
life-years; ICER GBP 6,276 per life-year gained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim import C, Model, ParameterTable, RelativeRisk
from sim.params.table import base_values

__all__ = ["build", "data_files", "parameter_table", "parameters", "CURRENCY", "EFFECT", "EFFECT_UNIT",
           "OPTIONAL_PARAMETERS", "PRICE_YEAR", "SETTINGS", "TITLE"]

TITLE = "HIV: zidovudine monotherapy vs combination with lamivudine (Chancellor 1997; Briggs 2006 Ex. 2.5)"
#: The effect measure of the published analysis.
EFFECT = "ly"
#: Currency and price year of the costs: 1995 pounds sterling (Chancellor et al. 1997, annual costs at 1995
#: prices, as in parameters.csv; Briggs et al. 2006, Example 2.5).
CURRENCY = "GBP"
PRICE_YEAR = 1995
#: The unit of the effect measure.
EFFECT_UNIT = "life-years"
#: Settings an experiment may change (the Model fields of those names); the model has no age, so no start_age.
SETTINGS = {"discount_costs": None, "discount_outcomes": None}
#: Names a parameter table may give that the model does not read: the probabilities of staying in A, B and C
#: (the complements of the Dirichlet groups of a PSA table, e.g. experiments/hiv_chancellor_psa.csv).
OPTIONAL_PARAMETERS = ("p_AA", "p_BB", "p_CC")


#: The folder of this model's data files.
_HERE = Path(__file__).parent


def parameters() -> ParameterTable:
    """The model's parameter table (``parameters.csv`` beside this file), every value with its source."""
    return ParameterTable.read(_HERE / "parameters.csv")


def parameter_table() -> pd.DataFrame:
    """The model's parameter table as a DataFrame (name, value, unit, description, source)."""
    return parameters().to_frame()


def data_files() -> tuple[Path, ...]:
    """The data files the model's results depend on (a run's manifest records their hashes)."""
    return (_HERE / "parameters.csv",)


def _comb_rr(p, t):
    """Relative risk in force: ``rr`` for the first ``comb_years`` cycles of combination therapy."""
    if t.strategy != "comb":
        return np.ones((1, 1, 1))
    return np.where(t.cycle < p["comb_years"], p["rr"], 1.0)


def _drug_cost(p, t):
    """Annual drug cost: zidovudine, plus lamivudine during combination therapy."""
    lam = np.where(t.cycle < p["comb_years"], p["c_lamivudine"], 0.0) if t.strategy == "comb" else 0.0
    return p["c_zidovudine"] + lam


def build(parameters: dict[str, float] | None = None) -> Model:
    """The model, with base-case values from the parameter table (or ``parameters``)."""
    values = base_values(parameter_table())
    values.update(parameters or {})
    rr = _comb_rr
    transitions = {
        ("A", "A"): C, ("A", "B"): RelativeRisk("p_AB", rr), ("A", "C"): RelativeRisk("p_AC", rr),
        ("A", "D"): RelativeRisk("p_AD", rr),
        ("B", "B"): C, ("B", "C"): RelativeRisk("p_BC", rr), ("B", "D"): RelativeRisk("p_BD", rr),
        ("C", "C"): C, ("C", "D"): RelativeRisk("p_CD", rr),
        ("D", "D"): 1.0,
    }
    alive = ("A", "B", "C")
    return Model(
        name="hiv_chancellor",
        description=TITLE,
        states=("A", "B", "C", "D"),
        strategies=("mono", "comb"),
        transitions=transitions,
        start={"A": 1.0},
        horizon=20,
        cycle_length=1.0,
        parameters=values,
        costs={
            "drug": {s: _drug_cost for s in alive},
            "direct_medical": {s: f"c_dm_{s}" for s in alive},
            "community": {s: f"c_cc_{s}" for s in alive},
        },
        dead=("D",),
        correction="end",
        discount_costs=0.06,
        discount_outcomes=0.0,
        currency=CURRENCY,
        price_year=PRICE_YEAR,
        effect_unit=EFFECT_UNIT,
    )
