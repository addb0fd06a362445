"""One patient's life on a managed pathway: the SimPy process of :func:`sim.patient.run_managed`.

Between visits and while waiting, the patient moves by the state's competing events,
drawn as in :func:`~sim.patient.run_pathway` (event ``m`` of stay ``k``: random slot
``k * M + m``); visits, drug monitoring and procedures use their own slot ranges of
the same counter stream (the ``*_SLOT`` constants below), so patient ``j`` meets the
same random numbers in every strategy. Rewards accrue with the engine's formulas
(:func:`~sim.patient.pathway.discounted_integral`). Semantics: ``docs/patient.md``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from sim.errors import HtaError
from sim.patient.managed_pathway import ManagedPathway
from sim.patient.pathway import discounted_integral
from sim.patient.policy import MAX_MARKERS, Policy
from sim.patient.resources import Procedure
from sim.patient.streams import patient_key, uniform_at

__all__ = ["POLICY_COLUMNS", "ManagedPatient", "arrive"]

VISIT_SLOT = 1 << 40  # visit v uses slots VISIT_SLOT + 2 * MAX_MARKERS * v + (marker k | MAX_MARKERS + red flag i)
LINE_SLOT = 1 << 41  # exposure status of line i of the p-th policy state: LINE_SLOT + 1024 * p + i
PROCEDURE_SLOT = 1 << 42  # peri-procedural death of the patient's n-th procedure
PATIENT_SLOT = (1 << 41) + (1 << 32)  # a patient's persistent deviation of marker k of the p-th policy state
_EPS = 1e-9  # tolerance of trial durations on the visit grid (years)
_Z = NormalDist()

#: Policy and waiting-list columns of :func:`~sim.patient.run_managed`'s outcomes, in order.
POLICY_COLUMNS = ["arrival", "visits", "lines_tried", "dose_raises", "class_switches", "optimised_failures",
                  "escalated", "time_to_escalation", "red_flags", "waited", "died_on_list", "procedures",
                  "time_to_procedure"]


class _Course:
    """A patient's treatment history under one policy (kept across re-entries to the state)."""

    __slots__ = ("dose", "exhausted", "failures", "line", "off_target", "start", "status")

    def __init__(self):
        self.line = -1
        self.dose = 0
        self.start = 0.0
        self.status = 0  # 0 adequate exposure, 1 low level, 2 anti-drug antibodies
        self.failures: list[float] = []
        self.off_target = False
        self.exhausted = False


class ManagedPatient:
    """One patient's run: totals, policy counters and the SimPy process (:meth:`life`).

    Parameters
    ----------
    env : simpy.Environment
        The strategy's environment.
    j : int
        The patient's number (a key of its random numbers).
    mp : ManagedPathway
        The strategy.
    seed, draw : int
        The other keys of the patient's random numbers.
    attrs : mapping
        The patient's attributes.
    wards : dict of str to Ward
        The strategy's resources by name.
    strategy : str
        The strategy's name (for the log and messages).
    log : list or None
        Gets ``(patient, strategy, time, event, detail)`` per event when kept.
    pidx : dict of str to int
        Position of each policy state (a key of its random slots).
    sink : callable
        Called with the patient when its process ends (writes its row).
    """

    def __init__(self, env, j, mp: ManagedPathway, seed, draw, attrs, wards, strategy, log, pidx, sink):
        self.env, self.j, self.mp, self.seed, self.draw = env, j, mp, seed, draw
        self.attrs, self.wards, self.strategy, self.log = attrs, wards, strategy, log
        self.pidx, self.sink = pidx, sink  # policy state -> position; called with the patient at the end
        p = mp.pathway
        self.dc, self.do = p.discount_costs, p.discount_outcomes
        self.tot = [0.0] * 7  # cost, qaly, ly, undiscounted twins, events
        self.pol = dict.fromkeys(POLICY_COLUMNS[1:], 0.0)
        self.pol["time_to_escalation"] = self.pol["time_to_procedure"] = math.nan
        self.visited = [p.start]
        self.key = patient_key(int(seed), int(draw), int(j))

    # ------------------------------------------------------------------ helpers
    def u(self, slot: int) -> float:
        """The patient's random number of ``slot``."""
        return uniform_at(self.key, slot)

    def note(self, t, event, detail=""):
        """Log ``event`` at time ``t`` (when the log is kept)."""
        if self.log is not None:
            self.log.append((self.j, self.strategy, t, event, detail))

    def accrue(self, t0, t1, c, q, alive):
        """State rewards over ``[t0, t1]``, discounted continuously (the engine's formula)."""
        if t1 <= t0:
            return
        dcost = discounted_integral(self.dc, t0, t1)
        dout = dcost if self.do == self.dc else discounted_integral(self.do, t0, t1)
        span = t1 - t0
        tot = self.tot
        tot[0] += c * dcost
        tot[1] += q * dout
        tot[3] += c * span
        tot[4] += q * span
        if alive:
            tot[2] += dout
            tot[5] += span

    def pay(self, t, cost, qaly=0.0):
        """One-off cost and QALY change at time ``t``."""
        self.tot[0] += cost * (1.0 + self.dc) ** -t
        self.tot[1] += qaly * (1.0 + self.do) ** -t
        self.tot[3] += cost
        self.tot[4] += qaly

    # ------------------------------------------------------------------ the process
    def life(self):
        """The SimPy process; hands the patient to ``sink`` when it ends (nothing is kept)."""
        try:
            yield from self._life()
        except HtaError as e:  # a value that is bad for this patient: say whose
            raise HtaError(f"strategy {self.strategy!r}, patient {self.j}: {e}") from None
        self.sink(self)

    def _life(self):
        path = self.mp.pathway
        M, horizon = path.max_events, path.horizon
        state, entered, stay, t = path.start, 0.0, 0, 0.0
        courses: dict[str, _Course] = {}
        self.note(0.0, "enter", state)
        while True:
            best, best_x = None, math.inf
            for m, e in enumerate(path.events.get(state, ())):
                elapsed = t if e.clock == "markov" else t - entered
                x = e.distribution(self.attrs).sample_one(self.u(stay * M + m), elapsed,
                                                          e.hazard_ratio(self.attrs))
                if x < best_x:
                    best, best_x = e, x
            t_stop = min(t + best_x, horizon)
            c, q = path.costs.get(state, 0.0), path.utilities.get(state, 0.0)
            alive = state not in path.dead
            if state in self.mp.procedures:
                moved = yield from self._procedure(state, t, t_stop, t + best_x, best, c, q, alive)
            elif state in self.mp.policies:
                moved = yield from self._policy(state, t, t_stop, c, q, alive, courses)
            else:
                moved = None
                self.accrue(t, t_stop, c, q, alive)
                if best is None or t + best_x > horizon:
                    return  # nothing more happens to the patient: no need to wait in the event queue
                if t_stop > t:
                    yield self.env.timeout(t_stop - t)
            if moved is None:  # the state's competing event (or the horizon) ends the stay
                if best is None or t + best_x > horizon:
                    return
                t = t_stop
                self.pay(t, best.cost, best.qaly)
                state = best.to
            else:
                t, state = moved
                if state is None:  # the horizon came during a procedure
                    return
            self.tot[6] += 1
            entered, stay = t, stay + 1
            self.visited.append(state)
            self.note(t, "enter", state)

    def _procedure(self, state, t, t_stop, t_event, best, c, q, alive):
        """Waiting list then procedure.

        Returns ``(time, next state)``, or None when the state's competing event (or
        the horizon) takes the patient off the list.
        """
        proc: Procedure = self.mp.procedures[state]
        env, horizon = self.env, self.mp.pathway.horizon
        ward = self.wards[proc.resource] if proc.resource is not None else None
        req, waited = None, 0.0
        if ward is not None:
            ward.join()
            joined = env.now
            self.note(t, "listed", proc.resource)
            if ward.res is not None:
                req = ward.res.request(priority=proc.priority)
                if not req.triggered:
                    yield req | env.timeout(t_stop - t)
                waited = env.now - joined
                if not req.triggered:  # an event (or the horizon) came first: off the list
                    req.cancel()
                    died = best is not None and t_event <= horizon and best.to in self.mp.pathway.dead
                    ward.leave(died)
                    self.pol["waited"] += waited
                    self.pol["died_on_list"] = max(self.pol["died_on_list"], float(died))
                    self.note(t_stop, "died_on_list" if died else "left_list", proc.resource)
                    self.accrue(t, t_stop, c, q, alive)
                    return None
            ward.admit(waited)
            self.pol["waited"] += waited
        self.accrue(t, t + waited, c, q, alive)
        t += waited
        n = int(self.pol["procedures"])
        self.pol["procedures"] += 1
        if n == 0:
            self.pol["time_to_procedure"] = t
        self.note(t, "admitted", state)
        self.pay(t, proc.cost)
        self.accrue(t, min(t + proc.duration, horizon), c, q, alive)
        if proc.duration > 0:
            yield env.timeout(proc.duration)  # the server is held for the whole duration
        if ward is not None:
            ward.done()
            if req is not None:
                ward.res.release(req)
        if t + proc.duration > horizon:
            return horizon, None
        t += proc.duration
        if self.u(PROCEDURE_SLOT + n) < proc.mortality:
            self.note(t, "procedure_death", state)
            return t, proc.died
        return t, proc.to

    def _policy(self, state, t, t_stop, c, q, alive, courses):
        """Visits every ``interval`` from entry until the stay's event, the horizon or a move decided at a visit.

        Returns ``(time, next state)`` after a move, else None.
        """
        pol: Policy = self.mp.policies[state]
        course = courses.get(state)
        if course is None:
            course = courses[state] = _Course()
            self._start_line(pol, course, 0, t, state)
        tv = t
        while tv < t_stop:  # a competing event at the very time of a visit comes first
            self._accrue_policy(pol, course, t, tv, c, q, alive)
            if tv > t:
                yield self.env.timeout(tv - t)
            t = tv
            to = self._visit(pol, course, t, state)
            if to is not None:
                return t, to
            tv = t + pol.interval
        self._accrue_policy(pol, course, t, t_stop, c, q, alive)
        if t_stop > t:
            yield self.env.timeout(t_stop - t)
        return None

    def _accrue_policy(self, pol, course, t0, t1, c, q, alive):
        line = pol.lines[course.line]
        self.accrue(t0, t1, c + line.costs[course.dose], q - pol.off_target_disutility * course.off_target, alive)

    def _start_line(self, pol, course, i, t, state):
        while i is not None and not pol.lines[i].eligible(self.attrs):  # not for this patient: skip, no failure
            self.note(t, "line_skipped", pol.lines[i].name)
            i = i + 1 if i + 1 < len(pol.lines) else None
        if i is None:
            if course.line < 0:
                raise HtaError(f"no line of the policy of state {state!r} is eligible for this patient (every line's "
                               f"requires excludes the patient's attributes); give a first line without requires")
            course.exhausted = True
            self.note(t, "lines_exhausted", state)
            return
        line = pol.lines[i]
        course.line, course.dose, course.start, course.status = i, 0, t, 0
        if line.tdm is not None:
            u = self.u(LINE_SLOT + 1024 * self.pidx[state] + i)
            tdm = line.tdm
            course.status = 2 if u < tdm.p_antibodies else 1 if u < tdm.p_antibodies + tdm.p_low else 0
        self.pol["lines_tried"] += 1
        self.note(t, "line", line.name)

    def _raise_dose(self, course, t, line):
        course.dose += 1
        course.start = t
        self.pol["dose_raises"] += 1
        self.note(t, "dose_up", f"{line.name} level {course.dose}")

    def _visit(self, pol: Policy, course: _Course, t: float, state: str):
        """One visit: red flags, the marker against its target, titration, monitoring, switching, refractory rule.

        Returns the state to move to, or None.
        """
        v = int(self.pol["visits"])
        self.pol["visits"] += 1
        base = VISIT_SLOT + 2 * MAX_MARKERS * v
        self.pay(t, pol.visit_cost)
        line = pol.lines[course.line]
        level = course.dose - 1 if course.status == 1 else -1 if course.status == 2 else course.dose
        values = {}
        for k, m in enumerate(pol.markers):
            x = m.baseline + line.effect(m.name, level)
            if m.patient_sd > 0:
                x += m.patient_sd * _Z.inv_cdf(self.u(PATIENT_SLOT + MAX_MARKERS * self.pidx[state] + k))
            for a, b in m.coef.items():
                x += b * float(self.attrs[a])
            if m.noise_sd > 0:
                x += m.noise_sd * _Z.inv_cdf(self.u(base + k))
            if not math.isfinite(x):
                raise HtaError(f"visit {v} at {t:g} years: marker {m.name!r} is {x!r}; check its baseline, "
                               f"coefficients and the patient's attributes ({', '.join(m.coef) or 'none'})")
            values[m.name] = min(max(x, m.lower), m.upper)
        for i, rf in enumerate(pol.red_flags):
            hit = rf.probability > 0 and self.u(base + MAX_MARKERS + i) < rf.probability
            if rf.marker is not None:
                marker = next(m for m in pol.markers if m.name == rf.marker)
                hit = hit or marker.worse_than(values[rf.marker], rf.threshold)
            if hit:
                self.pol["red_flags"] += 1
                self.pay(t, rf.cost)
                self.note(t, "red_flag", rf.to)
                return rf.to
        on = pol.target.on_target(values[pol.marker])
        course.off_target = not on
        if on or course.exhausted or t - course.start < line.trial - _EPS:
            return None
        # off target after an adequate trial
        tdm = line.tdm
        if tdm is not None and tdm.monitored:
            self.pay(t, tdm.cost)
            if course.status == 2:  # anti-drug antibodies: switch class, not an optimised failure
                self.pol["class_switches"] += 1
                self.note(t, "antibodies", line.name)
                nxt = next((i for i in range(course.line + 1, len(pol.lines))
                            if pol.lines[i].drug_class != line.drug_class), None)
                self._start_line(pol, course, nxt, t, state)
                return None
            if course.status == 1 and course.dose < line.doses - 1:  # low level: raise the dose
                self._raise_dose(course, t, line)
                return None
        elif course.dose < line.doses - 1:  # unmonitored: titrate to the highest dose first
            self._raise_dose(course, t, line)
            return None
        course.failures.append(t)
        self.pol["optimised_failures"] += 1
        self.note(t, "line_failed", line.name)
        ref = pol.refractory
        if ref is not None and sum(f >= t - ref.within - _EPS for f in course.failures) >= ref.lines:
            self.pol["escalated"] = 1.0
            if math.isnan(self.pol["time_to_escalation"]):
                self.pol["time_to_escalation"] = t
            self.note(t, "refractory", ref.to)
            return ref.to
        self._start_line(pol, course, course.line + 1 if course.line + 1 < len(pol.lines) else None, t, state)
        return None


def arrive(env, patients, arrivals, lo, hi):
    """The SimPy process that starts patient ``j`` (of ``lo .. hi - 1``) at ``arrivals[j]``.

    ``patients(j)`` makes the patient on arrival, so memory is bounded by the active ones.
    """
    for j in range(lo, hi):
        a = arrivals[j]
        if a > env.now:
            yield env.timeout(a - env.now)
        env.process(patients(j).life())
