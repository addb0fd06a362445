"""Parameter sweeps: one PSA per scenario, streamed into a Parquet dataset partitioned by scenario.

Each scenario is one pure task (:func:`scenario_psa`, the cohort PSA of
:func:`sim.run_psa`, or for a partitioned survival model the PSA of
:func:`sim.psm.run_psm_psa`, with the scenario's values held fixed). Partitions are written by
the process that runs the experiment, through a temporary file and a rename, each
followed by a completion marker, so an interrupted sweep, rerun, continues where it
stopped (``docs/experiments.md``, *Sweeps and resumption*). A finished partition
whose file is unreadable or shorter than its marker records is named in an error
that says how to recompute it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.experiment.outputs import portable, write_parquet_atomic, write_table
from sim.experiment.spec import fixed_parameters

__all__ = ["DONE", "SWEEP", "check_partition", "read_sweep", "resumable", "run_sweep", "scenario_psa", "sweep_summary",
           "write_listing"]

#: The sweep dataset's folder in the output folder.
SWEEP = "sweep"
#: A partition's completion marker.
DONE = "_SUCCESS"


def scenario_psa(model, table, n: int, seed: int, method: str, chunk: int,
                 fixed: Mapping[str, float]) -> pd.DataFrame:
    """The PSA outcomes of one sweep scenario (a pure task).

    Parameters
    ----------
    model : Model or PartitionedSurvival
        The scenario's model (its settings applied); a partitioned survival model runs
        through :func:`sim.psm.run_psm_psa` with the same sampling and seed rules.
    table : ParameterTable
        The parameter table.
    n, seed : int
        Draws and seed (the same in every scenario: common random numbers).
    method : str
        Sampling method.
    chunk : int
        Draws run at once (the numbers do not depend on it).
    fixed : mapping of str to float
        Parameters held at the scenario's values (sampled, then replaced).

    Returns
    -------
    DataFrame
        The outcomes of :func:`sim.run_psa` (or :func:`sim.psm.run_psm_psa`): one row per (draw, strategy).
    """
    from sim.psm.spec import PartitionedSurvival

    if isinstance(model, PartitionedSurvival):
        from sim.psm.psa import run_psm_psa

        # crossing curves are constrained and reported (CurveCrossingWarning) as in a PSA
        return run_psm_psa(model, table, n, seed, method=method, chunk_size=chunk, fixed=fixed,
                           defaults="model").outcomes
    from sim.cohort.psa import run_psa

    # load() accounted for every parameter (defaults = "model" where the file opted in)
    return run_psa(model, table, n, seed, method=method, chunk_size=chunk, fixed=fixed, defaults="model").outcomes


def _part_dir(root: Path, index: int) -> Path:
    return root / f"scenario={index:05d}"


def check_partition(d: Path) -> None:
    """Raise :class:`HtaError` if a finished partition (one with its marker) is unreadable or incomplete.

    The marker records the partition's row count; the Parquet file must be readable and hold that many rows.

    Parameters
    ----------
    d : Path
        A partition folder ``scenario=NNNNN``.
    """
    import pyarrow.parquet as pq

    part = d / "part-0.parquet"
    try:
        expected = int((d / DONE).read_text().strip() or -1)
        rows = pq.read_metadata(part).num_rows
        problem = None if rows == expected else f"{rows} rows, its marker records {expected}"
    except (OSError, ValueError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if problem is not None:
        raise HtaError(f"{part}: finished sweep partition is corrupted ({problem}); delete the folder {str(d)!r} "
                       f"and rerun the same command to recompute that scenario")


def resumable(folder: Path) -> bool:
    """Whether a (staging) folder holds finished sweep partitions, worth keeping after a failure.

    Parameters
    ----------
    folder : Path
        An output or staging folder.

    Returns
    -------
    bool
    """
    return any((folder / SWEEP).glob(f"*/{DONE}"))


def read_sweep(folder: str | os.PathLike) -> pd.DataFrame:
    """The completed partitions of a run's sweep dataset as one table.

    Parameters
    ----------
    folder : str or path-like
        The output folder of a run (or its staging folder).

    Returns
    -------
    DataFrame
        ``scenario`` (int) and the outcome columns (``draw, strategy, cost, qaly, ly, ...``),
        sorted by scenario, draw and strategy order.
    """
    root = Path(folder) / SWEEP
    parts = []
    for d in sorted(root.glob("scenario=*")):
        if (d / DONE).is_file():
            check_partition(d)
            df = pd.read_parquet(d / "part-0.parquet")
            df.insert(0, "scenario", int(d.name.split("=", 1)[1]))
            parts.append(df)
    if not parts:
        return pd.DataFrame(columns=["scenario", "draw", "strategy"])
    return pd.concat(parts, ignore_index=True)


def run_sweep(run: Any) -> pd.DataFrame:
    """Run an experiment's sweep: the scenarios not yet finished, then the summary of all.

    Parameters
    ----------
    run : runner state
        The run (:mod:`sim.experiment.runner`): its loaded experiment ``ld``, staging
        folder ``dir``, executor ``ex``, ``fixed`` values of ``[scenario]``, ``located``
        (call an analysis, errors at an experiment key) and ``sections`` (for the report).

    Returns
    -------
    DataFrame
        The sweep summary (also written as ``sweep_summary.csv`` and ``.md``).
    """
    exp, ld = run.ld.experiment, run.ld
    n = exp.sweep_draws or exp.psa.draws
    method, chunk = (exp.psa.method, exp.psa.chunk) if exp.psa else ("mc", 1000)
    root = run.dir / SWEEP
    root.mkdir(exist_ok=True)
    names = write_listing(run.dir, exp)
    todo, args = [], []
    for s in exp.sweep:
        if (_part_dir(root, s.index) / DONE).is_file():
            check_partition(_part_dir(root, s.index))
            continue
        model = run.located(("sweep",), ld.model, s.values)
        todo.append(s)
        args.append((model, ld.table, n, exp.seed, method, chunk, {**run.fixed, **fixed_parameters(s.values)}))

    def write(i: int, out: pd.DataFrame) -> None:
        d = _part_dir(root, todo[i].index)
        d.mkdir(exist_ok=True)
        write_parquet_atomic(portable(out), d / "part-0.parquet")
        tmp = d / f".{DONE}.tmp"
        tmp.write_text(f"{len(out)}\n")
        os.replace(tmp, d / DONE)

    run.sections["sweep_resumed"] = len(exp.sweep) - len(todo)
    run.ex.map(scenario_psa, args, desc="sweep", unit="scenario", on_result=write)
    summary = sweep_summary(read_sweep(run.dir), exp, ld.effect, names)
    write_table(summary, run.dir, "sweep_summary", ("csv", "md"), getattr(run, "units", None))
    run.sections["sweep"] = summary
    return summary


def write_listing(folder: Path, exp) -> list[str]:
    """Write ``sweep_scenarios.csv`` (one row per scenario and its values); return the swept names, sorted."""
    names = sorted({k for s in exp.sweep for k in s.values})
    listing = pd.DataFrame([{"scenario": s.index, "name": s.name, **{k: s.values.get(k, np.nan) for k in names}}
                            for s in exp.sweep])
    listing.to_csv(folder / "sweep_scenarios.csv", index=False, float_format="%.17g")
    return names


def sweep_summary(data: pd.DataFrame, exp, effect: str, names: list[str],
                  means: Mapping[str, tuple[str, float]] | None = None) -> pd.DataFrame:
    """Per scenario and strategy: mean cost and effect, probability cost-effective and EVPI at the threshold.

    The probability is the CEAC of :func:`sim.ceac` at the threshold (ties to the
    strategy whose name sorts first).

    Parameters
    ----------
    data : DataFrame
        :func:`read_sweep` of the run.
    exp : Experiment
        The experiment (its scenarios and threshold).
    effect : str
        The effect measure.
    names : list of str
        The sweep's parameter (and setting) names.
    means : mapping, optional
        Further columns: output name -> (outcome column, scale), the scaled mean per
        strategy, where the outcomes have that column (a patient-level run's waits).

    Returns
    -------
    DataFrame
        ``scenario, name, <names>, strategy, cost, <effect>, p_cost_effective, evpi`` and the ``means``.
    """
    from sim import decision
    from sim.decision import voi

    thr = exp.wtp_threshold
    rows = []
    for s in exp.sweep:
        o = data[data["scenario"] == s.index]
        c, strat = decision.outcome_matrix(o, "cost")
        e, _ = decision.outcome_matrix(o, effect)
        curve = decision.ceac(c, e, [thr], strat)
        best = dict(zip(curve["strategy"], curve["probability"], strict=True))
        ev = float(voi.evpi(c, e, thr)["evpi"].iloc[0])
        for k, name in enumerate(strat):
            row = {"scenario": s.index, "name": s.name, **{v: s.values.get(v, np.nan) for v in names},
                   "strategy": name, "cost": c[:, k].mean(), effect: e[:, k].mean(),
                   "p_cost_effective": best[name], "evpi": ev}
            sel = o[o["strategy"].astype(str) == str(name)]
            for out, (column, scale) in (means or {}).items():
                if column in o.columns:
                    row[out] = float(sel[column].mean() * scale)
            rows.append(row)
    return pd.DataFrame(rows)
