"""Both executors write ArviZ's daily stamp before their workers run cells (they would race on it)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest

from specrec.study.executors import DaskExecutor, one_worker_per_host


def test_local_pool_writes_the_arviz_stamp_before_spawning(tmp_path: Path):
    # a fresh process with an empty cache folder: the state of a new machine, or of a new day
    code = (
        "import sys\n"
        "from specrec.study.executors import LocalExecutor\n"
        "assert 'arviz' not in sys.modules\n"
        "LocalExecutor(1).close()\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    stamp = tmp_path / "arviz" / "daily_warning"
    assert stamp.read_text().strip() == datetime.date.today().isoformat()


def test_dask_workers_write_the_stamp_one_per_host_before_any_cell(tmp_path, monkeypatch):
    """Two worker processes on one host: one of them stamps (in turn with other hosts), so the
    other finds today's stamp at its first cell instead of racing on the rename."""
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the workers' cache folder
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        ex = DaskExecutor(cluster.scheduler_address)
        try:
            imported = ex.client.run(lambda: "arviz" in sys.modules)
        finally:
            ex.close()
    assert sorted(imported.values()) == [False, True]
    stamp = tmp_path / "arviz" / "daily_warning"
    assert stamp.read_text().strip() == datetime.date.today().isoformat()


def test_one_worker_per_host():
    info = {
        "workers": {
            "tcp://10.0.0.2:4001": {"host": "10.0.0.2"},
            "tcp://10.0.0.1:4002": {"host": "10.0.0.1"},
            "tcp://10.0.0.1:4001": {"host": "10.0.0.1"},
        }
    }
    assert one_worker_per_host(info) == ["tcp://10.0.0.1:4001", "tcp://10.0.0.2:4001"]
    assert one_worker_per_host({}) == []
