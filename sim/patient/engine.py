"""Continuous-time patient pathways on SimPy: competing risks between states.

:func:`run_pathway` runs each strategy's :class:`~sim.patient.pathway.Pathway`
(``pathway.py``) patient by patient. A patient is a plain SimPy process (see
:func:`_patient_process`): in each state every possible event draws its time
(common random numbers: event ``m`` of the patient's ``k``-th stay uses slot
``k * M + m``), the earliest wins, the state's cost and utility accrue exactly over
the stay with continuous discounting, and the event's one-off cost is paid at its
time. Clocks: ``"markov"`` (time since the start of the simulation) or ``"semi"``
(time since entering the state). ``run_pathway(engine=...)`` may instead run the
same loop compiled (``compiled.py``). Formulas: ``docs/patient.md``.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd
import simpy

from sim.errors import HtaError, suggest
from sim.model.memory import check_memory
from sim.patient.compiled import PATHS, choose, evaluate_functions, plan_pathways, run_compiled
from sim.patient.events import Exponential, TimeToEvent, Weibull
from sim.patient.pathway import Event, Pathway, discounted_integral
from sim.patient.results import PathwayResult, pathway_conventions
from sim.patient.streams import batch_uniforms, patient_key, uniform_at
from sim.results import make_settings

__all__ = ["BATCH_SIZE", "Event", "Pathway", "check_run", "discounted_integral", "run_pathway"]

_NO_ATTRS: Mapping = MappingProxyType({})  # the attributes of a patient without a population table
_PRE_STAYS = 2  # random numbers made ahead for a whole batch at once, per patient, for this many stays
BATCH_SIZE = 200  # default patients per SimPy environment: a small event queue and working set (see run_pathway)

# how a compiled event's time is drawn: inline (scalar parameters, no covariates) or by _slow_time
_EXP, _WEIB, _SLOW = 0, 1, 2


def _compile(path: Pathway, index: Mapping[str, int]) -> tuple:
    """The pathway as plain tuples for the per-event hot loop, built once per run.

    Returns ``(plan, start)``: ``plan[i]`` for state ``index[state] = i`` is
    ``(events, cost, utility, alive, accrues)`` (``None`` for a state of another
    strategy). ``events`` is a tuple of pairs ``((kind, p1, p2, p3, markov), (to, bit,
    cost, qaly))``: ``kind`` ``_EXP`` (exponential, ``p1`` its rate), ``_WEIB``
    (Weibull, ``p1, p2, p3`` = shape, scale, 1 / shape), both without hazard ratios, or
    ``_SLOW`` (anything else: ``p1`` is ``(event, distribution or None)`` for
    :func:`_slow_time`); ``to`` the next state's index and ``bit`` its bit in the mask
    of visited states. The inline formulas are ``TimeToEvent.sample_one``'s term for
    term, so the times are the same to the bit (tested).
    """
    plan = [None] * len(index)
    for st in path.states:
        evs = []
        for e in path.events.get(st, ()):
            t = e.time
            if e.hr or not isinstance(t, TimeToEvent):
                how = (_SLOW, (e, t if isinstance(t, TimeToEvent) else None), None, None)
            elif type(t) is Exponential and t._r is not None and t._r > 0:
                how = (_EXP, t._r, None, None)
            elif type(t) is Weibull and t._ks is not None:
                how = (_WEIB, t._ks[0], t._ks[1], 1.0 / t._ks[0])
            else:
                how = (_SLOW, (e, t), None, None)
            evs.append((how + (e.clock == "markov",),
                        (index[e.to], 1 << index[e.to], float(e.cost), float(e.qaly))))
        c, q, alive = float(path.costs.get(st, 0.0)), float(path.utilities.get(st, 0.0)), st not in path.dead
        plan[index[st]] = (tuple(evs), c, q, alive, bool(c or q or alive))
    return tuple(plan), index[path.start]


def _slow_time(how: tuple, u: float, a: float, attrs: Mapping, cache: dict) -> float:
    """Time to an event with hazard ratios, a time function or another distribution.

    ``how = (event, distribution or None)``; the hazard ratio and the time function's
    distribution are evaluated once per patient and event (kept in ``cache``).
    """
    e, dist = how
    if e.hr or dist is None:
        got = cache.get(id(e))
        if got is None:
            got = cache[id(e)] = (e.hazard_ratio(attrs), dist if dist is not None else e.distribution(attrs))
        return got[1].sample_one(u, a, got[0])
    return dist.sample_one(u, a, 1.0)


def _discounting(path: Pathway) -> tuple:
    """Constants of the exact discounted accrual over a stay (:func:`discounted_integral`).

    Returns ``(lc, same, bc, bo, outcomes_integral)``: ``lc = log(1 + r_costs)``, whether
    the two rates are equal, ``1 + r`` for costs and outcomes (one-off payments are
    discounted by ``(1 + r) ** -t``), and ``outcomes_integral(t0, t1)``, the integral of
    the outcomes' discount factor (used when the rates differ).
    """
    dc, do = float(path.discount_costs), float(path.discount_outcomes)
    lc, lo_ = math.log1p(dc), math.log1p(do)  # as in discounted_integral
    exp = math.exp

    def outcomes_integral(t0, t1):  # discounted_integral(do, t0, t1), when the two rates differ
        return (exp(-lo_ * t0) - exp(-lo_ * t1)) / lo_ if lo_ else t1 - t0

    return lc, do == dc, 1.0 + dc, 1.0 + do, outcomes_integral


def _earliest_event(M: int, W: int, seed: int, draw: int, lo: int, uni: list, records) -> object:
    """The competing-events race of a stay, for the batch whose first patient is ``lo``.

    Returns ``earliest(r, evs, stay, t_now, entered, cache) -> (event, time, cache)``:
    every event of ``evs`` (a compiled state's events, see :func:`_compile`) draws its
    time from the patient's number of slot ``stay * M + m``, in order; the earliest
    wins (the first of equal times; ``(None, inf)`` when there is no event). Times are
    since ``t_now``; a Markov clock has run ``t_now``, a semi-Markov one ``t_now -
    entered``. ``uni[r * W + slot]`` holds the slots made ahead for the whole batch;
    later slots are made one at a time by :func:`uniform_at` (the same numbers).
    ``cache`` (None until needed) keeps the patient's stream key and its hazard ratios.
    """
    log, inf = math.log, math.inf

    def more(r, slot, cache):  # a number beyond those made ahead (the patient's key kept)
        key = cache.get(-1)
        if key is None:
            key = cache[-1] = patient_key(seed, draw, lo + r)
        return uniform_at(key, slot)

    def earliest(r, evs, stay, t_now, entered, cache):
        best, best_t = None, inf
        slot = stay * M
        base = r * W
        for (kind, p1, p2, p3, markov), ev in evs:
            if slot < W:
                u = uni[base + slot]
            else:
                if cache is None:
                    cache = {}
                u = more(r, slot, cache)
            slot += 1
            a = t_now if markov else t_now - entered
            if kind == _EXP:  # H(t) = r t
                x = (p1 * a - log(u)) / p1 - a
                if x < 0.0:  # max(x, 0.0) as in sample_one; a call costs more here
                    x = 0.0
            elif kind == _WEIB:  # H(t) = (t / scale) ** shape
                x = p2 * ((a / p2) ** p1 - log(u)) ** p3 - a
                if x < 0.0:
                    x = 0.0
            else:
                if cache is None:
                    cache = {}
                x = _slow_time(p1, u, a, records[lo + r] if records is not None else _NO_ATTRS, cache)
            if x < best_t:
                best, best_t = ev, x
        return best, best_t, cache

    return earliest


def _patient_process(path: Pathway, plan: tuple, start: int, seed: int, draw: int, stride: int, offset: int):
    """The SimPy process of one strategy, for one batch at a time.

    Returns ``(batch, W)``. ``batch(env, lo, uni, records, buf, masks)`` returns the
    process function ``patient(r)`` of the batch's patient ``j = lo + r``: a plain
    generator, one patient's life, that yields a timeout per stay (until its event, or
    until the horizon when the event falls beyond it); it ends when the next event falls
    beyond the horizon or when it enters a state from which no event can happen (whose
    accrual up to the horizon is exact without waiting). It writes its totals (cost,
    qaly, ly, their undiscounted twins, events: seven float64) into the bytes ``buf``
    (the caller's output array) at ``j * stride + offset``, and the states it visited,
    as a bit mask over the state index, into ``masks[r]``.

    ``uni`` holds the patients' random numbers for the first ``_PRE_STAYS`` stays
    (``W = _PRE_STAYS * M`` per patient, made for the whole batch at once; see
    :func:`_earliest_event`), so results do not depend on the batch.

    The generator keeps few local names: SimPy keeps every live patient's frame in
    memory, and a smaller frame is measurably faster (rare paths are in helpers).
    """
    M = path.max_events
    W = _PRE_STAYS * M
    horizon = float(path.horizon)
    lc, same, bc, bo, outcomes_integral = _discounting(path)
    nlc, exp = -lc, math.exp
    pack = struct.Struct("7d").pack_into

    def batch(env, lo, uni, records, buf, masks):
        timeout = env.timeout
        earliest = _earliest_event(M, W, seed, draw, lo, uni, records)

        def patient(r):
            s, entered, stay, mask, cache = start, 0.0, 0, 1 << start, None
            tc = tq = tl = uc = uq = ul = 0.0  # discounted cost, qaly, ly; undiscounted
            t_prev, f_prev = 0.0, 1.0  # end of the last stay and its cost discount factor
            t_now = env.now
            while True:
                evs, c, q, alive, accrues = plan[s]
                if not (evs or accrues):  # nothing can happen or accrue here
                    break
                best, best_t, cache = earliest(r, evs, stay, t_now, entered, cache)
                t_next = t_now + best_t
                t_end = t_next if t_next < horizon else horizon
                span = t_end - t_now
                if accrues:  # else adding zeros would change no total
                    # exact discounted accrual (discounted_integral), reusing the factor of the last
                    # stay's end when this stay starts there (SimPy's clock is t_prev + span)
                    if lc:
                        f0 = f_prev if t_now == t_prev else exp(nlc * t_now)
                        f_prev = exp(nlc * t_end)
                        dcost = (f0 - f_prev) / lc
                        t_prev = t_end
                    else:
                        dcost = span
                    dout = dcost if same else outcomes_integral(t_now, t_end)
                    tc += c * dcost
                    tq += q * dout
                    uc += c * span
                    uq += q * span
                    if alive:
                        tl += dout
                        ul += span
                if best is None:  # no event can happen: nothing to wait for
                    break
                if span > 0:
                    yield timeout(span)  # SimPy resumes us at exactly t_now + span
                    t_now += span
                if t_next > horizon:
                    break
                s, bit, c, q = best  # the event: next state, its bit, one-off cost and QALYs
                if c:
                    tc += c * bc ** -t_end
                    uc += c
                if q:
                    tq += q * bo ** -t_end
                    uq += q
                entered, stay = t_end, stay + 1
                mask |= bit
            pack(buf, (lo + r) * stride + offset, tc, tq, tl, uc, uq, ul, stay)  # events = stays ended by one
            masks[r] = mask

        return patient

    return batch, W


@functools.lru_cache(maxsize=64)
def _strategy_dtype(names: tuple) -> pd.CategoricalDtype:
    """The categorical dtype of the strategy column.

    Made once per set of names: pandas takes about half a millisecond to infer and
    check the categories.
    """
    return pd.CategoricalDtype(list(names))


def _bits(masks: list, n: int) -> np.ndarray:
    """Bit masks (Python ints) as a ``(len(masks), n)`` array of 0/1."""
    if n <= 62:
        return (np.array(masks, dtype=np.int64)[:, None] >> np.arange(n)) & 1
    return np.array([[(m >> i) & 1 for i in range(n)] for m in masks], dtype=float)


def check_run(n_patients, population, seed, draw, batch_size) -> tuple[int, int, int]:
    """Checks shared by the patient engines' entry points.

    Parameters
    ----------
    n_patients : int or None
        Number of patients (None: ``len(population)``).
    population : DataFrame or None
        Patient attributes.
    seed, draw : int
        Keys of the random numbers (whole numbers in ``[0, 2**64)``).
    batch_size : int
        Patients per SimPy environment (>= 1).

    Returns
    -------
    (int, int, int)
        ``(n_patients, seed, draw)`` as Python integers (``n_patients`` taken from the
        population when it is given); an :class:`HtaError` names a bad argument.
    """
    if population is not None:
        if not isinstance(population, pd.DataFrame):
            raise HtaError(f"population must be a DataFrame (one row per patient), got {type(population).__name__}")
        if n_patients is not None and n_patients != len(population):
            raise HtaError(f"n_patients {n_patients} differs from the population's {len(population)} rows; give one")
        n_patients = len(population)
    for name, v, lo in (("n_patients", n_patients, 1), ("batch_size", batch_size, 1), ("draw", draw, 0),
                        ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HtaError(f"{name} {v!r} must be a whole number >= {lo}")
    for name, v in (("seed", seed), ("draw", draw)):
        if v >= 2**64:
            raise HtaError(f"{name} {v!r} is too large: random stream keys are 64-bit, give one below 2**64")
    check_memory(64 * n_patients, f"a run of {n_patients:,} patients")  # >= one 8-column record a patient
    return int(n_patients), int(seed), int(draw)  # Python integers for the streams' key arithmetic


def _check_pathways(pathways: Mapping, population: pd.DataFrame | None) -> list[str]:
    """The population's columns, or an :class:`HtaError` naming a bad pathway or a missing attribute."""
    needed = set()
    for s, p in pathways.items():
        if not isinstance(p, Pathway):
            raise HtaError(f"strategy {s!r}: {type(p).__name__} is not a Pathway")
        needed |= {a for evs in p.events.values() for e in evs for a in e.hr}
    cols_have = list(population.columns) if population is not None else []
    missing = sorted(needed - set(cols_have))
    if missing:
        raise HtaError(
            f"the pathways use patient attribute {missing[0]!r}{suggest(missing[0], cols_have)}, which the "
            f"population {'table lacks' if population is not None else 'is not given'}; "
            f"population columns: {', '.join(map(str, cols_have)) or 'none'}"
        )
    return cols_have


def _simulate(pathways: Mapping[str, Pathway], states: list, n_patients: int, seed: int, draw: int, records,
              batch_size: int) -> np.ndarray:
    """Every patient through every strategy, one batch at a time (a bounded event queue).

    Returns ``out`` of shape ``(n_patients, n_strategies, 7 + n_states)``: the seven
    totals of :func:`_patient_process`, then one 0/1 column per state (visited).
    """
    names = list(pathways)
    index = {st: i for i, st in enumerate(states)}
    out = np.zeros((n_patients, len(names), 7 + len(states)))
    buf = memoryview(out).cast("B")
    plans = []
    for k, s in enumerate(names):
        plan, start = _compile(pathways[s], index)
        # each process writes its totals straight into its row of `out` (row-major bytes)
        plans.append(_patient_process(pathways[s], plan, start, seed, draw, out.strides[0], k * out.strides[1]))
    for lo in range(0, n_patients, batch_size):
        hi = min(n_patients, lo + batch_size)
        b = hi - lo
        made = {}  # the batch's random numbers, by slots per patient (the same for every strategy)
        for k, (batch, W) in enumerate(plans):
            if W not in made:
                made[W] = batch_uniforms(seed, draw, lo, hi, W)
            masks = [0] * b
            env = simpy.Environment()
            patient = batch(env, lo, made[W], records, buf, masks)
            for r in range(b):
                env.process(patient(r))
            env.run()
            out[lo:hi, k, 7:] = _bits(masks, len(states))
    return out


def run_pathway(pathways: Mapping[str, Pathway], n_patients: int | None = None, *, seed: int,
                population: pd.DataFrame | None = None, draw: int = 0,
                batch_size: int = BATCH_SIZE, engine: str = "auto") -> PathwayResult:
    """Simulate patients through each strategy's pathway.

    Parameters
    ----------
    pathways : mapping of strategy name to Pathway
        One pathway per strategy, in the order of the result.
    n_patients : int, optional
        Number of patients (or ``len(population)``).
    seed : int
        Seed of the patients' random numbers (required, keyword only).
    population : DataFrame, optional
        One row per patient with its attributes (age, sex, risk factors), used by
        events' time functions and hazard ratios; its columns are copied to the result.
    draw : int
        Outer draw: the other key of the patients' random numbers.
    batch_size : int
        Patients per SimPy environment (bounds the event queue and the memory of live
        processes); results do not depend on it. The default (``BATCH_SIZE``, 200) is the
        fastest measured (``benchmarks/README.md``): larger batches slow down every event
        (a deeper heap, and live generators that no longer fit the CPU caches).
    engine : {"auto", "compiled", "simpy"}
        ``"compiled"``: a Numba loop over patients (``compiled.py``) for pathways whose
        times are exponential, Weibull, Gompertz, log-logistic, log-normal or piecewise
        exponential with fixed parameters (an error otherwise); ``"simpy"``: the SimPy
        engine; ``"auto"`` (default): compiled when it gives the SimPy engine's numbers
        to the bit (exponential, Weibull, piecewise exponential), else SimPy. The path
        taken is ``settings["path"]`` (and why SimPy was chosen, ``settings["path_reason"]``).

    Returns
    -------
    PathwayResult
        ``outcomes``: one row per (patient, strategy): ``patient, strategy, cost, qaly,
        ly, cost_undisc, qaly_undisc, ly_undisc, events``, ``reached_<state>`` (1 if the
        patient was ever in the state, for event counts and NNT/NNH) and the
        population's columns; ``settings`` (seed, draw, patients, horizon, discounting).
    """
    if not pathways:
        raise HtaError("run_pathway needs at least one strategy's Pathway")
    n_patients, seed, draw = check_run(n_patients, population, seed, draw, batch_size)
    names: Sequence[str] = list(pathways)
    cols_have = _check_pathways(pathways, population)
    states = list(dict.fromkeys(st for p in pathways.values() for st in p.states))
    plan = plan_pathways(pathways, states) if engine != "simpy" else ""
    if not isinstance(plan, str) and plan.functions:
        plan = evaluate_functions(plan, n_patients, population) or plan
    compiled, why = choose(engine, plan)
    if compiled:
        out = run_compiled(plan, n_patients, seed, draw, population, len(states))
    else:
        records = population.to_dict("records") if population is not None else None
        out = _simulate(pathways, states, n_patients, seed, draw, records, batch_size)
    cols = ["cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc", "events"]
    cols += [f"reached_{st}" for st in states]
    data = {"patient": np.repeat(np.arange(n_patients), len(names)),
            "strategy": pd.Categorical.from_codes(np.tile(np.arange(len(names), dtype=np.int16), n_patients),
                                                  dtype=_strategy_dtype(tuple(names)))}
    for i, c in enumerate(cols):
        data[c] = out[:, :, i].ravel()
    for c in cols_have:
        data[c] = np.repeat(population[c].to_numpy(), len(names))
    settings = make_settings("patient", model="pathway", strategies=names, n_draws=None, seed=seed,
                             method="continuous-time pathways", path=PATHS["compiled" if compiled else "simpy"],
                             **({"path_reason": why} if why else {}), draw=draw, n_patients=n_patients,
                             states=states, **pathway_conventions(pathways))
    return PathwayResult(pd.DataFrame(data, copy=False), settings)
