"""The model specification: an immutable, validated description of a Markov model.

A :class:`Model` is data: its fields, the views derived from them (rows per
strategy, expanded tunnel layout, cost components) and :meth:`Model.replace`.
Building one checks its structure (names, shapes, settings; the functions of
``checks.py``) and raises :class:`~sim.errors.HtaError` naming what is wrong;
numeric checks (probabilities in [0, 1], rows summing to 1, finite rewards)
happen when an engine evaluates the model (``arrays.py``), where strategy, cycle
and draw are known.  Variants are made with :meth:`Model.replace`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sim.errors import HtaError, suggest
from sim.model import checks
from sim.model.conventions import as_discount, canonical_correction, check_transition_rewards
from sim.model.values import ANY

__all__ = ["Model", "ANY", "FrozenDict"]

#: Fields that are mappings (frozen when the model is built).
_MAPPINGS = ("transitions", "start", "parameters", "strategy_transitions", "costs", "utilities",
             "transition_costs", "transition_utilities", "start_costs", "start_utilities", "tunnels")


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


def _check_units(currency: Any, price_year: Any, effect_unit: Any) -> None:
    """Currency an ISO 4217 code, price year a whole year, effect unit a short name (each optional)."""
    if currency is not None and not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
        raise HtaError(f"currency {currency!r} must be a three-letter ISO 4217 code such as 'USD', 'GBP' or 'EUR'")
    if price_year is not None and (isinstance(price_year, bool) or not isinstance(price_year, int)
                                   or not 1900 <= price_year <= 2100):
        raise HtaError(f"price_year {price_year!r} must be a year between 1900 and 2100, such as 2023")
    if effect_unit is not None and not (isinstance(effect_unit, str) and 0 < len(effect_unit.strip()) <= 40):
        raise HtaError(f"effect_unit {effect_unit!r} must be a short name such as 'QALYs' or 'life-years' "
                       f"(at most 40 characters)")


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
        number, a parameter name, an expression (:class:`~sim.model.values.Rate`,
        :class:`~sim.model.values.HazardRatio`, :class:`~sim.model.values.ByStrategy`, ...) or a
        callable ``f(p, t)``; :data:`~sim.model.values.C` marks the complement (the rest
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
    carry_sojourn : sequence of (from_state, to_state)
        Pairs of tunnel states across which the time carries on: moving from ``from_state``
        after ``d`` completed cycles enters ``to_state`` at ``min(d + 1, L - 1)`` rather
        than 0 (time since onset across disease stages, without expanding states by hand).
    correction : str
        Within-cycle correction (see :data:`sim.model.conventions.CORRECTIONS`).
    discount_costs, discount_outcomes : float or Discount
        Annual discount rates (or step-down schedules) for costs and for QALYs
        and life-years.
    discount_timing : {"exact", "annual"}
        Whether trace points are discounted at their exact time or at the start
        of their year.
    transition_rewards : {"full", "corrected"}
        One-off transition rewards counted in full (default) or with the correction
        weight of the trace point at the end of their cycle (the DARTH tutorials' way);
        see :data:`sim.model.conventions.TRANSITION_REWARDS`.
    utility_max : float or None
        Largest allowed state utility per year (default 1, full health); a larger value,
        usually a percentage or a cost put in the wrong place, is an error naming strategy,
        state, cycle and draw.  Give ``None`` (or a larger bound) when state utilities are
        differences or another outcome scale.  One-off transition and start utilities are
        QALY changes and are not bounded.
    name, description : str
        For results and reports.
    currency : str, optional
        ISO 4217 code of the costs' currency (``"USD"``, ``"GBP"``, ``"EUR"``), shown in every
        table header and axis label of the outputs.
    price_year : int, optional
        The year whose prices the costs are in (shown as ``"USD 2023"``).
    effect_unit : str, optional
        The unit of the model's effect measure as the outputs name it (``"QALYs"``,
        ``"life-years"``); default: ``"QALYs"`` for QALYs, ``"life-years"`` for life-years.
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
    carry_sojourn: tuple[tuple[str, str], ...] = ()
    correction: str = "half-cycle"
    discount_costs: Any = 0.0
    discount_outcomes: Any = 0.0
    discount_timing: str = "exact"
    transition_rewards: str = "full"
    utility_max: float | None = 1.0
    name: str = "model"
    description: str = ""
    currency: str | None = None
    price_year: int | None = None
    effect_unit: str | None = None

    # ---------------------------------------------------------------- building
    def __post_init__(self):
        """Normalise the fields (tuples, frozen mappings, canonical conventions) and check them."""
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("states", checks.names(self.states, "state"))
        set_("strategies", checks.names(self.strategies, "strategy"))
        checks.distinct(self.states, self.strategies)
        set_("dead", tuple([self.dead] if isinstance(self.dead, str) else self.dead))
        set_("carry_sojourn", checks.pairs(self.carry_sojourn, "carry_sojourn"))
        for k in _MAPPINGS:
            set_(k, _freeze(checks.mapping(getattr(self, k), k)))
        set_("correction", canonical_correction(self.correction))
        for k in ("discount_costs", "discount_outcomes"):
            try:
                set_(k, as_discount(getattr(self, k)))
            except HtaError as exc:
                raise HtaError(f"{k}: {exc}") from None
        set_("cycle_length", checks.cycle_length(self.cycle_length))
        check_transition_rewards(self.transition_rewards)
        _check_units(self.currency, self.price_year, self.effect_unit)
        checks.settings(self)
        checks.structure(self)

    # ---------------------------------------------------------------- derived
    @property
    def n_cycles(self) -> int:
        """Number of cycles ``T``."""
        if self.horizon is not None:
            return int(self.horizon)
        return int(round(self.horizon_years / self.cycle_length))

    def rows(self, strategy: str) -> dict[str, dict[str, Any]]:
        """Transition entries of one strategy: shared entries, then the strategy's own.

        Parameters
        ----------
        strategy : str
            One of :attr:`strategies`.

        Returns
        -------
        dict
            from-state -> (to-state -> value); states without outgoing entries are absent.
        """
        merged = dict(self.transitions)
        merged.update(self.strategy_transitions.get(strategy, {}))
        out: dict[str, dict[str, Any]] = {}
        for (a, b), v in merged.items():
            out.setdefault(a, {})[b] = v
        return out

    def start_for(self, strategy: str) -> Mapping[str, Any]:
        """Start distribution of one strategy.

        Parameters
        ----------
        strategy : str
            One of :attr:`strategies`.

        Returns
        -------
        Mapping
            state -> share (a value).
        """
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
        """A copy with some fields changed (validated again).

        Parameters
        ----------
        **changes
            Field name -> new value.

        Returns
        -------
        Model
        """
        return dataclasses.replace(self, **changes)

    def with_parameters(self, **values: float) -> Model:
        """A copy with some base-case parameter values changed.

        Parameters
        ----------
        **values : float
            Declared parameter name -> new base-case value.

        Returns
        -------
        Model
        """
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

