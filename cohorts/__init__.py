"""Ready-made models, each with a parameter table that cites every value.

``cohorts.load(name)`` returns the module of a ready model; it provides
``build()`` (the :class:`sim.Model`), ``parameter_table()``, ``EFFECT`` and ``TITLE``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sim.errors import HtaError, suggest

__all__ = ["READY", "load"]

#: Ready models: name -> module.
READY = {
    "omt_vs_cabg": "cohorts.omt_vs_cabg",
    "hiv_chancellor": "cohorts.hiv_chancellor",
    "thr_briggs": "cohorts.thr_briggs",
}


def load(name: str) -> ModuleType:
    """The module of a ready model."""
    if name not in READY:
        raise HtaError(f"no ready model {name!r}{suggest(name, READY)}; ready models: {', '.join(READY)}")
    return importlib.import_module(READY[name])
