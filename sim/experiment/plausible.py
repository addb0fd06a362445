"""Plausibility checks of an experiment, reported where the value is given.

A state utility above the model's ``utility_max`` taken straight from a parameter-table
row is reported at that row (``table.csv:LINE``, or the workbook cell), one from
``[scenario]`` at its key; a ``[scenario]`` value that makes the base case fail is
named at its key. :func:`sim.experiment.load` calls these before anything runs, so
``hta-sim validate`` reports them too.
"""

from __future__ import annotations

import dataclasses

from sim.errors import HtaError
from sim.experiment.spec import SETTINGS, Experiment
from sim.params.table import ParameterTable

__all__ = ["bounded", "check_scenario_values", "check_utilities"]


def bounded(exp: Experiment, model):
    """The model with the file's ``utility_max`` (a number, or "none": no bound), if it gives one.

    Parameters
    ----------
    exp : Experiment
        The experiment file.
    model : Model
        The model its builder returned.

    Returns
    -------
    Model
    """
    if exp.utility_max is None:
        return model
    try:
        return dataclasses.replace(model, utility_max=None if exp.utility_max == "none" else exp.utility_max)
    except HtaError as exc:
        raise exp.error(("utility_max",), str(exc)) from None


def _direct(value) -> list[str]:
    """The parameters a value is (a name, or a name chosen by strategy, cycle or sojourn), not transforms."""
    from sim.model.values import ByCycle, BySojourn, ByStrategy

    if isinstance(value, str):
        return [value]
    if isinstance(value, (ByStrategy, ByCycle, BySojourn)):
        return [n for child in value.children() for n in _direct(child)]
    return []


def check_utilities(exp: Experiment, model, table: ParameterTable) -> None:
    """A state utility above ``utility_max`` taken straight from a table row (or ``[scenario]``) is reported there.

    A row whose distribution can draw a value above the bound is reported at the row too.

    Parameters
    ----------
    exp : Experiment
        The experiment file.
    model : Model
        Its model (the base case).
    table : ParameterTable
        The parameter table of the run.
    """
    top = model.utility_max
    if top is None:
        return
    spread = {p.name: d for p, d in table.marginals}
    for state, value in model.utilities.items():
        for name in _direct(value):
            if name in exp.scenario:
                if exp.scenario[name] > top:
                    raise exp.error(("scenario", name), _utility_message(exp.scenario[name], name, state, top))
                continue
            if name not in table.names:
                continue
            if table[name].value > top:
                raise HtaError(f"{table.where(name)}: {_utility_message(table[name].value, name, state, top)}")
            if name in spread and spread[name].support()[1] > top:  # the PSA could draw a value above the bound
                raise HtaError(f"{table.where(name)}: parameter {name!r}, the utility of state {state!r}, has a "
                               f"{table[name].distribution} distribution, which draws values above {top:g}; give "
                               f"it a distribution bounded by {top:g} (beta), or set utility_max = \"none\" (or "
                               f"a larger bound) at the top of the experiment file")


def _utility_message(v: float, name: str, state: str, top: float) -> str:
    return (f"parameter {name!r}, the utility of state {state!r}, is {v:g}, above {top:g}: utilities are per year on "
            f"the 0-1 scale (0.85, not 85); if it is a difference or another scale, set utility_max = \"none\" "
            f"(or a larger bound) at the top of the experiment file")


def check_scenario_values(ld, model) -> None:
    """A ``[scenario]`` value that makes the base case fail is reported at its key, not at the model line.

    The base case (one draw) runs with the scenario; if it fails while the table's own
    base case runs, each scenario parameter is tried alone and the first that fails is named.

    Parameters
    ----------
    ld : sim.experiment.loading.Loaded
        The loaded experiment.
    model : Model
        Its model with the base case and ``[scenario]`` applied.
    """
    from sim.cohort.engine import run_cohort

    exp = ld.experiment
    names = [k for k in exp.scenario if k not in SETTINGS]
    if not names:
        return
    try:
        run_cohort(model)
        return
    except HtaError:
        pass
    base = dict(ld.table.base)
    try:
        run_cohort(bounded(exp, ld.build(base)))
    except HtaError:
        return  # the table's base case fails too: not the scenario's doing (the run reports it)
    for k in names:
        try:
            run_cohort(bounded(exp, ld.build({**base, k: exp.scenario[k]})))
        except HtaError as exc:
            raise exp.error(("scenario", k), f"{k} = {exp.scenario[k]:g} makes the base case fail: {exc}") from None
