"""hta-sim: health-economic decision modelling.

The public API::

    from sim import Model, C, Rate, ByStrategy, run_cohort, icers
    from sim import ParameterTable, run_psa, ceac, evpi
    from sim import dsa, voi, bayes, plots   # analysis modules

Every name is imported on first use (PEP 562), so ``import sim`` is light and
changes nothing in the process. Layers and where each name lives:
``docs/architecture.md``.
"""

from __future__ import annotations

from sim._lazy import attach

_M, _D, _C, _P = "sim.model", "sim.decision", "sim.cohort", "sim.params"

__getattr__, __dir__, _names = attach(__name__, {
    # model specification
    "Model": f"{_M}.spec:Model", "ANY": f"{_M}.spec:ANY",
    "C": f"{_M}.values:C", "Rate": f"{_M}.values:Rate", "HazardRatio": f"{_M}.values:HazardRatio",
    "RelativeRisk": f"{_M}.values:RelativeRisk", "AnyOf": f"{_M}.values:AnyOf",
    "ByStrategy": f"{_M}.values:ByStrategy", "ByCycle": f"{_M}.values:ByCycle",
    "BySojourn": f"{_M}.values:BySojourn", "Discount": f"{_M}.conventions:Discount",
    "Param": f"{_M}.values:Param", "P": f"{_M}.values:P", "Cycle": f"{_M}.values:Cycle",
    "ModelTime": f"{_M}.values:ModelTime", "Year": f"{_M}.values:Year", "Age": f"{_M}.values:Age",
    "CORRECTIONS": f"{_M}.conventions:CORRECTIONS", "LifeTable": f"{_M}.lifetable:LifeTable",
    "Mortality": f"{_M}.lifetable:Mortality", "model_builder": f"{_M}.builder:model_builder",
    "Exp": f"{_M}.functions:Exp", "Log": f"{_M}.functions:Log", "Min": f"{_M}.functions:Min",
    "Max": f"{_M}.functions:Max", "Where": f"{_M}.functions:Where", "Competing": f"{_M}.functions:Competing",
    "competing": f"{_M}.functions:competing",
    # engines and results
    "run_cohort": f"{_C}.engine:run_cohort", "CohortResult": "sim.results:CohortResult",
    "run_psa": f"{_C}.psa:run_psa", "PSAResult": f"{_C}.psa:PSAResult", "CohortRun": f"{_C}.run:CohortRun",
    "PatientRun": "sim.patient.run:PatientRun",
    "PartitionedSurvival": "sim.psm.spec:PartitionedSurvival", "run_psm": "sim.psm.engine:run_psm",
    "run_psm_psa": "sim.psm.psa:run_psm_psa", "PSMRun": "sim.psm.psa:PSMRun",
    # parameters
    "Parameter": f"{_P}.table:Parameter", "ParameterTable": f"{_P}.table:ParameterTable",
    "Draws": f"{_P}.sampling:Draws",
    # decision analysis
    "icer_table": f"{_D}.icer:icer_table", "icers": f"{_D}.icer:icers",
    "outcome_matrix": f"{_D}.icer:outcome_matrix", "net_benefit": f"{_D}.acceptability:net_benefit",
    "ceac": f"{_D}.acceptability:ceac", "ceaf": f"{_D}.acceptability:ceaf",
    "expected_loss": f"{_D}.acceptability:expected_loss",
    "prob_cost_effective": f"{_D}.acceptability:prob_cost_effective", "ce_plane": f"{_D}.acceptability:ce_plane",
    "eib": f"{_D}.acceptability:eib",
    "nnt": f"{_D}.number_needed:nnt", "evpi": f"{_D}.voi:evpi", "evppi": f"{_D}.voi:evppi",
    "population_evpi": f"{_D}.voi:population_evpi",
    "subgroups": f"{_D}.subgroup:subgroups",
    "one_way": f"{_D}.dsa:one_way", "two_way": f"{_D}.dsa:two_way", "scenarios": f"{_D}.dsa:scenarios",
    "threshold": f"{_D}.thresholds:threshold", "value_based_price": f"{_D}.thresholds:value_based_price",
    "decide": f"{_D}.bayes:decide", "decide_utility": f"{_D}.bayes:decide_utility",
    "BayesDecision": f"{_D}.bayes:BayesDecision",
    # analysis modules (sim.voi is sim.decision.voi, ...)
    "decision": _D, "voi": f"{_D}.voi", "dsa": f"{_D}.dsa", "optimise": f"{_D}.optimise",
    "bayes": f"{_D}.bayes", "plots": "sim.plots",
    # layers
    "model": _M, "params": _P, "cohort": _C, "patient": "sim.patient", "experiment": "sim.experiment",
    "results": "sim.results", "errors": "sim.errors",
    # process settings and errors
    "tune_process": "sim._process:tune_process",
    "HtaError": "sim.errors:HtaError",
    "__version__": "sim._version:__version__",
})
__all__ = list(_names)
