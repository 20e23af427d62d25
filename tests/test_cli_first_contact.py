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


def _refuse_probes(monkeypatch) -> None:
    """Folders cannot be created anywhere, as on a read-only mount, whatever os.access says."""
    import errno
    import tempfile

    real = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        if str(kwargs.get("prefix", "")).startswith(".specrec-probe-"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)


def _never(monkeypatch, target: str) -> None:
    def boom(*a, **k):
        raise AssertionError(f"{target} was started")

    monkeypatch.setattr(target, boom)


def test_out_that_cannot_be_written_fails_before_fitting(tmp_path: Path, monkeypatch) -> None:
    """os.access says yes, creating a folder fails: exit 2 before the fit, not exit 1 after."""
    _never(monkeypatch, "specrec.fitting.fit")
    _refuse_probes(monkeypatch)
    out = tmp_path / "runs"
    r = invoke("fit", str(SPECS / "quickstart.yaml"), "--out", str(out))
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    assert r.stderr == (
        f"error: --out {out}: cannot write in {tmp_path} (Read-only file system); "
        "choose another folder\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_out_in_sys_fails_before_fitting(monkeypatch) -> None:
    """The case as found: root may "write" /sys by its permission bits, but cannot."""
    import os

    if not (os.path.isdir("/sys") and os.access("/sys", os.W_OK)):
        pytest.skip("needs /sys that passes os.access (root on Linux)")
    _never(monkeypatch, "specrec.fitting.fit")
    r = invoke("fit", str(SPECS / "quickstart.yaml"), "--out", "/sys/nope")
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    assert r.stderr.startswith("error: --out /sys/nope: cannot write in /sys (")


def test_every_writing_command_checks_its_output_before_working(tmp_path: Path, monkeypatch):
    """compare (a file, or a folder that cannot be written), predict, sbc, data simulate, study
    run and report: exit 2 before their work starts."""
    for target in (
        "specrec.compare.compare",
        "specrec.fitting.fit",
        "specrec.run.load_run",
        "specrec.sbc.run_sbc",
        "specrec.data.simulate.write_parquet",
        "specrec.study.commands.run_command",
        "specrec.study.commands.report_command",
    ):
        _never(monkeypatch, target)
    spec = str(SPECS / "quickstart.yaml")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    r = invoke("compare", spec, "--out", str(a_file))
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    assert "is a file, not a folder" in r.stderr
    _refuse_probes(monkeypatch)
    study = str(next((SPECS / "studies").glob("*.yaml")))
    pairs = tmp_path / "pairs.csv"
    for args in (
        ["compare", spec, "--out", str(tmp_path / "runs")],
        ["sbc", spec, "-b", "numpyro", "--out", str(tmp_path / "runs")],
        ["predict", str(tmp_path), "--pairs", str(pairs), "--out", str(tmp_path / "p.csv")],
        ["data", "simulate", spec, "--out", str(tmp_path / "sim.parquet")],
        ["study", "run", study, "--out", str(tmp_path / "study-runs")],
        ["study", "run", study, "--store", str(tmp_path / "new" / "s.sqlite")],
        ["study", "report", study, "--out", str(tmp_path / "study-report")],
    ):
        r = invoke(*args)
        assert r.exit_code == EXIT_BAD_INPUT, (args, r.output)
        assert "cannot write in" in r.stderr, (args, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


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
