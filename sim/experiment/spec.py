"""What an experiment file describes: the schema of its tables and keys and the frozen spec objects.

:func:`sim.experiment.read_experiment` builds an :class:`Experiment` from a file;
:func:`sim.experiment.load` checks it against the model. The format (every table and
key, its type and default) is in the README, section *Experiment files*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import HtaError
from sim.experiment.tomlcheck import Locator

__all__ = [
    "OUTCOMES",
    "SCHEMA",
    "SETTINGS",
    "TOP_LEVEL",
    "EVPPISpec",
    "Execution",
    "Experiment",
    "OneWaySpec",
    "PSASpec",
    "Scenario",
    "ThresholdSpec",
    "TwoWaySpec",
    "fixed_parameters",
]

#: Model settings that a sweep or ``[scenario]`` may change (besides parameters).
SETTINGS = ("discount_costs", "discount_outcomes", "start_age")

#: Every table and key of an experiment file: ``{table: {key: (type, default)}}`` ("" is the top level).
SCHEMA: dict[str, dict[str, tuple[str, Any]]] = {
    "": {"title": ("string", "the file name"), "model": ("string", "required"),
         "parameters": ("string (path)", "the ready model's table"),
         "defaults": ("string: \"model\"", "none (every parameter in the table)"),
         "utility_max": ("number > 0 or \"none\"", "the model's (1)"), "seed": ("integer >= 0", "required"),
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
    "evpi": {"run": ("boolean", True), "incidence": ("number >= 0", "none: values per person"),
             "years": ("integer >= 1", "required with incidence"), "discount": ("number", 0)},
    "evppi": {"groups": ("array of strings or arrays of strings", "required"), "method": ("string", "gam")},
    "sweep": {"grid": ("table of arrays", "none"), "scenarios": ("array of tables", "none"),
              "draws": ("integer >= 2", "[psa] draws")},
    "sweep.scenarios": {"name": ("string", "scenario-<n>"), "<parameter or setting>": ("number", "none")},
    "patients": {"n": ("integer >= 1", "required (a patient-level model)")},
    "units": {"currency": ("string: ISO 4217 code", "the model's"), "price_year": ("integer", "the model's"),
              "effect_unit": ("string", "the model's, else QALYs or life-years")},
}
#: Keys and tables allowed at the top level of an experiment file.
TOP_LEVEL = tuple(SCHEMA[""]) + tuple(k for k in SCHEMA if k and "." not in k)
#: Outcomes a one-way or two-way analysis can report.
OUTCOMES = ("inmb", "icer", "nmb", "cost", "qaly", "ly")


def fixed_parameters(values: Mapping[str, float]) -> dict[str, float]:
    """The parameter values among scenario ``values`` (model settings left out), as floats.

    A PSA holds them at their value: their sampled columns are replaced after sampling.

    Parameters
    ----------
    values : mapping of str to float
        Parameter values and model settings (:data:`SETTINGS`) of a scenario.

    Returns
    -------
    dict of str to float
    """
    return {k: float(v) for k, v in values.items() if k not in SETTINGS}


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
    """Where tasks run.

    ``"serial"`` (in the process), ``"local"`` (a LocalCluster of ``workers``
    processes) or ``"scheduler"`` (an existing cluster at ``address``).
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
    defaults: str | None = None  # "model": parameters missing from the table take the model's defaults
    units: Mapping[str, Any] = field(default_factory=dict)  # [units]: currency, price_year, effect_unit given
    utility_max: float | str | None = None  # the model's bound on state utilities: a number, "none", None (the model's)
    patients: int | None = None  # [patients] n: inner patients per draw of a patient-level model (None: a cohort model)
    evpi_population: tuple[float, int, float] | None = None  # [evpi] incidence, years, discount (population EVPI)
    locator: Locator = field(compare=False, repr=False, default=None)
    data: Mapping = field(compare=False, repr=False, default_factory=dict)  # the parsed TOML document

    def where(self, *path) -> str:
        """``FILE:LINE`` of a key of the file.

        Parameters
        ----------
        *path : str or int
            The key's path (``"one_way", "ranges", "rr"``; an index for an array of tables).

        Returns
        -------
        str
        """
        return f"{self.path}:{self.locator.line(tuple(path)) if self.locator else 1}"

    def error(self, path: tuple, message: str) -> HtaError:
        """An :class:`~sim.errors.HtaError` reading ``FILE:LINE: message`` for the key at ``path``.

        Parameters
        ----------
        path : tuple
            The key's path, as for :meth:`where`.
        message : str
            What is wrong, and the fix. A message already located in this file (raised
            at a more precise key further down) is kept as it is.

        Returns
        -------
        HtaError
        """
        if message.startswith(f"{self.path}:"):
            return HtaError(message)
        return HtaError(f"{self.where(*path)}: {message}")

