"""Patient-level simulation: times to event and common random numbers.

The SimPy event loop, policies and resources build on these (issue 4); SimPy is
imported only inside this package.
"""

from .events import (
    Exponential,
    Gompertz,
    LogLogistic,
    LogNormal,
    PiecewiseExponential,
    TimeToEvent,
    Weibull,
    background_mortality,
)
from .streams import uniforms

__all__ = [
    "TimeToEvent", "Exponential", "Weibull", "Gompertz", "LogLogistic", "LogNormal",
    "PiecewiseExponential", "background_mortality", "uniforms",
]
