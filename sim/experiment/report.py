"""A self-contained HTML report of an experiment run, for an appraisal committee.

One file, no network: CSS inline, figures embedded as base64 PNG ``data:`` URIs, no
external URL. Rendered with Jinja2 from ``templates/report.html.j2``. The sections
(each an ``<section id=...>`` listed in the table of contents): the decision, the model
(diagram and settings), disaggregated base-case results, the Markov trace, validation
(when the ready model provides it), the PSA, value of information, deterministic
sensitivity analyses, extra sections of the run (:class:`Section`), the parameters with
their sources, and reproducibility. A tiny inline script marks on ``<body>`` whether
every image loaded (``data-images="ok"``, ``data-images-loaded``, ``data-images-total``),
which the tests read from a headless browser's DOM.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SECTION_IDS", "Section", "render", "write_report"]

#: Ids of the standard sections, in report order (those a run has are shown).
SECTION_IDS = ("decision", "model", "base-case", "trace", "validation", "psa", "voi", "dsa", "extra",
               "parameters", "settings", "reproducibility")

#: CSS pixels per PNG pixel of every figure (150 dpi shown at 112.5 CSS px per inch).
SCALE = 0.75

@dataclass
class Section:
    """An extra report section a run adds (e.g. a patient-level run's queue statistics).

    Append one to the runner's ``report_sections``; it is shown after the standard
    sections and listed in the table of contents.

    Attributes
    ----------
    title : str
        Heading.
    text : str
        A paragraph under the heading (plain text).
    tables : sequence of (str, DataFrame)
        ``(caption, table)``; headers as given (give them their units), numbers formatted.
    figures : sequence of (str, str)
        ``(name, caption)`` of figures saved by the run in ``figures/<name>.png``.
    id : str
        The section's HTML id (default: made from the title).
    kinds : dict
        ``{column: kind}`` of the tables' columns (:func:`sim.experiment.present.column_kinds`);
        default: numbers and text.
    early : bool
        Shown right after the base-case results (a patient-level run's queues, waits,
        subgroups), not after the sensitivity analyses.
    """

    title: str
    text: str = ""
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    figures: Sequence[tuple[str, str]] = ()
    id: str = ""
    kinds: dict = field(default_factory=dict)
    early: bool = False


@dataclass
class _Page:
    folder: Path
    sections: list = field(default_factory=list)
    figures: int = 0
    placed: set = field(default_factory=set)

    def add(self, sid: str, title: str, blocks: list) -> None:
        if blocks:
            self.sections.append({"id": sid, "title": title, "blocks": blocks})

    def figure(self, name: str, caption: str, fig=None) -> dict:
        """A figure block of ``figures/<name>.png`` of the run (``fig``: a Figure saved there first).

        Shown at :data:`SCALE` of its pixel size, the same for every figure, so that the
        figures' type (:data:`sim.plots.FONT_SIZES`) is one size on the page.
        """
        from sim.experiment.figures import png_size, save_figure

        if fig is not None:
            save_figure(fig, self.folder, name)
        data = (self.folder / "figures" / f"{name}.png").read_bytes()
        self.figures += 1
        self.placed.add(name)
        return {"kind": "figure", "name": name, "alt": caption.split(";")[0][:120], "caption": caption,
                "number": self.figures, "data": base64.b64encode(data).decode("ascii"),
                "width": round(png_size(data)[0] * SCALE)}


def _text(text: str, cls: str = "") -> dict:
    return {"kind": "text", "text": text, "cls": cls}


def _table(df: pd.DataFrame, kinds: dict[str, str] | None = None, caption: str = "",
           widths: dict[str, float] | None = None) -> dict:
    """A table block: headers as given, cells formatted by kind of column (``widths``: % of the page, fixed)."""
    from sim.experiment.present import format_cells

    kinds = kinds or {str(c): "number" if pd.api.types.is_numeric_dtype(df[c]) else "text" for c in df.columns}
    text = format_cells(df, kinds)
    cols = [str(c) for c in df.columns]
    align = {c: "text" if kinds.get(c, "text") == "text" else "" for c in cols}
    head = "".join(f"<th class='{align[c]}'>{html.escape(c)}</th>" for c in cols)
    body = []
    for row in text.itertuples(index=False):
        cells = "".join(f"<td class='{align[c]}'>{html.escape(str(v))}</td>" for c, v in zip(cols, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    cols_html, attr = "", ""
    if widths:
        cols_html = "<colgroup>" + "".join(f"<col style='width:{widths.get(c, 6)}%'>" for c in cols) + "</colgroup>"
        attr = " class='fixed'"
    return {"kind": "table", "caption": caption,
            "html": f"<table{attr}>{cols_html}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"}


def _sheet(sheets: dict, name: str, caption: str = "", rows=None) -> dict:
    sh = sheets[name]
    df = sh.table if rows is None else sh.table[rows]
    return _table(df, dict(sh.kinds), caption)


def _money(u, v: float) -> str:
    return f"{u.currency + ' ' if u.currency else ''}{v:,.0f}"


def _decision(run, sheets: dict) -> list:
    """The decision in words at the threshold, then the ICER table."""
    s, u, exp = run.sections, run.units, run.exp
    lam = float(exp.wtp_threshold)
    eff = run.ld.effect
    blocks: list = []
    if "base_case" in s:
        base = s["base_case"].set_index("strategy")
        nmb = lam * base[eff] - base["cost"]
        order = nmb.sort_values(ascending=False, kind="stable")
        best, second = order.index[0], (order.index[1] if len(order) > 1 else None)
        words = [f"At {u.wtp(lam)}, <b>{html.escape(str(best))}</b> is cost-effective"]
        icer = s["icer"].set_index("strategy")
        if second is not None:
            d_c = base.loc[best, "cost"] - base.loc[second, "cost"]
            d_e = base.loc[best, eff] - base.loc[second, eff]
            if "icer" in icer.columns and np.isfinite(icer.loc[best, "icer"]):
                words.append(f": ICER {_money(u, icer.loc[best, 'icer'])} per {u.effect_one} "
                             f"(incremental cost {_money(u, d_c)}, {d_e:,.3f} {u.effect_unit} per person)")
            elif d_c <= 0 <= d_e:
                words.append(f": it dominates {html.escape(str(second))} (costs {_money(u, -d_c)} less, "
                             f"{d_e:,.3f} {u.effect_unit} more)")
            else:
                words.append(f" (the more effective {html.escape(str(second))} costs more per {u.effect_one} "
                             f"than the threshold: ICER {_money(u, d_c / d_e)})" if d_e < 0 else "")
            words.append(f"; incremental net monetary benefit {_money(u, nmb[best] - nmb[second])} per person "
                         f"vs {html.escape(str(second))}")
        po = s.get("psa_outcomes")
        if po is not None:
            wide = (lam * po.pivot_table(index="draw", columns="strategy", values=eff, observed=True)
                    - po.pivot_table(index="draw", columns="strategy", values="cost", observed=True))
            prob = float((wide.idxmax(axis=1) == best).mean())
            words.append(f"; probability cost-effective {prob * 100:.1f} % ({s['n_draws']:,} PSA draws)")
        if "evpi" in s:
            words.append(f"; expected value of perfect information {_money(u, s['evpi'])} per person")
        blocks.append({"kind": "html", "html": f"<p class='decision'>{''.join(words)}.</p>"})
        n = s.get("patients_per_draw")
        how = f"{n:,} simulated patients at the parameters' base values" if n else "parameters at their base values"
        blocks.append(_text(f"Base case ({how}); costs and {u.effect_unit} discounted, per person.", "small"))
        per = f"{u.money + ' ' if u.money else ''}per {u.effect_one}"
        blocks.append(_sheet(sheets, "ICER table", f"ICER table ({per})"))
    return blocks


def _model(run, page: _Page) -> list:
    from sim.experiment.figures import model_diagram
    from sim.experiment.present import settings_words

    m = run.model
    if not all(hasattr(m, a) for a in ("states", "transitions", "strategy_transitions", "dead", "tunnels")):
        return [_text(t) for t in getattr(run, "model_text", ()) if t]  # a patient-level model: its words
    words = settings_words(m)
    blocks = [_text(m.description) if m.description else None,
              _text(f"States: {', '.join(map(str, m.states))}; strategies: {', '.join(map(str, m.strategies))}. "
                    f"{words[:1].upper()}{words[1:]}.")]
    blocks.append(page.figure("model_diagram", "Model structure: states and the transitions between them (any "
                              "strategy; staying in a state not drawn); dead states filled, tunnel states dashed",
                              model_diagram(m)))
    return [b for b in blocks if b]


def _base_case(run, sheets: dict) -> list:
    u = run.units
    base = sheets["Base case"]
    cols = list(run.sections["base_case"].columns)
    main = [c for c, o in zip(base.table.columns, cols, strict=True)
            if o in ("strategy", "cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc")]
    comp = [c for c, o in zip(base.table.columns, cols, strict=True)
            if o == "strategy" or (o.startswith("cost_") and o not in ("cost_undisc", "cost_se"))]
    blocks = [_table(base.table[main], dict(base.kinds), f"Totals per person, discounted and undiscounted "
                                                           f"({u.money or 'no currency declared'})")]
    if len(comp) > 1:
        blocks.append(_table(base.table[comp], dict(base.kinds), "Cost components per person (discounted and "
                                                                 "undiscounted)"))
    return blocks


def _trace(run, page: _Page) -> list:
    from sim.experiment.figures import trace_figure

    tr = run.sections.get("trace")
    if tr is None:
        return []
    return [page.figure("trace", "Markov trace of the base case: share of the cohort in each state over time, "
                        "per strategy", trace_figure(tr, run.model))]


def _validation(run, page: _Page) -> list:
    from sim.experiment.present import module_of
    from sim.experiment.registry import report_sections

    if getattr(run, "model", None) is None:
        return []  # a patient-level run: its own sections
    try:
        module = module_of(run.exp.model)
    except Exception:  # noqa: BLE001 - a builder's module that cannot be found again: no validation section
        return []
    blocks: list = []
    for title, text, tables, *figures in report_sections(module, run.model):
        blocks.append({"kind": "html", "html": f"<h3>{html.escape(str(title))}</h3>"})
        if text:
            blocks.append(_text(text))
        blocks += [_table(df, None, cap) for cap, df in tables]
        blocks += [page.figure(name, cap, data) for name, cap, data in (figures[0] if figures else ())]
    return blocks


def _psa(run, sheets: dict, page: _Page) -> list:
    from sim.experiment.present import with_intervals

    s, u = run.sections, run.units
    if "psa_summary" not in s:
        return []
    summary = with_intervals(s["psa_summary"], u)
    inner = s.get("patients_per_draw")
    inner = f", each simulating {inner:,} patients (common random numbers in every strategy)" if inner else ""
    blocks = [_text(f"{s['n_draws']:,} draws of every uncertain parameter from its distribution (see Parameters)"
                    f"{inner}; means and 95 % percentile intervals per person."),
              _table(summary, {c: "text" if c == "Strategy" else "number" for c in summary.columns}, "PSA summary"),
              _sheet(sheets, "PSA ICER table", "Incremental analysis on the PSA means")]
    for name, caption in run.figures:
        if name in ("ce_plane", "ceac"):
            blocks.append(page.figure(name, caption))
    return blocks


def _voi(run, sheets: dict, page: _Page) -> list:
    from sim.experiment.figures import evppi_curves
    from sim.experiment.workbook import group_label

    s, u, exp = run.sections, run.units, run.exp
    blocks: list = []
    pop = _population(exp)
    if "evpi" in s:
        if pop is None:
            words = ("The experiment gives no population ([evpi] incidence and years), so values are per person: "
                     "multiply by the number of people the decision concerns over its lifetime (discounted) for "
                     "the population value.")
        else:
            (inc, years, rate), factor = pop
            words = (f"Population EVPI: <b>{_money(u, factor * s['evpi'])}</b> ({inc:,.0f} people a year over "
                     f"{years} years, discounted at {rate * 100:g} % a year: {factor:,.0f} people).")
        blocks.append({"kind": "html", "html": f"<p>Expected value of perfect information at "
                                               f"{u.wtp(exp.wtp_threshold)}: {_money(u, s['evpi'])} per person. "
                                               f"{words}</p>"})
        blocks += [page.figure(n, c) for n, c in run.figures if n == "evpi"]
    if "evppi" in s:
        t = s["evppi"].copy()
        t["low"] = np.maximum(t["evppi"] - 1.96 * t["se"], 0.0)
        t["high"] = t["evppi"] + 1.96 * t["se"]
        labels = {g: group_label(run.ld.table, g) for g in t["parameters"]}
        t.insert(0, "description", t["parameters"].map(labels))
        t = t[["description", "parameters", "evppi", "low", "high", "se", "method"]]
        t.columns = ["Parameters", "Names", u.cost("EVPPI per person"), u.cost("95 % low"), u.cost("95 % high"),
                     u.cost("Standard error"), "Method"]
        if pop is not None:
            t.insert(6, u.cost("Population EVPPI"), s["evppi"]["evppi"].to_numpy() * pop[1])
        kinds = {c: "text" if c in ("Parameters", "Names", "Method") else "money" if "Population" in c
                 else "money_small" for c in t.columns}
        blocks += [_text(f"Expected value of partial perfect information per parameter (group) at "
                         f"{u.wtp(exp.wtp_threshold)}; intervals from the regression's standard error, cut at "
                         f"zero (an EVPPI cannot be negative)."),
                   _table(t, kinds, "EVPPI at the threshold")]
        blocks += [page.figure(n, c) for n, c in run.figures if n == "evppi"]
        curve = s.get("evppi_curve")
        if curve is not None:
            ws = sorted(set(curve["wtp"]))
            points = (f"{len(ws)} values from {ws[0]:,.0f} to {ws[-1]:,.0f}, denser where the EVPI is high "
                      f"(evppi_curve.csv)") if len(ws) > 6 else ", ".join(f"{w:,.0f}" for w in ws)
            fig = evppi_curves(curve, threshold=exp.wtp_threshold, currency=u.money, effect_one=u.effect_one,
                               labels={g: group_label(run.ld.table, g) for g in curve["parameters"]})
            blocks.append(page.figure("evppi_curve", f"Per-person EVPPI over willingness to pay, computed at "
                                      f"{points} (each point one regression per group; bands: one standard error, "
                                      f"cut at zero; dotted line: threshold {u.wtp(exp.wtp_threshold)})", fig))
    return blocks


def _population(exp):
    """``((incidence, years, discount), people)`` of the experiment's ``[evpi]`` population, or None."""
    from sim.decision.voi import population_factor

    p = getattr(exp, "evpi_population", None)
    return None if p is None else (p, population_factor(*p))


def _dsa(run, sheets: dict, page: _Page) -> list:
    s = run.sections
    blocks: list = []
    if "one_way" in s:
        t = s["one_way"]
        moves = ~(t["outcome_low"].eq(t["base"]) & t["outcome_high"].eq(t["base"])).to_numpy()
        blocks.append({"kind": "html", "html": "<h3>One-way sensitivity analysis</h3>"})
        blocks.append(_text(f"Outcome: {t.attrs.get('outcome', 'outcome')}; each parameter over its range, the "
                            f"others at their base values."))
        if s.get("one_way_note"):  # a patient-level model's: its Monte Carlo noise
            blocks.append(_text(s["one_way_note"], "warning"))
        blocks += [page.figure(n, c) for n, c in run.figures if n == "tornado"]
        blocks.append(_sheet(sheets, "One-way", "", moves))
        if (~moves).any():
            blocks.append(_text(f"{int((~moves).sum())} parameters change nothing in this outcome and are left out "
                                f"(every row is in the workbook and one_way.csv): "
                                f"{', '.join(t['parameter'][~moves])}.", "small"))
    if "two_way" in s:
        blocks.append({"kind": "html", "html": "<h3>Two-way sensitivity analysis</h3>"})
        blocks += [page.figure(n, c) for n, c in run.figures if n == "two_way"]
        g = s["two_way"]
        if "optimal" in g.columns:
            best = g.groupby("optimal", observed=True).size()
            blocks.append(_text("Optimal strategy over the grid: " + "; ".join(
                f"{k} in {v} of {len(g)} combinations" for k, v in best.items()) + " (table: workbook, two_way.csv)."))
    if "thresholds" in s:
        blocks.append({"kind": "html", "html": "<h3>Threshold analysis</h3>"})
        blocks.append(_text("The value of each parameter at which the decision changes at the threshold "
                            "(the others at their base values)."))
        blocks.append(_sheet(sheets, "Thresholds"))
    if "sweep" in s:
        blocks.append({"kind": "html", "html": "<h3>Sweep</h3>"})
        blocks.append(_sheet(sheets, "Sweep summary"))
        blocks += [page.figure(n, c) for n, c in run.figures if n.startswith("sweep")]
    return blocks


def _slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    return "-".join(p for p in out.split("-") if p) or "section"


def _extra(run, page: _Page, early: bool) -> None:
    """The run's own sections (:class:`Section`) shown early or late; late, then any figure no section showed."""
    for sec in getattr(run, "report_sections", None) or []:
        if bool(getattr(sec, "early", False)) != early:
            continue
        blocks = [_text(sec.text)] if sec.text else []
        for cap, df in sec.tables:
            kinds = {str(c): k for c, k in (sec.kinds or {}).items() if str(c) in map(str, df.columns)}
            blocks.append(_table(df, kinds if len(kinds) == len(df.columns) else None, cap))
        blocks += [page.figure(n, c) for n, c in sec.figures]
        page.add(sec.id or _slug(sec.title), sec.title, blocks)
    if not early:
        page.add("other-figures", "Other figures", [page.figure(n, c) for n, c in run.figures if n not in page.placed])


def _parameters(run) -> list:
    from sim.experiment.present import shown_path
    from sim.experiment.workbook import parameter_records

    frame = parameter_records(run.ld.table)  # with the verification status, when the table's file records it
    cols = [c for c in ("name", "description", "value", "unit", "distribution", "args", "source", "verified", "note")
            if c in frame]
    ptab = frame[cols].copy()
    ptab.columns = [c.capitalize() for c in ptab.columns]
    return [_text(f"{len(ptab)} parameters; the distribution's arguments as given in the table "
                  f"({shown_path(run.ld.table.label, run.exp.path.parent)})."),
            _table(ptab, {c: "number" if c == "Value" else "text" for c in ptab.columns},
                   widths={"Name": 9, "Description": 16, "Value": 7, "Unit": 7, "Distribution": 9, "Args": 12,
                           "Source": 23, "Verified": 7, "Note": 10})]


def _reproducibility(run, manifest: dict, folder: Path) -> list:
    from sim.experiment.outputs import sha256

    esc = html.escape
    ver = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
    cmd = [Path(c).name if i == 0 else c for i, c in enumerate(manifest["command"])]  # no machine path
    inputs = pd.DataFrame([(r["name"], r["sha256"]) for r in manifest["inputs"]], columns=["Input", "SHA-256"])
    outs = pd.DataFrame([(p.relative_to(folder).as_posix(), sha256(p)) for p in sorted(folder.rglob("*"))
                         if p.is_file() and not p.name.startswith(".") and p.name not in ("report.html",
                                                                                           "manifest.json")],
                        columns=["Result file", "SHA-256"])
    text = {"Input": "text", "SHA-256": "text", "Result file": "text"}
    return [{"kind": "html", "html": f"<p>Seed {run.exp.seed}; inputs hash <code>"
                                     f"{esc(manifest['inputs_hash'])}</code>. Versions: {esc(ver)}. Command: "
                                     f"<code>{esc(' '.join(cmd))}</code>.</p>"},
            _table(inputs, text, "Inputs"), _table(outs, text, "Result files (as in manifest.json)"),
            _text("Repeat with: hta-sim run --repeat manifest.json (checks every hash, reruns into a fresh folder "
                  "and compares the numbers).", "small")]


def render(folder: Path, loaded, run, manifest: dict) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    import jinja2

    from sim._version import __version__
    from sim.experiment.present import settings_rows
    from sim.experiment.workbook import workbook_sheets

    s = run.sections
    sheets = {sh.name: sh for sh in (getattr(run, "sheets", None) or workbook_sheets(run))}
    page = _Page(Path(folder))
    if "icer" in s:
        page.add("decision", "Decision", _decision(run, sheets))
    page.add("model", "Model", _model(run, page))
    if "base_case" in s:
        page.add("base-case", "Base-case results, disaggregated", _base_case(run, sheets))
    _extra(run, page, early=True)
    page.add("trace", "Markov trace", _trace(run, page))
    page.add("validation", "Validation", _validation(run, page))
    page.add("psa", "Probabilistic sensitivity analysis", _psa(run, sheets, page))
    page.add("voi", "Value of information", _voi(run, sheets, page))
    dsa = any(k in s for k in ("one_way", "two_way", "thresholds"))
    page.add("dsa", "Deterministic sensitivity analyses" if dsa else "Sweep", _dsa(run, sheets, page))
    _extra(run, page, early=False)
    page.add("parameters", "Parameters and sources", _parameters(run))
    settings = settings_rows(run) + [
        ("execution", ", ".join(f"{k} {v}" for k, v in manifest["execution"].items() if v is not None))]
    page.add("settings", "Settings", [_table(pd.DataFrame(settings, columns=["Setting", "Value"]),
                                             {"Setting": "text", "Value": "text"})])
    page.add("reproducibility", "Reproducibility", _reproducibility(run, manifest, Path(folder)))
    env = jinja2.Environment(loader=jinja2.PackageLoader("sim.experiment", "templates"),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True))
    ctx: dict[str, Any] = {"title": loaded.experiment.title, "version": __version__,
                           "experiment": manifest.get("experiment_name", ""), "model": manifest.get("model", ""),
                           "finished": manifest.get("finished", ""), "sections": page.sections}
    return env.get_template("report.html.j2").render(**ctx)


def write_report(folder: Path, loaded, run, manifest: dict) -> Path:
    """Write ``report.html`` into ``folder``.

    The decision, model diagram, disaggregated results, trace, validation, PSA, value
    of information, sensitivity analyses, the run's extra :class:`Section` s, parameters
    with sources, settings and reproducibility; self-contained (no network).

    Parameters
    ----------
    folder : Path
        The run's (staging) folder, with its tables and figures.
    loaded : Loaded
        The loaded experiment.
    run : runner state
        The run's ``sections`` (tables and values shown), ``figures`` (name, caption) and
        ``report_sections`` (extra :class:`Section` s).
    manifest : dict
        The run's manifest (inputs, versions, execution).

    Returns
    -------
    Path
        The report file.
    """
    path = Path(folder) / "report.html"
    path.write_text(render(Path(folder), loaded, run, manifest), encoding="utf-8")
    return path
