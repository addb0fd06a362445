"""Evaluating a value: the one place where every value type is computed.

A value (``values.py``) evaluates to a float array that broadcasts to
``(draws, cycles, sojourn)``: ``p[name]`` has shape ``(n_draws, 1, 1)``,
``t.cycle`` ``(1, n_cycles, 1)`` and ``t.sojourn`` ``(1, 1, tunnel_length)``, so
ordinary numpy arithmetic on them yields the right shape.  A value that does not
depend on draws or time keeps a length-1 axis there, which keeps the engine's
arrays small.

Design: :func:`evaluate` is a :func:`functools.singledispatch` function with one
implementation per value type, all in this module: numbers, parameter names,
:class:`~sim.model.values.Rate`, :class:`~sim.model.values.HazardRatio`,
:class:`~sim.model.values.RelativeRisk`, :class:`~sim.model.values.AnyOf`,
:class:`~sim.model.values.ByStrategy`, :class:`~sim.model.values.ByCycle`,
:class:`~sim.model.values.BySojourn`, :class:`~sim.model.values.Arith` (arithmetic
on values), :class:`~sim.model.values.Param`, the time leaves
(:class:`~sim.model.values.Cycle`, ``ModelTime``, ``Year``, ``Age``),
:class:`~sim.model.lifetable.Mortality` and callables (the fallback).  The value types stay plain frozen data; the
arithmetic and its error messages are here, next to :class:`Params`,
:class:`Time` and :class:`Context`, the arguments every evaluation receives.
A new value type is a dataclass in ``values.py`` (with ``children()``) plus one
function here registered with :func:`expression`, whose result is checked for
shape like a callable's.

:func:`sim.model.arrays.build_arrays` calls :func:`evaluate` for every value of a
model and checks the arrays where strategy, cycle, state and draw are known.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import singledispatch
from typing import Any

import numpy as np

from sim.errors import HtaError, suggest
from sim.model.lifetable import Mortality
from sim.model.values import (
    Age,
    AnyOf,
    Arith,
    ByCycle,
    BySojourn,
    ByStrategy,
    Complement,
    Cycle,
    Expr,
    HazardRatio,
    ModelTime,
    Param,
    Rate,
    RelativeRisk,
    Year,
    callable_name,
    describe,
)

__all__ = ["Params", "Time", "Context", "evaluate", "expression"]


class Params(Mapping):
    """Read-only view of parameter arrays, each shaped ``(n_draws, 1, 1)``.

    Looking up an unknown name raises :class:`HtaError` naming the value being
    evaluated and the closest known parameter.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        Parameter name to its array, ``(n_draws, 1, 1)`` or ``(1, 1, 1)``.
    n : int
        Number of draws (1 when no parameter varies).
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], n: int):
        self._arrays = dict(arrays)
        self.n = n
        self.where = ""

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._arrays[name]
        except KeyError:
            raise HtaError(
                f"{self.where}: unknown parameter {name!r}{suggest(name, self._arrays)}; "
                f"declare it in the model's `parameters` or fix the name"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def get(self, name: str, default: Any = None) -> Any:
        """The array of parameter ``name``, or ``default`` if the model has no such parameter."""
        return self._arrays.get(name, default)

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)


@dataclass(frozen=True)
class Time:
    """The time axes a value is evaluated on.

    Attributes
    ----------
    cycle : ndarray, shape (1, m, 1), int
        Model cycle index (0 is the first cycle).
    cycle_length : float
        Cycle length in years.
    start_age : float or None
        Age at model start, in years.
    sojourn : ndarray, shape (1, 1, L), int
        Completed cycles in the current state (tunnel states only; else ``[[[0]]]``).
    strategy : str
        The strategy being evaluated.
    where : str
        The value being evaluated, for messages.
    """

    cycle: np.ndarray
    cycle_length: float
    start_age: float | None
    sojourn: np.ndarray
    strategy: str
    where: str = ""

    @property
    def branch(self) -> str:
        """The strategy, as :class:`~sim.model.values.ByStrategy` reads it to pick its branch.

        The engine shares a value between strategies that pick the same branches and
        never read ``strategy`` otherwise, so this read is not counted as one.
        """
        return object.__getattribute__(self, "strategy")

    @property
    def year(self) -> np.ndarray:
        """Model time in years at the start of each cycle, ``cycle * cycle_length``."""
        return self.cycle * self.cycle_length

    @property
    def model_time(self) -> np.ndarray:
        """Cycle numbered from 1, ``cycle + 1``: heemod's ``model_time`` (``markov_cycle``) and DARTH's ``t``.

        The value of cycle ``j`` here is the value heemod computes for ``model_time = j + 1``.
        """
        return self.cycle + 1

    @property
    def age(self) -> np.ndarray:
        """Age in years at the start of each cycle, ``start_age + year``."""
        if self.start_age is None:
            raise HtaError(
                f"{self.where}: the value uses age but the model has no `start_age`; "
                f"give Model(start_age=...)"
            )
        return self.start_age + self.year


@dataclass(frozen=True)
class Context:
    """What :func:`evaluate` needs: parameters, time axes and the target shape."""

    params: Params
    time: Time
    where: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """The full shape ``(draws, cycles, sojourn)`` a value broadcasts to."""
        return (self.params.n, self.time.cycle.shape[1], self.time.sojourn.shape[2])


# ---------------------------------------------------------------------------- plain values
@singledispatch
def evaluate(value: Any, ctx: Context) -> np.ndarray:
    """Evaluate ``value`` to a float array broadcastable to ``ctx.shape``.

    Parameters
    ----------
    value : number, str, expression or callable
        A model value (see :mod:`sim.model.values`).
    ctx : Context
        Parameters, time axes and the text naming the value (for messages).

    Returns
    -------
    ndarray, shape (draws | 1, cycles | 1, sojourn | 1)
        The value; an axis it does not vary along has length 1.
    """
    # the fallback: callables f(p, t), then anything else is not a value
    if callable(value):
        ctx.params.where = ctx.where
        try:
            out = value(ctx.params, ctx.time)
        except HtaError:
            raise
        except Exception as exc:  # user code: report where it was called from
            raise HtaError(
                f"{ctx.where}: the callable {callable_name(value)} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return _as_array(out, ctx, f"the callable {callable_name(value)}")
    raise HtaError(
        f"{ctx.where}: {value!r} ({type(value).__name__}) is not a value; use a number, a "
        f"parameter name, an expression such as Rate(...) or a callable f(p, t)"
    )


@evaluate.register
def _boolean(value: bool, ctx: Context) -> np.ndarray:
    raise HtaError(f"{ctx.where}: {value!r} is a boolean, not a number")


@evaluate.register(numbers.Real)
def _number(value: numbers.Real, ctx: Context) -> np.ndarray:
    return np.full((1, 1, 1), float(value))


@evaluate.register
def _parameter(value: str, ctx: Context) -> np.ndarray:
    ctx.params.where = ctx.where
    return ctx.params[value]


@evaluate.register
def _complement(value: Complement, ctx: Context) -> np.ndarray:
    raise HtaError(f"{ctx.where}: C (complement) is allowed only as a transition entry")


@evaluate.register
def _unknown_expression(value: Expr, ctx: Context) -> np.ndarray:
    raise HtaError(
        f"{ctx.where}: no evaluation is registered for {type(value).__name__}; "
        f"register one with sim.model.evaluate.expression"
    )


# ---------------------------------------------------------------------------- expressions
def expression(cls: type) -> Callable:
    """Register the evaluation of expression type ``cls`` (a decorator).

    Parameters
    ----------
    cls : type
        A subclass of :class:`~sim.model.values.Expr`.

    Returns
    -------
    callable
        A decorator taking ``f(value, ctx) -> array-like``; :func:`evaluate` then
        checks ``f``'s result for shape as it checks a callable's.
    """
    def register(f: Callable) -> Callable:
        @evaluate.register(cls)
        def checked(value: Any, ctx: Context) -> np.ndarray:
            return _as_array(f(value, ctx), ctx, type(value).__name__)

        return f

    return register


@expression(Rate)
def _rate(value: Rate, ctx: Context) -> np.ndarray:
    r = evaluate(value.rate, ctx)
    if np.any(r < 0):
        raise HtaError(f"{ctx.where}: negative rate {float(np.min(r))!r}; rates must be >= 0")
    h = ctx.time.cycle_length if value.per == "year" else 1.0
    return -np.expm1(-r * h)


@expression(HazardRatio)
def _hazard_ratio(value: HazardRatio, ctx: Context) -> np.ndarray:
    p = _probability(evaluate(value.p, ctx), ctx, "HazardRatio")
    hr = evaluate(value.hr, ctx)
    if np.any(hr < 0):
        raise HtaError(f"{ctx.where}: hazard ratio {float(np.min(hr))!r} is negative; it must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):  # p = 1: log(0) = -inf, probability 1; NaN is reported later
        return -np.expm1(hr * np.log1p(-p))


@expression(RelativeRisk)
def _relative_risk(value: RelativeRisk, ctx: Context) -> np.ndarray:
    return evaluate(value.p, ctx) * evaluate(value.rr, ctx)


@expression(AnyOf)
def _any_of(value: AnyOf, ctx: Context) -> np.ndarray:
    out = np.ones((1, 1, 1))
    for p in value.probs:
        out = out * (1.0 - _probability(evaluate(p, ctx), ctx, "AnyOf"))
    return 1.0 - out


@expression(ByStrategy)
def _by_strategy(value: ByStrategy, ctx: Context) -> np.ndarray:
    s = ctx.time.branch
    if s in value.values:
        return evaluate(value.values[s], ctx)
    if value.default is not None:
        return evaluate(value.default, ctx)
    raise HtaError(f"{ctx.where}: ByStrategy has no value for strategy {s!r} and no default")


def _pick(entries: tuple, index: np.ndarray, ctx: Context, what: str) -> np.ndarray:
    """``entries[index]`` where the entries are values: numbers by lookup, others evaluated and selected."""
    if all(isinstance(v, float) for v in entries):
        return np.asarray(entries)[np.minimum(index, len(entries) - 1)].astype(float)
    out = None
    for i, v in enumerate(entries):
        a = _as_array(evaluate(v, _entry_ctx(ctx, what, i)), ctx, f"{what} entry {i}")
        out = a if out is None else np.where(index >= i, a, out)
    return out + np.zeros(index.shape)


def _entry_ctx(ctx: Context, what: str, i: int) -> Context:
    return Context(ctx.params, ctx.time, f"{ctx.where}, {what} entry {i}")


@expression(ByCycle)
def _by_cycle(value: ByCycle, ctx: Context) -> np.ndarray:
    cyc = ctx.time.cycle
    n = len(value.values)
    inside = cyc < n
    head = _pick(value.values, cyc, ctx, "ByCycle")
    if np.all(inside):
        return head
    if value.then is None:
        raise HtaError(
            f"{ctx.where}: ByCycle has {n} values but cycle {int(cyc.max())} is "
            f"needed; give more values or ByCycle(values, then=...) for later cycles"
        )
    return np.where(inside, head, evaluate(value.then, ctx))


@expression(BySojourn)
def _by_sojourn(value: BySojourn, ctx: Context) -> np.ndarray:
    return _pick(value.values, ctx.time.sojourn, ctx, "BySojourn")


# ---------------------------------------------------------------------------- arithmetic and leaves
_ARITH = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
}


@expression(Arith)
def _arith(value: Arith, ctx: Context) -> np.ndarray:
    """Elementwise arithmetic on the operands' arrays (broadcast over draws, cycles, sojourn).

    Division by zero and the like give inf or NaN, which the model checks report with
    strategy, state and cycle; a negative base to a fractional power is reported here.
    """
    a = evaluate(value.left, ctx)
    if value.op == "neg":
        return np.negative(a)
    b = evaluate(value.right, ctx)
    if value.op == "**" and np.any((a < 0) & (np.asarray(b) % 1 != 0)):
        raise HtaError(
            f"{ctx.where}: {describe(value)} raises the negative number {float(np.min(a))!r} to a "
            f"fractional power; the result is not a real number"
        )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _ARITH[value.op](a, b)


@expression(Param)
def _param(value: Param, ctx: Context) -> np.ndarray:
    return evaluate(value.name, ctx)


@expression(Cycle)
def _cycle(value: Cycle, ctx: Context) -> np.ndarray:
    return ctx.time.cycle.astype(float)


@expression(ModelTime)
def _model_time(value: ModelTime, ctx: Context) -> np.ndarray:
    return ctx.time.model_time.astype(float)


@expression(Year)
def _year(value: Year, ctx: Context) -> np.ndarray:
    return np.asarray(ctx.time.year, dtype=float)


@expression(Age)
def _age(value: Age, ctx: Context) -> np.ndarray:
    return np.asarray(ctx.time.age, dtype=float)


@expression(Mortality)
def _mortality(value: Mortality, ctx: Context) -> np.ndarray:
    """Annual ``q`` at the cohort's age, for a cycle of ``h`` years: ``1 - (1 - q) ** h``."""
    q = value.table.annual_probability(value.sex, ctx.time.age, where=ctx.where)
    h = ctx.time.cycle_length
    if h == 1.0:
        return q
    with np.errstate(divide="ignore"):  # q = 1 (open-ended last age): log(0) = -inf, probability 1
        return -np.expm1(h * np.log1p(-q))


# ---------------------------------------------------------------------------- checks
def _probability(a: np.ndarray, ctx: Context, expr: str) -> np.ndarray:
    """Check that an expression's input is a probability (NaN is reported later)."""
    bad = (a < 0) | (a > 1)
    if np.any(bad):
        v = float(a[bad].flat[0])
        hint = "; if this is a rate, wrap it in Rate(...)" if v > 1 else ""
        raise HtaError(f"{ctx.where}: {expr} input probability {v!r} is {'above 1' if v > 1 else 'negative'}{hint}")
    return a


def _as_array(x: Any, ctx: Context, origin: str) -> np.ndarray:
    """The result of an expression or a callable as a float array of a shape that broadcasts."""
    if x is None:
        raise HtaError(f"{ctx.where}: {origin} returned None; did it forget `return`?")
    if isinstance(x, (str, bytes)):
        raise HtaError(f"{ctx.where}: {origin} returned the text {x!r}, not a number or array")
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise HtaError(f"{ctx.where}: {origin} gave {type(x).__name__}, not a number or array") from None
    if a.ndim == 0:
        return a.reshape(1, 1, 1)
    target = ctx.shape
    if a.ndim != 3 or any(s not in (1, t) for s, t in zip(a.shape, target, strict=True)):
        raise HtaError(
            f"{ctx.where}: {origin} gave an array of shape {a.shape}; expected a number or an "
            f"array broadcastable to (draws, cycles, sojourn) = {target}. Build it from p[...] "
            f"(shape (draws, 1, 1)) and t.cycle / t.year / t.age / t.sojourn arrays"
        )
    return a


# the function nodes (Exp, Log, Min, Max, Compare, Where, Competing) register their evaluations
from sim.model import functions as _functions  # noqa: E402, F401
