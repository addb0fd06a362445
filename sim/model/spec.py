"""The model specification: an immutable, validated description of a Markov model.

A :class:`Model` is data.  Building one checks its structure (names, shapes,
settings) and raises :class:`~sim.errors.HtaError` naming what is wrong;
numeric checks (probabilities in [0, 1], rows summing to 1, finite rewards)
happen when an engine evaluates the model, where strategy, cycle and draw are
known.  Variants are made with :meth:`Model.replace`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sim.errors import HtaError, suggest
from sim.model.conventions import DISCOUNT_TIMINGS, as_discount, canonical_correction, correction_weights
from sim.model.values import (
    Complement,
    referenced_params,
    referenced_strategies,
    uses_sojourn,
)

__all__ = ["Model", "ANY", "FrozenDict"]

#: Wildcard from-state for transition rewards: ``(ANY, "Post-op")`` charges every
#: entry into "Post-op" from any other state.
ANY = "*"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FrozenDict(dict):
    """A dict that refuses changes (picklable, unlike ``MappingProxyType``)."""

    def _blocked(self, *a, **k):
        raise TypeError("model specifications are immutable; use Model.replace(...)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _blocked  # type: ignore[assignment]

    def __hash__(self):  # pragma: no cover - identity is enough for frozen specs
        return id(self)

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


def _freeze(x: Any) -> Any:
    if isinstance(x, Mapping):
        return FrozenDict({k: _freeze(v) for k, v in x.items()})
    return x


@dataclass(frozen=True, eq=False)
class Model:
    """A Markov cohort model.

    Parameters
    ----------
    states : sequence of str
        Health states, in display order.
    strategies : sequence of str
        Strategies compared.
    transitions : mapping of (from_state, to_state) to value
        Per-cycle transition probabilities shared by all strategies.  A value is a
        number, a parameter name, an expression (:class:`~sim.values.Rate`,
        :class:`~sim.values.HazardRatio`, :class:`~sim.values.ByStrategy`, ...) or a
        callable ``f(p, t)``; :data:`~sim.values.C` marks the complement (the rest
        of the row, at most one per row).  A state with no outgoing entry is
        absorbing.
    start : mapping
        Start distribution, state -> share, or strategy -> (state -> share).
        Shares must sum to 1.
    horizon : int, optional
        Number of cycles ``T`` (give this or ``horizon_years``).
    horizon_years : float, optional
        Horizon in years; must be a whole number of cycles.
    cycle_length : float
        Cycle length in years (default 1).
    start_age : float, optional
        Cohort age at time 0; makes ``t.age`` and life tables available.
    parameters : mapping of str to float
        Base-case parameter values; draws override them.
    strategy_transitions : mapping of strategy to (mapping of (from, to) to value)
        Entries that replace or add to ``transitions`` for one strategy.
    costs : mapping of component to (mapping of state to value)
        State costs *per cycle*, by cost component (e.g. ``"drug"``, ``"care"``).
    utilities : mapping of state to value
        Utility weights *per year*; a cycle in the state yields ``u * cycle_length`` QALYs.
    transition_costs : mapping of component to (mapping of (from, to) to value)
        One-off costs of a transition (from-state :data:`ANY` = from any other state).
    transition_utilities : mapping of (from, to) to value
        One-off QALY gains (negative: losses) of a transition.
    start_costs : mapping of component to (mapping of state to value)
        One-off costs at time 0 of starting in a state (e.g. the index procedure),
        weighted by the start distribution, not discounted.
    start_utilities : mapping of state to value
        One-off QALY gains (or losses) at time 0 of starting in a state.
    dead : sequence of str
        States that do not count towards life-years.
    tunnels : mapping of state to int
        States whose values may depend on time spent in them: the model tracks
        0 .. L-1 completed cycles in the state (the last slot holds longer stays).
    correction : str
        Within-cycle correction (see :data:`sim.conventions.CORRECTIONS`).
    discount_costs, discount_outcomes : float or Discount
        Annual discount rates (or step-down schedules) for costs and for QALYs
        and life-years.
    discount_timing : {"exact", "annual"}
        Whether trace points are discounted at their exact time or at the start
        of their year.
    name, description : str
        For results and reports.
    """

    states: tuple[str, ...]
    strategies: tuple[str, ...]
    transitions: Mapping[tuple[str, str], Any]
    start: Mapping[str, Any]
    horizon: int | None = None
    horizon_years: float | None = None
    cycle_length: float = 1.0
    start_age: float | None = None
    parameters: Mapping[str, float] = field(default_factory=dict)
    strategy_transitions: Mapping[str, Mapping[tuple[str, str], Any]] = field(default_factory=dict)
    costs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    utilities: Mapping[str, Any] = field(default_factory=dict)
    transition_costs: Mapping[str, Mapping[tuple[str, str], Any]] = field(default_factory=dict)
    transition_utilities: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    start_costs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    start_utilities: Mapping[str, Any] = field(default_factory=dict)
    dead: tuple[str, ...] = ()
    tunnels: Mapping[str, int] = field(default_factory=dict)
    correction: str = "half-cycle"
    discount_costs: Any = 0.0
    discount_outcomes: Any = 0.0
    discount_timing: str = "exact"
    name: str = "model"
    description: str = ""

    # ---------------------------------------------------------------- building
    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("states", self._names(self.states, "state"))
        set_("strategies", self._names(self.strategies, "strategy"))
        clash = set(self.states) & set(self.strategies)
        if clash:
            raise HtaError(
                f"{sorted(clash)} named both a state and a strategy; give them distinct names"
            )
        set_("dead", tuple([self.dead] if isinstance(self.dead, str) else self.dead))
        for k in ("transitions", "start", "parameters", "strategy_transitions", "costs",
                  "utilities", "transition_costs", "transition_utilities", "start_costs",
                  "start_utilities", "tunnels"):
            v = getattr(self, k)
            if not isinstance(v, Mapping):
                raise HtaError(f"Model {k}= must be a mapping (dict), not {type(v).__name__}")
            set_(k, _freeze(v))
        set_("correction", canonical_correction(self.correction))
        for k in ("discount_costs", "discount_outcomes"):
            try:
                set_(k, as_discount(getattr(self, k)))
            except HtaError as exc:
                raise HtaError(f"{k}: {exc}") from None
        self._check_settings()
        self._check_structure()

    @staticmethod
    def _names(names, what: str) -> tuple[str, ...]:
        if isinstance(names, str):
            raise HtaError(f"{what}s must be a list of names, not the single string {names!r}")
        out = tuple(names)
        if not out:
            raise HtaError(f"the model needs at least one {what}")
        for n in out:
            if not isinstance(n, str) or not n.strip() or n == ANY:
                raise HtaError(f"{what} name {n!r} must be a non-empty string other than {ANY!r}")
        dup = {n for n in out if out.count(n) > 1}
        if dup:
            raise HtaError(f"duplicate {what} names: {sorted(dup)}")
        return out

    def _check_settings(self) -> None:
        h = self.cycle_length
        if not _is_pos(h):
            raise HtaError(f"cycle_length {h!r} must be a positive number of years (e.g. 1, 1/12)")
        object.__setattr__(self, "cycle_length", float(h))
        if (self.horizon is None) == (self.horizon_years is None):
            raise HtaError("give exactly one of horizon (cycles) or horizon_years")
        if self.horizon is not None:
            if isinstance(self.horizon, bool) or not isinstance(self.horizon, numbers.Integral) or self.horizon < 1:
                raise HtaError(f"horizon {self.horizon!r} must be a whole number of cycles >= 1")
        else:
            y = self.horizon_years
            if not _is_pos(y):
                raise HtaError(f"horizon_years {y!r} must be a positive number")
            cycles = y / h
            if abs(cycles - round(cycles)) > 1e-9 * max(1.0, cycles) or round(cycles) < 1:
                raise HtaError(
                    f"horizon_years {y!r} is {cycles:.6g} cycles of {h:g} years; it must be a "
                    f"whole number of cycles"
                )
        if self.start_age is not None and not (_is_num(self.start_age) and self.start_age >= 0):
            raise HtaError(f"start_age {self.start_age!r} must be a number >= 0 (years)")
        if self.discount_timing not in DISCOUNT_TIMINGS:
            raise HtaError(
                f"discount_timing {self.discount_timing!r}{suggest(self.discount_timing, DISCOUNT_TIMINGS)}: "
                f"choose one of {', '.join(DISCOUNT_TIMINGS)}"
            )
        correction_weights(self.correction, self.n_cycles)  # raises for Simpson with odd T
        for name, v in self.parameters.items():
            if not isinstance(name, str) or not name:
                raise HtaError(f"parameter name {name!r} must be a non-empty string")
            if not _is_num(v):
                raise HtaError(f"parameter {name!r}: base-case value {v!r} must be a finite number")

    def _state(self, s: Any, where: str, allow_any: bool = False) -> None:
        if allow_any and s == ANY:
            return
        if s not in self.states:
            raise HtaError(
                f"{where}: unknown state {s!r}{suggest(s, self.states)}; states are "
                f"{', '.join(map(repr, self.states))}"
            )

    def _strategy(self, s: Any, where: str) -> None:
        if s not in self.strategies:
            raise HtaError(
                f"{where}: unknown strategy {s!r}{suggest(s, self.strategies)}; strategies are "
                f"{', '.join(map(repr, self.strategies))}"
            )

    def _value(self, v: Any, where: str, *, state: str | None = None, complement: bool = False) -> None:
        if isinstance(v, Complement):
            if not complement:
                raise HtaError(f"{where}: C (complement) is allowed only as a transition entry")
            return
        for name in referenced_params(v):
            if name not in self.parameters:
                raise HtaError(
                    f"{where}: unknown parameter {name!r}{suggest(name, self.parameters)}; "
                    f"declare it in parameters= or fix the name"
                )
        for bs, names in referenced_strategies(v):
            for s in names:
                self._strategy(s, f"{where}, ByStrategy")
            missing = [s for s in self.strategies if s not in names]
            if missing and bs.default is None:
                raise HtaError(
                    f"{where}: ByStrategy has no value for strategies {missing}; add them or a default="
                )
        if uses_sojourn(v):
            if state is None or state not in self.tunnels:
                raise HtaError(
                    f"{where}: BySojourn is used but {state!r} is not a tunnel state; declare "
                    f"tunnels={{{state!r}: n_cycles}}"
                )
            from sim.model.values import BySojourn, _walk

            for node in _walk(v):
                if isinstance(node, BySojourn) and len(node.values) > self.tunnels[state]:
                    raise HtaError(
                        f"{where}: BySojourn has {len(node.values)} values but tunnel {state!r} tracks "
                        f"only {self.tunnels[state]} cycles; raise tunnels[{state!r}]"
                    )

    def _check_structure(self) -> None:
        for s, L in self.tunnels.items():
            self._state(s, "tunnels")
            if isinstance(L, bool) or not isinstance(L, numbers.Integral) or L < 2:
                raise HtaError(f"tunnels[{s!r}] = {L!r} must be a whole number of cycles >= 2")
        for s in self.dead:
            self._state(s, "dead")
        self._check_transitions(self.transitions, "transitions")
        for strat, entries in self.strategy_transitions.items():
            self._strategy(strat, "strategy_transitions")
            if not isinstance(entries, Mapping):
                raise HtaError(f"strategy_transitions[{strat!r}] must be a mapping of (from, to) to value")
            self._check_transitions(entries, f"strategy_transitions[{strat!r}]")
        for strat in self.strategies:
            for frm, row in self.rows(strat).items():
                n_c = sum(isinstance(v, Complement) for v in row.values())
                if n_c > 1:
                    raise HtaError(
                        f"strategy {strat!r}, transitions from {frm!r}: {n_c} complements (C); "
                        f"at most one entry per row may be C"
                    )
        # start distribution: state -> share, or strategy -> (state -> share)
        if self.start and all(isinstance(v, Mapping) for v in self.start.values()):
            for k in self.start:
                self._strategy(k, "start (one distribution per strategy)")
            missing = [s for s in self.strategies if s not in self.start]
            if missing:
                raise HtaError(f"start: no start distribution for strategies {missing}")
            for strat, dist in self.start.items():
                if not isinstance(dist, Mapping):
                    raise HtaError(f"start[{strat!r}] must be a mapping of state to share")
                self._check_start(dist, f"start[{strat!r}]")
        else:
            self._check_start(self.start, "start")
        # rewards
        self._check_state_costs(self.costs, "costs", "cost")
        for s, v in self.utilities.items():
            self._state(s, "utilities")
            self._value(v, f"utility of state {s!r}", state=s)
        for comp, table in self.transition_costs.items():
            self._component(comp, "transition_costs")
            if not isinstance(table, Mapping):
                raise HtaError(f"transition_costs[{comp!r}] must be a mapping of (from, to) to cost")
            for key, v in table.items():
                a, b = self._pair(key, f"transition_costs[{comp!r}]", allow_any=True)
                self._value(v, f"transition cost {comp!r} {a!r} -> {b!r}",
                            state=a if a != ANY else None)
        self._check_state_costs(self.start_costs, "start_costs", "start cost")
        for s, v in self.start_utilities.items():
            self._state(s, "start_utilities")
            self._value(v, f"start utility of state {s!r}", state=s)
        for key, v in self.transition_utilities.items():
            a, b = self._pair(key, "transition_utilities", allow_any=True)
            self._value(v, f"transition utility {a!r} -> {b!r}", state=a if a != ANY else None)

    def _check_state_costs(self, tables: Mapping, field_name: str, label: str) -> None:
        """``{component: {state: value}}`` tables (state costs per cycle, start costs)."""
        for comp, table in tables.items():
            self._component(comp, field_name)
            if not isinstance(table, Mapping):
                raise HtaError(f"{field_name}[{comp!r}] must be a mapping of state to {label}")
            for s, v in table.items():
                self._state(s, f"{field_name}[{comp!r}]")
                self._value(v, f"{label} {comp!r} of state {s!r}", state=s)

    def _component(self, comp: Any, where: str) -> None:
        if not isinstance(comp, str) or not _IDENT.match(comp):
            raise HtaError(
                f"{where}: component name {comp!r} must be an identifier (letters, digits, _), "
                f"e.g. costs={{'drug': {{...}}}}; it becomes the column cost_{comp}"
            )

    def _pair(self, key: Any, where: str, allow_any: bool = False) -> tuple[str, str]:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise HtaError(f"{where}: key {key!r} must be a (from_state, to_state) pair")
        a, b = key
        self._state(a, where, allow_any=allow_any)
        self._state(b, where)
        return a, b

    def _check_transitions(self, entries: Mapping, where: str) -> None:
        for key, v in entries.items():
            a, b = self._pair(key, where)
            self._value(v, f"{where} {a!r} -> {b!r}", state=a, complement=True)

    def _check_start(self, dist: Mapping, where: str) -> None:
        if not dist:
            raise HtaError(f"{where}: empty start distribution; give e.g. {{{self.states[0]!r}: 1.0}}")
        for s, v in dist.items():
            self._state(s, where)
            self._value(v, f"{where} share of {s!r}")

    # ---------------------------------------------------------------- derived
    @property
    def n_cycles(self) -> int:
        """Number of cycles ``T``."""
        if self.horizon is not None:
            return int(self.horizon)
        return int(round(self.horizon_years / self.cycle_length))

    def rows(self, strategy: str) -> dict[str, dict[str, Any]]:
        """Transition entries of one strategy: from-state -> (to-state -> value)."""
        merged = dict(self.transitions)
        merged.update(self.strategy_transitions.get(strategy, {}))
        out: dict[str, dict[str, Any]] = {}
        for (a, b), v in merged.items():
            out.setdefault(a, {})[b] = v
        return out

    def start_for(self, strategy: str) -> Mapping[str, Any]:
        """Start distribution (state -> value) of one strategy."""
        if self.start and all(isinstance(v, Mapping) for v in self.start.values()):
            return self.start[strategy]
        return self.start

    @cached_property
    def absorbing(self) -> tuple[str, ...]:
        """States that no strategy ever leaves (no outgoing entry other than to itself)."""
        out = []
        for s in self.states:
            if all(set(self.rows(k).get(s, {})) <= {s} for k in self.strategies):
                out.append(s)
        return tuple(out)

    @cached_property
    def layout(self) -> tuple[tuple[str, int], ...]:
        """Expanded states: ``(state, sojourn)`` for every state and tunnel slot."""
        return tuple((s, d) for s in self.states for d in range(self.tunnels.get(s, 1)))

    @cached_property
    def offsets(self) -> dict[str, int]:
        """Index of each state's first expanded slot in :attr:`layout`."""
        out, i = {}, 0
        for s in self.states:
            out[s] = i
            i += self.tunnels.get(s, 1)
        return out

    @property
    def cost_components(self) -> tuple[str, ...]:
        """Cost components in order: state costs, then new transition-cost and start-cost ones."""
        comps = list(self.costs)
        comps += [c for c in self.transition_costs if c not in comps]
        comps += [c for c in self.start_costs if c not in comps]
        return tuple(comps)

    def replace(self, **changes: Any) -> Model:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_parameters(self, **values: float) -> Model:
        """A copy with some base-case parameter values changed."""
        unknown = [k for k in values if k not in self.parameters]
        if unknown:
            raise HtaError(
                f"unknown parameter {unknown[0]!r}{suggest(unknown[0], self.parameters)}; "
                f"with_parameters only changes declared parameters"
            )
        return self.replace(parameters={**self.parameters, **values})

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}: {len(self.states)} states, {len(self.strategies)} strategies, "
            f"{self.n_cycles} cycles of {self.cycle_length:g} y, correction={self.correction!r})"
        )


def _is_num(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))


def _is_pos(x: Any) -> bool:
    return _is_num(x) and float(x) > 0
