"""Patient populations: read from a CSV file, generated from distributions, checked.

Generated attributes use the counter-based stream: attribute ``k`` of patient ``j``
is ``ppf_k(u)`` with ``u = uniforms(seed, draw, j, ATTRIBUTE_SLOT + k)``, so patient
``j``'s attributes depend only on ``(seed, draw, j)`` (any slice of patients, any batch
size gives the same people) and never share a random number with the patient's events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.errors import HtaError, suggest
from sim.patient.streams import uniforms

__all__ = ["check_population", "generate_population", "read_population", "truncated_normal"]

ATTRIBUTE_SLOT = 1 << 44  # first random slot of generated attributes (apart from event slots)


def truncated_normal(mean: float, sd: float, lower: float = -np.inf, upper: float = np.inf):
    """A normal distribution truncated to ``[lower, upper]``.

    Parameters
    ----------
    mean, sd : float
        Mean and standard deviation of the normal before truncation.
    lower, upper : float
        The bounds (infinite by default).

    Returns
    -------
    scipy.stats frozen distribution
        A frozen ``scipy.stats.truncnorm``.
    """
    for what, v in (("mean", mean), ("sd", sd)):
        if not np.isfinite(v):
            raise HtaError(f"truncated_normal: {what} {v!r} must be finite")
    if sd <= 0:
        raise HtaError(f"truncated_normal: sd {sd!r} must be > 0")
    if not lower < upper:
        raise HtaError(f"truncated_normal: lower {lower!r} must be below upper {upper!r}")
    return stats.truncnorm((lower - mean) / sd, (upper - mean) / sd, loc=mean, scale=sd)


def generate_population(spec: Mapping, n: int, seed: int, *, draw: int = 0, first: int = 0) -> pd.DataFrame:
    """Patients ``first .. first + n - 1`` with attributes drawn from distributions.

    Parameters
    ----------
    spec : mapping of attribute name to distribution
        Each value is a frozen ``scipy.stats`` distribution (anything with ``ppf``),
        e.g. ``truncated_normal(65, 9, 40, 90)``, ``stats.bernoulli(0.7)``, or a function
        of the attributes generated before it (a dict of arrays, in ``spec`` order)
        returning one, e.g. ``lambda a: stats.bernoulli(expit(-6 + 0.06 * a["age"]))``.
    n, seed, draw, first : int
        Number of patients, random keys, index of the first patient.

    Returns
    -------
    DataFrame
        ``n`` rows, one column per attribute (float), index ``first .. first + n - 1``.
    """
    for name, v, lo in (("n", n, 1), ("draw", draw, 0), ("first", first, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HtaError(f"generate_population: {name} {v!r} must be a whole number >= {lo}")
    if not spec:
        raise HtaError("generate_population: give at least one attribute and its distribution")
    j = np.arange(first, first + n)
    cols: dict[str, np.ndarray] = {}
    for k, (name, dist) in enumerate(spec.items()):
        if callable(dist) and not hasattr(dist, "ppf"):
            try:
                dist = dist(dict(cols))
            except KeyError as e:
                raise HtaError(f"attribute {name!r}: its distribution uses {e.args[0]!r}, which is not among the "
                               f"attributes generated before it ({', '.join(cols) or 'none'}); reorder spec") from None
        if not hasattr(dist, "ppf"):
            raise HtaError(f"attribute {name!r}: {type(dist).__name__} is not a distribution; give a frozen "
                           f"scipy.stats distribution (e.g. stats.norm(65, 9)) or a function returning one")
        x = np.asarray(dist.ppf(uniforms(seed, draw, j, ATTRIBUTE_SLOT + k)), dtype=float)
        x = np.broadcast_to(x, j.shape).copy()
        if not np.isfinite(x).all():
            bad, value = int(j[~np.isfinite(x)][0]), float(x[~np.isfinite(x)][0])
            raise HtaError(f"attribute {name!r}: its distribution gave {value!r} for patient {bad}; "
                           f"check its parameters")
        cols[name] = x
    return pd.DataFrame(cols, index=j)


def read_population(path, *, text: Iterable[str] = ()) -> pd.DataFrame:
    """Read a population table: one row per patient, one column per attribute.

    Every column must be numeric with no missing value, except those named in ``text``
    (e.g. ``sex`` given as ``male``/``female`` for a life table), which must have no
    missing value.

    Parameters
    ----------
    path : str or Path
        The CSV file (header line, then one line per patient).
    text : iterable of str
        Columns kept as text.

    Returns
    -------
    DataFrame
        The table as read, index ``0 .. n-1``.
    """
    path = Path(path)
    if not path.is_file():
        raise HtaError(f"population file {path} does not exist")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise HtaError(f"population file {path}: cannot be read as CSV ({e})") from None
    if df.empty:
        raise HtaError(f"population file {path}: has no patients (no rows under the header)")
    text = set(text)
    for c in sorted(text - set(df.columns)):
        raise HtaError(f"population file {path}: no column {c!r}{suggest(c, df.columns)} (named in text=)")
    check_population(df, [c for c in df.columns if c not in text], where=f"population file {path}", line_offset=2)
    for c in text:
        miss = df[c].isna().to_numpy()
        if miss.any():
            raise HtaError(f"population file {path}, line {int(np.flatnonzero(miss)[0]) + 2}: "
                           f"column {c!r} is empty; fill it in")
    return df


def check_population(population: pd.DataFrame | None, needed: Iterable[str], *, where: str = "population",
                     line_offset: int | None = None) -> None:
    """Raise :class:`HtaError` unless ``population`` has every ``needed`` column, numeric, without NaN.

    Parameters
    ----------
    population : DataFrame or None
        One row per patient (None: no column may be needed).
    needed : iterable of str
        The columns the model uses.
    where : str
        What the table is, for the messages.
    line_offset : int, optional
        Name rows by file line (position + ``line_offset``) rather than by position.
    """
    needed = sorted(set(needed))
    if population is None:
        if needed:
            raise HtaError(f"the model uses patient attribute {needed[0]!r}, but no population is given; "
                           f"pass population= (a DataFrame, read_population or generate_population)")
        return
    if not isinstance(population, pd.DataFrame):
        raise HtaError(f"{where} must be a DataFrame (one row per patient), got {type(population).__name__}")
    have = [str(c) for c in population.columns]
    for c in needed:
        if c not in population.columns:
            raise HtaError(f"{where} lacks column {c!r}{suggest(c, have)}, which the model uses; "
                           f"its columns are {', '.join(have) or 'none'}")
        col = population[c]
        if not pd.api.types.is_numeric_dtype(col):
            bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
            i = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
            row = f"line {i + line_offset}" if line_offset is not None else f"row {i}"
            raise HtaError(f"{where}, {row}: column {c!r} holds {col.iloc[i]!r}, which is not a number; "
                           f"code it as numbers (e.g. male = 1, female = 0)")
        miss = col.isna().to_numpy()
        if miss.any():
            i = int(np.flatnonzero(miss)[0])
            row = f"line {i + line_offset}" if line_offset is not None else f"row {i}"
            raise HtaError(f"{where}, {row}: column {c!r} is missing (NaN); fill it in or drop the patient")
        inf = ~np.isfinite(col.to_numpy(dtype=float))
        if inf.any():
            i = int(np.flatnonzero(inf)[0])
            row = f"line {i + line_offset}" if line_offset is not None else f"row {i}"
            raise HtaError(f"{where}, {row}: column {c!r} is {float(col.iloc[i])!r}; it must be a finite number")
