"""Shared fixtures: small data sets made on the fly (tests never read ../shared or the network)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SPECS = Path(__file__).resolve().parents[1] / "specs"

# No persistent JAX compilation cache unless a test asks for one (tests/test_jax_cache.py) or the
# developer sets SPECREC_JAX_CACHE: a warm cache from an earlier run would change what a test
# exercises, and the tests must not write into the user's cache folder.
os.environ.setdefault("SPECREC_JAX_CACHE", "off")


def pytest_configure(config: pytest.Config) -> None:
    """In the pytest-xdist controller, before the workers start: write ArviZ's daily stamp.

    Otherwise the two workers import ArviZ (through PyMC) at the same moment on a fresh machine or
    a new day, race on its stamp file, and one dies at collection (see ``stamp_arviz_day``).
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        from specrec.study.executors import stamp_arviz_day

        stamp_arviz_day()


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
