"""What analyses that rerun a model need of it: the model-run protocol, and its checks.

Deterministic sensitivity analysis, thresholds and value-based price vary parameter
values and rerun the model. Decision analysis imports no engine, so these analyses
take a *model run*: any object with the attributes and the method below. Each engine
provides one (:class:`sim.cohort.CohortRun` for a cohort model,
:class:`sim.patient.PatientRun` for a patient-level one); an outside model (a
spreadsheet, another program) needs only the same few names.

The helpers below check the arguments that name a run's parameters, strategies
and outcome columns, and run sets of parameter values (used by
:mod:`sim.decision.dsa` and :mod:`sim.decision.thresholds`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from sim.errors import HtaError, finite_number, suggest
from sim.results import outcome_columns

__all__ = ["ModelRun", "check_run", "check_parameter", "check_wtp", "check_effect", "pick_strategies", "run_sets",
           "wide"]


@runtime_checkable
class ModelRun(Protocol):
    """A model that can be run on sets of parameter values.

    Attributes
    ----------
    name : str
        The model's name (for labels and error messages).
    strategies : sequence of str
        Strategies, in the order of the outcome rows.
    parameters : mapping of str to float
        Base-case parameter values: the parameters that may be varied.
    outcome_columns : sequence of str
        Numeric columns of the outcomes table (``cost``, ``qaly``, ``ly``, ...).
    """

    name: str
    strategies: Sequence[str]
    parameters: Mapping[str, float]
    outcome_columns: Sequence[str]

    def run(self, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Outcomes of ``n`` parameter sets.

        Parameters
        ----------
        values : mapping of str to ndarray
            Each varied parameter's values, one array of length ``n`` (the same for
            all); every other parameter keeps its base-case value. An empty mapping
            runs the base case once (``n = 1``).

        Returns
        -------
        DataFrame
            One row per (set, strategy), set-major and strategies in order: ``draw``
            (the set, ``0..n-1``), ``strategy`` and the :attr:`outcome_columns`.
        """
        ...


def check_run(run: Any, who: str) -> ModelRun:
    """``run`` if it is a model run, else an :class:`HtaError` that says how to make one.

    Parameters
    ----------
    run : object
        The first argument of an analysis.
    who : str
        The analysis, for the message (``"one_way"``).

    Returns
    -------
    ModelRun
        ``run`` itself.
    """
    if isinstance(run, ModelRun):
        return run
    kind = type(run).__name__
    hint = (" wrap it: sim.cohort.CohortRun(model)" if kind == "Model" else
            " give sim.cohort.CohortRun(model), sim.patient.PatientRun(...) or an object with name, strategies, "
            "parameters, outcome_columns and run(values)")
    raise HtaError(f"{who} needs a model run as its first argument, got {kind};{hint}")


def check_parameter(run: ModelRun, name: Any, where: str) -> str:
    """``name`` if it is a parameter of ``run``, else an error that lists them.

    Parameters
    ----------
    run : ModelRun
        The model run.
    name : object
        The parameter name to check.
    where : str
        Where it was given, for the message (``"one_way, ranges"``).

    Returns
    -------
    str
        ``name``.
    """
    if not isinstance(name, str) or name not in run.parameters:
        raise HtaError(
            f"{where}: unknown parameter {name!r}{suggest(name, run.parameters)}; model "
            f"{run.name!r} declares {', '.join(map(repr, run.parameters))}"
        )
    return name


def check_wtp(wtp: Any, who: str, why: str) -> float:
    """A willingness to pay: one finite number >= 0.

    Parameters
    ----------
    wtp : object
        The value given.
    who : str
        The analysis, for the message.
    why : str
        What needs it, for the message when it is missing (``"the optimal strategy"``).

    Returns
    -------
    float
    """
    if wtp is None:
        raise HtaError(
            f"{who}: {why} needs a willingness to pay; give wtp= (money per unit of effect, e.g. 20000)"
        )
    w = finite_number(wtp, f"{who}: willingness to pay wtp")
    if w < 0:
        raise HtaError(
            f"{who}: willingness to pay {w:g} is negative; give wtp >= 0 (money per unit of effect)"
        )
    return w


def _check_strategy(run: ModelRun, s: Any, who: str, role: str) -> str:
    if s not in run.strategies:
        raise HtaError(
            f"{who}: unknown {role} {s!r}{suggest(s, run.strategies)}; strategies of model "
            f"{run.name!r} are {', '.join(map(repr, run.strategies))}"
        )
    return s


def pick_strategies(run: ModelRun, strategy: Any, comparator: Any, who: str,
                    need_comparator: bool) -> tuple[str, str | None]:
    """Resolve ``strategy`` and ``comparator``; defaults only for two-strategy models.

    Parameters
    ----------
    run : ModelRun
        The model run.
    strategy, comparator : str or None
        As given (None: the default).
    who : str
        The analysis, for the message.
    need_comparator : bool
        Whether the outcome is incremental (needs a comparator).

    Returns
    -------
    (str, str or None)
        The strategy and the comparator (None when not needed).  Defaults: with
        two strategies, the second against the first; with more, the comparator
        of a strategy other than the first is the first.
    """
    strategies = list(run.strategies)
    K = len(strategies)
    if strategy is None:
        if K == 2:
            strategy = strategies[1]
        elif K == 1 and not need_comparator:
            strategy = strategies[0]
        else:
            raise HtaError(
                f"{who}: model {run.name!r} has {K} strategies; say which one with strategy= "
                f"(one of {', '.join(map(repr, strategies))})"
            )
    _check_strategy(run, strategy, who, "strategy")
    if not need_comparator:
        return strategy, None
    if K < 2:
        raise HtaError(f"{who}: an incremental outcome needs two strategies; model {run.name!r} has one")
    if comparator is None:
        others = [s for s in strategies if s != strategy]
        if K == 2 or strategy != strategies[0]:
            comparator = others[0] if K == 2 else strategies[0]
        else:
            raise HtaError(
                f"{who}: say which strategy {strategy!r} is compared with: comparator= (one of "
                f"{', '.join(map(repr, others))})"
            )
    _check_strategy(run, comparator, who, "comparator")
    if comparator == strategy:
        raise HtaError(
            f"{who}: strategy and comparator are both {strategy!r}; compare two different strategies"
        )
    return strategy, comparator


def check_effect(run: ModelRun, effect: Any, who: str) -> str:
    """``effect`` if it is an outcome column of ``run``.

    Parameters
    ----------
    run : ModelRun
        The model run.
    effect : object
        The effect column given (``"qaly"``, ``"ly"``, ...).
    who : str
        The analysis, for the message.

    Returns
    -------
    str
        ``effect``.
    """
    cols = list(run.outcome_columns)
    if effect not in cols:
        raise HtaError(
            f"{who}: effect {effect!r}{suggest(effect, cols)} is not an outcome column; use 'qaly', "
            f"'ly' or another of {', '.join(cols)}"
        )
    return effect


def run_sets(run: ModelRun, arrays: Mapping[str, np.ndarray], labels: list[str], who: str) -> pd.DataFrame:
    """Run all parameter sets in one call of ``run``; on failure, name the set that fails.

    Parameters
    ----------
    run : ModelRun
        The model run.
    arrays : mapping of str to ndarray
        Each varied parameter's values, one per set.
    labels : list of str
        One label per set, for the message (``"p_die = 1.5 (high)"``).
    who : str
        The analysis, for the message.

    Returns
    -------
    DataFrame
        The outcomes of ``run.run(arrays)``: one row per (set, strategy).

    Raises
    ------
    HtaError
        ``"<who>: the model fails at <label>: ..."``: when the run fails, the sets
        are rerun one at a time to find the first that fails.
    """
    n = len(labels)
    try:
        return run.run(dict(arrays))
    except HtaError as exc:
        for i, lab in enumerate(labels):  # rerun one by one (error path only) to name the culprit
            try:
                run.run({k: np.asarray(v)[i:i + 1] for k, v in arrays.items()})
            except HtaError as one:
                raise HtaError(f"{who}: the model fails at {lab}: {one}") from None
        raise HtaError(f"{who}: running the {n} parameter sets failed: {exc}") from None


def wide(outcomes: pd.DataFrame, column: str, n: int, K: int) -> np.ndarray:
    """A column of a run's outcomes as an array ``(n_sets, n_strategies)``.

    Parameters
    ----------
    outcomes : DataFrame
        Outcomes of ``n`` sets, set-major with the strategies in order (as
        :meth:`ModelRun.run` returns them).
    column : str
        The outcome column.
    n, K : int
        Number of sets and of strategies.

    Returns
    -------
    ndarray, shape (n, K)
    """
    return outcomes[column].to_numpy(float).reshape(n, K)


@dataclass(frozen=True)
class SpecRun:
    """A model specification run by one of the engines: the :class:`ModelRun` facts read off the model.

    Subclasses (:class:`sim.cohort.CohortRun`, :class:`sim.psm.PSMRun`) name the model type
    they take (``KIND``, ``KIND_NAME``) and implement :meth:`run`.

    Parameters
    ----------
    model : Model or PartitionedSurvival
        The model; its ``parameters`` are the base case.
    """

    KIND: ClassVar[type] = object
    KIND_NAME: ClassVar[str] = "model"
    model: Any

    def __post_init__(self):
        if not isinstance(self.model, self.KIND):
            raise HtaError(f"{type(self).__name__} needs a {self.KIND_NAME}, got {type(self.model).__name__}")

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def strategies(self) -> tuple[str, ...]:
        """The model's strategies, in order."""
        return tuple(self.model.strategies)

    @property
    def parameters(self) -> Mapping[str, float]:
        """Base-case parameter values."""
        return self.model.parameters

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        """``cost, qaly, ly``, their undiscounted versions and the cost components."""
        return tuple(outcome_columns(self.model.cost_components)[2:])

    def run(self, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Outcomes of the parameter sets ``values`` (see :class:`ModelRun`)."""
        raise NotImplementedError

