"""Fits that live on: a run directory read back without the data or a backend, predicting new
pairs by raw id and recommending unrated items (one small NumPyro fit shared by most tests; an
ordinal and a numeric-column fit for the discrete bounds and the whole-row lookup)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runs import small_tmpfs
from click.testing import CliRunner
from test_prior import ORDINAL

import specrec
from specrec import rundir
from specrec.cli import main

pytestmark = pytest.mark.backend("numpyro")

#: User and item biases with a hyperprior on the user spread: the population level of a new
#: user is known in closed form (b_u ~ Normal(0, s_u), mean 0), so predictions can be checked.
SPEC = """
specrec: 1
name: biases
data:
  source: file
  path: {path}
  format: movielens
  split: {{kind: random, test_fraction: 0.2, seed: 0}}
dims:
  user: {{column: user_id}}
  item: {{column: item_id}}
params:
  mu: Normal(3, 1)
  s_u: HalfNormal(1)
  b_u: {{prior: "Normal(0, s_u)", dims: [user]}}
  b_i: {{prior: "Normal(0, 0.5)", dims: [item]}}
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(mu + b_u[user] + b_i[item], sigma)
inference: {{method: nuts, warmup: 100, draws: 150, chains: 1, seed: 0}}
"""


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory, fake_ml100k: Path):
    """A run fitted on a copy of the data, which is then deleted: loading must not need it."""
    tmp = tmp_path_factory.mktemp("runs")
    data = tmp / "data"
    shutil.copytree(fake_ml100k, data)
    spec = tmp / "biases.yaml"
    spec.write_text(SPEC.format(path=data / "u.data"))
    run = specrec.fit(spec, out=tmp / "out", progress=False)
    shutil.rmtree(data)
    return run


def _draws(run, name: str) -> np.ndarray:
    values = np.asarray(run.idata.posterior[name].values, dtype=float)
    return values.reshape(-1, *run.model.latent(name).shape)


def _rated(run, user: int) -> set[int]:
    train = run.train
    users = train.levels["user_id"][train.codes["user_id"]]
    items = train.levels["item_id"][train.codes["item_id"]]
    return set(items[users == user].tolist())


def test_run_directory_states_format_and_version(fitted) -> None:
    info = json.loads((fitted.path / "run.json").read_text())
    assert info["format"] == 2 and info["specrec_version"] == rundir.specrec_version()
    assert (fitted.path / "train.npz").is_file()


def test_loaded_run_predicts_the_evaluators_test_predictions(fitted) -> None:
    """Loaded from disk (data deleted), the test pairs get exactly the run's own predictions."""
    saved = pd.read_csv(fitted.path / "predictions.csv")
    loaded = specrec.load_run(fitted.path)
    out = loaded.predict(saved[["user_id", "item_id"]])
    np.testing.assert_allclose(out["mean"], saved["mean"], rtol=1e-10)
    again = fitted.predict(saved[["user_id", "item_id"]])  # the in-memory Run: same class
    np.testing.assert_allclose(again["mean"], saved["mean"], rtol=1e-10)
    assert loaded.metrics["metrics"]["test"]["rmse"] == fitted.metrics["metrics"]["test"]["rmse"]
    assert (out["lower"] < out["mean"]).all() and (out["mean"] < out["upper"]).all()


def test_known_pair_mean_is_the_posterior_mean_of_the_likelihood_mean(fitted) -> None:
    run = specrec.load_run(fitted.path)
    u_code, i_code = 2, 5
    user = run.model.dims["user"].coords[u_code]
    item = run.model.dims["item"].coords[i_code]
    expected = np.mean(
        _draws(run, "mu") + _draws(run, "b_u")[:, u_code] + _draws(run, "b_i")[:, i_code]
    )
    out = run.predict(pd.DataFrame({"user_id": [str(user)], "item_id": [item]}))
    assert out["mean"].iloc[0] == pytest.approx(expected, rel=1e-6)
    assert bool(out["user_known"].iloc[0]) and bool(out["item_known"].iloc[0])


def test_unknown_ids_are_predicted_from_the_population_and_marked(fitted) -> None:
    run = specrec.load_run(fitted.path)
    item_code = 3
    item = run.model.dims["item"].coords[item_code]
    pairs = pd.DataFrame(
        {"user_id": ["new-user", "new-user", 1], "item_id": [item, "new-item", item]}
    )
    out = run.predict(pairs)
    assert out["user_known"].tolist() == [False, False, True]
    assert out["item_known"].tolist() == [True, False, True]
    mu, b_i, s_u = _draws(run, "mu"), _draws(run, "b_i")[:, item_code], _draws(run, "s_u")
    # A new user's bias is a Normal(0, s_u) draw per posterior draw: its mean is zero, so the
    # prediction is E[mu + b_i] up to Monte Carlo error (sd of the average of the new biases).
    mc = 4 * np.sqrt(np.mean(s_u**2) / len(mu))
    assert out["mean"].iloc[0] == pytest.approx(np.mean(mu + b_i), abs=mc)
    # An unknown item too: b_i ~ Normal(0, 0.5) for it, and E[mu] remains.
    assert out["mean"].iloc[1] == pytest.approx(np.mean(mu), abs=mc + 4 * 0.5 / np.sqrt(len(mu)))
    # Not known: the between-user spread widens the interval beyond the known user's.
    width = out["upper"] - out["lower"]
    assert width.iloc[0] > width.iloc[2]
    assert out.columns.tolist()[:2] == ["user_id", "item_id"]


def test_recommend_ranks_unrated_items_by_posterior_expected_rating(fitted) -> None:
    run = specrec.load_run(fitted.path)
    user_code = 0
    user = int(run.model.dims["user"].coords[user_code])
    n = 5
    rec = run.recommend(user, n)
    rated = _rated(run, user)
    items = run.model.dims["item"].coords
    candidates = np.array([j for j in range(len(items)) if int(items[j]) not in rated])
    assert len(rec) == n and rec.attrs["known"] and rec.attrs["candidates"] == len(candidates)
    assert not set(rec["item_id"].tolist()) & rated
    # The same numbers straight from the draws: E[mu + b_u + b_i] and the share of draws in
    # which each item is among the user's top n unrated items.
    per_draw = (
        _draws(run, "mu")[:, None]
        + _draws(run, "b_u")[:, user_code, None]
        + _draws(run, "b_i")[:, candidates]
    )
    expected = per_draw.mean(axis=0)
    best = np.argsort(-expected)[:n]
    assert rec["item_id"].tolist() == [int(items[j]) for j in candidates[best]]
    np.testing.assert_allclose(rec["expected"], expected[best], rtol=1e-6)
    ranks = np.argsort(np.argsort(-per_draw, axis=1), axis=1)
    np.testing.assert_allclose(rec[f"p_top_{n}"], (ranks[:, best] < n).mean(axis=0))


def test_recommend_for_an_unknown_user_is_population_level(fitted) -> None:
    run = specrec.load_run(fitted.path)
    rec = run.recommend("someone-new", 3)
    assert rec.attrs["known"] is False
    assert rec.attrs["candidates"] == run.model.dims["item"].size  # nothing rated
    # The population ranking is by E[mu + b_i] (the new user's bias adds the same to every
    # item in a draw), so the top items are those with the largest posterior mean b_i.
    top_b_i = np.argsort(-_draws(run, "b_i").mean(axis=0))[:3]
    items = run.model.dims["item"].coords
    assert rec["item_id"].tolist() == [int(items[j]) for j in top_b_i]


def test_cli_predict_and_recommend(fitted, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user_id,item_id,note\n1,2,a\n99999,2,b\n1,88888,c\n99998,88888,d\n")
    r = CliRunner().invoke(main, ["predict", str(fitted.path), "--pairs", str(pairs)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "user_id,item_id,note,mean,lower,upper,user_known,item_known"
    assert lines[1].endswith("True,True") and lines[2].endswith("False,True")
    assert lines[3].endswith("True,False") and lines[4].endswith("False,False")
    # one line per dim, worded so that no dim name needs an article ("a item" was printed)
    assert r.stderr.splitlines() == [
        "2 pairs where the user is unknown to the fit: predicted from the population level",
        "2 pairs where the item is unknown to the fit: predicted from the population level",
    ]
    out = tmp_path / "pred.csv"
    r = CliRunner().invoke(
        main, ["predict", str(fitted.path), "--pairs", str(pairs), "--out", str(out)]
    )
    assert r.exit_code == 0 and pd.read_csv(out)["mean"].between(1, 5).all()
    user = str(fitted.model.dims["user"].coords[0])
    r = CliRunner().invoke(main, ["recommend", str(fitted.path), "--user", user, "-n", "4"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[1].split() == [
        "rank",
        "item_id",
        "expected",
        "p_top_4",
        "item_known",
    ]
    assert len(r.stdout.splitlines()) == 2 + 4
    r = CliRunner().invoke(
        main, ["recommend", str(fitted.path), "--user", user, "-n", "2", "--dim", "item"]
    )
    assert r.exit_code == 0 and "user_id" in r.stdout  # items get users recommended


def test_cli_predict_out_on_a_full_disk_says_so_and_keeps_nothing(fitted, tmp_path: Path) -> None:
    """``predict --out`` onto a full disk ended in ``error: OSError: [Errno 28] ...``."""
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user_id,item_id\n1,2\n")
    disk = tmp_path / "disk"
    with small_tmpfs(disk, "100k") as mounted:
        if not mounted:
            pytest.skip("needs root to mount a small tmpfs")
        fd = os.open(disk / "fill", os.O_WRONLY | os.O_CREAT)
        try:  # fill the disk up
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        out = disk / "pred.csv"
        r = CliRunner().invoke(
            main, ["predict", str(fitted.path), "--pairs", str(pairs), "--out", str(out)]
        )
        assert r.exit_code == 1, r.output
        assert r.stderr == f"error: could not write {out}: the disk is full " + (
            "(No space left on device); nothing was written\n"
        )
        assert sorted(p.name for p in disk.iterdir()) == ["fill"]


def test_cli_bad_pairs_and_unknown_dim_exit_2(fitted, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,movie\n1,2\n")
    r = CliRunner().invoke(main, ["predict", str(fitted.path), "--pairs", str(pairs)])
    assert r.exit_code == 2
    assert "no column for dim 'item'" in r.stderr and "expected 'item_id'" in r.stderr
    r = CliRunner().invoke(main, ["recommend", str(fitted.path), "--user", "1", "--dim", "group"])
    assert r.exit_code == 2 and "unknown dim 'group'" in r.stderr


def test_loading_imports_no_backend(fitted) -> None:
    """Predicting from a saved run needs only the core: no PPL is imported on the way."""
    code = (
        "import sys, pandas as pd, specrec\n"
        f"run = specrec.load_run({str(fitted.path)!r})\n"
        "out = run.predict(pd.DataFrame({'user_id': [1], 'item_id': [1]}))\n"
        "assert out['mean'].notna().all()\n"
        "print(sorted(m for m in ('numpyro', 'jax', 'pymc', 'pytensor', 'pyro', 'torch') "
        "if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_unknown_pairs_note_needs_no_article() -> None:
    from specrec.predict import unknown_pairs_note

    assert unknown_pairs_note("item", 1) == (
        "1 pair where the item is unknown to the fit: predicted from the population level"
    )
    assert unknown_pairs_note("user", 3).startswith("3 pairs where the user is unknown")


def test_recommend_and_predict_take_a_runs_folder(fitted, tmp_path: Path) -> None:
    """A spec's runs folder (``runs/NAME``) stands for its newest run in both commands: one
    resolver (``load_run``), so recommend no longer refuses what predict accepts."""
    folder = fitted.path.parent
    assert folder != fitted.path and (folder / fitted.path.name).is_dir()
    user = str(fitted.model.dims["user"].coords[0])
    by_run = CliRunner().invoke(main, ["recommend", str(fitted.path), "--user", user, "-n", "3"])
    by_folder = CliRunner().invoke(main, ["recommend", str(folder), "--user", user, "-n", "3"])
    assert by_folder.exit_code == 0, by_folder.output
    assert by_folder.stdout == by_run.stdout
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"user_id,item_id\n{user},2\n")
    r = CliRunner().invoke(main, ["predict", str(folder), "--pairs", str(pairs)])
    assert r.exit_code == 0, r.output
    assert specrec.load_run(folder).path == fitted.path


def test_pairs_file_may_use_the_data_files_column_names(fitted, tmp_path: Path) -> None:
    """An ML-latest header (userId, movieId) gets the rename the loader applies to such a
    ratings file, so the same pairs predict the same whichever names the file uses."""
    user, item = fitted.model.dims["user"].coords[0], fitted.model.dims["item"].coords[1]
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    ours.write_text(f"user_id,item_id\n{user},{item}\n99999,{item}\n")
    theirs.write_text(f"userId,movieId,rating\n{user},{item},4\n99999,{item},3\n")
    a = CliRunner().invoke(main, ["predict", str(fitted.path), "--pairs", str(ours)])
    b = CliRunner().invoke(main, ["predict", str(fitted.path), "--pairs", str(theirs)])
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    head, *rows = b.stdout.splitlines()
    assert head == "userId,movieId,rating,mean,lower,upper,user_known,item_known"
    assert [r.split(",", 3)[3] for r in rows] == [
        r.split(",", 2)[2] for r in a.stdout.splitlines()[1:]
    ]


@pytest.fixture(scope="module")
def ordinal_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("ordinal")
    spec = tmp / "ordinal.yaml"
    spec.write_text(ORDINAL)  # stars 1..5 as categories 0..4 (shift 1): a discrete likelihood
    return specrec.fit(spec, out=tmp / "out", progress=False)


def test_discrete_interval_bounds_are_values_the_likelihood_can_produce(ordinal_run) -> None:
    """An ordinal's bounds are stars 1..5 (inverted-CDF quantiles), in predictions.csv and in
    predict's output alike, for known pairs and for new ids."""
    saved = pd.read_csv(ordinal_run.path / "predictions.csv")
    pairs = pd.concat(
        [saved[["user_id", "item_id"]], pd.DataFrame({"user_id": ["new"], "item_id": ["0"]})]
    )
    out = specrec.load_run(ordinal_run.path).predict(pairs)
    for table in (saved, out):
        bounds = table[["lower", "upper"]].to_numpy(dtype=float)
        assert np.array_equal(bounds, np.rint(bounds)), bounds
        assert bounds.min() >= 1 and bounds.max() <= 5
        assert (table["lower"] <= table["upper"]).all()
    assert not out["user_known"].iloc[-1]


def test_predictive_interval_is_inverted_cdf_only_for_a_discrete_likelihood() -> None:
    from specrec.evaluate.metrics import predictive_interval

    draws = np.array([[1.0], [2.0], [2.0], [3.0], [5.0]])
    lower, upper = predictive_interval(draws, 0.5, discrete=True)
    assert (lower[0], upper[0]) == (2.0, 3.0)  # values among the draws
    lower, upper = predictive_interval(draws, 0.5, discrete=False)
    assert (lower[0], upper[0]) == (2.0, 3.0)
    lower, upper = predictive_interval(draws, 0.7, discrete=True)
    assert (lower[0], upper[0]) == (1.0, 5.0)
    lower, upper = predictive_interval(draws, 0.7, discrete=False)
    assert 1.0 < lower[0] < 2.0 and 3.0 < upper[0] < 5.0  # linear interpolation


def test_predictions_csv_marks_ids_without_training_rows_as_predict_does(ordinal_run) -> None:
    saved = pd.read_csv(ordinal_run.path / "predictions.csv")
    assert saved.columns.tolist() == [
        "user_id",
        "item_id",
        "rating",
        "mean",
        "lower",
        "upper",
        "user_known",
        "item_known",
    ]
    out = specrec.load_run(ordinal_run.path).predict(saved[["user_id", "item_id"]])
    for dim in ("user", "item"):
        assert saved[f"{dim}_known"].tolist() == out[f"{dim}_known"].tolist()
        train = ordinal_run.train
        seen = set(train.levels[f"{dim}_id"][train.codes[f"{dim}_id"]].tolist())
        assert saved[f"{dim}_known"].tolist() == [i in seen for i in saved[f"{dim}_id"]]


def test_a_test_pair_gets_exactly_its_predictions_csv_values(fitted) -> None:
    """Asked in any order, mixed with other pairs, the run's test pairs get predictions.csv's
    mean and interval to the last digit (the first row of a pair the test split repeats)."""
    path = fitted.path / "predictions.csv"
    saved = pd.read_csv(path).drop_duplicates(["user_id", "item_id"])
    pairs = pd.concat(
        [saved[["user_id", "item_id"]], pd.DataFrame({"user_id": [99999], "item_id": [1]})]
    ).iloc[::-1]
    for run in (specrec.load_run(fitted.path), fitted):  # read back, and in memory
        out = run.predict(pairs).iloc[::-1].iloc[:-1]
        for col in ("mean", "lower", "upper"):
            np.testing.assert_array_equal(out[col].to_numpy(), saved[col].to_numpy())


def test_predictions_do_not_depend_on_order_or_duplicates(fitted) -> None:
    """Pairs outside the test split (unknown ids too) are drawn from generators of their own:
    shuffled, duplicated, or among other pairs, a pair gets the same values."""
    run = specrec.load_run(fitted.path)
    saved = pd.read_csv(fitted.path / "predictions.csv")
    test = set(zip(saved["user_id"], saved["item_id"], strict=True))
    users, items = run.model.dims["user"].coords, run.model.dims["item"].coords
    known = [(u, i) for u in users[:6] for i in items[:6] if (u, i) not in test][:12]
    new = [("new-a", items[0]), ("new-b", items[0]), (users[0], "new-x"), ("new-a", "new-x")]
    pairs = pd.DataFrame([*known, *new], columns=["user_id", "item_id"])

    def rows(out: pd.DataFrame) -> list:
        cols = ["user_id", "item_id", "mean", "lower", "upper"]
        return [((str(u), str(i)), rest) for u, i, *rest in out[cols].itertuples(index=False)]

    first = dict(rows(run.predict(pairs)))
    shuffled = pairs.sample(frac=1.0, random_state=1)
    doubled = pd.concat([shuffled, pairs.iloc[[3, 12, 15, 3]]])
    fresh = specrec.load_run(fitted.path)  # nothing cached from the first call
    for other in (fresh.predict(shuffled), run.predict(doubled), run.predict(pairs.iloc[[15, 3]])):
        for pair, values in rows(other):  # every row, the repeated ones too
            assert values == first[pair], pair
    assert len({v[1] for v in first.values()}) > 1  # real intervals, not a constant


def test_a_pairs_own_draws_match_the_evaluators_within_monte_carlo_error(fitted) -> None:
    """Without predictions.csv to return, the test pairs are simulated pair by pair (each from
    its own generator): the same means, and intervals that differ only by simulation noise."""
    from dataclasses import replace

    saved = pd.read_csv(fitted.path / "predictions.csv").drop_duplicates(["user_id", "item_id"])
    predictor = replace(specrec.load_run(fitted.path).predictor, saved=None)
    out = predictor.predict(saved[["user_id", "item_id"]])
    np.testing.assert_allclose(out["mean"], saved["mean"], rtol=1e-10)
    for col in ("lower", "upper"):
        diff = (out[col] - saved[col]).to_numpy()
        assert np.abs(diff).mean() < 0.25 and abs(diff.mean()) < 0.08, (col, diff)
        assert not np.array_equal(out[col], saved[col])  # drawn anew, not looked up


#: A likelihood reading a numeric column (``hour``, named ``hr`` in the file) of an ML-latest
#: style CSV: the loader renames userId/movieId and hr, and so does predict.
HOURLY = """\
specrec: 1
name: hourly
data:
  source: file
  path: ratings.csv
  columns: {hour: hr}
  split: {kind: random, test_fraction: 0.25, seed: 0}
dims:
  user: {column: user_id}
  item: {column: item_id}
params:
  mu: Normal(3, 1)
  b_u: {prior: "Normal(0, 0.5)", dims: [user]}
  b_i: {prior: "Normal(0, 0.5)", dims: [item]}
  beta: Normal(0, 1)
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(mu + b_u[user] + b_i[item] + beta * hour, sigma)
inference: {method: map, steps: 300, seed: 0}
"""


def test_a_test_row_with_a_numeric_column_is_known_by_its_whole_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cells = rng.choice(15 * 10, 120, replace=False)  # distinct (user, item) cells
    user, item, hour = cells // 10 + 1, cells % 10 + 1, rng.integers(0, 3, len(cells))
    rating = np.clip(np.rint(3 + 0.5 * hour + rng.normal(0, 0.5, len(cells))), 1, 5)
    lines = [f"{u},{i},{r},{h}" for u, i, r, h in zip(user, item, rating, hour, strict=True)]
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,hr\n" + "\n".join(lines) + "\n")
    (tmp_path / "hourly.yaml").write_text(HOURLY)
    run = specrec.fit(tmp_path / "hourly.yaml", out=tmp_path / "out", progress=False)
    saved = pd.read_csv(run.path / "predictions.csv")
    assert saved.columns.tolist()[:3] == ["user_id", "item_id", "hour"]
    pairs = tmp_path / "pairs.csv"
    first = saved.head(5)
    other = first.assign(hour=first["hour"] + 10)  # the same ids at another hour
    with pairs.open("w") as f:
        f.write("userId,movieId,hr\n")
        for t in (first, other):
            for u, i, h in t[["user_id", "item_id", "hour"]].itertuples(index=False):
                f.write(f"{u},{i},{h}\n")
    out_file = tmp_path / "pred.csv"
    r = CliRunner().invoke(
        main, ["predict", str(run.path), "--pairs", str(pairs), "--out", str(out_file)]
    )
    assert r.exit_code == 0, r.output
    out = pd.read_csv(out_file)
    for col in ("mean", "lower", "upper"):
        np.testing.assert_array_equal(out[col].head(5).to_numpy(), first[col].to_numpy())
    beta = float(np.mean(run.idata.posterior["beta"].values))
    shift = out["mean"].tail(5).to_numpy() - first["mean"].to_numpy()
    np.testing.assert_allclose(shift, 10 * beta, rtol=1e-6)  # computed, not looked up


def test_a_run_shows_itself_in_one_line(fitted) -> None:
    """In a notebook cell, a Run is one readable line, not every draw of its InferenceData."""
    for run in (fitted, specrec.load_run(fitted.path)):
        text = repr(run)
        assert "\n" not in text and len(text) < 300, text
        m = run.metrics
        assert f"spec={m['spec']['name']!r}" in text
        assert f"backend={m['backend']['name']!r}" in text
        assert f"test_rmse={m['metrics']['test']['rmse']:.4f}" in text
        assert str(fitted.path) in text
