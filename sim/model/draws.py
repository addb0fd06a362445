"""Draws for an engine: the parameter values a run uses, resolved to arrays.

:func:`resolve_draws` turns what a user passes as ``params`` (nothing, a mapping, a
DataFrame or a :class:`~sim.params.Draws` object) into per-draw arrays for the
parameters that vary, fixed values for the others and the draw ids, checking names,
shapes and finiteness.

Every parameter is accounted for: a name the model does not declare is an error (with
the closest declared name). A draws object (a sample of a parameter table) or a
parameter table (its base case) must give every declared parameter, unless
``defaults="model"`` lets the missing ones keep the model's base case (they are
recorded as ``defaulted``). A mapping or a DataFrame gives the parameters it names
(a scenario, or draws of the parameters varied); the others keep the base case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest
from sim.model.spec import Model

__all__ = ["DEFAULTS", "ResolvedDraws", "accounted", "check_defaults", "missing_error", "resolve_draws"]

#: The choices of ``defaults=``: None (every parameter given) or "model" (missing ones keep the base case).
DEFAULTS = (None, "model")


def check_defaults(defaults: Any, who: str) -> None:
    """Refuse a ``defaults=`` other than None or ``"model"``."""
    if defaults not in DEFAULTS:
        raise HtaError(f"{who}: defaults={defaults!r}; the only choice is defaults=\"model\" (parameters the "
                       f"input lacks keep the model's base-case values), or None (every parameter given)")


def missing_error(who: str, what: str, model: str, missing) -> HtaError:
    """The error for parameters of ``model`` that ``what`` (the draws, a table) does not give."""
    return HtaError(f"{who}: {len(missing)} parameter(s) of model {model!r} missing from {what}: {', '.join(missing)}; "
                    f"give them, or pass defaults=\"model\" to keep the model's base-case values for them")


def accounted(who: str, model, label: str, names, fixed, defaults) -> tuple[str, ...]:
    """Check that a parameter table (``label``, its ``names``) and ``fixed`` account for ``model``'s parameters.

    A name the model does not have is an error with a suggestion; a parameter of the model
    that neither gives is an error listing them all unless ``defaults="model"``.

    Returns
    -------
    tuple of str
        The model's parameters that keep their base-case values (none unless ``defaults="model"``).
    """
    check_defaults(defaults, who)
    for what, given in ((label, list(names)), ("fixed", list(fixed or ()))):
        unknown = [p for p in given if p not in model.parameters]
        if unknown:
            raise HtaError(f"{who}: {what}: parameter {unknown[0]!r} is not a parameter of model {model.name!r}"
                           f"{suggest(unknown[0], model.parameters)}; remove it or add it to the model's parameters")
    given = set(names) | set(fixed or ())
    missing = tuple(p for p in model.parameters if p not in given)
    if missing and defaults is None:
        raise missing_error(who, label, model.name, missing)
    return missing


@dataclass(frozen=True)
class ResolvedDraws:
    """Parameter values for an engine: per-draw arrays, fixed values and the draw ids."""

    ids: np.ndarray  # (n,) int draw ids
    arrays: dict  # name -> (n,) array for varying params
    fixed: dict  # name -> float
    seed: Any = None
    defaulted: tuple = ()  # declared parameters the draws lacked (defaults="model")


def resolve_draws(model: Model, params: Any, defaults: str | None = None, who: str = "run_cohort") -> ResolvedDraws:
    """Turn ``params`` (None, mapping, DataFrame or draws object) into arrays.

    ``None`` is the base case; a mapping or DataFrame gives the parameters it names (the
    others keep the base case); a draws object or a parameter table must give every
    parameter the model declares, unless ``defaults="model"``.

    Parameters
    ----------
    model : Model
        The model whose declared parameters may be given.
    params : None, mapping, DataFrame, Draws or ParameterTable
        ``None`` (base case); parameter name -> one value or one value per draw; a
        DataFrame with one column per parameter (and optionally ``draw`` ids); a
        draws object (``frame``, ``seed`` and optionally ``ids``); or a parameter
        table (``base`` and ``label``: its base case, one draw).
    defaults : {None, "model"}
        With a draws object or a table, ``"model"`` lets parameters they lack keep the
        model's base-case values (listed in ``defaulted``); None makes them an error.
    who : str
        The caller, for messages.

    Returns
    -------
    ResolvedDraws
        ``ids (n,)``, ``arrays`` (name -> ``(n,)`` for varying parameters), ``fixed``
        (name -> float for the others), the draws' ``seed`` (or None) and ``defaulted``.
    """
    check_defaults(defaults, who)
    seed = None
    ids = None
    complete, what = False, "the parameter values" if isinstance(params, Mapping) else "the draws"
    if params is None:
        given: dict = {}
    elif hasattr(params, "base") and hasattr(params, "sampler"):  # a ParameterTable: its base case
        given, complete, what = dict(params.base), True, str(getattr(params, "label", "the parameter table"))
    elif hasattr(params, "frame") and hasattr(params, "seed"):  # a Draws object: a sample of a table
        complete = True
        seed = params.seed
        frame = params.frame
        given = {c: frame[c].to_numpy() for c in frame.columns}
        ids = np.asarray(getattr(params, "ids", np.arange(len(frame))))
    elif isinstance(params, pd.DataFrame):
        frame = params
        if "draw" in frame.columns:
            ids = frame["draw"].to_numpy()
            frame = frame.drop(columns="draw")
        given = {c: frame[c].to_numpy() for c in frame.columns}
        if ids is None:
            ids = np.arange(len(frame))
    elif isinstance(params, Mapping):
        given = dict(params)
    else:
        raise HtaError(
            f"params must be None, a mapping of parameter name to value(s), a DataFrame with "
            f"one column per parameter, or a Draws object; got {type(params).__name__}"
        )
    arrays, fixed = {}, {name: float(v) for name, v in model.parameters.items()}
    unknown = [name for name in given if name not in model.parameters]
    if unknown:
        raise HtaError(
            f"{who}: parameter {unknown[0]!r} in {what}{suggest(unknown[0], model.parameters)} is one model "
            f"{model.name!r} does not declare; remove it or add it to the model's parameters"
        )
    defaulted = tuple(name for name in model.parameters if name not in given) if complete else ()
    if defaulted and defaults is None:
        raise missing_error(who, what, model.name, defaulted)
    n = None
    for name, v in given.items():
        a = np.asarray(v)
        if a.dtype.kind not in "fiu":
            raise HtaError(f"parameter {name!r}: draws must be numbers, got dtype {a.dtype}")
        a = a.astype(float)
        bad = ~np.isfinite(a)
        if a.ndim == 0:
            if bad:
                raise HtaError(f"parameter {name!r}: value {float(a)!r} is not a finite number")
            fixed[name] = float(a)
            continue
        if a.ndim != 1:
            raise HtaError(f"parameter {name!r}: draws must be one value per draw (1-D), got shape {a.shape}")
        if a.size == 0:
            raise HtaError(f"parameter {name!r} has 0 draws; give at least one")
        if n is None:
            n, first = a.size, name
        elif a.size != n:
            raise HtaError(
                f"parameter {name!r} has {a.size} draws but {first!r} has {n}; every parameter "
                f"needs the same number of draws"
            )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise HtaError(f"parameter {name!r}, draw {i}: value {float(a[i])!r} is not a finite number")
        arrays[name] = a
        fixed.pop(name, None)
    n = n if n is not None else 1
    if ids is None:
        ids = np.arange(n)
    if len(ids) != n:
        raise HtaError(f"draw ids: {len(ids)} ids for {n} draws")
    uniq, counts = np.unique(np.asarray(ids), return_counts=True)
    if len(uniq) != len(ids):
        raise HtaError(f"{who}: draw id {uniq[counts > 1][0].item()!r} appears {int(counts[counts > 1][0])} times; "
                       f"every draw needs its own id")
    return ResolvedDraws(ids=np.asarray(ids, dtype=np.int64), arrays=arrays, fixed=fixed, seed=seed,
                         defaulted=defaulted)
