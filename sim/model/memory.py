"""A memory bound on result arrays, checked before they are allocated.

The engines work in chunks, so their working memory is bounded; what grows with a
run's size is its result (one row per draw and strategy, the parameter draws, one
record per patient).  :func:`check_memory` compares an estimate of those bytes with
:func:`memory_limit` and raises a one-line :class:`~sim.errors.HtaError` naming the
estimate, the limit and how to raise it, instead of a ``MemoryError`` after minutes.

The limit is, in order: the ``memory_limit`` keyword of the call, the environment
variable ``HTA_SIM_MEMORY_LIMIT`` (bytes, or with a unit: ``"32GiB"``, ``"500MB"``),
else half the machine's physical memory (8 GiB when that is unknown).
"""

from __future__ import annotations

import math
import os
import re

from sim.errors import HtaError

__all__ = ["ENV_VAR", "FALLBACK_LIMIT", "check_memory", "format_bytes", "memory_limit", "parse_bytes"]

#: Environment variable that sets the limit (bytes or with a unit).
ENV_VAR = "HTA_SIM_MEMORY_LIMIT"

#: The limit when the physical memory cannot be read (8 GiB).
FALLBACK_LIMIT = 8 * 2**30

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str | float, where: str = ENV_VAR) -> int:
    """A number of bytes from ``"8GiB"``, ``"500 MB"``, ``"1e9"`` or a number.

    Parameters
    ----------
    text : str or number
        The size.
    where : str
        Where it was given, for the message.

    Returns
    -------
    int
    """
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).lower() if m else ""
    try:
        value = float(m.group(1)) * _UNITS[unit] if m else math.nan
    except (ValueError, KeyError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise HtaError(f"{where} = {text!r} is not a size in bytes; give e.g. 16GiB, 500MB or 2e10")
    return int(value)


def format_bytes(n: float) -> str:
    """``n`` bytes in words (``"7.3 GiB"``).

    Parameters
    ----------
    n : float
        A number of bytes.

    Returns
    -------
    str
    """
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def _physical() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit(limit: str | float | None = None) -> int:
    """The byte limit on a run's result arrays.

    Parameters
    ----------
    limit : str, number or None
        A limit given to the call; None reads ``HTA_SIM_MEMORY_LIMIT``, else half the
        physical memory (8 GiB when unknown).

    Returns
    -------
    int
    """
    if limit is not None:
        return parse_bytes(limit, "memory_limit")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return parse_bytes(env, ENV_VAR)
    phys = _physical()
    return phys // 2 if phys else FALLBACK_LIMIT


def check_memory(nbytes: float, what: str, limit: str | float | None = None) -> None:
    """Raise if ``nbytes`` (an estimate of a result's arrays) exceeds the limit.

    Parameters
    ----------
    nbytes : float
        Estimated bytes.
    what : str
        The run, for the message (e.g. ``"run_psa: 10**15 draws x 2 strategies"``).
    limit : str, number or None
        As for :func:`memory_limit`.
    """
    top = memory_limit(limit)
    if nbytes > top:
        raise HtaError(
            f"{what} needs about {format_bytes(nbytes)} for its results, above the memory limit of "
            f"{format_bytes(top)}; use fewer draws or patients, or raise the limit with memory_limit=... "
            f"or the environment variable {ENV_VAR} (e.g. {ENV_VAR}=64GiB)"
        )
