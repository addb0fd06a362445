"""Patient-level (continuous-time) version of the OMT vs CABG model.

:func:`pathways` builds, from the same parameter values as the cohort model
(:func:`cohorts.omt_vs_cabg.build`), one :class:`sim.patient.Pathway` per strategy.
Every hazard of the cohort model is here a time to event on the Markov clock (time since
randomisation), with the cohort model's value in each month, so the cohort model run with
``calibration.patient_equivalent`` (constant utilities) is its exact monthly
discretisation (only the within-cycle correction of rewards differs, by far less than the
Monte Carlo error):

* ``Med`` and ``PostCABG``: cardiovascular death (piecewise exponential by month,
  :func:`cv_hazards`: on medical therapy ``h_cv_med_y0`` then ``h_cv_med_y5``; after CABG
  the medical hazard times ``hr_cv_post_early`` for ``early_post_years``, then
  ``h_cv_post_y2`` and ``h_cv_post_y5``, the effect fading as ``effect_years`` and
  ``wane_years`` say), other-cause death (piecewise exponential by year of age from the
  US 2017 life table times ``k_other``), recurrent CV (``r_hosp_med``, times
  ``hr_hosp_cabg`` after CABG) and non-CV (``r_hosp_noncv``) hospitalisations (back to
  the same state with their cost and QALY loss) and, from ``Med``, crossover to surgery
  (``r_cross_early`` for 5 years, then ``r_cross_late``), which pays the operation's cost
  and its one-off QALY loss;
* ``Surgery`` lasts one month: operative death at the constant hazard that gives
  ``p_op`` within the month, else recovery to ``PostCABG`` at one month;
* the CABG strategy starts in ``Assigned``, left at once (after about 1e-9 years)
  for ``Surgery`` (probability ``1 - p_no_cabg``, paying the operation) or ``Med``.
  Waiting lists, theatre capacity and the guideline management of HFrEF are in the
  managed version, :mod:`cohorts.omt_vs_cabg.managed` (which reuses :func:`blocks` and
  :func:`surgery`).

Costs are per year (``c_followup + c_drugs`` in every alive state); utilities per year.
A state's utility is one number in a ``Pathway``, so :func:`pathways` splits ``Med`` and
``PostCABG`` into runs of months of constant utility (:func:`utility_segments`: the decline
with age and the STICH trajectory of the CABG gain, as the cohort model has them);
``pathways(utility="constant")`` and the managed version keep one utility per state
(``u_med``; ``u_med + du_cabg``).

A hospitalisation re-enters its state, which restarts the state's semi-Markov clocks;
every time-varying event here uses the Markov clock, so that is harmless.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from sim.errors import HtaError
from sim.patient import Event, Exponential, Pathway, PiecewiseExponential

from . import (
    CROSS_BREAK_YEARS,
    DISCOUNT,
    HORIZON_YEARS,
    age_utility_ratio,
    background_hazard,
    build,
    du_profile,
    operative_hazard,
)

__all__ = ["IMMEDIATE", "base_parameters", "blocks", "cv_hazards", "pathways", "surgery", "utility_segments", "values"]

#: Rate (per year) of the instantaneous events out of ``Assigned``.
IMMEDIATE = 1e9
_BIG = 1e12  # hazard standing for "certainly, now" (a fixed sojourn's end; q = 1 at the table's last age)
_MONTH = 1.0 / 12.0  # the cohort model's cycle


def base_parameters() -> dict[str, float]:
    """The base-case parameter values (those of the cohort model)."""
    return dict(build().parameters)


def _other_death(p: Mapping) -> PiecewiseExponential:
    """Other-cause death: ``k_other`` times the mixed-sex life-table hazard, one piece per year of age."""
    years = np.arange(HORIZON_YEARS + 1, dtype=float)
    rates = p["k_other"] * background_hazard(p["male_share"], p["age_start"] + years)
    return PiecewiseExponential(years, np.where(np.isfinite(rates), rates, _BIG))


def _pieces(t: np.ndarray, rates: np.ndarray) -> PiecewiseExponential:
    """A piecewise-exponential time with the ``rates`` from ``t`` on, equal neighbours merged."""
    keep = np.r_[True, np.abs(np.diff(rates)) > 1e-15 * np.maximum(np.abs(rates[1:]), 1.0)]
    return PiecewiseExponential(t[keep], rates[keep])


def cv_hazards(p: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cohort model's CV death hazards (per year) in each month of the horizon.

    Returns
    -------
    tuple
        ``(t, med, post)``: month starts in years, the hazard on medical therapy and the
        hazard after CABG (the early period, the late hazards and the effect's waning, as
        :func:`cohorts.omt_vs_cabg.build` computes them for its monthly cycles).
    """
    t = np.arange(int(round(HORIZON_YEARS / _MONTH))) * _MONTH
    five = t < CROSS_BREAK_YEARS - 1e-9
    med = np.where(five, p["h_cv_med_y0"], p["h_cv_med_y5"])
    late = np.where(five, p["h_cv_post_y2"], p["h_cv_post_y5"])
    post = np.where(t < p["early_post_years"] - 1e-9, p["hr_cv_post_early"] * med, late)
    end, wane = float(p["effect_years"]), float(p["wane_years"])
    # weight of the CABG effect (docs/omt_vs_cabg.md): 1 until end - wane, linearly to 0 at end
    w = np.clip((end - t) / wane, 0.0, 1.0) if wane > 0 else (t < end - 1e-9).astype(float)
    return t, med, med * (post / med) ** w


def surgery(p_op: float) -> list[Event]:
    """The events of a one-month ``Surgery`` state.

    Operative death with probability ``p_op`` within the month (a constant hazard), else
    recovery to ``PostCABG`` at one month.
    """
    month = 1.0 / 12.0
    return [Event("DeadCV", PiecewiseExponential([0.0, month], [float(operative_hazard(p_op)), 0.0])),
            Event("PostCABG", PiecewiseExponential([0.0, month], [0.0, _BIG]))]


def values(params: Mapping[str, float] | None = None, where: str = "pathways") -> dict[str, float]:
    """The base case updated by ``params``, checked (names known, one finite number each)."""
    p = base_parameters()
    unknown = sorted(set(params or {}) - set(p))
    if unknown:
        raise HtaError(f"omt_vs_cabg.{where}: unknown parameter {unknown[0]!r}; parameters are {', '.join(p)}")
    for k, v in (params or {}).items():
        if np.ndim(v) != 0 or not np.isfinite(float(v)):
            raise HtaError(f"omt_vs_cabg.{where}: parameter {k!r} is {v!r}; give one finite number")
        p[k] = float(v)
    if not 0.0 <= p["p_op"] < 1.0 or not 0.0 <= p["p_no_cabg"] <= 1.0:
        raise HtaError(f"omt_vs_cabg.{where}: p_op {p['p_op']!r} must lie in [0, 1) and p_no_cabg "
                       f"{p['p_no_cabg']!r} in [0, 1]")
    return p


def blocks(p: Mapping[str, float]) -> tuple[dict, dict, dict]:
    """The building blocks shared by :func:`pathways` and the managed version.

    Returns
    -------
    tuple
        ``(events, common, rewards)``: the events of ``Assigned, Med, Surgery, PostCABG``
        (``Event`` lists), the ``Pathway`` keywords other than ``start`` and ``events``,
        and the one-off rewards ``{"operate", "hosp", "noncv"}`` (each ``{cost, qaly}``:
        the operation, a CV and a non-CV admission) plus the events ``"other"``
        (other-cause death) and ``"cv_med"`` (CV death unoperated, time-varying).
    """
    u_post = p["u_med"] + p["du_cabg"]
    periop_loss = -(u_post - p["u_periop"]) / 12.0
    other = _other_death(p)
    t, h_med, h_post = cv_hazards(p)
    hosp = {"cost": p["c_hosp"], "qaly": -p["q_hosp_loss"]}
    noncv = {"cost": p["c_hosp_noncv"], "qaly": -p["q_hosp_loss"]}
    operate = {"cost": p["c_cabg"], "qaly": periop_loss}
    events = {
        "Assigned": [
            Event("Surgery", Exponential(IMMEDIATE * (1.0 - p["p_no_cabg"])), **operate),
            Event("Med", Exponential(IMMEDIATE * p["p_no_cabg"])),
        ],
        "Med": [
            Event("DeadCV", _pieces(t, h_med), clock="markov"),
            Event("DeadOther", other, clock="markov"),
            Event("Surgery", PiecewiseExponential([0.0, CROSS_BREAK_YEARS], [p["r_cross_early"], p["r_cross_late"]]),
                  clock="markov", **operate),
            Event("Med", Exponential(p["r_hosp_med"]), **hosp),
            Event("Med", Exponential(p["r_hosp_noncv"]), **noncv),
        ],
        "Surgery": surgery(p["p_op"]),
        "PostCABG": [
            Event("DeadCV", _pieces(t, h_post), clock="markov"),
            Event("DeadOther", other, clock="markov"),
            Event("PostCABG", Exponential(p["r_hosp_med"] * p["hr_hosp_cabg"]), **hosp),
            Event("PostCABG", Exponential(p["r_hosp_noncv"]), **noncv),
        ],
    }
    common = {
        "states": ("Assigned", "Med", "Surgery", "PostCABG", "DeadCV", "DeadOther"),
        "horizon": float(HORIZON_YEARS),
        "costs": {s: p["c_followup"] + p["c_drugs"] for s in ("Med", "Surgery", "PostCABG")},
        "utilities": {"Med": p["u_med"], "Surgery": u_post, "PostCABG": u_post},
        "dead": ("DeadCV", "DeadOther"),
        "discount_costs": DISCOUNT,
        "discount_outcomes": DISCOUNT,
    }
    rewards = {"operate": operate, "hosp": hosp, "noncv": noncv, "other": events["Med"][1], "cv_med": events["Med"][0]}
    return events, common, rewards


def utility_segments(p: Mapping) -> dict[str, list[tuple[float, float]]]:
    """The cohort model's utilities of ``Med`` and ``PostCABG`` as runs of months with one value.

    The utility per month is the cohort model's at the month's start (before the expected
    loss from admissions, which the patient-level version draws as events): ``u_med a(t)``
    and ``(u_med + du_cabg g(t)) a(t)`` with ``a`` the US EQ-5D age-norm ratio and ``g`` the
    STICH trajectory of the CABG gain (or 1 and a constant gain with the switches off).

    Returns
    -------
    dict
        ``{"Med": [(start, utility), ...], "PostCABG": [...]}``: each run's start (years on
        the Markov clock) and utility, the first starting at 0.
    """
    t = np.arange(int(round(HORIZON_YEARS / _MONTH))) * _MONTH
    a = age_utility_ratio(p["male_share"], p["age_start"], t) if p["age_utility"] > 0.5 else np.ones_like(t)
    g = du_profile(t * 12.0) if p["du_profile"] > 0.5 else np.ones_like(t)
    out = {}
    for state, u in (("Med", p["u_med"] * a), ("PostCABG", (p["u_med"] + p["du_cabg"] * g) * a)):
        keep = np.r_[True, np.abs(np.diff(u)) > 1e-12]
        out[state] = list(zip(t[keep].tolist(), u[keep].tolist(), strict=True))
    return out


def _segment_name(state: str, k: int) -> str:
    return state if k == 0 else f"{state}:{k}"


def _segmented(events: dict, common: dict, p: Mapping) -> tuple[dict, dict]:
    """``Med`` and ``PostCABG`` split into runs of constant utility (:func:`utility_segments`).

    Segment ``k`` of a state (named ``state:k``; the first keeps the state's name, so every
    event into the state enters it) has the state's events, its admissions looping back to the
    segment itself, and moves on to segment ``k + 1`` when the Markov clock reaches that
    segment's start (at once if it is already past, e.g. after a late crossover).
    """
    runs = utility_segments(p)
    ev = {k: v for k, v in events.items() if k not in runs}
    utilities = {k: v for k, v in common["utilities"].items() if k not in runs}
    costs = dict(common["costs"])
    order = []
    for state in common["states"]:
        if state not in runs:
            order.append(state)
            continue
        segs = runs[state]
        for k, (_start, u) in enumerate(segs):
            name = _segment_name(state, k)
            order.append(name)
            own = [dataclasses.replace(e, to=name) if e.to == state else e for e in events[state]]
            if k + 1 < len(segs):
                nxt = segs[k + 1][0]
                own.append(Event(_segment_name(state, k + 1), PiecewiseExponential([0.0, nxt], [0.0, _BIG]),
                                 clock="markov"))
            ev[name] = own
            utilities[name] = float(u)
            costs[name] = common["costs"][state]
    return ev, {**common, "states": tuple(order), "utilities": utilities, "costs": costs}


def pathways(params: Mapping[str, float] | None = None, *, utility: str = "cohort") -> dict[str, Pathway]:
    """One continuous-time pathway per strategy, from the model's parameter values.

    Parameters
    ----------
    params : mapping, optional
        Parameter values (one number each); missing ones take the base case.
    utility : str
        ``"cohort"`` (default): ``Med`` and ``PostCABG`` are split into runs of months of
        constant utility, so utilities decline with age and the CABG gain follows the STICH
        trajectory as in the cohort model (:func:`utility_segments`; states ``Med:1``,
        ``PostCABG:1``, ... after the first); ``"constant"``: one utility per state
        (``u_med``; ``u_med + du_cabg``), the structure the managed version shares.

    Returns
    -------
    dict
        ``{"OMT": Pathway, "CABG": Pathway}`` with states ``Assigned, Med, Surgery,
        PostCABG, DeadCV, DeadOther`` (and the segments), a 40-year horizon and 3 % discounting.
    """
    if utility not in ("cohort", "constant"):
        raise HtaError(f"omt_vs_cabg.pathways: utility {utility!r} must be 'cohort' or 'constant'")
    p = values(params)
    events, common, _ = blocks(p)
    if utility == "cohort":
        events, common = _segmented(events, common, p)
    return {
        "OMT": Pathway(start="Med", events={k: v for k, v in events.items() if k != "Assigned"}, **common),
        "CABG": Pathway(start="Assigned", events=events, **common),
    }
