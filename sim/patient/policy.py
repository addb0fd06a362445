"""Dynamic treatment policies (treat-to-target) as data.

A :class:`Policy` manages a patient while the patient is in one state of a pathway:
at visits it measures a :class:`Marker` (a biomarker or a patient-reported score with
a validated threshold), compares it with the target, titrates the dose or switches
:class:`Line` after an adequate trial, checks drug exposure (:class:`TDM`) before
declaring a line failed, declares refractory disease after a number of properly
optimised failures within a time window (:class:`Refractory`, which sends the patient
on, e.g. to a procedure), and lets :class:`RedFlag` findings send the patient to a
re-evaluation state instead. Everything here is validated at definition time; the
engine that runs it is :mod:`sim.patient.managed_process`. Semantics: ``docs/patient.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.errors import HtaError, suggest

__all__ = ["TDM", "Line", "Marker", "Policy", "RedFlag", "Refractory"]

DIRECTIONS = ("higher", "lower")
MAX_MARKERS = 32  # random slots per visit: one per marker (noise), one per red flag
MAX_LINES = 1024  # random slots per policy state: one per line (exposure status)


def _pair_len(x) -> int:
    """``len(x)`` for a sequence, -1 for anything else (a number, a string)."""
    return len(x) if isinstance(x, (tuple, list)) else -1


def check_number(v, what: str, lo: float | None = None, hi: float | None = None, *, strict: bool = False,
                 finite: bool = True) -> float:
    """``float(v)`` if ``v`` is a number within the bounds, else an :class:`HtaError` naming ``what``.

    Parameters
    ----------
    v : object
        The value to check.
    what : str
        What the value is, for the message.
    lo, hi : float, optional
        Bounds: ``v >= lo`` (``v > lo`` when ``strict``) and ``v <= hi``.
    strict : bool
        Whether ``lo`` itself is excluded.
    finite : bool
        Whether infinite values are refused.

    Returns
    -------
    float
        The value.
    """
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or (finite and math.isinf(v)):
        raise HtaError(f"{what} is {v!r}; it must be a {'finite ' if finite else ''}number")
    if lo is not None and (v <= lo if strict else v < lo):
        raise HtaError(f"{what} is {v!r}; it must be {'>' if strict else '>='} {lo:g}")
    if hi is not None and v > hi:
        raise HtaError(f"{what} is {v!r}; it must be <= {hi:g}")
    return float(v)


@dataclass(frozen=True)
class Marker:
    """A measured marker: its value at a visit and its target.

    The value of the marker for patient ``p`` on a line at dose level ``k`` is::

        v = baseline + sum_a coef[a] * p[a] + patient_sd * b + effect_line[k'] + noise_sd * z

    clipped to ``[lower, upper]`` (a score's range), with ``b`` a standard normal drawn
    once per patient (persistent differences between patients), ``z`` a standard normal
    drawn at each visit (measurement and visit-to-visit variation), both from the
    patient's random stream, and ``k'`` the effective dose level (see :class:`TDM`).
    The marker is on target when ``v >= target`` (``better="higher"``, e.g. the
    Seattle Angina Questionnaire angina frequency score) or ``v <= target``
    (``better="lower"``, e.g. LDL cholesterol).
    """

    name: str
    baseline: float
    target: float
    better: str = "higher"
    noise_sd: float = 0.0
    coef: Mapping = field(default_factory=dict)
    lower: float = -math.inf
    upper: float = math.inf
    patient_sd: float = 0.0

    def __post_init__(self):
        w = f"marker {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise HtaError(f"marker name {self.name!r} must be a non-empty string")
        check_number(self.baseline, f"{w}: baseline")
        check_number(self.target, f"{w}: target")
        check_number(self.noise_sd, f"{w}: noise_sd", 0.0)
        check_number(self.patient_sd, f"{w}: patient_sd", 0.0)
        check_number(self.lower, f"{w}: lower", finite=False)
        check_number(self.upper, f"{w}: upper", finite=False)
        if not self.lower < self.upper:
            raise HtaError(f"{w}: lower {self.lower!r} must be below upper {self.upper!r}")
        if self.better not in DIRECTIONS:
            raise HtaError(f"{w}: better {self.better!r}{suggest(self.better, DIRECTIONS)}; "
                           f"use 'higher' or 'lower' (which side of the target is good)")
        for a, b in self.coef.items():
            check_number(b, f"{w}: coefficient of attribute {a!r}")
        object.__setattr__(self, "coef", dict(self.coef))

    def on_target(self, value: float) -> bool:
        """True when ``value`` meets the target (on its good side, or equal)."""
        return value >= self.target if self.better == "higher" else value <= self.target

    def worse_than(self, value: float, threshold: float) -> bool:
        """True when ``value`` is strictly on the bad side of ``threshold``."""
        return value < threshold if self.better == "higher" else value > threshold


@dataclass(frozen=True)
class TDM:
    """Therapeutic drug monitoring of a line, done when it misses its target after an adequate trial.

    When a patient starts the line a latent exposure status is drawn once from the
    patient's stream: anti-drug antibodies with probability ``p_antibodies`` (the line
    has no effect; TDM finds them and the patient switches to a line of another
    class, which is not a failure of an optimised line), low drug level with
    probability ``p_low`` (the effective dose is one level below the prescribed one;
    TDM finds it and the dose is raised if a higher level exists), otherwise adequate
    exposure (a failure at adequate exposure is declared at once, without titrating).
    Each TDM test costs ``cost``. With ``monitored=False`` the same latent statuses
    exist but nobody measures them: the dose is titrated to the highest level and the
    line then counts as an optimised failure (for the value of monitoring).
    """

    p_low: float = 0.0
    p_antibodies: float = 0.0
    cost: float = 0.0
    monitored: bool = True

    def __post_init__(self):
        check_number(self.p_low, "TDM p_low", 0.0, 1.0)
        check_number(self.p_antibodies, "TDM p_antibodies", 0.0, 1.0)
        if self.p_low + self.p_antibodies > 1.0:
            raise HtaError(f"TDM: p_low {self.p_low} + p_antibodies {self.p_antibodies} exceed 1")
        check_number(self.cost, "TDM cost", 0.0)


@dataclass(frozen=True)
class Line:
    """A treatment line.

    Parameters
    ----------
    name, drug_class : str
        A switch after anti-drug antibodies goes to the next line of another class.
    effects : mapping of marker name to sequence of float
        Change of each marker on this line, one value per dose level (lowest first).
    costs : sequence of float
        Annual drug cost at each dose level (one value per dose level).
    trial : float
        Adequate trial duration in years: a dose is judged only after this long.
    tdm : TDM, optional
        Drug monitoring before failure is declared; without it the dose is titrated
        to the highest level before the line fails.
    requires : mapping of attribute name to (low, high), optional
        Eligibility: the line is started only for a patient whose every named attribute
        lies in ``[low, high]`` (e.g. a heart-rate and rhythm condition); for any other
        patient it is skipped, which is not a failure.
    """

    name: str
    drug_class: str
    effects: Mapping
    costs: tuple
    trial: float
    tdm: TDM | None = None
    requires: Mapping = field(default_factory=dict)

    def __post_init__(self):
        w = f"line {self.name!r}"
        costs = tuple(self.costs) if not isinstance(self.costs, (int, float)) else (self.costs,)
        object.__setattr__(self, "costs", costs)
        if not costs:
            raise HtaError(f"{w}: give one annual cost per dose level")
        for k, c in enumerate(costs):
            check_number(c, f"{w}: cost of dose level {k}", 0.0)
        effects = {}
        for m, e in self.effects.items():
            e = tuple(e) if not isinstance(e, (int, float)) else (e,)
            if len(e) != len(costs):
                raise HtaError(f"{w}: marker {m!r} has {len(e)} effects but the line has {len(costs)} dose "
                               f"levels (costs); give one effect per dose level")
            for k, x in enumerate(e):
                check_number(x, f"{w}: effect on marker {m!r} at dose level {k}")
            effects[m] = e
        object.__setattr__(self, "effects", effects)
        check_number(self.trial, f"{w}: adequate trial duration (years)", 0.0, strict=True)
        if self.tdm is not None and not isinstance(self.tdm, TDM):
            raise HtaError(f"{w}: tdm must be a TDM or None, got {type(self.tdm).__name__}")
        requires = {}
        for a, rng in dict(self.requires).items():
            if not isinstance(a, str) or not a or _pair_len(rng) != 2:
                raise HtaError(f"{w}: requires[{a!r}] must be an attribute name and a (low, high) pair, got {rng!r}")
            lo = check_number(rng[0], f"{w}: requires[{a!r}] low", finite=False)
            hi = check_number(rng[1], f"{w}: requires[{a!r}] high", finite=False)
            if lo > hi:
                raise HtaError(f"{w}: requires[{a!r}] low {lo!r} is above high {hi!r}")
            requires[a] = (lo, hi)
        object.__setattr__(self, "requires", requires)

    def eligible(self, attrs: Mapping) -> bool:
        """Whether a patient with attributes ``attrs`` may start this line (see ``requires``)."""
        return all(lo <= float(attrs[a]) <= hi for a, (lo, hi) in self.requires.items())

    @property
    def doses(self) -> int:
        """Number of dose levels."""
        return len(self.costs)

    def effect(self, marker: str, level: int) -> float:
        """Effect on ``marker`` at effective dose level ``level`` (``-1``: none)."""
        e = self.effects.get(marker)
        return 0.0 if e is None or level < 0 else e[level]


@dataclass(frozen=True)
class Refractory:
    """Refractory disease: optimised lines failing within a time window send the patient on.

    ``lines`` failures of properly optimised lines within ``within`` years (a sliding
    window ending at the latest failure) send the patient to state ``to`` (e.g. a
    waiting list for a procedure).
    """

    lines: int
    within: float
    to: str

    def __post_init__(self):
        if isinstance(self.lines, bool) or not isinstance(self.lines, int) or self.lines < 1:
            raise HtaError(f"refractory rule: lines {self.lines!r} must be a whole number >= 1")
        check_number(self.within, "refractory rule: within (years)", 0.0, strict=True, finite=False)


@dataclass(frozen=True)
class RedFlag:
    """A red-flag finding at a visit sends the patient to state ``to`` (re-evaluation).

    The finding ends the visit instead of going on with escalation: with probability
    ``probability`` per visit, or when ``marker`` (if given) is strictly worse than
    ``threshold``; it costs ``cost``.
    """

    to: str
    probability: float = 0.0
    marker: str | None = None
    threshold: float | None = None
    cost: float = 0.0

    def __post_init__(self):
        check_number(self.probability, f"red flag to {self.to!r}: probability", 0.0, 1.0)
        check_number(self.cost, f"red flag to {self.to!r}: cost", 0.0)
        if (self.marker is None) != (self.threshold is None):
            raise HtaError(f"red flag to {self.to!r}: give both marker and threshold, or neither")
        if self.threshold is not None:
            check_number(self.threshold, f"red flag to {self.to!r}: threshold")


@dataclass(frozen=True)
class Policy:
    """A treat-to-target policy run at visits while the patient is in one state.

    Parameters
    ----------
    marker : str
        Name of the marker compared with its target.
    markers : sequence of Marker
    lines : sequence of Line
        Tried in order (after antibodies: the next line of another class).
    interval : float
        Years between visits; the first visit is on entering the state.
    refractory : Refractory, optional
        Without it the patient stays on the last line when lines run out.
    red_flags : sequence of RedFlag
    visit_cost : float
        Cost of a visit.
    off_target_disutility : float
        Utility lost per year while the last measured marker value is off target.
    """

    marker: str
    markers: tuple
    lines: tuple
    interval: float
    refractory: Refractory | None = None
    red_flags: tuple = ()
    visit_cost: float = 0.0
    off_target_disutility: float = 0.0

    def __post_init__(self):
        for what in ("markers", "lines", "red_flags"):
            object.__setattr__(self, what, tuple(getattr(self, what)))
        for what, kind in (("markers", Marker), ("lines", Line), ("red_flags", RedFlag)):
            for x in getattr(self, what):
                if not isinstance(x, kind):
                    raise HtaError(f"policy {what}: {x!r} is not a {kind.__name__}")
        names = [m.name for m in self.markers]
        if len(set(names)) != len(names):
            raise HtaError(f"policy: marker names must be unique, got {', '.join(names)}")
        if len(names) > MAX_MARKERS or len(self.red_flags) > MAX_MARKERS:
            raise HtaError(f"policy: at most {MAX_MARKERS} markers and {MAX_MARKERS} red flags")

        def known(m, where):
            if m not in names:
                raise HtaError(f"{where}: unknown marker {m!r}{suggest(m, names)}; markers are "
                               f"{', '.join(names) or 'none'} (define it with Marker(...))")

        known(self.marker, "policy target marker")
        if not self.lines or len(self.lines) > MAX_LINES:
            raise HtaError(f"policy: give between 1 and {MAX_LINES} treatment Lines, got {len(self.lines)}")
        lnames = [ln.name for ln in self.lines]
        if len(set(lnames)) != len(lnames):
            raise HtaError(f"policy: line names must be unique, got {', '.join(lnames)}")
        for ln in self.lines:
            for m in ln.effects:
                known(m, f"line {ln.name!r} effects")
        for rf in self.red_flags:
            if rf.marker is not None:
                known(rf.marker, f"red flag to {rf.to!r}")
        check_number(self.interval, "policy visit interval (years)", 0.0, strict=True)
        check_number(self.visit_cost, "policy visit cost", 0.0)
        check_number(self.off_target_disutility, "policy off-target disutility")
        if self.refractory is not None and not isinstance(self.refractory, Refractory):
            raise HtaError(f"policy refractory must be a Refractory or None, got {type(self.refractory).__name__}")

    @property
    def target(self) -> Marker:
        """The marker compared with its target."""
        return next(m for m in self.markers if m.name == self.marker)

    def exits(self) -> list[tuple[str, str]]:
        """(where, state) for every state the policy can send a patient to."""
        out = [(f"red flag {i}", rf.to) for i, rf in enumerate(self.red_flags)]
        if self.refractory is not None:
            out.append(("refractory rule", self.refractory.to))
        return out

    def attributes(self) -> set:
        """Patient attributes the markers use."""
        return {a for m in self.markers for a in m.coef} | {a for ln in self.lines for a in ln.requires}
