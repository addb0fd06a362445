"""Counter-based random numbers for patient-level simulation (common random numbers).

A uniform is a pure function of ``(seed, draw, patient, slot)``: the SplitMix64
finaliser applied to a combination of the four integers. So patient ``j`` of draw
``i`` meets the same number for the same event slot in every strategy (common
random numbers), and results do not depend on batch sizes, on the number of
workers or on the order in which patients are simulated. SplitMix64's finaliser
is a bijective 64-bit mixer (Steele, Lea & Flood 2014) whose output passes
standard statistical test batteries; each of the four integers is mixed in turn,
so nearby keys give unrelated outputs.
"""

from __future__ import annotations

import numpy as np

from sim.errors import HtaError

__all__ = ["batch_uniforms", "patient_key", "uniform_at", "uniform_one", "uniforms"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (bijective on uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _as_keys(x, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise HtaError(f"random stream {what} must be whole numbers, got dtype {a.dtype}")
    if (a < 0).any():
        raise HtaError(f"random stream {what} must be >= 0")
    return a.astype(np.uint64)


def uniforms(seed: int, draw, patient, slot) -> np.ndarray:
    """Uniforms in (0, 1), one per broadcast combination of the integer keys.

    Parameters
    ----------
    seed : int
        The top-level seed (>= 0).
    draw, patient, slot : int or array of int
        Outer draw, patient number and event slot (which random number of the
        patient's life this is); broadcast against each other.

    Returns
    -------
    ndarray of float64
        ``((mix(key) >> 11) + 0.5) / 2**53``: 53 random bits, never 0 or 1.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise HtaError(f"seed {seed!r} must be a whole number >= 0")
    d, p, s = _as_keys(draw, "draw"), _as_keys(patient, "patient"), _as_keys(slot, "slot")
    # each key is mixed in at its own shape, the result broadcast only as far as the keys so
    # far need (a batch of patients x slots mixes the seed once and each patient once)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        z = _mix(np.uint64(seed) * _GOLDEN + _GOLDEN)
        z = _mix(z ^ (d * _GOLDEN + np.uint64(1)))
        z = _mix(z ^ (p * _GOLDEN + np.uint64(2)))
        z = _mix(z ^ (s * _GOLDEN + np.uint64(3)))
    z = np.broadcast_to(z, np.broadcast_shapes(d.shape, p.shape, s.shape))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


_MASK64 = (1 << 64) - 1
_G, _K1, _K2 = int(_GOLDEN), int(_M1), int(_M2)


def _mix_int(z: int) -> int:
    """:func:`_mix` on one Python int (arithmetic modulo 2**64)."""
    z = ((z ^ (z >> 30)) * _K1) & _MASK64
    z = ((z ^ (z >> 27)) * _K2) & _MASK64
    return z ^ (z >> 31)


def patient_key(seed: int, draw: int, patient: int) -> int:
    """The state of the mixer after ``(seed, draw, patient)``, for :func:`uniform_at`."""
    z = _mix_int((seed * _G + _G) & _MASK64)
    z = _mix_int(z ^ ((draw * _G + 1) & _MASK64))
    return _mix_int(z ^ ((patient * _G + 2) & _MASK64))


def uniform_at(key: int, slot: int) -> float:
    """``uniforms(seed, draw, patient, slot)`` from ``key = patient_key(seed, draw, patient)``."""
    z = _mix_int(key ^ ((slot * _G + 3) & _MASK64))
    return ((z >> 11) + 0.5) * 2.0 ** -53


def uniform_one(seed: int, draw: int, patient: int, slot: int) -> float:
    """The number ``uniforms(seed, draw, patient, slot)`` for four scalar keys, bit for bit.

    Pure Python integer arithmetic, for the patient engine's occasional slot beyond
    those it made ahead for a whole batch (about ten times faster than a numpy call on
    scalars; with the patient's :func:`patient_key` kept, :func:`uniform_at` is about
    three times faster again). Keys are trusted (>= 0 whole numbers; the engine makes them).
    """
    return uniform_at(patient_key(seed, draw, patient), slot)


def _mix_inplace(z: np.ndarray) -> np.ndarray:
    """:func:`_mix` on a uint64 array, in place (array arithmetic wraps without warnings)."""
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def batch_uniforms(seed: int, draw: int, lo: int, hi: int, slots: int) -> list:
    """``uniforms(seed, draw, arange(lo, hi)[:, None], arange(slots)[None, :]).ravel().tolist()``.

    The same numbers bit for bit (tested), made faster for the patient engine's
    batches: the seed and draw are mixed once in Python integers, each patient once,
    and only the last mix runs over every (patient, slot). Keys are trusted.

    Returns
    -------
    list of float
        ``(hi - lo) * slots`` numbers, patient by patient (row-major).
    """
    z = _mix_int((seed * _G + _G) & _MASK64)
    z = _mix_int(z ^ ((draw * _G + 1) & _MASK64))
    p = np.arange(lo, hi, dtype=np.uint64)
    p *= _GOLDEN
    p += np.uint64(2)
    p ^= np.uint64(z)
    _mix_inplace(p)
    s = np.arange(slots, dtype=np.uint64)
    s *= _GOLDEN
    s += np.uint64(3)
    u = p[:, None] ^ s[None, :]
    _mix_inplace(u)
    u >>= np.uint64(11)
    f = u.astype(np.float64)
    f += 0.5
    f *= 2.0 ** -53
    return f.ravel().tolist()
