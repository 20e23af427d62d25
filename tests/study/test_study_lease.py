"""A rerun never starts a cell that a live worker (of a runner that died) still holds.

The worker side (``lease.holding``) and the runner side (``run_study`` waits for a held cell and
adopts the run its worker leaves) are tested without fitting: the "orphaned worker" is this
test process holding a lease, or a lease file written by hand.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from specrec.study import lease, runner
from specrec.study.cells import fingerprint_all, plan
from specrec.study.file import load_study
from specrec.study.runner import _ids, run_study
from specrec.study.store import Store

STUDY = """\
specrec_study: 1
name: leased
seeds: [0]
runs:
  - spec: {specs}/group_means.yaml
    backends: [pyro]
    methods: [map]
"""


def _write_lease(folder: Path, host: str, pid: int, age: float = 0.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / lease.LEASE
    path.write_text(json.dumps({"worker": f"{host}:{pid}", "host": host, "pid": pid}))
    then = time.time() - age
    os.utime(path, (then, then))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_holding_keeps_a_fresh_lease_and_removes_it_after(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(lease, "HEARTBEAT_S", 0.05)
    with lease.holding(tmp_path, "me:1") as path:
        first = path.stat().st_mtime
        assert lease.holder(tmp_path) == "me:1"
        time.sleep(0.3)
        assert path.stat().st_mtime > first  # the heartbeat touches it
    assert not path.exists() and lease.holder(tmp_path) is None


HOST = socket.gethostname()
CASES = {
    # (host, pid, age in s) -> held?
    "live process on this host, fresh": (HOST, os.getpid(), 0.0, True),
    "dead process on this host": (HOST, None, 0.0, False),
    "no heartbeat for longer than STALE_S": (HOST, os.getpid(), lease.STALE_S + 5, False),
    "other host, fresh": ("elsewhere.example", 12345, 0.0, True),
    "other host, stale": ("elsewhere.example", 12345, lease.STALE_S + 5, False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_lease_is_live_only_while_fresh_and_its_process_exists(tmp_path: Path, case) -> None:
    host, pid, age, held = CASES[case]
    _write_lease(tmp_path, host, pid if pid is not None else _dead_pid(), age)
    assert (lease.holder(tmp_path) is not None) == held


def test_a_half_written_lease_is_no_lease(tmp_path: Path) -> None:
    (tmp_path / lease.LEASE).write_text('{"worker": "x", "ho')
    assert lease.holder(tmp_path) is None


def _cell_folder(path: Path, tmp_path: Path) -> tuple[str, Path]:
    cells = plan(load_study(path))
    (cid,) = [cid for _, cid in _ids(cells, fingerprint_all(cells))]
    return cid, tmp_path / "leased-runs" / cid[:16]


def test_a_rerun_waits_for_a_held_cell_and_adopts_its_run(write_study, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "POLL_S", 0.1)
    path = write_study(STUDY, name="leased")
    cid, folder = _cell_folder(path, tmp_path)
    events: list[tuple[str, dict]] = []
    held = threading.Event()

    def orphan() -> None:  # what a Dask worker of a killed runner does: finish, then let go
        with lease.holding(folder, "orphan:1"):
            held.set()
            time.sleep(1.0)
            run = folder / "group_means" / "20260101-000000-pyro-map-abc"
            run.mkdir(parents=True)
            (run / "metrics.json").write_text(json.dumps({"by": "orphan"}))

    thread = threading.Thread(target=orphan)
    thread.start()
    held.wait(5)
    result = run_study(path, on_event=lambda kind, cell, info: events.append((kind, info)))
    thread.join()
    kinds = [k for k, _ in events]
    assert "held" in kinds and "started" not in kinds, kinds  # never fitted a second time
    planned = next(info for k, info in events if k == "planned")
    assert planned["todo"] == 0 and planned["held"] == 1
    assert result.counts()["done"] == 1
    row = Store(tmp_path / "leased.study.sqlite").rows()[cid]
    assert row["worker"] == "adopted" and row["metrics"] == {"by": "orphan"}
    assert len(list(folder.glob("*/*/metrics.json"))) == 1  # one run directory for the cell


def test_a_lease_whose_worker_died_does_not_hold_the_cell(write_study, tmp_path):
    path = write_study(STUDY, name="leased")
    _, folder = _cell_folder(path, tmp_path)
    _write_lease(folder, HOST, _dead_pid())

    class Planned(Exception):
        pass

    def on_event(kind: str, cell, info) -> None:
        if kind == "planned":
            assert info["todo"] == 1 and info["held"] == 0
            raise Planned

    with pytest.raises(Planned):
        run_study(path, on_event=on_event)
