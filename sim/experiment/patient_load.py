"""Loading an experiment file of a ready patient-level model (one with a ``[patients]`` table).

A ready patient-level model is a module registered in the entry-point group
``hta_sim.patient_models`` (:data:`sim.experiment.registry.PATIENT_GROUP`) that sets
``PATIENT = True`` and provides ``build(values, **settings) -> {strategy: Pathway or
ManagedPathway}``, ``parameters()`` (its :class:`~sim.params.table.ParameterTable`),
``TITLE``, and optionally ``SETTINGS`` (model settings and their defaults),
``population(n, seed, values)``, ``arrivals(**settings)``, ``SUBGROUPS``,
``NUMBER_NEEDED``, ``EFFECT``, ``data_files()`` and the units constants
(``docs/experiments.md``, *Patient-level models*). :func:`load_patient` checks every
name the file uses against it (the ``[one_way]`` parameters too), each error at its
``FILE:LINE``; two-way and threshold analyses are refused, with the reason
(:data:`UNSUPPORTED`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from sim.errors import HtaError, suggest
from sim.experiment.registry import PATIENT_GROUP, load_ready
from sim.experiment.spec import Experiment
from sim.params.table import ParameterTable

__all__ = ["UNSUPPORTED", "PatientLoaded", "load_patient"]

#: Keys and tables of an experiment file that a patient-level run does not take (yet), with the reason.
UNSUPPORTED = {
    "parameters": "a patient-level run uses the ready model's own parameter table",
    "defaults": "a patient-level run uses the ready model's own parameter table",
    "utility_max": "the bound on utilities is checked by the patient-level model itself",
    "two_way": "a two-way grid of a patient-level model is nx * ny full simulations, each with Monte Carlo noise; "
               "run a [sweep] over the two parameters (a PSA per point, its noise stated) or a [one_way]",
    "threshold": "a threshold is found by bisection on an outcome that must be a smooth, monotone function of the "
                 "parameter, which a simulation with Monte Carlo noise is not (the threshold would move with the "
                 "seed); run a [sweep] over the parameter and read where the decision changes",
    "evppi": "EVPPI of a patient-level model is not available from an experiment file",
}


@dataclasses.dataclass(frozen=True)
class PatientLoaded:
    """An experiment of a patient-level model: its module, table and the settings of its base case.

    Attributes
    ----------
    experiment : Experiment
        The file, as read.
    module : module
        The ready model's module.
    ref : str
        The module's import name (workers import it by this name).
    table : ParameterTable
        The model's parameter table.
    effect : str
        ``"qaly"`` or ``"ly"``.
    title : str
        The experiment's title.
    sources : tuple of Path
        The files the results depend on (hashed in the manifest).
    settings : dict
        The model settings with ``[scenario]`` applied.
    fixed : dict
        Parameter values of ``[scenario]`` (held fixed in the PSA).
    """

    experiment: Experiment
    module: ModuleType
    ref: str
    table: ParameterTable
    effect: str
    title: str
    sources: tuple[Path, ...]
    settings: dict
    fixed: dict

    def split(self, values: Mapping[str, float] | None = None) -> tuple[dict, dict]:
        """``(settings, fixed parameters)`` of the base case with a scenario's ``values`` applied.

        Parameters
        ----------
        values : mapping of str to float, optional
            A sweep scenario's values.

        Returns
        -------
        (dict, dict)
        """
        settings, fixed = dict(self.settings), dict(self.fixed)
        for k, v in (values or {}).items():
            (settings if k in settings else fixed)[k] = float(v)
        return settings, fixed


def load_patient(exp: Experiment) -> PatientLoaded:
    """Find the ready patient-level model of an experiment file and check every name it uses.

    Parameters
    ----------
    exp : Experiment
        A file with a ``[patients]`` table, as read by :func:`sim.experiment.read_experiment`.

    Returns
    -------
    PatientLoaded

    Raises
    ------
    HtaError
        ``FILE:LINE: message`` at the key at fault.
    """
    for key, why in UNSUPPORTED.items():
        if key in exp.data:
            raise exp.error((key,), f"{key!r} does not apply to a patient-level model ([patients]): {why}; "
                                    f"remove it (docs/experiments.md, Patient-level models)")
    try:
        mod = load_ready(exp.model, PATIENT_GROUP)
    except HtaError as exc:
        raise exp.error(("model",), f"{exc}; a [patients] table needs a ready patient-level model") from None
    if getattr(mod, "PATIENT", False) is not True or not callable(getattr(mod, "build", None)):
        raise exp.error(("model",), f"module {mod.__name__!r} of {exp.model!r} does not declare PATIENT = True with "
                                    f"a build(values, **settings) function; it is not a patient-level model")
    table = mod.parameters()
    if not isinstance(table, ParameterTable):
        raise exp.error(("model",), f"parameters() of {exp.model!r} returned {type(table).__name__}, "
                                    f"not a sim.ParameterTable")
    defaults = {str(k): float(v) for k, v in dict(getattr(mod, "SETTINGS", {})).items()}
    known = [*table.names, *defaults]
    settings, fixed = dict(defaults), {}
    for k, v in exp.scenario.items():
        _check_name(exp, ("scenario", k), k, known)
        (settings if k in defaults else fixed)[k] = float(v)
    for s in exp.sweep:
        for k in s.values:
            _check_name(exp, _sweep_path(exp, k), k, known)
    if exp.one_way is not None:
        _check_one_way(exp, table)
    effect = exp.effect or getattr(mod, "EFFECT", "qaly")
    if effect not in ("qaly", "ly"):
        raise exp.error(("effect",), f"effect {effect!r}: a patient-level model reports \"qaly\" or \"ly\"")
    if not (exp.base_case or exp.psa or exp.sweep):
        raise exp.error(("patients",), "nothing to run: give [psa] draws, a [sweep], or leave [base_case] run on")
    files = [exp.path, *(Path(p) for p in (mod.data_files() if callable(getattr(mod, "data_files", None)) else ()))]
    if getattr(mod, "__file__", None):
        files.append(Path(mod.__file__))
    sources = tuple(dict.fromkeys(files))
    ld = PatientLoaded(exp, mod, mod.__name__, table, effect, exp.title, sources, settings, fixed)
    _check_builds(ld)
    return ld


def _check_one_way(exp: Experiment, table: ParameterTable) -> None:
    """``[one_way]`` names parameters of the table that have a distribution (or gives their ranges)."""
    from sim.decision.dsa import table_ranges

    spec, ranged = exp.one_way, table_ranges(table)
    for k in spec.ranges or {}:
        if k not in table.names:
            raise exp.error(("one_way", "ranges", k), f"{k!r} is not a parameter of patient-level model {exp.model!r}"
                                  f"{suggest(k, list(table.names))} (settings are varied by a [sweep])")
    for k in (spec.parameters or ()) if not spec.ranges else ():
        if k not in ranged:
            why = "is fixed (no distribution to take a range from: give one_way.ranges)" if k in table.names else \
                f"is not a parameter of patient-level model {exp.model!r}{suggest(k, list(table.names))}"
            raise exp.error(("one_way", "parameters"), f"one_way.parameters: {k!r} {why}")


def _check_name(exp: Experiment, path: tuple, name: str, known: list[str]) -> None:
    if name not in known:
        raise exp.error(path, f"{name!r} is neither a parameter nor a setting of patient-level model "
                              f"{exp.model!r}{suggest(name, known)}")


def _sweep_path(exp: Experiment, key: str) -> tuple:
    grid = ("sweep", "grid", key)
    return grid if exp.locator and grid in exp.locator.lines else ("sweep",)


def _check_builds(ld: PatientLoaded) -> None:
    """Build the model at the base case and once per distinct setting value of the sweep (errors located)."""
    exp = ld.experiment
    base = dict(ld.table.base)
    tried: list[tuple[tuple, dict[str, Any]]] = [(("scenario",) if exp.scenario else ("model",), {})]
    seen = set()
    for s in exp.sweep:
        for k, v in s.values.items():
            if k in ld.settings and (k, v) not in seen:
                seen.add((k, v))
                tried.append((_sweep_path(exp, k), {k: v}))
    for path, values in tried:
        settings, fixed = ld.split(values)
        bad = [k for k, v in settings.items() if not (v > 0 or v == 0) or math.isnan(v)]
        if bad:
            at = path if bad[0] in values else ("scenario", bad[0]) if bad[0] in exp.scenario else path
            raise exp.error(at, f"setting {bad[0]!r} must be a number >= 0")
        try:
            pathways = ld.module.build({**base, **fixed}, **settings)
        except (HtaError, ValueError) as exc:
            at = path if values or len(exp.scenario) != 1 else ("scenario", *exp.scenario)
            raise exp.error(at, f"building patient-level model {exp.model!r}: {exc}") from None
        if not isinstance(pathways, Mapping) or not pathways:
            raise exp.error(("model",), f"build() of {exp.model!r} returned {type(pathways).__name__}, not a "
                                        f"dict strategy -> Pathway or ManagedPathway")
