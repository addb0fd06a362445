"""The registry of ready models: an entry-point group any installed package can add to.

The library knows no model catalogue. A ready model is a module that a distribution
registers in the entry-point group :data:`GROUP` of its metadata, e.g. in its
``pyproject.toml``::

    [project.entry-points."hta_sim.models"]
    my_model = "my_package.my_model"

hta-sim's own ready models (package ``cohorts``) are registered the same way, so they
are found once the distribution is installed (``pip install .`` or ``pip install -e .``).
What a ready model's module provides is listed in ``docs/experiments.md`` (*Ready
models*): ``build``, ``parameters()``, ``TITLE``, and optionally ``EFFECT`` and
``data_files()``, ``SETTINGS`` and ``OPTIONAL_PARAMETERS``.

A function that builds a model may be registered the same way in the group
:data:`BUILDERS` (``my_builder = "my_package.models:build"``), or decorated with
``@sim.model_builder``; an experiment file can name no other function.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sim.errors import HtaError, suggest

__all__ = ["BUILDERS", "GROUP", "PATIENT_GROUP", "load_ready", "patient_models", "ready_models", "registered_builders",
           "report_sections"]

#: The entry-point group in which packages register ready models (name -> module).
GROUP = "hta_sim.models"
#: The entry-point group in which packages register model builders (name -> ``package.module:function``).
BUILDERS = "hta_sim.builders"
#: The entry-point group of ready patient-level models (name -> module with ``PATIENT = True``;
#: what the module provides: ``docs/experiments.md``, *Patient-level models*).
PATIENT_GROUP = "hta_sim.patient_models"


def _registered(group: str = GROUP) -> dict[str, str]:
    """``{name: module}`` of every model registered in ``group``."""
    from importlib.metadata import entry_points

    found: dict[str, str] = {}
    for ep in entry_points(group=group):
        if found.get(ep.name, ep.value) != ep.value:
            raise HtaError(f"ready model {ep.name!r} is registered twice, as {found[ep.name]!r} and {ep.value!r} "
                           f"(entry-point group {group!r}); uninstall one of the packages that register it")
        found[ep.name] = ep.value
    return found


def registered_builders() -> set[str]:
    """The ``package.module:function`` references registered in the entry-point group :data:`BUILDERS`.

    Returns
    -------
    set of str
        Read from the installed packages' metadata; nothing is imported.
    """
    from importlib.metadata import entry_points

    return {ep.value.replace(" ", "") for ep in entry_points(group=BUILDERS)}


def ready_models() -> list[str]:
    """The names of the registered ready models.

    Returns
    -------
    list of str
        Sorted by name (the order does not depend on how the packages were installed).
    """
    return sorted(_registered())


def patient_models() -> list[str]:
    """The names of the registered ready patient-level models (entry-point group :data:`PATIENT_GROUP`).

    Returns
    -------
    list of str
        Sorted by name.
    """
    return sorted(_registered(PATIENT_GROUP))


def load_ready(name: str, group: str = GROUP) -> ModuleType:
    """Import a registered ready model's module.

    Parameters
    ----------
    name : str
        The model's registered name (``hta-sim list`` shows them).
    group : str
        The entry-point group: :data:`GROUP` (cohort models) or :data:`PATIENT_GROUP`.

    Returns
    -------
    module
        The module; it provides ``build``, ``parameters()``, ``TITLE`` (see ``docs/experiments.md``).

    Raises
    ------
    HtaError
        No ready model of that name (suggesting the closest), or its module cannot be imported.
    """
    registered = _registered(group)
    kind = "ready patient-level model" if group == PATIENT_GROUP else "ready model"
    if name not in registered:
        names = sorted(registered)
        if not names:
            raise HtaError(f"no {kind} {name!r}: no {kind} is registered (entry-point group {group!r}); "
                           f"install hta-sim (pip install -e .) so that its models register")
        raise HtaError(f"no {kind} {name!r}{suggest(name, names)}; {kind}s: {', '.join(names)}")
    target = registered[name]
    modname, _, attr = target.partition(":")
    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        raise HtaError(f"ready model {name!r}: cannot import its module {modname!r} ({exc}); reinstall the "
                       f"package that registers it") from None
    return getattr(module, attr) if attr else module


def report_sections(module, model) -> list:
    """The extra report sections a ready model provides (e.g. its validation against trial data).

    A ready model's module may define ``report_sections(model)`` (or have a submodule
    ``validation`` that does) returning a list of ``(title, text, tables)`` with
    ``tables`` a list of ``(caption, DataFrame)``, optionally followed by a list of figures
    ``(name, caption, matplotlib Figure)`` (styled and saved by the report). Found through the module object;
    nothing is imported by name from a model catalogue.

    Parameters
    ----------
    module : module or None
        The ready model's module (:func:`sim.experiment.present.module_of`).
    model : Model
        The model of the run (its base case).

    Returns
    -------
    list
        Empty when the module provides no hook.
    """
    if module is None:
        return []
    hook = getattr(module, "report_sections", None)
    if hook is None and getattr(module, "__path__", None) is not None:  # a package: its validation module
        try:
            sub = importlib.import_module(f"{module.__name__}.validation")
        except ImportError:
            sub = None
        hook = getattr(sub, "report_sections", None)
    return list(hook(model)) if callable(hook) else []
