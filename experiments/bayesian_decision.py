"""Bayesian decision worked example: a new drug vs standard care after a small trial.

Posterior draws from conjugate models, turned into net-benefit draws, then the
decision that maximises expected net benefit (:func:`sim.bayes.decide`).  All
numbers are **illustrative** (a made-up two-arm trial), not from a real study.

Data (one-year horizon):

* response: standard care 12 of 40 patients, new drug 19 of 40;
* hospital days of the 49 non-responders (both arms pooled): 306 days in total.

Model:

* response probability per arm ``p ~ Beta(1 + responders, 1 + non-responders)``
  (uniform prior; beta-binomial conjugacy);
* hospital days per non-responder ``lambda ~ Gamma(0.5 + 306, rate 0.01 + 49)``
  (Poisson counts with a vague gamma prior; gamma-Poisson conjugacy);
* cost = drug + (1 - p) lambda x 600 GBP a day; drug: standard 1,000, new 2,500 GBP;
* QALYs = 0.55 + 0.30 p (a responder gains 0.30 QALY over the year).

Run: ``python experiments/bayesian_decision.py`` (well under a second of work).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from sim.decision.bayes import decide

STRATEGIES = ["standard", "new_drug"]
TRIAL = {"standard": (12, 40), "new_drug": (19, 40)}  # responders, patients
NONRESPONDER_DAYS, NONRESPONDERS = 306, 49
DRUG_COST = {"standard": 1000.0, "new_drug": 2500.0}  # GBP per patient
DAY_COST = 600.0  # GBP per hospital day
QALY_BASE, QALY_GAIN = 0.55, 0.30


def posterior_draws(n: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of the response probabilities and of hospital days per non-responder."""
    rng = np.random.default_rng(seed)
    out = {}
    for s, (r, m) in TRIAL.items():
        out[f"p_{s}"] = rng.beta(1 + r, 1 + m - r, n)
    out["days"] = rng.gamma(0.5 + NONRESPONDER_DAYS, 1.0 / (0.01 + NONRESPONDERS), n)
    return out


def costs_effects(draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Cost and QALY draws, shape (n_draws, 2), columns in :data:`STRATEGIES` order."""
    c = np.column_stack([DRUG_COST[s] + (1 - draws[f"p_{s}"]) * draws["days"] * DAY_COST for s in STRATEGIES])
    e = np.column_stack([QALY_BASE + QALY_GAIN * draws[f"p_{s}"] for s in STRATEGIES])
    return c, e


def exact_expected_nb(wtp: float) -> np.ndarray:
    """Posterior expected net benefit per strategy in closed form (conjugate means).

    ``E[p] = (1 + r) / (2 + m)``, ``E[lambda] = (0.5 + days) / (0.01 + n)``, and p and
    lambda are independent, so ``E[(1 - p) lambda] = (1 - E[p]) E[lambda]``.
    """
    lam = (0.5 + NONRESPONDER_DAYS) / (0.01 + NONRESPONDERS)
    out = []
    for s in STRATEGIES:
        r, m = TRIAL[s]
        ep = (1 + r) / (2 + m)
        out.append(wtp * (QALY_BASE + QALY_GAIN * ep) - (DRUG_COST[s] + (1 - ep) * lam * DAY_COST))
    return np.array(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--wtp", type=float, nargs="+", default=[20_000.0, 30_000.0])
    args = ap.parse_args(argv)
    d = posterior_draws(args.draws, args.seed)
    c, e = costs_effects(d)
    print("Posterior means (illustrative trial):")
    for s in STRATEGIES:
        print(f"  {s:9s} response {d[f'p_{s}'].mean():.3f}, cost {c[:, STRATEGIES.index(s)].mean():8,.0f} GBP, "
              f"QALYs {e[:, STRATEGIES.index(s)].mean():.4f}")
    print(f"  hospital days per non-responder {d['days'].mean():.2f}")
    results = {}
    for w in args.wtp:
        dec = decide(c, e, w, STRATEGIES)
        results[w] = dec
        print(f"\nWillingness to pay {w:,.0f} GBP per QALY")
        print(dec.table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
        print(dec.summary())
        exact = exact_expected_nb(w)
        print("exact posterior expected net benefit (conjugate means): "
              + ", ".join(f"{s} {v:,.1f}" for s, v in zip(STRATEGIES, exact, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
