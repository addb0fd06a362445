"""The model specification: states, strategies, transitions, rewards, values, conventions, life tables.

A :class:`Model` is data: frozen (``spec.py``) and checked when built (``checks.py``).
Values (numbers, parameter names, expressions, callables) are defined in
``values.py`` and evaluated in one module, ``evaluate.py``; ``arrays.py`` evaluates
and checks every value of a model over a chunk of draws (``draws.py``) and stores
them for the engines (``pool.py``). Within-cycle corrections and discounting are in
``conventions.py``; life tables in ``lifetable.py``.
"""

from __future__ import annotations

from sim._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Model": "sim.model.spec:Model", "ANY": "sim.model.spec:ANY", "FrozenDict": "sim.model.spec:FrozenDict",
    "C": "sim.model.values:C", "Rate": "sim.model.values:Rate", "HazardRatio": "sim.model.values:HazardRatio",
    "RelativeRisk": "sim.model.values:RelativeRisk", "AnyOf": "sim.model.values:AnyOf",
    "ByStrategy": "sim.model.values:ByStrategy", "ByCycle": "sim.model.values:ByCycle",
    "BySojourn": "sim.model.values:BySojourn", "Param": "sim.model.values:Param", "P": "sim.model.values:P",
    "Arith": "sim.model.values:Arith", "Cycle": "sim.model.values:Cycle", "ModelTime": "sim.model.values:ModelTime",
    "Year": "sim.model.values:Year", "Age": "sim.model.values:Age", "Discount": "sim.model.conventions:Discount",
    "CORRECTIONS": "sim.model.conventions:CORRECTIONS", "LifeTable": "sim.model.lifetable:LifeTable",
    "Mortality": "sim.model.lifetable:Mortality", "build_arrays": "sim.model.arrays:build_arrays",
    "resolve_draws": "sim.model.arrays:resolve_draws", "ModelArrays": "sim.model.arrays:ModelArrays",
    "Exp": "sim.model.functions:Exp", "Log": "sim.model.functions:Log", "Min": "sim.model.functions:Min",
    "Max": "sim.model.functions:Max", "Where": "sim.model.functions:Where", "Compare": "sim.model.functions:Compare",
    "Competing": "sim.model.functions:Competing", "competing": "sim.model.functions:competing",
})
