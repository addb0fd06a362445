"""hta-sim: health-economic decision modelling.

The public API::

    from sim import Model, C, Rate, ByStrategy, run_cohort, icers
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("hta-sim")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

from .cohort import run_cohort
from .conventions import CORRECTIONS, Discount
from .decision import icer_table, icers
from .errors import HtaError
from .lifetable import LifeTable, Mortality
from .model import ANY, Model
from .results import CohortResult
from .values import AnyOf, ByCycle, BySojourn, ByStrategy, C, HazardRatio, Rate, RelativeRisk

__all__ = [
    "__version__",
    "Model",
    "ANY",
    "C",
    "Rate",
    "HazardRatio",
    "RelativeRisk",
    "AnyOf",
    "ByStrategy",
    "ByCycle",
    "BySojourn",
    "Discount",
    "CORRECTIONS",
    "LifeTable",
    "Mortality",
    "run_cohort",
    "CohortResult",
    "icer_table",
    "icers",
    "HtaError",
]
