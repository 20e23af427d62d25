"""Model-free baselines every fitted model is reported against.

A Bayesian factor model that cannot beat "predict each user's mean" is not worth its sampling
time; these numbers make that visible in every report.  The definitions follow the PyMC
probabilistic-matrix-factorisation notebook so results can be compared with it directly, but are
computed from the coded rating table (one row per observed rating) with ``np.bincount`` instead of
a dense user x item matrix, so they scale to data sets whose matrix would not fit in memory.
"""

from __future__ import annotations

import numpy as np

from specrec.evaluate.metrics import ValueRange, mae, rmse
from specrec.evaluate.metrics import clip as clip_to_range


def _level_means(
    train_y: np.ndarray, train_codes: np.ndarray, n_levels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean training rating per level and whether the level had any training rating at all."""
    sums = np.bincount(train_codes, weights=train_y, minlength=n_levels)
    counts = np.bincount(train_codes, minlength=n_levels)
    seen = counts > 0
    means = np.zeros(n_levels, dtype=np.float64)
    means[seen] = sums[seen] / counts[seen]
    return means, seen


def _check_codes(name: str, codes: np.ndarray, n_rows: int) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.shape != (n_rows,):
        raise ValueError(f"codes of {name!r} have shape {arr.shape}, expected ({n_rows},)")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0):
        raise ValueError(f"codes of {name!r} must be non-negative integers")
    return arr.astype(np.int64, copy=False)


def baselines(
    train_y: np.ndarray,
    train_codes: dict[str, np.ndarray],
    test_y: np.ndarray,
    test_codes: dict[str, np.ndarray],
    value_range: ValueRange | None,
    seed: int = 0,
    clip: bool = True,
) -> dict[str, dict[str, float]]:
    """RMSE and MAE on the test ratings of the notebook's baselines, plus one per categorical dim.

    Baselines (each maps to ``{"rmse": ..., "mae": ...}``):
        ``uniform``: a uniform random rating in [min, max] of the training ratings (seeded).
        ``global_mean``: the mean training rating.
        ``<dim>_mean``: for each dim in ``train_codes``, the mean training rating of the test
            row's level; a level with no training rating (a user only in the test set) falls back
            to the global mean rather than being dropped, so every baseline scores every row.
        ``mean_of_means``: with two or more dims, the mean of (global mean, mean of the level of
            the first dim, mean of the level of the second dim), dims taken in ``train_codes``
            order.  A term whose level has no training rating is left out of the average, which
            is exactly what the notebook does for an unrated item (it averages global and user
            mean only).

    Codes must be the data set's shared coding (``Dataset.codes``), so a test code and a training
    code with the same value are the same level.
    """
    train_y = np.asarray(train_y, dtype=np.float64)
    test_y = np.asarray(test_y, dtype=np.float64)
    if train_y.ndim != 1 or train_y.size == 0:
        raise ValueError("baselines need a non-empty 1-d array of training ratings")
    if test_y.ndim != 1 or test_y.size == 0:
        raise ValueError("baselines need a non-empty 1-d array of test ratings")
    if np.isnan(train_y).any() or np.isnan(test_y).any():
        raise ValueError("ratings contain NaN; drop or impute them before computing baselines")
    if list(train_codes) != list(test_codes):
        raise ValueError(
            f"train and test code the same dims in the same order; got {list(train_codes)} "
            f"and {list(test_codes)}"
        )

    def score(pred: np.ndarray) -> dict[str, float]:
        if clip:
            pred = clip_to_range(pred, value_range)
        return {"rmse": rmse(test_y, pred), "mae": mae(test_y, pred)}

    rng = np.random.default_rng(seed)
    global_mean = float(train_y.mean())
    out: dict[str, dict[str, float]] = {
        "uniform": score(rng.uniform(train_y.min(), train_y.max(), size=test_y.size)),
        "global_mean": score(np.full(test_y.size, global_mean)),
    }

    # Per dim: the mean of the test row's level (NaN-free) and whether that level was seen.
    per_dim: list[tuple[np.ndarray, np.ndarray]] = []
    for dim in train_codes:
        tr = _check_codes(dim, train_codes[dim], train_y.size)
        te = _check_codes(dim, test_codes[dim], test_y.size)
        n_levels = int(max(tr.max(initial=-1), te.max(initial=-1))) + 1
        means, seen = _level_means(train_y, tr, n_levels)
        row_mean, row_seen = means[te], seen[te]
        per_dim.append((row_mean, row_seen))
        name = f"{dim}_mean"
        if name in out:
            raise ValueError(f"dim {dim!r} gives baseline name {name!r}, which is already taken")
        out[name] = score(np.where(row_seen, row_mean, global_mean))

    if len(per_dim) >= 2:
        total = np.full(test_y.size, global_mean)
        count = np.ones(test_y.size)
        for row_mean, row_seen in per_dim[:2]:
            total += np.where(row_seen, row_mean, 0.0)
            count += row_seen
        if "mean_of_means" in out:
            raise ValueError("a dim named 'mean_of' clashes with the mean_of_means baseline")
        out["mean_of_means"] = score(total / count)
    return out
