"""The committed docs/figures/ are what ``make docs-figures`` would write today, checked without
fitting: each step's folder records the sha256 of its spec files and of its own code
(``source.json``), and each printed summary is printed again from the JSON saved beside it.

When this fails, rerun the step it names: ``.venv/bin/python -m specrec.docgen.figures STEP``
(``make docs-figures`` runs them all) and commit docs/figures/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from specrec.docgen import figures
from specrec.summary import compare_summary

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("step", list(figures.STEPS))
def test_committed_figures_are_fresh(step: str) -> None:
    assert figures.stale(ROOT, step) == [], f"rerun: python -m specrec.docgen.figures {step}"


def _copy(tmp_path: Path, step: str) -> Path:
    for path in figures.INPUTS[step]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    folder = tmp_path / figures.FIGURES / step
    shutil.copytree(ROOT / figures.FIGURES / step, folder)
    assert figures.stale(tmp_path, step) == []
    return folder


def test_a_changed_spec_makes_its_figures_stale(tmp_path: Path) -> None:
    _copy(tmp_path, "group_means")
    spec = tmp_path / "specs/group_means.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    [why] = figures.stale(tmp_path, "group_means")
    assert "specs/group_means.yaml changed" in why


def test_a_summary_printed_otherwise_today_is_stale(tmp_path: Path) -> None:
    """A number edited in the saved report, or a printed table edited by hand (or printed by an
    older specrec.summary, as the ESS/s of 0.0 was), is found."""
    folder = _copy(tmp_path, "quickstart")
    text = (folder / "compare.txt").read_text(encoding="utf-8")
    (folder / "compare.txt").write_text(text.replace("test RMSE", "test rmse"), encoding="utf-8")
    [why] = figures.stale(tmp_path, "quickstart")
    assert "compare.txt: not what specrec.summary prints" in why
    (folder / "compare.txt").write_text(text, encoding="utf-8")
    saved = json.loads((folder / "compare.json").read_text(encoding="utf-8"))
    saved["report"]["rows"][0]["test_rmse"] += 0.01
    (folder / "compare.json").write_text(json.dumps(saved), encoding="utf-8")
    assert len(figures.stale(tmp_path, "quickstart")) == 1
    (folder / figures.SOURCE).unlink()
    assert "source.json: unreadable or missing" in figures.stale(tmp_path, "quickstart")[0]


def test_a_small_ess_per_second_is_not_shown_as_zero() -> None:
    """The quickstart's ESS/s (a bulk ESS of 2.5 in 110 s of NUTS) was printed as 0.0."""
    saved = json.loads((ROOT / "docs/figures/quickstart/compare.json").read_text())
    report = saved["report"]
    for row, value in zip(report["rows"], (0.023, 0.00012, 41.37), strict=True):
        row["ess_per_s"] = value
    line = next(x for x in compare_summary(report, None).splitlines() if "ESS/s" in x)
    assert line.split()[1:] == ["0.023", "0.00012", "41.4"]
    shown = (ROOT / "docs/figures/quickstart/compare.txt").read_text(encoding="utf-8")
    assert "ESS/s" in shown and " 0.0 " not in next(x for x in shown.splitlines() if "ESS/s" in x)
