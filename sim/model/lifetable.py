"""Life tables: background mortality by age and sex.

A :class:`LifeTable` holds, per sex, either ``qx`` (probability of dying between
ages x and x+1) or ``mx`` (central death rate at age x).  ``table.mortality(sex)``
is a model value (:class:`Mortality`): the probability of dying within one cycle
at the cohort's age, ``1 - (1 - qx) ** h`` or ``1 - exp(-mx * h)`` for a cycle of
``h`` years (constant hazard within each year of age), with
``x = floor(start_age + year)``.  This module holds the tables' data and the
annual lookup (:meth:`LifeTable.annual_probability`); the per-cycle value is
computed in :mod:`sim.model.evaluate`, with every other value type.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest
from sim.model.values import Expr

__all__ = ["LifeTable", "Mortality", "packaged_lifetables"]

_KINDS = ("qx", "mx")


@dataclass(frozen=True, eq=False)
class LifeTable:
    """Age- and sex-specific mortality.

    Parameters
    ----------
    ages : ndarray of int
        Consecutive single years of age.
    values : dict of str to ndarray
        Per sex (``"female"``, ``"male"``, ``"total"``, ...), one value per age.
    kind : {"qx", "mx"}
        Annual probability of death, or central death rate.
    open_ended : bool
        Whether the last age stands for that age *and over* (NCHS's "100 and
        over"); otherwise ages past the last row are an error.
    source : str
        Citation.
    """

    ages: np.ndarray
    values: dict
    kind: str = "qx"
    open_ended: bool = False
    source: str = ""
    name: str = ""

    def __post_init__(self):
        ages = np.asarray(self.ages)
        label = self.name or "life table"
        if self.kind not in _KINDS:
            raise HtaError(f"{label}: kind must be 'qx' or 'mx', not {self.kind!r}")
        if ages.ndim != 1 or ages.size == 0 or np.any(np.diff(ages) != 1):
            raise HtaError(f"{label}: ages must be consecutive single years (0, 1, 2, ...)")
        for sex, v in self.values.items():
            v = np.asarray(v, dtype=float)
            if v.shape != ages.shape:
                raise HtaError(f"{label}: sex {sex!r} has {v.size} values for {ages.size} ages")
            bad = ~np.isfinite(v) | (v < 0) | ((v > 1) if self.kind == "qx" else False)
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise HtaError(
                    f"{label}: {self.kind} for sex {sex!r} at age {int(ages[i])} is {float(v[i])!r}; "
                    f"{'qx must lie in [0, 1]' if self.kind == 'qx' else 'mx must be finite and >= 0'}"
                )

    def __repr__(self) -> str:
        last = f"{self.max_age}+" if self.open_ended else f"{self.max_age}"
        source = self.source if len(self.source) <= 60 else self.source[:57] + "..."
        return (f"LifeTable({self.name or 'unnamed'!r}: {self.kind} by single year of age {self.min_age}-{last}, "
                f"sexes {', '.join(self.values)}" + (f"; source: {source}" if source else "") + ")")

    @property
    def sexes(self) -> list[str]:
        """The sexes the table covers (keys of :attr:`values`)."""
        return list(self.values)

    @property
    def min_age(self) -> int:
        """The first age of the table."""
        return int(self.ages[0])

    @property
    def max_age(self) -> int:
        """The last age of the table (that age and over if :attr:`open_ended`)."""
        return int(self.ages[-1])

    def annual_probability(self, sex: str, age, *, where: str | None = None) -> np.ndarray:
        """Probability of dying within a year at each age (years, floored to whole years).

        Parameters
        ----------
        sex : str
            One of :attr:`sexes`.
        age : array_like
            Ages in years; ``floor(age)`` is looked up (``mx`` becomes ``1 - exp(-mx)``).
        where : str, optional
            What asks, for messages (default: the table's name).

        Returns
        -------
        ndarray
            ``qx`` at each age, shaped like ``age``.
        """
        where = where if where is not None else f"{self.name or 'life table'}"
        if sex not in self.values:
            raise HtaError(
                f"{where}: life table {self.name!r} has no sex {sex!r}{suggest(sex, self.values)}; "
                f"it has {', '.join(self.values)}"
            )
        age_years = np.asarray(age)
        idx = np.floor(np.asarray(age_years, dtype=float) + 1e-9).astype(np.int64)
        if np.any(idx < self.min_age):
            raise HtaError(
                f"{where}: age {float(np.min(age_years)):g} is below the life table's first age "
                f"{self.min_age}; raise start_age or use a table that starts earlier"
            )
        too_old = idx > self.max_age
        if np.any(too_old) and not self.open_ended:
            raise HtaError(
                f"{where}: the horizon reaches age {int(idx.max())} but life table "
                f"{self.name!r} ends at age {self.max_age}; shorten the horizon, extend the "
                f"table, or load it with open_ended=True if its last row means "
                f"'{self.max_age} and over'"
            )
        idx = np.minimum(idx, self.max_age) - self.min_age
        v = np.asarray(self.values[sex], dtype=float)[idx]
        return v if self.kind == "qx" else -np.expm1(-v)

    def mortality(self, sex: str = "total") -> Mortality:
        """Model value: probability of death within one cycle at the cohort's age.

        Parameters
        ----------
        sex : str
            One of :attr:`sexes`.

        Returns
        -------
        Mortality
        """
        if sex not in self.values:
            raise HtaError(
                f"life table {self.name!r} has no sex {sex!r}{suggest(sex, self.values)}; "
                f"it has {', '.join(self.values)}"
            )
        return Mortality(self, sex)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, name: str = "", source: str = "",
                   open_ended: bool | None = None) -> LifeTable:
        """Build from a long or a wide table.

        Parameters
        ----------
        df : DataFrame
            Long: columns ``age, sex, qx`` (or ``mx``; without ``sex`` the sex is
            ``"total"``). Wide: ``age`` plus ``qx_<sex>`` (or ``mx_<sex>``) columns.
        name, source : str
            Name (for messages) and citation.
        open_ended : bool, optional
            Whether the last age means that age and over; by default, when every
            sex's last ``qx`` is 1.

        Returns
        -------
        LifeTable
        """
        label = name or "life table"
        cols = {c.lower().strip(): c for c in df.columns}
        if "age" not in cols:
            raise HtaError(f"{label}: no 'age' column (columns: {', '.join(map(str, df.columns))})")
        age = pd.to_numeric(df[cols["age"]], errors="coerce")
        if age.isna().any() or np.any(age % 1 != 0):
            row = int(np.flatnonzero(age.isna() | (age % 1 != 0))[0])
            raise HtaError(f"{label}, row {row + 2}: age {str(df[cols['age']].iloc[row])!r} is not a whole number")
        kinds = [k for k in _KINDS if k in cols]
        values: dict[str, np.ndarray] = {}
        if kinds:  # long format
            if len(kinds) > 1:
                raise HtaError(f"{label}: both qx and mx columns; keep one")
            kind = kinds[0]
            val = pd.to_numeric(df[cols[kind]], errors="coerce")
            sexcol = df[cols["sex"]].astype(str).str.lower() if "sex" in cols else pd.Series("total", index=df.index)
            ages = None
            for sex in pd.unique(sexcol):
                sel = (sexcol == sex).to_numpy()
                a = age[sel].to_numpy().astype(int)
                order = np.argsort(a)
                if ages is None:
                    ages = a[order]
                elif not np.array_equal(ages, a[order]):
                    raise HtaError(f"{label}: sex {sex!r} covers different ages from the others")
                values[str(sex)] = val[sel].to_numpy()[order]
        else:  # wide format
            wide = [c for c in cols if c.startswith(("qx_", "mx_"))]
            kinds_w = {c[:2] for c in wide}
            if not wide or len(kinds_w) != 1:
                raise HtaError(
                    f"{label}: expected columns age, sex, qx (or mx), or age plus qx_<sex> / "
                    f"mx_<sex> columns; found {', '.join(map(str, df.columns))}"
                )
            kind = kinds_w.pop()
            order = np.argsort(age.to_numpy())
            ages = age.to_numpy().astype(int)[order]
            for c in wide:
                values[c[3:]] = pd.to_numeric(df[cols[c]], errors="coerce").to_numpy()[order]
        for sex, v in values.items():
            if np.isnan(v).any():
                i = int(np.flatnonzero(np.isnan(v))[0])
                raise HtaError(f"{label}: {kind} for sex {sex!r} at age {int(ages[i])} is missing or not a number")
        if open_ended is None:
            open_ended = kind == "qx" and all(np.isclose(v[-1], 1.0) for v in values.values())
        return cls(ages=ages, values=values, kind=kind, open_ended=bool(open_ended),
                   source=source, name=name)

    @classmethod
    def from_csv(cls, path: str | os.PathLike, *, source: str = "", open_ended: bool | None = None,
                 name: str | None = None) -> LifeTable:
        """Load a life table from CSV (``#`` starts a comment).

        Parameters
        ----------
        path : str or path-like
            The file; layouts as for :meth:`from_frame`.
        source : str
            Citation (default: the path).
        open_ended : bool, optional
            As for :meth:`from_frame`.
        name : str, optional
            Name (default: the file name without extension).

        Returns
        -------
        LifeTable
        """
        p = Path(path)
        if not p.is_file():
            raise HtaError(f"life table file {str(p)!r} not found")
        try:
            df = pd.read_csv(p, comment="#")
        except Exception as exc:
            raise HtaError(f"{p}: cannot read as CSV: {exc}") from None
        return cls.from_frame(df, name=name or p.stem, source=source or str(p), open_ended=open_ended)

    @classmethod
    def packaged(cls, name: str) -> LifeTable:
        """A life table shipped with hta-sim.

        Parameters
        ----------
        name : str
            One of :func:`packaged_lifetables`.

        Returns
        -------
        LifeTable
        """
        available = packaged_lifetables()
        if name not in available:
            raise HtaError(
                f"no packaged life table {name!r}{suggest(name, available)}; available: {', '.join(available)}"
            )
        ref = resources.files("sim") / "data" / "lifetables" / f"{name}.csv"
        with resources.as_file(ref) as path:
            df = pd.read_csv(path, comment="#")
        return cls.from_frame(df, name=name, source=available[name])


#: Life tables shipped in ``sim/data/lifetables`` (details in SOURCES.md there).
PACKAGED = {
    "us_2017_nchs": (
        "Arias E, Xu J. United States life tables, 2017. National Vital Statistics Reports "
        "68(7). Hyattsville, MD: National Center for Health Statistics; 2019. Tables 1-3, "
        "column q(x). Public domain (US government work)."
    ),
    "uk_2010_2012_ons": (
        "Office for National Statistics. National life tables, United Kingdom, 2010-2012 (released "
        "21 March 2014), period life table, males and females, column qx; ages 0-100 (100 is not "
        "open-ended). United Kingdom, not England and Wales. Open Government Licence v3.0."
    ),
}


def packaged_lifetables() -> dict[str, str]:
    """Names of the packaged life tables with their sources."""
    return dict(PACKAGED)


@dataclass(frozen=True, eq=False)
class Mortality(Expr):
    """Background mortality for one cycle from a :class:`LifeTable` at the cohort's age."""

    table: LifeTable
    sex: str = "total"

    def __repr__(self) -> str:
        return f"Mortality({self.table.name!r}, sex={self.sex!r})"
