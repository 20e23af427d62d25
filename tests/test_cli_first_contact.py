"""What a user sees first: where a run went and what to do next, ``--out`` checked before
any fitting, and the runs folder of a spec accepted where a run directory is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec import rundir
from specrec.cli import main
from specrec.errors import EXIT_BAD_INPUT

SPECS = Path(__file__).resolve().parents[1] / "specs"
TINY = ["--set", "inference.steps=20", "--set", "data.rows=60"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_out_that_is_a_file_fails_before_fitting(tmp_path: Path, monkeypatch) -> None:
    import specrec.fitting

    def boom(*a, **k):
        raise AssertionError("the fit was started")

    monkeypatch.setattr(specrec.fitting, "fit", boom)
    target = tmp_path / "a-file"
    target.write_text("x")
    r = invoke("fit", str(SPECS / "quickstart.yaml"), "--out", str(target))
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stdout == ""
    assert r.stderr == f"error: --out {target}: is a file, not a folder of run directories\n"
    r = invoke("fit", str(SPECS / "quickstart.yaml"), "--out", str(target / "runs"))
    assert r.exit_code == EXIT_BAD_INPUT
    assert "is a file, not a folder" in r.stderr


def test_check_writable_refuses_a_read_only_folder(tmp_path: Path) -> None:
    import os

    from specrec.errors import UsageError

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(UsageError, match="is not writable"):
            rundir.check_writable(ro / "runs")
    finally:
        ro.chmod(0o700)
    assert rundir.check_writable(tmp_path / "new" / "runs").is_absolute()


def test_latest_run_of_a_runs_folder(tmp_path: Path) -> None:
    for name in ("20260101-000000-numpyro-map-aaaaaa", "20260102-000000-numpyro-map-bbbbbb"):
        (tmp_path / name).mkdir()
        (tmp_path / name / rundir.FILES["run"]).write_text("{}")
    (tmp_path / ".tmp-x").mkdir()
    assert rundir.latest_run(tmp_path).name.startswith("20260102")
    assert rundir.latest_run(tmp_path / "20260101-000000-numpyro-map-aaaaaa").name.startswith(
        "20260101"
    )


@pytest.mark.backend("numpyro")
def test_fit_prints_the_absolute_run_dir_and_next_steps(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = SPECS / "group_means.yaml"
    r = invoke("fit", str(spec), "--method", "map", "--out", "runs", *TINY)
    assert r.exit_code == 0, r.stderr
    [run] = (tmp_path / "runs").glob("*/*")
    assert f"next: specrec report {run.absolute()}" in r.stdout
    r = invoke("fit", str(spec), "--method", "map", "--out", "runs", "--json", *TINY)
    assert r.exit_code == 0, r.stderr
    assert Path(json.loads(r.stdout)["run_dir"]).is_absolute()
