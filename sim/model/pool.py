"""How evaluated values are stored for the kernels: one flat pool, rows in CSR form.

Every evaluated value (a transition probability, a reward) is stored once, at its own
shape ``(draws | 1, cycles | 1, sojourn)``, in one flat array (:class:`Pool`), draws
innermost; an *entry* records where (offset and strides). Entries are grouped by
(strategy, expanded state) in CSR form (:func:`csr`). :class:`ModelArrays` holds the
result for one chunk of draws; the layout is described in ``sim/cohort/_kernels.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Pool", "csr", "ModelArrays"]


class Pool:
    """Evaluated values stored once each, at their own shape, in one flat array.

    :meth:`add` reserves room and returns an entry's offset and strides;
    :meth:`array` allocates the pool and writes every value into its place.
    """

    def __init__(self):
        self.parts: list[tuple[int, np.ndarray]] = []
        self.size = 0
        self.seen: dict[int, tuple] = {}  # id(array) -> (array, strides)

    def add(self, a: np.ndarray) -> tuple[int, int, int, int]:
        """Reserve room for ``a``, stored draws-innermost, and return where it goes.

        Draws are contiguous so the kernel reads them as vectors. The same array
        object added again is stored once.

        Parameters
        ----------
        a : ndarray, shape (nd, mt, L)
            An evaluated value.

        Returns
        -------
        tuple of int
            ``(offset, draw stride, time stride, sojourn stride)``; a stride is 0 along
            an axis of length 1.
        """
        nd, mt, L = a.shape
        hit = self.seen.get(id(a))
        if hit is not None and hit[0] is a:
            return hit[1]
        off = self.size
        self.parts.append((off, a))
        self.size += a.size
        strides = off, (1 if nd > 1 else 0), (L * nd if mt > 1 else 0), (nd if L > 1 else 0)
        self.seen[id(a)] = (a, strides)
        return strides

    def array(self) -> np.ndarray:
        """The pool: one allocation, each value written once (transposed) into its place."""
        ev = np.empty(max(self.size, 1))
        for off, a in self.parts:
            nd, mt, L = a.shape
            ev[off:off + a.size].reshape(mt, L, nd)[...] = np.transpose(a, (1, 2, 0))
        return ev


def csr(rows: dict, K: int, S1: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries grouped by (strategy, expanded row), in CSR form.

    Parameters
    ----------
    rows : dict
        ``(k, i)`` -> list of entries (tuples of ``width`` ints).
    K, S1 : int
        Strategies and expanded states.
    width : int
        Integers per entry.

    Returns
    -------
    ptr : ndarray, shape (K, S1 + 1), int64
        The entries of row ``i`` of strategy ``k`` are ``ent[ptr[k, i]:ptr[k, i + 1]]``.
    ent : ndarray, shape (E, width), int64
        The entries.
    """
    ptr = np.zeros((K, S1 + 1), dtype=np.int64)
    ent: list = []
    for k in range(K):
        for i in range(S1):
            ptr[k, i] = len(ent)
            ent.extend(rows.get((k, i), []))
        ptr[k, S1] = len(ent)
    arr = np.array(ent, dtype=np.int64).reshape(-1, width) if ent else np.zeros((0, width), dtype=np.int64)
    return ptr, arr


@dataclass
class ModelArrays:
    """Evaluated, checked inputs of the kernel for one chunk of draws.

    Shapes (n = draws of the chunk, K = strategies, S = states, S1 = expanded
    states, NR = reward columns); full layout in ``sim/cohort/_kernels.py``.

    Attributes
    ----------
    ev : ndarray, shape (N,)
        The pool of evaluated values (:class:`Pool`).
    tr_ptr, tr_ent : ndarray
        Transition entries ``[to_state, offset, sd, st]`` per (strategy, expanded row), CSR.
    dest : ndarray, shape (S1, S), int64
        Expanded state reached from expanded state ``i`` when moving to state ``j``.
    start : ndarray, shape (n | 1, K, S1)
        Start distribution.
    rw_ptr, rw_ent : ndarray
        State-reward entries ``[column, offset, sd, st]``, CSR.
    trw_ptr, trw_ent : ndarray
        Transition-reward entries ``[to_state, column, offset, sd, st]``, CSR.
    columns : tuple of str
        Reward columns: cost components, ``"qaly"``, ``"ly"``.
    initial : ndarray, shape (n | 1, K, NR)
        One-off rewards at time 0 (start costs and utilities).
    n : int
        Draws in the chunk.
    n_cycles : int
        Cycles ``T``.
    prog : ProgramArrays or None
        Compiled values (``sim/model/compile.py``) that entries with ``sd = -1`` point at;
        None when every value is pooled.
    """

    ev: np.ndarray
    tr_ptr: np.ndarray
    tr_ent: np.ndarray
    dest: np.ndarray
    start: np.ndarray
    rw_ptr: np.ndarray
    rw_ent: np.ndarray
    trw_ptr: np.ndarray
    trw_ent: np.ndarray
    columns: tuple
    initial: np.ndarray
    n: int
    n_cycles: int
    prog: Any = None

    @property
    def has_initial(self) -> bool:
        """Whether any one-off reward at time 0 is non-zero."""
        return bool(self.initial.any())

    def dense(self, draws: slice = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The dense arrays of some draws (for reference implementations, tests and error messages).

        Parameters
        ----------
        draws : slice
            Draws of the chunk.

        Returns
        -------
        P : ndarray, shape (n, K, T, S1, S)
            Transition probabilities.
        R : ndarray, shape (n, K, T + 1, S1, NR)
            State rewards per cycle.
        TR : ndarray, shape (n, K, T, S1, S, NR)
            One-off transition rewards.
        """
        K = self.tr_ptr.shape[0]
        S1, S = self.dest.shape
        NR, T = len(self.columns), self.n_cycles
        d = np.arange(self.n)[draws][:, None]
        n = d.shape[0]
        P = np.zeros((n, K, T, S1, S))
        R = np.zeros((n, K, T + 1, S1, NR))
        TR = np.zeros((n, K, T, S1, S, NR))
        t_tr, t_rw = np.arange(T)[None, :], np.arange(T + 1)[None, :]
        for k in range(K):
            for i in range(S1):
                for j, off, sd, st in self.tr_ent[self.tr_ptr[k, i]:self.tr_ptr[k, i + 1]]:
                    P[:, k, :, i, j] = self.ev[off + d * sd + t_tr * st]
                for r, off, sd, st in self.rw_ent[self.rw_ptr[k, i]:self.rw_ptr[k, i + 1]]:
                    R[:, k, :, i, r] += self.ev[off + d * sd + t_rw * st]
                for j, r, off, sd, st in self.trw_ent[self.trw_ptr[k, i]:self.trw_ptr[k, i + 1]]:
                    TR[:, k, :, i, j, r] += self.ev[off + d * sd + t_tr * st]
        return P, R, TR
