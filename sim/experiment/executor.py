"""Where an experiment's tasks run: in this process, or on a Dask cluster (local or at an address).

:class:`Executor` maps a pure task over its arguments and gives the results back in
order, whatever the order in which they finish; the runner maps PSA chunks and sweep
scenarios with it (``docs/experiments.md``, *Execution*).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Self

from sim.errors import HtaError

__all__ = ["Executor"]


class Executor:
    """Runs tasks serially or on a Dask cluster; results come back keyed by task index.

    Parameters
    ----------
    mode : {"serial", "local", "scheduler"}
    workers : int
        Processes of a local cluster.
    address : str, optional
        Scheduler address (``"tcp://host:8786"``) for ``"scheduler"``.
    progress : bool
        Progress bars (tqdm) on stderr.
    client : dask.distributed.Client, optional
        Use this client (and leave it open).
    where : str
        Where the address was given (``FILE:LINE`` or ``--scheduler``), for error messages.

    Use it as a context manager: entering starts the local cluster or connects to the
    scheduler, leaving closes what it opened.
    """

    def __init__(self, mode: str = "serial", workers: int = 2, address: str | None = None,
                 progress: bool = False, client: Any = None, where: str = "--scheduler"):
        self.mode, self.workers, self.address, self.progress = mode, workers, address, progress
        self.where = where
        self.client, self._own = client, []
        if client is not None:
            self.mode = "client"

    def __enter__(self) -> Self:
        if self.client is None and self.mode != "serial":
            from dask.distributed import Client, LocalCluster

            try:
                if self.mode == "local":
                    cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
                    self._own.append(cluster)
                    self.client = Client(cluster)
                else:
                    self.client = Client(self.address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise HtaError(f"{self.where}: cannot connect to the Dask scheduler {self.address!r} ({exc}); "
                               f"check the address, or run with execution = \"local\"") from None
            self._own.insert(0, self.client)
        return self

    def __exit__(self, *exc) -> None:
        for obj in self._own:
            obj.close()
        self._own = []

    def describe(self) -> dict:
        """Where the tasks ran, for the manifest.

        Returns
        -------
        dict
            ``{"mode": "serial"}``, or ``mode``, ``workers`` and ``scheduler`` (None for a local cluster).
        """
        if self.client is None:
            return {"mode": "serial"}
        info = self.client.scheduler_info()
        return {"mode": self.mode, "workers": len(info.get("workers", {})),
                "scheduler": None if self.mode == "local" else info.get("address")}

    def map(self, func: Callable, args: Sequence[tuple], *, desc: str, unit: str,
            on_result: Callable[[int, Any], None] | None = None) -> list:
        """``[func(*a) for a in args]``, in order; ``on_result(i, result)`` as each finishes.

        Parameters
        ----------
        func : callable
            A pure task (on Dask it may run on any worker, and again if its worker is lost).
        args : sequence of tuple
            The arguments of each task.
        desc, unit : str
            Label and unit of the progress bar.
        on_result : callable, optional
            Called in this process with ``(index, result)`` as each task finishes.

        Returns
        -------
        list
            The results, in the order of ``args``.
        """
        from tqdm.auto import tqdm

        bar = tqdm(total=len(args), desc=desc, unit=unit, disable=not self.progress, file=sys.stderr)
        results: list = [None] * len(args)
        try:
            if self.client is None:
                for i, a in enumerate(args):
                    results[i] = func(*a)
                    if on_result:
                        on_result(i, results[i])
                    bar.update()
            else:
                from dask.distributed import as_completed

                futures = [self.client.submit(func, *a, pure=False) for a in args]
                index = {f.key: i for i, f in enumerate(futures)}
                for fut, res in as_completed(futures, with_results=True):
                    i = index[fut.key]
                    results[i] = res
                    if on_result:
                        on_result(i, res)
                    bar.update()
        finally:
            bar.close()
        return results

