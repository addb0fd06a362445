"""Decision analysis on arrays and outcome tables: no engine is imported here.

ICER table and frontier (``icer.py``); net benefit, CEAC/CEAF, expected loss and
the CE plane (``acceptability.py``); the tie rule of "the optimal strategy"
(``ties.py``); NNT/NNH (``number_needed.py``); subgroups (``subgroup.py``); value of information (``voi.py``, its
regression estimators in ``voi_regression.py``); deterministic sensitivity
analysis (``dsa.py``), thresholds and value-based price (``thresholds.py``) on a
model run (``run.py``); Bayesian decisions (``bayes.py``); decision optimisation
(``optimise.py``).
"""

from __future__ import annotations

from sim._lazy import attach

_I, _A = "sim.decision.icer", "sim.decision.acceptability"
__getattr__, __dir__, __all__ = attach(__name__, {
    "icer_table": f"{_I}:icer_table", "icers": f"{_I}:icers", "STATUS": f"{_I}:STATUS",
    "outcome_matrix": f"{_I}:outcome_matrix", "ce_arrays": f"{_I}:ce_arrays", "wtp_grid": f"{_I}:wtp_grid",
    "net_benefit": f"{_A}:net_benefit", "ceac": f"{_A}:ceac", "ceaf": f"{_A}:ceaf",
    "expected_loss": f"{_A}:expected_loss", "prob_cost_effective": f"{_A}:prob_cost_effective",
    "ce_plane": f"{_A}:ce_plane", "eib": f"{_A}:eib", "nnt": "sim.decision.number_needed:nnt",
    "optimal_index": "sim.decision.ties:optimal_index", "name_order": "sim.decision.ties:name_order",
    "ModelRun": "sim.decision.run:ModelRun",
    "voi": "sim.decision.voi", "dsa": "sim.decision.dsa", "thresholds": "sim.decision.thresholds",
    "bayes": "sim.decision.bayes", "optimise": "sim.decision.optimise",
    "subgroups": "sim.decision.subgroup:subgroups",
})
