"""Compiling values that vary by draw *and* cycle into small programs the cohort kernel runs.

A value such as ``HazardRatio(Mortality(...), "hr")`` varies along two axes: the life
table by cycle, the hazard ratio by draw. Evaluated in numpy it is a draws x cycles
array, computed and stored before the kernel reads it. Compiled, it is split in two:

* **leaves**, the largest parts that vary along one axis at most (a parameter's draws,
  a life table at the cohort's age, a function of time, a constant, and anything the
  compiler does not know, such as a callable ``f(p, t)``), evaluated once in numpy by
  :func:`~sim.model.evaluate.evaluate` and stored in the value pool (small: ``draws``
  or ``cycles`` numbers); a leaf that varies along both axes (a callable's draws x
  cycles result) is stored whole, at numpy speed;
* **slots**, one per distinct node that combines leaves varying along different axes
  (or other slots): a postfix program of a few instructions that the kernel runs for a
  block of draws at one cycle into a vector of the block (``sim/cohort/_kernels.py``,
  ``run_programs``). Nodes are shared by identity: a hazard used by three transition
  probabilities is one slot, computed once per (block, cycle).

A slot is recomputed only at the cycles where one of its inputs changes (its *dirty*
cycles, known from the leaves: a life table by age changes once a year of age, a
step function of time at its steps); in between the kernel keeps its vector. The
checks the numpy path makes (finite values, probabilities in [0, 1], complements,
rates, powers, utility bound) are instructions too: a failing check sets a flag, and
the engine re-evaluates that chunk with numpy (:func:`~sim.model.arrays.build_arrays`
without programs), which raises the located error message of the numpy path.

Instructions are rows ``[op, a, b, c]`` of an int64 array (:data:`OPS`); their
semantics, one numpy operation each, are those of :mod:`sim.model.evaluate` and
:mod:`sim.model.functions`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from sim.errors import HtaError
from sim.model.evaluate import Context, evaluate
from sim.model.functions import Compare, Competing, Exp, Log, Max, Min, Where
from sim.model.values import AnyOf, Arith, ByStrategy, Expr, HazardRatio, Param, Rate, RelativeRisk, walk

__all__ = ["OPS", "Programs", "ProgramArrays", "Compiler", "ModelCompiler", "Slot", "compile_value"]

#: Opcodes of the instructions ``[op, a, b, c]``; "push" adds a vector to the stack, binary ops pop two.
OPS = {
    "LOAD": 0,  # push a pooled leaf: loads[a] = (offset, draw stride, cycle stride)
    "SLOT": 1,  # push slot a's current vector
    "CONST": 2,  # push consts[a]
    "ADD": 3, "SUB": 4, "MUL": 5, "DIV": 6,
    "POW": 7,  # flags a negative base with a fractional exponent
    "NEG": 8, "EXP": 9,
    "LOG": 10,  # flags a negative argument
    "EXPM1": 11, "LOG1P": 12, "MIN": 13, "MAX": 14,
    "WHERE": 15,  # pops cond, a, b
    "LT": 16, "LE": 17, "GT": 18, "GE": 19,
    "COMPETE": 20,  # pops a hazards; pushes the probability of hazard b; consts[c] = cycle length; flags h < 0
    "CHK_FINITE": 21, "CHK_PROB": 22, "CHK_NONNEG": 23,
    "CHK_LE": 24,  # flags x > consts[a]
    "CHK_COMP": 25,  # flags x < -consts[a] (a complement below -tolerance)
    "CHK_SUM1": 26,  # flags |x - 1| > consts[a]
    "CLAMP0": 27,  # x < 0 -> 0 (a complement's rounding noise)
}
_BIN = {"+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", "**": "POW"}
_CMP = {"<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}
#: Slot kinds: run at cycles 0..T-1 (transitions) or 0..T (state rewards).
TRANSITION, REWARD = 0, 1


class ProgramArrays:
    """The programs of one chunk as the kernel takes them.

    Attributes
    ----------
    code : ndarray, shape (C, 4), int64
        Instructions ``[op, a, b, c]``.
    consts : ndarray, shape (F,), float64
        Constants.
    loads : ndarray, shape (L, 3), int64
        Pooled leaves ``[offset, draw stride, cycle stride]`` (the offset moves with the draws of a call).
    slots : ndarray, shape (n_slots, 5), int64
        ``[first instruction, end, kind (0 transition, 1 reward), stack depth, store (1) or check only (0)]``;
        the kernel runs them in order (a slot reads only slots before it), for all strategies at once.
    dirty : ndarray, shape (n_slots, T + 1), bool
        Whether slot ``s`` is recomputed at cycle ``t`` (always at 0).
    """

    def __init__(self, code, consts, loads, slots, dirty):
        self.code, self.consts, self.loads, self.slots, self.dirty = code, consts, loads, slots, dirty

    @classmethod
    def empty(cls, T: int) -> ProgramArrays:
        """No programs (every value is pooled)."""
        z = np.zeros
        return cls(z((0, 4), np.int64), z(0), z((0, 3), np.int64), z((0, 5), np.int64), z((0, T + 1), np.bool_))

    def __len__(self) -> int:
        return self.slots.shape[0]

    def shifted(self, d0: int) -> np.ndarray:
        """``loads`` for a kernel call on draws ``d0:``: offsets of per-draw leaves move by ``d0``."""
        if d0 == 0 or not len(self.loads):
            return self.loads
        out = self.loads.copy()
        out[:, 0] += d0 * self.loads[:, 1]
        return out


class Slot:
    """A compiled value: its slot index (what the kernel's entries point at)."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def _bits_changed(v: np.ndarray) -> np.ndarray:
    """``changed[t]``: whether ``v[t]`` differs bit for bit from ``v[t - 1]`` (True at 0)."""
    out = np.ones(v.shape[0], dtype=bool)
    b = np.ascontiguousarray(v, dtype=float).view(np.int64)
    out[1:] = b[1:] != b[:-1]
    return out


class Programs:
    """The slots of one chunk being built: code, constants, pooled leaves, slots per strategy."""

    def __init__(self, K: int, T: int, pool):
        self.K, self.T, self.pool = K, T, pool
        self.code: list = []
        self.slots: list = []  # [start, end, kind, depth]
        self.dirty: list = []
        self.consts: list = []
        self.const_ix: dict = {}
        self.loads: list = []
        self.load_ix: dict = {}

    def const(self, x: float) -> int:
        """Index of constant ``x`` (by its bits)."""
        key = np.float64(x).tobytes()
        if key not in self.const_ix:
            self.const_ix[key] = len(self.consts)
            self.consts.append(float(x))
        return self.const_ix[key]

    def push_array(self, a: np.ndarray) -> tuple[list, np.ndarray]:
        """Instructions pushing leaf ``a (nd, mt, 1)`` and its dirty cycles."""
        nd, mt = a.shape[0], a.shape[1]
        dirty = np.zeros(self.T + 1, dtype=bool)
        dirty[0] = True
        if nd == 1 and mt == 1:
            return [(OPS["CONST"], self.const(a.flat[0]), 0, 0)], dirty
        o, sd, st, _ = self.pool.add(a)
        key = (o, sd, st)
        if key not in self.load_ix:
            self.load_ix[key] = len(self.loads)
            self.loads.append(key)
        if mt > 1:
            dirty[:mt] = True if nd > 1 else _bits_changed(a[0, :, 0])
        return [(OPS["LOAD"], self.load_ix[key], 0, 0)], dirty

    def add_slot(self, code: list, kind: int, dirty: np.ndarray, store: bool = True) -> Slot:
        """A new slot running ``code`` (its stack depth computed here); ``store=False``: a check only."""
        depth = top = 0
        for op, a, _, _ in code:
            if op in (OPS["LOAD"], OPS["SLOT"], OPS["CONST"]):
                top += 1
            elif OPS["ADD"] <= op <= OPS["POW"] or OPS["MIN"] <= op <= OPS["MAX"] or OPS["LT"] <= op <= OPS["GE"]:
                top -= 1
            elif op == OPS["WHERE"]:
                top -= 2
            elif op == OPS["COMPETE"]:
                top -= a - 1
            depth = max(depth, top)
        start = len(self.code)
        self.code.extend(code)
        self.slots.append((start, len(self.code), kind, depth, int(store)))
        self.dirty.append(dirty)
        return Slot(len(self.slots) - 1)

    def arrays(self) -> ProgramArrays:
        """The kernel's arrays."""
        if not self.slots:
            return ProgramArrays.empty(self.T)
        return ProgramArrays(np.array(self.code, dtype=np.int64).reshape(-1, 4), np.array(self.consts, dtype=float),
                             np.array(self.loads, dtype=np.int64).reshape(-1, 3),
                             np.array(self.slots, dtype=np.int64).reshape(-1, 5),
                             np.array(self.dirty, dtype=np.bool_).reshape(-1, self.T + 1))


def _ops(v: Any, pushes: list, P: Programs, h: float, pre_log: bool = False) -> list:
    """The program of node ``v`` from the instructions pushing each operand.

    ``pre_log``: a :class:`HazardRatio`'s first operand is ``log1p(-p)`` already (a leaf).
    """
    O = OPS
    if isinstance(v, Arith):
        if v.op == "neg":
            return pushes[0] + [(O["NEG"], 0, 0, 0)]
        return pushes[0] + pushes[1] + [(O[_BIN[v.op]], 0, 0, 0)]
    if isinstance(v, Rate):  # -expm1(-r h)
        step = h if v.per == "year" else 1.0
        return pushes[0] + [(O["CHK_NONNEG"], 0, 0, 0), (O["NEG"], 0, 0, 0), (O["CONST"], P.const(step), 0, 0),
                            (O["MUL"], 0, 0, 0), (O["EXPM1"], 0, 0, 0), (O["NEG"], 0, 0, 0)]
    if isinstance(v, HazardRatio) and pre_log:
        return pushes[0] + pushes[1] + [(O["CHK_NONNEG"], 0, 0, 0), (O["MUL"], 0, 0, 0), (O["EXPM1"], 0, 0, 0),
                                        (O["NEG"], 0, 0, 0)]
    if isinstance(v, HazardRatio):  # -expm1(hr log1p(-p))
        return pushes[0] + [(O["CHK_PROB"], 0, 0, 0), (O["NEG"], 0, 0, 0), (O["LOG1P"], 0, 0, 0)] + pushes[1] + [
            (O["CHK_NONNEG"], 0, 0, 0), (O["MUL"], 0, 0, 0), (O["EXPM1"], 0, 0, 0), (O["NEG"], 0, 0, 0)]
    if isinstance(v, RelativeRisk):
        return pushes[0] + pushes[1] + [(O["MUL"], 0, 0, 0)]
    if isinstance(v, AnyOf):  # 1 - prod(1 - p_i)
        one = (O["CONST"], P.const(1.0), 0, 0)
        code = [one, one]
        for p in pushes:
            code += [one] + p + [(O["CHK_PROB"], 0, 0, 0), (O["SUB"], 0, 0, 0), (O["MUL"], 0, 0, 0)]
        return code + [(O["SUB"], 0, 0, 0)]
    if isinstance(v, Exp):
        return pushes[0] + [(O["EXP"], 0, 0, 0)]
    if isinstance(v, Log):
        return pushes[0] + [(O["LOG"], 0, 0, 0)]
    if isinstance(v, (Min, Max)):
        return pushes[0] + pushes[1] + [(O["MIN" if isinstance(v, Min) else "MAX"], 0, 0, 0)]
    if isinstance(v, Compare):
        return pushes[0] + pushes[1] + [(O[_CMP[v.op]], 0, 0, 0)]
    if isinstance(v, Where):
        return pushes[0] + pushes[1] + pushes[2] + [(O["WHERE"], 0, 0, 0)]
    if isinstance(v, Competing):
        step = h if v.per == "year" else 1.0
        return [x for p in pushes for x in p] + [(O["COMPETE"], len(pushes), v.index, P.const(step))]
    raise TypeError(type(v).__name__)  # pragma: no cover - _KNOWN lists the types above


_KNOWN = (Arith, Rate, HazardRatio, RelativeRisk, AnyOf, Exp, Log, Min, Max, Compare, Where, Competing)


def _branch(node: ByStrategy, strategy: str):
    if strategy in node.values:
        return node.values[strategy]
    return node.default  # None: the numpy path raises the message


#: ``(id(node), strategy) -> (node, branches)``: values are immutable, so a node's branches never
#: change; the node is kept, so an id is never reused while its entry lives (cleared past _MEMO_MAX).
_BRANCH_MEMO: dict = {}
_MEMO_MAX = 100_000


def _branches(v: Any, strategy: str) -> tuple:
    """The branch every ``ByStrategy`` node of ``v`` picks (ids): part of the cache keys."""
    return tuple(id(_branch(n, strategy)) for n in walk(v) if isinstance(n, ByStrategy))


class Compiler:
    """Compiles the values of one model on one chunk into :class:`Programs` (used by ``build_arrays``).

    Parameters
    ----------
    programs : Programs
        Where slots go.
    make_ctx : callable
        ``make_ctx(strategy, cycles, where) -> Context`` (a :class:`Time` that notes reads of the strategy).
    varying : callable
        ``varying(name) -> bool``: whether a parameter varies by draw in the chunk.
    cycle_length : float
        Years per cycle.
    """

    def __init__(self, programs: Programs, make_ctx, varying, cycle_length: float):
        self.P = programs
        self.make_ctx = make_ctx
        self.varying = varying
        self.h = cycle_length
        self.nodes: dict = {}  # (id, cycles, branches) -> (node, ("leaf", array) | ("slot", Slot, dirty))
        self.memo: dict = {}  # (id, strategy[, "kind"]) -> (node, branches or kind)

    def branches(self, v: Any, strategy: str) -> tuple:
        """:func:`_branches`, remembered per node and strategy across runs (a node's tree is walked once)."""
        key = (id(v), strategy)
        hit = _BRANCH_MEMO.get(key)
        if hit is None or hit[0] is not v:
            if len(_BRANCH_MEMO) > _MEMO_MAX:
                _BRANCH_MEMO.clear()
            hit = _BRANCH_MEMO[key] = (v, _branches(v, strategy))
        return hit[1]

    def kind(self, v: Any, strategy: str) -> int:
        """What ``v`` may vary along, from the model alone: 1 draws, 2 cycles, 3 both (0 neither).

        Parameters vary when they vary in the run (not the chunk), so that the same nodes are
        compiled in every chunk: a compiled and a numpy evaluation may differ in the last bit.
        Time leaves, life tables and the nodes the compiler does not know vary by cycle (and
        by draw if a varying parameter is inside); a callable may vary along both.
        """
        key = (id(v), strategy, "kind")
        hit = self.memo.get(key)
        if hit is not None and hit[0] is v:
            return hit[1]
        out = self._kind(v, strategy)
        self.memo[key] = (v, out)
        return out

    def _kind(self, v: Any, strategy: str) -> int:
        if isinstance(v, ByStrategy):
            b = _branch(v, strategy)
            return 0 if b is None else self.kind(b, strategy)
        if isinstance(v, str):
            return 1 if self.varying(v) else 0
        if isinstance(v, Param):
            return 1 if self.varying(v.name) else 0
        if isinstance(v, numbers.Real):
            return 0
        if isinstance(v, _KNOWN):
            out = 0
            for c in v.children():
                out |= self.kind(c, strategy)
            return out
        if isinstance(v, Expr):
            return 2 | max((self.kind(c, strategy) & 1 for c in v.children()), default=0)
        return 3  # a callable

    def worth(self, v: Any, strategy: str) -> bool:
        """Whether ``v`` is compiled: a node the compiler knows that may vary by draw and cycle."""
        while isinstance(v, ByStrategy):
            v = _branch(v, strategy)
        return isinstance(v, _KNOWN) and self.kind(v, strategy) == 3

    def node(self, v: Any, strategy: str, cycles: np.ndarray, where: str):
        """``("leaf", array)`` or ``("slot", Slot, dirty)`` for value ``v`` of ``strategy``; and whether cacheable."""
        if isinstance(v, ByStrategy):
            b = _branch(v, strategy)
            if b is None:
                raise _NotCompiled
            return self.node(b, strategy, cycles, where)
        key = (id(v), cycles.shape[1], self.branches(v, strategy))
        hit = self.nodes.get(key)
        if hit is not None and hit[0] is v:
            return hit[1], True
        if isinstance(v, _KNOWN) and self.kind(v, strategy) == 3:
            kids = [self.node(c, strategy, cycles, where) for c in v.children()]
            ok = all(c[1] for c in kids)
            kids = [c[0] for c in kids]
            pushes, dirty = [], np.zeros(self.P.T + 1, dtype=bool)
            pre_log = isinstance(v, HazardRatio) and kids[0][0] == "leaf"
            if pre_log:  # log1p(-p) of a probability varying along one axis, once in numpy
                p = kids[0][1]
                if np.any((p < 0) | (p > 1)):
                    raise _NotCompiled
                with np.errstate(divide="ignore"):
                    kids[0] = ("leaf", np.log1p(-p))
            for c in kids:
                if c[0] == "slot":
                    pushes.append([(OPS["SLOT"], c[1].index, 0, 0)])
                    dirty |= c[2]
                else:
                    code, d = self.P.push_array(c[1])
                    pushes.append(code)
                    dirty |= d
            kind = TRANSITION if cycles.shape[1] == self.P.T else REWARD
            out = ("slot", self.P.add_slot(_ops(v, pushes, self.P, self.h, pre_log), kind, dirty), dirty)
            if ok:
                self.nodes[key] = (v, out)
            return out, ok
        ctx = self.make_ctx(strategy, cycles, where)
        out = ("leaf", _leaf(evaluate(v, ctx), ctx))
        ok = not ctx.time.strategy_read
        if ok:
            self.nodes[key] = (v, out)
        return out, ok


class _NotCompiled(Exception):
    """The value is left to the numpy path (which raises any message about it)."""


def _leaf(a: np.ndarray, ctx: Context) -> np.ndarray:
    if a.ndim != 3 or a.shape[2] != 1:  # a sojourn axis: not compiled
        raise _NotCompiled
    return a


def compile_value(compiler: Compiler, v: Any, strategy: str, cycles: np.ndarray, where: str):
    """The slot of ``v`` (and whether it may be shared), or None to evaluate it with numpy.

    Errors while compiling (a leaf that does not evaluate) also return None: the numpy path then
    raises the message it always gave.
    """
    try:
        out, ok = compiler.node(v, strategy, cycles, where)
    except (HtaError, _NotCompiled):
        return None
    if out[0] != "slot":
        return None
    return out[1], out[2], ok


class ModelCompiler:
    """Compiles the values of one model on one chunk: what ``build_arrays(..., programs=True)`` calls.

    Parameters
    ----------
    model : Model
        The model (strategies, cycles, cycle length, tunnels, utility bound).
    pool : Pool
        The chunk's value pool (leaves are stored there).
    make_ctx : callable
        ``make_ctx(strategy, cycles, where) -> Context``.
    varying : callable
        ``varying(name) -> bool``: whether a parameter varies by draw in the chunk.
    """

    def __init__(self, model, pool, make_ctx, varying):
        self.model = model
        self.P = Programs(len(model.strategies), model.n_cycles, pool)
        self.compiler = Compiler(self.P, make_ctx, varying, model.cycle_length)
        self.slots: dict = {}  # (id, cycles, branches, checks) -> (value, Slot)

    def value(self, v: Any, k: int, strategy: str, state: str, cycles: np.ndarray, where: str,
              checks: str) -> Slot | None:
        """The slot of ``v`` when it is compiled (varies by draw and cycle, no callable in the way), else None.

        ``checks``: ``"prob"`` (finite, in [0, 1]), ``"finite"``, ``"utility"`` (finite, at most
        ``utility_max``, then times the cycle length) -- the checks the numpy path makes.
        """
        if self.model.tunnels.get(state, 1) > 1 or not self.compiler.worth(v, strategy):
            return None
        key = (id(v), cycles.shape[1], self.compiler.branches(v, strategy), checks)
        hit = self.slots.get(key)
        if hit is not None and hit[0] is v:
            return hit[1]
        got = compile_value(self.compiler, v, strategy, cycles, where)
        if got is None:
            return None
        inner, dirty, shareable = got
        P, O = self.P, OPS
        code = [(O["SLOT"], inner.index, 0, 0), (O["CHK_FINITE"], 0, 0, 0)]
        if checks == "prob":
            code.append((O["CHK_PROB"], 0, 0, 0))
        elif checks == "utility" and self.model.utility_max is not None:
            code.append((O["CHK_LE"], P.const(self.model.utility_max), 0, 0))
        kind = TRANSITION if cycles.shape[1] == self.model.n_cycles else REWARD
        P.add_slot(code, kind, dirty, store=False)  # the checks of the numpy path; the value is the node's slot
        slot = inner
        if checks == "utility":  # QALYs per cycle: utility x cycle length
            code = [(O["SLOT"], inner.index, 0, 0), (O["CONST"], P.const(self.model.cycle_length), 0, 0),
                    (O["MUL"], 0, 0, 0)]
            slot = P.add_slot(code, kind, dirty)
        if shareable:
            self.slots[key] = (v, slot)
        return slot

    def row(self, k: int, explicit: dict, comp_to: str | None, tol: float) -> Slot:
        """A row with compiled entries: its complement ``max(1 - sum, 0)`` checked ``>= -tol`` (or its sum ``= 1``)."""
        P, O = self.P, OPS
        code: list = [(O["CONST"], P.const(1.0), 0, 0)] if comp_to is not None else []
        dirty = np.zeros(self.model.n_cycles + 1, dtype=bool)
        for i, a in enumerate(explicit.values()):
            if isinstance(a, Slot):
                code.append((O["SLOT"], a.index, 0, 0))
                dirty |= P.dirty[a.index]
            else:
                push, d = P.push_array(a)
                code += push
                dirty |= d
            if i:
                code.append((O["ADD"], 0, 0, 0))
        if comp_to is not None:
            code += [(O["SUB"], 0, 0, 0), (O["CHK_COMP"], P.const(tol), 0, 0), (O["CLAMP0"], 0, 0, 0)]
            return P.add_slot(code, TRANSITION, dirty)
        code.append((O["CHK_SUM1"], P.const(tol), 0, 0))
        return P.add_slot(code, TRANSITION, dirty, store=False)
