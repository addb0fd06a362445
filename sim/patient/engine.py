"""Continuous-time patient pathways on SimPy: competing risks between states.

A :class:`Pathway` is data: states, and for each state the events that can move a
patient on (a time-to-event distribution and a clock each). A patient is a plain
SimPy process (:func:`_patient`): in each state every possible event draws its time
(common random numbers: event ``m`` of the patient's ``k``-th stay uses slot
``k * M + m``), the earliest wins, the state's cost and utility accrue exactly over
the stay with continuous discounting, and the event's one-off cost is paid at its
time. Clocks: ``"markov"`` (time since the start of the simulation) or ``"semi"``
(time since entering the state). Formulas: ``docs/patient.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from ..errors import HtaError
from ..values import suggest
from .events import TimeToEvent
from .streams import uniforms

__all__ = ["Event", "Pathway", "run_pathway", "discounted_integral"]

CLOCKS = ("markov", "semi")


@dataclass(frozen=True)
class Event:
    """A way out of a state: to ``to`` after a time drawn from ``time``."""

    to: str
    time: TimeToEvent
    clock: str = "semi"
    cost: float = 0.0
    qaly: float = 0.0  # one-off QALY change at the event (e.g. a disutility)

    def __post_init__(self):
        if not isinstance(self.time, TimeToEvent):
            raise HtaError(f"event to {self.to!r}: time must be a TimeToEvent (Exponential, Weibull, ...), "
                           f"got {type(self.time).__name__}")
        if self.clock not in CLOCKS:
            raise HtaError(f"event to {self.to!r}: clock {self.clock!r}{suggest(self.clock, CLOCKS)}; "
                           f"use 'markov' (time since start) or 'semi' (time in the state)")
        for what in ("cost", "qaly"):
            v = getattr(self, what)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise HtaError(f"event to {self.to!r}: {what} {v!r} must be a finite number")


@dataclass(frozen=True)
class Pathway:
    """A continuous-time multi-state model for one strategy.

    Parameters
    ----------
    states : sequence of str
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
            r = getattr(self, what)
            if not (isinstance(r, (int, float)) and r >= 0 and math.isfinite(r)):
                raise HtaError(f"{what} {r!r} must be a number >= 0")

    @property
    def max_events(self) -> int:
        return max([len(v) for v in self.events.values()] + [1])


def discounted_integral(rate: float, t0, t1):
    """``int_{t0}^{t1} (1 + r)^-s ds`` (``t1 - t0`` when ``r = 0``)."""
    if rate == 0:
        return t1 - t0
    d = math.log1p(rate)
    return (math.exp(-d * t0) - math.exp(-d * t1)) / d


def _patient(env, j, path: Pathway, seed, draw, out, row):
    """One patient's life: a SimPy process writing its totals into ``out[row]``."""
    state, entered, stay = path.start, 0.0, 0
    M = path.max_events
    dc, do = path.discount_costs, path.discount_outcomes
    while True:
        events = path.events.get(state, ())
        t_now = env.now
        best, best_t = None, math.inf
        for m, e in enumerate(events):
            u = float(uniforms(seed, draw, j, stay * M + m))
            elapsed = t_now if e.clock == "markov" else t_now - entered
            x = float(e.time.sample(u, elapsed=elapsed))
            if x < best_t:
                best, best_t = e, x
        t_end = min(t_now + best_t, path.horizon)
        c, q = path.costs.get(state, 0.0), path.utilities.get(state, 0.0)
        alive = state not in path.dead
        out[row, 0] += c * discounted_integral(dc, t_now, t_end)
        out[row, 1] += q * discounted_integral(do, t_now, t_end)
        out[row, 2] += discounted_integral(do, t_now, t_end) if alive else 0.0
        out[row, 3] += c * (t_end - t_now)
        out[row, 4] += q * (t_end - t_now)
        out[row, 5] += (t_end - t_now) if alive else 0.0
        if t_end > t_now:
            yield env.timeout(t_end - t_now)
        if best is None or t_now + best_t > path.horizon:
            return
        out[row, 0] += best.cost * (1.0 + dc) ** -t_end
        out[row, 1] += best.qaly * (1.0 + do) ** -t_end
        out[row, 3] += best.cost
        out[row, 4] += best.qaly
        out[row, 6] += 1  # number of events
        state, entered, stay = best.to, t_end, stay + 1


def run_pathway(pathways: Mapping[str, Pathway], n_patients: int, seed: int, *, draw: int = 0,
                batch_size: int = 10_000) -> pd.DataFrame:
    """Simulate ``n_patients`` through each strategy's pathway.

    Returns
    -------
    DataFrame
        One row per (patient, strategy): ``patient, strategy, cost, qaly, ly,
        cost_undisc, qaly_undisc, ly_undisc, events``.
    """
    if not pathways:
        raise HtaError("run_pathway needs at least one strategy's Pathway")
    for name, v, lo in (("n_patients", n_patients, 1), ("batch_size", batch_size, 1), ("draw", draw, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HtaError(f"{name} {v!r} must be a whole number >= {lo}")
    names: Sequence[str] = list(pathways)
    for s, p in pathways.items():
        if not isinstance(p, Pathway):
            raise HtaError(f"strategy {s!r}: {type(p).__name__} is not a Pathway")
    out = np.zeros((n_patients, len(names), 7))
    for k, s in enumerate(names):
        path = pathways[s]
        for lo in range(0, n_patients, batch_size):  # bounded event queue: one batch at a time
            env = simpy.Environment()
            block = np.zeros((min(batch_size, n_patients - lo), 7))
            for r in range(block.shape[0]):
                env.process(_patient(env, lo + r, path, seed, draw, block, r))
            env.run()
            out[lo:lo + block.shape[0], k] = block
    cols = ["cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc", "events"]
    data = {"patient": np.repeat(np.arange(n_patients), len(names)),
            "strategy": pd.Categorical.from_codes(np.tile(np.arange(len(names), dtype=np.int16), n_patients),
                                                  categories=list(names))}
    for i, c in enumerate(cols):
        data[c] = out[:, :, i].ravel()
    return pd.DataFrame(data, copy=False)
