"""Probabilistic sensitivity analysis with the cohort engine, in chunks of draws.

:func:`run_psa` samples a parameter table chunk by chunk, runs the cohort engine
on each chunk and keeps only per-draw totals, so memory stays bounded whatever
the number of draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.cohort.engine import DEFAULT_MEMORY, _outcome_column, _outcome_data, _settings, _totals, resolve_draws
from sim.decision.core import ceac, icer_table, icers, outcome_matrix
from sim.errors import HtaError
from sim.model.spec import Model
from sim.params.table import Draws, ParameterTable
from sim.decision.voi import evpi

__all__ = ["run_psa", "PSAResult", "summarise"]


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


class PSAResult:
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
        if self._outcomes is None:
            frame = pd.DataFrame(_outcome_data(self._strategies, np.arange(self._totals.shape[0]), self._totals,
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
                col = _outcome_column(self._totals, self._columns, name)
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

    def ceac(self, wtp, effect: str = "qaly") -> pd.DataFrame:
        """Cost-effectiveness acceptability curves (see :func:`sim.ceac`)."""
        c, e, names = self.matrices(effect)
        return ceac(c, e, wtp, names)

    def evpi(self, wtp, effect: str = "qaly") -> pd.DataFrame:
        """Expected value of perfect information (see :func:`sim.evpi`)."""
        c, e, _ = self.matrices(effect)
        return evpi(c, e, wtp)


def run_psa(model: Model, table: ParameterTable, n: int, seed: int, *, method: str = "mc",
            chunk_size: int = 10_000, progress: bool = False) -> PSAResult:
    """Probabilistic sensitivity analysis: ``n`` draws of ``table`` through the cohort engine.

    Parameters
    ----------
    model : Model
    table : ParameterTable
        Every parameter of the table must be a model parameter.
    n, seed : int
        Number of draws and the seed; draw ``i`` depends only on ``(seed, i)``
        (Latin hypercube: also on ``n``).
    method : {"mc", "lhs", "sobol"}
    chunk_size : int
        Draws sampled and run at once; results do not depend on it.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    """
    if not isinstance(table, ParameterTable):
        raise HtaError(f"run_psa needs a ParameterTable, got {type(table).__name__}")
    unknown = [p for p in table.names if p not in model.parameters]
    if unknown:
        raise HtaError(f"{table.label}: parameter {unknown[0]!r} is not a parameter of model {model.name!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise HtaError(f"chunk_size {chunk_size!r} must be a whole number >= 1")
    sampler = table.sampler(n, seed, method)
    K = len(model.strategies)
    grid = np.empty((n, len(table.names)), order="F")  # one block of draws, a column per parameter
    draw_cols = {name: grid[:, j] for j, name in enumerate(table.names)}
    totals = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="draw", desc=f"PSA {model.name}")
    try:
        for lo in range(0, n, chunk_size):
            hi = min(n, lo + chunk_size)
            values = sampler.arrays(lo, hi)
            for name in table.names:
                draw_cols[name][lo:hi] = values[name]
            tot, _, columns = _totals(model, resolve_draws(model, values), trace=False, chunk_size=None,
                                      memory_limit=DEFAULT_MEMORY)
            if totals is None:  # per-draw totals only: memory does not grow with the horizon
                totals = np.empty((n, K) + tot.shape[2:])
            totals[lo:hi] = tot
            if bar is not None:
                bar.update(hi - lo)
    finally:
        if bar is not None:
            bar.close()
    settings = _settings(model, n, seed)
    settings.update({"n_draws": n, "seed": seed, "sampling": method, "parameter_table": table.label})
    draws = Draws(pd.DataFrame(grid, columns=table.names, copy=False), np.arange(n), seed, method)
    return PSAResult._from_totals(draws, totals, columns, model.strategies, settings)
