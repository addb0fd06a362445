"""Sampling a parameter table: Monte Carlo, Latin hypercube and Sobol draws.

A :class:`Sampler` makes any range ``lo:hi`` of an ``n``-draw sample; draw ``i``
depends only on ``(seed, i)`` for Monte Carlo and Sobol sampling (and on ``n`` too
for a Latin hypercube), never on how the draws are chunked or how many threads
draw them.  Values come from one of two sources of randomness, consumed in the
table's order:

* by inversion of uniforms (Latin hypercube, Sobol, :meth:`ParameterTable.transform`):
  each univariate parameter, each Dirichlet or multivariate normal member and each
  empirical group takes one column ("slot") of the uniforms;
* directly from numpy's samplers (Monte Carlo), inverting only where a copula or a
  truncation needs it.

Rank correlations between univariate parameters go through a Gaussian copula
(:func:`gaussian_copula`).  Formulas: ``docs/parameters.md``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from sim.errors import HtaError, suggest

if TYPE_CHECKING:  # pragma: no cover
    from sim.params.table import ParameterTable

__all__ = [
    "METHODS",
    "BLOCK",
    "Draws",
    "Sampler",
    "gaussian_copula",
    "values_by_inversion",
    "values_direct",
]

#: Sampling methods.
METHODS = ("mc", "lhs", "sobol")
#: Monte Carlo draws are generated in blocks of this many, block b from the stream
#: ``SeedSequence(seed, spawn_key=(b,))``: draw i is row i % BLOCK of block i // BLOCK.
BLOCK = 4096

_EPS = 2.0 ** -53


# ---------------------------------------------------------------------------- draws
@dataclass(frozen=True)
class Draws:
    """Parameter draws: ``frame`` has one row per draw and one column per parameter.

    Parameters
    ----------
    frame : DataFrame
        One row per draw, one column per parameter.
    ids : ndarray of int
        The draw numbers (0-based positions in the full sample).
    seed : int, optional
        The seed the draws were made with (None for draws made elsewhere).
    method : str
        How they were made: one of :data:`METHODS`, or ``"given"``.
    """

    frame: pd.DataFrame
    ids: np.ndarray
    seed: int | None = None
    method: str = "given"

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, seed=None) -> Draws:
        """Wrap externally made draws (e.g. MCMC output).

        Parameters
        ----------
        frame : DataFrame
            One row per draw, one column per parameter.
        seed : int, optional
            The seed they were made with, if known.

        Returns
        -------
        Draws
            Draws numbered ``0 .. len(frame) - 1``, method ``"given"``.
        """
        return cls(frame.reset_index(drop=True), np.arange(len(frame)), seed, "given")


class Sampler:
    """Draws ``lo:hi`` of an ``n``-draw sample, identical whatever the chunking.

    * ``"mc"``: draws made in blocks of :data:`BLOCK`, block ``b`` sampled directly
      (numpy's samplers, in table order) from the stream
      ``SeedSequence(seed, spawn_key=(b,))``: draw ``i`` depends only on ``(seed, i)``.
    * ``"sobol"``: scrambled Sobol points (scipy), point ``i`` of the sequence seeded
      with ``seed``; depends only on ``(seed, i)``. Balance needs ``n`` a power of 2.
    * ``"lhs"``: a Latin hypercube of ``n`` points (scipy), made once; draw ``i``
      depends on ``(seed, n, i)``.

    Parameters
    ----------
    table : ParameterTable
        The parameters to draw.
    n : int
        Size of the whole sample (>= 1).
    seed : int
        Seed (>= 0).
    method : str
        One of :data:`METHODS`.
    """

    def __init__(self, table: ParameterTable, n: int, seed: int, method: str = "mc"):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise HtaError(f"number of draws {n!r} must be a whole number >= 1")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise HtaError(f"seed {seed!r} must be a whole number >= 0")
        if method == "sobol" and n & (n - 1):
            warnings.warn(f"Sobol sampling with n = {n}: balance needs a power of 2 (e.g. {1 << int(n).bit_length()})",
                          stacklevel=3)
        if method not in METHODS:
            raise HtaError(
                f"unknown sampling method {method!r}{suggest(method, METHODS)}; choose one of {', '.join(METHODS)}"
            )
        self.table, self.n, self.seed, self.method = table, int(n), int(seed), method
        self._lhs = None
        if method == "lhs" and table.n_slots:
            self._lhs = qmc.LatinHypercube(d=table.n_slots, rng=np.random.default_rng(self.seed)).random(self.n)

    def _check_range(self, lo: int, hi: int) -> None:
        if not 0 <= lo <= hi <= self.n:
            raise HtaError(f"draw range {lo}:{hi} is outside 0:{self.n}")

    def uniforms(self, lo: int, hi: int) -> np.ndarray:
        """Uniforms of draws ``lo:hi`` (Latin hypercube and Sobol only).

        Parameters
        ----------
        lo, hi : int
            The range of draws, ``0 <= lo <= hi <= n``.

        Returns
        -------
        ndarray, shape (hi - lo, table.n_slots)
        """
        self._check_range(lo, hi)
        k = self.table.n_slots
        if k == 0:
            return np.empty((hi - lo, 0))
        if self.method == "lhs":
            return self._lhs[lo:hi]
        if self.method == "sobol":
            eng = qmc.Sobol(d=k, scramble=True, rng=np.random.default_rng(self.seed))
            if lo:
                eng.fast_forward(lo)
            with warnings.catch_warnings():  # balance needs n = 2^m overall, not per chunk
                warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
                return eng.random(hi - lo)
        raise HtaError("Monte Carlo draws come from draws(), not from uniforms")

    def arrays(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Parameter values of draws ``lo:hi``.

        Parameters
        ----------
        lo, hi : int
            The range of draws, ``0 <= lo <= hi <= n``.

        Returns
        -------
        dict of str to ndarray
            One array of length ``hi - lo`` per parameter, in table order.
        """
        self._check_range(lo, hi)
        if self.method != "mc":
            return values_by_inversion(self.table, self.uniforms(lo, hi))
        cols = {name: np.empty(hi - lo) for name in self.table.names}

        def fill(b: int) -> None:
            gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(b,))))
            block = values_direct(self.table, gen, BLOCK)
            a, z = max(lo, b * BLOCK), min(hi, (b + 1) * BLOCK)
            for name, col in cols.items():
                col[a - lo:z - lo] = block[name][a - b * BLOCK:z - b * BLOCK]

        blocks = range(lo // BLOCK, -(-hi // BLOCK))
        if len(blocks) > 1 and _threads() > 1:
            # blocks are independent streams written to disjoint rows, and numpy's samplers
            # release the GIL: the same numbers whichever thread draws a block, in any order
            list(_pool().map(fill, blocks))
        else:
            for b in blocks:
                fill(b)
        return cols

    def draws(self, lo: int, hi: int) -> Draws:
        """Parameter values of draws ``lo:hi`` as :class:`Draws`.

        Parameters
        ----------
        lo, hi : int
            The range of draws, ``0 <= lo <= hi <= n``.

        Returns
        -------
        Draws
            ``hi - lo`` rows numbered ``lo .. hi - 1``.
        """
        frame = pd.DataFrame(self.arrays(lo, hi), columns=self.table.names, copy=False)
        return Draws(frame, np.arange(lo, hi), self.seed, self.method)


# ---------------------------------------------------------------------------- copula
def gaussian_copula(names: Sequence[str], correlations: Mapping[tuple[str, str], float],
                    label: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The Gaussian copula imposing Spearman rank correlations.

    Parameters
    ----------
    names : sequence of str
        The table's univariate random parameters, in table order.
    correlations : mapping of (str, str) to float
        Checked rank correlations ``{(name_a, name_b): rho}`` between them.
    label : str
        The table's name, for error messages.

    Returns
    -------
    (ndarray, ndarray) or None
        The positions in ``names`` of the correlated parameters, and the Cholesky
        factor of the correlation matrix of their normal scores (Pearson
        ``2 sin(pi rho / 6)``); None without correlations.
    """
    if not correlations:
        return None
    order = list(names)
    corr_names = sorted({n for pair in correlations for n in pair}, key=order.index)
    idx = {n: i for i, n in enumerate(corr_names)}
    R = np.eye(len(corr_names))
    for (a, b), rho in correlations.items():
        # Pearson correlation of normal scores giving Spearman rho: 2 sin(pi rho / 6)
        R[idx[a], idx[b]] = R[idx[b], idx[a]] = 2 * math.sin(math.pi * rho / 6)
    try:
        L = np.linalg.cholesky(R)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(R)
        worst = [corr_names[i] for i in np.argsort(-np.abs(v[:, 0]))[:3]]
        raise HtaError(
            f"{label}: the rank correlations between {', '.join(corr_names)} do not form a "
            f"positive definite matrix (smallest eigenvalue {w[0]:.3g}, driven mostly by "
            f"{', '.join(worst)}); make them mutually consistent"
        ) from None
    cols = [i for i, n in enumerate(order) if n in idx]
    return np.array(cols), L


# ---------------------------------------------------------------------------- values
def values_by_inversion(table: ParameterTable, u: np.ndarray) -> dict[str, np.ndarray]:
    """Parameter values from uniforms, by inversion.

    Parameters
    ----------
    table : ParameterTable
        The parameters.
    u : ndarray, shape (m, table.n_slots)
        Uniforms in (0, 1), one row per draw (clipped away from 0 and 1 here).

    Returns
    -------
    dict of str to ndarray
        One array of length ``m`` per parameter, in table order.
    """
    return _values(table, u.shape[0], _Inverse(np.clip(u, _EPS, 1 - _EPS)))


def values_direct(table: ParameterTable, gen: np.random.Generator, m: int) -> dict[str, np.ndarray]:
    """``m`` Monte Carlo draws of parameter values from a numpy generator.

    Parameters
    ----------
    table : ParameterTable
        The parameters.
    gen : numpy Generator
        The stream, consumed in table order.
    m : int
        Number of draws.

    Returns
    -------
    dict of str to ndarray
        One array of length ``m`` per parameter, in table order.
    """
    return _values(table, m, _Direct(gen, m))


def _values(table: ParameterTable, m: int, src) -> dict[str, np.ndarray]:
    """Values of every parameter, taking random numbers from ``src`` in table order."""
    out = {p.name: np.full(m, float(p.value)) for p in table.parameters}
    corr_cols, uc = (), None
    if table._copula is not None:
        corr_cols, L = table._copula
        uc = stats.norm.cdf(_rowwise(src.normals(len(corr_cols)), L))
    pos = {int(c): i for i, c in enumerate(corr_cols)}
    for j, (p, dist) in enumerate(table._uni):
        out[p.name] = dist.ppf(uc[:, pos[j]]) if j in pos else src.univariate(dist)
    for kind, members, data in table._multi:
        k = len(members)
        if kind == "dirichlet":
            g = src.gammas(data)
            g /= g.sum(axis=1, keepdims=True)
            cols = g.T
        elif kind == "mvnormal":
            means, chol = data
            cols = (means + _rowwise(src.normals(k), chol)).T
        else:
            cols = data[src.rows(data.shape[0])].T
        for i, p in enumerate(members):
            out[p.name] = cols[i]
    return out


def _rowwise(z: np.ndarray, L: np.ndarray) -> np.ndarray:
    """``z @ L.T`` computed row by row.

    So a draw's value does not depend on how many rows are transformed together
    (BLAS blocking would change the last bits).
    """
    return (z[:, None, :] * L[None, :, :]).sum(axis=-1)


class _Inverse:
    """Values by inversion of given uniforms, consumed column by column."""

    def __init__(self, u: np.ndarray):
        self.u, self.col = u, 0

    def _take(self, k: int) -> np.ndarray:
        block = self.u[:, self.col:self.col + k]
        self.col += k
        return block

    def normals(self, k):
        return stats.norm.ppf(self._take(k))

    def univariate(self, dist):
        return dist.ppf(self._take(1)[:, 0])

    def gammas(self, shapes):
        return stats.gamma.ppf(self._take(len(shapes)), shapes)

    def rows(self, n_rows):
        return np.minimum((self._take(1)[:, 0] * n_rows).astype(np.int64), n_rows - 1)


_PARSED: dict[int, tuple] = {}


def _parsed(dist) -> tuple:
    """(name, shapes, loc, scale) of a frozen scipy distribution, cached by identity."""
    key = id(dist)
    hit = _PARSED.get(key)
    if hit is None or hit[0] is not dist:
        shapes, loc, scale = dist.dist._parse_args(*dist.args, **dist.kwds)
        hit = _PARSED[key] = (dist, dist.dist.name, shapes, loc, scale)
    return hit[1:]


class _Direct:
    """Values sampled directly with numpy's generator (fast path of Monte Carlo)."""

    def __init__(self, gen: np.random.Generator, m: int):
        self.gen, self.m = gen, m

    def normals(self, k):
        return self.gen.standard_normal((self.m, k))

    def univariate(self, dist):
        g, m = self.gen, self.m
        name, shapes, loc, scale = _parsed(dist)
        if name == "norm":
            return g.normal(loc, scale, m)
        if name == "lognorm":
            return loc + g.lognormal(np.log(scale), shapes[0], m)
        if name == "beta":
            return loc + scale * g.beta(shapes[0], shapes[1], m)
        if name == "gamma":
            return loc + g.gamma(shapes[0], scale, m)
        if name == "uniform":
            return g.uniform(loc, loc + scale, m)
        if name == "triang":
            return g.triangular(loc, loc + shapes[0] * scale, loc + scale, m)
        return dist.ppf(np.clip(g.random(m), _EPS, 1 - _EPS))  # e.g. truncated normal

    def gammas(self, shapes):
        return self.gen.gamma(shapes, size=(self.m, len(shapes)))

    def rows(self, n_rows):
        return self.gen.integers(0, n_rows, self.m)


# ---------------------------------------------------------------------------- threads
_POOL: dict = {}  # process id -> thread pool (a forked child makes its own)


def _threads() -> int:
    """Threads sampling blocks of draws at once.

    ``HTA_SIM_SAMPLING_THREADS``, else the number of CPUs (at most 8); 1 when
    ``HTA_SIM_PARALLEL=0``.
    """
    from sim._config import PARALLEL

    if not PARALLEL:
        return 1
    env = os.environ.get("HTA_SIM_SAMPLING_THREADS", "")
    return max(1, int(env)) if env.strip().isdigit() else min(8, os.cpu_count() or 1)


def _pool():
    """A process-wide thread pool for sampling, made on first use."""
    pid = os.getpid()
    if pid not in _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.clear()
        _POOL[pid] = ThreadPoolExecutor(_threads(), thread_name_prefix="hta-sim-sampling")
    return _POOL[pid]
