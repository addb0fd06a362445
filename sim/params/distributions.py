"""Univariate distributions of parameter tables, built from their arguments.

Every distribution is a frozen :mod:`scipy.stats` distribution, sampled by
inversion (``ppf``) of uniforms, so that Monte Carlo, Latin hypercube and Sobol
sampling and the Gaussian copula all work the same way.  Formulas of the
method-of-moments fits: ``docs/parameters.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import stats

from sim.errors import HtaError, suggest

__all__ = [
    "UNIVARIATE", "MULTIVARIATE", "DISTRIBUTIONS", "DIRICHLET_SUM_TOLERANCE", "check_dirichlet_shares",
    "make_distribution",
]

Z975 = stats.norm.ppf(0.975)  # 1.959963984540054

#: Univariate distributions: name -> accepted argument sets.
UNIVARIATE: dict[str, list[tuple[str, ...]]] = {
    "fixed": [()],
    "normal": [("mean", "sd"), ("mean", "se"), ("ci_low", "ci_high")],
    "truncnormal": [("mean", "sd", "low", "high"), ("mean", "se", "low", "high"),
                    ("mean", "sd", "low"), ("mean", "se", "low"), ("mean", "sd", "high"),
                    ("mean", "se", "high")],
    "lognormal": [("meanlog", "sdlog"), ("mean", "se"), ("mean", "sd"), ("ci_low", "ci_high")],
    "beta": [("alpha", "beta"), ("mean", "se"), ("mean", "sd"), ("events", "n")],
    "gamma": [("shape", "scale"), ("shape", "rate"), ("mean", "se"), ("mean", "sd")],
    "uniform": [("low", "high")],
    "triangular": [("low", "mode", "high")],
    "pert": [("low", "mode", "high"), ("low", "mode", "high", "lambda")],
}
#: Distributions that tie several rows of a table together (``group`` column).
MULTIVARIATE: dict[str, list[tuple[str, ...]]] = {
    "dirichlet": [("count",)],
    "mvnormal": [("mean", "cov")],
    "empirical": [("file",), ("file", "column")],
}
DISTRIBUTIONS = {**UNIVARIATE, **MULTIVARIATE}


def check_name(dist: str, where: str) -> str:
    """The distribution name in lower case, or a clear error naming ``where``."""
    d = dist.strip().lower()
    if d not in DISTRIBUTIONS:
        raise HtaError(
            f"{where}: unknown distribution {dist!r}{suggest(d, DISTRIBUTIONS)}; choose one of "
            f"{', '.join(DISTRIBUTIONS)}"
        )
    return d


def check_args(dist: str, args: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The accepted argument set that ``args`` matches, or a clear error."""
    options = DISTRIBUTIONS[dist]
    keys = set(args)
    for opt in options:
        if keys == set(opt):
            return opt
    known = {k for opt in options for k in opt}
    unknown = sorted(keys - known)
    forms = " or ".join("(" + ", ".join(o) + ")" if o else "(no arguments)" for o in options)
    if unknown:
        raise HtaError(
            f"{where}: {dist} does not take argument {unknown[0]!r}{suggest(unknown[0], known)}; "
            f"give {forms}"
        )
    raise HtaError(f"{where}: {dist} needs {forms}; got ({', '.join(sorted(keys)) or 'nothing'})")


def _num(args, key, where) -> float:
    v = args[key]
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise HtaError(f"{where}: argument {key}={v!r} is not a number") from None
    if math.isnan(x):
        raise HtaError(f"{where}: argument {key} is NaN")
    return x


def _pos(x: float, what: str, where: str) -> float:
    if not (x > 0 and math.isfinite(x)):
        raise HtaError(f"{where}: {what} must be a positive finite number, got {x!r}")
    return x


def make_distribution(dist: str, args: Mapping[str, Any], where: str):
    """A frozen scipy distribution for a univariate parameter (``None`` for fixed)."""
    form = check_args(dist, args, where)
    a = {k: _num(args, k, where) for k in form}
    if dist == "fixed":
        return None
    if dist == "normal":
        if "ci_low" in a:
            lo, hi = a["ci_low"], a["ci_high"]
            if not hi > lo:
                raise HtaError(f"{where}: normal ci_high ({hi}) must exceed ci_low ({lo})")
            return stats.norm((lo + hi) / 2, (hi - lo) / (2 * Z975))
        sd = _pos(a.get("sd", a.get("se")), "sd/se", where)
        return stats.norm(a["mean"], sd)
    if dist == "truncnormal":
        sd = _pos(a.get("sd", a.get("se")), "sd/se", where)
        lo, hi = a.get("low", -math.inf), a.get("high", math.inf)
        if not hi > lo:
            raise HtaError(f"{where}: truncnormal high ({hi}) must exceed low ({lo})")
        m = a["mean"]
        return stats.truncnorm((lo - m) / sd, (hi - m) / sd, loc=m, scale=sd)
    if dist == "lognormal":
        if "meanlog" in a:
            return stats.lognorm(_pos(a["sdlog"], "sdlog", where), scale=math.exp(a["meanlog"]))
        if "ci_low" in a:
            lo, hi = _pos(a["ci_low"], "ci_low", where), _pos(a["ci_high"], "ci_high", where)
            if not hi > lo:
                raise HtaError(f"{where}: lognormal ci_high ({hi}) must exceed ci_low ({lo})")
            sdlog = (math.log(hi) - math.log(lo)) / (2 * Z975)
            return stats.lognorm(sdlog, scale=math.exp((math.log(hi) + math.log(lo)) / 2))
        m = a["mean"]
        se = _pos(a.get("se", a.get("sd")), "se", where)
        if not m > 0:
            raise HtaError(f"{where}: a lognormal needs mean > 0, got {m!r}; use normal for values that can be <= 0")
        s2 = math.log1p((se / m) ** 2)
        return stats.lognorm(math.sqrt(s2), scale=math.exp(math.log(m) - s2 / 2))
    if dist == "beta":
        if "alpha" in a:
            return stats.beta(_pos(a["alpha"], "alpha", where), _pos(a["beta"], "beta", where))
        if "events" in a:
            e, n = a["events"], a["n"]
            if not (0 < e < n):
                raise HtaError(f"{where}: beta from events={e:g} of n={n:g} needs 0 < events < n")
            return stats.beta(e, n - e)
        m, se = a["mean"], _pos(a.get("se", a.get("sd")), "se", where)
        if not 0 < m < 1:
            raise HtaError(f"{where}: a beta needs 0 < mean < 1, got {m!r}")
        if se ** 2 >= m * (1 - m):
            raise HtaError(
                f"{where}: impossible beta moments: se^2 = {se ** 2:.6g} must be below "
                f"mean(1 - mean) = {m * (1 - m):.6g}; lower the standard error or give alpha and beta"
            )
        k = m * (1 - m) / se ** 2 - 1
        return stats.beta(m * k, (1 - m) * k)
    if dist == "gamma":
        if "shape" in a:
            shape = _pos(a["shape"], "shape", where)
            scale = _pos(a["scale"], "scale", where) if "scale" in a else 1 / _pos(a["rate"], "rate", where)
            return stats.gamma(shape, scale=scale)
        m, se = a["mean"], _pos(a.get("se", a.get("sd")), "se", where)
        if not m > 0:
            raise HtaError(f"{where}: impossible gamma moments: mean must be > 0, got {m!r}")
        return stats.gamma((m / se) ** 2, scale=se ** 2 / m)
    if dist == "uniform":
        lo, hi = a["low"], a["high"]
        if not hi > lo:
            raise HtaError(f"{where}: uniform high ({hi}) must exceed low ({lo})")
        return stats.uniform(lo, hi - lo)
    if dist in ("triangular", "pert"):
        lo, mode, hi = a["low"], a["mode"], a["high"]
        if not (lo <= mode <= hi and hi > lo):
            raise HtaError(f"{where}: {dist} needs low <= mode <= high and low < high; got {lo}, {mode}, {hi}")
        if dist == "triangular":
            return stats.triang((mode - lo) / (hi - lo), loc=lo, scale=hi - lo)
        lam = _pos(a.get("lambda", 4.0), "lambda", where)
        return stats.beta(1 + lam * (mode - lo) / (hi - lo), 1 + lam * (hi - mode) / (hi - lo),
                          loc=lo, scale=hi - lo)
    raise AssertionError(dist)  # pragma: no cover


#: Tolerance of the sum of a Dirichlet group's base values (shares rounded in a table still pass).
DIRICHLET_SUM_TOLERANCE = 1e-3


def check_dirichlet_shares(members: Sequence, counts: Sequence[float], where: str) -> None:
    """Check that the base values of a Dirichlet group read from a table sum to 1.

    They are the shares of one distribution. Rows built in Python (``line`` 0) are
    not checked: their base values may be placeholders.

    Parameters
    ----------
    members : sequence of Parameter
        The group's rows (``name``, ``value``, ``line``).
    counts : sequence of float
        Their Dirichlet counts, for the suggested shares.
    where : str
        The table and group, for the message.
    """
    if not all(p.line for p in members):
        return
    total = math.fsum(float(p.value) for p in members)
    if abs(total - 1.0) <= DIRICHLET_SUM_TOLERANCE:
        return
    rows = ", ".join(f"{p.name} (line {p.line}) = {float(p.value):g}" for p in members)
    shares = ", ".join(f"{c / sum(counts):.4g}" for c in counts)
    raise HtaError(
        f"{where}: Dirichlet base values sum to {total:g}, not 1 ({rows}); they are the shares of one "
        f"distribution: give each row's share of the group, e.g. count / sum of counts ({shares})"
    )
