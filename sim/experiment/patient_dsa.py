"""One-way sensitivity analysis of a patient-level experiment (``[one_way]`` with ``[patients]``).

Each parameter set (the base case, then each parameter at its low and high value) is
one simulation of ``[patients] n`` patients whose random numbers (and population) are
keyed by ``(seed, draw 0)``: the base case's patients, the same in every set (common
random numbers), so that the differences between sets come from the parameter, not
from the draw of patients. Their Monte Carlo noise does not cancel entirely (a changed
parameter changes which random numbers later events use), so the run also estimates
the Monte Carlo standard error of the outcome at the base case and the report warns
that a bar shorter than about two of them is within noise (``docs/experiments.md``,
*Patient-level models*). The sets are tasks of the run's executor: serial or on Dask,
the same numbers.

Two-way and threshold analyses stay refused for patient-level files: a grid is
``nx * ny`` simulations, and a threshold's bisection needs an outcome that is a smooth,
monotone function of the parameter, which a noisy simulation is not (a threshold would
move with the seed); a ``[sweep]`` over the parameter (one PSA per value) answers both
questions with its noise stated.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest

__all__ = ["ExperimentPatientRun", "inmb_mc_se", "set_task"]


def set_task(ref: str, settings: Mapping[str, float], sets: list[dict], first: int, n: int,
             seed: int) -> pd.DataFrame:
    """Means per strategy of parameter sets ``first, first + 1, ...``, each on the base case's patients (a pure task).

    Parameters
    ----------
    ref : str
        The model's module (imported on the worker).
    settings : mapping of str to float
        The model settings.
    sets : list of dict
        Every parameter's value, one dict per set.
    first : int
        Index of the first set (its ``draw`` in the result).
    n, seed : int
        Patients per set and seed (every set uses draw 0's random numbers).

    Returns
    -------
    DataFrame
        ``draw, strategy`` and :data:`sim.patient.psa.MEAN_COLUMNS`.
    """
    from sim.experiment.patient_run import simulate_draw
    from sim.patient.psa import MEAN_COLUMNS, strategy_means

    mod = importlib.import_module(ref)
    parts = [strategy_means(simulate_draw(mod, v, settings, 0, n, seed)[0], first + i)[["draw", "strategy",
                                                                                      *MEAN_COLUMNS]]
             for i, v in enumerate(sets)]
    return pd.concat(parts, ignore_index=True)


class ExperimentPatientRun:
    """A patient-level experiment's model as a model run (:class:`sim.decision.run.ModelRun`) for the one-way DSA.

    Parameters
    ----------
    loaded : PatientLoaded
        The loaded experiment (module, table, settings, ``[scenario]`` parameters).
    ex : Executor
        Runs the parameter sets (chunks of ``chunk`` sets per task).
    chunk : int
        Parameter sets per task (the numbers do not depend on it).
    """

    def __init__(self, loaded, ex, chunk: int = 4):
        self.ld, self.ex, self.chunk = loaded, ex, max(1, int(chunk))
        self.settings, fixed = loaded.split()
        self.parameters = {**loaded.table.base, **fixed}
        self.name = loaded.experiment.model
        self.n, self.seed = loaded.experiment.patients, loaded.experiment.seed

    @functools.cached_property
    def strategies(self) -> tuple[str, ...]:
        """The strategies the model builds at the base case, in order."""
        built = self.ld.module.build(dict(self.parameters), **self.settings)
        return tuple(str(s) for s in built)

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        """``cost, qaly, ly`` and their undiscounted versions (means over the patients)."""
        from sim.patient.psa import MEAN_COLUMNS

        return MEAN_COLUMNS

    def run(self, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Outcomes of the parameter sets ``values`` (see :class:`sim.decision.run.ModelRun`).

        Parameters
        ----------
        values : mapping of str to ndarray
            Each varied parameter's values, one array of length ``n`` (the same for all).

        Returns
        -------
        DataFrame
            One row per (set, strategy): ``draw`` (the set), ``strategy`` and :attr:`outcome_columns`.
        """
        names = list(self.parameters)
        for k in values:
            if k not in self.parameters:
                raise HtaError(f"{self.name}: unknown parameter {k!r}{suggest(k, names)}")
        arrays = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in values.items()}
        n = len(next(iter(arrays.values()))) if arrays else 1
        sets = [{**self.parameters, **{k: float(a[i]) for k, a in arrays.items()}} for i in range(n)]
        args = [(self.ld.ref, self.settings, sets[lo:lo + self.chunk], lo, self.n, self.seed)
                for lo in range(0, n, self.chunk)]
        out = pd.concat(self.ex.map(set_task, args, desc=f"one-way {self.name}", unit="chunk"), ignore_index=True)
        out["strategy"] = pd.Categorical(out["strategy"].astype(str), categories=list(self.strategies))
        return out.sort_values(["draw", "strategy"], kind="stable").reset_index(drop=True)


def inmb_mc_se(out: pd.DataFrame, strategy: str, comparator: str, wtp: float, effect: str) -> float:
    """Monte Carlo standard error of a mean incremental net monetary benefit over simulated patients.

    Parameters
    ----------
    out : DataFrame
        Per-patient outcomes of one run (``patient, strategy, cost`` and ``effect``), every
        patient in every strategy (common random numbers: the increments are paired).
    strategy, comparator : str
        The comparison.
    wtp : float
        Willingness to pay per unit of effect.
    effect : str
        The effect column.

    Returns
    -------
    float
        ``sd(wtp * dE_i - dC_i) / sqrt(n)`` over the patients ``i`` (patients who share a
        queue are not independent: an approximation).
    """
    s = out["strategy"].astype(str)
    a = out[s == strategy].set_index("patient")
    b = out[s == comparator].set_index("patient")
    d = (wtp * (a[effect] - b[effect]) - (a["cost"] - b["cost"])).dropna().to_numpy(dtype=float)
    return float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
