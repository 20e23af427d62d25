"""Run-directory formats: a reader refuses what it does not know, with a clear message (no PPL)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runs import quick_map_fit, small_tmpfs
from click.testing import CliRunner

from specrec import rundir
from specrec.cli import main
from specrec.data import dataset
from specrec.errors import UsageError
from specrec.run import load_run


def _run_dir(tmp_path: Path, manifest: dict | None, metrics: dict | None = None) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    if manifest is not None:
        (folder / "run.json").write_text(json.dumps(manifest))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_newer_format_is_refused_naming_both_versions(tmp_path: Path) -> None:
    folder = _run_dir(tmp_path, {"format": rundir.FORMAT + 1, "specrec_version": "9.0.0"})
    with pytest.raises(UsageError, match=r"run format 3 \(written by specrec 9\.0\.0\) is newer"):
        load_run(folder)
    r = CliRunner().invoke(main, ["recommend", str(folder), "--user", "1"])
    assert r.exit_code == 2
    assert "upgrade specrec to load it" in r.stderr and "Traceback" not in r.output


def test_format_1_run_is_refused_with_a_way_out(tmp_path: Path) -> None:
    folder = _run_dir(tmp_path, None, {"specrec_format": 1})
    with pytest.raises(UsageError, match=r"stores no training rows.*fit the spec again"):
        load_run(folder)


def test_not_a_run_directory(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["predict", str(tmp_path), "--pairs", "x.csv"])
    assert r.exit_code == 2 and "not a specrec run directory" in r.stderr
    folder = _run_dir(tmp_path, {"format": 2})
    with pytest.raises(UsageError, match=r"the run has no resolved\.json"):
        load_run(folder)


def test_training_rows_round_trip_without_pickles(tmp_path: Path) -> None:
    ds = dataset.Dataset(
        "rating",
        np.array([1.0, 2.5, 4.0]),
        {"user_id": np.array([0, 1, 1]), "item_id": np.array([1, 0, 2])},
        {"user_id": np.array(["ann", "bob"]), "item_id": np.array([10, 20, 30])},
        {"timestamp": np.array([5.0, 6.0, 7.0])},
        attributes={
            "user_id": {"age": dataset.Attribute(np.array([31.0, 45.0]))},
            "item_id": {
                "genres": dataset.Attribute(np.eye(3)[[0, 2, 1]], ("Drama", "Comedy", "War"))
            },
        },
    )
    dataset.save(ds, tmp_path / "train.npz")
    back = dataset.load(tmp_path / "train.npz", "rating")
    assert back.fingerprint() == ds.fingerprint()  # covers the side data's values too
    assert back.levels["user_id"].tolist() == ["ann", "bob"]
    # a covariate model is lowered again from the run's rows (predict, recommend)
    assert back.attributes["item_id"]["genres"].labels == ("Drama", "Comedy", "War")
    assert back.attributes["user_id"]["age"].labels == ()


def test_a_full_disk_while_writing_a_run_says_so_and_keeps_nothing(tmp_path: Path) -> None:
    import errno

    from specrec.errors import FitError

    def write(folder: Path) -> None:  # the disk fills up half-way through the run's files
        (folder / "metrics.json").write_text("{}")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(FitError, match=r"the disk is full .*nothing was kept"):
        rundir.write_run(tmp_path / "runs", "r1", write)
    assert list(tmp_path.iterdir()) == []  # not the run, its temp folder, nor the runs folder


def test_a_really_full_disk_says_so_keeps_nothing_and_does_not_crash(tmp_path):
    """HDF5 writing to a full disk left failing handles whose finalisers printed tracebacks and
    then crashed the interpreter (exit 139); the file is now written in one plain write."""

    disk = tmp_path / "disk"
    with small_tmpfs(disk, "200k") as mounted:
        if not mounted:
            pytest.skip("needs root to mount a small tmpfs")
        r = quick_map_fit(disk)
        assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
        assert "the disk is full" in r.stderr and "nothing was kept" in r.stderr
        assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
        assert list(disk.iterdir()) == []


def test_a_file_written_to_a_full_disk_says_so_and_keeps_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    """``predict --out`` (and every other single-file output) ended in a raw OSError."""
    import errno

    from specrec.errors import FitError

    def full(src, dst) -> None:  # the last step of the write finds no room
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir.os, "replace", full)
    with pytest.raises(FitError, match=r"could not write .*out\.csv: the disk is full"):
        rundir.write_text_atomic(tmp_path / "out.csv", "a,b\n")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary name
