"""Number needed to treat (or to harm), with an interval.

From draws of the event probabilities (percentile interval) or from event counts
(Newcombe's hybrid score interval).  Formulas: ``docs/decision.md``.
"""

from __future__ import annotations

import numpy as np

from sim.errors import HtaError

__all__ = ["nnt"]


def _newcombe(e1: float, n1: float, e2: float, n2: float, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10, Newcombe 1998)."""
    def wilson(e, n):
        p = e / n
        centre = p + z * z / (2 * n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        den = 1 + z * z / n
        return (centre - half) / den, (centre + half) / den
    p1, p2 = e1 / n1, e2 / n2
    l1, u1 = wilson(e1, n1)
    l2, u2 = wilson(e2, n2)
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(lo), float(hi)


def nnt(p_treatment=None, p_control=None, *, outcome: str = "benefit", level: float = 0.95,
        events_treatment: float | None = None, n_treatment: float | None = None,
        events_control: float | None = None, n_control: float | None = None) -> dict:
    """Number needed to treat (benefit) or to harm, with an interval.

    Give either event probabilities as arrays of draws (PSA or posterior samples:
    percentile interval of the risk difference) or event counts (Newcombe's hybrid
    score interval of the risk difference).  The NNT is ``1 / ARD`` with
    ``ARD = p_treatment - p_control`` for a good outcome (``outcome="benefit"``,
    e.g. response) or the same difference read as harm (``outcome="harm"``, e.g. a
    serious adverse event: the number needed to harm).  The interval is the
    reciprocal of the ARD's interval; when that includes 0 the NNT interval runs
    through infinity (Altman 1998): e.g. "NNTB 12 to inf to NNTH 40".

    Parameters
    ----------
    p_treatment, p_control : float or array_like, optional
        Event probability under treatment and under control: one value each, or
        draws of equal length.
    outcome : {"benefit", "harm"}
        Whether the event is good (response) or bad (adverse event).
    level : float
        Level of the interval, in (0, 1).
    events_treatment, n_treatment, events_control, n_control : float, optional
        Event counts and group sizes, instead of probabilities.

    Returns
    -------
    dict
        ``ard, ard_low, ard_high, nnt, nnt_low, nnt_high, label, text``: ``nnt`` is
        ``1/ard`` (inf when ``ard == 0``); ``label`` is "NNT"/"NNH" (or "NNTB"/"NNTH"
        for a benefit outcome with a harmful direction); ``text`` a sentence.
    """
    if outcome not in ("benefit", "harm"):
        raise HtaError(f"outcome {outcome!r}: use 'benefit' (e.g. response) or 'harm' (e.g. adverse event)")
    if not 0 < level < 1:
        raise HtaError(f"level {level!r} must lie in (0, 1), e.g. 0.95")
    counts = (events_treatment, n_treatment, events_control, n_control)
    if p_treatment is not None or p_control is not None:
        if any(c is not None for c in counts):
            raise HtaError("nnt: give either probabilities (draws) or event counts, not both")
        pt = np.atleast_1d(np.asarray(p_treatment, dtype=float))
        pc = np.atleast_1d(np.asarray(p_control, dtype=float))
        if pt.shape != pc.shape:
            raise HtaError(f"nnt: p_treatment has {pt.size} draws and p_control {pc.size}; give the same number")
        if not (np.isfinite(pt).all() and np.isfinite(pc).all()) or (pt < 0).any() or (pt > 1).any() \
                or (pc < 0).any() or (pc > 1).any():
            raise HtaError("nnt: event probabilities must lie in [0, 1]")
        diff = pt - pc
        ard = float(diff.mean())
        a = (1 - level) / 2
        lo, hi = (float(np.quantile(diff, a)), float(np.quantile(diff, 1 - a))) if diff.size > 1 else (ard, ard)
    else:
        if any(c is None for c in counts):
            raise HtaError("nnt: give p_treatment and p_control, or all four of events_treatment, "
                           "n_treatment, events_control, n_control")
        et, nt_, ec, nc = (float(x) for x in counts)
        if not (0 <= et <= nt_ and 0 <= ec <= nc and nt_ > 0 and nc > 0):
            raise HtaError("nnt: event counts must satisfy 0 <= events <= n and n > 0")
        from scipy.stats import norm

        ard = et / nt_ - ec / nc
        lo, hi = _newcombe(et, nt_, ec, nc, float(norm.ppf(0.5 + level / 2)))
    label_pos, label_neg = ("NNT", "NNH") if outcome == "benefit" else ("NNH", "NNT")

    def inv(x):
        return float("inf") if x == 0 else 1.0 / x

    value = inv(ard)
    if lo > 0 or hi < 0:  # interval excludes no effect
        n_lo, n_hi = sorted((abs(inv(lo)), abs(inv(hi))))
        label = label_pos if ard >= 0 else label_neg
        text = f"{label} {abs(value):.1f} ({level:.0%} interval {n_lo:.1f} to {n_hi:.1f})"
    else:
        n_lo, n_hi = inv(hi), inv(lo)  # NNTB side from the upper ARD, NNTH side from the lower
        label = label_pos if ard >= 0 else label_neg
        text = (f"{label} {abs(value):.1f} ({level:.0%} interval {label_pos} "
                f"{abs(inv(hi)) if hi else float('inf'):.1f} to inf to {label_neg} "
                f"{abs(inv(lo)) if lo else float('inf'):.1f})")
    return {"ard": ard, "ard_low": lo, "ard_high": hi, "nnt": value, "nnt_low": n_lo, "nnt_high": n_hi,
            "label": label, "text": text}
