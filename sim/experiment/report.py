"""A self-contained HTML report of an experiment run.

One file, no network: CSS inline, figures embedded as base64 ``data:`` URIs, no
external URL. A tiny inline script marks on ``<body>`` whether every image loaded
(``data-images="ok"``, ``data-images-loaded``, ``data-images-total``), which the
tests read from a headless browser's DOM.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

__all__ = ["render", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:70em;color:#222;
line-height:1.4;padding:0 1em}
h1{font-size:1.6em;border-bottom:2px solid #345}h2{font-size:1.25em;margin-top:1.8em;color:#345}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;vertical-align:top}
th{background:#eef2f5}td.text,th.text{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}
.small{font-size:.85em;color:#555}code{background:#f4f4f4;padding:0 .2em}
"""

_SCRIPT = """
(function(){
  var failed = 0;
  function mark(){
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; i++) {
      if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;
    }
    var b = document.body;
    b.setAttribute('data-images-total', String(imgs.length));
    b.setAttribute('data-images-loaded', String(ok));
    b.setAttribute('data-images-failed', String(failed));
    b.setAttribute('data-images', (ok === imgs.length && failed === 0) ? 'ok' : 'broken');
  }
  document.addEventListener('error', function(e){ if (e.target && e.target.tagName === 'IMG') failed++; }, true);
  window.addEventListener('load', mark);
})();
"""


def _table(df: pd.DataFrame, kinds: dict[str, str] | None = None) -> str:
    """An HTML table: headers as given (with their units), cells formatted by kind of column."""
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
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _sheet(sheets: dict, name: str, columns: int | None = None) -> str:
    sh = sheets[name]
    df = sh.table if columns is None else sh.table.iloc[:, :columns]
    return _table(df, dict(sh.kinds))


def _figure(folder: Path, name: str, caption: str) -> str:
    data = base64.b64encode((folder / "figures" / f"{name}.png").read_bytes()).decode("ascii")
    return (f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def render(folder: Path, loaded, run, manifest: dict) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    from sim.experiment.present import settings_rows, with_intervals
    from sim.experiment.workbook import workbook_sheets

    exp = loaded.experiment
    s = run.sections
    u = run.units
    esc = html.escape
    sheets = {sh.name: sh for sh in (getattr(run, "sheets", None) or workbook_sheets(run))}
    settings = settings_rows(run) + [
        ("execution", ", ".join(f"{k} {v}" for k, v in manifest["execution"].items() if v is not None))]
    parts = [f"<h1>{esc(exp.title)}</h1>",
             "<h2>Settings</h2>",
             _table(pd.DataFrame(settings, columns=["Setting", "Value"]), {"Setting": "text", "Value": "text"})]
    if "icer" in s:
        base = sheets["Base case"]
        keep = [c for c, orig in zip(base.table.columns, s["base_case"].columns, strict=True)
                if orig in ("strategy", "cost", "qaly", "ly", "cost_undisc", "qaly_undisc", "ly_undisc")]
        parts += ["<h2>Base case</h2>", _table(base.table[keep], dict(base.kinds)),
                  "<p class='small'>Discounted and undiscounted totals per person; every cost component is in "
                  "the workbook (sheet Base case) and <code>base_case.csv</code>.</p>",
                  f"<h2>ICER table ({esc((u.money + ' ' if u.money else '') + 'per ' + u.effect_one)})</h2>",
                  _sheet(sheets, "ICER table")]
    if "psa_summary" in s:
        summary = with_intervals(s["psa_summary"], u)
        parts += [f"<h2>Probabilistic sensitivity analysis ({s['n_draws']:,} draws)</h2>",
                  _table(summary, {c: "text" if c == "Strategy" else "number" for c in summary.columns}),
                  "<p class='small'>Means and 95 % percentile intervals per strategy.</p>",
                  "<h3>ICER table on expected values</h3>", _sheet(sheets, "PSA ICER table")]
        if "evpi" in s:
            parts.append(f"<p>Per-person EVPI at {esc(u.wtp(exp.wtp_threshold))}: "
                         f"<b>{esc(u.currency or '')} {s['evpi']:,.2f}</b>.</p>")
    if "evppi" in s:
        parts += ["<h2>EVPPI</h2>", _sheet(sheets, "EVPPI")]
    if "one_way" in s:
        sh = sheets["One-way"]
        t = s["one_way"]
        moves = ~(t["outcome_low"].eq(t["base"]) & t["outcome_high"].eq(t["base"])).to_numpy()
        still = ", ".join(t["parameter"][~moves])
        parts += ["<h2>One-way sensitivity analysis</h2>",
                  f"<p>Outcome: {esc(t.attrs.get('outcome', 'outcome'))}; each parameter over its range, the "
                  f"others at their base values.</p>", _table(sh.table[moves], dict(sh.kinds))]
        if still:
            parts.append(f"<p class='small'>{(~moves).sum()} parameters change nothing in this outcome and are "
                         f"left out (every row is in the workbook and <code>one_way.csv</code>): {esc(still)}.</p>")
    if "thresholds" in s:
        parts += ["<h2>Threshold analysis</h2>", _sheet(sheets, "Thresholds")]
    if "sweep" in s:
        parts += ["<h2>Sweep</h2>", _sheet(sheets, "Sweep summary")]
    if run.figures:
        parts.append("<h2>Figures</h2>")
        parts += [_figure(folder, name, caption) for name, caption in run.figures]
    ptab = loaded.table.to_frame()[["name", "value", "distribution", "args", "unit", "source"]]
    parts += ["<h2>Parameters and sources</h2>",
              _table(ptab, {c: "number" if c == "value" else "text" for c in ptab.columns})]
    ver = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
    inputs = "".join(f"<li><code>{esc(r['name'])}</code> sha256 {esc(r['sha256'])}</li>" for r in manifest["inputs"])
    parts += ["<h2>Reproducibility</h2>",
              f"<p>Seed {exp.seed}. Versions: {esc(ver)}.</p><ul class='small'>{inputs}</ul>",
              "<p class='small'>Repeat with <code>hta-sim run --repeat manifest.json</code>.</p>"]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(exp.title)}</title><style>{_CSS}</style><script>{_SCRIPT}</script></head>"
            f"<body>{''.join(parts)}</body></html>\n")


def write_report(folder: Path, loaded, run, manifest: dict) -> Path:
    """Write ``report.html`` into ``folder``.

    Settings, parameter table with sources, ICER table, figures, seed and versions;
    self-contained (no network).

    Parameters
    ----------
    folder : Path
        The run's (staging) folder, with its tables and figures.
    loaded : Loaded
        The loaded experiment.
    run : runner state
        The run's ``sections`` (tables and values shown) and ``figures`` (name, caption).
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
