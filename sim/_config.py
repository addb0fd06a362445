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


def _keep_freed_memory() -> bool:
    """Let glibc keep freed array memory for reuse instead of returning it to the system.

    A PSA allocates and frees arrays of a few megabytes every call (the value pool,
    per-draw totals, outcome columns). With glibc's defaults such arrays are mapped
    fresh from the system and freed back at once, so each call pays a page fault for
    every 4 KiB it touches: about 3 ms of a 10,000-draw, 17 ms PSA (benchmarks/README.md).
    Raising the mmap threshold to its maximum (32 MiB) and the trim threshold to 128 MiB
    keeps up to 128 MiB of freed memory in the process for reuse. Skipped when
    ``HTA_SIM_MALLOC_TUNING=0``, when the user tunes malloc already (``GLIBC_TUNABLES``,
    ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``) and off glibc. Numbers never
    depend on it. Returns whether the setting was applied.
    """
    if os.environ.get("HTA_SIM_MALLOC_TUNING", "1") == "0":
        return False
    if any(k in os.environ for k in ("GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    ok_mmap = libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    ok_trim = libc.mallopt(m_trim_threshold, 128 * 1024 * 1024)
    return bool(ok_mmap and ok_trim)


#: Whether :func:`_keep_freed_memory` tuned glibc's allocator when hta-sim was imported.
MALLOC_TUNED: bool = _keep_freed_memory()
