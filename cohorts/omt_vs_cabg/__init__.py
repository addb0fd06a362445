"""Optimised medical therapy (OMT) vs CABG plus medical therapy in ischaemic cardiomyopathy.

The flagship ready model, built on the STICH trial and its extension STICHES
(Velazquez et al., NEJM 2011;364:1607-16 and NEJM 2016;374:1511-20): patients with
coronary artery disease amenable to CABG and a left-ventricular ejection fraction of
35 % or less.  Structure, calibration, assumptions and results: ``docs/omt_vs_cabg.md``.

* States: ``Med`` (alive on medical therapy, never operated), ``Surgery`` (the
  month of the operation: a one-cycle tunnel), ``PostCABG`` (alive after CABG),
  ``DeadCV`` and ``DeadOther``.
* Strategies: ``OMT`` starts everyone in ``Med``; ``CABG`` starts a share
  ``1 - p_no_cabg`` in ``Surgery`` and the rest (assigned to CABG but never
  operated, as in the trial) in ``Med``.  From ``Med`` patients cross over to
  surgery in both arms (intention to treat, as the trial counted its deaths).
* Everything is driven by constant-within-a-cycle **hazards** (per year):
  cardiovascular death ``h_cv_med`` / ``h_cv_post``, other-cause death
  ``k_other`` times the US 2017 life-table hazard of the cohort's age (88 % men),
  crossover ``r_cross_early`` (first 5 years) then ``r_cross_late``, and an
  operative-death hazard that gives ``p_op`` within the operation month.  A
  cycle's transition probabilities are the exact competing-risk probabilities of
  those hazards, ``P_i = h_i / H (1 - exp(-H h))``, so the cohort model is the
  exact monthly discretisation of the continuous-time model in
  :mod:`cohorts.omt_vs_cabg.patient`.
* Cardiovascular hospitalisations are recurrent events (rate ``r_hosp_med``, times
  ``hr_hosp_cabg`` after CABG) that change neither state nor mortality: their
  expected cost and QALY loss per cycle are charged to the state.
* Monthly cycles, 40-year horizon (age 60 to 100), half-cycle correction, costs
  and QALYs discounted at 3 % a year (US health-care sector, as Chew et al. 2022);
  US dollars (price years of the cost sources, not inflated; see the docs).
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from sim import ANY, C, LifeTable, Model, ParameterTable
from sim.errors import HtaError
from sim.params.table import base_values

__all__ = [
    "CYCLE",
    "DISCOUNT",
    "EFFECT",
    "HORIZON_YEARS",
    "SETTINGS",
    "STATES",
    "TITLE",
    "background_hazard",
    "build",
    "data_files",
    "operative_hazard",
    "parameter_table",
    "parameters",
    "psa_table",
]

TITLE = "Ischaemic cardiomyopathy: optimised medical therapy vs CABG + medical therapy (STICH/STICHES)"
EFFECT = "qaly"
#: Settings an experiment may change: the discount rates, and start_age as the parameter age_start.
SETTINGS = {"discount_costs": None, "discount_outcomes": None, "start_age": "age_start"}

#: Health states, in display order.
STATES = ("Med", "Surgery", "PostCABG", "DeadCV", "DeadOther")
#: Cycle length in years (one month).
CYCLE = 1.0 / 12.0
#: Horizon in years: from the STICH age of 60 to 100 (lifetime).
HORIZON_YEARS = 40
#: Annual discount rate of costs and QALYs (US; Chew et al. 2022 used 3 %).
DISCOUNT = 0.03
#: Year after which the late crossover rate applies.
CROSS_BREAK_YEARS = 5.0
#: Life table of background mortality.
LIFE_TABLE = "us_2017_nchs"


#: The folder of this model's data files.
_HERE = Path(__file__).parent


def parameters() -> ParameterTable:
    """The model's parameter table (``parameters.csv`` beside this file), every value with its source."""
    return ParameterTable.read(_HERE / "parameters.csv")


def parameter_table() -> pd.DataFrame:
    """The model's parameter table as a DataFrame (name, value, distribution, args, unit, description, source)."""
    return parameters().to_frame()


def data_files() -> tuple[Path, ...]:
    """The data files the model's results depend on (a run's manifest records their hashes)."""
    return (_HERE / "parameters.csv",)


def psa_table() -> ParameterTable:
    """The parameter table as a :class:`sim.ParameterTable`, ready for :func:`sim.run_psa` (as :func:`parameters`)."""
    return parameters()


@lru_cache(maxsize=8)
def _sex_hazards() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ages and annual hazards ``-ln(1 - q_x)`` of men and women (inf where q_x = 1)."""
    table = LifeTable.packaged(LIFE_TABLE)
    with np.errstate(divide="ignore"):
        male = -np.log1p(-np.asarray(table.values["male"], dtype=float))
        female = -np.log1p(-np.asarray(table.values["female"], dtype=float))
    return table.ages.astype(int), male, female


def background_hazard(male_share, ages) -> np.ndarray:
    """Annual background hazard of death at whole ``ages`` for a cohort with ``male_share`` men.

    The hazard of the mixed cohort is the share-weighted mean of the men's and the
    women's hazards ``-ln(1 - q_x)`` of the US 2017 life table (constant within a
    year of age); ages past the table's last row use its last row ("100 and over").
    Broadcasts ``male_share`` against ``ages``.
    """
    tab_ages, male, female = _sex_hazards()
    a = np.asarray(ages)
    if np.any(a < tab_ages[0]):
        raise HtaError(f"background_hazard: age {float(np.min(a)):g} is below the life table's first age")
    idx = np.minimum(np.floor(a + 1e-9).astype(np.int64), tab_ages[-1]) - tab_ages[0]
    m = np.asarray(male_share, dtype=float)
    if np.any((m < 0) | (m > 1)):
        raise HtaError(f"male_share {m!r} must lie in [0, 1]")
    with np.errstate(invalid="ignore"):  # 0 * inf at the open-ended last age of a one-sex cohort
        out = m * male[idx] + (1.0 - m) * female[idx]
    return np.where(np.isnan(out), np.inf, out)


def operative_hazard(p_op, months: float = 1.0):
    """Constant hazard (per year) that gives death probability ``p_op`` within ``months`` months."""
    return -np.log1p(-np.asarray(p_op, dtype=float)) * 12.0 / months


# ------------------------------------------------------------------ hazards per cycle
def _scalar_if_uniform(a):
    """A draws-axis array whose values are all equal (a fixed parameter) as one number."""
    a = np.asarray(a, dtype=float)
    return float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else a


def _other(p, t):
    """Other-cause death hazard: ``k_other`` times the life-table hazard at the cycle's age."""
    male, age = _scalar_if_uniform(p["male_share"]), _scalar_if_uniform(p["age_start"])
    return p["k_other"] * background_hazard(male, age + t.year)


def _cross(p, t):
    """Crossover (medical therapy to surgery) hazard: early rate for 5 years, then the late rate."""
    return np.where(t.year < CROSS_BREAK_YEARS - 1e-9, p["r_cross_early"], p["r_cross_late"])


def _competing(hazards: dict, h: float) -> dict:
    """Transition probabilities of one cycle of ``h`` years for competing constant hazards.

    ``P_i = h_i / H (1 - exp(-H h))`` with ``H = sum_i h_i`` (``h_i h`` in the limit ``H -> 0``).
    """
    total = sum(hazards.values())
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total > 0, -np.expm1(-total * h) / total, h)
        out = {k: v * frac for k, v in hazards.items()}
    if np.isinf(total).any():  # an infinite hazard (q = 1 at the life table's last age): that event, surely
        n_inf = sum(np.isinf(v).astype(float) for v in hazards.values())
        out = {k: np.where(np.isinf(total), np.isinf(v) / np.maximum(n_inf, 1.0), out[k]) for k, v in hazards.items()}
    return out


def _med_hazards(p, t):
    return {"cv": p["h_cv_med"] * np.ones((1, 1, 1)), "other": _other(p, t), "cross": _cross(p, t)}


def _post_hazards(p, t):
    return {"cv": p["h_cv_post"] * np.ones((1, 1, 1)), "other": _other(p, t)}


#: One-entry memo per state of the last (p, t) evaluated: the engine asks for each entry of a
#: row separately, and the row's probabilities share their hazards.  Entries hold weak
#: references to ``p`` and ``t`` (compared with ``is``), so a reused id never returns stale
#: values, and the arrays are dropped when the engine lets go of ``p``.
_MEMO: dict = {}


def _drop(which: str) -> None:
    hit = _MEMO.get(which)
    if hit is not None and hit[0]() is None:
        del _MEMO[which]


def _prob(which: str, kind: str):
    table = _med_hazards if which == "Med" else _post_hazards

    def f(p, t):
        hit = _MEMO.get(which)
        if hit is None or hit[0]() is not p or hit[1]() is not t:
            hit = (weakref.ref(p), weakref.ref(t), _competing(table(p, t), t.cycle_length))
            _MEMO[which] = hit
            weakref.finalize(p, _drop, which)
        return hit[2][kind]

    f.__qualname__ = f"{which}_{kind}"
    return f


def _hosp_cost(rate_of):
    def f(p, t):
        return rate_of(p) * p["c_hosp"] * t.cycle_length

    f.__qualname__ = "hospital_cost"
    return f


def _r_hosp_med(p):
    return p["r_hosp_med"]


def _r_hosp_post(p):
    return p["r_hosp_med"] * p["hr_hosp_cabg"]


def _u_med(p, t):
    """Utility on medical therapy, less the expected loss from CV hospitalisations per year."""
    return p["u_med"] - _r_hosp_med(p) * p["q_hosp_loss"]


def _u_post(p, t):
    """Utility after CABG, less the expected loss from CV hospitalisations per year."""
    return p["u_med"] + p["du_cabg"] - _r_hosp_post(p) * p["q_hosp_loss"]


def _u_surgery(p, t):
    """Utility counted for the operation month's state (the recovery deficit is a one-off loss)."""
    return p["u_med"] + p["du_cabg"]


def _periop_loss(p, t):
    """One-off QALY loss of the operation month: (post-CABG utility - peri-operative utility) / 12."""
    return -(p["u_med"] + p["du_cabg"] - p["u_periop"]) / 12.0


def _follow_up(p, t):
    return p["c_followup"] * t.cycle_length


def _start_surgery(p, t):
    return 1.0 - p["p_no_cabg"]


def _start_med(p, t):
    return p["p_no_cabg"]


def build(parameters: dict[str, float] | None = None) -> Model:
    """The cohort model, with base-case values from the parameter table (updated by ``parameters``).

    Returns
    -------
    Model
        Strategies ``OMT`` and ``CABG``; states :data:`STATES`; 480 monthly cycles;
        cost components ``procedure``, ``medical``, ``hospital``.
    """
    values = base_values(parameter_table())
    unknown = sorted(set(parameters or {}) - set(values))
    if unknown:
        raise HtaError(f"omt_vs_cabg.build: unknown parameter {unknown[0]!r}; parameters are "
                       f"{', '.join(values)}")
    values.update(parameters or {})
    age = values["age_start"]
    if float(age) != int(age):
        raise HtaError(f"omt_vs_cabg: age_start {age!r} must be a whole number of years (monthly cycles "
                       f"are aligned with the life table's years of age)")
    alive = ("Med", "Surgery", "PostCABG")
    return Model(
        name="omt_vs_cabg",
        description=TITLE,
        states=STATES,
        strategies=("OMT", "CABG"),
        transitions={
            ("Med", "DeadCV"): _prob("Med", "cv"),
            ("Med", "DeadOther"): _prob("Med", "other"),
            ("Med", "Surgery"): _prob("Med", "cross"),
            ("Med", "Med"): C,
            # the operation month: operative death (all causes, counted as CV) or recovery
            ("Surgery", "DeadCV"): "p_op",
            ("Surgery", "PostCABG"): C,
            ("PostCABG", "DeadCV"): _prob("PostCABG", "cv"),
            ("PostCABG", "DeadOther"): _prob("PostCABG", "other"),
            ("PostCABG", "PostCABG"): C,
        },
        start={"OMT": {"Med": 1.0}, "CABG": {"Surgery": _start_surgery, "Med": _start_med}},
        horizon_years=HORIZON_YEARS,
        cycle_length=CYCLE,
        start_age=float(age),
        parameters=values,
        costs={
            "medical": {s: _follow_up for s in alive},
            "hospital": {"Med": _hosp_cost(_r_hosp_med), "PostCABG": _hosp_cost(_r_hosp_post)},
        },
        transition_costs={"procedure": {(ANY, "Surgery"): "c_cabg"}},
        start_costs={"procedure": {"Surgery": "c_cabg"}},
        utilities={"Med": _u_med, "Surgery": _u_surgery, "PostCABG": _u_post},
        transition_utilities={("Med", "Surgery"): _periop_loss},
        start_utilities={"Surgery": _periop_loss},
        dead=("DeadCV", "DeadOther"),
        correction="half-cycle",
        discount_costs=DISCOUNT,
        discount_outcomes=DISCOUNT,
        currency="USD",
        price_year=globals().get("PRICE_YEAR"),  # the module's price year, when it declares one
        effect_unit="QALYs",
    )

