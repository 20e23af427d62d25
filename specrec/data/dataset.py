"""The in-memory rating table every other part of specrec reads.

A ``Dataset`` is columnar and already integer-coded: each categorical dim (user, item, group, ...)
is a column of contiguous codes ``0..n-1`` plus the array of raw ids those codes stand for, so
models index parameters with codes while predictions and reports speak raw ids.  Codes are made
once, over the whole data set, before any split: a user who only appears in the test set still has
a code (and therefore a parameter drawn from the population level), it is never silently dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Attribute:
    """A covariate of the levels of a categorical column: a user's age, an item's genre flags.

    ``values[code]`` belongs to the level with that code: shape ``(n_levels,)`` for a number per
    level, ``(n_levels, k)`` for a row of k columns (one-hot occupation, genre flags) named by
    ``labels``.  Per level, not per row, so a split leaves it unchanged.
    """

    values: np.ndarray
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """Rows of observations with integer-coded categorical columns.

    Attributes:
        response: name of the observed column (for example ``"rating"``).
        y: observed values, float64, one per row.
        codes: categorical column name -> int64 codes, one per row.
        levels: categorical column name -> raw ids; ``levels[c][codes[c][r]]`` is row r's raw id.
        numeric: other numeric columns (timestamp, covariates) -> float64 values, one per row.
        source: a short human description of where the rows came from (file path, "simulated").
        truth: for simulated data, the parameter values the rows were drawn from.
        attributes: categorical column -> covariate name -> its values per level (side data).
    """

    response: str
    y: np.ndarray
    codes: dict[str, np.ndarray]
    levels: dict[str, np.ndarray]
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: dict[str, dict[str, Attribute]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def n_levels(self, column: str) -> int:
        return int(self.levels[column].shape[0])

    def take(self, rows: np.ndarray) -> Dataset:
        """The subset of rows, keeping the full level tables (codes stay comparable)."""
        return Dataset(
            response=self.response,
            y=self.y[rows],
            codes={k: v[rows] for k, v in self.codes.items()},
            levels=self.levels,
            numeric={k: v[rows] for k, v in self.numeric.items()},
            source=self.source,
            truth=self.truth,
            attributes=self.attributes,
        )

    def fingerprint(self) -> str:
        """sha256 over the coded content, so a result can name exactly the data it saw."""
        h = hashlib.sha256()
        h.update(self.response.encode())
        h.update(np.ascontiguousarray(self.y, dtype=np.float64).tobytes())
        for name in sorted(self.codes):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.codes[name], dtype=np.int64).tobytes())
            h.update("\0".join(map(str, self.levels[name])).encode())
        for name in sorted(self.numeric):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.numeric[name], dtype=np.float64).tobytes())
        for column in sorted(self.attributes):
            for name, attr in sorted(self.attributes[column].items()):
                h.update(f"{column}.{name}".encode())
                h.update(np.ascontiguousarray(attr.values, dtype=np.float64).tobytes())
        return h.hexdigest()


def save(ds: Dataset, path: Path) -> None:
    """Write the rows and level tables as one ``.npz`` (no pickles: raw ids are ints or text)."""
    arrays = {"y": np.asarray(ds.y, dtype=np.float64)}
    for name in ds.codes:
        arrays[f"codes/{name}"] = np.asarray(ds.codes[name], dtype=np.int64)
        levels = ds.levels[name]
        arrays[f"levels/{name}"] = levels if levels.dtype.kind in "iuf" else levels.astype(str)
    for name, v in ds.numeric.items():
        arrays[f"numeric/{name}"] = np.asarray(v, dtype=np.float64)
    # side data too: a covariate model lowered again from a run (predict, recommend) needs it
    for column, attrs in ds.attributes.items():
        for name, attr in attrs.items():
            arrays[f"attributes/{column}/{name}"] = np.asarray(attr.values, dtype=np.float64)
            arrays[f"attribute_labels/{column}/{name}"] = np.asarray(attr.labels, dtype=str)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load(path: Path, response: str, source: str = "") -> Dataset:
    """Read what ``save`` wrote; ``allow_pickle=False`` so a run directory cannot run code."""
    with np.load(path, allow_pickle=False) as z:
        parts: dict[str, dict[str, np.ndarray]] = {
            "codes": {},
            "levels": {},
            "numeric": {},
            "attributes": {},
            "attribute_labels": {},
        }
        for key in z.files:
            if "/" in key:
                group, name = key.split("/", 1)
                parts[group][name] = z[key]
        attributes: dict[str, dict[str, Attribute]] = {}
        for key, values in parts["attributes"].items():  # written by a version with side data
            column, name = key.split("/", 1)
            labels = tuple(str(x) for x in parts["attribute_labels"].get(key, ()))
            attributes.setdefault(column, {})[name] = Attribute(values, labels)
        return Dataset(
            response,
            z["y"],
            parts["codes"],
            parts["levels"],
            parts["numeric"],
            source,
            attributes=attributes,
        )
