"""The study summary (summary.md, summary.csv, report.html) carries the interval coverage of
each configuration, by its own name (coverage_90), beside the test RMSE.

The store is written by hand (no fitting): two seeds of one map configuration whose runs have
different coverage, so the summary's number is their mean, not one of them.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hand_store import hand_metrics, map_study, planned_store

from specrec.cli import main
from specrec.rundir import file_mode

STUDY = map_study("coverage")


@pytest.fixture
def report(tmp_path: Path, write_study) -> Path:
    path = write_study(STUDY, name="coverage")
    _, ids, db = planned_store(path)
    for cid, (rmse, cov) in zip(ids, [(0.9, 0.8), (1.0, 0.9)], strict=True):
        run = tmp_path / "runs" / cid[:16]
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps(hand_metrics(rmse, cov)))
        db.mark_running(cid, "test")
        db.mark_done(cid, str(run), json.dumps(hand_metrics(rmse, cov)), "test")
    db.close()
    r = CliRunner().invoke(main, ["study", "report", str(path), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    return tmp_path / "rep"


def test_summary_md_has_the_coverage_90_column(report: Path):
    md = (report / "summary.md").read_text()
    lines = md.splitlines()
    head = next(x for x in lines if x.startswith("| model |"))
    cols = [c.strip() for c in head.strip("|").split("|")]
    cov = "spec coverage_90"  # the split family of the spec's own split, as "spec RMSE"
    assert cov in cols and "spec RMSE" in cols, cols
    row = next(x for x in lines if x.startswith("| group_means | map | pyro |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == len(cols)
    assert cells[cols.index(cov)] == "0.850"  # mean of 0.8 and 0.9
    base = next(x for x in lines if x.startswith("| global_mean | baseline |"))
    assert [c.strip() for c in base.strip("|").split("|")][cols.index(cov)] == "-"


def test_summary_csv_cells_csv_and_page_carry_coverage_90(report: Path):
    cells = pd.read_csv(report / "cells.csv")
    assert "coverage_90" in cells.columns and "coverage" not in cells.columns
    models = cells[cells["method"] == "map"]
    assert sorted(models["coverage_90"]) == [0.8, 0.9]
    summary = pd.read_csv(report / "summary.csv")
    row = summary[summary["method"] == "map"]
    assert row["coverage_90_mean"].item() == pytest.approx(0.85)
    assert "coverage_90_mean" in (report / "report.html").read_text()


def test_study_report_files_respect_the_umask(report: Path):
    for name in ("summary.md", "summary.csv", "cells.csv", "report.html", "rmse_mean_sd.png"):
        mode = stat.S_IMODE((report / name).stat().st_mode)
        assert mode == file_mode(), (name, oct(mode))
