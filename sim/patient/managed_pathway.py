"""Managed pathways as data: a pathway plus the policies, procedures and resources run on it.

:class:`ManagedPathway` attaches to states of a :class:`~sim.patient.pathway.Pathway`
a :class:`~sim.patient.policy.Policy` (visits, treat-to-target) or a
:class:`~sim.patient.resources.Procedure` (waiting list, capacity), and lists the
strategy's :class:`~sim.patient.resources.Resource` s; everything is checked at
definition time. :func:`sim.patient.run_managed` runs it. Semantics: ``docs/patient.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.errors import HtaError, suggest
from sim.patient.pathway import Pathway
from sim.patient.policy import Policy
from sim.patient.resources import Procedure, Resource

__all__ = ["ManagedPathway"]


@dataclass(frozen=True)
class ManagedPathway:
    """A strategy: a pathway, the policies and procedures run in its states, its resources.

    Parameters
    ----------
    pathway : Pathway
    policies : mapping of state to Policy
        While in the state the patient is managed by the policy (visits).
    procedures : mapping of state to Procedure
        Entering the state puts the patient on the procedure's waiting list; the
        state's cost and utility accrue while waiting and its events keep running.
    resources : sequence of Resource
        Shared by all patients of this strategy.
    """

    pathway: Pathway
    policies: Mapping = field(default_factory=dict)
    procedures: Mapping = field(default_factory=dict)
    resources: tuple = ()

    def __post_init__(self):
        if not isinstance(self.pathway, Pathway):
            raise HtaError(f"ManagedPathway: pathway must be a Pathway, got {type(self.pathway).__name__}")
        object.__setattr__(self, "resources", tuple(self.resources))
        object.__setattr__(self, "policies", dict(self.policies))
        object.__setattr__(self, "procedures", dict(self.procedures))
        states = self.pathway.states

        def known(s, where):
            if s not in states:
                raise HtaError(f"{where}: unknown state {s!r}{suggest(s, states)}; states are {', '.join(states)}")

        for r in self.resources:
            if not isinstance(r, Resource):
                raise HtaError(f"resources: {r!r} is not a Resource")
        rnames = [r.name for r in self.resources]
        if len(set(rnames)) != len(rnames):
            raise HtaError(f"resource names must be unique, got {', '.join(rnames)}")
        for s, pol in self.policies.items():
            known(s, "policies")
            if not isinstance(pol, Policy):
                raise HtaError(f"policy of state {s!r}: {type(pol).__name__} is not a Policy")
            for where, to in pol.exits():
                known(to, f"policy of state {s!r}, {where}")
        for s, proc in self.procedures.items():
            known(s, "procedures")
            if not isinstance(proc, Procedure):
                raise HtaError(f"procedure of state {s!r}: {type(proc).__name__} is not a Procedure")
            if s in self.policies:
                raise HtaError(f"state {s!r} has both a policy and a procedure; give it one")
            known(proc.to, f"procedure of state {s!r}, to")
            known(proc.died, f"procedure of state {s!r}, died")
            if proc.resource is not None and proc.resource not in rnames:
                raise HtaError(f"procedure of state {s!r}: unknown resource {proc.resource!r}"
                               f"{suggest(proc.resource, rnames)}; resources are {', '.join(rnames) or 'none'}")

    def attributes(self) -> set:
        """Patient attributes used by events' hazard ratios and markers."""
        a = {x for evs in self.pathway.events.values() for e in evs for x in e.hr}
        for pol in self.policies.values():
            a |= pol.attributes()
        return a
