"""Whole-process CLI runs that several test modules make (one copy, not one per module).

Import with ``from cli_runs import ...`` (``tests/`` is on the path through its conftest).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
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
