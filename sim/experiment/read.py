"""Reading an experiment file: TOML in, a checked, frozen :class:`~sim.experiment.spec.Experiment` out.

:func:`read_experiment` parses the file with :mod:`tomllib` and reads each table with
a small reader of its own, checking every key and value; errors read
``FILE:LINE: message`` (unknown keys suggest the closest valid one). Nothing in an
experiment file is executed: the model is a ready model's name or the importable
name ``package.module:function`` of a function ``build(parameters) -> Model``.
:func:`sim.experiment.load` then imports the model and checks the names the file uses.

The format (every table and key, its type and default) is in the README, section
*Experiment files*; the runner's semantics in ``docs/experiments.md``.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from sim.errors import HtaError, suggest
from sim.experiment.spec import (
    OUTCOMES,
    SCHEMA,
    TOP_LEVEL,
    EVPPISpec,
    Execution,
    Experiment,
    OneWaySpec,
    PSASpec,
    Scenario,
    ThresholdSpec,
    TwoWaySpec,
)
from sim.experiment.tomlcheck import Locator, Reader, tname, typed
from sim.params.sampling import METHODS

__all__ = ["read_experiment"]


def read_experiment(path: str | os.PathLike) -> Experiment:
    """Parse and check an experiment file.

    Parameters
    ----------
    path : str or path-like
        The ``.toml`` file.

    Returns
    -------
    Experiment

    Raises
    ------
    HtaError
        ``FILE:LINE: message`` for malformed TOML, unknown keys, wrong types, bad values.
    """
    file = Path(path)
    text, data = _parse(file)
    top = Reader(data, (), file, Locator(text), valid=TOP_LEVEL)
    head = _top_level(top)
    execution = _execution(top)
    scenario = _scenario(top)
    wtp, wtp_threshold = _wtp(top)
    base_case = _base_case(top)
    psa = _psa(top)
    one_way = _one_way(top)
    two_way = _two_way(top)
    thresholds = _thresholds(top)
    evpi, population = _evpi(top, psa)
    evppi = _evppi(top, psa)
    sweep, sweep_draws = _sweep(top, psa)
    units = _units(top)
    patients = _patients(top)
    top.finish()
    folder = file.parent
    return Experiment(
        path=file, title=head["title"], model=head["model"],
        parameters=(folder / head["parameters"]) if head["parameters"] else None, seed=head["seed"],
        output=Path(os.path.normpath(folder / head["output"])), effect=head["effect"], wtp=wtp,
        wtp_threshold=wtp_threshold, scenario=scenario, base_case=base_case, psa=psa, one_way=one_way,
        two_way=two_way, thresholds=thresholds, evpi=evpi, evppi=evppi, sweep=sweep, sweep_draws=sweep_draws,
        execution=execution, defaults=head["defaults"], units=units, utility_max=head["utility_max"],
        evpi_population=population,
        locator=top.loc, data=data, patients=patients,
    )


#: Most points of a willingness-to-pay grid, and most scenarios of a sweep (checked before either is built).
MAX_WTP = 100_000
MAX_SCENARIOS = 100_000

#: Deepest nesting of tables and arrays an experiment file may have (the format needs 4).
MAX_DEPTH = 16


def _parse(file: Path) -> tuple[str, dict]:
    """The file's text and its TOML document."""
    if file.is_dir():
        raise HtaError(f"{file}:1: is a folder, not an experiment file; give the .toml file in it")
    if not file.is_file():
        raise HtaError(f"{file}:1: experiment file not found; check the path (see 'hta-sim list')")
    try:
        raw = file.read_bytes()
        text = raw.decode("utf-8-sig")  # a byte-order mark is an encoding mark, not content
    except OSError as exc:
        raise HtaError(f"{file}:1: cannot read the file: {exc}") from None
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise HtaError(f"{file}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); an experiment file is TOML, "
                       f"saved as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise HtaError(f"{file}:1: malformed TOML: arrays or tables nested too deep to read; an experiment "
                       f"file needs at most {MAX_DEPTH} levels") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)|\(at end of document\)", msg)
        line = int(m.group(1)) if m and m.group(1) else (len(text.splitlines()) or 1)
        msg = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
        raise HtaError(f"{file}:{line}: malformed TOML: {msg}") from None
    depth = _depth(data)
    if depth > MAX_DEPTH:
        raise HtaError(f"{file}:1: arrays or tables nested {depth} levels deep; an experiment file needs at most "
                       f"{MAX_DEPTH} (see the README, Experiment files)")
    return text, data



def _depth(value) -> int:
    """Nesting depth of a parsed TOML value, without recursion (a hostile file may nest thousands deep)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _table(top: Reader, name: str) -> Reader | None:
    """A reader of the top-level table ``name`` (keys of :data:`SCHEMA`), or None if the file has none."""
    if name not in top.data:
        return None
    return Reader(top.get(name, "table"), (name,), top.file, top.loc, valid=tuple(SCHEMA[name]))


# ---------------------------------------------------------------------------- top level
def _top_level(top: Reader) -> dict[str, Any]:
    """``title, model, parameters, defaults, seed, output, effect`` of the top level."""
    stem = top.file.stem
    out = {"title": top.get("title", "str", stem), "model": top.get("model", "str", required=True)}
    if not re.fullmatch(r"[A-Za-z_]\w*|[A-Za-z_][\w.]*:[A-Za-z_]\w*", out["model"]):
        raise top.err("model", f"model {out['model']!r} must be a ready model's name (see 'hta-sim list') or "
                               f"an importable 'package.module:function'")
    out["parameters"] = top.get("parameters", "str")
    defaults = out["defaults"] = top.get("defaults", "str")
    if defaults is not None and defaults != "model":
        raise top.err("defaults", f"defaults {defaults!r}: the only choice is defaults = \"model\" (parameters "
                                  f"missing from the table take the model's values); or remove the key")
    out["utility_max"] = _utility_max(top)
    out["seed"] = top.get("seed", "int0", required=True)
    out["output"] = top.get("output", "str", f"results/{stem}")
    effect = out["effect"] = top.get("effect", "str")
    if effect is not None and effect not in ("qaly", "ly"):
        raise top.err("effect", f"effect {effect!r}{suggest(effect, ('qaly', 'ly'))}; choose qaly or ly")
    return out


def _units(top: Reader) -> dict[str, Any]:
    """``[units]``: the currency, price year and effect unit the outputs show (replacing the model's)."""
    r = _table(top, "units")
    if r is None:
        return {}
    out = {k: r.get(k, kind) for k, kind in (("currency", "str"), ("price_year", "int"), ("effect_unit", "str"))}
    r.finish()
    cur, year, unit = out["currency"], out["price_year"], out["effect_unit"]
    if cur is not None and not re.fullmatch(r"[A-Z]{3}", cur):
        raise r.err("currency", f"units.currency {cur!r} must be a three-letter ISO 4217 code such as \"USD\", "
                                f"\"GBP\" or \"EUR\"")
    if year is not None and not 1900 <= year <= 2100:
        raise r.err("price_year", f"units.price_year {year} must be a year between 1900 and 2100, such as 2023")
    if unit is not None and len(unit) > 40:
        raise r.err("effect_unit", "units.effect_unit must be a short name such as \"QALYs\" (at most 40 "
                                   "characters)")
    return {k: v for k, v in out.items() if v is not None}


def _utility_max(top: Reader) -> float | str | None:
    """``utility_max``: the largest state utility per year the model allows (a number > 0, or "none")."""
    raw = top.data.get("utility_max")
    if isinstance(raw, str):
        top.used.add("utility_max")
        if raw != "none":
            raise top.err("utility_max", f"utility_max {raw!r}: give a number (the largest state utility per year, "
                                         f"e.g. 1.2) or \"none\" (no bound: utilities are differences or another "
                                         f"scale)")
        return raw
    value = top.get("utility_max", "num")
    if value is not None and not value > 0:
        raise top.err("utility_max", f"utility_max {value!r} must be > 0 (the model's default is 1, full health); "
                                     f"or \"none\" for no bound")
    return value


def _execution(top: Reader) -> Execution:
    workers = top.get("workers", "int1", 2)
    top.used.add("execution")
    raw = top.data.get("execution", "serial")
    if isinstance(raw, str):
        if raw not in ("serial", "local"):
            raise top.err("execution", f"execution {raw!r}{suggest(raw, ('serial', 'local'))}; give \"serial\", "
                                       f"\"local\" or {{scheduler = \"tcp://host:8786\"}}")
        return Execution(raw, workers)
    if isinstance(raw, dict):
        r = Reader(raw, ("execution",), top.file, top.loc, valid=("scheduler",))
        address = r.get("scheduler", "str", required=True)
        r.finish()
        return Execution("scheduler", workers, address)
    raise top.err("execution", f"execution: expected \"serial\", \"local\" or {{scheduler = \"tcp://...\"}}, "
                               f"got {tname(raw)} {raw!r}")


def _scenario(top: Reader) -> dict[str, float]:
    """``[scenario]``: parameter values and settings that replace the base case."""
    if "scenario" not in top.data:
        return {}
    top.used.add("scenario")
    sr = Reader(top.get("scenario", "table"), ("scenario",), top.file, top.loc, valid=())
    return {k: sr.get(k, "num") for k in sr.data}


def _wtp(top: Reader) -> tuple[tuple[float, ...], float]:
    r = _table(top, "wtp")
    if r is None:
        return tuple(float(x) for x in range(0, 50_001, 1000)), 20_000.0
    values = r.get("values", "nums")
    lo, hi, step = r.get("min", "num+", 0.0), r.get("max", "num", 50_000.0), r.get("step", "num", 1000.0)
    threshold = r.get("threshold", "num+", 20_000.0)
    if values is not None:
        if any(k in r.data for k in ("min", "max", "step")):
            raise r.err("values", "give wtp.values or wtp.min/max/step, not both")
        if any(v < 0 for v in values):
            raise r.err("values", "wtp.values must all be >= 0")
        grid = tuple(values)
    else:
        if step <= 0:
            raise r.err("step", f"wtp.step must be > 0, got {step:g}")
        if hi < lo:
            raise r.err("max", f"wtp.max {hi:g} is below wtp.min {lo:g}")
        k = math.floor((hi - lo) / step + 1e-9)
        if k + 1 > MAX_WTP:
            raise r.err("step", f"the willingness-to-pay grid wtp.min..wtp.max by wtp.step has {k + 1:,.0f} points, "
                                f"more than {MAX_WTP:,}; give a larger step")
        grid = tuple(lo + i * step for i in range(k + 1))
    r.finish()
    return grid, threshold


# ---------------------------------------------------------------------------- analyses
def _base_case(top: Reader) -> bool:
    r = _table(top, "base_case")
    if r is None:
        return True
    run = r.get("run", "bool", True)
    r.finish()
    return run


def _patients(top: Reader) -> int | None:
    """``[patients]``: inner patients per draw of a patient-level model."""
    r = _table(top, "patients")
    if r is None:
        return None
    n = r.get("n", "int1", required=True)
    r.finish()
    return n


def _psa(top: Reader) -> PSASpec | None:
    r = _table(top, "psa")
    if r is None:
        return None
    method = r.choice("method", METHODS, "mc")
    psa = PSASpec(draws=r.get("draws", "int2", required=True), method=method, chunk=r.get("chunk", "int1", 1000))
    r.finish()
    return psa


def _outcome(r: Reader) -> str:
    return r.choice("outcome", OUTCOMES, "inmb")


def _strategies(r: Reader) -> tuple[str | None, str | None]:
    return r.get("strategy", "str"), r.get("comparator", "str")


def _one_way(top: Reader) -> OneWaySpec | None:
    r = _table(top, "one_way")
    if r is None:
        return None
    file, loc = top.file, top.loc
    names = r.get("parameters", "strs")
    ranges = {}
    for k, v in (r.get("ranges", "table", {}) or {}).items():
        pair = typed(v, "nums", lambda m, k=k: HtaError(
            f"{file}:{loc.line(('one_way', 'ranges', k))}: one_way.ranges.{k}: {m}"))
        if len(pair) != 2 or pair[0] > pair[1]:
            raise HtaError(f"{file}:{loc.line(('one_way', 'ranges', k))}: one_way.ranges.{k} must be "
                           f"[low, high] with low <= high, got {list(pair)}")
        ranges[k] = (pair[0], pair[1])
    if names is not None and ranges:
        raise r.err("ranges", "give one_way.parameters (95 % intervals from the table) or one_way.ranges, "
                              "not both")
    one_way = OneWaySpec(names, ranges, _outcome(r), *_strategies(r))
    r.finish()
    return one_way


def _two_way(top: Reader) -> TwoWaySpec | None:
    r = _table(top, "two_way")
    if r is None:
        return None
    two_way = TwoWaySpec(r.get("x", "str", required=True), r.get("x_values", "nums", required=True),
                         r.get("y", "str", required=True), r.get("y_values", "nums", required=True),
                         _outcome(r), *_strategies(r))
    if two_way.x == two_way.y:
        raise r.err("y", f"two_way.x and two_way.y are both {two_way.x!r}; vary two different parameters")
    r.finish()
    return two_way


def _thresholds(top: Reader) -> tuple[ThresholdSpec, ...]:
    """``[threshold]`` (one table) or ``[[threshold]]`` (an array of tables)."""
    if "threshold" not in top.data:
        return ()
    items = top.data["threshold"]
    top.used.add("threshold")
    if isinstance(items, dict):
        items = [items]
        paths = [("threshold",)]
    elif isinstance(items, list) and all(isinstance(x, dict) for x in items):
        paths = [("threshold", i) for i in range(len(items))]
    else:
        raise top.err("threshold", f"threshold: expected a table [threshold] or tables [[threshold]], "
                                   f"got {tname(items)}")
    out = []
    for item, path in zip(items, paths, strict=True):
        r = Reader(item, path, top.file, top.loc, valid=tuple(SCHEMA["threshold"]))
        t = ThresholdSpec(r.get("parameter", "str", required=True), r.get("lower", "num", required=True),
                          r.get("upper", "num", required=True), *_strategies(r))
        if t.lower >= t.upper:
            raise r.err("upper", f"threshold.upper {t.upper:g} must be above threshold.lower {t.lower:g}")
        r.finish()
        out.append(t)
    return tuple(out)


def _evpi(top: Reader, psa: PSASpec | None) -> tuple[bool, tuple[float, int, float] | None]:
    r = _table(top, "evpi")
    if r is None:
        return psa is not None, None
    evpi = r.get("run", "bool", True)
    incidence = r.get("incidence", "num+", None)
    years = r.get("years", "int1", None, required=incidence is not None)
    discount = r.get("discount", "num+", 0.0)
    r.finish()
    if evpi and psa is None:
        raise r.err(None, "EVPI needs a PSA: add a [psa] table with draws = ...")
    if years is not None and incidence is None:
        raise r.err("years", "years needs incidence (people a year the decision concerns): add incidence = ...")
    if not 0 <= float(discount) < 1:
        raise r.err("discount", f"discount {discount!r} must be a yearly rate in [0, 1), e.g. 0.035")
    return evpi, (None if incidence is None else (float(incidence), int(years), float(discount)))


def _evppi(top: Reader, psa: PSASpec | None) -> EVPPISpec | None:
    r = _table(top, "evppi")
    if r is None:
        return None
    r.used.add("groups")
    if "groups" not in r.data:
        raise r.err(None, "missing key 'evppi.groups' (array of parameter names or arrays of names)")
    raw = r.data["groups"]
    if not isinstance(raw, list) or not raw:
        raise r.err("groups", f"evppi.groups: expected a non-empty array, got {tname(raw)} {raw!r}")
    groups = []
    for i, g in enumerate(raw):
        if isinstance(g, str):
            groups.append((g,))
        else:
            groups.append(typed(g, "strs", lambda m, i=i: r.err("groups", f"evppi.groups item {i + 1}: {m}")))
    method = r.get("method", "str", "gam")
    if method not in ("gam", "gp"):
        raise r.err("method", f"evppi.method {method!r}{suggest(method, ('gam', 'gp'))}; choose gam or gp")
    r.finish()
    if psa is None:
        raise r.err(None, "EVPPI needs a PSA: add a [psa] table with draws = ...")
    return EVPPISpec(tuple(groups), method)


# ---------------------------------------------------------------------------- sweeps
def _sweep(top: Reader, psa: PSASpec | None) -> tuple[tuple[Scenario, ...], int | None]:
    """``[sweep]``: the scenarios (a grid or a list) and the draws per scenario."""
    r = _table(top, "sweep")
    if r is None:
        return (), None
    draws = r.get("draws", "int2")
    grid = r.get("grid", "table")
    listed = r.data.get("scenarios")
    r.used.add("scenarios")
    r.finish()
    if (grid is None) == (listed is None):
        raise r.err(None, "a sweep needs either [sweep.grid] (values to combine) or [[sweep.scenarios]] "
                          "(a list of scenarios), not both and not neither")
    scenarios = _grid(r, grid) if grid is not None else _listed(r, listed)
    if draws is None and psa is None:
        raise HtaError(f"{top.file}:{top.loc.line(('sweep',))}: a sweep runs a PSA per scenario: give sweep.draws "
                       f"or a [psa] table")
    return scenarios, draws


def _grid(r: Reader, grid: dict) -> tuple[Scenario, ...]:
    """``[sweep.grid]``: every combination of the values, the first key varying slowest."""
    file, loc = r.file, r.loc
    axes = []
    for k, v in grid.items():
        vals = typed(v, "nums", lambda m, k=k: HtaError(f"{file}:{loc.line(('sweep', 'grid', k))}: "
                                                           f"sweep.grid.{k}: {m}"))
        axes.append((k, vals))
    if not axes:
        raise HtaError(f"{file}:{loc.line(('sweep', 'grid'))}: sweep.grid is empty; give name = [values]")
    size = math.prod(len(v) for _, v in axes)
    if size > MAX_SCENARIOS:
        raise HtaError(f"{file}:{loc.line(('sweep', 'grid'))}: sweep.grid combines "
                       f"{' x '.join(str(len(v)) for _, v in axes)} = {size:,} scenarios, more than {MAX_SCENARIOS:,} "
                       f"(each one a PSA); give fewer values, or split the sweep into several files")
    out = []
    for i, combo in enumerate(itertools.product(*[v for _, v in axes])):
        values = {k: x for (k, _), x in zip(axes, combo, strict=True)}
        out.append(Scenario(i, ", ".join(f"{k}={x:g}" for k, x in values.items()), values))
    return tuple(out)


def _listed(r: Reader, listed: Any) -> tuple[Scenario, ...]:
    """``[[sweep.scenarios]]``: named scenarios."""
    if not isinstance(listed, list) or not listed or not all(isinstance(x, dict) for x in listed):
        raise r.err("scenarios", "sweep.scenarios: expected tables [[sweep.scenarios]], "
                                 f"got {tname(listed)}")
    out = []
    names: set[str] = set()
    for i, item in enumerate(listed):
        sr = Reader(item, ("sweep", "scenarios", i), r.file, r.loc, valid=())
        name = sr.get("name", "str", f"scenario-{i + 1}")
        if name in names:
            raise sr.err("name", f"duplicate scenario name {name!r}")
        names.add(name)
        values = {k: sr.get(k, "num") for k in sr.data if k != "name"}
        out.append(Scenario(i, name, values))
    return tuple(out)
