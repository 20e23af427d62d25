"""Where cells run: a local pool of spawned processes, or a Dask distributed cluster.

Both offer the same three calls (``submit``, ``wait``, ``close``) over futures whose ``result()``
is ``worker.run_cell``'s dict; the runner keeps at most ``slots`` cells in flight, so ``running``
in the store means running now, and a crashed worker costs only the cells it held.

Processes are spawned, never forked: a parent that already imported JAX or torch can deadlock a
forked child (the same reason ``specrec_pymc`` runs its chains in-process then).
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_local
from typing import Any, Protocol

from specrec.errors import UsageError
from specrec.registry import install_hint
from specrec.study import worker

SCHEDULER_ENV = "SPECREC_DASK_SCHEDULER"


class Executor(Protocol):
    slots: int  # cells in flight at once
    where: str  # said in the progress output and recorded per cell

    def submit(self, task: dict) -> Any: ...
    def wait(self, futures: list, timeout: float | None = None) -> set: ...
    def recover(self) -> None: ...
    def close(self) -> None: ...


def default_workers() -> int:
    """Two processes on a 2-core machine, at most one per core."""
    return max(1, min(2, os.cpu_count() or 1))


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def stamp_arviz_day() -> None:
    """Import ArviZ once in this process before spawning processes that all import it.

    ArviZ 0.23 writes a once-a-day stamp file on import (``daily_warning.tmp``, then a rename in
    the user's cache folder). Two processes importing it at the same moment race on that one
    temporary name, and the loser dies with ``FileNotFoundError`` on the rename: a study's first
    cells of the day crashed that way. One import here writes today's stamp first, so the workers
    only read it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz  # noqa: F401


def stamp_before_cells(client: Any = None, threads: int = 1) -> None:
    """Write ArviZ's daily stamp where the cells' processes read it, before any cell runs.

    Both executors start here.  First this process: a local pool's workers, and a Dask cluster
    on this machine, share its cache folder.  Then, given a Dask ``client``, one worker of each
    host in turn: Dask's workers are started elsewhere and several on one host (or hosts sharing
    a home folder) would race again on their first cells.  A worker that cannot do it is passed
    over; its cells will say why.
    """
    stamp_arviz_day()
    if client is None:
        return
    for address in one_worker_per_host(client.scheduler_info()):
        try:
            client.run(worker.stamp_on_worker, threads, workers=[address])
        except Exception:  # lost meanwhile, or no specrec there: the cells report it
            continue


def one_worker_per_host(info: dict) -> list[str]:
    """The first worker address of each host in a Dask ``scheduler_info()``."""
    first: dict[str, str] = {}
    for address, w in sorted(info.get("workers", {}).items()):
        first.setdefault(w.get("host", address), address)
    return list(first.values())


class LocalExecutor:
    """A spawned process pool, threads per process capped so the cores are not oversubscribed."""

    def __init__(self, workers: int | None = None):
        self.slots = workers or default_workers()
        self.threads = threads_per_worker(self.slots)
        self.where = f"local pool, {self.slots} process(es) x {self.threads} thread(s)"
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        stamp_before_cells()
        return ProcessPoolExecutor(
            max_workers=self.slots,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker.start_local_worker,
            initargs=(self.threads, os.getpid()),
        )

    def submit(self, task: dict) -> Any:
        return self._pool.submit(worker.run_cell, {**task, "threads": self.threads})

    def wait(self, futures: list, timeout: float | None = None) -> set:
        done, _ = wait_local(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return done

    def recover(self) -> None:
        """After a worker process died the pool is broken: start a fresh one."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        # after the last cell nothing is left; after Ctrl-C a running cell may still finish
        # and be adopted by the next run (see ``runner``)
        self._pool.shutdown(wait=False, cancel_futures=True)


class DaskExecutor:
    """Cells as tasks on a Dask distributed cluster (``--scheduler`` or $SPECREC_DASK_SCHEDULER).

    Workers need specrec and the backends installed and the study's spec, data and run folders
    on a path they can read and write (a shared disk); metrics come back with the task result.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            from distributed import Client
        except ImportError:
            raise UsageError(
                f"--executor dask needs dask.distributed: {install_hint('study')}"
            ) from None
        address = scheduler or os.environ.get(SCHEDULER_ENV)
        if not address:
            raise UsageError(
                f"--executor dask needs a scheduler address: --scheduler tcp://HOST:8786 "
                f"or ${SCHEDULER_ENV}"
            )
        try:
            self.client = Client(address, timeout="20s")
        except OSError as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        info = self.client.scheduler_info()
        n_threads = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
        self.slots = workers or max(1, n_threads)
        self.threads = 1
        self.where = f"Dask scheduler {address} ({len(info.get('workers', {}))} workers)"
        stamp_before_cells(self.client, self.threads)

    def submit(self, task: dict) -> Any:
        # pure=False: a cell may legitimately run again after a crash; never reuse a result
        return self.client.submit(worker.run_cell, {**task, "threads": self.threads}, pure=False)

    def wait(self, futures: list, timeout: float | None = None) -> set:
        from distributed import wait

        try:
            done, _ = wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:  # distributed raises where concurrent.futures returns nothing
            return set()
        return set(done)

    def recover(self) -> None:
        """Dask reschedules work of lost workers itself."""

    def close(self) -> None:
        self.client.close()


def make_executor(kind: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise UsageError(f"unknown executor {kind!r}; expected local or dask")
