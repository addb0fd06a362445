"""Patient-level simulation: times to event, common random numbers, cohort models
run patient by patient.

Continuous-time pathways run on SimPy (``engine.py``); treatment policies and
resources build on them next (issue 4). SimPy is imported only inside this package.
"""

from .events import (
    Exponential,
    Gompertz,
    LogLogistic,
    LogNormal,
    PiecewiseExponential,
    TimeToEvent,
    Weibull,
    background_mortality,
)
from .engine import Event, Pathway, run_pathway, subgroups
from .markov import PatientResult, run_markov_patients
from .psa import run_patient_psa
from .streams import uniforms

__all__ = [
    "TimeToEvent", "Exponential", "Weibull", "Gompertz", "LogLogistic", "LogNormal",
    "PiecewiseExponential", "background_mortality", "uniforms", "run_markov_patients", "PatientResult",
    "Event", "Pathway", "run_pathway", "subgroups", "run_patient_psa",
]
