"""Optimised medical therapy (OMT) vs CABG plus medical therapy in ischaemic cardiomyopathy.

The flagship ready model, built on the STICH trial and its extension STICHES
(Velazquez et al., NEJM 2011;364:1607-16 and NEJM 2016;374:1511-20): patients with
coronary artery disease amenable to CABG and a left-ventricular ejection fraction of
35 % or less.  Structure, calibration, validation, the reconciliation with the
trial-based evaluation (Chew et al., Circulation 2022) and every assumption:
``docs/omt_vs_cabg.md``.

* States: ``Med`` (alive on medical therapy, never operated), ``Surgery`` (the
  month of the operation: a one-cycle tunnel), ``PostCABG`` (alive after CABG),
  ``DeadCV`` and ``DeadOther``.
* Strategies: ``OMT`` starts everyone in ``Med``; ``CABG`` starts a share
  ``1 - p_no_cabg`` in ``Surgery`` and the rest (assigned to CABG but never
  operated, as in the trial) in ``Med``.  From ``Med`` patients cross over to
  surgery in both arms (intention to treat, as the trial counted its deaths).
* Hazards per year, constant within a cycle: cardiovascular death on medical
  therapy ``h_cv_med_y0`` (years 0-5) and ``h_cv_med_y5``; after CABG the
  medical hazard times ``hr_cv_post_early`` for ``early_post_years`` (no early
  benefit beyond the operation), then ``h_cv_post_y2`` (to year 5) and
  ``h_cv_post_y5``; the CABG effect may fade or stop (``effect_years``,
  ``wane_years``); other-cause death ``k_other`` times the US 2017 life-table
  hazard (88 % men); crossover ``r_cross_early`` then ``r_cross_late``; an
  operative-death hazard giving ``p_op`` within the operation month.  A cycle's
  transition probabilities are the exact competing-risk probabilities
  ``P_i = h_i / H (1 - exp(-H h))``.
* Cardiovascular (rate ``r_hosp_med``, times ``hr_hosp_cabg`` after CABG) and
  non-cardiovascular (``r_hosp_noncv``) hospitalisations are recurrent events that
  change neither state nor mortality: their expected cost and QALY loss per cycle
  are charged to the state.
* Utilities: ``u_med`` times the US EQ-5D age norm ratio; after CABG plus
  ``du_cabg`` following the STICH quality-of-life trajectory, waning by 48 months.
* Monthly cycles, 40-year horizon (age 60 to 100; the parameter ``horizon_years`` shortens it),
  half-cycle correction, costs and QALYs discounted at 3 % a year; US health-care
  sector perspective, costs in 2023 US dollars: every cost keeps its source's value
  and price year in ``parameters.csv`` and is converted by the CPI-U medical care
  index (``price_index.csv``, :mod:`cohorts.omt_vs_cabg.prices`).
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from sim import ANY, C, LifeTable, Max, Min, Model, P, ParameterTable, Where, Year, competing
from sim.errors import HtaError

from . import prices

__all__ = [
    "CURRENCY",
    "CYCLE",
    "DISCOUNT",
    "EFFECT",
    "EFFECT_UNIT",
    "HORIZON_YEARS",
    "PERSPECTIVE",
    "PRICE_YEAR",
    "SETTINGS",
    "STATES",
    "TITLE",
    "age_utility_ratio",
    "background_hazard",
    "build",
    "data_files",
    "du_profile",
    "effect_weight",
    "operative_hazard",
    "parameter_table",
    "parameters",
    "psa_table",
]

TITLE = "Ischaemic cardiomyopathy: optimised medical therapy vs CABG + medical therapy (STICH/STICHES)"
EFFECT = "qaly"
#: Currency, price year and effect unit of every result of this model.
CURRENCY = "USD"
PRICE_YEAR = 2023
EFFECT_UNIT = "QALYs"
PERSPECTIVE = "US health-care sector"
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
#: Year after which the late crossover rate and the late CV hazards apply.
CROSS_BREAK_YEARS = 5.0
#: Life table of background mortality.
LIFE_TABLE = "us_2017_nchs"
#: The STICH quality-of-life trajectory (Mark et al., Ann Intern Med 2014;161:392-9, Abstract): KCCQ overall
#: summary differences CABG - MED at 4, 12, 24 and 36 months (4.4, 5.8, 4.1, 3.2 points) relative to the
#: 12-month peak; held from the operation to 4 months; fading linearly to 0 by 48 months (assumption).
DU_MONTHS = (0.0, 4.0, 12.0, 24.0, 36.0, 48.0)
DU_SHAPE = (4.4 / 5.8, 4.4 / 5.8, 1.0, 4.1 / 5.8, 3.2 / 5.8, 0.0)

#: The folder of this model's data files.
_HERE = Path(__file__).parent


@lru_cache(maxsize=1)
def _table() -> ParameterTable:
    return prices.read_table(_HERE / "parameters.csv", PRICE_YEAR)


def parameters() -> ParameterTable:
    """The model's parameter table in 2023 US dollars (``parameters.csv``; costs converted by the price index)."""
    return _table()


def parameter_table() -> pd.DataFrame:
    """The annotated parameter table, costs in 2023 US dollars.

    The standard columns plus ``price_year``, ``verified``, ``note``, ``value_source`` (a cost
    as in its source) and ``factor`` (the price-index ratio applied).
    """
    df = prices.annotated_table(_HERE / "parameters.csv", PRICE_YEAR)
    df["value"] = df["value"].astype(float)
    return df


def data_files() -> tuple[Path, ...]:
    """The data files the model's results depend on (a run's manifest records their hashes)."""
    return (_HERE / "parameters.csv", _HERE / "price_index.csv", _HERE / "eq5d_norms.csv")


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


@lru_cache(maxsize=1)
def _norms() -> pd.DataFrame:
    return pd.read_csv(_HERE / "eq5d_norms.csv")


def _norm(male_share, ages) -> np.ndarray:
    """Mixed-sex US EQ-5D norm at whole ``ages`` (the band's mean; the last band beyond its end)."""
    n = _norms()
    a = np.asarray(ages, dtype=float)
    band = np.clip(np.searchsorted(n["age_high"].to_numpy(), np.floor(a + 1e-9)), 0, len(n) - 1)
    m = np.asarray(male_share, dtype=float)
    return m * n["male"].to_numpy()[band] + (1.0 - m) * n["female"].to_numpy()[band]


def age_utility_ratio(male_share, age_start, years) -> np.ndarray:
    """Utility multiplier ``norm(age_start + years) / norm(age_start)`` from the US EQ-5D norms."""
    return _norm(male_share, np.asarray(age_start) + np.asarray(years)) / _norm(male_share, age_start)


def du_profile(months) -> np.ndarray:
    """Share of the peak CABG utility gain at ``months`` after randomisation (:data:`DU_SHAPE`)."""
    return np.interp(np.asarray(months, dtype=float), DU_MONTHS, DU_SHAPE, right=0.0)


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


def _cv_med(p, t):
    """CV death hazard on medical therapy: ``h_cv_med_y0`` for 5 years, then ``h_cv_med_y5``."""
    return np.where(t.year < CROSS_BREAK_YEARS - 1e-9, p["h_cv_med_y0"], p["h_cv_med_y5"])


def effect_weight(p, years):
    """Weight of the CABG effect at ``years``: 1 until ``effect_years - wane_years``, 0 from ``effect_years``."""
    end, wane = p["effect_years"], p["wane_years"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = np.where(wane > 0, (end - years) / np.where(wane > 0, wane, 1.0), np.where(years < end - 1e-9, 1, 0))
    return np.clip(ramp, 0.0, 1.0)


def _cv_post(p, t):
    """CV death hazard after CABG (see the module text); the log hazard ratio scaled by :func:`effect_weight`."""
    med = _cv_med(p, t)
    late = np.where(t.year < CROSS_BREAK_YEARS - 1e-9, p["h_cv_post_y2"], p["h_cv_post_y5"])
    post = np.where(t.year < p["early_post_years"] - 1e-9, p["hr_cv_post_early"] * med, late)
    w = effect_weight(p, t.year)
    return med * (post / med) ** w


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
    return {"cv": _cv_med(p, t) * np.ones((1, 1, 1)), "other": _other(p, t), "cross": _cross(p, t)}


def _post_hazards(p, t):
    return {"cv": _cv_post(p, t) * np.ones((1, 1, 1)), "other": _other(p, t)}


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


# ------------------------------------------------------------------ rewards
def _r_cv(p, post: bool):
    return p["r_hosp_med"] * p["hr_hosp_cabg"] if post else p["r_hosp_med"]


def _hosp_cost(post: bool):
    def f(p, t):
        per_year = _r_cv(p, post) * p["c_hosp"] + p["r_hosp_noncv"] * p["c_hosp_noncv"]
        return per_year * t.cycle_length

    f.__qualname__ = "hospital_cost_post" if post else "hospital_cost_med"
    return f


def _age(p, t):
    """The US EQ-5D norm ratio at the cycle's age (1 with ``age_utility`` = 0)."""
    ratio = age_utility_ratio(_scalar_if_uniform(p["male_share"]), _scalar_if_uniform(p["age_start"]), t.year)
    return np.where(p["age_utility"] > 0.5, ratio, 1.0)


def _du(p, t):
    """The CABG utility gain at the cycle: ``du_cabg`` times the STICH trajectory (or constant)."""
    return p["du_cabg"] * np.where(p["du_profile"] > 0.5, du_profile(t.year * 12.0), 1.0)


def _hosp_loss(p, post: bool):
    return (_r_cv(p, post) + p["r_hosp_noncv"]) * p["q_hosp_loss"]


def _u_med(p, t):
    """Utility on medical therapy (age-adjusted), less the expected loss from hospitalisations per year."""
    return (p["u_med"] * _age(p, t) - _hosp_loss(p, False))


def _u_post(p, t):
    """Utility after CABG (age-adjusted), less the expected loss from hospitalisations per year."""
    return ((p["u_med"] + _du(p, t)) * _age(p, t) - _hosp_loss(p, True))


def _u_surgery(p, t):
    """Utility counted for the operation month's state (the recovery deficit is a one-off loss)."""
    return (p["u_med"] + p["du_cabg"])


def _periop_loss(p, t):
    """One-off QALY loss of the operation month: (post-CABG utility - peri-operative utility) / 12."""
    return -(p["u_med"] + p["du_cabg"] - p["u_periop"]) / 12.0


def _follow_up(p, t):
    return (p["c_followup"] + p["c_drugs"]) * t.cycle_length


def _start_surgery(p, t):
    return 1.0 - p["p_no_cabg"]


def _start_med(p, t):
    return p["p_no_cabg"]


@lru_cache(maxsize=1)
def _base() -> tuple[tuple[str, float], ...]:
    return tuple(parameters().base.items())


def _check(values: dict) -> None:
    age = values["age_start"]
    if float(age) != int(age):
        raise HtaError(f"omt_vs_cabg: age_start {age!r} must be a whole number of years (monthly cycles "
                       f"are aligned with the life table's years of age)")
    for k in ("du_profile", "age_utility"):
        if values[k] not in (0, 1):
            raise HtaError(f"omt_vs_cabg: {k} is {values[k]!r}; it is a switch: give 0 or 1")
    months = values["horizon_years"] * 12
    if not 0 < values["horizon_years"] <= HORIZON_YEARS or abs(months - round(months)) > 1e-9:
        raise HtaError(f"omt_vs_cabg: horizon_years {values['horizon_years']!r} must be a whole number of months "
                       f"in (0, {HORIZON_YEARS}] years")
    for k in ("effect_years", "wane_years", "early_post_years"):
        if values[k] < 0:
            raise HtaError(f"omt_vs_cabg: {k} {values[k]!r} must be >= 0 (years)")


def _values(parameters: dict[str, float] | None) -> dict:
    values = dict(_base())
    unknown = sorted(set(parameters or {}) - set(values))
    if unknown:
        raise HtaError(f"omt_vs_cabg.build: unknown parameter {unknown[0]!r}; parameters are "
                       f"{', '.join(values)}")
    values.update(parameters or {})
    _check(values)
    return values


# ------------------------------------------------------------------ the model as expressions
def _background_t(p, t):
    """The life-table hazard at the cycle's age (a function of time: fixed ``male_share``, ``age_start``)."""
    return background_hazard(_scalar_if_uniform(p["male_share"]), _scalar_if_uniform(p["age_start"]) + t.year)


def _age_ratio_t(p, t):
    """The US EQ-5D norm ratio at the cycle's age (a function of time)."""
    return age_utility_ratio(_scalar_if_uniform(p["male_share"]), _scalar_if_uniform(p["age_start"]), t.year)


def _du_shape_t(p, t):
    """The STICH utility trajectory at the cycle (a function of time)."""
    return du_profile(t.year * 12.0)


def _expressions() -> dict:
    """Every value of the model as an expression (compiled by the cohort engine).

    Draw-dependent arithmetic is written with expression nodes; three functions of time
    alone (the life-table hazard, the EQ-5D norm ratio, the utility trajectory; their
    parameters are fixed rows) stay callables, evaluated once per run over the cycles.
    The numbers equal the callable version's (:func:`_build_callables`), tested to 1e-10.
    """
    year = Year()
    early = year < CROSS_BREAK_YEARS - 1e-9
    cv_med = Where(early, "h_cv_med_y0", "h_cv_med_y5")
    other = P("k_other") * _background_t
    cross = Where(early, "r_cross_early", "r_cross_late")
    late = Where(early, "h_cv_post_y2", "h_cv_post_y5")
    post = Where(year < P("early_post_years") - 1e-9, P("hr_cv_post_early") * cv_med, late)
    wane = P("wane_years") > 0
    ramp = Where(wane, (P("effect_years") - year) / Where(wane, "wane_years", 1.0),
                 Where(year < P("effect_years") - 1e-9, 1.0, 0.0))
    weight = Min(Max(ramp, 0.0), 1.0)  # effect_weight
    cv_post = cv_med * (post / cv_med) ** weight
    med = competing({"cv": cv_med, "other": other, "cross": cross})
    after = competing({"cv": cv_post, "other": other})
    r_cv_post = P("r_hosp_med") * "hr_hosp_cabg"
    age = Where(P("age_utility") > 0.5, _age_ratio_t, 1.0)
    du = P("du_cabg") * Where(P("du_profile") > 0.5, _du_shape_t, 1.0)
    periop = -(P("u_med") + "du_cabg" - "u_periop") / 12.0
    return {
        "med": med, "after": after, "periop": periop,
        "follow_up": (P("c_followup") + "c_drugs") * CYCLE,
        "hosp_med": (P("r_hosp_med") * "c_hosp" + P("r_hosp_noncv") * "c_hosp_noncv") * CYCLE,
        "hosp_post": (r_cv_post * "c_hosp" + P("r_hosp_noncv") * "c_hosp_noncv") * CYCLE,
        "u_med": P("u_med") * age - (P("r_hosp_med") + "r_hosp_noncv") * "q_hosp_loss",
        "u_post": (P("u_med") + du) * age - (r_cv_post + "r_hosp_noncv") * "q_hosp_loss",
        "u_surgery": P("u_med") + "du_cabg",
    }


def build(parameters: dict[str, float] | None = None) -> Model:
    """The cohort model, with base-case values from the parameter table (updated by ``parameters``).

    Every value is an expression (:mod:`sim.model.values`, :mod:`sim.model.functions`), so the
    cohort engine compiles what varies by draw and cycle into its kernel (``docs/engine.md``).

    Returns
    -------
    Model
        Strategies ``OMT`` and ``CABG``; states :data:`STATES`; 480 monthly cycles;
        cost components ``procedure``, ``medical`` (follow-up and drugs), ``hospital``
        (CV and non-CV admissions), in 2023 US dollars.
    """
    e = _expressions()
    e["start_cabg"] = {"Surgery": 1.0 - P("p_no_cabg"), "Med": "p_no_cabg"}
    return _model(_values(parameters), e)


def _build_callables(parameters: dict[str, float] | None = None) -> Model:
    """:func:`build` written with Python callables ``f(p, t)`` (numpy speed; kept for the test comparing the two)."""
    e = {
        "med": {to: _prob("Med", to) for to in ("cv", "other", "cross")},
        "after": {to: _prob("PostCABG", to) for to in ("cv", "other")},
        "start_cabg": {"Surgery": _start_surgery, "Med": _start_med},
        "follow_up": _follow_up, "hosp_med": _hosp_cost(False), "hosp_post": _hosp_cost(True),
        "u_med": _u_med, "u_surgery": _u_surgery, "u_post": _u_post, "periop": _periop_loss,
    }
    return _model(_values(parameters), e)


def _model(values: dict[str, float], e: dict) -> Model:
    """The model's structure with its values ``e`` (expressions or callables, keyed as :func:`_expressions`)."""
    alive = ("Med", "Surgery", "PostCABG")
    return Model(
        name="omt_vs_cabg",
        description=TITLE,
        states=STATES,
        strategies=("OMT", "CABG"),
        transitions={
            ("Med", "DeadCV"): e["med"]["cv"],
            ("Med", "DeadOther"): e["med"]["other"],
            ("Med", "Surgery"): e["med"]["cross"],
            ("Med", "Med"): C,
            # the operation month: operative death (all causes, counted as CV) or recovery
            ("Surgery", "DeadCV"): "p_op",
            ("Surgery", "PostCABG"): C,
            ("PostCABG", "DeadCV"): e["after"]["cv"],
            ("PostCABG", "DeadOther"): e["after"]["other"],
            ("PostCABG", "PostCABG"): C,
        },
        start={"OMT": {"Med": 1.0}, "CABG": e["start_cabg"]},
        horizon_years=float(values["horizon_years"]),
        cycle_length=CYCLE,
        start_age=float(values["age_start"]),
        parameters=values,
        costs={
            "medical": {s: e["follow_up"] for s in alive},
            "hospital": {"Med": e["hosp_med"], "PostCABG": e["hosp_post"]},
        },
        transition_costs={"procedure": {(ANY, "Surgery"): "c_cabg"}},
        start_costs={"procedure": {"Surgery": "c_cabg"}},
        utilities={"Med": e["u_med"], "Surgery": e["u_surgery"], "PostCABG": e["u_post"]},
        transition_utilities={("Med", "Surgery"): e["periop"]},
        start_utilities={"Surgery": e["periop"]},
        dead=("DeadCV", "DeadOther"),
        correction="half-cycle",
        discount_costs=DISCOUNT,
        discount_outcomes=DISCOUNT,
        currency=CURRENCY,
        price_year=PRICE_YEAR,
        effect_unit=EFFECT_UNIT,
    )
