"""Total hip replacement: standard (Charnley) prosthesis vs the new NP1 prosthesis.

Example 3.5 of Briggs A, Claxton K, Sculpher M. *Decision Modelling for Health
Economic Evaluation*. Oxford University Press, 2006 (model first published by
Briggs et al., Appl Health Econ Health Policy 2004;3(2):79-89).  A model whose
transitions depend on model time (the risk of revision follows a Weibull hazard
since the primary operation) and on age (background mortality by 10-year age band
and sex).

Structure and settings (sources as above):

* states PrimaryTHR (the operation), SuccessP, RevisionTHR, SuccessR, Death; the
  cohort (women aged 60) starts in PrimaryTHR;
* annual cycles, 60-year horizon; costs discounted at 6 %, QALYs at 1.5 %;
* revision risk in cycle j (0-based) from the Weibull model
  ``1 - exp(lambda (j^gamma - (j+1)^gamma))`` with
  ``lambda = exp(cons + ageC * age + maleC * male)`` (times ``exp(lnrrNP1)`` for NP1);
* background mortality of cycle j at age ``age_init + j + 1`` (the age reached at
  the end of the cycle, as in the book's spreadsheet), from ``mortality.csv``;
* rewards counted at the end of each cycle; the prosthesis is paid at time 0;
* parameter values with their sources: ``parameters.csv`` beside this file.

The book's spreadsheet gives: standard GBP 512.43 and 14.6532 QALYs, NP1 GBP 610.31
and 14.6977 QALYs, ICER GBP 2,198 per QALY gained.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from sim import ByStrategy, C, Cycle, Exp, LifeTable, Model, P, ParameterTable, Rate
from sim.params.table import base_values

__all__ = ["build", "data_files", "parameter_table", "parameters", "mortality_table", "CURRENCY", "EFFECT", "REVISION",
           "EFFECT_UNIT", "PRICE_YEAR", "SETTINGS", "TITLE"]

TITLE = "Total hip replacement: standard vs NP1 prosthesis (Briggs 2006 Ex. 3.5)"
EFFECT = "qaly"
#: Currency of the costs: pounds sterling (Briggs et al. 2006, Example 3.5). The book's parameter sheet
#: states no price year, so none is shown (not verified in the 2004 paper).
CURRENCY = "GBP"
PRICE_YEAR = None
#: The unit of the effect measure.
EFFECT_UNIT = "QALYs"
#: Settings an experiment may change: the discount rates, and start_age as the parameter age_init.
SETTINGS = {"discount_costs": None, "discount_outcomes": None, "start_age": "age_init"}


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
    return (_HERE / "mortality.csv", _HERE / "parameters.csv")


@lru_cache(maxsize=1)
def mortality_table() -> LifeTable:
    """Annual probability of death by age (35-85+) and sex, from the book's life-table sheet."""
    return LifeTable.from_csv(_HERE / "mortality.csv", open_ended=True, name="thr_briggs_mortality",
                              source="Briggs et al. 2006, Exercise 3.5, life-table sheet")


def _background(p, t):
    """Background mortality of cycle j at the age reached at its end, by the cohort's sex."""
    table = mortality_table()
    age = p["age_init"] + t.cycle + 1
    return np.where(p["male"] == 1, table.annual_probability("male", age),
                    table.annual_probability("female", age))


#: Weibull revision risk of the primary prosthesis in cycle j (an expression, compiled into
#: the cohort kernel): ``1 - exp(-lambda ((j + 1)^gamma - j^gamma))``, the cumulative hazard
#: of the cycle as a rate per cycle (cycle length 1 year), ``lambda = exp(cons + ageC age +
#: maleC male)`` times ``exp(lnrrNP1)`` for NP1, ``gamma = exp(lngamma)``.
_LAMBDA = (Exp(P("cons") + P("ageC") * P("age_init") + P("maleC") * P("male"))
           * ByStrategy(standard=1.0, np1=Exp(P("lnrrNP1"))))
REVISION = Rate(_LAMBDA * ((Cycle() + 1.0) ** Exp(P("lngamma")) - Cycle() ** Exp(P("lngamma"))))


def _revision_death(p, t):
    return p["omrRTHR"] + _background(p, t)


def build(parameters: dict[str, float] | None = None) -> Model:
    """The model, with base-case values from the parameter table (or ``parameters``)."""
    values = base_values(parameter_table())
    values.update(parameters or {})
    return Model(
        name="thr_briggs",
        description=TITLE,
        states=("PrimaryTHR", "SuccessP", "RevisionTHR", "SuccessR", "Death"),
        strategies=("standard", "np1"),
        transitions={
            ("PrimaryTHR", "SuccessP"): C, ("PrimaryTHR", "Death"): "omrPTHR",
            ("SuccessP", "SuccessP"): C, ("SuccessP", "RevisionTHR"): REVISION,
            ("SuccessP", "Death"): _background,
            ("RevisionTHR", "SuccessR"): C, ("RevisionTHR", "Death"): _revision_death,
            ("SuccessR", "RevisionTHR"): "rrr", ("SuccessR", "SuccessR"): C,
            ("SuccessR", "Death"): _background,
        },
        start={"PrimaryTHR": 1.0},
        horizon=60,
        cycle_length=1.0,
        parameters=values,
        costs={"revision": {"RevisionTHR": "c_revisionTHR"}},
        start_costs={"prosthesis": {"PrimaryTHR": ByStrategy(standard="c_standard", np1="c_np1")}},
        utilities={"SuccessP": "u_successP", "RevisionTHR": "u_revisionTHR", "SuccessR": "u_successR"},
        dead=("Death",),
        correction="end",
        discount_costs=0.06,
        discount_outcomes=0.015,
        currency=CURRENCY,
        price_year=PRICE_YEAR,
        effect_unit=EFFECT_UNIT,
    )
