"""Every spec in specs/ runs end to end with a tiny budget (so examples never rot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"

ALL = sorted(
    p.relative_to(SPECS).as_posix() for p in SPECS.rglob("*.yaml") if "studies" not in p.parts
)
TINY = [
    "inference.steps=100",
    "inference.warmup=30",
    "inference.draws=30",
    "inference.chains=1",
    "inference.max_tree_depth=5",  # nuts: a tiny budget bounds the tree too (maps, vi: unused)
    "inference.restarts=1",  # map, vi: one start (a mixture spec asks for several)
]
#: specs whose full size is slow even for a tiny budget (matrix-valued priors): smaller dims
SMALLER = {
    f"movielens/{name}.yaml": ["dims.factor=3", "dims.factor2=3"]
    for name in ("bpmf_lkj", "bpmf_nw")
}


@pytest.mark.backend("numpyro")
@pytest.mark.parametrize("spec", ALL)
def test_example_spec_fits(spec: str, tmp_path: Path, fake_ml100k: Path):
    args = ["fit", str(SPECS / spec), "--out", str(tmp_path), "--json", "-q"]
    for s in TINY + SMALLER.get(spec, []):
        args += ["--set", s]
    if spec.startswith("movielens/"):
        args += ["--data", str(fake_ml100k)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["metrics"]["test"]["rmse"] > 0
