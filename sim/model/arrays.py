"""Evaluating a model on draws: the arrays both engines simulate from.

:func:`build_arrays` evaluates every value of a :class:`~sim.model.Model` (each
transition probability, start share and reward) with :func:`sim.model.evaluate.evaluate`
on arrays over a chunk of draws and all cycles at once, checks them where strategy,
cycle, states and draw are known, and stores each evaluated array once, at its own
shape, in one flat pool (:class:`~sim.model.pool.ModelArrays`; layout in
``sim/cohort/_kernels.py``). It works in steps, one function each: transitions (row
checks, complements), destinations, start distribution, state rewards, transition
rewards, one-off rewards at time 0. The cohort engine runs its kernel on these
arrays; the patient-level engine reads the same probabilities and rewards. Neither
engine imports the other.

The draws (:func:`~sim.model.draws.resolve_draws`) and the storage
(:mod:`sim.model.pool`) have modules of their own; their public names are importable
from here too, with :func:`coefficients` and :data:`DEFAULT_MEMORY`.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from sim.errors import HtaError
from sim.model.compile import ModelCompiler, Slot
from sim.model.conventions import correction_coefficients, point_times, transition_coefficients
from sim.model.draws import ResolvedDraws, resolve_draws
from sim.model.evaluate import Context, Params, Time, evaluate
from sim.model.pool import ModelArrays, Pool, csr
from sim.model.spec import Model
from sim.model.values import ANY, ByStrategy, Complement, walk

__all__ = ["ModelArrays", "ResolvedDraws", "build_arrays", "resolve_draws", "coefficients", "DEFAULT_MEMORY"]

#: Default byte budget for one chunk's arrays (256 MiB).
DEFAULT_MEMORY = 256 * 2**20

_TOL = 1e-9  # tolerance for row sums and complements


def build_arrays(model: Model, draws: ResolvedDraws, lo: int, hi: int, *, collapse: bool = True,
                 programs: bool = False) -> ModelArrays:
    """Evaluate and check the kernel's inputs for draws ``lo:hi``.

    Parameters
    ----------
    model : Model
        The model.
    draws : ResolvedDraws
        All draws of the run (:func:`resolve_draws`).
    lo, hi : int
        The chunk: draws ``lo`` to ``hi - 1``.
    collapse : bool
        Evaluate a parameter whose draws in the chunk are all equal without a draw axis
        (the numbers are the same; the pool is smaller). False keeps one value per draw,
        as a memory probe on a few draws needs.
    programs : bool
        Compile the expressions that vary by draw and cycle into programs the cohort kernel runs
        (``sim/model/compile.py``) instead of evaluating and storing them; their checks then run in
        the kernel, and a failing chunk is evaluated again without programs to raise the message.

    Returns
    -------
    ModelArrays
        The pool of evaluated values, the CSR entries, destinations, start
        distribution and one-off rewards at time 0 of the chunk.
    """
    b = _Builder(model, draws, lo, hi, collapse, programs)
    columns = tuple(model.cost_components) + ("qaly", "ly")
    # the order of the steps is the order of the pool and of the error messages
    tr_ptr, tr_ent = _transitions(b)
    dest = _destinations(model)
    start = _start(b)
    rw_ptr, rw_ent = _state_rewards(b, columns)
    trw_ptr, trw_ent = _transition_rewards(b, columns)
    initial = _initial_rewards(b, start, columns)
    prog = b.programs.arrays() if b.programs is not None else None
    b.comp = None  # its context function refers back to b: free the chunk now, not at the next gc
    return ModelArrays(ev=b.pool.array(), tr_ptr=tr_ptr, tr_ent=tr_ent, dest=dest, start=start, rw_ptr=rw_ptr,
                       rw_ent=rw_ent, trw_ptr=trw_ptr, trw_ent=trw_ent, columns=columns, initial=initial, n=b.n,
                       n_cycles=model.n_cycles, prog=prog)


# ---------------------------------------------------------------------------- evaluating and checking a value
def _draw_label(ids: np.ndarray, d: int, nd: int, total: int) -> str:
    """' in draw i' when the faulty array is per draw (or the chunk is one draw of many)."""
    if total > 1 and (nd > 1 or len(ids) == 1):
        return f" in draw {int(ids[d])}"
    return ""


def _branches(v: Any, strategy: str) -> tuple:
    """The branch every ``ByStrategy`` node of ``v`` picks for ``strategy`` (numbers and names by value)."""
    out = []
    for node in walk(v):
        if isinstance(node, ByStrategy):
            pick = node.values.get(strategy, node.default)
            out.append((type(pick).__name__, pick) if isinstance(pick, (str, float, int)) else ("id", id(pick)))
    return tuple(out)


class _Watched(Time):
    """:class:`Time` noting whether the evaluation read the strategy (``strategy_read``).

    ``where`` names the strategy too, so reading it counts.
    """

    def __getattribute__(self, name: str) -> Any:
        if name == "strategy" or name == "where":
            object.__setattr__(self, "_strategy_read", True)
        return super().__getattribute__(name)

    @property
    def strategy_read(self) -> bool:
        """Whether anything read ``strategy`` since this time was made."""
        return self.__dict__.get("_strategy_read", False)


_VARYING: dict = {}  # id(draws) -> (weak reference, the parameters varying in the run)

def _run_varying(draws: ResolvedDraws) -> set:
    """The parameters whose draws are not all equal in the whole run (not only in a chunk); once per draws object."""
    hit = _VARYING.get(id(draws))
    if hit is not None and hit[0]() is draws:
        return hit[1]
    out = {k for k, v in draws.arrays.items() if v.size > 1 and not (v == v[0]).all()}
    if len(_VARYING) > 16:
        _VARYING.clear()
    _VARYING[id(draws)] = (weakref.ref(draws), out)
    return out


def _collapsed(v: np.ndarray) -> np.ndarray:
    """A parameter's draws of one chunk as ``(n, 1, 1)``, or ``(1, 1, 1)`` when every draw has the same value.

    A parameter a table keeps fixed arrives as one equal value per draw; stored with a length-1 draw
    axis, every value computed from it alone (a life table by age, say) is evaluated once per cycle
    instead of once per draw and cycle, and pooled with a zero draw stride. The numbers are the same.
    """
    if v.size > 1 and v[0] == v[-1] and (v == v[0]).all():
        return v[:1].reshape(1, 1, 1)
    return v.reshape(-1, 1, 1)


class _Builder:
    """Evaluates the values of one model on one chunk of draws and pools them."""

    def __init__(self, model: Model, draws: ResolvedDraws, lo: int, hi: int, collapse: bool = True,
                 programs: bool = False):
        self.model = model
        self.ids = draws.ids[lo:hi]
        self.n = hi - lo
        self.total = len(draws.ids)
        arr = {k: _collapsed(v[lo:hi]) if collapse else v[lo:hi].reshape(-1, 1, 1) for k, v in draws.arrays.items()}
        arr.update({k: np.full((1, 1, 1), v) for k, v in draws.fixed.items()})
        self.params = Params(arr, self.n if draws.arrays else 1)
        T = model.n_cycles
        self.cache: dict = {}  # strategy-free values: (id, state, n_cycles) -> (value, array)
        self.checked: set = set()  # ids of probability arrays already checked
        self.cyc_tr = np.arange(T).reshape(1, T, 1)
        self.cyc_rw = np.arange(T + 1).reshape(1, T + 1, 1)
        self.pool = Pool()
        # parameters varying in the run (not only in this chunk): every chunk compiles the same nodes
        varying = _run_varying(draws) if programs else set()
        self.comp = ModelCompiler(model, self.pool, lambda s, c, w: self.ctx(s, None, c, w),
                                  varying.__contains__) if programs else None
        self.programs = self.comp.P if self.comp is not None else None

    def compiled(self, v: Any, k: int, strategy: str, state: str, cycles: np.ndarray, where: str,
                 checks: str) -> Slot | None:
        """The compiled slot of ``v`` (:meth:`ModelCompiler.value`), or None: evaluate it with numpy."""
        return None if self.comp is None else self.comp.value(v, k, strategy, state, cycles, where, checks)

    def row_program(self, k: int, explicit: dict, comp_to: str | None) -> Slot:
        """The complement (or the sum check) of a row with compiled entries."""
        return self.comp.row(k, explicit, comp_to, _TOL)

    def ctx(self, strategy: str, state: str | None, cycles: np.ndarray, where: str) -> Context:
        L = self.model.tunnels.get(state, 1) if state is not None else 1
        time = _Watched(
            cycle=cycles,
            cycle_length=self.model.cycle_length,
            start_age=self.model.start_age,
            sojourn=np.arange(L).reshape(1, 1, L),
            strategy=strategy,
            where=where,
        )
        return Context(self.params, time, where)

    def value(self, v: Any, strategy: str, state: str | None, cycles: np.ndarray, where: str) -> np.ndarray:
        """Evaluate ``v`` and check that it is finite.

        A value whose evaluation did not read the strategy (no callable that looks at
        ``t.strategy`` or ``t.where``) is evaluated once for all strategies whose
        ``ByStrategy`` nodes pick the same branches (all strategies when it has none):
        values are functions of ``(p, t)``, so those strategies would compute the same numbers.
        """
        key = (id(v), state, cycles.shape[1], _branches(v, strategy))
        hit = self.cache.get(key)
        if hit is not None and hit[0] is v:
            return hit[1]
        ctx = self.ctx(strategy, state, cycles, where)
        a = self._finite(v, ctx)
        if not ctx.time.strategy_read:
            self.cache[key] = (v, a)
        return a

    def _finite(self, v: Any, ctx: Context) -> np.ndarray:
        a = evaluate(v, ctx)
        bad = ~np.isfinite(a)
        if bad.any():
            d, t, s = np.argwhere(bad)[0]
            what = "NaN (not a number)" if np.isnan(a[d, t, s]) else f"{float(a[d, t, s])!r}"
            soj = f" (sojourn {s})" if a.shape[2] > 1 else ""
            raise HtaError(
                f"{ctx.where}, cycle {int(t)}{soj}: value is {what}"
                f"{_draw_label(self.ids, d, a.shape[0], self.total)}; "
                f"check the parameter values and the formula that produce it"
            )
        return a

    def probability(self, v: Any, strategy: str, frm: str, to: str, k: int = 0) -> np.ndarray | Slot:
        """An explicit transition probability, checked to lie in [0, 1] (or its compiled slot)."""
        where = f"strategy {strategy!r}, transition {frm!r} -> {to!r}"
        slot = self.compiled(v, k, strategy, frm, self.cyc_tr, where, "prob")
        if slot is not None:
            return slot
        a = self.value(v, strategy, frm, self.cyc_tr, where)
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

    def utility_bound(self, a: np.ndarray, strategy: str, state: str) -> None:
        """Check that a state utility (per year) is at most the model's ``utility_max``."""
        top = self.model.utility_max
        if top is None or not (a > top).any():
            return
        d, t, l = np.argwhere(a > top)[0]
        soj = f" (sojourn {l})" if a.shape[2] > 1 else ""
        raise HtaError(
            f"strategy {strategy!r}, utility of state {state!r}, cycle {int(t)}{soj}: {float(a[d, t, l]):.6g} "
            f"is above {float(top):g}{_draw_label(self.ids, d, a.shape[0], self.total)}; utilities are per year "
            f"on the 0-1 scale (0.85, not 85); if this value is a difference or another scale, build the "
            f"Model with utility_max=None"
        )

    def entries(self, rows: dict, k: int, state: str, a: np.ndarray | Slot, head: tuple) -> None:
        """Pool ``a`` and add entries ``head + (offset, sd, st)`` for every tunnel slot of ``state``.

        A compiled value (:class:`~sim.model.compile.Slot`, never in a tunnel state) is entry
        ``head + (slot, -1, 1)``.
        """
        if isinstance(a, Slot):
            rows.setdefault((k, self.model.offsets[state]), []).append(head + (a.index, -1, 1))
            return
        o, sd, st, ss = self.pool.add(a)
        first = self.model.offsets[state]
        for l in range(self.model.tunnels.get(state, 1)):
            rows.setdefault((k, first + l), []).append(head + (o + l * ss, sd, st))


# ---------------------------------------------------------------------------- the steps
def _transitions(b: _Builder) -> tuple[np.ndarray, np.ndarray]:
    """Transitions (cycles 0..T-1): explicit entries, checked rows, complements as entries."""
    model = b.model
    tr_rows: dict = {}
    rows_done: dict = {}  # row key -> (arrays kept alive, complement)
    for k, strat in enumerate(model.strategies):
        rows = model.rows(strat)
        for frm in model.states:
            entries = rows.get(frm, {})
            if not entries:  # absorbing: stays with probability 1
                b.entries(tr_rows, k, frm, np.ones((1, 1, 1)), (model.states.index(frm),))
                continue
            explicit = {to: b.probability(v, strat, frm, to, k) for to, v in entries.items()
                        if not isinstance(v, Complement)}
            comp_to = next((to for to, v in entries.items() if isinstance(v, Complement)), None)
            row_key = (frm, comp_to) + tuple((to, id(arr)) for to, arr in explicit.items())
            if row_key not in rows_done and any(isinstance(a, Slot) for a in explicit.values()):
                rows_done[row_key] = (list(explicit.values()), b.row_program(k, explicit, comp_to))
            elif row_key not in rows_done:  # the same entries in another strategy: same row
                total = _row_sum(list(explicit.values()))
                free = 1.0 - total if comp_to is not None else None
                _check_row(b, strat, frm, comp_to, explicit, total, free)
                rest = np.maximum(free, 0.0, out=free) if comp_to is not None else None  # |noise| <= tol -> 0
                rows_done[row_key] = (list(explicit.values()), rest)
            rest = rows_done[row_key][1]
            for to, arr in explicit.items():
                b.entries(tr_rows, k, frm, arr, (model.states.index(to),))
            if comp_to is not None:
                b.entries(tr_rows, k, frm, rest, (model.states.index(comp_to),))
    return csr(tr_rows, len(model.strategies), len(model.layout), 4)


def _row_sum(arrays: list) -> np.ndarray:
    """The sum of a row's explicit probabilities, added left to right (a new array, at its broadcast shape)."""
    if not arrays:
        return np.zeros((1, 1, 1))
    total = arrays[0] + 0.0  # the same numbers as summing from zero, in a fresh array
    for a in arrays[1:]:
        if np.broadcast_shapes(total.shape, a.shape) == total.shape:
            total += a
        else:
            total = total + a
    return total


def _check_row(b: _Builder, strat: str, frm: str, comp_to: str | None,
               explicit: dict, total: np.ndarray, free: np.ndarray | None) -> None:
    """A row's explicit probabilities must leave a complement ``free = 1 - total`` >= -tol, or sum to 1 within tol."""
    bad = (free < -_TOL) if comp_to is not None else (np.abs(total - 1.0) > _TOL)
    if not bad.any():
        return
    d, t, l = np.argwhere(bad)[0]
    soj = f" (sojourn {l})" if frm in b.model.tunnels else ""
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


def _destinations(model: Model) -> np.ndarray:
    """``dest (S1, S)``: the expanded state reached from expanded state i moving to state j.

    Staying in a tunnel moves on one slot; moving along a ``carry_sojourn`` pair enters the
    next tunnel at the slot after the current one; any other move enters slot 0.
    """
    off = model.offsets
    carry = set(model.carry_sojourn)
    dest = np.empty((len(model.layout), len(model.states)), dtype=np.int64)
    for i, (s, dd) in enumerate(model.layout):
        L = model.tunnels.get(s, 1)
        for j, to in enumerate(model.states):
            if to == s and L > 1:
                dest[i, j] = off[s] + min(dd + 1, L - 1)
            elif (s, to) in carry:
                dest[i, j] = off[to] + min(dd + 1, model.tunnels[to] - 1)
            else:
                dest[i, j] = off[to]
    return dest


def _start(b: _Builder) -> np.ndarray:
    """Start distribution ``(n | 1, K, S1)``, checked: shares >= 0 summing to 1."""
    model = b.model
    K, S1, off = len(model.strategies), len(model.layout), model.offsets
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
    return start


def _state_rewards(b: _Builder, columns: tuple) -> tuple[np.ndarray, np.ndarray]:
    """State rewards per cycle (cycles 0..T): costs, utilities x cycle length, life-years."""
    model = b.model
    comps, NR, h = columns[:-2], len(columns), model.cycle_length
    rw_rows: dict = {}
    life_year = np.full((1, 1, 1), h)
    for k, strat in enumerate(model.strategies):
        for r, comp_name in enumerate(comps):
            for s, v in model.costs.get(comp_name, {}).items():
                where = f"strategy {strat!r}, cost {comp_name!r} of state {s!r}"
                a = b.compiled(v, k, strat, s, b.cyc_rw, where, "finite")
                a = b.value(v, strat, s, b.cyc_rw, where) if a is None else a
                b.entries(rw_rows, k, s, a, (r,))
        for s, v in model.utilities.items():
            where = f"strategy {strat!r}, utility of state {s!r}"
            slot = b.compiled(v, k, strat, s, b.cyc_rw, where, "utility")
            if slot is not None:
                b.entries(rw_rows, k, s, slot, (NR - 2,))
                continue
            a = b.value(v, strat, s, b.cyc_rw, where)
            b.utility_bound(a, strat, s)
            b.entries(rw_rows, k, s, a * h, (NR - 2,))
        for s in model.states:
            if s not in model.dead:
                b.entries(rw_rows, k, s, life_year, (NR - 1,))
    return csr(rw_rows, len(model.strategies), len(model.layout), 4)


def _transition_rewards(b: _Builder, columns: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One-off transition costs and utilities (cycles 0..T-1); from :data:`ANY` = from every other state."""
    model = b.model
    comps, NR = columns[:-2], len(columns)
    trw_rows: dict = {}
    for k, strat in enumerate(model.strategies):
        items = [(comps.index(c), key, v) for c, tab in model.transition_costs.items() for key, v in tab.items()]
        items += [(NR - 2, key, v) for key, v in model.transition_utilities.items()]
        for r, (a_, to), v in items:
            froms = [s for s in model.states if s != to] if a_ == ANY else [a_]
            what = columns[r] if r < len(comps) else "qaly"
            for frm in froms:
                where = f"strategy {strat!r}, transition {what} {a_!r} -> {to!r}"
                a = b.compiled(v, k, strat, frm, b.cyc_tr, where, "finite")
                a = b.value(v, strat, frm, b.cyc_tr, where) if a is None else a
                b.entries(trw_rows, k, frm, a, (model.states.index(to), r))
    return csr(trw_rows, len(model.strategies), len(model.layout), 5)


def _initial_rewards(b: _Builder, start: np.ndarray, columns: tuple) -> np.ndarray:
    """One-off rewards at time 0 ``(n | 1, K, NR)``, weighted by the start distribution."""
    model = b.model
    comps, NR, off = columns[:-2], len(columns), model.offsets
    inits = []
    for k, strat in enumerate(model.strategies):
        items = [(comps.index(c), s, v) for c, tab in model.start_costs.items() for s, v in tab.items()]
        items += [(NR - 2, s, v) for s, v in model.start_utilities.items()]
        for r, s, v in items:
            what = f"start cost {columns[r]!r}" if r < len(comps) else "start utility"
            a = b.value(v, strat, s, b.cyc_tr[:, :1], f"strategy {strat!r}, {what} of state {s!r}")
            inits.append((k, off[s], r, a[:, 0, 0]))
    ndi = max([a.shape[0] for *_, a in inits] + [start.shape[0]])
    initial = np.zeros((ndi, len(model.strategies), NR))
    for k, i, r, a in inits:
        initial[:, k, r] += np.broadcast_to(start[:, k, i], (ndi,)) * np.broadcast_to(a, (ndi,))
    return initial


# ---------------------------------------------------------------------------- conventions as coefficients
def coefficients(model: Model, columns: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correction x discount coefficients of every reward column (see ``docs/conventions.md``).

    Parameters
    ----------
    model : Model
        The model (correction, discount rates and timing, cycles).
    columns : tuple of str
        Reward columns; ``"qaly"`` and ``"ly"`` are discounted as outcomes, the others as costs.

    Returns
    -------
    c_own, c_prev : ndarray, shape (2, NR, T + 1)
        Weight x discount of a trace point's own-cycle and previous-cycle reward
        (index 0 discounted, 1 undiscounted).
    c_tr : ndarray, shape (2, NR, T)
        Discount of the transition rewards of cycle t (1 when undiscounted).
    """
    T = model.n_cycles
    tau = point_times(T, model.cycle_length, model.discount_timing)
    NR = len(columns)
    c_own = np.zeros((2, NR, T + 1))
    c_prev = np.zeros((2, NR, T + 1))
    c_tr = np.ones((2, NR, T))
    ones = np.ones(T + 1)
    undiscounted = correction_coefficients(model.correction, ones)
    tr_undiscounted = transition_coefficients(model.correction, model.transition_rewards, ones)
    for r, col in enumerate(columns):
        disc = model.discount_outcomes if col in ("qaly", "ly") else model.discount_costs
        f = disc.factor(tau)
        (c_own[0, r], c_prev[0, r]), (c_own[1, r], c_prev[1, r]) = correction_coefficients(model.correction, f), \
            undiscounted
        c_tr[0, r] = transition_coefficients(model.correction, model.transition_rewards, f)
        c_tr[1, r] = tr_undiscounted
    return c_own, c_prev, c_tr
