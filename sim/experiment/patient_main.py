"""The entry of a patient-level experiment run: output folder, tasks, workbook, report and manifest.

:func:`sim.experiment.run_experiment` hands a file with a ``[patients]`` table to
:func:`run_patient`; the output folder, its lock, resumption and the manifest work as
for a cohort run (``docs/experiments.md``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sim.experiment.outputs import MANIFEST, Lock, OutputFolder, inputs_record, manifest_hash, sha256, versions
from sim.experiment.patient_load import PatientLoaded, load_patient
from sim.experiment.patient_run import PatientRun
from sim.experiment.present import resolve_units
from sim.experiment.progress import Stages
from sim.experiment.report import write_report
from sim.experiment.runner import RunResult
from sim.experiment.spec import Experiment
from sim.experiment.sweep import resumable
from sim.experiment.workbook import WORKBOOK, write_workbook

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
        n_stages = 2 + bool(exp.base_case) + (4 + bool(exp.evpi)) * bool(exp.psa) + bool(exp.one_way) + bool(exp.sweep)
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
        _for_report(run)
        write_workbook(run.sheets, stage / WORKBOOK)
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
        write_report(stage, ld, run, manifest)
        manifest["outputs"] = {p.relative_to(stage).as_posix(): sha256(p) for p in sorted(stage.rglob("*"))
                               if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST}
        manifest["manifest_sha256"] = manifest_hash(manifest)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        ok = True
    finally:
        if not ok:
            folder.abandon(keep=resumable(stage))
    return run, manifest


def _for_report(run: PatientRun) -> None:
    """What the one report and workbook read of a patient-level run besides its tables."""
    from sim.experiment.patient_report import patient_sections, patient_sheets
    from sim.experiment.workbook import workbook_sheets

    ld, exp = run.ld, run.exp
    strategies = list(run.sections["base_case"]["strategy"].astype(str)) if "base_case" in run.sections else []
    run.model_text = [str(getattr(ld.module, "TITLE", "") or ""),
                      f"Patient-level model {exp.model} ({ld.ref}): strategies {', '.join(strategies) or 'as built'}; "
                      f"{settings_text(ld)}. Each patient's random numbers are keyed by (seed, draw, patient) and "
                      f"shared by every strategy (common random numbers)."]
    run.model_settings = settings_text(ld)
    run.extra_settings = [("patients per draw", f"{exp.patients:,}")]
    run.report_sections = patient_sections(run)
    run.extra_sheets = patient_sheets(run)
    run.sheets = workbook_sheets(run)
