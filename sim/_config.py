"""Numba flags, in one place.

``HTA_SIM_PARALLEL=0`` in the environment turns off parallel kernels (useful for
debugging); ``NUMBA_DISABLE_JIT=1`` runs every kernel as plain Python.
"""

from __future__ import annotations

import os

__all__ = ["CACHE", "PARALLEL", "FASTMATH"]

#: Compile once and keep the machine code on disk (``__pycache__`` or ``NUMBA_CACHE_DIR``).
CACHE: bool = True
#: Run the draw loop of kernels on all cores (``numba.prange``).
PARALLEL: bool = os.environ.get("HTA_SIM_PARALLEL", "1") != "0"
#: Never reorder floating-point operations: results must be bit-for-bit reproducible.
FASTMATH: bool = False
