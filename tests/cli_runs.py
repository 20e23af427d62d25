"""Whole-process CLI runs that several test modules make (one copy, not one per module).

Import with ``from cli_runs import ...`` (``tests/`` is on the path through its conftest).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

QUICKSTART = Path(__file__).resolve().parents[1] / "specs" / "quickstart.yaml"


def quick_map_fit(
    out: Path, launcher: Sequence[str] = ("-m", "specrec.cli"), **kwargs: Any
) -> subprocess.CompletedProcess:
    """``specrec fit quickstart.yaml --method map`` (50 steps, quiet) into ``out``, in a new
    Python process started with ``launcher`` (e.g. ``("-c", code)`` that runs the CLI)."""
    args = ["fit", str(QUICKSTART), "--method", "map", "--out", str(out), "-q"]
    return subprocess.run(
        [sys.executable, *launcher, *args, "--set", "inference.steps=50"],
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[bool]:
    """A tmpfs of ``size`` mounted at ``path`` while the block runs (root only): yields False,
    mounting nothing, where that is not allowed."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield False
        return
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    try:
        yield done.returncode == 0
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", str(path)])
