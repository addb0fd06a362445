"""OMT (treat-to-target) vs CABG with a capacity-limited theatre: an international waiting-list scenario.

A US payer does not ration surgery, so the managed model's base case has no capacity
limit; in publicly funded systems (waiting lists) theatre capacity matters. For a few
theatre capacities (CABGs a week) and no limit, the managed patient-level flagship
model for HFrEF (:func:`cohorts.omt_vs_cabg.managed.managed`) is run with the same
incident STICH-like patients (:func:`~cohorts.omt_vs_cabg.managed.population`; a
Poisson stream, ``--per-week`` a week) and common random numbers. Printed per
capacity: mean discounted cost and QALYs per patient of each strategy, the ICER of
CABG vs OMT, and for the CABG arm's theatre the mean wait (weeks), deaths on the list
and utilisation. Parameters are the base case of ``cohorts/omt_vs_cabg/parameters.csv``
and ``managed_parameters.csv`` (US costs, for comparability with the base case).

Run: ``python experiments/omt_vs_cabg_capacity.py [--patients N] [--per-week R] [--seed S]``.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import pandas as pd

from cohorts.omt_vs_cabg.managed import arrivals, managed, population
from sim.patient import run_managed

CAPACITIES = (2, 3, 4, 5, math.inf)


def _busy_share(res, slots: float) -> float:
    """Utilisation of the CABG arm's theatre while patients arrive: busy server-time over
    ``[0, last arrival]`` / (slots * last arrival), from the queue trace (a step function)."""
    if slots == math.inf:
        return math.nan
    end = float(res.outcomes["arrival"].max())
    tr = res.queue_trace[res.queue_trace["strategy"] == "CABG"]
    t = np.append(np.minimum(tr["time"].to_numpy(), end), end)
    busy = tr["busy"].to_numpy()
    return float(np.sum(busy * np.diff(t)) / (slots * end))


def scenario_table(n_patients: int = 800, per_week: float = 4.0, seed: int = 2026,
                   capacities=CAPACITIES) -> pd.DataFrame:
    """One row per theatre capacity.

    Returns
    -------
    DataFrame
        ``slots_per_week, cost_OMT, qaly_OMT, cost_CABG, qaly_CABG, icer`` (USD per QALY,
        CABG vs OMT), ``wait_weeks`` (mean wait of the CABG arm's operated patients),
        ``died_on_list, listed, utilisation`` (CABG arm's theatre, over the whole run, which
        ends with years of sporadic late referrals), ``util_intake`` (its utilisation while
        patients arrive) and ``escalated_OMT``
        (share of the OMT arm referred by the policy).
    """
    rows = []
    people = population(n_patients, seed)
    for slots in capacities:
        res = run_managed(managed(theatre_slots_per_week=slots), n_patients, seed=seed, arrivals=arrivals(per_week),
                          population=people, log=True)
        m = res.outcomes.groupby("strategy", observed=True)[["cost", "qaly", "escalated"]].mean()
        q = res.queues.set_index("strategy").loc["CABG"]
        d_cost, d_qaly = m.loc["CABG", "cost"] - m.loc["OMT", "cost"], m.loc["CABG", "qaly"] - m.loc["OMT", "qaly"]
        rows.append({"slots_per_week": slots, "cost_OMT": m.loc["OMT", "cost"], "qaly_OMT": m.loc["OMT", "qaly"],
                     "cost_CABG": m.loc["CABG", "cost"], "qaly_CABG": m.loc["CABG", "qaly"],
                     "icer": d_cost / d_qaly if d_qaly > 0 else math.nan,
                     "wait_weeks": 52.0 * q["wait_mean"], "died_on_list": int(q["died_on_list"]),
                     "listed": int(q["listed"]), "utilisation": q["utilisation"],
                     "util_intake": _busy_share(res, slots),
                     "escalated_OMT": m.loc["OMT", "escalated"]})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=800)
    ap.add_argument("--per-week", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    table = scenario_table(args.patients, args.per_week, args.seed)
    print(f"{args.patients} patients arriving at {args.per_week:g} a week (seed {args.seed}); "
          f"costs USD and QALYs discounted at 3 %, per patient; theatre figures for the CABG arm")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda x: f"{x:,.3f}" if abs(x) < 100 else f"{x:,.0f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
