"""Patient-level simulation: times to event, common random numbers, cohort models
run patient by patient.

Continuous-time pathways run on SimPy (``engine.py``); treatment policies
(``policy.py``), capacity-limited procedures (``resources.py``) and populations
(``population.py``) run on them through ``managed.py``. SimPy is imported only inside
this package.
"""

from sim.patient.engine import Event, Pathway, run_pathway, subgroups
from sim.patient.events import (
    Exponential,
    Gompertz,
    LogLogistic,
    LogNormal,
    PiecewiseExponential,
    TimeToEvent,
    Weibull,
    background_mortality,
)
from sim.patient.managed import ManagedPathway, ManagedResult, run_managed
from sim.patient.markov import PatientResult, run_markov_patients
from sim.patient.policy import TDM, Line, Marker, Policy, RedFlag, Refractory
from sim.patient.population import check_population, generate_population, read_population, truncated_normal
from sim.patient.psa import run_patient_psa
from sim.patient.resources import Arrivals, Procedure, Resource
from sim.patient.streams import uniforms

__all__ = [
    "TimeToEvent", "Exponential", "Weibull", "Gompertz", "LogLogistic", "LogNormal",
    "PiecewiseExponential", "background_mortality", "uniforms", "run_markov_patients", "PatientResult",
    "Event", "Pathway", "run_pathway", "subgroups", "run_patient_psa",
    # policies, resources, populations (issue 4)
    "Marker", "TDM", "Line", "Refractory", "RedFlag", "Policy", "Resource", "Procedure", "Arrivals",
    "read_population", "generate_population", "truncated_normal", "check_population",
    "ManagedPathway", "ManagedResult", "run_managed",
]
