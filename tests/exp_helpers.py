"""Small experiment files for the experiment, runner, sweep and Dask tests."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HIV_TABLE = ROOT / "experiments" / "hiv_chancellor_psa.csv"

SMALL = """\
title = "small HIV experiment"
model = "hiv_chancellor"
parameters = "hiv.csv"
seed = 11
output = "out"
effect = "ly"

[wtp]
min = 0
max = 20000
step = 5000
threshold = 10000

[psa]
draws = {draws}
chunk = {chunk}
"""

FULL_EXTRA = """
[one_way]
parameters = ["rr", "c_dm_C"]

[two_way]
x = "rr"
x_values = [0.4, 0.5, 0.6]
y = "c_lamivudine"
y_values = [1500, 2500]

[[threshold]]
parameter = "c_lamivudine"
lower = 0
upper = 20000

[evppi]
groups = ["rr", ["c_dm_A", "c_dm_B", "c_dm_C"]]
"""

SWEEP = """\
title = "small HIV sweep"
model = "hiv_chancellor"
parameters = "hiv.csv"
seed = 5
output = "out"
effect = "ly"

[base_case]
run = false

[sweep]
draws = {draws}

[sweep.grid]
c_lamivudine = [1500, 2500, 3500]
discount_costs = [0.035, 0.06]
"""


def write(folder: Path, text: str, name: str = "exp.toml") -> Path:
    """Write an experiment file (and the HIV parameter table as hiv.csv) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(HIV_TABLE, folder / "hiv.csv")
    path = folder / name
    path.write_text(text)
    return path


def small(folder: Path, draws: int = 200, chunk: int = 64, extra: str = "") -> Path:
    return write(folder, SMALL.format(draws=draws, chunk=chunk) + extra)


def sweep(folder: Path, draws: int = 300, extra: str = "") -> Path:
    return write(folder, SWEEP.format(draws=draws) + extra)


def result_like(folder: Path) -> list[Path]:
    """Files under ``folder`` other than the inputs (experiment file, hiv.csv) and hidden staging."""
    return [p for p in folder.rglob("*") if p.is_file() and p.name not in ("exp.toml", "hiv.csv")
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
