"""Probabilistic sensitivity analysis with the cohort engine: the one PSA path.

A PSA is a set of pure tasks :func:`psa_chunk` (draws ``lo:hi`` of an ``n``-draw
sample of a parameter table through the cohort engine, per-draw totals only) and
one :func:`assemble` that puts the chunks into a :class:`PSAResult`.
:func:`run_psa` runs the chunks in this process; the experiment runner maps the same
tasks over a Dask cluster and the sweep runs one PSA per scenario with them. Draw
``i`` depends only on ``(seed, i)``, so the numbers are identical whatever the
chunking, the worker count or the order in which chunks finish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.cohort.engine import cohort_settings, cohort_totals
from sim.decision.icer import icer_table, icers, outcome_matrix
from sim.errors import HtaError
from sim.model.arrays import DEFAULT_MEMORY, resolve_draws
from sim.model.draws import accounted
from sim.model.memory import check_memory
from sim.model.spec import Model
from sim.params.sampling import Draws, Sampler
from sim.params.table import ParameterTable
from sim.results import Result, outcome_column, outcome_columns, outcome_data

__all__ = [
    "Assembly", "PSAChunk", "PSAResult", "assemble", "check_psa_size", "psa_bytes", "psa_chunk", "run_psa", "summarise",
]


def summarise(outcomes: pd.DataFrame, columns=("cost", "qaly", "ly"), level: float = 0.95) -> pd.DataFrame:
    """Mean and percentile interval of outcome columns per strategy.

    Returns
    -------
    DataFrame
        Index ``strategy``; columns ``<col>``, ``<col>_low``, ``<col>_high`` per column.
    """
    a = (1 - level) / 2
    g = outcomes.groupby("strategy", observed=True, sort=False)
    parts = {}
    for col in columns:
        parts[col] = g[col].mean()
        parts[f"{col}_low"] = g[col].quantile(a)
        parts[f"{col}_high"] = g[col].quantile(1 - a)
    return pd.DataFrame(parts)


class PSAResult(Result):
    """What :func:`run_psa` returns.

    Attributes
    ----------
    draws : Draws
        The parameter draws (one row per draw).
    outcomes : DataFrame
        One row per (draw, strategy), the columns of :class:`sim.CohortResult.outcomes`.
        Built on first access: :meth:`icer`, :meth:`matrices`, :meth:`ceac` and
        :meth:`evpi` work on the per-draw arrays directly.
    settings : dict
        Engine settings plus ``n_draws``, ``seed``, ``sampling``.
    """

    __slots__ = ("_cache", "_columns", "_outcomes", "_strategies", "_totals", "draws", "settings")

    def __init__(self, draws: Draws, outcomes: pd.DataFrame, settings: dict):
        self.draws = draws
        self.settings = settings
        self._outcomes = outcomes
        self._totals: np.ndarray | None = None  # (n, K, 2, NR) of a lazily built table
        self._columns: tuple = ()
        self._strategies: list[str] = []
        self._cache: dict = {}

    def __setattr__(self, name: str, value) -> None:
        if name in ("draws", "settings") and hasattr(self, name):
            raise AttributeError(f"PSAResult is immutable: cannot assign to {name!r}")
        object.__setattr__(self, name, value)

    @classmethod
    def _from_totals(cls, draws: Draws, totals: np.ndarray, columns: tuple, strategies, settings: dict) -> PSAResult:
        """A result whose outcome columns are computed from ``totals`` when first asked for."""
        res = cls(draws, None, settings)
        res._totals, res._columns, res._strategies = totals, tuple(columns), list(strategies)
        return res

    @property
    def outcomes(self) -> pd.DataFrame:
        """One row per (draw, strategy); built from the per-draw totals on first access."""
        if self._outcomes is None:
            frame = pd.DataFrame(outcome_data(self._strategies, np.arange(self._totals.shape[0]), self._totals,
                                               self._columns), copy=False)
            frame.attrs["settings"] = self.settings
            self._outcomes = frame
        return self._outcomes

    def _column(self, name: str) -> np.ndarray | None:
        """An outcome column as an array (n_draws, n_strategies), or None to use the table."""
        if self._totals is None:
            return None
        if name not in self._cache:
            try:
                col = outcome_column(self._totals, self._columns, name)
            except KeyError:
                return None
            self._cache[name] = col.reshape(-1, len(self._strategies))
        return self._cache[name]

    def __repr__(self) -> str:
        return (f"PSAResult(model={self.settings.get('model')!r}, n_draws={self.settings.get('n_draws')}, "
                f"strategies={self.settings.get('strategies')})")

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Expected cost, QALYs and life-years per strategy with percentile intervals."""
        return summarise(self.outcomes, level=level)

    def icer(self, effect: str = "qaly") -> pd.DataFrame:
        """ICER table on expected values (means over draws; rules of :func:`sim.icer_table`)."""
        c, e = self._column("cost"), self._column(effect)
        if c is None or e is None:
            return icers(self.outcomes, effect=effect)
        return icer_table(self._strategies, c.mean(axis=0), e.mean(axis=0), effect_name=effect)

    def matrices(self, effect: str = "qaly") -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``(costs, effects, strategies)`` as arrays of shape (n_draws, n_strategies)."""
        c, e = self._column("cost"), self._column(effect)
        if c is not None and e is not None:
            return c, e, list(self._strategies)
        c, names = outcome_matrix(self.outcomes, "cost")
        e, _ = outcome_matrix(self.outcomes, effect)
        return c, e, names


@dataclass(frozen=True)
class PSAChunk:
    """Draws ``lo:hi`` of a PSA: per-draw totals and the parameter values drawn.

    Attributes
    ----------
    lo, hi : int
        The draws computed (``hi - lo`` of them).
    totals : ndarray, shape (hi - lo, n_strategies, 2, n_columns)
        Discounted (index 0) and undiscounted (1) totals per draw, strategy and reward
        column (cost components, then ``qaly`` and ``ly``).
    values : dict of str to ndarray
        The parameter values of the draws, one array of length ``hi - lo`` per table row.
    columns : tuple of str
        The reward columns of ``totals``.
    """

    lo: int
    hi: int
    totals: np.ndarray
    values: dict
    columns: tuple


def _check_psa(model: Model, table: ParameterTable, n, seed, chunk_size, fixed, defaults) -> tuple[str, ...]:
    """Check run_psa's arguments; return the model's parameters taken from its base case."""
    if not isinstance(model, Model):
        raise HtaError(f"run_psa needs a Model, got {type(model).__name__}")
    if not isinstance(table, ParameterTable):
        raise HtaError(f"run_psa needs a ParameterTable, got {type(table).__name__}")
    for name, v, lo in (("n", n, 1), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HtaError(f"run_psa: {name} {v!r} must be a whole number >= {lo}")
    missing = accounted("run_psa", model, table.label, table.names, fixed, defaults)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise HtaError(f"chunk_size {chunk_size!r} must be a whole number >= 1")
    return missing


def _chunk(model: Model, sampler: Sampler, lo: int, hi: int, fixed: Mapping[str, float] | None) -> PSAChunk:
    values = sampler.arrays(lo, hi)
    for k, v in (fixed or {}).items():
        values[k] = np.full(hi - lo, float(v))
    # the caller (run_psa, the experiment loader) has accounted for every parameter
    draws = resolve_draws(model, values, "model", "run_psa")
    totals, _, columns = cohort_totals(model, draws, trace=False, chunk_size=None, memory_limit=DEFAULT_MEMORY)
    return PSAChunk(lo, hi, totals, values, tuple(columns))


def psa_chunk(model: Model, table: ParameterTable, n: int, seed: int, method: str, lo: int, hi: int,
              fixed: Mapping[str, float] | None = None) -> PSAChunk:
    """Draws ``lo:hi`` of an ``n``-draw PSA of ``table`` through the cohort engine (a pure task).

    ``fixed`` values replace sampled columns after sampling, so every other
    parameter's draws are those of the PSA without them (common random numbers).

    Returns
    -------
    PSAChunk
    """
    return _chunk(model, table.sampler(n, seed, method), lo, hi, fixed)


def psa_bytes(model: Model, table: ParameterTable, n: int) -> int:
    """Estimated bytes of an ``n``-draw PSA's result: totals, outcome table and parameter draws.

    Returns
    -------
    int
    """
    K, comps = len(model.strategies), list(model.costs)
    per_draw = 8 * (K * 2 * (len(comps) + 2) + K * (len(outcome_columns(comps)) + 2) + len(table.names)) + 1
    return int(n) * per_draw


def check_psa_size(model: Model, table: ParameterTable, n: int, memory_limit: str | float | None = None) -> None:
    """Refuse an ``n``-draw PSA whose result would exceed the memory limit (call before mapping chunks).

    Parameters
    ----------
    model, table, n, memory_limit
        As for :func:`run_psa`.
    """
    check_memory(psa_bytes(model, table, n), f"a PSA of {n:,} draws x {len(model.strategies)} strategies",
                 memory_limit)


class Assembly:
    """Puts PSA chunks into one result as they arrive, in any order, keeping no chunk.

    Memory holds the result's arrays only (per-draw totals and parameter values), so
    a PSA of any size needs one chunk's working memory on top of its result.

    Parameters
    ----------
    model, table, n, seed, method, memory_limit
        As for :func:`run_psa`; the result's size is checked against the memory limit
        (:func:`sim.model.memory.check_memory`) before anything is allocated.
    """

    def __init__(self, model: Model, table: ParameterTable, n: int, seed: int, method: str,
                 memory_limit: str | float | None = None):
        check_psa_size(model, table, n, memory_limit)
        self.model, self.table, self.n, self.seed, self.method = model, table, n, seed, method
        self.totals: np.ndarray | None = None
        self.columns: tuple = ()
        self.grid = np.empty((n, len(table.names)), order="F")  # one block of draws, a column per parameter
        self.covered = np.zeros(n, dtype=bool)

    def add(self, chunk: PSAChunk) -> None:
        """Store one chunk's totals and parameter values."""
        if self.covered[chunk.lo:chunk.hi].any() or chunk.hi > self.n:
            raise HtaError(f"PSA chunk {chunk.lo}..{chunk.hi - 1} overlaps another or lies outside 0..{self.n - 1}")
        if self.totals is None:
            if chunk.lo == 0 and chunk.hi == self.n:  # one chunk: its totals are the result's (no copy)
                self.totals = chunk.totals
            else:
                self.totals = np.empty((self.n, len(self.model.strategies)) + chunk.totals.shape[2:])
            self.columns = chunk.columns
        if self.totals is not chunk.totals:
            self.totals[chunk.lo:chunk.hi] = chunk.totals
        for j, name in enumerate(self.table.names):
            self.grid[chunk.lo:chunk.hi, j] = chunk.values[name]
        self.covered[chunk.lo:chunk.hi] = True

    def result(self) -> PSAResult:
        """The :class:`PSAResult`, once every draw has arrived."""
        if self.totals is None or not self.covered.all():
            missing = int(np.flatnonzero(~self.covered)[0]) if self.n else 0
            raise HtaError(f"PSA chunks do not cover draws 0..{self.n - 1}: draw {missing} is missing")
        settings = cohort_settings(self.model, self.n, self.seed)
        settings.update({"sampling": self.method, "parameter_table": self.table.label})
        frame = pd.DataFrame(self.grid, columns=self.table.names, copy=False)
        draws = Draws(frame, np.arange(self.n), self.seed, self.method)
        return PSAResult._from_totals(draws, self.totals, self.columns, self.model.strategies, settings)


def assemble(model: Model, table: ParameterTable, n: int, seed: int, method: str,
             chunks: Sequence[PSAChunk]) -> PSAResult:
    """The :class:`PSAResult` of chunks that together cover draws ``0..n-1`` (in any order).

    Returns
    -------
    PSAResult
    """
    acc = Assembly(model, table, n, seed, method)
    for ch in chunks:
        acc.add(ch)
    return acc.result()


def run_psa(model: Model, table: ParameterTable, n: int, seed: int, *, method: str = "mc",
            chunk_size: int = 10_000, progress: bool = False,
            fixed: Mapping[str, float] | None = None, memory_limit: str | float | None = None,
            defaults: str | None = None) -> PSAResult:
    """Probabilistic sensitivity analysis: ``n`` draws of ``table`` through the cohort engine.

    Parameters
    ----------
    model : Model
        The model; every parameter of the table must be one of its parameters.
    table : ParameterTable
        Base case, distributions and correlations of the parameters: every parameter of
        the model (a missing one is an error unless ``defaults="model"``).
    n, seed : int
        Number of draws and the seed; draw ``i`` depends only on ``(seed, i)``
        (Latin hypercube: also on ``n``).
    method : {"mc", "lhs", "sobol"}
        Sampling: Monte Carlo, Latin hypercube or scrambled Sobol.
    chunk_size : int
        Draws sampled and run at once; results do not depend on it.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    fixed : mapping of str to float, optional
        Parameters held at a value (their sampled columns replaced, the other draws unchanged).
    memory_limit : str or float, optional
        Bytes the result may take (``"32GiB"``); default the environment variable
        ``HTA_SIM_MEMORY_LIMIT``, else half the physical memory. A larger PSA is an error
        before anything is allocated.
    defaults : {None, "model"}
        ``"model"``: parameters of the model that neither ``table`` nor ``fixed`` gives
        keep the model's base-case values (no uncertainty), listed in
        ``settings["defaulted_parameters"]``; None (default) makes them an error.

    Returns
    -------
    PSAResult
    """
    defaulted = _check_psa(model, table, n, seed, chunk_size, fixed, defaults)
    acc = Assembly(model, table, n, seed, method, memory_limit)
    sampler = table.sampler(n, seed, method)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="draw", desc=f"PSA {model.name}")
    try:
        for lo in range(0, n, chunk_size):
            hi = min(n, lo + chunk_size)
            acc.add(_chunk(model, sampler, lo, hi, fixed))  # per-draw totals only: memory does not grow
            if bar is not None:
                bar.update(hi - lo)
    finally:
        if bar is not None:
            bar.close()
    res = acc.result()
    if defaulted:
        res.settings["defaulted_parameters"] = list(defaulted)
    return res
