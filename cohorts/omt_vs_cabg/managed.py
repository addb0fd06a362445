"""Patient-level OMT vs CABG for heart failure with reduced ejection fraction (HFrEF), managed by guideline.

:func:`managed` builds one :class:`sim.patient.ManagedPathway` per strategy on the
hazards, costs and utilities of the cohort model (read by their names in
``parameters.csv`` through :func:`cohorts.omt_vs_cabg.patient.blocks`), plus the
managed model's own parameters (``managed_parameters.csv``, every value with its source
and whether it was verified). What the managed version adds (clinical sources in
``docs/omt_vs_cabg.md``, "The managed patient-level version"):

* **Guideline-directed medical therapy (GDMT) is background therapy of every patient**
  in every alive state and both strategies: beta-blocker, ARNI (or ACE inhibitor), MRA
  and SGLT2 inhibitor (2022 AHA/ACC/HFSA HF guideline section 7.3; 2023 AHA/ACC chronic
  coronary disease (CCD) guideline sections 4.2.8, 4.3.2, 4.3.3); its annual cost
  :func:`gdmt_cost` is added to every alive state's cost. It is not an anti-anginal step.
* **Treat-to-target anti-anginal escalation suitable in HFrEF** (``Med``; a
  :class:`~sim.patient.Policy` run by the policy engine): a visit every 3 months
  measures the Seattle Angina Questionnaire angina-frequency score (SAQ-AF) against
  the target 61 (angina monthly or less); off target after an adequate trial of 3
  months per dose, the dose is raised or the next step added (CCD guideline 4.3.6):
  (0) GDMT alone (its beta-blocker is the first anti-anginal step); (1) + isosorbide
  mononitrate, two doses; (2) + ivabradine if the patient is in sinus rhythm with a
  resting heart rate of 70 bpm or more on the beta-blocker, else + amlodipine
  (felodipine would do; no other calcium-channel blocker, since non-dihydropyridines
  are harmful in HFrEF); (3) + ranolazine. Four optimised failures (every step)
  within :data:`REFRACTORY_WINDOW` years is refractory angina: referral to
  the elective CABG list (``Listed``). While the last score is off target (weekly or
  daily angina) the utility is lower by ``u_angina`` (Kohn et al. 2014).
* **The population is STICH's** (:func:`population`): no CCS III-IV angina (excluded
  from the trial's medical arm), 64 % with angina (Jolicoeur et al. 2015); the score
  before anti-anginals is ``saq_no_angina - saq_per_ccs * ccs_class`` plus a
  between-patient deviation; ``saq_per_ccs`` is calibrated (:func:`calibrate_escalation`)
  so that 100/602 of the OMT arm is operated by 56 months (:data:`CROSS_TARGET`).
* **Acute coronary syndrome (ACS)** (rate ``r_acs_event`` on medical therapy and on the
  elective list; part of the CV hospitalisations, so ``Med``'s other admissions run at
  ``r_hosp_med - r_acs_event``): an admission (``ACS``, mean ``acs_days``) at the higher
  CV death hazard ``h_cv_acs``, then urgent CABG (probability ``p_acs_urgent_cabg``:
  ``Urgent`` list, priority over elective, same ``h_cv_acs`` while waiting) or back to
  ``Med``. An urgent operation has its own operative mortality (``SurgeryUrgent``):
  odds of ``p_op`` times ``or_op_urgent`` (EuroSCORE II urgent + recent MI).
* **Theatre capacity is a scenario** (waiting lists as in publicly funded systems):
  by default unlimited (a US payer does not ration surgery);
  ``theatre_slots_per_week=N`` gives a :class:`~sim.patient.Resource` of ``N`` servers
  each held one week per operation. On the lists CV hospitalisations other than ACS are
  charged at their expected rate (not drawn), as in the cohort model.

Each strategy is its own world with its own theatre (strategies are alternatives).
Semantics of policies and resources: ``docs/patient.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import brentq

from sim import ParameterTable
from sim.errors import HtaError
from sim.patient import (
    Arrivals,
    Event,
    Exponential,
    Line,
    ManagedPathway,
    Marker,
    Pathway,
    Policy,
    Procedure,
    Refractory,
    Resource,
    generate_population,
    run_managed,
    truncated_normal,
)

from . import parameters as cohort_parameters
from .patient import IMMEDIATE, base_parameters, blocks, surgery

__all__ = [
    "ANTI_ANGINAL_CLASSES",
    "CROSS_TARGET",
    "ANNOTATIONS",
    "GDMT",
    "IVABRADINE_MIN_HR",
    "PRICE_YEAR",
    "REFRACTORY_WINDOW",
    "SAQ_TARGET",
    "STATES",
    "arrivals",
    "calibrate_escalation",
    "escalation_share",
    "gdmt_cost",
    "managed",
    "managed_parameters",
    "model_values",
    "p_op_urgent",
    "parameter_frame",
    "population",
    "psa_table",
    "read_annotated",
]

STATES = ("Assigned", "Med", "ACS", "Listed", "Urgent", "Operated", "OperatedUrgent", "Surgery", "SurgeryUrgent",
          "PostCABG", "DeadCV", "DeadOther")
ALIVE = STATES[:-2]
#: The four GDMT classes every patient receives, with the parameter of each one's annual cost.
GDMT = {"beta_blocker": "c_gdmt_bb", "arni": "c_gdmt_arni", "mra": "c_gdmt_mra", "sglt2_inhibitor": "c_gdmt_sglt2"}
#: Drug classes the anti-anginal lines may use in HFrEF (no non-dihydropyridine calcium-channel blocker); "none" is
#: the first line, GDMT alone (its beta-blocker is the first anti-anginal step; no added drug).
ANTI_ANGINAL_CLASSES = ("none", "long_acting_nitrate", "if_inhibitor", "dihydropyridine_ccb", "ranolazine")
#: SAQ angina-frequency target: angina monthly or less (score >= 61; classes of Kohn et al. 2014).
SAQ_TARGET = 61.0
#: Ivabradine: sinus rhythm and a resting heart rate of at least 70 bpm on a maximally tolerated beta-blocker.
IVABRADINE_MIN_HR = 70.0
VISIT_YEARS = 0.25  # a visit every 3 months
TRIAL_YEARS = 0.25  # adequate trial of a dose: 3 months
REFRACTORY_WINDOW = 5.0  # four optimised failures (GDMT and three anti-anginal steps) within 5 years
WEEK = 1.0 / 52.0  # theatre time of one CABG (one slot)
#: STICH: 100 of 602 patients of the MED arm underwent CABG by the median follow-up of 56 months.
CROSS_TARGET = (100 / 602, 56.0 / 12.0)
_HERE = Path(__file__).parent


#: Columns of ``managed_parameters.csv`` beyond a standard parameter table: the price year of a cost
#: (every cost is in 2023 US dollars), whether the value was seen in the cited text (yes, partly, no) and a note.
ANNOTATIONS = ("price_year", "verified", "note")
PRICE_YEAR = 2023


def parameter_frame() -> pd.DataFrame:
    """``managed_parameters.csv`` as read (a copy): the standard columns plus :data:`ANNOTATIONS`, checked."""
    return _frame().copy()


@lru_cache(maxsize=1)
def _frame() -> pd.DataFrame:
    return read_annotated(_HERE / "managed_parameters.csv")


def read_annotated(path) -> pd.DataFrame:
    """A parameter table with the :data:`ANNOTATIONS` columns, checked (costs in :data:`PRICE_YEAR` US dollars).

    Returns
    -------
    DataFrame
        One row per parameter: the standard columns, ``price_year`` (integer or missing),
        ``verified`` (``yes``, ``partly`` or ``no``) and ``note``; an
        :class:`~sim.errors.HtaError` names the file, line and parameter of a bad row.
    """
    path = Path(path)
    df = pd.read_csv(path, dtype={"price_year": "Int64"}, keep_default_na=False, na_values={"price_year": [""]})
    missing = [c for c in ANNOTATIONS if c not in df.columns]
    if missing:
        raise HtaError(f"{path.name}: no column {missing[0]!r}; every row says its price year (costs), whether "
                       f"it was verified (yes, partly, no) and a note")
    for i, row in df.iterrows():
        where = f"{path.name}, line {i + 2} ({row['name']})"
        if row["verified"] not in ("yes", "partly", "no"):
            raise HtaError(f"{where}: verified is {row['verified']!r}; write yes, partly or no")
        if str(row["unit"]).startswith("USD") and row["price_year"] != PRICE_YEAR:
            raise HtaError(f"{where}: a cost must be in {PRICE_YEAR} US dollars (price_year {PRICE_YEAR}), "
                           f"got {row['price_year']!r}; convert it with the price index")
    return df


@lru_cache(maxsize=1)
def managed_parameters() -> ParameterTable:
    """The managed model's own parameters (``managed_parameters.csv``), every value with its source."""
    df = _frame()
    return ParameterTable.from_frame(df.drop(columns=list(ANNOTATIONS)), label="managed_parameters.csv")


def psa_table() -> ParameterTable:
    """The cohort model's parameters and the managed model's in one table (for :func:`sim.patient.run_patient_psa`).

    A name in both tables is an error (it would be ambiguous), named here.
    """
    cohort, own = cohort_parameters(), managed_parameters()
    both = sorted(set(cohort.names) & set(own.names))
    if both:
        raise HtaError(f"omt_vs_cabg.managed: parameter {both[0]!r} is in both parameters.csv and "
                       f"managed_parameters.csv; rename one of them")
    return ParameterTable([*cohort.parameters, *own.parameters], correlations=cohort.correlations,
                          label="omt_vs_cabg parameters.csv + managed_parameters.csv")


def model_values(params: Mapping[str, float] | None = None) -> dict[str, float]:
    """The base case of both tables updated by ``params`` (names known, one finite number each), checked."""
    p = {**base_parameters(), **managed_parameters().base}
    unknown = sorted(set(params or {}) - set(p))
    if unknown:
        raise HtaError(f"omt_vs_cabg.managed: unknown parameter {unknown[0]!r}; parameters are those of "
                       f"parameters.csv and managed_parameters.csv")
    for k, v in (params or {}).items():
        if isinstance(v, bool) or np.ndim(v) != 0 or not np.isfinite(float(v)):
            raise HtaError(f"omt_vs_cabg.managed: parameter {k!r} is {v!r}; give one finite number")
        p[k] = float(v)
    probabilities = ("p_op", "p_no_cabg", "p_acs_urgent_cabg", "pop_angina_share", "pop_ccs2_share",
                     "pop_sinus_share")
    for k in probabilities:
        if not 0.0 <= p[k] <= 1.0 or (k == "p_op" and p[k] == 1.0):
            raise HtaError(f"omt_vs_cabg.managed: parameter {k!r} is {p[k]!r}; it must lie in [0, 1]")
    for k in ("r_acs_event", "h_cv_acs", "saq_between_sd", "saq_visit_sd", "u_angina", *GDMT.values()):
        if p[k] < 0:
            raise HtaError(f"omt_vs_cabg.managed: parameter {k!r} is {p[k]!r}; it must be >= 0")
    for k in ("acs_days", "or_op_urgent", "pop_hr_sd"):
        if p[k] <= 0:
            raise HtaError(f"omt_vs_cabg.managed: parameter {k!r} is {p[k]!r}; it must be > 0")
    if p["r_acs_event"] > p["r_hosp_med"]:
        raise HtaError(f"omt_vs_cabg.managed: r_acs_event {p['r_acs_event']!r} exceeds r_hosp_med "
                       f"{p['r_hosp_med']!r}; ACS admissions are part of the CV hospitalisations, so "
                       f"r_acs_event <= r_hosp_med")
    return p


def gdmt_cost(p: Mapping[str, float]) -> float:
    """Annual cost of the background GDMT (sum of the four classes' costs in :data:`GDMT`)."""
    return float(sum(p[k] for k in GDMT.values()))


def p_op_urgent(p: Mapping[str, float]) -> float:
    """Operative mortality of an urgent CABG: the odds of ``p_op`` times ``or_op_urgent``."""
    odds = p["p_op"] / (1.0 - p["p_op"]) * p["or_op_urgent"]
    return float(odds / (1.0 + odds))


def population(n: int, seed: int, params: Mapping[str, float] | None = None, *, draw: int = 0) -> pd.DataFrame:
    """STICH-like patients: CCS angina class (0, I or II; no III-IV), rhythm, heart rate on beta-blocker.

    Returns
    -------
    DataFrame
        ``n`` rows: ``ccs_class`` (0, 1, 2), ``sinus_rhythm`` (1 sinus, 0 not),
        ``heart_rate`` (bpm on the maximally tolerated beta-blocker, 45-120) and
        ``ivabradine_eligible`` (1 when in sinus rhythm with heart rate >= 70 bpm).
    """
    p = model_values(params)
    angina, ccs2 = p["pop_angina_share"], p["pop_ccs2_share"]
    ccs = stats.rv_discrete(values=([0, 1, 2], [1.0 - angina, angina * (1.0 - ccs2), angina * ccs2]))
    spec = {"ccs_class": ccs, "sinus_rhythm": stats.bernoulli(p["pop_sinus_share"]),
            "heart_rate": truncated_normal(p["pop_hr_mean"], p["pop_hr_sd"], 45.0, 120.0)}
    pop = generate_population(spec, n, seed, draw=draw).reset_index(drop=True)
    pop["ivabradine_eligible"] = ((pop["sinus_rhythm"] == 1) & (pop["heart_rate"] >= IVABRADINE_MIN_HR)).astype(float)
    return pop


def _slots(v, what: str = "theatre_slots_per_week") -> float:
    ok = (not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and not math.isnan(v)
          and (v == math.inf or (float(v).is_integer() and v >= 1)))
    if not ok:
        raise HtaError(f"omt_vs_cabg.managed: {what} {v!r} must be a whole number of operations a week >= 1 "
                       f"(or math.inf for unlimited theatre capacity, the default)")
    return float(v)


def arrivals(per_week: float) -> Arrivals:
    """Incident patients: a Poisson stream of ``per_week`` patients a week (a scenario input)."""
    if isinstance(per_week, bool) or not isinstance(per_week, (int, float)) or not per_week > 0 \
            or not math.isfinite(per_week):
        raise HtaError(f"omt_vs_cabg.arrivals: per_week {per_week!r} must be a finite number of patients a "
                       f"week > 0")
    return Arrivals(rate=52.0 * float(per_week))


def _policy(p: Mapping[str, float]) -> Policy:
    """Treat-to-target anti-anginal escalation on top of GDMT (lines in :data:`ANTI_ANGINAL_CLASSES`)."""
    saq = Marker("saq_af", baseline=p["saq_no_angina"], target=SAQ_TARGET, better="higher",
                 coef={"ccs_class": -p["saq_per_ccs"]}, noise_sd=p["saq_visit_sd"], patient_sd=p["saq_between_sd"],
                 lower=0.0, upper=100.0)
    nit, c_nit = p["saq_ismn"], p["c_ismn"]
    iv, aml = nit + p["saq_ivabradine"], nit + p["saq_amlodipine"]
    c_iv, c_aml = c_nit + p["c_ivabradine"], c_nit + p["c_amlodipine"]
    iv_ok = {"sinus_rhythm": (1.0, 1.0), "heart_rate": (IVABRADINE_MIN_HR, math.inf)}
    no_iv = {"ivabradine_eligible": (0.0, 0.0)}
    lines = [
        Line("gdmt_only", "none", {"saq_af": (0.0,)}, (0.0,), TRIAL_YEARS),  # the GDMT beta-blocker is the first step
        Line("isosorbide_mononitrate", "long_acting_nitrate", {"saq_af": (p["saq_ismn_low"], nit)}, (c_nit, c_nit),
             TRIAL_YEARS),
        Line("ivabradine", "if_inhibitor", {"saq_af": (iv,)}, (c_iv,), TRIAL_YEARS, requires=iv_ok),
        Line("amlodipine", "dihydropyridine_ccb", {"saq_af": (aml,)}, (c_aml,), TRIAL_YEARS, requires=no_iv),
        Line("ranolazine_after_ivabradine", "ranolazine", {"saq_af": (iv + p["saq_ranolazine"],)},
             (c_iv + p["c_rano"],), TRIAL_YEARS, requires=iv_ok),
        Line("ranolazine_after_amlodipine", "ranolazine", {"saq_af": (aml + p["saq_ranolazine"],)},
             (c_aml + p["c_rano"],), TRIAL_YEARS, requires=no_iv),
    ]
    return Policy("saq_af", [saq], lines, interval=VISIT_YEARS, refractory=Refractory(4, REFRACTORY_WINDOW, "Listed"),
                  visit_cost=p["c_policy_visit"], off_target_disutility=p["u_angina"])


def managed(params: Mapping[str, float] | None = None, *, theatre_slots_per_week: float = math.inf,
            horizon: float | None = None) -> dict[str, ManagedPathway]:
    """The two strategies as managed pathways (GDMT, anti-anginal policy, ACS, theatre).

    Parameters
    ----------
    params : mapping, optional
        Parameter values (names of ``parameters.csv`` and ``managed_parameters.csv``);
        missing ones take the base case.
    theatre_slots_per_week : int or math.inf
        CABGs the theatre can start a week (servers held one week each); default
        ``math.inf``, no capacity limit (the US base case); a whole number for the
        waiting-list scenario.
    horizon : float, optional
        Years of follow-up (default the model's 40).

    Returns
    -------
    dict
        ``{"OMT": ManagedPathway, "CABG": ManagedPathway}`` over :data:`STATES`, each
        with its own ``theatre`` resource. Patients need the attributes of
        :func:`population`.
    """
    p = model_values(params)
    slots = _slots(theatre_slots_per_week)
    base, common, rw = blocks(p)
    hosp, noncv, operate, other, cv_med = rw["hosp"], rw["noncv"], rw["operate"], rw["other"], rw["cv_med"]
    acs = Event("ACS", Exponential(p["r_acs_event"]), **hosp)
    cv_acs = Event("DeadCV", Exponential(p["h_cv_acs"]))
    stay = p["acs_days"] / 365.25
    events = {
        "Assigned": [Event("Listed", Exponential(IMMEDIATE * (1.0 - p["p_no_cabg"]))),
                     Event("Med", Exponential(IMMEDIATE * p["p_no_cabg"]))],
        "Med": [cv_med, other, acs, Event("Med", Exponential(p["r_hosp_med"] - p["r_acs_event"]), **hosp),
                Event("Med", Exponential(p["r_hosp_noncv"]), **noncv)],
        "ACS": [cv_acs, other, Event("Urgent", Exponential(p["p_acs_urgent_cabg"] / stay)),
                Event("Med", Exponential((1.0 - p["p_acs_urgent_cabg"]) / stay))],
        "Listed": [cv_med, other, acs],
        "Urgent": [cv_acs, other],
        "Operated": [Event("Surgery", Exponential(IMMEDIATE), **operate)],
        "OperatedUrgent": [Event("SurgeryUrgent", Exponential(IMMEDIATE), **operate)],
        "Surgery": base["Surgery"],
        "SurgeryUrgent": surgery(p_op_urgent(p)),
        "PostCABG": base["PostCABG"],
    }
    gdmt = gdmt_cost(p)
    follow = p["c_followup"] + gdmt
    other_hosp = p["r_hosp_med"] - p["r_acs_event"]  # non-ACS CV admissions, charged at their rate on the lists
    r_noncv = p["r_hosp_noncv"]  # and non-CV admissions
    u_post = common["utilities"]["PostCABG"]
    costs = {**dict.fromkeys(ALIVE, follow), "Listed": follow + other_hosp * hosp["cost"] + r_noncv * noncv["cost"]}
    utilities = {**dict.fromkeys(("Assigned", "Med"), p["u_med"]),
                 **dict.fromkeys(("ACS", "Urgent", "Operated", "OperatedUrgent"), p["u_med"] - p["u_angina"]),
                 "Listed": p["u_med"] - p["u_angina"] + other_hosp * hosp["qaly"] + r_noncv * noncv["qaly"],
                 "Surgery": common["utilities"]["Surgery"], "SurgeryUrgent": common["utilities"]["Surgery"],
                 "PostCABG": u_post}
    settings = {**common, "states": STATES, "horizon": float(common["horizon"] if horizon is None else horizon),
                "costs": costs, "utilities": utilities}
    policy = _policy(p)
    procedures = {
        "Listed": Procedure("theatre", "Operated", "DeadCV", duration=WEEK, priority=1),
        "Urgent": Procedure("theatre", "OperatedUrgent", "DeadCV", duration=WEEK, priority=0),
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
        Patients admitted to theatre by ``years`` (refractory angina or urgent CABG after
        an ACS) over ``n_patients`` (STICH-like population of the same seed); the
        calibration target is :data:`CROSS_TARGET`.
    """
    mp = managed(params, horizon=years)["OMT"]
    out = run_managed({"OMT": mp}, n_patients, seed=seed, population=population(n_patients, seed, params)).outcomes
    return float((out["time_to_procedure"] <= years).mean())


def calibrate_escalation(params: Mapping[str, float] | None = None, n_patients: int = 4000, seed: int = 11,
                         target: float = CROSS_TARGET[0], bracket: tuple[float, float] = (0.0, 40.0)) -> float:
    """The ``saq_per_ccs`` that makes :func:`escalation_share` equal ``target``.

    With common random numbers the share is a step function of ``saq_per_ccs``,
    increasing; Brent's method on it finds the value to within a step (``xtol=0.01``).

    Returns
    -------
    float
        The fitted ``saq_per_ccs`` (SAQ-AF points per CCS class); the table stores the
        base-case fit with 20,000 patients, seed 11 (20.98). An :class:`~sim.errors.HtaError` says
        so if the share at the two ends of ``bracket`` does not straddle ``target``.
    """
    base = dict(params or {})

    def gap(x):
        return escalation_share({**base, "saq_per_ccs": x}, n_patients, seed) - target

    lo, hi = gap(bracket[0]), gap(bracket[1])
    if lo * hi > 0:
        raise HtaError(f"calibrate_escalation: the share operated by {CROSS_TARGET[1]:.3g} years is "
                       f"{lo + target:.3f} at saq_per_ccs {bracket[0]:g} and {hi + target:.3f} at "
                       f"{bracket[1]:g}, both on the same side of the target {target:.3f}; widen bracket")
    return float(brentq(gap, *bracket, xtol=0.01))
