"""The patient-level engine as a model run (:class:`sim.decision.run.ModelRun`) for DSA and thresholds.

:class:`PatientRun` wraps a function that builds each strategy's pathway from
parameter values. Every parameter set runs the same patients with the same random
numbers (one ``seed``, outer draw 0: common random numbers), so the differences
between sets come from the parameters alone, not from Monte Carlo noise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest
from sim.patient.engine import BATCH_SIZE, check_run
from sim.patient.psa import MEAN_COLUMNS, build_pathways, simulate, strategy_means
from sim.patient.resources import Arrivals

__all__ = ["PatientRun"]


@dataclass(frozen=True, eq=False)
class PatientRun:
    """A patient-level model, run by :func:`~sim.patient.run_pathway` on sets of parameter values.

    Parameters
    ----------
    build : callable
        ``build(params) -> {strategy: Pathway}`` for a dict of parameter values, or
        ``{strategy: ManagedPathway}`` (then each set runs
        :func:`~sim.patient.run_managed`, as in :func:`~sim.patient.run_patient_psa`).
    parameters : mapping of str to float
        Base-case parameter values: the parameters that may be varied.
    n_patients : int or None
        Patients per parameter set (None: ``len(population)``).
    seed : int
        Seed of the patients' random numbers, the same for every set.
    population : DataFrame, optional
        Patient attributes.
    name : str
        The model's name (for labels and error messages).
    arrivals : Arrivals, optional
        Patients' entry over calendar time (managed strategies only).
    batch_size : int
        Patients per SimPy environment (results do not depend on it).
    """

    build: Callable[[dict], Mapping]
    parameters: Mapping[str, float]
    n_patients: int | None
    seed: int
    population: pd.DataFrame | None = None
    name: str = "patient-level model"
    arrivals: Arrivals | None = None
    batch_size: int = BATCH_SIZE

    def __post_init__(self):
        if not callable(self.build):
            raise HtaError("PatientRun: build must be a function params -> {strategy: Pathway or ManagedPathway}")
        if not isinstance(self.parameters, Mapping):
            raise HtaError(f"PatientRun: parameters must be a mapping name -> base-case value, "
                           f"got {type(self.parameters).__name__}")
        for k, v in self.parameters.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v):
                raise HtaError(f"PatientRun: base-case value of parameter {k!r} is {v!r}; it must be a finite number")
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        check_run(self.n_patients, self.population, self.seed, 0, self.batch_size)
        if self.arrivals is not None and not isinstance(self.arrivals, Arrivals):
            raise HtaError(f"PatientRun: arrivals must be an Arrivals or None, got {type(self.arrivals).__name__}")

    @functools.cached_property
    def strategies(self) -> tuple[str, ...]:
        """The strategies ``build`` returns for the base case, in order."""
        built = build_pathways(self.build, dict(self.parameters), f"PatientRun {self.name!r}", "the base case")
        if not isinstance(built, Mapping) or not built:
            raise HtaError(f"PatientRun: build must return a non-empty dict of strategy -> Pathway or "
                           f"ManagedPathway, got {type(built).__name__}")
        return tuple(str(s) for s in built)

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        """``cost, qaly, ly`` and their undiscounted versions (means over the patients)."""
        return MEAN_COLUMNS

    def _sets(self, values: Mapping[str, np.ndarray]) -> list[dict]:
        """The parameter sets: base-case values with ``values`` put in, one dict per set."""
        arrays = {}
        for k, v in values.items():
            if k not in self.parameters:
                names = list(self.parameters)
                raise HtaError(f"PatientRun {self.name!r}: unknown parameter {k!r}{suggest(k, names)}; "
                               f"parameters are {', '.join(names) or 'none'}")
            a = np.asarray(v, dtype=float)
            if a.ndim != 1 or len(a) == 0:
                raise HtaError(f"PatientRun {self.name!r}: values of {k!r} must be a non-empty 1-D array, "
                               f"got shape {a.shape}")
            arrays[k] = a
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            raise HtaError(f"PatientRun {self.name!r}: every parameter needs the same number of values, got "
                           + ", ".join(f"{k}: {len(a)}" for k, a in arrays.items()))
        n = lengths.pop() if lengths else 1
        return [{**self.parameters, **{k: float(a[i]) for k, a in arrays.items()}} for i in range(n)]

    def run(self, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Outcomes of the parameter sets ``values`` (see :class:`sim.decision.run.ModelRun`).

        Parameters
        ----------
        values : mapping of str to ndarray
            Each varied parameter's values, one array of length ``n`` (the same for
            all); every other parameter keeps its base-case value. An empty mapping
            runs the base case once.

        Returns
        -------
        DataFrame
            One row per (set, strategy), set-major and strategies in order: ``draw``
            (the set, ``0..n-1``), ``strategy`` (categorical) and :attr:`outcome_columns`
            (means over the patients; every set runs the same patients and random numbers).
        """
        parts = []
        n_patients = self.n_patients if self.population is None else None
        for i, params in enumerate(self._sets(values)):
            built = build_pathways(self.build, params, f"PatientRun {self.name!r}", f"set {i}")
            if isinstance(built, Mapping) and tuple(str(s) for s in built) != self.strategies:
                raise HtaError(f"PatientRun {self.name!r}: build returned strategies {', '.join(map(str, built))} "
                               f"for set {i}, but {', '.join(self.strategies)} for the base case; keep them the same")
            out = simulate(built, n_patients, self.seed, self.population, 0, self.batch_size, self.arrivals,
                           who=f"PatientRun {self.name!r}")
            parts.append(strategy_means(out, i)[["draw", "strategy", *MEAN_COLUMNS]])
        out = pd.concat(parts, ignore_index=True)
        out["strategy"] = pd.Categorical(out["strategy"].astype(str), categories=list(self.strategies))
        return out
