"""Process-wide tuning for speed: one explicit call, never made at import.

:func:`tune_process` is what the ``hta-sim`` command line (and the benchmarks) call
before the first kernel runs. Library users call it themselves if they want it;
``import sim`` changes nothing in the process. Neither setting changes any number
(``tests/test_config.py`` checks bit-for-bit equality); ``docs/engine.md`` explains both.
"""

from __future__ import annotations

import os

__all__ = ["tune_process"]


_DONE: dict | None = None


def tune_process() -> dict:
    """Tune this process for many short compiled kernels; safe to call more than once.

    * ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it: OpenMP threads (Numba's
      ``omp`` threading layer) that finished a parallel loop sleep instead of spinning.
      Kernels last milliseconds and alternate with Python code; on shared cores,
      spinning workers took the CPU from that code (a 10,000-draw PSA kernel measured
      52 ms with spinning workers, 11 ms with sleeping ones under the same load). It
      takes effect only if set before the first parallel kernel of the process runs.
    * glibc keeps freed array memory for reuse (``mallopt``): the mmap threshold is
      raised to 32 MiB and the trim threshold to 128 MiB, so the arrays a PSA allocates
      and frees every call do not pay a page fault per 4 KiB (about 3 ms of a 17 ms,
      10,000-draw PSA). Skipped when ``HTA_SIM_MALLOC_TUNING=0``, when the user tunes
      malloc already (``GLIBC_TUNABLES``, ``MALLOC_MMAP_THRESHOLD_``,
      ``MALLOC_TRIM_THRESHOLD_``) and off glibc.

    Returns
    -------
    dict
        ``omp_wait_policy``: the policy in force; ``malloc``: whether the allocator
        setting was applied (by this call or an earlier one).
    """
    global _DONE
    if _DONE is not None:
        return _DONE
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _DONE = {"omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "malloc": _keep_freed_memory()}
    return _DONE


def _keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; whether the setting was applied."""
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
