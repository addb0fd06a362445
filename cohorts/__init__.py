"""Ready-made models, each with a parameter table that cites every value.

``cohorts.load(name)`` returns the module of a ready model; it provides ``build()``
(the :class:`sim.Model`), ``parameters()`` (its :class:`sim.ParameterTable`),
``parameter_table()`` (the same as a DataFrame), ``data_files()``, ``EFFECT`` and
``TITLE``. The models are registered in the entry-point group ``hta_sim.models``
(``pyproject.toml``), through which the library finds them
(:mod:`sim.experiment.registry`); the library never imports this package itself.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sim.errors import HtaError, suggest

__all__ = ["READY", "load"]

#: Ready models: name -> module (the same as the entry points of ``pyproject.toml``).
READY = {
    "omt_vs_cabg": "cohorts.omt_vs_cabg",
    "hiv_chancellor": "cohorts.hiv_chancellor",
    "thr_briggs": "cohorts.thr_briggs",
    "trastuzumab_psm": "cohorts.trastuzumab_psm",
}


def load(name: str) -> ModuleType:
    """The module of a ready model of this package.

    Parameters
    ----------
    name : str
        A key of :data:`READY`.

    Returns
    -------
    module
    """
    if name not in READY:
        raise HtaError(f"no ready model {name!r}{suggest(name, READY)}; ready models: {', '.join(READY)}")
    return importlib.import_module(READY[name])
