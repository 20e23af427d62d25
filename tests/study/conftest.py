"""Helpers for study tests: write a study file next to the repository's example specs."""

from __future__ import annotations

from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture
def write_study(tmp_path: Path):
    """Write ``text`` (``{specs}`` = the example specs folder) to tmp_path/NAME.yaml."""

    def write(text: str, name: str = "study") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text.replace("{specs}", str(SPECS)))
        return path

    return write
