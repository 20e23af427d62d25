"""Test RMSE broken down by how much training data each level (user, item) had.

A factor model's headline RMSE is dominated by heavy users and popular items; users with a
handful of ratings are where a hierarchical prior is supposed to help, and where a recommender
most often fails.  Splitting the error by training activity shows both.

The buckets come from the data, not from fixed edges (fixed edges 1-5, 6-20, ... left most
buckets empty on a small data set and put every MovieLens user in the last two): the test rows
of levels with training ratings are cut at quantiles of their levels' training counts, so each
bucket holds about as many test ratings (a tiny one left by ties is merged into a neighbour),
and a bucket ``0`` holds the cold-start rows when there are any.  Every edge is a count some
test row has, so no bucket is ever empty.
"""

from __future__ import annotations

import numpy as np

from specrec.evaluate.metrics import _check_pair

#: at most this many buckets of levels with training ratings (plus "0" for cold-start rows)
MAX_BUCKETS = 5


def training_counts(train_codes: np.ndarray, test_codes: np.ndarray) -> np.ndarray:
    """Number of training ratings of each test row's level (0 for a level unseen in training)."""
    train_codes = np.asarray(train_codes, dtype=np.int64)
    test_codes = np.asarray(test_codes, dtype=np.int64)
    n_levels = int(max(train_codes.max(initial=-1), test_codes.max(initial=-1))) + 1
    return np.bincount(train_codes, minlength=n_levels)[test_codes]


def _label(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def activity_buckets(counts: np.ndarray, max_buckets: int = MAX_BUCKETS) -> list[tuple]:
    """``[(label, fewest, most)]`` training ratings per bucket, from the test rows' ``counts``.

    ``"0"`` first when some test row is cold-start; the rows with counts above zero are cut at
    the ``k / max_buckets`` quantiles of their counts (``inverted_cdf``: each edge is a count
    that occurs), equal edges merge, and a bucket with under half an even share of the rows
    joins its smaller neighbour, so each bucket has test rows and the buckets cover every row
    exactly once.
    """
    counts = np.asarray(counts, dtype=np.int64).ravel()
    out: list[tuple[str, int, int]] = []
    if np.any(counts == 0):
        out.append(("0", 0, 0))
    seen = counts[counts > 0]
    if not seen.size:
        return out
    levels = np.linspace(0.0, 1.0, max(1, max_buckets) + 1)[1:]
    tops = np.unique(np.quantile(seen, levels, method="inverted_cdf").astype(np.int64))
    ranges, lo = [], int(seen.min())
    for top in tops:
        ranges.append([lo, int(top), int(np.sum((seen >= lo) & (seen <= top)))])
        lo = int(top) + 1
    # ties can leave a bucket with a few rows (the 20 % of rows above the last edge may all
    # share one count): one with under half an even share joins its smaller neighbour
    least = seen.size / max(1, max_buckets) / 2
    while len(ranges) > 1 and min(r[2] for r in ranges) < least:
        i = min(range(len(ranges)), key=lambda j: ranges[j][2])
        if i == 0:
            j = 1
        elif i == len(ranges) - 1:
            j = i - 1
        else:
            j = i - 1 if ranges[i - 1][2] <= ranges[i + 1][2] else i + 1
        a, b = sorted((i, j))
        ranges[a : b + 1] = [[ranges[a][0], ranges[b][1], ranges[a][2] + ranges[b][2]]]
    out += [(_label(lo, hi), lo, hi) for lo, hi, _ in ranges]
    return out


def rmse_by_activity(
    y: np.ndarray, pred: np.ndarray, counts: np.ndarray
) -> dict[str, dict[str, float | int | None]]:
    """``{bucket label: {"n": test rows, "rmse": RMSE}}`` over ``activity_buckets(counts)``.

    ``counts`` is each test row's level's number of training ratings (``training_counts``).
    Every test row falls in exactly one bucket, so the counts add up to the test set size,
    and no bucket is empty (an empty test set has no bucket).
    """
    y, pred = _check_pair(y, pred)
    counts = np.asarray(counts)
    if counts.shape != y.shape:
        raise ValueError(f"counts have shape {counts.shape}, ratings {y.shape}")
    out: dict[str, dict[str, float | int | None]] = {}
    for label, lo, hi in activity_buckets(counts):
        rows = (counts >= lo) & (counts <= hi)
        n = int(rows.sum())
        out[label] = {"n": n, "rmse": float(np.sqrt(np.mean((y[rows] - pred[rows]) ** 2)))}
    return out
