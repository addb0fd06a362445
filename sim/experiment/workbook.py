"""The run's workbook ``results.xlsx``: every result table as a formatted sheet.

Each sheet has a bold, frozen header row whose headers name their units
(``"Cost (USD 2023)"``), number formats by kind of column (currency in whole units
with thousands separators, effects to 3 decimals, probabilities as percentages) and
column widths fitted to the contents. Every string is stored as text: a value
beginning with ``=`` (or ``+``, ``-``, ``@``) never becomes a formula.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["FORMATS", "WORKBOOK", "Sheet", "group_label", "parameter_label", "parameter_records", "workbook_sheets",
           "write_workbook"]

#: The workbook of a run, in its output folder.
WORKBOOK = "results.xlsx"

#: Excel number format of each kind of column (:func:`sim.experiment.present.column_kinds`).
FORMATS = {"money": "#,##0", "money_small": "#,##0.00", "ratio": "#,##0", "effect": "#,##0.000", "probability": "0.0%",
           "number": "General", "text": "@"}
#: Widest column (characters); longer text is cut off in the view, not in the cell.
MAX_WIDTH = 60


@dataclass(frozen=True)
class Sheet:
    """One sheet: its name (at most 31 characters), its table and the kind of each column."""

    name: str
    table: pd.DataFrame
    kinds: Mapping[str, str] = field(default_factory=dict)


def _value(v):
    """A cell value openpyxl can store: numbers as float/int, missing as empty, anything else as text."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) or pd.api.types.is_number(v):
        f = float(v)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "infinite" if f > 0 else "-infinite"
        return int(v) if isinstance(v, int) or (hasattr(v, "dtype") and v.dtype.kind in "iu") else f
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    if not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v):
        return None
    return str(v)


def _shown_width(v, kind: str) -> int:
    if v is None:
        return 1
    if isinstance(v, str):
        return len(v)
    if kind in ("money", "ratio"):
        return len(f"{v:,.0f}")
    if kind == "money_small":
        return len(f"{v:,.2f}")
    if kind == "effect":
        return len(f"{v:,.3f}")
    if kind == "probability":
        return 6
    return len(f"{v:g}") if isinstance(v, float) else len(str(v))


def write_workbook(sheets: Sequence[Sheet], path: Path) -> Path:
    """Write ``sheets`` into one workbook.

    Parameters
    ----------
    sheets : sequence of Sheet
        In order; empty tables are left out.
    path : Path
        The ``.xlsx`` file.

    Returns
    -------
    Path
    """
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook(write_only=True)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    used: set[str] = set()
    for sheet in sheets:
        df = sheet.table
        if df is None or not len(df.columns):
            continue
        name = sheet.name[:31]
        while name in used:
            name = name[:29] + f"{len(used) % 100:02d}"
        used.add(name)
        ws = wb.create_sheet(name)
        cols = [str(c) for c in df.columns]
        kinds = [sheet.kinds.get(c, "text" if not pd.api.types.is_numeric_dtype(df[c]) else "number")
                 for c in df.columns]
        rows = [[_value(v) for v in row] for row in df.itertuples(index=False, name=None)]
        for j, (c, k) in enumerate(zip(cols, kinds, strict=True)):
            sample = rows[:2000]
            width = max([len(c) * 0.9] + [_shown_width(r[j], k) for r in sample]) + 2
            ws.column_dimensions[get_column_letter(j + 1)].width = round(min(max(width, 8), MAX_WIDTH), 1)
        ws.freeze_panes = "A2"
        header = []
        for c in cols:
            cell = WriteOnlyCell(ws, value=c)
            cell.data_type = "s"
            cell.font = bold
            cell.alignment = wrap
            header.append(cell)
        ws.append(header)
        formats = [FORMATS.get(k, "General") for k in kinds]
        for r in rows:
            out = []
            for v, fmt in zip(r, formats, strict=True):
                cell = WriteOnlyCell(ws, value=v)
                if isinstance(v, str):
                    cell.data_type = "s"  # openpyxl makes "=..." a formula; keep it the text it is
                    cell.number_format = "@"
                elif v is not None:
                    cell.number_format = fmt
                out.append(cell)
            ws.append(out)
    if not used:
        wb.create_sheet("empty")
    wb.save(path)
    return Path(path)


# ---------------------------------------------------------------------------- the run's sheets
def _num(v) -> str:
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def parameter_label(table, name: str, low: float | None = None, high: float | None = None,
                    base: float | None = None, short: bool | str = False) -> str:
    """A parameter as figures and tables name it: its description (shortened) and name, base value and range.

    Parameters
    ----------
    table : ParameterTable
        The run's parameter table (descriptions, base values).
    name : str
        The parameter.
    low, high : float, optional
        Its range in a one-way analysis.
    base : float, optional
        Its base value (default: the table's).
    short : bool or ``"description"``
        Only ``"description (name)"``, or only the (shortened) description.

    Returns
    -------
    str
        E.g. ``"Cost of a CABG admission"`` and, on a second line, ``"c_cabg = 37,611 (24,340 to 53,723)"``.
    """
    desc = ""
    if name in table.names:
        desc = str(table[name].description or "").strip()
        if base is None:
            base = table.base.get(name)
    for cut in ("; ", ": "):
        desc = desc.split(cut, 1)[0]
    for cut in (" (", ", "):
        if len(desc) > 48 and len(desc.split(cut, 1)[0]) >= 16:
            desc = desc.split(cut, 1)[0]
    if desc.count("(") > desc.count(")"):  # a bracket the cuts left open: cut before it
        desc = desc.rsplit(" (", 1)[0]
    if len(desc) > 48:  # cut at a word
        desc = desc[:47].rsplit(" ", 1)[0].rstrip(",;:") + "\N{HORIZONTAL ELLIPSIS}"
    desc = desc[:1].upper() + desc[1:]
    if short == "description":
        return desc
    if short:
        return f"{desc} ({name})" if desc else name
    value = name if base is None else f"{name} = {_num(base)}"
    if low is not None and high is not None:
        value += f" ({_num(low)} to {_num(high)})"
    return f"{desc}\n{value}" if desc else value


def group_label(table, group) -> str:
    """A parameter group of an EVPPI as figures and tables name it: by its parameters' descriptions.

    Parameters
    ----------
    table : ParameterTable
        The run's parameter table.
    group : str or sequence of str
        Parameter names, or their names joined with ``", "`` (the ``parameters`` column of
        :func:`sim.voi.evppi`).

    Returns
    -------
    str
        One parameter: its shortened description (its name when it has none). Several: the
        words their descriptions begin with, when they share two or more (``"Cardiovascular
        death hazard (4 parameters)"``), else the first description and how many more.
    """
    names = [n.strip() for n in group.split(",")] if isinstance(group, str) else [str(n) for n in group]
    descs = [parameter_label(table, n, short="description") or n for n in names]
    if len(names) == 1:
        return descs[0]
    words = [str(table[n].description or "").split() if n in table.names else [] for n in names]
    common = []
    for parts in zip(*words, strict=False):
        if len({w.lower().strip(",;:") for w in parts}) != 1:
            break
        common.append(parts[0].strip(",;:"))
    if len(common) >= 2:
        text = " ".join(common)
        return f"{text[:1].upper()}{text[1:]} ({len(names)} parameters)"
    return f"{descs[0]} and {len(names) - 1} more"


def parameter_records(table) -> pd.DataFrame:
    """A parameter table as a frame, with its CSV's ``price_year``, ``verified`` and ``note`` columns.

    Parameters
    ----------
    table : ParameterTable
        The run's table; when it was read from a CSV file that records those columns,
        they are added (matched by name; empty where the file has none).

    Returns
    -------
    DataFrame
        :meth:`ParameterTable.to_frame` plus the recorded columns the file has.
    """
    from sim.params.io import RECORD_COLUMNS

    frame = table.to_frame()
    src = Path(str(table.label))
    if src.suffix.lower() == ".csv" and src.is_file():
        own = pd.read_csv(src, dtype=str, keep_default_na=False)
        for c in RECORD_COLUMNS:
            if c in own and "name" in own and c not in frame:
                frame[c] = frame["name"].map(dict(zip(own["name"], own[c], strict=True))).fillna("")
    return frame


def _drop_empty(df):
    """An ICER table without its ``dominated_by`` column when no strategy is dominated."""
    if df is None or "dominated_by" not in df.columns:
        return df
    col = df["dominated_by"]
    return df.drop(columns="dominated_by") if (col.isna() | (col.astype(str).str.strip() == "")).all() else df


def workbook_sheets(run) -> list[Sheet]:
    """Every result table of a run as a sheet, headers with units.

    Parameters
    ----------
    run : runner state
        Its ``sections`` (the tables), ``units``, ``ld`` (the loaded experiment) and ``model``.

    Returns
    -------
    list of Sheet
        Base case, ICER table, PSA summary, PSA ICER table, PSA outcomes, CEAC, EVPI,
        EVPPI, one-way, two-way, thresholds, sweep summary, the run's ``extra_sheets`` (a
        patient-level run's tables), parameters, settings (those the run has).
    """
    from sim.experiment.present import labelled, settings_rows

    u, s = run.units, run.sections
    out: list[Sheet] = []

    def add(name: str, df, table: str = "", kinds: Mapping[str, str] | None = None) -> None:
        if df is None:
            return
        if kinds is None:
            df, kinds = labelled(df, u, table)
        out.append(Sheet(name, df, kinds))

    add("Base case", s.get("base_case"))
    add("ICER table", _drop_empty(s.get("icer")))
    add("PSA summary", s.get("psa_summary"))
    add("PSA ICER table", _drop_empty(s.get("psa_icer")))
    if "psa_outcomes" in s:
        po = s["psa_outcomes"]
        add("PSA outcomes", po[[c for c in ("draw", "strategy", "cost", "qaly", "ly") if c in po.columns]])
    if "ceac" in s:
        wide = s["ceac"].pivot(index="wtp", columns="strategy", values="probability")
        wide = wide[[c for c in pd.unique(s["ceac"]["strategy"])]].reset_index()
        head = u.per_effect("Willingness to pay")
        wide.columns = [head] + [f"P({c} cost-effective)" for c in wide.columns[1:]]
        add("CEAC", wide, kinds={head: "ratio", **{c: "probability" for c in wide.columns[1:]}})
    add("EVPI", s.get("evpi_curve"))
    if "evppi" in s:
        groups = [", ".join(p) if isinstance(p, (list, tuple)) else str(p) for p in s["evppi"]["parameters"]]
        ev = s["evppi"].assign(parameters=groups)
        ev.insert(1, "description", [group_label(run.ld.table, g) for g in groups])
        add("EVPPI", ev)
    if "one_way" in s:
        t = s["one_way"]
        outcome = t.attrs.get("outcome", "Outcome")
        kind = "effect" if outcome.startswith(("QALYs", "Life-years")) else "money"
        unit = f" ({u.money})" if kind == "money" and u.money else ""
        df = pd.DataFrame({"Parameter": t["parameter"],
                           "Description": [parameter_label(run.ld.table, p, short="description")
                                           for p in t["parameter"]],
                           "Low input": t["low"], "High input": t["high"],
                           f"Outcome at low input{unit}": t["outcome_low"],
                           f"Outcome at high input{unit}": t["outcome_high"], f"Base case{unit}": t["base"]})
        if {"mc_se_low", "mc_se_high"} <= set(t.columns):  # a patient-level run's Monte Carlo errors
            df[f"Monte Carlo SE at low input{unit}"] = t["mc_se_low"].to_numpy()
            df[f"Monte Carlo SE at high input{unit}"] = t["mc_se_high"].to_numpy()
        add("One-way", df, kinds={c: kind if c.startswith(("Outcome", "Base", "Monte")) else "number" if "input" in c
                                  else "text" for c in df.columns})
    if "two_way" in s:
        g = s["two_way"]
        x, y, outcome = g.attrs.get("x_name", "x"), g.attrs.get("y_name", "y"), g.attrs.get("outcome", "outcome")
        df = g.rename(columns={"x": x, "y": y, "outcome": outcome, "optimal": "Optimal strategy"})
        kind = "effect" if outcome.startswith(("QALYs", "Life-years")) else "money"
        add("Two-way", df, kinds={x: "number", y: "number", outcome: kind, "Optimal strategy": "text"})
    add("Thresholds", s.get("thresholds"), "thresholds")
    add("Sweep summary", s.get("sweep"))
    out += list(getattr(run, "extra_sheets", ()))  # a patient-level run's queues, waits, subgroups, NNT...
    params = parameter_records(run.ld.table)  # a parameter table file's columns: the sheet reads back as one
    add("Parameters", params, kinds={c: "number" if c == "value" else "text" for c in params.columns})
    rows = settings_rows(run)
    add("Settings", pd.DataFrame(rows, columns=["Setting", "Value"]), kinds={"Setting": "text", "Value": "text"})
    return out
