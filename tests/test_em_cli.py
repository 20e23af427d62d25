"""``specrec fit specs/netflix_mixture.yaml --method em`` end to end through the CLI, on NumPyro
and on PyMC (em computes from the model alone, so any backend gives it), then ``predict`` and
``recommend`` on the run: the run directory, evaluator and summary of a mixture fitted by em."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from specrec.cli import main

SPEC = Path(__file__).resolve().parents[1] / "specs" / "netflix_mixture.yaml"
SMALL = ["data.sizes.user=80", "data.sizes.item=20", "inference.restarts=3"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    "backend", [pytest.param(b, marks=pytest.mark.backend(b)) for b in ("numpyro", "pymc")]
)
def test_fit_em_then_predict_and_recommend(backend: str, tmp_path: Path) -> None:
    pytest.importorskip(backend)
    sets = [a for s in SMALL for a in ("--set", s)]
    r = invoke(
        "fit", str(SPEC), "--method", "em", "--backend", backend, "--out", str(tmp_path), *sets
    )
    assert r.exit_code == 0, r.stderr
    assert "em on " + backend in r.stdout
    assert "3 of 3 components non-empty" in r.stdout
    assert r.stdout.count("(3)") == 3  # every start's log-likelihood and non-empty types
    [run] = list((tmp_path / "netflix_mixture").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["backend"]["kernel"] == "core" and metrics["backend"]["em"]["converged"]
    mix = metrics["diagnostics"]["mixture"]
    assert mix["nonempty_components"] == 3
    assert mix["log_likelihood"] == pytest.approx(metrics["backend"]["em"]["log_likelihood"])
    starts = metrics["restarts"]
    assert len(starts["log_likelihood"]) == 3 and starts["nonempty_components"] == [3, 3, 3]
    assert metrics["metrics"]["test"]["rmse"] < 0.8  # spreads 0.5-0.7 around the type means

    saved = pd.read_csv(run / "predictions.csv")
    pairs = tmp_path / "pairs.csv"
    saved[["user_id", "item_id"]].head(5).to_csv(pairs, index=False)
    with pairs.open("a") as f:
        f.write("no-such-user,1\n")
    out = tmp_path / "predicted.csv"
    r = invoke("predict", str(run), "--pairs", str(pairs), "--out", str(out))
    assert r.exit_code == 0, r.stderr
    got = pd.read_csv(out)
    # the run's own test predictions: a user's type from the user's training ratings
    pd.testing.assert_series_equal(got["mean"].head(5), saved["mean"].head(5), rtol=1e-10)
    assert got["user_known"].tolist() == [True] * 5 + [False]

    user = str(saved["user_id"].iloc[0])
    r = invoke("recommend", str(run), "--user", user, "-n", "3", "--json")
    assert r.exit_code == 0, r.stderr
    recs = json.loads(r.stdout)
    assert recs["known"] and [x["rank"] for x in recs["items"]] == [1, 2, 3]
