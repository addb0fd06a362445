"""Model builders named by the experiment files of tests/test_bad_input_corpus.py.

A small three-state model whose utilities are parameters (so a utility out of range comes
from a parameter-table row), and builders that misbehave in the ways the corpus checks.
"""

import sim

CALLED = []  # builders record their calls: a builder that is refused must never be called


def _tiny(p, name="tiny"):
    return sim.Model(states=("Well", "Sick", "Dead"), strategies=("a", "b"),
                     transitions={("Well", "Sick"): sim.ByStrategy(a="p_sick", b=0.05), ("Well", "Well"): sim.C,
                                  ("Sick", "Dead"): 0.2, ("Sick", "Sick"): sim.C, ("Well", "Dead"): 0.01},
                     start={"Well": 1.0}, horizon=10, parameters=p,
                     costs={"drug": {"Well": sim.ByStrategy(a=0, b="c_drug")}},
                     utilities={"Well": "u_well", "Sick": "u_sick"}, dead=("Dead",), name=name)


@sim.model_builder
def tiny(p):
    """The model, with the parameters the table gives."""
    CALLED.append("tiny")
    return _tiny(dict(p))


@sim.model_builder
def tiny_needs(p):
    """The model, reading its parameters by name (a missing one is a KeyError)."""
    CALLED.append("tiny_needs")
    return _tiny({k: p[k] for k in ("p_sick", "c_drug", "u_well", "u_sick")})


def undeclared(p):
    """Not a model builder: an experiment file naming it must not call it."""
    CALLED.append("undeclared")
    raise AssertionError("an undeclared function was called")


@sim.model_builder
def not_a_model(p):
    """Returns something other than a Model."""
    return {"a": 1}


@sim.model_builder
def refuses(p):
    """Raises the library's error, as a builder checking its input would."""
    raise sim.HtaError("p_sick must be below 0.5")


TABLE = """\
name,value,distribution,args,source
p_sick,0.1,beta,mean=0.1; se=0.02,made up for the corpus
c_drug,500,gamma,mean=500; se=50,made up for the corpus
u_well,0.9,beta,mean=0.9; se=0.02,made up for the corpus
u_sick,0.6,beta,mean=0.6; se=0.05,made up for the corpus
"""
