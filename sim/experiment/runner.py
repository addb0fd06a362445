"""Run an experiment file: base case, PSA, DSA, thresholds, EVPI/EVPPI, sweeps; serial or on Dask.

Every PSA chunk and every sweep scenario is a pure task of ``(model, table, seed,
draw range, fixed values)``: draw ``i`` depends only on ``(seed, i)``, so the
numbers are identical whatever the chunk size, the worker count or the order in
which tasks finish. On a Dask cluster a task lost with a killed worker is simply
recomputed. Sweep partitions are written (by the process that runs the
experiment) through a temporary file and a rename, each followed by a completion
marker, so an interrupted sweep, rerun, continues where it stopped.

Semantics (seeds, resumption, Dask, the manifest): ``docs/experiments.md``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.experiment.files import SETTINGS, Experiment, Loaded, load, read_experiment
from sim.experiment.outputs import (
    MANIFEST,
    OutputFolder,
    inputs_record,
    sha256,
    versions,
    write_excel,
    write_parquet_atomic,
    write_table,
)

__all__ = ["Executor", "RunResult", "psa_chunk", "read_sweep", "repeat", "run_experiment", "scenario_psa"]

SWEEP = "sweep"
DONE = "_SUCCESS"


# ---------------------------------------------------------------------------- pure tasks
def psa_chunk(model, table, n: int, seed: int, method: str, lo: int, hi: int,
              fixed: Mapping[str, float]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Draws ``lo:hi`` of an ``n``-draw PSA through the cohort engine.

    ``fixed`` values replace the sampled columns after sampling, so the other
    parameters' draws are the same as without them (common random numbers).

    Returns
    -------
    (DataFrame, dict)
        The outcomes (``draw`` numbered ``lo..hi-1``, the columns of
        :attr:`sim.CohortResult.outcomes`) and the parameter values ``{name: array (hi - lo,)}``.
    """
    from sim.cohort import run_cohort

    values = table.sampler(n, seed, method).arrays(lo, hi)
    for k, v in fixed.items():
        values[k] = np.full(hi - lo, float(v))
    out = run_cohort(model, values).outcomes
    out["draw"] = out["draw"].to_numpy() + lo
    return out, values


def scenario_psa(model, table, n: int, seed: int, method: str, chunk: int,
                 fixed: Mapping[str, float]) -> pd.DataFrame:
    """The PSA outcomes of one sweep scenario (all ``n`` draws, run ``chunk`` at a time)."""
    parts = [psa_chunk(model, table, n, seed, method, lo, min(n, lo + chunk), fixed)[0]
             for lo in range(0, n, chunk)]
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------------- execution
class Executor:
    """Runs tasks serially or on a Dask cluster; results come back keyed by task index.

    Parameters
    ----------
    mode : {"serial", "local", "scheduler"}
    workers : int
        Processes of a local cluster.
    address : str, optional
        Scheduler address (``"tcp://host:8786"``) for ``"scheduler"``.
    progress : bool
        Progress bars (tqdm) on stderr.
    client : dask.distributed.Client, optional
        Use this client (and leave it open).
    """

    def __init__(self, mode: str = "serial", workers: int = 2, address: str | None = None,
                 progress: bool = False, client: Any = None, where: str = "--scheduler"):
        self.mode, self.workers, self.address, self.progress = mode, workers, address, progress
        self.where = where
        self.client, self._own = client, []
        if client is not None:
            self.mode = "client"

    def __enter__(self) -> Self:
        if self.client is None and self.mode != "serial":
            from dask.distributed import Client, LocalCluster

            try:
                if self.mode == "local":
                    cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
                    self._own.append(cluster)
                    self.client = Client(cluster)
                else:
                    self.client = Client(self.address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise HtaError(f"{self.where}: cannot connect to the Dask scheduler {self.address!r} ({exc}); "
                               f"check the address, or run with execution = \"local\"") from None
            self._own.insert(0, self.client)
        return self

    def __exit__(self, *exc) -> None:
        for obj in self._own:
            obj.close()
        self._own = []

    def describe(self) -> dict:
        if self.client is None:
            return {"mode": "serial"}
        info = self.client.scheduler_info()
        return {"mode": self.mode, "workers": len(info.get("workers", {})),
                "scheduler": None if self.mode == "local" else info.get("address")}

    def map(self, func: Callable, args: Sequence[tuple], *, desc: str, unit: str,
            on_result: Callable[[int, Any], None] | None = None) -> list:
        """``[func(*a) for a in args]``, in order; ``on_result(i, result)`` as each finishes."""
        from tqdm.auto import tqdm

        bar = tqdm(total=len(args), desc=desc, unit=unit, disable=not self.progress, file=sys.stderr)
        results: list = [None] * len(args)
        try:
            if self.client is None:
                for i, a in enumerate(args):
                    results[i] = func(*a)
                    if on_result:
                        on_result(i, results[i])
                    bar.update()
            else:
                from dask.distributed import as_completed

                futures = [self.client.submit(func, *a, pure=False) for a in args]
                index = {f.key: i for i, f in enumerate(futures)}
                for fut, res in as_completed(futures, with_results=True):
                    i = index[fut.key]
                    results[i] = res
                    if on_result:
                        on_result(i, res)
                    bar.update()
        finally:
            bar.close()
        return results


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class RunResult:
    """What :func:`run_experiment` returns: the output folder, the manifest and the main tables."""

    folder: Path
    manifest: dict
    icer: pd.DataFrame | None
    summary: pd.DataFrame | None


def _fixed(values: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if k not in SETTINGS}


def _save_fig(ax, folder: Path, name: str) -> list[Path]:
    import matplotlib
    import matplotlib.pyplot as plt

    from sim import plots

    fig = ax.figure if hasattr(ax, "figure") else ax
    with matplotlib.rc_context({"svg.hashsalt": "hta-sim", "svg.fonttype": "path"}):
        files = plots.save(fig, folder / "figures" / name, "png", metadata={"Software": None})
        files += plots.save(fig, folder / "figures" / name, "svg", metadata={"Date": None})
    plt.close(fig)
    return files


def _pick(model, spec) -> tuple[str, str]:
    s = list(model.strategies)
    return spec.strategy or s[-1 if len(s) == 2 else 1], spec.comparator or s[0]


class _Run:
    """One run: the loaded experiment, the staging folder, the executor."""

    def __init__(self, loaded: Loaded, folder: Path, ex: Executor):
        self.ld, self.exp, self.dir, self.ex = loaded, loaded.experiment, folder, ex
        self.model = loaded.model()
        self.fixed = _fixed(self.exp.scenario)
        self.figures: list[tuple[str, str]] = []
        self.sections: dict[str, Any] = {}

    def fig(self, ax, name: str, caption: str) -> None:
        _save_fig(ax, self.dir, name)
        self.figures.append((name, caption))

    def located(self, path: tuple, func: Callable, *args, **kw):
        """Call an analysis; report its HtaError at the experiment key ``path``."""
        try:
            return func(*args, **kw)
        except HtaError as exc:
            raise self.exp.error(path, str(exc)) from None

    # ------------------------------------------------------------ analyses
    def base_case(self) -> pd.DataFrame:
        from sim.cohort import run_cohort

        res = self.located(("model",), run_cohort, self.model)
        out = res.outcomes.drop(columns="draw")
        write_table(out, self.dir, "base_case", ("csv", "parquet"))
        icer = res.icer(effect=self.ld.effect)
        write_table(icer, self.dir, "icer", ("csv", "md"))
        write_excel({"icer": icer, "parameters": self.ld.table.to_frame()}, self.dir / "icer.xlsx")
        self.sections["base_case"] = out
        self.sections["icer"] = icer
        return icer

    def psa(self) -> pd.DataFrame:
        from sim import decision, plots
        from sim.cohort.psa import summarise
        from sim.decision import voi

        spec, exp = self.exp.psa, self.exp
        n = spec.draws
        args = [(self.model, self.ld.table, n, exp.seed, spec.method, lo, min(n, lo + spec.chunk), self.fixed)
                for lo in range(0, n, spec.chunk)]
        parts = self.ex.map(psa_chunk, args, desc=f"PSA {self.model.name}", unit="chunk")
        outcomes = pd.concat([p[0] for p in parts], ignore_index=True)
        draws = pd.DataFrame({k: np.concatenate([p[1][k] for p in parts]) for k in self.ld.table.names})
        draws.insert(0, "draw", np.arange(n))
        write_table(outcomes, self.dir, "psa_outcomes", ("parquet", "csv"))
        write_table(draws, self.dir, "psa_draws", ("parquet", "csv"))
        effect = self.ld.effect
        summary = summarise(outcomes, columns=("cost", "qaly", "ly")).reset_index()
        write_table(summary, self.dir, "psa_summary", ("csv", "md"))
        picer = decision.icers(outcomes, effect=effect)
        write_table(picer, self.dir, "psa_icer", ("csv", "md"))
        c, names = decision.outcome_matrix(outcomes, "cost")
        e, _ = decision.outcome_matrix(outcomes, effect)
        wtp = np.asarray(exp.wtp)
        curves = decision.ceac(c, e, wtp, names)
        write_table(curves, self.dir, "ceac", ("csv",))
        self.fig(plots.ce_plane(decision.ce_plane(c, e, names), wtp=exp.wtp_threshold), "ce_plane",
                 f"Cost-effectiveness plane ({n:,} draws; line: {exp.wtp_threshold:,.0f} per {effect})")
        self.fig(plots.ceac(curves, frontier=decision.ceaf(c, e, wtp, names)), "ceac",
                 "Cost-effectiveness acceptability curves and frontier")
        self.sections.update(psa_summary=summary, psa_icer=picer, n_draws=n)
        if exp.evpi:
            ev = voi.evpi(c, e, wtp)
            write_table(ev, self.dir, "evpi", ("csv",))
            self.fig(plots.evpi(ev), "evpi", "Per-person expected value of perfect information")
            at = float(voi.evpi(c, e, exp.wtp_threshold)["evpi"].iloc[0])
            self.sections["evpi"] = at
        if exp.evppi:
            groups = [list(g) for g in exp.evppi.groups]
            table = self.located(("evppi",), voi.evppi, c, e, [exp.wtp_threshold], draws.drop(columns="draw"),
                                 groups, method=exp.evppi.method)
            write_table(table, self.dir, "evppi", ("csv", "md"))
            self.fig(plots.evppi(table, wtp=exp.wtp_threshold), "evppi",
                     f"Per-person EVPPI at {exp.wtp_threshold:,.0f} per {effect}")
            self.sections["evppi"] = table
        return summary

    def one_way(self) -> None:
        from sim import plots
        from sim.cohort.run import CohortRun
        from sim.decision import dsa

        spec = self.exp.one_way
        if spec.ranges:
            ranges: Any = dict(spec.ranges)
        else:
            all_ranges = dsa.table_ranges(self.ld.table)
            names = spec.parameters or list(all_ranges)
            ranges = {k: all_ranges[k] for k in names}
        s, c = _pick(self.model, spec)
        table = self.located(("one_way",), dsa.one_way, CohortRun(self.model), ranges, outcome=spec.outcome,
                             wtp=self.exp.wtp_threshold, strategy=s, comparator=c, effect=self.ld.effect)
        write_table(table, self.dir, "one_way", ("csv", "md"))
        self.fig(plots.tornado(table), "tornado", f"Tornado diagram: {table.attrs.get('outcome', spec.outcome)}")
        self.sections["one_way"] = table

    def two_way(self) -> None:
        from sim import plots
        from sim.cohort.run import CohortRun
        from sim.decision import dsa

        spec = self.exp.two_way
        s, c = _pick(self.model, spec)
        grid = self.located(("two_way",), dsa.two_way, CohortRun(self.model), (spec.x, spec.x_values),
                            (spec.y, spec.y_values),
                            outcome=spec.outcome, wtp=self.exp.wtp_threshold, strategy=s, comparator=c,
                            effect=self.ld.effect)
        write_table(grid, self.dir, "two_way", ("csv",))
        self.fig(plots.two_way(grid), "two_way", f"Two-way analysis: {spec.x} x {spec.y}")

    def thresholds(self) -> None:
        from sim.cohort.run import CohortRun
        from sim.decision import dsa

        rows = []
        for i, t in enumerate(self.exp.thresholds):
            s, c = _pick(self.model, t)
            path = ("threshold", i) if ("threshold", i) in self.exp.locator.lines else ("threshold",)
            v = self.located(path, dsa.threshold, CohortRun(self.model), t.parameter, wtp=self.exp.wtp_threshold,
                             strategy=s, comparator=c, lower=t.lower, upper=t.upper, effect=self.ld.effect)
            rows.append({"parameter": t.parameter, "strategy": s, "comparator": c, "wtp": self.exp.wtp_threshold,
                         "lower": t.lower, "upper": t.upper, "threshold": v,
                         "base": float(self.model.parameters[t.parameter])})
        table = pd.DataFrame(rows)
        write_table(table, self.dir, "thresholds", ("csv", "md"))
        self.sections["thresholds"] = table

    def sweep(self) -> None:
        from sim import decision
        from sim.decision import voi

        exp = self.exp
        n = exp.sweep_draws or exp.psa.draws
        method, chunk = (exp.psa.method, exp.psa.chunk) if exp.psa else ("mc", 1000)
        root = self.dir / SWEEP
        root.mkdir(exist_ok=True)
        names = sorted({k for s in exp.sweep for k in s.values})
        listing = pd.DataFrame([{"scenario": s.index, "name": s.name, **{k: s.values.get(k, np.nan) for k in names}}
                                for s in exp.sweep])
        listing.to_csv(self.dir / "sweep_scenarios.csv", index=False, float_format="%.17g")
        todo, args = [], []
        for s in exp.sweep:
            if (_part_dir(root, s.index) / DONE).is_file():
                continue
            model = self.located(("sweep",), self.ld.model, s.values)
            todo.append(s)
            args.append((model, self.ld.table, n, exp.seed, method, chunk, {**self.fixed, **_fixed(s.values)}))

        def write(i: int, out: pd.DataFrame) -> None:
            d = _part_dir(root, todo[i].index)
            d.mkdir(exist_ok=True)
            write_parquet_atomic(out, d / "part-0.parquet")
            tmp = d / f".{DONE}.tmp"
            tmp.write_text(f"{len(out)}\n")
            os.replace(tmp, d / DONE)

        self.sections["sweep_resumed"] = len(exp.sweep) - len(todo)
        self.ex.map(scenario_psa, args, desc="sweep", unit="scenario", on_result=write)
        data = read_sweep(self.dir)
        rows = []
        for s in exp.sweep:
            o = data[data["scenario"] == s.index]
            c, strat = decision.outcome_matrix(o, "cost")
            e, _ = decision.outcome_matrix(o, self.ld.effect)
            nb = exp.wtp_threshold * e - c
            best = np.bincount(np.argmax(nb, axis=1), minlength=len(strat)) / len(nb)
            ev = float(voi.evpi(c, e, exp.wtp_threshold)["evpi"].iloc[0])
            for k, name in enumerate(strat):
                rows.append({"scenario": s.index, "name": s.name, **{v: s.values.get(v, np.nan) for v in names},
                             "strategy": name, "cost": c[:, k].mean(), self.ld.effect: e[:, k].mean(),
                             "p_cost_effective": best[k], "evpi": ev})
        summary = pd.DataFrame(rows)
        write_table(summary, self.dir, "sweep_summary", ("csv", "md"))
        self.sections["sweep"] = summary


def _part_dir(root: Path, index: int) -> Path:
    return root / f"scenario={index:05d}"


def read_sweep(folder: str | os.PathLike) -> pd.DataFrame:
    """The completed partitions of a run's sweep dataset as one table.

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
            df = pd.read_parquet(d / "part-0.parquet")
            df.insert(0, "scenario", int(d.name.split("=", 1)[1]))
            parts.append(df)
    if not parts:
        return pd.DataFrame(columns=["scenario", "draw", "strategy"])
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------------- entry points
def _executor(exp: Experiment, scheduler: str | None, workers: int | None, progress: bool, client) -> Executor:
    if client is not None:
        return Executor(client=client, progress=progress)
    if scheduler:
        return Executor("scheduler", address=scheduler, progress=progress)
    e = exp.execution
    if workers is not None:  # --workers N: a local cluster, whatever the file says
        return Executor("local", workers=workers, progress=progress)
    return Executor(e.mode, workers=workers or e.workers, address=e.address, progress=progress,
                    where=exp.where("execution"))


def run_experiment(path: str | os.PathLike, *, output: str | os.PathLike | None = None, overwrite: bool = False,
                   scheduler: str | None = None, workers: int | None = None, progress: bool = False,
                   command: Sequence[str] | None = None, client: Any = None) -> RunResult:
    """Run every analysis of an experiment file and write the output folder.

    Parameters
    ----------
    path : str or path-like
        The experiment file (TOML).
    output : path, optional
        Output folder instead of the file's ``output``.
    overwrite : bool
        Replace an output folder that holds another run.
    scheduler : str, optional
        Run on the Dask cluster at this address (overrides the file's ``execution``).
    workers : int, optional
        Run on a local cluster of this many processes (overrides ``workers``).
    progress : bool
        Progress bars on stderr.
    command : sequence of str, optional
        The command line recorded in the manifest.
    client : dask.distributed.Client, optional
        Run on this client.

    Returns
    -------
    RunResult
    """
    from sim.experiment.report import write_report

    exp = read_experiment(path)
    loaded = load(exp)
    target = Path(output) if output is not None else exp.output
    inputs, inputs_hash = inputs_record(loaded.sources, target.parent / target.name, experiment=exp.path,
                                        settings=exp.data)
    folder = OutputFolder(target, inputs_hash, overwrite=overwrite,
                          where=exp.where("output") if output is None else f"{exp.path}:1")
    folder.check()
    stage = folder.open()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    ok = False
    try:
        with _executor(exp, scheduler, workers, progress, client) as ex:
            run = _Run(loaded, stage, ex)
            if exp.base_case:
                run.base_case()
            if exp.psa:
                run.psa()
            if exp.one_way:
                run.one_way()
            if exp.two_way:
                run.two_way()
            if exp.thresholds:
                run.thresholds()
            if exp.sweep:
                run.sweep()
            execution = ex.describe()
        manifest = {
            "hta_sim_manifest": 1,
            "experiment": os.path.relpath(exp.path.resolve(), target.resolve()),
            "experiment_name": exp.path.name,
            "title": exp.title,
            "model": exp.model,
            "seed": exp.seed,
            "inputs": inputs,
            "inputs_hash": inputs_hash,
            "versions": versions(),
            "command": list(command) if command is not None else list(sys.argv),
            "execution": execution,
            "started": started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        write_report(stage, loaded, run, manifest)
        manifest["outputs"] = {str(p.relative_to(stage)): sha256(p) for p in sorted(stage.rglob("*"))
                               if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        ok = True
    finally:
        if not ok:
            folder.abandon(keep=any((stage / SWEEP).glob(f"*/{DONE}")))
    final = folder.commit()
    return RunResult(final, manifest, run.sections.get("icer"), run.sections.get("psa_summary"))


def repeat(manifest_path: str | os.PathLike, *, output: str | os.PathLike | None = None, **kw) -> tuple[RunResult, list[str]]:
    """Repeat a recorded run: check its inputs are unchanged, rerun, compare the outputs.

    Returns
    -------
    (RunResult, list of str)
        The new run and the result files whose bytes differ from the recorded ones
        (figures, the report and the Excel workbook, which carry time stamps, excepted;
        empty when the numbers are identical).
    """
    mpath = Path(manifest_path)
    if mpath.is_dir():
        mpath = mpath / MANIFEST
    if not mpath.is_file():
        raise HtaError(f"{mpath}:1: manifest not found; give the manifest.json of a run")
    try:
        m = json.loads(mpath.read_text())
        rel, inputs = m["experiment"], m["inputs"]
    except (ValueError, KeyError, TypeError) as exc:
        raise HtaError(f"{mpath}:1: not an hta-sim manifest ({exc})") from None
    base = mpath.parent
    for row in inputs:
        p = base / row["path"]
        if not p.is_file():
            raise HtaError(f"{mpath}:1: input {row['name']!r} not found at {str(p)!r}; the run cannot be repeated")
        if sha256(p) != row["sha256"]:
            raise HtaError(f"{mpath}:1: input {str(p)!r} changed since the run (SHA-256 differs); restore it "
                           f"to repeat the run with identical numbers")
    res = run_experiment(base / rel, output=output if output is not None else base, **kw)
    old = m.get("outputs", {})
    new = res.manifest["outputs"]
    numeric = [k for k in old if not k.startswith("figures/") and k not in ("report.html", "icer.xlsx")]
    differ = [k for k in numeric if new.get(k) != old[k]]
    return res, differ
