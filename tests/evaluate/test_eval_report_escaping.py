"""The run report page shows every text of a run literally: markup in a description, a data
path, a backend's version string, a diagnostic's name or the run's name is escaped.

Each hostile text is put into every string (and key) of a metrics record at once, so a field
added to metrics.json later is covered without changing this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from html_checks import HOSTILE, assert_only_page_markup

from specrec.evaluate.report import render_html

#: the shape of a metrics.json, with the fields the page reads
METRICS = {
    "spec": {"name": "n", "description": "d"},
    "inference": {"method": "nuts"},
    "backend": {"name": "b", "version": "v"},
    "metrics": {"test": {"rmse": 0.9, "note": "t"}, "loo": {"skipped": "s"}},
    "baselines": {"global_mean": {"rmse": 1.1}},
    "diagnostics": {"rhat": {"U": 1.01}, "warnings": ["w"]},
    "timing": {"fit_s": 1.0},
    "data": {"source": "file", "path": "p"},
    "split": {"kind": "random"},
    "versions": {"numpyro": "x"},
}


#: sections whose keys are names from the spec or the environment (parameters, libraries,
#: baselines); the other keys are fixed names the page looks up
NAMED = ("diagnostics", "versions", "baselines")


def _hostile(node: object, text: str, rename: bool = False) -> object:
    if isinstance(node, dict):
        return {
            (f"{k}{text}" if rename else k): _hostile(v, text, rename or k in NAMED)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hostile(v, text, rename) for v in node]
    return text if isinstance(node, str) else node


@pytest.mark.parametrize("text", HOSTILE)
def test_run_report_page_shows_user_text_literally(tmp_path: Path, text: str) -> None:
    metrics = _hostile(METRICS, text)
    page = render_html(metrics, tmp_path, [], run_name=f"run {text}")  # type: ignore[arg-type]
    assert_only_page_markup(page, text)
