"""Values in a model: what they are (definitions only; evaluation is in ``evaluate.py``).

Every transition probability, start share and reward in a :class:`~sim.model.Model`
is a *value*, one of

* a number (``0.2``);
* a parameter name (``"p_progress"``), looked up in the draws;
* an expression object from this module (:class:`Rate`, :class:`HazardRatio`,
  :class:`RelativeRisk`, :class:`ByStrategy`, :class:`ByCycle`, :class:`BySojourn`,
  :class:`AnyOf`, :class:`Param`, the time leaves :class:`Cycle`, :class:`ModelTime`,
  :class:`Year`, :class:`Age`) or :class:`~sim.model.lifetable.Mortality`, and any
  arithmetic on them (``+ - * / **``, unary ``-``) with numbers, parameter names and each
  other, which builds an :class:`Arith` node: ``(1 - Rate("r_HD")) * "p_HS1"``;
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
    "Param",
    "P",
    "Arith",
    "Cycle",
    "ModelTime",
    "Year",
    "Age",
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


_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "neg": "neg"}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}


def _operand(x: Any, op: str, other: Any) -> Any:
    """``x`` checked to be something arithmetic on an expression can take."""
    if isinstance(x, bool) or not (isinstance(x, (numbers.Real, str, Expr)) or callable(x)):
        raise HtaError(
            f"cannot compute {describe(other)} {op} {x!r} ({type(x).__name__}): combine expressions with "
            f"numbers, parameter names (str), other expressions or callables f(p, t)"
        )
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, str) and not x:
        raise HtaError(f"cannot compute {describe(other)} {op} '': a parameter name must not be empty")
    return x


class Expr:
    """Base class of expression values.

    An expression is data: its inputs (other values) and settings. How it is
    evaluated is registered in :mod:`sim.model.evaluate`.  Expressions combine with
    ``+ - * / **`` and unary ``-`` (with numbers, parameter names and each other) into
    :class:`Arith` nodes; :meth:`parameters` lists the parameter names they read.
    """

    __array_ufunc__ = None  # numpy scalars defer to the expression's reflected operators

    def children(self) -> tuple[Any, ...]:
        """The values this expression is computed from (walked by :func:`walk`)."""
        return ()

    def parameters(self) -> list[str]:
        """The parameter names this expression reads (sorted; callables are not inspected)."""
        return sorted(referenced_params(self))

    def _arith(self, op: str, left: Any, right: Any) -> Arith:
        return Arith(op, _operand(left, op, right), _operand(right, op, left))

    def __add__(self, other):
        return self._arith("+", self, other)

    def __radd__(self, other):
        return self._arith("+", other, self)

    def __sub__(self, other):
        return self._arith("-", self, other)

    def __rsub__(self, other):
        return self._arith("-", other, self)

    def __mul__(self, other):
        return self._arith("*", self, other)

    def __rmul__(self, other):
        return self._arith("*", other, self)

    def __truediv__(self, other):
        return self._arith("/", self, other)

    def __rtruediv__(self, other):
        return self._arith("/", other, self)

    def __pow__(self, other):
        return self._arith("**", self, other)

    def __rpow__(self, other):
        return self._arith("**", other, self)

    def __neg__(self):
        return Arith("neg", self)

    def _compare(self, op: str, other):
        from sim.model.functions import Compare  # the function nodes import this module

        return Compare(op, self, other)

    def __lt__(self, other):
        return self._compare("<", other)

    def __le__(self, other):
        return self._compare("<=", other)

    def __gt__(self, other):
        return self._compare(">", other)

    def __ge__(self, other):
        return self._compare(">=", other)

    def __pos__(self):
        return self


@dataclass(frozen=True, repr=False)
class Arith(Expr):
    """Arithmetic on values: ``op`` one of ``+ - * / **`` (two operands) or ``neg`` (one).

    Built by the operators of :class:`Expr` (``Rate("r") * "hr"``), rarely by hand.
    The operands are values: numbers, parameter names, expressions or callables.
    """

    op: str
    left: Any
    right: Any = None

    def __post_init__(self):
        if self.op not in _OPS:
            raise HtaError(f"Arith: unknown operator {self.op!r}; use one of + - * / ** neg")
        if (self.op == "neg") != (self.right is None):
            raise HtaError(f"Arith({self.op!r}) takes {'one operand' if self.op == 'neg' else 'two operands'}")

    def children(self) -> tuple[Any, ...]:
        """The operands."""
        return (self.left,) if self.op == "neg" else (self.left, self.right)

    def __repr__(self) -> str:
        def show(x: Any, side: str) -> str:
            if isinstance(x, float):
                text = str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)
            else:
                text = describe(x) if not isinstance(x, str) else repr(x)
            if isinstance(x, Arith):
                mine, theirs = _PRECEDENCE[self.op], _PRECEDENCE[x.op]
                tight = theirs < mine or (theirs == mine and side == "right" and self.op in "-/")
                tight = tight or (self.op == "**" and side == "left" and theirs == mine)
                return f"({text})" if tight else text
            return text

        if self.op == "neg":
            return f"-{show(self.left, 'right')}"
        return f"{show(self.left, 'left')} {self.op} {show(self.right, 'right')}"


@dataclass(frozen=True)
class Param(Expr):
    """A parameter by name, as an expression: ``1 - Param("p_HD")`` (``P`` for short).

    A plain string is the same value wherever Python lets it be one; ``Param`` is needed
    where the string would be the *left* operand of a number (``1 - "p"`` is a Python
    error, and ``"p" * 2`` repeats the text).
    """

    name: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise HtaError(f"Param({self.name!r}): give the parameter's name as a non-empty string")

    def children(self) -> tuple[Any, ...]:
        """The name (so that :func:`referenced_params` finds it)."""
        return (self.name,)

    def __repr__(self) -> str:
        return f"P({self.name!r})"


#: Short name of :class:`Param`.
P = Param


@dataclass(frozen=True)
class Cycle(Expr):
    """The model cycle ``j`` (0 for the first cycle)."""


@dataclass(frozen=True)
class ModelTime(Expr):
    """The cycle numbered from 1, ``j + 1``: heemod's ``model_time`` (``markov_cycle``)."""


@dataclass(frozen=True)
class Year(Expr):
    """Model time in years at the start of the cycle, ``j h``."""


@dataclass(frozen=True)
class Age(Expr):
    """The cohort's age at the start of the cycle, ``start_age + j h`` (needs ``Model(start_age=...)``)."""


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


def _entries(values: Any, what: str) -> tuple:
    """The entries of a ByCycle / BySojourn: numbers as floats, other values kept, anything else an error."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise HtaError(f"{what} needs a list of values (numbers, parameter names or expressions), got {values!r}")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            out.append(float(v))
        elif isinstance(v, (str, Expr)) and v != "" or (callable(v) and not isinstance(v, (str, Expr))):
            out.append(v)
        else:
            raise HtaError(
                f"{what}: entry {i} is {v!r} ({type(v).__name__}); give a number, a parameter name, "
                f"an expression or a callable f(p, t)"
            )
    if not out:
        raise HtaError(f"{what} needs at least one value")
    return tuple(out)


@dataclass(frozen=True)
class ByCycle(Expr):
    """A value by model cycle: ``values[cycle]``, then ``then`` after the last one.

    ``ByCycle([0.509, 0.509], then=1.0)`` is 0.509 in cycles 0 and 1 and 1.0 after.
    Entries may be numbers, parameter names or expressions (``ByCycle(["rr", "rr"], then=1)``).
    Without ``then``, a horizon longer than ``values`` is an error.
    """

    values: tuple
    then: Any = None

    def __init__(self, values: Sequence[Any], then: Any = None):
        object.__setattr__(self, "values", _entries(values, "ByCycle"))
        object.__setattr__(self, "then", then)

    def children(self) -> tuple[Any, ...]:
        """The entries that are not numbers, then the value after the last cycle given (if any)."""
        kids = tuple(v for v in self.values if not isinstance(v, float))
        return kids + ((self.then,) if self.then is not None else ())


@dataclass(frozen=True)
class BySojourn(Expr):
    """A value by time spent in the current (tunnel) state: ``values[sojourn]``.

    The last value holds for every longer stay.  Entries may be numbers, parameter names or
    expressions (``BySojourn(["ic_D", 0])``).  Use only for states declared in the model's
    ``tunnels``.
    """

    values: tuple

    def __init__(self, values: Sequence[Any]):
        object.__setattr__(self, "values", _entries(values, "BySojourn"))

    def children(self) -> tuple[Any, ...]:
        """The entries that are not numbers."""
        return tuple(v for v in self.values if not isinstance(v, float))


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
