"""Patient-level (continuous-time) version of the OMT vs CABG model.

:func:`pathways` builds, from the same parameter values as the cohort model
(:func:`cohorts.omt_vs_cabg.build`), one :class:`sim.patient.Pathway` per strategy.
Every hazard of the cohort model is here a time to event, so the two versions are
the same model (the cohort one is its exact monthly discretisation; only the
within-cycle correction of rewards differs, by far less than the Monte Carlo error):

* ``Med`` and ``PostCABG``: cardiovascular death (exponential), other-cause death
  (piecewise exponential by year of age from the US 2017 life table times
  ``k_other``, on the Markov clock: time since randomisation), recurrent CV
  hospitalisations (exponential; back to the same state with their cost and QALY
  loss) and, from ``Med``, crossover to surgery (piecewise exponential on the
  Markov clock: ``r_cross_early`` for 5 years, then ``r_cross_late``), which pays
  the operation's cost and its one-off QALY loss;
* ``Surgery`` lasts one month: operative death at the constant hazard that gives
  ``p_op`` within the month, else recovery to ``PostCABG`` at one month;
* the CABG strategy starts in ``Assigned``, left at once (after about 1e-9 years)
  for ``Surgery`` (probability ``1 - p_no_cabg``, paying the operation) or ``Med``.
  Waiting lists, theatre capacity and the guideline management of HFrEF are in the
  managed version, :mod:`cohorts.omt_vs_cabg.managed` (which reuses :func:`blocks` and
  :func:`surgery`).

Costs are per year (``c_followup`` in every alive state); utilities per year.

A CV hospitalisation re-enters its state, which restarts the state's semi-Markov
clocks: harmless for the exponential times used here, but a non-exponential
semi-Markov event added to ``Med`` or ``PostCABG`` should use the Markov clock.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sim.errors import HtaError
from sim.patient import Event, Exponential, Pathway, PiecewiseExponential

from . import CROSS_BREAK_YEARS, DISCOUNT, HORIZON_YEARS, background_hazard, build, operative_hazard

__all__ = ["IMMEDIATE", "base_parameters", "blocks", "pathways", "surgery", "values"]

#: Rate (per year) of the instantaneous events out of ``Assigned``.
IMMEDIATE = 1e9
_BIG = 1e12  # hazard standing for "certainly, now" (a fixed sojourn's end; q = 1 at the table's last age)


def base_parameters() -> dict[str, float]:
    """The base-case parameter values (those of the cohort model)."""
    return dict(build().parameters)


def _other_death(p: Mapping) -> PiecewiseExponential:
    """Other-cause death: ``k_other`` times the mixed-sex life-table hazard, one piece per year of age."""
    years = np.arange(HORIZON_YEARS + 1, dtype=float)
    rates = p["k_other"] * background_hazard(p["male_share"], p["age_start"] + years)
    return PiecewiseExponential(years, np.where(np.isfinite(rates), rates, _BIG))


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
        and the one-off rewards ``{"operate": {cost, qaly}, "hosp": {cost, qaly}}`` plus
        the events ``"other"`` (other-cause death) and ``"cv_med"`` (CV death unoperated).
    """
    u_post = p["u_med"] + p["du_cabg"]
    periop_loss = -(u_post - p["u_periop"]) / 12.0
    other = _other_death(p)
    hosp = {"cost": p["c_hosp"], "qaly": -p["q_hosp_loss"]}
    operate = {"cost": p["c_cabg"], "qaly": periop_loss}
    events = {
        "Assigned": [
            Event("Surgery", Exponential(IMMEDIATE * (1.0 - p["p_no_cabg"])), **operate),
            Event("Med", Exponential(IMMEDIATE * p["p_no_cabg"])),
        ],
        "Med": [
            Event("DeadCV", Exponential(p["h_cv_med"])),
            Event("DeadOther", other, clock="markov"),
            Event("Surgery", PiecewiseExponential([0.0, CROSS_BREAK_YEARS], [p["r_cross_early"], p["r_cross_late"]]),
                  clock="markov", **operate),
            Event("Med", Exponential(p["r_hosp_med"]), **hosp),
        ],
        "Surgery": surgery(p["p_op"]),
        "PostCABG": [
            Event("DeadCV", Exponential(p["h_cv_post"])),
            Event("DeadOther", other, clock="markov"),
            Event("PostCABG", Exponential(p["r_hosp_med"] * p["hr_hosp_cabg"]), **hosp),
        ],
    }
    common = {
        "states": ("Assigned", "Med", "Surgery", "PostCABG", "DeadCV", "DeadOther"),
        "horizon": float(HORIZON_YEARS),
        "costs": {s: p["c_followup"] for s in ("Med", "Surgery", "PostCABG")},
        "utilities": {"Med": p["u_med"], "Surgery": u_post, "PostCABG": u_post},
        "dead": ("DeadCV", "DeadOther"),
        "discount_costs": DISCOUNT,
        "discount_outcomes": DISCOUNT,
    }
    rewards = {"operate": operate, "hosp": hosp, "other": events["Med"][1], "cv_med": events["Med"][0]}
    return events, common, rewards


def pathways(params: Mapping[str, float] | None = None) -> dict[str, Pathway]:
    """One continuous-time pathway per strategy, from the model's parameter values.

    Parameters
    ----------
    params : mapping, optional
        Parameter values (one number each); missing ones take the base case.

    Returns
    -------
    dict
        ``{"OMT": Pathway, "CABG": Pathway}`` with states ``Assigned, Med, Surgery,
        PostCABG, DeadCV, DeadOther``, a 40-year horizon and 3 % discounting.
    """
    events, common, _ = blocks(values(params))
    return {
        "OMT": Pathway(start="Med", events={k: v for k, v in events.items() if k != "Assigned"}, **common),
        "CABG": Pathway(start="Assigned", events=events, **common),
    }
