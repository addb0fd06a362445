"""The ``hta-sim`` command line.

``hta-sim list``            ready models
``hta-sim run MODEL``       base case of a ready model: costs, life-years, QALYs, ICER table
``hta-sim info MODEL``      a ready model's structure, settings and parameter table
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from .errors import HtaError

__all__ = ["main"]


def _ready(name: str):
    import cohorts

    return cohorts.load(name)


def _cmd_list(args) -> int:
    import cohorts

    for name in cohorts.READY:
        print(f"{name:20s} {_ready(name).TITLE}")
    return 0


def _cmd_run(args) -> int:
    from .cohort import run_cohort

    mod = _ready(args.model)
    model = mod.build()
    res = run_cohort(model)
    effect = args.effect or mod.EFFECT
    s = res.settings
    print(mod.TITLE)
    print(
        f"{s['n_cycles']} cycles of {s['cycle_length']:g} year(s); correction {s['correction']!r}; "
        f"discount costs {s['discount_costs']}, outcomes {s['discount_outcomes']}; hta-sim {s['version']}"
    )
    print()
    cols = ["cost", "ly", "qaly", "cost_undisc", "ly_undisc", "qaly_undisc"]
    table = res.summary()[cols]
    with pd.option_context("display.width", 200, "display.float_format", "{:,.3f}".format):
        print("Per strategy (discounted; *_undisc undiscounted):")
        print(table.to_string())
        if not model.utilities:
            print("(this model has no utilities, so QALYs are 0; its effect measure is life-years)")
        print()
        print(f"ICER table (effect: {effect}):")
        print(res.icer(effect=effect).to_string(index=False, na_rep="-"))
    return 0


def _cmd_info(args) -> int:
    mod = _ready(args.model)
    model = mod.build()
    print(repr(model))
    print(f"states: {', '.join(model.states)}; absorbing: {', '.join(model.absorbing) or '-'}")
    print(f"strategies: {', '.join(model.strategies)}")
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(mod.parameter_table()[["name", "value", "unit", "source"]].to_string(index=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hta-sim", description="Health-economic decision modelling")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list ready models").set_defaults(func=_cmd_list)
    p = sub.add_parser("run", help="run the base case of a ready model")
    p.add_argument("model", help="ready model name (see 'hta-sim list')")
    p.add_argument("--effect", choices=["qaly", "ly"], help="effect measure of the ICER table")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("info", help="show a ready model and its parameter table")
    p.add_argument("model")
    p.set_defaults(func=_cmd_info)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HtaError as exc:
        print(f"hta-sim: error: {exc}", file=sys.stderr)
        return 2
