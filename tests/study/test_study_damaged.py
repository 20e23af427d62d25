"""A damaged run never breaks a study report: it is listed as damaged, with what is wrong.

The store is written by hand (no fitting): one whole cell and one damaged cell per damage class,
so each class is checked through ``study report`` and ``study status --cells``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hand_store import hand_metrics, map_study, planned_store

from specrec.cli import main
from specrec.study.cells import fingerprint_all, plan
from specrec.study.file import load_study
from specrec.study.runner import _ids, run_study

STUDY = map_study("damaged")
GOOD = json.dumps(hand_metrics(0.9))

#: damage class -> (how it is made: store metrics text, what is done to the run dir), and a word
#: the reason must contain
DAMAGE = {
    "truncated store metrics": (GOOD[: len(GOOD) // 2], None, "not valid JSON"),
    "store metrics lack the test RMSE": (
        json.dumps({k: v for k, v in hand_metrics(0.9).items() if k != "metrics"}),
        None,
        "lack metrics",
    ),
    "store metrics are a list": ("[1, 2]", None, "lack metrics"),
    "text RMSE": (
        json.dumps(hand_metrics(0.9) | {"metrics": {"test": {"rmse": "x"}}}),
        None,
        "rmse",
    ),
    "broken baseline": (json.dumps(hand_metrics(0.9) | {"baselines": {"b": 3}}), None, "baselines"),
    "run directory deleted": (GOOD, "delete", "is missing"),
    "truncated metrics.json in the run": (GOOD, "truncate", "metrics.json is damaged"),
    "truncated predictions.csv in the run": (GOOD, "cut predictions", "predictions.csv is damaged"),
    "posterior.nc deleted from the run": (GOOD, "delete posterior", "posterior.nc is missing"),
}
#: the run files the store's cells get besides metrics.json, recorded in run.json as a fit does
FILES = {"predictions.csv": "user,item,mean\n1,2,3.5\n" * 20, "posterior.nc": "x" * 300}


def _store(tmp_path: Path, write_study, kind: str) -> tuple[Path, list[str]]:
    path = write_study(STUDY, name="damaged")
    _, ids, db = planned_store(path)
    text, run_fault, _ = DAMAGE[kind]
    for cid, metrics in zip(ids, [GOOD, text], strict=True):
        run = tmp_path / "runs" / cid[:16]
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(GOOD)
        for name, text in FILES.items():
            (run / name).write_text(text)
        sizes = {name: len(text) for name, text in FILES.items()}
        (run / "run.json").write_text(json.dumps({"format": 2, "sizes": sizes}))
        db.mark_running(cid, "test")
        db.mark_done(cid, str(run), metrics, "test")
    damaged_run = tmp_path / "runs" / ids[1][:16]
    if run_fault == "delete":
        for file in damaged_run.iterdir():
            file.unlink()
        damaged_run.rmdir()
    elif run_fault == "cut predictions":
        (damaged_run / "predictions.csv").write_text(FILES["predictions.csv"][:30])
    elif run_fault == "delete posterior":
        (damaged_run / "posterior.nc").unlink()
    elif run_fault == "truncate":
        (damaged_run / "metrics.json").write_text(GOOD[:10])
    db.close()
    return path, ids


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_cell_is_listed_and_the_report_still_written(
    tmp_path: Path, write_study, kind: str
) -> None:
    path, ids = _store(tmp_path, write_study, kind)
    word = DAMAGE[kind][2]
    r = CliRunner().invoke(main, ["study", "report", str(path), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "rep" / "cells.csv")
    models = table[table["method"] == "map"].set_index("cell_id")
    assert models.loc[ids[0], "status"] == "done" and models.loc[ids[0], "test_rmse"] == 0.9
    assert models.loc[ids[1], "status"] == "damaged"
    assert pd.isna(models.loc[ids[1], "test_rmse"])  # its numbers are not used
    assert word in models.loc[ids[1], "error"], models.loc[ids[1], "error"]
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    assert summary.loc[summary["method"] == "map", "n"].tolist() == [1]  # the whole cell only
    md = (tmp_path / "rep" / "summary.md").read_text()
    assert "Damaged runs (1, not in the table)" in md and word in md
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "Damaged runs (1, not in the summary)" in page
    status = CliRunner().invoke(main, ["study", "status", str(path), "--cells"])
    assert status.exit_code == 0, status.output
    assert "damaged" in status.stdout and word in status.stdout
    assert "Traceback" not in r.output + status.output


def test_a_rerun_does_not_adopt_a_run_whose_metrics_json_is_damaged(write_study, tmp_path):
    """A truncated metrics.json in a cell folder is not recorded as done: the cell is fitted."""
    path = write_study(STUDY.replace("seeds: [0, 1]", "seeds: [0]"), name="adopt")
    cells = plan(load_study(path))
    (cid,) = [cid for _, cid in _ids(cells, fingerprint_all(cells))]
    run = tmp_path / "adopt-runs" / cid[:16] / "group_means" / "20260101-000000-pyro-map-abc"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(GOOD[:20])
    events: list[str] = []

    class Stop(Exception):
        pass

    def on_event(kind: str, cell, info) -> None:
        events.append(kind)
        if kind == "planned":
            assert info["todo"] == 1  # to be fitted, not adopted
            raise Stop

    with pytest.raises(Stop):
        run_study(path, on_event=on_event)
    db = sqlite3.connect(tmp_path / "adopt.study.sqlite")
    assert db.execute("SELECT status FROM cells").fetchall() == [("pending",)]
    assert "done" not in events
