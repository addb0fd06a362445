"""Decision analysis on arrays and outcome tables: no engine is imported here.

ICER table and frontier, net benefit, CEAC/CEAF, expected loss, NNT/NNH
(``core.py``); value of information (``voi.py``); deterministic sensitivity
analysis, thresholds and value-based price (``dsa.py``); Bayesian decisions
(``bayes.py``); decision optimisation (``optimise.py``).
"""

from __future__ import annotations

from sim._lazy import attach

_C = "sim.decision.core"
__getattr__, __dir__, __all__ = attach(__name__, {
    "icer_table": f"{_C}:icer_table", "icers": f"{_C}:icers", "STATUS": f"{_C}:STATUS",
    "outcome_matrix": f"{_C}:outcome_matrix", "net_benefit": f"{_C}:net_benefit", "ceac": f"{_C}:ceac",
    "ceaf": f"{_C}:ceaf", "expected_loss": f"{_C}:expected_loss",
    "prob_cost_effective": f"{_C}:prob_cost_effective", "ce_plane": f"{_C}:ce_plane", "nnt": f"{_C}:nnt",
    "voi": "sim.decision.voi", "dsa": "sim.decision.dsa", "bayes": "sim.decision.bayes",
    "optimise": "sim.decision.optimise",
    "subgroups": "sim.decision.subgroups:subgroups",
})
