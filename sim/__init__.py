"""hta-sim: health-economic decision modelling.

The public API::

    from sim import Model, C, Rate, ByStrategy, run_cohort, icers
    from sim import ParameterTable, run_psa, ceac, evpi
    from sim import dsa, voi, bayes, plots   # analysis modules
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("hta-sim")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

from . import bayes, decision, dsa, optimise, plots, voi
from .bayes import BayesDecision, decide, decide_utility
from .cohort import run_cohort
from .conventions import CORRECTIONS, Discount
from .decision import (
    ce_plane,
    ceac,
    ceaf,
    expected_loss,
    icer_table,
    icers,
    net_benefit,
    nnt,
    outcome_matrix,
    prob_cost_effective,
)
from .dsa import one_way, scenarios, threshold, two_way, value_based_price
from .errors import HtaError
from .lifetable import LifeTable, Mortality
from .model import ANY, Model
from .params import Draws, Parameter, ParameterTable
from .psa import PSAResult, run_psa
from .results import CohortResult
from .values import AnyOf, ByCycle, BySojourn, ByStrategy, C, HazardRatio, Rate, RelativeRisk
from .voi import evpi, evppi, population_evpi

__all__ = [
    "__version__",
    # model specification
    "Model", "ANY", "C", "Rate", "HazardRatio", "RelativeRisk", "AnyOf", "ByStrategy", "ByCycle",
    "BySojourn", "Discount", "CORRECTIONS", "LifeTable", "Mortality",
    # engines and results
    "run_cohort", "CohortResult", "run_psa", "PSAResult",
    # parameters
    "Parameter", "ParameterTable", "Draws",
    # decision analysis
    "icer_table", "icers", "outcome_matrix", "net_benefit", "ceac", "ceaf", "expected_loss",
    "prob_cost_effective", "ce_plane", "nnt", "evpi", "evppi", "population_evpi",
    "one_way", "two_way", "scenarios", "threshold", "value_based_price",
    "decide", "decide_utility", "BayesDecision",
    # modules
    "decision", "voi", "dsa", "optimise", "bayes", "plots",
    "HtaError",
]
