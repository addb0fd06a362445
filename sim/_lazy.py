"""Lazy public names for packages (PEP 562): a name's module is imported on first use.

``import sim`` then costs almost nothing and loads none of Numba, SciPy, matplotlib,
Dask, SimPy or pyarrow; ``sim.run_cohort`` imports the cohort engine when first
looked up. Each package lists its public names and where they live::

    __getattr__, __dir__, __all__ = attach(__name__, {
        "run_cohort": "sim.cohort.engine:run_cohort",   # a name defined in a module
        "voi": "sim.decision.voi",                      # a module
    })
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["attach"]


def attach(package: str, names: Mapping[str, str]) -> tuple[Callable, Callable, list[str]]:
    """Module ``__getattr__``, ``__dir__`` and ``__all__`` for lazily imported names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : mapping of str to str
        Public name -> ``"module:attribute"`` (a name defined in that module) or
        ``"module"`` (the module itself).

    Returns
    -------
    (callable, callable, list of str)
        ``__getattr__``, ``__dir__`` and ``__all__`` for the package.
    """
    table = dict(names)

    def __getattr__(name: str):
        try:
            where = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        modname, _, attr = where.partition(":")
        module = importlib.import_module(modname)
        value = getattr(module, attr) if attr else module
        importlib.import_module(package).__dict__[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(table))

    return __getattr__, __dir__, list(table)
