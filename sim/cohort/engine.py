"""The Markov cohort engine: evaluate a model over draws, run the kernel, assemble results.

:func:`run_cohort` is a pure function of (model, draws, settings). It evaluates and
checks the model chunk by chunk (:func:`sim.model.arrays.build_arrays`, which calls
:mod:`sim.model.evaluate` for every value), runs the compiled kernel of
``_kernels.py`` on each chunk (:func:`cohort_totals`) and returns a
:class:`~sim.results.CohortResult`. Every draw is computed independently, so results
do not depend on the chunk size. Design: ``docs/engine.md``.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd

from sim._config import run_split
from sim.cohort import _kernels
from sim.errors import HtaError
from sim.model.arrays import (
    DEFAULT_MEMORY,
    ModelArrays,
    ResolvedDraws,
    build_arrays,
    coefficients,
    resolve_draws,
)
from sim.model.compile import ProgramArrays
from sim.model.conventions import model_conventions
from sim.model.spec import Model
from sim.results import CohortResult, make_settings, outcome_column, outcome_columns, outcome_data

__all__ = ["run_cohort", "cohort_totals", "cohort_settings"]


def _bytes_per_draw(model: Model, trace: bool) -> int:
    """Upper bound of the memory a draw needs (values varying by draw and cycle, trace)."""
    K, S, S1, T = len(model.strategies), len(model.states), len(model.layout), model.n_cycles
    NR = len(model.cost_components) + 2
    per = K * (T * S1 * S + (T + 1) * S1 * NR) * 8
    if model.transition_costs or model.transition_utilities:
        per += K * T * S1 * S * NR * 8
    if trace:
        per += 2 * K * (T + 1) * S1 * 8
    return max(per, 1)


_PROBES: dict = {}  # (id(model), varying parameters, trace) -> (weakref to model, bytes per draw)


def _probe_bytes_per_draw(model: Model, draws: ResolvedDraws, trace: bool) -> float:
    """Bytes a draw needs, measured by evaluating the model on two draws.

    A value varying by draw is stored twice, one that does not is stored once, so the
    two-draw pool bounds what each further draw adds plus the shared part (an
    over-estimate, never an under-estimate). Remembered per model object and set of
    varying parameters, so repeated runs (a PSA in chunks) probe once.
    """
    key = (id(model), tuple(sorted(draws.arrays)), trace)
    hit = _PROBES.get(key)
    if hit is not None and hit[0]() is model:
        return hit[1]
    a = build_arrays(model, draws, 0, min(2, len(draws.ids)), collapse=False)  # two equal draws may differ later
    K, T, S1 = len(model.strategies), model.n_cycles, len(model.layout)
    per = (a.ev.nbytes + a.start.nbytes) + (2 * K * (T + 1) * S1 * 8 if trace else 0) + 64
    if len(_PROBES) > 64:
        _PROBES.clear()
    _PROBES[key] = (weakref.ref(model), per)
    return per


# ---------------------------------------------------------------------------- run
def _occupancy_weights(c_own: np.ndarray, c_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of :func:`~sim.cohort._kernels.occupancy_kernel`.

    The distinct weight vectors ``w (U, T + 1)`` and the row ``col_w (2, NR)`` each
    (discounting, column) pair uses.

    With rewards fixed over cycles, a point's own- and previous-cycle rewards are
    equal, so its weight is ``c_own + c_prev``; columns discounted alike share a row.
    """
    w = c_own + c_prev  # (2, NR, T + 1)
    flat = w.reshape(-1, w.shape[-1])
    rows, col_w = np.unique(flat, axis=0, return_inverse=True)
    return np.ascontiguousarray(rows), col_w.reshape(w.shape[:2]).astype(np.int64)


def _occupancy_applies(a: ModelArrays) -> bool:
    """Whether the occupancy kernel computes this chunk.

    It does when no state reward varies by cycle and there are no transition rewards
    (a property of the model, not of the chunk, so every chunk takes the same kernel).
    """
    return a.trw_ent.shape[0] == 0 and not a.rw_ent[:, 3].any()


def _rewards_by_point(a: ModelArrays, tr: np.ndarray, c_own: np.ndarray, c_prev: np.ndarray, c_tr: np.ndarray,
                      out: np.ndarray) -> None:
    """Rewards counted at each trace point, ``out (n, K, T + 1, 2, NR)``, from the expanded trace.

    Point ``t`` gets ``c_own[t] <m_t, r_t> + c_prev[t] <m_t, r_{t-1}>`` (state rewards), the
    transition rewards of the cycle that ends at ``t`` (``c_tr[t-1]`` times the flows) and, at
    ``t = 0``, the start rewards: the terms the kernel adds up, kept apart (numpy; on request only).
    """
    n, K, T1 = out.shape[0], out.shape[1], out.shape[2]
    T = T1 - 1
    d = np.arange(n)[:, None]

    def values(entry_offset, sd, st, cycles):  # a pooled value at (draw, cycle): (n, cycles)
        return a.ev[entry_offset + d * sd + np.arange(cycles)[None, :] * st]

    out[:] = 0.0
    for k in range(K):
        for i in range(tr.shape[3]):
            m = tr[:, k, :, i]
            for e in range(a.rw_ptr[k, i], a.rw_ptr[k, i + 1]):
                r, o, sd, st = a.rw_ent[e]
                R = values(o, sd, st, T1)
                R_prev = np.concatenate([R[:, :1], R[:, :-1]], axis=1)
                for g in range(2):
                    out[:, k, :, g, r] += m * (c_own[g, r] * R + c_prev[g, r] * R_prev)
            if a.trw_ptr[k, i + 1] == a.trw_ptr[k, i]:
                continue
            p = {int(j): values(o, sd, st, T) for j, o, sd, st in a.tr_ent[a.tr_ptr[k, i]:a.tr_ptr[k, i + 1]]}
            for j, r, o, sd, st in a.trw_ent[a.trw_ptr[k, i]:a.trw_ptr[k, i + 1]]:
                flow = m[:, :T] * p[int(j)] * values(o, sd, st, T)
                for g in range(2):
                    out[:, k, 1:, g, r] += flow * c_tr[g, r]
    if a.has_initial:
        out[:, :, 0, :, :] += a.initial[:, :, None, :]


_COEFFICIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {columns: arrays}


def _model_coefficients(model: Model, columns: tuple, occupancy: bool):
    """``coefficients(model, columns)`` and the occupancy weights, computed once per model object.

    A :class:`Model` is frozen (its mappings too), so what depends only on the model is
    cached on the object itself (weakly: the entry goes with the model); a changed model
    (``dataclasses.replace``) is a new object with its own entry. The arrays stay writeable
    (a read-only array is another Numba type, hence another compiled specialisation):
    nothing writes to them.
    """
    per = _COEFFICIENTS.get(model)
    if per is None:
        per = _COEFFICIENTS[model] = {}
    hit = per.get((columns, occupancy))
    if hit is None:
        c_own, c_prev, c_tr = coefficients(model, columns)
        occ = _occupancy_weights(c_own, c_prev) if occupancy else None
        hit = per[(columns, occupancy)] = (c_own, c_prev, c_tr, occ)
    return hit


#: Draws x trace points x (strategies x states + program instructions) worth a thread of their
#: own (about 0.5 ms of kernel): a compiled value's instructions run for every draw and cycle.
_MIN_WORK = 1_000_000


def _shifted(ent: np.ndarray, col: int, d0: int) -> np.ndarray:
    """Entries ``[..., offset, sd, ...]`` (offset in column ``col``) for draws starting at ``d0``.

    Entries of compiled values (``sd = -1``: the offset is a slot) do not move.
    """
    if d0 == 0:
        return ent
    out = ent.copy()
    out[:, col] += d0 * np.maximum(ent[:, col + 1], 0)
    return out


_EMPTY: dict = {}


def _no_programs(T: int) -> ProgramArrays:
    """Empty programs for ``T`` cycles (the kernels take them: one compiled signature for every model)."""
    hit = _EMPTY.get(T)
    if hit is None:
        hit = _EMPTY[T] = ProgramArrays.empty(T)
    return hit


def _run_kernel(a: ModelArrays, out: np.ndarray, tr: np.ndarray, trace: bool, coefs: tuple, occupancy) -> bool:
    """Run the chunk's kernel, one call per thread on a range of whole draw blocks.

    A call on draws ``d0:d1`` sees them as draws ``0:d1-d0``: the entries' offsets of
    values varying by draw move by ``d0`` (those with ``sd = 0`` do not), the start
    distribution, totals and trace are sliced. Every draw's arithmetic is unchanged,
    so the numbers do not depend on the split. With compiled values (``a.prog``), the
    program kernels run them; returns False when one of their checks failed (the
    totals are then not valid).
    """
    prog = a.prog if a.prog is not None else _no_programs(a.n_cycles)
    err = np.zeros(1, dtype=np.int64)
    address = _kernels.programs_address() if len(prog) else 0  # the interpreter compiles only if needed

    def part(d0: int, d1: int) -> None:
        start = a.start[d0:d1] if a.start.shape[0] > 1 else a.start
        trp = tr[d0:d1] if trace else tr
        tr_ent, rw_ent = _shifted(a.tr_ent, 1, d0), _shifted(a.rw_ent, 1, d0)
        pa = (prog.code, prog.consts, prog.shifted(d0), prog.slots, prog.dirty, err, address)
        if occupancy is not None:
            _kernels.occupancy_program_kernel(a.ev, a.tr_ptr, tr_ent, a.dest, start, a.rw_ptr, rw_ent,
                                              occupancy[0], occupancy[1], out[d0:d1], trp, trace, *pa)
        else:
            _kernels.program_kernel(a.ev, a.tr_ptr, tr_ent, a.dest, start, a.rw_ptr, rw_ent, a.trw_ptr,
                                    _shifted(a.trw_ent, 2, d0), *coefs, out[d0:d1], trp, trace, *pa)

    K, T1, S1 = out.shape[1], a.n_cycles + 1, a.dest.shape[0]
    run_split(part, out.shape[0], _kernels.BLOCK, min_items=_MIN_WORK // (T1 * (K * S1 + len(prog.code))))
    return not err[0]


def cohort_totals(model: Model, draws: ResolvedDraws, *, trace: bool, chunk_size: int | None,
                  memory_limit: int, kernel: str = "auto",
                  per_cycle: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, tuple]:
    """Run the kernel on every chunk of draws and return the per-draw totals.

    A fault in any chunk raises before anything is returned: no partial results.

    Parameters
    ----------
    model : Model
        The model.
    draws : ResolvedDraws
        The draws (:func:`~sim.model.arrays.resolve_draws`).
    trace : bool
        Whether to keep the Markov trace.
    chunk_size : int or None
        Draws per chunk; ``None`` sizes chunks to ``memory_limit``.
    memory_limit : int
        Byte budget for one chunk's arrays.
    kernel : {"auto", "general"}
        ``"general"`` forces :func:`~sim.cohort._kernels.cohort_kernel` even where the
        occupancy kernel applies (for tests comparing the two).
    per_cycle : ndarray, shape (n, K, T + 1, 2, NR), optional
        If given, filled with the rewards counted at each trace point (they sum to the totals).

    Returns
    -------
    totals : ndarray, shape (n, K, 2, NR)
        Per draw and strategy, discounted (index 0) and undiscounted (1) totals of
        each reward column.
    traces : ndarray, shape (n, K, T + 1, S), or None
        State shares at each trace point, if ``trace``.
    columns : tuple of str
        Reward columns: cost components, ``"qaly"``, ``"ly"``.
    """
    n = len(draws.ids)
    adaptive = chunk_size is None
    keep = trace or per_cycle is not None  # the expanded trace is kept for per-cycle rewards
    if adaptive:
        chunk_size = max(1, int(memory_limit // _bytes_per_draw(model, keep)))
        if chunk_size < n:  # the worst case does not fit: measure what this model stores
            chunk_size = max(chunk_size, int(memory_limit // _probe_bytes_per_draw(model, draws, keep)))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise HtaError(f"chunk_size {chunk_size!r} must be a whole number >= 1")
    K, S, S1, T = len(model.strategies), len(model.states), len(model.layout), model.n_cycles
    columns = tuple(model.cost_components) + ("qaly", "ly")
    c_own, c_prev, c_tr, occupancy = _model_coefficients(model, columns, True)
    weights = occupancy  # the general kernel applies rewards fixed over cycles to the occupancy too
    occupancy = occupancy if kernel != "general" else None
    totals = np.empty((n, K, 2, len(columns)))
    traces = np.empty((n, K, T + 1, S)) if trace else None
    # a fault in any chunk raises before a result object exists: no partial results
    lo = 0
    while lo < n:
        hi = min(n, lo + chunk_size)
        a = build_arrays(model, draws, lo, hi, programs=per_cycle is None)
        if adaptive and lo == 0 and hi < n:
            # the first chunk was sized for the worst case (every value varying by draw and
            # cycle); size the rest from what this model really stores per draw
            per_draw = (a.ev.nbytes + a.start.nbytes) / (hi - lo) + (2 * K * (T + 1) * S1 * 8 if keep else 0) + 64
            chunk_size = max(chunk_size, int(memory_limit // per_draw))
        tr = np.empty((hi - lo, K, T + 1, S1)) if keep else np.empty((1, 1, 1, 1))
        if not _run_kernel(a, totals[lo:hi], tr, keep, (c_own, c_prev, c_tr) + weights,
                           occupancy if occupancy is not None and _occupancy_applies(a) else None):
            # a compiled value failed a check: evaluate the chunk with numpy, which raises the located message
            # (and, should rounding have flagged a value numpy accepts, gives the arrays to run)
            a = build_arrays(model, draws, lo, hi)
            _run_kernel(a, totals[lo:hi], tr, keep, (c_own, c_prev, c_tr) + weights,
                        occupancy if occupancy is not None and _occupancy_applies(a) else None)
        if per_cycle is not None:
            _rewards_by_point(a, tr, c_own, c_prev, c_tr, per_cycle[lo:hi])
        if a.has_initial:
            totals[lo:hi] += a.initial[:, :, None, :]  # time 0: discounted = undiscounted
        if trace:
            for s, state in enumerate(model.states):
                i0, L = model.offsets[state], model.tunnels.get(state, 1)
                traces[lo:hi, :, :, s] = tr[..., i0:i0 + L].sum(axis=-1)
        lo = hi
    return totals, traces, columns


def run_cohort(
    model: Model,
    params: Any = None,
    *,
    trace: bool = False,
    chunk_size: int | None = None,
    memory_limit: int = DEFAULT_MEMORY,
    per_cycle: bool = False,
    defaults: str | None = None,
) -> CohortResult:
    """Run a Markov cohort model for every strategy and every draw.

    Parameters
    ----------
    model : Model
        The model specification.
    params : None, mapping, DataFrame, Draws or ParameterTable
        ``None`` runs the base case. A mapping (name -> one value, or one array of
        equal length per parameter) or a DataFrame (one column per parameter) gives
        the parameters it names; the others keep the model's base case. A Draws
        object (a sample of a parameter table) or a ParameterTable (its base case)
        must give every parameter of the model, unless ``defaults="model"``. A name
        the model does not declare is an error.
    trace : bool
        Keep the Markov trace (memory grows with draws x cycles).
    chunk_size : int, optional
        Draws evaluated at once; by default as many as fit in ``memory_limit``.
    memory_limit : int
        Byte budget for one chunk's arrays.
    per_cycle : bool
        Also return the rewards counted at each trace point (memory grows with draws x
        cycles; computed in numpy from the trace, slower than the totals).
    defaults : {None, "model"}
        ``"model"``: parameters a Draws object or table lacks keep the model's
        base-case values (fixed in every draw), listed in ``settings["defaulted_parameters"]``.

    Returns
    -------
    CohortResult
        ``outcomes``: one row per (draw, strategy) with columns ``draw, strategy,
        cost, qaly, ly, cost_undisc, qaly_undisc, ly_undisc`` and
        ``cost_<component>[_undisc]`` per cost component; ``trace`` (if asked):
        ``draw, strategy, cycle, state, share``; ``per_cycle`` (if asked): ``draw,
        strategy, cycle`` (trace point 0..T) and the same outcome columns, the rewards
        counted at that point with the model's correction and discounting (state rewards
        of the point, transition rewards of the cycle ending there, start rewards at 0),
        summing to ``outcomes``; ``settings``: the conventions used.
    """
    if not isinstance(model, Model):
        raise HtaError(f"run_cohort needs a Model, got {type(model).__name__}")
    draws = resolve_draws(model, params, defaults, "run_cohort")
    by_point = None
    if per_cycle:
        n, K, T = len(draws.ids), len(model.strategies), model.n_cycles
        by_point = np.empty((n, K, T + 1, 2, len(model.cost_components) + 2))
    totals, traces, columns = cohort_totals(model, draws, trace=trace, chunk_size=chunk_size,
                                            memory_limit=memory_limit, per_cycle=by_point)
    return _result(model, draws, totals, traces, columns, by_point)


def cohort_settings(model: Model, n: int, seed) -> dict:
    """The ``settings`` of a cohort result: the model's conventions and the engine's rules.

    Parameters
    ----------
    model : Model
        The model run.
    n : int
        Number of draws.
    seed : int or None
        Seed of the draws (None for given values).

    Returns
    -------
    dict
        :func:`~sim.results.make_settings` for engine ``"cohort"``, with the model's
        conventions (:func:`~sim.model.conventions.model_conventions`) and how
        transition and start rewards are counted.
    """
    return make_settings("cohort", model=model.name, strategies=model.strategies, n_draws=int(n), seed=seed,
                         **model_conventions(model),
                         start_rewards="counted once at time 0 on the start distribution, not discounted")


def _per_cycle_table(model: Model, draws: ResolvedDraws, by_point: np.ndarray, columns: tuple) -> pd.DataFrame:
    """The long per-cycle table: ``draw, strategy, cycle`` and the outcome columns."""
    n, K, T1 = by_point.shape[:3]
    flat = by_point.reshape(n * K * T1, 1, 2, len(columns))
    table = {
        "draw": np.repeat(draws.ids, K * T1),
        "strategy": pd.Categorical.from_codes(np.tile(np.repeat(np.arange(K, dtype=np.int16), T1), n),
                                              categories=list(model.strategies)),
        "cycle": np.tile(np.arange(T1), n * K),
    }
    for name in outcome_columns(tuple(columns[:-2]))[2:]:
        table[name] = outcome_column(flat, columns, name)
    return pd.DataFrame(table, copy=False)


def _result(model: Model, draws: ResolvedDraws, totals: np.ndarray, traces, columns,
            by_point: np.ndarray | None = None) -> CohortResult:
    n, K = totals.shape[:2]
    outcomes = pd.DataFrame(outcome_data(model.strategies, draws.ids, totals, columns), copy=False)
    settings = cohort_settings(model, n, draws.seed)
    if draws.defaulted:
        settings["defaulted_parameters"] = list(draws.defaulted)
    outcomes.attrs["settings"] = settings
    trace_df = None
    if traces is not None:
        T1, S = traces.shape[2], traces.shape[3]
        trace_df = pd.DataFrame(
            {
                "draw": np.repeat(draws.ids, K * T1 * S),
                "strategy": pd.Categorical.from_codes(
                    np.tile(np.repeat(np.arange(K, dtype=np.int16), T1 * S), n), categories=list(model.strategies)
                ),
                "cycle": np.tile(np.repeat(np.arange(T1), S), n * K),
                "state": pd.Categorical.from_codes(np.tile(np.arange(S, dtype=np.int16), n * K * T1),
                                                   categories=list(model.states)),
                "share": traces.ravel(),
            }
        )
        trace_df.attrs["settings"] = settings
    per_cycle_df = None
    if by_point is not None:
        per_cycle_df = _per_cycle_table(model, draws, by_point, columns)
        per_cycle_df.attrs["settings"] = settings
    return CohortResult(outcomes=outcomes, settings=settings, trace=trace_df, per_cycle=per_cycle_df)
