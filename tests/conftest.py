"""Shared fixtures: small data sets made on the fly (tests never read ../shared or the network)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

SPECS = Path(__file__).resolve().parents[1] / "specs"

#: JAX's persistent compilation cache for one test session, shared by the xdist workers and
#: every subprocess they start (set in the environment before any of them imports JAX).  The
#: suite compiles the same small models again and again (each fit builds a fresh closure, so
#: JAX's in-memory cache never hits; the on-disk cache is keyed by the compiled program
#: itself): a second process fitting an already-compiled model spent half the CPU time.
#: Every compile is cached (threshold 0 s): the small ones add up.  Fresh per session, so a
#: result never depends on an earlier run.
JAX_CACHE_ENV = {
    "JAX_COMPILATION_CACHE_DIR": None,  # set in pytest_configure
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return  # an xdist worker inherits the controller's; a user's own cache is kept
    folder = tempfile.mkdtemp(prefix="specrec-tests-jax-cache-")
    config._specrec_jax_cache = folder  # type: ignore[attr-defined]
    os.environ.update({**JAX_CACHE_ENV, "JAX_COMPILATION_CACHE_DIR": folder})


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = getattr(config, "_specrec_jax_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        for key in JAX_CACHE_ENV:
            os.environ.pop(key, None)


def write_fake_movielens(
    folder: Path, n_users: int = 40, n_items: int = 30, density: float = 0.3, seed: int = 0
) -> Path:
    """A u.data in the MovieLens 100k format, with low-rank structure so factor models can learn."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.7, (n_users, 2))
    v = rng.normal(0, 0.7, (n_items, 2))
    cells = rng.choice(n_users * n_items, int(density * n_users * n_items), replace=False)
    users, items = np.unravel_index(cells, (n_users, n_items))
    raw = 3.5 + np.sum(u[users] * v[items], axis=1) + rng.normal(0, 0.6, len(cells))
    ratings = np.clip(np.rint(raw), 1, 5).astype(int)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{a + 1}\t{b + 1}\t{r}\t{880000000 + i}"
        for i, (a, b, r) in enumerate(zip(users, items, ratings, strict=True))
    ]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    write_fake_side_tables(folder, n_users, n_items, rng)
    return folder


def write_fake_side_tables(
    folder: Path, n_users: int, n_items: int, rng: np.random.Generator
) -> None:
    """u.user and u.item in the 100k format: age, gender, occupation; 19 genre flags."""
    jobs = ("student", "engineer", "artist")
    users = [
        f"{u + 1}|{rng.integers(15, 70)}|{'MF'[u % 2]}|{jobs[u % 3]}|{10000 + u}"
        for u in range(n_users)
    ]
    (folder / "u.user").write_text("\n".join(users) + "\n")
    items = []
    for i in range(n_items):
        flags = "|".join(str(int(rng.random() < 0.3)) for _ in range(19))
        items.append(f"{i + 1}|Movie {i + 1} (1995)|01-Jan-1995||http://x|{flags}")
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")


@pytest.fixture(scope="session")
def fake_ml100k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_movielens(tmp_path_factory.mktemp("ml") / "ml-100k")
