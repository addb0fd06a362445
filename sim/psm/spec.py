"""A partitioned survival model: states bounded by nested survival curves, with rewards.

``N`` curves ``S_1 >= S_2 >= ... >= S_N`` (inner to outer, e.g. progression-free
and overall survival) define ``N + 1`` states: state 0 holds ``S_1(t)``, state ``i``
holds ``S_{i+1}(t) - S_i(t)`` and the last state ``1 - S_N(t)``. Costs, utilities,
conventions and parameters are given as for a cohort :class:`~sim.model.Model`, and
the same within-cycle corrections and discounting apply (:mod:`sim.model.conventions`).
Formulas: ``docs/psm.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.errors import HtaError, suggest
from sim.model import checks
from sim.model.conventions import (
    DISCOUNT_TIMINGS,
    as_discount,
    canonical_correction,
    check_transition_rewards,
    correction_weights,
)
from sim.model.values import referenced_params
from sim.survival.curves import SurvivalCurve
from sim.survival.values import SurvivalProbability, years_per_unit

__all__ = ["PartitionedSurvival", "COST_UNITS"]

#: How state costs are given: per cycle (as in a cohort Model) or per year (times the cycle length).
COST_UNITS = ("cycle", "year")


def _mapping(v: Any, what: str) -> dict:
    if not isinstance(v, Mapping):
        raise HtaError(f"{what} must be a mapping (dict), got {type(v).__name__}")
    return dict(v)


@dataclass(frozen=True)
class PartitionedSurvival:
    """A partitioned survival model.

    Parameters
    ----------
    states : sequence of str
        ``N + 1`` states in order, e.g. ``("progression_free", "progressed", "dead")``.
    curves : sequence of str
        ``N`` curve names, inner to outer, e.g. ``("pfs", "os")``: curve ``i`` is the
        share in states ``0..i``.
    strategies : sequence of str
        Strategies compared.
    survival : mapping of strategy to (mapping of curve name to curve)
        Each strategy's curves. A curve is a :class:`~sim.survival.SurvivalCurve`
        (time in ``time_unit``; one curve or one per draw), a
        :class:`~sim.survival.SurvivalProbability` (family and coefficients as model
        values, e.g. parameter names drawn in a PSA; its own ``time_unit``; only its
        ``clock="model"``), or a callable ``f(t, p)`` returning ``S(t)`` for times
        ``t`` in years (shape ``(T + 1,)``) and parameters ``p`` (``p[name]`` of shape
        ``(n_draws, 1)``), as an array of shape ``(T + 1,)`` or ``(n_draws, T + 1)``.
    horizon, horizon_years, cycle_length : as for :class:`~sim.model.Model`
        Number of cycles (or the horizon in years) and the cycle length in years.
    parameters : mapping of str to float
        Base-case parameter values; draws override them.
    costs : mapping of component to (mapping of state to value)
        State costs per cycle (``cost_unit="cycle"``) or per year (``"year"``).
    utilities : mapping of state to value
        Utility weights per year.
    entry_costs : mapping of component to (mapping of state to value)
        One-off costs of entering a state: counted on the flow across the boundary
        into it, ``S_i(t_j) - S_i(t_{j+1})`` for the state after curve ``i`` (on
        progression: the flow out of progression-free survival, which includes deaths
        without recorded progression).
    entry_utilities : mapping of state to value
        One-off QALY changes of entering a state (as ``entry_costs``).
    start_costs, start_utilities : as for :class:`~sim.model.Model`
        One-off rewards at time 0, weighted by the state shares at time 0, not discounted.
    dead : sequence of str, optional
        States that do not count towards life-years (default: the last state).
    correction, discount_costs, discount_outcomes, discount_timing : as for :class:`~sim.model.Model`
        Within-cycle correction (area-under-curve method) and discounting.
    transition_rewards : {"full", "corrected"}
        How entry rewards are weighted (:data:`~sim.model.conventions.TRANSITION_REWARDS`).
    cost_unit : {"cycle", "year"}
        Unit of the state costs.
    time_unit : str or float
        Time unit of :class:`~sim.survival.SurvivalCurve` curves (``"year"``,
        ``"month"``, ``"week"``, ``"day"`` or years per unit).
    utility_max : float or None
        Largest allowed state utility per year (default 1).
    name, description : str
        For results and reports.
    """

    states: tuple[str, ...]
    curves: tuple[str, ...]
    strategies: tuple[str, ...]
    survival: Mapping[str, Mapping[str, Any]]
    horizon: int | None = None
    horizon_years: float | None = None
    cycle_length: float = 1.0
    parameters: Mapping[str, float] = field(default_factory=dict)
    costs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    utilities: Mapping[str, Any] = field(default_factory=dict)
    entry_costs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    entry_utilities: Mapping[str, Any] = field(default_factory=dict)
    start_costs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    start_utilities: Mapping[str, Any] = field(default_factory=dict)
    dead: tuple[str, ...] | None = None
    correction: str = "half-cycle"
    discount_costs: Any = 0.0
    discount_outcomes: Any = 0.0
    discount_timing: str = "exact"
    transition_rewards: str = "full"
    cost_unit: str = "cycle"
    time_unit: Any = "year"
    utility_max: float | None = 1.0
    name: str = "psm"
    description: str = ""

    def __post_init__(self):
        """Normalise and check every field (names, curves, rewards, conventions)."""
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("states", checks.names(self.states, "state"))
        set_("strategies", checks.names(self.strategies, "strategy"))
        checks.distinct(self.states, self.strategies)
        if isinstance(self.curves, str):
            raise HtaError(f"curves must be a list of curve names, not the single string {self.curves!r}")
        set_("curves", tuple(self.curves))
        if len(self.curves) != len(self.states) - 1 or not self.curves:
            raise HtaError(f"a partitioned survival model with {len(self.states)} states needs "
                           f"{len(self.states) - 1} curves (inner to outer), got {len(self.curves)}: "
                           f"{list(self.curves)}")
        if len(set(self.curves)) != len(self.curves) or not all(isinstance(c, str) and c for c in self.curves):
            raise HtaError(f"curve names must be distinct non-empty strings, got {list(self.curves)}")
        dead = (self.states[-1],) if self.dead is None else (
            (self.dead,) if isinstance(self.dead, str) else tuple(self.dead))
        for s in dead:
            self._state(s, "dead")
        set_("dead", dead)
        set_("parameters", {str(k): float(v) for k, v in _mapping(self.parameters, "parameters").items()})
        set_("correction", canonical_correction(self.correction))
        for k in ("discount_costs", "discount_outcomes"):
            try:
                set_(k, as_discount(getattr(self, k)))
            except HtaError as exc:
                raise HtaError(f"{k}: {exc}") from None
        set_("cycle_length", checks.cycle_length(self.cycle_length))
        check_transition_rewards(self.transition_rewards)
        if self.discount_timing not in DISCOUNT_TIMINGS:
            raise HtaError(f"discount_timing {self.discount_timing!r}: choose one of {', '.join(DISCOUNT_TIMINGS)}")
        if self.cost_unit not in COST_UNITS:
            raise HtaError(f"cost_unit {self.cost_unit!r}: choose 'cycle' (costs per cycle) or 'year'")
        years_per_unit(self.time_unit)
        self._horizon()
        correction_weights(self.correction, self.n_cycles)  # e.g. Simpson needs an even horizon
        self._survival()
        for k in ("costs", "entry_costs", "start_costs"):
            tab = _mapping(getattr(self, k), k)
            for comp, by_state in tab.items():
                if not isinstance(comp, str) or not comp or comp in ("qaly", "ly"):
                    raise HtaError(f"{k}: cost component {comp!r} must be a name other than 'qaly' and 'ly'")
                tab[comp] = self._rewards(by_state, f"{k}[{comp!r}]", entry=k == "entry_costs")
            set_(k, tab)
        for k in ("utilities", "entry_utilities", "start_utilities"):
            set_(k, self._rewards(getattr(self, k), k, entry=k == "entry_utilities"))

    # ---------------------------------------------------------------- checks
    def _state(self, s: Any, where: str) -> None:
        if s not in self.states:
            raise HtaError(f"{where}: unknown state {s!r}{suggest(str(s), self.states)}; states are "
                           f"{', '.join(self.states)}")

    def _horizon(self) -> None:
        if (self.horizon is None) == (self.horizon_years is None):
            raise HtaError("give the horizon as `horizon` (cycles) or `horizon_years`, exactly one of them")
        if self.horizon is not None:
            if isinstance(self.horizon, bool) or int(self.horizon) != self.horizon or self.horizon < 1:
                raise HtaError(f"horizon {self.horizon!r} must be a whole number of cycles >= 1")
        else:
            T = self.horizon_years / self.cycle_length
            if not (T >= 1 and abs(T - round(T)) < 1e-9):
                raise HtaError(f"horizon_years {self.horizon_years!r} must be a whole number (>= 1) of cycles "
                               f"of {self.cycle_length:g} years")

    def _survival(self) -> None:
        surv = _mapping(self.survival, "survival")
        for k in surv:
            if k not in self.strategies:
                raise HtaError(f"survival: unknown strategy {k!r}{suggest(str(k), self.strategies)}")
        frozen = {}
        for k in self.strategies:
            if k not in surv:
                raise HtaError(f"survival: strategy {k!r} has no curves; give survival[{k!r}] = "
                               f"{{{', '.join(repr(c) + ': ...' for c in self.curves)}}}")
            by_curve = _mapping(surv[k], f"survival[{k!r}]")
            for c in by_curve:
                if c not in self.curves:
                    raise HtaError(f"survival[{k!r}]: unknown curve {c!r}{suggest(str(c), self.curves)}; "
                                   f"curves are {', '.join(self.curves)}")
            for c in self.curves:
                if c not in by_curve:
                    raise HtaError(f"survival[{k!r}]: curve {c!r} is missing")
                cur = by_curve[c]
                where = f"survival[{k!r}][{c!r}]"
                if isinstance(cur, SurvivalProbability):
                    if cur.clock != "model":
                        raise HtaError(f"{where}: a partitioned survival curve runs on model time; "
                                       f"give SurvivalProbability(clock='model')")
                    self._params(cur, where)
                elif not (isinstance(cur, SurvivalCurve) or callable(cur)):
                    raise HtaError(f"{where}: a curve must be a SurvivalCurve, a SurvivalProbability or a "
                                   f"callable f(t, p) -> S(t); got {type(cur).__name__}")
            frozen[k] = {c: by_curve[c] for c in self.curves}
        object.__setattr__(self, "survival", frozen)

    def _params(self, v: Any, where: str) -> None:
        for name in referenced_params(v):
            if name not in self.parameters:
                raise HtaError(f"{where}: unknown parameter {name!r}{suggest(name, self.parameters)}; "
                               f"declare it in `parameters`")

    def _rewards(self, by_state: Any, where: str, *, entry: bool) -> dict:
        tab = _mapping(by_state, where)
        for s, v in tab.items():
            self._state(s, where)
            if entry and s == self.states[0]:
                raise HtaError(f"{where}: nothing enters the first state {s!r}; give entry rewards of later states")
            self._params(v, f"{where}[{s!r}]")
        return tab

    # ---------------------------------------------------------------- derived
    @property
    def n_cycles(self) -> int:
        """Number of cycles ``T``."""
        if self.horizon is not None:
            return int(self.horizon)
        return int(round(self.horizon_years / self.cycle_length))

    @property
    def cost_components(self) -> tuple[str, ...]:
        """Cost components in order: state costs, then new entry-cost and start-cost ones."""
        comps = list(self.costs)
        comps += [c for c in self.entry_costs if c not in comps]
        comps += [c for c in self.start_costs if c not in comps]
        return tuple(comps)

    def replace(self, **changes: Any) -> PartitionedSurvival:
        """A copy with some fields changed (validated again).

        Parameters
        ----------
        **changes
            Field name -> new value.

        Returns
        -------
        PartitionedSurvival
        """
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        return (f"PartitionedSurvival({self.name!r}: states {', '.join(self.states)}; curves "
                f"{', '.join(self.curves)}; {len(self.strategies)} strategies, {self.n_cycles} cycles of "
                f"{self.cycle_length:g} y, correction={self.correction!r})")
