"""The ``hta-sim`` command line.

``hta-sim list``                  ready models and experiment files
``hta-sim run MODEL``             base case of a ready model: costs, life-years, QALYs, ICER table
``hta-sim run EXPERIMENT.toml``   every analysis of an experiment file, into its output folder
``hta-sim run --repeat MANIFEST`` repeat a recorded run and check the numbers are identical
``hta-sim validate FILE``         check an experiment file or a parameter table
``hta-sim info MODEL``            a ready model's structure, settings and parameter table

Errors in input are one line ``hta-sim: error: FILE:LINE: message`` on stderr, exit status 2;
so are file-system errors (read-only folder, full disk). Ctrl-C is one line, exit status 130.
Ready models are those registered in the entry-point group ``hta_sim.models``
(:mod:`sim.experiment.registry`). The heavy packages (pandas, Numba, SciPy, ...) are
imported by the commands that need them, so ``hta-sim --help`` starts at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sim._process import tune_process
from sim.errors import HtaError

__all__ = ["main"]

#: Width of the terminal output (lines are wrapped to it).
WIDTH = 80


def _ready(name: str):
    from sim.experiment.registry import load_ready

    return load_ready(name)


def _experiment_files() -> list[Path]:
    """Experiment files in ``./experiments`` and in the source tree's ``experiments`` folder."""
    found: dict[Path, None] = {}
    for folder in (Path.cwd() / "experiments", Path(__file__).resolve().parents[2] / "experiments"):
        for f in sorted(folder.glob("*.toml")):
            found.setdefault(f.resolve(), None)
    return list(found)


def _cmd_list(args) -> int:
    from sim.experiment.read import read_experiment
    from sim.experiment.registry import ready_models

    print("Ready models (hta-sim run MODEL):")
    for name in ready_models():
        print(f"  {name:20s} {_ready(name).TITLE}")
    files = _experiment_files()
    print("Experiments (hta-sim run FILE):")
    for f in files:
        try:
            title = read_experiment(f).title
        except HtaError as exc:
            title = f"(invalid: {exc})"
        print(f"  {os.path.relpath(f):40s} {title}")
    if not files:
        print("  (none in ./experiments)")
    return 0


def _is_experiment(target: str) -> bool:
    return target.endswith(".toml") or os.sep in target or "/" in target or Path(target).is_file()


def _print_table(title: str, df, units, table: str = "") -> None:
    from sim.experiment.present import terminal_table

    print(title)
    print(terminal_table(df, units, table))


def _wrapped(text: str, indent: str = "", width: int = WIDTH) -> str:
    """``text`` wrapped to ``width`` columns (continuation lines indented by two more spaces)."""
    import textwrap

    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False, break_long_words=True)


def _cmd_run(args) -> int:
    from sim.cohort import run_cohort
    from sim.experiment.present import resolve_units, settings_words

    if args.repeat or (args.target and _is_experiment(args.target)):
        return _run_experiment(args)
    if not args.target:
        raise HtaError("hta-sim run: give a ready model, an experiment file (.toml) or --repeat MANIFEST")
    mod = _ready(args.target)
    model = mod.build()
    if hasattr(model, "curves"):  # a partitioned survival model
        from sim.psm.engine import run_psm

        res = run_psm(model)
    else:
        res = run_cohort(model)
    effect = args.effect or getattr(mod, "EFFECT", "qaly")
    units = resolve_units(model, effect, mod)
    print(_wrapped(mod.TITLE))
    print(_wrapped(f"Settings: {settings_words(model)}; hta-sim {res.settings['version']}."))
    print()
    cols = ["cost", "ly", "qaly", "cost_undisc", "ly_undisc", "qaly_undisc"]
    if not model.utilities:
        cols = [c for c in cols if not c.startswith("qaly")]
    summary = res.summary()[cols].reset_index()
    _print_table("Per strategy (discounted, and undiscounted):", summary, units)
    if not model.utilities:
        print("(this model has no utilities, so QALYs are 0; its effect measure is life-years)")
    print()
    _print_table(f"ICER table (effect: {units.effect_unit}):", res.icer(effect=effect), units, "icer")
    return 0


def _run_experiment(args) -> int:
    from sim.experiment.runner import repeat, run_experiment

    opts = {"output": args.output, "overwrite": args.overwrite, "scheduler": args.scheduler, "workers": args.workers,
                "progress": not args.quiet, "command": ["hta-sim", *args.argv]}
    if args.repeat:
        if args.target:
            raise HtaError("hta-sim run --repeat MANIFEST takes no experiment file (the manifest names it)")
        res, differ = repeat(args.repeat, **opts)
    else:
        res, differ = run_experiment(args.target, **opts), None
    m = res.manifest
    print(_wrapped(f"{m['title']}: seed {m['seed']}, {m['seconds']:.1f} s"))
    if m.get("model_settings"):
        print(_wrapped(f"Settings: {m['model_settings']}."))
    if res.icer is not None:
        _print_table("ICER table (base case):", res.icer, res.units, "icer")
    if res.summary is not None:
        summary = res.summary
        if "qaly" in summary.columns and not summary["qaly"].abs().any():  # a model without utilities
            summary = summary.drop(columns=[c for c in summary.columns if c.startswith("qaly")])
        _print_table("PSA means (95 % intervals):", summary, res.units, "psa_summary")
    print(f"results: {_relative(res.folder)}{os.sep}  (report.html, results.xlsx, manifest.json)")
    if differ is not None:
        if differ:
            print(f"repeat: {len(differ)} result file(s) differ from the recorded run: {', '.join(differ)}")
            return 1
        print("repeat: every result file identical to the recorded run (figures, report.html and results.xlsx, "
              "which carry time stamps, not compared)")
    return 0


def _relative(path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the working folder) when it is inside it, else as it is."""
    p = Path(path)
    try:
        rel = os.path.relpath(p.resolve(), (base or Path.cwd()).resolve())
    except ValueError:  # another drive
        return str(p)
    return rel if rel.split(os.sep)[0] != os.pardir else str(p)


def _cmd_validate(args) -> int:
    from sim.experiment.loading import load
    from sim.experiment.present import shown_path
    from sim.experiment.read import read_experiment
    from sim.params.table import ParameterTable

    f = Path(args.file)
    if f.suffix.lower() in (".csv", ".xlsx", ".xlsm"):
        t = ParameterTable.read(f)
        print(f"{f}: ok: parameter table, {len(t)} parameters, {len(t.random_names)} random")
        return 0
    exp = read_experiment(f)
    if exp.patients is not None:
        from sim.experiment.patient_load import load_patient

        pl = load_patient(exp)
        analyses = [name for name, on in [("base case", exp.base_case), ("PSA", exp.psa),
                                          ("EVPI", exp.psa and exp.evpi),
                                          ("one-way DSA (base case's patients, common random numbers)",
                                           exp.one_way),
                                          (f"sweep of {len(exp.sweep)} scenarios", exp.sweep)] if on]
        output = os.path.relpath(exp.output.resolve(), exp.path.parent.resolve())
        print(f"{f}: ok: patient-level model {exp.model}, {len(pl.table)} parameters, {exp.patients:,} patients per "
              f"draw, seed {exp.seed}; {', '.join(analyses)}; output {output} (relative to the experiment file)")
        return 0
    ld = load(exp)
    analyses = [name for name, on in [("base case", exp.base_case), ("PSA", exp.psa), ("EVPI", exp.evpi),
                                      ("EVPPI", exp.evppi), ("one-way DSA", exp.one_way),
                                      ("two-way DSA", exp.two_way), ("thresholds", exp.thresholds),
                                      (f"sweep of {len(exp.sweep)} scenarios", exp.sweep)] if on]
    table = shown_path(ld.table.label, exp.path.parent)
    output = os.path.relpath(exp.output.resolve(), exp.path.parent.resolve())
    print(f"{f}: ok: model {exp.model}, {table} ({len(ld.table)} parameters), seed {exp.seed}; "
          f"{', '.join(analyses) or 'no analyses'}; output {output} (relative to the experiment file)")
    if ld.defaulted:
        print(f"{f}: defaults = \"model\": {len(ld.defaulted)} parameter(s) not in {table} take the "
              f"model's values: {', '.join(ld.defaulted)}")
    return 0


def _cmd_info(args) -> int:
    from sim.experiment.present import resolve_units, settings_words

    mod = _ready(args.model)
    model = mod.build()
    units = resolve_units(model, getattr(mod, "EFFECT", "qaly"), mod)
    print(_wrapped(f"{args.model}: {mod.TITLE}"))
    print(_wrapped(f"settings: {settings_words(model)}"))
    money = f"{units.currency} ({units.price_year} prices)" if units.price_year else (units.currency or "not declared")
    print(_wrapped(f"currency: {money}; effect: {units.effect_unit}"))
    if hasattr(model, "curves"):  # a partitioned survival model: states bounded by curves
        print(_wrapped(f"states: {', '.join(model.states)}; curves (inner to outer): {', '.join(model.curves)}"))
    else:
        print(_wrapped(f"states: {', '.join(model.states)}; absorbing: {', '.join(model.absorbing) or '-'}"))
    print(_wrapped(f"strategies: {', '.join(model.strategies)}"))
    print()
    print("Parameters (name = base value unit; description; source):")
    for row in mod.parameters().to_frame().itertuples(index=False):
        value = f"{row.value:,.6g}" if isinstance(row.value, (int, float)) else str(row.value)
        unit = f" {row.unit}" if isinstance(row.unit, str) and row.unit else ""
        print(_wrapped(f"{row.name} = {value}{unit}", "  "))
        for text in (row.description, row.source):
            if isinstance(text, str) and text.strip():
                print(_wrapped(text.strip(), "      "))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``hta-sim`` command (also ``python -m sim``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 success; 1 a repeated run whose results differ, or whose recorded files or
        manifest changed; 2 an error in the input or the file system (one line on stderr); 130 Ctrl-C.
    """
    from sim._version import __version__

    parser = argparse.ArgumentParser(prog="hta-sim", description="Health-economic decision modelling")
    parser.add_argument("--version", action="version", version=f"hta-sim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list ready models and experiment files").set_defaults(func=_cmd_list)
    p = sub.add_parser("run", help="run an experiment file, or the base case of a ready model")
    p.add_argument("target", nargs="?", help="experiment file (.toml) or ready model name (see 'hta-sim list')")
    p.add_argument("--effect", choices=["qaly", "ly"], help="effect measure of a ready model's ICER table")
    p.add_argument("--output", metavar="DIR", help="output folder instead of the experiment's 'output'")
    p.add_argument("--overwrite", action="store_true", help="replace an output folder that holds another run")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS (tcp://host:8786)")
    p.add_argument("--workers", type=int, metavar="N", help="run on a local Dask cluster of N processes")
    p.add_argument("--repeat", metavar="MANIFEST",
                   help="verify the run recorded in MANIFEST, rerun it into a fresh folder, compare")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("validate", help="check an experiment file or a parameter table")
    p.add_argument("file")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("info", help="show a ready model and its parameter table")
    p.add_argument("model")
    p.set_defaults(func=_cmd_info)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "workers", None) is not None and args.workers < 1:
        parser.error(f"--workers {args.workers}: give a number of processes >= 1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    tune_process()  # the command line owns its process: tune it for many short kernels
    try:
        return args.func(args)
    except HtaError as exc:
        print(f"hta-sim: error: {exc}", file=sys.stderr)
        return 1 if type(exc).__name__ == "RecordChanged" else 2
    except KeyboardInterrupt:
        print("hta-sim: error: interrupted (Ctrl-C); no result was written (finished sweep scenarios are kept in "
              "the hidden .<output>.partial folder: rerun the same command to continue)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (hta-sim info MODEL | head): not an error
        with __import__("contextlib").suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed pipe until exit
        return 0
    except OSError as exc:
        print(f"hta-sim: error: {_os_error(exc)}", file=sys.stderr)
        return 2


def _os_error(exc: OSError) -> str:
    """One line for an operating-system error (read-only folder, full disk, ...)."""
    import errno

    where = f"{exc.filename}: " if exc.filename else ""
    what = exc.strerror or str(exc) or type(exc).__name__
    hint = {errno.ENOSPC: "free some space or choose another output folder (--output)",
            errno.EROFS: "choose a writable output folder (--output)",
            errno.EACCES: "choose an output folder you can write to (--output)",
            errno.EPERM: "choose an output folder you can write to (--output)"}.get(exc.errno)
    return f"{where}{what}" + (f"; {hint}" if hint else "") + "; no result was written"
