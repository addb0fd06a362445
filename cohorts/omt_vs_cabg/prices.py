"""Price years of the OMT vs CABG model: the price index and the annotated parameter table.

Every cost in ``parameters.csv`` keeps the value and the price year of its source
(columns ``price_year``); :func:`read_table` converts each to the model's price year
with the annual-average index in ``price_index.csv`` (CPI-U Medical care, BLS series
CUUR0000SAM):

    value_model = value_source * I(model year) / I(source year)

and scales the cost's distribution arguments (``mean``, ``se``, ``ci_low``, ``ci_high``)
by the same factor, so the parameter table the model, its PSA and its experiments see
is in one price year.  The table's other extra columns, ``verified`` (yes/no) and
``note``, say for every row whether the value was seen in the cited text.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from sim import ParameterTable
from sim.errors import HtaError
from sim.params.io import COLUMNS

__all__ = ["ANNOTATIONS", "SCALED_ARGS", "annotated_table", "conversion_factor", "price_index", "read_table"]

_HERE = Path(__file__).parent
#: Columns of ``parameters.csv`` beyond a standard parameter table.
ANNOTATIONS = ("price_year", "verified", "note")
#: Distribution arguments that are amounts of money (scaled with the value).
SCALED_ARGS = ("mean", "se", "ci_low", "ci_high")


@lru_cache(maxsize=4)
def price_index(path: str | None = None) -> pd.Series:
    """The annual-average price index by year (``price_index.csv`` beside this module)."""
    p = Path(path) if path else _HERE / "price_index.csv"
    df = pd.read_csv(p)
    if df["year"].duplicated().any() or (df["index"] <= 0).any():
        raise HtaError(f"{p}: each year once, with a positive index")
    return pd.Series(df["index"].to_numpy(float), index=df["year"].astype(int), name="index")


def conversion_factor(from_year: int, to_year: int) -> float:
    """``I(to_year) / I(from_year)`` from :func:`price_index`; a missing year is an error naming it."""
    idx = price_index()
    for y in (from_year, to_year):
        if int(y) not in idx.index:
            raise HtaError(f"price index: no value for {y}; price_index.csv has {', '.join(map(str, idx.index))} "
                           f"(add the year's annual average with its source)")
    return float(idx[int(to_year)] / idx[int(from_year)])


def _scale_args(args: str, f: float, where: str) -> str:
    out = []
    for part in filter(None, (s.strip() for s in str(args).split(";"))):
        key, _, val = part.partition("=")
        key = key.strip()
        if key not in SCALED_ARGS:
            raise HtaError(f"{where}: cannot convert the price year of distribution argument {key!r}; "
                           f"give a cost's distribution as {' / '.join(SCALED_ARGS)}")
        out.append(f"{key}={float(val) * f:.6g}")
    return "; ".join(out)


def annotated_table(path: Path, to_year: int) -> pd.DataFrame:
    """``parameters.csv`` with every cost converted to ``to_year`` (all columns kept).

    Returns
    -------
    DataFrame
        The file's columns plus ``value_source`` (the value as in the source) and
        ``factor`` (the index ratio applied; 1 for rows without a price year).
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("name", "value", "source", *ANNOTATIONS) if c not in df.columns]
    if missing:
        raise HtaError(f"{path}: missing column(s) {missing}")
    values, factors = [], []
    for i, row in df.iterrows():
        where = f"{path.name}, line {i + 2} ({row['name']})"
        if row["verified"] not in ("yes", "no", "partly"):
            raise HtaError(f"{where}: verified is {row['verified']!r}; write yes, no or partly")
        if not row["note"].strip():
            raise HtaError(f"{where}: note is empty; say what was verified and where")
        year = row["price_year"].strip()
        is_cost = row["unit"].startswith("USD")
        if is_cost != bool(year):
            raise HtaError(f"{where}: a cost (unit USD...) needs a price_year and only a cost has one")
        f = conversion_factor(int(year), to_year) if year else 1.0
        factors.append(f)
        values.append(row["value"])
        if year:
            df.loc[i, "value"] = f"{float(row['value']) * f:.6g}"
            df.loc[i, "args"] = _scale_args(row["args"], f, where)
            df.loc[i, "source"] = (f"{row['source']} [{year} USD {float(row['value']):,.0f} converted to {to_year} "
                                   f"USD by the CPI-U medical care index (x{f:.4f}, price_index.csv)]")
    df["value_source"] = values
    df["factor"] = factors
    return df


def read_table(path: Path, to_year: int) -> ParameterTable:
    """The parameter table in ``to_year`` prices, as a :class:`sim.ParameterTable`."""
    df = annotated_table(path, to_year)
    return ParameterTable.from_frame(df[[c for c in COLUMNS if c in df.columns]], base_dir=path.parent,
                                     label=str(path))
