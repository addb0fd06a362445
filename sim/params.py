"""Parameter tables: one row per parameter, each with its value and source.

A parameter table is CSV (or a DataFrame) with at least the columns ``name``,
``value`` and ``source``; ``unit`` and ``description`` are optional.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import HtaError

__all__ = ["read_parameter_table", "base_values"]

REQUIRED = ("name", "value", "source")


def read_parameter_table(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read and check a parameter table.

    Returns
    -------
    DataFrame
        Columns ``name, value, unit, description, source`` (``unit`` and
        ``description`` empty when absent), one row per parameter.
    """
    if isinstance(source, pd.DataFrame):
        df, label = source.copy(), "parameter table"
    else:
        path = Path(source)
        if not path.is_file():
            raise HtaError(f"parameter table {str(path)!r} not found")
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except Exception as exc:
            raise HtaError(f"{path}: cannot read as CSV: {exc}") from None
        label = str(path)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise HtaError(
            f"{label}: missing column(s) {missing}; a parameter table needs columns "
            f"{', '.join(REQUIRED)} (and optionally unit, description)"
        )
    for c in ("unit", "description"):
        if c not in df.columns:
            df[c] = ""
    names = df["name"].astype(str).str.strip()
    for i, n in enumerate(names):
        line = i + 2  # header is line 1
        if not n:
            raise HtaError(f"{label}, line {line}: empty parameter name")
        if (names[:i] == n).any():
            first = int(np.flatnonzero(names[:i] == n)[0]) + 2
            raise HtaError(f"{label}, line {line}: duplicate parameter name {n!r} (first on line {first})")
    values = pd.to_numeric(df["value"], errors="coerce")
    for i, v in enumerate(values):
        if not np.isfinite(v):
            raise HtaError(
                f"{label}, line {i + 2}: parameter {names[i]!r} has value {df['value'].iloc[i]!r}, "
                f"which is not a finite number"
            )
    for i, s in enumerate(df["source"].astype(str)):
        if not s.strip():
            raise HtaError(f"{label}, line {i + 2}: parameter {names[i]!r} has no source; cite one")
    out = pd.DataFrame(
        {"name": names, "value": values.astype(float), "unit": df["unit"], "description": df["description"],
         "source": df["source"]}
    )
    return out.reset_index(drop=True)


def base_values(table: pd.DataFrame) -> dict[str, float]:
    """``{name: value}`` of a parameter table."""
    return dict(zip(table["name"], table["value"].astype(float)))
