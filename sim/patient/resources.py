"""Capacity-constrained procedures, waiting lists and arrivals.

A :class:`Resource` is a number of servers (e.g. cardiac theatres) shared by all
patients of one strategy; a :class:`Procedure` attached to a pathway state uses it:
a patient entering the state joins the resource's waiting list (first come, first
served within a priority level) while the state's competing events keep running (a
patient who dies on the list leaves it and never has the procedure). On admission the
patient holds a server for ``duration`` years, then dies with probability
``mortality`` (peri-procedural death) or moves on to ``to``. :class:`Arrivals` spreads
the patients' entry over calendar time. :class:`Ward` wraps a SimPy resource
and records waiting and busy time exactly (for :func:`sim.patient.run_managed`). Semantics: ``docs/patient.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from sim.errors import HtaError
from sim.patient.policy import check_number
from sim.patient.streams import uniforms

__all__ = ["Arrivals", "Procedure", "Resource", "Ward"]

ARRIVAL_SLOT = 1 << 43  # random slot of a patient's inter-arrival gap (apart from event slots)


@dataclass(frozen=True)
class Resource:
    """``capacity`` servers (a whole number >= 1, or ``math.inf`` for no constraint).

    A capacity of ``c`` servers each busy ``d`` years per procedure treats at most
    ``c / d`` patients a year: e.g. 3 theatre slots a week is ``capacity=3`` with a
    procedure ``duration`` of 1/52 year.
    """

    name: str
    capacity: float

    def __post_init__(self):
        c = self.capacity
        ok = (not isinstance(c, bool) and isinstance(c, (int, np.integer, float)) and not math.isnan(c)
              and (c == math.inf or (float(c).is_integer() and c >= 1)))
        if not ok:
            raise HtaError(f"resource {self.name!r}: capacity {c!r} must be a whole number >= 1 "
                           f"(or math.inf for no limit)")


@dataclass(frozen=True)
class Procedure:
    """A procedure done on entering a state, through a resource's waiting list.

    Parameters
    ----------
    resource : str or None
        Name of the strategy's :class:`Resource` (``None``: no capacity limit, no wait).
    to : str
        State after a successful procedure.
    died : str
        State after a peri-procedural death.
    duration : float
        Years a server is held (theatre time); the patient moves on after it.
    cost : float
        One-off cost, paid at admission.
    mortality : float
        Probability of peri-procedural death.
    priority : int
        Lower is served first (e.g. 0 urgent, 1 elective); first come, first served
        within a priority.
    """

    resource: str | None
    to: str
    died: str
    duration: float = 0.0
    cost: float = 0.0
    mortality: float = 0.0
    priority: int = 0

    def __post_init__(self):
        w = f"procedure leading to {self.to!r}"
        check_number(self.duration, f"{w}: duration (years)", 0.0)
        check_number(self.cost, f"{w}: cost", 0.0)
        check_number(self.mortality, f"{w}: mortality", 0.0, 1.0)
        if isinstance(self.priority, bool) or not isinstance(self.priority, (int, np.integer)):
            raise HtaError(f"{w}: priority {self.priority!r} must be a whole number")


@dataclass(frozen=True)
class Arrivals:
    """Patients enter over calendar time: a Poisson process of ``rate`` patients a year, or one every ``every`` years.

    Patient ``j`` arrives at ``sum_{i <= j} gap_i``, with ``gap_i = -log(u_i) / rate``
    from the patient's own random stream (or ``every``), so arrival times depend only
    on ``(seed, draw)``.
    """

    rate: float | None = None
    every: float | None = None

    def __post_init__(self):
        if (self.rate is None) == (self.every is None):
            raise HtaError("Arrivals: give either rate (patients a year, Poisson) or every (years between patients)")
        if self.rate is not None:
            check_number(self.rate, "Arrivals rate (patients a year)", 0.0, strict=True)
        else:
            check_number(self.every, "Arrivals every (years)", 0.0)

    def times(self, n: int, seed: int, draw: int) -> np.ndarray:
        """Arrival times of patients ``0 .. n-1`` (shape ``(n,)``)."""
        if self.every is not None:
            return np.arange(n) * float(self.every)
        gaps = -np.log(uniforms(seed, draw, np.arange(n), ARRIVAL_SLOT)) / float(self.rate)
        return np.cumsum(gaps)


class Ward:
    """A SimPy priority resource and exact time-weighted tallies of its queue and servers.

    Parameters
    ----------
    env : simpy.Environment
        The strategy's environment.
    spec : Resource
        Its name and capacity (``math.inf``: no SimPy resource, nobody waits).
    trace : list, optional
        Gets ``(resource, time, waiting, busy)`` after each change.
    """

    def __init__(self, env: simpy.Environment, spec: Resource, trace: list | None = None):
        self.env, self.spec, self.trace = env, spec, trace  # trace: (time, waiting, busy) after each change
        self.res = None if spec.capacity == math.inf else simpy.PriorityResource(env, int(spec.capacity))
        self.waiting = self.busy = 0
        self.last = 0.0
        self.q_area = self.b_area = 0.0
        self.q_max = 0
        self.waits: list[float] = []  # admitted patients' waits
        self.listed = self.deaths = self.left = 0

    def _tick(self):
        now = self.env.now
        self.q_area += self.waiting * (now - self.last)
        self.b_area += self.busy * (now - self.last)
        self.last = now

    def _record(self):
        if self.trace is not None:
            self.trace.append((self.spec.name, self.env.now, self.waiting, self.busy))

    def join(self):
        """A patient joins the waiting list."""
        self._tick()
        self.waiting += 1
        self.listed += 1
        self.q_max = max(self.q_max, self.waiting)
        self._record()

    def admit(self, waited: float):
        """A patient leaves the list for a server after ``waited`` years."""
        self._tick()
        self.waiting -= 1
        self.busy += 1
        self.waits.append(waited)
        self._record()

    def leave(self, died: bool):
        """A patient leaves the list without the procedure (``died``: by death)."""
        self._tick()
        self.waiting -= 1
        if died:
            self.deaths += 1
        else:
            self.left += 1
        self._record()

    def done(self):
        """A procedure ends: its server is free."""
        self._tick()
        self.busy -= 1
        self._record()

    def stats(self) -> dict:
        """Row of the queue statistics table over ``[0, period]``.

        ``period`` is the time of the resource's last activity (the end of the last
        procedure or the last departure from the list), so a long follow-up after the
        last procedure does not dilute utilisation.

        Returns
        -------
        dict
            ``resource, capacity, listed, admitted, died_on_list, left_list, wait_mean,
            wait_p50, wait_p90, wait_max, queue_mean, queue_max, utilisation, period``.
        """
        w = np.asarray(self.waits)
        cap = self.spec.capacity
        period = self.last
        pct = (lambda q: float(np.percentile(w, q))) if w.size else (lambda q: math.nan)
        return {"resource": self.spec.name, "capacity": float(cap), "listed": self.listed,
                "admitted": int(w.size), "died_on_list": self.deaths, "left_list": self.left,
                "wait_mean": float(w.mean()) if w.size else math.nan, "wait_p50": pct(50), "wait_p90": pct(90),
                "wait_max": float(w.max()) if w.size else math.nan,
                "queue_mean": self.q_area / period if period > 0 else 0.0, "queue_max": self.q_max,
                "utilisation": (self.b_area / (cap * period) if period > 0 else 0.0) if cap != math.inf else math.nan,
                "period": period}
