"""`kill -9` or Ctrl-C of a running study, then `study run` again: no finished cell lost, none
fitted twice.

A real `specrec study run` process (with its spawned pool) in its own process group gets the
signal as soon as the store shows a finished cell: SIGKILL to the whole group, or SIGINT to the
whole group the way a terminal sends Ctrl-C.  The rerun must finish the rest and leave every
finished cell as it was.  Pyro MAP cells: no compilation, so the cells are short.
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
from specrec.study.commands import interrupted_message

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


@pytest.fixture
def study(write_study) -> tuple[Path, Path]:
    """The study file and its store's path (not created yet)."""
    path = write_study(STUDY, name="killed")
    return path, path.with_name("killed.study.sqlite")


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
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _signal_after_first_cell(path: Path, store: Path, sig: int) -> tuple[int, str, dict]:
    """Run the study, send ``sig`` to its process group once a cell is done; return the exit
    code, its stderr and the done rows the dead run left."""
    proc = _study_run(path, start_new_session=True)  # its own process group, as in a terminal
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists() and any(r["status"] == "done" for r in _rows(store).values()):
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    done = {k: r for k, r in _rows(store).items() if r["status"] == "done"}
    assert 1 <= len(done) < 5, "the signal came after the study had finished"
    return proc.returncode, err, done


def _rerun_fits_only_the_rest(path: Path, store: Path, done: dict) -> None:
    rerun = _study_run(path)
    out, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err
    assert "5 done, 0 running, 0 failed, 0 pending" in out

    final = _rows(store)
    assert len(final) == 5 and all(r["status"] == "done" for r in final.values())
    for cid, row in done.items():
        assert final[cid] == row  # not refitted, not rewritten
    # each cell has exactly one finished run directory: nothing was fitted twice
    for cid, row in final.items():
        runs = [
            p
            for p in (path.with_name("killed-runs") / cid[:16]).glob("*/*/metrics.json")
            if not p.parent.name.startswith(".tmp-")
        ]
        assert [p.parent for p in runs] == [Path(row["run_dir"])], runs


@pytest.mark.backend("pyro")
@pytest.mark.slow
def test_kill_9_then_rerun_loses_nothing_and_duplicates_nothing(study):
    path, store = study
    _, _, done = _signal_after_first_cell(path, store, signal.SIGKILL)
    # the dead run's `running` rows read as pending: no live process holds the store's lock
    status = CliRunner().invoke(main, ["study", "status", str(path), "--cells"])
    assert status.exit_code == 0, status.output
    assert f"{len(done)} done, 0 running" in status.stdout
    _rerun_fits_only_the_rest(path, store, done)


@pytest.mark.backend("pyro")
@pytest.mark.slow
def test_ctrl_c_exits_130_keeps_finished_cells_and_a_rerun_resumes(study):
    path, store = study
    code, err, done = _signal_after_first_cell(path, store, signal.SIGINT)
    assert code == 130, err
    # one line, the last: no traceback from the runner or its workers
    assert err.strip().splitlines() == [interrupted_message(path)], err
    _rerun_fits_only_the_rest(path, store, done)


def test_the_resume_command_repeats_the_store_out_and_data_options():
    line = interrupted_message("my study.yaml", "s.sqlite", "runs dir", None)
    assert "\n" not in line
    assert line.startswith("study interrupted; finished cells are kept in s.sqlite: ")
    again = "`specrec study run 'my study.yaml' --store s.sqlite --out 'runs dir'` again to resume"
    assert again in line and "--data" not in line
