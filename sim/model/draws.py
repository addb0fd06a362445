"""Draws for an engine: the parameter values a run uses, resolved to arrays.

:func:`resolve_draws` turns what a user passes as ``params`` (nothing, a mapping, a
DataFrame or a :class:`~sim.params.Draws` object) into per-draw arrays for the
parameters that vary, fixed values for the others (the model's base case where not
given) and the draw ids, checking names, shapes and finiteness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest
from sim.model.spec import Model

__all__ = ["ResolvedDraws", "resolve_draws"]


@dataclass(frozen=True)
class ResolvedDraws:
    """Parameter values for an engine: per-draw arrays, fixed values and the draw ids."""

    ids: np.ndarray  # (n,) int draw ids
    arrays: dict  # name -> (n,) array for varying params
    fixed: dict  # name -> float
    seed: Any = None


def resolve_draws(model: Model, params: Any) -> ResolvedDraws:
    """Turn ``params`` (None, mapping, DataFrame or draws object) into arrays.

    Parameters missing from ``params`` take the model's base-case values.

    Parameters
    ----------
    model : Model
        The model whose declared parameters may be given.
    params : None, mapping, DataFrame or Draws
        ``None`` (base case); parameter name -> one value or one value per draw; a
        DataFrame with one column per parameter (and optionally ``draw`` ids); or a
        draws object (``frame``, ``seed`` and optionally ``ids``).

    Returns
    -------
    ResolvedDraws
        ``ids (n,)``, ``arrays`` (name -> ``(n,)`` for varying parameters), ``fixed``
        (name -> float for the others) and the draws' ``seed`` (or None).
    """
    seed = None
    ids = None
    if params is None:
        given: dict = {}
    elif hasattr(params, "frame") and hasattr(params, "seed"):  # a Draws object
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
    n = None
    for name, v in given.items():
        if name not in model.parameters:
            raise HtaError(
                f"draws name parameter {name!r}{suggest(name, model.parameters)}, which model "
                f"{model.name!r} does not declare; remove it or add it to the model's parameters"
            )
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
    return ResolvedDraws(ids=np.asarray(ids, dtype=np.int64), arrays=arrays, fixed=fixed, seed=seed)
