"""A Gibbs run says which parameters got a slice step: in metrics.json and in its summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"
TINY = [
    *("--set", "data.sizes.user=20", "--set", "data.sizes.item=15"),
    *("--set", "inference.warmup=20", "--set", "inference.draws=30"),
]


def _fit(tmp_path: Path, spec: str, *args: str):
    r = CliRunner().invoke(
        main, ["fit", str(SPECS / spec), "--method", "gibbs", *args, "--out", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    (run,) = [p for p in (tmp_path / Path(spec).stem).iterdir() if "gibbs" in p.name]
    return r, json.loads((run / "metrics.json").read_text())


@pytest.mark.backend("numpyro")
def test_a_gibbs_run_names_its_slice_steps(tmp_path: Path) -> None:
    r, metrics = _fit(tmp_path, "quickstart.yaml", *TINY)
    backend = metrics["backend"]
    assert backend["slice_steps"] == ["sigma"]  # HalfNormal on a Normal scale: not conjugate
    assert len(backend["updates"]) == 5
    assert any(u.startswith("sigma: slice step (") for u in backend["updates"])
    assert (
        "gibbs: slice steps on sigma; 4 of 5 parameters drawn from closed-form conditionals"
        in r.stdout
    )


@pytest.mark.backend("numpyro")
def test_a_fully_conjugate_gibbs_run_says_it_has_no_slice_step(tmp_path: Path) -> None:
    sets = ["--set", "inference.warmup=20", "--set", "inference.draws=30"]
    r, metrics = _fit(tmp_path, "group_means.yaml", *sets)
    assert metrics["backend"]["slice_steps"] == []
    assert "gibbs: every parameter (1) drawn from its closed-form conditional" in r.stdout
    assert "slice steps on" not in r.stdout


@pytest.mark.backend("numpyro")
def test_a_nuts_run_has_no_gibbs_line(tmp_path: Path) -> None:
    sets = ["--set", "inference.warmup=20", "--set", "inference.draws=20"]
    args = ["fit", str(SPECS / "group_means.yaml"), *sets, "--out", str(tmp_path)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "gibbs:" not in r.stdout
