"""Individual patient data from a published Kaplan-Meier curve (Guyot et al. 2012).

Guyot P, Ades AE, Ouwens MJNM, Welton NJ. Enhanced secondary analysis of survival
data: reconstructing the data from published Kaplan-Meier survival curves. BMC Med
Res Methodol 2012;12:9. The algorithm is written here from the paper's description
(``docs/survival.md``, *Reconstruction*): between two published numbers at risk the
number censored is adjusted until the reconstructed number at risk at the end of
the interval equals the published one; within an interval, events at each digitised
step follow from the drop in survival, ``d_k = round(n_k (1 - S_k / S_last))``, and
censorings are spread evenly over the interval. In the last interval the censoring
is set by the total number of events when it is reported, otherwise by the average
censoring rate of the earlier intervals.

Input formats (CSV, one header row):

* curve: ``time, survival`` (survival a proportion in [0, 1]; ``percent=True`` for
  0-100), optionally ``arm``; rows in time order, as digitised;
* risk table: ``time, n_risk`` (the published numbers at risk and the times they are
  given at, the first at time 0), optionally ``lower, upper`` (Guyot's 1-based row
  numbers of the curve's first and last point in each interval; computed from the
  times when absent) and ``arm``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import HtaError

__all__ = ["reconstruct_ipd", "read_curve", "read_risk_table", "compare_risk_table", "numbers_at_risk",
           "isotonic_decreasing"]


def _read(path, required, what) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise HtaError(f"{what} file {p} does not exist")
    df = pd.read_csv(p)
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise HtaError(f"{what} file {p}: missing column(s) {', '.join(missing)}; "
                       f"the header must have {', '.join(required)} (see docs/survival.md)")
    return df


def read_curve(path) -> pd.DataFrame:
    """A digitised Kaplan-Meier curve from CSV: columns ``time, survival`` [, ``arm``]."""
    return _read(path, ("time", "survival"), "Kaplan-Meier curve")


def read_risk_table(path) -> pd.DataFrame:
    """A numbers-at-risk table from CSV: columns ``time, n_risk`` [, ``lower, upper, arm``]."""
    return _read(path, ("time", "n_risk"), "numbers-at-risk")


def isotonic_decreasing(y) -> np.ndarray:
    """The closest non-increasing sequence in least squares (pool adjacent violators)."""
    y = np.asarray(y, dtype=float)
    vals, sizes = [], []
    for v in y:
        vals.append(v)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] < vals[-1]:
            w = sizes[-2] + sizes[-1]
            vals[-2] = (vals[-2] * sizes[-2] + vals[-1] * sizes[-1]) / w
            sizes[-2] = w
            vals.pop()
            sizes.pop()
    return np.repeat(vals, sizes)


def _prepare_curve(curve: pd.DataFrame, percent: bool, monotone: str, where: str):
    t = pd.to_numeric(curve["time"], errors="coerce").to_numpy(dtype=float)
    s = pd.to_numeric(curve["survival"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(t) | ~np.isfinite(s))
    if bad.size:
        raise HtaError(f"{where}: row {bad[0] + 1} of the curve is not a pair of numbers")
    if percent:
        s = s / 100.0
    if np.any((s < 0) | (s > 1)) or np.any(t < 0):
        r = int(np.flatnonzero((s < 0) | (s > 1) | (t < 0))[0])
        hint = " (survival in percent? pass percent=True)" if s.max() > 1 else ""
        raise HtaError(f"{where}: curve row {r + 1} has time {t[r]:g}, survival {s[r]:g}; times must be >= 0 "
                       f"and survival in [0, 1]{hint}")
    order = np.lexsort((-s, t))  # by time; a vertical step digitised top to bottom
    if monotone == "error":
        if np.any(order != np.arange(t.size)) or np.any(np.diff(s) > 0):
            r = int(np.flatnonzero((np.diff(t) < 0) | (np.diff(s) > 0))[0]) + 2
            raise HtaError(f"{where}: the digitised curve is not monotone at row {r} (time {t[r - 1]:g}, survival "
                           f"{s[r - 1]:g}); correct the digitisation or pass monotone='isotonic' to use the "
                           f"closest non-increasing curve")
    elif monotone == "isotonic":
        t, s = t[order], isotonic_decreasing(s[order])
    else:
        raise HtaError(f"monotone={monotone!r} must be 'error' or 'isotonic'")
    if t[0] > 0 or s[0] < 1:  # a Kaplan-Meier curve starts at S(0) = 1
        t, s = np.r_[0.0, t], np.r_[1.0, s]
    return t, s


def _risk_rows(risk: pd.DataFrame, t: np.ndarray, where: str):
    tr = pd.to_numeric(risk["time"], errors="coerce").to_numpy(dtype=float)
    nr = pd.to_numeric(risk["n_risk"], errors="coerce").to_numpy(dtype=float)
    if np.any(~np.isfinite(tr)) or np.any(~np.isfinite(nr)) or np.any(nr != np.round(nr)) or np.any(nr < 0):
        raise HtaError(f"{where}: the risk table needs a number time and a whole number n_risk >= 0 in every row")
    if tr[0] != 0 or np.any(np.diff(tr) <= 0):
        raise HtaError(f"{where}: risk-table times must start at 0 and increase (got {list(tr)})")
    if np.any(np.diff(nr) > 0):
        raise HtaError(f"{where}: numbers at risk must not increase over time (got {list(nr.astype(int))})")
    if tr[-1] > t[-1]:
        raise HtaError(f"{where}: the risk table goes to time {tr[-1]:g}, beyond the curve's last point "
                       f"{t[-1]:g}; drop the rows after the curve ends")
    return tr, nr.astype(int)


def _interval(t, s, n0, s_start, lo, hi, t0, t1, c):
    """Events per point and the number left at t1 with c censorings spread over [t0, t1).

    Returns ``(events per point, number at risk at t1, censoring times used, KM at t1)``;
    censorings beyond the patients left are dropped.
    """
    cens = t0 + np.arange(1, c + 1) * (t1 - t0) / (c + 1)
    n, s_last, d = n0, s_start, np.zeros(hi - lo, dtype=int)
    j = used = 0
    for idx, k in enumerate(range(lo, hi)):
        due = int(np.searchsorted(cens, t[k], side="left")) - j  # censored before this step
        take = min(due, n)
        n -= take
        used += take
        j += due
        if n == 0:
            continue
        dk = int(np.clip(np.round(n * (1.0 - s[k] / s_last)), 0, n)) if s_last > 0 else 0
        if dk:
            s_last *= 1.0 - dk / n
        d[idx] = dk
        n -= dk
    take = min(c - j, n)
    kept = np.r_[cens[:j][:used], cens[j:j + take]] if used < j else cens[:j + take]
    return d, n - take, kept, s_last


def _arm(t, s, tr, nr, total_events, where):
    n_int = tr.size
    ends = np.r_[tr[1:], t[-1]]
    lows = np.searchsorted(t, tr, side="left")
    highs = np.r_[lows[1:], t.size]
    rows_t, rows_e = [], []
    s_last, cens_rate = 1.0, []
    reconstructed = []
    n_start = nr[0]
    for i in range(n_int):
        lo, hi, t0, t1 = lows[i], highs[i], tr[i], ends[i]
        last = i == n_int - 1
        if not last:
            s_start = s[lo - 1] if lo > 0 else 1.0
            s_end = s[hi - 1] if hi > lo else s_start
            c = max(0, int(round(n_start * s_end / s_start - nr[i + 1]))) if s_start > 0 else 0
            seen = {}
            while c not in seen:
                out = _interval(t, s, n_start, s_last, lo, hi, t0, t1, c)
                seen[c] = out
                gap = out[1] - nr[i + 1]
                if gap == 0 or (gap < 0 and c == 0):
                    break
                c = max(0, min(c + gap, n_start))
            c = min(seen, key=lambda k: (abs(seen[k][1] - nr[i + 1]), k))
            d, n_end, cens, s_new = seen[c]
            cens_rate.append(c / (t1 - t0))
        else:
            if total_events is not None:
                before = sum(rows_e)
                trial = {c: _interval(t, s, n_start, s_last, lo, hi, t0, t1, c) for c in range(n_start + 1)}
                c = min(trial, key=lambda k: (abs(before + trial[k][0].sum() - total_events), k))
            else:
                rate = float(np.mean(cens_rate)) if cens_rate else 0.0
                c = min(int(round(rate * (t1 - t0))), n_start)
            d, n_end, cens, s_new = _interval(t, s, n_start, s_last, lo, hi, t0, t1, c)
        for k, dk in zip(range(lo, hi), d, strict=True):
            rows_t += [t[k]] * int(dk)
            rows_e += [1] * int(dk)
        rows_t += list(cens)
        rows_e += [0] * len(cens)
        reconstructed.append(n_start)
        s_last, n_start = s_new, n_end
    rows_t += [t[-1]] * n_start  # still at risk at the end of the curve: censored there
    rows_e += [0] * n_start
    return np.asarray(rows_t, dtype=float), np.asarray(rows_e, dtype=int), reconstructed


def reconstruct_ipd(curve: pd.DataFrame, risk: pd.DataFrame, *, arm=None,
                    total_events: int | Mapping | None = None, percent: bool = False,
                    monotone: str = "error") -> pd.DataFrame:
    """Individual patient data from a digitised Kaplan-Meier curve and its numbers at risk.

    Parameters
    ----------
    curve : DataFrame
        Columns ``time, survival`` [, ``arm``] (:func:`read_curve`).
    risk : DataFrame
        Columns ``time, n_risk`` [, ``arm``] (:func:`read_risk_table`); the first row
        at time 0 gives the arm's size. ``lower, upper`` columns, if present, are
        ignored: the intervals are found from the times.
    arm : str or int, optional
        The arm to reconstruct when both tables have an ``arm`` column (default: every
        arm, one after another); the label of the output otherwise.
    total_events : int or mapping, optional
        Total number of events reported for the arm (a mapping arm -> total with
        several arms); sets the censoring of the last interval.
    percent : bool
        Survival given in percent (0-100).
    monotone : str
        ``"error"`` (default): a curve that goes up, or back in time, is an error
        naming the row; ``"isotonic"``: use the closest non-increasing curve (least
        squares, pool adjacent violators) instead.

    Returns
    -------
    DataFrame
        Columns ``time, event, arm``: one row per patient (event 1, censored 0).
        :func:`compare_risk_table` sets its numbers at risk beside the published ones.
    """
    if "arm" in curve.columns and "arm" in risk.columns:
        arms = [arm] if arm is not None else list(pd.unique(curve["arm"]))
        parts = []
        for a in arms:
            c, r = curve[curve["arm"] == a], risk[risk["arm"] == a]
            if c.empty or r.empty:
                raise HtaError(f"arm {a!r} has no rows in the {'curve' if c.empty else 'risk table'}")
            tot = total_events.get(a) if isinstance(total_events, Mapping) else total_events
            parts.append(reconstruct_ipd(c.drop(columns="arm"), r.drop(columns="arm"), arm=a, total_events=tot,
                                         percent=percent, monotone=monotone))
        return pd.concat(parts, ignore_index=True)
    where = f"arm {arm!r}" if arm is not None else "Kaplan-Meier reconstruction"
    if isinstance(total_events, Mapping):
        total_events = total_events.get(arm)
    t, s = _prepare_curve(curve, percent, monotone, where)
    tr, nr = _risk_rows(risk, t, where)
    if total_events is not None and not 0 <= int(total_events) <= nr[0]:
        raise HtaError(f"{where}: total_events={total_events} must be between 0 and the arm size {nr[0]}")
    times, events, _ = _arm(t, s, tr, nr, total_events, where)
    out = pd.DataFrame({"time": times, "event": events, "arm": arm})
    return out.sort_values(["time", "event"], ascending=[True, False], kind="stable").reset_index(drop=True)


def compare_risk_table(ipd: pd.DataFrame, risk: pd.DataFrame) -> pd.DataFrame:
    """The published numbers at risk beside those of the reconstructed data.

    Returns
    -------
    DataFrame
        The risk table's ``[arm,] time, n_risk`` and ``n_risk_reconstructed``.
    """
    out = risk[[c for c in ("arm", "time", "n_risk") if c in risk.columns]].copy()
    if "arm" in risk.columns and "arm" in ipd.columns:
        out["n_risk_reconstructed"] = [int(numbers_at_risk(ipd[ipd["arm"] == a], [t])[0])
                                       for a, t in zip(out["arm"], out["time"], strict=True)]
    else:
        out["n_risk_reconstructed"] = numbers_at_risk(ipd, out["time"])
    return out.reset_index(drop=True)


def numbers_at_risk(ipd: pd.DataFrame, times) -> np.ndarray:
    """Numbers at risk (time >= t) of individual data at each of ``times``."""
    t = np.sort(ipd["time"].to_numpy(dtype=float))
    return t.size - np.searchsorted(t, np.asarray(times, dtype=float), side="left")
