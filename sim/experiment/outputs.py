"""Files an experiment run writes: tables, figures, the manifest, and the output folder's safety.

A run writes into a staging folder ``.<name>.partial`` beside the output folder and
renames it to the output folder only at the end, so an interrupted run leaves
nothing that looks like a result. An output folder that holds a different run
(its manifest records other inputs) is refused unless ``overwrite``; one that holds
the run's inputs, or files hta-sim did not write (or changed since), is always
refused: the tool deletes only the files its manifest records. A lock file
``.<name>.lock`` beside the output folder keeps a second run out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from sim.errors import HtaError

__all__ = [
    "MANIFEST",
    "STAGING_MARK",
    "Lock",
    "OutputFolder",
    "inputs_record",
    "manifest_hash",
    "portable",
    "read_manifest",
    "sha256",
    "verify_outputs",
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


def manifest_hash(manifest: Mapping) -> str:
    """SHA-256 of a manifest's content without its own ``manifest_sha256`` key (detects an edited manifest)."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(folder: Path) -> dict | None:
    """The manifest of an output folder, or None when there is none (or it is not JSON)."""
    f = folder / MANIFEST
    if not f.is_file():
        return None
    try:
        m = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def verify_outputs(folder: Path, manifest: Mapping) -> tuple[list[str], list[str]]:
    """``(missing, changed)``: recorded result files absent from ``folder`` or whose SHA-256 differs."""
    missing, changed = [], []
    outputs = manifest.get("outputs")
    for rel, digest in (outputs.items() if isinstance(outputs, Mapping) else []):
        p = folder / rel
        if not p.is_file():
            missing.append(str(rel))
        elif sha256(p) != digest:
            changed.append(str(rel))
    return missing, changed


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


def _listing(names: list[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


class Lock:
    """An exclusive lock on an output folder (and its staging folder): the file ``.<name>.lock`` beside it.

    The file holds the holder's pid, host and start time. A lock whose holder is a
    process of this host that no longer exists is stale and taken over.

    Parameters
    ----------
    target : Path
        The output folder.
    where : str
        ``FILE:LINE`` for error messages.
    """

    def __init__(self, target: Path, where: str = ""):
        self.path = Path(target).parent / f".{Path(target).name}.lock"
        self.target = Path(target)
        self.where = where
        self.held = False

    def acquire(self) -> None:
        """Take the lock or raise :class:`HtaError` naming its holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"pid": os.getpid(), "host": platform.node(),
                             "started": datetime.now(UTC).isoformat(timespec="seconds")})
        for _attempt in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and self._stale(holder):
                    # take a stale lock over: move it aside under a unique name (atomic), then retry
                    aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}")
                    try:
                        os.replace(self.path, aside)
                        aside.unlink(missing_ok=True)
                    except FileNotFoundError:
                        pass
                    continue
                h = holder or {}
                raise HtaError(f"{self.where}: output folder {str(self.target)!r} is in use by another hta-sim run "
                               f"(pid {h.get('pid', '?')} on {h.get('host', '?')}, started {h.get('started', '?')}); "
                               f"wait for it to finish, or delete {str(self.path)!r} if that run is gone") from None
            with os.fdopen(fd, "w") as f:
                f.write(record + "\n")
            self.held = True
            return
        raise HtaError(f"{self.where}: could not lock output folder {str(self.target)!r} ({str(self.path)!r})")

    def _holder(self) -> dict | None:
        try:
            h = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return h if isinstance(h, dict) else None

    @staticmethod
    def _stale(holder: Mapping) -> bool:
        if holder.get("host") != platform.node() or not isinstance(holder.get("pid"), int):
            return False
        if holder["pid"] == os.getpid():
            return False
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False

    def release(self) -> None:
        """Remove the lock file (if this run holds it)."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


class OutputFolder:
    """The output folder of a run and its staging folder.

    Parameters
    ----------
    target : Path
        Where the results end up.
    inputs_hash : str
        Identifies the run's inputs (see :func:`inputs_record`).
    overwrite : bool
        Replace a folder that holds another run.
    where : str
        ``FILE:LINE`` of the ``output`` key, for error messages.
    inputs : iterable of Path
        The run's input files (experiment file, parameter table, ...): never inside the output folder.
    """

    def __init__(self, target: Path, inputs_hash: str, *, overwrite: bool = False, where: str = "",
                 inputs: Iterable[Path] = ()):
        self.target = Path(target)
        self.staging = self.target.parent / f".{self.target.name}.partial"
        self.inputs_hash = inputs_hash
        self.overwrite = overwrite
        self.where = where
        self.inputs = [Path(p) for p in inputs]
        self.recorded: dict[str, str] = {}

    def check(self) -> None:
        """Refuse a target that holds inputs, files hta-sim did not write, or (unless ``overwrite``) another run.

        Only files recorded in the folder's manifest, with their recorded SHA-256, are
        ever replaced; anything else in the folder is listed and the run refused.
        """
        t = self.target
        if t.exists() and not t.is_dir():
            raise HtaError(f"{self.where}: output {str(t)!r} is a file, not a folder; choose another output")
        if any(_inside(p, t) for p in self.inputs):
            held = [os.path.relpath(p.resolve(), t.resolve()) for p in self.inputs if _inside(p, t)]
            raise HtaError(f"{self.where}: output folder {str(t)!r} holds the experiment's inputs "
                           f"({_listing(held)}); choose another output (it is never overwritten)")
        if not t.is_dir() or not any(t.iterdir()):
            return
        m = read_manifest(t)
        files = _files(t)
        if m is None:
            raise HtaError(f"{self.where}: output folder {str(t)!r} holds files that are not an hta-sim run "
                           f"({_listing(files)}); choose another output or move them away")
        if m.get("manifest_sha256") != manifest_hash(m):
            raise HtaError(f"{self.where}: output folder {str(t)!r} holds a manifest.json that was edited (or "
                           f"predates its own checksum), so hta-sim cannot tell its files from yours; nothing is "
                           f"deleted: move the folder away or choose another output")
        outputs = m.get("outputs") if isinstance(m.get("outputs"), Mapping) else {}
        _missing, changed = verify_outputs(t, m)
        known = {MANIFEST, *outputs}
        foreign = [f for f in files if f not in known]
        if foreign or changed:
            what = []
            if foreign:
                what.append(f"files hta-sim did not write: {_listing(foreign)}")
            if changed:
                what.append(f"result files changed since the run: {_listing(changed)}")
            raise HtaError(f"{self.where}: output folder {str(t)!r} holds {'; '.join(what)}; they are never "
                           f"deleted: move them away or choose another output")
        if m.get("inputs_hash") != self.inputs_hash and not self.overwrite:
            raise HtaError(f"{self.where}: output folder {str(t)!r} holds another run (inputs differ: "
                           f"{m.get('experiment_name', '?')}, seed {m.get('seed', '?')}); choose another output "
                           f"or pass --overwrite")
        self.recorded = {k: v for k, v in outputs.items() if (t / k).is_file()}

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
        """Move the staging folder into place and return the target.

        A previous result is moved aside, then only its recorded files (unchanged since
        its run) and its manifest are deleted; a file that appeared meanwhile is kept
        in a folder ``.<name>.old-<pid>`` beside the target, named in a warning.
        """
        if self.target.is_dir() and any(self.target.iterdir()):
            self.check()  # files added while the run was running are refused, not deleted
        (self.staging / STAGING_MARK).unlink(missing_ok=True)
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
            os.replace(self.target, old)
        os.replace(self.staging, self.target)
        if old is not None:
            self._clear(old)
        return self.target

    def _clear(self, old: Path) -> None:
        import sys

        for rel, digest in self.recorded.items():
            p = old / rel
            if p.is_file() and sha256(p) == digest:
                p.unlink()
        (old / MANIFEST).unlink(missing_ok=True)
        for d in sorted((p for p in old.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        try:
            old.rmdir()
        except OSError:
            print(f"hta-sim: warning: files added to {str(self.target)!r} during the run are kept in "
                  f"{str(old)!r}", file=sys.stderr)


# ---------------------------------------------------------------------------- writers
def write_table(df: pd.DataFrame, folder: Path, name: str, formats: Iterable[str] = ("csv",),
                units=None) -> list[Path]:
    """Write ``df`` as ``name.<fmt>`` for each of ``csv``, ``parquet``, ``md``; returns the files.

    CSV and Parquet keep the library's column names and every digit; the Markdown table,
    for people, has headers with the ``units`` (a :class:`~sim.experiment.present.Units`)
    and numbers as the report shows them (money in whole units, effects to 3 decimals).
    """
    out = []
    for fmt in formats:
        p = folder / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(p, index=False, float_format="%.17g")
        elif fmt == "parquet":
            write_parquet_atomic(df, p)
        elif fmt == "md" and units is not None:
            from sim.experiment.present import with_intervals

            p.write_text(markdown(with_intervals(df, units, name)) + "\n")
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
    """A workbook with one sheet per item (order kept).

    Every string is stored as text: a value beginning with ``=`` (or ``+``, ``-``, ``@``)
    never becomes a formula.
    """
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name[:31], index=False)
        for ws in xw.book.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and cell.data_type != "s":
                        cell.data_type = "s"  # openpyxl makes "=..." a formula; keep it the text it is
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
