"""Register backends for a test as an installed package would, without installing anything.

A ``*.dist-info`` folder with an ``entry_points.txt`` is written to a temporary directory that
goes on ``sys.path``; ``importlib.metadata`` then finds it like any installed distribution,
and ``specrec.backends.refresh()`` forgets the cached discovery.  This exercises the real
discovery path (entry point -> import -> instantiate), which patching the cache would not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from specrec import backends


@contextmanager
def registered(
    site: Path, dist: str, entry_points: dict[str, str], import_paths: tuple[Path, ...] = ()
) -> Iterator[None]:
    """``entry_points`` maps backend names to ``module:Class``; ``import_paths`` make the
    modules importable.  Everything is undone on exit, so later tests see the real plugins."""
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{backends.GROUP}]\n{lines}")
    with pytest.MonkeyPatch.context() as mp:
        for p in (*import_paths, site):
            mp.syspath_prepend(str(p))
        backends.refresh()
        try:
            yield
        finally:
            backends.refresh()
    backends.refresh()
