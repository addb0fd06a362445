"""Partitioned survival models: states bounded by nested survival curves.

``spec.py`` holds the model (:class:`PartitionedSurvival`), ``engine.py`` runs it
(:func:`run_psm`: curves at the trace points, crossing curves constrained and
reported, rewards with the conventions of :mod:`sim.model.conventions`) and
``psa.py`` holds the PSA (:func:`run_psm_psa`) and the model run for DSA
(:class:`PSMRun`). Formulas: ``docs/psm.md``.
"""

from __future__ import annotations

from sim._lazy import attach

_S = "sim.psm"
__getattr__, __dir__, __all__ = attach(__name__, {
    "PartitionedSurvival": f"{_S}.spec:PartitionedSurvival",
    "run_psm": f"{_S}.engine:run_psm", "PSMResult": f"{_S}.engine:PSMResult",
    "CurveCrossingWarning": f"{_S}.engine:CurveCrossingWarning",
    "run_psm_psa": f"{_S}.psa:run_psm_psa", "PSMRun": f"{_S}.psa:PSMRun",
})
