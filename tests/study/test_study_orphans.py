"""A local pool's workers die with their runner: `kill -9` of the runner alone leaves no worker
fitting on (a rerun would fit the same cell again and record it twice)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")

RUNNER = """
import sys, time
from specrec.study.executors import LocalExecutor
if __name__ == "__main__":
    ex = LocalExecutor(1)
    fut = ex._pool.submit(__import__("os").getpid)
    print(fut.result(), flush=True)
    ex._pool.submit(time.sleep, 600)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_pool_workers_die_when_the_runner_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        worker = int(proc.stdout.readline())
        assert _alive(worker)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the pool worker outlived its killed runner"
    finally:
        proc.kill()
        proc.wait()
