"""Probabilistic sensitivity analysis and the model-run protocol for partitioned survival models.

:func:`run_psm_psa` samples a parameter table with the cohort PSA's rules (draw ``i``
depends only on ``(seed, i)``; the chunk size changes nothing) and runs the draws
through :func:`~sim.psm.engine.run_psm`'s totals. :class:`PSMRun` is the engine as a
:class:`sim.decision.run.ModelRun`, for DSA, thresholds and value-based price.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from sim.decision.run import SpecRun
from sim.errors import HtaError
from sim.model.draws import accounted, resolve_draws
from sim.params.sampling import Draws
from sim.params.table import ParameterTable
from sim.psm.engine import PSMResult, merge_crossings, psm_settings, psm_totals, run_psm, warn_crossings
from sim.psm.spec import PartitionedSurvival
from sim.results import outcome_data

__all__ = ["run_psm_psa", "PSMRun", "PSMChunk", "psm_chunk", "assemble_psm"]


@dataclass(frozen=True)
class PSMChunk:
    """Draws ``lo:hi`` of a PSA: per-draw totals, the parameter values drawn and the crossings.

    Attributes
    ----------
    lo, hi : int
        The draws computed.
    totals : ndarray, shape (hi - lo, n_strategies, 2, n_columns)
        Discounted (index 0) and undiscounted (1) totals per draw, strategy and reward column.
    values : dict of str to ndarray
        The sampled parameter values (before ``fixed`` replaced any).
    columns : tuple of str
        The reward columns of ``totals``.
    crossings : list of dict
        Crossing records of these draws.
    """

    lo: int
    hi: int
    totals: np.ndarray
    values: dict
    columns: tuple
    crossings: list


def _check(model, table, chunk_size, fixed, defaults) -> tuple[str, ...]:
    """Check run_psm_psa's arguments (parameters accounted for as in run_psa); return those defaulted."""
    if not isinstance(model, PartitionedSurvival):
        raise HtaError(f"run_psm_psa needs a PartitionedSurvival model, got {type(model).__name__}")
    if not isinstance(table, ParameterTable):
        raise HtaError(f"run_psm_psa needs a ParameterTable, got {type(table).__name__}")
    missing = accounted("run_psm_psa", model, table.label, table.names, fixed, defaults)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise HtaError(f"chunk_size {chunk_size!r} must be a whole number >= 1")
    return missing


def _chunk(model, sampler, seed, lo: int, hi: int, fixed) -> PSMChunk:
    values = sampler.arrays(lo, hi)
    run_values = dict(values)
    for k, v in (fixed or {}).items():
        run_values[k] = np.full(hi - lo, float(v))
    draws = dataclasses.replace(resolve_draws(model, run_values), ids=np.arange(lo, hi), seed=seed)
    totals, _, columns, crossings = psm_totals(model, draws, 0, hi - lo)
    return PSMChunk(lo, hi, totals, values, tuple(columns), crossings)


def psm_chunk(model: PartitionedSurvival, table: ParameterTable, n: int, seed: int, method: str, lo: int, hi: int,
              fixed: Mapping[str, float] | None = None) -> PSMChunk:
    """Draws ``lo:hi`` of an ``n``-draw PSA of ``table`` (a pure task, as :func:`sim.cohort.psa.psa_chunk`).

    Returns
    -------
    PSMChunk
    """
    _check(model, table, 1, fixed, "model")  # the caller (an experiment's loader) accounted for every parameter
    return _chunk(model, table.sampler(n, seed, method), seed, lo, hi, fixed)


def assemble_psm(model: PartitionedSurvival, table: ParameterTable, n: int, seed: int, method: str,
                 chunks) -> PSMResult:
    """The PSA result of chunks that together cover draws ``0..n-1`` (in any order).

    Returns
    -------
    PSMResult
    """
    covered = np.zeros(n, dtype=bool)
    grid = np.empty((n, len(table.names)))
    totals, columns, records = None, (), []
    for ch in chunks:
        if ch.hi > n or covered[ch.lo:ch.hi].any():
            raise HtaError(f"PSA chunk {ch.lo}..{ch.hi - 1} overlaps another or lies outside 0..{n - 1}")
        if totals is None:
            totals = np.empty((n,) + ch.totals.shape[1:])
            columns = ch.columns
        totals[ch.lo:ch.hi] = ch.totals
        for j, name in enumerate(table.names):
            grid[ch.lo:ch.hi, j] = ch.values[name]
        covered[ch.lo:ch.hi] = True
        records += ch.crossings
    if totals is None or not covered.all():
        missing = int(np.flatnonzero(~covered)[0]) if n else 0
        raise HtaError(f"PSA chunks do not cover draws 0..{n - 1}: draw {missing} is missing")
    settings = psm_settings(model, n, seed, merge_crossings(records))
    settings.update({"sampling": method, "parameter_table": table.label})
    outcomes = pd.DataFrame(outcome_data(model.strategies, np.arange(n), totals, columns), copy=False)
    outcomes.attrs["settings"] = settings
    warn_crossings(settings)
    draws = Draws(pd.DataFrame(grid, columns=table.names), np.arange(n), seed, method)
    return PSMResult(outcomes=outcomes, settings=settings, draws=draws)


def run_psm_psa(model: PartitionedSurvival, table: ParameterTable, n: int, seed: int, *, method: str = "mc",
                chunk_size: int = 4096, fixed: Mapping[str, float] | None = None,
                defaults: str | None = None) -> PSMResult:
    """Probabilistic sensitivity analysis: ``n`` draws of ``table`` through the partitioned survival engine.

    Parameters
    ----------
    model : PartitionedSurvival
        The model; every parameter of the table must be one of its parameters.
    table : ParameterTable
        Base case, distributions and correlations (e.g. a fit's coefficients as a
        multivariate normal, :func:`sim.survival.parameter_rows`).
    n, seed : int
        Number of draws and the seed (the rules of :func:`sim.run_psa`).
    method : {"mc", "lhs", "sobol"}
        Sampling method.
    chunk_size : int
        Draws sampled and run at once; results do not depend on it.
    fixed : mapping of str to float, optional
        Parameters held at a value (their sampled columns replaced; ``draws`` keeps the sampled values).
    defaults : {None, "model"}
        As for :func:`sim.run_psa`: parameters of the model that neither the table nor ``fixed``
        gives are an error unless ``"model"`` (they keep the base case; listed in
        ``settings["defaulted_parameters"]``).

    Returns
    -------
    PSMResult
        Outcomes per (draw, strategy), ``draws`` (the parameter values) and settings
        (with ``sampling``, ``parameter_table``, ``crossings`` over all draws).
    """
    defaulted = _check(model, table, chunk_size, fixed, defaults)
    sampler = table.sampler(n, seed, method)
    chunks = [_chunk(model, sampler, seed, lo, min(n, lo + chunk_size), fixed) for lo in range(0, n, chunk_size)]
    res = assemble_psm(model, table, n, seed, method, chunks)
    if defaulted:
        res.settings["defaulted_parameters"] = list(defaulted)
    return res


@dataclass(frozen=True)
class PSMRun(SpecRun):
    """A partitioned survival model, run by :func:`~sim.psm.run_psm` on sets of parameter values.

    Parameters
    ----------
    model : PartitionedSurvival
        The model; its ``parameters`` are the base case.
    """

    KIND: ClassVar[type] = PartitionedSurvival
    KIND_NAME: ClassVar[str] = "PartitionedSurvival model"

    def run(self, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Outcomes of the parameter sets ``values`` (see :class:`sim.decision.run.ModelRun`)."""
        return run_psm(self.model, dict(values)).outcomes
