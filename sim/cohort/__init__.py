"""Markov cohort engine (Numba-compiled): :func:`run_cohort`, the PSA path, the model-run adaptor.

``engine.py`` evaluates a model chunk by chunk and runs the kernels of
``_kernels.py``; ``psa.py`` is the one probabilistic path (pure chunk tasks and
their assembly); ``run.py`` adapts a model to the analyses that rerun it (DSA,
thresholds, value-based price).
"""

from __future__ import annotations

from sim._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "run_cohort": "sim.cohort.engine:run_cohort", "run_psa": "sim.cohort.psa:run_psa",
    "PSAResult": "sim.cohort.psa:PSAResult", "psa_chunk": "sim.cohort.psa:psa_chunk",
    "assemble": "sim.cohort.psa:assemble", "CohortRun": "sim.cohort.run:CohortRun",
})
