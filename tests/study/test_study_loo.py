"""The study report ranks configurations by PSIS-LOO within each split and seed (real NumPyro)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from specrec.cli import main

pytestmark = pytest.mark.backend("numpyro")

#: group_means on a file of ratings: both configurations read the same rows (a simulated
#: spec simulates from its own prior, so two priors would mean two data sets)
SPEC = """\
specrec: 1
name: groups
data:
  source: file
  path: {csv}
  split: {kind: random, test_fraction: 0.2, seed: 0}
dims:
  group: {column: group}
params:
  group_means:
    prior: Normal(0, 2)
    dims: [group]
likelihood:
  y: Normal(group_means[group], 1)
inference:
  method: vi
  steps: 300
  draws: 200
  seed: 0
"""

STUDY = """\
specrec_study: 1
name: loo
splits:
  random: {kind: random, test_fraction: 0.2, seed: 0}
  cv: {kind: kfold, k: 2, folds: [0, 1]}
runs:
  - spec: {spec}
    label: right
    backends: [numpyro]
    seeds: [0]
  - spec: {spec}
    label: tight
    backends: [numpyro]
    seeds: [0]
    set: {params.group_means.prior: "Normal(0, 0.1)"}
  - spec: {spec}
    label: point
    backends: [numpyro]
    methods: [map]
    seeds: [0]
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("loo")
    rng = np.random.default_rng(1)
    group = np.repeat([0, 1, 2], 12)
    y = np.array([-1.5, 0.5, 2.0])[group] + rng.normal(size=group.size)
    pd.DataFrame({"group": group, "y": y}).to_csv(folder / "groups.csv", index=False)
    (folder / "groups.yaml").write_text(SPEC.replace("{csv}", str(folder / "groups.csv")))
    path = folder / "loo.yaml"
    path.write_text(STUDY.replace("{spec}", str(folder / "groups.yaml")))
    r = CliRunner().invoke(main, ["study", "run", str(path), "--workers", "1"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["study", "report", str(path), "--out", str(folder / "rep")])
    assert r.exit_code == 0, r.output
    return folder / "rep"


def test_each_split_and_seed_is_ranked_by_loo(report: Path) -> None:
    table = pd.read_csv(report / "loo.csv")
    # three folds (random, cv 0, cv 1), each ranking its two runs with draws; map is left out
    assert len(set(table["split_label"])) == 3
    assert table.groupby("split_label").size().tolist() == [2, 2, 2]
    assert not table["model"].str.startswith("point").any()
    # the prior that pins every group mean near 0 (the simulated means are not) loses everywhere
    best = table[table["rank"] == 0]
    assert best["model"].str.startswith("right").all(), best
    assert (table[table["rank"] == 1]["elpd_diff"] > 0).all()


def test_summary_and_page_show_the_ranking_and_what_was_left_out(report: Path) -> None:
    md = (report / "summary.md").read_text()
    assert "## Model comparison by PSIS-LOO" in md
    assert "right / vi / numpyro" in md
    page = (report / "report.html").read_text()
    assert "Model comparison by PSIS-LOO, per split and seed" in page
    assert "tight / vi / numpyro" in page
    assert "point / map / numpyro: a point estimate" in md
