"""One-way sensitivity analysis of a patient-level experiment (``[one_way]`` with ``[patients]``).

Each parameter set (the base case, then each parameter at its low and high value) is
one simulation of ``[patients] n`` patients whose random numbers (and population) are
keyed by ``(seed, draw 0)``: the base case's patients, the same in every set (common
random numbers), so that the differences between sets come from the parameter, not
from the draw of patients. Their Monte Carlo noise does not cancel entirely (a changed
parameter changes which random numbers later events use, and ``n`` patients are a
sample), so for an INMB outcome the run keeps each patient's INMB in every set and
estimates the Monte Carlo standard error of each set's change from the base case,
paired by patient (:meth:`ExperimentPatientRun.change_se`); the tornado draws two of
them as whiskers at each bar's end and the report warns (``docs/experiments.md``,
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

__all__ = ["ExperimentPatientRun", "patient_inmb", "set_task"]


def set_task(ref: str, settings: Mapping[str, float], sets: list[dict], first: int, n: int, seed: int,
             inmb: tuple | None = None):
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
    inmb : (wtp, strategy, comparator, effect), optional
        Also return each patient's incremental net monetary benefit in each set.

    Returns
    -------
    DataFrame, or (DataFrame, ndarray)
        ``draw, strategy`` and :data:`sim.patient.psa.MEAN_COLUMNS`; with ``inmb``, also the
        per-patient INMB, shape ``(len(sets), patients)`` (patients in order of their index).
    """
    from sim.experiment.patient_run import simulate_draw
    from sim.patient.psa import MEAN_COLUMNS, strategy_means

    mod = importlib.import_module(ref)
    parts, per = [], []
    for i, v in enumerate(sets):
        out = simulate_draw(mod, v, settings, 0, n, seed)[0]
        parts.append(strategy_means(out, first + i)[["draw", "strategy", *MEAN_COLUMNS]])
        if inmb is not None:
            per.append(patient_inmb(out, *inmb))
    means = pd.concat(parts, ignore_index=True)
    return means if inmb is None else (means, np.vstack(per))


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
    inmb : (wtp, strategy, comparator, effect), optional
        Keep each patient's incremental net monetary benefit in each set (:attr:`per_patient`),
        for the Monte Carlo error of each set's change from the base case (:meth:`change_se`).
    """

    def __init__(self, loaded, ex, chunk: int = 4, inmb: tuple | None = None):
        self.ld, self.ex, self.chunk, self.inmb = loaded, ex, max(1, int(chunk)), inmb
        self.per_patient: np.ndarray | None = None
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
        args = [(self.ld.ref, self.settings, sets[lo:lo + self.chunk], lo, self.n, self.seed, self.inmb)
                for lo in range(0, n, self.chunk)]
        res = self.ex.map(set_task, args, desc=f"one-way {self.name}", unit="chunk")
        if self.inmb is not None:
            res, per = [r[0] for r in res], [r[1] for r in res]
            self.per_patient = np.vstack(per)
        out = pd.concat(res, ignore_index=True)
        out["strategy"] = pd.Categorical(out["strategy"].astype(str), categories=list(self.strategies))
        return out.sort_values(["draw", "strategy"], kind="stable").reset_index(drop=True)


    def change_se(self) -> np.ndarray:
        """Monte Carlo standard error of each set's mean INMB minus the base set's (set 0), paired by patient.

        Returns
        -------
        ndarray
            ``sd_i(inmb_i(set) - inmb_i(base)) / sqrt(n)`` per set (0 for the base set); the
            noise of a tornado bar's length that another sample of ``n`` patients would change.
        """
        if self.per_patient is None:
            raise HtaError("change_se: run the sets with inmb= first")
        d = self.per_patient - self.per_patient[0]
        return d.std(axis=1, ddof=1) / np.sqrt(d.shape[1]) if d.shape[1] > 1 else np.full(len(d), np.nan)


def patient_inmb(out: pd.DataFrame, wtp: float, strategy: str, comparator: str, effect: str) -> np.ndarray:
    """Each patient's incremental net monetary benefit ``wtp * dE_i - dC_i`` of ``strategy`` vs ``comparator``.

    Parameters
    ----------
    out : DataFrame
        Per-patient outcomes of one run (``patient, strategy, cost`` and ``effect``); every patient in
        every strategy (common random numbers pair them).
    wtp : float
        Willingness to pay per unit of effect.
    strategy, comparator : str
        The comparison.
    effect : str
        The effect column.

    Returns
    -------
    ndarray
        One value per patient, in order of the patient index.
    """
    s = out["strategy"].astype(str)
    a = out[s == strategy].set_index("patient").sort_index()
    b = out[s == comparator].set_index("patient").reindex(a.index)
    return (wtp * (a[effect] - b[effect]) - (a["cost"] - b["cost"])).to_numpy(dtype=float)
