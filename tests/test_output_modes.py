"""Outputs get the modes a plain ``open``/``mkdir`` would give them, not the private modes of
the temporary names they are written under (``mkstemp`` 0600, ``mkdtemp`` 0700): a run, a
written file or a figure is for reading by whoever may read the folder it is in."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from specrec import rundir


@pytest.fixture(params=[0o022, 0o027])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_run_folder_and_its_files_get_the_umask_modes(tmp_path: Path, umask: int) -> None:
    def write(folder: Path) -> None:
        rundir.write_text_atomic(folder / "metrics.json", "{}")

    final = rundir.write_run(tmp_path / "runs", "r1", write)
    assert _mode(final) == 0o777 & ~umask
    assert _mode(final / "metrics.json") == 0o666 & ~umask


def test_write_text_atomic_gives_an_ordinary_file(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "out" / "summary.md"
    rundir.write_text_atomic(path, "text")
    assert path.read_text() == "text"
    assert _mode(path) == 0o666 & ~umask
    assert rundir.file_mode() == 0o666 & ~umask and rundir.dir_mode() == 0o777 & ~umask
