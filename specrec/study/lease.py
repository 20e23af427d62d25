"""A cell's lease: a file in the cell's run folder that says a live worker is fitting it.

Why: a study runner can die (``kill -9``, a lost SSH session) while its workers go on.  Local
pool workers die with it (``specrec.lifetime.die_with_parent``), but a task already running on a
Dask worker runs to its end, and a rerun that fitted the same cell again would do the work twice and
leave two run directories for one cell.  The worker holding a cell keeps ``.lease`` in the
cell's folder (on the shared disk the runs already need) fresh with a heartbeat; a rerun does not
start a cell whose lease is live, waits for it, and adopts the run it leaves (``runner``).

A lease is live while its file was touched within ``STALE_S`` seconds and, when it was written
on this host, its process still exists (so a local worker killed with its runner frees its cell
at once, not after ``STALE_S``).  The store stays the only record of results; the lease only
decides whether to start a fit.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LEASE = ".lease"
#: seconds between heartbeats, and the age past which a lease without one is dead
HEARTBEAT_S = 10.0
STALE_S = 60.0


@contextmanager
def holding(folder: str | Path, worker: str) -> Iterator[Path]:
    """Hold the lease of the cell whose runs go to ``folder`` while the body runs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LEASE
    record = {"worker": worker, "host": socket.gethostname(), "pid": os.getpid()}
    tmp = folder / f"{LEASE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, path)  # whole or absent, never half a record
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                os.utime(path)
            except OSError:  # the folder was removed under us: nothing left to hold
                return

    thread = threading.Thread(target=beat, name="specrec-lease", daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(timeout=1.0)
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass


def holder(folder: str | Path, now: float | None = None) -> str | None:
    """The worker holding the cell of ``folder`` if its lease is live, else None."""
    path = Path(folder) / LEASE
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no lease, or one cut short by a crash while it was written
    if age > STALE_S:
        return None
    if record.get("host") == socket.gethostname() and not _alive(int(record.get("pid", -1))):
        return None
    return str(record.get("worker", "a worker"))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True
