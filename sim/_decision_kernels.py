"""Numba kernels of decision analysis (private): arrays in, ``out`` arrays written."""

from __future__ import annotations

from numba import njit, prange

from ._config import CACHE, FASTMATH, PARALLEL

__all__ = ["best_strategy"]


@njit(parallel=PARALLEL, cache=CACHE, fastmath=FASTMATH, nogil=True)
def best_strategy(c, e, w, out):  # pragma: no cover - compiled
    """Index of the strategy with the highest ``w * e - c`` per (draw, wtp).

    c, e : (n, K) float64; w : (n_wtp,) float64; out : (n, n_wtp) int64, written.
    Ties go to the lowest index (as ``numpy.argmax``).
    """
    n, K = c.shape
    for d in prange(n):
        for iw in range(w.shape[0]):
            x = w[iw]
            best = 0
            top = x * e[d, 0] - c[d, 0]
            for s in range(1, K):
                v = x * e[d, s] - c[d, s]
                if v > top:
                    top = v
                    best = s
            out[d, iw] = best
