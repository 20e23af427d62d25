"""Test RMSE broken down by how much training data each level (user, item) had.

A factor model's headline RMSE is dominated by heavy users and popular items; users with a
handful of ratings are where a hierarchical prior is supposed to help, and where a recommender
most often fails.  Splitting the error by training activity shows both.
"""

from __future__ import annotations

import numpy as np

from specrec.evaluate.metrics import _check_pair

#: (label, fewest, most) training ratings of a level; "0" holds cold-start rows.
ACTIVITY_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("0", 0, 0),
    ("1-5", 1, 5),
    ("6-20", 6, 20),
    ("21-100", 21, 100),
    (">100", 101, np.inf),
)


def training_counts(train_codes: np.ndarray, test_codes: np.ndarray) -> np.ndarray:
    """Number of training ratings of each test row's level (0 for a level unseen in training)."""
    train_codes = np.asarray(train_codes, dtype=np.int64)
    test_codes = np.asarray(test_codes, dtype=np.int64)
    n_levels = int(max(train_codes.max(initial=-1), test_codes.max(initial=-1))) + 1
    return np.bincount(train_codes, minlength=n_levels)[test_codes]


def rmse_by_activity(
    y: np.ndarray, pred: np.ndarray, counts: np.ndarray
) -> dict[str, dict[str, float | int | None]]:
    """``{bucket label: {"n": test rows, "rmse": RMSE or None when empty}}`` over the buckets.

    ``counts`` is each test row's level's number of training ratings (``training_counts``).
    Every test row falls in exactly one bucket, so the counts add up to the test set size.
    """
    y, pred = _check_pair(y, pred)
    counts = np.asarray(counts)
    if counts.shape != y.shape:
        raise ValueError(f"counts have shape {counts.shape}, ratings {y.shape}")
    out: dict[str, dict[str, float | int | None]] = {}
    for label, lo, hi in ACTIVITY_BUCKETS:
        rows = (counts >= lo) & (counts <= hi)
        n = int(rows.sum())
        value = float(np.sqrt(np.mean((y[rows] - pred[rows]) ** 2))) if n else None
        out[label] = {"n": n, "rmse": value}
    return out
