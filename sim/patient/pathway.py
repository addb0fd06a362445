"""Continuous-time multi-state pathways as data: states, competing events, rewards.

A :class:`Pathway` is one strategy's model: states, and for each state the
:class:`Event` s that can move a patient on (a time-to-event distribution, a clock,
one-off cost and QALY change, log hazard ratios on patient attributes each), the
state's annual cost and utility, the horizon and the discount rates. Everything is
checked at definition time; :func:`sim.patient.run_pathway` runs it
(``engine.py``). Formulas: ``docs/patient.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.errors import HtaError, suggest
from sim.model.conventions import check_rate
from sim.patient.events import TimeToEvent

__all__ = ["CLOCKS", "Event", "Pathway", "discounted_integral"]

CLOCKS = ("markov", "semi")


@dataclass(frozen=True)
class Event:
    """A way out of a state: to ``to`` after a time drawn from ``time``.

    Parameters
    ----------
    to : str
        The next state.
    time : TimeToEvent or callable
        The time to the event, or a function of the patient's attributes (a mapping)
        returning one (e.g. background mortality at the patient's age and sex).
    clock : str
        ``"semi"`` (time since entering the state) or ``"markov"`` (time since the start).
    cost, qaly : float
        One-off cost and QALY change at the event (e.g. a disutility).
    hr : mapping of str to float
        Log hazard ratios per attribute: the hazard is multiplied by
        ``exp(sum_a hr[a] * patient[a])`` (proportional hazards).
    """

    to: str
    time: object
    clock: str = "semi"
    cost: float = 0.0
    qaly: float = 0.0  # one-off QALY change at the event (e.g. a disutility)
    hr: Mapping = field(default_factory=dict)

    def __post_init__(self):
        if not (isinstance(self.time, TimeToEvent) or callable(self.time)):
            raise HtaError(f"event to {self.to!r}: time must be a TimeToEvent (Exponential, Weibull, ...) "
                           f"or a function of the patient returning one, got {type(self.time).__name__}")
        for a, b in self.hr.items():
            if not (isinstance(b, (int, float)) and math.isfinite(b)):
                raise HtaError(f"event to {self.to!r}: log hazard ratio of {a!r} is {b!r}; it must be a finite number")
        if self.clock not in CLOCKS:
            raise HtaError(f"event to {self.to!r}: clock {self.clock!r}{suggest(self.clock, CLOCKS)}; "
                           f"use 'markov' (time since start) or 'semi' (time in the state)")
        for what in ("cost", "qaly"):
            v = getattr(self, what)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise HtaError(f"event to {self.to!r}: {what} {v!r} must be a finite number")

    def distribution(self, patient: Mapping) -> TimeToEvent:
        """The time-to-event distribution for a patient (attributes ``patient``)."""
        d = self.time(patient) if not isinstance(self.time, TimeToEvent) else self.time
        if not isinstance(d, TimeToEvent):
            raise HtaError(f"event to {self.to!r}: the time function returned {type(d).__name__}, not a TimeToEvent")
        return d

    def hazard_ratio(self, patient: Mapping) -> float:
        """``exp(sum_a hr[a] * patient[a])`` (1 without hazard ratios)."""
        return math.exp(sum(b * float(patient[a]) for a, b in self.hr.items())) if self.hr else 1.0


@dataclass(frozen=True)
class Pathway:
    """A continuous-time multi-state model for one strategy.

    Parameters
    ----------
    states : sequence of str
        The states, in order.
    start : str
        State every patient starts in.
    events : mapping of state to sequence of Event
        Competing events out of each state; a state without events is absorbing.
    costs, utilities : mapping of state to float
        Annual cost and utility while in the state.
    dead : sequence of str
        States that do not count towards life-years.
    horizon : float
        Years simulated.
    discount_costs, discount_outcomes : float
        Annual rates; continuous discounting ``(1 + r) ** -t``.
    """

    states: tuple
    start: str
    events: Mapping
    horizon: float
    costs: Mapping = field(default_factory=dict)
    utilities: Mapping = field(default_factory=dict)
    dead: tuple = ()
    discount_costs: float = 0.0
    discount_outcomes: float = 0.0

    def __post_init__(self):
        states = tuple(self.states)
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "dead", tuple(self.dead))

        def known(s, where):
            if s not in states:
                raise HtaError(f"{where}: unknown state {s!r}{suggest(s, states)}; states are {', '.join(states)}")

        known(self.start, "start")
        for s, evs in self.events.items():
            known(s, "events")
            for e in evs:
                if not isinstance(e, Event):
                    raise HtaError(f"events of {s!r}: {e!r} is not an Event")
                known(e.to, f"event from {s!r}")
        for what in ("costs", "utilities"):
            for s, v in getattr(self, what).items():
                known(s, what)
                if not (isinstance(v, (int, float)) and math.isfinite(v)):
                    raise HtaError(f"{what} of {s!r}: {v!r} must be a finite number (per year)")
        for s in self.dead:
            known(s, "dead")
        if not (isinstance(self.horizon, (int, float)) and self.horizon > 0 and math.isfinite(self.horizon)):
            raise HtaError(f"horizon {self.horizon!r} must be a positive number of years")
        for what in ("discount_costs", "discount_outcomes"):
            check_rate(getattr(self, what), what)

    @property
    def max_events(self) -> int:
        """The largest number of competing events of a state (at least 1): random slots per stay."""
        return max([len(v) for v in self.events.values()] + [1])


def discounted_integral(rate: float, t0, t1):
    """``int_{t0}^{t1} (1 + r)^-s ds`` (``t1 - t0`` when ``r = 0``)."""
    if rate == 0:
        return t1 - t0
    d = math.log1p(rate)
    return (math.exp(-d * t0) - math.exp(-d * t1)) / d
