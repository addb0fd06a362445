"""Numba kernels of decision analysis (private): arrays in, ``out`` arrays written."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from sim._config import CACHE, FASTMATH

__all__ = ["COUNT_BLOCK", "best_counts", "best_strategy"]

#: Draws counted together by :func:`best_counts` (one block per parallel task).
COUNT_BLOCK = 512


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
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


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def best_counts(c, e, w, out):  # pragma: no cover - compiled
    """How often each strategy has the highest ``w * e - c``, per block of draws and wtp.

    c, e : (n, K) float64; w : (n_wtp,) float64;
    out : (ceil(n / COUNT_BLOCK), K, n_wtp) int64, written: ``out[b, s, iw]`` counts the
    draws of block ``b`` whose best strategy at ``w[iw]`` is ``s``. Ties go to the
    lowest index; every comparison is the one :func:`best_strategy` makes, so the
    counts are those of its output. Sum over blocks for the totals (integers: exact).
    """
    n, K = c.shape
    nw = w.shape[0]
    for blk in prange(out.shape[0]):
        top = np.empty(nw)
        best = np.empty(nw, dtype=np.int64)
        cnt = out[blk]
        cnt[:, :] = 0
        for d in range(blk * COUNT_BLOCK, min(n, (blk + 1) * COUNT_BLOCK)):
            c0 = c[d, 0]
            e0 = e[d, 0]
            for iw in range(nw):
                top[iw] = w[iw] * e0 - c0
                best[iw] = 0
            for s in range(1, K):
                cs = c[d, s]
                es = e[d, s]
                for iw in range(nw):
                    v = w[iw] * es - cs
                    if v > top[iw]:
                        top[iw] = v
                        best[iw] = s
            for s in range(K):
                cs_ = cnt[s]
                for iw in range(nw):
                    cs_[iw] += best[iw] == s
