"""The package's one exception type.

Every check in hta-sim raises :class:`HtaError` (a :class:`ValueError`), whose
message says what is wrong, where (strategy, cycle, state, parameter, file,
line) and how to fix it.
"""

from __future__ import annotations

__all__ = ["HtaError"]


class HtaError(ValueError):
    """Invalid model, parameter, setting or input file."""
