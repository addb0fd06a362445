"""A self-contained HTML report of an experiment run.

One file, no network: CSS inline, figures embedded as base64 ``data:`` URIs, no
external URL. A tiny inline script marks on ``<body>`` whether every image loaded
(``data-images="ok"``, ``data-images-loaded``, ``data-images-total``), which the
tests read from a headless browser's DOM.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

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


def _table(df: pd.DataFrame, text_cols: tuple[str, ...] = ()) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            if pd.isna(v):
                return "-"
            return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:,.3f}" if abs(v) >= 1 or v == 0 else f"{v:.4g}"
        return "-" if v is None else html.escape(str(v))

    cols = list(df.columns)
    head = "".join(f"<th class='{'text' if c in text_cols else ''}'>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(cols, row, strict=True):
            text = not isinstance(v, (int, float)) or c in text_cols
            cells.append(f"<td class='{'text' if text else ''}'>{fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(folder: Path, name: str, caption: str) -> str:
    data = base64.b64encode((folder / "figures" / f"{name}.png").read_bytes()).decode("ascii")
    return (f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _shown_path(label: str, base: Path) -> str:
    """A parameter file's path as the report shows it: no absolute path of the machine.

    A ready model's table is shown from its ``cohorts/`` folder, another file relative to
    the experiment file's folder; a label that is not an absolute path stays as it is.
    """
    p = Path(label)
    if not p.is_absolute():
        return label
    if "cohorts" in p.parts:
        i = len(p.parts) - 1 - p.parts[::-1].index("cohorts")
        return "/".join(p.parts[i:])
    return os.path.relpath(p, base)


def render(folder: Path, loaded, run, manifest: dict) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    exp = loaded.experiment
    s = run.sections
    esc = html.escape
    settings = [
        ("experiment", exp.path.name), ("model", exp.model),
        ("parameter table", _shown_path(loaded.table.label, exp.path.parent)),
        ("seed", exp.seed), ("effect", loaded.effect),
        ("willingness to pay", (f"{exp.wtp[0]:,.0f} to {exp.wtp[-1]:,.0f} ({len(exp.wtp)} values); "
                               f"threshold {exp.wtp_threshold:,.0f}")),
        ("scenario overrides", ", ".join(f"{k} = {v:g}" for k, v in exp.scenario.items()) or "none"),
        ("PSA", f"{exp.psa.draws:,} draws, {exp.psa.method}" if exp.psa else "not run"),
        ("sweep", f"{len(exp.sweep)} scenarios" if exp.sweep else "not run"),
        ("execution", ", ".join(f"{k} {v}" for k, v in manifest["execution"].items() if v is not None)),
        ("model settings", (f"{run.model.n_cycles} cycles of {run.model.cycle_length:g} year(s); correction "
                           f"{run.model.correction!r}; discount costs {run.model.discount_costs}, outcomes "
                           f"{run.model.discount_outcomes}")),
    ]
    parts = [f"<h1>{esc(exp.title)}</h1>",
             "<h2>Settings</h2>",
             _table(pd.DataFrame(settings, columns=["setting", "value"]).astype(str), ("setting", "value"))]
    if "icer" in s:
        parts += ["<h2>Base case</h2>", _table(s["base_case"][["strategy", "cost", "qaly", "ly"]], ("strategy",)),
                  f"<h2>ICER table (effect: {esc(loaded.effect)})</h2>", _table(s["icer"], ("strategy", "status"))]
    if "psa_summary" in s:
        parts += [f"<h2>Probabilistic sensitivity analysis ({s['n_draws']:,} draws)</h2>",
                  _table(s["psa_summary"], ("strategy",)),
                  "<p class='small'>Means and 95 % percentile intervals per strategy.</p>",
                  "<h3>ICER table on expected values</h3>", _table(s["psa_icer"], ("strategy", "status"))]
        if "evpi" in s:
            parts.append(f"<p>Per-person EVPI at {exp.wtp_threshold:,.0f} per {esc(loaded.effect)}: "
                         f"<b>{s['evpi']:,.2f}</b>.</p>")
    if "evppi" in s:
        parts += ["<h2>EVPPI</h2>", _table(s["evppi"], ("parameters", "method"))]
    if "one_way" in s:
        parts += ["<h2>One-way sensitivity analysis</h2>", _table(s["one_way"], ("parameter",))]
    if "thresholds" in s:
        parts += ["<h2>Threshold analysis</h2>", _table(s["thresholds"], ("parameter", "strategy", "comparator"))]
    if "sweep" in s:
        parts += ["<h2>Sweep</h2>", _table(s["sweep"], ("name", "strategy"))]
    if run.figures:
        parts.append("<h2>Figures</h2>")
        parts += [_figure(folder, name, caption) for name, caption in run.figures]
    ptab = loaded.table.to_frame()[["name", "value", "distribution", "args", "unit", "source"]]
    parts += ["<h2>Parameters and sources</h2>", _table(ptab, ("name", "distribution", "args", "unit", "source"))]
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
