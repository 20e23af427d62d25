"""Fixtures for the data-layer tests: tiny rating files written to ``tmp_path``."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path / name`` (creating folders) and return the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


FAKE_U_DATA = "1\t10\t5\t881250949\n2\t10\t3\t891717742\n1\t20\t1\t878887116\n"
FAKE_U_USER = "1|24|M|technician|85711\n2|53|F|other|94043\n"
FAKE_U_ITEM = (
    "10|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "20|GoldenEye (1995)|01-Jan-1995||http://y|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"
)


@pytest.fixture
def ml100k_zip(tmp_path: Path) -> Path:
    """A tiny stand-in for ``ml-100k.zip`` with the real layout (``ml-100k/u.data`` etc.)."""
    path = tmp_path / "archive" / "ml-100k.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ml-100k/u.data", FAKE_U_DATA)
        archive.writestr("ml-100k/u.user", FAKE_U_USER)
        archive.writestr("ml-100k/u.item", FAKE_U_ITEM.encode("latin-1"))
    return path
