"""Values in a model: what they are (definitions only; evaluation is in ``evaluate.py``).

Every transition probability, start share and reward in a :class:`~sim.model.Model`
is a *value*, one of

* a number (``0.2``);
* a parameter name (``"p_progress"``), looked up in the draws;
* an expression object from this module (:class:`Rate`, :class:`HazardRatio`,
  :class:`RelativeRisk`, :class:`ByStrategy`, :class:`ByCycle`, :class:`BySojourn`,
  :class:`AnyOf`) or :class:`~sim.model.lifetable.Mortality`;
* a Python callable ``f(p, t)`` evaluated once per strategy on arrays over all
  draws and all cycles at once.

This module holds the frozen dataclasses of the expressions, the markers :data:`C`
(complement of a transition row) and :data:`ANY` (any from-state of a transition
reward), and the structural helpers that read a value without evaluating it
(:func:`walk`, :func:`referenced_params`, :func:`referenced_strategies`,
:func:`uses_sojourn`, :func:`strategy_dependent`, :func:`describe`). Model checks
(``checks.py``) use them at definition time.

What a value *computes* lives in one place, :mod:`sim.model.evaluate`: one
function per value type, so following a value from the model to its array means
reading one module. An expression here only knows its inputs (``children()``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sim.errors import HtaError

__all__ = [
    "C",
    "ANY",
    "Complement",
    "Expr",
    "Rate",
    "HazardRatio",
    "RelativeRisk",
    "AnyOf",
    "ByStrategy",
    "ByCycle",
    "BySojourn",
    "describe",
    "callable_name",
    "walk",
    "referenced_params",
    "referenced_strategies",
    "uses_sojourn",
    "strategy_dependent",
]

#: Wildcard from-state for transition rewards: ``(ANY, "Post-op")`` charges every
#: entry into "Post-op" from any other state.
ANY = "*"


class Complement:
    """The rest of a transition row: ``1 - (sum of the row's other entries)``."""

    _instance: Complement | None = None

    def __new__(cls) -> Complement:
        """The one instance, :data:`C` (also after unpickling)."""
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "C"

    def __reduce__(self):
        return (Complement, ())


#: The complement marker: ``transitions={("A", "A"): C, ...}``.
C = Complement()


class Expr:
    """Base class of expression values.

    An expression is data: its inputs (other values) and settings. How it is
    evaluated is registered in :mod:`sim.model.evaluate`.
    """

    def children(self) -> tuple[Any, ...]:
        """The values this expression is computed from (walked by :func:`walk`)."""
        return ()


@dataclass(frozen=True)
class Rate(Expr):
    """A rate converted to a probability for one cycle: ``1 - exp(-rate * h)``.

    ``per="year"`` (default) takes an annual rate and ``h`` is the cycle length in
    years; ``per="cycle"`` takes a rate per cycle and ``h = 1``.
    """

    rate: Any
    per: str = "year"

    def __post_init__(self):
        if self.per not in ("year", "cycle"):
            raise HtaError(f"Rate(per={self.per!r}): use per='year' or per='cycle'")

    def children(self) -> tuple[Any, ...]:
        """The rate."""
        return (self.rate,)


@dataclass(frozen=True)
class HazardRatio(Expr):
    """A probability with its hazard scaled: ``1 - (1 - p) ** hr``.

    Exact when the hazard is constant within the cycle.
    """

    p: Any
    hr: Any

    def children(self) -> tuple[Any, ...]:
        """The probability and the hazard ratio."""
        return (self.p, self.hr)


@dataclass(frozen=True)
class RelativeRisk(Expr):
    """A probability multiplied by a relative risk: ``p * rr``."""

    p: Any
    rr: Any

    def children(self) -> tuple[Any, ...]:
        """The probability and the relative risk."""
        return (self.p, self.rr)


@dataclass(frozen=True)
class AnyOf(Expr):
    """Probability that at least one of several independent events happens.

    ``1 - prod(1 - p_i)`` (e.g. background plus disease-specific death).
    """

    probs: tuple

    def __init__(self, *probs):
        object.__setattr__(self, "probs", tuple(probs))

    def children(self) -> tuple[Any, ...]:
        """The probabilities."""
        return self.probs


@dataclass(frozen=True)
class ByStrategy(Expr):
    """A value that differs by strategy: ``ByStrategy(mono=2278, comb=4364.5)``.

    ``default`` is used for strategies not named; without it every strategy of
    the model must be named.
    """

    values: Mapping[str, Any]
    default: Any = None

    def __init__(self, values: Mapping[str, Any] | None = None, *, default: Any = None, **kw):
        merged = dict(values or {})
        merged.update(kw)
        object.__setattr__(self, "values", merged)
        object.__setattr__(self, "default", default)

    def children(self) -> tuple[Any, ...]:
        """The value of every strategy named, then the default (if any)."""
        kids = tuple(self.values.values())
        return kids + ((self.default,) if self.default is not None else ())

    def __hash__(self):
        return hash(tuple(sorted(self.values)))


@dataclass(frozen=True)
class ByCycle(Expr):
    """A value by model cycle: ``values[cycle]``, then ``then`` after the last one.

    ``ByCycle([0.509, 0.509], then=1.0)`` is 0.509 in cycles 0 and 1 and 1.0 after.
    Without ``then``, a horizon longer than ``values`` is an error.
    """

    values: tuple
    then: Any = None

    def __init__(self, values: Sequence[float], then: Any = None):
        vals = tuple(float(v) for v in values)
        if not vals:
            raise HtaError("ByCycle needs at least one value")
        object.__setattr__(self, "values", vals)
        object.__setattr__(self, "then", then)

    def children(self) -> tuple[Any, ...]:
        """The value after the last cycle given (if any)."""
        return (self.then,) if self.then is not None else ()


@dataclass(frozen=True)
class BySojourn(Expr):
    """A value by time spent in the current (tunnel) state: ``values[sojourn]``.

    The last value holds for every longer stay.  Use only for states declared in
    the model's ``tunnels``.
    """

    values: tuple

    def __init__(self, values: Sequence[float]):
        vals = tuple(float(v) for v in values)
        if not vals:
            raise HtaError("BySojourn needs at least one value")
        object.__setattr__(self, "values", vals)


# ---------------------------------------------------------------------------- reading a value
def callable_name(f: Callable) -> str:
    """The name of a callable value, for messages: its qualified name, else its repr."""
    return getattr(f, "__qualname__", None) or repr(f)


def describe(value: Any) -> str:
    """A short text for a value, used in parameter listings and metadata.

    Parameters
    ----------
    value : number, str, expression or callable
        A model value.

    Returns
    -------
    str
        The number, the parameter name, ``"C"``, ``"<name>"`` of a callable, or the
        expression's repr.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value)) if not float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Complement):
        return "C"
    if callable(value) and not isinstance(value, Expr):
        return f"<{callable_name(value)}>"
    return repr(value)


def walk(value: Any) -> Iterator[Any]:
    """Every node of a value's tree, depth first, the value itself first.

    Parameters
    ----------
    value : number, str, expression or callable
        A model value; an expression's inputs are its ``children()``.

    Yields
    ------
    object
        ``value``, then the nodes of each child in order (callables are leaves).
    """
    yield value
    if isinstance(value, Expr):
        for child in value.children():
            yield from walk(child)


def referenced_params(value: Any) -> set[str]:
    """Parameter names a value refers to by name (callables are not inspected)."""
    return {v for v in walk(value) if isinstance(v, str)}


def referenced_strategies(value: Any) -> list[tuple[ByStrategy, set[str]]]:
    """Every :class:`ByStrategy` in a value with the strategy names it lists."""
    return [(v, set(v.values)) for v in walk(value) if isinstance(v, ByStrategy)]


def uses_sojourn(value: Any) -> bool:
    """Whether a value contains a :class:`BySojourn` (and so needs a tunnel state)."""
    return any(isinstance(v, BySojourn) for v in walk(value))


def strategy_dependent(value: Any) -> bool:
    """Whether a value may depend on the strategy: a :class:`ByStrategy` or a callable inside."""
    return any(isinstance(node, ByStrategy) or (callable(node) and not isinstance(node, Expr))
               for node in walk(value))
