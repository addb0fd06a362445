"""Numba kernels of the cohort engine (private).

Kernels take only arrays and scalars and write into arrays the caller
allocated; evaluation and checking of the model's values live in
:mod:`sim.model.arrays` (which calls :mod:`sim.model.evaluate`), allocation in
:mod:`sim.cohort.engine`.

Values are not expanded into dense ``(draws, strategies, cycles, states,
states)`` arrays: every evaluated value (a transition probability, a reward) is
stored once, at its own shape, in one flat pool ``ev``, and an *entry* says where:
value of draw ``d`` at cycle ``t`` is ``ev[offset + d * sd + t * st]``, draws innermost
(``sd`` is 1, or 0 to broadcast a value that does not vary by draw; ``st`` is 0 for a
value that does not vary by cycle).  Entries are grouped
by (strategy, expanded state) in CSR form: the entries of row ``i`` of strategy
``k`` are ``ent[ptr[k, i]:ptr[k, i + 1]]``.

The loop runs draw block -> strategy -> cycle -> state, with the draws of a block
innermost so that the arithmetic is vectorised (SIMD) over draws. Kernels are
compiled serial (``prange`` is a plain ``range`` there) and release the GIL; the
engine runs one call per thread on a range of whole blocks
(:func:`sim._config.run_split`), each writing only its own draws' outputs.
"""

from __future__ import annotations

import numpy as np
from numba import config, njit, prange
from numba.core import types
from numba.extending import intrinsic

from sim._config import CACHE, FASTMATH, kernel_compiler

__all__ = ["BLOCK", "cohort_kernel", "occupancy_kernel", "program_kernel", "occupancy_program_kernel",
           "run_programs", "programs_address"]

#: Draws processed together (the SIMD dimension).
BLOCK = 128

#: Argument types of :func:`run_programs` as the program kernels call it (C-contiguous arrays).
_PROGRAM_ARGS = (types.int64[:, ::1], types.float64[::1], types.int64[:, ::1], types.int64[:, ::1],
                 types.boolean[:, ::1], types.float64[::1], types.int64, types.int64, types.int64, types.int64,
                 types.float64[:, ::1], types.float64[:, ::1], types.float64[:, ::1], types.int64[::1])
_ADDRESS: list = []


def programs_address() -> int:
    """Address of :func:`run_programs`' machine code, compiled (or loaded from the cache) once per process.

    The program kernels call the interpreter through this address rather than by name:
    a call by name makes Numba link the interpreter's code into each kernel and
    optimise it again there (about 0.7 s of compilation per kernel on an empty cache);
    through the address it is compiled once, on its own. 0 without JIT (the kernels
    then call it as Python).
    """
    if not _ADDRESS:
        if config.DISABLE_JIT:
            _ADDRESS.append(0)
        else:
            run_programs.compile(_PROGRAM_ARGS)
            cres = run_programs.overloads[_PROGRAM_ARGS]
            _ADDRESS.append(cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name))
    return _ADDRESS[0]


@intrinsic
def _call_programs_at(typingctx, address, args):  # pragma: no cover - compiled
    """Call :func:`run_programs`' machine code at ``address`` with the tuple ``args`` (Numba's calling convention).

    Typing fails unless ``args`` has exactly the types :func:`run_programs` was compiled
    for (:data:`_PROGRAM_ARGS`), so a layout mismatch is a compile error, never a wrong call.
    """
    if not isinstance(address, types.Integer) or tuple(getattr(args, "types", ())) != _PROGRAM_ARGS:
        return None

    def codegen(context, builder, signature, llargs):
        cc = context.call_conv
        argtys = list(_PROGRAM_ARGS)
        fnty = cc.get_function_type(types.none, argtys)
        fn = builder.inttoptr(llargs[0], fnty.as_pointer())
        vals = [builder.extract_value(llargs[1], i) for i in range(len(argtys))]
        status, _ = cc.call_function(builder, fn, types.none, argtys, vals)
        with builder.if_then(status.is_error, likely=False):
            cc.return_status_propagate(builder, status)
        return context.get_dummy_value()

    return types.none(address, args), codegen


if config.DISABLE_JIT:
    def _call_address(address, args):
        """Without JIT: call :func:`run_programs` directly."""
        run_programs(*args)
else:
    _call_address = _call_programs_at


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, pipeline_class=kernel_compiler())
def program_kernel(ev, tr_ptr, tr_ent, dest, start, rw_ptr, rw_ent, trw_ptr, trw_ent,
                   c_own, c_prev, c_tr, w, col_w, out, trace, keep_trace, code, consts, loads, slots, dirty,
                   err, prog_fn):  # pragma: no cover - compiled
    """Run every (draw, strategy) cohort and accumulate rewards.

    Shapes: n = draws, K = strategies, T = cycles, S1 = expanded states, S = states,
    NR = reward columns.

    Parameters
    ----------
    ev : (N,) float64
        Pool of evaluated values.
    tr_ptr : (K, S1 + 1) int64; tr_ent : (E, 4) int64 ``[to_state, offset, sd, st]``
        Every non-zero transition probability of each row (complements and absorbing
        rows included, checked by the caller), for cycles 0..T-1.
    dest : (S1, S) int64
        Expanded state reached from expanded state i when moving to state j.
    start : (n|1, K, S1) float64
        Start distribution.
    rw_ptr : (K, S1 + 1) int64; rw_ent : (E, 4) int64 ``[column, offset, sd, st]``
        State rewards per cycle, for cycles 0..T.
    trw_ptr : (K, S1 + 1) int64; trw_ent : (E, 5) int64 ``[to_state, column, offset, sd, st]``
        One-off transition rewards, for cycles 0..T-1.
    c_own, c_prev : (2, NR, T + 1) float64
        Weight x discount of a point's own-cycle and previous-cycle reward
        (index 0 discounted, 1 undiscounted).
    c_tr : (2, NR, T) float64
        Discount of transition rewards of cycle t.
    w : (U, T + 1) float64; col_w : (2, NR) int64
        Weight vectors ``c_own + c_prev`` and the row of each (discounting, column) pair, as
        for :func:`occupancy_program_kernel`: state rewards that do not vary by cycle are
        applied once, after the last cycle, to the weighted occupancy of their state.
    out : (n, K, 2, NR) float64
        Totals (written).
    trace : (n, K, T + 1, S1) float64
        Markov trace, written only if ``keep_trace``.
    keep_trace : bool
        Whether to write the trace.
    code, consts, loads, slots, dirty
        Compiled values (``sim.model.compile.ProgramArrays``), run by :func:`run_programs`;
        an entry with ``sd = -1`` reads slot ``offset`` of the current block and cycle.
    err : (1,) int64
        Set to 1 when a compiled value fails a check.
    prog_fn : int
        Address of :func:`run_programs`' machine code (:func:`programs_address`); unused
        (0 will do) when there are no compiled values.
    """
    n = out.shape[0]
    K = out.shape[1]
    NR = out.shape[3]
    S1 = dest.shape[0]
    S = dest.shape[1]
    T = c_tr.shape[2]
    s_draws = start.shape[0] > 1
    n_blocks = (n + BLOCK - 1) // BLOCK
    U = w.shape[0]
    rw_timed = False  # does any state reward vary by cycle?
    # flags are 0.0 / 1.0 in a float array: every array the kernels allocate is (rows, columns) float64,
    # one allocation type to compile on a first run
    flags = np.zeros((2 + 2 * K, rw_ent.shape[0] + NR + S1))
    timed = flags[0]  # else fixed over cycles: through the occupancy
    col_timed = flags[1]
    for e in range(rw_ent.shape[0]):
        if rw_ent[e, 3] != 0:
            rw_timed = True
            timed[e] = True
            col_timed[rw_ent[e, 0]] = True
    fixed = flags[2:2 + K]  # states with rewards fixed over cycles
    for k in range(K):
        for i in range(S1):
            for e in range(rw_ptr[k, i], rw_ptr[k, i + 1]):
                if not timed[e]:
                    fixed[k, i] = True
    n_slots = slots.shape[0]
    depth = 1
    for q in range(n_slots):
        depth = slots[q, 3] if slots[q, 3] > depth else depth
    # the states whose share is needed (rewarded, with transition rewards, traced, or flowing into
    # a needed state; not e.g. an absorbing dead state without rewards): the others are not moved
    needed = flags[2 + K:2 + 2 * K]
    for k in range(K):
        for i in range(S1):
            needed[k, i] = keep_trace or rw_ptr[k, i + 1] > rw_ptr[k, i] or trw_ptr[k, i + 1] > trw_ptr[k, i]
        changed = True
        while changed:
            changed = False
            for i in range(S1):
                if not needed[k, i]:
                    for e in range(tr_ptr[k, i], tr_ptr[k, i + 1]):
                        if needed[k, dest[i, tr_ent[e, 0]]]:
                            needed[k, i] = True
                            changed = True
                            break
    for blk in prange(n_blocks):
        d0 = blk * BLOCK
        nb = BLOCK if n - d0 > BLOCK else n - d0
        # every work array is a (rows, BLOCK) float array (one allocation type to compile)
        cur = np.zeros((n_slots, BLOCK))  # compiled values of the block at the current cycle
        prv = np.zeros((n_slots, BLOCK))
        stk = np.zeros((depth, BLOCK))
        # cycles outside strategies: the compiled values of a cycle are computed once for all strategies
        mm = np.zeros((K * S1, BLOCK))  # row k * S1 + i
        nn = np.zeros((K * S1, BLOCK))
        p = np.zeros((S, BLOCK))  # a row's probabilities, filled only for rows with transition rewards
        v_own = np.zeros((NR, BLOCK))
        v_prev = np.zeros((NR, BLOCK))
        accs = np.zeros((K * 2 * NR, BLOCK))  # row (k * 2 + g) * NR + r
        occs = np.zeros((K * U * S1, BLOCK))  # row (k * U + u) * S1 + i
        tot = np.zeros((1, BLOCK))[0]
        for k in range(K):
            for i in range(S1):
                mi = mm[k * S1 + i]
                for b in range(nb):
                    mi[b] = start[d0 + b if s_draws else 0, k, i]
        for t in range(T + 1):
            if n_slots > 0:
                _call_address(prog_fn, (code, consts, loads, slots, dirty, ev, d0, nb, t, T, cur, prv, stk, err))
            for k in range(K):
                mk = k * S1  # rows of strategy k in mm, nn
                ak = k * 2 * NR  # in accs
                ok = k * U * S1  # in occs
                # ---- rewards fixed over cycles: weighted occupancy of their states at trace point t
                for i in range(S1):
                    if fixed[k, i]:
                        mi = mm[mk + i]
                        for u in range(U):
                            x = w[u, t]
                            if x != 0.0:
                                oc = occs[ok + u * S1 + i]
                                for b in range(nb):
                                    oc[b] += x * mi[b]
                # ---- rewards varying by cycle, counted at point t: own cycle t and previous cycle t-1
                if rw_timed:
                    for r in range(NR):
                        if col_timed[r]:
                            v_own[r, :] = 0.0
                            v_prev[r, :] = 0.0
                    for i in range(S1):
                        mi = mm[mk + i]
                        for e in range(rw_ptr[k, i], rw_ptr[k, i + 1]):
                            if not timed[e]:
                                continue
                            r = rw_ent[e, 0]
                            vo = v_own[r]
                            vp = v_prev[r]
                            sd = rw_ent[e, 2]
                            st = rw_ent[e, 3]
                            o = rw_ent[e, 1] + d0 * sd + t * st
                            if sd == 0:
                                x = ev[o]
                                xp = ev[o - st] if t > 0 else x
                                for b in range(nb):
                                    vo[b] += mi[b] * x
                                    vp[b] += mi[b] * xp
                                continue
                            # a vector of the block: pooled (sd > 0) or a compiled value (slot rw_ent[e, 1])
                            if sd > 0:
                                seg = ev[o:o + nb]
                                segp = ev[o - st:o - st + nb] if t > 0 else seg
                            else:
                                sl = rw_ent[e, 1]
                                seg = cur[sl, :nb]
                                segp = prv[sl, :nb] if dirty[sl, t] else seg
                            for b in range(nb):
                                vo[b] += mi[b] * seg[b]
                            if t > 0:
                                for b in range(nb):
                                    vp[b] += mi[b] * segp[b]
                    for r in range(NR):
                        if not col_timed[r]:
                            continue
                        vo = v_own[r]
                        vp = v_prev[r]
                        for g in range(2):
                            co = c_own[g, r, t]
                            cp = c_prev[g, r, t]
                            if co != 0.0 or cp != 0.0:
                                ag = accs[ak + g * NR + r]
                                for b in range(nb):
                                    ag[b] += co * vo[b] + cp * vp[b]
                if keep_trace:
                    for i in range(S1):
                        for b in range(nb):
                            trace[d0 + b, k, t, i] = mm[mk + i, b]
                if t == T:
                    continue
                # ---- one transition: m_t -> m_{t+1}
                for i in range(S1):
                    if needed[k, i]:
                        nn[mk + i, :] = 0.0
                for i in range(S1):
                    if not needed[k, i]:
                        continue
                    mi = mm[mk + i]
                    keep_p = trw_ptr[k, i + 1] > trw_ptr[k, i]  # transition rewards need each p_ij
                    if keep_p:
                        p[:, :] = 0.0
                    for e in range(tr_ptr[k, i], tr_ptr[k, i + 1]):
                        j = tr_ent[e, 0]
                        write = needed[k, dest[i, j]]
                        if not (keep_p or write):
                            continue
                        nx = nn[mk + dest[i, j]]
                        pj = p[j]
                        sd = tr_ent[e, 2]
                        o = tr_ent[e, 1] + d0 * sd + t * tr_ent[e, 3]
                        if sd == 0:
                            x = ev[o]
                            if write:
                                for b in range(nb):
                                    nx[b] += mi[b] * x
                            if keep_p:
                                pj[:] = x
                        else:
                            seg = ev[o:o + nb] if sd > 0 else cur[tr_ent[e, 1], :nb]
                            if write:
                                for b in range(nb):
                                    nx[b] += mi[b] * seg[b]
                            if keep_p:
                                for b in range(nb):
                                    pj[b] = seg[b]
                    for e in range(trw_ptr[k, i], trw_ptr[k, i + 1]):
                        pj = p[trw_ent[e, 0]]
                        r = trw_ent[e, 1]
                        sd = trw_ent[e, 3]
                        o = trw_ent[e, 2] + d0 * sd + t * trw_ent[e, 4]
                        c0 = c_tr[0, r, t]
                        c1 = c_tr[1, r, t]
                        a0 = accs[ak + r]
                        a1 = accs[ak + NR + r]
                        if sd == 0:
                            x = ev[o]
                            for b in range(nb):
                                f = mi[b] * pj[b] * x
                                a0[b] += f * c0
                                a1[b] += f * c1
                        else:
                            seg = ev[o:o + nb] if sd > 0 else cur[trw_ent[e, 2], :nb]
                            for b in range(nb):
                                f = mi[b] * pj[b] * seg[b]
                                a0[b] += f * c0
                                a1[b] += f * c1
            if t < T:
                mm, nn = nn, mm
        for k in range(K):
            for g in range(2):
                for r in range(NR):
                    # ---- rewards fixed over cycles, applied once to the occupancy
                    u = col_w[g, r]
                    ag = accs[(k * 2 + g) * NR + r]
                    for b in range(nb):
                        tot[b] = ag[b]
                    for i in range(S1):
                        oc = occs[(k * U + u) * S1 + i]
                        for e in range(rw_ptr[k, i], rw_ptr[k, i + 1]):
                            if timed[e] or rw_ent[e, 0] != r:
                                continue
                            sd = rw_ent[e, 2]
                            o = rw_ent[e, 1] + d0 * sd
                            if sd == 0:
                                x = ev[o]
                                for b in range(nb):
                                    tot[b] += x * oc[b]
                            else:
                                seg = ev[o:o + nb]
                                for b in range(nb):
                                    tot[b] += seg[b] * oc[b]
                    for b in range(nb):
                        out[d0 + b, k, g, r] = tot[b]


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, pipeline_class=kernel_compiler())
def occupancy_program_kernel(ev, tr_ptr, tr_ent, dest, start, rw_ptr, rw_ent, w, col_w,
                             out, trace, keep_trace, code, consts, loads, slots, dirty,
                             err, prog_fn):  # pragma: no cover - compiled
    """Run every cohort as :func:`cohort_kernel` does, weighted occupancy first, rewards once at the end.

    For models whose state rewards do not vary by cycle and that have no transition rewards.

    With rewards ``R[i, r]`` fixed over cycles, a column's total is
    ``sum_i R[i, r] * sum_t w_r[t] * m_t[i]`` where ``w_r[t]`` is the weight x discount
    of trace point ``t`` (own- plus previous-cycle coefficient). The kernel accumulates
    the occupancy ``sum_t w_u[t] m_t[i]`` per distinct weight vector ``u`` and
    rewarded state ``i``, then applies each reward once; rewards are never re-read
    in the cycle loop. Shares that nothing reads (a state without rewards whose mass
    only flows to such states, e.g. an absorbing dead state; none when the trace is
    kept) are not computed. Each needed share is the same sum, in the same order, as
    in :func:`cohort_kernel`, so the traces of the two kernels are identical.

    Parameters
    ----------
    ev, tr_ptr, tr_ent, dest, start, rw_ptr, trace, keep_trace
        As for :func:`cohort_kernel`.
    rw_ent : (E, 4) int64 ``[column, offset, sd, st]``
        State rewards, every ``st`` 0 (checked by the caller).
    w : (U, T + 1) float64
        Distinct weight vectors (``c_own + c_prev`` of a (discounting, column) pair).
    col_w : (2, NR) int64
        Row of ``w`` used by column ``r`` (index 0 discounted, 1 undiscounted).
    out : (n, K, 2, NR) float64
        Totals (written).
    code, consts, loads, slots, dirty, err, prog_fn
        Compiled transition probabilities, as for :func:`program_kernel`.
    """
    n = out.shape[0]
    K = out.shape[1]
    NR = out.shape[3]
    S1 = dest.shape[0]
    U = w.shape[0]
    T = w.shape[1] - 1
    s_draws = start.shape[0] > 1
    n_blocks = (n + BLOCK - 1) // BLOCK
    # per strategy: the states whose share is needed (rewarded, traced, or flowing into
    # a needed state; e.g. an absorbing dead state without rewards is not), which
    # transition entry writes its needed destination first (no zeroing pass), and which
    # needed destinations no entry reaches
    flags = np.zeros((2 * K, S1))  # 0.0 / 1.0, float as every array the kernels allocate (one type to compile)
    needed = flags[:K]
    for k in range(K):
        for i in range(S1):
            needed[k, i] = keep_trace or rw_ptr[k, i + 1] > rw_ptr[k, i]
        changed = True
        while changed:
            changed = False
            for i in range(S1):
                if not needed[k, i]:
                    for e in range(tr_ptr[k, i], tr_ptr[k, i + 1]):
                        if needed[k, dest[i, tr_ent[e, 0]]]:
                            needed[k, i] = True
                            changed = True
                            break
    entry_flags = np.zeros((2, tr_ent.shape[0]))
    use = entry_flags[0]
    first = entry_flags[1]
    unreached = flags[K:2 * K]
    for k in range(K):
        for i in range(S1):
            unreached[k, i] = needed[k, i]
        for i in range(S1):
            for e in range(tr_ptr[k, i], tr_ptr[k, i + 1]):
                di = dest[i, tr_ent[e, 0]]
                use[e] = needed[k, di]
                if use[e] and unreached[k, di]:
                    first[e] = True
                    unreached[k, di] = False
    n_slots = slots.shape[0]
    depth = 1
    for q in range(n_slots):
        depth = slots[q, 3] if slots[q, 3] > depth else depth
    for blk in prange(n_blocks):
        d0 = blk * BLOCK
        nb = BLOCK if n - d0 > BLOCK else n - d0
        cur = np.zeros((n_slots, BLOCK))  # compiled values of the block at the current cycle
        prv = np.zeros((n_slots, BLOCK))
        stk = np.zeros((depth, BLOCK))
        # cycles outside strategies: the compiled values of a cycle are computed once for all strategies
        mm = np.zeros((K * S1, BLOCK))  # share of state i in strategy k: row k * S1 + i
        nn = np.zeros((K * S1, BLOCK))
        occs = np.zeros((K * U * S1, BLOCK))  # row (k * U + u) * S1 + i
        tot = np.zeros((1, BLOCK))[0]
        for k in range(K):
            for i in range(S1):
                mi = mm[k * S1 + i]
                for b in range(nb):
                    mi[b] = start[d0 + b if s_draws else 0, k, i]
        for t in range(T + 1):
            if n_slots > 0 and t < T:
                _call_address(prog_fn, (code, consts, loads, slots, dirty, ev, d0, nb, t, T, cur, prv, stk, err))
            for k in range(K):
                mk = k * S1  # rows of strategy k in mm, nn
                ok = k * U * S1  # in occs
                # ---- weighted occupancy of the rewarded states at trace point t
                for i in range(S1):
                    if rw_ptr[k, i + 1] == rw_ptr[k, i]:
                        continue
                    mi = mm[mk + i]
                    for u in range(U):
                        x = w[u, t]
                        if x != 0.0:
                            oc = occs[ok + u * S1 + i]
                            for b in range(nb):
                                oc[b] += x * mi[b]
                if keep_trace:
                    for i in range(S1):
                        for b in range(nb):
                            trace[d0 + b, k, t, i] = mm[mk + i, b]
                if t == T:
                    continue
                # ---- one transition: m_t -> m_{t+1}
                for i in range(S1):
                    if unreached[k, i]:
                        nn[mk + i, :] = 0.0
                for i in range(S1):
                    mi = mm[mk + i]
                    for e in range(tr_ptr[k, i], tr_ptr[k, i + 1]):
                        if not use[e]:
                            continue
                        nx = nn[mk + dest[i, tr_ent[e, 0]]]
                        sd = tr_ent[e, 2]
                        o = tr_ent[e, 1] + d0 * sd + t * tr_ent[e, 3]
                        if sd == 0:
                            x = ev[o]
                            if first[e]:
                                for b in range(nb):
                                    nx[b] = mi[b] * x
                            else:
                                for b in range(nb):
                                    nx[b] += mi[b] * x
                        else:
                            seg = ev[o:o + nb] if sd > 0 else cur[tr_ent[e, 1], :nb]
                            if first[e]:
                                for b in range(nb):
                                    nx[b] = mi[b] * seg[b]
                            else:
                                for b in range(nb):
                                    nx[b] += mi[b] * seg[b]
            if t < T:
                mm, nn = nn, mm
        for k in range(K):
            # ---- rewards applied once to the occupancy
            for g in range(2):
                for r in range(NR):
                    u = col_w[g, r]
                    tot[:] = 0.0
                    for i in range(S1):
                        oc = occs[(k * U + u) * S1 + i]
                        for e in range(rw_ptr[k, i], rw_ptr[k, i + 1]):
                            if rw_ent[e, 0] != r:
                                continue
                            sd = rw_ent[e, 2]
                            o = rw_ent[e, 1] + d0 * sd
                            if sd == 0:
                                x = ev[o]
                                for b in range(nb):
                                    tot[b] += x * oc[b]
                            else:
                                seg = ev[o:o + nb]
                                for b in range(nb):
                                    tot[b] += seg[b] * oc[b]
                    for b in range(nb):
                        out[d0 + b, k, g, r] = tot[b]


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, pipeline_class=kernel_compiler(), error_model="numpy")
def run_programs(code, consts, loads, slots, dirty, ev, d0, nb, t, T, cur, prv, stk,
                 err):  # pragma: no cover - compiled
    """Run the compiled values of every strategy for draws ``d0:d0+nb`` at cycle ``t`` (``sim/model/compile.py``).

    Slot ``s``'s program writes its value of each draw of the block into ``cur[s]``; a slot
    runs only at its dirty cycles (between them its inputs, hence its value, do not
    change), a transition slot only at ``t < T``. Before a reward slot is recomputed its
    previous vector is kept in ``prv[s]`` (the previous cycle's value of a state reward).
    A failing check sets ``err[0] = 1`` (the engine then redoes the chunk with numpy,
    which raises the located message). ``stk (depth, BLOCK)`` is the operand stack.
    """
    for s in range(slots.shape[0]):  # in order: a slot reads only slots before it
        kind = slots[s, 2]
        if (kind == 0 and t == T) or not dirty[s, t]:
            continue
        store = slots[s, 4] != 0  # else a check only
        if kind == 1 and t > 0 and store:
            cs = cur[s]
            ps = prv[s]
            for b in range(nb):
                ps[b] = cs[b]
        sp = 0
        for pc in range(slots[s, 0], slots[s, 1]):
            op = code[pc, 0]
            a = code[pc, 1]
            if op <= 2:  # push: 0 LOAD a pooled leaf, 1 SLOT a's vector, 2 CONST
                x = stk[sp]
                if op == 1 or (op == 0 and loads[a, 1] != 0):  # a vector of the block
                    if op == 1:
                        y = cur[a, :nb]
                    else:
                        o = loads[a, 0] + d0 * loads[a, 1] + t * loads[a, 2]
                        y = ev[o:o + nb]
                    for b in range(nb):
                        x[b] = y[b]
                else:  # one number for the block
                    v = consts[a] if op == 2 else ev[loads[a, 0] + t * loads[a, 2]]
                    for b in range(nb):
                        x[b] = v
                sp += 1
            elif op <= 7 or op == 13 or op == 14 or 16 <= op <= 19:  # binary
                x = stk[sp - 2]
                y = stk[sp - 1]
                if op == 3:
                    for b in range(nb):
                        x[b] = x[b] + y[b]
                elif op == 4:
                    for b in range(nb):
                        x[b] = x[b] - y[b]
                elif op == 5:
                    for b in range(nb):
                        x[b] = x[b] * y[b]
                elif op == 6:
                    for b in range(nb):
                        x[b] = x[b] / y[b]
                elif op == 7:
                    for b in range(nb):
                        if x[b] < 0.0 and y[b] - np.floor(y[b]) != 0.0:
                            err[0] = 1
                        x[b] = np.power(x[b], y[b])
                elif op == 13 or op == 14:
                    for b in range(nb):
                        u = x[b]
                        w = y[b]
                        if u != u:
                            x[b] = u
                        elif w != w:
                            x[b] = w
                        elif op == 13:
                            x[b] = u if u <= w else w
                        else:
                            x[b] = u if u >= w else w
                else:
                    for b in range(nb):
                        if op == 16:
                            c = x[b] < y[b]
                        elif op == 17:
                            c = x[b] <= y[b]
                        elif op == 18:
                            c = x[b] > y[b]
                        else:
                            c = x[b] >= y[b]
                        x[b] = 1.0 if c else 0.0
                sp -= 1
            elif op == 15:  # WHERE cond, a, b
                x = stk[sp - 3]
                y = stk[sp - 2]
                z = stk[sp - 1]
                for b in range(nb):
                    x[b] = y[b] if x[b] != 0.0 else z[b]
                sp -= 2
            elif op == 20:  # COMPETE: a hazards, probability of hazard code[pc, 2]
                base = sp - a
                i = base + code[pc, 2]
                dt = consts[code[pc, 3]]
                x = stk[base]
                for b in range(nb):
                    tot = stk[base, b]
                    if tot < 0.0:
                        err[0] = 1
                    for j in range(base + 1, sp):
                        if stk[j, b] < 0.0:
                            err[0] = 1
                        tot = tot + stk[j, b]
                    hi = stk[i, b]
                    frac = -np.expm1(-tot * dt) / tot if tot > 0.0 else dt
                    r = hi * frac
                    if np.isinf(tot):
                        n_inf = 0.0
                        for j in range(base, sp):
                            if np.isinf(stk[j, b]):
                                n_inf += 1.0
                        r = (1.0 if np.isinf(hi) else 0.0) / (n_inf if n_inf >= 1.0 else 1.0)
                    x[b] = r
                sp = base + 1
            elif op >= 21 and op != 27:  # checks: the value stays on the stack
                x = stk[sp - 1]
                bad = False
                if op == 21:
                    for b in range(nb):
                        bad |= not np.isfinite(x[b])
                elif op == 26:
                    c = consts[a]
                    for b in range(nb):
                        bad |= abs(x[b] - 1.0) > c
                else:  # outside [lo, hi] (NaN passes, as in numpy): 22 [0, 1], 23 >= 0, 24 <= c, 25 >= -c
                    lo = 0.0 if op <= 23 else (-consts[a] if op == 25 else -np.inf)
                    hi = 1.0 if op == 22 else (consts[a] if op == 24 else np.inf)
                    for b in range(nb):
                        bad |= (x[b] < lo) | (x[b] > hi)
                if bad:
                    err[0] = 1
            else:  # unary
                x = stk[sp - 1]
                if op == 8:
                    for b in range(nb):
                        x[b] = -x[b]
                elif op == 27:  # CLAMP0
                    for b in range(nb):
                        if x[b] < 0.0:
                            x[b] = 0.0
                else:  # 9 EXP, 10 LOG, 11 EXPM1, 12 LOG1P: a library call per value (not vectorised): one loop
                    for b in range(nb):
                        u = x[b]
                        if op == 9:
                            u = np.exp(u)
                        elif op == 10:
                            if u < 0.0:
                                err[0] = 1
                            u = np.log(u)
                        elif op == 11:
                            u = np.expm1(u)
                        else:
                            u = np.log1p(u)
                        x[b] = u
        if store:
            x = stk[0]
            cs = cur[s]
            for b in range(nb):
                cs[b] = x[b]


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, pipeline_class=kernel_compiler())
def cohort_kernel(ev, tr_ptr, tr_ent, dest, start, rw_ptr, rw_ent, trw_ptr, trw_ent,
                  c_own, c_prev, c_tr, out, trace, keep_trace):  # pragma: no cover - compiled
    """:func:`program_kernel` without compiled values (every value pooled)."""
    NR = c_own.shape[1]
    w = np.empty((2 * NR, c_own.shape[2]))
    col_w = np.empty((2, NR), np.int64)
    for g in range(2):
        for r in range(NR):
            w[g * NR + r] = c_own[g, r] + c_prev[g, r]
            col_w[g, r] = g * NR + r
    program_kernel(ev, tr_ptr, tr_ent, dest, start, rw_ptr, rw_ent, trw_ptr, trw_ent, c_own, c_prev, c_tr, w, col_w,
                   out, trace, keep_trace, np.zeros((0, 4), np.int64), np.zeros(0), np.zeros((0, 3), np.int64),
                   np.zeros((0, 5), np.int64),
                   np.zeros((0, c_own.shape[2]), np.bool_), np.zeros(1, np.int64), 0)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, pipeline_class=kernel_compiler())
def occupancy_kernel(ev, tr_ptr, tr_ent, dest, start, rw_ptr, rw_ent, w, col_w,
                     out, trace, keep_trace):  # pragma: no cover - compiled
    """:func:`occupancy_program_kernel` without compiled values (every value pooled)."""
    occupancy_program_kernel(ev, tr_ptr, tr_ent, dest, start, rw_ptr, rw_ent, w, col_w, out, trace, keep_trace,
                             np.zeros((0, 4), np.int64), np.zeros(0), np.zeros((0, 3), np.int64),
                             np.zeros((0, 5), np.int64),
                             np.zeros((0, w.shape[1]), np.bool_), np.zeros(1, np.int64), 0)
