"""`study run --executor dask` on a real `dask.distributed.LocalCluster` on loopback."""

from __future__ import annotations

import os
import sqlite3

import pytest
from click.testing import CliRunner

from specrec.cli import main

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.backend("pyro")

STUDY = """\
specrec_study: 1
name: dasky
seeds: [0, 1]
set: {inference.steps: 60}
runs:
  - spec: {specs}/group_means.yaml
    backends: [pyro]
    methods: [map]
"""


def test_cells_run_on_a_dask_cluster(write_study, tmp_path, monkeypatch):
    path = write_study(STUDY, name="dasky")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        r = CliRunner().invoke(
            main,
            [
                "study",
                "run",
                str(path),
                "--executor",
                "dask",
                "--scheduler",
                cluster.scheduler_address,
            ],
        )
        assert r.exit_code == 0, r.output
        assert "2 done, 0 running, 0 failed, 0 pending" in r.stdout
        assert "Dask scheduler tcp://127.0.0.1" in r.stderr
        db = sqlite3.connect(tmp_path / "dasky.study.sqlite")
        workers = {w for (w,) in db.execute("SELECT worker FROM cells")}
        # the cells ran in the cluster's worker process, not in this one
        assert len(workers) == 1 and not workers.pop().endswith(f":{os.getpid()}")

        # the address may come from the environment; finished cells are not run again
        monkeypatch.setenv("SPECREC_DASK_SCHEDULER", cluster.scheduler_address)
        again = CliRunner().invoke(main, ["study", "run", str(path), "--executor", "dask"])
        assert again.exit_code == 0, again.output
        assert "2 cells: 2 already done, 0 to run" in again.stderr


def test_dask_without_a_scheduler_is_a_usage_error(write_study, monkeypatch):
    monkeypatch.delenv("SPECREC_DASK_SCHEDULER", raising=False)
    path = write_study(STUDY, name="dasky")
    r = CliRunner().invoke(main, ["study", "run", str(path), "--executor", "dask"])
    assert r.exit_code == 2
    assert "needs a scheduler address" in r.stderr
