"""Run an experiment file: base case, PSA, DSA, thresholds, EVPI/EVPPI, sweeps; serial or on Dask.

Every PSA chunk (:func:`sim.cohort.psa.psa_chunk`) and every sweep scenario
(:func:`sim.experiment.sweep.scenario_psa`) is a pure task of ``(model, table, seed,
draw range, fixed values)``, mapped by an :class:`~sim.experiment.executor.Executor`:
draw ``i`` depends only on ``(seed, i)``, so the numbers are identical whatever the
chunk size, the worker count or the order in which tasks finish. On a Dask cluster a
task lost with a killed worker is simply recomputed. The PSA's chunks are assembled
into a :class:`sim.PSAResult` (:func:`sim.cohort.psa.assemble`), from which, with the
functions of :mod:`sim.decision`, come every table and figure of the PSA.

Semantics (seeds, resumption, Dask, the manifest): ``docs/experiments.md``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.experiment.executor import Executor
from sim.experiment.loading import Loaded, load
from sim.experiment.outputs import (
    MANIFEST,
    Lock,
    OutputFolder,
    inputs_record,
    manifest_hash,
    portable,
    sha256,
    versions,
    write_table,
)
from sim.experiment.present import Units, module_of, outcome_words, resolve_units
from sim.experiment.progress import Stages, plan
from sim.experiment.read import read_experiment
from sim.experiment.record import RecordChanged, repeat
from sim.experiment.spec import Experiment, fixed_parameters
from sim.experiment.sweep import read_sweep, resumable, run_sweep
from sim.experiment.workbook import WORKBOOK, group_label, parameter_label, workbook_sheets, write_workbook

__all__ = ["Executor", "RecordChanged", "RunResult", "read_sweep", "repeat", "run_experiment"]

#: Posterior samples behind the standard errors of the EVPPI curves' points (the bands
#: of the figure); the table at the threshold uses the estimator's default (500).
CURVE_SAMPLES = 100


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class RunResult:
    """What :func:`run_experiment` returns: the output folder, the manifest, the main tables and their units."""

    folder: Path
    manifest: dict
    icer: pd.DataFrame | None
    summary: pd.DataFrame | None
    units: Units | None = None
    #: Further titled tables of the run (a patient-level run's queues, waits, subgroups, NNT...), in order.
    extra_tables: tuple[tuple[str, pd.DataFrame], ...] = ()


def _is_psm(model) -> bool:
    """Whether ``model`` is a partitioned survival model (run by :mod:`sim.psm`, not the cohort engine)."""
    from sim.psm.spec import PartitionedSurvival

    return isinstance(model, PartitionedSurvival)


def _model_run(model):
    """The model run of ``model`` for DSA and thresholds: ``PSMRun`` or ``CohortRun``."""
    if _is_psm(model):
        from sim.psm.psa import PSMRun

        return PSMRun(model)
    from sim.cohort.run import CohortRun

    return CohortRun(model)


def _pick(model, spec) -> tuple[str, str]:
    s = list(model.strategies)
    return spec.strategy or s[-1 if len(s) == 2 else 1], spec.comparator or s[0]


class _Run:
    """One run: the loaded experiment, the staging folder, the executor."""

    def __init__(self, loaded: Loaded, folder: Path, ex: Executor, stages: Stages | None = None):
        self.ld, self.exp, self.dir, self.ex = loaded, loaded.experiment, folder, ex
        self.model = loaded.model()
        self.fixed = fixed_parameters(self.exp.scenario)
        self.figures: list[tuple[str, str]] = []
        self.sections: dict[str, Any] = {}
        self.units = resolve_units(self.model, loaded.effect, module_of(self.exp.model), self.exp.units)
        self.stage = stages or Stages(1, enabled=False)
        self.names = plan(self.exp)
        self.sheets: list = []
        self.report_sections: list = []  # extra sections (sim.experiment.report.Section) the report renders

    def begin(self, prefix: str) -> None:
        """Start the planned stage whose name begins with ``prefix``."""
        self.stage(next((n for n in self.names if n.startswith(prefix)), prefix))

    def tag(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with the run's units in ``attrs`` (for the figures' axis labels)."""
        df.attrs.update(currency=self.units.money, effect=self.ld.effect, effect_unit=self.units.effect_unit)
        return df

    def outcome_label(self, outcome: str, strategy: str, comparator: str) -> str:
        """An outcome of a DSA in words, with its units."""
        return outcome_words(outcome, self.units, strategy, comparator, self.exp.wtp_threshold)

    def fig(self, ax, name: str, caption: str) -> None:
        from sim.experiment.figures import save_figure

        save_figure(ax, self.dir, name)
        self.figures.append((name, caption))

    def located(self, path: tuple, func: Callable, *args, **kw):
        """Call an analysis; report its HtaError at the experiment key ``path``."""
        try:
            return func(*args, **kw)
        except HtaError as exc:
            raise self.exp.error(path, str(exc)) from None

    # ------------------------------------------------------------ analyses
    def run_all(self) -> None:
        """Every analysis the experiment asks for, in this order."""
        exp = self.exp
        for wanted, analysis in ((exp.base_case, self.base_case), (exp.psa, self.psa), (exp.one_way, self.one_way),
                                 (exp.two_way, self.two_way), (exp.thresholds, self.thresholds),
                                 (exp.sweep, self.sweep)):
            if wanted:
                analysis()

    def base_case(self) -> pd.DataFrame:
        if _is_psm(self.model):
            from sim.psm.engine import run_psm as run
        else:
            from sim.cohort import run_cohort as run

        self.begin("base case")
        res = self.located(("model",), run, self.model, trace=True)
        out = res.outcomes.drop(columns="draw")
        self.sections["trace"] = res.trace
        write_table(out, self.dir, "base_case", ("csv", "parquet"))
        if res.settings.get("crossings"):  # a partitioned survival model's constrained curves, on record
            write_table(pd.DataFrame(res.settings["crossings"]), self.dir, "base_case_crossings", ("csv",))
        icer = res.icer(effect=self.ld.effect)
        write_table(icer, self.dir, "icer", ("csv", "md"), self.units)
        self.sections["base_case"] = out
        self.sections["icer"] = icer
        return icer

    def psa(self) -> pd.DataFrame:
        from sim import decision, plots
        from sim.cohort.psa import assemble, check_psa_size, psa_chunk, summarise

        spec, exp = self.exp.psa, self.exp
        n, table = spec.draws, self.ld.table
        self.begin("PSA: sampling")
        if _is_psm(self.model):
            from sim.psm.psa import assemble_psm as assemble
            from sim.psm.psa import psm_chunk as psa_chunk
        else:
            self.located(("psa", "draws"), check_psa_size, self.model, table, n)  # before any chunk is mapped
        args = [(self.model, table, n, exp.seed, spec.method, lo, min(n, lo + spec.chunk), self.fixed)
                for lo in range(0, n, spec.chunk)]
        chunks = self.ex.map(psa_chunk, args, desc=f"PSA {self.model.name}", unit="chunk")
        res = assemble(self.model, table, n, exp.seed, spec.method, chunks)
        self.begin("PSA: tables")
        draws = res.draws.frame.copy()
        draws.insert(0, "draw", res.draws.ids)
        write_table(portable(res.outcomes), self.dir, "psa_outcomes", ("parquet", "csv"))
        write_table(draws, self.dir, "psa_draws", ("parquet", "csv"))
        if res.settings.get("crossings"):  # a partitioned survival model's constrained curves, on record
            write_table(pd.DataFrame(res.settings["crossings"]), self.dir, "psa_crossings", ("csv",))
        effect = self.ld.effect
        summary = summarise(res.outcomes).reset_index()
        write_table(summary, self.dir, "psa_summary", ("csv", "md"), self.units)
        picer = decision.icers(res.outcomes, effect=effect)  # means as in the summary (pandas' group means)
        write_table(picer, self.dir, "psa_icer", ("csv", "md"), self.units)
        c, e, names = res.matrices(effect)
        wtp = np.asarray(exp.wtp)
        curves = res.ceac(wtp, effect=effect)
        write_table(curves, self.dir, "ceac", ("csv",))
        u = self.units
        self.fig(plots.ce_plane(self.tag(decision.ce_plane(c, e, names)), wtp=exp.wtp_threshold), "ce_plane",
                 f"Cost-effectiveness plane ({n:,} draws; dashed line: threshold {u.wtp(exp.wtp_threshold)})")
        self.fig(plots.ceac(self.tag(curves.copy()), frontier=decision.ceaf(c, e, wtp, names),
                            wtp=exp.wtp_threshold), "ceac",
                 f"Cost-effectiveness acceptability curves and frontier (dotted line: threshold "
                 f"{u.wtp(exp.wtp_threshold)})")
        self.sections.update(psa_summary=summary, psa_icer=picer, n_draws=n, ceac=curves,
                             psa_outcomes=res.outcomes)
        if exp.evpi:
            self.evpi(res, wtp)
        if exp.evppi:
            self.evppi(c, e, draws.drop(columns="draw"))
        return summary

    def evpi(self, res, wtp: np.ndarray) -> None:
        from sim import plots

        self.begin("EVPI")
        ev = res.evpi(wtp, effect=self.ld.effect)
        write_table(ev, self.dir, "evpi", ("csv",))
        self.fig(plots.evpi(self.tag(ev.copy()), wtp=self.exp.wtp_threshold), "evpi",
                 f"Per-person expected value of perfect information (dotted line: threshold "
                 f"{self.units.wtp(self.exp.wtp_threshold)})")
        self.sections["evpi"] = float(res.evpi(self.exp.wtp_threshold, effect=self.ld.effect)["evpi"].iloc[0])
        self.sections["evpi_curve"] = ev

    def evppi(self, c: np.ndarray, e: np.ndarray, draws: pd.DataFrame) -> None:
        from sim import plots
        from sim.decision import voi
        from sim.experiment.figures import curve_points

        exp = self.exp
        self.begin("EVPPI")
        groups = [list(g) for g in exp.evppi.groups]
        table = self.located(("evppi",), voi.evppi, c, e, [exp.wtp_threshold], draws, groups,
                             method=exp.evppi.method)
        write_table(table, self.dir, "evppi", ("csv", "md"), self.units)
        labels = table.assign(parameters=[group_label(self.ld.table, g) for g in table["parameters"]])
        self.fig(plots.evppi(self.tag(labels), wtp=exp.wtp_threshold), "evppi",
                 f"Per-person EVPPI at {self.units.wtp(exp.wtp_threshold)} (bars: one standard error)")
        self.sections["evppi"] = table
        points = curve_points(exp.wtp, exp.wtp_threshold, self.sections.get("evpi_curve"))  # EVPPI over WTP
        # the curves' bands come from 100 posterior samples (the threshold's table from the default 500)
        curve = self.located(("evppi",), voi.evppi, c, e, points, draws, groups, method=exp.evppi.method,
                             n_sim=CURVE_SAMPLES)
        write_table(curve, self.dir, "evppi_curve", ("csv",))
        self.sections["evppi_curve"] = curve

    def one_way(self) -> None:
        from sim.decision import dsa
        from sim.experiment.figures import tornado_figure

        spec = self.exp.one_way
        self.begin("one-way")
        if spec.ranges:
            ranges: Any = dict(spec.ranges)
        else:
            all_ranges = dsa.table_ranges(self.ld.table)
            names = spec.parameters or list(all_ranges)
            ranges = {k: all_ranges[k] for k in names}
        s, c = _pick(self.model, spec)
        table = self.located(("one_way",), dsa.one_way, _model_run(self.model), ranges, outcome=spec.outcome,
                             wtp=self.exp.wtp_threshold, strategy=s, comparator=c, effect=self.ld.effect)
        write_table(table, self.dir, "one_way", ("csv", "md"))
        table.attrs["outcome"] = self.outcome_label(spec.outcome, s, c)
        self.sections["one_way"] = table
        ax, dropped = tornado_figure(table, self.ld.table, self.model.parameters)
        note = (f"; {len(dropped)} of {len(table)} parameters change nothing in this outcome and are not shown "
                f"({', '.join(dropped)})" if dropped else "")
        if ax is not None:
            self.fig(ax, "tornado", f"Tornado diagram: {table.attrs['outcome']}; each parameter over its range "
                     f"(label: base value, low to high){note}")

    def two_way(self) -> None:
        from sim import plots
        from sim.decision import dsa

        spec = self.exp.two_way
        self.begin("two-way")
        s, c = _pick(self.model, spec)
        grid = self.located(("two_way",), dsa.two_way, _model_run(self.model), (spec.x, spec.x_values),
                            (spec.y, spec.y_values),
                            outcome=spec.outcome, wtp=self.exp.wtp_threshold, strategy=s, comparator=c,
                            effect=self.ld.effect)
        write_table(grid, self.dir, "two_way", ("csv",))
        grid.attrs.update(outcome=self.outcome_label(spec.outcome, s, c),
                          x_name=parameter_label(self.ld.table, spec.x, short=True),
                          y_name=parameter_label(self.ld.table, spec.y, short=True))
        self.sections["two_way"] = grid
        self.fig(plots.two_way(grid), "two_way", f"Two-way analysis: {grid.attrs['x_name']} x "
                                                 f"{grid.attrs['y_name']}; colour: {grid.attrs['outcome']}")

    def thresholds(self) -> None:
        from sim.decision import dsa

        self.begin("threshold")
        rows = []
        for i, t in enumerate(self.exp.thresholds):
            s, c = _pick(self.model, t)
            path = ("threshold", i) if ("threshold", i) in self.exp.locator.lines else ("threshold",)
            v = self.located(path, dsa.threshold, _model_run(self.model), t.parameter, wtp=self.exp.wtp_threshold,
                             strategy=s, comparator=c, lower=t.lower, upper=t.upper, effect=self.ld.effect)
            rows.append({"parameter": t.parameter, "strategy": s, "comparator": c, "wtp": self.exp.wtp_threshold,
                         "lower": t.lower, "upper": t.upper, "threshold": v,
                         "base": float(self.model.parameters[t.parameter])})
        table = pd.DataFrame(rows)
        write_table(table, self.dir, "thresholds", ("csv", "md"), self.units)
        self.sections["thresholds"] = table

    def sweep(self) -> None:
        self.begin("sweep")
        run_sweep(self)

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
    exp = read_experiment(path)
    if exp.patients is not None:  # a patient-level model (docs/experiments.md, Patient-level models)
        from sim.experiment.patient_main import run_patient

        return run_patient(exp, output=output, overwrite=overwrite, progress=progress, command=command,
                           executor=lambda: _executor(exp, scheduler, workers, progress, client))
    loaded = load(exp)
    target = Path(output) if output is not None else exp.output
    inputs, inputs_hash = inputs_record(loaded.sources, target.parent / target.name, experiment=exp.path,
                                        settings=exp.data)
    where = exp.where("output") if output is None else f"{exp.path}:1"
    folder = OutputFolder(target, inputs_hash, overwrite=overwrite, where=where,
                          inputs=[exp.path, *loaded.sources])
    lock = Lock(target, where)
    lock.acquire()
    try:
        folder.check()
        stage = folder.open()
        stages = Stages(len(plan(exp)), enabled=progress)
        run, manifest = _run_in(stage, folder, exp, loaded, inputs, inputs_hash,
                                lambda: _executor(exp, scheduler, workers, progress, client), command, stages)
        final = folder.commit()
        stages.finish()
    finally:
        lock.release()
    return RunResult(final, manifest, run.sections.get("icer"), run.sections.get("psa_summary"), run.units)


def _run_in(stage: Path, folder: OutputFolder, exp: Experiment, loaded: Loaded, inputs: list, inputs_hash: str,
            executor: Callable[[], Executor], command: Sequence[str] | None,
            stages: Stages | None = None) -> tuple[_Run, dict]:
    """Run every analysis into the staging folder and write the workbook, report and manifest there."""
    from sim.experiment.present import settings_words
    from sim.experiment.report import write_report

    target = folder.target
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    ok = False
    try:
        with executor() as ex:
            run = _Run(loaded, stage, ex, stages)
            run.run_all()
            execution = ex.describe()
        run.begin("workbook")
        run.sheets = workbook_sheets(run)
        write_workbook(run.sheets, stage / WORKBOOK)
        run.begin("report.html")
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
            "units": run.units.record(),
            "model_settings": settings_words(run.model),
            "started": started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if loaded.defaulted:  # parameters the file let take the ready model's own rows (defaults = "model")
            manifest["defaulted_parameters"] = list(loaded.defaulted)
        write_report(stage, loaded, run, manifest)
        _write_manifest(stage, manifest)
        ok = True
    finally:
        if not ok:
            folder.abandon(keep=resumable(stage))
    return run, manifest


def _write_manifest(stage: Path, manifest: dict) -> None:
    """Add the hashes of every result file (and of the manifest's own content) to ``manifest`` and write it."""
    manifest["outputs"] = {p.relative_to(stage).as_posix(): sha256(p) for p in sorted(stage.rglob("*"))
                           if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST}
    manifest["manifest_sha256"] = manifest_hash(manifest)
    (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
