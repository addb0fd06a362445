"""Loading an experiment: its model and parameter table, with every name the file uses checked.

:func:`load` finds the model (a ready model through :mod:`sim.experiment.registry`, or
``package.module:function`` by :mod:`importlib`), takes the parameter table (the
file's ``parameters``, or the ready model's own ``parameters()``), builds the model
with the table's base case and checks every parameter and strategy name the
experiment uses against them. The files the results depend on (hashed in the
manifest) are the experiment file, its parameter table, the model's module and the
data files the module declares (``data_files()``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from sim.errors import HtaError, suggest
from sim.experiment.plausible import bounded, check_scenario_values, check_utilities
from sim.experiment.registry import BUILDERS, load_ready, registered_builders
from sim.experiment.spec import SETTINGS, Experiment, Scenario
from sim.model.builder import is_model_builder
from sim.params.table import ParameterTable

__all__ = ["Loaded", "load"]


@dataclasses.dataclass(frozen=True)
class Loaded:
    """An experiment with its model builder and parameter table, names checked.

    Attributes
    ----------
    experiment : Experiment
        The experiment file, as read.
    build : callable
        ``build(parameters: dict) -> Model``.
    table : ParameterTable
        The parameter table of the run.
    effect : str
        The effect measure (``"qaly"`` or ``"ly"``).
    title : str
        The experiment's title.
    sources : tuple of Path
        The files the results depend on (hashed in the manifest).
    defaulted : tuple of str
        The model's parameters missing from the table that took the model's defaults
        (only with ``defaults = "model"``).
    """

    experiment: Experiment
    build: Any  # build(parameters: dict) -> Model
    table: ParameterTable
    effect: str
    title: str
    sources: tuple[Path, ...]
    defaulted: tuple[str, ...] = ()

    def model(self, values: Mapping[str, float] | None = None):
        """The model with the table's base case, ``[scenario]`` and ``values`` applied.

        Parameters
        ----------
        values : mapping of str to float, optional
            Parameter values and model settings (:data:`~sim.experiment.spec.SETTINGS`)
            of a scenario; they replace those of the base case and ``[scenario]``.

        Returns
        -------
        Model
        """
        params = dict(self.table.base)
        settings = {}
        for k, v in {**self.experiment.scenario, **(values or {})}.items():
            (settings if k in SETTINGS else params).__setitem__(k, v)
        model = bounded(self.experiment, self.build(params))
        if not settings:
            return model
        try:
            return dataclasses.replace(model, **settings)
        except HtaError:
            for k, v in settings.items():  # find the setting at fault and report it at its key
                try:
                    dataclasses.replace(model, **{k: v})
                except HtaError as exc:
                    raise self.experiment.error(self._setting_path(k, values), str(exc)) from None
            raise

    def _setting_path(self, key: str, values: Mapping[str, float] | None) -> tuple:
        """The experiment-file key that gave the setting ``key`` (a sweep's, else ``[scenario]``'s)."""
        exp = self.experiment
        if values and key in values:
            grid = ("sweep", "grid", key)
            if exp.locator and grid in exp.locator.lines:
                return grid
            return ("sweep",)
        return ("scenario", key)


def load(exp: Experiment) -> Loaded:
    """Find the model, take the parameter table and check every name the experiment uses.

    Nothing is called before it is known to build a model: a ``package.module:function``
    must be declared a model builder (``@sim.model_builder`` or the entry-point group
    ``hta_sim.builders``); a ready model's table is checked against the parameters the
    model declares before the model is built.

    Parameters
    ----------
    exp : Experiment
        An experiment file as read by :func:`sim.experiment.read_experiment`.

    Returns
    -------
    Loaded

    Raises
    ------
    HtaError
        ``FILE:LINE: message`` at the key that names an unknown model, parameter, setting or strategy.
    """
    from sim.model.spec import Model
    from sim.psm.spec import PartitionedSurvival

    build, mod, ready = _resolve_model(exp)
    table = _table(exp, mod, ready)
    defaulted: tuple[str, ...] = ()
    if ready:
        table, defaulted = _account(exp, mod, table)
        _check_names(exp, _Known(exp.model, table.names), table)
    try:
        model = build(dict(table.base))
    except HtaError as exc:
        raise exp.error(("model",), f"building model {exp.model!r} with {table.label} failed: {exc}") from None
    except KeyError as exc:  # the builder looked up a parameter the table lacks
        key = exc.args[0] if exc.args else None
        if not isinstance(key, str) or key in table.names:
            raise
        raise exp.error(("parameters",), f"model {exp.model!r} needs parameter {key!r}, which {table.label} lacks"
                                         f"{suggest(key, table.names)}; add its row") from None
    if not isinstance(model, (Model, PartitionedSurvival)):
        raise exp.error(("model",), f"{exp.model!r} returned {type(model).__name__}, not a sim.Model or a "
                                    f"sim.psm.PartitionedSurvival")
    if isinstance(model, Model):
        model = bounded(exp, model)
    elif exp.utility_max is not None:
        raise exp.error(("utility_max",), "utility_max applies to a sim.Model (a Markov cohort model); a "
                                          "partitioned survival model takes its utilities as given")
    unknown = [n for n in table.names if n not in model.parameters]
    if unknown:
        raise exp.error(("parameters",), f"{table.label}: parameter {unknown[0]!r} is not a parameter of model "
                                         f"{model.name!r}{suggest(unknown[0], model.parameters)}")
    if not ready:
        missing = tuple(n for n in model.parameters if n not in table.names)
        if missing and exp.defaults != "model":
            raise _missing_error(exp, table, model.name, missing)
        defaulted = missing
    _check_names(exp, model, table)
    check_utilities(exp, model, table)
    exp = _apply_settings(exp, mod if ready else None, model)
    effect = exp.effect or getattr(mod, "EFFECT", "qaly")
    loaded = Loaded(exp, build, table, effect, exp.title, _sources(exp, mod), defaulted)
    _check_settings(loaded)
    return loaded


def _check_settings(ld: Loaded) -> None:
    """Every model setting of ``[scenario]`` and of the sweep is applied once, and the PSA's size checked.

    So ``hta-sim validate`` reports what a run would refuse.
    """
    from sim.cohort.psa import check_psa_size

    model, exp = ld.model(), ld.experiment
    check_scenario_values(ld, model)
    for path, n in ((("psa", "draws"), exp.psa.draws if exp.psa else None), (("sweep", "draws"), exp.sweep_draws)):
        if n:
            try:
                check_psa_size(model, ld.table, n)
            except HtaError as exc:
                raise exp.error(path if exp.locator and path in exp.locator.lines else ("psa", "draws"),
                                str(exc)) from None
    seen = set()
    for s in ld.experiment.sweep:
        for k, v in s.values.items():
            if k in SETTINGS and (k, v) not in seen:
                seen.add((k, v))
                ld.model({k: v})


# ---------------------------------------------------------------------------- model and table
def _resolve_model(exp: Experiment) -> tuple[Callable, ModuleType, bool]:
    """``(build, module, ready)`` for the experiment's model reference; nothing of the module is called."""
    ref = exp.model
    if ":" not in ref:
        try:
            mod = load_ready(ref)
        except HtaError as exc:
            raise exp.error(("model",), str(exc)) from None
        return mod.build, mod, True
    modname, func = ref.split(":")
    how = (f"decorate the function with @sim.model_builder, or register it in the entry-point group {BUILDERS!r}; "
           f"or name a ready model (hta-sim list)")
    if modname.split(".")[0] in sys.stdlib_module_names:
        raise exp.error(("model",), f"model {ref!r} names a module of Python's standard library, which builds no "
                                    f"model; it was not imported. {how}")
    registered = ref in registered_builders()
    try:
        mod = importlib.import_module(modname)
    except ImportError as exc:
        raise exp.error(("model",), f"cannot import module {modname!r} of model {ref!r} ({exc}); install it "
                                    f"or put it on PYTHONPATH") from None
    build = inspect.getattr_static(mod, func, None)
    if build is None:
        raise exp.error(("model",), f"module {modname!r} has no function {func!r}"
                                    f"{suggest(func, [n for n in dir(mod) if not n.startswith('_')])}")
    if not (registered or is_model_builder(build)):
        raise exp.error(("model",), f"{ref!r} is not declared a model builder, so it is not called: {how}")
    return build, mod, False


def _table(exp: Experiment, mod: ModuleType, ready: bool) -> ParameterTable:
    """The experiment's ``parameters`` table, or the ready model's own ``parameters()``."""
    if exp.parameters is not None:
        if exp.parameters.is_dir():
            raise exp.error(("parameters",), f"parameter table {str(exp.parameters)!r} is a folder; give the "
                                             f".csv or .xlsx file")
        if not exp.parameters.is_file():
            raise exp.error(("parameters",), f"parameter table {str(exp.parameters)!r} not found (paths are "
                                             f"relative to the experiment file)")
        return ParameterTable.read(exp.parameters)
    if not ready:
        raise exp.error(("model",), f"model {exp.model!r} is not a ready model: give its parameter table, "
                                    f"parameters = \"table.csv\"")
    provide = getattr(mod, "parameters", None)
    if not callable(provide):
        raise exp.error(("model",), f"ready model {exp.model!r} (module {mod.__name__!r}) has no function "
                                    f"parameters() returning its ParameterTable; give parameters = \"table.csv\"")
    try:
        table = provide()
    except HtaError as exc:
        raise exp.error(("model",), f"the parameter table of ready model {exp.model!r}: {exc}") from None
    if not isinstance(table, ParameterTable):
        raise exp.error(("model",), f"parameters() of ready model {exp.model!r} returned {type(table).__name__}, "
                                    f"not a sim.ParameterTable")
    return table


def _account(exp: Experiment, mod: ModuleType, table: ParameterTable) -> tuple[ParameterTable, tuple[str, ...]]:
    """A ready model's table holds exactly the model's declared parameters (or opts in to its defaults).

    The declared parameters are the names of the model's own ``parameters()`` table and
    its ``OPTIONAL_PARAMETERS`` (names a table may give that the model does not need,
    such as the complement of a Dirichlet group). Returns the table of the run (with
    the model's rows for missing names under ``defaults = "model"``) and those names.
    """
    if exp.parameters is None:
        return table, ()
    own = mod.parameters()
    declared = list(own.names) + [n for n in getattr(mod, "OPTIONAL_PARAMETERS", ()) if n not in own.names]
    unknown = [n for n in table.names if n not in declared]
    if unknown:
        raise exp.error(("parameters",), f"{table.label}: parameter {unknown[0]!r} is not a parameter of model "
                                         f"{exp.model!r}{suggest(unknown[0], declared)}; the model's parameters: "
                                         f"hta-sim info {exp.model}")
    missing = tuple(n for n in own.names if n not in table.names)
    if not missing:
        return table, ()
    if exp.defaults != "model":
        raise _missing_error(exp, table, exp.model, missing)
    rows = tuple(table.parameters) + tuple(own[n] for n in missing)
    merged = ParameterTable(rows, correlations=table.correlations, base_dir=table.base_dir, label=table.label)
    return merged, missing


def _missing_error(exp: Experiment, table: ParameterTable, model: str, missing) -> HtaError:
    """The error for parameters of the model that the table lacks."""
    return exp.error(("parameters",), f"{table.label} lacks {len(missing)} parameter(s) of model {model!r}: "
                                      f"{', '.join(missing)}; add their rows, or set defaults = \"model\" to take "
                                      f"the model's values for them")


@dataclasses.dataclass(frozen=True)
class _Known:
    """The names a ready model declares, for checking an experiment before the model is built."""

    name: str
    parameters: tuple[str, ...]
    strategies: tuple[str, ...] | None = None


def _apply_settings(exp: Experiment, mod: ModuleType | None, model) -> Experiment:
    """Check the settings the experiment changes against the model's; map those the model takes as parameters.

    A ready model lists the settings it supports in ``SETTINGS``: ``{setting: None}``
    when the setting is the :class:`~sim.Model` field of that name, ``{setting:
    "parameter"}`` when the model reads it from a parameter (``start_age`` of a model
    whose age is a parameter). Without ``SETTINGS``, the discount rates are supported
    and ``start_age`` only if the model has a ``start_age``.
    """
    if mod is not None and hasattr(mod, "SETTINGS"):
        supported = dict(mod.SETTINGS)
    else:
        supported = {"discount_costs": None, "discount_outcomes": None}
        if getattr(model, "start_age", None) is not None:
            supported["start_age"] = None

    def mapped(path: tuple, values) -> dict:
        out = {}
        for k, v in values.items():
            if k in SETTINGS:
                if k not in supported:
                    raise exp.error(path + (k,), f"setting {k!r} does not apply to model {exp.model!r} (it would "
                                                 f"change nothing); settings it supports: "
                                                 f"{', '.join(supported) or 'none'}")
                k = supported[k] or k
            out[k] = v
        return out

    scenario = mapped(("scenario",), exp.scenario)
    grid = bool(exp.locator and exp.sweep and any(("sweep", "grid", k) in exp.locator.lines
                                                   for k in exp.sweep[0].values))
    sweep = tuple(Scenario(s.index, s.name, mapped(("sweep", "grid") if grid else ("sweep", "scenarios", s.index),
                                                   s.values)) for s in exp.sweep)
    if scenario == dict(exp.scenario) and all(a.values == b.values for a, b in zip(sweep, exp.sweep, strict=True)):
        return exp
    return dataclasses.replace(exp, scenario=scenario, sweep=sweep)


def _sources(exp: Experiment, mod: ModuleType) -> tuple[Path, ...]:
    """The files the results depend on: the experiment, its table, the module and its declared data files."""
    sources = [exp.path]
    if exp.parameters is not None:
        sources.append(exp.parameters)
    declared = getattr(mod, "data_files", None)
    if callable(declared):
        sources += [Path(p) for p in declared()]
    if getattr(mod, "__file__", None):
        sources.append(Path(mod.__file__))
    return tuple(dict.fromkeys(sources))


# ---------------------------------------------------------------------------- names
def _check_names(exp: Experiment, model, table: ParameterTable) -> None:
    """Every parameter and strategy name the experiment uses is the model's (and settable)."""
    check = _ParamCheck(exp, model, table)
    for k in exp.scenario:
        check(("scenario", k), k, settings=True)
    for s in exp.sweep:
        for k in s.values:
            path = ("sweep", "grid", k) if exp.locator and ("sweep", "grid", k) in exp.locator.lines \
                else ("sweep", "scenarios", s.index, k)
            check(path, k, settings=True)
    if exp.one_way:
        _check_strategies(exp, model, ("one_way",), exp.one_way)
        _check_one_way(exp, table, check)
    if exp.two_way:
        _check_strategies(exp, model, ("two_way",), exp.two_way)
        check(("two_way", "x"), exp.two_way.x)
        check(("two_way", "y"), exp.two_way.y)
    for i, t in enumerate(exp.thresholds):
        path = ("threshold", i) if len(exp.thresholds) > 1 or (exp.locator and ("threshold", 0) in exp.locator.lines) \
            else ("threshold",)
        _check_strategies(exp, model, path, t)
        check(path + ("parameter",), t.parameter)
    if exp.evppi:
        for g in exp.evppi.groups:
            for n in g:
                check(("evppi", "groups"), n)
    if (exp.psa or exp.sweep) and not table.random_names:
        raise exp.error(("psa",) if exp.psa else ("sweep",),
                        f"{table.label} has no random parameter (every row fixed): a PSA needs distributions; "
                        f"give parameters = \"a table with distribution and args columns\"")


class _ParamCheck:
    """Checks that a name is a parameter of the model (or, where allowed, a setting) that can be set alone."""

    def __init__(self, exp: Experiment, model, table: ParameterTable):
        self.exp, self.model, self.table = exp, model, table
        self.known = list(table.names)
        self.grouped = {p.name for p in table.parameters if p.group}

    def __call__(self, path: tuple, name: str, settings: bool = False) -> None:
        if settings and name in SETTINGS:
            return
        table = self.table
        if name not in self.model.parameters:
            extra = f" or a setting ({', '.join(SETTINGS)})" if settings else ""
            raise self.exp.error(path, f"parameter {name!r} is not a parameter of model {self.model.name!r}"
                                       f"{suggest(name, self.known + (list(SETTINGS) if settings else []))}; use a "
                                       f"name from {table.label}{extra}")
        if settings and name in self.grouped:
            raise self.exp.error(path, f"{name!r} is a member of group {table[name].group!r} "
                                       f"({table[name].distribution}) and cannot be set alone; vary the group's rows "
                                       f"in the parameter table")


def _check_strategies(exp: Experiment, model, path: tuple, spec) -> None:
    """``strategy`` and ``comparator`` of an analysis are strategies of the model (needed unless it has two)."""
    if model.strategies is None:  # checked once the model is built
        return
    strategies = list(model.strategies)
    for role in ("strategy", "comparator"):
        s = getattr(spec, role)
        if s is not None and s not in strategies:
            raise exp.error(path + (role,), f"{role} {s!r} is not a strategy of model {model.name!r}"
                                            f"{suggest(s, strategies)}; strategies: {', '.join(strategies)}")
    if (spec.strategy is None or spec.comparator is None) and len(strategies) != 2:
        raise exp.error(path, f"model {model.name!r} has {len(strategies)} strategies: give strategy and "
                              f"comparator")


def _check_one_way(exp: Experiment, table: ParameterTable, check: _ParamCheck) -> None:
    """``[one_way]`` names parameters of the model; those without ``ranges`` need a 95 % interval."""
    spec = exp.one_way
    for n in spec.parameters or ():
        check(("one_way", "parameters"), n)
    for n in spec.ranges:
        check(("one_way", "ranges", n), n)
    if spec.parameters:
        rnd = set(table.random_names) - {p.name for p in table.parameters if p.distribution == "dirichlet"}
        fixed = [n for n in spec.parameters if n not in rnd]
        if fixed:
            raise exp.error(("one_way", "parameters"), f"parameter {fixed[0]!r} is fixed or a Dirichlet share in "
                                                       f"{table.label}: it has no 95 % interval; give "
                                                       f"one_way.ranges = {{{fixed[0]} = [low, high]}}")
    elif not spec.ranges:
        rnd = [n for n in table.random_names if table[n].distribution != "dirichlet"]
        if not rnd:
            raise exp.error(("one_way",), f"{table.label} has no random (non-Dirichlet) parameter to vary; "
                                          f"give one_way.ranges")
