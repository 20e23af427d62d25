"""A run directory with a truncated file: ``report``, ``predict`` and ``recommend`` name the
damaged file of the run and exit 2, never a raw JSONDecodeError, OSError or BadZipFile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from spec_texts import tiny_biases

import specrec
from specrec import rundir
from specrec.cli import main
from specrec.errors import EXIT_BAD_INPUT

pytestmark = pytest.mark.backend("numpyro")

SPEC = tiny_biases("tiny", "{method: map, steps: 30, draws: 20, seed: 0}")

#: Files every reader needs; each is truncated in turn.
DAMAGEABLE = ["metrics", "curves", "posterior", "train", "run", "predictions", "resolved"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("damaged")
    spec = tmp / "tiny.yaml"
    spec.write_text(SPEC)
    return specrec.fit(spec, out=tmp / "out", progress=False).path


def _unsealed(copy: Path) -> None:
    """As a run written before run.json recorded sizes: each reader's own check must tell."""
    manifest = json.loads((copy / rundir.FILES["run"]).read_text())
    del manifest["sizes"]
    (copy / rundir.FILES["run"]).write_text(json.dumps(manifest))


def _truncated(run_dir: Path, key: str, tmp_path: Path, sealed: bool = True) -> Path:
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    if not sealed:
        _unsealed(copy)
    path = copy / rundir.FILES[key]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return copy


COMMANDS = {
    "report": lambda d, tmp: ["report", str(d)],
    "predict": lambda d, tmp: ["predict", str(d), "--pairs", str(tmp / "pairs.csv")],
    "recommend": lambda d, tmp: ["recommend", str(d), "--user", "1", "-n", "2"],
}
#: What each command reads (report: no training rows, and the posterior only for the
#: hyperparameter plots of a sampled run; predict/recommend: no curves).
READS = {
    "report": {"metrics", "curves", "predictions"},
    "predict": {"metrics", "posterior", "train", "run", "predictions", "resolved"},
    "recommend": {"metrics", "posterior", "train", "run", "predictions", "resolved"},
}


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "unsealed"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("key", DAMAGEABLE)
def test_a_truncated_run_file_is_named_and_exits_2(
    run_dir: Path, key: str, command: str, sealed: bool, tmp_path: Path
) -> None:
    """Sealed, run.json's sizes tell first; unsealed, the reader of the file must."""
    if key not in READS[command]:
        pytest.skip(f"{command} does not read {rundir.FILES[key]}")
    (tmp_path / "pairs.csv").write_text("user_id,item_id\n1,2\n")
    damaged = _truncated(run_dir, key, tmp_path, sealed)
    r = CliRunner().invoke(main, COMMANDS[command](damaged, tmp_path))
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    assert str(damaged / rundir.FILES[key]) in r.stderr, r.stderr
    assert "Traceback" not in r.output and "run with --debug" not in r.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_predictions_missing_whole_rows_are_a_damaged_run(
    run_dir: Path, command: str, tmp_path: Path
) -> None:
    """Cut at a line end, predictions.csv still parses: its row count against metrics.json's
    test rows tells it is damaged (the test pairs past the cut would get other values, the
    report's observed-vs-predicted plot would show part of the test set as all of it)."""
    (tmp_path / "pairs.csv").write_text("user_id,item_id\n1,2\n")
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    _unsealed(copy)  # the rows must tell
    path = copy / rundir.FILES["predictions"]
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]))
    r = CliRunner().invoke(main, COMMANDS[command](copy, tmp_path))
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    assert str(path) in r.stderr and "test rows" in r.stderr, r.stderr
    assert not (copy / "report").exists()  # no report half-made from the rows that survived


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("key", rundir.SIZED)
def test_a_missing_run_file_is_named_and_exits_2(
    run_dir: Path, key: str, command: str, tmp_path: Path
) -> None:
    """A run that lost a file it was written with is damaged for every reader, even one that
    does not read that file: predict would otherwise draw new values for the test pairs the
    lost predictions.csv held, and report would leave its plots out without a word."""
    (tmp_path / "pairs.csv").write_text("user_id,item_id\n1,2\n")
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    (copy / rundir.FILES[key]).unlink()
    r = CliRunner().invoke(main, COMMANDS[command](copy, tmp_path))
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    assert f"{copy / rundir.FILES[key]} is missing" in r.stderr, r.stderr
    assert not (copy / "report").exists()


PAIRS = {
    "no item column": ("user_id,movie\n1,2\n", "no column for dim 'item'", None),
    "only a header": ("user_id,item_id\n", "only a header", None),
    "empty user id": ("user_id,item_id\n1,2\n,3\n", "empty id", 3),
}


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_pairs_file_errors_name_the_file(run_dir: Path, tmp_path: Path, kind: str) -> None:
    text, message, row = PAIRS[kind]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(text)
    r = CliRunner().invoke(main, ["predict", str(run_dir), "--pairs", str(pairs)])
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    assert str(pairs) in r.stderr and message in r.stderr
    if row is not None:
        assert f"row {row}" in r.stderr


def test_recommend_for_an_empty_user_id_is_an_error(run_dir: Path) -> None:
    r = CliRunner().invoke(main, ["recommend", str(run_dir), "--user", " "])
    assert r.exit_code == EXIT_BAD_INPUT and "empty user id" in r.stderr


def test_a_full_disk_while_writing_the_report_names_the_report_and_keeps_nothing(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A figure writer (matplotlib) that finds no room raises an OSError naming no file."""
    import errno

    from specrec.evaluate import report

    def full(*args, **kwargs) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    monkeypatch.setattr(report, "render_html", full)
    r = CliRunner().invoke(main, ["report", str(copy)])
    assert r.exit_code not in (0, 2) and "Traceback" not in r.output, r.output
    assert f"could not write the report to {copy / 'report'}: the disk is full" in r.stderr
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in run_dir.iterdir())
