"""Experiment files: what to run, described as data (TOML).

:func:`read_experiment` parses an experiment file with :mod:`tomllib` into a frozen
:class:`Experiment`, checking every key and value; errors read ``FILE:LINE: message``
(unknown keys suggest the closest valid one). Nothing in an experiment file is
executed: the model is a ready model's name or the importable name
``package.module:function`` of a function ``build(parameters) -> Model``.
:func:`load` then imports the model, reads the parameter table and checks the
names the file uses against them.

The format (every table and key, its type and default) is in the README,
section *Experiment files*; the runner's semantics in ``docs/experiments.md``.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import HtaError, suggest
from sim.experiment.tomlcheck import Locator, Reader, tname, typed
from sim.params.sampling import METHODS
from sim.params.table import ParameterTable

__all__ = [
    "SCHEMA",
    "SETTINGS",
    "EVPPISpec",
    "Execution",
    "Experiment",
    "Loaded",
    "OneWaySpec",
    "PSASpec",
    "Scenario",
    "ThresholdSpec",
    "TwoWaySpec",
    "load",
    "read_experiment",
]

#: Model settings that a sweep or ``[scenario]`` may change (besides parameters).
SETTINGS = ("discount_costs", "discount_outcomes", "start_age")

#: Every table and key of an experiment file: ``{table: {key: (type, default)}}`` ("" is the top level).
SCHEMA: dict[str, dict[str, tuple[str, Any]]] = {
    "": {"title": ("string", "the file name"), "model": ("string", "required"),
         "parameters": ("string (path)", "the ready model's table"), "seed": ("integer >= 0", "required"),
         "output": ("string (path)", "results/<file name>"), "effect": ("string", "the ready model's, else qaly"),
         "execution": ("string or table", "serial"), "workers": ("integer >= 1", 2)},
    "scenario": {"<parameter or setting>": ("number", "none")},
    "wtp": {"min": ("number >= 0", 0), "max": ("number", 50000), "step": ("number > 0", 1000),
            "values": ("array of numbers", "min..max by step"), "threshold": ("number >= 0", 20000)},
    "base_case": {"run": ("boolean", True)},
    "psa": {"draws": ("integer >= 2", "required"), "method": ("string", "mc"), "chunk": ("integer >= 1", 1000)},
    "one_way": {"parameters": ("array of strings", "every random parameter"),
                "ranges": ("table of [low, high]", "95 % intervals"), "outcome": ("string", "inmb"),
                "strategy": ("string", "the second strategy"), "comparator": ("string", "the first strategy")},
    "two_way": {"x": ("string", "required"), "x_values": ("array of numbers", "required"),
                "y": ("string", "required"), "y_values": ("array of numbers", "required"),
                "outcome": ("string", "inmb"), "strategy": ("string", "the second strategy"),
                "comparator": ("string", "the first strategy")},
    "threshold": {"parameter": ("string", "required"), "lower": ("number", "required"),
                  "upper": ("number", "required"), "strategy": ("string", "the second strategy"),
                  "comparator": ("string", "the first strategy")},
    "evpi": {"run": ("boolean", True)},
    "evppi": {"groups": ("array of strings or arrays of strings", "required"), "method": ("string", "gam")},
    "sweep": {"grid": ("table of arrays", "none"), "scenarios": ("array of tables", "none"),
              "draws": ("integer >= 2", "[psa] draws")},
    "sweep.scenarios": {"name": ("string", "scenario-<n>"), "<parameter or setting>": ("number", "none")},
}
_TOP = tuple(SCHEMA[""]) + tuple(k for k in SCHEMA if k and "." not in k)
_OUTCOMES = ("inmb", "icer", "nmb", "cost", "qaly", "ly")


# ---------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class PSASpec:
    """Probabilistic sensitivity analysis: ``draws`` draws sampled by ``method``, run ``chunk`` at a time."""

    draws: int
    method: str = "mc"
    chunk: int = 1000


@dataclass(frozen=True)
class OneWaySpec:
    """One-way DSA (tornado): ``ranges`` given, or every random parameter over its 95 % interval."""

    parameters: tuple[str, ...] | None = None
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    outcome: str = "inmb"
    strategy: str | None = None
    comparator: str | None = None


@dataclass(frozen=True)
class TwoWaySpec:
    """Two-way DSA on the grid ``x_values`` x ``y_values``."""

    x: str
    x_values: tuple[float, ...]
    y: str
    y_values: tuple[float, ...]
    outcome: str = "inmb"
    strategy: str | None = None
    comparator: str | None = None


@dataclass(frozen=True)
class ThresholdSpec:
    """The value of ``parameter`` in ``[lower, upper]`` at which the INMB is 0."""

    parameter: str
    lower: float
    upper: float
    strategy: str | None = None
    comparator: str | None = None


@dataclass(frozen=True)
class EVPPISpec:
    """EVPPI of parameters and groups of parameters (regression ``method``: gam or gp)."""

    groups: tuple[tuple[str, ...], ...]
    method: str = "gam"


@dataclass(frozen=True)
class Scenario:
    """One scenario of a sweep: parameter values and model settings that replace the base case."""

    index: int
    name: str
    values: Mapping[str, float]


@dataclass(frozen=True)
class Execution:
    """Where tasks run: ``"serial"``, ``"local"`` (a LocalCluster of ``workers`` processes) or
    ``"scheduler"`` (an existing cluster at ``address``).
    """

    mode: str = "serial"
    workers: int = 2
    address: str | None = None


@dataclass(frozen=True)
class Experiment:
    """A parsed, checked experiment file (paths resolved against its folder)."""

    path: Path
    title: str
    model: str
    parameters: Path | None
    seed: int
    output: Path
    effect: str | None
    wtp: tuple[float, ...]
    wtp_threshold: float
    scenario: Mapping[str, float]
    base_case: bool
    psa: PSASpec | None
    one_way: OneWaySpec | None
    two_way: TwoWaySpec | None
    thresholds: tuple[ThresholdSpec, ...]
    evpi: bool
    evppi: EVPPISpec | None
    sweep: tuple[Scenario, ...]
    sweep_draws: int | None
    execution: Execution
    locator: Locator = field(compare=False, repr=False, default=None)
    data: Mapping = field(compare=False, repr=False, default_factory=dict)  # the parsed TOML document

    def where(self, *path) -> str:
        """``FILE:LINE`` of a key of the file."""
        return f"{self.path}:{self.locator.line(tuple(path)) if self.locator else 1}"

    def error(self, path: tuple, message: str) -> HtaError:
        return HtaError(f"{self.where(*path)}: {message}")


# ---------------------------------------------------------------------------- parsing
def _strategies(r: Reader) -> tuple[str | None, str | None]:
    return r.get("strategy", "str"), r.get("comparator", "str")


def read_experiment(path: str | Path) -> Experiment:
    """Parse and check an experiment file.

    Parameters
    ----------
    path : str or Path
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
    if not file.is_file():
        raise HtaError(f"{file}:1: experiment file not found; check the path (see 'hta-sim list')")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HtaError(f"{file}:1: cannot read the file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)|\(at end of document\)", msg)
        line = int(m.group(1)) if m and m.group(1) else (len(text.splitlines()) or 1)
        msg = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
        raise HtaError(f"{file}:{line}: malformed TOML: {msg}") from None
    loc = Locator(text)
    folder = file.parent
    top = Reader(data, (), file, loc, valid=_TOP)

    title = top.get("title", "str", file.stem)
    model = top.get("model", "str", required=True)
    if not re.fullmatch(r"[A-Za-z_]\w*|[A-Za-z_][\w.]*:[A-Za-z_]\w*", model):
        raise top.err("model", f"model {model!r} must be a ready model's name (see 'hta-sim list') or "
                               f"an importable 'package.module:function'")
    params = top.get("parameters", "str")
    seed = top.get("seed", "int0", required=True)
    output = top.get("output", "str", f"results/{file.stem}")
    effect = top.get("effect", "str")
    if effect is not None and effect not in ("qaly", "ly"):
        raise top.err("effect", f"effect {effect!r}{suggest(effect, ('qaly', 'ly'))}; choose qaly or ly")
    execution = _execution(top)

    # scenario overrides
    scenario = {}
    if "scenario" in data:
        top.used.add("scenario")
        sr = Reader(top.get("scenario", "table"), ("scenario",), file, loc, valid=())
        scenario = {k: sr.get(k, "num") for k in sr.data}

    wtp, wtp_threshold = _wtp(top, data, file, loc)

    base_case = True
    if "base_case" in data:
        r = Reader(top.get("base_case", "table"), ("base_case",), file, loc, valid=tuple(SCHEMA["base_case"]))
        base_case = r.get("run", "bool", True)
        r.finish()

    psa = None
    if "psa" in data:
        r = Reader(top.get("psa", "table"), ("psa",), file, loc, valid=tuple(SCHEMA["psa"]))
        method = r.get("method", "str", "mc")
        if method not in METHODS:
            raise r.err("method", f"psa.method {method!r}{suggest(method, METHODS)}; choose one of "
                                  f"{', '.join(METHODS)}")
        psa = PSASpec(draws=r.get("draws", "int2", required=True), method=method, chunk=r.get("chunk", "int1", 1000))
        r.finish()

    one_way = None
    if "one_way" in data:
        r = Reader(top.get("one_way", "table"), ("one_way",), file, loc, valid=tuple(SCHEMA["one_way"]))
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

    two_way = None
    if "two_way" in data:
        r = Reader(top.get("two_way", "table"), ("two_way",), file, loc, valid=tuple(SCHEMA["two_way"]))
        two_way = TwoWaySpec(r.get("x", "str", required=True), r.get("x_values", "nums", required=True),
                             r.get("y", "str", required=True), r.get("y_values", "nums", required=True),
                             _outcome(r), *_strategies(r))
        if two_way.x == two_way.y:
            raise r.err("y", f"two_way.x and two_way.y are both {two_way.x!r}; vary two different parameters")
        r.finish()

    thresholds = []
    if "threshold" in data:
        items = data["threshold"]
        top.used.add("threshold")
        if isinstance(items, dict):
            items = [items]
            tpaths = [("threshold",)]
        elif isinstance(items, list) and all(isinstance(x, dict) for x in items):
            tpaths = [("threshold", i) for i in range(len(items))]
        else:
            raise top.err("threshold", f"threshold: expected a table [threshold] or tables [[threshold]], "
                                       f"got {tname(items)}")
        for item, tp in zip(items, tpaths):
            r = Reader(item, tp, file, loc, valid=tuple(SCHEMA["threshold"]))
            t = ThresholdSpec(r.get("parameter", "str", required=True), r.get("lower", "num", required=True),
                              r.get("upper", "num", required=True), *_strategies(r))
            if t.lower >= t.upper:
                raise r.err("upper", f"threshold.upper {t.upper:g} must be above threshold.lower {t.lower:g}")
            r.finish()
            thresholds.append(t)

    evpi = psa is not None
    if "evpi" in data:
        r = Reader(top.get("evpi", "table"), ("evpi",), file, loc, valid=tuple(SCHEMA["evpi"]))
        evpi = r.get("run", "bool", True)
        r.finish()
        if evpi and psa is None:
            raise r.err(None, "EVPI needs a PSA: add a [psa] table with draws = ...")

    evppi = None
    if "evppi" in data:
        r = Reader(top.get("evppi", "table"), ("evppi",), file, loc, valid=tuple(SCHEMA["evppi"]))
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
        evppi = EVPPISpec(tuple(groups), method)

    sweep, sweep_draws = (), None
    if "sweep" in data:
        sweep, sweep_draws = _sweep(top, file, loc)
        if sweep_draws is None and psa is None:
            raise HtaError(f"{file}:{loc.line(('sweep',))}: a sweep runs a PSA per scenario: give sweep.draws "
                           f"or a [psa] table")

    top.finish()
    return Experiment(
        path=file, title=title, model=model, parameters=(folder / params) if params else None, seed=seed,
        output=Path(os.path.normpath(folder / output)), effect=effect, wtp=wtp, wtp_threshold=wtp_threshold, scenario=scenario,
        base_case=base_case, psa=psa, one_way=one_way, two_way=two_way, thresholds=tuple(thresholds),
        evpi=evpi, evppi=evppi, sweep=sweep, sweep_draws=sweep_draws, execution=execution, locator=loc,
        data=data,
    )


def _outcome(r: Reader) -> str:
    out = r.get("outcome", "str", "inmb")
    if out not in _OUTCOMES:
        raise r.err("outcome", f"{r.name('outcome')} {out!r}{suggest(out, _OUTCOMES)}; choose one of "
                               f"{', '.join(_OUTCOMES)}")
    return out


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


def _wtp(top: Reader, data: Mapping, file: Path, loc: Locator) -> tuple[tuple[float, ...], float]:
    if "wtp" not in data:
        return tuple(float(x) for x in range(0, 50_001, 1000)), 20_000.0
    r = Reader(top.get("wtp", "table"), ("wtp",), file, loc, valid=tuple(SCHEMA["wtp"]))
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
        grid = tuple(lo + i * step for i in range(k + 1))
    r.finish()
    return grid, threshold


def _sweep(top: Reader, file: Path, loc: Locator) -> tuple[tuple[Scenario, ...], int | None]:
    r = Reader(top.get("sweep", "table"), ("sweep",), file, loc, valid=tuple(SCHEMA["sweep"]))
    draws = r.get("draws", "int2")
    grid = r.get("grid", "table")
    listed = r.data.get("scenarios")
    r.used.add("scenarios")
    r.finish()
    if (grid is None) == (listed is None):
        raise r.err(None, "a sweep needs either [sweep.grid] (values to combine) or [[sweep.scenarios]] "
                          "(a list of scenarios), not both and not neither")
    out: list[Scenario] = []
    if grid is not None:
        axes = []
        for k, v in grid.items():
            vals = typed(v, "nums", lambda m, k=k: HtaError(f"{file}:{loc.line(('sweep', 'grid', k))}: "
                                                               f"sweep.grid.{k}: {m}"))
            axes.append((k, vals))
        if not axes:
            raise HtaError(f"{file}:{loc.line(('sweep', 'grid'))}: sweep.grid is empty; give name = [values]")
        import itertools

        for i, combo in enumerate(itertools.product(*[v for _, v in axes])):
            values = {k: x for (k, _), x in zip(axes, combo)}
            out.append(Scenario(i, ", ".join(f"{k}={x:g}" for k, x in values.items()), values))
    else:
        if not isinstance(listed, list) or not listed or not all(isinstance(x, dict) for x in listed):
            raise r.err("scenarios", "sweep.scenarios: expected tables [[sweep.scenarios]], "
                                     f"got {tname(listed)}")
        names: set[str] = set()
        for i, item in enumerate(listed):
            sr = Reader(item, ("sweep", "scenarios", i), file, loc, valid=())
            name = sr.get("name", "str", f"scenario-{i + 1}")
            if name in names:
                raise sr.err("name", f"duplicate scenario name {name!r}")
            names.add(name)
            values = {k: sr.get(k, "num") for k in sr.data if k != "name"}
            out.append(Scenario(i, name, values))
    return tuple(out), draws


# ---------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class Loaded:
    """An experiment with its model builder and parameter table, names checked."""

    experiment: Experiment
    build: Any  # build(parameters: dict) -> Model
    table: ParameterTable
    effect: str
    title: str
    sources: tuple[Path, ...]  # files the results depend on (hashed in the manifest)

    def model(self, values: Mapping[str, float] | None = None):
        """The model with the table's base case, ``[scenario]`` and ``values`` applied."""
        import dataclasses

        params = dict(self.table.base)
        settings = {}
        for k, v in {**self.experiment.scenario, **(values or {})}.items():
            (settings if k in SETTINGS else params).__setitem__(k, v)
        model = self.build(params)
        return dataclasses.replace(model, **settings) if settings else model


def _resolve_model(exp: Experiment):
    """``(build, module, ready)`` for the experiment's model reference."""
    import cohorts

    ref = exp.model
    if ":" not in ref:
        if ref not in cohorts.READY:
            raise exp.error(("model",), f"no ready model {ref!r}{suggest(ref, cohorts.READY)}; ready models: "
                                        f"{', '.join(cohorts.READY)}")
        mod = cohorts.load(ref)
        return mod.build, mod, True
    modname, func = ref.split(":")
    try:
        mod = importlib.import_module(modname)
    except ImportError as exc:
        raise exp.error(("model",), f"cannot import module {modname!r} of model {ref!r} ({exc}); install it "
                                    f"or put it on PYTHONPATH") from None
    build = getattr(mod, func, None)
    if not callable(build):
        raise exp.error(("model",), f"module {modname!r} has no function {func!r}"
                                    f"{suggest(func, [n for n in dir(mod) if not n.startswith('_')])}")
    return build, mod, False


def load(exp: Experiment) -> Loaded:
    """Import the model, read the parameter table and check every name the experiment uses.

    Returns
    -------
    Loaded
    """
    from sim.model.spec import Model

    build, mod, ready = _resolve_model(exp)
    if exp.parameters is not None:
        if not exp.parameters.is_file():
            raise exp.error(("parameters",), f"parameter table {str(exp.parameters)!r} not found (paths are "
                                             f"relative to the experiment file)")
        table = ParameterTable.read(exp.parameters)
    elif ready:
        csv = Path(mod.__file__).parent / "parameters.csv"
        table = (ParameterTable.read(csv) if csv.is_file()  # relative file names in args resolve beside it
                 else ParameterTable.from_frame(mod.parameter_table(), label=f"{exp.model} parameter table"))
    else:
        raise exp.error(("model",), f"model {exp.model!r} is not a ready model: give its parameter table, "
                                    f"parameters = \"table.csv\"")
    try:
        model = build(dict(table.base))
    except HtaError as exc:
        raise exp.error(("model",), f"building model {exp.model!r} with the parameter table failed: {exc}") from None
    if not isinstance(model, Model):
        raise exp.error(("model",), f"{exp.model!r} returned {type(model).__name__}, not a sim.Model")
    unknown = [n for n in table.names if n not in model.parameters]
    if unknown:
        raise exp.error(("parameters",), f"{table.label}: parameter {unknown[0]!r} is not a parameter of model "
                                         f"{model.name!r}{suggest(unknown[0], model.parameters)}")
    effect = exp.effect or getattr(mod, "EFFECT", "qaly")
    known = list(table.names)
    grouped = {p.name for p in table.parameters if p.group}

    def check_param(path, name, what="parameter", settings=False, fixed_ok=True):
        if settings and name in SETTINGS:
            return
        if name not in model.parameters:
            extra = f" or a setting ({', '.join(SETTINGS)})" if settings else ""
            raise exp.error(path, f"{what} {name!r} is not a parameter of model {model.name!r}"
                                  f"{suggest(name, known + (list(SETTINGS) if settings else []))}; use a name "
                                  f"from {table.label}{extra}")
        if settings and name in grouped:
            raise exp.error(path, f"{name!r} is a member of group {table[name].group!r} ({table[name].distribution})"
                                  f" and cannot be set alone; vary the group's rows in the parameter table")

    for k in exp.scenario:
        check_param(("scenario", k), k, settings=True)
    for s in exp.sweep:
        for k in s.values:
            path = ("sweep", "grid", k) if exp.locator and ("sweep", "grid", k) in exp.locator.lines \
                else ("sweep", "scenarios", s.index, k)
            check_param(path, k, settings=True)
    strategies = list(model.strategies)

    def check_strats(path, spec):
        for role in ("strategy", "comparator"):
            s = getattr(spec, role)
            if s is not None and s not in strategies:
                raise exp.error(path + (role,), f"{role} {s!r} is not a strategy of model {model.name!r}"
                                                f"{suggest(s, strategies)}; strategies: {', '.join(strategies)}")
        if (spec.strategy is None or spec.comparator is None) and len(strategies) != 2:
            raise exp.error(path, f"model {model.name!r} has {len(strategies)} strategies: give strategy and "
                                  f"comparator")

    if exp.one_way:
        check_strats(("one_way",), exp.one_way)
        for n in exp.one_way.parameters or ():
            check_param(("one_way", "parameters"), n)
        for n in exp.one_way.ranges:
            check_param(("one_way", "ranges", n), n)
        if exp.one_way.parameters:
            rnd = set(table.random_names) - {p.name for p in table.parameters if p.distribution == "dirichlet"}
            fixed = [n for n in exp.one_way.parameters if n not in rnd]
            if fixed:
                raise exp.error(("one_way", "parameters"), f"parameter {fixed[0]!r} is fixed or a Dirichlet share in "
                                                           f"{table.label}: it has no 95 % interval; give "
                                                           f"one_way.ranges = {{{fixed[0]} = [low, high]}}")
        elif not exp.one_way.ranges:
            rnd = [n for n in table.random_names if table[n].distribution != "dirichlet"]
            if not rnd:
                raise exp.error(("one_way",), f"{table.label} has no random (non-Dirichlet) parameter to vary; "
                                              f"give one_way.ranges")
    if exp.two_way:
        check_strats(("two_way",), exp.two_way)
        check_param(("two_way", "x"), exp.two_way.x)
        check_param(("two_way", "y"), exp.two_way.y)
    for i, t in enumerate(exp.thresholds):
        path = ("threshold", i) if len(exp.thresholds) > 1 or (exp.locator and ("threshold", 0) in exp.locator.lines) \
            else ("threshold",)
        check_strats(path, t)
        check_param(path + ("parameter",), t.parameter)
    if exp.evppi:
        for g in exp.evppi.groups:
            for n in g:
                check_param(("evppi", "groups"), n)
    if (exp.psa or exp.sweep) and not table.random_names:
        raise exp.error(("psa",) if exp.psa else ("sweep",),
                        f"{table.label} has no random parameter (every row fixed): a PSA needs distributions; "
                        f"give parameters = \"a table with distribution and args columns\"")
    sources = [exp.path]
    if exp.parameters is not None:
        sources.append(exp.parameters)
    modfile = getattr(mod, "__file__", None)
    if modfile:
        mp = Path(modfile)
        sources += sorted(mp.parent.glob("*.csv")) if mp.name == "__init__.py" else []
        sources.append(mp)
    return Loaded(exp, build, table, effect, exp.title, tuple(dict.fromkeys(sources)))
