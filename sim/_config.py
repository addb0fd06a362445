"""Numba flags and the kernels' threads, in one place.

``HTA_SIM_PARALLEL=0`` in the environment turns off parallel kernels (useful for
debugging); ``NUMBA_DISABLE_JIT=1`` runs every kernel as plain Python.

The engine's kernels are compiled at LLVM ``-O2`` (:data:`OPT_LEVEL`, through
:func:`kernel_compiler`) instead of Numba's ``-O3``: the same machine-code speed on the
benchmarks, less compile time on an empty cache (``benchmarks/README.md``, "Compile time").

Kernels are compiled serial (``parallel=False``: a parallel Numba kernel takes two to
three times longer to compile) and release the GIL (``nogil=True``); :func:`run_split`
runs one kernel call per thread on contiguous ranges of draws or patients. Every
draw and patient is computed alone, so the numbers do not depend on the split.
"""

from __future__ import annotations

import os

__all__ = ["CACHE", "PARALLEL", "FASTMATH", "THREADS", "OPT_LEVEL", "kernel_compiler", "run_split", "threads"]

#: Compile once and keep the machine code on disk (``__pycache__`` or ``NUMBA_CACHE_DIR``).
CACHE: bool = True
#: Run kernels on all cores (one kernel call per thread, :func:`run_split`).
PARALLEL: bool = os.environ.get("HTA_SIM_PARALLEL", "1") != "0"
#: Never reorder floating-point operations: results must be bit-for-bit reproducible.
FASTMATH: bool = False
#: Threads of the kernels; None: ``HTA_SIM_THREADS``, else ``NUMBA_NUM_THREADS``, else the CPU count.
THREADS: int | None = None

#: LLVM optimisation level of the engine's kernels (never above the user's ``NUMBA_OPT``, Numba's default 3).
#: No floating-point result depends on it (no fast-math: LLVM may not reorder arithmetic at any level).
OPT_LEVEL: int = 2

_POOL: dict = {}  # process id -> (threads, executor); a forked child makes its own


def threads() -> int:
    """Threads :func:`run_split` uses (1 when ``HTA_SIM_PARALLEL=0``)."""
    if not PARALLEL:
        return 1
    if THREADS is not None:
        return max(1, int(THREADS))
    for var in ("HTA_SIM_THREADS", "NUMBA_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) > 0:
            return int(v)
    return max(1, os.cpu_count() or 1)


_COMPILER: list = []


def kernel_compiler():
    """The Numba compiler class of the engine's kernels: ``@njit(pipeline_class=kernel_compiler())``.

    Numba's own pipeline, with the LLVM optimisation level lowered to
    :data:`OPT_LEVEL` (2; Numba's is 3, and never above the user's ``NUMBA_OPT``) and
    garbage collection paused while the kernel (and what it compiles inside it) is
    compiled. ``-O3`` adds transformations (non-trivial loop unswitching, more inlining)
    that nearly double the code of kernels with branches inside loops, for no speed
    here; Numba's compiler makes many objects, and full collections in a large process
    slowed it. Numba's settings are restored afterwards; Numba compiles under a global
    lock, so no other compilation sees the change. No floating-point result depends on
    the level (no fast-math: LLVM may not reorder arithmetic at any level); the oracle
    tests check the numbers bit for bit. Measurements: ``benchmarks/README.md``,
    "Compile time".

    Returns
    -------
    type
        A subclass of ``numba.core.compiler.Compiler``.
    """
    if _COMPILER:
        return _COMPILER[0]
    import gc

    from numba.core import config
    from numba.core.compiler import Compiler

    class KernelCompiler(Compiler):
        """Numba's pipeline at LLVM ``-O{OPT_LEVEL}``, without garbage collection meanwhile."""

        def _compile_core(self):
            old = config.OPT
            if int(old) > OPT_LEVEL:
                config.OPT = type(old)(OPT_LEVEL)
            collect = gc.isenabled()
            gc.disable()
            try:
                return super()._compile_core()
            finally:
                config.OPT = old
                if collect:
                    gc.enable()

    _COMPILER.append(KernelCompiler)
    return KernelCompiler


def run_split(fn, n: int, align: int = 1, min_items: int = 1) -> None:
    """Call ``fn(lo, hi)`` on contiguous ranges covering ``0..n``, one per thread, and wait for all.

    Range boundaries are multiples of ``align`` (a kernel's block of draws); the
    calling thread runs the first range. An exception in any range is raised.

    Parameters
    ----------
    fn : callable
        ``fn(lo, hi)``, typically a ``nogil`` kernel call on items ``lo:hi``.
    n : int
        Number of items.
    align : int
        Boundaries are multiples of this.
    min_items : int
        Fewest items worth a thread of their own (waking a thread costs about 0.1 ms).
    """
    units = -(-n // align)
    k = min(threads(), units, max(1, n // max(1, min_items)))
    if k <= 1:
        fn(0, n)
        return
    per = -(-units // k) * align
    ranges = [(lo, min(n, lo + per)) for lo in range(0, n, per)]
    pid = os.getpid()
    hit = _POOL.get(pid)
    if hit is None or hit[0] < len(ranges) - 1:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.clear()
        hit = _POOL[pid] = (len(ranges) - 1, ThreadPoolExecutor(len(ranges) - 1, thread_name_prefix="hta-sim-kernel"))
    futures = [hit[1].submit(fn, lo, hi) for lo, hi in ranges[1:]]
    try:
        fn(*ranges[0])
    finally:
        for f in futures:
            f.result()
