"""Patient-level simulation: times to event, random numbers, pathways, policies, resources.

Cohort models run patient by patient (``markov.py``). Continuous-time pathways
(``pathway.py``) run on SimPy (``engine.py``) or as a compiled loop over patients
(``compiled.py``, the same numbers); treatment policies (``policy.py``),
capacity-limited procedures (``resources.py``) and populations (``population.py``)
run on them through managed pathways (``managed_pathway.py``,
``managed_process.py``, ``managed.py``). Outer draws x inner patients: ``psa.py``;
the model run for DSA and thresholds: ``run.py``; result objects: ``results.py``.
SimPy is imported only inside this package, and only when a name that needs it is
first used (PEP 562).
"""

from __future__ import annotations

from sim._lazy import attach

_P = "sim.patient"
__getattr__, __dir__, __all__ = attach(__name__, {
    # times to event
    "TimeToEvent": f"{_P}.events:TimeToEvent", "Exponential": f"{_P}.events:Exponential",
    "Weibull": f"{_P}.events:Weibull", "Gompertz": f"{_P}.events:Gompertz",
    "LogLogistic": f"{_P}.events:LogLogistic", "LogNormal": f"{_P}.events:LogNormal",
    "PiecewiseExponential": f"{_P}.events:PiecewiseExponential",
    "background_mortality": f"{_P}.events:background_mortality",
    "SurvivalTime": f"{_P}.events:SurvivalTime",
    "uniforms": f"{_P}.streams:uniforms",
    # cohort models patient by patient
    "run_markov_patients": f"{_P}.markov:run_markov_patients", "PatientResult": f"{_P}.results:PatientResult",
    # continuous-time pathways
    "Event": f"{_P}.pathway:Event", "Pathway": f"{_P}.pathway:Pathway", "run_pathway": f"{_P}.engine:run_pathway",
    "PathwayResult": f"{_P}.results:PathwayResult",
    "run_patient_psa": f"{_P}.psa:run_patient_psa", "PatientPSAResult": f"{_P}.results:PatientPSAResult",
    "PatientRun": f"{_P}.run:PatientRun",
    # policies, resources, populations
    "Marker": f"{_P}.policy:Marker", "TDM": f"{_P}.policy:TDM", "Line": f"{_P}.policy:Line",
    "Refractory": f"{_P}.policy:Refractory", "RedFlag": f"{_P}.policy:RedFlag", "Policy": f"{_P}.policy:Policy",
    "Resource": f"{_P}.resources:Resource", "Procedure": f"{_P}.resources:Procedure",
    "Arrivals": f"{_P}.resources:Arrivals",
    "read_population": f"{_P}.population:read_population",
    "generate_population": f"{_P}.population:generate_population",
    "truncated_normal": f"{_P}.population:truncated_normal",
    "check_population": f"{_P}.population:check_population",
    "ManagedPathway": f"{_P}.managed_pathway:ManagedPathway", "ManagedResult": f"{_P}.results:ManagedResult",
    "run_managed": f"{_P}.managed:run_managed",
})
