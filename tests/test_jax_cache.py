"""The persistent JAX compilation cache (specrec_jax.cache): where it goes, that a second
process compiles from it, and that a user's own JAX cache setting or ``off`` is respected.

Fits run as whole processes (the cache is a per-process JAX setting made before the first
compile); hits are read from JAX's own monitoring counters in metrics.json, never timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from specrec_jax import cache as jax_cache

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "quickstart.yaml"
TINY = ["--set", "inference.steps=20", "--set", "data.density=0.1"]


def test_the_folder_follows_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jax_cache.resolve({}) == tmp_path / "xdg" / "specrec" / "jax"
    assert jax_cache.resolve({"SPECREC_JAX_CACHE": str(tmp_path / "c")}) == tmp_path / "c"
    for off in ("off", "OFF", "0", "no", "false", "none", ""):
        assert jax_cache.resolve({"SPECREC_JAX_CACHE": off}) is None


def _fit(tmp_path: Path, env: dict[str, str], tag: str) -> dict:
    full = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), **env}
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "backends")])
    for k in ("JAX_COMPILATION_CACHE_DIR", "SPECREC_JAX_CACHE"):
        if k not in env:
            full.pop(k, None)
    args = ["fit", str(SPEC), "--method", "map", *TINY, "--out", str(tmp_path / f"runs-{tag}")]
    out = subprocess.run(
        [sys.executable, "-m", "specrec.cli", *args, "--json"],
        env=full,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


@pytest.mark.backend("numpyro")
@pytest.mark.slow
def test_a_second_process_compiles_from_the_default_cache(tmp_path: Path) -> None:
    folder = tmp_path / "xdg" / "specrec" / "jax"
    first = _fit(tmp_path, {}, "1")["backend"]["compile_cache"]
    written = _entries(folder)
    assert first["dir"] == str(folder)
    assert first["written"] > 0 and len(written) == first["written"]
    # a program JAX compiles twice in one process (another jit context) is a hit already
    assert first["hits"] + first["written"] == first["lookups"]
    second = _fit(tmp_path, {}, "2")["backend"]["compile_cache"]
    # every program of the second process comes from the cache; nothing new is written
    assert second["hits"] == second["lookups"] == first["lookups"]
    assert second["written"] == 0
    assert _entries(folder) == written


@pytest.mark.backend("numpyro")
@pytest.mark.slow
def test_specrec_jax_cache_moves_it_or_switches_it_off(tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    cache = _fit(tmp_path, {"SPECREC_JAX_CACHE": str(moved)}, "m")["backend"]["compile_cache"]
    assert cache["dir"] == str(moved) and cache["written"] == len(_entries(moved)) > 0
    off = _fit(tmp_path, {"SPECREC_JAX_CACHE": "off"}, "o")["backend"]["compile_cache"]
    assert off["dir"] is None and off["hits"] == off["written"] == 0
    assert not (tmp_path / "xdg" / "specrec" / "jax").exists()


@pytest.mark.backend("numpyro")
@pytest.mark.slow
def test_the_users_own_jax_cache_setting_wins(tmp_path: Path) -> None:
    own = tmp_path / "own"
    env = {"JAX_COMPILATION_CACHE_DIR": str(own), "SPECREC_JAX_CACHE": str(tmp_path / "ours")}
    cache = _fit(tmp_path, env, "u")["backend"]["compile_cache"]
    assert cache["dir"] == str(own)
    assert not (tmp_path / "ours").exists()
    # JAX's default threshold (1 s) is the user's too: specrec's 0 s is not applied
    assert cache["written"] == len(_entries(own)) < cache["lookups"]
