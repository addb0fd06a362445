"""Parameter tables: validated rows with distributions, groups and correlations.

A parameter table has one row per parameter: its base-case ``value``, a
``distribution`` with its ``args`` (``"mean=0.2; se=0.05"``), an optional
``group`` (rows of one Dirichlet, multivariate normal or empirical file), and its
``source``.  :class:`ParameterTable` checks the rows once and is immutable; reading
files lives in :mod:`sim.params.io`, drawing in :mod:`sim.params.sampling`
(:meth:`ParameterTable.draw` and :meth:`ParameterTable.sampler` delegate to it).

File formats and formulas: ``docs/parameters.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest
from sim.params import io
from sim.params.distributions import (
    MULTIVARIATE,
    check_args,
    check_dirichlet_shares,
    check_name,
    make_distribution,
)
from sim.params.sampling import Draws, Sampler, gaussian_copula, values_by_inversion, values_direct

__all__ = [
    "Parameter",
    "ParameterTable",
    "read_parameter_table",
    "base_values",
]


# ---------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Parameter:
    """One row of a parameter table.

    Parameters
    ----------
    name : str
        Unique name.
    value : float
        Base-case value.
    distribution : str
        Distribution name (``sim.params.DISTRIBUTIONS``); ``"fixed"`` by default.
    args : mapping of str to str or float
        The distribution's arguments, e.g. ``{"mean": "0.2", "se": "0.05"}``.
    group : str
        Rows of one Dirichlet or multivariate normal share a group.
    unit, description : str
        Documentation only.
    source : str
        Where the value comes from (required).
    line : int
        Line in the source file (0 if built in Python).
    """

    name: str
    value: float
    distribution: str = "fixed"
    args: Mapping[str, Any] = field(default_factory=dict)
    group: str = ""
    unit: str = ""
    description: str = ""
    source: str = ""
    line: int = 0  # line in the source file (0 if built in Python)


def _arg_number(p: Parameter, key: str, where: str) -> float:
    try:
        return float(p.args[key])
    except (TypeError, ValueError):
        raise HtaError(f"{where}: argument {key}={p.args[key]!r} of {p.name!r} is not a number") from None


# ---------------------------------------------------------------------------- table
class ParameterTable:
    """An immutable, validated set of parameters with distributions and correlations.

    Parameters
    ----------
    parameters : sequence of Parameter
        The rows; names must be unique and every row needs a finite value and a source.
    correlations : mapping of (name_a, name_b) to float, optional
        Spearman rank correlations between univariate parameters, imposed through a
        Gaussian copula.
    base_dir : path, optional
        Folder that relative file names in ``args`` (empirical draws, covariance
        matrices) are resolved against.
    label : str
        Name of the table in error messages (its file name).

    Notes
    -----
    The sampling layout, read by :mod:`sim.params.sampling`: ``_uni`` lists
    ``(parameter, frozen scipy distribution)`` of the univariate random
    parameters, ``_multi`` lists ``(kind, members, data)`` per Dirichlet,
    multivariate normal or empirical group, ``_copula`` is
    :func:`sim.params.sampling.gaussian_copula` of the correlations, and
    ``n_slots`` counts the uniforms one draw consumes.
    """

    def __init__(self, parameters: Sequence[Parameter], correlations: Mapping | None = None,
                 base_dir: str | os.PathLike | None = None, label: str = "parameter table"):
        self.label = label
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        params = list(parameters)
        if not params:
            raise HtaError(f"{label}: no parameters")
        seen: dict[str, Parameter] = {}
        for p in params:
            where = self._where(p)
            if not isinstance(p.name, str) or not p.name.strip():
                raise HtaError(f"{where}: empty parameter name")
            if p.name in seen:
                first = seen[p.name]
                at = f" (first on line {first.line})" if first.line else ""
                raise HtaError(f"{where}: duplicate parameter name {p.name!r}{at}")
            seen[p.name] = p
            if not (isinstance(p.value, (int, float)) and math.isfinite(p.value)):
                raise HtaError(f"{where}: parameter {p.name!r} has value {p.value!r}, not a finite number")
            if not str(p.source).strip():
                raise HtaError(f"{where}: parameter {p.name!r} has no source; cite one (paper, table, page)")
        self.parameters = tuple(
            Parameter(**{**p.__dict__, "distribution": check_name(p.distribution or "fixed", self._where(p))})
            for p in params
        )
        self._by_name = {p.name: p for p in self.parameters}
        self._build()
        self.correlations = self._check_correlations(dict(correlations or {}))
        self._copula = gaussian_copula([p.name for p, _ in self._uni], self.correlations, self.label)

    def where(self, name: str) -> str:
        """Where parameter ``name`` is given: ``FILE:LINE`` of its CSV row, or its value's workbook cell."""
        p = self[name]
        return io.place(self.label, p.line, getattr(self, "value_cell", None)) or self._where(p)

    # ------------------------------------------------------------ construction
    def _where(self, p: Parameter) -> str:
        return f"{self.label}, line {p.line}" if p.line else f"{self.label}, parameter {p.name!r}"

    def _build(self) -> None:
        """Check arguments and lay out the uniform columns ("slots") each parameter uses."""
        self._uni: list[tuple[Parameter, Any]] = []  # (parameter, frozen dist)
        self._groups: dict[tuple[str, str], list[Parameter]] = {}
        for p in self.parameters:
            where = f"{self._where(p)} ({p.name})"
            if p.distribution in MULTIVARIATE:
                check_args(p.distribution, p.args, where)
                # empirical rows reading one file share the row drawn, whatever their group
                key = p.args.get("file", "") if p.distribution == "empirical" else p.group
                if not key:
                    raise HtaError(
                        f"{where}: {p.distribution} rows need a group (the rows drawn together); "
                        f"fill the group column"
                    )
                self._groups.setdefault((p.distribution, key), []).append(p)
            else:
                dist = make_distribution(p.distribution, p.args, where)
                if dist is not None:
                    self._uni.append((p, dist))
        build = {"dirichlet": self._dirichlet, "mvnormal": self._mvnormal, "empirical": self._empirical}
        self._multi = [
            (dist, members, build[dist](members, f"{self.label}, group {key!r}"))
            for (dist, key), members in self._groups.items()
        ]
        self.n_slots = len(self._uni) + sum(
            1 if kind == "empirical" else len(members) for kind, members, _ in self._multi
        )

    def _dirichlet(self, members: list[Parameter], where: str) -> np.ndarray:
        """The counts of a Dirichlet group."""
        counts = []
        for p in members:
            c = _arg_number(p, "count", self._where(p))
            if not (c > 0 and math.isfinite(c)):
                raise HtaError(f"{self._where(p)}: Dirichlet count of {p.name!r} must be > 0, got {c!r}")
            counts.append(c)
        if len(members) < 2:
            raise HtaError(f"{where}: a Dirichlet needs at least 2 rows in its group")
        check_dirichlet_shares(members, counts, where)
        return np.array(counts)

    def _mvnormal(self, members: list[Parameter], where: str) -> tuple[np.ndarray, np.ndarray]:
        """Means and Cholesky factor of the covariance of a multivariate normal group."""
        covs = {p.args["cov"] for p in members}
        if len(covs) != 1:
            raise HtaError(f"{where}: all rows of a multivariate normal must name the same cov file")
        path = io.resolve_file(self.base_dir, covs.pop(), self._where(members[0]))
        cov = io.read_covariance(path, [p.name for p in members])
        means = np.array([_arg_number(p, "mean", self._where(p)) for p in members])
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise HtaError(
                f"{where}: the covariance matrix of {', '.join(p.name for p in members)} is not "
                f"positive definite; check its file"
            ) from None
        return means, chol

    def _empirical(self, members: list[Parameter], where: str) -> np.ndarray:
        """The draws of an empirical group (one file, rows drawn jointly)."""
        files = {p.args["file"] for p in members}
        if len(files) != 1:
            raise HtaError(f"{where}: rows of one empirical group must read the same file")
        fname = files.pop()
        path = io.resolve_file(self.base_dir, fname, self._where(members[0]))
        return io.read_empirical(path, fname, [(p.args.get("column", p.name), self._where(p)) for p in members])

    def _check_correlations(self, corr: dict) -> dict:
        out = {}
        uni = {p.name for p, _ in self._uni}
        for key, rho in corr.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise HtaError(f"{self.label}: correlation key {key!r} must be a pair of parameter names")
            a, b = key
            for n in (a, b):
                if n not in self._by_name:
                    raise HtaError(
                        f"{self.label}: correlation names unknown parameter {n!r}{suggest(n, self._by_name)}"
                    )
                if n not in uni:
                    raise HtaError(
                        f"{self.label}: correlation with {n!r}, which is fixed or part of a "
                        f"{self._by_name[n].distribution} group; only univariate random parameters can be correlated"
                    )
            if a == b:
                raise HtaError(f"{self.label}: correlation of {a!r} with itself")
            rho = float(rho)
            if not -1 < rho < 1:
                raise HtaError(f"{self.label}: rank correlation of {a!r} and {b!r} is {rho}; it must lie in (-1, 1)")
            pair = tuple(sorted((a, b)))
            if pair in out and out[pair] != rho:
                raise HtaError(f"{self.label}: correlation of {a!r} and {b!r} given twice with different values")
            out[pair] = rho
        return out

    # ------------------------------------------------------------ reading
    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, correlations=None, base_dir=None,
                   label: str = "parameter table", first_line: int = 2) -> ParameterTable:
        """Build a table from a DataFrame.

        Parameters
        ----------
        df : DataFrame
            One row per parameter with the columns of :data:`sim.params.io.COLUMNS`
            (``name``, ``value`` and ``source`` required).
        correlations : mapping of (name_a, name_b) to float, optional
            Spearman rank correlations.
        base_dir : path, optional
            Folder for relative file names in ``args``; default the working directory.
        label : str
            Name of the table in error messages.
        first_line : int
            Line number of the first row, for error messages.

        Returns
        -------
        ParameterTable
        """
        params = [Parameter(**row) for row in io.rows_from_frame(df, label, first_line)]
        return cls(params, correlations=correlations, base_dir=base_dir, label=label)

    @classmethod
    def read(cls, path: str | os.PathLike, *,
             correlations: str | os.PathLike | Mapping | None = None) -> ParameterTable:
        """Read a CSV or Excel (``.xlsx``) parameter table.

        An Excel workbook holds the table in its first sheet (or one named
        ``parameters``) and, optionally, rank correlations in a sheet named
        ``correlations`` with columns ``param_a, param_b, rho``.  For CSV, give the
        correlations as a second CSV file or a mapping.

        Parameters
        ----------
        path : str or path-like
            The table file; relative file names in its ``args`` are resolved
            against its folder.
        correlations : str, path-like or mapping, optional
            A CSV file with columns ``param_a, param_b, rho`` or a mapping
            ``{(name_a, name_b): rho}``.

        Returns
        -------
        ParameterTable
        """
        p = Path(path)
        df, corr = io.read_file(p, correlations)
        table = cls.from_frame(df, correlations=corr, base_dir=p.parent, label=str(p))
        table.value_cell = df.attrs.get("value_cell")  # (sheet, column letter) of the values in a workbook
        return table

    # ------------------------------------------------------------ views
    @property
    def names(self) -> list[str]:
        """Parameter names in table order."""
        return [p.name for p in self.parameters]

    @property
    def base(self) -> dict[str, float]:
        """Base-case values ``{name: value}``."""
        return {p.name: float(p.value) for p in self.parameters}

    @property
    def random_names(self) -> list[str]:
        """Parameters with a distribution (not fixed)."""
        return [p.name for p in self.parameters if p.distribution != "fixed"]

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame.

        Returns
        -------
        DataFrame
            One row per parameter with the columns of :data:`sim.params.io.COLUMNS`;
            ``args`` written back as ``"key=value; ..."``.
        """
        rows = []
        for p in self.parameters:
            rows.append({
                "name": p.name, "value": p.value, "distribution": p.distribution,
                "args": "; ".join(f"{k}={v}" for k, v in p.args.items()), "group": p.group,
                "unit": p.unit, "description": p.description, "source": p.source,
            })
        return pd.DataFrame(rows, columns=list(io.COLUMNS))

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._by_name[name]
        except KeyError:
            raise HtaError(f"{self.label}: no parameter {name!r}{suggest(name, self._by_name)}") from None

    def __len__(self) -> int:
        return len(self.parameters)

    def __repr__(self) -> str:
        return f"ParameterTable({self.label!r}: {len(self)} parameters, {len(self.random_names)} random)"

    # ------------------------------------------------------------ sampling (sim.params.sampling)
    def intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """The central ``level`` interval of each random parameter's marginal distribution.

        Percentiles ``(1 - level) / 2`` and ``(1 + level) / 2``: the frozen distribution's
        ``ppf`` for univariate rows, the marginal normal ``N(mean_i, cov_ii)`` for
        multivariate normal rows, empirical percentiles (``numpy.quantile``, linear
        interpolation) for empirical rows. Dirichlet shares and fixed rows are skipped.

        Parameters
        ----------
        level : float
            Coverage of the interval, in (0, 1).

        Returns
        -------
        dict
            ``{name: (low, high)}`` in table order.
        """
        from scipy import stats

        qlo, qhi = (1 - level) / 2, (1 + level) / 2
        found: dict[str, tuple[float, float]] = {}
        for p, dist in self._uni:
            found[p.name] = (float(dist.ppf(qlo)), float(dist.ppf(qhi)))
        for kind, members, data in self._multi:
            if kind == "mvnormal":
                means, chol = data
                sd = np.sqrt(np.einsum("ij,ij->i", chol, chol))  # diag(L L^T)
                for i, p in enumerate(members):
                    d = stats.norm(means[i], sd[i])
                    found[p.name] = (float(d.ppf(qlo)), float(d.ppf(qhi)))
            elif kind == "empirical":
                for i, p in enumerate(members):
                    col = data[:, i]
                    found[p.name] = (float(np.quantile(col, qlo)), float(np.quantile(col, qhi)))
        return {name: found[name] for name in self.names if name in found}

    @property
    def marginals(self) -> tuple[tuple[Parameter, Any], ...]:
        """``(parameter, frozen scipy distribution)`` of every univariate random row."""
        return tuple(self._uni)

    def sampler(self, n: int, seed: int, method: str = "mc") -> Sampler:
        """A :class:`~sim.params.sampling.Sampler` that produces any range of the ``n`` draws.

        Parameters
        ----------
        n : int
            Size of the whole sample.
        seed : int
            Seed (>= 0).
        method : str
            ``"mc"``, ``"lhs"`` or ``"sobol"``.

        Returns
        -------
        Sampler
        """
        return Sampler(self, n, seed, method)

    def draw(self, n: int, seed: int, method: str = "mc") -> Draws:
        """All ``n`` draws (see :class:`~sim.params.sampling.Sampler`).

        Parameters
        ----------
        n : int
            Number of draws.
        seed : int
            Seed (>= 0).
        method : str
            ``"mc"``, ``"lhs"`` or ``"sobol"``.

        Returns
        -------
        Draws
        """
        return self.sampler(n, seed, method).draws(0, n)

    def transform(self, u: np.ndarray) -> pd.DataFrame:
        """Map uniforms to parameter values by inversion (Latin hypercube, Sobol).

        Parameters
        ----------
        u : ndarray, shape (n_draws, n_slots)
            Uniforms, one row per draw.

        Returns
        -------
        DataFrame
            One row per draw, one column per parameter.
        """
        return pd.DataFrame(values_by_inversion(self, u), columns=self.names, copy=False)

    def generate(self, gen: np.random.Generator, m: int) -> pd.DataFrame:
        """Monte Carlo draws from a numpy generator.

        Each distribution is sampled directly (inversion only where a copula or a
        truncation needs it).

        Parameters
        ----------
        gen : numpy Generator
            The stream.
        m : int
            Number of draws.

        Returns
        -------
        DataFrame
            One row per draw, one column per parameter.
        """
        return pd.DataFrame(values_direct(self, gen, m), columns=self.names, copy=False)


# ---------------------------------------------------------------------------- helpers
def read_parameter_table(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read and check a parameter table.

    Parameters
    ----------
    source : str, path-like or DataFrame
        A CSV or Excel file, or a DataFrame with the table's columns.

    Returns
    -------
    DataFrame
        The checked table (columns of :data:`sim.params.io.COLUMNS`).
    """
    table = ParameterTable.from_frame(source) if isinstance(source, pd.DataFrame) else ParameterTable.read(source)
    return table.to_frame()


def base_values(table: pd.DataFrame | ParameterTable) -> dict[str, float]:
    """Base-case values of a parameter table.

    Parameters
    ----------
    table : DataFrame or ParameterTable
        A table with columns ``name`` and ``value``, or a :class:`ParameterTable`.

    Returns
    -------
    dict of str to float
        ``{name: value}``.
    """
    if isinstance(table, ParameterTable):
        return table.base
    return dict(zip(table["name"], table["value"].astype(float), strict=True))
