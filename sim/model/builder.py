"""Declaring a function a model builder, so that an experiment file may name it.

An experiment file's ``model = "package.module:function"`` runs only a function that
is declared a model builder: decorated with :func:`model_builder` (exported as
``sim.model_builder``) or registered in the entry-point group ``hta_sim.builders``.
Anything else is refused before it is called (see ``docs/experiments.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sim.errors import HtaError

__all__ = ["MARK", "is_model_builder", "model_builder"]

#: The attribute :func:`model_builder` sets on a function.
MARK = "__hta_sim_model_builder__"

F = TypeVar("F", bound=Callable[..., Any])


def model_builder(func: F) -> F:
    """Declare ``func`` a model builder: ``func(parameters: dict) -> sim.Model``.

    Parameters
    ----------
    func : callable
        The builder; it is returned unchanged, marked.

    Returns
    -------
    callable
        ``func`` itself.

    Raises
    ------
    HtaError
        ``func`` is not callable.

    Examples
    --------
    >>> import sim
    >>> @sim.model_builder
    ... def build(parameters):
    ...     ...
    """
    if not callable(func):
        raise HtaError(f"model_builder: {func!r} is not a function; decorate the function that builds the model")
    setattr(func, MARK, True)
    return func


def is_model_builder(obj: Any) -> bool:
    """Whether ``obj`` was declared a model builder with :func:`model_builder`.

    Parameters
    ----------
    obj : object
        Anything (read without calling it).

    Returns
    -------
    bool
    """
    try:
        return callable(obj) and getattr(obj, MARK, False) is True
    except Exception:  # an object whose attribute lookup fails is not a declared builder
        return False
