"""The SQLite results store: one row per cell, done rows final, one live runner per store."""

from __future__ import annotations

import sqlite3

import pytest

from specrec.errors import UsageError
from specrec.study.cells import Fingerprints
from specrec.study.store import RunLock, Store


def test_a_done_cell_is_final_and_never_duplicated(tmp_path):
    db = Store(tmp_path / "s.sqlite")
    db.add({"a": {"label": "x"}, "b": {"label": "y"}})
    db.mark_running("a", "w1")
    assert db.mark_done("a", "/runs/a", '{"m": 1}', "w1")
    # a second completion (a duplicate task) and a late failure change nothing
    assert not db.mark_done("a", "/runs/a2", '{"m": 2}', "w2")
    db.mark_failed("a", "late error")
    db.mark_running("a", "w3")
    db.add({"a": {"label": "changed"}})
    row = db.rows()["a"]
    assert (row["status"], row["run_dir"], row["metrics"], row["error"]) == (
        "done",
        "/runs/a",
        {"m": 1},
        None,
    )
    assert row["attempts"] == 1 and row["describe"] == {"label": "x"}
    count = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT COUNT(*) FROM cells").fetchone()
    assert count == (2,)


def test_failed_cells_keep_their_error_and_can_run_again(tmp_path):
    db = Store(tmp_path / "s.sqlite")
    db.add({"a": {}})
    db.mark_running("a", "w")
    db.mark_failed("a", "BackendError: no")
    assert db.rows()["a"]["status"] == "failed" and db.rows()["a"]["error"] == "BackendError: no"
    db.mark_running("a", "w")
    row = db.rows()["a"]
    assert row["status"] == "running" and row["error"] is None and row["attempts"] == 2


def test_store_uses_wal_and_keeps_fingerprints(tmp_path):
    db = Store(tmp_path / "s.sqlite")
    assert db.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.save_fingerprints({"k": Fingerprints("d", "s")})
    db.close()
    assert Store(tmp_path / "s.sqlite").fingerprints("k") == Fingerprints("d", "s")


def test_one_runner_per_store(tmp_path):
    first = RunLock(tmp_path / "s.sqlite")
    assert not first.held_elsewhere()
    first.acquire()
    assert first.held_elsewhere()  # seen from another open file: a live run
    with pytest.raises(UsageError, match="another `specrec study run`"):
        RunLock(tmp_path / "s.sqlite").acquire()
    first.release()
    second = RunLock(tmp_path / "s.sqlite")
    second.acquire()
    second.release()
