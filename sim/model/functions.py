"""Functions of values: ``Exp``, ``Log``, ``Min``, ``Max``, comparisons, ``Where`` and ``Competing``.

Expression nodes beside those of :mod:`sim.model.values`, for models written without
callables (so that the cohort engine compiles them, ``docs/engine.md``):

* :class:`Exp`, :class:`Log`: ``exp(x)``, ``log(x)`` elementwise;
* :class:`Min`, :class:`Max`: the smaller / larger of two values (NaN propagates);
* :class:`Compare`: ``a < b``, ``a <= b``, ``a > b``, ``a >= b`` as 1.0 / 0.0, built by the
  comparison operators of an expression (``Year() < 5``);
* :class:`Where`: ``a`` where ``cond`` is non-zero, else ``b``;
* :class:`Competing`: the probability that one of several competing constant hazards
  happens first within a cycle, ``h_i / H (1 - exp(-H h))`` (:func:`competing` builds one
  node per hazard).

Each node is a frozen dataclass (its inputs in ``children()``); its evaluation over
``(draws, cycles, sojourn)`` arrays is registered here with
:func:`sim.model.evaluate.expression`, like the nodes of ``values.py`` in
``evaluate.py`` (which imports this module).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import HtaError
from sim.model.evaluate import Context, evaluate, expression
from sim.model.values import Expr, describe

__all__ = ["Exp", "Log", "Min", "Max", "Compare", "Where", "Competing", "competing", "operand"]


def operand(x: Any, what: str) -> Any:
    """``x`` checked to be an input a node can take (a number becomes a float); ``what`` names it in messages."""
    if isinstance(x, bool) or not (isinstance(x, (numbers.Real, str, Expr)) or callable(x)):
        raise HtaError(f"{what}: {x!r} ({type(x).__name__}) is not a value; give a number, a parameter "
                       f"name (str), an expression or a callable f(p, t)")
    if isinstance(x, str) and not x:
        raise HtaError(f"{what}: a parameter name must not be empty")
    return float(x) if isinstance(x, numbers.Real) else x


@dataclass(frozen=True)
class Exp(Expr):
    """``exp(x)``, elementwise: ``Exp(P("log_hr"))``."""

    x: Any

    def __post_init__(self):
        object.__setattr__(self, "x", operand(self.x, "Exp"))

    def children(self) -> tuple[Any, ...]:
        """The argument."""
        return (self.x,)


@dataclass(frozen=True)
class Log(Expr):
    """Natural logarithm ``log(x)``, elementwise (``log(0) = -inf``; a negative ``x`` is an error)."""

    x: Any

    def __post_init__(self):
        object.__setattr__(self, "x", operand(self.x, "Log"))

    def children(self) -> tuple[Any, ...]:
        """The argument."""
        return (self.x,)


@dataclass(frozen=True)
class Min(Expr):
    """The smaller of two values, elementwise (``numpy.minimum``: NaN propagates)."""

    a: Any
    b: Any

    def __post_init__(self):
        object.__setattr__(self, "a", operand(self.a, "Min"))
        object.__setattr__(self, "b", operand(self.b, "Min"))

    def children(self) -> tuple[Any, ...]:
        """The two values."""
        return (self.a, self.b)


@dataclass(frozen=True)
class Max(Expr):
    """The larger of two values, elementwise (``numpy.maximum``: NaN propagates)."""

    a: Any
    b: Any

    def __post_init__(self):
        object.__setattr__(self, "a", operand(self.a, "Max"))
        object.__setattr__(self, "b", operand(self.b, "Max"))

    def children(self) -> tuple[Any, ...]:
        """The two values."""
        return (self.a, self.b)


_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


@dataclass(frozen=True, repr=False)
class Compare(Expr):
    """``left op right`` as 1.0 (true) or 0.0 (false), ``op`` one of ``< <= > >=``.

    Built by the comparison operators of an expression: ``Year() < 5``,
    ``ModelTime() >= P("t_switch")``. (``==`` keeps its meaning of equal expressions.)
    """

    op: str
    left: Any
    right: Any

    def __post_init__(self):
        if self.op not in _COMPARE:
            raise HtaError(f"Compare: unknown operator {self.op!r}; use one of < <= > >=")
        object.__setattr__(self, "left", operand(self.left, f"Compare {self.op!r}"))
        object.__setattr__(self, "right", operand(self.right, f"Compare {self.op!r}"))

    def children(self) -> tuple[Any, ...]:
        """The two operands."""
        return (self.left, self.right)

    def __repr__(self) -> str:
        def show(x):
            return repr(x) if isinstance(x, str) else describe(x)

        return f"({show(self.left)} {self.op} {show(self.right)})"


@dataclass(frozen=True)
class Where(Expr):
    """``a`` where ``cond`` is non-zero (true), else ``b``: ``Where(Year() < 5, "h_early", "h_late")``.

    Both branches are evaluated everywhere (their checks apply everywhere); the result
    takes each element from one of them.
    """

    cond: Any
    a: Any
    b: Any

    def __post_init__(self):
        for name in ("cond", "a", "b"):
            object.__setattr__(self, name, operand(getattr(self, name), f"Where {name}"))

    def children(self) -> tuple[Any, ...]:
        """The condition and the two branches."""
        return (self.cond, self.a, self.b)


@dataclass(frozen=True)
class Competing(Expr):
    """Probability that event ``index`` of competing constant hazards happens first within one cycle.

    ``P_i = h_i / H (1 - exp(-H h))`` with ``H = h_0 + h_1 + ...`` (summed in order) and
    ``h`` the cycle length in years (``per="year"``: hazards per year) or 1
    (``per="cycle"``); ``P_i = h_i h`` where ``H = 0``. Where a hazard is infinite (a
    life table's ``q = 1``), the infinite ones share probability 1 equally. The
    probabilities of all events sum to ``1 - exp(-H h)``, the rest of the row (``C``)
    is survival without any event. Build them together with :func:`competing`.
    Hazards must be >= 0.
    """

    hazards: tuple
    index: int
    per: str = "year"

    def __post_init__(self):
        hz = tuple(operand(h, "Competing hazard") for h in self.hazards)
        if not hz:
            raise HtaError("Competing needs at least one hazard")
        if not (isinstance(self.index, int) and 0 <= self.index < len(hz)):
            raise HtaError(f"Competing: index {self.index!r} must pick one of the {len(hz)} hazards (0..{len(hz) - 1})")
        if self.per not in ("year", "cycle"):
            raise HtaError(f"Competing(per={self.per!r}): use per='year' or per='cycle'")
        object.__setattr__(self, "hazards", hz)

    def children(self) -> tuple[Any, ...]:
        """The hazards."""
        return self.hazards


def competing(hazards: Mapping[str, Any], per: str = "year") -> dict[str, Competing]:
    """One :class:`Competing` probability per named hazard, all sharing the same hazards.

    Parameters
    ----------
    hazards : mapping of str to value
        Event name to its hazard (per year, or per cycle with ``per="cycle"``); the order
        is the order of the sum ``H``.
    per : {"year", "cycle"}
        Unit of the hazards.

    Returns
    -------
    dict of str to Competing
        Event name to the probability that it happens first within the cycle.

    Examples
    --------
    >>> p = competing({"cv": "h_cv", "other": "h_other"})
    >>> transitions = {("Alive", "DeadCV"): p["cv"], ("Alive", "DeadOther"): p["other"]}
    """
    values = tuple(hazards.values())
    return {name: Competing(values, i, per) for i, name in enumerate(hazards)}


# ---------------------------------------------------------------------------- evaluation
@expression(Exp)
def _exp(value: Exp, ctx: Context) -> np.ndarray:
    with np.errstate(over="ignore"):  # inf is reported with strategy, state and cycle by the model checks
        return np.exp(evaluate(value.x, ctx))


@expression(Log)
def _log(value: Log, ctx: Context) -> np.ndarray:
    x = evaluate(value.x, ctx)
    if np.any(x < 0):
        raise HtaError(f"{ctx.where}: Log of the negative number {float(np.min(x))!r}; the result is not a real number")
    with np.errstate(divide="ignore"):  # log(0) = -inf
        return np.log(x)


@expression(Min)
def _min(value: Min, ctx: Context) -> np.ndarray:
    return np.minimum(evaluate(value.a, ctx), evaluate(value.b, ctx))


@expression(Max)
def _max(value: Max, ctx: Context) -> np.ndarray:
    return np.maximum(evaluate(value.a, ctx), evaluate(value.b, ctx))


@expression(Compare)
def _compare(value: Compare, ctx: Context) -> np.ndarray:
    return _COMPARE[value.op](evaluate(value.left, ctx), evaluate(value.right, ctx)).astype(float)


@expression(Where)
def _where(value: Where, ctx: Context) -> np.ndarray:
    cond = evaluate(value.cond, ctx)
    return np.where(cond != 0, evaluate(value.a, ctx), evaluate(value.b, ctx))


@expression(Competing)
def _competing(value: Competing, ctx: Context) -> np.ndarray:
    hz = [evaluate(h, ctx) for h in value.hazards]
    for h in hz:
        if np.any(h < 0):
            raise HtaError(f"{ctx.where}: Competing: negative hazard {float(np.min(h))!r}; hazards must be >= 0")
    dt = ctx.time.cycle_length if value.per == "year" else 1.0
    total = hz[0]
    for h in hz[1:]:
        total = total + h
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        frac = np.where(total > 0, -np.expm1(-total * dt) / total, dt)
        out = hz[value.index] * frac
    inf = np.isinf(total)
    if np.any(inf):  # an infinite hazard: the infinite events share probability 1
        n_inf = sum(np.isinf(h).astype(float) for h in hz)
        out = np.where(inf, np.isinf(hz[value.index]) / np.maximum(n_inf, 1.0), out)
    return out
