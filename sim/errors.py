"""The package's one exception type.

Every check in hta-sim raises :class:`HtaError` (a :class:`ValueError`), whose
message says what is wrong, where (strategy, cycle, state, parameter, file,
line) and how to fix it.
"""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any

__all__ = ["HtaError", "suggest", "finite_number", "is_number"]


class HtaError(ValueError):
    """Invalid model, parameter, setting or input file."""


def suggest(name: str, candidates) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or ''."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def finite_number(x: Any, what: str) -> float:
    """``float(x)`` for a finite real number, else an HtaError naming ``what``."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise HtaError(f"{what} must be a number, got {x!r}")
    v = float(x)
    if not math.isfinite(v):
        raise HtaError(f"{what} must be a finite number, got {v!r}")
    return v


def is_number(x: Any) -> bool:
    """Whether ``x`` is a finite real number (not a boolean)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))
