"""Survival evidence: parametric families, maximum-likelihood fits, reconstructed data.

Families in flexsurv's parameterisations (``families.py``, ``splines.py``), curves
vectorised over times and draws (``curves.py``), maximum likelihood with right
censoring and covariates (``fit.py``, ``mle.py``), and individual patient data
reconstructed from published Kaplan-Meier curves (``reconstruct.py``), and curves as
model values: cycle transition probabilities and PSA parameter rows (``values.py``). SciPy and (if
installed) lifelines are imported only when a fit runs. Formulas:
``docs/survival.md``.
"""

from __future__ import annotations

from sim._lazy import attach

_S = "sim.survival"
__getattr__, __dir__, __all__ = attach(__name__, {
    "SurvivalCurve": f"{_S}.curves:SurvivalCurve",
    "Family": f"{_S}.families:Family", "FAMILIES": f"{_S}.families:FAMILIES",
    "fit_survival": f"{_S}.fit:fit_survival", "SurvivalFit": f"{_S}.fit:SurvivalFit",
    "compare_fits": f"{_S}.fit:compare_fits",
    "kaplan_meier": f"{_S}.km:kaplan_meier", "km_median": f"{_S}.km:km_median",
    "reconstruct_ipd": f"{_S}.reconstruct:reconstruct_ipd", "read_curve": f"{_S}.reconstruct:read_curve",
    "read_risk_table": f"{_S}.reconstruct:read_risk_table",
    "compare_risk_table": f"{_S}.reconstruct:compare_risk_table",
    "numbers_at_risk": f"{_S}.reconstruct:numbers_at_risk",
    "SurvivalProbability": f"{_S}.values:SurvivalProbability", "probability": f"{_S}.values:probability",
    "parameter_rows": f"{_S}.values:parameter_rows",
    "bootstrap_rows": f"{_S}.bootstrap:bootstrap_rows",
    "bootstrap_coefficients": f"{_S}.bootstrap:bootstrap_coefficients",
})
