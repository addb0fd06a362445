"""Decision optimisation worked example: how long to run a bisulfite treatment.

Bisulfite treatment converts unmethylated cytosine to uracil; the longer it
runs, the more complete the conversion, but the more the DNA is damaged
(depurination and strand breaks).  With treatment time ``t`` in **minutes**:

* conversion  ``C(t) = 1 - exp(-k t)``  (share of unmethylated C converted),
* damage      ``D(t) = 1 - exp(-d t)``  (share of template DNA destroyed),
* utility     ``U(t) = C(t) - alpha D(t)``,

with ``k`` (1/min) the conversion rate, ``d`` (1/min) the degradation rate and
``alpha`` the weight of a unit of damage relative to a unit of conversion.  The
benefit is ``B(t) = C(t)``, the cost ``alpha D(t)``; the optimum satisfies
``MB = MC``: ``k exp(-k t) = alpha d exp(-d t)``, i.e. for ``k > d`` and
``k > alpha d``

    t* = ln(k / (alpha d)) / (k - d).

The parameter values and distributions below are **illustrative** (chosen to
give a plausible protocol length of about an hour, ~97 % conversion and ~20 %
DNA loss), not estimates from data:

* ``k ~ lognormal(median 0.06 /min, sdlog 0.25)``,
* ``d ~ lognormal(median 0.004 /min, sdlog 0.30)``,
* ``alpha ~ gamma(shape 16, mean 0.5)``.

Run: ``python experiments/bisulfite_optimisation.py --out out/`` (a few seconds).
It prints the expected-value optimum under uncertainty, the deterministic optimum
at the base-case values against the closed form, the value of optimising ``t``
per draw, and saves ``bisulfite_mb_mc.png`` (marginal benefit and marginal cost
crossing at ``t*``) in the output folder.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from sim.decision.optimise import optimise

#: Base-case (median) values: conversion rate k and degradation rate d (per minute),
#: weight alpha of damage relative to conversion (unitless).  Illustrative.
BASE = {"k": 0.06, "d": 0.004, "alpha": 0.5}
#: Treatment times considered, minutes.
BOUNDS = (0.0, 240.0)


def conversion(t, k):
    """Share of unmethylated cytosines converted after ``t`` minutes."""
    return -np.expm1(-k * t)


def damage(t, d):
    """Share of template DNA destroyed after ``t`` minutes."""
    return -np.expm1(-d * t)


def benefit(t, p):
    """Benefit of treating for ``t`` minutes: the conversion (per draw if ``p`` holds arrays)."""
    return conversion(t, p["k"])


def cost(t, p):
    """Cost of treating for ``t`` minutes: the weighted damage ``alpha D(t)``."""
    return p["alpha"] * damage(t, p["d"])


def analytic_optimum(k: float, d: float, alpha: float) -> float:
    """Closed-form optimum of the deterministic problem: ``ln(k / (alpha d)) / (k - d)``.

    Valid for ``k > d`` and ``k > alpha d`` (otherwise utility falls from ``t = 0``).
    """
    if not (k > d and k > alpha * d):
        raise ValueError(f"no interior optimum: need k > d and k > alpha d (k={k}, d={d}, alpha={alpha})")
    return math.log(k / (alpha * d)) / (k - d)


def sample(n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` illustrative draws of ``k``, ``d`` and ``alpha``."""
    rng = np.random.default_rng(seed)
    return {
        "k": BASE["k"] * np.exp(0.25 * rng.standard_normal(n)),
        "d": BASE["d"] * np.exp(0.30 * rng.standard_normal(n)),
        "alpha": rng.gamma(16.0, BASE["alpha"] / 16.0, n),
    }


def run(out: Path, n: int = 4000, seed: int = 20260101, plot: bool = True) -> dict:
    """Solve the example; return the numbers printed (and save the figure if ``plot``)."""
    base = {k: np.float64(v) for k, v in BASE.items()}
    det = optimise(benefit, cost, BOUNDS, draws=base)
    closed = analytic_optimum(**BASE)
    draws = sample(n, seed)
    unc = optimise(benefit, cost, BOUNDS, draws=draws)
    per_draw = np.log(draws["k"] / (draws["alpha"] * draws["d"])) / (draws["k"] - draws["d"])
    result = {"t_det": det.x, "t_closed": closed, "t_expected": unc.x,
              "enb": unc.expected_net_benefit, "mb": unc.marginal_benefit, "mc": unc.marginal_cost,
              "value_of_optimising": unc.value_of_optimising, "per_draw_median": float(np.median(per_draw)),
              "det": det, "unc": unc}
    if plot:
        out.mkdir(parents=True, exist_ok=True)
        result["figure"] = _plot(unc, det, out / "bisulfite_mb_mc.png")
    return result


def _plot(unc, det, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cur = unc.curve[unc.curve["x"] > 0]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(cur["x"], cur["marginal_benefit"], label="marginal benefit  dE[C(t)]/dt (conversion)")
    ax.plot(cur["x"], cur["marginal_cost"], label="marginal cost  dE[alpha D(t)]/dt (damage)")
    ax.axvline(unc.x, color="grey", ls="--", lw=1, label=f"t* = {unc.x:.1f} min (expected, uncertain)")
    ax.axvline(det.x, color="grey", ls=":", lw=1, label=f"t* = {det.x:.1f} min (base case)")
    ax.set_yscale("log")
    ax.set_xlabel("bisulfite treatment time t (minutes)")
    ax.set_ylabel("per minute (log scale)")
    ax.set_title("Bisulfite treatment time: MB = MC at the optimum (illustrative parameters)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out/", help="folder for the figure (default: out/)")
    ap.add_argument("--draws", type=int, default=4000, help="number of parameter draws (default 4000)")
    ap.add_argument("--seed", type=int, default=20260101)
    args = ap.parse_args(argv)
    r = run(Path(args.out), n=args.draws, seed=args.seed)
    det, unc = r["det"], r["unc"]
    print("Bisulfite treatment time (minutes); parameters illustrative")
    print(f"  base case k = {BASE['k']} /min, d = {BASE['d']} /min, alpha = {BASE['alpha']}")
    print(f"  deterministic optimum (numerical)  t* = {det.x:.6f} min")
    print(f"  closed form ln(k/(alpha d))/(k-d)  t* = {r['t_closed']:.6f} min")
    agree = abs(det.x - r["t_closed"]) <= 1e-6 * max(1.0, r["t_closed"])
    print(f"  agree to 1e-6: {agree}")
    print(f"  at t*: conversion {conversion(det.x, BASE['k']):.4f}, DNA damaged {damage(det.x, BASE['d']):.4f}")
    print(f"Under uncertainty ({unc.n_draws} draws):")
    print(f"  expected-utility optimum           t* = {unc.x:.3f} min")
    print(f"  expected utility there             {unc.expected_net_benefit:.5f}")
    print(f"  marginal benefit {unc.marginal_benefit:.6g} /min = marginal cost {unc.marginal_cost:.6g} /min")
    print(f"  median of per-draw optima          {r['per_draw_median']:.3f} min")
    print(f"  value of optimising t per draw     {unc.value_of_optimising:.5f} (utility units)")
    print(f"figure: {r['figure']}")
    if not agree:
        print("ERROR: numerical and closed-form optima disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
