"""The results store: one SQLite file beside the study, one row per cell.

Every change is one short transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) in WAL mode with
``synchronous=FULL``, so a ``kill -9`` at any moment leaves either the old row or the new one,
never half of a row: a finished cell (``done``, with its metrics.json) is never lost, and the
cell id is the primary key, so a cell can never be recorded twice.  A cell whose process died
stays ``running``; the next ``study run`` takes it up again (see ``runner``).

Only the process that runs the study writes; ``study status`` and ``study report`` read.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from specrec.errors import UsageError
from specrec.study.cells import Fingerprints

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    cell_id     TEXT PRIMARY KEY,
    describe    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT,
    finished_at TEXT,
    worker      TEXT,
    run_dir     TEXT,
    metrics     TEXT,
    error       TEXT
);
CREATE TABLE IF NOT EXISTS fingerprints (
    data_key   TEXT PRIMARY KEY,
    data_fp    TEXT NOT NULL,
    split_fp   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""
STATUSES = ("done", "running", "failed", "pending")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Store:
    """The SQLite results store of one study."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are opened explicitly, so none is ever left open
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- cells -----------------------------------------------------------------------------

    def add(self, cells: dict[str, dict]) -> None:
        """Insert new cells as ``pending`` (``cell id -> describe``); known ones are kept."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO cells (cell_id, describe, status) VALUES (?, ?, 'pending')",
                [(cid, json.dumps(d, sort_keys=True)) for cid, d in cells.items()],
            )

    def mark_running(self, cell_id: str, worker: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE cells SET status = 'running', started_at = ?, finished_at = NULL, "
                "attempts = attempts + 1, worker = ?, error = NULL "
                "WHERE cell_id = ? AND status != 'done'",
                (now(), worker, cell_id),
            )

    def mark_done(self, cell_id: str, run_dir: str, metrics_json: str, worker: str) -> bool:
        """Record a finished cell; False if it was already done (nothing is overwritten)."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE cells SET status = 'done', finished_at = ?, run_dir = ?, metrics = ?, "
                "error = NULL, worker = ? WHERE cell_id = ? AND status != 'done'",
                (now(), run_dir, metrics_json, worker, cell_id),
            )
            return cur.rowcount == 1

    def mark_failed(self, cell_id: str, error: str, worker: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE cells SET status = 'failed', finished_at = ?, error = ?, "
                "worker = COALESCE(?, worker) WHERE cell_id = ? AND status != 'done'",
                (now(), error, worker, cell_id),
            )

    def rows(self, cell_ids: list[str] | None = None) -> dict[str, dict]:
        """Rows by cell id (all of them, or those asked for), ``describe``/``metrics`` parsed.

        Metrics that do not parse are None, with the reason in ``metrics_error``."""
        out = {}
        for r in self.db.execute("SELECT * FROM cells"):
            if cell_ids is not None and r["cell_id"] not in cell_ids:
                continue
            row = dict(r)
            row["describe"] = json.loads(row["describe"])
            try:
                row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
            except ValueError as exc:  # reported as a damaged cell (study.damage), not a crash
                row["metrics"], row["metrics_error"] = None, f"not valid JSON ({exc})"
            out[row["cell_id"]] = row
        return out

    # ---- fingerprints (so status and report need not load the data) ------------------------

    def fingerprints(self, data_key: str) -> Fingerprints | None:
        r = self.db.execute(
            "SELECT data_fp, split_fp FROM fingerprints WHERE data_key = ?", (data_key,)
        ).fetchone()
        return Fingerprints(r["data_fp"], r["split_fp"]) if r else None

    def save_fingerprints(self, found: dict[str, Fingerprints]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO fingerprints VALUES (?, ?, ?, ?)",
                [(k, fp.data, fp.split, now()) for k, fp in found.items()],
            )


class RunLock:
    """At most one ``study run`` per store: an exclusive ``flock`` on ``<store>.lock``.

    The kernel drops the lock when its process dies (even by ``kill -9``), so a crashed run
    never blocks the next one, and a reader can tell live ``running`` rows from stale ones.
    """

    def __init__(self, store_path: Path):
        self.path = store_path.with_name(store_path.name + ".lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                f"another `specrec study run` is using {self.path.with_suffix('')}; "
                "wait for it or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def held_elsewhere(self) -> bool:
        """Is a live ``study run`` holding the lock right now?"""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False
