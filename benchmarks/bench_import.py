"""Benchmark: the cost of ``import sim`` and of ``hta-sim --help`` (``python -m sim --help``).

Each round runs a fresh interpreter: ``python -X importtime -c "import sim"`` (the
cumulative time of the ``sim`` entry) and ``python -m sim --help`` (wall time), and
lists the heavy modules that ``import sim`` loaded. Give ``--before DIR`` (a checkout
of an older commit) to measure both trees interleaved in the same process, so that
machine noise hits both alike. Nothing is asserted about time.

    python benchmarks/bench_import.py --rounds 7 [--before /path/to/old/checkout]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("numba", "scipy", "matplotlib", "dask", "distributed", "simpy", "pyarrow", "pandas", "numpy")


def measure(tree: Path) -> tuple[float, float]:
    """``(import sim in ms, python -m sim --help in s)`` in a fresh interpreter, from ``tree``."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sim"], cwd=tree,
                         capture_output=True, text=True, check=True)
    last = [line for line in out.stderr.splitlines() if line.rstrip().endswith("| sim")][-1]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", "--help"], cwd=tree, capture_output=True, check=True)
    return int(last.split("|")[1]) / 1000, time.perf_counter() - t0


def heavy_modules(tree: Path) -> list[str]:
    """The heavy modules a plain ``import sim`` loads."""
    code = f"import sys, sim; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--before", type=Path, help="an older checkout to measure alongside this one")
    args = ap.parse_args(argv)
    trees = {"this tree": Path(__file__).resolve().parents[1]}
    if args.before:
        trees = {"before": args.before.resolve(), "after": trees["this tree"]}
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(measure(tree))
    out = {}
    for name, tree in trees.items():
        imp = [r[0] for r in runs[name]]
        hlp = [r[1] for r in runs[name]]
        out[name] = {"import_ms": statistics.median(imp), "help_s": statistics.median(hlp),
                     "heavy": heavy_modules(tree)}
        print(f"{name:10s} import sim: median {statistics.median(imp):8.1f} ms (min {min(imp):.1f}); "
              f"python -m sim --help: median {statistics.median(hlp):.2f} s (min {min(hlp):.2f}); "
              f"heavy modules loaded by import sim: {', '.join(out[name]['heavy']) or 'none'}")
    return out


if __name__ == "__main__":
    main()
