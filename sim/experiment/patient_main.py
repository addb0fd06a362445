"""The entry of a patient-level experiment run: output folder, tasks, workbook, report and manifest.

:func:`sim.experiment.run_experiment` hands a file with a ``[patients]`` table to
:func:`run_patient`; the output folder, its lock, resumption and the manifest work as
for a cohort run (``docs/experiments.md``).
"""

from __future__ import annotations

import base64
import html
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from sim.experiment.outputs import MANIFEST, Lock, OutputFolder, inputs_record, manifest_hash, sha256, versions
from sim.experiment.patient_load import PatientLoaded, load_patient
from sim.experiment.patient_run import PatientRun
from sim.experiment.present import column_kinds, resolve_units
from sim.experiment.progress import Stages
from sim.experiment.runner import RunResult
from sim.experiment.spec import Experiment
from sim.experiment.sweep import resumable
from sim.experiment.workbook import WORKBOOK, Sheet, write_workbook

__all__ = ["run_patient", "settings_text"]


def settings_text(ld: PatientLoaded) -> str:
    """The run's model settings and inner sample in words (for the manifest and the terminal).

    Parameters
    ----------
    ld : PatientLoaded

    Returns
    -------
    str
    """
    parts = [f"{k.replace('_', ' ')} {v:g}" for k, v in ld.settings.items()]
    return "; ".join([f"patient level, {ld.experiment.patients:,} patients per draw", *parts])


def run_patient(exp: Experiment, *, output=None, overwrite: bool = False, executor: Callable,
                progress: bool = False, command: Sequence[str] | None = None) -> RunResult:
    """Run a patient-level experiment file and write its output folder.

    Parameters
    ----------
    exp : Experiment
        The file, as read (it has a ``[patients]`` table).
    output : path, optional
        Output folder instead of the file's ``output``.
    overwrite : bool
        Replace an output folder that holds another run.
    executor : callable
        Returns the :class:`~sim.experiment.executor.Executor` to run the tasks on.
    progress : bool
        Named stages and progress bars on stderr.
    command : sequence of str, optional
        The command line recorded in the manifest.

    Returns
    -------
    RunResult
        With ``extra_tables``: the patient-level tables, titled.
    """
    ld = load_patient(exp)
    target = Path(output) if output is not None else exp.output
    inputs, inputs_hash = inputs_record(ld.sources, target.parent / target.name, experiment=exp.path, settings=exp.data)
    where = exp.where("output") if output is None else f"{exp.path}:1"
    folder = OutputFolder(target, inputs_hash, overwrite=overwrite, where=where, inputs=list(ld.sources))
    lock = Lock(target, where)
    lock.acquire()
    try:
        folder.check()
        stage = folder.open()
        n_stages = 2 + bool(exp.base_case) + (4 + bool(exp.evpi)) * bool(exp.psa) + bool(exp.sweep)
        stages = Stages(n_stages, enabled=progress)
        run, manifest = _run_in(stage, folder, ld, inputs, inputs_hash, executor, command, stages)
        final = folder.commit()
        stages.finish()
    finally:
        lock.release()
    return RunResult(final, manifest, run.sections.get("icer"), run.sections.get("psa_summary"), run.units,
                     tuple(run.extra_tables))


def _run_in(stage: Path, folder: OutputFolder, ld: PatientLoaded, inputs: list, inputs_hash: str,
            executor: Callable, command, stages: Stages) -> tuple[PatientRun, dict]:
    exp = ld.experiment
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    units = resolve_units(None, ld.effect, ld.module, exp.units)
    ok = False
    try:
        with executor() as ex:
            run = PatientRun(ld, stage, ex, units, stages)
            run.run_all()
            execution = ex.describe()
        stages("workbook")
        write_workbook(_sheets(run), stage / WORKBOOK)
        stages("report.html")
        manifest = {
            "hta_sim_manifest": 1,
            "experiment": os.path.relpath(exp.path.resolve(), folder.target.resolve()),
            "experiment_name": exp.path.name, "title": exp.title, "model": exp.model, "seed": exp.seed,
            "patients_per_draw": exp.patients, "inputs": inputs, "inputs_hash": inputs_hash, "versions": versions(),
            "command": list(command) if command is not None else list(sys.argv), "execution": execution,
            "units": units.record(), "model_settings": settings_text(ld), "started": started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        _write_report(stage, run, manifest)
        manifest["outputs"] = {p.relative_to(stage).as_posix(): sha256(p) for p in sorted(stage.rglob("*"))
                               if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST}
        manifest["manifest_sha256"] = manifest_hash(manifest)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        ok = True
    finally:
        if not ok:
            folder.abandon(keep=resumable(stage))
    return run, manifest


def _sheets(run: PatientRun) -> list[Sheet]:
    eff = run.ld.effect
    named = [("base case", "base_case"), ("ICER", "icer"), ("PSA summary", "psa_summary"), ("PSA ICER", "psa_icer"),
             ("CEAC", "ceac"), ("EVPI", "evpi_curve"), ("sweep summary", "sweep")]
    sheets = [Sheet(name, run.sections[key], column_kinds(run.sections[key], eff)) for name, key in named
              if isinstance(run.sections.get(key), pd.DataFrame)]
    sheets += [Sheet(name, df, column_kinds(df, eff))
               for name, (_title, df) in zip(run.sheet_names, run.extra_tables, strict=True)]
    return sheets


def _write_report(stage: Path, run: PatientRun, manifest: dict) -> None:
    """A self-contained HTML page of the run's tables and figures (no network)."""
    esc = html.escape
    parts = [f"<h1>{esc(manifest['title'])}</h1>",
             f"<p>Model {esc(manifest['model'])}; {esc(manifest['model_settings'])}; seed {manifest['seed']}; "
             f"units {esc(run.units.money)}, {esc(run.units.effect_unit)}.</p>"]
    for title, key in (("Base case", "base_case"), ("ICER table (base case)", "icer"),
                       ("PSA summary (means, 95 % intervals)", "psa_summary"), ("PSA ICER table", "psa_icer"),
                       ("Sweep summary", "sweep")):
        df = run.sections.get(key)
        if isinstance(df, pd.DataFrame):
            parts += [f"<h2>{esc(title)}</h2>", df.to_html(index=False, float_format=lambda x: f"{x:,.4g}")]
    for title, df in run.extra_tables:
        parts += [f"<h2>{esc(title)}</h2>", df.to_html(index=False, float_format=lambda x: f"{x:,.4g}")]
    for name, caption in run.figures:
        png = stage / "figures" / f"{name}.png"
        if png.is_file():
            data = base64.b64encode(png.read_bytes()).decode()
            parts += [f"<figure><img alt=\"{esc(name)}\" src=\"data:image/png;base64,{data}\">"
                      f"<figcaption>{esc(caption)}</figcaption></figure>"]
    body = "\n".join(parts)
    (stage / "report.html").write_text(f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
                                       f"{esc(manifest['title'])}</title></head><body>\n{body}\n</body></html>\n")
