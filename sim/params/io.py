"""Reading parameter tables and the files they name.

Everything here turns text into rows, numbers and matrices, and knows nothing of
:class:`sim.params.table.ParameterTable` itself: a table file (CSV or Excel, with
its correlations), the ``args`` cell (``"mean=0.2; se=0.05"``), and the files that
``args`` name relative to the table (empirical draws, covariance matrices).

File formats: ``docs/parameters.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest

__all__ = [
    "COLUMNS",
    "RECORD_COLUMNS",
    "check_csv_text",
    "parse_args",
    "place",
    "read_file",
    "rows_from_frame",
    "correlations_from_frame",
    "resolve_file",
    "check_no_formulas",
    "read_covariance",
    "read_empirical",
]

#: Columns of a parameter table (``name``, ``value`` and ``source`` required).
COLUMNS = ("name", "value", "distribution", "args", "group", "unit", "description", "source")

#: Optional columns recording how each value was checked: read and accepted, not used by
#: the model; the report and the workbook show them (``sim.experiment.workbook.parameter_records``).
RECORD_COLUMNS = ("price_year", "verified", "note")


# ---------------------------------------------------------------------------- cells and rows
def parse_args(text: str, where: str) -> dict[str, str]:
    """Split an ``args`` cell into its named arguments.

    Parameters
    ----------
    text : str
        ``"key=value"`` pairs separated by ``;`` (or ``,``), e.g. ``"mean=0.2; se=0.05"``.
    where : str
        Where the cell is (file and line), for error messages.

    Returns
    -------
    dict of str to str
        ``{"mean": "0.2", "se": "0.05"}``: names in lower case, values as text.
    """
    out: dict[str, str] = {}
    text = (text or "").strip()
    if not text:
        return out
    for part in text.replace(",", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise HtaError(f"{where}: argument {part!r} must be key=value, e.g. 'mean=0.2; se=0.05'")
        k, v = (s.strip() for s in part.split("=", 1))
        if not k:
            raise HtaError(f"{where}: argument {part!r} has no name")
        if k in out:
            raise HtaError(f"{where}: argument {k!r} given twice")
        out[k.lower()] = v
    return out


def _cell(row: Mapping[str, Any], column: str) -> str:
    """A cell as stripped text; empty for a missing column, ``None`` or NaN."""
    v = row.get(column)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def rows_from_frame(df: pd.DataFrame, label: str, first_line: int = 2) -> list[dict[str, Any]]:
    """Check a table's columns and parse its rows.

    Parameters
    ----------
    df : DataFrame
        One row per parameter, with the columns of :data:`COLUMNS` (``name``,
        ``value`` and ``source`` required; names are matched case-insensitively).
    label : str
        Name of the table (its file name) in error messages.
    first_line : int
        Line number of the first row in the file, for error messages.

    Returns
    -------
    list of dict
        One dict per row with the fields of :class:`sim.params.table.Parameter`
        (``name, value, distribution, args, group, unit, description, source, line``).
    """
    df = df.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in ("name", "value", "source") if c not in df.columns]
    if missing:
        raise HtaError(
            f"{label}: missing column(s) {missing}; a parameter table needs columns name, value, "
            f"source (and optionally distribution, args, group, unit, description)"
        )
    known = COLUMNS + RECORD_COLUMNS
    unknown = [c for c in df.columns if c not in known]
    if unknown:
        raise HtaError(
            f"{label}: unknown column {unknown[0]!r}{suggest(unknown[0], known)}; columns are {', '.join(known)}"
        )
    rows = []
    for i, row in enumerate(df.to_dict("records")):
        line = i + first_line
        name = _cell(row, "name")
        where = f"{label}, line {line}"
        try:
            value = float(_cell(row, "value"))
        except ValueError:
            raise HtaError(
                f"{where}: parameter {name!r} has value {_cell(row, 'value')!r}, which is not a number"
            ) from None
        rows.append({
            "name": name, "value": value, "distribution": _cell(row, "distribution") or "fixed",
            "args": parse_args(_cell(row, "args"), where), "group": _cell(row, "group"),
            "unit": _cell(row, "unit"), "description": _cell(row, "description"),
            "source": _cell(row, "source"), "line": line,
        })
    return rows


def correlations_from_frame(df: pd.DataFrame, label: str) -> dict[tuple[str, str], float]:
    """Rank correlations from a table with columns ``param_a, param_b, rho``.

    Parameters
    ----------
    df : DataFrame
        The correlations table (a CSV file or the ``correlations`` sheet of a workbook).
    label : str
        Where it came from, for error messages.

    Returns
    -------
    dict of (str, str) to float
        ``{(param_a, param_b): rho}``, unchecked (the table checks names and values).
    """
    cols = [str(c).strip().lower() for c in df.columns]
    if cols[:3] != ["param_a", "param_b", "rho"]:
        raise HtaError(f"{label}: correlations need columns param_a, param_b, rho; found {', '.join(cols)}")
    out = {}
    for i, (a, b, r) in enumerate(df.iloc[:, :3].itertuples(index=False)):
        try:
            out[(str(a).strip(), str(b).strip())] = float(r)
        except (TypeError, ValueError):
            raise HtaError(f"{label}, line {i + 2}: rho {r!r} is not a number") from None
    return out


# ---------------------------------------------------------------------------- files
def read_file(path: str | os.PathLike, correlations: str | os.PathLike | Mapping | None = None,
              ) -> tuple[pd.DataFrame, Mapping | None]:
    """Read a CSV or Excel (``.xlsx``) parameter table and its correlations.

    Parameters
    ----------
    path : str or path-like
        The table. An Excel workbook holds it in its first sheet (or one named
        ``parameters``) and, optionally, rank correlations in a sheet named
        ``correlations``.
    correlations : str, path-like or mapping, optional
        A CSV file with columns ``param_a, param_b, rho``, or a mapping
        ``{(name_a, name_b): rho}``; given, it replaces a workbook's sheet.

    Returns
    -------
    (DataFrame, mapping or None)
        The table's cells (text for CSV) and the correlations.
    """
    p = Path(path)
    if p.is_dir():
        raise HtaError(f"parameter table {str(p)!r} is a folder; give the .csv or .xlsx file")
    if not p.is_file():
        raise HtaError(f"parameter table {str(p)!r} not found")
    corr = correlations
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            sheets = pd.read_excel(p, sheet_name=None, dtype=object)
        except Exception as exc:
            raise HtaError(f"{p}: cannot read as Excel: not an .xlsx workbook ({exc}); save it as .xlsx from the "
                           f"spreadsheet program, or give a .csv") from None
        table_sheet = "parameters" if "parameters" in sheets else next(iter(sheets))
        check_no_formulas(p, [table_sheet] + (["correlations"] if corr is None and "correlations" in sheets else []))
        df = sheets[table_sheet]
        if "value" in df.columns:
            from openpyxl.utils import get_column_letter

            df.attrs["value_cell"] = (table_sheet, get_column_letter(list(df.columns).index("value") + 1))
        if corr is None and "correlations" in sheets:
            corr = correlations_from_frame(sheets["correlations"], f"{p}, sheet correlations")
    else:
        check_csv_text(p)
        try:
            df = pd.read_csv(p, dtype=str, keep_default_na=False, comment=None)
        except Exception as exc:
            raise HtaError(f"{p}: cannot read as CSV: {exc}") from None
    if isinstance(corr, (str, os.PathLike)):
        cp = Path(corr)
        if not cp.is_file():
            raise HtaError(f"correlations file {str(cp)!r} not found")
        corr = correlations_from_frame(pd.read_csv(cp), str(cp))
    return df, corr


def check_csv_text(path: Path) -> None:
    """Raise unless ``path`` is UTF-8 text whose rows have no more fields than its header.

    A row with more fields (an unquoted comma in a value) would shift its cells into
    the wrong columns; bytes that are not UTF-8 are named with their line.
    """
    import csv
    import io as _io

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise HtaError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the table as "
                       f"'CSV UTF-8'") from None
    reader = csv.reader(_io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return
    for row in reader:
        if len(row) > len(header):
            raise HtaError(f"{path}, line {reader.line_num}: {len(row)} fields, but the header has {len(header)}; "
                           f"a value holding a comma must be quoted (\"mean=1,000\")")


def place(label: str, line: int, value_cell: tuple[str, str] | None) -> str | None:
    """``FILE:LINE`` of a CSV row, ``FILE, sheet 'x', cell B4`` of a workbook row's value, or None.

    Parameters
    ----------
    label : str
        The table's file.
    line : int
        The row's line (row) in the file; 0 for a row built in Python.
    value_cell : (str, str) or None
        Sheet and column letter of the values, for a workbook.

    Returns
    -------
    str or None
    """
    if not line:
        return None
    if value_cell:
        return f"{label}, sheet {value_cell[0]!r}, cell {value_cell[1]}{line}"
    return f"{label}:{line}" if label.lower().endswith(".csv") else None


def check_no_formulas(path: Path, sheets: Sequence[str]) -> None:
    """Raise if a cell of the given sheets of workbook ``path`` holds a formula.

    A formula's value is whatever the spreadsheet program last computed (or nothing,
    when the workbook was written by a program), so a table must hold values.

    Parameters
    ----------
    path : Path
        The workbook.
    sheets : sequence of str
        The sheets read.
    """
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:
        raise HtaError(f"{path}: cannot read as Excel: {exc}") from None
    try:
        for name in sheets:
            for row in wb[name].iter_rows():
                for cell in row:
                    if getattr(cell, "data_type", None) == "f":
                        text = str(getattr(cell.value, "text", cell.value))
                        raise HtaError(
                            f"{path}, sheet {name!r}, cell {cell.coordinate}: holds the formula {text[:60]!r}, not a "
                            f"value; a parameter table holds values: replace the formula by its value "
                            f"(copy, then paste special > values)"
                        )
    finally:
        wb.close()


def resolve_file(base_dir: Path, name: str, where: str) -> Path:
    """The file ``name`` (relative to ``base_dir`` unless absolute), which must exist.

    Parameters
    ----------
    base_dir : Path
        The table's folder.
    name : str
        The file name given in ``args``.
    where : str
        The row naming it, for error messages.

    Returns
    -------
    Path
    """
    path = Path(name)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise HtaError(f"{where}: file {name!r} not found (looked for {path})")
    return path


def read_covariance(path: Path, names: Sequence[str]) -> np.ndarray:
    """A symmetric covariance matrix from a CSV file labelled by parameter name.

    Parameters
    ----------
    path : Path
        CSV file: first column the row labels, header the column labels.
    names : sequence of str
        The parameters, in the order wanted (the file's order does not matter).

    Returns
    -------
    ndarray, shape (len(names), len(names))
    """
    frame = pd.read_csv(path, index_col=0)
    names = list(names)
    missing = [n for n in names if n not in frame.columns or n not in frame.index]
    if missing:
        raise HtaError(
            f"{path}: covariance matrix has no row/column for {missing}; label rows and columns by parameter name"
        )
    cov = frame.loc[names, names].to_numpy(float)
    if not np.allclose(cov, cov.T):
        raise HtaError(f"{path}: covariance matrix is not symmetric")
    return cov


def read_empirical(path: Path, fname: str, columns: Sequence[tuple[str, str]]) -> np.ndarray:
    """Columns of an empirical draws file (e.g. MCMC output), checked finite.

    Parameters
    ----------
    path : Path
        The CSV file.
    fname : str
        Its name as given in ``args``, for error messages.
    columns : sequence of (str, str)
        ``(column, where)`` per parameter: the column to read and the row naming
        it (for error messages).

    Returns
    -------
    ndarray, shape (rows in the file, len(columns))
    """
    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise HtaError(f"{path}: cannot read as CSV: {exc}") from None
    cols = []
    for col, where in columns:
        if col not in frame.columns:
            raise HtaError(
                f"{where}: empirical draws file {fname!r} has no column {col!r}"
                f"{suggest(col, frame.columns)}; its columns are {', '.join(map(str, frame.columns))}"
            )
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise HtaError(
                f"{path}, line {i + 2}: column {col!r} value {frame[col].iloc[i]!r} is not a finite number"
            )
        cols.append(v)
    if len(frame) == 0:
        raise HtaError(f"{path}: empirical draws file has no rows")
    return np.column_stack(cols)
