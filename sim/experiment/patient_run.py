"""Running an experiment file of a patient-level model: base case, PSA of outer draws x inner patients, sweeps.

Every task is pure: a chunk of outer draws (:func:`psa_task`) or a sweep scenario
(:func:`scenario_task`) gets the model's module name, its settings, the draws' parameter
values and their indices; draw ``d`` simulates ``[patients] n`` patients whose random
numbers are keyed by ``(seed, d, patient)``, so the numbers are identical whatever the
chunk size, the worker count or the order in which tasks finish. The output folder
holds the files of a cohort run (``base_case``, ``icer``, ``psa_outcomes``,
``psa_summary``, ``psa_icer``, ``ceac``, ``evpi``, ``sweep``...) and the patient-level
tables (queues, waiting times, deaths on the list, subgroup net benefit, numbers
needed to treat or harm), listed in :attr:`PatientRun.extra_tables`
(``docs/experiments.md``, *Patient-level models*).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import HtaError
from sim.experiment.outputs import portable, write_parquet_atomic, write_table
from sim.experiment.patient_load import PatientLoaded
from sim.experiment.sweep import DONE, SWEEP, check_partition, read_sweep

__all__ = ["PER_DRAW", "PatientRun", "psa_task", "scenario_task", "simulate_draw"]

#: Per-patient outcomes of a managed model averaged per draw and strategy besides cost and effects.
PER_DRAW = ("waited", "died_on_list", "escalated", "procedures")
#: Outer draws per task when the file gives no ``[psa] chunk``.
DEFAULT_CHUNK = 10


def simulate_draw(mod, values: Mapping[str, float], settings: Mapping[str, float], draw: int, n: int, seed: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Per-patient outcomes (and queue statistics of a managed model) of one parameter set.

    Parameters
    ----------
    mod : module
        The ready patient-level model.
    values : mapping of str to float
        Every parameter's value.
    settings : mapping of str to float
        The model settings.
    draw, n, seed : int
        Draw index, patients, seed (the patients' random numbers are keyed by ``(seed, draw, patient)``).

    Returns
    -------
    (DataFrame, DataFrame or None)
        The outcomes of :func:`~sim.patient.run_managed` or :func:`~sim.patient.run_pathway`,
        and the managed run's ``queues`` (None for plain pathways).
    """
    from sim.patient import ManagedPathway, Pathway, run_managed, run_pathway
    from sim.patient.psa import build_pathways

    pathways = build_pathways(lambda v: mod.build(v, **settings), dict(values), mod.__name__, f"draw {draw}")
    pop = mod.population(n, seed, values) if callable(getattr(mod, "population", None)) else None
    arr = mod.arrivals(**settings) if callable(getattr(mod, "arrivals", None)) else None
    size = None if pop is not None else n
    if any(isinstance(v, ManagedPathway) for v in pathways.values()):
        strategies = {s: ManagedPathway(v) if isinstance(v, Pathway) else v for s, v in pathways.items()}
        res = run_managed(strategies, size, seed=seed, population=pop, draw=draw, arrivals=arr)
        return res.outcomes, res.queues
    if arr is not None:
        raise HtaError(f"{mod.__name__}: arrivals apply to managed pathways only")
    return run_pathway(pathways, size, seed=seed, population=pop, draw=draw).outcomes, None


def _means(out: pd.DataFrame, draw: int) -> pd.DataFrame:
    """Strategy means with Monte Carlo SEs, the per-draw patient outcomes, and the SEs of the paired increments."""
    from sim.patient.psa import strategy_means

    res = strategy_means(out, draw)
    names = list(res["strategy"].astype(str))
    g = out.groupby(out["strategy"].astype(str), sort=False)
    for col in PER_DRAW:
        if col in out.columns:
            res[col] = g[col].mean().reindex(names).to_numpy(dtype=float)
    ref = out[out["strategy"].astype(str) == names[0]].set_index("patient")
    for c in ("cost", "qaly"):
        se = []
        for s in names:
            d = out[out["strategy"].astype(str) == s].set_index("patient")[c] - ref[c]
            se.append(float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.nan)
        res[f"inc_{c}_se"] = se
    return res


def psa_task(ref: str, settings: Mapping[str, float], rows: list[dict], first: int, n: int, seed: int) -> pd.DataFrame:
    """Means per strategy of the outer draws ``first, first + 1, ...`` (a pure task).

    Parameters
    ----------
    ref : str
        The model's module (imported on the worker).
    settings : mapping of str to float
        The model settings.
    rows : list of dict
        Every parameter's value, one dict per draw.
    first : int
        Index of the first draw.
    n, seed : int
        Patients per draw and seed.

    Returns
    -------
    DataFrame
        ``draw, strategy``, the means of :data:`sim.patient.psa.MEAN_COLUMNS`, ``cost_se, qaly_se, ly_se``,
        :data:`PER_DRAW` (those the model reports), ``inc_cost_se, inc_qaly_se`` (vs the first strategy).
    """
    mod = importlib.import_module(ref)
    return pd.concat([_means(simulate_draw(mod, v, settings, first + i, n, seed)[0], first + i)
                      for i, v in enumerate(rows)], ignore_index=True)


def scenario_task(ref: str, settings: Mapping[str, float], rows: list[dict], n: int, seed: int,
                  chunk: int) -> pd.DataFrame:
    """Every draw of one sweep scenario (a pure task; the numbers do not depend on ``chunk``).

    Parameters
    ----------
    ref, settings, rows, n, seed
        As for :func:`psa_task` (the scenario's settings and values).
    chunk : int
        Draws simulated at once.

    Returns
    -------
    DataFrame
        As :func:`psa_task`, for every draw.
    """
    return pd.concat([psa_task(ref, settings, rows[lo:lo + chunk], lo, n, seed) for lo in range(0, len(rows), chunk)],
                     ignore_index=True)


def _ordered(out: pd.DataFrame) -> pd.DataFrame:
    names = list(dict.fromkeys(out["strategy"].astype(str)))
    out = out.assign(strategy=pd.Categorical(out["strategy"].astype(str), categories=names))
    return out.sort_values(["draw", "strategy"], kind="stable").reset_index(drop=True)


class PatientRun:
    """One run of a patient-level experiment into a staging folder (the analyses and their tables).

    Parameters
    ----------
    loaded : PatientLoaded
    folder : Path
        The staging folder.
    ex : Executor
    units : Units
    stage : callable
        Called with each stage's name (progress).
    """

    def __init__(self, loaded: PatientLoaded, folder: Path, ex, units, stage=None):
        self.ld, self.exp, self.dir, self.ex, self.units = loaded, loaded.experiment, folder, ex, units
        self.stage = stage or (lambda name: None)
        self.sections: dict[str, Any] = {"patients_per_draw": self.exp.patients}
        self.extra_tables: list[tuple[str, pd.DataFrame]] = []
        self.tables: dict[str, pd.DataFrame] = {}  # the patient-level tables by name (their CSV file's stem)
        self.figures: list[tuple[str, str]] = []
        # what the one report and workbook read besides the tables (sim.experiment.report, .workbook)
        self.model = None  # no cohort model: no diagram, trace or validation
        self.model_text: list[str] = []
        self.model_settings = ""
        self.extra_settings: list[tuple[str, str]] = []
        self.report_sections: list = []
        self.extra_sheets: list = []
        self.sheets: list = []
        p = self.exp.data.get("psa", {})
        self.chunk = int(p.get("chunk", DEFAULT_CHUNK))

    def extra(self, title: str, name: str, df: pd.DataFrame) -> None:
        """Add a patient-level table: written as ``name.csv`` and listed in :attr:`extra_tables`."""
        write_table(df, self.dir, name, ("csv",))
        self.extra_tables.append((title, df))
        self.tables[name] = df

    def run_all(self) -> None:
        """Base case, PSA (with EVPI), one-way DSA, sweep: those the file asks for."""
        for wanted, analysis in ((self.exp.base_case, self.base_case), (self.exp.psa, self.psa),
                                 (self.exp.one_way, self.one_way), (self.exp.sweep, self.sweep)):
            if wanted:
                analysis()

    # ------------------------------------------------------------ base case
    def base_case(self) -> None:
        """One run of ``n`` patients at the base-case values; the patient-level tables."""
        from sim import decision
        from sim.experiment.figures import waiting_figure
        from sim.experiment.patient_tables import number_needed, outcome_table, queue_table, subgroup_table

        self.stage("base case")
        ld, n = self.ld, self.exp.patients
        settings, fixed = ld.split()
        values = {**ld.table.base, **fixed}
        out, queues = simulate_draw(ld.module, values, settings, 0, n, self.exp.seed)
        means = _means(out, 0)
        base = means.drop(columns="draw")
        write_table(base, self.dir, "base_case", ("csv", "parquet"))
        icer = decision.icers(means, effect=ld.effect)
        write_table(icer, self.dir, "icer", ("csv", "md"), self.units)
        self.sections.update(base_case=base, icer=icer)
        ref = str(means["strategy"].iloc[0])
        if queues is not None:
            self.extra("Queues: waiting lists and deaths on the list (base case; waits in weeks)", "patient_queues",
                       queue_table(queues))
        self.extra("Patient outcomes per strategy (base case, means per patient)", "patient_outcomes",
                   outcome_table(out))
        fig = waiting_figure(out) if "waited" in out.columns else None
        if fig is not None:
            self.fig(fig, "waits", f"Waiting times of the patients who waited, base case ({n:,} patients per "
                                   f"strategy)")
        sub = subgroup_table(out, getattr(ld.module, "SUBGROUPS", {}), self.exp.wtp_threshold, ref, ld.effect)
        if sub is not None:
            self.extra(f"Net benefit by subgroup at {self.units.wtp(self.exp.wtp_threshold)} (vs {ref})",
                       "patient_subgroups", sub)
        nn = number_needed(out, getattr(ld.module, "NUMBER_NEEDED", {}), ref)
        if nn is not None:
            self.extra(f"Numbers needed to treat or harm (base case, vs {ref})", "patient_nnt", nn)

    # ------------------------------------------------------------ PSA
    def _draws(self, n_draws: int, fixed: Mapping[str, float]) -> pd.DataFrame:
        method = self.exp.psa.method if self.exp.psa else "mc"
        draws = self.ld.table.draw(n_draws, self.exp.seed, method).frame.copy()
        for k, v in fixed.items():
            draws[k] = float(v)
        return draws

    def psa(self) -> None:
        """Outer draws x inner patients, chunked; the cohort run's PSA files and figures."""
        from sim import decision, plots
        from sim.decision import voi
        from sim.experiment.patient_tables import mc_error_table, per_draw_table, psa_summary

        exp, ld = self.exp, self.ld
        n_draws = exp.psa.draws
        settings, fixed = ld.split()
        self.stage("PSA: sampling")
        draws = self._draws(n_draws, fixed)
        rows = [dict(r) for r in draws.to_dict("records")]
        args = [(ld.ref, settings, rows[lo:lo + self.chunk], lo, exp.patients, exp.seed)
                for lo in range(0, n_draws, self.chunk)]
        self.stage("PSA: engine")
        out = _ordered(pd.concat(self.ex.map(psa_task, args, desc=f"PSA {exp.model}", unit="chunk"),
                                 ignore_index=True))
        self.stage("PSA: tables")
        write_table(portable(out), self.dir, "psa_outcomes", ("parquet", "csv"))
        frame = draws.copy()
        frame.insert(0, "draw", range(n_draws))
        write_table(frame, self.dir, "psa_draws", ("parquet", "csv"))
        summary = psa_summary(out, ld.effect)
        write_table(summary, self.dir, "psa_summary", ("csv", "md"), self.units)
        picer = decision.icers(out, effect=ld.effect)
        write_table(picer, self.dir, "psa_icer", ("csv", "md"), self.units)
        c, names = decision.outcome_matrix(out, "cost")
        e, _ = decision.outcome_matrix(out, ld.effect)
        wtp = np.asarray(exp.wtp)
        curves = decision.ceac(c, e, wtp, names)
        write_table(curves, self.dir, "ceac", ("csv",))
        self.extra("Monte Carlo error of the inner patients vs between-draw variance (PSA)", "patient_mc_error",
                   mc_error_table(out))
        per = per_draw_table(out)
        if per is not None:
            self.extra("Waiting times, deaths on the list and escalation over the PSA (means, 95 % intervals)",
                       "patient_psa_queues", per)
        self.sections.update(psa_summary=summary, psa_icer=picer, n_draws=n_draws, ceac=curves, psa_outcomes=out)
        self.stage("figures")
        for df in (curves,):
            df.attrs.update(currency=self.units.money, effect=ld.effect, effect_unit=self.units.effect_unit)
        plane = decision.ce_plane(c, e, names)
        plane.attrs.update(currency=self.units.money, effect=ld.effect, effect_unit=self.units.effect_unit)
        thr = self.units.wtp(exp.wtp_threshold)
        self.fig(plots.ce_plane(plane, wtp=exp.wtp_threshold), "ce_plane",
                 f"Cost-effectiveness plane ({n_draws:,} draws x {exp.patients:,} patients; dashed line: threshold "
                 f"{thr})")
        self.fig(plots.ceac(curves.copy(), frontier=decision.ceaf(c, e, wtp, names), wtp=exp.wtp_threshold), "ceac",
                 f"Cost-effectiveness acceptability curves and frontier (dotted line: threshold {thr})")
        if exp.evpi:
            self.stage("EVPI")
            ev = voi.evpi(c, e, wtp)
            write_table(ev, self.dir, "evpi", ("csv",))
            ev.attrs.update(currency=self.units.money, effect=ld.effect, effect_unit=self.units.effect_unit)
            self.fig(plots.evpi(ev.copy(), wtp=exp.wtp_threshold), "evpi",
                     f"Per-person expected value of perfect information (dotted line: threshold {thr}; includes "
                     f"the inner patients' Monte Carlo noise: an upper bound)")
            self.sections["evpi"] = float(voi.evpi(c, e, [exp.wtp_threshold])["evpi"].iloc[0])
            self.sections["evpi_curve"] = ev

    def fig(self, ax, name: str, caption: str) -> None:
        """Save a figure as PNG and SVG under ``figures/`` (:func:`sim.experiment.figures.save_figure`)."""
        from sim.experiment.figures import save_figure

        save_figure(ax, self.dir, name)
        self.figures.append((name, caption))

    # ------------------------------------------------------------ one-way
    def one_way(self) -> None:
        """One-way DSA on the base case's patients (common random numbers), with its Monte Carlo noise stated."""
        from sim.decision import dsa
        from sim.experiment.figures import tornado_figure
        from sim.experiment.patient_dsa import ExperimentPatientRun
        from sim.experiment.present import outcome_words

        spec, exp, ld, n = self.exp.one_way, self.exp, self.ld, self.exp.patients
        ranges = dict(spec.ranges) if spec.ranges else dsa.table_ranges(ld.table)
        if spec.parameters and not spec.ranges:
            ranges = {k: ranges[k] for k in spec.parameters}
        probe = ExperimentPatientRun(ld, self.ex, self.chunk)
        names = list(probe.strategies)
        s, c = spec.strategy or names[-1 if len(names) == 2 else 1], spec.comparator or names[0]
        keep = (exp.wtp_threshold, s, c, ld.effect) if spec.outcome == "inmb" else None
        run = ExperimentPatientRun(ld, self.ex, self.chunk, inmb=keep)
        self.stage(f"one-way ({2 * len(ranges) + 1} runs of {n:,} patients each; Monte Carlo noise: see the report)")
        try:
            table = dsa.one_way(run, ranges, outcome=spec.outcome, wtp=exp.wtp_threshold, strategy=s, comparator=c,
                                effect=ld.effect)
        except HtaError as exc:
            raise exp.error(("one_way",), str(exc)) from None
        cur = f"{self.units.currency} " if self.units.currency else ""
        if keep is not None:  # each bar end's Monte Carlo error: its change from the base case, paired by patient
            se = run.change_se()
            at = {p: k for k, p in enumerate(ranges)}
            table["mc_se_low"] = [se[1 + 2 * at[p]] for p in table["parameter"]]
            table["mc_se_high"] = [se[2 + 2 * at[p]] for p in table["parameter"]]
            level = float(np.std(run.per_patient[0], ddof=1) / np.sqrt(run.per_patient.shape[1]))
            noise = (f" Whiskers at the bars' ends: two Monte Carlo standard errors of each change from the base case, "
                     f"paired by patient (largest {cur}{np.nanmax(se):,.0f}); a bar whose whisker crosses the base "
                     f"case may be noise. The base-case outcome itself has a Monte Carlo standard error of about "
                     f"{cur}{level:,.0f} (another sample of patients would move every bar together by that much).")
        else:
            noise = " The Monte Carlo error of each bar is estimated for the outcome \"inmb\" only."
        write_table(table, self.dir, "one_way", ("csv", "md"))
        table.attrs["outcome"] = outcome_words(spec.outcome, self.units, s, c, exp.wtp_threshold)
        self.sections["one_way_note"] = (
            f"Patient level: each of the {2 * len(ranges) + 1} parameter sets simulates the same {n:,} patients with "
            f"the same random numbers as the base case (common random numbers), so most of the Monte Carlo noise "
            f"cancels between sets, but not all of it (a changed parameter changes which random numbers later events "
            f"use, and {n:,} patients are a sample).{noise} Increase [patients] n to shrink it (it falls as "
            f"1/sqrt(n)).")
        self.sections["one_way"] = table
        ax, _ = tornado_figure(table, ld.table, run.parameters)
        if ax is not None:
            self.fig(ax, "tornado",
                     f"Tornado diagram: {table.attrs['outcome']}; each parameter over its range (label: base value, "
                     f"low to high); {n:,} patients per parameter set, common random numbers"
                     + ("; whiskers: two Monte Carlo standard errors of each bar end's change from the base case"
                        if keep is not None else ""))

    # ------------------------------------------------------------ sweep
    def sweep(self) -> None:
        """One PSA per scenario (same draws: common random numbers), streamed into ``sweep/``; resumable."""
        from sim.experiment.patient_tables import WEEKS
        from sim.experiment.sweep import sweep_summary, write_listing

        exp, ld = self.exp, self.ld
        self.stage("sweep")
        n_draws = exp.sweep_draws or exp.psa.draws
        root = self.dir / SWEEP
        root.mkdir(exist_ok=True)
        names = write_listing(self.dir, exp)
        todo, args = [], []
        for s in exp.sweep:
            d = root / f"scenario={s.index:05d}"
            if (d / DONE).is_file():
                check_partition(d)
                continue
            settings, fixed = ld.split(s.values)
            rows = [dict(r) for r in self._draws(n_draws, fixed).to_dict("records")]
            todo.append(s)
            args.append((ld.ref, settings, rows, exp.patients, exp.seed, self.chunk))

        def write(i: int, out: pd.DataFrame) -> None:
            d = root / f"scenario={todo[i].index:05d}"
            d.mkdir(exist_ok=True)
            write_parquet_atomic(portable(_ordered(out)), d / "part-0.parquet")
            tmp = d / f".{DONE}.tmp"
            tmp.write_text(f"{len(out)}\n")
            os.replace(tmp, d / DONE)

        self.sections["sweep_resumed"] = len(exp.sweep) - len(todo)
        self.ex.map(scenario_task, args, desc="sweep", unit="scenario", on_result=write)
        summary = sweep_summary(read_sweep(self.dir), exp, ld.effect, names,
                                means={"waited_weeks": ("waited", WEEKS), "died_on_list": ("died_on_list", 1.0)})
        write_table(summary, self.dir, "sweep_summary", ("csv", "md"), self.units)
        self.sections["sweep"] = summary
        keys = [k for k in names if k in summary.columns]
        if len(keys) == 1 and "waited_weeks" in summary.columns:
            from sim.experiment.figures import sweep_figure

            self.fig(sweep_figure(summary, keys[0]), "sweep_waits", f"Mean time on waiting lists and share who died "
                     f"on a list against {keys[0].replace('_', ' ')} ({n_draws:,} draws per scenario, the same in "
                     f"each)")
