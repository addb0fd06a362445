"""Parameter tables, distributions and sampling (draws).

A :class:`ParameterTable` gives every parameter a base-case value, a distribution
and a source; :meth:`ParameterTable.draw` and :meth:`ParameterTable.sampler` turn it
into :class:`Draws` (Monte Carlo, Latin hypercube, Sobol; Gaussian copula for rank
correlations). Formulas: ``docs/parameters.md``.

Modules: ``table.py`` (:class:`Parameter`, :class:`ParameterTable`: the validated
rows and their views), ``io.py`` (reading table files and the files their rows
name), ``sampling.py`` (:class:`Sampler`, :class:`Draws`, the copula),
``distributions.py`` (the univariate distributions).
"""

from __future__ import annotations

from sim._lazy import attach

_T, _S = "sim.params.table", "sim.params.sampling"
__getattr__, __dir__, __all__ = attach(__name__, {
    "Parameter": f"{_T}:Parameter", "ParameterTable": f"{_T}:ParameterTable",
    "read_parameter_table": f"{_T}:read_parameter_table", "base_values": f"{_T}:base_values",
    "Draws": f"{_S}:Draws", "Sampler": f"{_S}:Sampler", "METHODS": f"{_S}:METHODS", "BLOCK": f"{_S}:BLOCK",
    "DISTRIBUTIONS": "sim.params.distributions:DISTRIBUTIONS",
})
