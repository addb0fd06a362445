"""Units and words for the outputs: currency and price year, effect unit, settings in words, labelled tables.

Every table a person reads (the report, the workbook, the terminal) names its units in
the column header: ``"Cost (USD 2023)"``, ``"QALYs"``, ``"ICER (USD 2023 per QALY)"``;
the files meant for programs (CSV, Parquet) keep their plain column names. A model
declares its units (:class:`~sim.Model` fields ``currency``, ``price_year``,
``effect_unit``, or a ready model's module constants ``CURRENCY``, ``PRICE_YEAR``,
``EFFECT_UNIT``); an experiment file may override them in ``[units]``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Units", "column_kinds", "format_cells", "labelled", "module_of", "outcome_words", "resolve_units",
           "settings_rows", "settings_words", "shown_path", "terminal_table", "with_intervals"]

_DEFAULT_UNIT = {"qaly": "QALYs", "ly": "life-years"}


@dataclass(frozen=True)
class Units:
    """The units of a run's results.

    Attributes
    ----------
    effect : str
        The effect measure (``"qaly"`` or ``"ly"``).
    effect_unit : str
        Its unit in words, plural (``"QALYs"``, ``"life-years"``).
    currency : str or None
        ISO 4217 code of the costs.
    price_year : int or None
        The costs' price year.
    """

    effect: str = "qaly"
    effect_unit: str = "QALYs"
    currency: str | None = None
    price_year: int | None = None

    @property
    def money(self) -> str | None:
        """``"USD 2023"``, ``"USD"`` or None (no currency declared)."""
        if not self.currency:
            return None
        return f"{self.currency} {self.price_year}" if self.price_year else self.currency

    @property
    def effect_one(self) -> str:
        """The effect unit in the singular (``"QALY"``, ``"life-year"``)."""
        u = self.effect_unit
        return u[:-1] if u.endswith("s") and not u.endswith("ss") else u

    def cost(self, label: str = "Cost") -> str:
        """``"Cost (USD 2023)"`` (``label`` alone without a currency)."""
        return f"{label} ({self.money})" if self.money else label

    def per_effect(self, label: str = "ICER") -> str:
        """``"ICER (USD 2023 per QALY)"``."""
        return f"{label} ({self.money + ' ' if self.money else ''}per {self.effect_one})"

    def wtp(self, value: float) -> str:
        """A willingness to pay in words: ``"USD 100,000 per QALY"``."""
        return f"{self.currency + ' ' if self.currency else ''}{value:,.0f} per {self.effect_one}"

    def record(self) -> dict[str, Any]:
        """The units as recorded in the manifest and the settings table."""
        return {"currency": self.currency, "price_year": self.price_year, "effect": self.effect,
                "effect_unit": self.effect_unit}


def _measure(unit: str) -> str:
    """The effect measure a unit name belongs to (``"ly"`` for life-years, else ``"qaly"``)."""
    u = unit.lower().replace("-", " ")
    return "ly" if u.startswith("life year") or u in ("ly", "lys", "lyg") else "qaly"


def module_of(ref: str):
    """The module of an experiment's model: a ready model's, or that of ``package.module:function``.

    Parameters
    ----------
    ref : str
        The experiment's ``model``.

    Returns
    -------
    module
    """
    import importlib

    from sim.experiment.registry import load_ready

    return load_ready(ref) if ":" not in ref else importlib.import_module(ref.split(":")[0])


def resolve_units(model, effect: str, module: Any = None, override: Mapping[str, Any] | None = None) -> Units:
    """The units of a run: the experiment's ``[units]``, else the model's fields, else its module's constants.

    Parameters
    ----------
    model : Model
        The model run.
    effect : str
        The effect measure of the analysis (``"qaly"`` or ``"ly"``).
    module : module, optional
        A ready model's module (constants ``CURRENCY``, ``PRICE_YEAR``, ``EFFECT_UNIT``).
    override : mapping, optional
        ``currency``, ``price_year``, ``effect_unit`` from the experiment file.

    Returns
    -------
    Units
        The model's ``effect_unit`` applies when it names the measure analysed (a model of
        QALYs analysed in life-years says ``"life-years"``); an override always applies.
    """
    over = dict(override or {})

    def pick(field: str, constant: str):
        if over.get(field) is not None:
            return over[field]
        v = getattr(model, field, None)
        return v if v is not None else getattr(module, constant, None)

    declared = pick("effect_unit", "EFFECT_UNIT")
    unit = _DEFAULT_UNIT.get(effect, str(effect))
    if declared and (over.get("effect_unit") is not None or _measure(str(declared)) == effect):
        unit = str(declared)
    return Units(effect, unit, pick("currency", "CURRENCY"), pick("price_year", "PRICE_YEAR"))


def outcome_words(outcome: str, units: Units, strategy: str, comparator: str, wtp: float) -> str:
    """The outcome of a one-way or two-way analysis in words, with its units.

    Parameters
    ----------
    outcome : str
        ``"inmb"``, ``"nmb"``, ``"icer"``, ``"cost"``, ``"qaly"`` or ``"ly"``.
    units : Units
        The run's units.
    strategy, comparator : str
        The comparison.
    wtp : float
        The willingness-to-pay threshold.

    Returns
    -------
    str
        E.g. ``"Incremental net monetary benefit of CABG vs OMT at USD 100,000 per QALY (USD 2023)"``.
    """
    w = units.wtp(wtp)
    words = {"inmb": units.cost(f"Incremental net monetary benefit of {strategy} vs {comparator} at {w}"),
             "nmb": units.cost(f"Net monetary benefit of {strategy} at {w}"),
             "icer": units.per_effect(f"ICER of {strategy} vs {comparator}"),
             "cost": units.cost(f"Cost of {strategy}"), "qaly": f"QALYs of {strategy}",
             "ly": f"Life-years of {strategy}"}
    return words.get(outcome, outcome)


# ---------------------------------------------------------------------------- settings in words
def _percent(rate: float) -> str:
    return f"{rate * 100:g} %"


def _discount_words(d) -> str:
    schedule = d.schedule if hasattr(d, "schedule") else ((0.0, float(d)),)
    if len(schedule) == 1:
        return f"{_percent(schedule[0][1])} a year"
    return ", ".join(f"{_percent(r)} a year from year {b:g}" for b, r in schedule)


_CYCLES = {1.0: "annual", 0.5: "six-monthly", 0.25: "quarterly", 1 / 12: "monthly", 7 / 365.25: "weekly",
           1 / 52: "weekly"}


def _cycle_words(cl: float) -> str:
    for k, name in _CYCLES.items():
        if math.isclose(cl, k, rel_tol=1e-6):
            return f"{name} cycles"
    return f"cycles of {cl:g} years"


def settings_words(model) -> str:
    """A model's settings in words.

    Parameters
    ----------
    model : Model

    Returns
    -------
    str
        E.g. ``"3 % a year for costs and outcomes, half-cycle correction, monthly cycles,
        40-year horizon"``.
    """
    dc, do = model.discount_costs, model.discount_outcomes
    wc, wo = _discount_words(dc), _discount_words(do)
    if wc == wo:
        disc = "no discounting" if wc == "0 % a year" else f"discounted at {wc} for costs and outcomes"
    else:
        disc = (f"costs discounted at {wc}, outcomes {'not discounted' if wo == '0 % a year' else 'at ' + wo}"
                if wc != "0 % a year" else f"costs not discounted, outcomes discounted at {wo}")
    years = model.n_cycles * model.cycle_length
    horizon = f"{years:g}-year horizon" if math.isclose(years, round(years), abs_tol=1e-9) else \
        f"{years:.3g}-year horizon"
    correction = {"half-cycle": "half-cycle correction", "start": "rewards counted at the start of each cycle",
                  "end": "rewards counted at the end of each cycle"}.get(model.correction,
                                                                          f"{model.correction} correction")
    timing = ", discounted by whole years" if getattr(model, "discount_timing", "exact") == "annual" else ""
    age = f", cohort aged {model.start_age:g} at the start" if getattr(model, "start_age", None) is not None else ""
    return f"{disc}{timing}, {correction}, {_cycle_words(model.cycle_length)}, {horizon}{age}"


_METHODS = {"mc": "simple Monte Carlo sampling", "lhs": "Latin hypercube sampling", "sobol": "Sobol sequence"}


def shown_path(label: str, base: Path) -> str:
    """A file's path as the outputs show it: no absolute path of the machine.

    A ready model's file is shown from its ``cohorts/`` folder, another file relative
    to ``base`` (the experiment file's folder); a label that is not an absolute path
    stays as it is.

    Parameters
    ----------
    label : str
        The path (or a label).
    base : Path
        The experiment file's folder.

    Returns
    -------
    str
    """
    p = Path(label)
    if not p.is_absolute():
        return label
    if "cohorts" in p.parts:
        i = len(p.parts) - 1 - p.parts[::-1].index("cohorts")
        return "/".join(p.parts[i:])
    try:
        return os.path.relpath(p, base)
    except ValueError:  # another drive (Windows)
        return p.name


def settings_rows(run) -> list[tuple[str, str]]:
    """The settings of a run in words: ``[(setting, value), ...]`` for the report and the workbook.

    Parameters
    ----------
    run : runner state
        Its ``exp``, ``ld``, ``model`` (None: ``model_settings`` in words), ``units``, ``extra_settings``.

    Returns
    -------
    list of (str, str)
    """
    exp, u, model = run.exp, run.units, run.model
    wtp = exp.wtp
    money = f"{u.currency}, {u.price_year} prices" if u.currency and u.price_year else \
        (u.currency or "not declared by the model")
    rows = [("experiment", exp.path.name), ("title", exp.title), ("model", exp.model),
            ("parameter table", shown_path(run.ld.table.label, exp.path.parent)), ("seed", str(exp.seed)),
            ("effect", u.effect_unit), ("currency", money),
            ("willingness to pay", f"{u.wtp(wtp[0]).split(' per ')[0]} to {u.wtp(wtp[-1])} ({len(wtp)} values); "
                                   f"threshold {u.wtp(exp.wtp_threshold)}"),
            ("model settings", settings_words(model) if model is not None else run.model_settings),
            ("scenario overrides", ", ".join(f"{k} = {v:g}" for k, v in exp.scenario.items()) or "none"),
            ("PSA", f"{exp.psa.draws:,} draws, {_METHODS.get(exp.psa.method, exp.psa.method)}" if exp.psa
             else "not run"),
            ("sweep", f"{len(exp.sweep)} scenarios" if exp.sweep else "not run")]
    return rows + list(getattr(run, "extra_settings", ()))


# ---------------------------------------------------------------------------- labelled tables
#: Kinds of columns: money (whole currency units), effect (3 decimals), probability (%), ratio (money per effect).
_EFFECTS = ("qaly", "ly", "effect")


def _kind(col: str, effect: str) -> str:
    c = col.lower()
    base = c.removesuffix("_undisc").removesuffix("_low").removesuffix("_high").removesuffix("_lo")
    base = base.removesuffix("_hi").removesuffix("_mean").removesuffix("_se")
    if c in ("icer", "wtp", "threshold_wtp") or c.startswith("icer_"):
        return "ratio"
    if c in ("probability", "prob", "p_ce", "share", "p_cost_effective"):
        return "probability"
    if base in ("evpi", "evppi", "se", "expected_loss"):
        return "money_small"  # per-person values of information: cents matter
    if base.startswith("cost") or base.startswith("inc_cost") or base in ("nmb", "inmb", "population_evpi"):
        return "money"
    if base in _EFFECTS or base.startswith("inc_") and base[4:] in _EFFECTS or base == "nhb":
        return "effect"
    return "text" if c in ("strategy", "status", "dominated_by", "parameter", "parameters", "method",
                           "comparator", "name", "optimal") else "number"


def column_kinds(df: pd.DataFrame, effect: str = "qaly") -> dict[str, str]:
    """``{column: kind}``: ``money``, ``money_small``, ``effect``, ``ratio``, ``probability``, ``text``, ``number``.

    Parameters
    ----------
    df : DataFrame
        A result table with the library's column names (``cost``, ``qaly``, ``inc_cost``, ``icer``, ...).
    effect : str
        The effect measure of the analysis.

    Returns
    -------
    dict
    """
    out = {}
    for c in df.columns:
        k = _kind(str(c), effect)
        if k == "number" and not pd.api.types.is_numeric_dtype(df[c]):
            k = "text"
        out[str(c)] = k
    return out


def _effect_label(c: str, units: Units) -> str:
    measure = "qaly" if c.startswith("qaly") or c.startswith("inc_qaly") else \
        "ly" if c.startswith("ly") or c.startswith("inc_ly") else units.effect
    unit = units.effect_unit if measure == units.effect else _DEFAULT_UNIT.get(measure, measure)
    return unit[:1].upper() + unit[1:]


_SUFFIX = {"_undisc": ", undiscounted", "_low": ", 2.5th percentile", "_high": ", 97.5th percentile",
           "_se": ", Monte Carlo standard error"}


def _label(col: str, kind: str, units: Units, table: str) -> str:
    c = str(col)
    suffix = ""
    for k, words in _SUFFIX.items():
        if c.endswith(k):
            c, suffix = c[: -len(k)], words
            break
    if kind in ("money", "money_small"):
        names = {"cost": "Cost", "inc_cost": "Incremental cost", "nmb": "Net monetary benefit",
                 "inmb": "Incremental net monetary benefit", "evpi": "EVPI per person",
                 "evppi": "EVPPI per person", "se": "Standard error", "expected_loss": "Expected loss",
                 "population_evpi": "Population EVPI"}
        name = names.get(c) or ("Cost: " + c.removeprefix("cost_").replace("_", " ") if c.startswith("cost_")
                                else c.replace("_", " ").capitalize())
        return units.cost(name + suffix)
    if kind == "effect":
        inc = c.startswith("inc_")
        lab = _effect_label(c.removeprefix("inc_"), units)
        if inc and not lab[1:2].isupper():  # "Incremental life-years", "Incremental QALYs"
            lab = lab[:1].lower() + lab[1:]
        return ("Incremental " + lab if inc else lab) + suffix
    if kind == "ratio":
        return units.per_effect("ICER" if c.startswith("icer") else "Willingness to pay") + suffix
    if kind == "probability":
        return "Probability cost-effective" if c in ("probability", "p_cost_effective") else c
    words = {"dominated_by": "Dominated by", "parameters": "Parameters", "low": "Low input", "high": "High input",
             "base": "Base value" if table == "thresholds" else "Base case", "lower": "Search from",
             "upper": "Search to", "threshold": "Threshold value", "strategy": "Strategy", "status": "Status",
             "comparator": "Comparator", "parameter": "Parameter", "method": "Method", "name": "Name",
             "description": "Description", "patients": "Patients", "waited": "Time on waiting lists (years)",
             "died_on_list": "Died on a waiting list", "escalated": "Escalated", "procedures": "Procedures",
             "waited_weeks": "Mean time on waiting lists (weeks)",
             "scenario": "Scenario", "draw": "Draw", "optimal": "Optimal strategy", "wtp": "Willingness to pay"}
    return words.get(c, c) + suffix  # other columns (parameters of a sweep) keep their names


def labelled(df: pd.DataFrame, units: Units, table: str = "") -> tuple[pd.DataFrame, dict[str, str]]:
    """The table with headers that name their units, and the kind of each new column.

    Parameters
    ----------
    df : DataFrame
        A result table with the library's column names.
    units : Units
        The run's units.
    table : str
        The table's name (``"icer"``, ``"one_way"``, ...), for headers that depend on it.

    Returns
    -------
    (DataFrame, dict)
        The table with renamed columns (data not copied) and ``{new header: kind}``.
    """
    kinds = column_kinds(df, units.effect)
    names = {}
    for c, k in kinds.items():
        lab = _label(c, k, units, table)
        while lab in names.values():  # never two columns of one name
            lab += " "
        names[c] = lab
    out = df.rename(columns=names)
    return out, {names[c]: k for c, k in kinds.items()}


def _cell(v: Any, kind: str) -> str:
    if v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)):
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    v = float(v)
    if not math.isfinite(v):
        return "-" if math.isnan(v) else ("infinite" if v > 0 else "-infinite")
    if kind in ("money", "ratio"):
        return f"{v:,.0f}"
    if kind == "money_small":
        return f"{v:,.2f}"
    if kind == "effect":
        return f"{v:,.3f}"
    if kind == "probability":
        return f"{v * 100:.1f} %"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.6f}".rstrip("0")


def format_cells(df: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """The table's values as text: money and ratios in whole units with thousands separators, effects to 3 decimals.

    Parameters
    ----------
    df : DataFrame
        A labelled table (:func:`labelled`).
    kinds : mapping
        ``{column: kind}``.

    Returns
    -------
    DataFrame of str
    """
    return pd.DataFrame({c: [_cell(v, kinds.get(str(c), "number")) for v in df[c]] for c in df.columns})


def terminal_table(df: pd.DataFrame, units: Units, table: str = "") -> str:
    """A result table for the terminal: headers with units, money in whole units, effects to 3 decimals.

    Parameters
    ----------
    df : DataFrame
        A result table with the library's column names.
    units : Units
        The run's units.
    table : str
        The table's name.

    Returns
    -------
    str
    """
    text = with_intervals(df, units, table)
    left = [c for c in text.columns if c in ("Strategy", "Status", "Dominated by", "Parameter", "Parameters",
                                              "Name", "Method", "Comparator")]
    widths = {c: max([len(str(c))] + [len(v) for v in text[c]]) for c in text.columns}

    def line(cells) -> str:
        return "  ".join(str(v).ljust(widths[c]) if c in left else str(v).rjust(widths[c])
                         for c, v in zip(text.columns, cells, strict=True)).rstrip()

    return "\n".join([line(text.columns)] + [line(r) for r in text.itertuples(index=False)])


def with_intervals(df: pd.DataFrame, units: Units, table: str = "") -> pd.DataFrame:
    """The table as text with units in its headers; a mean and its 95 % interval in one column.

    Parameters
    ----------
    df : DataFrame
        A result table with the library's column names (``cost``, ``cost_low``, ``cost_high``, ...).
    units : Units
        The run's units.
    table : str
        The table's name.

    Returns
    -------
    DataFrame of str
        ``"63,423 (42,530 to 91,212)"`` under ``"Cost with 95 % interval (USD 2023)"``; a
        ``dominated_by`` column left out when it is empty.
    """
    lab, kinds = labelled(df, units, table)
    text = format_cells(lab, kinds)
    cols = [str(c) for c in df.columns]
    names = dict(zip(cols, lab.columns, strict=True))
    for c in cols:  # a mean with its interval in one column: "63,423 (42,530 to 91,212)"
        if f"{c}_low" in names and f"{c}_high" in names:
            lo, hi = text.pop(names[f"{c}_low"]), text.pop(names[f"{c}_high"])
            head = names[c].replace(" (", " with 95 % interval (", 1) if "(" in names[c] else \
                f"{names[c]} with 95 % interval"
            text[names[c]] = [f"{m} ({a} to {b})" for m, a, b in zip(text[names[c]], lo, hi, strict=True)]
            text = text.rename(columns={names[c]: head})
    if "dominated_by" in names and text[names["dominated_by"]].isin(["-", ""]).all():
        text = text.drop(columns=names["dominated_by"])
    return text
