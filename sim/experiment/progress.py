"""Named stages of a run on stderr: what is being done now, and how long the previous stage took.

``hta-sim run`` prints one line as each stage starts (``[4/11] EVPPI: 5 parameter
groups, GAM regression``), so that no stage of a run is silent; the PSA and sweeps
also draw a progress bar of their tasks (:class:`~sim.experiment.executor.Executor`).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sim.experiment.workbook import WORKBOOK

__all__ = ["Stages", "plan"]


class Stages:
    """Prints each stage of a run as it starts, numbered ``[k/n]``, with the time the previous one took.

    Parameters
    ----------
    total : int
        The number of stages planned (a stage beyond it raises the count).
    enabled : bool
        Print at all (``--quiet`` turns it off).
    stream : file, optional
        Default ``sys.stderr``.
    """

    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None):
        self.total = max(int(total), 1)
        self.enabled = enabled
        self.stream = stream
        self.k = 0
        self.t0 = self.last = time.perf_counter()
        self.done: list[tuple[str, float]] = []
        self.current: str | None = None

    def _print(self, text: str) -> None:
        if self.enabled:
            out = self.stream or sys.stderr
            print(text, file=out, flush=True)

    def _close(self) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.done.append((self.current, now - self.last))
        self.last = now

    def __call__(self, name: str) -> None:
        """Start the stage ``name`` (ending the previous one)."""
        self._close()
        self.k += 1
        self.total = max(self.total, self.k)
        self.current = name
        prev = f"  (previous stage {self.done[-1][1]:.1f} s)" if self.done else ""
        self._print(f"hta-sim: [{self.k}/{self.total}] {name}{prev}")

    def finish(self) -> None:
        """End the last stage and print the total time."""
        self._close()
        self.current = None
        self._print(f"hta-sim: done: {self.k} stages in {time.perf_counter() - self.t0:.1f} s")


def plan(exp) -> list[str]:
    """The names of the stages of a run, in order (for the progress lines).

    Parameters
    ----------
    exp : Experiment
        The experiment file, as read.

    Returns
    -------
    list of str
    """
    names = ["base case: deterministic run and ICER table"] if exp.base_case else []
    if exp.psa:
        names += [f"PSA: sampling and model runs ({exp.psa.draws:,} draws)", "PSA: tables, CE plane and CEAC"]
    names += ["EVPI"] if exp.evpi else []
    names += [f"EVPPI ({len(exp.evppi.groups)} parameter groups)"] if exp.evppi else []
    names += ["one-way sensitivity analysis"] if exp.one_way else []
    names += ["two-way sensitivity analysis"] if exp.two_way else []
    names += [f"threshold analysis ({len(exp.thresholds)})"] if exp.thresholds else []
    names += [f"sweep ({len(exp.sweep)} scenarios)"] if exp.sweep else []
    return names + [f"workbook {WORKBOOK}", "report.html and manifest.json"]
