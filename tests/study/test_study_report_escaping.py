"""Markup a user wrote (labels, descriptions, grid values, errors) is shown as text on every page
the study report writes: report.html, summary.md, and the PNGs (a ``$`` would start mathtext).

The store is written by hand from the plan, so no fit is needed; each hostile text is put in
every free-text place a study has at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hand_store import planned_store
from html_checks import HOSTILE, assert_only_page_markup

from specrec.cli import main


def _study(tmp_path: Path, text: str) -> tuple[Path, Path]:
    specs = Path(__file__).resolve().parents[2] / "specs"
    study = {
        "specrec_study": 1,
        "name": "escape",
        "description": text,
        "seeds": [0],
        "runs": [
            {
                "spec": str(specs / "group_means.yaml"),
                "label": text,
                "backends": ["pyro"],
                "methods": ["map"],
                "grid": {"description": [text, "plain"], "data.rows": [30]},
            },
            {
                "spec": str(specs / "group_means.yaml"),
                "label": "broken " + text,
                "backends": ["pyro"],
                "methods": ["map"],
            },
        ],
    }
    path = tmp_path / "escape.yaml"
    path.write_text(json.dumps(study))  # JSON is YAML: every text stays a plain string
    cells, ids, db = planned_store(path)
    for i, (cell, cid) in enumerate(zip(cells, ids, strict=True)):
        db.mark_running(cid, "test")
        if cell.label.startswith("broken"):
            db.mark_failed(cid, f"fit failed: {text}", "test")
            continue
        run = tmp_path / "runs" / cid[:16]
        run.mkdir(parents=True)
        metrics = {
            "metrics": {"test": {"rmse": 0.9 + i / 10, "mae": 0.7}},
            "diagnostics": {},
            "timing": {"fit_s": 1.0, "compile_s": 0.5, "wall_s": 2.0},
            "split": {"n_train": 24, "n_test": 6, "fingerprint": "f"},
            "backend": {"version": text},
            "baselines": {"global_mean": {"rmse": 1.5, "mae": 1.2}},
            "versions": {"pyro": text},
        }
        (run / "metrics.json").write_text(json.dumps(metrics))
        db.mark_done(cid, str(run), json.dumps(metrics), "test")
    db.close()
    return path, tmp_path / "rep"


@pytest.mark.parametrize("text", HOSTILE)
def test_study_report_pages_show_user_text_literally(tmp_path: Path, text: str) -> None:
    path, rep = _study(tmp_path, text)
    r = CliRunner().invoke(main, ["study", "report", str(path), "--out", str(rep)])
    assert r.exit_code == 0, r.output  # a "$" in a label once stopped the plots
    page = (rep / "report.html").read_text()
    assert_only_page_markup(page, text)
    assert page.count('src="data:image/png;base64,') >= 2
    md = (rep / "summary.md").read_text()
    assert "<script>" not in md and "<img" not in md and "<b>" not in md
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) >= 3  # header, rule, at least one configuration
    columns = {line.replace("\\|", "").count("|") for line in table}
    assert len(columns) == 1, table  # a user's pipe never adds a column
