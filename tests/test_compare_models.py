"""`specrec compare-models`: runs of different specs ranked by PSIS-LOO, as ArviZ ranks them."""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np
import pytest
from click.testing import CliRunner

import specrec
from specrec.cli import main

pytestmark = pytest.mark.backend("numpyro")

SPEC = """
specrec: 1
name: {name}
data:
  source: file
  path: {path}
  format: movielens
  split: {{kind: random, test_fraction: 0.2, seed: {split}}}
dims:
  user: {{column: user_id}}
  item: {{column: item_id}}
params:
{params}
likelihood:
  rating: Normal({mean}, sigma)
inference: {{method: {method}, steps: 300, lr: 0.05, draws: 60, seed: 0}}
"""

BIASES = dict(
    params="  mu: Normal(3, 1)\n  b_u: {prior: 'Normal(0, 0.5)', dims: [user]}\n"
    "  b_i: {prior: 'Normal(0, 0.5)', dims: [item]}\n  sigma: HalfNormal(1)",
    mean="mu + b_u[user] + b_i[item]",
)
#: the same structure with biases shrunk to almost nothing: close to the global mean
MEAN_ONLY = dict(params=BIASES["params"].replace("0.5", "0.01"), mean=BIASES["mean"])


def _fit(tmp: Path, data: Path, name: str, model: dict, method: str = "vi", split: int = 0):
    spec = tmp / f"{name}.yaml"
    spec.write_text(
        SPEC.format(name=name, path=data / "u.data", split=split, method=method, **model)
    )
    return specrec.fit(spec, out=tmp / "runs", progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, fake_ml100k: Path) -> dict:
    tmp = tmp_path_factory.mktemp("models")
    return {
        "biases": _fit(tmp, fake_ml100k, "biases", BIASES),
        "mean_only": _fit(tmp, fake_ml100k, "mean_only", MEAN_ONLY),
        "other_split": _fit(tmp, fake_ml100k, "other_split", MEAN_ONLY, split=1),
        "map": _fit(tmp, fake_ml100k, "biases_map", BIASES, method="map"),
    }


def test_the_ranking_is_arvizs_own_over_the_run_directories(runs: dict, tmp_path: Path) -> None:
    paths = [str(runs["biases"].path), str(runs["mean_only"].path)]
    r = CliRunner().invoke(main, ["compare-models", *paths, "--json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    # what a user gets from ArviZ alone, opening the two posterior.nc files
    idatas = {
        n: az.from_netcdf(str(Path(p) / "posterior.nc"))
        for n, p in zip(["biases", "mean_only"], paths, strict=True)
    }
    want = az.compare(idatas, ic="loo")
    assert [row["model"] for row in got["rows"]] == list(want.index)
    for row in got["rows"]:
        np.testing.assert_allclose(row["elpd_loo"], want.loc[row["model"], "elpd_loo"])
        np.testing.assert_allclose(row["se"], want.loc[row["model"], "se"])
        np.testing.assert_allclose(row["weight"], want.loc[row["model"], "weight"])
        test = json.loads((Path(row["run"]) / "metrics.json").read_text())["metrics"]["test"]
        assert row["test_rmse"] == test["rmse"]
    assert got["rows"][0]["elpd_diff"] == 0.0 and got["rows"][1]["elpd_diff"] > 0
    assert got["data"]["unit"] and got["data"]["n"] == runs["biases"].metrics["split"]["n_train"]
    for name in ("comparison.json", "comparison.csv", "comparison.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not list(tmp_path.glob(".tmp-*"))


def test_the_terminal_table_ranks_and_names_a_point_fit_left_out(runs: dict) -> None:
    paths = [str(runs[k].path) for k in ("mean_only", "biases", "map")]
    r = CliRunner().invoke(main, ["compare-models", *paths])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1].split()[:3] == ["model", "elpd_loo", "se"]
    assert lines[1].split()[-2:] == ["RMSE", "cov90"]  # the runs' own interval level
    ranked = [ln.split()[0] for ln in lines[2:4]]
    assert sorted(ranked) == ["biases", "mean_only"]
    assert "left out biases_map: a point estimate (one draw)" in r.output


def test_runs_on_another_split_are_refused_with_what_differs(runs: dict) -> None:
    paths = [str(runs["mean_only"].path), str(runs["other_split"].path)]
    r = CliRunner().invoke(main, ["compare-models", *paths])
    assert r.exit_code == 2
    assert "cannot be ranked by LOO: their split differ" in r.output
    assert "Traceback" not in r.output


def test_fewer_than_two_runs_with_draws_is_an_error(runs: dict) -> None:
    paths = [str(runs["biases"].path), str(runs["map"].path)]
    r = CliRunner().invoke(main, ["compare-models", *paths])
    assert r.exit_code == 2
    assert "needs at least two runs with posterior draws, got 1" in r.output
    assert "biases_map: a point estimate" in r.output


def test_the_python_api_takes_runs_and_labels(runs: dict) -> None:
    c = specrec.compare_models([runs["biases"], runs["mean_only"]], names=["A", "B"])
    assert {row["model"] for row in c.rows} == {"A", "B"}
    assert abs(sum(row["weight"] for row in c.rows) - 1.0) < 1e-6
    frame = c.to_frame()
    assert list(frame.index) == [row["model"] for row in c.rows]
    assert frame.loc["A", "backend"] == "numpyro"  # the name, not metrics.json's whole record
    assert isinstance(c, specrec.Comparison)


def test_two_runs_of_one_spec_are_labelled_by_method_and_backend_name(runs: dict) -> None:
    """The second run of a spec gets ``name (method, backend)``: the backend's name, not the
    record metrics.json keeps of it (version, compile-cache counters)."""
    from specrec.model_comparison import _name

    first = runs["biases"]
    label = _name(first, {first.metrics["spec"]["name"]})
    assert label == "biases (vi, numpyro)"


def test_the_table_shows_each_interval_level_by_its_own_name() -> None:
    """A spec with ``interval: 0.8`` writes coverage_80: its column is cov80, not an empty cov90."""
    from specrec.model_comparison import Comparison, table_lines

    row = dict.fromkeys(["elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight"], 1.0)
    rows = [
        {**row, "model": "a", "warning": False, "test_rmse": 0.9, "coverage_80": 0.81},
        {**row, "model": "b", "warning": False, "test_rmse": 1.0, "coverage_90": 0.88},
    ]
    head, a, b = table_lines(Comparison(rows, {}, {"unit": "row", "n": 3}))[1:4]
    assert head.split()[-2:] == ["cov80", "cov90"]
    assert a.split()[-2:] == ["0.81", "-"] and b.split()[-2:] == ["-", "0.88"]
