"""Train/test splits as row indices, each with a fingerprint that names it exactly.

A split is only row indices into one ``Dataset`` (whose codes cover train and test alike), so
test rows of users or items never seen in training keep their codes and are predicted from the
population level instead of being dropped.  Every rule is a pure function of its arguments and a
seed, and the fingerprint (sha256 of the sorted test rows) lets two runs prove they were scored
on the same rows.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from specrec.data.dataset import Dataset


@dataclass(frozen=True, eq=False)
class Split:
    """Row indices of the training and test parts of one data set.

    Attributes:
        kind: the rule that made it (``"random"``, ``"leave_k_out"``, ``"time"``, ``"kfold"``,
            ``"files"``).
        train: sorted int64 row indices.
        test: sorted int64 row indices.
        fingerprint: sha256 hex digest of the sorted test rows as little-endian int64 bytes.
    """

    kind: str
    train: np.ndarray
    test: np.ndarray
    fingerprint: str

    @classmethod
    def from_rows(cls, kind: str, train: np.ndarray, test: np.ndarray) -> Split:
        """Build a split from unsorted rows; sorting and the fingerprint are done here, once."""
        train = np.sort(np.asarray(train, dtype=np.int64))
        test = np.sort(np.asarray(test, dtype=np.int64))
        return cls(kind=kind, train=train, test=test, fingerprint=fingerprint_rows(test))

    def __eq__(self, other: object) -> bool:
        # The generated __eq__ would compare arrays with ``==`` and fail on their truth value.
        if not isinstance(other, Split):
            return NotImplemented
        return (
            self.kind == other.kind
            and np.array_equal(self.train, other.train)
            and np.array_equal(self.test, other.test)
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.fingerprint, self.train.shape[0]))


def fingerprint_rows(test: np.ndarray) -> str:
    """sha256 of sorted int64 row ids; explicit little-endian so it matches across machines."""
    rows = np.sort(np.asarray(test, dtype=np.int64))
    return hashlib.sha256(np.ascontiguousarray(rows, dtype="<i8").tobytes()).hexdigest()


def random_split(n_rows: int, test_fraction: float, seed: int) -> Split:
    """A uniformly random ``test_fraction`` of the rows goes to test.

    The rule is fixed so that other tools can reproduce it exactly:
    ``perm = numpy.random.default_rng(seed).permutation(n_rows)``,
    ``n_test = int(round(n_rows * test_fraction))``, test is ``perm[:n_test]``, train the rest.
    """
    _check_rows(n_rows)
    _check_fraction(test_fraction)
    perm = np.random.default_rng(seed).permutation(n_rows)
    n_test = int(round(n_rows * test_fraction))  # noqa: RUF046  (the stated rule)
    _check_sizes(n_rows, n_test, f"test_fraction = {test_fraction:g}")
    return Split.from_rows("random", train=perm[n_test:], test=perm[:n_test])


def leave_k_out(ds: Dataset, k: int, seed: int, by: str = "user_id") -> Split:
    """For each level of ``by`` with more than ``k`` rows, ``k`` random rows go to test.

    Levels with ``k`` rows or fewer stay wholly in training, so every tested user also has
    training data (the usual leave-one-out protocol when ``k == 1``).
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"leave_k_out needs an integer k >= 1, got {k!r}")
    codes = _categorical(ds, by)
    n = codes.shape[0]
    keys = np.random.default_rng(seed).random(n)
    order = np.lexsort((keys, codes))  # rows grouped by level, shuffled within a level
    counts = np.bincount(codes, minlength=ds.n_levels(by))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sorted_codes = codes[order]
    rank = np.arange(n) - starts[sorted_codes]
    chosen = (rank < k) & (counts[sorted_codes] > k)
    test = order[chosen]
    train = order[~chosen]
    if test.size == 0:
        raise ValueError(f"no level of {by!r} has more than k = {k} rows")
    return Split.from_rows("leave_k_out", train=train, test=test)


def by_time(ds: Dataset, test_fraction: float, column: str = "timestamp") -> Split:
    """The latest ``test_fraction`` of rows by ``column`` go to test (forecasting the future).

    Equal times are ordered by row position, later rows counting as later, so the split is
    deterministic without a seed.
    """
    _check_fraction(test_fraction)
    if column not in ds.numeric:
        have = ", ".join(sorted(ds.numeric)) or "none"
        raise ValueError(
            f"the rows are ordered by the numeric column {column!r}, which the data set lacks "
            f"(its numeric columns: {have})"
        )
    n = len(ds)
    order = np.lexsort((np.arange(n), ds.numeric[column]))
    n_test = int(round(n * test_fraction))  # noqa: RUF046
    _check_sizes(n, n_test, f"test_fraction = {test_fraction:g}")
    return Split.from_rows("time", train=order[: n - n_test], test=order[n - n_test :])


def kfold(n_rows: int, k: int, fold: int, seed: int) -> Split:
    """Fold ``fold`` (0-based) of a seeded ``k``-fold partition is the test set.

    Folds are ``numpy.array_split`` of ``default_rng(seed).permutation(n_rows)``, so the k test
    sets of one seed are disjoint and together cover every row.
    """
    _check_rows(n_rows)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 2:
        raise ValueError(f"kfold needs an integer k >= 2, got {k!r}")
    if k > n_rows:
        raise ValueError(f"k = {k} folds need at least {k} rows, found {n_rows}")
    if not isinstance(fold, (int, np.integer)) or isinstance(fold, bool) or not 0 <= fold < k:
        raise ValueError(f"kfold: fold must be an integer in 0..{k - 1}, got {fold!r}")
    perm = np.random.default_rng(seed).permutation(n_rows)
    folds = np.array_split(perm, k)
    test = folds[fold]
    train = np.concatenate([f for i, f in enumerate(folds) if i != fold])
    return Split.from_rows("kfold", train=train, test=test)


def split_counts(
    ds: Dataset, split: Split, dims: Iterable[str] | None = None
) -> dict[str, int | dict[str, int]]:
    """Sizes of a split and, per categorical column, its cold-start test rows.

    Returns ``{"n_train": .., "n_test": .., "cold_start": {column: rows}}`` where ``rows`` counts
    test rows whose level of ``column`` never appears in training.  Those rows are kept and
    predicted from the population level; the count says how much of the score rests on them.
    ``dims`` defaults to every categorical column.
    """
    columns = list(ds.codes) if dims is None else list(dims)
    cold: dict[str, int] = {}
    for column in columns:
        codes = _categorical(ds, column)
        seen = np.zeros(ds.n_levels(column), dtype=bool)
        seen[codes[split.train]] = True
        cold[column] = int(np.count_nonzero(~seen[codes[split.test]]))
    return {"n_train": int(split.train.size), "n_test": int(split.test.size), "cold_start": cold}


def _categorical(ds: Dataset, column: str) -> np.ndarray:
    if column not in ds.codes:
        have = ", ".join(sorted(ds.codes)) or "none"
        raise ValueError(f"{column!r} is not a categorical column; the data set has: {have}")
    return np.asarray(ds.codes[column], dtype=np.int64)


def _check_rows(n_rows: int) -> None:
    if not isinstance(n_rows, (int, np.integer)) or isinstance(n_rows, bool) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")


def _check_fraction(test_fraction: float) -> None:
    if not isinstance(test_fraction, numbers.Real) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")


def _check_sizes(n_rows: int, n_test: int, what: str) -> None:
    """Refuse splits with an empty side: they would silently score nothing or fit nothing."""
    if n_test == 0 or n_test == n_rows:
        side = "test" if n_test == 0 else "training"
        raise ValueError(f"{what} leaves the {side} set empty with {n_rows} rows")
