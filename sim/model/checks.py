"""Structural checks of a model, made when it is built.

:meth:`Model.__post_init__ <sim.model.spec.Model>` calls these functions in order:
names (:func:`names`, :func:`distinct`), field types (:func:`mapping`), settings
(:func:`cycle_length`, :func:`settings`), then the structure (:func:`structure`:
tunnels, dead states, transitions, start distribution, rewards). Each raises
:class:`~sim.errors.HtaError` naming the field, the entry and the fix; none
evaluates a value (numeric checks happen in :func:`sim.model.arrays.build_arrays`,
where strategy, cycle and draw are known). They read the model; the only fields
they normalise are returned to the caller, which stores them.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sim.errors import HtaError, is_number, suggest
from sim.model.conventions import DISCOUNT_TIMINGS, correction_weights
from sim.model.values import ANY, BySojourn, Complement, referenced_params, referenced_strategies, uses_sojourn, walk

if TYPE_CHECKING:
    from sim.model.spec import Model

__all__ = ["names", "distinct", "mapping", "cycle_length", "settings", "structure", "value"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------- names and fields
def names(given: Any, what: str) -> tuple[str, ...]:
    """Check a list of state or strategy names.

    Parameters
    ----------
    given : sequence of str
        The names.
    what : {"state", "strategy"}
        What they name, for messages.

    Returns
    -------
    tuple of str
        The names, checked: non-empty, distinct strings other than :data:`~sim.model.values.ANY`.
    """
    if isinstance(given, str):
        raise HtaError(f"{what}s must be a list of names, not the single string {given!r}")
    out = tuple(given)
    if not out:
        raise HtaError(f"the model needs at least one {what}")
    for n in out:
        if not isinstance(n, str) or not n.strip() or n == ANY:
            raise HtaError(f"{what} name {n!r} must be a non-empty string other than {ANY!r}")
    dup = {n for n in out if out.count(n) > 1}
    if dup:
        raise HtaError(f"duplicate {what} names: {sorted(dup)}")
    return out


def distinct(states: tuple[str, ...], strategies: tuple[str, ...]) -> None:
    """Check that no name is both a state and a strategy.

    Parameters
    ----------
    states, strategies : tuple of str
        The model's names.
    """
    clash = set(states) & set(strategies)
    if clash:
        raise HtaError(
            f"{sorted(clash)} named both a state and a strategy; give them distinct names"
        )


def pairs(v: Any, field: str) -> tuple[tuple[Any, Any], ...]:
    """``v`` as a tuple of pairs (a sequence of 2-item sequences), else an error naming ``field``."""
    try:
        out = tuple(tuple(p) for p in v)
    except TypeError:
        out = None
    if out is None or isinstance(v, (str, bytes)) or any(len(p) != 2 or isinstance(p, str) for p in out):
        raise HtaError(f"{field} {v!r} must be a list of (from_state, to_state) pairs")
    return out


def mapping(v: Any, field: str) -> Mapping:
    """Check that model field ``field`` is a mapping.

    Parameters
    ----------
    v : object
        The field's value.
    field : str
        The field's name, for messages.

    Returns
    -------
    Mapping
        ``v``.
    """
    if not isinstance(v, Mapping):
        raise HtaError(f"Model {field}= must be a mapping (dict), not {type(v).__name__}")
    return v


# ---------------------------------------------------------------------------- settings
def cycle_length(h: Any) -> float:
    """Check the cycle length.

    Parameters
    ----------
    h : number
        Cycle length in years.

    Returns
    -------
    float
        ``h`` as a float.
    """
    if not _is_pos(h):
        raise HtaError(f"cycle_length {h!r} must be a positive number of years (e.g. 1, 1/12)")
    return float(h)


def settings(model: Model) -> None:
    """Check horizon, start age, discount timing, correction and base-case parameters.

    Parameters
    ----------
    model : Model
        The model, with names, fields and cycle length already checked.
    """
    h = model.cycle_length
    if (model.horizon is None) == (model.horizon_years is None):
        raise HtaError("give exactly one of horizon (cycles) or horizon_years")
    if model.horizon is not None:
        if isinstance(model.horizon, bool) or not isinstance(model.horizon, numbers.Integral) or model.horizon < 1:
            raise HtaError(f"horizon {model.horizon!r} must be a whole number of cycles >= 1")
    else:
        y = model.horizon_years
        if not _is_pos(y):
            raise HtaError(f"horizon_years {y!r} must be a positive number")
        cycles = y / h
        if abs(cycles - round(cycles)) > 1e-9 * max(1.0, cycles) or round(cycles) < 1:
            raise HtaError(
                f"horizon_years {y!r} is {cycles:.6g} cycles of {h:g} years; it must be a "
                f"whole number of cycles"
            )
    if model.start_age is not None and not (is_number(model.start_age) and model.start_age >= 0):
        raise HtaError(f"start_age {model.start_age!r} must be a number >= 0 (years)")
    if model.discount_timing not in DISCOUNT_TIMINGS:
        raise HtaError(
            f"discount_timing {model.discount_timing!r}{suggest(model.discount_timing, DISCOUNT_TIMINGS)}: "
            f"choose one of {', '.join(DISCOUNT_TIMINGS)}"
        )
    correction_weights(model.correction, model.n_cycles)  # raises for Simpson with odd T
    if model.utility_max is not None and not is_number(model.utility_max):
        raise HtaError(f"utility_max {model.utility_max!r} must be a finite number (default 1) or None (no bound)")
    for name, v in model.parameters.items():
        if not isinstance(name, str) or not name:
            raise HtaError(f"parameter name {name!r} must be a non-empty string")
        if not is_number(v):
            raise HtaError(f"parameter {name!r}: base-case value {v!r} must be a finite number")


def _is_pos(x: Any) -> bool:
    return is_number(x) and float(x) > 0


# ---------------------------------------------------------------------------- structure
def structure(model: Model) -> None:
    """Check tunnels, dead states, transitions, start distribution and rewards.

    Parameters
    ----------
    model : Model
        The model, with names and settings already checked.
    """
    for s, L in model.tunnels.items():
        _state(model, s, "tunnels")
        if isinstance(L, bool) or not isinstance(L, numbers.Integral) or L < 2:
            raise HtaError(f"tunnels[{s!r}] = {L!r} must be a whole number of cycles >= 2")
    for s in model.dead:
        _state(model, s, "dead")
    for pair in model.carry_sojourn:
        a, b = _pair(model, pair, "carry_sojourn")
        if a == b or a not in model.tunnels or b not in model.tunnels:
            raise HtaError(
                f"carry_sojourn ({a!r}, {b!r}): the time in state carries from one tunnel state to another; "
                f"give two different states, both in tunnels= (tunnels has {', '.join(map(repr, model.tunnels))})"
            )
    _transitions(model)
    _start(model)
    _rewards(model)


def _transitions(model: Model) -> None:
    """Shared and per-strategy entries, then at most one complement per row."""
    _transition_entries(model, model.transitions, "transitions")
    for strat, entries in model.strategy_transitions.items():
        _strategy(model, strat, "strategy_transitions")
        if not isinstance(entries, Mapping):
            raise HtaError(f"strategy_transitions[{strat!r}] must be a mapping of (from, to) to value")
        _transition_entries(model, entries, f"strategy_transitions[{strat!r}]")
    for strat in model.strategies:
        for frm, row in model.rows(strat).items():
            n_c = sum(isinstance(v, Complement) for v in row.values())
            if n_c > 1:
                raise HtaError(
                    f"strategy {strat!r}, transitions from {frm!r}: {n_c} complements (C); "
                    f"at most one entry per row may be C"
                )


def _transition_entries(model: Model, entries: Mapping, where: str) -> None:
    for key, v in entries.items():
        a, b = _pair(model, key, where)
        value(model, v, f"{where} {a!r} -> {b!r}", state=a, complement=True)


def _start(model: Model) -> None:
    """Start distribution: state -> share, or strategy -> (state -> share)."""
    if model.start and all(isinstance(v, Mapping) for v in model.start.values()):
        for k in model.start:
            _strategy(model, k, "start (one distribution per strategy)")
        missing = [s for s in model.strategies if s not in model.start]
        if missing:
            raise HtaError(f"start: no start distribution for strategies {missing}")
        for strat, dist in model.start.items():
            if not isinstance(dist, Mapping):
                raise HtaError(f"start[{strat!r}] must be a mapping of state to share")
            _start_shares(model, dist, f"start[{strat!r}]")
    else:
        _start_shares(model, model.start, "start")


def _start_shares(model: Model, dist: Mapping, where: str) -> None:
    if not dist:
        raise HtaError(f"{where}: empty start distribution; give e.g. {{{model.states[0]!r}: 1.0}}")
    for s, v in dist.items():
        _state(model, s, where)
        value(model, v, f"{where} share of {s!r}")


def _rewards(model: Model) -> None:
    """State costs and utilities, transition costs, start costs and utilities, transition utilities."""
    _state_costs(model, model.costs, "costs", "cost")
    for s, v in model.utilities.items():
        _state(model, s, "utilities")
        value(model, v, f"utility of state {s!r}", state=s)
    for comp, table in model.transition_costs.items():
        _component(comp, "transition_costs")
        if not isinstance(table, Mapping):
            raise HtaError(f"transition_costs[{comp!r}] must be a mapping of (from, to) to cost")
        for key, v in table.items():
            a, b = _pair(model, key, f"transition_costs[{comp!r}]", allow_any=True)
            value(model, v, f"transition cost {comp!r} {a!r} -> {b!r}", state=a if a != ANY else None)
    _state_costs(model, model.start_costs, "start_costs", "start cost")
    for s, v in model.start_utilities.items():
        _state(model, s, "start_utilities")
        value(model, v, f"start utility of state {s!r}", state=s)
    for key, v in model.transition_utilities.items():
        a, b = _pair(model, key, "transition_utilities", allow_any=True)
        value(model, v, f"transition utility {a!r} -> {b!r}", state=a if a != ANY else None)


def _state_costs(model: Model, tables: Mapping, field_name: str, label: str) -> None:
    """``{component: {state: value}}`` tables (state costs per cycle, start costs)."""
    for comp, table in tables.items():
        _component(comp, field_name)
        if not isinstance(table, Mapping):
            raise HtaError(f"{field_name}[{comp!r}] must be a mapping of state to {label}")
        for s, v in table.items():
            _state(model, s, f"{field_name}[{comp!r}]")
            value(model, v, f"{label} {comp!r} of state {s!r}", state=s)


# ---------------------------------------------------------------------------- one entry
def value(model: Model, v: Any, where: str, *, state: str | None = None, complement: bool = False) -> None:
    """Check one value without evaluating it: the names it refers to and where it may stand.

    Parameters
    ----------
    model : Model
        The model (its parameters, strategies and tunnels).
    v : number, str, expression or callable
        The value.
    where : str
        The entry, for messages (e.g. ``"transitions 'A' -> 'B'"``).
    state : str, optional
        The state the value belongs to (a :class:`~sim.model.values.BySojourn` needs a tunnel).
    complement : bool
        Whether :data:`~sim.model.values.C` may stand here (transition entries only).
    """
    if isinstance(v, Complement):
        if not complement:
            raise HtaError(f"{where}: C (complement) is allowed only as a transition entry")
        return
    for name in referenced_params(v):
        if name not in model.parameters:
            raise HtaError(
                f"{where}: unknown parameter {name!r}{suggest(name, model.parameters)}; "
                f"declare it in parameters= or fix the name"
            )
    for bs, listed in referenced_strategies(v):
        for s in listed:
            _strategy(model, s, f"{where}, ByStrategy")
        missing = [s for s in model.strategies if s not in listed]
        if missing and bs.default is None:
            raise HtaError(
                f"{where}: ByStrategy has no value for strategies {missing}; add them or a default="
            )
    if uses_sojourn(v):
        if state is None or state not in model.tunnels:
            raise HtaError(
                f"{where}: BySojourn is used but {state!r} is not a tunnel state; declare "
                f"tunnels={{{state!r}: n_cycles}}"
            )
        for node in walk(v):
            if isinstance(node, BySojourn) and len(node.values) > model.tunnels[state]:
                raise HtaError(
                    f"{where}: BySojourn has {len(node.values)} values but tunnel {state!r} tracks "
                    f"only {model.tunnels[state]} cycles; raise tunnels[{state!r}]"
                )


def _state(model: Model, s: Any, where: str, allow_any: bool = False) -> None:
    if allow_any and s == ANY:
        return
    if s not in model.states:
        raise HtaError(
            f"{where}: unknown state {s!r}{suggest(s, model.states)}; states are "
            f"{', '.join(map(repr, model.states))}"
        )


def _strategy(model: Model, s: Any, where: str) -> None:
    if s not in model.strategies:
        raise HtaError(
            f"{where}: unknown strategy {s!r}{suggest(s, model.strategies)}; strategies are "
            f"{', '.join(map(repr, model.strategies))}"
        )


def _component(comp: Any, where: str) -> None:
    if not isinstance(comp, str) or not _IDENT.match(comp):
        raise HtaError(
            f"{where}: component name {comp!r} must be an identifier (letters, digits, _), "
            f"e.g. costs={{'drug': {{...}}}}; it becomes the column cost_{comp}"
        )


def _pair(model: Model, key: Any, where: str, allow_any: bool = False) -> tuple[str, str]:
    if not (isinstance(key, tuple) and len(key) == 2):
        raise HtaError(f"{where}: key {key!r} must be a (from_state, to_state) pair")
    a, b = key
    _state(model, a, where, allow_any=allow_any)
    _state(model, b, where)
    return a, b
