"""`kill -9` of a running study, then `study run` again: no finished cell lost, none fitted twice.

A real `specrec study run` process (with its spawned pool) is killed with SIGKILL as soon as the
store shows a finished cell; the rerun must finish the rest and leave every finished cell as it
was.  Pyro MAP cells: no compilation, so the cells are short.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec.cli import main

pytestmark = [pytest.mark.backend("pyro"), pytest.mark.slow]

STUDY = """\
specrec_study: 1
name: killed
seeds: [0, 1, 2, 3, 4]
set: {inference.steps: 60}
runs:
  - spec: {specs}/group_means.yaml
    backends: [pyro]
    methods: [map]
"""


def _rows(store: Path) -> dict[str, dict]:
    db = sqlite3.connect(store, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return {r["cell_id"]: dict(r) for r in db.execute("SELECT * FROM cells")}
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
    finally:
        db.close()


def _study_run(path: Path, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "specrec.cli", "study", "run", str(path), "--workers", "2", "-q"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_kill_9_then_rerun_loses_nothing_and_duplicates_nothing(write_study, tmp_path):
    path = write_study(STUDY, name="killed")
    store = tmp_path / "killed.study.sqlite"
    proc = _study_run(path, start_new_session=True)  # its own process group: workers die too
    deadline = time.monotonic() + 600
    done: dict[str, dict] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists():
            done = {k: r for k, r in _rows(store).items() if r["status"] == "done"}
            if done:
                break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done, "no cell finished before the deadline"

    killed = _rows(store)
    done = {k: r for k, r in killed.items() if r["status"] == "done"}
    assert 1 <= len(done) < 5, "the kill came after the study had finished"
    # the dead run's `running` rows read as pending: no live process holds the store's lock
    status = CliRunner().invoke(main, ["study", "status", str(path), "--cells"])
    assert status.exit_code == 0, status.output
    assert f"{len(done)} done, 0 running" in status.stdout

    rerun = _study_run(path)
    out, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err.decode()
    assert b"5 done, 0 running, 0 failed, 0 pending" in out

    final = _rows(store)
    assert len(final) == 5 and all(r["status"] == "done" for r in final.values())
    for cid, row in done.items():
        assert final[cid] == row  # not refitted, not rewritten
    # each cell has exactly one finished run directory: nothing was fitted twice
    for cid, row in final.items():
        runs = [
            p
            for p in (tmp_path / "killed-runs" / cid[:16]).glob("*/*/metrics.json")
            if not p.parent.name.startswith(".tmp-")
        ]
        assert [p.parent for p in runs] == [Path(row["run_dir"])], runs
