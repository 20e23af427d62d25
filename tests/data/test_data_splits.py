"""Splits follow their stated rules exactly and fingerprint the rows they test on."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from specrec.data.dataset import Dataset
from specrec.data.splits import (
    Split,
    by_time,
    kfold,
    leave_k_out,
    random_split,
    split_counts,
)


def _dataset(users, items=None, times=None) -> Dataset:
    users = np.asarray(users, dtype=np.int64)
    items = np.zeros_like(users) if items is None else np.asarray(items, dtype=np.int64)
    numeric = {} if times is None else {"timestamp": np.asarray(times, dtype=np.float64)}
    return Dataset(
        response="rating",
        y=np.ones(users.shape[0]),
        codes={"user_id": users, "item_id": items},
        levels={"user_id": np.arange(users.max() + 1), "item_id": np.arange(items.max() + 1)},
        numeric=numeric,
    )


def _partition(split: Split, n: int) -> None:
    assert np.intersect1d(split.train, split.test).size == 0
    np.testing.assert_array_equal(np.union1d(split.train, split.test), np.arange(n))
    assert np.all(np.diff(split.train) > 0) and np.all(np.diff(split.test) > 0)
    assert split.train.dtype == np.int64 and split.test.dtype == np.int64


def test_random_split_reproduces_the_stated_rule():
    n, fraction, seed = 103, 0.2, 7
    split = random_split(n, fraction, seed)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * fraction))  # noqa: RUF046  (the documented rule)
    np.testing.assert_array_equal(split.test, np.sort(perm[:n_test]))
    np.testing.assert_array_equal(split.train, np.sort(perm[n_test:]))
    assert split.kind == "random"
    _partition(split, n)


def test_fingerprint_is_sha256_of_sorted_int64_test_rows_and_stable():
    split = random_split(50, 0.3, 1)
    expected = hashlib.sha256(np.sort(split.test).astype(np.int64).tobytes()).hexdigest()
    assert split.fingerprint == expected
    assert random_split(50, 0.3, 1).fingerprint == expected
    assert random_split(50, 0.3, 1) == split
    assert random_split(50, 0.3, 2).fingerprint != expected
    assert random_split(50, 0.2, 1).fingerprint != expected


def test_from_rows_sorts_and_fingerprints():
    split = Split.from_rows("x", train=[3, 1], test=[2, 0])
    np.testing.assert_array_equal(split.train, [1, 3])
    assert split.fingerprint == Split.from_rows("y", train=[], test=[0, 2]).fingerprint


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, "0.2"])
def test_random_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        random_split(10, fraction, 0)


def test_random_split_rejects_empty_side():
    with pytest.raises(ValueError, match="test set empty"):
        random_split(3, 0.1, 0)
    with pytest.raises(ValueError, match="n_rows must be a positive integer"):
        random_split(0, 0.5, 0)


def test_leave_k_out_takes_k_rows_of_users_with_more_than_k():
    users = [0] * 5 + [1] * 2 + [2] * 1 + [3] * 3
    ds = _dataset(users)
    split = leave_k_out(ds, k=2, seed=3)
    _partition(split, len(ds))
    per_user = np.bincount(ds.codes["user_id"][split.test], minlength=4)
    np.testing.assert_array_equal(per_user, [2, 0, 0, 2])  # users 1 and 2 have <= k rows
    assert split.kind == "leave_k_out"
    assert leave_k_out(ds, 2, 3) == split
    assert leave_k_out(ds, 1, 3).test.size == 3


def test_leave_k_out_varies_with_seed():
    ds = _dataset([0] * 50)
    assert leave_k_out(ds, 1, 0).fingerprint != leave_k_out(ds, 1, 1).fingerprint


def test_leave_k_out_arguments():
    ds = _dataset([0, 0, 1])
    with pytest.raises(ValueError, match="k >= 1"):
        leave_k_out(ds, 0, 0)
    with pytest.raises(ValueError, match="not a categorical column"):
        leave_k_out(ds, 1, 0, by="group")
    with pytest.raises(ValueError, match="no level"):
        leave_k_out(ds, 5, 0)


def test_by_time_takes_the_latest_rows_ties_by_row_order():
    times = [5, 1, 5, 3, 2, 5]
    ds = _dataset([0, 1, 2, 3, 4, 5], times=times)
    split = by_time(ds, 0.5)
    # latest three: the three rows at time 5
    np.testing.assert_array_equal(split.test, [0, 2, 5])
    split = by_time(ds, 1 / 3)
    np.testing.assert_array_equal(split.test, [2, 5])  # the later rows of the tie
    _partition(split, 6)
    assert split.kind == "time"
    assert ds.numeric["timestamp"][split.train].max() <= ds.numeric["timestamp"][split.test].min()


def test_by_time_needs_the_column():
    with pytest.raises(ValueError, match="numeric column 'timestamp'"):
        by_time(_dataset([0, 1]), 0.5)


def test_kfold_folds_partition_the_rows():
    n, k = 23, 4
    tests = [kfold(n, k, fold, seed=9).test for fold in range(k)]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(n))
    for fold in range(k):
        split = kfold(n, k, fold, seed=9)
        _partition(split, n)
        assert abs(split.test.size - n / k) < 1
    perm = np.random.default_rng(9).permutation(n)
    np.testing.assert_array_equal(tests[0], np.sort(np.array_split(perm, k)[0]))


@pytest.mark.parametrize(
    ("k", "fold", "message"),
    [(1, 0, "k >= 2"), (3, 3, r"fold must be an integer in 0\.\.2"), (3, -1, "fold must be")],
)
def test_kfold_arguments(k, fold, message):
    with pytest.raises(ValueError, match=message):
        kfold(10, k, fold, 0)


def test_split_counts_cold_start():
    # user 2 and item 3 appear only in test rows 3 and 4
    ds = _dataset(users=[0, 1, 0, 2, 1], items=[0, 1, 2, 3, 3])
    split = Split.from_rows("x", train=[0, 1, 2], test=[3, 4])
    counts = split_counts(ds, split, ["user_id", "item_id"])
    assert counts == {"n_train": 3, "n_test": 2, "cold_start": {"user_id": 1, "item_id": 2}}
    assert split_counts(ds, split) == counts
    with pytest.raises(ValueError, match="not a categorical column"):
        split_counts(ds, split, ["group"])
