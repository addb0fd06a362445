"""The model against the printed results of its source, number for number.

``PUBLISHED`` holds every result the source prints for its base case (Session 8 of the
R for HTA (Basics) Workshop 2026, rendered page at commit 378517bb): the tables
"Discounted costs and QALYs per patient", "Cost-effectiveness results", "Cost-effectiveness
conclusion", "Net Monetary Benefit", "Life-year and QALY breakdown (undiscounted)" and
"State occupancy at key time points". :func:`comparison` recomputes each with the
partitioned survival engine and rounds it as the source prints it; :func:`markdown` is the
table in ``docs/trastuzumab_psm.md`` (a test regenerates it and compares).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["PUBLISHED", "WTP", "comparison", "markdown", "model_values", "report_sections"]

#: The willingness-to-pay threshold of the source's net monetary benefit (INR per QALY, 1x GDP per capita).
WTP = 170_000.0

_STATES = {"PF": "progression_free", "PD": "progressed", "dead": "dead"}

#: (quantity, strategy, printed value, decimals printed, where printed)
PUBLISHED: tuple[tuple[str, str, float, int, str], ...] = (
    ("discounted cost (INR)", "chemo", 729_011, 0, "Results Summary table"),
    ("discounted cost (INR)", "trastuzumab", 895_213, 0, "Results Summary table"),
    ("discounted QALYs", "chemo", 6.577, 3, "Results Summary table"),
    ("discounted QALYs", "trastuzumab", 8.061, 3, "Results Summary table"),
    ("incremental cost (INR)", "trastuzumab", 166_202, 0, "Results Summary table"),
    ("incremental QALYs", "trastuzumab", 1.484, 3, "Results Summary table"),
    ("ICER (INR per QALY)", "trastuzumab", 112_006, 0, "Cost-effectiveness conclusion table"),
    ("net monetary benefit at INR 170,000/QALY", "chemo", 389_091, 0, "Net Monetary Benefit table"),
    ("net monetary benefit at INR 170,000/QALY", "trastuzumab", 475_146, 0, "Net Monetary Benefit table"),
    ("incremental net monetary benefit", "trastuzumab", 86_055, 0, "Net Monetary Benefit table"),
    ("life-years (undiscounted)", "chemo", 11.28, 2, "Life-year and QALY breakdown table"),
    ("life-years (undiscounted)", "trastuzumab", 13.17, 2, "Life-year and QALY breakdown table"),
    ("years progression-free (undiscounted)", "chemo", 6.98, 2, "Life-year and QALY breakdown table"),
    ("years progression-free (undiscounted)", "trastuzumab", 10.98, 2, "Life-year and QALY breakdown table"),
    ("years progressed (undiscounted)", "chemo", 4.3, 2, "Life-year and QALY breakdown table"),
    ("years progressed (undiscounted)", "trastuzumab", 2.18, 2, "Life-year and QALY breakdown table"),
    ("life-years gained (undiscounted)", "trastuzumab", 1.89, 2, "Life-year and QALY breakdown table"),
    ("progression-free years gained", "trastuzumab", 4.00, 2, "Life-year and QALY breakdown table"),
) + tuple(
    (f"share {state} at year {year}", strategy, value, 3, "State occupancy table")
    for strategy, by_year in (
        ("chemo", {5: (0.522, 0.229, 0.249), 10: (0.260, 0.269, 0.470), 20: (0.062, 0.182, 0.756)}),
        ("trastuzumab", {5: (0.722, 0.096, 0.182), 10: (0.510, 0.131, 0.359), 20: (0.248, 0.124, 0.627)}))
    for year, shares in by_year.items()
    for state, value in zip(("PF", "PD", "dead"), shares, strict=True)
)


def model_values(model=None) -> dict[tuple[str, str], float]:
    """Every quantity of :data:`PUBLISHED`, computed by :func:`sim.psm.run_psm` (unrounded).

    Parameters
    ----------
    model : PartitionedSurvival, optional
        Default: the base case, :func:`cohorts.trastuzumab_psm.build`.
    """
    from cohorts.trastuzumab_psm import build
    from sim.psm import run_psm

    model = model if model is not None else build()
    res = run_psm(model, trace=True)
    out = res.outcomes.set_index("strategy")
    tr = res.trace
    h = model.cycle_length
    v: dict[tuple[str, str], float] = {}
    for s in ("chemo", "trastuzumab"):
        v["discounted cost (INR)", s] = out.loc[s, "cost"]
        v["discounted QALYs", s] = out.loc[s, "qaly"]
        v["net monetary benefit at INR 170,000/QALY", s] = WTP * out.loc[s, "qaly"] - out.loc[s, "cost"]
        v["life-years (undiscounted)", s] = out.loc[s, "ly_undisc"]
        sel = tr[tr["strategy"].astype(str) == s]
        for state, name in (("progression-free", "progression_free"), ("progressed", "progressed")):
            m = sel[sel["state"].astype(str) == name].sort_values("cycle")["share"].to_numpy()
            v[f"years {state} (undiscounted)", s] = h * (m[:-1] + m[1:]).sum() / 2  # the trapezoid of the source
        for year in (5, 10, 20):
            at = sel[sel["cycle"] == round(year / h)]
            shares = dict(zip(at["state"].astype(str), at["share"], strict=True))
            for short, name in _STATES.items():
                v[f"share {short} at year {year}", s] = float(shares[name])
    dc = v["discounted cost (INR)", "trastuzumab"] - v["discounted cost (INR)", "chemo"]
    dq = v["discounted QALYs", "trastuzumab"] - v["discounted QALYs", "chemo"]
    v["incremental cost (INR)", "trastuzumab"] = dc
    v["incremental QALYs", "trastuzumab"] = dq
    v["ICER (INR per QALY)", "trastuzumab"] = dc / dq
    v["incremental net monetary benefit", "trastuzumab"] = WTP * dq - dc
    v["life-years gained (undiscounted)", "trastuzumab"] = (v["life-years (undiscounted)", "trastuzumab"]
                                                           - v["life-years (undiscounted)", "chemo"])
    v["progression-free years gained", "trastuzumab"] = (v["years progression-free (undiscounted)", "trastuzumab"]
                                                        - v["years progression-free (undiscounted)", "chemo"])
    return v


def comparison(model=None) -> pd.DataFrame:
    """Model vs source: one row per printed number.

    Returns
    -------
    DataFrame
        ``quantity, strategy, published, model`` (rounded to the digits printed),
        ``model_unrounded``, ``match`` (the rounded model equals the printed value) and
        ``printed_in`` (the source's table).
    """
    values = model_values(model)
    rows = []
    for q, s, pub, dec, where in PUBLISHED:
        m = values[q, s]
        r = round(m, dec)
        rows.append({"quantity": q, "strategy": s, "published": pub, "model": r, "model_unrounded": m,
                     "match": abs(r - pub) < 0.5 * 10 ** -dec, "printed_in": where, "decimals": dec})
    return pd.DataFrame(rows)


def markdown(model=None) -> str:
    """The comparison as the markdown table of ``docs/trastuzumab_psm.md``."""
    df = comparison(model)
    lines = ["| quantity | strategy | published | model | match |", "| --- | --- | ---: | ---: | --- |"]
    for r in df.itertuples():
        fmt = f"{{:,.{r.decimals}f}}"
        lines.append(f"| {r.quantity} | {r.strategy} | {fmt.format(r.published)} | {fmt.format(r.model)} | "
                     f"{'yes' if r.match else 'NO'} |")
    return "\n".join(lines) + "\n"


def report_sections(model) -> list:
    """The report's section on the source: the run's base case against every printed result.

    Parameters
    ----------
    model : PartitionedSurvival
        The run's model (its base case); with other inputs than the source's, the
        differences show.

    Returns
    -------
    list of (title, text, [(caption, DataFrame)])
    """
    df = comparison(model)
    table = df[["quantity", "strategy", "published", "model", "match", "printed_in"]]
    agree = int(df["match"].sum())
    text = (f"{agree} of the {len(df)} results printed by the source (R for HTA Workshop 2026, Session 8) agree "
            f"to the printed digit with this run's base case (docs/trastuzumab_psm.md).")
    return [("The model against its source", text, [("Printed results, model rounded as printed", table)])]
