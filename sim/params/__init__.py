"""Parameter tables, distributions and sampling (draws).

A :class:`ParameterTable` gives every parameter a base-case value, a distribution
and a source; :meth:`ParameterTable.draw` and :meth:`ParameterTable.sampler` turn it
into :class:`Draws` (Monte Carlo, Latin hypercube, Sobol; Gaussian copula for rank
correlations). Formulas: ``docs/parameters.md``.
"""

from __future__ import annotations

from sim._lazy import attach

_T = "sim.params.table"
__getattr__, __dir__, __all__ = attach(__name__, {
    "Parameter": f"{_T}:Parameter", "ParameterTable": f"{_T}:ParameterTable", "Draws": f"{_T}:Draws",
    "Sampler": f"{_T}:Sampler", "read_parameter_table": f"{_T}:read_parameter_table",
    "base_values": f"{_T}:base_values", "METHODS": f"{_T}:METHODS", "BLOCK": f"{_T}:BLOCK",
    "DISTRIBUTIONS": "sim.params.distributions:DISTRIBUTIONS",
})
