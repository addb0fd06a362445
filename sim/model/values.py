"""Values in a model: numbers, parameter names, expressions and callables.

Every transition probability, start share and reward in a :class:`~sim.model.Model`
is a *value*, one of

* a number (``0.2``);
* a parameter name (``"p_progress"``), looked up in the draws;
* an expression object from this module (:class:`Rate`, :class:`HazardRatio`,
  :class:`RelativeRisk`, :class:`ByStrategy`, :class:`ByCycle`, :class:`BySojourn`,
  :class:`AnyOf`, :class:`~sim.lifetable.Mortality`);
* a Python callable ``f(p, t)`` evaluated once per strategy on arrays over all
  draws and all cycles at once.

A value evaluates to an array that broadcasts to ``(draws, cycles, sojourn)``:
``p[name]`` has shape ``(n_draws, 1, 1)``, ``t.cycle`` ``(1, n_cycles, 1)`` and
``t.sojourn`` ``(1, 1, tunnel_length)``, so ordinary numpy arithmetic on them
yields the right shape.  A value that does not depend on draws or time keeps a
length-1 axis there, which keeps the engine's arrays small.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import HtaError, suggest

__all__ = [
    "C",
    "Complement",
    "Rate",
    "HazardRatio",
    "RelativeRisk",
    "AnyOf",
    "ByStrategy",
    "ByCycle",
    "BySojourn",
    "Params",
    "Time",
    "Context",
    "evaluate",
    "describe",
    "referenced_params",
    "referenced_strategies",
]


class Complement:
    """The rest of a transition row: ``1 - (sum of the row's other entries)``."""

    _instance: Complement | None = None

    def __new__(cls) -> Complement:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "C"

    def __reduce__(self):
        return (Complement, ())


#: The complement marker: ``transitions={("A", "A"): C, ...}``.
C = Complement()


class Params(Mapping):
    """Read-only view of parameter arrays, each shaped ``(n_draws, 1, 1)``.

    Looking up an unknown name raises :class:`HtaError` naming the value being
    evaluated and the closest known parameter.
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
    """

    cycle: np.ndarray
    cycle_length: float
    start_age: float | None
    sojourn: np.ndarray
    strategy: str
    where: str = ""

    @property
    def year(self) -> np.ndarray:
        """Model time in years at the start of each cycle, ``cycle * cycle_length``."""
        return self.cycle * self.cycle_length

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
        return (self.params.n, self.time.cycle.shape[1], self.time.sojourn.shape[2])


class Expr:
    """Base class of expression values."""

    def evaluate(self, ctx: Context) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def children(self) -> tuple[Any, ...]:
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

    def evaluate(self, ctx: Context) -> np.ndarray:
        r = evaluate(self.rate, ctx)
        if np.any(r < 0):
            raise HtaError(f"{ctx.where}: negative rate {float(np.min(r))!r}; rates must be >= 0")
        h = ctx.time.cycle_length if self.per == "year" else 1.0
        return -np.expm1(-r * h)

    def children(self):
        return (self.rate,)


@dataclass(frozen=True)
class HazardRatio(Expr):
    """A probability with its hazard scaled: ``1 - (1 - p) ** hr``.

    Exact when the hazard is constant within the cycle.
    """

    p: Any
    hr: Any

    def evaluate(self, ctx: Context) -> np.ndarray:
        p = _probability(evaluate(self.p, ctx), ctx, "HazardRatio")
        hr = evaluate(self.hr, ctx)
        if np.any(hr < 0):
            raise HtaError(f"{ctx.where}: hazard ratio {float(np.min(hr))!r} is negative; it must be >= 0")
        with np.errstate(divide="ignore", invalid="ignore"):  # p = 1: log(0) = -inf, probability 1; NaN is reported later
            return -np.expm1(hr * np.log1p(-p))

    def children(self):
        return (self.p, self.hr)


@dataclass(frozen=True)
class RelativeRisk(Expr):
    """A probability multiplied by a relative risk: ``p * rr``."""

    p: Any
    rr: Any

    def evaluate(self, ctx: Context) -> np.ndarray:
        return evaluate(self.p, ctx) * evaluate(self.rr, ctx)

    def children(self):
        return (self.p, self.rr)


@dataclass(frozen=True)
class AnyOf(Expr):
    """Probability that at least one of several independent events happens:
    ``1 - prod(1 - p_i)`` (e.g. background plus disease-specific death).
    """

    probs: tuple

    def __init__(self, *probs):
        object.__setattr__(self, "probs", tuple(probs))

    def evaluate(self, ctx: Context) -> np.ndarray:
        out = np.ones((1, 1, 1))
        for p in self.probs:
            out = out * (1.0 - _probability(evaluate(p, ctx), ctx, "AnyOf"))
        return 1.0 - out

    def children(self):
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

    def evaluate(self, ctx: Context) -> np.ndarray:
        s = ctx.time.strategy
        if s in self.values:
            return evaluate(self.values[s], ctx)
        if self.default is not None:
            return evaluate(self.default, ctx)
        raise HtaError(f"{ctx.where}: ByStrategy has no value for strategy {s!r} and no default")

    def children(self):
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

    def evaluate(self, ctx: Context) -> np.ndarray:
        cyc = ctx.time.cycle
        v = np.asarray(self.values)
        inside = cyc < len(v)
        head = v[np.minimum(cyc, len(v) - 1)].astype(float)
        if np.all(inside):
            return head
        if self.then is None:
            raise HtaError(
                f"{ctx.where}: ByCycle has {len(v)} values but cycle {int(cyc.max())} is "
                f"needed; give more values or ByCycle(values, then=...) for later cycles"
            )
        return np.where(inside, head, evaluate(self.then, ctx))

    def children(self):
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

    def evaluate(self, ctx: Context) -> np.ndarray:
        v = np.asarray(self.values)
        return v[np.minimum(ctx.time.sojourn, len(v) - 1)].astype(float)


def _probability(a: np.ndarray, ctx: Context, expr: str) -> np.ndarray:
    """Check that an expression's input is a probability (NaN is reported later)."""
    bad = (a < 0) | (a > 1)
    if np.any(bad):
        v = float(a[bad].flat[0])
        hint = "; if this is a rate, wrap it in Rate(...)" if v > 1 else ""
        raise HtaError(f"{ctx.where}: {expr} input probability {v!r} is {'above 1' if v > 1 else 'negative'}{hint}")
    return a


def _as_array(x: Any, ctx: Context, origin: str) -> np.ndarray:
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
    if a.ndim != 3 or any(s not in (1, t) for s, t in zip(a.shape, target)):
        raise HtaError(
            f"{ctx.where}: {origin} gave an array of shape {a.shape}; expected a number or an "
            f"array broadcastable to (draws, cycles, sojourn) = {target}. Build it from p[...] "
            f"(shape (draws, 1, 1)) and t.cycle / t.year / t.age / t.sojourn arrays"
        )
    return a


def evaluate(value: Any, ctx: Context) -> np.ndarray:
    """Evaluate ``value`` to a float array broadcastable to ``ctx.shape``."""
    if isinstance(value, bool):
        raise HtaError(f"{ctx.where}: {value!r} is a boolean, not a number")
    if isinstance(value, numbers.Real):
        return np.full((1, 1, 1), float(value))
    if isinstance(value, str):
        ctx.params.where = ctx.where
        return ctx.params[value]
    if isinstance(value, Complement):
        raise HtaError(f"{ctx.where}: C (complement) is allowed only as a transition entry")
    if isinstance(value, Expr):
        return _as_array(value.evaluate(ctx), ctx, type(value).__name__)
    if callable(value):
        ctx.params.where = ctx.where
        try:
            out = value(ctx.params, ctx.time)
        except HtaError:
            raise
        except Exception as exc:  # user code: report where it was called from
            raise HtaError(
                f"{ctx.where}: the callable {_callable_name(value)} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return _as_array(out, ctx, f"the callable {_callable_name(value)}")
    raise HtaError(
        f"{ctx.where}: {value!r} ({type(value).__name__}) is not a value; use a number, a "
        f"parameter name, an expression such as Rate(...) or a callable f(p, t)"
    )


def _callable_name(f: Callable) -> str:
    return getattr(f, "__qualname__", None) or repr(f)


def describe(value: Any) -> str:
    """A short text for a value, used in parameter listings and metadata."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value)) if not float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Complement):
        return "C"
    if callable(value) and not isinstance(value, Expr):
        return f"<{_callable_name(value)}>"
    return repr(value)


def _walk(value: Any):
    yield value
    if isinstance(value, Expr):
        for child in value.children():
            yield from _walk(child)


def referenced_params(value: Any) -> set[str]:
    """Parameter names a value refers to by name (callables are not inspected)."""
    return {v for v in _walk(value) if isinstance(v, str)}


def referenced_strategies(value: Any) -> list[tuple[ByStrategy, set[str]]]:
    """Every :class:`ByStrategy` in a value with the strategy names it lists."""
    return [(v, set(v.values)) for v in _walk(value) if isinstance(v, ByStrategy)]


def uses_sojourn(value: Any) -> bool:
    return any(isinstance(v, BySojourn) for v in _walk(value))
