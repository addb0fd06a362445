"""Evaluating a model on draws: the arrays both engines simulate from.

:func:`build_arrays` evaluates every value of a :class:`~sim.model.Model` (each
transition probability, start share and reward) on arrays over a chunk of draws
and all cycles at once, checks them where strategy, cycle, states and draw are known,
and stores each evaluated array once, at its own shape, in one flat pool
(:class:`ModelArrays`; layout in ``sim/cohort/_kernels.py``). The cohort engine runs
its kernel on these arrays; the patient-level engine reads the same probabilities
and rewards. Neither engine imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError, suggest
from sim.model.conventions import correction_weights, point_times
from sim.model.spec import ANY, Model
from sim.model.values import Complement, Context, Params, Time, evaluate

__all__ = ["ModelArrays", "ResolvedDraws", "build_arrays", "resolve_draws", "coefficients", "DEFAULT_MEMORY"]

DEFAULT_MEMORY = 256 * 2**20

_TOL = 1e-9  # tolerance for row sums and complements


# ---------------------------------------------------------------------------- draws
@dataclass(frozen=True)
class ResolvedDraws:
    """Parameter values for an engine: per-draw arrays, fixed values and the draw ids."""

    ids: np.ndarray  # (n,) int draw ids
    arrays: dict  # name -> (n,) array for varying params
    fixed: dict  # name -> float
    seed: Any = None


def resolve_draws(model: Model, params: Any) -> ResolvedDraws:
    """Turn ``params`` (None, mapping, DataFrame or draws object) into arrays.

    Parameters missing from ``params`` take the model's base-case values.
    """
    seed = None
    ids = None
    if params is None:
        given: dict = {}
    elif hasattr(params, "frame") and hasattr(params, "seed"):  # a Draws object
        seed = params.seed
        frame = params.frame
        given = {c: frame[c].to_numpy() for c in frame.columns}
        ids = np.asarray(getattr(params, "ids", np.arange(len(frame))))
    elif isinstance(params, pd.DataFrame):
        frame = params
        if "draw" in frame.columns:
            ids = frame["draw"].to_numpy()
            frame = frame.drop(columns="draw")
        given = {c: frame[c].to_numpy() for c in frame.columns}
        if ids is None:
            ids = np.arange(len(frame))
    elif isinstance(params, Mapping):
        given = dict(params)
    else:
        raise HtaError(
            f"params must be None, a mapping of parameter name to value(s), a DataFrame with "
            f"one column per parameter, or a Draws object; got {type(params).__name__}"
        )
    arrays, fixed = {}, {name: float(v) for name, v in model.parameters.items()}
    n = None
    for name, v in given.items():
        if name not in model.parameters:
            raise HtaError(
                f"draws name parameter {name!r}{suggest(name, model.parameters)}, which model "
                f"{model.name!r} does not declare; remove it or add it to the model's parameters"
            )
        a = np.asarray(v)
        if a.dtype.kind not in "fiu":
            raise HtaError(f"parameter {name!r}: draws must be numbers, got dtype {a.dtype}")
        a = a.astype(float)
        bad = ~np.isfinite(a)
        if a.ndim == 0:
            if bad:
                raise HtaError(f"parameter {name!r}: value {float(a)!r} is not a finite number")
            fixed[name] = float(a)
            continue
        if a.ndim != 1:
            raise HtaError(f"parameter {name!r}: draws must be one value per draw (1-D), got shape {a.shape}")
        if a.size == 0:
            raise HtaError(f"parameter {name!r} has 0 draws; give at least one")
        if n is None:
            n, first = a.size, name
        elif a.size != n:
            raise HtaError(
                f"parameter {name!r} has {a.size} draws but {first!r} has {n}; every parameter "
                f"needs the same number of draws"
            )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise HtaError(f"parameter {name!r}, draw {i}: value {float(a[i])!r} is not a finite number")
        arrays[name] = a
        fixed.pop(name, None)
    n = n if n is not None else 1
    if ids is None:
        ids = np.arange(n)
    if len(ids) != n:
        raise HtaError(f"draw ids: {len(ids)} ids for {n} draws")
    return ResolvedDraws(ids=np.asarray(ids, dtype=np.int64), arrays=arrays, fixed=fixed, seed=seed)


# ---------------------------------------------------------------------------- arrays
class _Pool:
    """Evaluated values stored once each, at their own shape, in one flat array."""

    def __init__(self):
        self.parts: list[tuple[int, np.ndarray]] = []
        self.size = 0
        self.seen: dict[int, tuple] = {}  # id(array) -> (array, strides)

    def add(self, a: np.ndarray) -> tuple[int, int, int, int]:
        """Reserve room for ``a`` (shape (nd, mt, L)), stored draws-innermost; return its
        (offset, draw, time, sojourn) strides. Draws are contiguous so the kernel reads
        them as vectors. The same array object added again is stored once.
        """
        nd, mt, L = a.shape
        hit = self.seen.get(id(a))
        if hit is not None and hit[0] is a:
            return hit[1]
        off = self.size
        self.parts.append((off, a))
        self.size += a.size
        strides = off, (1 if nd > 1 else 0), (L * nd if mt > 1 else 0), (nd if L > 1 else 0)
        self.seen[id(a)] = (a, strides)
        return strides

    def array(self) -> np.ndarray:
        """The pool: one allocation, each value written once (transposed) into its place."""
        ev = np.empty(max(self.size, 1))
        for off, a in self.parts:
            nd, mt, L = a.shape
            ev[off:off + a.size].reshape(mt, L, nd)[...] = np.transpose(a, (1, 2, 0))
        return ev


def _csr(rows: dict, K: int, S1: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries grouped by (strategy, expanded row): pointers (K, S1+1) and entries (E, width)."""
    ptr = np.zeros((K, S1 + 1), dtype=np.int64)
    ent: list = []
    for k in range(K):
        for i in range(S1):
            ptr[k, i] = len(ent)
            ent.extend(rows.get((k, i), []))
        ptr[k, S1] = len(ent)
    arr = np.array(ent, dtype=np.int64).reshape(-1, width) if ent else np.zeros((0, width), dtype=np.int64)
    return ptr, arr


@dataclass
class ModelArrays:
    """Evaluated, checked inputs of the kernel for one chunk of draws (layout: ``_kernels``)."""

    ev: np.ndarray
    tr_ptr: np.ndarray
    tr_ent: np.ndarray
    dest: np.ndarray
    start: np.ndarray
    rw_ptr: np.ndarray
    rw_ent: np.ndarray
    trw_ptr: np.ndarray
    trw_ent: np.ndarray
    columns: tuple  # reward columns: cost components, "qaly", "ly"
    initial: np.ndarray  # (n|1, K, NR) one-off rewards at time 0 (start costs and utilities)
    n: int  # draws in the chunk
    n_cycles: int

    @property
    def has_initial(self) -> bool:
        return bool(self.initial.any())

    def dense(self, draws: slice = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dense ``P (n, K, T, S1, S)``, ``R (n, K, T+1, S1, NR)`` and ``TR (n, K, T, S1, S, NR)``
        of some draws (for reference implementations, tests and error messages).
        """
        K = self.tr_ptr.shape[0]
        S1, S = self.dest.shape
        NR, T = len(self.columns), self.n_cycles
        d = np.arange(self.n)[draws][:, None]
        n = d.shape[0]
        P = np.zeros((n, K, T, S1, S))
        R = np.zeros((n, K, T + 1, S1, NR))
        TR = np.zeros((n, K, T, S1, S, NR))
        t_tr, t_rw = np.arange(T)[None, :], np.arange(T + 1)[None, :]
        for k in range(K):
            for i in range(S1):
                for j, off, sd, st in self.tr_ent[self.tr_ptr[k, i]:self.tr_ptr[k, i + 1]]:
                    P[:, k, :, i, j] = self.ev[off + d * sd + t_tr * st]
                for r, off, sd, st in self.rw_ent[self.rw_ptr[k, i]:self.rw_ptr[k, i + 1]]:
                    R[:, k, :, i, r] += self.ev[off + d * sd + t_rw * st]
                for j, r, off, sd, st in self.trw_ent[self.trw_ptr[k, i]:self.trw_ptr[k, i + 1]]:
                    TR[:, k, :, i, j, r] += self.ev[off + d * sd + t_tr * st]
        return P, R, TR


def _state_label(model: Model, i: int) -> str:
    s, d = model.layout[i]
    return f"{s!r} (sojourn {d})" if s in model.tunnels else repr(s)


def _draw_label(ids: np.ndarray, d: int, nd: int, total: int) -> str:
    """' in draw i' when the faulty array is per draw (or the chunk is one draw of many)."""
    if total > 1 and (nd > 1 or len(ids) == 1):
        return f" in draw {int(ids[d])}"
    return ""


class _Builder:
    """Evaluates one model on one chunk of draws."""

    def __init__(self, model: Model, draws: ResolvedDraws, lo: int, hi: int):
        self.model = model
        self.ids = draws.ids[lo:hi]
        self.n = hi - lo
        self.total = len(draws.ids)
        arr = {k: v[lo:hi].reshape(-1, 1, 1) for k, v in draws.arrays.items()}
        arr.update({k: np.full((1, 1, 1), v) for k, v in draws.fixed.items()})
        self.params = Params(arr, self.n if draws.arrays else 1)
        T = model.n_cycles
        self.cache: dict = {}  # strategy-free values: (id, state, n_cycles) -> (value, array)
        self.checked: set = set()  # ids of probability arrays already checked
        self.cyc_tr = np.arange(T).reshape(1, T, 1)
        self.cyc_rw = np.arange(T + 1).reshape(1, T + 1, 1)

    def ctx(self, strategy: str, state: str | None, cycles: np.ndarray, where: str) -> Context:
        L = self.model.tunnels.get(state, 1) if state is not None else 1
        time = Time(
            cycle=cycles,
            cycle_length=self.model.cycle_length,
            start_age=self.model.start_age,
            sojourn=np.arange(L).reshape(1, 1, L),
            strategy=strategy,
            where=where,
        )
        return Context(self.params, time, where)

    def value(self, v: Any, strategy: str, state: str | None, cycles: np.ndarray, where: str) -> np.ndarray:
        """Evaluate and check ``v``; a value that cannot depend on the strategy (no
        ``ByStrategy``, no callable) is evaluated once and shared by all strategies.
        """
        key = (id(v), state, cycles.shape[1]) if _strategy_free(v) else None
        hit = self.cache.get(key) if key is not None else None
        if hit is not None and hit[0] is v:
            return hit[1]
        a = self._value(v, strategy, state, cycles, where)
        if key is not None:
            self.cache[key] = (v, a)
        return a

    def _value(self, v: Any, strategy: str, state: str | None, cycles: np.ndarray, where: str) -> np.ndarray:
        a = evaluate(v, self.ctx(strategy, state, cycles, where))
        bad = ~np.isfinite(a)
        if bad.any():
            d, t, s = np.argwhere(bad)[0]
            what = "NaN (not a number)" if np.isnan(a[d, t, s]) else f"{float(a[d, t, s])!r}"
            soj = f" (sojourn {s})" if a.shape[2] > 1 else ""
            raise HtaError(
                f"{where}, cycle {int(t)}{soj}: value is {what}"
                f"{_draw_label(self.ids, d, a.shape[0], self.total)}; "
                f"check the parameter values and the formula that produce it"
            )
        return a

    def probability(self, v: Any, strategy: str, frm: str, to: str) -> np.ndarray:
        """An explicit transition probability, checked to lie in [0, 1]."""
        a = self.value(v, strategy, frm, self.cyc_tr, f"strategy {strategy!r}, transition {frm!r} -> {to!r}")
        if id(a) in self.checked:
            return a
        self.checked.add(id(a))
        for bad, what, fix in (
            (a < 0, "is negative", "probabilities must lie in [0, 1]"),
            (a > 1, "is above 1", "probabilities must lie in [0, 1]; if this is a rate, wrap it in Rate(...)"),
        ):
            if bad.any():
                d, t, l = np.argwhere(bad)[0]
                soj = f" (sojourn {l})" if frm in self.model.tunnels else ""
                raise HtaError(
                    f"strategy {strategy!r}, cycle {int(t)}, from {frm!r}{soj} to {to!r}: transition "
                    f"probability {float(a[d, t, l]):.6g} {what}"
                    f"{_draw_label(self.ids, d, a.shape[0], self.total)}; {fix}"
                )
        return a


def build_arrays(model: Model, draws: ResolvedDraws, lo: int, hi: int) -> ModelArrays:
    """Evaluate and check the kernel's inputs for draws ``lo:hi``."""
    b = _Builder(model, draws, lo, hi)
    K, S, S1 = len(model.strategies), len(model.states), len(model.layout)
    off = model.offsets
    pool = _Pool()

    def add_rows(rows: dict, k: int, state: str, a: np.ndarray, head: tuple) -> None:
        """Entries ``head + (offset, sd, st)`` for every tunnel slot of ``state``."""
        o, sd, st, ss = pool.add(a)
        for l in range(model.tunnels.get(state, 1)):
            rows.setdefault((k, off[state] + l), []).append(head + (o + l * ss, sd, st))

    # ---- transitions (cycles 0..T-1): explicit entries, checked rows, complements as entries
    tr_rows: dict = {}
    rows_done: dict = {}  # row key -> (arrays kept alive, complement)
    for k, strat in enumerate(model.strategies):
        rows = model.rows(strat)
        for frm in model.states:
            entries = rows.get(frm, {})
            if not entries:  # absorbing: stays with probability 1
                add_rows(tr_rows, k, frm, np.ones((1, 1, 1)), (model.states.index(frm),))
                continue
            explicit = {to: b.probability(v, strat, frm, to) for to, v in entries.items()
                        if not isinstance(v, Complement)}
            comp_to = next((to for to, v in entries.items() if isinstance(v, Complement)), None)
            row_key = (frm, comp_to) + tuple((to, id(arr)) for to, arr in explicit.items())
            if row_key not in rows_done:  # the same entries in another strategy: same row
                total = sum(explicit.values(), np.zeros((1, 1, 1)))
                _check_row(model, b, strat, frm, comp_to, explicit, total)
                rest = np.maximum(1.0 - total, 0.0) if comp_to is not None else None  # |noise| <= tol -> 0
                rows_done[row_key] = (list(explicit.values()), rest)
            rest = rows_done[row_key][1]
            for to, arr in explicit.items():
                add_rows(tr_rows, k, frm, arr, (model.states.index(to),))
            if comp_to is not None:
                add_rows(tr_rows, k, frm, rest, (model.states.index(comp_to),))
    tr_ptr, tr_ent = _csr(tr_rows, K, S1, 4)

    dest = np.empty((S1, S), dtype=np.int64)
    for i, (s, dd) in enumerate(model.layout):
        L = model.tunnels.get(s, 1)
        for j, to in enumerate(model.states):
            dest[i, j] = off[s] + min(dd + 1, L - 1) if (to == s and L > 1) else off[to]

    # ---- start distribution
    starts = []
    for k, strat in enumerate(model.strategies):
        for s, v in model.start_for(strat).items():
            where = f"strategy {strat!r}, start share of {s!r}"
            a = b.value(v, strat, None, b.cyc_tr[:, :1], where)
            starts.append((k, s, a))
    nds = max(a.shape[0] for *_, a in starts)
    start = np.zeros((nds, K, S1))
    for k, s, a in starts:
        start[:, k, off[s]] = np.broadcast_to(a[:, 0, 0], (nds,))
    neg = start < 0
    if neg.any():
        d, k, i = np.argwhere(neg)[0]
        raise HtaError(
            f"strategy {model.strategies[k]!r}: start share of {model.layout[i][0]!r} is "
            f"{start[d, k, i]:.6g}{_draw_label(b.ids, d, nds, b.total)}; shares must be >= 0"
        )
    tot = start.sum(axis=-1)
    bad = np.abs(tot - 1.0) > _TOL
    if bad.any():
        d, k = np.argwhere(bad)[0]
        raise HtaError(
            f"strategy {model.strategies[k]!r}: start distribution sums to {tot[d, k]:.12g}, not 1"
            f"{_draw_label(b.ids, d, nds, b.total)}; make the shares sum to 1 (e.g. {{{model.states[0]!r}: 1.0}})"
        )

    # ---- state rewards per cycle (cycles 0..T)
    comps = model.cost_components
    columns = tuple(comps) + ("qaly", "ly")
    NR = len(columns)
    h = model.cycle_length
    rw_rows: dict = {}
    life_year = np.full((1, 1, 1), h)
    for k, strat in enumerate(model.strategies):
        for r, comp_name in enumerate(comps):
            for s, v in model.costs.get(comp_name, {}).items():
                a = b.value(v, strat, s, b.cyc_rw, f"strategy {strat!r}, cost {comp_name!r} of state {s!r}")
                add_rows(rw_rows, k, s, a, (r,))
        for s, v in model.utilities.items():
            a = b.value(v, strat, s, b.cyc_rw, f"strategy {strat!r}, utility of state {s!r}")
            add_rows(rw_rows, k, s, a * h, (NR - 2,))
        for s in model.states:
            if s not in model.dead:
                add_rows(rw_rows, k, s, life_year, (NR - 1,))
    rw_ptr, rw_ent = _csr(rw_rows, K, S1, 4)

    # ---- one-off transition rewards (cycles 0..T-1)
    trw_rows: dict = {}
    for k, strat in enumerate(model.strategies):
        items = [(comps.index(c), key, v) for c, tab in model.transition_costs.items() for key, v in tab.items()]
        items += [(NR - 2, key, v) for key, v in model.transition_utilities.items()]
        for r, (a_, to), v in items:
            froms = [s for s in model.states if s != to] if a_ == ANY else [a_]
            what = columns[r] if r < len(comps) else "qaly"
            for frm in froms:
                where = f"strategy {strat!r}, transition {what} {a_!r} -> {to!r}"
                a = b.value(v, strat, frm, b.cyc_tr, where)
                add_rows(trw_rows, k, frm, a, (model.states.index(to), r))
    trw_ptr, trw_ent = _csr(trw_rows, K, S1, 5)

    # ---- one-off rewards at time 0, weighted by the start distribution
    inits = []
    for k, strat in enumerate(model.strategies):
        items = [(comps.index(c), s, v) for c, tab in model.start_costs.items() for s, v in tab.items()]
        items += [(NR - 2, s, v) for s, v in model.start_utilities.items()]
        for r, s, v in items:
            what = f"start cost {columns[r]!r}" if r < len(comps) else "start utility"
            a = b.value(v, strat, s, b.cyc_tr[:, :1], f"strategy {strat!r}, {what} of state {s!r}")
            inits.append((k, off[s], r, a[:, 0, 0]))
    ndi = max([a.shape[0] for *_, a in inits] + [nds])
    initial = np.zeros((ndi, K, NR))
    for k, i, r, a in inits:
        initial[:, k, r] += np.broadcast_to(start[:, k, i], (ndi,)) * np.broadcast_to(a, (ndi,))

    return ModelArrays(ev=pool.array(), tr_ptr=tr_ptr, tr_ent=tr_ent, dest=dest,
                        start=start, rw_ptr=rw_ptr, rw_ent=rw_ent, trw_ptr=trw_ptr, trw_ent=trw_ent,
                        columns=columns, initial=initial, n=b.n, n_cycles=model.n_cycles)


def _strategy_free(v: Any) -> bool:
    """Whether a value cannot depend on the strategy: no ByStrategy and no callable inside."""
    from sim.model.values import ByStrategy, Expr, _walk

    for node in _walk(v):
        if isinstance(node, ByStrategy) or (callable(node) and not isinstance(node, Expr)):
            return False
    return True


def _check_row(model: Model, b: _Builder, strat: str, frm: str, comp_to: str | None,
               explicit: dict, total: np.ndarray) -> None:
    """A row's explicit probabilities must leave a complement >= -tol, or sum to 1 within tol."""
    bad = (1.0 - total < -_TOL) if comp_to is not None else (np.abs(total - 1.0) > _TOL)
    if not bad.any():
        return
    d, t, l = np.argwhere(bad)[0]
    soj = f" (sojourn {l})" if frm in model.tunnels else ""
    row = ", ".join(f"{to!r} {float(np.broadcast_to(a, total.shape)[d, t, l]):.6g}" for to, a in explicit.items())
    where = f"strategy {strat!r}, cycle {int(t)}, from {frm!r}{soj}"
    draw = _draw_label(b.ids, d, total.shape[0], b.total)
    s = float(total[d, t, l])
    if comp_to is not None:
        raise HtaError(
            f"{where} to {comp_to!r}: the complement C would be {1 - s:.6g}{draw}, because the row's "
            f"other entries ({row}) sum to {s:.10g} > 1; lower them so they sum to at most 1"
        )
    raise HtaError(
        f"{where}: transition probabilities sum to {s:.12g}, not 1{draw} (to: {row}); "
        f"make them sum to 1 or mark one entry C"
    )


def coefficients(model: Model, columns: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    T = model.n_cycles
    own, prev = correction_weights(model.correction, T)
    tau = point_times(T, model.cycle_length, model.discount_timing)
    NR = len(columns)
    c_own = np.zeros((2, NR, T + 1))
    c_prev = np.zeros((2, NR, T + 1))
    c_tr = np.ones((2, NR, T))
    for r, col in enumerate(columns):
        disc = model.discount_outcomes if col in ("qaly", "ly") else model.discount_costs
        f = disc.factor(tau)
        c_own[0, r], c_own[1, r] = own * f, own
        c_prev[0, r], c_prev[1, r] = prev * f, prev
        c_tr[0, r] = f[1:]
    return c_own, c_prev, c_tr
