"""Numba kernels of decision analysis (private): arrays in, ``out`` arrays written."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from sim._config import CACHE, FASTMATH, kernel_compiler

__all__ = ["COUNT_BLOCK", "best_counts"]

#: Draws counted together by :func:`best_counts` (one block per parallel task).
COUNT_BLOCK = 512


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, pipeline_class=kernel_compiler())
def best_counts(c, e, w, out):  # pragma: no cover - compiled
    """How often each strategy has the highest ``w * e - c``, per block of draws and wtp.

    c, e : (n, K) float64; w : (n_wtp,) float64;
    out : (ceil(n / COUNT_BLOCK), K, n_wtp) int64, written: ``out[b, s, iw]`` counts the
    draws of block ``b`` whose best strategy at ``w[iw]`` is ``s``. Ties go to the
    lowest index (as ``numpy.argmax`` of ``w * e - c`` over strategies). Sum over blocks
    for the totals (integers: exact).
    """
    n, K = c.shape
    nw = w.shape[0]
    for blk in prange(out.shape[0]):
        work = np.zeros((2, nw))  # 2-D float, as the cohort kernels' work arrays: one allocation type to compile
        top = work[0]
        best = work[1]  # index of the best strategy so far (a whole number, exact in float64)
        cnt = out[blk]
        cnt[:, :] = 0
        d1 = (blk + 1) * COUNT_BLOCK
        for d in range(blk * COUNT_BLOCK, n if n < d1 else d1):
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
