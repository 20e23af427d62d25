"""Baselines against hand-computed values and against the PMF notebook's dense definition."""

from __future__ import annotations

import numpy as np
import pytest

from specrec.evaluate.baselines import baselines

# Training ratings: global mean 3; user means 4, 4, 1.5 (user 3 unseen);
# item means 4.5, 2, 2 (item 3 unseen).
TRAIN_Y = np.array([5.0, 3.0, 4.0, 1.0, 2.0])
TRAIN = {"user": np.array([0, 0, 1, 2, 2]), "item": np.array([0, 1, 0, 1, 2])}
# Test rows: seen/seen, seen user & unseen item, unseen user & seen item, both unseen.
TEST_Y = np.array([3.0, 5.0, 2.0, 4.0])
TEST = {"user": np.array([0, 1, 3, 3]), "item": np.array([2, 3, 0, 3])}


def _scores(pred: np.ndarray, y: np.ndarray = TEST_Y) -> dict[str, float]:
    return {"rmse": float(np.sqrt(np.mean((y - pred) ** 2))), "mae": float(np.mean(abs(y - pred)))}


def test_hand_computed_example():
    out = baselines(TRAIN_Y, TRAIN, TEST_Y, TEST, (1, 5))
    assert set(out) == {"uniform", "global_mean", "user_mean", "item_mean", "mean_of_means"}
    assert out["global_mean"] == pytest.approx({"rmse": np.sqrt(1.5), "mae": 1.0})
    # Unseen user 3 falls back to the global mean 3.
    assert out["user_mean"] == pytest.approx({"rmse": 1.0, "mae": 1.0})  # preds 4, 4, 3, 3
    # Unseen item 3 falls back to the global mean 3: preds 2, 3, 4.5, 3.
    assert out["item_mean"] == pytest.approx({"rmse": 1.75, "mae": 1.625})
    # (3+4+2)/3, (3+4)/2 (item unseen: the notebook's rule), (3+4.5)/2, 3/1.
    assert out["mean_of_means"] == pytest.approx(_scores(np.array([3.0, 3.5, 3.75, 3.0])))


def test_uniform_is_seeded_and_spans_the_training_range():
    out = baselines(TRAIN_Y, TRAIN, TEST_Y, TEST, (1, 5), seed=7)
    expected = np.random.default_rng(7).uniform(1.0, 5.0, size=TEST_Y.size)
    assert out["uniform"] == pytest.approx(_scores(expected))
    assert baselines(TRAIN_Y, TRAIN, TEST_Y, TEST, (1, 5), seed=7)["uniform"] == out["uniform"]
    assert baselines(TRAIN_Y, TRAIN, TEST_Y, TEST, (1, 5), seed=8)["uniform"] != out["uniform"]


def test_clip_applies_value_range():
    narrow = (1.0, 2.5)  # every mean above 2.5 is clipped down
    out = baselines(TRAIN_Y, TRAIN, TEST_Y, TEST, narrow)
    assert out["global_mean"] == pytest.approx(_scores(np.full(4, 2.5)))
    raw = baselines(TRAIN_Y, TRAIN, TEST_Y, TEST, narrow, clip=False)
    assert raw["global_mean"] == pytest.approx({"rmse": np.sqrt(1.5), "mae": 1.0})


def test_one_dim_has_no_mean_of_means_and_third_dim_is_ignored_by_it():
    one = baselines(TRAIN_Y, {"user": TRAIN["user"]}, TEST_Y, {"user": TEST["user"]}, (1, 5))
    assert "mean_of_means" not in one and "user_mean" in one
    three_train = {**TRAIN, "group": np.array([0, 0, 1, 1, 1])}
    three_test = {**TEST, "group": np.array([0, 1, 1, 0])}
    three = baselines(TRAIN_Y, three_train, TEST_Y, three_test, (1, 5))
    two = baselines(TRAIN_Y, TRAIN, TEST_Y, TEST, (1, 5))
    assert three["mean_of_means"] == two["mean_of_means"]
    # group means: 4 and 7/3, test preds 4, 7/3, 7/3, 4
    assert three["group_mean"] == pytest.approx(_scores(np.array([4.0, 7 / 3, 7 / 3, 4.0])))


def _notebook_mean_of_means(train: np.ndarray) -> np.ndarray:
    """The PyMC PMF notebook's MeanOfMeansBaseline.predict, on a dense matrix with NaN holes."""
    nan_mask = np.isnan(train)
    masked = np.ma.masked_array(train, nan_mask)
    global_mean = masked.mean()
    user_means = masked.mean(axis=1)
    item_means = masked.mean(axis=0)
    predicted = train.copy()
    n, m = train.shape
    for i in range(n):
        for j in range(m):
            if np.ma.isMA(item_means[j]):
                predicted[i, j] = np.mean((global_mean, user_means[i]))
            else:
                predicted[i, j] = np.mean((global_mean, user_means[i], item_means[j]))
    return predicted


def test_mean_of_means_matches_the_notebook_on_random_data():
    rng = np.random.default_rng(3)
    n_users, n_items = 30, 40
    dense = rng.integers(1, 6, size=(n_users, n_items)).astype(float)
    observed = rng.random((n_users, n_items)) < 0.3
    observed[:, :3] = False  # items 0-2 have no training rating at all
    observed[np.arange(n_users), 5 + np.arange(n_users) % 30] = True  # every user has one
    train = np.where(observed, dense, np.nan)
    users, items = np.nonzero(observed)
    test_users, test_items = np.nonzero(~observed)
    out = baselines(
        dense[users, items],
        {"user": users, "item": items},
        dense[test_users, test_items],
        {"user": test_users, "item": test_items},
        (1, 5),
    )
    reference = _notebook_mean_of_means(train)[test_users, test_items]
    expected = _scores(np.clip(reference, 1, 5), dense[test_users, test_items])
    assert out["mean_of_means"] == pytest.approx(expected)


def test_mismatched_dims_and_nan_are_refused():
    with pytest.raises(ValueError, match="same dims"):
        baselines(TRAIN_Y, TRAIN, TEST_Y, {"user": TEST["user"]}, (1, 5))
    with pytest.raises(ValueError, match="NaN"):
        baselines(np.array([1.0, np.nan, 2, 3, 4]), TRAIN, TEST_Y, TEST, (1, 5))
    with pytest.raises(ValueError, match="shape"):
        baselines(TRAIN_Y, {"user": np.array([0, 1])}, TEST_Y, {"user": TEST["user"]}, (1, 5))
