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

# OpenMP threads (Numba's ``omp`` threading layer) that finished a parallel loop sleep
# instead of spinning (unless the user set ``OMP_WAIT_POLICY``). Kernels here last
# milliseconds and alternate with Python code; on a machine whose cores are shared,
# spinning workers took the CPU from that code and from each other: a 10,000-draw PSA
# kernel measured 52 ms with spinning workers and 11 ms with sleeping ones under the
# same background load (docs/engine.md). Takes effect if set before the first parallel
# kernel of the process runs; numbers never depend on it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
