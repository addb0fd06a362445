"""Files an experiment run writes: tables, figures, the manifest, and the output folder's safety.

A run writes into a staging folder ``.<name>.partial`` beside the output folder and
renames it to the output folder only at the end, so an interrupted run leaves
nothing that looks like a result. An output folder that holds a different run
(its manifest records other inputs) is refused unless ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from sim.errors import HtaError

__all__ = [
    "MANIFEST",
    "STAGING_MARK",
    "OutputFolder",
    "inputs_record",
    "portable",
    "sha256",
    "versions",
    "write_excel",
    "write_parquet_atomic",
    "write_table",
]

#: The manifest's file name in the output folder.
MANIFEST = "manifest.json"
#: Top-level keys of an experiment file that cannot change a number of the run.
NUMBER_FREE = ("title", "output", "execution", "workers")
#: File that marks a staging folder as hta-sim's (with the inputs hash of its run).
STAGING_MARK = ".hta-sim-staging"


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def inputs_record(sources: Iterable[Path], base: Path, *, experiment: Path | None = None,
                  settings: Mapping | None = None) -> tuple[list[dict], str]:
    """``([{"path", "name", "sha256"}], inputs_hash)`` of the input files.

    ``path`` is relative to ``base`` (the output folder). ``inputs_hash`` identifies
    the run's numbers wherever the files live: the SHA-256 of the input files' names
    and hashes, except that the ``experiment`` file enters as its parsed ``settings``
    (the TOML document without the keys that cannot change a number: ``title``,
    ``output``, ``execution``, ``workers``), so moving a run to a cluster or renaming
    it keeps its identity.
    """
    files = [Path(p).resolve() for p in sources]
    rows = [{"path": os.path.relpath(p, base.resolve()), "name": p.name, "sha256": sha256(p)} for p in files]
    exp = Path(experiment).resolve() if experiment is not None else None
    ident: list = sorted((r["name"], r["sha256"]) for r, p in zip(rows, files, strict=True) if p != exp)
    if exp is not None:
        keep = {k: v for k, v in (settings or {}).items() if k not in NUMBER_FREE}
        ident.append(("experiment", json.dumps(keep, sort_keys=True, default=str)))
    h = hashlib.sha256(json.dumps(ident).encode()).hexdigest()
    return rows, h


def versions() -> dict[str, str]:
    """Versions of python, hta-sim and the numerical packages that decide the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    from sim._version import __version__

    out = {"python": platform.python_version(), "hta-sim": __version__}
    for pkg in ("numpy", "numba", "scipy", "pandas", "pyarrow", "dask", "distributed"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _read_manifest(folder: Path) -> dict | None:
    f = folder / MANIFEST
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except (OSError, ValueError):
        return None


class OutputFolder:
    """The output folder of a run and its staging folder.

    Parameters
    ----------
    target : Path
        Where the results end up.
    inputs_hash : str
        Identifies the run's inputs (see :func:`inputs_record`).
    overwrite : bool
        Replace a folder that holds another run (or other files).
    where : str
        ``FILE:LINE`` of the ``output`` key, for error messages.
    """

    def __init__(self, target: Path, inputs_hash: str, *, overwrite: bool = False, where: str = ""):
        self.target = Path(target)
        self.staging = self.target.parent / f".{self.target.name}.partial"
        self.inputs_hash = inputs_hash
        self.overwrite = overwrite
        self.where = where

    def check(self) -> None:
        """Refuse a target that holds another run or other files (unless ``overwrite``)."""
        t = self.target
        if t.exists() and not t.is_dir():
            raise HtaError(f"{self.where}: output {str(t)!r} is a file, not a folder; choose another output")
        if self.overwrite or not t.is_dir() or not any(t.iterdir()):
            return
        m = _read_manifest(t)
        if m is None:
            raise HtaError(f"{self.where}: output folder {str(t)!r} holds files that are not an hta-sim run; "
                           f"choose another output or pass --overwrite")
        if m.get("inputs_hash") != self.inputs_hash:
            raise HtaError(f"{self.where}: output folder {str(t)!r} holds another run (inputs differ: "
                           f"{m.get('experiment_name', '?')}, seed {m.get('seed', '?')}); choose another output "
                           f"or pass --overwrite")

    def open(self) -> Path:
        """Create (or resume) the staging folder; return it."""
        s = self.staging
        mark = s / STAGING_MARK
        if s.exists():
            same = mark.is_file() and mark.read_text().strip() == self.inputs_hash
            if not same:
                if not mark.is_file():
                    raise HtaError(f"{self.where}: {str(s)!r} exists and is not an hta-sim staging folder; "
                                   f"remove it")
                shutil.rmtree(s)  # an interrupted run of other inputs: nothing to resume
        s.mkdir(parents=True, exist_ok=True)
        mark.write_text(self.inputs_hash + "\n")
        return s

    def abandon(self, keep: bool) -> None:
        """After a failure: keep the staging folder (resumable work) or remove it."""
        if not keep and self.staging.is_dir():
            shutil.rmtree(self.staging, ignore_errors=True)

    def commit(self) -> Path:
        """Move the staging folder into place (replacing a previous result) and return the target."""
        (self.staging / STAGING_MARK).unlink(missing_ok=True)
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old"
            if old.exists():
                shutil.rmtree(old)
            os.replace(self.target, old)
        os.replace(self.staging, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target


# ---------------------------------------------------------------------------- writers
def write_table(df: pd.DataFrame, folder: Path, name: str, formats: Iterable[str] = ("csv",)) -> list[Path]:
    """Write ``df`` as ``name.<fmt>`` for each of ``csv``, ``parquet``, ``md``; returns the files."""
    out = []
    for fmt in formats:
        p = folder / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(p, index=False, float_format="%.17g")
        elif fmt == "parquet":
            write_parquet_atomic(df, p)
        elif fmt == "md":
            p.write_text(markdown(df) + "\n")
        else:
            raise AssertionError(fmt)
        out.append(p)
    return out


def markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table (numbers with thousands separators, 3 decimals; missing as '-')."""
    def cell(v) -> str:
        if isinstance(v, float):
            return "-" if pd.isna(v) else f"{v:,.3f}"
        return "-" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def write_excel(sheets: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """A workbook with one sheet per item (order kept)."""
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name[:31], index=False)
    return path


def portable(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a settings record that does not depend on where the run was made.

    A result's ``attrs["settings"]`` (written into Parquet files) names its parameter
    table by its path; left in, the same run made from another folder would write
    other bytes. The table's data are not copied.

    Parameters
    ----------
    df : DataFrame
        A result table (e.g. PSA outcomes).

    Returns
    -------
    DataFrame
        ``df`` without the key ``parameter_table`` in ``attrs["settings"]``.
    """
    settings = df.attrs.get("settings")
    if not isinstance(settings, Mapping) or "parameter_table" not in settings:
        return df
    out = df.copy(deep=False)
    out.attrs = {**df.attrs, "settings": {k: v for k, v in settings.items() if k != "parameter_table"}}
    return out


def write_parquet_atomic(df: pd.DataFrame, path: Path) -> Path:
    """Write a Parquet file through a temporary file and a rename (never a half-written file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path
