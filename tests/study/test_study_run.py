"""`specrec study run|status|report` end to end on the real Pyro backend, tiny cells.

One study is run once for the module (a spawned local pool of two processes); the tests then
check the store, a rerun, the status and the report it left.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from specrec.cli import main

pytestmark = pytest.mark.backend("pyro")

STUDY = """\
specrec_study: 1
name: tiny
splits:
  random: {kind: random, test_fraction: 0.2, seed: 0}
  cv: {kind: kfold, k: 3, folds: [0, 1]}
set: {inference.steps: 60}
runs:
  - spec: {specs}/group_means.yaml
    backends: [pyro]
    methods: [map]
    seeds: [0]
    grid: {data.rows: [30, 45]}
  - spec: {specs}/group_means.yaml
    label: broken
    backends: [pyro]
    methods: [nuts]
    splits: [random]
    set: {inference.sampler: stan}        # pyro has only its own NUTS: fails before fitting
"""


def _invoke(*args: str):
    return CliRunner().invoke(main, ["study", *args])


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    path = folder / "tiny.yaml"
    path.write_text(STUDY.replace("{specs}", str(Path(__file__).resolve().parents[2] / "specs")))
    r = _invoke("run", str(path), "--workers", "2")
    return path, r


def _rows(path: Path) -> dict:
    db = sqlite3.connect(path.with_name("tiny.study.sqlite"))
    db.row_factory = sqlite3.Row
    return {r["cell_id"]: dict(r) for r in db.execute("SELECT * FROM cells")}


def test_every_cell_runs_and_a_failure_does_not_stop_the_others(ran):
    path, r = ran
    assert r.exit_code == 1, r.output  # one cell failed
    assert "6 done, 0 running, 1 failed, 0 pending" in r.stdout
    rows = _rows(path)
    assert len(rows) == 7
    failed = [x for x in rows.values() if x["status"] == "failed"]
    assert len(failed) == 1 and "'stan'" in failed[0]["error"]
    assert json.loads(failed[0]["describe"])["label"] == "broken"
    for row in rows.values():
        if row["status"] == "done":
            # the row holds the run's own metrics.json, and the run directory is a normal one
            on_disk = json.loads((Path(row["run_dir"]) / "metrics.json").read_text())
            assert json.loads(row["metrics"]) == on_disk
            assert (Path(row["run_dir"]) / "posterior.nc").is_file()
            assert row["attempts"] == 1


def test_a_rerun_never_refits_a_finished_cell(ran):
    path, _ = ran
    before = _rows(path)
    r = _invoke("run", str(path), "--workers", "1")
    assert "6 already done, 1 to run" in r.stderr, r.output
    after = _rows(path)
    for cid, row in before.items():
        if row["status"] == "done":
            assert after[cid] == row  # untouched: same run dir, same finish time
        else:
            assert after[cid]["attempts"] == 2 and after[cid]["status"] == "failed"


def test_status_counts_and_lists_cells(ran):
    path, _ = ran
    r = _invoke("status", str(path), "--cells")
    assert r.exit_code == 0, r.output
    assert "tiny: 6 done, 0 running, 1 failed, 0 pending" in r.stdout
    assert r.stdout.count("test RMSE") == 6


def test_report_writes_table_plots_and_one_html_page(ran, tmp_path):
    path, _ = ran
    r = _invoke("report", str(path), "--out", str(tmp_path / "rep"))
    assert r.exit_code == 0, r.output
    rep = tmp_path / "rep"
    table = pd.read_csv(rep / "cells.csv")
    # every cell of the store is a row, with the store's own numbers
    stored = {cid: row for cid, row in _rows(path).items()}
    by_id = table.dropna(subset=["cell_id"]).set_index("cell_id")
    assert set(by_id.index) == set(stored)
    for cid, row in stored.items():
        assert by_id.loc[cid, "status"] == row["status"]
        if row["status"] == "done":
            rmse = json.loads(row["metrics"])["metrics"]["test"]["rmse"]
            assert by_id.loc[cid, "test_rmse"] == pytest.approx(rmse, rel=1e-12)
        else:
            assert pd.isna(by_id.loc[cid, "test_rmse"])
    parquet = pd.read_parquet(rep / "cells.parquet")
    assert list(parquet.columns) == list(table.columns)
    pd.testing.assert_series_equal(parquet["test_rmse"], table["test_rmse"], check_dtype=False)
    models = table[table["method"] == "map"]
    assert len(models) == 6 and set(models["split_label"]) == {"random", "cv0", "cv1"}
    assert set(table.loc[table["method"] == "baseline", "label"]) >= {"global_mean", "uniform"}
    # the summary's mean and sd are over the folds of each configuration
    summary = pd.read_csv(rep / "summary.csv")
    cv30 = models[(models["split"] == "cv") & (models["data.rows"] == 30)]["test_rmse"]
    row = summary[(summary["split"] == "cv") & (summary["data.rows"] == 30)]
    assert row["n"].item() == 2
    assert row["rmse_mean"].item() == pytest.approx(cv30.mean())
    assert row["rmse_sd"].item() == pytest.approx(cv30.std())
    for png in ("rmse_vs_data_rows.png", "rmse_vs_time.png", "rmse_mean_sd.png"):
        assert (rep / png).read_bytes()[:4] == b"\x89PNG"
    md = (rep / "summary.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| group_means | map | pyro | 30 |"))
    assert f"{cv30.mean():.4f} +- {cv30.std():.4f} (2)" in line
    html = (rep / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 3
    assert "stan" in html  # the failed cell's error is in the page


def test_ctrl_c_says_finished_cells_are_kept_and_a_rerun_resumes(ran, monkeypatch):
    """Ctrl-C while cells are running: exit 130 with one line naming the store and the resume
    command (not the generic "nothing was written"), and the finished cells stay done."""
    import specrec.study.runner as runner

    path, _ = ran
    before = _rows(path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_execute", interrupted)  # Ctrl-C once cells are submitted
    r = _invoke("run", str(path), "--workers", "1")
    assert r.exit_code == 130, r.output
    assert "nothing was written" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("study interrupted; finished cells are kept in ")
    assert "tiny.study.sqlite" in last and f"specrec study run {path}` again to resume" in last
    after = _rows(path)
    assert {c for c, x in after.items() if x["status"] == "done"} == {
        c for c, x in before.items() if x["status"] == "done"
    }
