"""What a patient-level run adds to the one report and workbook: its sections, sheets and headers.

The report (:mod:`sim.experiment.report`) and the workbook (:mod:`sim.experiment.workbook`)
are those of a cohort run; a patient-level run (:class:`~sim.experiment.patient_run.PatientRun`)
gives them its tables with headers in words and units (:func:`patient_labelled`), its own
report sections (:func:`patient_sections`: queues and waiting times, deaths on the list,
patient outcomes, net benefit by subgroup, numbers needed to treat or harm, Monte Carlo
error) and its sheets (:func:`patient_sheets`).
"""

from __future__ import annotations

import pandas as pd

from sim.experiment.present import Units, labelled
from sim.experiment.report import Section
from sim.experiment.workbook import Sheet

__all__ = ["HEADERS", "SHEETS", "patient_labelled", "patient_sections", "patient_sheets"]

#: Header and kind of each column of the patient-level tables (others as :func:`~sim.experiment.present.labelled`).
HEADERS = {
    "resource": ("Resource", "text"), "capacity": ("Capacity (per week)", "number"),
    "listed": ("Patients listed", "number"), "admitted": ("Admitted", "number"),
    "died_on_list": ("Died on the list", "number"), "left_list": ("Left the list", "number"),
    "wait_mean_weeks": ("Mean wait (weeks)", "number"), "wait_p50_weeks": ("Median wait (weeks)", "number"),
    "wait_p90_weeks": ("90th percentile of waits (weeks)", "number"),
    "wait_max_weeks": ("Longest wait (weeks)", "number"), "queue_mean": ("Mean queue (patients)", "number"),
    "queue_max": ("Longest queue (patients)", "number"), "utilisation": ("Utilisation", "probability"),
    "patients": ("Patients", "number"), "waited_weeks": ("Mean time on waiting lists (weeks)", "number"),
    "escalated": ("Escalated by the policy", "probability"), "procedures": ("Procedures per patient", "number"),
    "attribute": ("Attribute", "text"), "subgroup": ("Subgroup", "text"), "n": ("Patients", "number"),
    "optimal": ("Optimal", "text"), "event": ("Event", "text"), "events": ("Events", "number"),
    "events_comparator": ("Events (comparator)", "number"),
    "patients_comparator": ("Patients (comparator)", "number"),
    "ard": ("Risk difference", "probability"), "ard_low": ("Risk difference, 95 % low", "probability"),
    "ard_high": ("Risk difference, 95 % high", "probability"), "nnt": ("NNT (NNH if negative)", "number"),
    "nnt_low": ("NNT, 95 % bound", "number"), "nnt_high": ("NNT, other 95 % bound", "number"),
    "label": ("Measure", "text"), "text": ("In words", "text"), "outcome": ("Outcome", "text"),
    "between_sd": ("Between-draw SD", "number"), "mc_se": ("Monte Carlo SE (inner patients)", "number"),
    "mc_share": ("Share of the PSA variance from inner noise", "probability"),
    "mean": ("Mean", "number"), "low": ("2.5th percentile", "number"), "high": ("97.5th percentile", "number"),
    "wait_mean": ("Mean wait (years)", "number"),
}

#: ``{table name: sheet name}`` of the patient-level tables, in workbook order.
SHEETS = {"patient_queues": "Queues", "patient_outcomes": "Patient outcomes", "patient_subgroups": "Subgroups",
          "patient_nnt": "NNT and NNH", "patient_psa_queues": "PSA waits and deaths",
          "patient_mc_error": "Monte Carlo error"}


def patient_labelled(df: pd.DataFrame, units: Units, table: str = "") -> tuple[pd.DataFrame, dict[str, str]]:
    """A patient-level table with headers in words and units, and the kind of each column.

    Parameters
    ----------
    df : DataFrame
        A table of :mod:`sim.experiment.patient_tables`.
    units : Units
        The run's units.
    table : str
        The table's name (``"patient_queues"``, ...).

    Returns
    -------
    (DataFrame, dict)
        As :func:`sim.experiment.present.labelled`; the columns of :data:`HEADERS` take its
        header and kind (``died_on_list`` is a share in the patient outcomes, a count in the
        queues).
    """
    out, kinds = labelled(df, units, table)
    names, new_kinds = {}, {}
    for orig, lab in zip(df.columns, out.columns, strict=True):
        head, kind = HEADERS.get(str(orig), (lab, kinds[lab]))
        if str(orig) == "died_on_list" and table != "patient_queues":
            head, kind = "Died on a waiting list", "probability"
        while head in names.values():
            head += " "
        names[lab], new_kinds[head] = head, kind
    return out.rename(columns=names), new_kinds


def patient_sheets(run) -> list[Sheet]:
    """The patient-level tables of a run as workbook sheets (names of :data:`SHEETS`).

    Parameters
    ----------
    run : PatientRun

    Returns
    -------
    list of Sheet
    """
    out = []
    for name, sheet in SHEETS.items():
        df = run.tables.get(name)
        if df is not None:
            lab, kinds = patient_labelled(df, run.units, name)
            out.append(Sheet(sheet, lab, kinds))
    return out


def _section(run, sid: str, title: str, text: str, tables: list, figures=(), early: bool = True) -> Section | None:
    """A section of the labelled ``tables``: ``[(caption, name or DataFrame, columns or None[, shares])]``."""
    shown, kinds = [], {}
    for caption, df, cols, *share in tables:
        name = df if isinstance(df, str) else ""
        df = run.tables.get(df) if isinstance(df, str) else df
        if df is None or not len(df):
            continue
        if cols is not None:
            df = df[[c for c in cols if c in df.columns]]
        lab, k = patient_labelled(df, run.units, name)
        if share:  # these columns are shares: shown as percentages
            k.update({h: "probability" for c, h in zip(df.columns, lab.columns, strict=True) if c in share[0]})
        shown.append((caption, lab))
        kinds.update(k)
    figs = [(n, c) for n, c in figures if n in dict(run.figures)]
    if not shown and not figs:
        return None
    return Section(title, text, shown, figs, sid, kinds, early)


def patient_sections(run) -> list[Section]:
    """The report sections of a patient-level run.

    Parameters
    ----------
    run : PatientRun
        Its ``tables`` (by name), ``figures``, ``units`` and ``exp``.

    Returns
    -------
    list of Section
        Queues and waiting times, deaths on the list, patient outcomes, net benefit by
        subgroup, numbers needed to treat or harm (shown after the base case) and the Monte
        Carlo error of the inner patients (shown after the sensitivity analyses): those the
        run has.
    """
    n, u, exp = run.exp.patients, run.units, run.exp
    psa = run.tables.get("patient_psa_queues")
    waits = psa[psa["outcome"].str.startswith("weeks")] if psa is not None else None
    deaths = psa[psa["outcome"].str.contains("died")] if psa is not None else None
    nnt = run.tables.get("patient_nnt")
    nnh = nnt[nnt["event"].str.contains("list")] if nnt is not None else None
    cols_nnt = ["event", "strategy", "comparator", "events", "patients", "events_comparator", "patients_comparator",
                "ard", "text"]
    out = [
        _section(run, "queues", "Queues and waiting times",
                 f"Base case: {n:,} patients per strategy; capacity of each resource a week, patients listed and "
                 f"admitted, waits in weeks, the queue's length and the resource's utilisation. Over the PSA: the mean "
                 f"time each patient spent on waiting lists, with its 95 % interval over the draws.",
                 [("Queues (base case)", "patient_queues", None), ("Waiting time over the PSA", waits, None)],
                 [("waits", f"Waiting times of the patients who waited, base case ({n:,} patients per strategy)")]),
        _section(run, "deaths-on-list", "Deaths on the waiting list",
                 "Patients who died while waiting for a resource: counts in the base case, the share per patient "
                 "over the PSA, and the number needed to harm of being listed.",
                 [("Deaths on the list (base case)", "patient_queues",
                   ["strategy", "resource", "listed", "died_on_list", "left_list"]),
                  ("Share who died on a waiting list over the PSA", deaths, None, ("mean", "low", "high")),
                  ("Number needed to harm: death on the waiting list", nnh, cols_nnt)]),
        _section(run, "patient-outcomes", "Patient outcomes per strategy",
                 "Base case, means per patient: costs and effects, time on waiting lists, the shares who died on a "
                 "list or were escalated by the treatment policy, and procedures.",
                 [("Patient outcomes (base case)", "patient_outcomes", None)]),
        _section(run, "subgroups", "Net benefit by subgroup",
                 f"Base case, at {u.wtp(exp.wtp_threshold)}: costs, effects and incremental net monetary benefit "
                 f"of each subgroup of patients (standard error from the patients' spread); the optimal strategy of "
                 f"each.", [("Net benefit by subgroup", "patient_subgroups", None)]),
        _section(run, "nnt", "Numbers needed to treat or harm",
                 "Base case: events per strategy against the comparator, the absolute risk difference and the "
                 "number needed to treat (benefit) or harm, with Newcombe's 95 % interval.",
                 [("Numbers needed to treat or harm", "patient_nnt", cols_nnt)]),
        _section(run, "monte-carlo-error", "Monte Carlo error of the inner patients",
                 f"Each PSA draw simulates {n:,} patients, so its means carry Monte Carlo noise; the table compares "
                 f"the noise of the increments (paired by common random numbers) with their spread over the draws. "
                 f"A small share means the patients per draw are enough for the PSA; the EVPI includes the noise "
                 f"and is an upper bound.", [("Monte Carlo error (PSA)", "patient_mc_error", None)], early=False),
    ]
    return [s for s in out if s is not None]
