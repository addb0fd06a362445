"""The managed OMT-vs-CABG model as a ready patient-level model (``omt_vs_cabg_managed``).

Registered in the entry-point group ``hta_sim.patient_models`` (``pyproject.toml``), so an
experiment file with a ``[patients]`` table can run it (``model = "omt_vs_cabg_managed"``;
``experiments/omt_vs_cabg_patient.toml``). The model is :func:`cohorts.omt_vs_cabg.managed.managed`
(``docs/omt_vs_cabg_managed.md``); this module only declares what the experiment runner needs
(``docs/experiments.md``, *Patient-level models*).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from cohorts.omt_vs_cabg import managed as _m
from sim.params.table import ParameterTable
from sim.patient.resources import Arrivals

PATIENT = True
TITLE = "OMT vs CABG in HFrEF, managed by guideline (patient level: GDMT, treat-to-target, theatre capacity)"
EFFECT = "qaly"
CURRENCY = "USD"
PRICE_YEAR = 2023
EFFECT_UNIT = "QALYs"

#: Model settings an experiment's ``[scenario]`` or sweep may set, with their defaults:
#: CABGs a week the theatre of each strategy performs (inf: no limit, the US base case)
#: and patients referred a week (0: every patient enters at time 0).
SETTINGS = {"theatre_slots_per_week": math.inf, "arrivals_per_week": 0.0}
#: Patient attributes whose subgroups get a net-benefit table (None: each value a subgroup).
SUBGROUPS = {"ccs_class": None, "sinus_rhythm": None}
#: Events for the number needed to treat or harm: ``{label: (outcome column, "benefit" or "harm")}``.
NUMBER_NEEDED = {"cardiovascular death (lifetime)": ("reached_DeadCV", "harm"),
                 "urgent surgery after an acute coronary syndrome": ("reached_OperatedUrgent", "harm"),
                 "died on the waiting list": ("died_on_list", "harm")}

_HERE = Path(__file__).resolve().parent


def parameters() -> ParameterTable:
    """The cohort model's parameters and the managed model's own, in one table."""
    return _m.psa_table()


def data_files() -> tuple[Path, ...]:
    """The data files the model's results depend on (hashed in a run's manifest)."""
    return (_HERE / "parameters.csv", _HERE / "managed_parameters.csv", _HERE / "price_index.csv",
            _HERE / "eq5d_norms.csv")


def build(values: Mapping[str, float], *, theatre_slots_per_week: float = math.inf,
          arrivals_per_week: float = 0.0) -> dict:
    """The two strategies as managed pathways for one parameter set (``arrivals_per_week`` is read by arrivals())."""
    return _m.managed(values, theatre_slots_per_week=theatre_slots_per_week)


def population(n: int, seed: int, values: Mapping[str, float]) -> pd.DataFrame:
    """``n`` STICH-like patients (:func:`cohorts.omt_vs_cabg.managed.population`)."""
    return _m.population(n, seed, values)


def arrivals(*, theatre_slots_per_week: float = math.inf, arrivals_per_week: float = 0.0) -> Arrivals | None:
    """Poisson referrals at ``arrivals_per_week`` a week, or None (everyone at time 0) for 0."""
    return _m.arrivals(arrivals_per_week) if arrivals_per_week > 0 else None
