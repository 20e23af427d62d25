"""``specrec fit --method cavi`` end to end through the CLI (the core's kernel, any backend):
the run directory, metrics and summary of a cavi fit, and a refusal with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from specrec.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.backend("numpyro")
def test_fit_quickstart_by_cavi(tmp_path: Path) -> None:
    pytest.importorskip("numpyro")
    r = invoke(
        "fit", str(SPECS / "quickstart.yaml"), "--method", "cavi", "--backend", "numpyro",
        "--out", str(tmp_path), "--set", "inference.draws=50", "--set", "inference.steps=300",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    [run] = list((tmp_path / "quickstart").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    info = metrics["backend"]
    assert info["kernel"] == "core" and info["cavi"]["converged"], info
    loss = np.asarray(json.loads((run / "curves.json").read_text())["loss"], float)
    assert loss.size >= 3 and np.all(np.diff(loss) <= 1e-9 * np.abs(loss[1:]))  # -ELBO
    # simulated sigma 0.5: a hierarchical PMF beats the global mean clearly
    test = metrics["metrics"]["test"]
    assert test["rmse"] < 0.8 * metrics["baselines"]["global_mean"]["rmse"], test


@pytest.mark.backend("numpyro")
def test_cavi_refuses_a_spec_without_a_closed_form(tmp_path: Path) -> None:
    pytest.importorskip("numpyro")
    r = invoke(
        "fit", str(SPECS / "watch_minutes.yaml"), "--method", "cavi",
        "--backend", "numpyro", "--out", str(tmp_path),
    )  # fmt: skip
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "cavi: the likelihood is NegativeBinomial" in r.stderr, r.stderr
