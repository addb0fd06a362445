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

__all__ = ["Event", "Pathway", "run_pathway", "subgroups", "discounted_integral"]

CLOCKS = ("markov", "semi")


@dataclass(frozen=True)
class Event:
    """A way out of a state: to ``to`` after a time drawn from ``time``.

    ``time`` is a :class:`TimeToEvent`, or a function of the patient's attributes
    (a mapping) returning one (e.g. background mortality at the patient's age and
    sex). ``hr`` gives log hazard ratios per attribute: the hazard is multiplied by
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
        d = self.time(patient) if not isinstance(self.time, TimeToEvent) else self.time
        if not isinstance(d, TimeToEvent):
            raise HtaError(f"event to {self.to!r}: the time function returned {type(d).__name__}, not a TimeToEvent")
        return d

    def hazard_ratio(self, patient: Mapping) -> float:
        return math.exp(sum(b * float(patient[a]) for a, b in self.hr.items())) if self.hr else 1.0


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


_PRE_STAYS = 8  # random numbers made ahead, per patient, for this many stays


def _patient(env, j, path: Pathway, seed, draw, out, row, patient: Mapping, pre: np.ndarray, index: Mapping):
    """One patient's life: a SimPy process writing its totals into ``out[row]``.

    ``pre[row]`` holds the patient's first random numbers (made for the whole batch at
    once); later slots are made one at a time. Either way slot ``k * M + m`` is the same
    number, so the result does not depend on the batch.
    """
    state, entered, stay = path.start, 0.0, 0
    visited = [state]
    M = path.max_events
    dc, do = path.discount_costs, path.discount_outcomes
    costs, utilities, dead, horizon = path.costs, path.utilities, path.dead, path.horizon
    # totals: cost, qaly, ly (discounted), cost, qaly, ly (undiscounted), events
    tc = tq = tl = uc = uq = ul = 0.0
    n_events = 0
    pre_row = pre[row].tolist()
    try:
        while True:
            events = path.events.get(state, ())
            t_now = env.now
            best, best_t = None, math.inf
            for m, e in enumerate(events):
                slot = stay * M + m
                u = pre_row[slot] if slot < len(pre_row) else float(uniforms(seed, draw, j, slot))
                elapsed = t_now if e.clock == "markov" else t_now - entered
                x = e.distribution(patient).sample_one(u, elapsed, e.hazard_ratio(patient))
                if x < best_t:
                    best, best_t = e, x
            t_end = min(t_now + best_t, horizon)
            c, q = costs.get(state, 0.0), utilities.get(state, 0.0)
            span = t_end - t_now
            dcost = discounted_integral(dc, t_now, t_end)
            dout = dcost if do == dc else discounted_integral(do, t_now, t_end)
            tc += c * dcost
            tq += q * dout
            uc += c * span
            uq += q * span
            if state not in dead:
                tl += dout
                ul += span
            if span > 0:
                yield env.timeout(span)
            if best is None or t_now + best_t > horizon:
                return
            tc += best.cost * (1.0 + dc) ** -t_end
            tq += best.qaly * (1.0 + do) ** -t_end
            uc += best.cost
            uq += best.qaly
            n_events += 1
            state, entered, stay = best.to, t_end, stay + 1
            visited.append(state)
    finally:  # written once, when the process ends
        out[row, :7] = (tc, tq, tl, uc, uq, ul, n_events)
        for st in visited:
            out[row, 7 + index[st]] = 1.0


def run_pathway(pathways: Mapping[str, Pathway], n_patients: int | None = None, seed: int = 0, *,
                population: pd.DataFrame | None = None, draw: int = 0, batch_size: int = 10_000) -> pd.DataFrame:
    """Simulate patients through each strategy's pathway.

    Parameters
    ----------
    pathways : mapping of strategy name to Pathway
    n_patients : int, optional
        Number of patients (or ``len(population)``).
    seed, draw : int
        Keys of the patients' random numbers.
    population : DataFrame, optional
        One row per patient with its attributes (age, sex, risk factors), used by
        events' time functions and hazard ratios; its columns are copied to the result.
    batch_size : int
        Patients per SimPy environment (bounds the event queue); results do not depend on it.

    Returns
    -------
    DataFrame
        One row per (patient, strategy): ``patient, strategy, cost, qaly, ly,
        cost_undisc, qaly_undisc, ly_undisc, events``, ``reached_<state>`` (1 if the
        patient was ever in the state, for event counts and NNT/NNH) and the
        population's columns.
    """
    if not pathways:
        raise HtaError("run_pathway needs at least one strategy's Pathway")
    if population is not None:
        if not isinstance(population, pd.DataFrame):
            raise HtaError(f"population must be a DataFrame (one row per patient), got {type(population).__name__}")
        if n_patients is not None and n_patients != len(population):
            raise HtaError(f"n_patients {n_patients} differs from the population's {len(population)} rows; give one")
        n_patients = len(population)
    for name, v, lo in (("n_patients", n_patients, 1), ("batch_size", batch_size, 1), ("draw", draw, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HtaError(f"{name} {v!r} must be a whole number >= {lo}")
    names: Sequence[str] = list(pathways)
    needed = set()
    for s, p in pathways.items():
        if not isinstance(p, Pathway):
            raise HtaError(f"strategy {s!r}: {type(p).__name__} is not a Pathway")
        needed |= {a for evs in p.events.values() for e in evs for a in e.hr}
    cols_have = list(population.columns) if population is not None else []
    missing = sorted(needed - set(cols_have))
    if missing:
        raise HtaError(
            f"the pathways use patient attribute {missing[0]!r}{suggest(missing[0], cols_have)}, which the "
            f"population {'table lacks' if population is not None else 'is not given'}; "
            f"population columns: {', '.join(map(str, cols_have)) or 'none'}"
        )
    records = population.to_dict("records") if population is not None else None
    states = list(dict.fromkeys(st for p in pathways.values() for st in p.states))
    index = {st: i for i, st in enumerate(states)}
    width = 7 + len(states)
    out = np.zeros((n_patients, len(names), width))
    for k, s in enumerate(names):
        path = pathways[s]
        for lo in range(0, n_patients, batch_size):  # bounded event queue: one batch at a time
            env = simpy.Environment()
            hi = min(n_patients, lo + batch_size)
            block = np.zeros((hi - lo, width))
            pre = uniforms(seed, draw, np.arange(lo, hi)[:, None], np.arange(_PRE_STAYS * path.max_events)[None, :])
            for r in range(hi - lo):
                patient = records[lo + r] if records is not None else {}
                env.process(_patient(env, lo + r, path, seed, draw, block, r, patient, pre, index))
            env.run()
            out[lo:hi, k] = block
    cols = ["cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc", "events"]
    cols += [f"reached_{st}" for st in states]
    data = {"patient": np.repeat(np.arange(n_patients), len(names)),
            "strategy": pd.Categorical.from_codes(np.tile(np.arange(len(names), dtype=np.int16), n_patients),
                                                  categories=list(names))}
    for i, c in enumerate(cols):
        data[c] = out[:, :, i].ravel()
    for c in cols_have:
        data[c] = np.repeat(population[c].to_numpy(), len(names))
    return pd.DataFrame(data, copy=False)


def subgroups(outcomes: pd.DataFrame, by: str, *, wtp: float, reference: str, bins=None,
              effect: str = "qaly") -> pd.DataFrame:
    """Results by subgroup: the conditional average treatment effect and a personalised rule.

    Patients are grouped by the attribute ``by`` (cut into ``bins`` if given). Within a
    subgroup, each strategy's incremental net monetary benefit against ``reference`` is
    the mean of the per-patient paired difference ``wtp * (e_s - e_ref) - (c_s - c_ref)``
    (common random numbers make it precise), with its Monte Carlo standard error.

    Returns
    -------
    DataFrame
        ``subgroup, strategy, n, cost, <effect>, inmb, inmb_se, optimal`` where ``optimal``
        marks the strategy with the highest mean net benefit in the subgroup.
    """
    for col in (by, "patient", "strategy", "cost", effect):
        if col not in outcomes.columns:
            raise HtaError(f"subgroups: the outcomes have no column {col!r}{suggest(col, outcomes.columns)}")
    if not (isinstance(wtp, (int, float)) and wtp >= 0):
        raise HtaError(f"subgroups: willingness to pay {wtp!r} must be a number >= 0")
    strategies = [str(s) for s in pd.unique(outcomes["strategy"])]
    if reference not in strategies:
        raise HtaError(f"subgroups: unknown reference strategy {reference!r}; strategies are {', '.join(strategies)}")
    key = pd.cut(outcomes[by], bins) if bins is not None else outcomes[by]
    nmb = wtp * outcomes[effect] - outcomes["cost"]
    frame = outcomes.assign(_group=key, _nmb=nmb)
    wide = frame.pivot(index="patient", columns="strategy", values="_nmb")
    group = frame.drop_duplicates("patient").set_index("patient")["_group"].reindex(wide.index)
    rows = []
    for g, idx in group.groupby(group, observed=True).groups.items():
        w = wide.loc[idx]
        sub = frame[frame["patient"].isin(idx)]
        means = sub.groupby("strategy", observed=True)[["cost", effect]].mean()
        diff = w.sub(w[reference], axis=0)
        best = w.mean().idxmax()
        for s in strategies:
            rows.append({"subgroup": g, "strategy": s, "n": len(idx), "cost": means.loc[s, "cost"],
                         effect: means.loc[s, effect], "inmb": diff[s].mean(),
                         "inmb_se": diff[s].std(ddof=1) / math.sqrt(len(idx)) if len(idx) > 1 else float("nan"),
                         "optimal": s == best})
    return pd.DataFrame(rows)
