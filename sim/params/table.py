"""Parameter tables, distributions and sampling (draws).

A parameter table has one row per parameter: its base-case ``value``, a
``distribution`` with its ``args`` (``"mean=0.2; se=0.05"``), an optional
``group`` (rows of one Dirichlet, multivariate normal or empirical file), and its
``source``.  :meth:`ParameterTable.draw` turns it into :class:`Draws`, one row per
draw.  Draw ``i`` depends only on ``(seed, i)`` for Monte Carlo and Sobol sampling
(and on ``n`` too for a Latin hypercube), never on how the draws are chunked.

File formats and formulas: ``docs/parameters.md``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from sim.errors import HtaError, suggest
from sim.params.distributions import MULTIVARIATE, check_args, check_name, make_distribution

__all__ = [
    "Parameter",
    "ParameterTable",
    "Draws",
    "Sampler",
    "read_parameter_table",
    "base_values",
    "METHODS",
    "BLOCK",
]

#: Sampling methods.
METHODS = ("mc", "lhs", "sobol")
#: Monte Carlo draws are generated in blocks of this many, block b from the stream
#: ``SeedSequence(seed, spawn_key=(b,))``: draw i is row i % BLOCK of block i // BLOCK.
BLOCK = 4096

COLUMNS = ("name", "value", "distribution", "args", "group", "unit", "description", "source")
_EPS = 2.0 ** -53


# ---------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Parameter:
    """One row of a parameter table."""

    name: str
    value: float
    distribution: str = "fixed"
    args: Mapping[str, Any] = field(default_factory=dict)
    group: str = ""
    unit: str = ""
    description: str = ""
    source: str = ""
    line: int = 0  # line in the source file (0 if built in Python)


def parse_args(text: str, where: str) -> dict[str, str]:
    """``"mean=0.2; se=0.05"`` -> ``{"mean": "0.2", "se": "0.05"}``."""
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


# ---------------------------------------------------------------------------- table
class ParameterTable:
    """An immutable, validated set of parameters with distributions and correlations.

    Parameters
    ----------
    parameters : sequence of Parameter
    correlations : mapping of (name_a, name_b) to float, optional
        Spearman rank correlations between univariate parameters, imposed through a
        Gaussian copula.
    base_dir : path, optional
        Folder that relative file names in ``args`` (empirical draws, covariance
        matrices) are resolved against.
    label : str
        Name of the table in error messages (its file name).
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

    # ------------------------------------------------------------ construction
    def _where(self, p: Parameter) -> str:
        return f"{self.label}, line {p.line}" if p.line else f"{self.label}, parameter {p.name!r}"

    def _file(self, name: str, where: str) -> Path:
        path = Path(name)
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.is_file():
            raise HtaError(f"{where}: file {name!r} not found (looked for {path})")
        return path

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
        self._multi = []
        for (dist, key), members in self._groups.items():
            where = f"{self.label}, group {key!r}"
            if dist == "dirichlet":
                counts = []
                for p in members:
                    c = _arg_number(p, "count", self._where(p))
                    if not (c > 0 and math.isfinite(c)):
                        raise HtaError(f"{self._where(p)}: Dirichlet count of {p.name!r} must be > 0, got {c!r}")
                    counts.append(c)
                if len(members) < 2:
                    raise HtaError(f"{where}: a Dirichlet needs at least 2 rows in its group")
                self._multi.append(("dirichlet", members, np.array(counts)))
            elif dist == "mvnormal":
                covs = {p.args["cov"] for p in members}
                if len(covs) != 1:
                    raise HtaError(f"{where}: all rows of a multivariate normal must name the same cov file")
                cov = self._read_cov(members, covs.pop(), where)
                means = np.array([_arg_number(p, "mean", self._where(p)) for p in members])
                try:
                    chol = np.linalg.cholesky(cov)
                except np.linalg.LinAlgError:
                    raise HtaError(
                        f"{where}: the covariance matrix of {', '.join(p.name for p in members)} is not "
                        f"positive definite; check its file"
                    ) from None
                self._multi.append(("mvnormal", members, (means, chol)))
            else:  # empirical: one file, rows drawn jointly
                files = {p.args["file"] for p in members}
                if len(files) != 1:
                    raise HtaError(f"{where}: rows of one empirical group must read the same file")
                fname = files.pop()
                path = self._file(fname, self._where(members[0]))
                try:
                    frame = pd.read_csv(path)
                except Exception as exc:
                    raise HtaError(f"{path}: cannot read as CSV: {exc}") from None
                cols = []
                for p in members:
                    col = p.args.get("column", p.name)
                    if col not in frame.columns:
                        raise HtaError(
                            f"{self._where(p)}: empirical draws file {fname!r} has no column {col!r}"
                            f"{suggest(col, frame.columns)}; its columns are {', '.join(map(str, frame.columns))}"
                        )
                    v = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
                    if not np.isfinite(v).all():
                        i = int(np.flatnonzero(~np.isfinite(v))[0])
                        raise HtaError(f"{path}, line {i + 2}: column {col!r} value {frame[col].iloc[i]!r} is not a finite number")
                    cols.append(v)
                if len(frame) == 0:
                    raise HtaError(f"{path}: empirical draws file has no rows")
                self._multi.append(("empirical", members, np.column_stack(cols)))
        self.n_slots = len(self._uni) + sum(
            1 if kind == "empirical" else len(members) for kind, members, _ in self._multi
        )

    def _read_cov(self, members, fname, where) -> np.ndarray:
        path = self._file(fname, self._where(members[0]))
        frame = pd.read_csv(path, index_col=0)
        names = [p.name for p in members]
        missing = [n for n in names if n not in frame.columns or n not in frame.index]
        if missing:
            raise HtaError(f"{path}: covariance matrix has no row/column for {missing}; label rows and columns by parameter name")
        cov = frame.loc[names, names].to_numpy(float)
        if not np.allclose(cov, cov.T):
            raise HtaError(f"{path}: covariance matrix is not symmetric")
        return cov

    def _check_correlations(self, corr: dict) -> dict:
        out = {}
        uni = {p.name for p, _ in self._uni}
        for key, rho in corr.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise HtaError(f"{self.label}: correlation key {key!r} must be a pair of parameter names")
            a, b = key
            for n in (a, b):
                if n not in self._by_name:
                    raise HtaError(f"{self.label}: correlation names unknown parameter {n!r}{suggest(n, self._by_name)}")
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
        self._copula = None
        if out:
            names = sorted({n for pair in out for n in pair}, key=[p.name for p, _ in self._uni].index)
            idx = {n: i for i, n in enumerate(names)}
            R = np.eye(len(names))
            for (a, b), rho in out.items():
                # Pearson correlation of normal scores giving Spearman rho: 2 sin(pi rho / 6)
                R[idx[a], idx[b]] = R[idx[b], idx[a]] = 2 * math.sin(math.pi * rho / 6)
            try:
                L = np.linalg.cholesky(R)
            except np.linalg.LinAlgError:
                w, v = np.linalg.eigh(R)
                worst = [names[i] for i in np.argsort(-np.abs(v[:, 0]))[:3]]
                raise HtaError(
                    f"{self.label}: the rank correlations between {', '.join(names)} do not form a "
                    f"positive definite matrix (smallest eigenvalue {w[0]:.3g}, driven mostly by "
                    f"{', '.join(worst)}); make them mutually consistent"
                ) from None
            cols = [i for i, (p, _) in enumerate(self._uni) if p.name in idx]
            self._copula = (np.array(cols), L)
        return out

    # ------------------------------------------------------------ reading
    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, correlations=None, base_dir=None,
                   label: str = "parameter table", first_line: int = 2) -> ParameterTable:
        """Build from a DataFrame with the columns of :data:`COLUMNS` (``name``,
        ``value`` and ``source`` required).
        """
        df = df.copy()
        df.columns = [str(c).strip().lower() for c in df.columns]
        missing = [c for c in ("name", "value", "source") if c not in df.columns]
        if missing:
            raise HtaError(
                f"{label}: missing column(s) {missing}; a parameter table needs columns name, value, "
                f"source (and optionally distribution, args, group, unit, description)"
            )
        unknown = [c for c in df.columns if c not in COLUMNS]
        if unknown:
            raise HtaError(f"{label}: unknown column {unknown[0]!r}{suggest(unknown[0], COLUMNS)}; columns are {', '.join(COLUMNS)}")
        params = []
        for i, row in enumerate(df.to_dict("records")):
            line = i + first_line
            get = lambda c: "" if c not in row or row[c] is None or (isinstance(row[c], float) and math.isnan(row[c])) else str(row[c]).strip()  # noqa: E731
            name = get("name")
            where = f"{label}, line {line}"
            try:
                value = float(get("value"))
            except ValueError:
                raise HtaError(f"{where}: parameter {name!r} has value {get('value')!r}, which is not a number") from None
            params.append(Parameter(
                name=name, value=value, distribution=get("distribution") or "fixed",
                args=parse_args(get("args"), where), group=get("group"), unit=get("unit"),
                description=get("description"), source=get("source"), line=line,
            ))
        return cls(params, correlations=correlations, base_dir=base_dir, label=label)

    @classmethod
    def read(cls, path: str | os.PathLike, *, correlations: str | os.PathLike | Mapping | None = None) -> ParameterTable:
        """Read a CSV or Excel (``.xlsx``) parameter table.

        An Excel workbook holds the table in its first sheet (or one named
        ``parameters``) and, optionally, rank correlations in a sheet named
        ``correlations`` with columns ``param_a, param_b, rho``.  For CSV, give the
        correlations as a second CSV file or a mapping.
        """
        p = Path(path)
        if not p.is_file():
            raise HtaError(f"parameter table {str(p)!r} not found")
        corr = correlations
        if p.suffix.lower() in (".xlsx", ".xlsm"):
            try:
                sheets = pd.read_excel(p, sheet_name=None, dtype=object)
            except Exception as exc:
                raise HtaError(f"{p}: cannot read as Excel: {exc}") from None
            df = sheets.get("parameters", next(iter(sheets.values())))
            if corr is None and "correlations" in sheets:
                corr = _correlations_from_frame(sheets["correlations"], f"{p}, sheet correlations")
        else:
            try:
                df = pd.read_csv(p, dtype=str, keep_default_na=False, comment=None)
            except Exception as exc:
                raise HtaError(f"{p}: cannot read as CSV: {exc}") from None
        if isinstance(corr, (str, os.PathLike)):
            cp = Path(corr)
            if not cp.is_file():
                raise HtaError(f"correlations file {str(cp)!r} not found")
            corr = _correlations_from_frame(pd.read_csv(cp), str(cp))
        return cls.from_frame(df, correlations=corr, base_dir=p.parent, label=str(p))

    # ------------------------------------------------------------ views
    @property
    def names(self) -> list[str]:
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
        """The table as a DataFrame with the columns of :data:`COLUMNS`."""
        rows = []
        for p in self.parameters:
            rows.append({
                "name": p.name, "value": p.value, "distribution": p.distribution,
                "args": "; ".join(f"{k}={v}" for k, v in p.args.items()), "group": p.group,
                "unit": p.unit, "description": p.description, "source": p.source,
            })
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._by_name[name]
        except KeyError:
            raise HtaError(f"{self.label}: no parameter {name!r}{suggest(name, self._by_name)}") from None

    def __len__(self) -> int:
        return len(self.parameters)

    def __repr__(self) -> str:
        return f"ParameterTable({self.label!r}: {len(self)} parameters, {len(self.random_names)} random)"

    # ------------------------------------------------------------ sampling
    def sampler(self, n: int, seed: int, method: str = "mc") -> Sampler:
        """A :class:`Sampler` that produces any range of the ``n`` draws."""
        return Sampler(self, n, seed, method)

    def draw(self, n: int, seed: int, method: str = "mc") -> Draws:
        """All ``n`` draws (see :class:`Sampler`)."""
        return self.sampler(n, seed, method).draws(0, n)

    def transform(self, u: np.ndarray) -> pd.DataFrame:
        """Map uniforms ``u`` (rows = draws, ``n_slots`` columns) to parameter values by
        inversion (used for Latin hypercube and Sobol sampling).
        """
        return pd.DataFrame(self._values(u.shape[0], _Inverse(np.clip(u, _EPS, 1 - _EPS))),
                            columns=self.names, copy=False)

    def generate(self, gen: np.random.Generator, m: int) -> pd.DataFrame:
        """``m`` Monte Carlo draws from a numpy generator, sampling each distribution
        directly (inversion only where a copula or a truncation needs it).
        """
        return pd.DataFrame(self._values(m, _Direct(gen, m)), columns=self.names, copy=False)

    def _values(self, m: int, src) -> dict[str, np.ndarray]:
        out = {p.name: np.full(m, float(p.value)) for p in self.parameters}
        corr_cols, uc = (), None
        if self._copula is not None:
            corr_cols, L = self._copula
            uc = stats.norm.cdf(_rowwise(src.normals(len(corr_cols)), L))
        pos = {int(c): i for i, c in enumerate(corr_cols)}
        for j, (p, dist) in enumerate(self._uni):
            out[p.name] = dist.ppf(uc[:, pos[j]]) if j in pos else src.univariate(dist)
        for kind, members, data in self._multi:
            k = len(members)
            if kind == "dirichlet":
                g = src.gammas(data)
                g /= g.sum(axis=1, keepdims=True)
                cols = g.T
            elif kind == "mvnormal":
                means, chol = data
                cols = (means + _rowwise(src.normals(k), chol)).T
            else:
                cols = data[src.rows(data.shape[0])].T
            for i, p in enumerate(members):
                out[p.name] = cols[i]
        return out


def _rowwise(z: np.ndarray, L: np.ndarray) -> np.ndarray:
    """``z @ L.T`` computed row by row, so a draw's value does not depend on how many
    rows are transformed together (BLAS blocking would change the last bits).
    """
    return (z[:, None, :] * L[None, :, :]).sum(axis=-1)


class _Inverse:
    """Values by inversion of given uniforms, consumed column by column."""

    def __init__(self, u: np.ndarray):
        self.u, self.col = u, 0

    def _take(self, k: int) -> np.ndarray:
        block = self.u[:, self.col:self.col + k]
        self.col += k
        return block

    def normals(self, k):
        return stats.norm.ppf(self._take(k))

    def univariate(self, dist):
        return dist.ppf(self._take(1)[:, 0])

    def gammas(self, shapes):
        return stats.gamma.ppf(self._take(len(shapes)), shapes)

    def rows(self, n_rows):
        return np.minimum((self._take(1)[:, 0] * n_rows).astype(np.int64), n_rows - 1)


_PARSED: dict[int, tuple] = {}


def _parsed(dist) -> tuple:
    """(name, shapes, loc, scale) of a frozen scipy distribution, cached by identity."""
    key = id(dist)
    hit = _PARSED.get(key)
    if hit is None or hit[0] is not dist:
        shapes, loc, scale = dist.dist._parse_args(*dist.args, **dist.kwds)
        hit = _PARSED[key] = (dist, dist.dist.name, shapes, loc, scale)
    return hit[1:]


class _Direct:
    """Values sampled directly with numpy's generator (fast path of Monte Carlo)."""

    def __init__(self, gen: np.random.Generator, m: int):
        self.gen, self.m = gen, m

    def normals(self, k):
        return self.gen.standard_normal((self.m, k))

    def univariate(self, dist):
        g, m = self.gen, self.m
        name, shapes, loc, scale = _parsed(dist)
        if name == "norm":
            return g.normal(loc, scale, m)
        if name == "lognorm":
            return loc + g.lognormal(np.log(scale), shapes[0], m)
        if name == "beta":
            return loc + scale * g.beta(shapes[0], shapes[1], m)
        if name == "gamma":
            return loc + g.gamma(shapes[0], scale, m)
        if name == "uniform":
            return g.uniform(loc, loc + scale, m)
        if name == "triang":
            return g.triangular(loc, loc + shapes[0] * scale, loc + scale, m)
        return dist.ppf(np.clip(g.random(m), _EPS, 1 - _EPS))  # e.g. truncated normal

    def gammas(self, shapes):
        return self.gen.gamma(shapes, size=(self.m, len(shapes)))

    def rows(self, n_rows):
        return self.gen.integers(0, n_rows, self.m)


def _arg_number(p: Parameter, key: str, where: str) -> float:
    try:
        return float(p.args[key])
    except (TypeError, ValueError):
        raise HtaError(f"{where}: argument {key}={p.args[key]!r} of {p.name!r} is not a number") from None


def _correlations_from_frame(df: pd.DataFrame, label: str) -> dict:
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


# ---------------------------------------------------------------------------- draws
@dataclass(frozen=True)
class Draws:
    """Parameter draws: ``frame`` has one row per draw and one column per parameter.

    ``ids`` are the draw numbers (0-based positions in the full sample); ``seed``
    and ``method`` say how they were made.
    """

    frame: pd.DataFrame
    ids: np.ndarray
    seed: int | None = None
    method: str = "given"

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, seed=None) -> Draws:
        """Wrap externally made draws (e.g. MCMC output): one column per parameter."""
        return cls(frame.reset_index(drop=True), np.arange(len(frame)), seed, "given")


class Sampler:
    """Draws ``lo:hi`` of an ``n``-draw sample, identical whatever the chunking.

    * ``"mc"``: draws made in blocks of :data:`BLOCK`, block ``b`` sampled directly
      (numpy's samplers, in table order) from the stream
      ``SeedSequence(seed, spawn_key=(b,))``: draw ``i`` depends only on ``(seed, i)``.
    * ``"sobol"``: scrambled Sobol points (scipy), point ``i`` of the sequence seeded
      with ``seed``; depends only on ``(seed, i)``. Balance needs ``n`` a power of 2.
    * ``"lhs"``: a Latin hypercube of ``n`` points (scipy), made once; draw ``i``
      depends on ``(seed, n, i)``.
    """

    def __init__(self, table: ParameterTable, n: int, seed: int, method: str = "mc"):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise HtaError(f"number of draws {n!r} must be a whole number >= 1")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise HtaError(f"seed {seed!r} must be a whole number >= 0")
        if method == "sobol" and n & (n - 1):
            warnings.warn(f"Sobol sampling with n = {n}: balance needs a power of 2 (e.g. {1 << int(n).bit_length()})",
                          stacklevel=3)
        if method not in METHODS:
            raise HtaError(f"unknown sampling method {method!r}{suggest(method, METHODS)}; choose one of {', '.join(METHODS)}")
        self.table, self.n, self.seed, self.method = table, int(n), int(seed), method
        self._lhs = None
        if method == "lhs" and table.n_slots:
            self._lhs = qmc.LatinHypercube(d=table.n_slots, rng=np.random.default_rng(self.seed)).random(self.n)

    def uniforms(self, lo: int, hi: int) -> np.ndarray:
        """Uniforms of draws ``lo:hi``, shape ``(hi - lo, n_slots)``."""
        if not 0 <= lo <= hi <= self.n:
            raise HtaError(f"draw range {lo}:{hi} is outside 0:{self.n}")
        k = self.table.n_slots
        if k == 0:
            return np.empty((hi - lo, 0))
        if self.method == "lhs":
            return self._lhs[lo:hi]
        if self.method == "sobol":
            eng = qmc.Sobol(d=k, scramble=True, rng=np.random.default_rng(self.seed))
            if lo:
                eng.fast_forward(lo)
            with warnings.catch_warnings():  # balance needs n = 2^m overall, not per chunk
                warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
                return eng.random(hi - lo)
        raise HtaError("Monte Carlo draws come from draws(), not from uniforms")

    def arrays(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Parameter values of draws ``lo:hi``, one array per parameter."""
        if not 0 <= lo <= hi <= self.n:
            raise HtaError(f"draw range {lo}:{hi} is outside 0:{self.n}")
        if self.method != "mc":
            return self.table._values(hi - lo, _Inverse(np.clip(self.uniforms(lo, hi), _EPS, 1 - _EPS)))
        cols = {name: np.empty(hi - lo) for name in self.table.names}

        def fill(b: int) -> None:
            gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(b,))))
            block = self.table._values(BLOCK, _Direct(gen, BLOCK))
            a, z = max(lo, b * BLOCK), min(hi, (b + 1) * BLOCK)
            for name, col in cols.items():
                col[a - lo:z - lo] = block[name][a - b * BLOCK:z - b * BLOCK]

        blocks = range(lo // BLOCK, -(-hi // BLOCK))
        if len(blocks) > 1 and _threads() > 1:
            # blocks are independent streams written to disjoint rows, and numpy's samplers
            # release the GIL: the same numbers whichever thread draws a block, in any order
            list(_pool().map(fill, blocks))
        else:
            for b in blocks:
                fill(b)
        return cols

    def draws(self, lo: int, hi: int) -> Draws:
        """Parameter values of draws ``lo:hi`` as :class:`Draws`."""
        frame = pd.DataFrame(self.arrays(lo, hi), columns=self.table.names, copy=False)
        return Draws(frame, np.arange(lo, hi), self.seed, self.method)


_POOL: dict = {}  # process id -> thread pool (a forked child makes its own)


def _threads() -> int:
    """Threads sampling blocks of draws at once: ``HTA_SIM_SAMPLING_THREADS``, else the
    number of CPUs (at most 8); 1 when ``HTA_SIM_PARALLEL=0``.
    """
    from sim._config import PARALLEL

    if not PARALLEL:
        return 1
    env = os.environ.get("HTA_SIM_SAMPLING_THREADS", "")
    return max(1, int(env)) if env.strip().isdigit() else min(8, os.cpu_count() or 1)


def _pool():
    """A process-wide thread pool for sampling, made on first use."""
    pid = os.getpid()
    if pid not in _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.clear()
        _POOL[pid] = ThreadPoolExecutor(_threads(), thread_name_prefix="hta-sim-sampling")
    return _POOL[pid]


# ---------------------------------------------------------------------------- helpers
def read_parameter_table(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read and check a parameter table; return it as a DataFrame (see :data:`COLUMNS`)."""
    if isinstance(source, pd.DataFrame):
        table = ParameterTable.from_frame(source)
    else:
        table = ParameterTable.read(source)
    return table.to_frame()


def base_values(table: pd.DataFrame | ParameterTable) -> dict[str, float]:
    """``{name: value}`` of a parameter table."""
    if isinstance(table, ParameterTable):
        return table.base
    return dict(zip(table["name"], table["value"].astype(float)))
