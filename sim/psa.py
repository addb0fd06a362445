"""Probabilistic sensitivity analysis with the cohort engine, in chunks of draws.

:func:`run_psa` samples a parameter table chunk by chunk, runs the cohort engine
on each chunk and keeps only per-draw totals, so memory stays bounded whatever
the number of draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cohort.engine import DEFAULT_MEMORY, _Draws, _result, _totals, resolve_draws
from .decision import ceac, icers, outcome_matrix
from .errors import HtaError
from .model import Model
from .params import Draws, ParameterTable
from .voi import evpi

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


@dataclass(frozen=True)
class PSAResult:
    """What :func:`run_psa` returns.

    Attributes
    ----------
    draws : Draws
        The parameter draws (one row per draw).
    outcomes : DataFrame
        One row per (draw, strategy), the columns of :class:`sim.CohortResult.outcomes`.
    settings : dict
        Engine settings plus ``n_draws``, ``seed``, ``sampling``.
    """

    draws: Draws
    outcomes: pd.DataFrame
    settings: dict

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Expected cost, QALYs and life-years per strategy with percentile intervals."""
        return summarise(self.outcomes, level=level)

    def icer(self, effect: str = "qaly") -> pd.DataFrame:
        """ICER table on expected values."""
        return icers(self.outcomes, effect=effect)

    def matrices(self, effect: str = "qaly") -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``(costs, effects, strategies)`` as arrays of shape (n_draws, n_strategies)."""
        c, names = outcome_matrix(self.outcomes, "cost")
        e, _ = outcome_matrix(self.outcomes, effect)
        return c, e, names

    def ceac(self, wtp, effect: str = "qaly") -> pd.DataFrame:
        c, e, names = self.matrices(effect)
        return ceac(c, e, wtp, names)

    def evpi(self, wtp, effect: str = "qaly") -> pd.DataFrame:
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
    draw_cols = {name: np.empty(n) for name in table.names}
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
    result = _result(model, _Draws(ids=np.arange(n), arrays={}, fixed={}, seed=seed), totals, None, columns)
    outcomes = result.outcomes
    settings = dict(result.settings)
    settings.update({"n_draws": n, "seed": seed, "sampling": method, "parameter_table": table.label})
    outcomes.attrs["settings"] = settings
    draws = Draws(pd.DataFrame(draw_cols, columns=table.names, copy=False), np.arange(n), seed, method)
    return PSAResult(draws=draws, outcomes=outcomes, settings=settings)
