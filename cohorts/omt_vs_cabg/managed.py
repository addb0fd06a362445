"""Patient-level OMT vs CABG with a theatre waiting list and treat-to-target escalation.

:func:`managed` builds, from the model's parameter values, one
:class:`sim.patient.ManagedPathway` per strategy, on the events of
:func:`cohorts.omt_vs_cabg.patient.blocks` (the same hazards, costs and utilities as
the cohort model and the plain patient version). What changes:

* ``OMT`` (treat-to-target): in ``Med`` a :class:`~sim.patient.Policy` sees the patient
  every 3 months and measures the SAQ angina-frequency score against the target 61
  (angina monthly or less). Three anti-anginal regimens are tried in order, each for an
  adequate trial of 3 months per dose: a beta-blocker (two dose levels; before it is
  declared failed, a heart-rate check finds the under-dosed patients and raises their
  dose), then beta-blocker + a second agent, then + ranolazine. Failure of the three
  optimised regimens within :data:`REFRACTORY_WINDOW` years is refractory angina:
  referral to the elective theatre list (``Listed``). A red flag at a visit (acute
  coronary syndrome or unstable angina, rate ``r_acs``) sends the patient to
  ``Reeval`` (about a week): urgent CABG (``Urgent``, priority over elective) with
  probability ``p_acs_cabg``, else back to the policy. Red-flag admissions are part of
  the trial's CV hospitalisations, so ``Med``'s hospitalisation rate is reduced by
  ``r_acs`` (no double counting). The crossover hazards of the plain model are
  replaced by the policy; ``saq_untreated`` is calibrated (:func:`calibrate_escalation`)
  so that 100/602 of the arm is operated by 56 months, as in STICH.
* ``CABG``: from ``Assigned`` a share ``1 - p_no_cabg`` joins the elective list at
  once, the rest start in ``Med`` under the same policy (the cohort model lets them
  cross over too).
* The theatre is a :class:`~sim.patient.Resource` of ``theatre_slots_per_week``
  servers each held one week per operation (so at most that many CABGs a week). On
  the lists (``Listed``, ``Urgent``) CV and other-cause death keep running at the
  unoperated hazards (deaths on the list); CV hospitalisations on a list are
  charged at their expected rate (cost ``r_hosp_med * c_hosp`` and QALY loss
  ``r_hosp_med * q_hosp_loss`` a year, as in the cohort model) instead of being drawn,
  so that a patient's sequence of stays, hence the random numbers of life after
  surgery, is the same at every theatre capacity (common random numbers). On admission the
  patient is in theatre for a week, then ``Operated`` pays the operation's cost and
  one-off QALY loss and the one-month ``Surgery`` state (operative death ``p_op``)
  leads to ``PostCABG``, as in the plain version.

Each strategy is its own world with its own theatre (strategies are alternatives).
Semantics of policies and resources: ``docs/patient.md``; this model:
``docs/omt_vs_cabg.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.optimize import brentq

from sim.errors import HtaError
from sim.patient import (
    TDM,
    Arrivals,
    Event,
    Exponential,
    Line,
    ManagedPathway,
    Marker,
    Pathway,
    Policy,
    Procedure,
    RedFlag,
    Refractory,
    Resource,
    run_managed,
)

from .patient import IMMEDIATE, blocks, values

__all__ = [
    "CROSS_TARGET",
    "REFRACTORY_WINDOW",
    "SAQ_TARGET",
    "STATES",
    "TRIAL_YEARS",
    "VISIT_YEARS",
    "arrivals",
    "calibrate_escalation",
    "escalation_share",
    "managed",
]

STATES = ("Assigned", "Med", "Reeval", "Listed", "Urgent", "Operated", "Surgery", "PostCABG", "DeadCV",
          "DeadOther")
#: SAQ angina-frequency target: angina monthly or less (score >= 61; category cut-offs as used in the
#: ISCHEMIA health-status analyses, see docs/omt_vs_cabg.md).
SAQ_TARGET = 61.0
VISIT_YEARS = 0.25  # a visit every 3 months
TRIAL_YEARS = 0.25  # adequate trial of a dose: 3 months
REFRACTORY_WINDOW = 5.0  # three optimised failures within 5 years = refractory angina
REEVAL_YEARS = 1.0 / 52.0  # mean stay in re-evaluation after a red flag (a week)
WEEK = 1.0 / 52.0  # theatre time of one CABG (one slot)
#: STICH: 100 of 602 patients of the MED arm underwent CABG by the median follow-up of 56 months.
CROSS_TARGET = (100 / 602, 56.0 / 12.0)


def _slots(v, what: str = "theatre_slots_per_week") -> float:
    ok = (not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and not math.isnan(v)
          and (v == math.inf or (float(v).is_integer() and v >= 1)))
    if not ok:
        raise HtaError(f"omt_vs_cabg.managed: {what} {v!r} must be a whole number of operations a week >= 1 "
                       f"(or math.inf for unlimited theatre capacity)")
    return float(v)


def arrivals(per_week: float) -> Arrivals:
    """Incident patients: a Poisson stream of ``per_week`` patients a week (a scenario input)."""
    if isinstance(per_week, bool) or not isinstance(per_week, (int, float)) or not per_week > 0 \
            or not math.isfinite(per_week):
        raise HtaError(f"omt_vs_cabg.arrivals: per_week {per_week!r} must be a finite number of patients a "
                       f"week > 0")
    return Arrivals(rate=52.0 * float(per_week))


def _policy(p: Mapping[str, float]) -> Policy:
    saq = Marker("saq_af", baseline=p["saq_untreated"], target=SAQ_TARGET, better="higher",
                 noise_sd=p["saq_noise_sd"], patient_sd=p["saq_patient_sd"], lower=0.0, upper=100.0)
    bb, two, three = p["saq_bb"], p["saq_bb"] + p["saq_add2"], p["saq_bb"] + p["saq_add2"] + p["saq_add3"]
    lines = [
        Line("beta_blocker", "BB", {"saq_af": (bb / 2.0, bb)}, (p["c_bb"], p["c_bb"]), TRIAL_YEARS,
             tdm=TDM(p_low=p["p_bb_underdosed"], cost=p["c_hr_check"])),
        Line("bb_plus_ccb_or_nitrate", "BB+2", {"saq_af": (two,)}, (p["c_bb"] + p["c_add2"],), TRIAL_YEARS),
        Line("bb_ccb_ranolazine", "BB+3", {"saq_af": (three,)}, (p["c_bb"] + p["c_add2"] + p["c_ranolazine"],),
             TRIAL_YEARS),
    ]
    red = RedFlag("Reeval", probability=float(-np.expm1(-p["r_acs"] * VISIT_YEARS)), cost=p["c_hosp"])
    return Policy("saq_af", [saq], lines, interval=VISIT_YEARS,
                  refractory=Refractory(3, REFRACTORY_WINDOW, "Listed"), red_flags=[red], visit_cost=p["c_visit"])


def managed(params: Mapping[str, float] | None = None, *, theatre_slots_per_week: float | None = None,
            horizon: float | None = None) -> dict[str, ManagedPathway]:
    """The two strategies as managed pathways (policy, theatre, waiting lists).

    Parameters
    ----------
    params : mapping, optional
        Parameter values (names of ``parameters.csv``); missing ones take the base case.
    theatre_slots_per_week : int or math.inf, optional
        CABGs the theatre can start a week (servers held one week each); default the
        table's ``theatre_slots_per_week``; ``math.inf`` for no capacity limit.
    horizon : float, optional
        Years of follow-up (default the model's 40).

    Returns
    -------
    dict
        ``{"OMT": ManagedPathway, "CABG": ManagedPathway}`` over :data:`STATES`, each
        with its own ``theatre`` resource.
    """
    p = values(params, "managed")
    slots = _slots(p["theatre_slots_per_week"] if theatre_slots_per_week is None else theatre_slots_per_week)
    for k in ("r_acs", "p_acs_cabg", "p_bb_underdosed", "saq_patient_sd", "saq_noise_sd"):
        if p[k] < 0 or (k.startswith("p_") and p[k] > 1):
            raise HtaError(f"omt_vs_cabg.managed: parameter {k!r} is {p[k]!r}; it must be >= 0"
                           f"{' and <= 1' if k.startswith('p_') else ''}")
    if p["r_acs"] > p["r_hosp_med"]:
        raise HtaError(f"omt_vs_cabg.managed: r_acs {p['r_acs']!r} exceeds r_hosp_med {p['r_hosp_med']!r}; "
                       f"red-flag admissions are part of the CV hospitalisations, so r_acs <= r_hosp_med")
    base, common, rw = blocks(p)
    hosp, operate, other, cv_med = rw["hosp"], rw["operate"], rw["other"], rw["cv_med"]
    on_list = [cv_med, other]
    reeval = 1.0 / REEVAL_YEARS
    events = {
        "Assigned": [Event("Listed", Exponential(IMMEDIATE * (1.0 - p["p_no_cabg"]))),
                     Event("Med", Exponential(IMMEDIATE * p["p_no_cabg"]))],
        "Med": [cv_med, other, Event("Med", Exponential(p["r_hosp_med"] - p["r_acs"]), **hosp)],
        "Reeval": [*on_list, Event("Urgent", Exponential(reeval * p["p_acs_cabg"]), qaly=hosp["qaly"]),
                   Event("Med", Exponential(reeval * (1.0 - p["p_acs_cabg"])), qaly=hosp["qaly"])],
        "Listed": on_list,
        "Urgent": on_list,
        "Operated": [Event("Surgery", Exponential(IMMEDIATE), **operate)],
        "Surgery": base["Surgery"],
        "PostCABG": base["PostCABG"],
    }
    waiting = ("Assigned", "Med", "Reeval", "Listed", "Urgent", "Operated")
    settings = dict(common)
    # on the lists CV hospitalisations are charged at their expected rate (as the cohort model does)
    # rather than drawn as events: then a patient's sequence of stays does not depend on the wait and
    # the random numbers of life after surgery are common to every theatre capacity
    on_list_cost = p["c_followup"] + p["r_hosp_med"] * hosp["cost"]
    on_list_u = p["u_med"] + p["r_hosp_med"] * hosp["qaly"]
    settings.update(states=STATES, horizon=float(common["horizon"] if horizon is None else horizon),
                    costs={**common["costs"], **dict.fromkeys(waiting, p["c_followup"]),
                           **dict.fromkeys(("Listed", "Urgent"), on_list_cost)},
                    utilities={**common["utilities"], **dict.fromkeys(waiting, p["u_med"]),
                               **dict.fromkeys(("Listed", "Urgent"), on_list_u)})
    policy = _policy(p)
    procedures = {
        "Listed": Procedure("theatre", "Operated", "DeadCV", duration=WEEK, priority=1),
        "Urgent": Procedure("theatre", "Operated", "DeadCV", duration=WEEK, priority=0),
    }
    theatre = (Resource("theatre", slots),)
    return {s: ManagedPathway(Pathway(start=start, events=events, **settings), {"Med": policy}, procedures, theatre)
            for s, start in (("OMT", "Med"), ("CABG", "Assigned"))}


def escalation_share(params: Mapping[str, float] | None = None, n_patients: int = 4000, seed: int = 11,
                     years: float = CROSS_TARGET[1]) -> float:
    """Share of the OMT strategy operated within ``years`` (unlimited theatre, all arrive at 0).

    Returns
    -------
    float
        Operated patients (admitted to theatre by ``years``, after the policy's
        refractory rule or a red flag) over ``n_patients``; the calibration target is
        :data:`CROSS_TARGET`.
    """
    mp = managed(params, theatre_slots_per_week=math.inf, horizon=years)["OMT"]
    out = run_managed({"OMT": mp}, n_patients, seed=seed).outcomes
    return float((out["time_to_procedure"] <= years).mean())


def calibrate_escalation(params: Mapping[str, float] | None = None, n_patients: int = 4000, seed: int = 11,
                         target: float = CROSS_TARGET[0], bracket: tuple[float, float] = (0.0, 60.0)) -> float:
    """The ``saq_untreated`` that makes :func:`escalation_share` equal ``target``.

    With common random numbers the share is a step function of ``saq_untreated``,
    decreasing; Brent's method on it finds the value to within a step (``xtol=0.01``).

    Returns
    -------
    float
        The fitted ``saq_untreated`` (SAQ-AF points); the table stores 71.29 (base case,
        4,000 patients, seed 11). An :class:`~sim.errors.HtaError` says so if the share
        at the two ends of ``bracket`` does not straddle ``target``.
    """
    base = dict(params or {})

    def gap(x):
        return escalation_share({**base, "saq_untreated": x}, n_patients, seed) - target

    lo, hi = gap(bracket[0]), gap(bracket[1])
    if lo * hi > 0:
        raise HtaError(f"calibrate_escalation: the share operated by {CROSS_TARGET[1]:.3g} years is "
                       f"{lo + target:.3f} at saq_untreated {bracket[0]:g} and {hi + target:.3f} at "
                       f"{bracket[1]:g}, both on the same side of the target {target:.3f}; widen bracket")
    return float(brentq(gap, *bracket, xtol=0.01))
