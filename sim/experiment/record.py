"""Repeating a recorded run: the record verified against its manifest, a rerun into a fresh folder, the comparison.

The recorded folder is never modified: its result files are checked against the
manifest's SHA-256 (and the manifest against its own) before anything runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import HtaError
from sim.experiment.outputs import MANIFEST, manifest_hash, sha256, verify_outputs
from sim.experiment.workbook import WORKBOOK

if TYPE_CHECKING:
    from sim.experiment.runner import RunResult

__all__ = ["RecordChanged", "repeat"]


class RecordChanged(HtaError):
    """A recorded run that :func:`repeat` cannot vouch for: result files missing or changed, or an edited manifest."""


def _fresh_sibling(folder: Path) -> Path:
    n = 1
    while (folder.parent / f"{folder.name}.repeat-{n}").exists():
        n += 1
    return folder.parent / f"{folder.name}.repeat-{n}"


def _verify_record(mpath: Path, m: dict) -> None:
    """Raise :class:`RecordChanged` naming every recorded result file missing or changed, or an edited manifest."""
    if m.get("manifest_sha256") != manifest_hash(m):
        raise RecordChanged(f"{mpath}:1: the manifest was edited since the run (its own SHA-256 differs"
                            f"{'' if 'manifest_sha256' in m else ': none recorded'}); the recorded run cannot be "
                            f"verified")
    missing, changed = verify_outputs(mpath.parent, m)
    if missing or changed:
        parts = ([f"missing: {', '.join(missing)}"] if missing else []) + \
                ([f"changed (SHA-256 differs): {', '.join(changed)}"] if changed else [])
        raise RecordChanged(f"{mpath}:1: the recorded run's files differ from its manifest ({'; '.join(parts)}); "
                            f"nothing was rerun")


def repeat(manifest_path: str | os.PathLike, *, output: str | os.PathLike | None = None,
           **kw) -> tuple[RunResult, list[str]]:
    """Repeat a recorded run: verify it, rerun into a fresh folder, compare the outputs.

    The recorded result files are first checked against the manifest's SHA-256 (and the
    manifest against its own), then the inputs; the recorded folder is never modified.

    Parameters
    ----------
    manifest_path : str or path-like
        A run's ``manifest.json`` (or its output folder).
    output : path, optional
        Folder of the rerun (default: a fresh sibling ``<folder>.repeat-<n>``); never the recorded folder.
    **kw
        Passed to :func:`run_experiment`.

    Returns
    -------
    (RunResult, list of str)
        The new run and the result files whose bytes differ from the recorded ones
        (figures, the report and the workbook ``results.xlsx``, which carry time stamps, excepted;
        ``manifest: <key>`` when the rerun's seed, model or inputs differ; empty when
        the numbers are identical).

    Raises
    ------
    RecordChanged
        A recorded result file is missing or changed, or the manifest was edited.
    """
    mpath = Path(manifest_path)
    if mpath.is_dir():
        mpath = mpath / MANIFEST
    if not mpath.is_file():
        raise HtaError(f"{mpath}:1: manifest not found; give the manifest.json of a run")
    try:
        m = json.loads(mpath.read_text())
        rel, inputs = m["experiment"], m["inputs"]
        paths = [(row["name"], row["path"], row["sha256"]) for row in inputs]
    except (ValueError, KeyError, TypeError) as exc:
        raise HtaError(f"{mpath}:1: not an hta-sim manifest ({exc})") from None
    base = mpath.parent
    _verify_record(mpath, m)
    for name, path, digest in paths:
        p = base / path
        if not p.is_file():
            raise HtaError(f"{mpath}:1: input {name!r} not found at {str(p)!r}; the run cannot be repeated")
        if sha256(p) != digest:
            raise HtaError(f"{mpath}:1: input {str(p)!r} changed since the run (SHA-256 differs); restore it "
                           f"to repeat the run with identical numbers")
    target = Path(output) if output is not None else _fresh_sibling(base)
    if target.resolve() == base.resolve():
        raise HtaError(f"{mpath}:1: --output is the recorded run's folder; a repeat never modifies the recorded "
                       f"run: choose another folder")
    from sim.experiment.runner import run_experiment  # the runner imports this module

    res = run_experiment(base / rel, output=target, **kw)
    old = m.get("outputs", {})
    new = res.manifest["outputs"]
    skip = ("report.html", WORKBOOK)
    numeric = sorted({k for k in (*old, *new) if not k.startswith("figures/") and k not in skip})
    differ = [k for k in numeric if new.get(k) != old.get(k)]
    differ += [f"manifest: {k}" for k in ("model", "seed", "inputs_hash") if res.manifest.get(k) != m.get(k)]
    return res, differ
